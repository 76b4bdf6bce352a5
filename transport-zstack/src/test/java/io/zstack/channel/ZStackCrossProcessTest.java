package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cross-process path's semantics ({@link CrossProcessConnections}) with both ends in this JVM: two groups with the
 * in-process path off and the cross-process path on, so every connection between them goes through the rendezvous
 * socket and a shared region exactly as between two processes. The tests both local paths share are in
 * {@link AbstractLocalPathTest}; the two-JVM cases are in {@link ZStackTwoProcessTest}.
 */
class ZStackCrossProcessTest extends AbstractLocalPathTest {
    static Path dir;
    private static ZStackEventLoopGroup servers;
    private static ZStackEventLoopGroup clients;

    @BeforeAll
    static void groups() throws IOException {
        dir = Path.of("/dev/shm", "zstack-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        servers = new ZStackEventLoopGroup(1, config(dir));
        clients = new ZStackEventLoopGroup(1, config(dir));
    }

    static ZStackConfig config(Path dir) {
        return ZStackConfig.builder().inProcess(false).crossProcess(dir, false).build();
    }

    @AfterAll
    static void shutdown() throws Exception {
        clients.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        servers.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        assertDirectoryHolds(dir, List.of());
        Files.deleteIfExists(dir);
    }

    /** What is left in the rendezvous directory: files by kind (proc, tcp, region), sorted. */
    static void assertDirectoryHolds(Path dir, List<String> kinds) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        List<String> left;
        do {
            try (var files = Files.list(dir)) {
                left = files.map(f -> f.getFileName().toString().split("-")[0]).sorted().toList();
            }
        } while (!left.equals(kinds) && System.nanoTime() < deadline);
        assertEquals(kinds, left, "rendezvous directory " + dir);
    }

    private static CrossProcessEnd end(Channel ch) {
        return (CrossProcessEnd) ((ZStackSocketChannel) ch).inProcess;
    }

    @Override
    ZStackEventLoopGroup serverGroup() {
        return servers;
    }

    @Override
    ZStackEventLoopGroup clientGroup() {
        return clients;
    }

    @Override
    String kind() {
        return "cross-process";
    }

    @Override
    String counterInDump() {
        return "connectsCrossProcess=";
    }

    @Override
    Object beforeWrite(ByteBuf written) {
        return null;
    }

    /** The other process cannot see this one's mbufs: the reader gets a view of the region's ring. */
    @Override
    void assertReadAsPromised(Object written, ByteBuf read) {
        assertInstanceOf(CrossProcessPipe.View.class, read, "a view of the ring");
    }

    @Override
    void assertReleased(Channel client, Channel child) {
        assertFalse(end(client).regionMapped(), "the client's mapping is released");
        assertFalse(end(child).regionMapped(), "the child's mapping is released");
    }

    /**
     * A reader that does not read stops the writer: the channel turns unwritable, and no more than the ring (send
     * plus receive buffer) is in flight; reading lets everything through, in order.
     */
    @Test
    void anUnreadPeerStopsTheWriterUntilItReads() throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        int total = 1024 * 1024;
        PatternReader reader = new PatternReader(total);
        Channel server = server(accepted, reader, false, -1);
        Channel client = client(server, new ChannelInboundHandlerAdapter());
        Channel child = accepted.poll(5, TimeUnit.SECONDS);
        try {
            // write while writable until the writer found the ring full (seen on its loop, not guessed from a pause),
            // then on until the channel turns unwritable: nothing drains any more, so it stays so
            int written = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (written < total && !client.eventLoop().submit(() -> end(client).out.writerBlocked).get()) {
                if (client.isWritable()) {
                    client.writeAndFlush(pattern(client, written, 1024));
                    written += 1024;
                } else {
                    Thread.sleep(1); // the loop moves what it can into the ring
                }
                assertTrue(System.nanoTime() < deadline, "the writer never found the ring full");
            }
            while (client.isWritable() && written < total) {
                client.writeAndFlush(pattern(client, written, 1024));
                written += 1024;
            }
            assertTrue(written < total, "the writer never became unwritable");
            Thread.sleep(50);
            assertFalse(client.isWritable(), "writable again though nobody read");
            assertEquals(256 * 1024, end(client).budget(), "the ring: SO_SNDBUF + SO_RCVBUF, at least 256 KiB");
            assertEquals(0L, client.eventLoop().submit(() -> end(client).out.room(0)).get(), "the ring is full");
            assertTrue(written <= 256 * 1024 + 32 * 1024 + 1024, written + " bytes in flight: more than the ring "
                    + "and the high water mark");

            child.config().setAutoRead(true);
            while (written < total) {
                client.writeAndFlush(pattern(client, written, 1024)).sync();
                written += 1024;
            }
            assertEquals(total, reader.all.get(10, TimeUnit.SECONDS));
        } finally {
            client.close().sync();
            child.close().sync();
            server.close().sync();
        }
    }

    /**
     * A received buffer kept by the reader holds its chunk only: the rest of the region keeps flowing (with one byte
     * ring, the kept view held the ring's head, and a reader waiting for more before releasing waited forever).
     */
    @Test
    void aHeldBufferDoesNotStopTheStream() throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        CompletableFuture<Long> all = new CompletableFuture<>();
        long total = 4L * 256 * 1024;
        List<ByteBuf> kept = new java.util.ArrayList<>();
        Channel server = server(accepted, new ChannelInboundHandlerAdapter() {
            long bytes;

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ByteBuf buf = (ByteBuf) msg;
                bytes += buf.readableBytes();
                if (kept.size() < 4) {
                    kept.add(buf); // the first reads are kept until everything arrived
                } else {
                    buf.release();
                }
                if (bytes == total) {
                    all.complete(bytes);
                }
            }
        }, true, -1);
        Channel client = client(server, new ChannelInboundHandlerAdapter());
        Channel child = accepted.poll(5, TimeUnit.SECONDS);
        try {
            for (long written = 0; written < total; written += 16 * 1024) {
                client.writeAndFlush(pattern(client, 0, 16 * 1024)).sync();
            }
            assertEquals(total, all.get(10, TimeUnit.SECONDS), "the stream stopped behind the kept buffers");
        } finally {
            child.eventLoop().submit(() -> kept.forEach(ByteBuf::release)).get();
            client.close().sync();
            child.close().sync();
            server.close().sync();
        }
    }

    /** The client shuts its output down: the child reads everything, then the input-shutdown event, and can answer. */
    @Test
    void halfClosureLetsThePeerAnswer() throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        CompletableFuture<Integer> answered = new CompletableFuture<>();
        Channel server = server(accepted, new CountingReader() {
            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof ChannelInputShutdownEvent) {
                    ByteBuf reply = ctx.alloc().directBuffer(4).writeInt(bytes);
                    ctx.writeAndFlush(reply).addListener(f -> ((DuplexChannel) ctx.channel()).shutdownOutput());
                }
            }
        }, true, -1);
        Channel client = client(server, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                answered.complete(((ByteBuf) msg).readInt());
                ((ByteBuf) msg).release();
            }
        });
        client.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        Channel child = accepted.poll(5, TimeUnit.SECONDS);
        // written in full first: as with epoll, a shutdown fails what still waits in the outbound buffer
        client.writeAndFlush(client.alloc().directBuffer(300_000).writerIndex(300_000)).sync();
        ((DuplexChannel) client).shutdownOutput().sync();
        assertEquals(300_000, answered.get(10, TimeUnit.SECONDS));
        client.close().sync();
        child.close().sync(); // both directions ended: as with TCP, the application closes
        server.close().sync();
    }

    /**
     * A child that closes at once, before the rendezvous answer reached the client: the client connects and reads the
     * end (the child's close once took the Unix socket the answer goes on, and the client saw a refusal:
     * CrossProcessSocketHalfClosedTest).
     */
    @Test
    void aChildClosedBeforeTheAnswerStillConnects() throws Exception {
        Channel server = new ServerBootstrap().group(servers).channel(ZStackServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public boolean isSharable() {
                        return true;
                    }

                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        ctx.close();
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            for (int i = 0; i < 20; i++) {
                Channel client = new Bootstrap().group(clients).channel(ZStackSocketChannel.class)
                        .handler(new ChannelInboundHandlerAdapter())
                        .connect(server.localAddress()).sync().channel();
                assertTrue(client.closeFuture().await(5, TimeUnit.SECONDS), "the client never read the end: "
                        + clients.describe().get() + "\n" + servers.describe().get());
            }
        } finally {
            server.close().sync();
        }
    }

    /** A server's port is published while it is bound, and only then. */
    @Test
    void aClosedServerIsNoLongerPublished() throws Exception {
        Channel server = server(new LinkedBlockingQueue<>(), new ChannelInboundHandlerAdapter(), true, -1);
        int port = ((InetSocketAddress) server.localAddress()).getPort();
        assertTrue(Files.exists(dir.resolve("tcp-127.0.0.1-" + port)));
        server.close().sync();
        assertFalse(Files.exists(dir.resolve("tcp-127.0.0.1-" + port)));
        ChannelFuture f = new Bootstrap().group(clients).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter()).connect(server.localAddress()).awaitUninterruptibly();
        assertInstanceOf(ConnectException.class, f.cause());
    }
}
