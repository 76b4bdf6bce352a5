package io.zstack.tcp;

import io.zstack.tcp.cc.CongestionControl;

/**
 * Was the last window reduction needless? A loss episode (fast recovery or a retransmission timeout) remembers the
 * window and threshold it cut and the ranges it resent; D-SACKs for every one of those resends (RFC 2883 §5) or an
 * ACK echoing a timestamp older than the first resend (RFC 3522 Eifel detection) prove it needless, and the
 * connection then restores what was cut (RFC 4015 response, as Linux undoes).
 */
final class UndoEpisode {
    /** At most this many resent ranges are remembered; resends beyond them still count. */
    private static final int MAX_RANGES = 64;

    /** A reduction may still be undone. */
    private boolean possible;
    private long cwnd;
    private long ssthresh;
    /** SND.UNA when the episode began; an ACK past it echoing a timestamp older than the first resend is Eifel's. */
    private int marker;
    /** When the episode's first retransmission left (0: none yet). */
    private long firstRetransmitNanos;
    /** Retransmissions of the episode not yet reported needless by a D-SACK; the ranges they covered. */
    private int retransmissions;
    private final int[] ranges = new int[2 * MAX_RANGES];
    private int rangeCount;

    boolean possible() {
        return possible;
    }

    /** SND.UNA when the episode began. */
    int marker() {
        return marker;
    }

    /** When the episode's first retransmission left, 0 if none has. */
    long firstRetransmitNanos() {
        return firstRetransmitNanos;
    }

    /**
     * A loss episode begins with the congestion state before its cut: remember what an undo would restore, unless a
     * running episode ({@code insideEpisode}) still can be undone, whose state it keeps.
     */
    void begin(boolean insideEpisode, CongestionControl congestion, int sndUna) {
        if (insideEpisode && possible) {
            return;
        }
        possible = true;
        cwnd = congestion.cwnd();
        ssthresh = congestion.ssthresh();
        marker = sndUna;
        firstRetransmitNanos = 0;
        retransmissions = 0;
        rangeCount = 0;
    }

    /** The episode resent sequence range [seq, end). */
    void retransmitted(int seq, int end, long nowNanos) {
        retransmissions++;
        if (firstRetransmitNanos == 0) {
            firstRetransmitNanos = nowNanos;
        }
        if (rangeCount < MAX_RANGES) {
            ranges[2 * rangeCount] = seq;
            ranges[2 * rangeCount + 1] = end;
            rangeCount++;
        }
    }

    /**
     * The peer reported [s, e) received twice. Returns whether that shows the episode's last needless resend (each
     * resend is shown needless once); a D-SACK matching none changes nothing.
     */
    boolean dsackShowsAllNeedless(int s, int e) {
        for (int i = 0; i < rangeCount; i++) {
            int rs = ranges[2 * i];
            int re = ranges[2 * i + 1];
            if (rs != re && SeqNum.ge(s, rs) && SeqNum.le(e, re)) {
                ranges[2 * i + 1] = rs;
                retransmissions--;
                return retransmissions <= 0;
            }
        }
        return false;
    }

    /** Restores the window and threshold the episode cut; the episode is over. */
    void restore(CongestionControl congestion) {
        congestion.undo(cwnd, ssthresh);
        possible = false;
    }
}
