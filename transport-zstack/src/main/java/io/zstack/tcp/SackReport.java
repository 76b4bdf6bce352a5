package io.zstack.tcp;

/**
 * The SACK blocks our ACKs carry (RFC 2018, RFC 2883): a duplicate's range owed as a D-SACK, then the block of the
 * latest out-of-order arrival, then the other blocks the reassembly queue holds, highest first.
 *
 * <p>Out-of-order data is tracked by stream offset (the reassembly queue's unit); blocks go out as sequence numbers
 * relative to RCV.NXT.
 */
final class SackReport {
    /** The reassembly queue's ranges as [start, end) stream-offset pairs; four fit the largest SACK option. */
    private final long[] ranges = new long[8];
    private final long[] around = new long[2];
    /** A duplicate segment's range, reported once in the first block of the next ACK (RFC 2883 §4). */
    private boolean dsackPending;
    private int dsackStart;
    private int dsackEnd;
    /** Stream range of the segment most recently received out of order, first among the SACK blocks. */
    private long lastOutOfOrderStart = -1;
    private long lastOutOfOrderEnd = -1;

    /** A segment brought sequence range [start, end) we already had: the next ACK reports it as a D-SACK. */
    void duplicate(int start, int end) {
        dsackPending = true;
        dsackStart = start;
        dsackEnd = end;
    }

    /** Stream range [start, end) arrived out of order and was kept: its block goes first (RFC 2018 §4). */
    void outOfOrder(long start, long end) {
        lastOutOfOrderStart = start;
        lastOutOfOrderEnd = end;
    }

    /**
     * Fills the SACK blocks to send; returns how many, at most {@code max}. A pending D-SACK goes out with this ACK
     * only. {@code receiveOffset} is the stream offset of {@code rcvNxt}.
     */
    int fill(int[] starts, int[] ends, int max, int rcvNxt, long receiveOffset, ReassemblyQueue reassembly,
             TcpCounters counters) {
        int n = 0;
        long dsackOffset = -1;
        if (dsackPending) {
            // RFC 2883 §4: the duplicate's range first, in the next ACK only
            starts[0] = dsackStart;
            ends[0] = dsackEnd;
            n = 1;
            dsackPending = false;
            counters.dsacksSent++;
            if (SeqNum.ge(dsackStart, rcvNxt)) {
                dsackOffset = receiveOffset + SeqNum.diff(dsackStart, rcvNxt);
            }
        }
        if (reassembly.isEmpty()) {
            return n;
        }
        int first = n;
        int pairs = reassembly.ranges(ranges);
        // RFC 2883 §4: a duplicate above the cumulative ACK is followed by the block that holds it; then the block of
        // the latest out-of-order arrival (RFC 2018 §4); then the others, highest first
        for (int pass = 0; pass < 2 && n < max; pass++) {
            long at = pass == 0 ? dsackOffset : lastOutOfOrderStart;
            long atEnd = pass == 0 ? dsackOffset + SeqNum.diff(dsackEnd, dsackStart) : lastOutOfOrderEnd;
            if (at < 0) {
                continue;
            }
            if (reassembly.rangeAround(at, atEnd, around)) {
                n = add(starts, ends, first, n, around[0], around[1], rcvNxt, receiveOffset);
            }
        }
        for (int i = pairs - 1; i >= 0 && n < max; i--) {
            n = add(starts, ends, first, n, ranges[2 * i], ranges[2 * i + 1], rcvNxt, receiveOffset);
        }
        return n;
    }

    /** Appends stream range [from, to) as a SACK block unless one of blocks [first, n) already reports it. */
    private static int add(int[] starts, int[] ends, int first, int n, long from, long to, int rcvNxt,
                           long receiveOffset) {
        int s = rcvNxt + (int) (from - receiveOffset);
        for (int k = first; k < n; k++) {
            if (starts[k] == s) {
                return n;
            }
        }
        starts[n] = s;
        ends[n] = rcvNxt + (int) (to - receiveOffset);
        return n + 1;
    }
}
