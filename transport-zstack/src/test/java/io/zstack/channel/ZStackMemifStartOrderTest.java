package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.zstack.dpdk.Eal;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A memif client group started before its server waits for it (issue 11: the benchmark starts the zero-copy client
 * before its server, or the other way round); with no server it fails in bounded time, naming the socket; a
 * zero-copy client on this process's EAL (4 KiB pages) is refused, saying why. Both ends in this process.
 */
class ZStackMemifStartOrderTest {

    @Test
    void aClientStartedBeforeItsServerWaitsForIt() throws Exception {
        Path dir = Files.createTempDirectory("zstack-memif-order");
        Path socket = dir.resolve("memif.sock");
        CompletableFuture<ZStackEventLoopGroup> client = CompletableFuture.supplyAsync(() -> new ZStackEventLoopGroup(1,
                ZStackConfig.builder().inProcess(false).device(ZStackDevices.memifClient(socket))
                        .address("10.9.51.2/24").build()));
        ZStackEventLoopGroup server = null;
        ZStackEventLoopGroup clientGroup = null;
        try {
            Thread.sleep(1000);
            assertFalse(client.isDone(), "the client waits for its server: " + client);
            server = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                    .device(ZStackDevices.memifServer(socket)).address("10.9.51.1/24").build());
            clientGroup = client.get(30, TimeUnit.SECONDS);
            Channel listener = new ServerBootstrap().group(server).channel(ZStackServerSocketChannel.class)
                    .childHandler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ctx.writeAndFlush(msg);
                        }
                    }).bind(new InetSocketAddress("10.9.51.1", 8080)).sync().channel();
            CompletableFuture<String> echoed = new CompletableFuture<>();
            Channel ch = new Bootstrap().group(clientGroup).channel(ZStackSocketChannel.class)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            echoed.complete(((ByteBuf) msg).toString(StandardCharsets.US_ASCII));
                            ((ByteBuf) msg).release();
                        }
                    }).connect(new InetSocketAddress("10.9.51.1", 8080)).sync().channel();
            ch.writeAndFlush(Unpooled.copiedBuffer("started first", StandardCharsets.US_ASCII));
            assertEquals("started first", echoed.get(10, TimeUnit.SECONDS));
            ch.close().sync();
            listener.close().sync();
        } finally {
            if (clientGroup == null && client.isDone() && !client.isCompletedExceptionally()) {
                clientGroup = client.join();
            }
            if (clientGroup != null) {
                clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            }
            if (server != null) {
                server.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            }
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void aClientWithoutServerFailsInBoundedTimeNamingTheSocket() throws Exception {
        Path dir = Files.createTempDirectory("zstack-memif-order");
        Path socket = dir.resolve("memif.sock");
        try {
            long start = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> new ZStackEventLoopGroup(1,
                    ZStackConfig.builder().inProcess(false)
                            .device(ZStackDevices.memifClient(socket).withServerWait(Duration.ofMillis(500)))
                            .address("10.9.52.2/24").build()));
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            String message = rootMessage(e);
            assertTrue(message.contains("no memif server") && message.contains(socket.toString())
                    && message.contains("500 ms"), message);
            assertTrue(millis >= 500 && millis < 10_000, "waited " + millis + " ms");
        } finally {
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void zeroCopyOnFourKiBPagesIsRefusedSayingWhy() throws Exception {
        Eal.ensureInitialized(); // this test JVM's EAL: --no-huge, whoever started it
        assertFalse(Eal.hugepagesInUse());
        Path dir = Files.createTempDirectory("zstack-memif-order");
        try {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> new ZStackEventLoopGroup(1,
                    ZStackConfig.builder().device(ZStackDevices.memifClient(dir.resolve("memif.sock")).withZeroCopy())
                            .address("10.9.53.2/24").build()));
            String message = rootMessage(e);
            assertTrue(message.contains("needs EAL's memory in hugepages") && message.contains("4 KiB pages"),
                    message);
        } finally {
            Files.deleteIfExists(dir);
        }
    }

    private static String rootMessage(Throwable t) {
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }
}
