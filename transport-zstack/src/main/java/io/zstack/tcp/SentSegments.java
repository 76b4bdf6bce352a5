package io.zstack.tcp;

import java.util.Arrays;

/**
 * The sender's per-segment record of what is in flight: each segment sent and not yet cumulatively acknowledged, in
 * sequence order, with when it was last (re)transmitted and whether the receiver SACKed it, it is deemed lost, and it
 * was retransmitted. RACK (RFC 8985) reads the transmit times to mark losses; the recovery sends what is lost and not
 * yet retransmitted; the pipe (RFC 6675 §2, as Linux counts it: in flight = sent - SACKed - lost + retransmitted) is
 * kept up to date as the flags change.
 *
 * <p>A record covers one transmission's sequence range. Later events that cover part of a record (a SACK block, a
 * retransmission cut to a smaller MSS, a cumulative ACK inside it) split it, so each record's flags hold for all of
 * its octets. Arrays, no allocation once grown to the largest flight seen. Single-threaded.
 */
final class SentSegments {
    static final int SACKED = 1;
    /** Deemed lost (by RACK or a timeout) and not repaired by a SACK or an ACK since. */
    static final int LOST = 2;
    /** The latest transmission is a retransmission that is still in flight (not itself deemed lost). */
    static final int RETRANS = 4;
    /** Retransmitted at least once (RACK ignores ambiguous ACKs of such segments, RFC 8985 §6.2 step 2). */
    static final int EVER_RETRANS = 8;
    /** Sent while the application limited the flight (delivery rate estimation's P.is_app_limited). */
    static final int APP_LIMITED = 16;

    /** The delivery rate estimator whose stamps each transmission records. */
    final DeliveryRateSampler rate = new DeliveryRateSampler();

    // 8 records to start with (a request/response connection needs no more), doubled as a flight needs
    private int[] starts = new int[8];
    private int[] ends = new int[8];
    private long[] xmit = new long[8];
    private byte[] flags = new byte[8];
    /** Order of the transmissions, breaking ties between segments sent at the same instant. */
    private long[] order = new long[8];
    /** Delivery rate stamps of the latest transmission: delivered count, its time, and the flight's first send. */
    private long[] stampDelivered = new long[8];
    private long[] stampDeliveredTime = new long[8];
    private long[] stampFirstSent = new long[8];
    private long transmissions;
    private int head;
    private int count;

    /** Bytes recorded (SND.UNA to the end of the last record), and of those, SACKed, lost and retransmitted. */
    private long totalBytes;
    private long sackedBytes;
    private long lostBytes;
    /** Bytes ever deemed lost (each marking counted once): what an ACK's RACK pass or a timeout added. */
    private long lostMarkedBytes;
    private long retransBytes;
    private int sackedSegments;
    /**
     * Of the records the latest {@link #acknowledge} newly delivered: the send time of the oldest one sent only once,
     * and whether any was sent more than once (its ACK may answer either transmission: no sample, Karn's rule).
     */
    private long oldestAckedXmit;
    private boolean retransmittedAcked;

    int size() {
        return count;
    }

    boolean isEmpty() {
        return count == 0;
    }

    long sackedBytes() {
        return sackedBytes;
    }

    /** Records SACKed: the segment count RACK compares with DupThresh. */
    int sackedSegments() {
        return sackedSegments;
    }

    long lostBytes() {
        return lostBytes;
    }

    /** Bytes deemed lost so far, counted once per marking; only grows. */
    long lostMarkedBytes() {
        return lostMarkedBytes;
    }

    /** Octets the network may still hold: sent - SACKed - lost + retransmitted (unSACKed ones). */
    long pipe() {
        return totalBytes - sackedBytes - lostBytes + retransBytes;
    }

    int start(int i) {
        return starts[head + i];
    }

    int end(int i) {
        return ends[head + i];
    }


    void clear() {
        head = 0;
        count = 0;
        totalBytes = 0;
        sackedBytes = 0;
        lostBytes = 0;
        retransBytes = 0;
        sackedSegments = 0;
    }

    /**
     * [seq, end) left at {@code nowNanos}. Octets beyond the last record are new; octets already recorded were sent
     * again (a retransmission). Returns whether any of it was a retransmission.
     */
    boolean sent(int seq, int end, long nowNanos) {
        if (!SeqNum.lt(seq, end)) {
            return false;
        }
        boolean again = false;
        if (count > 0 && SeqNum.lt(seq, ends[head + count - 1])) {
            int from = SeqNum.max(seq, starts[head]);
            int to = SeqNum.min(end, ends[head + count - 1]);
            if (SeqNum.lt(from, to)) {
                splitAt(from);
                splitAt(to);
                for (int i = indexOf(from); i < count && SeqNum.lt(starts[head + i], to); i++) {
                    int k = head + i;
                    setFlags(k, flags[k] | RETRANS | EVER_RETRANS);
                    xmit[k] = nowNanos;
                    order[k] = transmissions + 1;
                    stamp(k);
                    again = true;
                }
            }
            seq = SeqNum.max(seq, ends[head + count - 1]);
            if (!SeqNum.lt(seq, end)) {
                transmissions++;
                return again;
            }
        }
        append(seq, end, nowNanos);
        transmissions++;
        return again;
    }

    private void append(int seq, int end, long nowNanos) {
        if (head + count == starts.length) {
            makeRoom();
        }
        if (count == 0) {
            rate.flightStarts(nowNanos);
        }
        int k = head + count;
        starts[k] = seq;
        ends[k] = end;
        xmit[k] = nowNanos;
        order[k] = transmissions + 1;
        flags[k] = 0;
        stamp(k);
        count++;
        totalBytes += Integer.toUnsignedLong(end - seq);
    }

    /** Records the delivery rate estimator's stamps with record {@code k}'s latest transmission. */
    private void stamp(int k) {
        stampDelivered[k] = rate.delivered();
        stampDeliveredTime[k] = rate.deliveredTime();
        stampFirstSent[k] = rate.firstSentTime();
        flags[k] = (byte) (rate.appLimited() ? flags[k] | APP_LIMITED : flags[k] & ~APP_LIMITED);
    }

    /** Record {@code k} (not SACKed before) was delivered: to RACK and the delivery rate estimator. */
    private void delivered(int k, Rack rack, long echoNanos, long nowNanos) {
        int f = flags[k];
        boolean everRetransmitted = (f & EVER_RETRANS) != 0;
        rack.delivered(xmit[k], order[k], ends[k], everRetransmitted, echoNanos, nowNanos);
        rate.segmentDelivered(Integer.toUnsignedLong(ends[k] - starts[k]), stampDelivered[k], stampDeliveredTime[k],
                stampFirstSent[k], (f & APP_LIMITED) != 0, xmit[k], everRetransmitted, nowNanos);
    }

    /** Moves the records to the front of the arrays, or grows them. */
    private void makeRoom() {
        if (head > starts.length / 2) {
            System.arraycopy(starts, head, starts, 0, count);
            System.arraycopy(ends, head, ends, 0, count);
            System.arraycopy(xmit, head, xmit, 0, count);
            System.arraycopy(flags, head, flags, 0, count);
            System.arraycopy(order, head, order, 0, count);
            System.arraycopy(stampDelivered, head, stampDelivered, 0, count);
            System.arraycopy(stampDeliveredTime, head, stampDeliveredTime, 0, count);
            System.arraycopy(stampFirstSent, head, stampFirstSent, 0, count);
            head = 0;
            return;
        }
        int n = starts.length * 2;
        starts = Arrays.copyOf(starts, n);
        ends = Arrays.copyOf(ends, n);
        xmit = Arrays.copyOf(xmit, n);
        flags = Arrays.copyOf(flags, n);
        order = Arrays.copyOf(order, n);
        stampDelivered = Arrays.copyOf(stampDelivered, n);
        stampDeliveredTime = Arrays.copyOf(stampDeliveredTime, n);
        stampFirstSent = Arrays.copyOf(stampFirstSent, n);
    }

    /** Index (from 0) of the record that contains {@code seq}, or {@link #count} if none does. */
    private int indexOf(int seq) {
        // binary search: records are sorted and disjoint
        int lo = 0;
        int hi = count - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            int k = head + mid;
            if (SeqNum.lt(seq, starts[k])) {
                hi = mid - 1;
            } else if (SeqNum.ge(seq, ends[k])) {
                lo = mid + 1;
            } else {
                return mid;
            }
        }
        return count;
    }

    /** Splits the record containing {@code seq} so that a record starts exactly there. */
    private void splitAt(int seq) {
        int i = indexOf(seq);
        if (i == count || starts[head + i] == seq) {
            return;
        }
        if (head + count == starts.length) {
            makeRoom();
        }
        int k = head + i;
        System.arraycopy(starts, k + 1, starts, k + 2, count - i - 1);
        System.arraycopy(ends, k + 1, ends, k + 2, count - i - 1);
        System.arraycopy(xmit, k + 1, xmit, k + 2, count - i - 1);
        System.arraycopy(flags, k + 1, flags, k + 2, count - i - 1);
        System.arraycopy(order, k + 1, order, k + 2, count - i - 1);
        System.arraycopy(stampDelivered, k + 1, stampDelivered, k + 2, count - i - 1);
        System.arraycopy(stampDeliveredTime, k + 1, stampDeliveredTime, k + 2, count - i - 1);
        System.arraycopy(stampFirstSent, k + 1, stampFirstSent, k + 2, count - i - 1);
        starts[k + 1] = seq;
        ends[k + 1] = ends[k];
        xmit[k + 1] = xmit[k];
        flags[k + 1] = flags[k];
        order[k + 1] = order[k];
        stampDelivered[k + 1] = stampDelivered[k];
        stampDeliveredTime[k + 1] = stampDeliveredTime[k];
        stampFirstSent[k + 1] = stampFirstSent[k];
        ends[k] = seq;
        count++;
        if ((flags[k] & SACKED) != 0) {
            sackedSegments++;
        }
    }

    /** Changes a record's flags, keeping the byte counts. */
    private void setFlags(int k, int f) {
        long len = Integer.toUnsignedLong(ends[k] - starts[k]);
        int old = flags[k];
        sackedBytes += len * (((f & SACKED) != 0 ? 1 : 0) - ((old & SACKED) != 0 ? 1 : 0));
        sackedSegments += ((f & SACKED) != 0 ? 1 : 0) - ((old & SACKED) != 0 ? 1 : 0);
        lostBytes += len * (counted(f, LOST) - counted(old, LOST));
        if ((f & LOST) != 0 && (old & LOST) == 0) {
            lostMarkedBytes += len;
        }
        retransBytes += len * (counted(f, RETRANS) - counted(old, RETRANS));
        flags[k] = (byte) f;
    }

    /** Lost and retransmitted count in the pipe only while the octets are not SACKed. */
    private static int counted(int f, int bit) {
        return (f & bit) != 0 && (f & SACKED) == 0 ? 1 : 0;
    }

    /**
     * SND.UNA moved to {@code una}: drops what it covers. Each record newly delivered (not SACKed before) is handed
     * to {@code rack}; returns the bytes newly delivered that way.
     */
    long acknowledge(int una, Rack rack, long echoNanos, long nowNanos) {
        oldestAckedXmit = Long.MIN_VALUE;
        retransmittedAcked = false;
        return acknowledgeRecords(una, rack, echoNanos, nowNanos);
    }

    private long acknowledgeRecords(int una, Rack rack, long echoNanos, long nowNanos) {
        long delivered = 0;
        while (count > 0 && SeqNum.le(ends[head], una)) {
            int f = flags[head];
            long len = Integer.toUnsignedLong(ends[head] - starts[head]);
            if ((f & SACKED) == 0) {
                delivered += len;
                delivered(head, rack, echoNanos, nowNanos);
                if ((f & EVER_RETRANS) != 0) {
                    retransmittedAcked = true;
                } else if (oldestAckedXmit == Long.MIN_VALUE) {
                    oldestAckedXmit = xmit[head];
                }
            }
            if ((f & (SACKED | LOST | RETRANS)) != 0) {
                setFlags(head, 0); // out of the SACKed, lost and retransmitted counts; a clean record is in none
            }
            totalBytes -= len;
            head++;
            count--;
        }
        if (count > 0 && SeqNum.lt(starts[head], una)) {
            splitAt(una);
            return delivered + acknowledgeRecords(una, rack, echoNanos, nowNanos);
        }
        if (count == 0) {
            head = 0;
        }
        return delivered;
    }

    /**
     * The round-trip time the latest {@link #acknowledge} measured (Linux's seq_rtt): from the send of the oldest
     * record it newly delivered to {@code nowNanos}, in the clock of the transmissions (nanoseconds, where the
     * timestamp option counts milliseconds: a same-host or LAN round trip is 0 or 1 ms there). -1 when it delivered
     * nothing new (all SACKed before) or a record sent more than once (Karn).
     */
    long cumulativeAckRtt(long nowNanos) {
        if (retransmittedAcked || oldestAckedXmit == Long.MIN_VALUE) {
            return -1;
        }
        return Math.max(0, nowNanos - oldestAckedXmit);
    }

    /** Whether the latest {@link #acknowledge} newly delivered a record sent more than once. */
    boolean retransmissionAcknowledged() {
        return retransmittedAcked;
    }

    /**
     * A SACK block [s, e): marks what it covers SACKed, hands each newly SACKed record to {@code rack}, and returns
     * the bytes newly SACKed.
     */
    long sack(int s, int e, Rack rack, long echoNanos, long nowNanos) {
        if (count == 0) {
            return 0;
        }
        s = SeqNum.max(s, starts[head]);
        e = SeqNum.min(e, ends[head + count - 1]);
        if (!SeqNum.lt(s, e)) {
            return 0;
        }
        splitAt(s);
        splitAt(e);
        long delivered = 0;
        for (int i = indexOf(s); i < count && SeqNum.lt(starts[head + i], e); i++) {
            int k = head + i;
            int f = flags[k];
            if ((f & SACKED) == 0) {
                delivered += Integer.toUnsignedLong(ends[k] - starts[k]);
                delivered(k, rack, echoNanos, nowNanos);
                setFlags(k, (f | SACKED) & ~(LOST | RETRANS));
            }
        }
        return delivered;
    }

    /**
     * RACK's loss marking (RFC 8985 §6.2 step 5): every unSACKed segment sent before the most recently delivered one,
     * and longer ago than RACK.rtt + {@code reoWnd}, is lost. Returns the time until the next segment would qualify
     * (for the reordering timer), or 0; {@link #markedLost} says how many were marked.
     */
    long detectLoss(Rack rack, long reoWnd, long nowNanos) {
        long timeout = 0;
        markedLost = 0;
        for (int i = 0; i < count; i++) {
            int k = head + i;
            int f = flags[k];
            if ((f & SACKED) != 0 || (f & (LOST | RETRANS)) == LOST) {
                continue; // delivered, or lost and waiting for its retransmission
            }
            if (!rack.sentAfter(xmit[k], order[k])) {
                continue;
            }
            long remaining = xmit[k] + rack.rtt() + reoWnd - nowNanos;
            if (remaining <= 0) {
                setFlags(k, (f | LOST) & ~RETRANS);
                markedLost++;
            } else {
                timeout = Math.max(timeout, remaining);
            }
        }
        return timeout;
    }

    int markedLost;

    /** A retransmission timeout: every unSACKed octet is deemed lost, retransmitted or not (RFC 8985 §6.3). */
    void markAllLost() {
        for (int i = 0; i < count; i++) {
            int k = head + i;
            if ((flags[k] & SACKED) == 0) {
                setFlags(k, (flags[k] | LOST) & ~RETRANS);
            }
        }
    }

    /** Index of the first record deemed lost and not yet retransmitted, or -1. */
    int firstLostNotRetransmitted() {
        if (lostBytes == 0) {
            return -1;
        }
        for (int i = 0; i < count; i++) {
            if ((flags[head + i] & (SACKED | LOST | RETRANS)) == LOST) {
                return i;
            }
        }
        return -1;
    }

    /** End of the run of adjacent records, from index {@code i}, that are lost and not yet retransmitted. */
    int lostRunEnd(int i) {
        int k = head + i;
        int end = ends[k];
        for (int j = k + 1; j < head + count && starts[j] == end && (flags[j] & (SACKED | LOST | RETRANS)) == LOST;
             j++) {
            end = ends[j];
        }
        return end;
    }

    /** An undo: the losses assumed were not real (retransmissions in flight stay counted). */
    void unmarkLost() {
        for (int i = 0; i < count; i++) {
            int k = head + i;
            if ((flags[k] & LOST) != 0) {
                setFlags(k, flags[k] & ~LOST);
            }
        }
    }
}
