package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.MbufPool;
import io.zstack.device.DpdkPortDevice;
import io.zstack.device.FaultCounters;
import io.zstack.device.FaultInjectingDevice;
import io.zstack.ip.Ipv4Config;
import io.zstack.testing.MemifLink;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The channel read/write path under seeded random use ({@link ChannelStress}: write sizes and buffer kinds, writes
 * from inside and outside the loop, buffers overwritten after their write, AUTO_READ toggling, tiny receive guesses,
 * held and out-of-order released reads, decoder echo, half-closure and abrupt close), every byte checked against its
 * stream position in both directions and every mbuf home after each seed. Over the stack's loopback with one loop and
 * with two (connections then cross between loops), and over a DPDK memif link between two groups, clean and with
 * link faults on both ends.
 *
 * <p>{@code -Dzstack.stress.seeds=N} runs N seeds per loopback case (default 150) and N/4 over memif (each way);
 * {@code -Dzstack.stress.seed=S} replays one seed everywhere.
 */
class ZStackChannelStressTest {
    private static final int SEEDS = Integer.getInteger("zstack.stress.seeds", 150);

    static LongStream seeds() {
        return seeds(SEEDS);
    }

    static LongStream memifSeeds() {
        return seeds(Math.max(1, SEEDS / 4));
    }

    private static LongStream seeds(int count) {
        Long one = Long.getLong("zstack.stress.seed");
        return one != null ? LongStream.of(one) : LongStream.rangeClosed(1, count);
    }

    private static void runSeed(long seed, ZStackEventLoopGroup server, ZStackEventLoopGroup client,
                                InetSocketAddress bind) throws Exception {
        List<MbufPool> pools = new ArrayList<>();
        for (ZStackEventLoopGroup group : server == client ? List.of(server) : List.of(server, client)) {
            for (ZStackEventLoop loop : group.loops()) {
                pools.add(loop.pool());
                if (loop.largePool() != null) {
                    pools.add(loop.largePool());
                }
            }
        }
        assertEquals(List.of(), new ChannelStress(seed).run(server, client, bind, pools));
    }

    /** Base for a loopback case: one group, client and server on its loops. */
    abstract static class Loopback {
        private ZStackEventLoopGroup group;

        abstract int loops();

        /** Whether the connections skip TCP (the in-process path) or take the stack's loopback. */
        boolean inProcess() {
            return false;
        }

        @BeforeAll
        void start() {
            String capture = System.getProperty("zstack.stress.capture");
            ZStackConfig.Builder config = ZStackConfig.builder().inProcess(inProcess());
            if (capture != null) {
                config.capture(Path.of(capture), 128, 1L << 30);
            }
            group = new ZStackEventLoopGroup(loops(), config.build());
        }

        @AfterAll
        void stop() throws Exception {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }

        @ParameterizedTest(name = "seed {0}")
        @MethodSource("io.zstack.channel.ZStackChannelStressTest#seeds")
        void seed(long seed) throws Exception {
            long before = inProcessConnects(group);
            runSeed(seed, group, group, new InetSocketAddress("127.0.0.1", 0));
            assertEquals(inProcess() ? before + 1 : before, inProcessConnects(group), "in-process connects");
        }
    }

    /** Connections the group's loops made without TCP. */
    static long inProcessConnects(ZStackEventLoopGroup group) throws Exception {
        long sum = 0;
        for (ZStackEventLoop loop : group.loops()) {
            sum += loop.submit(() -> loop.inProcessCounters.connectsInProcess).get();
        }
        return sum;
    }

    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class OneLoop extends Loopback {
        @Override
        int loops() {
            return 1;
        }
    }

    /** Client and server may sit on different loops: the loopback fabric carries their frames. */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class TwoLoops extends Loopback {
        @Override
        int loops() {
            return 2;
        }
    }

    /** The in-process path, client and server on one loop: the hand-over is a task on that loop. */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class InProcessOneLoop extends Loopback {
        @Override
        int loops() {
            return 1;
        }

        @Override
        boolean inProcess() {
            return true;
        }
    }

    /** The in-process path between two loops: buffers cross threads through the pipes. */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class InProcessTwoLoops extends Loopback {
        @Override
        int loops() {
            return 2;
        }

        @Override
        boolean inProcess() {
            return true;
        }
    }

    /**
     * The cross-process path (both groups in this JVM, in-process off): every byte copied into a shared region
     * through the rendezvous, read as views of it; held and out-of-order released reads hold ring space.
     */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class CrossProcess {
        private java.nio.file.Path dir;
        private ZStackEventLoopGroup serverGroup;
        private ZStackEventLoopGroup clientGroup;

        @BeforeAll
        void start() {
            dir = java.nio.file.Path.of("/dev/shm", "zstack-stress-" + ProcessHandle.current().pid());
            serverGroup = new ZStackEventLoopGroup(1, ZStackCrossProcessTest.config(dir));
            clientGroup = new ZStackEventLoopGroup(1, ZStackCrossProcessTest.config(dir));
        }

        @AfterAll
        void stop() throws Exception {
            clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            ZStackCrossProcessTest.assertDirectoryHolds(dir, List.of());
            java.nio.file.Files.deleteIfExists(dir);
        }

        @ParameterizedTest(name = "seed {0}")
        @MethodSource("io.zstack.channel.ZStackChannelStressTest#seeds")
        void seed(long seed) throws Exception {
            long before = crossProcessConnects(clientGroup);
            runSeed(seed, serverGroup, clientGroup, new InetSocketAddress("127.0.0.1", 0));
            assertEquals(before + 1, crossProcessConnects(clientGroup), "cross-process connects");
        }
    }

    static long crossProcessConnects(ZStackEventLoopGroup group) throws Exception {
        long sum = 0;
        for (ZStackEventLoop loop : group.loops()) {
            sum += loop.submit(() -> loop.inProcessCounters.connectsCrossProcess).get();
        }
        return sum;
    }

    /**
     * Base of the memif cases: two groups joined by a memif link (ports {@link #firstPortId} and the next, subnet
     * 10.9.{@code firstPortId}.0/24), each end's device impaired by {@link #faults} unless that is null.
     */
    abstract static class MemifCase {
        private MemifLink link;
        private ZStackEventLoopGroup serverGroup;
        private ZStackEventLoopGroup clientGroup;

        abstract int firstPortId();

        /** Each end's {@link ZStackConfig.Builder#linkFaults}, without the seed (the ends get 1 and 2), or null. */
        abstract String faults();

        /** Looks at the groups once every seed has run, before they stop. */
        void afterSeeds(ZStackEventLoopGroup serverGroup, ZStackEventLoopGroup clientGroup) throws Exception {
        }

        @BeforeAll
        void start() throws Exception {
            link = new MemifLink("stress" + firstPortId(), firstPortId(), firstPortId() + 1, 8191);
            serverGroup = group(link.server, 1);
            clientGroup = group(link.client, 2);
            link.awaitUp(10);
        }

        private ZStackEventLoopGroup group(DpdkPortDevice port, int host) {
            ZStackConfig.Builder config = ZStackConfig.builder().inProcess(false).device((i, n) -> unclosed(port))
                    .address(Ipv4Config.parse("10.9." + firstPortId() + "." + host + "/24", null));
            if (faults() != null) {
                config.linkFaults(faults() + ",seed=" + host);
            }
            return new ZStackEventLoopGroup(1, config.build());
        }

        @AfterAll
        void stop() throws Exception {
            try {
                afterSeeds(serverGroup, clientGroup);
                clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
                serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            } finally {
                link.close();
            }
        }

        @ParameterizedTest(name = "seed {0}")
        @MethodSource("io.zstack.channel.ZStackChannelStressTest#memifSeeds")
        void seed(long seed) throws Exception {
            runSeed(seed, serverGroup, clientGroup, new InetSocketAddress("10.9." + firstPortId() + ".1", 0));
        }
    }

    /** Two groups joined by a memif link: mbufs from the DPDK pools, frames through the PMD. */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class Memif extends MemifCase {
        @Override
        int firstPortId() {
            return 31;
        }

        @Override
        String faults() {
            return null;
        }
    }

    /**
     * The memif case with both devices impaired ({@link ZStackConfig.Builder#linkFaults}): every frame each end
     * receives may be lost, duplicated, corrupted, reordered or delayed, so the channels' streams ride on TCP's
     * recovery (retransmissions, SACK, RACK, timeouts) and every byte is still checked in both directions. The run
     * fails if the faults did not happen. {@code -Dzstack.stress.faults=...} (without a seed) for other faults.
     */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class MemifWithLinkFaults extends MemifCase {
        @Override
        int firstPortId() {
            return 71;
        }

        @Override
        String faults() {
            return System.getProperty("zstack.stress.faults",
                    "drop=0.01,duplicate=0.005,corrupt=0.002,reorder=0.01/3,delay=0.01:200us+100us,direction=rx");
        }

        @Override
        void afterSeeds(ZStackEventLoopGroup serverGroup, ZStackEventLoopGroup clientGroup) throws Exception {
            FaultCounters done = faults(serverGroup).plus(faults(clientGroup));
            if (memifSeeds().count() >= 10) {
                assertTrue(done.dropped() > 0 && done.duplicated() > 0 && done.corrupted() > 0
                        && done.reordered() > 0 && done.delayed() > 0, "the faults did not all happen: " + done);
            }
        }

        private static FaultCounters faults(ZStackEventLoopGroup group) throws Exception {
            ZStackEventLoop loop = group.loops().get(0);
            return loop.submit(() -> ((FaultInjectingDevice) loop.stack().device()).counters()).get();
        }
    }

    /** The port as a device whose close() the test keeps for itself: memif pairs close in a fixed order. */
    private static io.zstack.device.NetDevice unclosed(DpdkPortDevice port) {
        return new ZStackZeroCopyTest.RecordingDevice(port);
    }
}
