package io.zstack.device;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A bounded ring of mbuf addresses that many threads offer to and one thread polls (Vyukov's bounded queue with one
 * consumer): lock-free, allocation-free, each slot carrying a sequence number that says whose turn it is.
 */
public final class MpscFrameRing {
    private final AtomicLongArray frames;
    private final AtomicLongArray sequences;
    private final int mask;
    private final AtomicLong tail = new AtomicLong();
    private long head;

    public MpscFrameRing(int capacity) {
        if (Integer.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("capacity must be a power of two: " + capacity);
        }
        frames = new AtomicLongArray(capacity);
        sequences = new AtomicLongArray(capacity);
        mask = capacity - 1;
        for (int i = 0; i < capacity; i++) {
            sequences.set(i, i);
        }
    }

    /** Adds a frame; false when the ring is full (the caller keeps it). Any thread. */
    public boolean offer(long frame) {
        for (;;) {
            long t = tail.get();
            int slot = (int) (t & mask);
            long turn = sequences.get(slot) - t;
            if (turn == 0) {
                if (tail.compareAndSet(t, t + 1)) {
                    frames.set(slot, frame);
                    sequences.set(slot, t + 1); // publishes the frame to the consumer
                    return true;
                }
            } else if (turn < 0) {
                return false; // the consumer has not freed this slot yet: full
            }
            // another producer took the slot: retry with the new tail
        }
    }

    /** The oldest frame, or 0 when empty. The consumer thread only. */
    public long poll() {
        int slot = (int) (head & mask);
        if (sequences.get(slot) != head + 1) {
            return 0;
        }
        long frame = frames.get(slot);
        sequences.set(slot, head + mask + 1); // the slot is free for the producer one lap later
        head++;
        return frame;
    }

    public boolean isEmpty() {
        return sequences.get((int) (head & mask)) != head + 1;
    }
}
