package io.zstack.microbench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * {@link TcpSegmentBenchmark#segment} measured in the calling thread's CPU time rather than wall-clock time: on a
 * shared, loaded machine a descheduled thread does not count, where JMH's averages swing by several times. Prints the
 * per-segment CPU time of each measured round and their minimum.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp microbench/target/microbench.jar \
 *     io.zstack.microbench.SegmentCpuTime 64 200000</pre>
 */
public final class SegmentCpuTime {
    private SegmentCpuTime() {
    }

    public static void main(String[] args) {
        int payload = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        int ops = args.length > 1 ? Integer.parseInt(args[1]) : 200_000;
        int warmupRounds = 3;
        int rounds = 5;
        TcpSegmentBenchmark b = new TcpSegmentBenchmark();
        b.payload = payload;
        b.setUp();
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long best = Long.MAX_VALUE;
        StringBuilder each = new StringBuilder();
        long sink = 0;
        for (int round = 0; round < warmupRounds + rounds; round++) {
            long cpu0 = mx.getCurrentThreadCpuTime();
            for (int i = 0; i < ops; i++) {
                sink += b.segment();
            }
            long perOp = (mx.getCurrentThreadCpuTime() - cpu0) / ops;
            if (round >= warmupRounds) {
                best = Math.min(best, perOp);
                each.append(perOp).append(' ');
            }
        }
        b.tearDown();
        long expected = (long) payload * ops * (warmupRounds + rounds);
        if (sink != expected) {
            // a write the send buffer refused costs next to nothing: such ops would pass for fast segments
            throw new IllegalStateException(sink + " bytes read where " + expected + " were written: not every op "
                    + "sent its segment");
        }
        System.out.println("payload " + payload + " B: CPU ns per segment min " + best + " (rounds: "
                + each.toString().trim() + ", " + ops + " segments each; " + sink + " bytes read)");
    }
}
