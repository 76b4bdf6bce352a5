package io.zstack.device;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.SplittableRandom;

/**
 * The faults of one path (receive or transmit) of a {@link FaultInjectingDevice}: frames go in through
 * {@link #offer}, and come out, possibly dropped, duplicated, corrupted, late or out of order, into an output
 * ring, at once or from {@link #release} when their time comes. Frames it holds belong to it until then.
 */
final class FaultInjector {
    /** A frame held for reordering: it goes after {@code gapLeft} more frames pass, or at {@code deadline}. */
    private static final class Held {
        final long frame;
        final long deadline;
        int gapLeft;
        boolean overtaken;

        Held(long frame, int gap, long deadline) {
            this.frame = frame;
            this.gapLeft = gap;
            this.deadline = deadline;
        }
    }

    /** A delayed frame; {@code order} keeps frames due at the same time in the order they came. */
    private record Delayed(long due, long order, long frame) {
    }

    private final FaultConfig config;
    private final SplittableRandom random;
    private final MbufPool pool;
    private final boolean receivePath;
    private final List<Held> held = new ArrayList<>();
    private final PriorityQueue<Delayed> delayed =
            new PriorityQueue<>(Comparator.comparingLong(Delayed::due).thenComparingLong(Delayed::order));
    private long delayOrder;
    private int tokens;
    private long refillAt = Long.MIN_VALUE;

    private long frames;
    private long dropped;
    private long duplicated;
    private long corrupted;
    private long reordered;
    private long delayedCount;
    private long rateLimited;
    private long oversize;
    private long noMbuf;

    FaultInjector(FaultConfig config, SplittableRandom random, MbufPool pool, boolean receivePath) {
        this.config = config;
        this.random = random;
        this.pool = pool;
        this.receivePath = receivePath;
    }

    /** Takes a frame: it ends up in {@code out} (now or later, maybe twice) or freed. */
    void offer(long frame, long now, MbufRing out) {
        frames++;
        if (config.rateFrames() > 0 && !takeToken(now)) {
            pool.free(frame);
            rateLimited++;
            return;
        }
        if (config.maxFrameBytes() > 0 && Mbuf.pktLen(frame) > config.maxFrameBytes()) {
            pool.free(frame);
            oversize++;
            return;
        }
        if (chance(config.drop())) {
            pool.free(frame);
            dropped++;
            return;
        }
        long copy = 0;
        if (chance(config.duplicate())) {
            copy = Frames.copy(frame, pool);
            if (copy == 0) {
                noMbuf++;
            } else {
                duplicated++;
            }
        }
        forward(frame, now, out);
        if (copy != 0) {
            forward(copy, now, out);
        }
    }

    /** Corrupts, holds or delays one frame (an original or its duplicate), else sends it on. */
    private void forward(long frame, long now, MbufRing out) {
        if (chance(config.corrupt())) {
            frame = corrupt(frame);
        }
        if (chance(config.reorder())) {
            held.add(new Held(frame, config.reorderGap(), now + config.reorderTimeoutNanos()));
            return;
        }
        if (chance(config.delay())) {
            long jitter = config.jitterNanos() == 0 ? 0 : random.nextLong(config.jitterNanos() + 1);
            delayed.add(new Delayed(now + config.delayNanos() + jitter, delayOrder++, frame));
            delayedCount++;
            return;
        }
        emit(frame, out);
    }

    /** Moves frames whose time has come (delay over, reorder timeout) to {@code out}, earliest first. */
    void release(long now, MbufRing out) {
        while (true) {
            Held firstHeld = null;
            for (Held h : held) {
                if (firstHeld == null || h.deadline < firstHeld.deadline) {
                    firstHeld = h;
                }
            }
            Delayed firstDelayed = delayed.peek();
            long heldDue = firstHeld == null ? Long.MAX_VALUE : firstHeld.deadline;
            long delayedDue = firstDelayed == null ? Long.MAX_VALUE : firstDelayed.due();
            if (Math.min(heldDue, delayedDue) > now) {
                return;
            }
            if (delayedDue <= heldDue) {
                emit(delayed.poll().frame(), out);
            } else {
                held.remove(firstHeld);
                releaseHeld(firstHeld, out);
            }
        }
    }

    /** Earliest time {@link #release} has something to do; Long.MAX_VALUE if nothing is held. */
    long nextReleaseNanos() {
        long next = delayed.isEmpty() ? Long.MAX_VALUE : delayed.peek().due();
        for (Held h : held) {
            next = Math.min(next, h.deadline);
        }
        return next;
    }

    /** Frames held (delayed or waiting to be overtaken). */
    int heldFrames() {
        return held.size() + delayed.size();
    }

    /** A frame goes out: held frames count it as overtaking them, and go once enough have. */
    private void emit(long frame, MbufRing out) {
        out.add(frame, 0);
        if (held.isEmpty()) {
            return;
        }
        for (Iterator<Held> it = held.iterator(); it.hasNext(); ) {
            Held h = it.next();
            h.overtaken = true;
            if (--h.gapLeft == 0) {
                it.remove();
                releaseHeld(h, out);
            }
        }
    }

    private void releaseHeld(Held h, MbufRing out) {
        if (h.overtaken) {
            reordered++;
        }
        out.add(h.frame, 0);
    }

    private static final int ETHERNET_HEADER = 14;

    /**
     * Damage a link's frame check would catch never reaches a host, so only damage past it is modelled (a faulty
     * router or NIC memory): a bit of an IPv4 packet, whose checksums must catch it. Other frames (ARP, which has
     * no checksum and would poison the neighbour cache) pass untouched.
     */
    private static boolean carriesIpv4(long frame) {
        if (Mbuf.dataLen(frame) < ETHERNET_HEADER) {
            return false;
        }
        long type = Mbuf.dataAddress(frame) + 12;
        return Mbuf.MEMORY.get(JAVA_BYTE, type) == 0x08
                && Mbuf.MEMORY.get(JAVA_BYTE, type + 1) == 0x00;
    }

    /**
     * Flips one random bit of the IPv4 packet the frame carries. In place when the frame's buffers are its own; a frame whose buffer
     * someone else also holds (TCP keeps unacknowledged payload for retransmission) is copied first, so the
     * corruption hits only this transmission. Returns the frame to carry on with.
     */
    private long corrupt(long frame) {
        int length = Mbuf.pktLen(frame);
        if (length <= ETHERNET_HEADER || !carriesIpv4(frame)) {
            return frame;
        }
        int offset = ETHERNET_HEADER + random.nextInt(length - ETHERNET_HEADER);
        int bit = random.nextInt(8);
        if (Frames.isShared(frame)) {
            long copy = Frames.copy(frame, pool);
            if (copy == 0) {
                noMbuf++;
                return frame;
            }
            pool.free(frame);
            frame = copy;
        }
        long seg = frame;
        while (offset >= Mbuf.dataLen(seg)) {
            offset -= Mbuf.dataLen(seg);
            seg = Mbuf.next(seg);
        }
        long address = Mbuf.dataAddress(seg) + offset;
        Mbuf.MEMORY.set(JAVA_BYTE, address, (byte) (Mbuf.MEMORY.get(JAVA_BYTE, address) ^ (1 << bit)));
        if (receivePath) {
            // the device's "checksum good" verdict was about the bytes before the flip
            long verdicts = Mbuf.LAYOUT.rxIpChecksumMask | Mbuf.LAYOUT.rxL4ChecksumMask;
            Mbuf.setOlFlags(frame, Mbuf.olFlags(frame) & ~verdicts);
        }
        corrupted++;
        return frame;
    }

    private boolean takeToken(long now) {
        if (now >= refillAt) {
            tokens = config.rateFrames();
            refillAt = now + config.rateIntervalNanos();
        }
        if (tokens == 0) {
            return false;
        }
        tokens--;
        return true;
    }

    /** Draws only when the fault is on, so an unused fault does not change the others' random sequence. */
    private boolean chance(double probability) {
        return probability > 0 && random.nextDouble() < probability;
    }

    FaultCounters counters() {
        return new FaultCounters(frames, dropped, duplicated, corrupted, reordered, delayedCount, rateLimited,
                oversize, noMbuf);
    }

    /** Frees every frame held. */
    void freeAll() {
        for (Held h : held) {
            pool.free(h.frame);
        }
        held.clear();
        while (!delayed.isEmpty()) {
            pool.free(delayed.poll().frame());
        }
    }
}
