package io.zstack.microbench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

/**
 * {@link TcpSegmentBenchmark#segment} measured in the calling thread's CPU time rather than wall-clock time: on a
 * shared, loaded machine a descheduled thread does not count, where JMH's averages swing by several times. Runs
 * rounds of {@code ops} segments for {@code seconds} after a warm-up and prints the per-segment CPU time's minimum,
 * 10th percentile and median over the rounds.
 *
 * <p>Why rounds over many seconds and a low percentile: on these VMs one vCPU at a time runs about 1.5x slower for
 * seconds on end (the same jar, the same thread, 390 ns a segment and then 590 ns for 6 s, and back; the other vCPU
 * not slowed at the same moments: microbench/README.md, 2026-12-07 evening), so a few rounds within half a second, as
 * this measured before, fell wholly inside or outside such an episode, and two builds compared that way differed by
 * the episodes they met. The low percentile over 20 s is the undisturbed cost.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp microbench/target/microbench.jar \
 *     io.zstack.microbench.SegmentCpuTime 64 [seconds, default 20] [ops per round, default 100000]</pre>
 */
public final class SegmentCpuTime {
    private SegmentCpuTime() {
    }

    public static void main(String[] args) {
        int payload = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        int ops = args.length > 2 ? Integer.parseInt(args[2]) : 100_000;
        int warmupRounds = 10;
        TcpSegmentBenchmark b = new TcpSegmentBenchmark();
        b.payload = payload;
        b.setUp();
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long[] perOp = new long[1024];
        int rounds = 0;
        long sink = 0;
        long opsRun = 0;
        long measureFrom = 0;
        for (int round = 0; ; round++) {
            if (round == warmupRounds) {
                measureFrom = System.nanoTime();
            }
            long cpu0 = mx.getCurrentThreadCpuTime();
            for (int i = 0; i < ops; i++) {
                sink += b.segment();
            }
            long cost = (mx.getCurrentThreadCpuTime() - cpu0) / ops;
            opsRun += ops;
            if (round >= warmupRounds) {
                if (rounds == perOp.length) {
                    perOp = Arrays.copyOf(perOp, rounds * 2);
                }
                perOp[rounds++] = cost;
                if (System.nanoTime() - measureFrom >= seconds * 1_000_000_000L) {
                    break;
                }
            }
        }
        b.tearDown();
        long expected = (long) payload * opsRun;
        if (sink != expected) {
            // a write the send buffer refused costs next to nothing: such ops would pass for fast segments
            throw new IllegalStateException(sink + " bytes read where " + expected + " were written: not every op "
                    + "sent its segment");
        }
        long[] sorted = Arrays.copyOf(perOp, rounds);
        Arrays.sort(sorted);
        System.out.println("payload " + payload + " B: CPU ns per segment min " + sorted[0] + ", p10 "
                + sorted[rounds / 10] + ", median " + sorted[rounds / 2] + ", max " + sorted[rounds - 1] + " (" + rounds
                + " rounds of " + ops + " segments over " + seconds + " s; " + sink + " bytes read)");
    }
}
