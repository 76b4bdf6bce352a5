package io.zstack.testsuite;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.socket.TrafficShapingHandlerTest;

import java.net.SocketAddress;
import java.util.List;

/** Netty's {@link TrafficShapingHandlerTest} on the transport behind {@link ZStackTransport}, over IPv4 loopback. */
public class ZStackTrafficShapingHandlerTest extends TrafficShapingHandlerTest {

    @Override
    protected List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.INSTANCE.socket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return ZStackSocketTestPermutation.newSocketAddress();
    }
}
