package io.zstack.dpdk;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Keeps a port's bursts out of DPDK while something tears down memory they read. memif's interrupt thread frees a
 * port's shared regions when its peer goes away; a burst running at that moment reads freed memory. A port whose
 * peer may go away in this process pauses its bursts around that (they return 0), and waits for those in flight.
 *
 * <p>A burst marks its queue busy with a full fence and then checks for a pause; a pauser raises the pause and then
 * waits for every queue to be idle. One of the two always sees the other, so no burst runs once pause() returns.
 */
final class PollGate {
    /** Ints between two queues' counters: 64 bytes, so loops on different queues do not share a cache line. */
    private static final int STRIDE = 16;

    private final AtomicIntegerArray busy;
    private final int queues;
    private final AtomicInteger pauses = new AtomicInteger();

    PollGate(int queues) {
        this.queues = queues;
        this.busy = new AtomicIntegerArray(queues * STRIDE);
    }

    /** Enters a burst on {@code queue}; false (and nothing to exit) when bursts are paused. */
    boolean enter(int queue) {
        int slot = queue * STRIDE;
        busy.incrementAndGet(slot);
        if (pauses.get() != 0) {
            busy.decrementAndGet(slot);
            return false;
        }
        return true;
    }

    void exit(int queue) {
        busy.decrementAndGet(queue * STRIDE);
    }

    /** Stops new bursts and returns once none runs. */
    void pause() {
        pauses.incrementAndGet();
        for (int q = 0; q < queues; q++) {
            while (busy.get(q * STRIDE) != 0) {
                Thread.onSpinWait();
            }
        }
    }

    void resume() {
        pauses.decrementAndGet();
    }
}
