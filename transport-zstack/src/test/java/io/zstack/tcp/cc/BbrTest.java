package io.zstack.tcp.cc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * BBR's model and state machine driven with explicit time and synthetic rate samples: a path of a given bandwidth and
 * round trip, one ACK per round trip carrying the round's delivery.
 */
class BbrTest {
    private static final int MSS = 1000;
    private static final long MS = 1_000_000L;
    private static final long RTT = 10 * MS;
    /** Rounds are a little longer than the min RTT, as with ACKs spread over the round, so phases end each round. */
    private static final long STEP_SLACK = 100_000L;

    private final Bbr bbr = new Bbr();
    private final RateSample rs = new RateSample();
    private long now;
    /** Bytes delivered so far, and the count at the start of the current round. */
    private long delivered;
    private long roundStartDelivered;

    /** One round trip at {@code bytesPerSecond}: the ACK that ends it, with {@code inflight} left in flight. */
    private void round(long bytesPerSecond, long inflight, boolean appLimited) {
        round(bytesPerSecond, inflight, appLimited, RTT);
    }

    /** As above, the ACK's RTT sample {@code rtt} (the rounds stay RTT apart). */
    private void round(long bytesPerSecond, long inflight, boolean appLimited, long rtt) {
        now += RTT + STEP_SLACK;
        long bytes = bytesPerSecond * RTT / 1_000_000_000L;
        long prior = roundStartDelivered;
        delivered += bytes;
        roundStartDelivered = delivered;
        rs.priorDelivered = prior;
        rs.totalDelivered = delivered;
        rs.deliveredBytes = bytes;
        rs.intervalNanos = RTT;
        rs.ackedBytes = bytes;
        rs.inflightBytes = inflight;
        rs.rttNanos = rtt;
        rs.appLimited = appLimited;
        bbr.onRateSample(rs, now);
    }

    /** An ACK a millisecond later, within the current round: no rate sample, {@code lost} newly deemed lost. */
    private void ackWithinTheRound(long acked, long inflight, long lost) {
        now += MS;
        delivered += acked;
        rs.priorDelivered = roundStartDelivered - 1;
        rs.totalDelivered = delivered;
        rs.intervalNanos = -1;
        rs.ackedBytes = acked;
        rs.inflightBytes = inflight;
        rs.lostBytes = lost;
        bbr.onRateSample(rs, now);
        rs.lostBytes = 0;
    }

    private void rounds(int n, long bytesPerSecond, long inflight) {
        for (int i = 0; i < n; i++) {
            round(bytesPerSecond, inflight, false);
        }
    }

    private static final long BW = 10_000_000L; // 10 MB/s: a BDP of 100 kB at 10 ms
    private static final long BDP = 100_000L;

    /** STARTUP until the bandwidth stops growing by 25% for three rounds, DRAIN until the flight is one BDP. */
    @Test
    void startupFindsTheBandwidthThenDrainsThenProbes() {
        bbr.init(MSS, 0);
        assertEquals(Bbr.Mode.STARTUP, bbr.mode());
        assertEquals(10L * MSS, bbr.cwnd());
        // the rate doubles each round while the path has room (1.25, 2.5, 5, 10 MB/s), then stays at the bottleneck
        for (long rate = BW / 8; rate <= BW; rate *= 2) {
            round(rate, bbr.cwnd(), false);
            assertEquals(Bbr.Mode.STARTUP, bbr.mode());
            assertEquals(Bbr.HIGH_GAIN, bbr.pacingGain(), 1e-9);
        }
        round(BW, 2 * BDP, false);
        round(BW, 2 * BDP, false);
        assertEquals(Bbr.Mode.STARTUP, bbr.mode(), "two flat rounds");
        round(BW, 2 * BDP, false);
        assertEquals(Bbr.Mode.DRAIN, bbr.mode(), "the third flat round");
        assertEquals(Bbr.DRAIN_GAIN, bbr.pacingGain(), 1e-9);
        assertEquals(BW, bbr.bandwidth());
        assertEquals(RTT, bbr.minRtt());
        assertEquals((long) (Bbr.DRAIN_GAIN * BW * Bbr.PACING_MARGIN), bbr.pacingRate());
        round(BW, 2 * BDP, false);
        assertEquals(Bbr.Mode.DRAIN, bbr.mode(), "the queue STARTUP built is still there");
        round(BW, BDP, false);
        assertEquals(Bbr.Mode.PROBE_BW, bbr.mode());
        // PROBE_BW's window: 2 BDP plus three pacing bursts (about 10 kB each at 10 MB/s), 2 segments more in probing
        rounds(3, BW, BDP);
        assertEquals(2 * BDP + 3 * Bbr.sendQuantum(bbr.pacingRate(), MSS) + (bbr.pacingGain() > 1 ? 2L * MSS : 0),
                bbr.cwnd());
    }

    private void toProbeBw() {
        bbr.init(MSS, 0);
        for (long rate = BW / 8; rate <= BW; rate *= 2) {
            round(rate, bbr.cwnd(), false);
        }
        rounds(2, BW, 2 * BDP);
        round(BW, BDP, false);
        assertEquals(Bbr.Mode.PROBE_BW, bbr.mode());
    }

    /** PROBE_BW: gains 5/4, 3/4, then six of 1, each phase (at least) a min RTT long; the pacing rate follows. */
    @Test
    void probeBwCyclesThroughItsGains() {
        toProbeBw();
        // go to the probing phase
        for (int i = 0; i < 8 && bbr.pacingGain() <= 1; i++) {
            round(BW, 2 * BDP + 10 * MSS, false);
        }
        assertEquals(1.25, bbr.pacingGain(), 1e-9);
        assertEquals((long) (1.25 * BW * Bbr.PACING_MARGIN), bbr.pacingRate());
        round(BW, 2 * BDP + 10 * MSS, false);
        assertEquals(0.75, bbr.pacingGain(), 1e-9, "the probe put its extra in flight: drain it");
        round(BW, BDP, false);
        for (int i = 0; i < 6; i++) {
            assertEquals(1, bbr.pacingGain(), 1e-9, "cruising, phase " + i);
            round(BW, BDP, false);
        }
        assertEquals(1.25, bbr.pacingGain(), 1e-9, "and probing again");
    }

    /** The bandwidth estimate is the largest of the last ten rounds: a drop shows only after ten. */
    @Test
    void theBandwidthFilterForgetsAfterTenRounds() {
        toProbeBw();
        for (int i = 0; i < Bbr.BW_WINDOW_ROUNDS - 1; i++) {
            round(BW / 2, BDP, false);
            assertEquals(BW, bbr.bandwidth(), "round " + i);
        }
        rounds(2, BW / 2, BDP);
        assertEquals(BW / 2, bbr.bandwidth());
    }

    /** An application-limited sample below the estimate says nothing about the path; above it, it raises it. */
    @Test
    void applicationLimitedSamplesOnlyRaiseTheEstimate() {
        toProbeBw();
        for (int i = 0; i < 20; i++) {
            round(BW / 10, BDP / 10, true);
        }
        assertEquals(BW, bbr.bandwidth());
        round(2 * BW, BDP, true);
        assertEquals(2 * BW, bbr.bandwidth());
    }

    /**
     * Random loss: recovery holds the flight for one round (packet conservation) and then the model's window applies
     * again; the estimate and the pacing rate do not move; when recovery ends the window is at least what it was.
     */
    @Test
    void lossDoesNotCollapseTheWindowOrTheRate() {
        toProbeBw();
        rounds(8, BW, BDP);
        long cwnd = bbr.cwnd();
        long rate = bbr.pacingRate();
        ackWithinTheRound(2 * MSS, BDP / 2, 0); // the ACK that shows the loss: half a BDP left in flight, the rest lost
        bbr.onEnterRecovery(BDP, now);
        assertEquals(BDP / 2 + 2 * MSS, bbr.cwnd(), "conservation: what is in flight plus what was delivered");
        round(BW, BDP, false); // its segment was sent before the recovery: still the first round
        assertEquals(2 * BDP, bbr.cwnd(), "conservation: in flight plus delivered");
        round(BW, BDP, false); // sent after it: conservation over, the model's window
        assertEquals(bbr.targetWindow(Bbr.CWND_GAIN), bbr.cwnd());
        bbr.onExitRecovery(now);
        assertTrue(bbr.cwnd() >= cwnd);
        assertEquals(BW, bbr.bandwidth());
        assertTrue(bbr.pacingRate() >= rate * 3 / 4 && bbr.pacingRate() <= rate * 5 / 3, bbr.describe());
    }

    /** A timeout: one segment, then growth by what each ACK delivers, up to the model's window; the model stays. */
    @Test
    void afterATimeoutTheWindowRegrowsByWhatIsDelivered() {
        toProbeBw();
        rounds(8, BW, BDP);
        long cwnd = bbr.cwnd();
        bbr.onRetransmitTimeout(BDP, now);
        assertEquals(MSS, bbr.cwnd());
        round(2 * MSS * 1_000_000_000L / RTT, MSS, false);
        assertEquals(Bbr.MIN_CWND_SEGMENTS * MSS, bbr.cwnd(), "1 + 2 segments, and never under 4");
        for (int i = 0; i < 6; i++) {
            round(BW, BDP, false);
        }
        assertEquals(cwnd, bbr.cwnd());
        assertEquals(BW, bbr.bandwidth());
    }

    /**
     * A timeout's recovery ends (everything outstanding at it acknowledged) before the regrowth reached the old window:
     * the window before the timeout comes back, as Linux's BBR restores it when it leaves the loss state. A second
     * timeout inside the first's recovery keeps the first's window to restore.
     */
    @Test
    void theEndOfATimeoutsRecoveryRestoresTheWindowFromBefore() {
        toProbeBw();
        rounds(8, BW, BDP);
        long cwnd = bbr.cwnd();
        bbr.onRetransmitTimeout(BDP, now);
        round(2 * MSS * 1_000_000_000L / RTT, MSS, false);
        bbr.onRetransmitTimeout(MSS, now);
        round(2 * MSS * 1_000_000_000L / RTT, MSS, false);
        assertTrue(bbr.cwnd() < cwnd / 4, bbr.describe());
        bbr.onLossRecoveryEnd(now);
        assertEquals(cwnd, bbr.cwnd());
        assertEquals(BW, bbr.bandwidth());
    }

    /**
     * Bytes deemed lost during a recovery come off the window before packet conservation applies: the window is what
     * is in flight plus what the ACK delivered, not the larger window from before the losses.
     */
    @Test
    void bytesDeemedLostInRecoveryComeOffTheWindow() {
        toProbeBw();
        rounds(8, BW, BDP);
        bbr.onEnterRecovery(BDP, now);
        long before = bbr.cwnd();
        ackWithinTheRound(2 * MSS, 10 * MSS, 20 * MSS); // in the recovery's first round, 20 segments newly lost
        assertEquals(Math.max(before - 20 * MSS, 12L * MSS), bbr.cwnd());
        assertTrue(bbr.cwnd() < before, bbr.describe());
    }

    /**
     * Ten seconds without a new minimum RTT: PROBE_RTT, four segments in flight for 200 ms and a round, then back to
     * PROBE_BW with the window from before.
     */
    @Test
    void probeRttEveryTenSecondsWithoutANewMinimum() {
        toProbeBw();
        long cwnd = 0;
        while (bbr.mode() == Bbr.Mode.PROBE_BW) {
            cwnd = bbr.cwnd();
            round(BW, BDP, false, RTT + MS);
            assertTrue(now < 11_000 * MS);
        }
        assertEquals(Bbr.Mode.PROBE_RTT, bbr.mode());
        assertTrue(now > 10_000 * MS);
        assertEquals(Bbr.MIN_CWND_SEGMENTS * MSS, bbr.cwnd());
        assertEquals(1, bbr.probeRttEntries());
        round(BW, 4 * MSS, false, RTT); // the flight is down to 4 segments: 200 ms from now
        long drained = now;
        while (bbr.mode() == Bbr.Mode.PROBE_RTT) {
            round(BW, 4 * MSS, false, RTT);
            assertTrue(now < drained + 300 * MS);
        }
        assertTrue(now >= drained + Bbr.PROBE_RTT_NANOS);
        assertEquals(Bbr.Mode.PROBE_BW, bbr.mode());
        assertTrue(bbr.cwnd() >= Math.min(cwnd, bbr.targetWindow(Bbr.CWND_GAIN)), bbr.describe());
        assertEquals(RTT, bbr.minRtt());
    }

    /** Not PRR: BBR's own window bounds a recovery; and it paces from the start. */
    @Test
    void bbrPacesFromTheStartAndIsNotBoundedByPrr() {
        bbr.init(MSS, 0);
        assertTrue(!bbr.boundedByPrr());
        assertEquals((long) (Bbr.HIGH_GAIN * 10 * MSS * 1000), bbr.pacingRate(), "the initial window per ms");
        assertTrue(new Cubic().pacingRate() == 0 && new Cubic().boundedByPrr());
    }
}
