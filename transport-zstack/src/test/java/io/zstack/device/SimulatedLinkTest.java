package io.zstack.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.wire.MacAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SimulatedLinkTest {
    private static final long MICROS = 1_000;

    private final VirtualClock clock = new VirtualClock();
    private final JavaMbufPool poolA = new JavaMbufPool("link-a", 512);
    private final JavaMbufPool poolB = new JavaMbufPool("link-b", 512);
    private SimulatedLink link;

    @AfterEach
    void noLeak() {
        if (link != null) {
            link.close();
        }
        assertEquals(poolA.capacity(), poolA.available(), "pool a: every mbuf back");
        assertEquals(poolB.capacity(), poolB.available(), "pool b: every mbuf back");
        poolA.close();
        poolB.close();
    }

    private static MbufBurst burstOf(long... frames) {
        MbufBurst burst = new MbufBurst(Math.max(1, frames.length));
        for (long m : frames) {
            burst.add(m);
        }
        return burst;
    }

    @Test
    void framesArriveAfterSerialisationAndLatencyQueuedBehindEachOther() {
        // 1 Gbit/s: 8 ns per byte; 10 us one way
        link = SimulatedLink.builder(clock).latencyNanos(10 * MICROS).bitsPerSecond(1_000_000_000L).pool(poolA)
                .build();
        assertEquals(8000, link.serialisationNanos(1000));
        MbufBurst tx = burstOf(TestFrames.frame(poolA, 0, 1000), TestFrames.frame(poolA, 1, 1000),
                TestFrames.frame(poolA, 2, 1000));
        assertEquals(3, link.a().transmit(tx));
        assertEquals(0, tx.size());
        assertEquals(3, link.a().inFlight());

        MbufBurst rx = new MbufBurst(8);
        long[] expected = {18_000, 26_000, 34_000};
        for (int i = 0; i < 3; i++) {
            assertEquals(expected[i], link.b().nextArrivalNanos());
            clock.advanceTo(expected[i] - 1);
            assertEquals(0, link.b().receive(rx), "not before its arrival time");
            clock.advanceTo(expected[i]);
            assertEquals(1, link.b().receive(rx));
            assertEquals(i, TestFrames.seqOf(rx.get(0)));
            poolA.free(rx.get(0));
        }
        assertEquals(Long.MAX_VALUE, link.b().nextArrivalNanos());
        assertEquals(0, link.a().receive(rx), "nothing went the other way");
        SimulatedLink.LinkStats stats = link.a().stats();
        assertEquals(3, stats.sentFrames());
        assertEquals(3000, stats.sentBytes());
        assertEquals(3, stats.deliveredFrames());

        // an idle wire: the next frame does not queue behind the old ones
        clock.advanceTo(100 * MICROS);
        link.a().transmit(burstOf(TestFrames.frame(poolA, 3, 500)));
        assertEquals(100 * MICROS + 4000 + 10 * MICROS, link.b().nextArrivalNanos());
        clock.advanceTo(link.b().nextArrivalNanos());
        assertEquals(1, link.b().receive(rx));
        poolA.free(rx.get(0));
    }

    /** Random traffic both ways: every frame arrives no earlier than the model says, and in order. */
    @Test
    void timingHoldsUnderRandomTrafficBothWays() {
        long latency = 50 * MICROS;
        long bps = 1_000_000_000L; // 8 ns per byte; offered ~0.8 Gbit/s, so frames often queue
        link = SimulatedLink.builder(clock).latencyNanos(latency).bitsPerSecond(bps).queueCapacity(256)
                .pools(poolA, poolB).build();
        SplittableRandom random = new SplittableRandom(1);
        SimulatedLink.End[] ends = {link.a(), link.b()};
        JavaMbufPool[] pools = {poolA, poolB};
        long[] wireFree = {Long.MIN_VALUE, Long.MIN_VALUE};
        List<List<Long>> expectedArrival = List.of(new ArrayList<>(), new ArrayList<>());
        int[] sent = new int[2];
        int[] received = new int[2];
        long step = 1 * MICROS;
        int queuedBehind = 0;
        MbufBurst rx = new MbufBurst(32);
        for (int tick = 0; tick < 5000; tick++) {
            for (int from = 0; from < 2; from++) {
                if (random.nextInt(8) == 0 && ends[from].inFlight() < 200) {
                    int seq = sent[from]++;
                    int length = 60 + random.nextInt(1455);
                    long start = Math.max(clock.now(), wireFree[from]);
                    if (start > clock.now()) {
                        queuedBehind++;
                    }
                    wireFree[from] = start + Math.ceilDiv(length * 8L * 1_000_000_000L, bps);
                    expectedArrival.get(from).add(wireFree[from] + latency);
                    assertTrue(expectedArrival.get(from).getLast() >= clock.now() + latency + length * 8L * 1_000_000_000L / bps);
                    assertEquals(1, ends[from].transmit(burstOf(TestFrames.frame(pools[from], seq, length))));
                }
            }
            for (int to = 0; to < 2; to++) {
                int from = 1 - to;
                int n = ends[to].receive(rx);
                for (int i = 0; i < n; i++) {
                    long m = rx.get(i);
                    assertTrue(pools[to].owns(m), "copied into the receiver's pool");
                    int seq = TestFrames.seqOf(m);
                    assertEquals(received[from]++, seq, "in order, intact");
                    long due = expectedArrival.get(from).get(seq);
                    assertTrue(clock.now() >= due, "frame " + seq + " at " + clock.now() + " due " + due);
                    assertTrue(clock.now() < due + step, "and received at the first poll after it arrived");
                }
                pools[to].freeBulk(rx, 0, n);
            }
            clock.advance(step);
        }
        assertTrue(sent[0] > 400 && sent[1] > 400);
        assertTrue(queuedBehind > 50, "frames did wait for the wire: " + queuedBehind);
        // drain what is still on the wire
        clock.advance(1_000_000_000L);
        for (int to = 0; to < 2; to++) {
            int n;
            while ((n = ends[to].receive(rx)) > 0) {
                for (int i = 0; i < n; i++) {
                    assertEquals(received[1 - to]++, TestFrames.seqOf(rx.get(i)));
                }
                pools[to].freeBulk(rx, 0, n);
            }
        }
        assertEquals(sent[0], received[0]);
        assertEquals(sent[1], received[1]);
        assertEquals(0, link.a().stats().queueDropped());
    }

    @Test
    void sharedPoolHandsOverTheSameMbuf() {
        link = SimulatedLink.builder(clock).pool(poolA).build();
        long m = TestFrames.frame(poolA, 42, 1514);
        byte[] bytes = Mbuf.toByteArray(m);
        link.a().transmit(burstOf(m));
        MbufBurst rx = new MbufBurst(4);
        assertEquals(1, link.b().receive(rx), "no latency, no bandwidth limit: there at once");
        assertEquals(m, rx.get(0), "no copy");
        assertArrayEquals(bytes, Mbuf.toByteArray(rx.get(0)));
        assertEquals(poolA.capacity() - 1, poolA.available());
        poolA.free(rx.get(0));
    }

    @Test
    void separatePoolsCopyIntoTheReceiversPool() {
        JavaMbufPool small = new JavaMbufPool("small-b", 16, 128 + 256); // 256-byte segments: frames become chains
        try {
            link = SimulatedLink.builder(clock).pools(poolA, small).build();
            long m = TestFrames.frame(poolA, 7, 1000);
            byte[] bytes = Mbuf.toByteArray(m);
            link.a().transmit(burstOf(m));
            MbufBurst rx = new MbufBurst(4);
            assertEquals(1, link.b().receive(rx));
            long copy = rx.get(0);
            assertNotEquals(m, copy);
            assertTrue(small.owns(copy));
            assertEquals(4, Mbuf.nbSegs(copy), "1000 bytes in 256-byte segments");
            assertArrayEquals(bytes, Mbuf.toByteArray(copy), "bytes equal");
            assertEquals(poolA.capacity(), poolA.available(), "the original went back to the sender's pool");
            small.free(copy);

            // the receiver's pool runs dry: the frame is dropped and counted
            MbufBurst hold = new MbufBurst(16);
            assertTrue(small.allocBulk(hold, 16));
            link.a().transmit(burstOf(TestFrames.frame(poolA, 8, 100)));
            assertEquals(0, link.b().receive(rx));
            assertEquals(1, link.a().stats().noMbufDropped());
            small.freeBulk(hold, 0, 16);
        } finally {
            link.close();
            link = null;
            assertEquals(small.capacity(), small.available());
            small.close();
        }
    }

    @Test
    void fullQueueTailDrops() {
        link = SimulatedLink.builder(clock).queueCapacity(4).latencyNanos(MICROS).pool(poolA).build();
        MbufBurst tx = new MbufBurst(10);
        for (int i = 0; i < 10; i++) {
            tx.add(TestFrames.frame(poolA, i));
        }
        assertEquals(10, link.a().transmit(tx), "the link takes all and drops what does not fit");
        assertEquals(0, tx.size());
        assertEquals(6, link.a().stats().queueDropped());
        assertEquals(4, link.a().stats().sentFrames());
        assertEquals(poolA.capacity() - 4, poolA.available(), "dropped frames freed at once");
        clock.advance(MICROS);
        MbufBurst rx = new MbufBurst(16);
        assertEquals(4, link.b().receive(rx));
        for (int i = 0; i < 4; i++) {
            assertEquals(i, TestFrames.seqOf(rx.get(i)), "the first four, the tail was dropped");
        }
        poolA.freeBulk(rx, 0, 4);
    }

    @Test
    void framesOverTheReceiversMtuAreDropped() {
        link = SimulatedLink.builder(clock).pool(poolA)
                .endA("a", MacAddress.parse("02:00:00:00:00:01"), 9000)
                .endB("b", MacAddress.parse("02:00:00:00:00:02"), 1500)
                .build();
        assertEquals(9000, link.a().mtu());
        assertEquals(1500, link.b().mtu());
        assertEquals("b", link.b().name());
        assertEquals(MacAddress.parse("02:00:00:00:00:02"), link.b().macAddress());
        assertEquals(DeviceCapabilities.NONE, link.a().capabilities());
        link.a().transmit(burstOf(TestFrames.frame(poolA, 1, 1500 + 18), TestFrames.frame(poolA, 2, 1500 + 19)));
        MbufBurst rx = new MbufBurst(4);
        assertEquals(1, link.b().receive(rx));
        assertEquals(1, TestFrames.seqOf(rx.get(0)));
        assertEquals(1, link.a().stats().oversizeDropped());
        poolA.free(rx.get(0));
    }

    @Test
    void closingFreesFramesInFlightAndLaterSendsAreDropped() {
        link = SimulatedLink.builder(clock).latencyNanos(1_000_000).pools(poolA, poolB).build();
        link.a().transmit(burstOf(TestFrames.frame(poolA, 1), TestFrames.frame(poolA, 2)));
        link.b().transmit(burstOf(TestFrames.frame(poolB, 3)));
        link.b().close();
        assertEquals(poolA.capacity(), poolA.available(), "frames towards b freed");
        assertThrows(IllegalStateException.class, () -> link.b().receive(new MbufBurst(1)));
        link.a().transmit(burstOf(TestFrames.frame(poolA, 4)));
        assertEquals(1, link.a().stats().peerClosedDropped());
        clock.advance(1_000_000);
        MbufBurst rx = new MbufBurst(4);
        assertEquals(1, link.a().receive(rx), "what b sent before closing still arrives");
        poolA.free(rx.get(0));
        // the rest is checked by noLeak after link.close()
    }
}
