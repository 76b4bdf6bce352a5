package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;

/**
 * In-order received data waiting for the application: mbuf chains whose data is exactly payload (headers already
 * trimmed), handed out one chain at a time with ownership, so the application reads the bytes the NIC wrote.
 */
final class ReceiveQueue {
    private final MbufPool pool;
    // 8 chains to start with, doubled as the application lets more wait: a power of two, so a slot index is a mask
    // (a remainder, an integer division, cost tens of cycles twice per segment received)
    private long[] chains = new long[8];
    private int[] lengths = new int[8];
    private int mask = 7;
    private int head;
    private int count;
    private long bytes;

    ReceiveQueue(MbufPool pool) {
        this.pool = pool;
    }

    /** Takes ownership of a chain of {@code length} payload bytes. */
    void add(long chain, int length) {
        if (count == chains.length) {
            long[] c = new long[count * 2];
            int[] l = new int[count * 2];
            for (int k = 0; k < count; k++) {
                c[k] = chains[(head + k) & mask];
                l[k] = lengths[(head + k) & mask];
            }
            chains = c;
            lengths = l;
            mask = c.length - 1;
            head = 0;
        }
        int i = (head + count) & mask;
        chains[i] = chain;
        lengths[i] = length;
        count++;
        bytes += length;
    }

    /** The oldest chain, now owned by the caller, or 0 when empty. */
    long poll() {
        if (count == 0) {
            return 0;
        }
        long chain = chains[head];
        bytes -= lengths[head];
        chains[head] = 0;
        head = (head + 1) & mask;
        count--;
        return chain;
    }

    /** Length of the chain {@link #poll} would return next (0 when empty). */
    int peekLength() {
        return count == 0 ? 0 : lengths[head];
    }

    long bytes() {
        return bytes;
    }

    int chains() {
        return count;
    }

    boolean isEmpty() {
        return count == 0;
    }

    void clear() {
        long chain;
        while ((chain = poll()) != 0) {
            pool.free(chain);
        }
    }

    /** Checks a chain's lengths agree (diagnostics for tests). */
    static int chainLength(long chain) {
        int total = 0;
        for (long seg = chain; seg != 0; seg = Mbuf.next(seg)) {
            total += Mbuf.dataLen(seg);
        }
        return total;
    }
}
