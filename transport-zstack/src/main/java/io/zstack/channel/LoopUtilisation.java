package io.zstack.channel;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * How a busy-polling loop spent its time: in rounds that found work (received frames, ran tasks) or in rounds that
 * found none, parks included. top shows a busy-polling thread at 100 % whatever its load; this tells how much of it
 * was work, and so whether the loop is the bottleneck (busy near 1) or waits for its peer, as OVS-DPDK's
 * {@code pmd-stats-show} does for its poll-mode threads.
 *
 * <p>Each round is charged whole, from its start to the next round's start, to the side it fell on: it costs no clock
 * read beyond the one every round takes. The round in progress is not counted yet. Loop thread only.
 */
final class LoopUtilisation {
    private boolean started;
    private long roundStart;
    private boolean roundBusy;
    private long busyNanos;
    private long idleNanos;
    private long busyRounds;
    private long idleRounds;
    private long parks;

    /** A round starts at {@code nowNanos}: the previous one, which ended here, is charged. */
    void roundStarted(long nowNanos) {
        if (started) {
            long length = Math.max(0, nowNanos - roundStart);
            if (roundBusy) {
                busyNanos += length;
                busyRounds++;
            } else {
                idleNanos += length;
                idleRounds++;
            }
        }
        started = true;
        roundStart = nowNanos;
        roundBusy = false;
    }

    /** The current round found work (or not): decided at its end. */
    void roundEnded(boolean busy) {
        roundBusy = busy;
    }

    /** The current round parked the thread (it is idle, its park counted as idle time). */
    void parked() {
        parks++;
    }

    /** The counters, keys prefixed {@code loop.}, as {@link ZStackEventLoop#counters} gives them. */
    Map<String, Long> snapshot() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("loop.busyNanos", busyNanos);
        m.put("loop.idleNanos", idleNanos);
        m.put("loop.busyRounds", busyRounds);
        m.put("loop.idleRounds", idleRounds);
        m.put("loop.parks", parks);
        return m;
    }

    /** One line, netstat style like the IP and TCP counters, with the busy share since the loop started. */
    @Override
    public String toString() {
        long total = busyNanos + idleNanos;
        return String.format(Locale.ROOT, "loop: busyNanos=%d idleNanos=%d busyRounds=%d idleRounds=%d parks=%d "
                + "(%.1f %% busy)", busyNanos, idleNanos, busyRounds, idleRounds, parks,
                total == 0 ? 0.0 : 100.0 * busyNanos / total);
    }
}
