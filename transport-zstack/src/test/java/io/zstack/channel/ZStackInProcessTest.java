package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import io.netty.channel.WriteBufferWaterMark;
import io.zstack.buffer.MbufByteBuf;
import io.zstack.buffer.MbufPool;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
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
 * buffer the peer reads, that in-flight data is bounded and unread data freed, how resets reach the peer, and that
 * the switch turns it off. Two loops, so most connections cross threads.
 */
class ZStackInProcessTest {
    private static ZStackEventLoopGroup group;

    @BeforeAll
    static void group() {
        group = new ZStackEventLoopGroup(2, ZStackConfig.builder().inProcess(true).build());
    }

    @AfterAll
    static void shutdown() throws Exception {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    /** A server whose children get {@code child}, with their options; the accepted children are queued. */
    private static Channel server(ZStackEventLoopGroup g, BlockingQueue<Channel> accepted,
                                  ChannelInboundHandlerAdapter child, boolean autoRead, int soLinger)
            throws InterruptedException {
        return new ServerBootstrap().group(g).channel(ZStackServerSocketChannel.class)
                .childOption(ChannelOption.AUTO_READ, autoRead)
                .childOption(ChannelOption.SO_LINGER, soLinger)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void handlerAdded(ChannelHandlerContext ctx) {
                        ctx.pipeline().addLast(child);
                        accepted.add(ctx.channel());
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    private static Channel client(ZStackEventLoopGroup g, Channel server, ChannelInboundHandlerAdapter handler)
            throws InterruptedException {
        return new Bootstrap().group(g).channel(ZStackSocketChannel.class).handler(handler)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(8 * 1024, 32 * 1024))
                .option(ChannelOption.SO_SNDBUF, 16 * 1024)
                .connect(server.localAddress()).sync().channel();
    }

    @Test
    void aConnectNobodyServesIsRefused() {
        ChannelFuture f = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(new InetSocketAddress("127.0.0.1", 9)).awaitUninterruptibly();
        assertInstanceOf(ConnectException.class, f.cause());
    }

    @Test
    void theWrittenMbufIsTheBufferThePeerReads() throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        BlockingQueue<ByteBuf> received = new LinkedBlockingQueue<>();
        Channel server = server(group, accepted, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                received.add((ByteBuf) msg);
            }
        }, true, -1);
        Channel client = client(group, server, new ChannelInboundHandlerAdapter());
        Channel child = accepted.poll(5, TimeUnit.SECONDS);
        try {
            assertNull(((ZStackSocketChannel) client).connection(), "no TCP state");
            assertEquals(client.localAddress(), child.remoteAddress());
            assertEquals(server.localAddress(), client.remoteAddress());
            assertTrue(((InetSocketAddress) client.localAddress()).getPort() >= 32768, "an ephemeral port");

            ByteBuf written = client.alloc().directBuffer(100).writeBytes(new byte[100]).setByte(7, 42);
            long mbuf = MbufByteBuf.unwrapMbuf(written).mbuf();
            client.writeAndFlush(written).sync();
            ByteBuf read = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(read);
            try {
                assertEquals(mbuf, MbufByteBuf.unwrapMbuf(read).mbuf(), "the reader got the writer's mbuf");
                assertEquals(100, read.readableBytes());
                assertEquals(42, read.getByte(read.readerIndex() + 7));
            } finally {
                read.release();
            }
            String dump = group.describe().get(5, TimeUnit.SECONDS);
            assertTrue(dump.contains("in-process ESTABLISHED 127.0.0.1:"
                    + ((InetSocketAddress) client.localAddress()).getPort()), dump);
            assertTrue(dump.contains("bytesByReference="), dump);
        } finally {
            client.close().sync();
            child.close().sync();
            server.close().sync();
        }
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
            CompletableFuture<Long> echoed = new CompletableFuture<>();
            Channel client = client(group, server, new StreamCheck((long) size * messages, echoed));
            Channel child = accepted.poll(5, TimeUnit.SECONDS);
            Map<String, Long> before = inProcessCounters();
            try {
                for (int m = 0; m < messages; m++) {
                    ByteBuf buf = client.alloc().directBuffer(size);
                    assertTrue(buf instanceof CompositeByteBuf, "64 KiB is more than one mbuf: " + buf);
                    for (int i = 0; i < size; i++) {
                        buf.writeByte((byte) ((long) m * size + i));
                    }
                    client.writeAndFlush(buf).sync();
                }
                assertEquals((long) size * messages, echoed.get(10, TimeUnit.SECONDS));
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
        List<ByteBuf> received = new ArrayList<>();
        CompletableFuture<Long> all = new CompletableFuture<>();
        int total = 1024 * 1024;
        Channel server = server(group, accepted, new StreamCheck(total, all), false, -1);
        Channel client = client(group, server, new ChannelInboundHandlerAdapter());
        Channel child = accepted.poll(5, TimeUnit.SECONDS);
        child.config().setOption(ChannelOption.SO_RCVBUF, 16 * 1024);
        try {
            int written = 0;
            while (client.isWritable() && written < total) {
                ByteBuf buf = client.alloc().directBuffer(1024);
                for (int i = 0; i < 1024; i++) {
                    buf.writeByte((byte) (written + i));
                }
                client.writeAndFlush(buf);
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
                ByteBuf buf = client.alloc().directBuffer(1024);
                for (int i = 0; i < 1024; i++) {
                    buf.writeByte((byte) (written + i));
                }
                client.writeAndFlush(buf).sync();
                written += 1024;
            }
            assertEquals(total, all.get(10, TimeUnit.SECONDS));
        } finally {
            client.close().sync();
            child.close().sync();
            server.close().sync();
        }
        assertPoolsHome();
    }

    @Test
    void soLingerZeroResetsThePeer() throws Exception {
        assertPeerReset(true, -1, 0);
    }

    @Test
    void closingWithUnreadDataResetsThePeer() throws Exception {
        assertPeerReset(false, 64 * 1024, -1);
    }

    /** The child closes (reading or not, with SO_LINGER); the client must see a reset after the child's data. */
    private static void assertPeerReset(boolean childReads, int clientSends, int childLinger) throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        CompletableFuture<Throwable> clientError = new CompletableFuture<>();
        CompletableFuture<Integer> clientBytes = new CompletableFuture<>();
        Channel server = server(group, accepted, new ChannelInboundHandlerAdapter(), childReads, childLinger);
        Channel client = client(group, server, new ChannelInboundHandlerAdapter() {
            int bytes;

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                bytes += ((ByteBuf) msg).readableBytes();
                ((ByteBuf) msg).release();
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                clientBytes.complete(bytes);
                clientError.complete(cause);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                clientError.complete(null);
            }
        });
        Channel child = accepted.poll(5, TimeUnit.SECONDS);
        if (clientSends > 0) {
            client.writeAndFlush(client.alloc().directBuffer(clientSends).writerIndex(clientSends)).sync();
        }
        child.writeAndFlush(child.alloc().directBuffer(10).writerIndex(10)).sync();
        child.close().sync();
        Throwable cause = clientError.get(5, TimeUnit.SECONDS);
        assertInstanceOf(IOException.class, cause, "the client saw an orderly close, not a reset");
        assertTrue(cause.getMessage().contains("reset"), cause.toString());
        assertEquals(10, clientBytes.get(), "the data sent before the reset is read first");
        assertTrue(client.closeFuture().await(5, TimeUnit.SECONDS));
        server.close().sync();
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
        Channel client = client(group, server, new ChannelInboundHandlerAdapter());
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

    /** Reads a stream whose byte at each position is that position (as a byte); completes with its length. */
    private static final class StreamCheck extends ChannelInboundHandlerAdapter {
        private final long total;
        private final CompletableFuture<Long> done;
        private long bytes;

        StreamCheck(long total, CompletableFuture<Long> done) {
            this.total = total;
            this.done = done;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            for (int i = buf.readerIndex(); i < buf.writerIndex(); i++) {
                if (buf.getByte(i) != (byte) (bytes + i - buf.readerIndex())) {
                    done.completeExceptionally(new AssertionError("byte " + (bytes + i - buf.readerIndex())));
                }
            }
            bytes += buf.readableBytes();
            buf.release();
            if (bytes == total) {
                done.complete(bytes);
            }
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
