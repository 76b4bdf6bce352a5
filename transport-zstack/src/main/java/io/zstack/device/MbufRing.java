package io.zstack.device;

import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import java.util.Arrays;

/**
 * A FIFO of frames, each with a time stamp (arrival or release time; 0 when unused). Bounded by {@code limit}
 * (Integer.MAX_VALUE for "as many as the pool holds"); the arrays grow on demand up to it.
 */
final class MbufRing {
    private final int limit;
    private long[] frames;
    private long[] times;
    private int head;
    private int size;

    MbufRing(int limit) {
        if (limit <= 0) {
            throw new IllegalArgumentException("queue capacity: " + limit);
        }
        this.limit = limit;
        int initial = Math.min(limit, 64);
        this.frames = new long[initial];
        this.times = new long[initial];
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    boolean isFull() {
        return size == limit;
    }

    int limit() {
        return limit;
    }

    /** Appends a frame; false (nothing changed) when the ring holds {@code limit} frames. */
    boolean add(long frame, long time) {
        if (size == limit) {
            return false;
        }
        if (size == frames.length) {
            grow();
        }
        int i = index(size);
        frames[i] = frame;
        times[i] = time;
        size++;
        return true;
    }

    long frame(int i) {
        return frames[index(i)];
    }

    long time(int i) {
        return times[index(i)];
    }

    /** Removes and returns the first frame. */
    long poll() {
        if (size == 0) {
            throw new IllegalStateException("empty");
        }
        long m = frames[head];
        frames[head] = 0;
        head = head + 1 == frames.length ? 0 : head + 1;
        size--;
        return m;
    }

    /** Moves frames from the front into the burst (replacing its contents) while there is room; returns how many. */
    int drainTo(MbufBurst burst) {
        int n = Math.min(size, burst.capacity());
        for (int i = 0; i < n; i++) {
            burst.set(i, poll());
        }
        burst.size(n);
        return n;
    }

    /** Frees every frame still queued to {@code pool}. */
    void freeAll(MbufPool pool) {
        while (size > 0) {
            pool.free(poll());
        }
    }

    /**
     * Slot of the i-th frame (0 <= i < size). A compare, not a remainder: the ring's length is not a constant the JIT
     * could fold, and an integer division on every add, peek and poll showed in TcpSegmentBenchmark's profile.
     */
    private int index(int i) {
        int j = head + i;
        return j < frames.length ? j : j - frames.length;
    }

    private void grow() {
        int capacity = (int) Math.min((long) frames.length * 2, limit);
        long[] f = new long[capacity];
        long[] t = new long[capacity];
        for (int i = 0; i < size; i++) {
            f[i] = frames[index(i)];
            t[i] = times[index(i)];
        }
        frames = f;
        times = t;
        head = 0;
    }

    @Override
    public String toString() {
        return "MbufRing(" + size + "/" + limit + ")";
    }
}
