package io.zstack.microbench;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.ip.Ipv4Config;
import io.zstack.stack.NetStack;
import io.zstack.tcp.IsnGenerator;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpListener;
import io.zstack.tcp.TcpSettings;
import io.zstack.tcp.TcpState;
import io.zstack.wire.MacAddress;
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
 * Per-segment cost of the TCP/IP fast paths: one data segment written by the application on stack A, sent (header
 * built, payload referenced, IPv4 + Ethernet prepended, checksum computed), carried by a zero-latency simulated
 * link that hands over the same mbuf, received by stack B (parsed, checksum verified, queued in order), read by the
 * application, and acknowledged back (delayed ACK: one ACK per two segments). No DPDK, no copy of the payload.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class TcpSegmentBenchmark {
    @Param({"64", "1448"})
    int payload;

    private VirtualClock clock;
    private JavaMbufPool pool;
    private SimulatedLink link;
    private NetStack a;
    private NetStack b;
    private TcpConnection client;
    private TcpConnection server;
    /** Writes the send buffer refused: must stay 0, or the ops measured sent nothing. */
    private long refusedWrites;

    @Setup(Level.Trial)
    public void setUp() {
        clock = new VirtualClock();
        pool = new JavaMbufPool("bench", 16384);
        pool.bindToCurrentThread(); // the thread polling both stacks, as an event loop binds its pool
        link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0).queueCapacity(4096).pool(pool)
                .endA("a", MacAddress.of(0x020000000001L), 1500).endB("b", MacAddress.of(0x020000000002L), 1500)
                .build();
        // each op advances the clock 1 µs: a 2 µs delayed-ACK timeout acknowledges small segments every second op,
        // as full-sized ones are (every second one). With the default 40 ms nothing acknowledged 64 B segments for
        // 40,000 ops, the send buffer filled, and 96 % of the ops measured a refused write (SegmentCpuTime checks)
        TcpSettings settings = TcpSettings.builder().nagle(false).delayedAckTimeoutNanos(2_000).build();
        a = new NetStack(link.a(), new Ipv4Config(0x0a000001, 24, 0), settings, new IsnGenerator(1, 2), 1, 0);
        b = new NetStack(link.b(), new Ipv4Config(0x0a000002, 24, 0), settings, new IsnGenerator(3, 4), 2, 0);
        TcpListener listener = b.tcp().listen(0, 80, settings);
        client = a.tcp().connect(0, 0, 0x0a000002, 80, settings, null, 0);
        for (int i = 0; i < 1000 && (server == null || client.state() != TcpState.ESTABLISHED); i++) {
            step();
            if (server == null) {
                server = listener.accept();
            }
        }
        if (server == null || client.state() != TcpState.ESTABLISHED) {
            throw new IllegalStateException("no connection: " + client.state());
        }
    }

    private void step() {
        clock.advance(1_000);
        a.poll(clock.now());
        b.poll(clock.now());
    }

    @Benchmark
    public long segment() {
        long m = pool.alloc();
        Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
        Mbuf.append(m, payload);
        if (!client.write(m, clock.now())) {
            pool.free(m);
            refusedWrites++;
        }
        step();
        long chain;
        long bytes = 0;
        while ((chain = server.read(clock.now())) != 0) {
            bytes += Mbuf.pktLen(chain);
            pool.free(chain);
        }
        a.poll(clock.now()); // the ACK
        return bytes;
    }

    /**
     * What {@link #segment} costs with nothing to send or receive: the same clock step and three polls (both stacks,
     * then stack A again) on an idle connection, the part of a segment's figure that is the loop's. The payload
     * parameter changes nothing here.
     */
    @Benchmark
    public int idlePolls() {
        step();
        return a.poll(clock.now());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        a.close();
        b.close();
        link.close();
        pool.close();
        if (refusedWrites > 0) {
            // a refused write costs next to nothing: the figure would be of ops that sent no segment
            throw new IllegalStateException(refusedWrites + " writes were refused (send buffer full): the figure is "
                    + "not the cost of a segment");
        }
    }
}
