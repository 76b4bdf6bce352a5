package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.zstack.tcp.TcpSettings;
import io.zstack.tcp.cc.CongestionAlgorithm;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A group's TCP defaults ({@link ZStackConfig.Builder#tcp}) are where its channels start, clients and accepted
 * children alike, and what their TCP connections use; an option set on a channel overrides its default for that
 * channel, whether set before the channel learnt its group (bootstrap options) or after.
 */
class ZStackTcpDefaultsTest {
    private static final int TIMEOUT_SECONDS = 10;

    private static final ZStackTcpDefaults DEFAULTS = ZStackTcpDefaults.builder()
            .congestionControl(ZStackCongestionControl.NEW_RENO)
            .receiveBufferBytes(100_000)
            .delayedAck(false)
            .minRto(Duration.ofMillis(5))
            .build();

    @Test
    void channelsStartFromTheirGroupsDefaultsAndTheirOwnOptionsWin() throws Exception {
        EventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().tcp(DEFAULTS).inProcess(false)
                .build());
        try {
            CompletableFuture<Channel> accepted = new CompletableFuture<>();
            Channel server = server(group, accepted).childOption(ChannelOption.SO_RCVBUF, 50_000).bind(9100).sync()
                    .channel();
            Channel plain = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter()).connect("127.0.0.1", 9100).sync().channel();
            ZStackSocketChannel child = (ZStackSocketChannel) accepted.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            Channel chosen = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                    .option(ZStackChannelOption.CONGESTION_CONTROL, ZStackCongestionControl.CUBIC)
                    .handler(new ChannelInboundHandlerAdapter()).connect("127.0.0.1", 9100).sync().channel();

            assertEquals(ZStackCongestionControl.NEW_RENO, plain.config().getOption(
                    ZStackChannelOption.CONGESTION_CONTROL));
            assertEquals(100_000, plain.config().getOption(ChannelOption.SO_RCVBUF));
            assertEquals(false, plain.config().getOption(ZStackChannelOption.DELAYED_ACK));
            assertEquals(5_000, plain.config().getOption(ZStackChannelOption.TCP_RTO_MIN_US));
            assertEquals(true, plain.config().getOption(ChannelOption.TCP_NODELAY), "Netty's default stays");
            TcpSettings plainTcp = settingsOf((ZStackSocketChannel) plain);
            assertEquals(CongestionAlgorithm.NEW_RENO, plainTcp.congestionControl());
            assertEquals(100_000, plainTcp.receiveBufferBytes());

            assertEquals(ZStackCongestionControl.CUBIC, chosen.config().getOption(
                    ZStackChannelOption.CONGESTION_CONTROL));
            assertEquals(CongestionAlgorithm.CUBIC, settingsOf((ZStackSocketChannel) chosen).congestionControl());
            assertEquals(100_000, chosen.config().getOption(ChannelOption.SO_RCVBUF));

            assertEquals(ZStackCongestionControl.NEW_RENO, child.config().getOption(
                    ZStackChannelOption.CONGESTION_CONTROL));
            assertEquals(50_000, child.config().getOption(ChannelOption.SO_RCVBUF), "the child option wins");
            assertEquals(false, child.config().getOption(ZStackChannelOption.DELAYED_ACK));
            assertEquals(50_000, settingsOf(child).receiveBufferBytes());

            plain.config().setOption(ZStackChannelOption.DELAYED_ACK, true); // after connect: on the connection
            assertEquals(true, settingsOf((ZStackSocketChannel) plain).delayedAck());

            plain.close().sync();
            chosen.close().sync();
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void inProcessChildrenStartFromTheirGroupsDefaultsToo() throws Exception {
        EventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().tcp(DEFAULTS).build());
        try {
            CompletableFuture<Channel> accepted = new CompletableFuture<>();
            Channel server = server(group, accepted).option(ChannelOption.SO_RCVBUF, 70_000).bind(9101).sync()
                    .channel();
            ZStackSocketChannel client = (ZStackSocketChannel) new Bootstrap().group(group)
                    .channel(ZStackSocketChannel.class).handler(new ChannelInboundHandlerAdapter())
                    .connect("127.0.0.1", 9101).sync().channel();
            ZStackSocketChannel child = (ZStackSocketChannel) accepted.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            assertEquals(true, client.isInProcess() && child.isInProcess(), "the in-process path");
            assertEquals(100_000, client.config().getReceiveBufferSize());
            assertEquals(70_000, child.config().getReceiveBufferSize(), "the server's option over the default");
            assertEquals(ZStackCongestionControl.NEW_RENO, child.config().getOption(
                    ZStackChannelOption.CONGESTION_CONTROL));
            client.close().sync();
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void badValuesAreRefusedWhenSet() {
        ZStackTcpDefaults.Builder b = ZStackTcpDefaults.builder();
        assertThrows(IllegalArgumentException.class, () -> b.receiveBufferBytes(0));
        assertThrows(IllegalArgumentException.class, () -> b.minRto(Duration.ofNanos(999)));
        assertThrows(IllegalArgumentException.class, () -> b.minRto(Duration.ofSeconds(121)));
        assertThrows(IllegalArgumentException.class, () -> b.keepAlive(Duration.ZERO, Duration.ofSeconds(1), 1));
        assertThrows(NullPointerException.class, () -> b.congestionControl(null));
        assertThrows(IllegalArgumentException.class, () -> ZStackConfig.builder().address("10.0.0.300/24"));
        assertThrows(IllegalArgumentException.class, () -> ZStackConfig.builder().address("10.0.0.2/24", "10.1.0.1"));
        assertEquals(ZStackTcpDefaults.defaults(), ZStackTcpDefaults.defaults().toBuilder().build());
    }

    /** A server bootstrap on {@code group} whose first accepted child completes {@code accepted}. */
    private static ServerBootstrap server(EventLoopGroup group, CompletableFuture<Channel> accepted) {
        return new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                .childHandler(new FirstChild(accepted));
    }

    /** Every child's handler (shared): completes the future with the first. */
    @ChannelHandler.Sharable
    private static final class FirstChild extends ChannelInboundHandlerAdapter {
        private final CompletableFuture<Channel> accepted;

        FirstChild(CompletableFuture<Channel> accepted) {
            this.accepted = accepted;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            accepted.complete(ctx.channel());
        }
    }

    /** The settings the channel's TCP connection uses, read on its loop. */
    private static TcpSettings settingsOf(ZStackSocketChannel channel) throws Exception {
        return channel.eventLoop().submit(() -> channel.connection().settings()).get(TIMEOUT_SECONDS,
                TimeUnit.SECONDS);
    }
}
