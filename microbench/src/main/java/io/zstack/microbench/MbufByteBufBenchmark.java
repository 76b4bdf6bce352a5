package io.zstack.microbench;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.internal.PlatformDependent;
import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.MbufByteBuf;
import io.zstack.buffer.ZStackByteBufAllocator;
import io.zstack.dpdk.Eal;
import java.util.SplittableRandom;
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
 * The mbuf-backed ByteBuf (memory reached through java.lang.foreign) against Netty's own direct buffers in the same
 * run: Unpooled and PooledByteBufAllocator, which use sun.misc.Unsafe when Netty may (the default on JDK 25; pass
 * {@code -jvmArgsAppend -Dio.netty.noUnsafe=true} for their ByteBuffer paths). Field access, a full-MSS copy in,
 * and the allocate-fill-release cycle of a channel write. Leak detection is off so no run samples a wrapper.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dio.netty.leakDetection.level=disabled"})
public class MbufByteBufBenchmark {
    private static final int MSS = 1448;

    @Param({"mbuf", "unpooled", "pooled"})
    public String kind;

    private DpdkMbufPool pool;
    private ByteBufAllocator allocator;
    private ByteBuf buf;
    private final byte[] payload = new byte[MSS];
    // Not final and not constant, so the JIT cannot fold the index checks away.
    private int index = 100;
    private long value;

    @Setup(Level.Trial)
    public void setUp() {
        Eal.ensureInitialized();
        Eal.registerThread(); // the benchmark thread frees mbufs: give it an lcore and with it the mempool cache
        pool = DpdkMbufPool.create("bench-bytebuf", 8191, 256, 2176);
        allocator = switch (kind) {
            case "mbuf" -> new ZStackByteBufAllocator(pool);
            case "unpooled" -> UnpooledByteBufAllocator.DEFAULT;
            case "pooled" -> PooledByteBufAllocator.DEFAULT;
            default -> throw new IllegalArgumentException(kind);
        };
        buf = allocator.directBuffer(2048, 2048);
        if (kind.equals("mbuf") != (MbufByteBuf.unwrapMbuf(buf) != null)) {
            throw new IllegalStateException("wrong buffer for " + kind + ": " + buf);
        }
        new SplittableRandom(1).nextBytes(payload);
        System.out.println("\n" + kind + ": " + buf.getClass().getSimpleName() + ", Netty uses Unsafe: "
                + PlatformDependent.hasUnsafe());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        buf.release();
        pool.close();
    }

    @Benchmark
    public long getLong() {
        return buf.getLong(index);
    }

    @Benchmark
    public ByteBuf setLong() {
        return buf.setLong(index, value++);
    }

    @Benchmark
    public ByteBuf writeBytes1448() {
        return buf.clear().writeBytes(payload);
    }

    /** What a handler does per write: a buffer from the channel's allocator, filled, released after sending. */
    @Benchmark
    public boolean allocWriteRelease() {
        ByteBuf b = allocator.directBuffer(MSS);
        b.writeBytes(payload);
        return b.release();
    }
}
