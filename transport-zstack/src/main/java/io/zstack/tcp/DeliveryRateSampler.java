package io.zstack.tcp;

import io.zstack.tcp.cc.RateSample;

/**
 * Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation): the connection's running count of delivered
 * bytes and when it last grew; every transmission is stamped with them (kept beside the segment in
 * {@link SentSegments}), and when a segment is delivered the bytes delivered since its send, over the time since,
 * give a rate sample. Of the segments one ACK delivers, the most recently sent gives the sample (its span is the
 * freshest). The span is the longer of the send interval (how long the flight took to leave) and the ACK interval
 * (how long its deliveries took to come back), so neither a burst of sends nor a compressed burst of ACKs can make the
 * rate look higher than the path's.
 *
 * <p>Application-limited: when the sender ran out of data with room left in its window, samples until the bytes then
 * in flight are delivered are marked, since they measure the application rather than the path.
 */
final class DeliveryRateSampler {
    /** C.delivered: bytes delivered (cumulatively ACKed or SACKed) so far. */
    private long delivered;
    /** C.delivered_time: when {@link #delivered} last grew. */
    private long deliveredTime;
    /** C.first_sent_time: send time of the most recently delivered segment (the start of the next send interval). */
    private long firstSentTime;
    /** C.app_limited: the delivered count that ends the application-limited stretch, 0 when not in one. */
    private long appLimitedUntil;
    /** The shortest round trip seen (a sample shorter than it cannot be a valid rate interval). */
    private long minRttNanos = Long.MAX_VALUE;

    // this ACK: the sampled segment's stamps
    private long priorDelivered = -1;
    private long sendElapsed;
    private long ackElapsed;
    private boolean priorAppLimited;
    private long ackedBytes;
    private long ackRtt = -1;

    private final RateSample sample = new RateSample();

    /** A transmission starts a new flight (nothing was in flight): the send and ACK clocks start over from now. */
    void flightStarts(long nowNanos) {
        firstSentTime = nowNanos;
        deliveredTime = nowNanos;
    }

    // the stamps a transmission records
    long delivered() {
        return delivered;
    }

    long deliveredTime() {
        return deliveredTime;
    }

    long firstSentTime() {
        return firstSentTime;
    }

    boolean appLimited() {
        return appLimitedUntil != 0;
    }

    /**
     * A segment of {@code bytes} was delivered; the rest are its stamps from its latest transmission
     * ({@code sentNanos}) and whether it was ever retransmitted (its round trip is then ambiguous).
     */
    void segmentDelivered(long bytes, long stampDelivered, long stampDeliveredTime, long stampFirstSent,
                          boolean stampAppLimited, long sentNanos, boolean everRetransmitted, long nowNanos) {
        delivered += bytes;
        deliveredTime = nowNanos;
        ackedBytes += bytes;
        if (!everRetransmitted) {
            long rtt = nowNanos - sentNanos;
            ackRtt = ackRtt < 0 ? rtt : Math.min(ackRtt, rtt);
        }
        if (stampDelivered >= priorDelivered) {
            // the most recently sent of this ACK's segments so far (sent later ones were stamped with a higher count,
            // or the same count and a later send)
            priorDelivered = stampDelivered;
            priorAppLimited = stampAppLimited;
            sendElapsed = sentNanos - stampFirstSent;
            ackElapsed = nowNanos - stampDeliveredTime;
            firstSentTime = sentNanos;
        }
    }

    /**
     * The ACK is processed: the sample it gives ({@code inflightBytes}: the pipe after it). The returned object is
     * reused by the next call.
     */
    RateSample endOfAck(long inflightBytes) {
        RateSample s = sample;
        if (appLimitedUntil != 0 && delivered > appLimitedUntil) {
            appLimitedUntil = 0;
        }
        if (ackRtt >= 0) {
            minRttNanos = Math.min(minRttNanos, ackRtt);
        }
        s.totalDelivered = delivered;
        s.ackedBytes = ackedBytes;
        s.inflightBytes = inflightBytes;
        s.rttNanos = ackRtt;
        s.priorDelivered = priorDelivered;
        s.appLimited = priorAppLimited;
        if (priorDelivered < 0) {
            s.deliveredBytes = 0;
            s.intervalNanos = -1;
        } else {
            s.deliveredBytes = delivered - priorDelivered;
            long interval = Math.max(sendElapsed, ackElapsed);
            // shorter than a round trip: the ACKs came in a burst (a stretch ACK, a late ACK train) and the interval
            // does not span the flight; such a rate would overstate the path
            s.intervalNanos = interval > 0 && interval >= minRttNanos ? interval : -1;
        }
        priorDelivered = -1;
        priorAppLimited = false;
        ackedBytes = 0;
        ackRtt = -1;
        return s;
    }

    /**
     * After sending what the window allowed: if less than a segment is left to send while the pipe is below the
     * window and no loss waits for a retransmission, the application, not the network, limits the flight, and the
     * samples of what is now in flight are marked application-limited.
     */
    void checkApplicationLimited(long unsentBytes, int mss, long pipe, long cwnd, boolean lossesPending) {
        if (unsentBytes < mss && pipe < cwnd && !lossesPending) {
            appLimitedUntil = Math.max(delivered + pipe, 1);
        }
    }

    long minRttNanos() {
        return minRttNanos == Long.MAX_VALUE ? -1 : minRttNanos;
    }
}
