package io.zstack.tcp.cc;

/**
 * A sender's congestion window, driven by the TCP sender with explicit time. Byte counts throughout.
 *
 * <p>The sender calls: {@link #init} once the MSS is known; {@link #onAck} for each ACK of new data outside
 * recovery; {@link #onEnterRecovery} at fast retransmit; {@link #onDuplicateAckInRecovery} and
 * {@link #onPartialAck} during recovery; {@link #onExitRecovery} when the recovery point is acknowledged;
 * {@link #onRetransmitTimeout} when the retransmission timer fires.
 */
public interface CongestionControl {
    /** Starts with the initial window of RFC 6928: min(10 * MSS, max(2 * MSS, 14600)). */
    void init(int mss, long nowNanos);

    /** Congestion window in bytes (inflation during recovery included). */
    long cwnd();

    long ssthresh();

    /**
     * New data acknowledged outside recovery.
     *
     * @param ackedBytes       bytes newly acknowledged
     * @param bytesInFlight    bytes outstanding before this ACK
     * @param rttNanos         an RTT sample from this ACK, or -1
     */
    void onAck(long ackedBytes, long bytesInFlight, long rttNanos, long nowNanos);

    /** Loss detected by duplicate ACKs or SACK (fast retransmit): reduce the window. */
    void onEnterRecovery(long bytesInFlight, long nowNanos);

    /** A further duplicate ACK during recovery: one segment left the network (RFC 5681 §3.2 step 4). */
    void onDuplicateAckInRecovery(long nowNanos);

    /** A partial ACK during recovery (RFC 6582 §3.2 step 5): deflate by the amount acknowledged. */
    void onPartialAck(long ackedBytes, long nowNanos);

    /** Recovery ended (the recovery point was acknowledged): cwnd = ssthresh (RFC 6582 §3.2 step 3). */
    void onExitRecovery(long nowNanos);

    /** The retransmission timer fired: RFC 5681 §3.1, loss window of one segment. */
    void onRetransmitTimeout(long bytesInFlight, long nowNanos);

    /**
     * The last reduction was needless (D-SACKs or timestamps showed the retransmissions spurious): back to at least
     * the window and threshold it started from (RFC 4015 §3, Linux's undo).
     */
    void undo(long priorCwnd, long priorSsthresh);

    /**
     * The recovery that a retransmission timeout began has ended: everything outstanding at the timeout is
     * acknowledged. Loss-based algorithms have slow-started back already; a model-based one may restore its window.
     */
    default void onLossRecoveryEnd(long nowNanos) {
    }

    /** The sender was idle longer than an RTO: restart window (RFC 5681 §4.1). */
    default void onIdleRestart(long nowNanos) {
    }

    /**
     * Every ACK, in recovery or not, after its SACK blocks and cumulative ACK are taken and before loss detection:
     * what it delivered and the delivery rate it measured (a model-based control such as BBR works from these).
     */
    default void onRateSample(RateSample sample, long nowNanos) {
    }

    /** Bytes per second at which the sender should release segments, or 0: no pacing, the ACK clock alone. */
    default long pacingRate() {
        return 0;
    }

    /** Whether a fast recovery sends what PRR allows (RFC 6937) rather than what {@link #cwnd} leaves room for. */
    default boolean boundedByPrr() {
        return true;
    }

    /** The algorithm's state for diagnostics (a connection's dump), after a space, or an empty string. */
    default String describe() {
        return "";
    }
}
