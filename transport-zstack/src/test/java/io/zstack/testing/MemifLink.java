package io.zstack.testing;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.device.DpdkPortDevice;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A memif link between two ports of this process, each with its own mbuf pool, over a socket in a fresh temporary
 * folder. {@link #close()} closes both ports and fails if either pool misses an mbuf.
 */
public final class MemifLink implements AutoCloseable {
    public final DpdkMbufPool serverPool;
    public final DpdkMbufPool clientPool;
    public final DpdkPortDevice server;
    public final DpdkPortDevice client;
    private final Path dir;

    /** Ports net_memif{serverIndex} and net_memif{clientIndex}, pools of {@code mbufs} named after {@code name}. */
    public MemifLink(String name, int serverIndex, int clientIndex, int mbufs) throws java.io.IOException {
        dir = Files.createTempDirectory("zstack-" + name);
        String socket = dir.resolve("memif.sock").toString();
        serverPool = DpdkMbufPool.create(name + "-srv", mbufs, 0, 2176);
        clientPool = DpdkMbufPool.create(name + "-cli", mbufs, 0, 2176);
        server = DpdkPortDevice.open(Vdevs.memifServer(serverIndex, socket), PortConfig.defaults(), serverPool);
        client = DpdkPortDevice.open(Vdevs.memifClient(clientIndex, socket), PortConfig.defaults(), clientPool);
    }

    /** Waits until both ends report the link up; throws after {@code seconds}. */
    public void awaitUp(int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!(server.port().info().linkUp() && client.port().info().linkUp())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("memif link did not come up in " + seconds + " s");
            }
            Thread.sleep(10);
        }
    }

    /** Closes the ports (once nobody polls them), checks every mbuf came home, frees the pools and the folder. */
    @Override
    public void close() throws Exception {
        client.close();
        server.close();
        long clientMissing = (long) clientPool.capacity() - clientPool.available();
        long serverMissing = (long) serverPool.capacity() - serverPool.available();
        clientPool.close();
        serverPool.close();
        Files.deleteIfExists(dir.resolve("memif.sock"));
        Files.deleteIfExists(dir);
        if (clientMissing != 0 || serverMissing != 0) {
            throw new AssertionError("mbufs not home: client " + clientMissing + ", server " + serverMissing);
        }
    }
}
