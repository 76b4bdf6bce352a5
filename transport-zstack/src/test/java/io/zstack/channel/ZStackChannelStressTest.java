package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.MbufPool;
import io.zstack.device.DpdkPortDevice;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import io.zstack.ip.Ipv4Config;
import java.net.InetSocketAddress;
import java.nio.file.Files;
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
 * with two (connections then cross between loops), and over a DPDK memif link between two groups.
 *
 * <p>{@code -Dzstack.stress.seeds=N} runs N seeds per loopback case (default 150) and N/4 over memif;
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

        @BeforeAll
        void start() {
            String capture = System.getProperty("zstack.stress.capture");
            group = capture == null ? new ZStackEventLoopGroup(loops()) : new ZStackEventLoopGroup(loops(),
                    ZStackConfig.builder().capture(Path.of(capture), 128, 1L << 30).build());
        }

        @AfterAll
        void stop() throws Exception {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }

        @ParameterizedTest(name = "seed {0}")
        @MethodSource("io.zstack.channel.ZStackChannelStressTest#seeds")
        void seed(long seed) throws Exception {
            runSeed(seed, group, group, new InetSocketAddress("127.0.0.1", 0));
        }
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

    /** Two groups joined by a memif link: mbufs from the DPDK pools, frames through the PMD. */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class Memif {
        private Path dir;
        private DpdkMbufPool serverPool;
        private DpdkMbufPool clientPool;
        private DpdkPortDevice serverPort;
        private DpdkPortDevice clientPort;
        private ZStackEventLoopGroup serverGroup;
        private ZStackEventLoopGroup clientGroup;

        @BeforeAll
        void start() throws Exception {
            dir = Files.createTempDirectory("zstack-stress");
            String socket = dir.resolve("memif.sock").toString();
            serverPool = DpdkMbufPool.create("stress-srv", 8191, 0, 2176);
            clientPool = DpdkMbufPool.create("stress-cli", 8191, 0, 2176);
            serverPort = DpdkPortDevice.open(Vdevs.memifServer(31, socket), PortConfig.defaults(), serverPool);
            clientPort = DpdkPortDevice.open(Vdevs.memifClient(32, socket), PortConfig.defaults(), clientPool);
            DpdkPortDevice server = serverPort;
            DpdkPortDevice client = clientPort;
            serverGroup = new ZStackEventLoopGroup(1, ZStackConfig.builder().device((i, n) -> unclosed(server))
                    .address(Ipv4Config.parse("10.9.1.1/24", null)).build());
            clientGroup = new ZStackEventLoopGroup(1, ZStackConfig.builder().device((i, n) -> unclosed(client))
                    .address(Ipv4Config.parse("10.9.1.2/24", null)).build());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!(serverPort.port().info().linkUp() && clientPort.port().info().linkUp())) {
                assertTrue(System.nanoTime() < deadline, "memif link did not come up in 10 s");
                Thread.sleep(10);
            }
        }

        @AfterAll
        void stop() throws Exception {
            try {
                clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
                serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            } finally {
                clientPort.close();
                serverPort.close();
                assertEquals(clientPool.capacity(), clientPool.available(), "client mbufs all home");
                assertEquals(serverPool.capacity(), serverPool.available(), "server mbufs all home");
                clientPool.close();
                serverPool.close();
                Files.deleteIfExists(dir.resolve("memif.sock"));
                Files.deleteIfExists(dir);
            }
        }

        @ParameterizedTest(name = "seed {0}")
        @MethodSource("io.zstack.channel.ZStackChannelStressTest#memifSeeds")
        void seed(long seed) throws Exception {
            runSeed(seed, serverGroup, clientGroup, new InetSocketAddress("10.9.1.1", 0));
        }
    }

    /** The port as a device whose close() the test keeps for itself: memif pairs close in a fixed order. */
    private static io.zstack.device.NetDevice unclosed(DpdkPortDevice port) {
        return new ZStackZeroCopyTest.RecordingDevice(port);
    }
}
