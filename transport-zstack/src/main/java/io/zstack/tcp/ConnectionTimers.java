package io.zstack.tcp;

/**
 * A connection's timers: one deadline per purpose (nanoseconds, 0 = off) behind a single {@link TimerWheel} entry no
 * later than the earliest of them (armed lazily, see {@link #arm}), and the order in which due ones run when the wheel
 * fires.
 *
 * <p>This class decides when; what a timer does is the connection's (its {@code *Timeout} methods and
 * {@code zeroWindowProbe}). Whoever changes a deadline calls {@link #arm} afterwards (several changes may share one
 * call).
 */
final class ConnectionTimers {
    private final TcpConnection connection;
    private final TimerWheel<TcpConnection> wheel;
    private final TimerWheel.Timer<TcpConnection> entry;

    /** RFC 6298 retransmission (also the SYN and SYN-ACK resend). */
    long retransmitDeadline;
    /** RFC 8985 §6.2 reordering window: segments RACK is waiting on may be lost by then. */
    long reorderDeadline;
    /** RFC 8985 §7 tail loss probe. */
    long probeDeadline;
    /** RFC 9293 §3.8.6.3 delayed ACK. */
    long delayedAckDeadline;
    /** RFC 9293 §3.8.6.1 zero-window probe (and the override of sender silly-window avoidance). */
    long persistDeadline;
    long keepAliveDeadline;
    /** FIN_WAIT_2 timeout, or linger expiry (a TIME_WAIT is a {@link TimeWait} with a timer of its own). */
    long closeDeadline;

    ConnectionTimers(TcpConnection connection, TimerWheel<TcpConnection> wheel) {
        this.connection = connection;
        this.wheel = wheel;
        this.entry = new TimerWheel.Timer<>(connection);
    }

    /**
     * Makes sure the wheel entry fires no later than the earliest pending deadline. It is moved only when a deadline
     * comes earlier than the entry (or the entry is off); a deadline moved later, or cleared, leaves it where it is,
     * and it then fires early once, finds nothing due and re-arms ({@link #fire}). Every ACK moves the retransmission
     * timer later or clears it and every data segment sets it again, as the delayed ACK is set and cleared on the
     * receiving side: unlinking and relinking the entry each time showed in the per-segment profile.
     */
    void arm() {
        long next = earliestDeadline();
        if (next != 0 && (!entry.isScheduled() || next < entry.deadline())) {
            wheel.schedule(entry, next);
        }
    }

    /** The earliest pending deadline, 0 if none. */
    private long earliestDeadline() {
        return earliest(earliest(earliest(retransmitDeadline, delayedAckDeadline), earliest(persistDeadline,
                keepAliveDeadline)), earliest(closeDeadline, earliest(reorderDeadline, probeDeadline)));
    }

    /** The earlier of two deadlines, 0 meaning none. */
    private static long earliest(long a, long b) {
        return a == 0 ? b : b == 0 ? a : Math.min(a, b);
    }

    /** Every timer off and the wheel entry cancelled (the connection is gone). */
    void cancelAll() {
        retransmitDeadline = 0;
        reorderDeadline = 0;
        probeDeadline = 0;
        persistDeadline = 0;
        keepAliveDeadline = 0;
        delayedAckDeadline = 0;
        closeDeadline = 0;
        wheel.cancel(entry);
    }

    /** The wheel fired: run whichever timers are due, then send what they allow and re-arm. */
    void fire(long nowNanos) {
        TcpConnection c = connection;
        if (c.state == TcpState.CLOSED) {
            return;
        }
        long next = earliestDeadline();
        if (next == 0 || next > nowNanos) {
            arm(); // an early wake of a lazily armed entry (see arm): nothing is due yet
            return;
        }
        if (due(closeDeadline, nowNanos)) {
            closeDeadline = 0;
            if (c.closeTimeout(nowNanos)) {
                return;
            }
        }
        if (due(reorderDeadline, nowNanos)) {
            reorderDeadline = 0;
            c.sender.reorderTimeout(nowNanos);
        }
        if (due(probeDeadline, nowNanos)) {
            probeDeadline = 0;
            c.sender.tailLossProbeTimeout(nowNanos);
        }
        if (due(retransmitDeadline, nowNanos)) {
            retransmitDeadline = 0;
            c.sender.retransmitTimeout(nowNanos);
            if (c.state == TcpState.CLOSED) {
                return;
            }
        }
        if (due(persistDeadline, nowNanos)) {
            persistDeadline = 0;
            c.sender.zeroWindowProbe(nowNanos);
        }
        if (due(keepAliveDeadline, nowNanos)) {
            keepAliveDeadline = 0;
            c.keepAliveTimeout(nowNanos);
            if (c.state == TcpState.CLOSED) {
                return;
            }
        }
        if (due(delayedAckDeadline, nowNanos)) {
            delayedAckDeadline = 0;
            c.receiver.delayedAckTimeout(nowNanos);
        }
        c.output(nowNanos);
        arm();
    }

    private static boolean due(long deadline, long nowNanos) {
        return deadline != 0 && nowNanos >= deadline;
    }

    /** The deadlines relative to now, for diagnostics. */
    String describe(long nowNanos) {
        return "timers[rto=" + relative(retransmitDeadline, nowNanos) + " tlp=" + relative(probeDeadline, nowNanos)
                + " reo=" + relative(reorderDeadline, nowNanos) + " persist=" + relative(persistDeadline, nowNanos)
                + " dack=" + relative(delayedAckDeadline, nowNanos) + " wheel="
                + (entry.isScheduled() ? relative(entry.deadline(), nowNanos) : "off") + "]";
    }

    private static String relative(long deadline, long nowNanos) {
        return deadline == 0 ? "-" : ((deadline - nowNanos) / 1_000_000L) + "ms";
    }
}
