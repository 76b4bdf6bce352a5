package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.SimpleChannelInboundHandler;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import javax.management.openmbean.TabularData;
import org.junit.jupiter.api.Test;

/** A group's statistics are readable over JMX while it runs, through the platform MBean server, and gone after. */
class ZStackStatisticsTest {
    private static final MBeanServer SERVER = ManagementFactory.getPlatformMBeanServer();

    @Test
    void aRunningGroupShowsItsCountersOverJmx() throws Exception {
        Set<ObjectName> before = SERVER.queryNames(new ObjectName("io.zstack:type=ZStackEventLoopGroup,*"), null);
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(2, ZStackConfig.builder().inProcess(false).build());
        Set<ObjectName> after = SERVER.queryNames(new ObjectName("io.zstack:type=ZStackEventLoopGroup,*"), null);
        after.removeAll(before);
        assertEquals(1, after.size(), "one MBean for the new group: " + after);
        ObjectName name = after.iterator().next();
        try {
            Channel[] ends = echo(group, 1);
            Channel server = ends[0];
            Channel client = ends[1];

            assertEquals(2, SERVER.getAttribute(name, "Connections"), "both ends of the loopback connection");
            TabularData counters = (TabularData) SERVER.getAttribute(name, "Counters");
            long segmentsReceived = (Long) ((CompositeData) counters.get(new Object[] {"tcp.segmentsReceived"}))
                    .get("value");
            assertTrue(segmentsReceived >= 4, "handshake and data: " + segmentsReceived);
            assertTrue(counters.containsKey(new Object[] {"ip.packetsDelivered"}));
            long free = (Long) SERVER.getAttribute(name, "FreeMbufs");
            long total = (Long) SERVER.getAttribute(name, "Mbufs");
            assertTrue(free > 0 && free <= total, free + " of " + total);
            String description = (String) SERVER.getAttribute(name, "Description");
            assertTrue(description.contains("tcp:") && description.contains("ESTABLISHED"), description);
            assertTrue(description.contains("loop: busyNanos="), description);
            client.close().sync();
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
        // the termination future's listeners run on Netty's global executor, just after sync() returns
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (SERVER.isRegistered(name) && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertTrue(!SERVER.isRegistered(name), "unregistered when the group terminated");
    }

    /**
     * A loop's time is split into rounds with work and rounds without: an echo exchange makes rounds with work, and
     * while nothing happens the time goes to the rounds without (parks included), not to work.
     */
    @Test
    void aLoopSaysHowMuchOfItsTimeWasWork() throws Exception {
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        try {
            ZStackEventLoop loop = (ZStackEventLoop) group.next();
            Channel[] ends = echo(group, 100);
            ends[1].close().sync();
            ends[0].close().sync();
            Map<String, Long> afterWork = loop.counters().get(5, TimeUnit.SECONDS);
            assertTrue(afterWork.get("loop.busyRounds") > 0 && afterWork.get("loop.busyNanos") > 0,
                    afterWork.toString());
            // no idle round is promised during the exchange: the test thread's writes and the echo can keep every
            // round supplied with a task or a frame (CI once saw none, 2026-12-06); the rest below must make them

            Thread.sleep(300); // nothing to do: no connection left, no task
            Map<String, Long> afterRest = loop.counters().get(5, TimeUnit.SECONDS);
            long idle = afterRest.get("loop.idleNanos") - afterWork.get("loop.idleNanos");
            long busy = afterRest.get("loop.busyNanos") - afterWork.get("loop.busyNanos");
            assertTrue(idle >= TimeUnit.MILLISECONDS.toNanos(150),
                    "idle " + idle + " ns of a 300 ms rest: " + afterRest);
            assertTrue(busy < idle, "busy " + busy + " ns, idle " + idle + " ns while nothing happened");
            assertTrue(afterRest.get("loop.idleRounds") > afterWork.get("loop.idleRounds"), afterRest.toString());
            assertTrue(afterRest.get("loop.parks") > 0, "an idle loop parks: " + afterRest);
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * A round of a millisecond or more is a stall of the loop, and every connection on it waited: a task that blocks
     * a loop for 30 ms shows as one more long round, of at least 30 ms, once the next round has started. Over JMX the
     * counts and times of the loops add up, and the longest round is the longest of any loop, not a sum.
     */
    @Test
    void aLoopCountsTheRoundsInWhichItStalled() throws Exception {
        Set<ObjectName> names = SERVER.queryNames(new ObjectName("io.zstack:type=ZStackEventLoopGroup,*"), null);
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(2, ZStackConfig.builder().inProcess(false).build());
        Set<ObjectName> added = SERVER.queryNames(new ObjectName("io.zstack:type=ZStackEventLoopGroup,*"), null);
        added.removeAll(names);
        ObjectName name = added.iterator().next();
        try {
            ZStackEventLoop first = group.loops().get(0);
            ZStackEventLoop second = group.loops().get(1);
            Map<String, Long> before = first.counters().get(5, TimeUnit.SECONDS);
            Map<String, Long> after = blockAndCount(first, 30);
            assertTrue(after.get("loop.longRounds") > before.get("loop.longRounds"), after.toString());
            assertTrue(after.get("loop.longestRoundNanos") >= TimeUnit.MILLISECONDS.toNanos(30), after.toString());
            assertTrue(after.get("loop.longRoundNanos") - before.get("loop.longRoundNanos")
                    >= TimeUnit.MILLISECONDS.toNanos(30), after.toString());
            blockAndCount(second, 60);

            // the longest only grows: read each loop's before and after the group's, which must lie between
            long longestBefore = longest(group);
            long overJmx = jmxCounter(name, "loop.longestRoundNanos");
            long longestAfter = longest(group);
            assertTrue(longestBefore <= overJmx && overJmx <= longestAfter,
                    longestBefore + " <= " + overJmx + " <= " + longestAfter + " (a sum would be past both)");
            long roundsOverJmx = jmxCounter(name, "loop.longRounds");
            assertTrue(roundsOverJmx >= 2, "one long round per loop at least, added up: " + roundsOverJmx);
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /** Blocks {@code loop} for {@code millis} in a task, then returns its counters once that round is charged. */
    private static Map<String, Long> blockAndCount(ZStackEventLoop loop, long millis) throws Exception {
        long rounds = loop.counters().get(5, TimeUnit.SECONDS).get("loop.longRounds");
        loop.submit(() -> {
            Thread.sleep(millis); // a handler that blocks its event loop
            return null;
        }).get(5, TimeUnit.SECONDS);
        // the blocked round is charged when the next one starts: a read in that same round would not see it yet
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        Map<String, Long> now;
        do {
            now = loop.counters().get(5, TimeUnit.SECONDS);
        } while (now.get("loop.longRounds") == rounds && System.nanoTime() < deadline);
        return now;
    }

    private static long longest(ZStackEventLoopGroup group) throws Exception {
        long longest = 0;
        for (ZStackEventLoop loop : group.loops()) {
            longest = Math.max(longest, loop.counters().get(5, TimeUnit.SECONDS).get("loop.longestRoundNanos"));
        }
        return longest;
    }

    private static long jmxCounter(ObjectName group, String key) throws Exception {
        TabularData counters = (TabularData) SERVER.getAttribute(group, "Counters");
        return (Long) ((CompositeData) counters.get(new Object[] {key})).get("value");
    }

    /**
     * An echo server on {@code group} and a client of it that sent {@code kilobytes} writes of 1,000 bytes and got
     * every byte back: {server, client}.
     */
    private static Channel[] echo(ZStackEventLoopGroup group, int kilobytes) throws Exception {
        Channel server = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ctx.writeAndFlush(msg);
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        CountDownLatch echoed = new CountDownLatch(kilobytes * 1000);
        Channel client = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .handler(new SimpleChannelInboundHandler<ByteBuf>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                        for (int i = msg.readableBytes(); i > 0; i--) {
                            echoed.countDown();
                        }
                    }
                }).connect(server.localAddress()).sync().channel();
        for (int i = 0; i < kilobytes; i++) {
            client.writeAndFlush(Unpooled.wrappedBuffer(new byte[1000]));
        }
        assertTrue(echoed.await(10, TimeUnit.SECONDS), "echoed: " + (kilobytes * 1000 - echoed.getCount()));
        return new Channel[] {server, client};
    }
}
