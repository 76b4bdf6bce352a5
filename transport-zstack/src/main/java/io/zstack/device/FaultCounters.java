package io.zstack.device;

/**
 * A snapshot of what a {@link FaultInjectingDevice} did on one path (or on both, {@link #plus summed}).
 *
 * @param frames      frames that entered the fault injector
 * @param dropped     lost on purpose ({@link FaultConfig#drop})
 * @param duplicated  delivered twice (a copy made)
 * @param corrupted   had one bit flipped
 * @param reordered   held back and overtaken by at least one later frame
 * @param delayed     given extra latency
 * @param rateLimited dropped by the rate limit
 * @param oversize    dropped for being longer than {@link FaultConfig#maxFrameBytes}
 * @param noMbuf      a duplicate (or a private copy to corrupt a shared frame) needed an mbuf and the pool was
 *                    empty: that fault was skipped
 */
public record FaultCounters(long frames, long dropped, long duplicated, long corrupted, long reordered, long delayed,
                            long rateLimited, long oversize, long noMbuf) {

    public static final FaultCounters ZERO = new FaultCounters(0, 0, 0, 0, 0, 0, 0, 0, 0);

    public FaultCounters plus(FaultCounters o) {
        return new FaultCounters(frames + o.frames, dropped + o.dropped, duplicated + o.duplicated,
                corrupted + o.corrupted, reordered + o.reordered, delayed + o.delayed, rateLimited + o.rateLimited,
                oversize + o.oversize, noMbuf + o.noMbuf);
    }
}
