package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * What both local paths promise, tested once over each: the in-process path ({@link ZStackInProcessTest}) and the
 * cross-process path with both ends in this JVM ({@link ZStackCrossProcessTest}). A connect nobody serves is
 * refused; a written buffer reaches the peer as the path promises (the same mbuf, or a view of the shared region),
 * with TCP's addresses and no TCP state, and the dump and counters say which path carried it; SO_LINGER 0 and a
 * close with unread data reset the peer after the data sent before. The subclasses add what only their path has.
 */
abstract class AbstractLocalPathTest {
    /** The group of the servers. */
    abstract ZStackEventLoopGroup serverGroup();

    /** The group of the clients (the servers' own, or another one). */
    abstract ZStackEventLoopGroup clientGroup();

    /** "in-process" or "cross-process", as the dump marks these connections. */
    abstract String kind();

    /** A counter only this path keeps, as the dump names it ("name="). */
    abstract String counterInDump();

    /** Before the write: what {@link #assertReadAsPromised} needs of the written buffer (it is released after). */
    abstract Object beforeWrite(ByteBuf written);

    /** The received buffer is what the path promises for {@code written} (zero copy, or a view of the region). */
    abstract void assertReadAsPromised(Object written, ByteBuf read);

    /** After a test's connections closed: what the path must have given back (mbufs home, regions unmapped). */
    abstract void assertReleased(Channel client, Channel child) throws Exception;

    /** A server whose children get {@code child}, with their options; the accepted children are queued. */
    static Channel server(ZStackEventLoopGroup g, BlockingQueue<Channel> accepted, ChannelInboundHandlerAdapter child,
                          boolean autoRead, int soLinger) throws InterruptedException {
        return new ServerBootstrap().group(g).channel(ZStackServerSocketChannel.class)
                .childOption(ChannelOption.AUTO_READ, autoRead)
                .childOption(ChannelOption.SO_LINGER, soLinger)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void handlerAdded(ChannelHandlerContext ctx) {
                        ctx.pipeline().addLast(child);
                        accepted.add(ctx.channel());
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    Channel server(BlockingQueue<Channel> accepted, ChannelInboundHandlerAdapter child, boolean autoRead, int soLinger)
            throws InterruptedException {
        return server(serverGroup(), accepted, child, autoRead, soLinger);
    }

    /** A client of {@code server} with small buffers and water marks, so that backpressure shows early. */
    static Channel client(ZStackEventLoopGroup g, Channel server, ChannelInboundHandlerAdapter handler)
            throws InterruptedException {
        return new Bootstrap().group(g).channel(ZStackSocketChannel.class).handler(handler)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(8 * 1024, 32 * 1024))
                .option(ChannelOption.SO_SNDBUF, 16 * 1024)
                .option(ChannelOption.SO_RCVBUF, 16 * 1024)
                .connect(server.localAddress()).sync().channel();
    }

    Channel client(Channel server, ChannelInboundHandlerAdapter handler) throws InterruptedException {
        return client(clientGroup(), server, handler);
    }

    /** {@code length} bytes counting up from {@code from} (mod 256), in a buffer of the channel's allocator. */
    static ByteBuf pattern(Channel ch, long from, int length) {
        ByteBuf buf = ch.alloc().directBuffer(length);
        for (int i = 0; i < length; i++) {
            buf.writeByte((byte) (from + i));
        }
        return buf;
    }

    /** Reads a {@link #pattern} stream: fails {@code all} at the first byte out of order, completes it at total. */
    static final class PatternReader extends ChannelInboundHandlerAdapter {
        final CompletableFuture<Long> all = new CompletableFuture<>();
        private final long total;
        private long bytes;

        PatternReader(long total) {
            this.total = total;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            for (int i = buf.readerIndex(); i < buf.writerIndex(); i++) {
                if (buf.getByte(i) != (byte) (bytes + i - buf.readerIndex())) {
                    all.completeExceptionally(new AssertionError("byte " + (bytes + i - buf.readerIndex())));
                }
            }
            bytes += buf.readableBytes();
            buf.release();
            if (bytes == total) {
                all.complete(bytes);
            }
        }
    }

    /** Counts and releases what it reads; subclasses add what they do at the end. */
    static class CountingReader extends ChannelInboundHandlerAdapter {
        int bytes;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            bytes += ((ByteBuf) msg).readableBytes();
            ((ByteBuf) msg).release();
        }
    }

    @Test
    void aConnectNobodyServesIsRefused() {
        ChannelFuture f = new Bootstrap().group(clientGroup()).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(new InetSocketAddress("127.0.0.1", 9)).awaitUninterruptibly();
        assertInstanceOf(ConnectException.class, f.cause());
    }

    /** Addresses as TCP's, no TCP state, the buffer as the path promises, the dump and counters name the path. */
    @Test
    void aWrittenBufferReachesThePeerAsThePathPromises() throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        BlockingQueue<ByteBuf> received = new LinkedBlockingQueue<>();
        Channel server = server(accepted, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                received.add((ByteBuf) msg);
            }
        }, true, -1);
        Channel client = client(server, new ChannelInboundHandlerAdapter());
        Channel child = accepted.poll(5, TimeUnit.SECONDS);
        assertNotNull(child);
        try {
            assertNull(((ZStackSocketChannel) client).connection(), "no TCP state");
            assertEquals(client.localAddress(), child.remoteAddress());
            assertEquals(server.localAddress(), client.remoteAddress());
            assertEquals(server.localAddress(), child.localAddress());
            assertTrue(((InetSocketAddress) client.localAddress()).getPort() >= 32768, "an ephemeral port");

            ByteBuf written = client.alloc().directBuffer(100).writeBytes(new byte[100]).setByte(7, 42);
            Object token = beforeWrite(written);
            client.writeAndFlush(written).sync();
            ByteBuf read = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(read);
            try {
                assertReadAsPromised(token, read);
                assertEquals(100, read.readableBytes());
                assertEquals(42, read.getByte(read.readerIndex() + 7));
            } finally {
                read.release();
            }
            String dump = clientGroup().describe().get(5, TimeUnit.SECONDS);
            assertTrue(dump.contains(kind() + " ESTABLISHED 127.0.0.1:"
                    + ((InetSocketAddress) client.localAddress()).getPort()), dump);
            assertTrue(dump.contains(counterInDump()), dump);
        } finally {
            client.close().sync();
            child.close().sync();
            server.close().sync();
        }
        assertReleased(client, child);
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
    private void assertPeerReset(boolean childReads, int clientSends, int childLinger) throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        CompletableFuture<Throwable> clientError = new CompletableFuture<>();
        CompletableFuture<Integer> clientBytes = new CompletableFuture<>();
        Channel server = server(accepted, new ChannelInboundHandlerAdapter(), childReads, childLinger);
        Channel client = client(server, new CountingReader() {
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
        assertReleased(client, child);
    }
}
