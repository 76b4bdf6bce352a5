package io.zstack.device;

import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Middleware that impairs any {@link NetDevice} (a simulated link end, the loopback, a DPDK port): loss,
 * duplication, corruption, reordering, delay with jitter, a size limit and a rate limit, on receive, transmit or
 * both, as a {@link FaultConfig} says. smoltcp's {@code phy::FaultInjector} is the model.
 *
 * <p>Replayable: randomness comes only from the config's seed (receive and transmit draw from separate streams)
 * and time only from the {@link NanoClock}, so the same calls at the same times deliver the same frames.
 *
 * <p>No threads: frames held back (delayed, or waiting to be overtaken) are let go by the next {@link #receive}
 * or {@link #transmit} call at or after their time; either call releases due frames of both paths, and
 * {@code transmit} of an empty burst is a flush. {@link #nextEventNanos()} says when that is.
 *
 * <p>Ownership: dropped frames are freed to the device's pool at once; duplicates are copies from it (skipped and
 * counted when it is empty); held frames are freed on {@link #close}. Transmit pushes back like the device it wraps:
 * while frames it has already impaired wait for room in the inner device, it takes no new ones.
 *
 * <p>When it corrupts a path it reports that path's checksum offloads (and TSO) off, since the inner device
 * would otherwise compute or verify checksums over the wrong bytes and hide the corruption from the stack.
 */
public final class FaultInjectingDevice extends ForwardingNetDevice {
    private static final int FLUSH_BURST = 64;

    private final FaultConfig config;
    private final NanoClock clock;
    private final FaultInjector rx;
    private final FaultInjector tx;
    private final DeviceCapabilities capabilities;
    /** Received frames that went through the faults, waiting for the caller's next burst. */
    private final MbufRing rxReady = new MbufRing(Integer.MAX_VALUE);
    /** Frames to send that went through the faults, waiting for room in the inner device. */
    private final MbufRing txPending = new MbufRing(Integer.MAX_VALUE);
    private final MbufBurst flushBurst = new MbufBurst(FLUSH_BURST);
    private boolean closed;

    /** Wraps {@code inner}; closing this device closes it. */
    public FaultInjectingDevice(NetDevice inner, FaultConfig config, NanoClock clock) {
        super(Objects.requireNonNull(inner, "inner"));
        this.config = Objects.requireNonNull(config, "config");
        this.clock = Objects.requireNonNull(clock, "clock");
        SplittableRandom seeds = new SplittableRandom(config.seed());
        SplittableRandom rxRandom = seeds.split();
        SplittableRandom txRandom = seeds.split();
        this.rx = config.appliesTo(true) ? new FaultInjector(config, rxRandom, inner.pool(), true) : null;
        this.tx = config.appliesTo(false) ? new FaultInjector(config, txRandom, inner.pool(), false) : null;
        this.capabilities = capabilitiesFor(inner.capabilities(), config);
    }

    private static DeviceCapabilities capabilitiesFor(DeviceCapabilities c, FaultConfig config) {
        boolean rxCorrupt = config.corrupts(true);
        boolean txCorrupt = config.corrupts(false);
        if (!rxCorrupt && !txCorrupt) {
            return c;
        }
        return new DeviceCapabilities(
                c.rxChecksumVerified() && !rxCorrupt,
                c.txIpv4Checksum() && !txCorrupt,
                c.txTcpChecksum() && !txCorrupt,
                c.tcpSegmentation() && !txCorrupt,
                c.multiSegment(),
                txCorrupt ? 0 : c.maxTsoBytes(),
                c.txChecksumAnyChain(),
                c.maxChain());
    }


    public FaultConfig config() {
        return config;
    }

    @Override
    public int receive(MbufBurst burst) {
        checkOpen();
        if (rx == null) {
            flushTransmit(clock.nanos());
            return inner.receive(burst);
        }
        long now = clock.nanos();
        flushTransmit(now);
        rx.release(now, rxReady);
        // pull from the inner device only when the caller would take it: duplicates must not pile up here
        if (rxReady.size() < burst.capacity()) {
            int n = inner.receive(burst);
            for (int i = 0; i < n; i++) {
                rx.offer(burst.get(i), now, rxReady);
            }
        }
        return rxReady.drainTo(burst);
    }

    @Override
    public int transmit(MbufBurst burst) {
        checkOpen();
        if (tx == null) {
            return inner.transmit(burst);
        }
        long now = clock.nanos();
        flushTransmit(now);
        if (!txPending.isEmpty()) {
            return 0; // the inner device is full: the caller keeps its frames
        }
        int taken = burst.size();
        for (int i = 0; i < taken; i++) {
            tx.offer(burst.get(i), now, txPending);
        }
        burst.clear();
        sendPending();
        return taken;
    }

    /** Releases transmit frames whose time has come and offers what waits to the inner device. */
    private void flushTransmit(long now) {
        if (tx != null) {
            tx.release(now, txPending);
            sendPending();
        }
    }

    private void sendPending() {
        while (!txPending.isEmpty()) {
            int n = Math.min(txPending.size(), FLUSH_BURST);
            for (int i = 0; i < n; i++) {
                flushBurst.set(i, txPending.frame(i));
            }
            flushBurst.size(n);
            int sent = inner.transmit(flushBurst);
            flushBurst.clear(); // what it did not take is still at the front of txPending
            for (int i = 0; i < sent; i++) {
                txPending.poll();
            }
            if (sent < n) {
                return;
            }
        }
    }

    @Override
    public String statistics() {
        String own = inner.statistics();
        return (own.isEmpty() ? "" : own + "; ") + counters();
    }

    /** What was done to received frames. */
    public FaultCounters rxCounters() {
        return rx == null ? FaultCounters.ZERO : rx.counters();
    }

    /** What was done to transmitted frames. */
    public FaultCounters txCounters() {
        return tx == null ? FaultCounters.ZERO : tx.counters();
    }

    /** Both paths summed. */
    public FaultCounters counters() {
        return rxCounters().plus(txCounters());
    }

    /** Frames inside this wrapper: held back, or impaired and waiting to be received or sent. */
    public int heldFrames() {
        return rxReady.size() + txPending.size() + (rx == null ? 0 : rx.heldFrames())
                + (tx == null ? 0 : tx.heldFrames());
    }

    /**
     * The earliest time a held frame is due ({@link Long#MAX_VALUE} if none): call receive or transmit then. Frames
     * held for reordering may also go earlier, when later frames overtake them.
     */
    public long nextEventNanos() {
        long next = Long.MAX_VALUE;
        if (rx != null) {
            next = Math.min(next, rx.nextReleaseNanos());
        }
        if (tx != null) {
            next = Math.min(next, tx.nextReleaseNanos());
        }
        return next;
    }

    @Override
    public DeviceCapabilities capabilities() {
        return capabilities;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(name() + " is closed");
        }
    }

    /** Frees every frame it holds, then closes the inner device. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        MbufPool pool = inner.pool();
        rxReady.freeAll(pool);
        txPending.freeAll(pool);
        if (rx != null) {
            rx.freeAll();
        }
        if (tx != null) {
            tx.freeAll();
        }
        inner.close();
    }

    @Override
    public String toString() {
        return "FaultInjectingDevice(" + inner + ", " + config + ")";
    }
}
