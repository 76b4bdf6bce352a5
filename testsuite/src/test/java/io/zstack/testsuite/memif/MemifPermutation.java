package io.zstack.testsuite.memif;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.InternetProtocolFamily;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.SocketTestPermutation;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackDevices;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import io.zstack.channel.ZStackSocketChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The permutation over a real DPDK data path: the server is one ZStack group (one stack) on the server end of a
 * memif link, the client another group (another stack) on its client end, so every segment of these tests leaves
 * one stack through rte_eth_tx_burst and enters the other through rte_eth_rx_burst (no loopback involved).
 */
public final class MemifPermutation extends SocketTestPermutation {
    static final String SERVER_ADDRESS = "10.9.1.1";
    static final String CLIENT_ADDRESS = "10.9.1.2";
    public static final MemifPermutation INSTANCE = new MemifPermutation();

    private final EventLoopGroup serverGroup;
    private final EventLoopGroup clientGroup;

    private MemifPermutation() {
        Path socket;
        try {
            Path dir = Files.createTempDirectory("zstack-testsuite-memif");
            socket = dir.resolve("memif.sock");
            dir.toFile().deleteOnExit();
            socket.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        serverGroup = new ZStackEventLoopGroup(1, new DefaultThreadFactory("memif-server", true), ZStackConfig.builder()
                .inProcess(false) // both stacks are in this JVM: the link, not the in-process path, is under test
                .device(ZStackDevices.memifServer(socket))
                .address(SERVER_ADDRESS + "/24").build());
        clientGroup = new ZStackEventLoopGroup(1, new DefaultThreadFactory("memif-client", true), ZStackConfig.builder()
                .inProcess(false)
                .device(ZStackDevices.memifClient(socket))
                .address(CLIENT_ADDRESS + "/24").build());
        awaitLink();
    }

    /** Connects until the memif link is up and ARP resolved, so no test pays for the link coming up. */
    private void awaitLink() {
        Channel server = newServerBootstrap().childHandler(new ChannelInboundHandlerAdapter())
                .bind(newSocketAddress()).syncUninterruptibly().channel();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (true) {
                Channel c = newClientBootstrap().handler(new ChannelInboundHandlerAdapter())
                        .option(io.netty.channel.ChannelOption.CONNECT_TIMEOUT_MILLIS, 1000)
                        .connect(server.localAddress()).awaitUninterruptibly().channel();
                if (c.isActive()) {
                    c.close().syncUninterruptibly();
                    return;
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the memif link between the two stacks did not come up in 20 s");
                }
            }
        } finally {
            server.close().syncUninterruptibly();
        }
    }

    /** The server stack's address with an ephemeral port: binds happen there, clients connect across the link. */
    public static SocketAddress newSocketAddress() {
        return new InetSocketAddress(SERVER_ADDRESS, 0);
    }

    @Override
    public List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> socket() {
        return combo(serverSocket(), clientSocket());
    }

    @Override
    public List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> socketWithFastOpen() {
        return socket();
    }

    @Override
    public List<BootstrapFactory<ServerBootstrap>> serverSocket() {
        return List.of(this::newServerBootstrap);
    }

    @Override
    public List<BootstrapFactory<Bootstrap>> clientSocket() {
        return List.of(this::newClientBootstrap);
    }

    @Override
    public List<BootstrapFactory<Bootstrap>> clientSocketWithFastOpen() {
        return clientSocket();
    }

    @Override
    public List<BootstrapComboFactory<Bootstrap, Bootstrap>> datagram(InternetProtocolFamily family) {
        throw new UnsupportedOperationException("no datagram channels");
    }

    @Override
    public List<BootstrapFactory<Bootstrap>> datagramSocket() {
        throw new UnsupportedOperationException("no datagram channels");
    }

    public ServerBootstrap newServerBootstrap() {
        return new ServerBootstrap().group(serverGroup).channel(ZStackServerSocketChannel.class);
    }

    public Bootstrap newClientBootstrap() {
        return new Bootstrap().group(clientGroup).channel(ZStackSocketChannel.class);
    }
}
