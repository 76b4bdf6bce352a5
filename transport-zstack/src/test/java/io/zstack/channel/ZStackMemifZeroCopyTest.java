package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.zstack.testing.HugepageMount;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * memif zero copy against a real peer (issue 11): another JVM ({@link MemifZeroCopyPeer}) runs a ZStack echo server
 * on a memif client port with {@link ZStackDevices.Port#withZeroCopy()}, in its own EAL on hugepages this test reserves
 * (and gives back), and this JVM's ZStack is the memif server and the TCP client. The peer is started first: its port
 * waits for this JVM's socket.
 *
 * <p>What proves zero copy: every segment the peer's handler reads is an mbuf of its own port's pool, lying in one of
 * its EAL's hugepage files, and this process (the memif server, which writes the frames it sends into the client's
 * buffers and reads the client's frames out of them) has that very file mapped: it reads and writes the client's
 * mbufs where they are. The same exchange with the peer's memif copying (same hugepages, single-file segments,
 * {@code zero-copy=no}) is the control: there this process maps none of the peer's memory, only the link's own
 * buffers, so the check can tell. Bytes stream correctly both ways (2 MiB, echoed, compared byte by byte).
 */
class ZStackMemifZeroCopyTest {
    /** 96 x 2 MiB: the peer's EAL takes 128 MiB (-m 128) at start, some more as it runs. */
    private static final int PAGES = 96;
    private static final int BYTES = 2 << 20;
    private static HugepageMount huge;

    @BeforeAll
    static void reserve() throws Exception {
        huge = HugepageMount.reserve(PAGES);
    }

    @AfterAll
    static void release() throws Exception {
        if (huge != null) {
            huge.close();
        }
    }

    @Test
    void theServerReadsAndWritesTheZeroCopyClientsOwnMbufs() throws Exception {
        Exchange e = exchange(true, 41);
        String peerFile = e.peerFile();
        assertTrue(peerFile.startsWith(huge.dir() + "/"), "the peer's reads lie in its hugepage file: " + e.report);
        assertTrue(e.mappedHere(peerFile),
                "this process, the memif server, maps the zero-copy client's memory: " + peerFile);
    }

    @Test
    void aCopyingClientsMbufsStayItsOwn() throws Exception {
        Exchange e = exchange(false, 43);
        String peerFile = e.peerFile();
        assertTrue(peerFile.startsWith(huge.dir() + "/"), "the peer's reads lie in its hugepage file: " + e.report);
        assertFalse(e.mappedHere(peerFile), "a copying client shares only the link's buffers, not " + peerFile);
    }

    /** What the peer reported after the exchange, and this process's memory map while the link was up. */
    private record Exchange(List<String> report, List<String> mapsHere) {
        /**
         * The one file (path and inode) holding every segment the peer read, each an mbuf of the peer port's own pool.
         */
        String peerFile() {
            String last = report.get(report.size() - 1);
            int reads = Integer.parseInt(field(last, "reads"));
            assertTrue(reads > 0, "the peer read something: " + report);
            assertEquals(reads, Integer.parseInt(field(last, "ownPool")),
                    "every segment the peer read is an mbuf of its own port's pool: " + report);
            List<String> files = report.stream().filter(l -> l.startsWith("FILE ")).toList();
            assertEquals(1, files.size(), "one file holds every segment the peer read: " + report);
            String[] f = files.get(0).split(" ");
            return f[1] + " " + f[2];
        }

        /** True when this process maps {@code file} ("path inode"). */
        boolean mappedHere(String file) {
            String[] f = file.split(" ");
            return mapsHere.stream().map(l -> l.trim().split("\\s+", 6))
                    .anyMatch(m -> m.length == 6 && m[5].equals(f[0]) && m[4].equals(f[1]));
        }

        private static String field(String line, String key) {
            for (String kv : line.split(" ")) {
                if (kv.startsWith(key + "=")) {
                    return kv.substring(key.length() + 1);
                }
            }
            throw new AssertionError("no " + key + " in " + line);
        }
    }

    private Exchange exchange(boolean zeroCopy, int subnet) throws Exception {
        Path dir = Files.createTempDirectory("zstack-memif-zc");
        Path socket = dir.resolve("memif.sock");
        Process peer = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), MemifZeroCopyPeer.class.getName(), socket.toString(),
                huge.dir().toString(), Boolean.toString(zeroCopy), "10.9." + subnet + ".2/24", "8080"))
                .redirectErrorStream(true).start();
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        List<String> output = new ArrayList<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(peer.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    synchronized (output) {
                        output.add(l);
                    }
                    lines.add(l);
                }
            } catch (java.io.IOException ignored) {
                // the peer ended
            }
            lines.add("EXITED");
        });
        Writer commands = new OutputStreamWriter(peer.getOutputStream(), StandardCharsets.UTF_8);
        ZStackEventLoopGroup group = null;
        try {
            // the peer's port starts first and waits for this socket: once its EAL is up, its port is probed and
            // started at once; a second later it must still be waiting, not failed
            await(lines, "", output, "DPDK EAL initialised");
            Thread.sleep(1000);
            assertTrue(peer.isAlive() && !lines.contains("READY"), "the peer waits for its server: " + output);
            group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                    .device(ZStackDevices.memifServer(socket)).address("10.9." + subnet + ".1/24").build());
            await(lines, "READY", output);
            List<String> mapsHere;
            try {
                mapsHere = echo(group, "10.9." + subnet + ".2");
            } catch (Throwable t) {
                String here = group.describe().get(10, TimeUnit.SECONDS);
                synchronized (output) {
                    throw new AssertionError("the exchange failed; this stack: " + here + "\nthe peer said: " + output, t);
                }
            }
            commands.write("report\n");
            commands.flush();
            List<String> report = new ArrayList<>();
            for (String l = await(lines, "FILE ", output); ; l = await(lines, "", output)) {
                report.add(l);
                if (l.startsWith("REPORT ")) {
                    break;
                }
            }
            // neither side may poll while the link goes down (DPDK's memif tears the rings down under a poller): the
            // peer's loop parks, this group stops (its port's close disconnects the link), then the peer ends
            commands.write("hold\n");
            commands.flush();
            await(lines, "HELD", output);
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            group = null;
            commands.write("quit\n");
            commands.flush();
            assertTrue(peer.waitFor(30, TimeUnit.SECONDS), "the peer ends: " + output);
            assertEquals(0, peer.exitValue(), "the peer's exit: " + output);
            return new Exchange(report, mapsHere);
        } finally {
            if (group != null) {
                group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            }
            if (peer.isAlive()) {
                peer.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            // hugepage files of a killed peer (its EAL removes them at a normal exit): their pages go back
            try (var files = Files.list(huge.dir())) {
                for (Path f : files.filter(f -> f.getFileName().toString().startsWith("zstack-" + peer.pid() + "map_"))
                        .toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Path runtime = Path.of("/var/run/dpdk/zstack-" + peer.pid());
            if (Files.isDirectory(runtime)) { // EAL's runtime folder, left by a killed peer
                try (var files = Files.list(runtime)) {
                    for (Path f : files.toList()) {
                        Files.deleteIfExists(f);
                    }
                }
                Files.deleteIfExists(runtime);
            }
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
        }
    }

    /**
     * Streams {@link #BYTES} to the peer's echo server in buffers from the channel's allocator and checks every byte
     * that comes back; returns this process's memory map taken while the link is up.
     */
    private static List<String> echo(ZStackEventLoopGroup group, String peerAddress) throws Exception {
        CompletableFuture<Void> echoed = new CompletableFuture<>();
        int[] received = new int[1];
        Channel ch = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (ch == null) { // the link comes up, and ARP resolves, a moment after the peer's group started
            // a short connect timeout: a SYN or ARP request sent before the link came up is lost, and is retried
            var f = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                    .option(io.netty.channel.ChannelOption.CONNECT_TIMEOUT_MILLIS, 1000)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ByteBuf buf = (ByteBuf) msg;
                            try {
                                for (int i = buf.readerIndex(); i < buf.writerIndex(); i++, received[0]++) {
                                    if (buf.getByte(i) != pattern(received[0])) {
                                        echoed.completeExceptionally(new AssertionError("echoed byte " + received[0]
                                                + " is " + buf.getByte(i) + ", sent " + pattern(received[0])));
                                        return;
                                    }
                                }
                                if (received[0] == BYTES) {
                                    echoed.complete(null);
                                }
                            } finally {
                                buf.release();
                            }
                        }
                    }).connect(new InetSocketAddress(peerAddress, 8080)).await();
            if (f.isSuccess()) {
                ch = f.channel();
            } else if (System.nanoTime() > deadline) {
                throw new AssertionError("no connection to the peer in 30 s", f.cause());
            } else {
                Thread.sleep(100);
            }
        }
        for (int sent = 0; sent < BYTES; ) {
            int n = Math.min(16384, BYTES - sent);
            ByteBuf out = ch.alloc().directBuffer(n);
            for (int i = 0; i < n; i++) {
                out.writeByte(pattern(sent + i));
            }
            sent += n;
            ch.writeAndFlush(out).sync();
        }
        echoed.get(60, TimeUnit.SECONDS);
        List<String> maps = Files.readAllLines(Path.of("/proc/self/maps"));
        ch.close().sync();
        return maps;
    }

    private static byte pattern(int i) {
        return (byte) (i * 31 + (i >>> 11));
    }

    private static String await(BlockingQueue<String> lines, String prefix, List<String> output)
            throws InterruptedException {
        return await(lines, prefix, output, "");
    }

    /** The next line of the peer starting with {@code prefix} and containing {@code part}. */
    private static String await(BlockingQueue<String> lines, String prefix, List<String> output, String part)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            String l = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (l == null || l.equals("EXITED")) {
                synchronized (output) {
                    throw new AssertionError("the peer did not say " + prefix + ": " + output);
                }
            }
            if (l.startsWith(prefix) && l.contains(part)) {
                return l;
            }
        }
    }
}
