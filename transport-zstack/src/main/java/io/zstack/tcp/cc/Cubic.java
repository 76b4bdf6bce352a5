package io.zstack.tcp.cc;

/**
 * CUBIC (RFC 9438): after a reduction the window follows W(t) = C (t - K)^3 + W_max, concave up to the window
 * where the loss happened and convex beyond it, with a Reno-friendly estimate (§4.3) as its floor, fast convergence
 * (§4.7), and beta 0.7. Slow start and recovery mechanics are NewReno's; only the reduction factor and the growth in
 * congestion avoidance differ. Windows are computed in segments as in the RFC and kept in bytes.
 */
public final class Cubic extends NewReno {
    static final double C = 0.4;
    static final double BETA = 0.7;
    static final double ALPHA = 3 * (1 - BETA) / (1 + BETA);

    /** W_max in segments: the window just before the last reduction. */
    private double wMax;
    /** Previous W_max, for fast convergence. */
    private double wLastMax;
    private double k;
    private long epochStart = -1;
    /** Reno-friendly window estimate in segments. */
    private double wEst;
    private long lastRtt = 100_000_000L;
    private long lastAckNanos;

    @Override
    public void onAck(long ackedBytes, long bytesInFlight, long rttNanos, long nowNanos) {
        if (rttNanos > 0) {
            lastRtt = rttNanos;
        }
        if (!windowWasTheLimit(bytesInFlight) && epochStart >= 0) {
            // RFC 9438 §5.8: time in which the application, not the window, limited sending does not count
            // toward the cubic curve's growth (the epoch moves with it)
            epochStart += Math.max(0, nowNanos - lastAckNanos);
        }
        lastAckNanos = nowNanos;
        super.onAck(ackedBytes, bytesInFlight, rttNanos, nowNanos);
    }

    @Override
    protected void congestionAvoidance(long ackedBytes, long nowNanos, long rttNanos) {
        double segments = (double) cwnd / mss;
        if (epochStart < 0) {
            // first congestion avoidance after slow start or a reduction (§4.2)
            epochStart = nowNanos;
            if (wMax <= segments) {
                wMax = segments;
                k = 0;
            } else {
                k = Math.cbrt((wMax - segments) / C);
            }
            wEst = segments;
        }
        double t = (nowNanos - epochStart + lastRtt) / 1e9;
        double target = C * Math.pow(t - k, 3) + wMax;
        // §4.3: the Reno-friendly estimate grows by alpha segments per window of ACKs
        wEst += ALPHA * ((double) ackedBytes / mss) / segments;
        double next;
        if (wEst > target) {
            next = wEst;
        } else {
            // §4.4/4.5: close (target - cwnd)/cwnd of the gap per ACKed segment, never more than 1.5x per RTT
            target = Math.min(target, 1.5 * segments);
            next = segments + Math.max(0, target - segments) / segments * ((double) ackedBytes / mss);
        }
        long grown = (long) (next * mss);
        if (grown > cwnd) {
            cwnd = grown;
        }
    }

    @Override
    public void onEnterRecovery(long bytesInFlight, long nowNanos) {
        reduce();
        ssthresh = Math.max((long) (cwnd * BETA), 2L * mss);
        cwnd = ssthresh + 3L * mss;
    }

    @Override
    public void onRetransmitTimeout(long bytesInFlight, long nowNanos) {
        reduce();
        ssthresh = Math.max((long) (Math.min(cwnd, bytesInFlight) * BETA), 2L * mss);
        cwnd = mss;
    }

    /** Records W_max with fast convergence (§4.7) and starts a new epoch at the next congestion avoidance. */
    private void reduce() {
        double segments = (double) cwnd / mss;
        if (segments < wLastMax) {
            wLastMax = segments;
            wMax = segments * (1 + BETA) / 2;
        } else {
            wLastMax = segments;
            wMax = segments;
        }
        epochStart = -1;
    }

    /** W_max in segments (for tests). */
    double wMax() {
        return wMax;
    }

    /** K in seconds (for tests). */
    double k() {
        return k;
    }
}
