package io.zstack.testsuite.crossprocess;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.socket.SocketDataReadInitialStateTest;
import java.net.SocketAddress;
import java.util.List;

/** Netty's {@link SocketDataReadInitialStateTest} between two ZStack groups joined by the cross-process path (shared memory, no TCP). */
public class CrossProcessSocketDataReadInitialStateTest extends SocketDataReadInitialStateTest {
    @Override
    protected List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return CrossProcessPermutation.INSTANCE.socket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return CrossProcessPermutation.newSocketAddress();
    }
}
