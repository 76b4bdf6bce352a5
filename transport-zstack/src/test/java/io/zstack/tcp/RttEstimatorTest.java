package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class RttEstimatorTest {
    private static final long MS = 1_000_000L;
    private static final long S = 1_000_000_000L;

    @Test
    void initialRtoIsOneSecondUntilTheFirstSample() {
        RttEstimator e = new RttEstimator();
        assertFalse(e.hasSample());
        assertEquals(S, e.rto());
        assertEquals(-1, e.minRtt());
        assertEquals(0, e.srtt());
    }

    @Test
    void firstSampleSetsSrttAndHalfVariance() {
        RttEstimator e = new RttEstimator();
        e.sample(100 * MS);
        assertTrue(e.hasSample());
        assertEquals(100 * MS, e.srtt());
        assertEquals(50 * MS, e.rttvar());
        assertEquals(300 * MS, e.rto()); // R + 4 * R/2
        assertEquals(100 * MS, e.minRtt());
    }

    @Test
    void laterSamplesUseAlphaEighthAndBetaQuarterWithTheOldSrtt() {
        RttEstimator e = new RttEstimator();
        e.sample(100 * MS);
        e.sample(200 * MS);
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5
        assertEquals(62_500_000L, e.rttvar());
        assertEquals(112_500_000L, e.srtt());
        assertEquals(112_500_000L + 4 * 62_500_000L, e.rto());
        e.sample(80 * MS);
        // RTTVAR = 3/4 * 62.5 + 1/4 * |112.5 - 80| = 46.875 + 8.125 = 55; SRTT = 7/8 * 112.5 + 10 = 108.4375
        assertEquals(55 * MS, e.rttvar());
        assertEquals(108_437_500L, e.srtt());
        assertEquals(108_437_500L + 220 * MS, e.rto());
        assertEquals(80 * MS, e.minRtt());
        assertEquals(80 * MS, e.latestRtt());
    }

    @Test
    void rtoIsClampedToTheConfiguredMinimum() {
        RttEstimator linux = new RttEstimator();
        linux.sample(10 * MS); // 10 + 20 = 30 ms
        assertEquals(200 * MS, linux.rto());
        RttEstimator rfc = new RttEstimator(RttEstimator.RFC6298_MIN_RTO_NANOS, RttEstimator.DEFAULT_MAX_RTO_NANOS);
        rfc.sample(10 * MS);
        assertEquals(S, rfc.rto());
        RttEstimator dc = new RttEstimator(5 * MS, 60 * S);
        dc.sample(10 * MS);
        assertEquals(30 * MS, dc.rto());
    }

    @Test
    void granularityBoundsTheVarianceTerm() {
        RttEstimator e = new RttEstimator(S, MS, 60 * S, 10 * MS);
        for (int i = 0; i < 200; i++) {
            e.sample(50 * MS); // RTTVAR decays towards 0, so 4*RTTVAR falls below G
        }
        assertEquals(50 * MS, e.srtt());
        assertTrue(e.rttvar() < MS);
        assertEquals(60 * MS, e.rto()); // SRTT + G
    }

    @Test
    void backoffDoublesAndIsClampedAtTheMaximum() {
        RttEstimator e = new RttEstimator();
        e.sample(100 * MS);
        assertEquals(300 * MS, e.rto());
        e.backoff();
        assertEquals(600 * MS, e.rto());
        e.backoff();
        assertEquals(1200 * MS, e.rto());
        for (int i = 0; i < 100; i++) {
            e.backoff();
        }
        assertEquals(60 * S, e.rto());
        assertEquals(62, e.backoffCount()); // saturates without overflowing
    }

    @Test
    void backoffBeforeAnySampleDoublesTheInitialRto() {
        RttEstimator e = new RttEstimator(200 * MS, 10 * S);
        e.backoff();
        assertEquals(2 * S, e.rto());
        e.backoff();
        e.backoff();
        e.backoff();
        assertEquals(10 * S, e.rto()); // 16 s clamped
    }

    @Test
    void aNewSampleCancelsTheBackoff() {
        RttEstimator e = new RttEstimator();
        e.sample(100 * MS);
        e.backoff();
        e.backoff();
        assertEquals(2, e.backoffCount());
        e.sample(100 * MS);
        assertEquals(0, e.backoffCount());
        // RTTVAR = 3/4 * 50 = 37.5, SRTT = 100
        assertEquals(100 * MS + 150 * MS, e.rto());
        e.backoff();
        e.resetBackoff();
        assertEquals(250 * MS, e.rto());
    }

    @Test
    void synRetransmissionWithoutSampleMeansThreeSeconds() {
        RttEstimator e = new RttEstimator();
        e.backoff();
        e.onSynRetransmitted();
        assertEquals(3 * S, e.rto());
        RttEstimator sampled = new RttEstimator();
        sampled.sample(100 * MS);
        sampled.onSynRetransmitted();
        assertEquals(300 * MS, sampled.rto());
    }

    @Test
    void timestampSamplesUseAppendixGGains() {
        RttEstimator plain = new RttEstimator();
        RttEstimator scaled = new RttEstimator();
        plain.sample(100 * MS);
        scaled.sample(100 * MS);
        // FlightSize 20 segments of 1000 bytes: ExpectedSamples = ceil(20000 / 2000) = 10
        scaled.sample(180 * MS, 20_000, 1000);
        plain.sample(180 * MS);
        assertEquals(110 * MS, plain.srtt()); // +80/8
        assertEquals(101 * MS, scaled.srtt()); // +80/80
        assertEquals(50 * MS + 30 * MS / 4, plain.rttvar()); // (80-50)/4
        assertEquals(50 * MS + 30 * MS / 40, scaled.rttvar()); // (80-50)/40
        // A tiny flight degenerates to the plain update.
        RttEstimator small = new RttEstimator();
        small.sample(100 * MS);
        small.sample(180 * MS, 1000, 1000);
        assertEquals(110 * MS, small.srtt());
    }

    @Test
    void resetForgetsEverything() {
        RttEstimator e = new RttEstimator();
        e.sample(100 * MS);
        e.backoff();
        e.reset();
        assertFalse(e.hasSample());
        assertEquals(S, e.rto());
        assertEquals(0, e.backoffCount());
        assertEquals(-1, e.minRtt());
    }

    @Test
    void largeSamplesAreClampedToTheMaximum() {
        RttEstimator e = new RttEstimator();
        e.sample(50 * S);
        assertEquals(60 * S, e.rto());
        e.sample(0);
        assertEquals(1, e.minRtt());
    }

    @Test
    void rejectsInconsistentBounds() {
        assertThrows(IllegalArgumentException.class, () -> new RttEstimator(2 * S, S));
        assertThrows(IllegalArgumentException.class, () -> new RttEstimator(0, S));
    }

    /** The minimum changes on a live estimator (a socket option): the RTO is clamped again at once. */
    @Test
    void theMinimumCanChangeOnALiveEstimator() {
        RttEstimator e = new RttEstimator(S, 200 * MS, 60 * S, MS);
        e.sample(MS); // SRTT 1 ms, RTTVAR 0.5 ms: 1 + max(1, 2) = 3 ms, raised to 200 ms
        assertEquals(200 * MS, e.rto());
        e.minRtoNanos(2 * MS);
        assertEquals(3 * MS, e.rto(), "the estimate itself once the minimum is below it");
        e.minRtoNanos(5 * MS);
        assertEquals(5 * MS, e.rto());
        e.backoff();
        assertEquals(10 * MS, e.rto(), "the backoff applies to the new value");
        assertThrows(IllegalArgumentException.class, () -> e.minRtoNanos(0));
        assertThrows(IllegalArgumentException.class, () -> e.minRtoNanos(61 * S));
    }
}
