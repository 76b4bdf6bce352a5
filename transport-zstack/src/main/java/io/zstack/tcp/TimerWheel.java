package io.zstack.tcp;

import java.util.function.ObjLongConsumer;

/**
 * A hashed timing wheel (Varghese & Lauck, scheme 6) for per-connection timers with explicit time: schedule,
 * cancel and reschedule are O(1); {@link #advance} walks only the ticks that passed, jumping over idle stretches,
 * and fires every timer whose deadline has come, never early and at most one tick late. Timers due in more than
 * one turn of the wheel carry a round count.
 *
 * <p>Timers are intrusive: each owner allocates one {@link Timer} once and reuses it. Cancelling or rescheduling
 * from inside a callback is safe.
 */
public final class TimerWheel<T> {
    /** A reusable timer slot carrying its owner. */
    public static final class Timer<T> {
        final T owner;
        Timer<T> prev;
        Timer<T> next;
        long deadline;
        long tick;
        boolean scheduled;

        public Timer(T owner) {
            this.owner = owner;
        }

        public T owner() {
            return owner;
        }

        public boolean isScheduled() {
            return scheduled;
        }

        public long deadline() {
            return deadline;
        }
    }

    private final long tickNanos;
    /** 1 / tickNanos, for {@link #tickAtOrAfter} to divide by multiplying. */
    private final double inverseTick;
    private final Timer<T>[] heads;
    private final int mask;
    private long currentTick;
    /** The earliest time at which {@link #advance} has a tick to walk: polls before it return without a division. */
    private long nextTickNanos;
    private int size;

    @SuppressWarnings("unchecked")
    public TimerWheel(long tickNanos, int slots, long nowNanos) {
        if (Integer.bitCount(slots) != 1) {
            throw new IllegalArgumentException("slots must be a power of two: " + slots);
        }
        this.tickNanos = tickNanos;
        this.inverseTick = 1.0 / tickNanos;
        this.heads = new Timer[slots];
        this.mask = slots - 1;
        this.currentTick = nowNanos / tickNanos;
        this.nextTickNanos = firstNanosOf(currentTick + 1);
    }

    /**
     * The smallest time t with {@code t / tickNanos >= tick} (Java's division truncates towards zero, so below 0 a
     * tick starts one nanosecond after a multiple of tickNanos).
     */
    private long firstNanosOf(long tick) {
        return tick > 0 ? tick * tickNanos : (tick - 1) * tickNanos + 1;
    }

    /** 1 ms ticks, 4096 slots (one turn is about 4 s). */
    public TimerWheel(long nowNanos) {
        this(1_000_000L, 4096, nowNanos);
    }

    public int size() {
        return size;
    }

    /** Schedules (or moves) a timer to fire at {@code deadlineNanos}. */
    public void schedule(Timer<T> timer, long deadlineNanos) {
        if (timer.scheduled) {
            unlink(timer);
        }
        // round up: a timer must never fire before its deadline
        long tick = Math.max(currentTick + 1, tickAtOrAfter(deadlineNanos));
        timer.deadline = deadlineNanos;
        timer.tick = tick;
        int slot = (int) (tick & mask);
        timer.prev = null;
        timer.next = heads[slot];
        if (heads[slot] != null) {
            heads[slot].prev = timer;
        }
        heads[slot] = timer;
        timer.scheduled = true;
        size++;
    }

    /**
     * {@code (deadlineNanos + tickNanos - 1) / tickNanos}, the first tick not before the deadline. A connection moves
     * its timer on most segments it sends or receives, and a 64-bit division costs tens of cycles: the quotient comes
     * from a multiply by 1/tickNanos instead (off by at most one below 2^62, where a double's 53 bits leave an error
     * far under a tick) and is then corrected to the exact one.
     */
    private long tickAtOrAfter(long deadlineNanos) {
        long n = deadlineNanos + tickNanos - 1;
        if (n < 0 || n >= 1L << 62) {
            return n / tickNanos; // truncation towards zero below 0: as the division always did
        }
        long q = (long) (n * inverseTick);
        if (q * tickNanos > n) {
            q--;
        } else if (n - q * tickNanos >= tickNanos) {
            q++;
        }
        return q;
    }

    public void cancel(Timer<T> timer) {
        if (timer.scheduled) {
            unlink(timer);
        }
    }

    private void unlink(Timer<T> timer) {
        int slot = (int) (timer.tick & mask);
        if (timer.prev != null) {
            timer.prev.next = timer.next;
        } else {
            heads[slot] = timer.next;
        }
        if (timer.next != null) {
            timer.next.prev = timer.prev;
        }
        timer.prev = null;
        timer.next = null;
        timer.scheduled = false;
        size--;
    }

    /**
     * Fires, in tick order, every timer due at or before {@code nowNanos}, passing its owner and {@code nowNanos}
     * (so callers can hand a non-capturing method reference: this runs on every poll, and a capturing lambda is an
     * allocation each time).
     */
    public void advance(long nowNanos, ObjLongConsumer<T> fire) {
        if (nowNanos < nextTickNanos) {
            return; // the stack polls many times per tick; a 64-bit division each time showed in its profile
        }
        walkTo(nowNanos / tickNanos, nowNanos, fire);
        nextTickNanos = firstNanosOf(currentTick + 1);
    }

    /** Walks the ticks after the current one up to {@code target}, firing what is due. */
    private void walkTo(long target, long nowNanos, ObjLongConsumer<T> fire) {
        while (currentTick < target) {
            if (size == 0) {
                currentTick = target; // nothing scheduled: jump
                return;
            }
            currentTick++;
            int slot = (int) (currentTick & mask);
            Timer<T> t = heads[slot];
            while (t != null) {
                Timer<T> next = t.next;
                if (t.tick <= currentTick) {
                    unlink(t);
                    fire.accept(t.owner, nowNanos);
                    // the callback may have rescheduled or cancelled others in this slot: restart the slot walk
                    next = heads[slot];
                }
                t = next;
            }
            if (currentTick + heads.length < target) {
                // far ahead: skip whole turns in which no timer in any slot can be due
                long earliest = earliestTick();
                if (earliest > currentTick + 1) {
                    currentTick = Math.min(target, earliest) - 1;
                }
            }
        }
    }

    private long earliestTick() {
        long min = Long.MAX_VALUE;
        for (Timer<T> head : heads) {
            for (Timer<T> t = head; t != null; t = t.next) {
                min = Math.min(min, t.tick);
            }
        }
        return min;
    }
}
