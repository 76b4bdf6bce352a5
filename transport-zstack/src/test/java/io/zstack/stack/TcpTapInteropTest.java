package io.zstack.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import io.zstack.device.NetDevice;
import io.zstack.dpdk.PortConfig;
import io.zstack.ip.Ipv4Config;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpListener;
import io.zstack.tcp.TcpState;
import io.zstack.testing.Command;
import io.zstack.testing.FrameHoldingDevice;
import io.zstack.testing.NetNamespace;
import io.zstack.testing.TapNetwork;
import io.zstack.wire.Ipv4Packet;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ZStack's TCP against the Linux kernel's, over a DPDK tap port in a namespace the test creates: the kernel's
 * client streams to a ZStack echo server (sha256 compared both ways), and a ZStack client streams through a kernel
 * echo server. The handshake, captured on the kernel side, negotiates window scaling, SACK and timestamps.
 */
public class TcpTapInteropTest {
    private static final int BYTES = 32 * 1024 * 1024;
    private static final String KERNEL = "10.77.0.1";
    private static final String STACK = "10.77.0.2";

    /** Runs the stack on its own thread; {@code app} runs inside the poll loop (the stack is single-threaded). */
    static final class Runner implements AutoCloseable {
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;
        private volatile Throwable failure;

        Runner(NetStack stack, java.util.function.LongConsumer app) {
            thread = Thread.ofPlatform().name("zstack-poll").start(() -> {
                try {
                    stack.start();
                    while (running.get()) {
                        long now = System.nanoTime();
                        stack.poll(now);
                        app.accept(now);
                    }
                } catch (Throwable t) {
                    failure = t;
                }
            });
        }

        @Override
        public void close() throws InterruptedException {
            running.set(false);
            thread.join();
            if (failure != null) {
                throw new AssertionError("stack thread failed", failure);
            }
        }
    }

    public static Path peerScript(Path dir) throws Exception {
        Path script = dir.resolve("tcp_peer.py");
        try (InputStream in = TcpTapInteropTest.class.getResourceAsStream("/interop/tcp_peer.py")) {
            Files.copy(in, script);
        }
        return script;
    }

    @Test
    void kernelClientStreamsThroughAZStackEchoServer(@TempDir Path dir) throws Exception {
        Path script = peerScript(dir);
        Path capture = dir.resolve("handshake.pcap");
        try (TapNetwork net = TapNetwork.create(KERNEL, PortConfig.defaults());
             NetStack stack = new NetStack(heldForCoalescing(net.device), Ipv4Config.parse(STACK + "/24", null))) {
            Process tcpdump = new ProcessBuilder("ip", "netns", "exec", net.namespace.name(), "tcpdump", "-i",
                    net.interfaceName, "-c", "2", "-w", capture.toString(), "tcp[tcpflags] & tcp-syn != 0")
                    .redirectErrorStream(true).start();
            Thread.sleep(500); // let tcpdump attach
            kernelClientStreamsThroughEcho(net.namespace, stack, net.pool, script, STACK, BYTES, 42, null);
            tcpdump.waitFor(10, TimeUnit.SECONDS);
            tcpdump.destroy();
            String options = Command.check("tshark", "-r", capture.toString(), "-T", "fields", "-e", "tcp.flags.ack",
                    "-e", "tcp.options.wscale.shift", "-e", "tcp.options.sack_perm", "-e", "tcp.options.timestamp.tsval",
                    "-e", "tcp.options.mss_val");
            // tshark may add a warning about running as root: keep only the packet rows (they start with the ACK bit)
            String[] lines = options.lines().filter(l -> l.startsWith("0\t") || l.startsWith("1\t"))
                    .toArray(String[]::new);
            assertEquals(2, lines.length, "SYN and SYN-ACK captured:\n" + options);
            for (String line : lines) {
                String[] f = line.split("\t", -1);
                assertTrue(f.length >= 5 && !f[1].isEmpty() && !f[2].isEmpty() && !f[3].isEmpty() && !f[4].isEmpty(),
                        "window scale, SACK-permitted, timestamps and MSS in both SYNs:\n" + options);
            }
            assertTrue(stack.tcp().counters().passiveOpens >= 1);
            // the tap offers checksum offloads both ways: TCP checksums went to the device (the kernel accepted every
            // byte, so they were right), and what it received it had verified (RX_L4_CKSUM_GOOD), never summed again
            io.zstack.ip.IpCounters ip = stack.ip().counters();
            assertTrue(net.device.capabilities().txTcpChecksum() && net.device.capabilities().rxChecksumVerified(),
                    net.device.toString());
            assertTrue(ip.txChecksumOffloaded > 0 && ip.txChecksumOffloaded > 10 * ip.txChecksumSoftware, ip.toString());
            assertTrue(ip.rxChecksumTrusted > 0, ip.toString());
            assertEquals(0, ip.rxChecksumSoftware, ip.toString());
            // the kernel's segments arrive in bursts: runs of them reached TCP merged, and every byte came back
            assertTrue(ip.framesCoalesced > 0 && ip.segmentsCoalesced > 0, ip.toString());
            assertEquals(0, net.device.txRefusedDrops(), net.device.statistics());
            System.out.println("kernel client through echo: " + stack.tcp().counters() + " " + ip + " "
                    + net.device.statistics());
        }
    }

    /** The same exchange with the port's offloads off: the stack sums every checksum itself, both ways. */
    @Test
    void withoutOffloadsTheStackSumsEveryChecksum(@TempDir Path dir) throws Exception {
        Path script = peerScript(dir);
        int bytes = 4 * 1024 * 1024;
        try (TapNetwork net = TapNetwork.create(KERNEL, PortConfig.defaults().withoutOffloads());
             NetStack stack = new NetStack(heldForCoalescing(net.device), Ipv4Config.parse(STACK + "/24", null))) {
            kernelClientStreamsThroughEcho(net.namespace, stack, net.pool, script, STACK, bytes, 43, null);
            io.zstack.ip.IpCounters ip = stack.ip().counters();
            assertTrue(!net.device.capabilities().txTcpChecksum() && !net.device.capabilities().rxChecksumVerified(),
                    net.device.toString());
            assertEquals(0, ip.txChecksumOffloaded, ip.toString());
            assertEquals(0, ip.rxChecksumTrusted, ip.toString());
            assertTrue(ip.txChecksumSoftware > 0 && ip.rxChecksumSoftware > 0, ip.toString());
            // receive coalescing summed the frames it merged itself (no verdict from the device), all of them right
            assertTrue(ip.framesCoalesced > 0, ip.toString());
            assertEquals(0, stack.tcp().counters().checksumErrors, stack.tcp().counters().toString());
        }
    }

    /**
     * The tap with its received frames held until 16 have come or 2 ms passed ({@link FrameHoldingDevice}): the tests
     * that assert the kernel's segments were merged must not depend on the stack polling slower than the kernel sends.
     */
    private static NetDevice heldForCoalescing(NetDevice tap) {
        return new FrameHoldingDevice(tap, 16, 2_000_000);
    }

    /** Echo: what a connection received goes straight back out, the very mbufs (no copy). */
    static void echo(TcpListener listener, List<TcpConnection> connections, long now, MbufPool pool) {
        TcpConnection accepted;
        while ((accepted = listener.accept()) != null) {
            connections.add(accepted);
        }
        for (int i = connections.size() - 1; i >= 0; i--) {
            TcpConnection c = connections.get(i);
            while (c.sendSpace() > 0) {
                long chain = c.read(now);
                if (chain == 0) {
                    break;
                }
                if (!c.write(chain, now)) {
                    pool.free(chain);
                }
            }
            if (c.isInputShutdown() && c.readable() == 0 && !c.isOutputShutdown()) {
                c.shutdownOutput(now);
            }
            if (c.state() == TcpState.CLOSED || c.state() == TcpState.TIME_WAIT) {
                connections.remove(i);
            }
        }
    }

    /**
     * The kernel's client in {@code ns} streams {@code bytes} seeded bytes through an echo server on {@code stack}
     * ({@code stackAddress}:7000) and gets every byte back (sha256 both ways). {@code alongside}, when not null, is
     * started in the middle of it and must exit with 0.
     */
    static void kernelClientStreamsThroughEcho(NetNamespace ns, NetStack stack, MbufPool pool, Path script,
                                               String stackAddress, int bytes, int seed, ProcessBuilder alongside)
            throws Exception {
        TcpListener listener = stack.tcp().listen(0, 7000, stack.tcp().defaults());
        List<TcpConnection> connections = new ArrayList<>();
        Command.Result result;
        try (Runner runner = new Runner(stack, now -> echo(listener, connections, now, pool))) {
            Process beside = alongside == null ? null : alongside.redirectErrorStream(true).start();
            result = ns.execResult(300, "/usr/bin/python3", script.toString(), "client", stackAddress, "7000",
                    Integer.toString(bytes), Integer.toString(seed));
            if (beside != null) {
                assertTrue(beside.waitFor(60, TimeUnit.SECONDS));
                assertEquals(0, beside.exitValue(), new String(beside.getInputStream().readAllBytes()));
            }
        }
        String[] words = result.output().trim().split("\\s+");
        assertTrue(result.output().contains("sent "), result.output());
        assertEquals(words[1], words[3], "sha256 of what the kernel sent vs what came back: " + result.output());
        assertEquals(Integer.toString(bytes), words[4]);
    }

    @Test
    void zstackClientStreamsThroughAKernelEchoServer(@TempDir Path dir) throws Exception {
        Path script = peerScript(dir);
        try (TapNetwork net = TapNetwork.create(KERNEL, PortConfig.defaults());
             NetStack stack = new NetStack(net.device, Ipv4Config.parse(STACK + "/24", null))) {
            clientStreamsThroughKernelEcho(net.namespace, stack, net.pool, script, KERNEL, 7001, BYTES, 7);
            assertTapTookTso(net, stack);
        }
    }

    /**
     * Written 100 bytes at a time and pushed together: TSO segments are chains of a hundred mbufs and more, which the
     * tap's GSO cuts (an mbuf of its own for each piece of each segment) without refusing one; every byte echoed.
     */
    @Test
    void tsoSegmentsOfManySmallWritesPassTheTap(@TempDir Path dir) throws Exception {
        Path script = peerScript(dir);
        int[] longestTsoChain = new int[1];
        try (TapNetwork net = TapNetwork.create(KERNEL, PortConfig.defaults());
             NetStack stack = new NetStack(new io.zstack.device.ForwardingNetDevice(net.device) {
                 @Override
                 public int transmit(io.zstack.buffer.MbufBurst burst) {
                     for (int i = 0; i < burst.size(); i++) {
                         long m = burst.get(i);
                         if ((Mbuf.olFlags(m) & Mbuf.LAYOUT.txTcpSegmentation) != 0) {
                             longestTsoChain[0] = Math.max(longestTsoChain[0], Mbuf.nbSegs(m));
                         }
                     }
                     return inner.transmit(burst);
                 }
             }, Ipv4Config.parse(STACK + "/24", null))) {
            clientStreamsThroughKernelEcho(net.namespace, stack, net.pool, script, KERNEL, 7003, 2 * 1024 * 1024, 9,
                    100);
            assertTrue(longestTsoChain[0] > 100, "longest TSO chain: " + longestTsoChain[0] + " mbufs");
            assertEquals(0, stack.tcp().counters().chainsCut, stack.tcp().counters().toString());
            assertTapTookTso(net, stack);
        }
    }

    /**
     * Written in odd-sized pieces, the stream's segments are chains with odd inner mbufs, which the tap's checksum
     * gets wrong: those that would have been TSO segments go MSS by MSS instead, and the kernel echoes every byte.
     */
    @Test
    void oddPiecesAreNotSentAsTsoSegmentsToTheTap(@TempDir Path dir) throws Exception {
        Path script = peerScript(dir);
        try (TapNetwork net = TapNetwork.create(KERNEL, PortConfig.defaults());
             NetStack stack = new NetStack(net.device, Ipv4Config.parse(STACK + "/24", null))) {
            clientStreamsThroughKernelEcho(net.namespace, stack, net.pool, script, KERNEL, 7002, 8 * 1024 * 1024, 8,
                    1399);
            assertTrue(stack.tcp().counters().tsoOddChains > 0, stack.tcp().counters().toString());
            assertEquals(0, stack.ip().counters().tsoPacketsSent, stack.ip().counters().toString());
            assertEquals(0, net.device.txRefusedDrops(), net.device.statistics());
        }
    }

    /**
     * The tap offers TSO (DPDK's GSO in the PMD): the stack sent segments of several MSS and the tap cut them, refusing
     * none. Its MTU counts the Ethernet header, so the device tells the stack an MTU 14 bytes lower and the stack's
     * segment size is what the tap takes: none needed shortening (each shortened one was cut into full segments and a
     * remainder of a few bytes). The kernel got every byte, so the segments and their checksums were right.
     */
    static void assertTapTookTso(TapNetwork net, NetStack stack) {
        assertTrue(net.device.capabilities().tcpSegmentation(), net.device.toString());
        assertEquals(net.device.port().info().mtu() - 14, net.device.mtu(), net.device.toString());
        assertTrue(stack.ip().counters().tsoPacketsSent > 0, stack.ip().counters().toString());
        assertEquals(0, net.device.tsoSegmentsShortened(), net.device.statistics());
        assertEquals(0, net.device.txRefusedDrops(), net.device.statistics());
    }

    /**
     * A ZStack client on {@code stack} streams {@code bytes} seeded bytes through the kernel's echo server at
     * {@code kernelAddress}:{@code port} in {@code ns}, and gets every byte back.
     */
    static void clientStreamsThroughKernelEcho(NetNamespace ns, NetStack stack, MbufPool pool, Path script,
                                               String kernelAddress, int port, int bytes, long seed)
            throws Exception {
        clientStreamsThroughKernelEcho(ns, stack, pool, script, kernelAddress, port, bytes, seed, 1400);
    }

    /** As above, written in pieces of {@code chunk} bytes (one mbuf each). */
    static void clientStreamsThroughKernelEcho(NetNamespace ns, NetStack stack, MbufPool pool, Path script,
                                               String kernelAddress, int port, int bytes, long seed, int chunk)
            throws Exception {
        Process server = new ProcessBuilder("ip", "netns", "exec", ns.name(), "/usr/bin/python3",
                script.toString(), "echo-server", kernelAddress, Integer.toString(port)).redirectErrorStream(true)
                .start();
        try {
            // wait until the kernel listens
            byte[] ready = server.getInputStream().readNBytes("listening\n".length());
            assertEquals("listening\n", new String(ready));
            StreamingClient client = new StreamingClient(stack, Ipv4Packet.parseAddress(kernelAddress), port, bytes,
                    seed, pool, chunk);
            try (Runner runner = new Runner(stack, client)) {
                client.awaitEnd(TimeUnit.SECONDS.toNanos(240));
            }
            client.assertEchoed(stack);
            assertTrue(server.waitFor(30, TimeUnit.SECONDS));
            String out = new String(server.getInputStream().readAllBytes());
            assertTrue(out.contains("echoed " + bytes), out);
        } finally {
            server.destroyForcibly();
        }
    }

    /**
     * A ZStack client driven by the poll thread: connects, streams {@code total} seeded bytes, shuts its output, and
     * reads (and hashes) what comes back until the peer closes.
     */
    static final class StreamingClient implements java.util.function.LongConsumer {
        private final NetStack stack;
        private final int address;
        private final int port;
        private final long total;
        private final MbufPool pool;
        private final java.util.SplittableRandom random;
        private final byte[] chunk;
        private final boolean gather;
        private final MessageDigest sent;
        private final MessageDigest received;
        private volatile TcpConnection connection;
        private long sentBytes;
        private volatile long receivedBytes;

        StreamingClient(NetStack stack, int address, int port, long total, long seed, MbufPool pool)
                throws java.security.NoSuchAlgorithmException {
            this(stack, address, port, total, seed, pool, 1400);
        }

        StreamingClient(NetStack stack, int address, int port, long total, long seed, MbufPool pool, int chunk)
                throws java.security.NoSuchAlgorithmException {
            this.chunk = new byte[chunk];
            this.gather = chunk < 1000;
            this.stack = stack;
            this.address = address;
            this.port = port;
            this.total = total;
            this.pool = pool;
            this.random = new java.util.SplittableRandom(seed);
            this.sent = MessageDigest.getInstance("SHA-256");
            this.received = MessageDigest.getInstance("SHA-256");
        }

        @Override
        public void accept(long now) {
            if (connection == null) {
                connection = stack.tcp().connect(0, 0, address, port, stack.tcp().defaults(), null, now);
            }
            TcpConnection c = connection;
            long chain;
            while ((chain = c.read(now)) != 0) {
                byte[] bytes = Mbuf.toByteArray(chain);
                received.update(bytes);
                receivedBytes += bytes.length;
                pool.free(chain);
            }
            if (!c.isActive()) {
                return;
            }
            while (sentBytes < total && c.sendSpace() > 0) {
                int len = (int) Math.min(chunk.length, total - sentBytes);
                long m = pool.alloc();
                if (m == 0) {
                    break;
                }
                random.nextBytes(chunk);
                Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
                MemorySegment.copy(chunk, 0, MemorySegment.ofAddress(Mbuf.append(m, len)).reinterpret(len),
                        ValueLayout.JAVA_BYTE, 0, len);
                sent.update(chunk, 0, len);
                // small pieces are queued and pushed together, as a handler's writes and its flush: a segment then
                // gathers many of them
                if (!(gather ? c.queue(m) : c.write(m, now))) {
                    pool.free(m);
                    break;
                }
                sentBytes += len;
                if (sentBytes == total) {
                    c.shutdownOutput(now);
                }
            }
            if (gather) {
                c.push(now);
            }
        }

        /** Waits until the peer closed and everything it sent was read, or the timeout. */
        void awaitEnd(long timeoutNanos) throws InterruptedException {
            long deadline = System.nanoTime() + timeoutNanos;
            while (System.nanoTime() < deadline) {
                TcpConnection c = connection;
                if (c != null && (c.state() == TcpState.TIME_WAIT || c.state() == TcpState.CLOSED)
                        && c.readable() == 0) {
                    return;
                }
                Thread.sleep(50);
            }
        }

        /** Call once the poll thread stopped. */
        void assertEchoed(NetStack stack) {
            TcpConnection c = connection;
            assertTrue(c != null && c.error() == null, "connection failed: "
                    + (c == null ? "never opened" : c.error() + " in " + c.describe(System.nanoTime())));
            assertEquals(total, receivedBytes, "bytes echoed back\n" + c.describe(System.nanoTime()) + "\n"
                    + stack.tcp().counters());
            assertEquals(HexFormat.of().formatHex(sent.digest()), HexFormat.of().formatHex(received.digest()));
        }
    }
}
