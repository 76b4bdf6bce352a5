package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.zstack.buffer.MbufByteBuf;
import io.zstack.buffer.MbufPool;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The in-process path ({@link InProcessConnections}) where Netty's testsuite cannot look: that a written mbuf is the
 * buffer the peer reads, that in-flight data is bounded and unread data freed, how resets reach the peer (the tests
 * both local paths share are in {@link AbstractLocalPathTest}), and that the switch turns it off. Two loops, so most
 * connections cross threads.
 */
class ZStackInProcessTest extends AbstractLocalPathTest {
    private static ZStackEventLoopGroup group;

    @BeforeAll
    static void group() {
        group = new ZStackEventLoopGroup(2, ZStackConfig.builder().inProcess(true).build());
    }

    @AfterAll
    static void shutdown() throws Exception {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    @Override
    ZStackEventLoopGroup serverGroup() {
        return group;
    }

    @Override
    ZStackEventLoopGroup clientGroup() {
        return group;
    }

    @Override
    String kind() {
        return "in-process";
    }

    @Override
    String counterInDump() {
        return "bytesByReference=";
    }

    /** The written mbuf's address: the reader must get that very mbuf. */
    @Override
    Object beforeWrite(ByteBuf written) {
        return MbufByteBuf.unwrapMbuf(written).mbuf();
    }

    @Override
    void assertReadAsPromised(Object writtenMbuf, ByteBuf read) {
        assertEquals(writtenMbuf, MbufByteBuf.unwrapMbuf(read).mbuf(), "the reader got the writer's mbuf");
    }

    @Override
    void assertReleased(Channel client, Channel child) throws InterruptedException {
        assertPoolsHome();
    }

    /**
     * A 64 KiB buffer from the channel's allocator (more than one mbuf holds: a composite of mbufs) crosses by
     * reference, and so does the echo of a read that took it whole. Before, the allocator handed 64 KiB out of its
     * fallback, and a composite was always copied, so each round trip copied 64 KiB twice (and 64 KiB messages were
     * 6x slower than 16 KiB). Reads of 16 KiB cut the large mbuf in pieces that share it: the echo of those is copied
     * (a piece is handed over only when nobody else holds its mbuf), the bytes arrive all the same.
     */
    @Test
    void largeBuffersAndTheirEchoesCrossByReference() throws Exception {
        for (int readSize : new int[] {64 * 1024, 16 * 1024}) {
            BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
            Channel server = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                    .childOption(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(readSize))
                    .childHandler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelActive(ChannelHandlerContext ctx) {
                            accepted.add(ctx.channel());
                        }

                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ctx.write(msg);
                        }

                        @Override
                        public void channelReadComplete(ChannelHandlerContext ctx) {
                            ctx.flush();
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            int size = 64 * 1024;
            int messages = 20;
            PatternReader echoed = new PatternReader((long) size * messages);
            Channel client = client(server, echoed);
            Channel child = accepted.poll(5, TimeUnit.SECONDS);
            Map<String, Long> before = inProcessCounters();
            try {
                for (int m = 0; m < messages; m++) {
                    ByteBuf buf = pattern(client, (long) m * size, size);
                    assertTrue(buf instanceof CompositeByteBuf, "64 KiB is more than one mbuf: " + buf);
                    client.writeAndFlush(buf).sync();
                }
                assertEquals((long) size * messages, echoed.all.get(10, TimeUnit.SECONDS));
            } finally {
                client.close().sync();
                child.close().sync();
                server.close().sync();
            }
            Map<String, Long> after = inProcessCounters();
            long byReference = after.get("bytesByReference") - before.get("bytesByReference");
            long copied = after.get("bytesCopied") - before.get("bytesCopied");
            if (readSize == size) {
                assertEquals(0, copied, "copied");
                assertEquals(2L * size * messages, byReference);
            } else {
                assertTrue(byReference >= (long) size * messages, "the writes went by reference: " + byReference);
                assertEquals(2L * size * messages, byReference + copied);
            }
            assertPoolsHome();
        }
    }

    /** The in-process counters of the group's loops, summed. */
    private static Map<String, Long> inProcessCounters() throws Exception {
        Map<String, Long> sum = new HashMap<>();
        for (ZStackEventLoop loop : group.loops()) {
            loop.counters().get(5, TimeUnit.SECONDS).forEach((k, v) -> {
                if (k.startsWith("inprocess.")) {
                    sum.merge(k.substring("inprocess.".length()), v, Long::sum);
                }
            });
        }
        sum.putIfAbsent("bytesCopied", 0L);
        sum.putIfAbsent("bytesByReference", 0L);
        return sum;
    }

    /**
     * A reader that does not read stops the writer: the channel turns unwritable and what is in flight stays within
     * SO_SNDBUF + SO_RCVBUF (charged per buffer); reading lets everything through, in order.
     */
    @Test
    void anUnreadPeerStopsTheWriterUntilItReads() throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        int total = 1024 * 1024;
        PatternReader reader = new PatternReader(total);
        Channel server = server(accepted, reader, false, -1);
        Channel client = client(server, new ChannelInboundHandlerAdapter());
        Channel child = accepted.poll(5, TimeUnit.SECONDS);
        child.config().setOption(ChannelOption.SO_RCVBUF, 16 * 1024);
        try {
            int written = 0;
            while (client.isWritable() && written < total) {
                client.writeAndFlush(pattern(client, written, 1024));
                written += 1024;
            }
            assertTrue(written < total, "the writer never became unwritable");
            Thread.sleep(50);
            assertFalse(client.isWritable(), "writable again though nobody read");
            long budget = 32 * 1024;
            LocalPipe toChild = ((ZStackSocketChannel) client).inProcess.out;
            assertTrue(toChild.room(budget) >= -InProcessPipe.MIN_CHARGE, "more in flight than the budget");

            child.config().setAutoRead(true);
            while (written < total) {
                client.writeAndFlush(pattern(client, written, 1024)).sync();
                written += 1024;
            }
            assertEquals(total, reader.all.get(10, TimeUnit.SECONDS));
        } finally {
            client.close().sync();
            child.close().sync();
            server.close().sync();
        }
        assertPoolsHome();
    }

    /**
     * A client that closes before its server has accepted (the server reads only when asked): the child, which reads
     * only when asked too, still learns of the end once registered, and closes (no half-closure).
     */
    @Test
    void aChildLearnsOfAnEndThatCameBeforeItsRegistration() throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Channel server = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                .option(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.complete(ctx.channel());
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        Channel client = client(server, new ChannelInboundHandlerAdapter());
        client.close().sync();
        server.read();
        Channel child = accepted.get(5, TimeUnit.SECONDS);
        assertTrue(child.closeFuture().await(5, TimeUnit.SECONDS), "the child never learnt the client closed");
        server.close().sync();
    }

    /** As a TCP connect whose SYN a full accept queue dropped: pending, then connected once the server accepts. */
    @Test
    void aConnectToAFullAcceptQueueWaitsUntilAccepted() throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        Channel server = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1)
                .option(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public boolean isSharable() {
                        return true;
                    }

                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.add(ctx.channel());
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        Bootstrap clients = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public boolean isSharable() {
                        return true;
                    }
                });
        Channel first = clients.connect(server.localAddress()).sync().channel();
        ChannelFuture second = clients.connect(server.localAddress());
        assertFalse(second.await(300), "a connect to a full accept queue completed: " + second.cause());
        server.read(); // accepts the first: room for the second
        assertTrue(second.await(5000) && second.isSuccess(), "the waiting connect did not complete: " + second.cause());
        Channel firstChild = accepted.poll(5, TimeUnit.SECONDS);
        server.read();
        Channel secondChild = accepted.poll(5, TimeUnit.SECONDS);
        assertNotNull(firstChild);
        assertNotNull(secondChild);
        first.close().sync();
        second.channel().close().sync();
        firstChild.close().sync();
        secondChild.close().sync();
        server.close().sync();
    }

    /** A group with the switch off takes TCP (a group is one host: over 127.0.0.1 its channels reach only its own). */
    @Test
    void theSwitchTurnsItOff() throws Exception {
        ZStackEventLoopGroup tcp = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        try {
            BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
            Channel server = server(tcp, accepted, new ChannelInboundHandlerAdapter(), true, -1);
            Channel client = client(tcp, server, new ChannelInboundHandlerAdapter());
            CompletableFuture<Boolean> hasTcp = new CompletableFuture<>();
            client.eventLoop().execute(() -> hasTcp.complete(((ZStackSocketChannel) client).connection() != null));
            assertTrue(hasTcp.get(5, TimeUnit.SECONDS), "not TCP");
            client.close().sync();
            accepted.poll(5, TimeUnit.SECONDS).close().sync();
            server.close().sync();
        } finally {
            tcp.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    private static void assertPoolsHome() throws InterruptedException {
        for (ZStackEventLoop loop : group.loops()) {
            for (MbufPool pool : loop.largePool() == null ? List.of(loop.pool()) : List.of(loop.pool(),
                    loop.largePool())) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (pool.available() != pool.capacity() && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
                assertEquals(pool.capacity(), pool.available(), pool + " not home");
            }
        }
    }
}
