package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.zstack.ip.Ipv4Config;
import io.zstack.testing.MemifLink;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The group model of {@link ZStackEventLoopGroup}: a group is one host; a server listens in its child group and its
 * children live there; groups share no loopback and no ports, and reach each other only over their devices.
 */
class ZStackGroupsTest {
    private static final int TIMEOUT_SECONDS = 10;

    /** Answers every read with {@code name:} and the bytes read; records the loop of every child it serves. */
    private static final class NamedEcho extends ChannelInboundHandlerAdapter {
        final String name;
        final Set<EventLoop> childLoops = ConcurrentHashMap.newKeySet();

        NamedEcho(String name) {
            this.name = name;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            childLoops.add(ctx.channel().eventLoop());
            ctx.fireChannelActive();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            ByteBuf reply = ctx.alloc().buffer().writeBytes((name + ":").getBytes(StandardCharsets.US_ASCII))
                    .writeBytes(in);
            in.release();
            ctx.writeAndFlush(reply);
        }

        @Override
        public boolean isSharable() {
            return true;
        }
    }

    /** Sends {@code text} from a client on {@code group} to {@code server}; returns the whole answer. */
    private static String ask(EventLoopGroup group, SocketAddress server, String text) throws Exception {
        CompletableFuture<String> answer = new CompletableFuture<>();
        StringBuilder received = new StringBuilder();
        Channel client = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ByteBuf in = (ByteBuf) msg;
                        received.append(in.toString(StandardCharsets.US_ASCII));
                        in.release();
                        if (received.toString().endsWith(text)) {
                            answer.complete(received.toString());
                        }
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        answer.completeExceptionally(cause);
                    }
                }).connect(server).sync().channel();
        try {
            client.writeAndFlush(Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII)).sync();
            return answer.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } finally {
            client.close().sync();
        }
    }

    private static Channel serve(ServerBootstrap bootstrap, NamedEcho echo, SocketAddress address) {
        return bootstrap.channel(ZStackServerSocketChannel.class).childHandler(echo).bind(address)
                .syncUninterruptibly().channel();
    }

    private static void shutdown(EventLoopGroup... groups) throws InterruptedException {
        for (EventLoopGroup group : groups) {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /** A connect from {@code group} to {@code address} is refused: nobody listens there on that group's host. */
    private static void assertRefused(EventLoopGroup group, SocketAddress address) {
        ExecutionException refused = assertThrows(ExecutionException.class, () -> new Bootstrap().group(group)
                .channel(ZStackSocketChannel.class).handler(new ChannelInboundHandlerAdapter()).connect(address)
                .get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        assertInstanceOf(ConnectException.class, refused.getCause());
    }

    /** What a loop's stack holds: its TCP connections and the connections it accepted so far. */
    private static long[] stackLoad(ZStackEventLoop loop) throws Exception {
        return loop.submit(() -> new long[] {loop.stack().tcp().connectionCount(),
                loop.stack().tcp().counters().passiveOpens}).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    @Test
    void bossAndWorkerGroupsTheChildrenLiveOnTheWorkerLoopsTheirFlowsReach() throws Exception {
        ZStackEventLoopGroup boss = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        ZStackEventLoopGroup workers = new ZStackEventLoopGroup(2, ZStackConfig.builder().inProcess(false).build());
        try {
            NamedEcho echo = new NamedEcho("server");
            Channel server = serve(new ServerBootstrap().group(boss, workers), echo,
                    new InetSocketAddress("127.0.0.1", 0));
            assertSame(boss, server.eventLoop().parent());
            // clients are registered round-robin over both worker loops; each picks a port whose flow reaches the
            // other loop (ZStackSocketChannel#doConnect), so the children land on both
            for (int i = 0; i < 4; i++) {
                assertEquals("server:hello" + i, ask(workers, server.localAddress(), "hello" + i));
            }
            assertEquals(new HashSet<>(workers.loops()), echo.childLoops, "children on both worker loops");
            long[] bossLoad = stackLoad(boss.loops().getFirst());
            assertEquals(0, bossLoad[1], "the boss's stack accepted nothing: it carries no connection");
            long accepted = 0;
            for (ZStackEventLoop loop : workers.loops()) {
                accepted += stackLoad(loop)[1];
            }
            assertEquals(4, accepted, "the workers' stacks accepted every connection");
            // the boss group is another host: its loopback has no listener of this server
            assertRefused(boss, server.localAddress());
            server.close().sync();
        } finally {
            shutdown(boss, workers);
        }
    }

    @Test
    void twoGroupsAreTwoHostsEachWithItsOwnLoopbackAndPorts() throws Exception {
        ZStackEventLoopGroup a = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        ZStackEventLoopGroup b = new ZStackEventLoopGroup(2, ZStackConfig.builder().inProcess(false).build());
        try {
            Channel serverA = serve(new ServerBootstrap().group(a), new NamedEcho("a"),
                    new InetSocketAddress("127.0.0.1", 0));
            InetSocketAddress port = (InetSocketAddress) serverA.localAddress();
            // the same port in the other group: another host's port space
            Channel serverB = serve(new ServerBootstrap().group(b), new NamedEcho("b"), port);
            assertEquals(port, serverB.localAddress());
            assertEquals("a:x", ask(a, port, "x"));
            assertEquals("b:y", ask(b, port, "y"));
            // within one group the port is taken
            ChannelFuture again = new ServerBootstrap().group(b).channel(ZStackServerSocketChannel.class)
                    .childHandler(new ChannelInboundHandlerAdapter()).bind(port).await();
            assertTrue(again.cause() instanceof java.net.BindException, String.valueOf(again.cause()));
            serverB.close().sync();
            // b's loopback never reaches a's server
            assertRefused(b, port);
            assertEquals("a:z", ask(a, port, "z"));
            serverA.close().sync();
        } finally {
            shutdown(a, b);
        }
    }

    @Test
    void aClientGroupTalksToAServerGroupOverALinkBetweenTheirOwnDevices() throws Exception {
        MemifLink link = new MemifLink("groups", 41, 42, 4095);
        ZStackEventLoopGroup boss = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        ZStackEventLoopGroup workers = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .device((i, n) -> new ZStackZeroCopyTest.RecordingDevice(link.server))
                .address(Ipv4Config.parse("10.9.4.1/24", null)).build());
        ZStackEventLoopGroup clients = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .device((i, n) -> new ZStackZeroCopyTest.RecordingDevice(link.client))
                .address(Ipv4Config.parse("10.9.4.2/24", null)).build());
        try {
            link.awaitUp(TIMEOUT_SECONDS);
            NamedEcho echo = new NamedEcho("server");
            // the server's address is the worker group's, not the boss's (loopback only): bind checks the child group
            Channel server = serve(new ServerBootstrap().group(boss, workers), echo,
                    new InetSocketAddress("10.9.4.1", 0));
            assertEquals("server:over the link", ask(clients, server.localAddress(), "over the link"));
            assertEquals(Set.copyOf(workers.loops()), echo.childLoops);
            assertEquals(1, stackLoad(workers.loops().getFirst())[1]);
            // the client's own loopback has no such server
            int port = ((InetSocketAddress) server.localAddress()).getPort();
            assertRefused(clients, new InetSocketAddress("127.0.0.1", port));
            server.close().sync();
        } finally {
            try {
                shutdown(clients, workers, boss);
            } finally {
                link.close();
            }
        }
    }

    @Test
    void aChildRegisteredInAGroupThatDidNotAcceptItFailsWithAClearError() throws Exception {
        ZStackEventLoopGroup home = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        ZStackEventLoopGroup elsewhere = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        try {
            // a server set up by hand (no ServerBootstrap) listens in its own group; its handler registers the
            // accepted children in another group, which cannot take them
            CompletableFuture<Throwable> registration = new CompletableFuture<>();
            ZStackServerSocketChannel server = new ZStackServerSocketChannel();
            server.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object child) {
                    elsewhere.register((Channel) child).addListener(f -> registration.complete(f.cause()));
                }
            });
            home.register(server).sync();
            server.bind(new InetSocketAddress("127.0.0.1", 0)).sync();
            List<Channel> clients = new ArrayList<>();
            clients.add(new Bootstrap().group(home).channel(ZStackSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter()).connect(server.localAddress()).sync().channel());
            Throwable cause = registration.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            assertInstanceOf(IllegalStateException.class, cause);
            assertTrue(cause.getMessage().contains("accepted by a stack of " + home), cause.getMessage());
            for (Channel c : clients) {
                c.close().sync();
            }
            server.close().sync();
        } finally {
            shutdown(home, elsewhere);
        }
    }

    @Test
    void aChildGroupThatIsNotAZStackGroupIsRefusedAtBind() throws Exception {
        ZStackEventLoopGroup boss = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
        EventLoopGroup other = new DefaultEventLoopGroup(1);
        try {
            ChannelFuture bind = new ServerBootstrap().group(boss, other).channel(ZStackServerSocketChannel.class)
                    .childHandler(new ChannelInboundHandlerAdapter()).bind(new InetSocketAddress("127.0.0.1", 0))
                    .await();
            assertInstanceOf(IllegalStateException.class, bind.cause());
            assertTrue(bind.cause().getMessage().contains(DefaultEventLoopGroup.class.getName()),
                    bind.cause().getMessage());
        } finally {
            shutdown(boss, other);
        }
    }
}
