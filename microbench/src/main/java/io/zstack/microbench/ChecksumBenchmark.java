package io.zstack.microbench;

import io.zstack.wire.Checksum;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The software Internet checksum over off-heap bytes, as the stack calls it for each received and sent segment
 * (a slice of native memory per mbuf). Baseline: copying the same bytes to another off-heap buffer
 * ({@code MemorySegment.copy}, a memcpy), the cost zero copy avoids: a checksum that costs more than a copy would
 * eat what zero copy saves. Sizes: a small segment, a full 1448-byte segment, an 8 KiB buffer.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ChecksumBenchmark {
    @Param({"64", "1448", "8192"})
    int length;

    private Arena arena;
    private MemorySegment source;
    private MemorySegment target;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofConfined();
        source = arena.allocate(length + 8, 64);
        target = arena.allocate(length + 8, 64);
        for (int i = 0; i < length + 8; i++) {
            source.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public long checksum() {
        return Checksum.add(0, source, 0, length);
    }

    /** A segment whose data starts at an odd address, as after headers of odd total length. */
    @Benchmark
    public long checksumUnaligned() {
        return Checksum.add(0, source, 1, length);
    }

    @Benchmark
    public MemorySegment copyBaseline() {
        MemorySegment.copy(source, 0, target, 0, length);
        return target;
    }
}
