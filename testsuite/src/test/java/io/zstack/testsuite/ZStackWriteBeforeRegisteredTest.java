package io.zstack.testsuite;

import io.netty.bootstrap.Bootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.WriteBeforeRegisteredTest;

import java.net.SocketAddress;
import java.util.List;

/** Netty's {@link WriteBeforeRegisteredTest} on the transport behind {@link ZStackTransport}, over IPv4 loopback. */
public class ZStackWriteBeforeRegisteredTest extends WriteBeforeRegisteredTest {

    @Override
    protected List<BootstrapFactory<Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.INSTANCE.clientSocket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return ZStackSocketTestPermutation.newSocketAddress();
    }
}
