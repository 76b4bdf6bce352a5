package io.zstack.microbench;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.dpdk.Dpdk;
import io.zstack.dpdk.DpdkPort;
import io.zstack.dpdk.Eal;
import io.zstack.dpdk.Mempool;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of crossing into DPDK from Java: an empty rx_burst on a started port (net_ring), the cheapest critical
 * downcall as a baseline, mbuf alloc/free single and in bursts of 32 from a DPDK mempool (with the thread's lcore
 * cache) and from the pure-Java pool, and Java-side mbuf field access against DPDK's own inline helper.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class DpdkPathBenchmark {
    private DpdkMbufPool dpdkPool;
    private JavaMbufPool javaPool;
    private DpdkPort port;
    private MbufBurst burst;
    private long mbuf;

    @Setup(Level.Trial)
    public void setUp() {
        Eal.ensureInitialized();
        Eal.registerThread(); // this thread polls: give it an lcore and with it the mempool cache
        dpdkPool = DpdkMbufPool.create("bench", 8191, 256, 2176);
        javaPool = new JavaMbufPool("bench-java", 8192);
        port = DpdkPort.probe(Vdevs.ring(9));
        port.configure(PortConfig.defaults(), dpdkPool.mempool().address());
        port.start();
        burst = new MbufBurst(32);
        mbuf = dpdkPool.alloc();
        Mbuf.append(mbuf, 64);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        dpdkPool.free(mbuf);
        port.stop();
        port.close();
        dpdkPool.close();
        javaPool.close();
    }

    /** Baseline: the cheapest downcall through the shim (rte_lcore_id). */
    @Benchmark
    public int downcallBaseline() {
        return Dpdk.lcoreId();
    }

    /** rte_eth_rx_burst of up to 32 on an empty queue, through the shim, critical linkage. */
    @Benchmark
    public int emptyRxBurst() {
        return port.rxBurst(0, burst.address(0), 32);
    }

    @Benchmark
    public void dpdkAllocFree() {
        dpdkPool.free(dpdkPool.alloc());
    }

    /** 32 mbufs in one rte_pktmbuf_alloc_bulk and back in one rte_pktmbuf_free_bulk; reported per burst. */
    @Benchmark
    public void dpdkAllocFreeBulk32() {
        dpdkPool.allocBulk(burst, 32);
        dpdkPool.freeBulk(burst, 0, 32);
        burst.clear();
    }

    @Benchmark
    public void javaAllocFree() {
        javaPool.free(javaPool.alloc());
    }

    @Benchmark
    public void javaAllocFreeBulk32() {
        javaPool.allocBulk(burst, 32);
        javaPool.freeBulk(burst, 0, 32);
        burst.clear();
    }

    /** Prepend + adj of 14 bytes done in Java on the mbuf's fields. */
    @Benchmark
    public long javaPrependAdj() {
        long a = Mbuf.prepend(mbuf, 14);
        Mbuf.adj(mbuf, 14);
        return a;
    }

    /** The same through DPDK's inline functions behind two downcalls. */
    @Benchmark
    public long nativePrependAdj() {
        long a = Mempool.Reference.prepend(mbuf, 14);
        Mempool.Reference.adj(mbuf, 14);
        return a;
    }
}
