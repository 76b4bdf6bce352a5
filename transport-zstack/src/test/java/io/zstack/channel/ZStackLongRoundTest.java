package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.zstack.tcp.TcpCounters;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A loop round that runs long (a handler computing, a large copy) must not take the time it ran for the peer's
 * silence: the ACKs that reached the device meanwhile are taken in before the round's timers run. Before, the timers
 * ran first, and a round a few milliseconds long sent a tail loss probe for data acknowledged during it (a spurious
 * retransmission and a D-SACK in nearly every 64 MiB transfer of the loss benchmark's clean path); one longer than
 * the RTO would have collapsed the window.
 */
class ZStackLongRoundTest {
    /** Far longer than the probe timeout after a few segments (twice the tiny memif RTT plus 2 ms). */
    private static final long LONG_ROUND_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    @Test
    void acksThatCameDuringALongRoundAreTakenInBeforeItsTimersRun() throws Exception {
        int bytes = 16 * 1024; // several full segments: the server acknowledges at once, and the probe is due in ~2 ms
        // the write goes out at once (no transmit batching) and nothing flushes from outside the loop (no stall watch)
        MemifRecordingPair pair = new MemifRecordingPair("longround", 61, 7,
                b -> b.stallFlush(0).transmitBatch(0));
        pair.run(() -> {
            CountDownLatch received = new CountDownLatch(bytes);
            Channel listener = new ServerBootstrap().group(pair.serverGroup).channel(ZStackServerSocketChannel.class)
                    .childHandler(new ZStackBatchedTransmitTest.CountingReader(received))
                    .bind(new InetSocketAddress("10.9.7.1", 8080)).sync().channel();
            pair.awaitLink();
            Channel ch = new Bootstrap().group(pair.clientGroup).channel(ZStackSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(new InetSocketAddress("10.9.7.1", 8080)).sync().channel();
            ZStackEventLoop loop = (ZStackEventLoop) ch.eventLoop();
            TcpCounters before = counters(loop);
            // one task writes, then keeps the loop busy for 100 ms: the server's ACKs wait in the client's device
            loop.submit(() -> {
                ByteBuf out = ch.alloc().directBuffer(bytes);
                out.writeZero(bytes);
                ch.writeAndFlush(out);
                long start = System.nanoTime();
                while (System.nanoTime() - start < LONG_ROUND_NANOS) {
                    Thread.onSpinWait();
                }
            }).sync();
            assertTrue(received.await(10, TimeUnit.SECONDS), () -> "server read " + (bytes - received.getCount())
                    + " of " + bytes + " bytes");
            TcpCounters after = counters(loop);
            assertEquals(before.tailLossProbes, after.tailLossProbes,
                    "tail loss probes after the long round (its ACKs were in the device)");
            assertEquals(before.retransmittedSegments, after.retransmittedSegments, "retransmissions");
            ch.close().sync();
            listener.close().sync();
        });
    }

    /** A copy of the loop's TCP counters, taken on the loop. */
    private static TcpCounters counters(ZStackEventLoop loop) throws Exception {
        return loop.submit(() -> {
            TcpCounters copy = new TcpCounters();
            TcpCounters live = loop.stack().tcp().counters();
            copy.tailLossProbes = live.tailLossProbes;
            copy.retransmittedSegments = live.retransmittedSegments;
            return copy;
        }).get(5, TimeUnit.SECONDS);
    }
}
