package io.zstack.device;

/**
 * What a {@link FaultInjectingDevice} does to frames, after smoltcp's FaultInjector and Linux's netem. Each
 * probability applies to each frame independently, in this order: rate limit, size limit, drop, duplicate, then
 * for the frame and its duplicate separately: corrupt, reorder, delay. Randomness comes from {@code seed} alone,
 * so the same configuration, clock and sequence of calls deliver the same frames in the same order.
 *
 * @param seed                seeds the random generator: runs replay exactly
 * @param direction           which path the faults apply to
 * @param drop                probability a frame is lost
 * @param duplicate           probability a frame is delivered twice (the second a copy in the device's pool)
 * @param corrupt             probability one random bit of an IPv4 frame's packet is flipped (damage past the
 *                            link's frame check; ARP and the Ethernet header are left alone)
 * @param reorder             probability a frame is held back until {@code reorderGap} later frames have passed
 * @param reorderGap          how many later frames overtake a held frame (at least 1)
 * @param reorderTimeoutNanos a held frame goes anyway after this long, overtaken or not
 * @param delay               probability a frame is delayed
 * @param delayNanos          extra latency of a delayed frame
 * @param jitterNanos         plus a uniform random extra in [0, jitterNanos]; jitter can itself reorder frames
 * @param maxFrameBytes       longer frames are dropped (0: no limit)
 * @param rateFrames          at most this many frames per {@code rateIntervalNanos}, the rest dropped (0: no limit)
 * @param rateIntervalNanos   the rate limit's interval: the bucket refills to {@code rateFrames} once per interval
 */
public record FaultConfig(long seed, Direction direction, double drop, double duplicate, double corrupt,
                          double reorder, int reorderGap, long reorderTimeoutNanos,
                          double delay, long delayNanos, long jitterNanos,
                          int maxFrameBytes, int rateFrames, long rateIntervalNanos) {

    /** The path faults apply to. */
    public enum Direction {
        RECEIVE, TRANSMIT, BOTH;

        boolean receive() {
            return this != TRANSMIT;
        }

        boolean transmit() {
            return this != RECEIVE;
        }
    }

    /** No faults: every frame passes through untouched. */
    public static final FaultConfig NONE = builder().build();

    public FaultConfig {
        if (direction == null) {
            throw new IllegalArgumentException("direction is null");
        }
        checkProbability("drop", drop);
        checkProbability("duplicate", duplicate);
        checkProbability("corrupt", corrupt);
        checkProbability("reorder", reorder);
        checkProbability("delay", delay);
        if (reorderGap < 1 || reorderTimeoutNanos < 0 || delayNanos < 0 || jitterNanos < 0 || maxFrameBytes < 0
                || rateFrames < 0 || (rateFrames > 0 && rateIntervalNanos <= 0)) {
            throw new IllegalArgumentException("fault config: " + "reorderGap=" + reorderGap + " reorderTimeout="
                    + reorderTimeoutNanos + " delay=" + delayNanos + " jitter=" + jitterNanos + " maxFrame="
                    + maxFrameBytes + " rate=" + rateFrames + "/" + rateIntervalNanos + "ns");
        }
    }

    private static void checkProbability(String name, double p) {
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException(name + " probability must be in [0, 1]: " + p);
        }
    }

    /** True when frames on this path may be changed, dropped or held. */
    boolean appliesTo(boolean receivePath) {
        boolean anyFault = drop > 0 || duplicate > 0 || corrupt > 0 || reorder > 0 || delay > 0 || maxFrameBytes > 0
                || rateFrames > 0;
        return anyFault && (receivePath ? direction.receive() : direction.transmit());
    }

    /** True when this configuration can flip bits on the given path. */
    boolean corrupts(boolean receivePath) {
        return corrupt > 0 && (receivePath ? direction.receive() : direction.transmit());
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.seed = seed;
        b.direction = direction;
        b.drop = drop;
        b.duplicate = duplicate;
        b.corrupt = corrupt;
        b.reorder = reorder;
        b.reorderGap = reorderGap;
        b.reorderTimeoutNanos = reorderTimeoutNanos;
        b.delay = delay;
        b.delayNanos = delayNanos;
        b.jitterNanos = jitterNanos;
        b.maxFrameBytes = maxFrameBytes;
        b.rateFrames = rateFrames;
        b.rateIntervalNanos = rateIntervalNanos;
        return b;
    }

    /** Builds a {@link FaultConfig}; everything off by default, faults on both paths, seed 0. */
    public static final class Builder {
        private long seed;
        private Direction direction = Direction.BOTH;
        private double drop;
        private double duplicate;
        private double corrupt;
        private double reorder;
        private int reorderGap = 1;
        private long reorderTimeoutNanos = 1_000_000;
        private double delay;
        private long delayNanos;
        private long jitterNanos;
        private int maxFrameBytes;
        private int rateFrames;
        private long rateIntervalNanos;

        private Builder() {
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public Builder direction(Direction direction) {
            this.direction = direction;
            return this;
        }

        public Builder drop(double probability) {
            this.drop = probability;
            return this;
        }

        public Builder duplicate(double probability) {
            this.duplicate = probability;
            return this;
        }

        public Builder corrupt(double probability) {
            this.corrupt = probability;
            return this;
        }

        /** Holds a frame, with this probability, until one later frame has passed (or 1 ms has gone by). */
        public Builder reorder(double probability) {
            this.reorder = probability;
            return this;
        }

        /** Holds a frame, with this probability, until {@code gap} later frames have passed or the timeout. */
        public Builder reorder(double probability, int gap, long timeoutNanos) {
            this.reorder = probability;
            this.reorderGap = gap;
            this.reorderTimeoutNanos = timeoutNanos;
            return this;
        }

        /** Delays every frame by {@code nanos} plus a uniform random jitter in [0, jitterNanos]. */
        public Builder delay(long nanos, long jitterNanos) {
            return delay(1.0, nanos, jitterNanos);
        }

        /** Delays a frame, with this probability, by {@code nanos} plus a jitter in [0, jitterNanos]. */
        public Builder delay(double probability, long nanos, long jitterNanos) {
            this.delay = probability;
            this.delayNanos = nanos;
            this.jitterNanos = jitterNanos;
            return this;
        }

        public Builder maxFrameBytes(int bytes) {
            this.maxFrameBytes = bytes;
            return this;
        }

        /** At most {@code frames} frames per {@code intervalNanos} (a bucket refilled once per interval). */
        public Builder rateLimit(int frames, long intervalNanos) {
            this.rateFrames = frames;
            this.rateIntervalNanos = intervalNanos;
            return this;
        }

        public FaultConfig build() {
            return new FaultConfig(seed, direction, drop, duplicate, corrupt, reorder, reorderGap, reorderTimeoutNanos,
                    delay, delayNanos, jitterNanos, maxFrameBytes, rateFrames, rateIntervalNanos);
        }
    }
}
