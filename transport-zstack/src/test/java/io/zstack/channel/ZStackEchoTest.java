package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import java.io.ByteArrayOutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Netty bootstraps over the stack's loopback: echo, refused connect, addresses. */
class ZStackEchoTest {
    private static ZStackEventLoopGroup boss;
    private static ZStackEventLoopGroup workers;

    @BeforeAll
    static void groups() {
        boss = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        workers = new ZStackEventLoopGroup(2, ZStackConfig.builder().inProcess(false).build());
    }

    @AfterAll
    static void shutdown() throws Exception {
        boss.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        workers.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        // every mbuf went home: frames crossed between the loops' pools, and each stack freed what it held
        for (ZStackEventLoopGroup group : new ZStackEventLoopGroup[] {boss, workers}) {
            for (ZStackEventLoop loop : group.loops()) {
                assertEquals(loop.pool().capacity(), loop.pool().available(), loop + " leaked mbufs");
            }
        }
    }

    @Test
    void echoesAMegabyteThroughTheStack() throws Exception {
        Channel server = new ServerBootstrap().group(boss, workers).channel(ZStackServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ctx.writeAndFlush(msg);
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        byte[] data = new byte[1 << 20];
        new Random(1).nextBytes(data);
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        CompletableFuture<byte[]> done = new CompletableFuture<>();
        Channel client = new Bootstrap().group(workers).channel(ZStackSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .handler(new SimpleChannelInboundHandler<ByteBuf>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                        byte[] chunk = new byte[msg.readableBytes()];
                        msg.readBytes(chunk);
                        received.writeBytes(chunk);
                        if (received.size() == data.length) {
                            done.complete(received.toByteArray());
                        }
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        done.completeExceptionally(cause);
                    }
                }).connect(server.localAddress()).sync().channel();
        assertInstanceOf(ZStackSocketChannel.class, client);
        assertEquals(server.localAddress(), client.remoteAddress());
        client.writeAndFlush(Unpooled.wrappedBuffer(data)).sync();
        assertArrayEquals(data, done.get(30, TimeUnit.SECONDS));
        client.close().sync();
        server.close().sync();
    }

    /**
     * ZStackChannelOption.TCP_RTO_MIN_US reaches the connection's RTO estimator: as a child option before the
     * handshake ends, and on a live connection; the default is Linux's 200 ms; nonsense is refused.
     */
    /**
     * A connect issued once bind() completed is accepted, whichever of the child group's loops the flow hash sends
     * its SYN to. The listeners of the other loops were installed by ordinary tasks, and a loop processes its input
     * before its tasks: a SYN could reach a loop before its listener and be reset ("Connection refused", seen in
     * full runs). Many fresh servers and connects make that window likely; each must connect.
     */
    @Test
    void aConnectAfterBindFindsTheListenerOnEveryLoop() throws Exception {
        for (int i = 0; i < 200; i++) {
            Channel server = new ServerBootstrap().group(boss, workers).channel(ZStackServerSocketChannel.class)
                    .childHandler(new ChannelInboundHandlerAdapter()).bind(new InetSocketAddress("127.0.0.1", 0))
                    .sync().channel();
            Channel client = new Bootstrap().group(workers).channel(ZStackSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter()).connect(server.localAddress()).sync().channel();
            client.close().sync();
            server.close().sync();
        }
    }

    @Test
    void theMinimumRtoIsAChannelOption() throws Exception {
        Channel[] channels = connectedWithChildOption(ZStackChannelOption.TCP_RTO_MIN_US, 5_000);
        Channel server = channels[0];
        Channel client = channels[1];
        assertEquals(200_000, client.config().getOption(ZStackChannelOption.TCP_RTO_MIN_US));
        String serverSide = connectionPrefix(server, client);
        String clientSide = connectionPrefix(client, server);
        assertTrue(connectionLine(serverSide).contains("minRto=5000000,"), "the accepted connection: child option");
        assertTrue(connectionLine(clientSide).contains("minRto=200000000,"), "the client: the default");
        client.config().setOption(ZStackChannelOption.TCP_RTO_MIN_US, 7_000);
        assertEquals(7_000, client.config().getOption(ZStackChannelOption.TCP_RTO_MIN_US));
        assertTrue(connectionLine(clientSide).contains("minRto=7000000,"), "the live connection took it");
        assertThrows(IllegalArgumentException.class,
                () -> client.config().setOption(ZStackChannelOption.TCP_RTO_MIN_US, 0));
        assertThrows(IllegalArgumentException.class,
                () -> client.config().setOption(ZStackChannelOption.TCP_RTO_MIN_US, Integer.MAX_VALUE));
        client.close().sync();
        server.close().sync();
    }

    /**
     * CONGESTION_CONTROL as a child option reaches the accepted connection (set after its handshake, it once did
     * nothing), and set on an open client connection it takes over there.
     */
    @Test
    void theCongestionControlIsAChannelOption() throws Exception {
        Channel[] channels = connectedWithChildOption(ZStackChannelOption.CONGESTION_CONTROL, ZStackCongestionControl.BBR);
        Channel server = channels[0];
        Channel client = channels[1];
        assertEquals(ZStackCongestionControl.BBR, channels[2].config().getOption(ZStackChannelOption.CONGESTION_CONTROL));
        String serverSide = connectionPrefix(server, client);
        String clientSide = connectionPrefix(client, server);
        assertTrue(connectionLine(serverSide).contains(" bbr[STARTUP"), "the accepted connection: child option");
        assertTrue(!connectionLine(clientSide).contains(" bbr["), "the client: the default, CUBIC");
        client.config().setOption(ZStackChannelOption.CONGESTION_CONTROL, ZStackCongestionControl.BBR);
        assertTrue(connectionLine(clientSide).contains(" bbr[STARTUP"), "the live connection took it");
        client.close().sync();
        server.close().sync();
    }

    /** A server on the boss and worker groups with a child option, a client connected to it: server, client, child. */
    private static <T> Channel[] connectedWithChildOption(ChannelOption<T> option, T value) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Channel server = new ServerBootstrap().group(boss, workers).channel(ZStackServerSocketChannel.class)
                .childOption(option, value)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.complete(ctx.channel());
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        Channel client = new Bootstrap().group(workers).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter()).connect(server.localAddress()).sync().channel();
        return new Channel[] {server, client, accepted.get(10, TimeUnit.SECONDS)};
    }

    /** How a connection's dump line starts: local and remote address of {@code from} towards {@code to}. */
    private static String connectionPrefix(Channel from, Channel to) {
        int fromPort = ((InetSocketAddress) from.localAddress()).getPort();
        int toPort = ((InetSocketAddress) to.localAddress()).getPort();
        return "127.0.0.1:" + fromPort + " > 127.0.0.1:" + toPort + " ";
    }

    /** The workers' description of the connection whose line starts with {@code prefix}. */
    private static String connectionLine(String prefix) throws Exception {
        String all = workers.describe().get();
        return all.lines().filter(l -> l.contains("TcpConnection(" + prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no connection " + prefix + " in\n" + all));
    }

    @Test
    void aConnectToAPortNobodyListensOnIsRefused() {
        ExecutionException e = assertThrows(ExecutionException.class, () -> new Bootstrap().group(workers)
                .channel(ZStackSocketChannel.class).handler(new ChannelInboundHandlerAdapter())
                .connect(new InetSocketAddress("127.0.0.1", 9)).get(10, TimeUnit.SECONDS));
        assertInstanceOf(ConnectException.class, e.getCause(), e.toString());
        assertTrue(e.getCause().getMessage().contains("refused"), e.getCause().getMessage());
    }

    /**
     * A 64 KiB heap write over the loopback (whose segments are 64 KiB) is copied into large mbufs: the server's
     * first read is a whole segment in at most two mbufs. The copy used to chain 33 regular mbufs per segment, each
     * allocated, chained, and then read back as a message of its own (2 KiB). The bytes are the ones written.
     */
    @Test
    void aCopiedLargeWriteCrossesTheLoopbackInLargeMbufs() throws Exception {
        CompletableFuture<ByteBuf> first = new CompletableFuture<>();
        Channel server = new ServerBootstrap().group(workers).channel(ZStackServerSocketChannel.class)
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(64 * 1024))
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        if (!first.complete((ByteBuf) msg)) {
                            ((ByteBuf) msg).release();
                        }
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        Channel client = new Bootstrap().group(workers).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter()).connect(server.localAddress()).sync().channel();
        try {
            byte[] bytes = new byte[64 * 1024];
            new Random(13).nextBytes(bytes);
            client.writeAndFlush(Unpooled.wrappedBuffer(bytes)).sync();
            ByteBuf read = first.get(5, TimeUnit.SECONDS);
            try {
                assertTrue(read.readableBytes() > 60 * 1024, "one loopback segment: " + read);
                int pieces = read instanceof CompositeByteBuf composite ? composite.numComponents() : 1;
                assertTrue(pieces <= 2, pieces + " mbufs: " + read); // a large mbuf holds 76 bytes less than a segment
                byte[] got = new byte[read.readableBytes()];
                read.getBytes(read.readerIndex(), got);
                assertArrayEquals(Arrays.copyOf(bytes, got.length), got);
            } finally {
                read.release();
            }
        } finally {
            client.close().sync();
            server.close().sync();
        }
    }
}
