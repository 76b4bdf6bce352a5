package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.device.DpdkPortDevice;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import io.zstack.ip.Ipv4Config;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * A server group and a client group of one loop each, joined by a memif pair whose ends record what passes
 * ({@link ZStackZeroCopyTest.RecordingDevice}), on the subnet 10.9.{subnet}.0/24 (server .1, client .2), each end
 * with a pool of its own. {@link #close} stops both and checks that every mbuf came home.
 */
final class MemifRecordingPair {
    final Path dir;
    final String socket;
    final DpdkMbufPool serverPool;
    final DpdkMbufPool clientPool;
    final ZStackZeroCopyTest.RecordingDevice server;
    final ZStackZeroCopyTest.RecordingDevice client;
    final ZStackEventLoopGroup serverGroup;
    final ZStackEventLoopGroup clientGroup;
    final String serverAddress;

    /** {@code firstPortId} and the next are the memif ends' ids; {@code clientConfig} may adjust the client's. */
    MemifRecordingPair(String name, int firstPortId, int subnet, UnaryOperator<ZStackConfig.Builder> clientConfig)
            throws Exception {
        dir = Files.createTempDirectory("zstack-" + name);
        socket = dir.resolve("memif.sock").toString();
        serverPool = DpdkMbufPool.create(name + "-srv", 4095, 0, 2176);
        clientPool = DpdkMbufPool.create(name + "-cli", 4095, 0, 2176);
        server = new ZStackZeroCopyTest.RecordingDevice(DpdkPortDevice.open(Vdevs.memifServer(firstPortId, socket),
                PortConfig.defaults(), serverPool));
        client = new ZStackZeroCopyTest.RecordingDevice(DpdkPortDevice.open(
                Vdevs.memifClient(firstPortId + 1, socket), PortConfig.defaults(), clientPool));
        serverAddress = "10.9." + subnet + ".1";
        serverGroup = new ZStackEventLoopGroup(1, ZStackConfig.builder()
                .device((i, n) -> server).address(Ipv4Config.parse(serverAddress + "/24", null)).build());
        clientGroup = new ZStackEventLoopGroup(1, clientConfig.apply(ZStackConfig.builder()
                .device((i, n) -> client).address(Ipv4Config.parse("10.9." + subnet + ".2/24", null))).build());
    }

    /** Waits until both memif ends report their link up. */
    void awaitLink() throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!(((DpdkPortDevice) server.inner()).port().info().linkUp()
                && ((DpdkPortDevice) client.inner()).port().info().linkUp())) {
            assertTrue(System.nanoTime() < deadline, "memif link did not come up in 10 s");
            Thread.sleep(10);
        }
    }

    /** A test's body. */
    interface Body {
        void run() throws Exception;
    }

    /** Runs {@code body}, then {@link #close}s, adding the pool check to the body's failure if there was one. */
    void run(Body body) throws Exception {
        Throwable failure = null;
        try {
            body.run();
        } catch (Throwable t) {
            failure = t;
            throw t;
        } finally {
            close(failure);
        }
    }

    /**
     * Stops both groups, closes the memif pair and checks that every mbuf came home. After a failure the test left
     * buffers unreleased, so a pool check failing then is added to that failure instead of replacing it (it hid
     * the real cause of a flake once).
     */
    private void close(Throwable failure) throws Exception {
        clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        try {
            assertEquals(clientPool.capacity(), clientPool.available(), "client mbufs all home");
            assertEquals(serverPool.capacity(), serverPool.available(), "server mbufs all home");
            clientPool.close();
            serverPool.close();
        } catch (AssertionError e) {
            if (failure == null) {
                throw e;
            }
            failure.addSuppressed(e);
        }
        Files.deleteIfExists(Path.of(socket));
        Files.deleteIfExists(dir);
    }
}
