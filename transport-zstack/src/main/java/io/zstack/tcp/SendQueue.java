package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import java.lang.foreign.MemorySegment;

/**
 * The bytes a connection has been given to send and that are not yet acknowledged, held as references to the mbufs
 * the application wrote (never copied). Positions are stream offsets ({@code long}, counted from the first byte
 * ever queued), so sequence-number wraparound stays the connection's business.
 *
 * <p>Each piece is one mbuf segment plus the range of its buffer that holds queued bytes. The range is kept here,
 * not in the mbuf, because a NIC may still hold the mbuf (its data_off changed by headers prepended in place)
 * while a retransmission needs the original bytes. {@link #slice} builds indirect views for a segment to send;
 * {@link #acknowledge} drops whole pieces and narrows the first.
 */
final class SendQueue {
    private final MbufPool pool;
    private long[] mbufs = new long[64];
    private long[] dataAddress = new long[64];
    private int[] length = new int[64];
    private long[] startOffset = new long[64];
    private int head;
    private int count;
    /** Stream offset of the first unacknowledged byte. */
    private long startOfQueue;
    /** Stream offset just past the last queued byte. */
    private long endOfQueue;
    /** What the queued pieces pin of the pools, as Linux counts skb truesize: see {@link #charge}. */
    private long memory;
    private int capacityMask = 63;

    SendQueue(MbufPool pool) {
        this.pool = pool;
    }

    /** Queued, unacknowledged bytes. */
    long size() {
        return endOfQueue - startOfQueue;
    }

    long start() {
        return startOfQueue;
    }

    long end() {
        return endOfQueue;
    }

    int pieces() {
        return count;
    }

    /** Pool memory the queue pins: the send buffer limits this as well as the bytes (see {@link #charge}). */
    long memory() {
        return memory;
    }

    /**
     * A piece pins a whole mbuf whatever it holds: counting bytes alone, writes of a few bytes each could take every
     * mbuf of the pool into one send queue (the stress test's 3-byte echo did, and the connection then had none left
     * to send with). Each piece counts at least one regular mbuf's data room.
     */
    private long charge(int len) {
        return Math.max(len, pool.dataRoom());
    }

    /**
     * Room after the last piece's bytes that a copy may fill ({@link #extendTail}): 0 unless that piece is a direct
     * mbuf that nothing but this queue references (not in flight, no view of it anywhere), so bytes written past
     * the piece are seen by no one else.
     */
    int tailRoom() {
        if (count == 0) {
            return 0;
        }
        int i = (head + count - 1) & capacityMask;
        long m = mbufs[i];
        if (Mbuf.isIndirect(m) || pool.refcnt(m) != 1) {
            return 0;
        }
        long bufferEnd = Mbuf.bufAddr(m) + Mbuf.bufLen(m);
        return (int) Math.max(0, bufferEnd - (dataAddress[i] + length[i]));
    }

    /** Where {@link #tailRoom} starts. */
    long tailAddress() {
        int i = (head + count - 1) & capacityMask;
        return dataAddress[i] + length[i];
    }

    /** Queues {@code n} bytes written at {@link #tailAddress}, at most {@link #tailRoom}. */
    void extendTail(int n) {
        if (n < 0 || n > tailRoom()) {
            throw new IllegalArgumentException("extendTail " + n + ", room " + tailRoom());
        }
        int i = (head + count - 1) & capacityMask;
        memory += charge(length[i] + n) - charge(length[i]);
        length[i] += n;
        endOfQueue += n;
    }

    /**
     * Takes ownership of an mbuf chain whose data (every segment's data_len bytes) is to be sent. Empty segments are
     * freed at once. Returns the number of bytes queued.
     */
    int append(long chain) {
        int total = 0;
        long seg = chain;
        while (seg != 0) {
            long next = Mbuf.next(seg);
            int len = Mbuf.dataLen(seg);
            if (len == 0) {
                pool.freeSegment(seg);
            } else {
                if (count == mbufs.length) {
                    grow();
                }
                int i = (head + count) & capacityMask;
                mbufs[i] = seg;
                dataAddress[i] = Mbuf.dataAddress(seg);
                length[i] = len;
                startOffset[i] = endOfQueue;
                count++;
                endOfQueue += len;
                memory += charge(len);
                total += len;
            }
            seg = next;
        }
        // the chain's links now belong to nobody: each piece is freed alone (freeSegment), never as a chain
        return total;
    }

    private void grow() {
        int n = mbufs.length * 2;
        long[] m = new long[n];
        long[] a = new long[n];
        int[] l = new int[n];
        long[] s = new long[n];
        for (int k = 0; k < count; k++) {
            int i = (head + k) & capacityMask;
            m[k] = mbufs[i];
            a[k] = dataAddress[i];
            l[k] = length[i];
            s[k] = startOffset[i];
        }
        mbufs = m;
        dataAddress = a;
        length = l;
        startOffset = s;
        head = 0;
        capacityMask = n - 1;
    }

    /** Drops bytes up to stream offset {@code upTo} (acknowledged), freeing pieces that are wholly covered. */
    void acknowledge(long upTo) {
        if (upTo <= startOfQueue) {
            return;
        }
        if (upTo > endOfQueue) {
            throw new IllegalArgumentException("ack past the queue: " + upTo + " > " + endOfQueue);
        }
        while (count > 0) {
            int i = head;
            long pieceEnd = startOffset[i] + length[i];
            if (pieceEnd <= upTo) {
                memory -= charge(length[i]);
                pool.freeSegment(mbufs[i]);
                mbufs[i] = 0;
                head = (head + 1) & capacityMask;
                count--;
            } else {
                if (upTo > startOffset[i]) {
                    int cut = (int) (upTo - startOffset[i]);
                    memory += charge(length[i] - cut) - charge(length[i]);
                    dataAddress[i] += cut;
                    length[i] -= cut;
                    startOffset[i] = upTo;
                }
                break;
            }
        }
        startOfQueue = upTo;
    }

    /** Index (0-based from the head) of the piece holding stream offset {@code offset}; binary search. */
    private int find(long offset) {
        int lo = 0;
        int hi = count - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (startOffset[(head + mid) & capacityMask] <= offset) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /**
     * A new mbuf chain viewing bytes [{@code from}, {@code from + len}) of the queue, built of indirect mbufs (the
     * payload is shared, not copied), or 0 if the pool ran out (nothing is held then). The caller owns the chain:
     * it goes to the NIC, which frees it, and the queued bytes stay alive until acknowledged.
     */
    long slice(long from, int len) {
        if (from < startOfQueue || len <= 0 || from + len > endOfQueue) {
            throw new IllegalArgumentException("slice [" + from + ", +" + len + ") outside [" + startOfQueue + ", "
                    + endOfQueue + ")");
        }
        long head = 0;
        long tail = 0;
        int segments = 0;
        int k = find(from);
        long at = from;
        int left = len;
        while (left > 0) {
            int i = (this.head + k) & capacityMask;
            int skip = (int) (at - startOffset[i]);
            int take = Math.min(length[i] - skip, left);
            long view = pool.attachIndirect(mbufs[i]);
            if (view == 0) {
                pool.free(head);
                return 0;
            }
            Mbuf.setDataOff(view, (int) (dataAddress[i] + skip - Mbuf.bufAddr(view)));
            Mbuf.setDataLen(view, take);
            Mbuf.setPktLen(view, take);
            if (head == 0) {
                head = view;
            } else {
                Mbuf.setNext(tail, view);
            }
            tail = view;
            segments++;
            at += take;
            left -= take;
            k++;
        }
        Mbuf.setNbSegs(head, segments);
        Mbuf.setPktLen(head, len);
        return head;
    }

    /** Copies bytes [from, from + len) into dst (used when a device cannot send chains). */
    void copyOut(long from, int len, MemorySegment dst, long dstOffset) {
        int k = find(from);
        long at = from;
        int left = len;
        while (left > 0) {
            int i = (head + k) & capacityMask;
            int skip = (int) (at - startOffset[i]);
            int take = Math.min(length[i] - skip, left);
            Mbuf.copyFromAddress(dataAddress[i] + skip, dst, dstOffset, take);
            dstOffset += take;
            at += take;
            left -= take;
            k++;
        }
    }

    /** Frees everything (connection aborted or closed). */
    void clear() {
        memory = 0;
        while (count > 0) {
            pool.freeSegment(mbufs[head]);
            mbufs[head] = 0;
            head = (head + 1) & capacityMask;
            count--;
        }
        startOfQueue = endOfQueue;
    }
}
