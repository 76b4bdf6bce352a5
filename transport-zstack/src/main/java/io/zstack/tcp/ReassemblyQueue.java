package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import java.util.Arrays;

/**
 * Out-of-order received segments, held as the mbufs they arrived in (never copied), sorted by stream offset and
 * never overlapping: overlaps are trimmed on insert, so duplicated or re-segmented retransmissions cost nothing.
 * Bounded in bytes and in entries; a segment that does not fit is dropped (the sender retransmits it). The arrays
 * start empty and grow to the most entries held: most connections never see a segment out of order, and a server
 * accepting thousands of connections a second allocated 20 KiB of them per connection (63% of its allocation).
 */
final class ReassemblyQueue {
    private final MbufPool pool;
    private final int maxEntries;
    private long[] starts = new long[0];
    private int[] lengths = new int[0];
    private long[] chains = new long[0];
    private int count;
    private long bytes;

    ReassemblyQueue(MbufPool pool, int maxEntries) {
        this.pool = pool;
        this.maxEntries = maxEntries;
    }

    /** Room for one more entry, up to maxEntries (the caller checked count < maxEntries). */
    private void ensureRoom() {
        if (count == starts.length) {
            int n = Math.min(maxEntries, Math.max(8, count * 2));
            starts = Arrays.copyOf(starts, n);
            lengths = Arrays.copyOf(lengths, n);
            chains = Arrays.copyOf(chains, n);
        }
    }

    int entries() {
        return count;
    }

    long bytes() {
        return bytes;
    }

    boolean isEmpty() {
        return count == 0;
    }

    /**
     * Stores a chain of {@code length} bytes starting at stream offset {@code start}, taking ownership. Returns the
     * number of bytes of it kept (0 when all of it was held already), or -1 if it was dropped for lack of room.
     */
    int insert(long start, long chain, int length) {
        long end = start + length;
        // first entry that ends after our start
        int i = 0;
        while (i < count && starts[i] + lengths[i] <= start) {
            i++;
        }
        if (i < count && starts[i] <= start) {
            long coveredTo = starts[i] + lengths[i];
            if (coveredTo >= end) {
                pool.free(chain); // wholly inside what we hold
                return 0;
            }
            int cut = (int) (coveredTo - start);
            chain = Mbuf.trimFront(pool, chain, cut);
            start = coveredTo;
            length -= cut;
            i++;
        }
        // entries wholly covered by the new data go; a partly covered one trims the new data's end
        int j = i;
        while (j < count && starts[j] < end) {
            long entryEnd = starts[j] + lengths[j];
            if (entryEnd <= end) {
                pool.free(chains[j]);
                bytes -= lengths[j];
                j++;
            } else {
                int keep = (int) (starts[j] - start);
                if (keep == 0) {
                    pool.free(chain); // the rest of it is already held (adjacent entries cover it)
                    return 0;
                }
                chain = Mbuf.trimTo(pool, chain, keep);
                length = keep;
                end = start + keep;
                break;
            }
        }
        int removed = j - i;
        if (removed == 0 && count == maxEntries) {
            pool.free(chain); // no slot: drop it, the sender will retransmit
            return -1;
        }
        if (removed == 0) {
            ensureRoom();
        }
        // close the gap [i, j) to one slot at i
        int shift = removed - 1;
        if (shift > 0) {
            System.arraycopy(starts, j, starts, i + 1, count - j);
            System.arraycopy(lengths, j, lengths, i + 1, count - j);
            System.arraycopy(chains, j, chains, i + 1, count - j);
        } else if (shift < 0) {
            System.arraycopy(starts, i, starts, i + 1, count - i);
            System.arraycopy(lengths, i, lengths, i + 1, count - i);
            System.arraycopy(chains, i, chains, i + 1, count - i);
        }
        count -= shift;
        starts[i] = start;
        lengths[i] = length;
        chains[i] = chain;
        bytes += length;
        return length;
    }

    /**
     * Moves entries that continue the in-order stream at {@code next} into {@code into}, trimming any part below
     * {@code next}, and returns the new next offset.
     */
    long drainInto(long next, ReceiveQueue into) {
        while (count > 0 && starts[0] <= next) {
            long chain = chains[0];
            long start = starts[0];
            int length = lengths[0];
            removeFirst();
            if (start + length <= next) {
                pool.free(chain);
                continue;
            }
            if (start < next) {
                int cut = (int) (next - start);
                chain = Mbuf.trimFront(pool, chain, cut);
                length -= cut;
            }
            into.add(chain, length);
            next += length;
        }
        return next;
    }

    private void removeFirst() {
        bytes -= lengths[0];
        count--;
        System.arraycopy(starts, 1, starts, 0, count);
        System.arraycopy(lengths, 1, lengths, 0, count);
        System.arraycopy(chains, 1, chains, 0, count);
    }

    /**
     * Writes the held ranges, merged where contiguous, as (start, end) pairs into {@code out}; returns the number
     * of pairs written (at most out.length / 2), lowest first. For SACK blocks.
     */
    int ranges(long[] out) {
        int pairs = 0;
        for (int i = 0; i < count && pairs * 2 < out.length; i++) {
            long s = starts[i];
            long e = s + lengths[i];
            while (i + 1 < count && starts[i + 1] == e) {
                i++;
                e = starts[i] + lengths[i];
            }
            out[pairs * 2] = s;
            out[pairs * 2 + 1] = e;
            pairs++;
        }
        return pairs;
    }

    /**
     * The held range, merged where contiguous, that contains [at, atEnd): written as (start, end) into out[0..1];
     * false if no range holds all of it. For the SACK block that must come first whichever of the ranges it is.
     */
    boolean rangeAround(long at, long atEnd, long[] out) {
        int lo = 0;
        int hi = count - 1;
        int found = -1;
        while (lo <= hi) { // the last entry starting at or before {@code at}
            int mid = (lo + hi) >>> 1;
            if (starts[mid] <= at) {
                found = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (found < 0 || starts[found] + lengths[found] < at) {
            return false;
        }
        int first = found;
        while (first > 0 && starts[first - 1] + lengths[first - 1] == starts[first]) {
            first--;
        }
        int last = found;
        while (last + 1 < count && starts[last] + lengths[last] == starts[last + 1]) {
            last++;
        }
        long end = starts[last] + lengths[last];
        if (atEnd > end) {
            return false;
        }
        out[0] = starts[first];
        out[1] = end;
        return true;
    }

    /** Highest stream offset held (exclusive), or -1 when empty. */
    long highestEnd() {
        return count == 0 ? -1 : starts[count - 1] + lengths[count - 1];
    }

    void clear() {
        for (int i = 0; i < count; i++) {
            pool.free(chains[i]);
        }
        count = 0;
        bytes = 0;
    }
}
