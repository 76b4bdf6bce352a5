package io.zstack.testsuite.crossprocess;

import io.netty.util.concurrent.DefaultThreadFactory;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import io.zstack.channel.ZStackSocketChannel;
import io.zstack.testsuite.SingleComboPermutation;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The permutation over the cross-process path: the server is one ZStack group, the client another, both with the
 * in-process path off and the cross-process path on, so every connection of these tests goes through the rendezvous
 * (a Unix socket) and a region of shared memory exactly as between two processes, here both in this JVM. The memif
 * permutation's classes run over it.
 */
public final class CrossProcessPermutation extends SingleComboPermutation {
    public static final CrossProcessPermutation INSTANCE = new CrossProcessPermutation();

    private final Path rendezvous;

    private CrossProcessPermutation() {
        Path dir = Path.of("/dev/shm", "zstack-testsuite-" + ProcessHandle.current().pid());
        super(group("xproc-server", dir), group("xproc-client", dir), ZStackServerSocketChannel.class,
                ZStackSocketChannel.class);
        rendezvous = dir;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                // best effort: a later run's sweep removes what belongs to dead processes
            }
        }));
    }

    /** A group with the in-process path off and the cross-process path on, publishing in {@code rendezvous}. */
    static ZStackEventLoopGroup group(String name, Path rendezvous) {
        return new ZStackEventLoopGroup(1, new DefaultThreadFactory(name, true),
                ZStackConfig.builder().inProcess(false).crossProcess(rendezvous, false).build());
    }

    /** The directory where the permutation's servers are published (another process's group joins them there). */
    public Path rendezvous() {
        return rendezvous;
    }

    /** 127.0.0.1 with an ephemeral port: the node's loopback, where a server of another group is published. */
    public static SocketAddress newSocketAddress() {
        return new InetSocketAddress("127.0.0.1", 0);
    }
}
