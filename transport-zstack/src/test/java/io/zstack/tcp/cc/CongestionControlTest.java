package io.zstack.tcp.cc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** NewReno and CUBIC window arithmetic, driven directly with explicit time. */
class CongestionControlTest {
    private static final int MSS = 1448;
    private static final long MS = 1_000_000L;
    private static final List<Supplier<NewReno>> BOTH = List.of(NewReno::new, Cubic::new);

    @Test
    void slowStartGrowsByAtMostTwoSegmentsPerAckWhileTheWindowIsFull() {
        for (Supplier<NewReno> algorithm : BOTH) {
            NewReno cc = algorithm.get();
            cc.init(MSS, 0);
            assertEquals(10L * MSS, cc.cwnd(), "RFC 6928 initial window");
            cc.onAck(2L * MSS, cc.cwnd(), 10 * MS, MS);
            assertEquals(12L * MSS, cc.cwnd());
            cc.onAck(5L * MSS, cc.cwnd(), 10 * MS, 2 * MS);
            assertEquals(14L * MSS, cc.cwnd(), "appropriate byte counting, L = 2 MSS");
        }
    }

    /**
     * An application that keeps one small request in flight never fills the window: 10,000 ACKs leave cwnd where
     * it started (it grew by every ACK before, to 60 MB on a benchmark's request/response connections).
     */
    @Test
    void anApplicationLimitedSenderDoesNotGrowTheWindow() {
        for (Supplier<NewReno> algorithm : BOTH) {
            NewReno cc = algorithm.get();
            cc.init(MSS, 0);
            long start = cc.cwnd();
            for (int i = 1; i <= 10_000; i++) {
                cc.onAck(2L * MSS, 2L * MSS, MS, i * MS);
            }
            assertEquals(start, cc.cwnd(), cc.getClass().getSimpleName());
            // and in congestion avoidance too
            cc.onRetransmitTimeout(start, 20_000 * MS);
            long ssthresh = cc.ssthresh();
            for (int i = 1; i <= 100 && cc.cwnd() < ssthresh; i++) {
                cc.onAck(cc.cwnd(), cc.cwnd(), MS, (20_000 + i) * MS); // window-limited slow start up to ssthresh
            }
            long atSsthresh = cc.cwnd();
            for (int i = 1; i <= 10_000; i++) {
                cc.onAck(MSS, MSS, MS, (30_000 + i) * MS);
            }
            assertEquals(atSsthresh, cc.cwnd(), cc.getClass().getSimpleName() + " in congestion avoidance");
        }
    }

    @Test
    void renoAddsOneSegmentPerWindowInCongestionAvoidanceAndHalvesOnLoss() {
        NewReno cc = new NewReno();
        cc.init(MSS, 0);
        cc.onEnterRecovery(20L * MSS, MS);
        assertEquals(10L * MSS, cc.ssthresh(), "half the flight");
        assertEquals(13L * MSS, cc.cwnd(), "ssthresh + 3 segments");
        cc.onExitRecovery(2 * MS);
        assertEquals(10L * MSS, cc.cwnd());
        for (int i = 0; i < 10; i++) {
            cc.onAck(MSS, cc.cwnd(), MS, (3 + i) * MS);
        }
        assertEquals(11L * MSS, cc.cwnd(), "one MSS after a window of ACKs");
        cc.onRetransmitTimeout(11L * MSS, 20 * MS);
        assertEquals(MSS, cc.cwnd(), "loss window");
    }

    /**
     * RFC 9438: reduce to beta = 0.7, then follow the cubic curve, which regains W_max at t = K. The RTT is long
     * (500 ms) so that the curve, not the Reno-friendly estimate, sets the window (at short RTTs CUBIC grows as Reno
     * would, by design).
     */
    @Test
    void cubicReducesToSevenTenthsAndRegainsTheOldWindowAfterK() {
        long rtt = 500 * MS;
        Cubic cc = new Cubic();
        cc.init(MSS, 0);
        long now = MS;
        while (cc.cwnd() < 100L * MSS) {
            cc.onAck(2L * MSS, cc.cwnd(), rtt, now); // window-limited slow start
            now += MS;
        }
        long before = cc.cwnd();
        cc.onEnterRecovery(before, now);
        assertEquals((long) (before * Cubic.BETA), cc.ssthresh());
        cc.onExitRecovery(now);
        double k = Math.cbrt(((double) before / MSS) * (1 - Cubic.BETA) / Cubic.C);
        long kNanos = (long) (k * 1e9);
        long start = now;
        long halfway = -1;
        while (now < start + kNanos) {
            now += rtt;
            long window = cc.cwnd();
            for (long acked = 0; acked < window; acked += MSS) {
                cc.onAck(MSS, cc.cwnd(), rtt, now); // a window of ACKs per round trip
            }
            if (halfway < 0 && now >= start + kNanos / 2) {
                halfway = cc.cwnd();
            }
        }
        assertEquals(k, cc.k(), 1e-9);
        assertEquals((double) before / MSS, cc.wMax(), 1e-9);
        assertTrue(halfway > cc.ssthresh() && halfway < before, "concave: between the reduction and W_max halfway");
        assertTrue(Math.abs(cc.cwnd() - before) <= 3L * MSS,
                "back near W_max after K: " + cc.cwnd() / MSS + " vs " + before / MSS + " segments");
    }

    @Test
    void anIdleRestartFallsBackToTheInitialWindow() {
        for (Supplier<NewReno> algorithm : BOTH) {
            NewReno cc = algorithm.get();
            cc.init(MSS, 0);
            for (int i = 0; i < 20; i++) {
                cc.onAck(2L * MSS, cc.cwnd(), MS, i * MS);
            }
            assertTrue(cc.cwnd() > 10L * MSS);
            cc.onIdleRestart(10_000 * MS);
            assertEquals(10L * MSS, cc.cwnd());
        }
    }
}
