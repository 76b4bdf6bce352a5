package io.zstack.tcp.cc;

/**
 * RFC 5681 congestion control with RFC 6582's NewReno recovery: slow start with appropriate byte counting
 * (RFC 3465, L = 2 MSS), additive increase of one MSS per window, multiplicative decrease to half the flight
 * size, window inflation by one MSS per duplicate ACK during recovery and deflation on partial ACKs.
 */
public class NewReno implements CongestionControl {
    protected int mss = 536;
    protected long cwnd;
    protected long ssthresh = Long.MAX_VALUE;
    /** Bytes acknowledged in congestion avoidance not yet turned into window growth. */
    private long acknowledgedSinceGrowth;

    @Override
    public void init(int mss, long nowNanos) {
        this.mss = mss;
        this.cwnd = initialWindow(mss);
        this.ssthresh = Long.MAX_VALUE;
    }

    static long initialWindow(int mss) {
        return Math.min(10L * mss, Math.max(2L * mss, 14600));
    }

    @Override
    public long cwnd() {
        return cwnd;
    }

    @Override
    public long ssthresh() {
        return ssthresh;
    }

    @Override
    public void onAck(long ackedBytes, long bytesInFlight, long rttNanos, long nowNanos) {
        if (!windowWasTheLimit(bytesInFlight)) {
            return;
        }
        if (cwnd < ssthresh) {
            cwnd += Math.min(ackedBytes, 2L * mss);
            return;
        }
        congestionAvoidance(ackedBytes, nowNanos, rttNanos);
    }

    /**
     * Whether the window, not the application or the peer's window, limited what was in flight (RFC 7661): only
     * then does an ACK say the network carried a full window, and only then may it grow. Otherwise an application
     * sending a little at a time would inflate cwnd without ever testing it (it reached 60 MB on request/response
     * connections) and could later burst all of it at once. As Linux does: in slow start, growth while cwnd is
     * under twice the flight; in congestion avoidance, while the flight was within three segments of cwnd (delayed
     * ACKs and a short last segment).
     */
    protected boolean windowWasTheLimit(long bytesInFlight) {
        return cwnd < ssthresh ? 2 * bytesInFlight >= cwnd : bytesInFlight + 3L * mss >= cwnd;
    }

    /** Reno's additive increase: one MSS per cwnd of acknowledged bytes. */
    protected void congestionAvoidance(long ackedBytes, long nowNanos, long rttNanos) {
        acknowledgedSinceGrowth += ackedBytes;
        if (acknowledgedSinceGrowth >= cwnd) {
            acknowledgedSinceGrowth -= cwnd;
            cwnd += mss;
        }
    }

    @Override
    public void onEnterRecovery(long bytesInFlight, long nowNanos) {
        ssthresh = Math.max(bytesInFlight / 2, 2L * mss);
        cwnd = ssthresh + 3L * mss;
    }

    @Override
    public void onDuplicateAckInRecovery(long nowNanos) {
        cwnd += mss;
    }

    @Override
    public void onPartialAck(long ackedBytes, long nowNanos) {
        cwnd = Math.max(cwnd - ackedBytes + (ackedBytes >= mss ? mss : 0), mss);
    }

    @Override
    public void onExitRecovery(long nowNanos) {
        cwnd = Math.max(ssthresh, 2L * mss);
        acknowledgedSinceGrowth = 0;
    }

    @Override
    public void onRetransmitTimeout(long bytesInFlight, long nowNanos) {
        ssthresh = Math.max(bytesInFlight / 2, 2L * mss);
        cwnd = mss;
        acknowledgedSinceGrowth = 0;
    }

    @Override
    public void undo(long priorCwnd, long priorSsthresh) {
        cwnd = Math.max(cwnd, priorCwnd);
        ssthresh = Math.max(ssthresh, priorSsthresh);
        acknowledgedSinceGrowth = 0;
    }

    @Override
    public void onIdleRestart(long nowNanos) {
        cwnd = Math.min(cwnd, initialWindow(mss));
    }
}
