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
 *
 * <p>Rounds of {@link #LONG_ROUND_NANOS} or more that did not park are counted apart too ({@code longRounds}, their
 * time, the longest): a round that long is the loop stopped (a handler that blocked, a safepoint, the thread
 * descheduled), and every connection of the loop waited for it. A round that parked chose to wait (an idle loop's
 * park may be set longer than that), so it is not one. A latency tail that the averages hide shows there, and two
 * readings tell whether a window of a benchmark had one.
 */
final class LoopUtilisation {
    /** A round this long or longer is a stall of the loop (a busy round lasts microseconds). */
    static final long LONG_ROUND_NANOS = 1_000_000;

    private boolean started;
    private long roundStart;
    private boolean roundBusy;
    private boolean roundParked;
    private long busyNanos;
    private long idleNanos;
    private long busyRounds;
    private long idleRounds;
    private long parks;
    private long longRounds;
    private long longRoundNanos;
    private long longestRoundNanos;

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
            if (length >= LONG_ROUND_NANOS && !roundParked) {
                longRounds++;
                longRoundNanos += length;
                longestRoundNanos = Math.max(longestRoundNanos, length);
            }
        }
        started = true;
        roundStart = nowNanos;
        roundBusy = false;
        roundParked = false;
    }

    /** The current round found work (or not): decided at its end. */
    void roundEnded(boolean busy) {
        roundBusy = busy;
    }

    /** The current round parked the thread (it is idle, its park counted as idle time). */
    void parked() {
        parks++;
        roundParked = true;
    }

    /** The counters, keys prefixed {@code loop.}, as {@link ZStackEventLoop#counters} gives them. */
    Map<String, Long> snapshot() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("loop.busyNanos", busyNanos);
        m.put("loop.idleNanos", idleNanos);
        m.put("loop.busyRounds", busyRounds);
        m.put("loop.idleRounds", idleRounds);
        m.put("loop.parks", parks);
        m.put("loop.longRounds", longRounds);
        m.put("loop.longRoundNanos", longRoundNanos);
        m.put("loop.longestRoundNanos", longestRoundNanos);
        return m;
    }

    /** Whether counter {@code key} of {@link #snapshot} is a maximum (taken over loops as one), not a sum. */
    static boolean isMaximum(String key) {
        return key.equals("loop.longestRoundNanos");
    }

    /** One line, netstat style like the IP and TCP counters, with the busy share since the loop started. */
    @Override
    public String toString() {
        long total = busyNanos + idleNanos;
        return String.format(Locale.ROOT, "loop: busyNanos=%d idleNanos=%d busyRounds=%d idleRounds=%d parks=%d "
                + "longRounds=%d longRoundNanos=%d longestRoundNanos=%d (%.1f %% busy)", busyNanos, idleNanos,
                busyRounds, idleRounds, parks, longRounds, longRoundNanos, longestRoundNanos,
                total == 0 ? 0.0 : 100.0 * busyNanos / total);
    }
}
