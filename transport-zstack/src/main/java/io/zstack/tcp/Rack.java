package io.zstack.tcp;

/**
 * RACK-TLP's state (RFC 8985): the most recently sent segment known delivered (RACK.xmit_ts, RACK.end_seq), its
 * RTT (RACK.rtt), the reordering window with its D-SACK driven adaptation, and the Tail Loss Probe episode. Pure
 * state with explicit time; {@link SentSegments} feeds it the delivered segments and asks it which segments were
 * sent before the latest delivered one. All times are nanoseconds.
 */
final class Rack {
    /** RFC 8985 §6.2: segments SACKed above a hole before it counts as lost without waiting (DupThresh). */
    static final int DUP_THRESH = 3;
    /** Recoveries a widened reordering window persists for after its last D-SACK (RFC 8985 §6.2 step 4). */
    static final int REO_WND_PERSIST = 16;
    /** Linux's TCP_DELACK_MAX: how long a receiver may delay the ACK of a lone segment (the PTO waits for it). */
    static final long WORST_CASE_DELAYED_ACK_NANOS = 200_000_000L;
    /** Added to 2 SRTT when more than one segment is in flight, as Linux's TCP_TIMEOUT_MIN (2 ms). */
    static final long PTO_SLACK_NANOS = 2_000_000L;
    /** PTO before any RTT sample (RFC 8985 §7.2: 1 s). */
    static final long PTO_WITHOUT_RTT_NANOS = 1_000_000_000L;

    private long xmitNanos = Long.MIN_VALUE;
    /** Transmission order of the RACK segment: ties of equal times go to the later transmission. */
    private long xmitOrder;
    private long rtt;
    private long minRtt = Long.MAX_VALUE;
    /** Highest end of a delivered segment (RACK.fack). */
    private int fack;
    private boolean fackValid;
    private boolean reorderingSeen;
    private int reoWndMult = 1;
    private int reoWndPersist;
    /** SND.NXT when the window was last widened for a D-SACK; no second widening before SND.UNA passes it. */
    private int dsackRound;
    private boolean dsackRoundValid;

    // ---- Tail Loss Probe (RFC 8985 §7)
    /** A probe is out: SND.NXT when it was sent (TLP.end_seq). */
    boolean tlpOutstanding;
    int tlpEndSeq;
    /** The probe was a retransmission (TLP.is_retrans), not new data. */
    boolean tlpIsRetransmission;

    /**
     * A segment was delivered (cumulatively ACKed or SACKed) by the ACK being processed: RFC 8985 §6.2 steps 2 and 3.
     * {@code echoNanos} is when the ACK's echoed timestamp was sent (Long.MIN_VALUE without timestamps).
     */
    void delivered(long segXmitNanos, long segOrder, int segEnd, boolean retransmitted, long echoNanos,
                   long nowNanos) {
        long sample = nowNanos - segXmitNanos;
        if (retransmitted) {
            // ambiguous: the ACK may be for the original, which an echoed timestamp older than the resend or an RTT
            // below the minimum shows (either suffices, as in the RFC). Our timestamps count milliseconds: the echo of
            // an original sent in the resend's millisecond looks like the resend's, and the RTT of about 0 it gave
            // made RACK deem the whole flight lost (dozens of needless resends per episode with BBR's flights in the
            // simulation)
            if (echoNanos != Long.MIN_VALUE && echoNanos < segXmitNanos - 1_000_000L || sample < minRtt) {
                return;
            }
        } else if (fackValid && SeqNum.lt(segEnd, fack)) {
            reorderingSeen = true; // delivered below the highest delivered sequence, and never resent: reordered
        }
        if (!retransmitted) {
            minRtt = Math.min(minRtt, sample);
        }
        if (!fackValid || SeqNum.gt(segEnd, fack)) {
            fack = segEnd;
            fackValid = true;
        }
        if (sentAfter(segXmitNanos, segOrder) || segOrder == xmitOrder) {
            return; // the RACK segment is already a later one
        }
        rtt = sample;
        xmitNanos = segXmitNanos;
        xmitOrder = segOrder;
    }

    /**
     * RACK_sent_after: whether the RACK segment was sent after the given one. RFC 8985 breaks ties of equal times by
     * sequence number; the order of transmission breaks them exactly (a retransmission sent in the same instant as
     * later originals were is still the later one).
     */
    boolean sentAfter(long segXmitNanos, long segOrder) {
        return xmitNanos > segXmitNanos || (xmitNanos == segXmitNanos && xmitNanos != Long.MIN_VALUE
                && xmitOrder > segOrder);
    }

    boolean hasDelivered() {
        return xmitNanos != Long.MIN_VALUE;
    }

    long rtt() {
        return rtt;
    }

    long minRtt() {
        return minRtt == Long.MAX_VALUE ? 0 : minRtt;
    }

    boolean reorderingSeen() {
        return reorderingSeen;
    }

    int reoWndMult() {
        return reoWndMult;
    }

    /**
     * RFC 8985 §6.2 step 4: a D-SACK on this ACK widens the window by a quarter of the minimum RTT, at most once per
     * round trip ({@code sndUna}, {@code sndNxt}), for the next {@link #REO_WND_PERSIST} recoveries.
     */
    void onDsack(int sndUna, int sndNxt) {
        if (dsackRoundValid && SeqNum.ge(sndUna, dsackRound)) {
            dsackRoundValid = false;
        }
        if (!dsackRoundValid) {
            dsackRoundValid = true;
            dsackRound = sndNxt;
            reoWndMult++;
            reoWndPersist = REO_WND_PERSIST;
        }
    }

    /** A recovery ended: a widened window counts it, and shrinks back once it persisted long enough. */
    void onRecoveryEnd() {
        if (reoWndPersist > 0 && --reoWndPersist == 0) {
            reoWndMult = 1;
        }
    }

    /**
     * RACK.reo_wnd: zero while no reordering was seen and either a recovery is on or DupThresh segments are SACKed
     * (as fast as the classic three duplicate ACKs); otherwise a quarter of the minimum RTT per step, at most SRTT.
     */
    long reorderingWindow(boolean inRecovery, int segmentsSacked, long srtt) {
        if (!reorderingSeen && (inRecovery || segmentsSacked >= DUP_THRESH)) {
            return 0;
        }
        long w = (long) reoWndMult * (minRtt() / 4);
        return srtt > 0 ? Math.min(w, srtt) : w;
    }

    /**
     * The probe timeout (RFC 8985 §7.2): two SRTTs, plus the worst-case delayed ACK when one segment is in flight (its
     * ACK may be delayed), else a small slack; 1 s without an RTT sample.
     */
    static long probeTimeout(boolean hasRtt, long srtt, boolean oneSegmentInFlight) {
        if (!hasRtt) {
            return PTO_WITHOUT_RTT_NANOS;
        }
        return 2 * srtt + (oneSegmentInFlight ? WORST_CASE_DELAYED_ACK_NANOS : PTO_SLACK_NANOS);
    }
}
