package io.zstack.tcp.cc;

/**
 * What one ACK says about the path's delivery rate (draft-cheng-iccrg-delivery-rate-estimation §3): the bytes
 * delivered between the send of the most recently sent segment this ACK covers and now, over the longer of the send
 * and ACK intervals of that span. Filled by the sender at every ACK and reused; byte counts and nanoseconds.
 */
public final class RateSample {
    /** Bytes delivered over {@link #intervalNanos}. */
    public long deliveredBytes;
    /** The sample's interval, or -1 if this ACK gives no valid rate (nothing newly delivered, too short a span). */
    public long intervalNanos = -1;
    /** The sender had less to send than its window allowed during the span: the rate may be the application's. */
    public boolean appLimited;
    /** The connection's delivered count when the sampled segment was sent (marks round trips), or -1. */
    public long priorDelivered = -1;
    /** The connection's delivered count after this ACK. */
    public long totalDelivered;
    /** Bytes this ACK newly delivered (cumulatively or by SACK). */
    public long ackedBytes;
    /** Bytes in flight (the pipe) after this ACK. */
    public long inflightBytes;
    /**
     * Bytes newly deemed lost (by RACK or a timeout) since the previous sample: the ACK before this one marked them,
     * as the sender samples before its loss detection runs.
     */
    public long lostBytes;
    /** The shortest round trip of a segment this ACK delivered that was sent once, or -1. */
    public long rttNanos = -1;

    /** Bytes per second, or 0 if the sample is not valid. */
    public long rate() {
        if (intervalNanos <= 0) {
            return 0;
        }
        return (long) (deliveredBytes * 1e9 / intervalNanos);
    }

    public boolean valid() {
        return intervalNanos > 0;
    }
}
