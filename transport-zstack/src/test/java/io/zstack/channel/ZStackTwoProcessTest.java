package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.DuplexChannel;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The cross-process path between this JVM and another one ({@link CrossProcessPeer}, launched from the test class
 * path through {@link PeerProcess}): every socket semantic of issue 13 with the server in the peer and the client here,
 * and the reverse: the addresses each side sees, ordered bytes (many small writes, large ones, 32 connections at
 * once) checked by CRC, backpressure, auto-read off and read(), half-closure, SO_LINGER 0 and close with unread data
 * as resets, connect refused; and the death of either process by SIGKILL (the survivor reads a reset, unmaps the
 * region, and later connects to the dead port are refused once its stale entries are swept).
 *
 * <p>Both processes run the same {@link StreamEnd} on their connections, whose events ({@code KIND id details}) the
 * test awaits in the peer's {@link PeerProcess#log} and in {@link #here}. Local ids start at 1001 so that a failure
 * message tells the two processes' connections apart.
 */
class ZStackTwoProcessTest {
    private static Path dir;
    private static ZStackEventLoopGroup group;
    private final List<PeerProcess> peers = new ArrayList<>();
    private final EventLog here = new EventLog("this JVM");
    private final AtomicInteger localIds = new AtomicInteger(1000);
    private final Map<Integer, Channel> local = new ConcurrentHashMap<>();
    private final List<Channel> servers = new ArrayList<>();
    private PeerProcess peer;

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

    @BeforeEach
    void startPeer() throws IOException {
        peer = peer();
    }

    @AfterEach
    void stopPeersAndChannels() throws Exception {
        for (Channel ch : local.values()) {
            ch.close().sync();
        }
        for (Channel s : servers) {
            s.close().sync();
        }
        for (PeerProcess p : peers) {
            p.stop();
        }
    }

    private PeerProcess peer() throws IOException {
        PeerProcess p = new PeerProcess(dir);
        peers.add(p);
        return p;
    }

    // ============================================================================================ this JVM's ends

    /** A client here to the peer's {@code port}, with a {@link StreamEnd}; its id. */
    private int connect(int port, boolean echo, boolean autoRead) throws InterruptedException {
        return connect(port, echo, new Bootstrap().option(ChannelOption.AUTO_READ, autoRead));
    }

    private int connect(int port, boolean echo, Bootstrap options) throws InterruptedException {
        int id = localIds.incrementAndGet();
        Channel ch = options.group(group).channel(ZStackSocketChannel.class)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .handler(new StreamEnd(id, echo, "CONNECTED", here))
                .connect(new InetSocketAddress("127.0.0.1", port)).sync().channel();
        local.put(id, ch);
        here.await("CONNECTED", id);
        return id;
    }

    /** A server here whose children have a {@link StreamEnd} each (ids in ACCEPTED events of {@link #here}). */
    private Channel listen(boolean echo, boolean autoRead) throws InterruptedException {
        Channel server = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.AUTO_READ, autoRead)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        int id = localIds.incrementAndGet();
                        local.put(id, ch);
                        ch.pipeline().addLast(new StreamEnd(id, echo, "ACCEPTED", here));
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        servers.add(server);
        return server;
    }

    private static int port(Channel server) {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    private StreamEnd end(int id) {
        return local.get(id).pipeline().get(StreamEnd.class);
    }

    /** The peer connects to {@code port} ({@code connect} options); its id. */
    private int peerConnects(int port, String options) throws Exception {
        peer.send("connect " + port + " " + options);
        return Integer.parseInt(peer.awaitFields("CONNECTED", null)[0]);
    }

    /** The next ACCEPTED here (a child of a server here), its id. */
    private int acceptedHere() throws InterruptedException {
        return Integer.parseInt(here.awaitFields("ACCEPTED", null)[0]);
    }

    private int acceptedByPeer() throws InterruptedException {
        return Integer.parseInt(peer.awaitFields("ACCEPTED", null)[0]);
    }

    /** "bytes crc" of an 8-byte count, as a StreamEnd answers the end of its input. */
    private static String answer(long count) {
        CRC32 crc = new CRC32();
        crc.update(ByteBuffer.allocate(8).putLong(0, count));
        return "8 " + crc.getValue();
    }

    // ============================================================================================ addresses

    /** Each side sees the addresses the other one has, whichever process serves. */
    @Test
    void theAddressesEachSideSees() throws Exception {
        int peerPort = peer.listen("sink");
        int client = connect(peerPort, false, true);
        String[] accepted = peer.awaitFields("ACCEPTED", null);
        Channel ch = local.get(client);
        assertEquals(new InetSocketAddress("127.0.0.1", peerPort), ch.remoteAddress());
        assertEquals("/127.0.0.1:" + peerPort, accepted[1], "the child's local address is the one connected to");
        assertEquals(ch.localAddress().toString(), accepted[2], "the child's remote is the client's local");
        assertEquals("127.0.0.1", ((InetSocketAddress) ch.localAddress()).getAddress().getHostAddress());
        assertTrue(((InetSocketAddress) ch.localAddress()).getPort() >= 32768, "an ephemeral port");
        assertInstanceOf(CrossProcessEnd.class, ((ZStackSocketChannel) ch).inProcess, "not cross-process");

        Channel server = listen(false, true);
        peer.send("connect " + port(server) + " sink");
        String[] connected = peer.awaitFields("CONNECTED", null);
        Channel child = local.get(acceptedHere());
        assertEquals(server.localAddress(), child.localAddress());
        assertEquals("/127.0.0.1:" + port(server), connected[2], "the client's remote is the server's address");
        assertEquals(child.remoteAddress().toString(), connected[1], "the child's remote is the client's local");
        assertInstanceOf(CrossProcessEnd.class, ((ZStackSocketChannel) child).inProcess, "not cross-process");
    }

    // ============================================================================================ ordered bytes

    @Test
    void manySmallWritesArriveInOrderBothWays() throws Exception {
        assertStreamArrives(true, 512 * 1024, 32);
        assertStreamArrives(false, 512 * 1024, 32);
    }

    /** Writes up to 1 MiB, four times the ring: each is carried in many chunks. */
    @Test
    void largeWritesArriveInOrderBothWays() throws Exception {
        assertStreamArrives(true, 16 << 20, 1 << 20);
        assertStreamArrives(false, 16 << 20, 1 << 20);
    }

    /**
     * {@code bytes} in writes of 1 to {@code maxChunk}, from here to the peer or back: the reader's count and CRC are
     * the writer's.
     */
    private void assertStreamArrives(boolean fromHere, long bytes, int maxChunk) throws Exception {
        if (fromHere) {
            int client = connect(peer.listen("sink"), false, true);
            int child = acceptedByPeer();
            end(client).stream(local.get(client), bytes, maxChunk, 1, true);
            String wrote = here.await("WROTE", client);
            assertEquals(bytes, Long.parseLong(wrote.split(" ")[0]));
            assertEquals(wrote, peer.await("INPUT_SHUTDOWN", child), "what the peer read differs from what was sent");
        } else {
            int client = peerConnects(port(listen(false, true)), "sink");
            int child = acceptedHere();
            peer.send("stream " + client + " " + bytes + " " + maxChunk + " 2 shutdown");
            String wrote = peer.await("WROTE", client);
            assertEquals(bytes, Long.parseLong(wrote.split(" ")[0]));
            assertEquals(wrote, here.await("INPUT_SHUTDOWN", child), "what was read here differs from what was sent");
        }
    }

    /** 32 connections at once, each with its own stream through an echo in the other process, each checked by CRC. */
    @Test
    void thirtyTwoConcurrentConnectionsBothWays() throws Exception {
        int connections = 32;
        long bytes = 256 * 1024;
        int peerPort = peer.listen("echo");
        List<Integer> clients = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            clients.add(connect(peerPort, false, true));
        }
        for (int i = 0; i < connections; i++) {
            end(clients.get(i)).stream(local.get(clients.get(i)), bytes, 16 * 1024, 100 + i, true);
        }
        for (int client : clients) {
            String wrote = here.await("WROTE", client);
            assertEquals(bytes, Long.parseLong(wrote.split(" ")[0]));
            assertEquals(wrote, here.await("INPUT_SHUTDOWN", client), "connection " + client + "'s echo differs");
        }

        int port = port(listen(true, true));
        List<Integer> peerClients = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            peerClients.add(peerConnects(port, "sink"));
        }
        for (int i = 0; i < connections; i++) {
            peer.send("stream " + peerClients.get(i) + " " + bytes + " " + 16 * 1024 + " " + (200 + i) + " shutdown");
        }
        for (int client : peerClients) {
            String wrote = peer.await("WROTE", client);
            assertEquals(bytes, Long.parseLong(wrote.split(" ")[0]));
            assertEquals(wrote, peer.await("INPUT_SHUTDOWN", client), "peer connection " + client + "'s echo differs");
        }
    }

    /** 32 MiB of random bytes to a peer's echo server and back, in 1 B to 64 KiB writes; the region goes at close. */
    @Test
    void aRandomStreamBothWaysBetweenTwoJvms() throws Exception {
        long total = 32L * 1024 * 1024;
        int client = connect(peer.listen("echo"), false, true);
        end(client).stream(local.get(client), total, 64 * 1024, 42, true);
        String wrote = here.await("WROTE", client);
        assertEquals(total, Long.parseLong(wrote.split(" ")[0]));
        assertEquals(wrote, here.await("INPUT_SHUTDOWN", client), "the echo differs from what was sent");
        Channel ch = local.remove(client);
        CrossProcessEnd end = (CrossProcessEnd) ((ZStackSocketChannel) ch).inProcess;
        ch.close().sync();
        assertFalse(end.regionMapped(), "the region is still mapped after the close");
    }

    // ============================================================================================ backpressure

    /**
     * A reader that stops reading stops the writer in the other process: the writer turns unwritable once the ring
     * and its high water mark are full, stays so while nothing is read, and turns writable when the reader reads;
     * nothing is lost or reordered.
     */
    @Test
    void aPeerThatStopsReadingStopsTheWriterUntilItReads() throws Exception {
        // the writer here, the reader in the peer
        int client = connect(peer.listen("sink manual"), false, new Bootstrap()
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(8 * 1024, 32 * 1024))
                .option(ChannelOption.SO_SNDBUF, 16 * 1024)
                .option(ChannelOption.SO_RCVBUF, 16 * 1024));
        int child = acceptedByPeer();
        end(client).fill(local.get(client));
        long sent = Long.parseLong(here.await("UNWRITABLE", client));
        long ring = ((CrossProcessEnd) ((ZStackSocketChannel) local.get(client)).inProcess).budget();
        assertEquals(256 * 1024, ring, "the ring: SO_SNDBUF + SO_RCVBUF, at least 256 KiB");
        assertTrue(sent >= ring && sent <= ring + 32 * 1024 + StreamEnd.FILL_CHUNK,
                sent + " bytes written before the channel turned unwritable: not the ring plus the high water mark");
        here.assertNone("WRITABLE", client, 300);
        peer.send("autoread " + child + " on");
        here.await("WRITABLE", client);
        end(client).shutdownOutput((DuplexChannel) local.get(client));
        assertEquals(here.await("OUTPUT_SHUTDOWN", client), peer.await("INPUT_SHUTDOWN", child));

        // the writer in the peer, the reader here
        int peerClient = peerConnects(port(listen(false, false)), "sink");
        int localChild = acceptedHere();
        peer.send("fill " + peerClient);
        peer.await("UNWRITABLE", peerClient);
        peer.log.assertNone("WRITABLE", peerClient, 300);
        local.get(localChild).config().setAutoRead(true);
        peer.await("WRITABLE", peerClient);
        peer.send("shutdown-output " + peerClient);
        assertEquals(peer.await("OUTPUT_SHUTDOWN", peerClient), here.await("INPUT_SHUTDOWN", localChild));
    }

    // ============================================================================================ auto-read

    /** With auto-read off, bytes the other process wrote are read only when read() asks, one read per call. */
    @Test
    void autoReadOffReadsOnlyWhenAskedBothWays() throws Exception {
        // the reader here
        int client = connect(peer.listen("sink"), false, false);
        int child = acceptedByPeer();
        for (int round = 1; round <= 2; round++) {
            peer.send("stream " + child + " 1000 1000 " + round);
            peer.await("WROTE", child);
            here.assertNone("READ_COMPLETE", client, 300);
            local.get(client).read();
            assertEquals(Integer.toString(1000 * round), here.await("READ_COMPLETE", client));
        }
        here.assertNone("READ_COMPLETE", client, 300);

        // the reader in the peer
        int peerClient = peerConnects(port(listen(false, true)), "sink manual");
        int localChild = acceptedHere();
        for (int round = 1; round <= 2; round++) {
            end(localChild).stream(local.get(localChild), 1000, 1000, round, false);
            here.await("WROTE", localChild);
            peer.log.assertNone("READ_COMPLETE", peerClient, 300);
            peer.send("read " + peerClient);
            assertEquals(Integer.toString(1000 * round), peer.await("READ_COMPLETE", peerClient));
        }
        peer.log.assertNone("READ_COMPLETE", peerClient, 300);
    }

    // ============================================================================================ half-closure

    /**
     * A side that shuts its output down is read to the end by the other process, which sees the input shutdown and
     * can still answer (its count of what it read), then ends its own output.
     */
    @Test
    void halfClosureLetsThePeerAnswerBothWays() throws Exception {
        // the client here shuts down first
        int client = connect(peer.listen("sink"), false, true);
        int child = acceptedByPeer();
        end(client).stream(local.get(client), 300_000, 64 * 1024, 5, true);
        String sent = here.await("OUTPUT_SHUTDOWN", client);
        assertEquals(sent, peer.await("INPUT_SHUTDOWN", child));
        assertEquals(answer(300_000), peer.await("OUTPUT_SHUTDOWN", child));
        assertEquals(answer(300_000), here.await("INPUT_SHUTDOWN", client), "the answer after the half-closure");

        // the client in the peer shuts down first
        int peerClient = peerConnects(port(listen(false, true)), "sink");
        int localChild = acceptedHere();
        peer.send("stream " + peerClient + " 300000 65536 6 shutdown");
        assertEquals(peer.await("OUTPUT_SHUTDOWN", peerClient), here.await("INPUT_SHUTDOWN", localChild));
        assertEquals(answer(300_000), here.await("OUTPUT_SHUTDOWN", localChild));
        assertEquals(answer(300_000), peer.await("INPUT_SHUTDOWN", peerClient), "the answer after the half-closure");
        here.assertNone("INACTIVE", localChild, 0);
        peer.log.assertNone("INACTIVE", peerClient, 0);
    }

    // ============================================================================================ resets

    /** A close with SO_LINGER 0 is a reset in the other process, after the bytes written before it. */
    @Test
    void soLingerZeroResetsThePeerBothWays() throws Exception {
        // closed here
        int client = connect(peer.listen("sink"), false, true);
        int child = acceptedByPeer();
        end(client).stream(local.get(client), 10, 10, 7, false);
        here.await("WROTE", client);
        Channel ch = local.remove(client);
        ch.config().setOption(ChannelOption.SO_LINGER, 0);
        ch.close().sync();
        assertReset(peer.log, child, 10);

        // closed in the peer
        int peerClient = peerConnects(port(listen(false, true)), "sink");
        int localChild = acceptedHere();
        peer.send("stream " + peerClient + " 10 10 8");
        peer.await("WROTE", peerClient);
        peer.send("close " + peerClient + " linger0");
        assertReset(here, localChild, 10);
    }

    /** A close with bytes the closer did not read is a reset in the other process, as TCP's. */
    @Test
    void closingWithUnreadDataResetsThePeerBothWays() throws Exception {
        // the unread bytes here
        int peerClient = peerConnects(port(listen(false, false)), "sink");
        int localChild = acceptedHere();
        peer.send("stream " + peerClient + " 65536 65536 9");
        peer.await("WROTE", peerClient);
        local.remove(localChild).close().sync();
        assertReset(peer.log, peerClient, 0);

        // the unread bytes in the peer
        int client = connect(peer.listen("sink manual"), false, true);
        int child = acceptedByPeer();
        end(client).stream(local.get(client), 65536, 65536, 10, false);
        here.await("WROTE", client);
        peer.send("close " + child);
        assertReset(here, client, 0);
    }

    /** The end {@code id} reads {@code bytes}, then a reset, and closes: no orderly end of input. */
    private static void assertReset(EventLog log, int id, long bytes) throws InterruptedException {
        String[] error = log.awaitFields("ERROR", id);
        assertEquals("IOException", error[0], "not a reset: " + String.join(" ", error));
        assertTrue(String.join(" ", error).contains("reset"), String.join(" ", error));
        assertEquals(Long.toString(bytes), log.awaitFields("INACTIVE", id)[0], "the bytes before the reset");
        log.assertNone("INPUT_SHUTDOWN", id, 0);
    }

    // ============================================================================================ refused

    /** A port the other process served and closed, and one nobody served, are refused, in both directions. */
    @Test
    void aConnectToAPortNobodyServesIsRefusedBothWays() throws Exception {
        int peerPort = peer.listen("sink");
        peer.send("unbind");
        peer.await("UNBOUND", null);
        for (int port : new int[] {peerPort, 9}) {
            ChannelFuture f = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(new InetSocketAddress("127.0.0.1", port)).awaitUninterruptibly();
            assertInstanceOf(ConnectException.class, f.cause(), "a connect to " + port);
        }

        Channel server = listen(false, true);
        server.close().sync();
        for (int port : new int[] {port(server), 9}) {
            peer.send("connect " + port + " sink");
            assertEquals("ConnectException", peer.awaitFields("CONNECT_FAILED", null)[1], "a connect to " + port);
        }
    }

    // ============================================================================================ process death

    /** The server's process dies: the client reads a reset, its region is unmapped, the port is then refused. */
    @Test
    void aKilledServerProcessResetsTheClient() throws Exception {
        int port = peer.listen("echo");
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

        peer.kill();
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
            String pid = Long.toString(peer.process.pid());
            List<Path> stale = files.filter(f -> f.getFileName().toString().contains(pid)
                    || f.getFileName().toString().startsWith("tcp-")).toList();
            assertEquals(List.of(), stale, "the dead process's entries are swept");
        }
    }

    /** The client's process dies: the accepted child reads what it sent, then a reset; its region is unmapped. */
    @Test
    void aKilledClientProcessResetsTheChild() throws Exception {
        int client = peerConnects(port(listen(false, true)), "sink");
        int child = acceptedHere();
        peer.send("stream " + client + " 1000 1000 11");
        peer.await("WROTE", client);
        CrossProcessEnd end = (CrossProcessEnd) ((ZStackSocketChannel) local.get(child)).inProcess;
        long lostBefore = counter(local.get(child), "peersLost");

        peer.kill();
        assertReset(here, child, 1000);
        assertTrue(local.get(child).closeFuture().await(5, TimeUnit.SECONDS), "the child stayed open");
        assertFalse(end.regionMapped(), "the survivor still maps the region");
        assertEquals(lostBefore + 1, counter(local.get(child), "peersLost"));
    }

    private static long counter(Channel ch, String name) throws Exception {
        ZStackEventLoop loop = (ZStackEventLoop) ch.eventLoop();
        return loop.submit(() -> loop.inProcessCounters.snapshot().get(name)).get();
    }
}
