package io.zstack.channel;

import io.zstack.ip.Ipv4Config;
import io.zstack.testing.MemifLink;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * A server group and a client group of one loop each, joined by a memif pair whose ends record what passes
 * ({@link ZStackZeroCopyTest.RecordingDevice}), on the subnet 10.9.{subnet}.0/24 (server .1, client .2), each end
 * with a pool of its own ({@link MemifLink}). {@link #run} runs a test and then checks that every mbuf came home.
 */
final class MemifRecordingPair {
    final MemifLink link;
    final ZStackZeroCopyTest.RecordingDevice server;
    final ZStackZeroCopyTest.RecordingDevice client;
    final ZStackEventLoopGroup serverGroup;
    final ZStackEventLoopGroup clientGroup;

    /** {@code firstPortId} and the next are the memif ends' ids; {@code clientConfig} may adjust the client's. */
    MemifRecordingPair(String name, int firstPortId, int subnet, UnaryOperator<ZStackConfig.Builder> clientConfig)
            throws Exception {
        link = new MemifLink(name, firstPortId, firstPortId + 1, 4095);
        server = new ZStackZeroCopyTest.RecordingDevice(link.server);
        client = new ZStackZeroCopyTest.RecordingDevice(link.client);
        serverGroup = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .device((i, n) -> server).address(Ipv4Config.parse("10.9." + subnet + ".1/24", null)).build());
        clientGroup = new ZStackEventLoopGroup(1, clientConfig.apply(ZStackConfig.builder().inProcess(false)
                .device((i, n) -> client).address(Ipv4Config.parse("10.9." + subnet + ".2/24", null))).build());
    }

    /** Waits until both memif ends report their link up. */
    void awaitLink() throws InterruptedException {
        link.awaitUp(10);
    }

    /** A test's body. */
    interface Body {
        void run() throws Exception;
    }

    /**
     * Runs {@code body}, then stops both groups and closes the link, which checks that every mbuf came home. After a
     * failure the body left buffers unreleased, so a failing pool check is added to that failure instead of replacing
     * it (it hid the real cause of a flake once).
     */
    void run(Body body) throws Exception {
        Throwable failure = null;
        try {
            body.run();
        } catch (Throwable t) {
            failure = t;
            throw t;
        } finally {
            clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            try {
                link.close();
            } catch (AssertionError e) {
                if (failure == null) {
                    throw e;
                }
                failure.addSuppressed(e);
            }
        }
    }
}
