package io.zstack.buffer;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A fixed-capacity array of mbuf pointers in native memory, the unit of rx/tx bursts: DPDK writes received
 * pointers into it and reads pointers to send from it. {@link #size()} is how many slots are in use.
 * Not thread-safe; one per queue.
 */
public final class MbufBurst {
    private final MemorySegment slots;
    private final int capacity;
    private int size;

    public MbufBurst(int capacity) {
        if (capacity <= 0 || capacity > 0xffff) {
            throw new IllegalArgumentException("burst capacity: " + capacity);
        }
        this.capacity = capacity;
        this.slots = Arena.ofAuto().allocate(JAVA_LONG, capacity);
    }

    public int capacity() {
        return capacity;
    }

    public int size() {
        return size;
    }

    public void size(int size) {
        if (size < 0 || size > capacity) {
            throw new IndexOutOfBoundsException("burst size " + size + " of " + capacity);
        }
        this.size = size;
    }

    public boolean isFull() {
        return size == capacity;
    }

    public long get(int i) {
        return slots.getAtIndex(JAVA_LONG, i);
    }

    public void set(int i, long m) {
        slots.setAtIndex(JAVA_LONG, i, m);
    }

    /** Appends an mbuf; false when full. */
    public boolean add(long m) {
        if (size == capacity) {
            return false;
        }
        slots.setAtIndex(JAVA_LONG, size++, m);
        return true;
    }

    /** Drops the first n entries, moving the rest to the front (after a partial tx burst). */
    public void removeFirst(int n) {
        if (n < 0 || n > size) {
            throw new IndexOutOfBoundsException("remove " + n + " of " + size);
        }
        if (n > 0 && n < size) {
            MemorySegment.copy(slots, (long) n * 8, slots, 0, (long) (size - n) * 8);
        }
        size -= n;
    }

    public void clear() {
        size = 0;
    }

    /** Native address of slot {@code i}, for the rx/tx burst downcalls. */
    public long address(int i) {
        return slots.address() + (long) i * 8;
    }
}
