package io.zstack.testsuite;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.socket.SocketAddressesTest;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Netty's {@link SocketAddressesTest} on the transport behind {@link ZStackTransport}. The base class leaves the
 * check of an address to the transport: both ends of every connection here are on the IPv4 loopback, so every local
 * and remote address, on either side, must be exactly 127.0.0.1 with a real port (never the wildcard, never IPv6).
 */
public class ZStackSocketAddressesTest extends SocketAddressesTest {

    @Override
    protected List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.INSTANCE.socket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return ZStackSocketTestPermutation.newSocketAddress();
    }

    @Override
    protected void assertAddress(SocketAddress address) {
        InetSocketAddress inet = assertInstanceOf(InetSocketAddress.class, address);
        assertTrue(inet.getPort() > 0 && inet.getPort() <= 0xFFFF, "port of " + inet);
        assertEquals(ZStackSocketTestPermutation.localhost(), inet.getAddress(), "address of " + inet);
    }
}
