package io.zstack.tcp;

/**
 * The sender's record of what the receiver has SACKed (RFC 2018, RFC 6675): disjoint, sorted sequence ranges
 * above SND.UNA. Used to skip SACKed data when retransmitting and to detect loss before three duplicate ACKs
 * (RFC 6675 IsLost). Bounded: at most {@link #MAX_RANGES} ranges; when full, the highest ones are forgotten
 * (they matter least for the next retransmission, and forgetting only causes a spurious resend).
 */
final class SackScoreboard {
    static final int MAX_RANGES = 32;

    private final int[] starts = new int[MAX_RANGES];
    private final int[] ends = new int[MAX_RANGES];
    private int count;

    int ranges() {
        return count;
    }

    /** Adds the blocks of one ACK, keeping only those inside (sndUna, sndMax]. D-SACKs (below SND.UNA) are ignored. */
    void update(int[] blockStarts, int[] blockEnds, int blocks, int sndUna, int sndMax) {
        for (int b = 0; b < blocks; b++) {
            int s = blockStarts[b];
            int e = blockEnds[b];
            if (!SeqNum.lt(s, e) || SeqNum.le(e, sndUna) || SeqNum.gt(e, sndMax)) {
                continue; // empty, a D-SACK (RFC 2883), or claims data never sent
            }
            add(SeqNum.max(s, sndUna), e);
        }
    }

    private void add(int s, int e) {
        // find the first range that ends at or after s
        int i = 0;
        while (i < count && SeqNum.lt(ends[i], s)) {
            i++;
        }
        // merge every range that touches [s, e)
        int j = i;
        while (j < count && SeqNum.le(starts[j], e)) {
            s = SeqNum.min(s, starts[j]);
            e = SeqNum.max(e, ends[j]);
            j++;
        }
        int removed = j - i;
        if (removed == 0) {
            if (count == MAX_RANGES) {
                if (i == count) {
                    return; // above everything and no room: forget it
                }
                count--; // drop the highest range
            }
            System.arraycopy(starts, i, starts, i + 1, count - i);
            System.arraycopy(ends, i, ends, i + 1, count - i);
            count++;
        } else if (removed > 1) {
            System.arraycopy(starts, j, starts, i + 1, count - j);
            System.arraycopy(ends, j, ends, i + 1, count - j);
            count -= removed - 1;
        }
        starts[i] = s;
        ends[i] = e;
    }

    /** SND.UNA advanced to {@code ack}: forget what it covers. */
    void acknowledge(int ack) {
        int drop = 0;
        while (drop < count && SeqNum.le(ends[drop], ack)) {
            drop++;
        }
        if (drop > 0) {
            System.arraycopy(starts, drop, starts, 0, count - drop);
            System.arraycopy(ends, drop, ends, 0, count - drop);
            count -= drop;
        }
        if (count > 0 && SeqNum.lt(starts[0], ack)) {
            starts[0] = ack;
        }
    }

    boolean isSacked(int seq) {
        for (int i = 0; i < count; i++) {
            if (SeqNum.le(starts[i], seq) && SeqNum.lt(seq, ends[i])) {
                return true;
            }
        }
        return false;
    }

    /** The first sequence number at or after {@code seq} (and before {@code limit}) that is not SACKed. */
    int nextUnsacked(int seq, int limit) {
        int s = seq;
        for (int i = 0; i < count; i++) {
            if (SeqNum.le(starts[i], s) && SeqNum.lt(s, ends[i])) {
                s = ends[i];
            }
        }
        return SeqNum.lt(s, limit) ? s : limit;
    }

    /** Bytes SACKed above {@code seq}. */
    long sackedAbove(int seq) {
        long total = 0;
        for (int i = 0; i < count; i++) {
            if (SeqNum.gt(ends[i], seq)) {
                total += Integer.toUnsignedLong(ends[i] - SeqNum.max(starts[i], seq + 1));
            }
        }
        return total;
    }

    /**
     * RFC 6675 IsLost: the segment at {@code seq} is lost when at least three segments' worth of data
     * ((DupThresh - 1) * MSS bytes, more precisely) or three discontiguous ranges are SACKed above it.
     */
    boolean isLost(int seq, int mss) {
        int rangesAbove = 0;
        for (int i = 0; i < count; i++) {
            if (SeqNum.gt(starts[i], seq)) {
                rangesAbove++;
            }
        }
        return rangesAbove >= 3 || sackedAbove(seq) > 2L * mss;
    }

    /** IsLost for the hole just below range {@code i}: every octet of a hole has the same SACKed data above it. */
    private boolean holeBelowIsLost(int i, int mss) {
        return isLost(starts[i] - 1, mss);
    }

    /**
     * RFC 6675 SetPipe: the octets between {@code una} and {@code sndMax} the network may still hold. An unSACKed
     * octet counts once unless it is deemed lost, and once more if it was retransmitted (below {@code highRxt}).
     * Every octet of one hole has the same SACKed data above it, so the rule is applied hole by hole.
     */
    long pipe(int una, int sndMax, int highRxt, int mss) {
        long pipe = 0;
        int from = una;
        for (int i = 0; i <= count; i++) {
            int holeEnd = i < count ? starts[i] : sndMax;
            if (SeqNum.lt(from, holeEnd)) {
                boolean lost = i < count && holeBelowIsLost(i, mss);
                if (!lost) {
                    pipe += Integer.toUnsignedLong(holeEnd - from);
                }
                if (SeqNum.gt(highRxt, from)) {
                    pipe += Integer.toUnsignedLong(SeqNum.min(highRxt, holeEnd) - from);
                }
            }
            if (i < count) {
                from = SeqNum.max(from, ends[i]);
            }
        }
        return pipe;
    }

    /**
     * RFC 6675 NextSeg rules 1 and 3: the first unSACKed sequence number at or after {@code from} below the highest
     * SACKed one, among holes deemed lost ({@code lostOnly}) or any. Returns -1 when there is none, otherwise the
     * sequence number as an unsigned value; {@link #holeEndAfter} bounds the segment to send there.
     */
    long nextHole(int from, int una, int mss, boolean lostOnly) {
        int holeStart = una;
        for (int i = 0; i < count; i++) {
            int start = SeqNum.max(holeStart, from);
            if (SeqNum.lt(start, starts[i]) && (!lostOnly || holeBelowIsLost(i, mss))) {
                return Integer.toUnsignedLong(start);
            }
            holeStart = SeqNum.max(holeStart, ends[i]);
        }
        return -1;
    }

    /** Where the hole containing {@code seq} ends: the start of the next SACKed range, or {@code limit}. */
    int holeEndAfter(int seq, int limit) {
        for (int i = 0; i < count; i++) {
            if (SeqNum.gt(starts[i], seq)) {
                return SeqNum.min(starts[i], limit);
            }
        }
        return limit;
    }

    void clear() {
        count = 0;
    }
}
