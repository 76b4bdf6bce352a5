package io.zstack.testsuite.memif;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackDevices;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import io.zstack.channel.ZStackSocketChannel;
import io.zstack.testsuite.SingleComboPermutation;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The permutation over a real DPDK data path: the server is one ZStack group (one stack) on the server end of a
 * memif link, the client another group (another stack) on its client end, so every segment of these tests leaves
 * one stack through rte_eth_tx_burst and enters the other through rte_eth_rx_burst (no loopback involved).
 */
public final class MemifPermutation extends SingleComboPermutation {
    static final String SERVER_ADDRESS = "10.9.1.1";
    static final String CLIENT_ADDRESS = "10.9.1.2";
    public static final MemifPermutation INSTANCE = new MemifPermutation();

    private MemifPermutation() {
        Path socket = memifSocket();
        super(new ZStackEventLoopGroup(1, new DefaultThreadFactory("memif-server", true), ZStackConfig.builder()
                        .inProcess(false) // both stacks are in this JVM: the link, not the in-process path, is tested
                        .device(ZStackDevices.memifServer(socket))
                        .address(SERVER_ADDRESS + "/24").build()),
                new ZStackEventLoopGroup(1, new DefaultThreadFactory("memif-client", true), ZStackConfig.builder()
                        .inProcess(false)
                        .device(ZStackDevices.memifClient(socket))
                        .address(CLIENT_ADDRESS + "/24").build()),
                ZStackServerSocketChannel.class, ZStackSocketChannel.class);
        awaitLink();
    }

    /** The memif link's control socket, in a directory of its own removed at exit. */
    private static Path memifSocket() {
        try {
            Path dir = Files.createTempDirectory("zstack-testsuite-memif");
            Path socket = dir.resolve("memif.sock");
            dir.toFile().deleteOnExit();
            socket.toFile().deleteOnExit();
            return socket;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
}
