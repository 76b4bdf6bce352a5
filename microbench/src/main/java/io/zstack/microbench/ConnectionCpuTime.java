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
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The stack's cost of one short connection, the shape of an HTTP/1.0 request or a health check: the client
 * connects, sends a 64 B request, the server reads it, answers 64 B and closes first (so the server keeps the
 * TIME_WAIT, as a server sending {@code Connection: close} does), the client reads and closes. Both stacks run in
 * this thread over a zero-latency simulated link, so the figure is TCP/IP's CPU time per connection for both ends
 * together, without DPDK, Netty or the kernel. Measured in the thread's CPU time (robust on a shared machine), bytes
 * allocated per connection alongside (the garbage a connection leaves).
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp microbench/target/microbench.jar \
 *     io.zstack.microbench.ConnectionCpuTime 50000</pre>
 */
public final class ConnectionCpuTime {
    private final VirtualClock clock = new VirtualClock();
    private final JavaMbufPool pool = new JavaMbufPool("connections", 16384);
    private final SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0)
            .queueCapacity(4096).pool(pool).endA("a", MacAddress.of(0x020000000001L), 1500)
            .endB("b", MacAddress.of(0x020000000002L), 1500).build();
    private final TcpSettings settings = settings();
    private final NetStack client = new NetStack(link.a(), new Ipv4Config(0x0a000001, 24, 0), settings,
            new IsnGenerator(1, 2), 1, 0);
    private final NetStack server = new NetStack(link.b(), new Ipv4Config(0x0a000002, 24, 0), settings,
            new IsnGenerator(3, 4), 2, 0);
    private final TcpListener listener = server.tcp().listen(0, 80, settings);

    private static TcpSettings settings() {
        return TcpSettings.builder().nagle(false).build();
    }

    private void step() {
        clock.advance(1_000);
        client.poll(clock.now());
        server.poll(clock.now());
    }

    private long message(int length) {
        long m = pool.alloc();
        Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
        Mbuf.append(m, length);
        return m;
    }

    /** Reads everything readable from {@code c}; returns the bytes. */
    private long drain(TcpConnection c) {
        long bytes = 0;
        long chain;
        while ((chain = c.read(clock.now())) != 0) {
            bytes += Mbuf.pktLen(chain);
            pool.free(chain);
        }
        return bytes;
    }

    /** One connection, start to end; returns the bytes both ends read (128). */
    long connection() {
        TcpConnection c = client.tcp().connect(0, 0, 0x0a000002, 80, settings, null, clock.now());
        TcpConnection s = null;
        for (int i = 0; i < 10_000 && (s == null || c.state() != TcpState.ESTABLISHED); i++) {
            step();
            if (s == null) {
                s = listener.accept();
            }
        }
        if (s == null || c.state() != TcpState.ESTABLISHED) {
            throw new IllegalStateException("no connection: " + c.state() + " after " + done + " connections; "
                    + c + "; server: " + server.tcp().counters());
        }
        long read = 0;
        c.write(message(64), clock.now());
        for (int i = 0; i < 100 && read < 64; i++) {
            step();
            read += drain(s);
        }
        s.write(message(64), clock.now());
        s.close(clock.now());
        for (int i = 0; i < 100 && read < 128; i++) {
            step();
            read += drain(c);
        }
        c.close(clock.now());
        for (int i = 0; i < 100 && c.state() != TcpState.CLOSED; i++) {
            step();
        }
        if (read != 128 || c.state() != TcpState.CLOSED || s.state() != TcpState.TIME_WAIT) {
            throw new IllegalStateException("read " + read + ", client " + c.state() + ", server " + s.state());
        }
        done++;
        return read;
    }

    private long done;

    public static void main(String[] args) {
        int ops = args.length > 0 ? Integer.parseInt(args[0]) : 50_000;
        int warmupRounds = 3;
        int rounds = 5;
        ConnectionCpuTime b = new ConnectionCpuTime();
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        com.sun.management.ThreadMXBean alloc = (com.sun.management.ThreadMXBean) mx;
        long best = Long.MAX_VALUE;
        long bestBytes = Long.MAX_VALUE;
        StringBuilder each = new StringBuilder();
        long sink = 0;
        for (int round = 0; round < warmupRounds + rounds; round++) {
            long cpu0 = mx.getCurrentThreadCpuTime();
            long bytes0 = alloc.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < ops; i++) {
                sink += b.connection();
            }
            long perOp = (mx.getCurrentThreadCpuTime() - cpu0) / ops;
            long bytesPerOp = (alloc.getCurrentThreadAllocatedBytes() - bytes0) / ops;
            if (round >= warmupRounds) {
                best = Math.min(best, perOp);
                bestBytes = Math.min(bestBytes, bytesPerOp);
                each.append(perOp).append(' ');
            }
        }
        System.out.println("CPU ns per connection (both ends) min " + best + " (rounds: " + each.toString().trim()
                + ", " + ops + " connections each); bytes allocated per connection " + bestBytes + "; server holds "
                + b.server.tcp().connectionCount() + " connections (TIME_WAIT); " + sink + " bytes read");
    }
}
