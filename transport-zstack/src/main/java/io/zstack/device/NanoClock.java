package io.zstack.device;

/**
 * A source of time in nanoseconds, read by devices that model time (links, delays, rate limits). The stack passes
 * time explicitly; devices read it from one of these so the same code runs on {@link #system() real time} or on a
 * {@link VirtualClock} that a test advances by hand.
 */
@FunctionalInterface
public interface NanoClock {
    /** Current time in nanoseconds; only differences between two readings mean anything. */
    long nanos();

    /** Real time: {@link System#nanoTime()}. */
    static NanoClock system() {
        return System::nanoTime;
    }
}
