package io.zstack.tcp;

/**
 * Round-trip time and retransmission timeout per RFC 6298: SRTT and RTTVAR smoothed with alpha 1/8 and
 * beta 1/4, RTO = SRTT + max(G, 4 * RTTVAR) clamped to [min, max], doubled by each backoff (§5.5) until a new
 * sample arrives. The minimum defaults to Linux's 200 ms rather than the RFC's 1 s, as every major stack does.
 * Karn's algorithm is the caller's: only unambiguous samples are fed.
 */
public final class RttEstimator {
    /** Clock granularity G: the stack's timers tick in milliseconds. */
    private static final long GRANULARITY_NANOS = 1_000_000L;

    private final long initialRto;
    private final long minRto;
    private final long maxRto;
    private long srtt;
    private long rttvar;
    private long minRtt = Long.MAX_VALUE;
    private boolean hasSample;
    private int backoff;

    public RttEstimator(long initialRtoNanos, long minRtoNanos, long maxRtoNanos) {
        this.initialRto = initialRtoNanos;
        this.minRto = minRtoNanos;
        this.maxRto = maxRtoNanos;
    }

    /** Feeds one round-trip measurement. */
    public void sample(long rttNanos) {
        long r = Math.max(0, rttNanos);
        if (!hasSample) {
            srtt = r;
            rttvar = r / 2;
            hasSample = true;
        } else {
            rttvar = (3 * rttvar + Math.abs(srtt - r)) / 4;
            srtt = (7 * srtt + r) / 8;
        }
        minRtt = Math.min(minRtt, r);
        backoff = 0;
    }

    /** The timer expired: double the timeout (RFC 6298 §5.5). */
    public void backoff() {
        if (backoff < 30) {
            backoff++;
        }
    }

    public void resetBackoff() {
        backoff = 0;
    }

    /** The current retransmission timeout, backoff included. */
    public long rto() {
        long base = hasSample ? srtt + Math.max(GRANULARITY_NANOS, 4 * rttvar) : initialRto;
        base = Math.max(minRto, Math.min(maxRto, base));
        long backed = base << Math.min(backoff, 20);
        return backed < 0 || backed > maxRto ? maxRto : backed;
    }

    public boolean hasSample() {
        return hasSample;
    }

    public long srtt() {
        return srtt;
    }

    public long rttvar() {
        return rttvar;
    }

    /** Smallest sample seen, or Long.MAX_VALUE. */
    public long minRtt() {
        return minRtt;
    }

    public int backoffCount() {
        return backoff;
    }
}
