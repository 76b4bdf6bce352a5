package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Batched transmit: every flush of a loop round goes out in that round's one tx_burst; and a handler that blocks its
 * loop right after a write (Netty's SocketHalfClosedTest leader does) still gets the write out (the stall watch).
 */
class ZStackBatchedTransmitTest {
    @Test
    void theFlushesOfOneRoundShareOneTxBurst() throws Exception {
        // no stall flush: however slow this shared machine runs the task, its flushes wait for the round's end
        MemifRecordingPair pair = new MemifRecordingPair("batch", 27, 2, b -> b.stallFlush(0));
        ZStackZeroCopyTest.RecordingDevice client = pair.client;
        ZStackEventLoopGroup serverGroup = pair.serverGroup;
        ZStackEventLoopGroup clientGroup = pair.clientGroup;
        pair.run(() -> {
            int connections = 8;
            CountDownLatch received = new CountDownLatch(connections * 100);
            Channel listener = new ServerBootstrap().group(serverGroup).channel(ZStackServerSocketChannel.class)
                    .childHandler(new CountingReader(received)).bind(new InetSocketAddress("10.9.2.1", 8080)).sync()
                    .channel();
            pair.awaitLink();
            List<Channel> channels = new ArrayList<>();
            for (int i = 0; i < connections; i++) {
                channels.add(new Bootstrap().group(clientGroup).channel(ZStackSocketChannel.class)
                        .handler(new ChannelInboundHandlerAdapter())
                        .connect(new InetSocketAddress("10.9.2.1", 8080)).sync().channel());
            }
            client.dataFramesPerTransmit.clear();
            // one task of the client's loop writes and flushes on every connection: eight flushes in one round
            clientGroup.next().submit(() -> {
                for (Channel ch : channels) {
                    ByteBuf out = ch.alloc().directBuffer(100);
                    out.writeZero(100);
                    ch.writeAndFlush(out);
                }
            }).sync();
            assertTrue(received.await(10, TimeUnit.SECONDS), () -> "server read " + (connections * 100 - received.getCount())
                    + " bytes; client transmits " + client.dataFramesPerTransmit + "\n" + describe(clientGroup)
                    + describe(serverGroup));
            assertEquals(List.of(connections), client.dataFramesPerTransmit,
                    "the eight flushes' segments went to the device in one transmit call");
            for (Channel ch : channels) {
                ch.close().sync();
            }
            listener.close().sync();
        });
    }

    /** Counts the bytes every connection reads. */
    @io.netty.channel.ChannelHandler.Sharable
    static final class CountingReader extends ChannelInboundHandlerAdapter {
        private final CountDownLatch bytes;

        CountingReader(CountDownLatch bytes) {
            this.bytes = bytes;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            for (int i = 0; i < buf.readableBytes(); i++) {
                bytes.countDown();
            }
            buf.release();
        }
    }

    private static String describe(ZStackEventLoopGroup group) {
        try {
            return ((ZStackEventLoop) group.next()).describe().get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            return e.toString();
        }
    }

    /**
     * The shape of SocketHalfClosedTest's hang: the accepted side writes in channelActive and then blocks its loop
     * until the peer (on the other loop) has read that write. Batched transmit queues the write for the end of the
     * round, which never comes while the handler blocks; the stall watch flushes it from its own thread.
     */
    @Test
    void aHandlerThatBlocksItsLoopAfterWritingStillGetsTheWriteOut() throws Exception {
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(2, ZStackConfig.builder().inProcess(false).build());
        try {
            CountDownLatch peerRead = new CountDownLatch(1);
            AtomicBoolean peerReadInTime = new AtomicBoolean();
            AtomicLong blockedNanos = new AtomicLong();
            CountDownLatch done = new CountDownLatch(1);
            Channel listener = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                    .childHandler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelActive(ChannelHandlerContext ctx) throws Exception {
                            ByteBuf out = ctx.alloc().directBuffer(10);
                            out.writeZero(10);
                            ctx.writeAndFlush(out);
                            long start = System.nanoTime();
                            peerReadInTime.set(peerRead.await(5, TimeUnit.SECONDS)); // blocks this loop
                            blockedNanos.set(System.nanoTime() - start);
                            done.countDown();
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            Channel ch = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ((ByteBuf) msg).release();
                            peerRead.countDown();
                        }
                    }).connect(listener.localAddress()).sync().channel();
            assertTrue(done.await(10, TimeUnit.SECONDS));
            assertTrue(peerReadInTime.get(), "the peer read the write while its writer's loop was blocked");
            assertTrue(blockedNanos.get() < 1_000_000_000L, "blocked " + blockedNanos.get() / 1_000_000 + " ms");
            ch.close().sync();
            listener.close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }
}
