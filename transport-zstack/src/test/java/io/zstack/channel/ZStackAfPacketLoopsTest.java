package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.zstack.ip.Ipv4Config;
import io.zstack.stack.TcpTapInteropTest;
import io.zstack.testing.FrameHoldingDevice;
import io.zstack.testing.NetNamespace;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two loops share one af_packet port on a two-queue veth and open connections out to the kernel. The kernel's fanout
 * hands each frame to one of the port's two sockets by its own flow hash, not by the Toeplitz hash the loops chose
 * their ports by, so about half the replies reach the loop that does not hold the connection; that loop hands them
 * to the owner (before, it answered them with RSTs and those connections failed). Every connection must complete
 * and echo every byte of its own seeded stream.
 */
class ZStackAfPacketLoopsTest {
    static final int CONNECTIONS = 32;
    private static final int BYTES = 128 * 1024;
    private static final int CHUNK = 16 * 1024;

    @Test
    void everyOutgoingConnectionOfTwoLoopsCompletesAndCarriesItsBytes(@TempDir Path dir) throws Exception {
        Path script = TcpTapInteropTest.peerScript(dir);
        try (NetNamespace zstack = NetNamespace.create(); NetNamespace kernel = NetNamespace.create()) {
            zstack.exec("ip", "link", "add", "vz", "numtxqueues", "2", "numrxqueues", "2", "type", "veth", "peer",
                    "name", "vk", "numtxqueues", "2", "numrxqueues", "2", "netns", kernel.name());
            for (NetNamespace ns : List.of(zstack, kernel)) {
                String name = ns == zstack ? "vz" : "vk";
                ns.exec("ethtool", "-K", name, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
                ns.exec("ip", "link", "set", name, "up");
            }
            kernel.exec("ip", "addr", "add", "10.83.0.1/24", "dev", "vk");
            // the port's sockets open in the namespace of the thread that builds the group. Each loop's queue holds
            // its frames until 16 have come or 2 ms passed: a loop polling faster than the kernel sends gets one frame
            // per burst and has nothing to merge, so whether it merged any would depend on timing
            ZStackDevices.Port port = ZStackDevices.dpdk("net_af_packet83,iface=vz,qpairs=2");
            long coalesced = run(script, kernel, "10.83.0.1", 7100, zstack, () -> new ZStackEventLoopGroup(2,
                    ZStackConfig.builder()
                    .device((i, n) -> new FrameHoldingDevice(port.open(i, n), 16, 2_000_000))
                    .address(Ipv4Config.parse("10.83.0.2/24", null)).build()));
            // the kernel's MTU-sized segments arrive in runs: each loop merged those of its own flows, handed over
            // by the other loop or not (receive coalescing with flow steering)
            assertTrue(coalesced > 0, "no frame was merged into the one before it");
        }
    }

    /**
     * Starts the kernel's echo-many server in {@code serverNs} at host:port, builds a group of two loops with
     * {@code newGroup} in {@code loopNs}, and checks the connections out to the server; stops both after. Returns the
     * frames the loops merged into the segment before them (receive coalescing).
     */
    static long run(Path script, NetNamespace serverNs, String host, int port, NetNamespace loopNs,
                    Callable<ZStackEventLoopGroup> newGroup) throws Exception {
        return run(script, serverNs, host, port, loopNs, newGroup, group -> { });
    }

    /** As above; {@code afterwards} looks at the group once every connection has been checked, before it stops. */
    static long run(Path script, NetNamespace serverNs, String host, int port, NetNamespace loopNs,
                    Callable<ZStackEventLoopGroup> newGroup, GroupCheck afterwards) throws Exception {
        Process server = new ProcessBuilder("ip", "netns", "exec", serverNs.name(), "/usr/bin/python3",
                script.toString(), "echo-many", host, Integer.toString(port), Integer.toString(CONNECTIONS))
                .redirectErrorStream(true).start();
        ZStackEventLoopGroup group = null;
        try {
            BufferedReader serverOutput = new BufferedReader(new InputStreamReader(server.getInputStream(),
                    StandardCharsets.UTF_8));
            assertEquals("listening", serverOutput.readLine());
            group = loopNs.call(newGroup);
            long coalesced = run(group, serverOutput, host, port);
            afterwards.check(group);
            return coalesced;
        } finally {
            if (group != null) {
                group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            }
            server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** A look at a group that may throw (an assertion, a loop's task). */
    @FunctionalInterface
    interface GroupCheck {
        void check(ZStackEventLoopGroup group) throws Exception;
    }

    /** The connections out to the kernel's echo-many server at host:port, checked; returns the frames coalesced. */
    private static long run(ZStackEventLoopGroup group, BufferedReader serverOutput, String host, int port)
            throws Exception {
        CountDownLatch done = new CountDownLatch(CONNECTIONS);
        List<StreamCheck> checks = new ArrayList<>();
        List<ChannelFuture> connects = new ArrayList<>();
        for (int i = 0; i < CONNECTIONS; i++) {
            StreamCheck check = new StreamCheck(i, done);
            checks.add(check);
            connects.add(new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000).handler(check)
                    .connect(new InetSocketAddress(host, port)));
        }
        int[] perLoop = new int[2];
        for (ChannelFuture f : connects) {
            assertTrue(f.await(15, TimeUnit.SECONDS), "connect did not finish");
            assertTrue(f.isSuccess(), () -> "connect failed: " + f.cause() + "\n" + describe(group));
            perLoop[((ZStackEventLoop) f.channel().eventLoop()).queueIndex()]++;
        }
        assertTrue(perLoop[0] > 0 && perLoop[1] > 0, "connections on both loops: " + perLoop[0] + "/" + perLoop[1]);
        assertTrue(done.await(60, TimeUnit.SECONDS), () -> done.getCount() + " streams unfinished\n" + describe(group));
        for (StreamCheck check : checks) {
            assertEquals(null, check.mismatch, "connection " + check.index);
            assertEquals(BYTES, check.received.get(), "connection " + check.index + " echoed bytes");
        }
        assertEquals("echoed " + CONNECTIONS + " " + ((long) CONNECTIONS * BYTES), serverOutput.readLine());
        long handedOver = 0;
        long received = 0;
        long coalesced = 0;
        for (ZStackEventLoop loop : group.loops()) {
            handedOver += loop.submit(() -> loop.stack().framesHandedOver()).get(5, TimeUnit.SECONDS);
            received += loop.submit(() -> loop.stack().ip().counters().framesReceived).get(5, TimeUnit.SECONDS);
            coalesced += loop.submit(() -> loop.stack().ip().counters().framesCoalesced).get(5, TimeUnit.SECONDS);
        }
        System.out.println("frames handed to the owning loop: " + handedOver + " of " + received + " received, "
                + coalesced + " merged into the segment before them");
        // the fanout did misdeliver, so the test exercised the hand-over
        assertTrue(handedOver > 0, "no frame needed another loop: the test proved nothing\n" + describe(group));
        return coalesced;
    }

    private static String describe(ZStackEventLoopGroup group) {
        StringBuilder sb = new StringBuilder();
        for (ZStackEventLoop loop : group.loops()) {
            try {
                sb.append(loop.describe().get(5, TimeUnit.SECONDS)).append('\n');
            } catch (Exception e) {
                sb.append(loop).append(": ").append(e).append('\n');
            }
        }
        return sb.toString();
    }

    /** Sends its own seeded stream on connect and checks the echo byte by byte; closes once all came back. */
    private static final class StreamCheck extends ChannelInboundHandlerAdapter {
        final int index;
        private final byte[] stream = new byte[BYTES];
        private final CountDownLatch done;
        final AtomicInteger received = new AtomicInteger();
        volatile String mismatch;

        StreamCheck(int index, CountDownLatch done) {
            this.index = index;
            this.done = done;
            new SplittableRandom(index).nextBytes(stream);
        }

        @Override
        public boolean isSharable() {
            return false;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            for (int off = 0; off < BYTES; off += CHUNK) {
                ByteBuf b = ctx.alloc().buffer(CHUNK);
                b.writeBytes(stream, off, CHUNK);
                ctx.write(b);
            }
            ctx.flush();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf b = (ByteBuf) msg;
            try {
                int at = received.get();
                int n = b.readableBytes();
                for (int i = 0; i < n && mismatch == null; i++) {
                    if (at + i >= BYTES || b.getByte(b.readerIndex() + i) != stream[at + i]) {
                        mismatch = "byte " + (at + i) + " differs";
                    }
                }
                if (received.addAndGet(n) >= BYTES) {
                    ctx.close();
                }
            } finally {
                b.release();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            done.countDown();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            mismatch = String.valueOf(cause);
            ctx.close();
        }
    }
}
