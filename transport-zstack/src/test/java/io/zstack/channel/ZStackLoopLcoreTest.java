package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.dpdk.Dpdk;
import io.zstack.dpdk.Mempool;
import io.zstack.dpdk.Vdevs;
import io.zstack.ip.Ipv4Config;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A loop polling a DPDK port runs as an lcore: DPDK's mempools keep a cache per lcore id, and a thread without one
 * allocates and frees every mbuf (the port's receive included) through the pool's shared ring, first in, first out,
 * so that each mbuf it gets is the one used longest ago, cold in the CPU's caches. A real port, as a group opens it.
 */
class ZStackLoopLcoreTest {
    @Test
    void aLoopOnADpdkPortAllocatesThroughAPerLcoreCache() throws Exception {
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .device(ZStackDevices.dpdk(Vdevs.ring(21))).address(Ipv4Config.parse("10.85.0.2/24", null)).build());
        ZStackEventLoop loop = (ZStackEventLoop) group.next();
        int[] seen;
        try {
            seen = loop.submit(() -> {
                Mempool probe = Mempool.create("lcore-probe", 511, 64, 2176);
                try {
                    Mempool.free(probe.alloc()); // taken from the ring with a cache's worth, given back to the cache
                    return new int[] {Dpdk.lcoreId(), loop.lcore(), probe.freeInRing(), probe.available()};
                } finally {
                    probe.close();
                }
            }).get(10, TimeUnit.SECONDS);
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
        assertTrue(seen[0] >= 0, "the loop's thread has an lcore id, got " + seen[0]);
        assertEquals(seen[0], seen[1], "the loop knows its id");
        assertEquals(511, seen[3]);
        assertTrue(seen[2] < 511, "the freed mbuf stayed in the loop's cache, not the shared ring: " + seen[2]);
    }
}
