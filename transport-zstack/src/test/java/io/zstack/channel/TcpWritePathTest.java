package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** How written buffers enter TCP's send queue, over the stack's loopback (TCP, not the in-process path). */
class TcpWritePathTest {
    private static final int PIECES = 2000;
    private static final int PIECE = 1000;

    /**
     * A composite of thousands of mbufs, written through a send buffer that takes a few dozen at a time, goes by
     * reference piece by piece, and the write path looks at each piece a bounded number of times: it used to look at
     * every piece left (and compare each with all before it) on every flush an ACK brought, which for an 8 MiB body
     * was milliseconds per ACK (a GET of it over the kernel TAP took 0.46-0.67 s, 0.05-0.07 s since). The bytes
     * arrive intact and in order.
     */
    @Test
    void aCompositeOfThousandsOfMbufsIsLookedAtAFewTimesPerPieceAtMost() throws Exception {
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        try {
            CompletableFuture<String> received = new CompletableFuture<>();
            Channel server = patternReader(group, (long) PIECES * PIECE, received);
            ZStackSocketChannel client = connect(group, server, 64 * 1024);
            CompositeByteBuf body = client.alloc().compositeDirectBuffer(PIECES);
            for (int p = 0; p < PIECES; p++) {
                ByteBuf piece = client.alloc().directBuffer(PIECE, PIECE);
                for (int i = 0; i < PIECE; i++) {
                    piece.writeByte(expected((long) p * PIECE + i));
                }
                assertTrue(MbufHandOff.forTcp(piece, PIECE, client.zstackLoop().pool(),
                        client.zstackLoop().largePool()) != 0, "each piece one mbuf of the loop's pool: " + piece);
                body.addComponent(true, piece);
            }
            client.writeAndFlush(body).sync();
            assertEquals("all " + (long) PIECES * PIECE + " bytes intact", received.get(30, TimeUnit.SECONDS));
            long examined = client.eventLoop().submit(client::writePiecesExamined).get(5, TimeUnit.SECONDS);
            // the look covers the pieces whose bytes fit the send space, while each queued piece charges it an mbuf's
            // room (here about twice its bytes): a piece left for the next flush is looked at again then, so about
            // twice per piece (4,221 here); looking at every piece left on every flush was 65,520
            assertTrue(examined >= PIECES && examined <= 3L * PIECES, "pieces looked at: " + examined);
            client.close().sync();
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * A buffer that must be copied (a heap buffer) goes into the send queue {@link TcpWritePath#COPY_BUDGET} bytes per
     * flush, the rest in flushes of their own in the loop's next rounds, after it has polled and transmitted, however
     * much room the send buffer has (here 4 MiB): one flush copying megabytes kept the loop from its ACKs and every
     * other connection, and so did a chain of flushes run as ordinary tasks (a round runs its tasks until none is left).
     */
    @Test
    void aFlushCopiesAtMostItsBudgetAndTheRestFollows() throws Exception {
        int size = 2 << 20;
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        try {
            CompletableFuture<String> received = new CompletableFuture<>();
            Channel server = patternReader(group, size, received);
            ZStackSocketChannel client = connect(group, server, 4 << 20);
            byte[] bytes = new byte[size];
            for (int i = 0; i < size; i++) {
                bytes[i] = expected(i);
            }
            CompletableFuture<Long> queuedLaterThisRound = new CompletableFuture<>();
            long queuedByTheFirstFlush = client.eventLoop().submit(() -> {
                client.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(bytes));
                // a task queued now runs in this round: the rest of the copy must not have run before it
                client.eventLoop().execute(() -> queuedLaterThisRound.complete(client.connection().sendQueued()));
                return client.connection().sendQueued();
            }).get(5, TimeUnit.SECONDS);
            assertTrue(queuedByTheFirstFlush > 0 && queuedByTheFirstFlush <= TcpWritePath.COPY_BUDGET,
                    "queued by the first flush: " + queuedByTheFirstFlush);
            assertEquals(queuedByTheFirstFlush, queuedLaterThisRound.get(5, TimeUnit.SECONDS),
                    "queued when the round's next task ran: the next copy waits for the next round");
            assertEquals("all " + size + " bytes intact", received.get(30, TimeUnit.SECONDS));
            client.close().sync();
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * A group stopping while a channel's copy goes on round by round (the rest of a 2 MiB heap buffer held for the
     * loop's next rounds) stops in time, and every mbuf comes home: a held flush is not dropped with its buffer.
     */
    @Test
    void aGroupStoppingDuringACopyThatGoesOnRoundByRoundStopsWithEveryMbufHome() throws Exception {
        int size = 2 << 20;
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        ZStackEventLoop loop = (ZStackEventLoop) group.next();
        Channel server = patternReader(group, size, new CompletableFuture<>());
        ZStackSocketChannel client = connect(group, server, 4 << 20);
        loop.submit(() -> {
            client.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(new byte[size]));
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS); // the rest of the copy is held for the next round
        }).sync();
        assertTrue(group.terminationFuture().await(10, TimeUnit.SECONDS), "the group stopped");
        assertTrue(loop.pool().isClosed() || loop.pool().available() == loop.pool().capacity(),
                () -> "mbufs home: " + loop.pool());
        assertTrue(loop.largePool() == null || loop.largePool().isClosed()
                || loop.largePool().available() == loop.largePool().capacity(), () -> "large mbufs home");
    }

    /** A client on {@code group} connected to {@code server}, its SO_SNDBUF {@code sendBuffer} bytes. */
    private static ZStackSocketChannel connect(ZStackEventLoopGroup group, Channel server, int sendBuffer)
            throws InterruptedException {
        return (ZStackSocketChannel) new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .option(ChannelOption.SO_SNDBUF, sendBuffer).handler(new ChannelInboundHandlerAdapter())
                .connect(server.localAddress()).sync().channel();
    }

    /**
     * A server on {@code group} that checks every byte it reads against {@link #expected} and completes
     * {@code received} with "all N bytes intact" once {@code total} have come, or with the first wrong byte.
     */
    private static Channel patternReader(ZStackEventLoopGroup group, long total, CompletableFuture<String> received)
            throws InterruptedException {
        return new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    long position;

                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ByteBuf buf = (ByteBuf) msg;
                        try {
                            for (int i = buf.readerIndex(); i < buf.writerIndex(); i++, position++) {
                                if (buf.getByte(i) != expected(position)) {
                                    received.complete("byte " + position + " is " + buf.getByte(i) + ", not "
                                            + expected(position));
                                    return;
                                }
                            }
                            if (position == total) {
                                received.complete("all " + position + " bytes intact");
                            }
                        } finally {
                            buf.release();
                        }
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    private static byte expected(long position) {
        return (byte) (position * 31 % 251);
    }
}
