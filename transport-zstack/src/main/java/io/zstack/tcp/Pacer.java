package io.zstack.tcp;

import io.zstack.tcp.cc.Bbr;

/**
 * Releases a connection's segments at a pacing rate, for a congestion control that asks for one (BBR): an earliest
 * departure time for the next segment, advanced by each transmission's length over the rate. Up to a burst (about a
 * millisecond at the rate, so a loop round that comes late loses no rate) may go back to back after a pause. A held
 * segment is released by {@link PacedConnections} at the stack's next poll after its time. A rate of 0 means no
 * pacing: the ACK clock alone, as CUBIC and NewReno send.
 */
final class Pacer {
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    /** When the next segment may leave; only meaningful while a rate is set. */
    private long nextDepartureNanos;
    /** Waiting in the layer's {@link PacedConnections}. */
    boolean held;

    /** Whether a segment must wait now at {@code rateBytesPerSecond} (0: never). */
    boolean mustWait(long rateBytesPerSecond, long nowNanos) {
        return rateBytesPerSecond > 0 && nowNanos < nextDepartureNanos;
    }

    /** When the waiting segment may leave. */
    long nextDepartureNanos() {
        return nextDepartureNanos;
    }

    /** {@code bytes} left now (new data or a retransmission: both spend the rate). */
    void sent(long bytes, long rateBytesPerSecond, int mss, long nowNanos) {
        if (rateBytesPerSecond <= 0) {
            return;
        }
        long burstNanos = Bbr.sendQuantum(rateBytesPerSecond, mss) * NANOS_PER_SECOND / rateBytesPerSecond;
        // unused time counts as credit only up to one burst
        long from = Math.max(nextDepartureNanos, nowNanos - burstNanos);
        nextDepartureNanos = from + bytes * NANOS_PER_SECOND / rateBytesPerSecond;
    }
}
