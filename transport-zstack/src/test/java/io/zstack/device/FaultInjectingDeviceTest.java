package io.zstack.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.FaultConfig.Direction;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class FaultInjectingDeviceTest {
    private static final int N = 10_000;
    private static final long MICROS = 1_000;

    private final VirtualClock clock = new VirtualClock();
    private final JavaMbufPool pool = new JavaMbufPool("fault-test", 4096);
    private FaultInjectingDevice device;

    @AfterEach
    void noLeak() {
        if (device != null) {
            device.close();
        }
        assertEquals(pool.capacity(), pool.available(), "every mbuf back in the pool");
        pool.close();
    }

    private FaultInjectingDevice overLoopback(FaultConfig config) {
        device = new FaultInjectingDevice(new LoopbackDevice("lo", pool, 1024, 1500), config, clock);
        return device;
    }

    /** One delivered frame: its sequence number (-1: corrupted), a hash of its bytes, and when it came. */
    private record Delivery(int seq, int contentHash, long time) {
    }

    /** What the receiver can tell from the frames alone. */
    private record Observed(int frames, int distinct, int corrupted, int duplicates, int late) {
        static Observed of(List<Delivery> deliveries) {
            BitSet seen = new BitSet();
            int max = -1;
            int distinct = 0;
            int corrupted = 0;
            int duplicates = 0;
            int late = 0;
            for (Delivery d : deliveries) {
                if (d.seq() < 0) {
                    corrupted++;
                } else if (seen.get(d.seq())) {
                    duplicates++;
                } else {
                    seen.set(d.seq());
                    distinct++;
                    if (d.seq() < max) {
                        late++;
                    }
                    max = Math.max(max, d.seq());
                }
            }
            return new Observed(deliveries.size(), distinct, corrupted, duplicates, late);
        }
    }

    /** Receives everything the device has now, recording and freeing it. */
    private void drain(List<Delivery> out) {
        drain(clock, out);
    }

    private void drain(VirtualClock clock, List<Delivery> out) {
        MbufBurst rx = new MbufBurst(32);
        int n;
        while ((n = device.receive(rx)) > 0) {
            for (int i = 0; i < n; i++) {
                byte[] bytes = Mbuf.toByteArray(rx.get(i));
                out.add(new Delivery(TestFrames.seqOf(bytes), Arrays.hashCode(bytes), clock.now()));
            }
            pool.freeBulk(rx, 0, n);
        }
    }

    /** Sends frames 0..n-1 through the device (32 per microsecond), receiving as it goes, then waits out holds. */
    private List<Delivery> sendAndReceive(int n) {
        return sendAndReceive(clock, n);
    }

    private List<Delivery> sendAndReceive(VirtualClock clock, int n) {
        List<Delivery> deliveries = new ArrayList<>();
        MbufBurst tx = new MbufBurst(32);
        int seq = 0;
        while (seq < n) {
            while (seq < n && !tx.isFull()) {
                tx.add(TestFrames.frame(pool, seq++));
            }
            while (tx.size() > 0) {
                device.transmit(tx);
                drain(clock, deliveries); // makes room in the loopback if it pushed back
            }
            clock.advance(MICROS);
            drain(clock, deliveries);
        }
        for (int i = 0; i < 3; i++) { // delayed and held frames come out once their time is up
            clock.advance(10_000_000_000L);
            device.transmit(new MbufBurst(1));
            drain(clock, deliveries);
        }
        assertEquals(0, device.heldFrames(), "nothing left inside");
        return deliveries;
    }

    /** The observed count of a fault is within 5 standard deviations of the binomial mean. */
    private static void assertRate(long count, long trials, double p, String what) {
        double sigma = Math.sqrt(p * (1 - p) / trials);
        double rate = (double) count / trials;
        assertTrue(Math.abs(rate - p) <= 5 * sigma + 1e-9,
                what + ": " + count + "/" + trials + " = " + rate + ", configured " + p);
    }

    private static FaultConfig.Builder seeded(Direction direction) {
        return FaultConfig.builder().seed(20260101L).direction(direction);
    }

    private FaultCounters countersOf(Direction direction) {
        return direction == Direction.RECEIVE ? device.rxCounters() : device.txCounters();
    }

    @ParameterizedTest
    @EnumSource(value = Direction.class, names = {"RECEIVE", "TRANSMIT"})
    void lossMatchesConfigAndCounters(Direction direction) {
        overLoopback(seeded(direction).drop(0.1).build());
        Observed seen = Observed.of(sendAndReceive(N));
        FaultCounters c = countersOf(direction);
        assertEquals(N, c.frames());
        assertEquals(N - c.dropped(), seen.distinct());
        assertEquals(seen.distinct(), seen.frames(), "nothing else happened");
        assertEquals(0, seen.late() + seen.duplicates() + seen.corrupted());
        assertRate(c.dropped(), N, 0.1, "loss");
    }

    @ParameterizedTest
    @EnumSource(value = Direction.class, names = {"RECEIVE", "TRANSMIT"})
    void duplicationMatchesConfigAndCounters(Direction direction) {
        overLoopback(seeded(direction).duplicate(0.05).build());
        Observed seen = Observed.of(sendAndReceive(N));
        FaultCounters c = countersOf(direction);
        assertEquals(c.duplicated(), seen.duplicates());
        assertEquals(N, seen.distinct());
        assertEquals(N + c.duplicated(), seen.frames());
        assertEquals(0, seen.late() + seen.corrupted() + c.noMbuf());
        assertRate(c.duplicated(), N, 0.05, "duplication");
    }

    @ParameterizedTest
    @EnumSource(value = Direction.class, names = {"RECEIVE", "TRANSMIT"})
    void corruptionMatchesConfigAndCounters(Direction direction) {
        overLoopback(seeded(direction).corrupt(0.05).build());
        Observed seen = Observed.of(sendAndReceive(N));
        FaultCounters c = countersOf(direction);
        assertEquals(c.corrupted(), seen.corrupted(), "a single flipped bit always breaks the CRC");
        assertEquals(N, seen.frames());
        assertEquals(N - c.corrupted(), seen.distinct());
        assertRate(c.corrupted(), N, 0.05, "corruption");
    }

    @ParameterizedTest
    @EnumSource(value = Direction.class, names = {"RECEIVE", "TRANSMIT"})
    void reorderingMatchesConfigAndCounters(Direction direction) {
        overLoopback(seeded(direction).reorder(0.05).build());
        Observed seen = Observed.of(sendAndReceive(N));
        FaultCounters c = countersOf(direction);
        assertEquals(c.reordered(), seen.late(), "every overtaken frame arrives late");
        assertEquals(N, seen.frames());
        assertEquals(N, seen.distinct());
        assertRate(c.reordered(), N, 0.05, "reordering");
    }

    @Test
    void reorderGapLetsSeveralFramesOvertake() {
        overLoopback(seeded(Direction.RECEIVE).reorder(0.02, 3, 1_000_000).build());
        List<Delivery> deliveries = sendAndReceive(N);
        Observed seen = Observed.of(deliveries);
        assertEquals(device.rxCounters().reordered(), seen.late());
        // a held frame that nothing else held overtook comes exactly 3 places late
        int[] position = new int[N];
        for (int i = 0; i < deliveries.size(); i++) {
            position[deliveries.get(i).seq()] = i;
        }
        int threeLate = 0;
        for (int s = 0; s < N; s++) {
            if (position[s] == s + 3) {
                threeLate++;
            }
        }
        assertTrue(threeLate > device.rxCounters().reordered() / 2, threeLate + " of " + device.rxCounters());
    }

    private static FaultConfig combined(long seed) {
        return FaultConfig.builder().seed(seed).direction(Direction.RECEIVE)
                .drop(0.05).duplicate(0.03).corrupt(0.02).reorder(0.04).build();
    }

    @Test
    void allFaultsTogetherAddUp() {
        overLoopback(combined(7));
        Observed seen = Observed.of(sendAndReceive(N));
        FaultCounters c = device.rxCounters();
        assertEquals(FaultCounters.ZERO, device.txCounters());
        assertEquals(N - c.dropped() + c.duplicated(), seen.frames(), "conservation: sent - dropped + duplicated");
        assertEquals(c.corrupted(), seen.corrupted());
        long forwarded = N - c.dropped() + c.duplicated();
        assertRate(c.dropped(), N, 0.05, "loss");
        assertRate(c.duplicated(), N - c.dropped(), 0.03, "duplication");
        assertRate(c.corrupted(), forwarded, 0.02, "corruption");
        assertRate(c.reordered(), forwarded, 0.04, "reordering");
        assertTrue(seen.late() > 0 && seen.duplicates() > 0);
    }

    @Test
    void sameSeedReplaysExactly() {
        overLoopback(combined(99));
        List<Delivery> first = sendAndReceive(3000);
        FaultCounters firstCounters = device.counters();
        device.close();

        // same seed, same calls at the same times: the same frames, the same bits flipped, the same order
        VirtualClock start = new VirtualClock();
        device = new FaultInjectingDevice(new LoopbackDevice("lo", pool, 1024, 1500), combined(99), start);
        List<Delivery> second = sendAndReceive(start, 3000);
        assertEquals(first, second);
        assertEquals(firstCounters, device.counters());
        device.close();

        VirtualClock other = new VirtualClock();
        device = new FaultInjectingDevice(new LoopbackDevice("lo", pool, 1024, 1500), combined(100), other);
        assertNotEquals(first, sendAndReceive(other, 3000), "another seed, another run");
    }

    @Test
    void noneChangesNothing() {
        LoopbackDevice lo = new LoopbackDevice("lo", pool, 1024, 1500);
        device = new FaultInjectingDevice(lo, FaultConfig.NONE, clock);
        assertEquals(lo.capabilities(), device.capabilities());
        assertEquals(lo.mtu(), device.mtu());
        assertEquals(lo.macAddress(), device.macAddress());
        assertSame(pool, device.pool());
        assertSame(lo, device.inner());
        MbufBurst tx = new MbufBurst(64);
        long[] sent = new long[64];
        byte[][] bytes = new byte[64][];
        for (int i = 0; i < 64; i++) {
            sent[i] = TestFrames.frame(pool, i);
            bytes[i] = Mbuf.toByteArray(sent[i]);
            tx.add(sent[i]);
        }
        assertEquals(64, device.transmit(tx));
        MbufBurst rx = new MbufBurst(64);
        assertEquals(64, device.receive(rx));
        for (int i = 0; i < 64; i++) {
            assertEquals(sent[i], rx.get(i), "the same mbuf, in order");
            assertArrayEquals(bytes[i], Mbuf.toByteArray(rx.get(i)));
        }
        pool.freeBulk(rx, 0, 64);
        assertEquals(FaultCounters.ZERO, device.counters());
        assertEquals(Long.MAX_VALUE, device.nextEventNanos());
        // and over many frames
        Observed seen = Observed.of(sendAndReceive(N));
        assertEquals(new Observed(N, N, 0, 0, 0), seen);
    }

    @Test
    void corruptionSparesFramesThatAreNotIpv4() {
        overLoopback(seeded(Direction.TRANSMIT).corrupt(1.0).build());
        MbufBurst burst = new MbufBurst(4);
        burst.add(TestFrames.frame(pool, 7, 64, TestFrames.ARP));
        burst.add(TestFrames.frame(pool, 8, 64, TestFrames.IPV4));
        device.transmit(burst);
        assertEquals(2, device.receive(burst));
        assertEquals(7, TestFrames.seqOf(burst.get(0)), "ARP has no checksum: the link's frame check stands for it");
        assertEquals(-1, TestFrames.seqOf(burst.get(1)), "an IPv4 frame is corrupted");
        pool.freeBulk(burst, 0, 2);
        assertEquals(1, device.txCounters().corrupted());
    }

    @Test
    void delayHoldsFramesUntilTheirTime() {
        overLoopback(seeded(Direction.RECEIVE).delay(100 * MICROS, 0).build());
        MbufBurst burst = new MbufBurst(4);
        burst.add(TestFrames.frame(pool, 0));
        device.transmit(burst);
        assertEquals(0, device.receive(burst), "taken from the loopback, and held");
        assertEquals(1, device.heldFrames());
        assertEquals(100 * MICROS, device.nextEventNanos());
        clock.advanceTo(100 * MICROS - 1);
        assertEquals(0, device.receive(burst));
        clock.advanceTo(100 * MICROS);
        assertEquals(1, device.receive(burst));
        assertEquals(0, TestFrames.seqOf(burst.get(0)));
        pool.free(burst.get(0));
        assertEquals(1, device.rxCounters().delayed());
    }

    @Test
    void jitterStaysWithinBounds() {
        long delay = 100 * MICROS;
        long jitter = 50 * MICROS;
        overLoopback(seeded(Direction.TRANSMIT).delay(delay, jitter).build());
        int n = 2000;
        long[] sentAt = new long[n];
        List<Delivery> deliveries = new ArrayList<>();
        MbufBurst tx = new MbufBurst(1);
        for (int seq = 0; seq < n; seq++) {
            sentAt[seq] = clock.now();
            tx.add(TestFrames.frame(pool, seq));
            assertEquals(1, device.transmit(tx));
            clock.advance(MICROS);
            drain(deliveries);
        }
        for (long t = 0; t <= delay + jitter; t += MICROS) { // keep polling every microsecond until the last is due
            clock.advance(MICROS);
            drain(deliveries);
        }
        assertEquals(n, deliveries.size());
        long minExtra = Long.MAX_VALUE;
        long maxExtra = 0;
        for (Delivery d : deliveries) {
            long extra = d.time() - sentAt[d.seq()];
            assertTrue(extra >= delay && extra <= delay + jitter + MICROS, "frame " + d.seq() + " took " + extra);
            minExtra = Math.min(minExtra, extra);
            maxExtra = Math.max(maxExtra, extra);
        }
        assertTrue(maxExtra - minExtra > jitter / 2, "jitter spreads the delays");
        assertEquals(n, device.txCounters().delayed());
        assertTrue(Observed.of(deliveries).late() > 0, "jitter reorders, as netem's does");
    }

    @Test
    void delayProbabilityIsRespected() {
        overLoopback(seeded(Direction.RECEIVE).delay(0.3, 10 * MICROS, 0).build());
        sendAndReceive(N);
        assertRate(device.rxCounters().delayed(), N, 0.3, "delay");
    }

    @Test
    void rateLimitDropsWhatExceedsTheBucket() {
        overLoopback(seeded(Direction.TRANSMIT).rateLimit(10, 1_000_000).build());
        MbufBurst tx = new MbufBurst(25);
        MbufBurst rx = new MbufBurst(32);
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < 25; i++) {
                tx.add(TestFrames.frame(pool, i));
            }
            assertEquals(25, device.transmit(tx));
            assertEquals(10, device.receive(rx));
            pool.freeBulk(rx, 0, 10);
            clock.advance(1_000_000);
        }
        assertEquals(45, device.txCounters().rateLimited());
    }

    @Test
    void maxFrameBytesDropsLongerFrames() {
        overLoopback(seeded(Direction.RECEIVE).maxFrameBytes(200).build());
        MbufBurst burst = new MbufBurst(4);
        burst.add(TestFrames.frame(pool, 1, 200));
        burst.add(TestFrames.frame(pool, 2, 201));
        device.transmit(burst);
        assertEquals(1, device.receive(burst));
        assertEquals(1, TestFrames.seqOf(burst.get(0)));
        pool.free(burst.get(0));
        assertEquals(1, device.rxCounters().oversize());
    }

    @Test
    void duplicateIsSkippedAndCountedWhenThePoolIsEmpty() {
        JavaMbufPool small = new JavaMbufPool("small", 8);
        try {
            device = new FaultInjectingDevice(new LoopbackDevice("lo", small, 8, 1500),
                    seeded(Direction.RECEIVE).duplicate(1.0).build(), clock);
            MbufBurst burst = new MbufBurst(8);
            for (int i = 0; i < 8; i++) {
                burst.add(TestFrames.frame(small, i));
            }
            device.transmit(burst);
            assertEquals(8, device.receive(burst), "originals only: no mbuf for copies");
            assertEquals(8, device.rxCounters().noMbuf());
            assertEquals(0, device.rxCounters().duplicated());
            small.freeBulk(burst, 1, 7);
            burst.size(1); // resend frame 0
            device.transmit(burst);
            assertEquals(2, device.receive(burst), "now there is room for a copy");
            assertArrayEquals(Mbuf.toByteArray(burst.get(0)), Mbuf.toByteArray(burst.get(1)));
            assertNotEquals(burst.get(0), burst.get(1));
            small.freeBulk(burst, 0, 2);
        } finally {
            device.close();
            device = null;
            assertEquals(small.capacity(), small.available());
            small.close();
        }
    }

    @Test
    void corruptingAFrameSomeoneElseHoldsCorruptsACopy() {
        overLoopback(seeded(Direction.TRANSMIT).corrupt(1.0).build());
        long m = TestFrames.frame(pool, 3, 300);
        byte[] original = Mbuf.toByteArray(m);
        pool.refcntUpdate(m, 1); // as TCP keeps unacknowledged data for retransmission
        MbufBurst burst = new MbufBurst(2);
        burst.add(m);
        device.transmit(burst);
        assertEquals(1, device.receive(burst));
        long received = burst.get(0);
        assertNotEquals(m, received);
        assertEquals(-1, TestFrames.seqOf(received));
        assertArrayEquals(original, Mbuf.toByteArray(m), "the retained data is untouched");
        assertEquals(1, pool.refcnt(m), "the device released its reference to the original");
        pool.free(received);
        pool.free(m);
        burst.clear();

        // an unshared frame is corrupted in place
        long own = TestFrames.frame(pool, 4, 300);
        burst.add(own);
        device.transmit(burst);
        assertEquals(1, device.receive(burst));
        assertEquals(own, burst.get(0));
        assertEquals(-1, TestFrames.seqOf(own));
        pool.free(own);
        assertEquals(2, device.txCounters().corrupted());
    }

    @Test
    void corruptionTurnsChecksumOffloadsOff() {
        LoopbackDevice lo = new LoopbackDevice(pool);
        try (FaultInjectingDevice rxSide = new FaultInjectingDevice(lo,
                seeded(Direction.RECEIVE).corrupt(0.01).build(), clock)) {
            DeviceCapabilities c = rxSide.capabilities();
            assertFalse(c.rxChecksumVerified(), "a flipped bit must reach the stack's checksum check");
            assertTrue(c.txIpv4Checksum() && c.txTcpChecksum());
        }
        try (FaultInjectingDevice txSide = new FaultInjectingDevice(new LoopbackDevice(pool),
                seeded(Direction.TRANSMIT).corrupt(0.01).build(), clock)) {
            DeviceCapabilities c = txSide.capabilities();
            assertTrue(c.rxChecksumVerified());
            assertFalse(c.txIpv4Checksum() || c.txTcpChecksum() || c.tcpSegmentation());
        }
        try (FaultInjectingDevice lossy = new FaultInjectingDevice(new LoopbackDevice(pool),
                seeded(Direction.BOTH).drop(0.5).build(), clock)) {
            assertEquals(DeviceCapabilities.RELIABLE_MEDIUM, lossy.capabilities(), "loss alone changes no bytes");
        }
    }

    @Test
    void closeFreesHeldFrames() {
        overLoopback(seeded(Direction.BOTH).delay(1_000_000_000L, 0).reorder(0.5, 5, 1_000_000_000L).build());
        MbufBurst burst = new MbufBurst(32);
        for (int i = 0; i < 32; i++) {
            burst.add(TestFrames.frame(pool, i));
        }
        device.transmit(burst);
        assertEquals(32, device.heldFrames());
        assertEquals(pool.capacity() - 32, pool.available());
        device.close();
        assertEquals(pool.capacity(), pool.available());
        assertThrows(IllegalStateException.class, () -> device.receive(burst));
    }

    @Test
    void transmitPushesBackWhileImpairedFramesWaitForTheInnerDevice() {
        device = new FaultInjectingDevice(new LoopbackDevice("lo", pool, 4, 1500),
                seeded(Direction.TRANSMIT).duplicate(1.0).build(), clock);
        MbufBurst tx = new MbufBurst(4);
        for (int i = 0; i < 4; i++) {
            tx.add(TestFrames.frame(pool, i));
        }
        assertEquals(4, device.transmit(tx), "taken: 8 frames with their copies, 4 in the loopback");
        assertEquals(4, device.heldFrames());
        tx.add(TestFrames.frame(pool, 4));
        assertEquals(0, device.transmit(tx), "full: the caller keeps its frame");
        assertEquals(1, tx.size());
        MbufBurst rx = new MbufBurst(8);
        List<Integer> seqs = new ArrayList<>();
        while (seqs.size() < 10) {
            device.transmit(tx);
            int n = device.receive(rx);
            for (int i = 0; i < n; i++) {
                seqs.add(TestFrames.seqOf(rx.get(i)));
            }
            pool.freeBulk(rx, 0, n);
        }
        assertEquals(List.of(0, 0, 1, 1, 2, 2, 3, 3, 4, 4), seqs);
    }

    /** Composition: faults on one end of a simulated link with separate pools, under virtual time. */
    @Test
    void wrapsASimulatedLinkEnd() {
        JavaMbufPool poolB = new JavaMbufPool("fault-b", 4096);
        SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(20 * MICROS).bitsPerSecond(10_000_000_000L)
                .queueCapacity(4096).pools(pool, poolB).build();
        try {
            device = new FaultInjectingDevice(link.a(), FaultConfig.builder().seed(5).direction(Direction.TRANSMIT)
                    .drop(0.02).duplicate(0.02).reorder(0.02).delay(0.1, 5 * MICROS, 5 * MICROS).build(), clock);
            MbufBurst tx = new MbufBurst(4); // ~5 Gbit/s offered on a 10 Gbit/s link
            MbufBurst rx = new MbufBurst(32);
            int received = 0;
            int seq = 0;
            while (seq < N) {
                while (!tx.isFull()) {
                    tx.add(TestFrames.frame(pool, seq++));
                }
                device.transmit(tx);
                clock.advance(MICROS);
                int n = link.b().receive(rx);
                for (int i = 0; i < n; i++) {
                    assertTrue(TestFrames.seqOf(rx.get(i)) >= 0);
                }
                received += n;
                poolB.freeBulk(rx, 0, n);
            }
            for (int i = 0; i < 3; i++) {
                clock.advance(1_000_000_000L);
                device.transmit(tx);
                int n;
                while ((n = link.b().receive(rx)) > 0) {
                    received += n;
                    poolB.freeBulk(rx, 0, n);
                }
            }
            FaultCounters c = device.txCounters();
            assertEquals(N - c.dropped() + c.duplicated(), received);
            assertEquals(received, link.a().stats().deliveredFrames());
            assertTrue(c.reordered() > 0 && c.delayed() > 0);
        } finally {
            device.close(); // closes link end a
            device = null;
            link.close();
            assertEquals(poolB.capacity(), poolB.available());
            poolB.close();
        }
    }
}
