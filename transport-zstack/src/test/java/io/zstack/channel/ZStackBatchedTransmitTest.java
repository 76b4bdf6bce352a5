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
 * Batched transmit: the flushes of a loop round go out in that round's one tx_burst, unless the loop has not
 * transmitted for its transmit batch budget ({@link ZStackConfig.Builder#transmitBatch}), when a write goes out at
 * once; and a handler that blocks its loop right after a write (Netty's SocketHalfClosedTest leader does) still gets
 * the write out (the stall watch).
 */
class ZStackBatchedTransmitTest {
    @Test
    void withoutABudgetTheFlushesOfOneRoundShareOneTxBurst() throws Exception {
        // no stall flush and no budget: however slow this shared machine runs the task, its flushes wait for the
        // round's end
        MemifRecordingPair pair = new MemifRecordingPair("batch", 27, 2,
                b -> b.stallFlush(0).transmitBatch(Long.MAX_VALUE));
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

    /**
     * A round that serves many requests must not hold the first answer until the last is written (the convoy that
     * halved setup 2's rate): a write made when the loop has not transmitted for the budget sends what is queued.
     */
    @Test
    void aWriteLongAfterTheLastTransmitSendsEverythingQueuedAtOnce() throws Exception {
        long budget = TimeUnit.MILLISECONDS.toNanos(20);
        List<Integer> looksAfterWrite = new ArrayList<>();
        // each count below is taken inside the writing task: the round has not ended, only a write can have sent
        List<Integer> sentAfterWrite = writeInOneTask("budget", 29, 4, b -> b.stallFlush(0).transmitBatch(budget),
                looksAfterWrite, (i, ch) -> {
            if (i == 1) {
                long start = System.nanoTime();
                while (System.nanoTime() - start < 2 * budget) {
                    Thread.onSpinWait(); // the loop busy, as a handler serving a long request keeps it
                }
            }
        });
        // write 0 may or may not have gone at once (a slow machine may start the task a budget after the last
        // transmit); write 1 came two budgets after the task began, so it sent itself and write 0 together
        assertEquals(2, sentAfterWrite.get(1), "frames sent by the end of the second write: " + sentAfterWrite);
        assertTrue(sentAfterWrite.get(0) <= 1, sentAfterWrite::toString);
        // what came in: the second write, 40 ms after the loop last looked (more than the default millisecond), looked
        // at the device once
        assertEquals(1, looksAfterWrite.get(1) - looksAfterWrite.get(0), "device receives after each write: "
                + looksAfterWrite);
    }

    @Test
    void withBudgetsOfZeroEveryWriteGoesOutAtOnceAndLooksAtTheDeviceFirst() throws Exception {
        List<Integer> looksAfterWrite = new ArrayList<>();
        List<Integer> sentAfterWrite = writeInOneTask("nobatch", 33, 5,
                b -> b.stallFlush(0).transmitBatch(0).writeInputInterval(0),
                looksAfterWrite, (i, ch) -> { });
        assertEquals(List.of(1, 2, 3, 4), sentAfterWrite);
        assertEquals(List.of(1, 2, 3, 4), looksAfterWrite, "device receives after each write");
    }

    /**
     * A write looks at the device before it writes only when the loop last looked its write input interval ago (a
     * millisecond by default: only after a long task, as
     * {@link #aWriteLongAfterTheLastTransmitSendsEverythingQueuedAtOnce} shows); the writes of a round otherwise send
     * on the connection as the round's input left it.
     */
    @Test
    void withOneBurstPerRoundNoWriteLooksAtTheDevice() throws Exception {
        List<Integer> looksAfterWrite = new ArrayList<>();
        List<Integer> sentAfterWrite = writeInOneTask("nolook", 37, 6,
                b -> b.stallFlush(0).transmitBatch(Long.MAX_VALUE).writeInputInterval(Long.MAX_VALUE),
                looksAfterWrite, (i, ch) -> { });
        assertEquals(List.of(0, 0, 0, 0), sentAfterWrite);
        assertEquals(List.of(0, 0, 0, 0), looksAfterWrite, "device receives after each write");
    }

    /**
     * Connects four channels of a client whose config {@code clientConfig} adjusts (over memif ports
     * {@code firstPortId} and the next, subnet 10.9.{@code subnet}.0/24), then one task of the client's loop writes
     * 100 bytes on each in turn ({@code beforeWrite} runs before each); returns how many data frames the client's
     * device had been handed after each write, counted inside that task, and adds to {@code looksAfterWrite} how
     * many times the task had called the device's receive by then.
     */
    private static List<Integer> writeInOneTask(String name, int firstPortId, int subnet,
                                                java.util.function.UnaryOperator<ZStackConfig.Builder> clientConfig,
                                                List<Integer> looksAfterWrite,
                                                java.util.function.BiConsumer<Integer, Channel> beforeWrite)
            throws Exception {
        int connections = 4;
        String server = "10.9." + subnet + ".1";
        MemifRecordingPair pair = new MemifRecordingPair(name, firstPortId, subnet, clientConfig);
        ZStackZeroCopyTest.RecordingDevice client = pair.client;
        List<Integer> sentAfterWrite = new ArrayList<>();
        pair.run(() -> {
            CountDownLatch received = new CountDownLatch(connections * 100);
            Channel listener = new ServerBootstrap().group(pair.serverGroup).channel(ZStackServerSocketChannel.class)
                    .childHandler(new CountingReader(received)).bind(new InetSocketAddress(server, 8080)).sync()
                    .channel();
            pair.awaitLink();
            List<Channel> channels = new ArrayList<>();
            for (int i = 0; i < connections; i++) {
                channels.add(new Bootstrap().group(pair.clientGroup).channel(ZStackSocketChannel.class)
                        .handler(new ChannelInboundHandlerAdapter())
                        .connect(new InetSocketAddress(server, 8080)).sync().channel());
            }
            pair.clientGroup.next().submit(() -> {
                client.dataFramesPerTransmit.clear();
                int receivesBefore = client.receiveCalls.get();
                for (int i = 0; i < channels.size(); i++) {
                    beforeWrite.accept(i, channels.get(i));
                    ByteBuf out = channels.get(i).alloc().directBuffer(100);
                    out.writeZero(100);
                    channels.get(i).writeAndFlush(out);
                    sentAfterWrite.add(client.dataFramesPerTransmit.stream().mapToInt(Integer::intValue).sum());
                    looksAfterWrite.add(client.receiveCalls.get() - receivesBefore);
                }
            }).sync();
            assertTrue(received.await(10, TimeUnit.SECONDS), () -> "server read "
                    + (connections * 100 - received.getCount()) + " bytes\n" + describe(pair.clientGroup));
            for (Channel ch : channels) {
                ch.close().sync();
            }
            listener.close().sync();
        });
        return sentAfterWrite;
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
