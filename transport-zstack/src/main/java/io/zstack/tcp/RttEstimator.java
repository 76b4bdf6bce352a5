package io.zstack.tcp;

/**
 * Round-trip time estimator and retransmission timer value, RFC 6298.
 *
 * <p>Pure state, no clock: the caller measures RTT samples and feeds them in nanoseconds.
 * Karn's algorithm (RFC 6298 §3) is the caller's job: feed only unambiguous samples (never from a
 * retransmitted segment unless timestamps disambiguate it, RFC 7323 §4).
 *
 * <ul>
 *   <li>First sample R (§2.2): {@code SRTT = R, RTTVAR = R/2}.
 *   <li>Later samples R' (§2.3), RTTVAR first, with the old SRTT:
 *       {@code RTTVAR = (1 - 1/4) RTTVAR + 1/4 |SRTT - R'|}, {@code SRTT = (1 - 1/8) SRTT + 1/8 R'}.
 *   <li>{@code RTO = SRTT + max(G, 4 RTTVAR)} (§2.2, §2.3), clamped to [{@code minRto}, {@code maxRto}] (§2.4, §2.5).
 *   <li>Before any sample: {@code RTO = initialRto}, 1 s by default (§2.1).
 *   <li>{@link #backoff()} doubles the RTO on timer expiry (§5.5), up to {@code maxRto}; a new sample
 *       (or {@link #resetBackoff()}) cancels the backoff, since RTO is then recomputed from SRTT (§5, Karn).
 * </ul>
 *
 * <p><b>Minimum RTO.</b> RFC 6298 §2.4 says RTO SHOULD be rounded up to 1 s. Linux uses 200 ms, which is what
 * every modern peer expects and what data-centre latencies need, so {@link #DEFAULT_MIN_RTO_NANOS} is 200 ms;
 * pass {@link #RFC6298_MIN_RTO_NANOS} to the constructor for the RFC's conservative value.
 * The maximum defaults to 60 s, the smallest maximum §2.5 allows.
 *
 * <p><b>Timestamps, RFC 7323 Appendix G.</b> With timestamps a sender may take one sample per ACK, many per
 * RTT, which would make the 1/8 and 1/4 gains forget history within a fraction of an RTT.
 * {@link #sample(long, long, int)} implements Appendix G: the gains are divided by
 * {@code ExpectedSamples = ceil(FlightSize / (2 SMSS))}, so the estimator's memory stays about one RTT-sample
 * set per RTT. {@link #sample(long)} is the plain RFC 6298 update (one sample per RTT, or per ACK as Linux does).
 *
 * <p><b>minRtt</b> is the plain minimum over every sample since construction or {@link #reset()}, not a windowed
 * minimum: good enough for CUBIC/HyStart-style uses; a route change to a longer path is not forgotten.
 *
 * <p>All values are nanoseconds. Arithmetic is integer; at nanosecond resolution rounding is irrelevant.
 * Not thread-safe; allocation-free.
 */
public final class RttEstimator {
    /** RFC 6298 §2.1: RTO before the first sample. */
    public static final long DEFAULT_INITIAL_RTO_NANOS = 1_000_000_000L;
    /** Linux's minimum RTO (TCP_RTO_MIN), the default here. */
    public static final long DEFAULT_MIN_RTO_NANOS = 200_000_000L;
    /** RFC 6298 §2.4's recommended minimum RTO. */
    public static final long RFC6298_MIN_RTO_NANOS = 1_000_000_000L;
    /** RFC 6298 §2.5: a maximum, if any, must be at least 60 s. */
    public static final long DEFAULT_MAX_RTO_NANOS = 60_000_000_000L;
    /** Clock granularity G of the timer that will fire the RTO; 1 ms suits a timer wheel with millisecond ticks. */
    public static final long DEFAULT_GRANULARITY_NANOS = 1_000_000L;
    /** RFC 6298 §5.7: RTO after the handshake needed a retransmitted SYN and gave no sample. */
    public static final long SYN_RETRANSMIT_RTO_NANOS = 3_000_000_000L;

    private static final int K = 4; // RFC 6298: RTO = SRTT + max(G, K*RTTVAR)
    private static final int ALPHA_SHIFT = 3; // alpha = 1/8
    private static final int BETA_SHIFT = 2; // beta = 1/4
    private static final int MAX_BACKOFF_SHIFT = 62;

    private final long initialRtoNanos;
    private long minRtoNanos;
    private final long maxRtoNanos;
    private final long granularityNanos;

    private boolean hasSample;
    private long srtt;
    private long rttvar;
    private long latest;
    private long minRtt;
    /** RTO before backoff: computed from SRTT/RTTVAR, or the initial RTO, already clamped. */
    private long baseRto;
    private int backoffs;

    /** Defaults: initial RTO 1 s, minimum 200 ms (Linux), maximum 60 s, G = 1 ms. */
    public RttEstimator() {
        this(DEFAULT_INITIAL_RTO_NANOS, DEFAULT_MIN_RTO_NANOS, DEFAULT_MAX_RTO_NANOS, DEFAULT_GRANULARITY_NANOS);
    }

    /**
     * @param minRtoNanos lower clamp of RTO; {@link #DEFAULT_MIN_RTO_NANOS} (200 ms, Linux) or
     *                    {@link #RFC6298_MIN_RTO_NANOS} (1 s, RFC 6298 §2.4)
     * @param maxRtoNanos upper clamp of RTO, also of the backed-off RTO; RFC 6298 §2.5 wants at least 60 s
     */
    public RttEstimator(long minRtoNanos, long maxRtoNanos) {
        this(DEFAULT_INITIAL_RTO_NANOS, minRtoNanos, maxRtoNanos, DEFAULT_GRANULARITY_NANOS);
    }

    /**
     * @param initialRtoNanos RTO before the first sample (RFC 6298 §2.1: 1 s)
     * @param minRtoNanos     lower clamp of the computed RTO (not of the initial RTO)
     * @param maxRtoNanos     upper clamp of every RTO, backed off or not
     * @param granularityNanos clock granularity G of the retransmission timer
     */
    public RttEstimator(long initialRtoNanos, long minRtoNanos, long maxRtoNanos, long granularityNanos) {
        if (minRtoNanos <= 0 || maxRtoNanos < minRtoNanos) {
            throw new IllegalArgumentException("need 0 < minRto <= maxRto: " + minRtoNanos + ", " + maxRtoNanos);
        }
        if (initialRtoNanos <= 0 || granularityNanos < 0) {
            throw new IllegalArgumentException("initialRto must be > 0 and G >= 0");
        }
        this.initialRtoNanos = initialRtoNanos;
        this.minRtoNanos = minRtoNanos;
        this.maxRtoNanos = maxRtoNanos;
        this.granularityNanos = granularityNanos;
        reset();
    }

    /** Forgets every sample and the backoff: back to the initial RTO (RFC 6298 §2.1). */
    public void reset() {
        hasSample = false;
        srtt = 0;
        rttvar = 0;
        latest = 0;
        minRtt = Long.MAX_VALUE;
        baseRto = Math.min(initialRtoNanos, maxRtoNanos);
        backoffs = 0;
    }

    /**
     * Feeds one unambiguous RTT measurement (RFC 6298 §2.2/§2.3) and cancels any backoff.
     * Non-positive samples are clamped to 1 ns (a same-tick ACK on a fast link is a real, tiny RTT).
     */
    public void sample(long rttNanos) {
        update(rttNanos, 1);
    }

    /**
     * Feeds one timestamp-based sample with the RFC 7323 Appendix G gains: alpha and beta are divided by
     * {@code ExpectedSamples = ceil(flightSizeBytes / (2 * mss))} (at least 1), the number of samples one RTT's
     * worth of ACKs will deliver with delayed ACKs. Use when sampling every ACK through TSecr.
     */
    public void sample(long rttNanos, long flightSizeBytes, int mss) {
        long twoMss = 2L * Math.max(1, mss);
        long expected = flightSizeBytes <= 0 ? 1 : (flightSizeBytes + twoMss - 1) / twoMss;
        update(rttNanos, expected);
    }

    private void update(long r, long expectedSamples) {
        if (r <= 0) {
            r = 1;
        }
        latest = r;
        if (r < minRtt) {
            minRtt = r;
        }
        if (!hasSample) {
            srtt = r;
            rttvar = r >> 1;
            hasSample = true;
        } else {
            // RTTVAR uses the old SRTT, so update it first (RFC 6298 §2.3).
            long err = Math.abs(srtt - r);
            rttvar += (err - rttvar) / (expectedSamples << BETA_SHIFT);
            srtt += (r - srtt) / (expectedSamples << ALPHA_SHIFT);
        }
        long var = rttvar > Long.MAX_VALUE / K ? Long.MAX_VALUE : K * rttvar;
        long rto = satAdd(srtt, Math.max(granularityNanos, var));
        baseRto = Math.max(minRtoNanos, Math.min(maxRtoNanos, rto));
        backoffs = 0;
    }

    /**
     * The retransmission timer expired: doubles the RTO (RFC 6298 §5.5), clamped to {@code maxRto}.
     * Stays in force until a new sample or {@link #resetBackoff()}.
     */
    public void backoff() {
        if (backoffs < MAX_BACKOFF_SHIFT) {
            backoffs++;
        }
    }

    /**
     * Withdraws the latest {@link #backoff()}: the timeout's retransmission never left the host (no buffer for it),
     * so the timeout says nothing about the path (Linux does not back off then either).
     */
    public void withdrawBackoff() {
        if (backoffs > 0) {
            backoffs--;
        }
    }

    /**
     * Cancels the backoff without a sample: for an ACK of new data that Karn's rule excludes from sampling
     * when the caller decides the path is alive again (RFC 6298 §5 leaves this to the implementation).
     */
    public void resetBackoff() {
        backoffs = 0;
    }

    /**
     * RFC 6298 §5.7: call when the handshake completed only after a SYN (or SYN-ACK) retransmission. If no
     * sample was taken (Karn), the RTO becomes 3 s instead of the initial RTO; with a sample nothing changes.
     */
    public void onSynRetransmitted() {
        if (!hasSample) {
            baseRto = Math.min(Math.max(baseRto, SYN_RETRANSMIT_RTO_NANOS), maxRtoNanos);
            backoffs = 0;
        }
    }

    /** Current RTO including backoff, nanoseconds, within [min(minRto, initialRto), maxRto]. */
    public long rto() {
        long b = baseRto;
        if (backoffs == 0) {
            return b;
        }
        return b > (maxRtoNanos >> backoffs) ? maxRtoNanos : Math.min(maxRtoNanos, b << backoffs);
    }

    /** How many times {@link #backoff()} has been called since the last sample or reset. */
    public int backoffCount() {
        return backoffs;
    }

    /** Smoothed RTT, nanoseconds; 0 before the first sample. */
    public long srtt() {
        return srtt;
    }

    /** RTT variation, nanoseconds; 0 before the first sample. */
    public long rttvar() {
        return rttvar;
    }

    /** Smallest sample ever fed (not windowed), nanoseconds; {@code -1} before the first sample. */
    public long minRtt() {
        return hasSample ? minRtt : -1;
    }

    /** Most recent sample, nanoseconds; {@code -1} before the first sample. */
    public long latestRtt() {
        return hasSample ? latest : -1;
    }

    /** Whether at least one sample was fed since construction or {@link #reset()}. */
    public boolean hasSample() {
        return hasSample;
    }

    public long minRtoNanos() {
        return minRtoNanos;
    }

    /**
     * Changes the lower clamp (a socket option set on a live connection): the RTO is clamped again from the current
     * estimate at once, the backoff kept.
     */
    public void minRtoNanos(long minRtoNanos) {
        if (minRtoNanos <= 0 || minRtoNanos > maxRtoNanos) {
            throw new IllegalArgumentException("need 0 < minRto <= maxRto: " + minRtoNanos + ", " + maxRtoNanos);
        }
        this.minRtoNanos = minRtoNanos;
        if (hasSample) {
            long var = rttvar > Long.MAX_VALUE / K ? Long.MAX_VALUE : K * rttvar;
            baseRto = Math.max(minRtoNanos, Math.min(maxRtoNanos, satAdd(srtt, Math.max(granularityNanos, var))));
        }
    }

    public long maxRtoNanos() {
        return maxRtoNanos;
    }

    private static long satAdd(long a, long b) {
        long s = a + b;
        return s < a ? Long.MAX_VALUE : s;
    }

    @Override
    public String toString() {
        return "RttEstimator[srtt=" + srtt + ", rttvar=" + rttvar + ", rto=" + rto() + ", minRto=" + minRtoNanos
                + ", backoffs=" + backoffs + "]";
    }
}
