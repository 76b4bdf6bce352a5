package io.zstack.buffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.dpdk.Mempool;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The Java versions of DPDK's inline mbuf helpers behave exactly like DPDK's own, on real DPDK mbufs. */
class MbufTest {
    private DpdkMbufPool pool;

    @BeforeEach
    void createPool() {
        pool = DpdkMbufPool.create("mbuf-test", 255, 0, 2176);
    }

    @AfterEach
    void noLeak() {
        assertEquals(pool.capacity(), pool.available(), "mbufs leaked");
        pool.close();
    }

    /**
     * {@code hasAvailable(n)} answers {@code available() >= n} at every n, in a pool with per-lcore caches, as mbufs
     * are taken and given back (it asks the pool's ring first and sums the caches only when the ring has too few).
     */
    @Test
    void hasAvailableAgreesWithTheCountIncludingCaches() {
        DpdkMbufPool cached = DpdkMbufPool.create("mbuf-test-cached", 511, 32, 2176);
        try {
            java.util.ArrayDeque<Long> taken = new java.util.ArrayDeque<>();
            for (int step = 0; step < 12; step++) {
                for (int n = 0; n <= cached.capacity() + 1; n++) {
                    assertEquals(cached.available() >= n, cached.hasAvailable(n), "n=" + n + " " + cached);
                }
                if (step < 6) {
                    for (int i = 0; i < 90; i++) {
                        taken.push(cached.alloc());
                    }
                } else {
                    for (int i = 0; i < 90 && !taken.isEmpty(); i++) {
                        cached.free(taken.pop());
                    }
                }
            }
            taken.forEach(cached::free);
            assertTrue(cached.hasAvailable(cached.capacity()));
            assertFalse(cached.hasAvailable(cached.capacity() + 1));
        } finally {
            cached.close();
        }
    }

    /**
     * A packed pool (for af_xdp's umem) holds its mbufs back to back at one stride, so [first, first + n * stride)
     * covers them all; and a closed pool refuses to be counted instead of reading freed memory.
     */
    @Test
    void packedPoolIsOneArrayOfEqualFramesAndAClosedPoolIsNotCounted() {
        int n = 1023;
        try (DpdkMbufPool packed = DpdkMbufPool.create("mbuf-test-packed", n, 0, 2176, true)) {
            long[] addresses = new long[n];
            for (int i = 0; i < n; i++) {
                addresses[i] = packed.alloc();
                assertTrue(addresses[i] != 0, "mbuf " + i);
            }
            java.util.Arrays.sort(addresses);
            long stride = addresses[1] - addresses[0];
            for (int i = 1; i < n; i++) {
                assertEquals(stride, addresses[i] - addresses[i - 1], "gap before mbuf " + i);
            }
            assertTrue(stride >= 128 + 2176 && stride < 4096, "stride " + stride);
            for (long m : addresses) {
                packed.free(m);
            }
            packed.close();
            assertTrue(packed.isClosed());
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, packed::available);
            assertTrue(packed.toString().contains("closed"), packed.toString());
        }
    }

    /** Random sequences of prepend/append/adj/trim on two identical mbufs, one by Java, one by DPDK. */
    @Test
    void javaHelpersMatchDpdkOnRandomSequences() {
        SplittableRandom random = new SplittableRandom(42);
        for (int round = 0; round < 200; round++) {
            long javaSide = pool.alloc();
            long dpdkSide = pool.alloc();
            for (int step = 0; step < 30; step++) {
                int len = random.nextInt(0, 400);
                switch (random.nextInt(4)) {
                    case 0 -> assertEquals(Mempool.Reference.prepend(dpdkSide, len) == 0, Mbuf.prepend(javaSide, len) == 0);
                    case 1 -> assertEquals(Mempool.Reference.append(dpdkSide, len) == 0, Mbuf.append(javaSide, len) == 0);
                    case 2 -> assertEquals(Mempool.Reference.adj(dpdkSide, len) == 0, Mbuf.adj(javaSide, len) == 0);
                    default -> assertEquals(Mempool.Reference.trim(dpdkSide, len) == 0, Mbuf.trim(javaSide, len));
                }
                assertEquals(Mbuf.dataOff(dpdkSide), Mbuf.dataOff(javaSide), "data_off");
                assertEquals(Mbuf.dataLen(dpdkSide), Mbuf.dataLen(javaSide), "data_len");
                assertEquals(Mbuf.pktLen(dpdkSide), Mbuf.pktLen(javaSide), "pkt_len");
                assertEquals(Mempool.Reference.mtod(dpdkSide) - Mbuf.bufAddr(dpdkSide),
                        Mbuf.dataAddress(javaSide) - Mbuf.bufAddr(javaSide), "data address");
            }
            pool.free(javaSide);
            pool.free(dpdkSide);
        }
    }

    @Test
    void chainMatchesDpdk() {
        long[] java = {pool.alloc(), pool.alloc(), pool.alloc()};
        long[] dpdk = {pool.alloc(), pool.alloc(), pool.alloc()};
        for (int i = 0; i < 3; i++) {
            Mbuf.append(java[i], 100 * (i + 1));
            Mbuf.append(dpdk[i], 100 * (i + 1));
        }
        assertTrue(Mbuf.chain(java[0], java[1]));
        assertTrue(Mbuf.chain(java[0], java[2]));
        assertEquals(0, Mempool.Reference.chain(dpdk[0], dpdk[1]));
        assertEquals(0, Mempool.Reference.chain(dpdk[0], dpdk[2]));
        assertEquals(Mbuf.nbSegs(dpdk[0]), Mbuf.nbSegs(java[0]));
        assertEquals(600, Mbuf.pktLen(java[0]));
        assertEquals(Mbuf.pktLen(dpdk[0]), Mbuf.pktLen(java[0]));
        assertEquals(java[2], Mbuf.lastSegment(java[0]));
        // append lands in the last segment, as DPDK's does
        Mbuf.append(java[0], 10);
        Mempool.Reference.append(dpdk[0], 10);
        assertEquals(Mbuf.dataLen(dpdk[2]), Mbuf.dataLen(java[2]));
        pool.free(java[0]);
        pool.free(dpdk[0]);
    }

    @Test
    void cloneSharesPayloadAndKeepsTheBufferAliveUntilBothAreFreed() {
        long m = pool.alloc();
        long data = Mbuf.append(m, 64);
        Mbuf.MEMORY.set(java.lang.foreign.ValueLayout.JAVA_BYTE, data, (byte) 0x5a);
        int before = pool.available();
        long clone = pool.cloneOf(m);
        assertTrue(Mbuf.isIndirect(clone));
        assertFalse(Mbuf.isIndirect(m));
        assertEquals(Mbuf.dataAddress(m), Mbuf.dataAddress(clone), "same payload, no copy");
        assertEquals(2, pool.refcnt(m));
        assertEquals(before - 1, pool.available());
        pool.free(m);
        assertEquals((byte) 0x5a, Mbuf.getByte(clone, 0), "buffer still alive through the clone");
        assertEquals(before - 1, pool.available(), "direct mbuf held by the clone");
        pool.free(clone);
        assertEquals(before + 1, pool.available());
    }

    @Test
    void txOffloadFieldsLandWhereDpdkReadsThem() {
        long m = pool.alloc();
        Mbuf.setTxOffload(m, 14, 20, 32, 1448);
        long v = Mbuf.txOffload(m);
        assertEquals(14, v & 0x7f);
        assertEquals(20, (v >>> 7) & 0x1ff);
        assertEquals(32, (v >>> 16) & 0xff);
        assertEquals(1448, (v >>> 24) & 0xffff);
        pool.free(m);
    }
}
