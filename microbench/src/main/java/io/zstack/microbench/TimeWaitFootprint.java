package io.zstack.microbench;

import io.zstack.buffer.JavaMbufPool;
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
import java.util.ArrayList;
import java.util.List;

/**
 * Heap a server keeps per connection it closed first, for the 2 MSL of TIME_WAIT: two stacks over a simulated link,
 * N connections opened from A to B, B's application closes each first and drops it (as a channel does once closed),
 * A closes after, and once every tuple on B is in TIME_WAIT the heap after full collections is compared with the heap
 * before the connections were opened. A server closing first (HTTP/1.0, {@code Connection: close}) holds up to
 * {@link TcpSettings#maxTimeWaits} of them.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp microbench/target/microbench.jar \
 *     io.zstack.microbench.TimeWaitFootprint [connections=10000]</pre>
 */
public final class TimeWaitFootprint {
    private TimeWaitFootprint() {
    }

    public static void main(String[] args) throws InterruptedException {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        VirtualClock clock = new VirtualClock();
        JavaMbufPool pool = new JavaMbufPool("footprint", 16384);
        pool.bindToCurrentThread();
        SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(10_000).bitsPerSecond(0).queueCapacity(65536)
                .pool(pool).endA("a", MacAddress.of(0x020000000001L), 1500)
                .endB("b", MacAddress.of(0x020000000002L), 1500).build();
        TcpSettings settings = TcpSettings.defaults();
        NetStack a = new NetStack(link.a(), new Ipv4Config(0x0a000001, 24, 0), settings, new IsnGenerator(1, 2), 1, 0);
        NetStack b = new NetStack(link.b(), new Ipv4Config(0x0a000002, 24, 0), settings, new IsnGenerator(3, 4), 2, 0);
        TcpListener listener = b.tcp().listen(0, 80, settings);
        // one round trip first: ARP, every class loaded and its statics made
        run(a, b, clock, 1, listener, settings);
        long before = heapAfterGc();
        run(a, b, clock, n, listener, settings);
        int timeWaits = b.tcp().connectionCount();
        long after = heapAfterGc();
        if (timeWaits != n + 1) {
            throw new IllegalStateException(timeWaits + " tuples held on the server where " + (n + 1)
                    + " TIME_WAITs were expected");
        }
        if (a.tcp().connectionCount() != 0) {
            throw new IllegalStateException(a.tcp().connectionCount() + " client connections not closed");
        }
        System.out.printf("%d TIME_WAITs on the server: %d bytes of heap each (heap after GC %d -> %d KiB)%n", n,
                (after - before) / n, before / 1024, after / 1024);
        a.close();
        b.close();
        link.close();
        pool.close();
    }

    /** Opens {@code n} connections and closes them, the server first; nothing of them is kept here. */
    private static void run(NetStack a, NetStack b, VirtualClock clock, int n, TcpListener listener,
                            TcpSettings settings) {
        List<TcpConnection> clients = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            clients.add(a.tcp().connect(0, 0, 0x0a000002, 80, settings, null, clock.now()));
        }
        List<TcpConnection> servers = new ArrayList<>(n);
        for (int round = 0; round < 1000 && servers.size() < n; round++) {
            step(a, b, clock);
            TcpConnection s;
            while ((s = listener.accept()) != null) {
                servers.add(s);
            }
        }
        if (servers.size() < n) {
            throw new IllegalStateException(servers.size() + " of " + n + " connections accepted");
        }
        for (TcpConnection s : servers) {
            s.close(clock.now()); // the server closes first: its side goes to TIME_WAIT
        }
        servers.clear(); // and its application lets go, as a closed channel does
        for (int round = 0; round < 100; round++) {
            step(a, b, clock);
        }
        for (TcpConnection c : clients) {
            if (c.state() != TcpState.CLOSE_WAIT) {
                throw new IllegalStateException("a client is in " + c.state() + ", not CLOSE_WAIT");
            }
            c.close(clock.now());
        }
        clients.clear();
        for (int round = 0; round < 100; round++) {
            step(a, b, clock);
        }
    }

    private static void step(NetStack a, NetStack b, VirtualClock clock) {
        clock.advance(10_000);
        a.poll(clock.now());
        b.poll(clock.now());
    }

    private static long heapAfterGc() throws InterruptedException {
        Runtime rt = Runtime.getRuntime();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(50);
            used = Math.min(used, rt.totalMemory() - rt.freeMemory());
        }
        return used;
    }
}
