package io.zstack.testsuite;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Starts the shared event loop group and carries one connection over it before the first test class runs
 * (registered for every class by autodetection, see the surefire configuration).
 *
 * <p>Whichever test runs first in the JVM otherwise pays the transport's cold start inside its own time limit:
 * loading and linking Netty's and ZStack's classes, the native shim and its downcall handles, the loops' mbuf pools
 * and the first connection through cold code. On a loaded 2-core machine that took 2.6 to 5 s
 * (SocketConnectTest.testWriteWithFastOpenBeforeConnect, first in the JVM, has 3 s for a bind and two connections, and
 * failed 3 times in 20 runs, always still waiting for its server's registration). The tests' limits are unchanged:
 * they bound the tests' own work, as they do for Netty's transports, whose start-up costs milliseconds.
 */
public final class TransportWarmUp implements BeforeAllCallback {
    private static boolean done;

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        synchronized (TransportWarmUp.class) {
            if (done) {
                return;
            }
            done = true;
        }
        ZStackSocketTestPermutation permutation = ZStackSocketTestPermutation.INSTANCE;
        Channel server = new ServerBootstrap().group(permutation.group())
                .channel(ZStackTransport.serverChannelClass())
                .childHandler(new ChannelInboundHandlerAdapter())
                .bind(ZStackSocketTestPermutation.newSocketAddress()).sync().channel();
        try {
            Channel client = new Bootstrap().group(permutation.group()).channel(ZStackTransport.clientChannelClass())
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(server.localAddress()).sync().channel();
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }
}
