package io.zstack.testsuite;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.socket.SocketMultipleConnectTest;

import java.net.SocketAddress;
import java.nio.channels.AlreadyConnectedException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * Netty's {@link SocketMultipleConnectTest} on the transport behind {@link ZStackTransport}.
 *
 * <p>Two departures from the base class. Its {@code newFactories()} keeps only combinations whose client group is a
 * {@code NioEventLoopGroup}, which would leave nothing to run once the seam is ZStack, so all of ours are used. Its
 * body binds {@code NetUtil.LOCALHOST} explicitly instead of the configured address, which may be IPv6; so the same
 * check (a second connect on a connected channel fails with {@link AlreadyConnectedException}) is made here on the
 * IPv4 loopback address.
 */
public class ZStackSocketMultipleConnectTest extends SocketMultipleConnectTest {

    @Override
    protected List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.INSTANCE.socketWithFastOpen();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return ZStackSocketTestPermutation.newSocketAddress();
    }

    @Override
    public void testMultipleConnect(ServerBootstrap sb, Bootstrap cb) throws Exception {
        Channel server = null;
        Channel client = null;
        try {
            server = sb.childHandler(new ChannelInboundHandlerAdapter())
                    .bind(ZStackSocketTestPermutation.newSocketAddress()).syncUninterruptibly().channel();
            client = cb.handler(new ChannelInboundHandlerAdapter()).register().syncUninterruptibly().channel();
            client.connect(server.localAddress()).syncUninterruptibly();

            ChannelFuture again = client.connect(server.localAddress()).await();
            assertInstanceOf(AlreadyConnectedException.class, again.cause());
        } finally {
            if (client != null) {
                client.close();
            }
            if (server != null) {
                server.close();
            }
        }
    }
}
