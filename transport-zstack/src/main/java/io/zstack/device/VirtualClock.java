package io.zstack.device;

/**
 * Simulated time that moves only when told to: tests and simulations advance it explicitly, so every timing
 * (latency, serialisation, delay, rate limits) is exact and replayable. Not thread-safe, like the devices it drives.
 */
public final class VirtualClock implements NanoClock {
    private long now;

    /** A clock at time 0. */
    public VirtualClock() {
        this(0);
    }

    public VirtualClock(long startNanos) {
        this.now = startNanos;
    }

    /** Current simulated time in nanoseconds. */
    public long now() {
        return now;
    }

    @Override
    public long nanos() {
        return now;
    }

    /** Moves time forward by {@code nanos} (not negative) and returns the new time. */
    public long advance(long nanos) {
        if (nanos < 0) {
            throw new IllegalArgumentException("time cannot go back: advance(" + nanos + ")");
        }
        now = Math.addExact(now, nanos);
        return now;
    }

    /** Moves time forward to {@code nanos}, which must not be in the past. */
    public void advanceTo(long nanos) {
        if (nanos < now) {
            throw new IllegalArgumentException("time cannot go back: advanceTo(" + nanos + ") at " + now);
        }
        now = nanos;
    }

    @Override
    public String toString() {
        return "VirtualClock(" + now + " ns)";
    }
}
