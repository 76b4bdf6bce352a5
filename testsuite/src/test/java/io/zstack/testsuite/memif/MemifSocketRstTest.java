package io.zstack.testsuite.memif;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.socket.SocketRstTest;
import java.net.SocketAddress;
import java.util.List;

/** Netty's {@link SocketRstTest} between two ZStack stacks joined by a DPDK memif link. */
public class MemifSocketRstTest extends SocketRstTest {
    @Override
    protected List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return MemifPermutation.INSTANCE.socket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return MemifPermutation.newSocketAddress();
    }
}
