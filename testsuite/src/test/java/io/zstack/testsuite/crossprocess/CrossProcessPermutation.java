package io.zstack.testsuite.crossprocess;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.InternetProtocolFamily;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.SocketTestPermutation;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import io.zstack.channel.ZStackSocketChannel;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.util.List;

/**
 * The permutation over the cross-process path: the server is one ZStack group, the client another, both with the
 * in-process path off and the cross-process path on, so every connection of these tests goes through the rendezvous
 * (a Unix socket) and a region of shared memory exactly as between two processes, here both in this JVM. The memif
 * permutation's classes run over it.
 */
public final class CrossProcessPermutation extends SocketTestPermutation {
    public static final CrossProcessPermutation INSTANCE = new CrossProcessPermutation();

    private final EventLoopGroup serverGroup;
    private final EventLoopGroup clientGroup;

    private CrossProcessPermutation() {
        Path dir = Path.of("/dev/shm", "zstack-testsuite-" + ProcessHandle.current().pid());
        serverGroup = new ZStackEventLoopGroup(1, new DefaultThreadFactory("xproc-server", true),
                ZStackConfig.builder().inProcess(false).crossProcess(dir, false).build());
        clientGroup = new ZStackEventLoopGroup(1, new DefaultThreadFactory("xproc-client", true),
                ZStackConfig.builder().inProcess(false).crossProcess(dir, false).build());
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try (var files = java.nio.file.Files.list(dir)) {
                for (Path f : files.toList()) {
                    java.nio.file.Files.deleteIfExists(f);
                }
                java.nio.file.Files.deleteIfExists(dir);
            } catch (java.io.IOException e) {
                // best effort: a later run's sweep removes what belongs to dead processes
            }
        }));
    }

    /** 127.0.0.1 with an ephemeral port: the node's loopback, where a server of another group is published. */
    public static SocketAddress newSocketAddress() {
        return new InetSocketAddress("127.0.0.1", 0);
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
