package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.nio.channels.ConnectionPendingException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A connect while another is under way fails at once, and leaves the first to finish as it would have. */
class ZStackConnectTest {

    @Test
    void aSecondConnectFailsAndTheFirstStillTimesOut() throws Exception {
        // no link: the neighbour is never resolved, so the first connect stays pending until its timeout
        EventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().address("10.0.0.2/24").build());
        try {
            Channel channel = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 300).handler(new ChannelInboundHandlerAdapter())
                    .register().sync().channel();
            ChannelFuture first = channel.connect(new InetSocketAddress("10.0.0.9", 80));
            ChannelFuture second = channel.connect(new InetSocketAddress("10.0.0.9", 81));
            assertTrue(second.await(5, TimeUnit.SECONDS));
            assertInstanceOf(ConnectionPendingException.class, second.cause());
            assertTrue(first.await(5, TimeUnit.SECONDS), "the first connect never finished");
            assertInstanceOf(ConnectTimeoutException.class, first.cause());
            assertTrue(channel.closeFuture().await(5, TimeUnit.SECONDS), "a failed connect closes the channel");
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
