package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cross-process path between this JVM and another one ({@link CrossProcessPeer}, launched from the test
 * classpath): connect and accept with the addresses each side sees, a large random stream both ways checked by CRC,
 * and the death of either process by SIGKILL (the survivor reads a reset, unmaps the region, and later connects to
 * the dead port are refused once its stale entries are swept).
 */
class ZStackTwoProcessTest {
    private static Path dir;
    private static ZStackEventLoopGroup group;
    private final List<Peer> peers = new ArrayList<>();

    @BeforeAll
    static void group() {
        dir = Path.of("/dev/shm", "zstack-test2-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        group = new ZStackEventLoopGroup(1, ZStackCrossProcessTest.config(dir));
    }

    @AfterAll
    static void shutdown() throws Exception {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f); // the killed peers' socket and entry, if no connect swept them
            }
        }
        Files.deleteIfExists(dir);
    }

    @AfterEach
    void stopPeers() throws Exception {
        for (Peer p : peers) {
            p.stop();
        }
    }

    /** A peer JVM and the lines it printed. */
    static final class Peer {
        final Process process;
        private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

        Peer(String... args) throws IOException {
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                    .toString(), "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                    "-Xmx256m", "-cp", System.getProperty("java.class.path"), CrossProcessPeer.class.getName()));
            command.addAll(List.of(args));
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
            Thread.ofVirtual().start(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        lines.add(line);
                    }
                } catch (IOException e) {
                    // the process ended
                }
            });
        }

        /** The next line starting with {@code prefix} (others are skipped, kept in the failure message). */
        String await(String prefix) throws InterruptedException {
            StringBuilder skipped = new StringBuilder();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline) {
                String line = lines.poll(100, TimeUnit.MILLISECONDS);
                if (line != null && line.startsWith(prefix)) {
                    return line.substring(prefix.length()).trim();
                }
                if (line != null) {
                    skipped.append(line).append('\n');
                }
            }
            throw new AssertionError("no " + prefix + " from the peer; it said:\n" + skipped);
        }

        void stop() throws Exception {
            if (process.isAlive()) {
                process.getOutputStream().close();
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            }
        }

        void kill() throws Exception {
            process.destroyForcibly(); // SIGKILL
            assertTrue(process.waitFor(10, TimeUnit.SECONDS));
        }
    }

    private Peer peer(String... args) throws IOException {
        Peer p = new Peer(args);
        peers.add(p);
        return p;
    }

    /** 32 MiB of random bytes to a peer's echo server and back, in 1 B to 64 KiB writes, checked by CRC. */
    @Test
    void aRandomStreamBothWaysBetweenTwoJvms() throws Exception {
        Peer server = peer("server", dir.toString());
        int port = Integer.parseInt(server.await("LISTENING"));
        long total = 32L * 1024 * 1024;
        CompletableFuture<Long> echoed = new CompletableFuture<>();
        CRC32 receivedCrc = new CRC32();
        Channel client = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .handler(new ChannelInboundHandlerAdapter() {
                    long bytes;

                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ByteBuf buf = (ByteBuf) msg;
                        receivedCrc.update(buf.nioBuffer());
                        bytes += buf.readableBytes();
                        buf.release();
                    }

                    @Override
                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                        if (evt instanceof ChannelInputShutdownEvent) {
                            echoed.complete(bytes);
                        }
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        echoed.completeExceptionally(cause);
                    }
                }).connect(new InetSocketAddress("127.0.0.1", port)).sync().channel();
        String[] accepted = server.await("ACCEPTED").split(" ");
        assertEquals("/127.0.0.1:" + port, accepted[0], "the child's local address is the one connected to");
        assertEquals(client.localAddress().toString(), accepted[1], "the child's remote is the client's local");
        assertInstanceOf(CrossProcessEnd.class, ((ZStackSocketChannel) client).inProcess, "not cross-process");

        Random random = new Random(42);
        CRC32 sentCrc = new CRC32();
        long sent = 0;
        ChannelFuture last = null;
        while (sent < total) {
            int n = (int) Math.min(total - sent, 1 + random.nextInt(64 * 1024));
            byte[] bytes = new byte[n];
            random.nextBytes(bytes);
            sentCrc.update(bytes);
            ByteBuf buf = random.nextBoolean() ? client.alloc().directBuffer(n) : io.netty.buffer.Unpooled.buffer(n);
            last = client.writeAndFlush(buf.writeBytes(bytes));
            sent += n;
            while (!client.isWritable() && client.isActive()) {
                Thread.sleep(0, 100_000); // the outbound buffer drains into the ring
            }
        }
        last.sync();
        ((DuplexChannel) client).shutdownOutput().sync();
        assertEquals(total, echoed.get(60, TimeUnit.SECONDS));
        assertEquals(sentCrc.getValue(), receivedCrc.getValue(), "the echo differs from what was sent");
        CrossProcessEnd end = (CrossProcessEnd) ((ZStackSocketChannel) client).inProcess;
        client.close().sync();
        assertFalse(end.regionMapped(), "the region is still mapped after the close");
    }

    /** The server's process dies: the client reads a reset, its region is unmapped, the port is then refused. */
    @Test
    void aKilledServerProcessResetsTheClient() throws Exception {
        Peer server = peer("server", dir.toString());
        int port = Integer.parseInt(server.await("LISTENING"));
        CompletableFuture<Throwable> error = new CompletableFuture<>();
        BlockingQueue<ByteBuf> echoes = new LinkedBlockingQueue<>();
        Channel client = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        echoes.add((ByteBuf) msg);
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        error.complete(cause);
                    }
                }).connect(new InetSocketAddress("127.0.0.1", port)).sync().channel();
        client.writeAndFlush(client.alloc().directBuffer(10).writerIndex(10)).sync();
        ByteBuf echo = echoes.poll(10, TimeUnit.SECONDS);
        assertNotNull(echo, "no echo");
        echo.release();
        CrossProcessEnd end = (CrossProcessEnd) ((ZStackSocketChannel) client).inProcess;
        long lostBefore = counter(client, "peersLost");

        server.kill();
        Throwable cause = error.get(10, TimeUnit.SECONDS);
        assertInstanceOf(IOException.class, cause);
        assertTrue(cause.getMessage().contains("reset"), cause.toString());
        assertTrue(client.closeFuture().await(5, TimeUnit.SECONDS), "the client stayed open");
        assertFalse(end.regionMapped(), "the survivor still maps the region");
        assertEquals(lostBefore + 1, counter(client, "peersLost"));

        ChannelFuture again = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(new InetSocketAddress("127.0.0.1", port)).awaitUninterruptibly();
        assertInstanceOf(ConnectException.class, again.cause(), "a dead process's port is refused");
        try (var files = Files.list(dir)) {
            String pid = Long.toString(server.process.pid());
            List<Path> stale = files.filter(f -> f.getFileName().toString().contains(pid)
                    || f.getFileName().toString().startsWith("tcp-")).toList();
            assertEquals(List.of(), stale, "the dead process's entries are swept");
        }
    }

    /** The client's process dies: the accepted child reads what it sent, then a reset; its region is unmapped. */
    @Test
    void aKilledClientProcessResetsTheChild() throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        CompletableFuture<Throwable> error = new CompletableFuture<>();
        CompletableFuture<Integer> read = new CompletableFuture<>();
        Channel server = ZStackCrossProcessTest.server(group, accepted, new ChannelInboundHandlerAdapter() {
            int bytes;

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                bytes += ((ByteBuf) msg).readableBytes();
                ((ByteBuf) msg).release();
                if (bytes == 1000) {
                    read.complete(bytes);
                }
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                error.complete(cause);
            }
        }, true, -1);
        int port = ((InetSocketAddress) server.localAddress()).getPort();
        Peer client = peer("hold-client", dir.toString(), Integer.toString(port));
        String[] connected = client.await("CONNECTED").split(" ");
        Channel child = accepted.poll(10, TimeUnit.SECONDS);
        assertNotNull(child);
        assertEquals(connected[0], child.remoteAddress().toString());
        assertEquals(connected[1], child.localAddress().toString());
        assertEquals(1000, read.get(10, TimeUnit.SECONDS));
        CrossProcessEnd end = (CrossProcessEnd) ((ZStackSocketChannel) child).inProcess;

        client.kill();
        Throwable cause = error.get(10, TimeUnit.SECONDS);
        assertInstanceOf(IOException.class, cause);
        assertTrue(cause.getMessage().contains("reset"), cause.toString());
        assertTrue(child.closeFuture().await(5, TimeUnit.SECONDS), "the child stayed open");
        assertFalse(end.regionMapped(), "the survivor still maps the region");
        server.close().sync();
    }

    private static long counter(Channel ch, String name) throws Exception {
        ZStackEventLoop loop = (ZStackEventLoop) ch.eventLoop();
        return loop.submit(() -> loop.inProcessCounters.snapshot().get(name)).get();
    }
}
