package io.zstack.testing;

import io.zstack.buffer.MbufBurst;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import java.util.ArrayDeque;

/**
 * Holds the frames it receives until {@code holdFrames} have come or {@code holdNanos} passed since the first, then
 * hands them on together. Receive coalescing merges only within one burst, and a loop that polls faster than its peer
 * sends gets one frame per burst, so whether a test's loop merges anything would depend on timing; held, the frames
 * of one peer flush arrive in one burst, as they do from a loaded NIC. Frames still held when it closes are freed.
 */
public final class FrameHoldingDevice extends ForwardingNetDevice {
    private final int holdFrames;
    private final long holdNanos;
    private final ArrayDeque<Long> held = new ArrayDeque<>();
    private final MbufBurst taken = new MbufBurst(32);
    private long firstHeldAt;

    public FrameHoldingDevice(NetDevice inner, int holdFrames, long holdNanos) {
        super(inner);
        if (holdFrames < 1 || holdNanos < 0) {
            throw new IllegalArgumentException("holdFrames " + holdFrames + ", holdNanos " + holdNanos);
        }
        this.holdFrames = holdFrames;
        this.holdNanos = holdNanos;
    }

    @Override
    public int receive(MbufBurst burst) {
        int n = inner.receive(taken);
        if (held.isEmpty() && n > 0) {
            firstHeldAt = System.nanoTime();
        }
        for (int i = 0; i < n; i++) {
            held.add(taken.get(i));
        }
        taken.clear();
        if (held.isEmpty() || held.size() < holdFrames && System.nanoTime() - firstHeldAt < holdNanos) {
            return 0;
        }
        int out = 0;
        while (out < burst.capacity() && !held.isEmpty()) {
            burst.set(out++, held.poll());
        }
        burst.size(out);
        firstHeldAt = System.nanoTime(); // what stays behind waits from now
        return out;
    }

    @Override
    public void close() {
        for (Long m : held) {
            pool().free(m);
        }
        held.clear();
        super.close();
    }
}
