package io.zstack.channel;

import java.util.Arrays;

/**
 * Says whether a value repeats among the first n of an array of mbuf addresses, in one pass: the write path asks it
 * of every composite it hands to TCP by reference (two pieces of one mbuf would each need their own view of it), and
 * a composite may have thousands of pieces, where comparing every pair cost milliseconds per flush. Not thread-safe:
 * one per channel, its table kept between calls.
 */
final class RepeatFinder {
    /** A value that is no mbuf (an empty piece): never counts as a repeat. */
    static final long NONE = -1;
    /** Up to this many, every pair is compared (no table to clear). */
    private static final int PAIRWISE = 8;

    private long[] table = new long[32];

    /** True when a value other than {@link #NONE} and 0 appears twice in {@code values[0, n)}. */
    boolean repeats(long[] values, int n) {
        if (n <= PAIRWISE) {
            for (int i = 1; i < n; i++) {
                for (int j = 0; j < i; j++) {
                    if (values[j] == values[i] && values[i] != NONE && values[i] != 0) {
                        return true;
                    }
                }
            }
            return false;
        }
        // open addressing in a table of at least twice n slots (0 marks a free one)
        int bits = 33 - Integer.numberOfLeadingZeros(n - 1);
        int size = 1 << bits;
        if (table.length < size) {
            table = new long[size];
        } else {
            Arrays.fill(table, 0, size, 0);
        }
        long[] t = table;
        int mask = size - 1;
        for (int i = 0; i < n; i++) {
            long v = values[i];
            if (v == NONE || v == 0) {
                continue;
            }
            // Fibonacci hashing: addresses a pool's element size apart differ in the product's high bits
            int h = (int) ((v * 0x9E3779B97F4A7C15L) >>> (64 - bits));
            while (t[h] != 0) {
                if (t[h] == v) {
                    return true;
                }
                h = (h + 1) & mask;
            }
            t[h] = v;
        }
        return false;
    }
}
