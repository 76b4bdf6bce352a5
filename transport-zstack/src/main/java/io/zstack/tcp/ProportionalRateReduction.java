package io.zstack.tcp;

/**
 * How much may fast recovery send? Proportional Rate Reduction (RFC 6937): while the pipe exceeds ssthresh, in
 * proportion to what the peer reports delivered; below it, up to ssthresh, bounded by what was delivered (exactly
 * that, the Conservative Reduction Bound, or one segment more per ACK, the Slow Start Reduction Bound).
 */
final class ProportionalRateReduction {
    /** prr_delivered: bytes the peer reported delivered since the recovery began. */
    private long delivered;
    /** prr_out: bytes sent since the recovery began. */
    private long out;
    /** RecoverFS: the flight when the recovery began. */
    private long recoverFs;
    /**
     * The window set at the last ACK: the pipe then plus sndcnt (as Linux sets cwnd). What may go is this less the
     * pipe now, so a segment the reordering timer marks lost between ACKs leaves room for its retransmission.
     */
    private long window;

    /** A fast recovery begins with this flight (RFC 6937 §3 initialization) and this pipe. */
    void begin(long flight, long pipe) {
        delivered = 0;
        out = 0;
        recoverFs = Math.max(flight, 1);
        window = pipe;
    }

    /** An ACK reported {@code newlyDelivered} bytes delivered: sets what the recovery may send (RFC 6937 §3). */
    void onAck(long newlyDelivered, long pipe, long ssthresh, boolean slowStartBound, int mss) {
        delivered += newlyDelivered;
        long sndcnt;
        if (pipe > ssthresh) {
            sndcnt = (delivered * ssthresh + recoverFs - 1) / recoverFs - out;
        } else if (slowStartBound) {
            sndcnt = Math.min(ssthresh - pipe, Math.max(delivered - out, newlyDelivered) + mss);
        } else {
            sndcnt = Math.min(ssthresh - pipe, delivered - out);
        }
        window = pipe + Math.max(sndcnt, 0);
    }

    /** The recovery sent {@code bytes}. */
    void sent(int bytes) {
        out += bytes;
    }

    /** What the window allows the pipe to reach; less the pipe now, what may go. */
    long window() {
        return window;
    }
}
