package io.zstack.buffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.dpdk.Mempool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.concurrent.FutureTask;
import org.junit.jupiter.api.Test;

/** The pure-Java pool gives mbufs DPDK's layout and DPDK's free/clone semantics. */
class JavaMbufPoolTest {

    @Test
    void freshMbufsLookLikeDpdksAndAllComeBack() {
        try (JavaMbufPool pool = new JavaMbufPool("t", 64);
             DpdkMbufPool dpdk = DpdkMbufPool.create("t-ref", 63, 0, Mbuf.LAYOUT.defaultBufSize)) {
            long m = pool.alloc();
            long d = dpdk.alloc();
            assertEquals(Mbuf.dataOff(d), Mbuf.dataOff(m));
            assertEquals(Mbuf.bufLen(d), Mbuf.bufLen(m));
            assertEquals(Mbuf.refcntPlain(d), Mbuf.refcntPlain(m));
            assertEquals(Mbuf.nbSegs(d), Mbuf.nbSegs(m));
            assertEquals(Mbuf.port(d), Mbuf.port(m));
            assertEquals(Mbuf.bufAddr(m), m + Mbuf.STRUCT_SIZE, "buffer right after the struct, as in DPDK");
            // DPDK's own inline helpers work on a Java-pool mbuf: same layout
            assertEquals(Mbuf.dataAddress(m), Mempool.Reference.mtod(m));
            assertNotEquals(0, Mempool.Reference.append(m, 100));
            assertEquals(100, Mbuf.pktLen(m));
            pool.free(m);
            dpdk.free(d);
            assertEquals(pool.capacity(), pool.available());
        }
    }

    @Test
    void exhaustionReturnsZeroAndBulkIsAllOrNothing() {
        try (JavaMbufPool pool = new JavaMbufPool("t", 8)) {
            MbufBurst burst = new MbufBurst(16);
            assertFalse(pool.allocBulk(burst, 9));
            assertEquals(8, pool.available());
            assertTrue(pool.allocBulk(burst, 8));
            assertEquals(0, pool.alloc());
            pool.freeBulk(burst, 0, 8);
            assertEquals(8, pool.available());
        }
    }

    @Test
    void chainsFreeEverySegmentAndClonesKeepBuffersAlive() {
        try (JavaMbufPool pool = new JavaMbufPool("t", 16)) {
            long a = pool.alloc();
            long b = pool.alloc();
            MemorySegment.ofAddress(Mbuf.append(a, 3)).reinterpret(3).copyFrom(MemorySegment.ofArray(new byte[] {1, 2, 3}));
            MemorySegment.ofAddress(Mbuf.append(b, 2)).reinterpret(2).copyFrom(MemorySegment.ofArray(new byte[] {4, 5}));
            assertTrue(Mbuf.chain(a, b));
            long clone = pool.cloneOf(a);
            assertEquals(12, pool.available());
            assertArrayEquals(new byte[] {1, 2, 3, 4, 5}, Mbuf.toByteArray(clone));
            assertEquals(Mbuf.dataAddress(b), Mbuf.dataAddress(Mbuf.next(clone)), "payload shared, not copied");
            pool.free(a);
            assertEquals(12, pool.available(), "direct segments held by the clone");
            assertEquals((byte) 4, Mbuf.MEMORY.get(ValueLayout.JAVA_BYTE, Mbuf.dataAddress(Mbuf.next(clone))));
            pool.free(clone);
            assertEquals(16, pool.available());
        }
    }

    @Test
    void aViewOfAnotherPoolsMbufKeepsItAliveAndReleasesItHome() {
        try (JavaMbufPool small = new JavaMbufPool("s", 4); JavaMbufPool large = new JavaMbufPool("l", 2, 0xffff)) {
            long big = large.alloc();
            Mbuf.append(big, 10_000);
            long view = small.attachIndirect(big); // how TCP cuts a large written buffer into segments
            assertEquals(2, large.refcnt(big));
            assertEquals(Mbuf.dataAddress(big), Mbuf.dataAddress(view), "the view shows the same bytes");
            large.free(big); // the application's reference
            assertEquals(1, large.available(), "still referenced by the view");
            small.free(view);
            assertEquals(2, large.available(), "the last view's free sent it home");
            assertEquals(4, small.available());
        }
    }

    @Test
    void doubleFreeIsRefusedAndAnotherPoolsMbufGoesHome() {
        try (JavaMbufPool pool = new JavaMbufPool("t", 4); JavaMbufPool other = new JavaMbufPool("o", 4)) {
            long m = pool.alloc();
            pool.free(m);
            assertThrows(IllegalStateException.class, () -> pool.free(m));
            // as rte_pktmbuf_free follows m->pool: frames cross between stacks, the last holder frees them
            long o = other.alloc();
            assertFalse(pool.owns(o));
            pool.free(o);
            assertEquals(4, other.available(), "returned to the pool it came from");
            assertEquals(4, pool.available());
            long a = pool.alloc();
            assertThrows(IllegalArgumentException.class, () -> pool.free(a + 8), "not an mbuf at all");
            pool.free(a);
        }
    }

    @Test
    void aBoundThreadsCacheIsCountedAndOtherThreadsStillAllocateAndFree() throws Exception {
        try (JavaMbufPool pool = new JavaMbufPool("t", 128)) {
            assertTrue(pool.bindToCurrentThread());
            assertFalse(onAnotherThread(pool::bindToCurrentThread), "bound once, to the first thread");
            long[] out = new long[128];
            for (int i = 0; i < out.length; i++) {
                out[i] = pool.alloc();
                assertNotEquals(0, out[i], "every mbuf reaches the bound thread, cached or not");
            }
            assertEquals(0, pool.alloc());
            assertEquals(0, onAnotherThread(pool::alloc));
            for (int i = 0; i < 64; i++) {
                pool.free(out[i]); // the bound thread's frees: into its cache, drained to the free list when full
            }
            assertEquals(64, pool.available(), "cached mbufs count as free");
            onAnotherThread(() -> {
                for (int i = 64; i < 128; i++) {
                    pool.free(out[i]);
                }
                return null;
            });
            assertEquals(128, pool.available());
            long foreign = onAnotherThread(pool::alloc);
            assertNotEquals(0, foreign, "what the bound thread drained is there for the others");
            pool.free(foreign); // an mbuf another thread allocated, freed by the bound one
            MbufBurst burst = new MbufBurst(128);
            assertTrue(pool.allocBulk(burst, 128), "all or nothing judged on every free mbuf, cached ones too");
            pool.freeBulk(burst, 0, 128);
            long m = pool.alloc();
            assertThrows(IllegalStateException.class, () -> {
                pool.free(m);
                pool.free(m);
            }, "a double free is still refused");
        }
    }

    @Test
    void ownsIsExactlyTheMbufAddressesWhateverTheElementSize() {
        for (int dataRoom : new int[] {100, 1000, Mbuf.LAYOUT.defaultBufSize, 4096 + 128, 0xffff}) {
            try (JavaMbufPool pool = new JavaMbufPool("t", 8, dataRoom)) {
                long[] mbufs = new long[8];
                for (int i = 0; i < mbufs.length; i++) {
                    mbufs[i] = pool.alloc();
                }
                Arrays.sort(mbufs);
                long base = mbufs[0];
                long element = mbufs[1] - mbufs[0];
                long region = element * mbufs.length;
                for (long offset = -256; offset < region + 256; offset++) {
                    boolean mbuf = offset >= 0 && offset < region && offset % element == 0;
                    assertEquals(mbuf, pool.owns(base + offset), "data room " + dataRoom + ", offset " + offset);
                }
                for (long m : mbufs) {
                    pool.free(m);
                }
            }
        }
    }

    @Test
    void aBoundThreadClonesFromItsCache() {
        try (JavaMbufPool pool = new JavaMbufPool("t", 4)) {
            pool.bindToCurrentThread();
            long a = pool.alloc();
            long b = pool.alloc();
            assertTrue(Mbuf.chain(a, b));
            pool.free(pool.alloc()); // the free list is empty now: the last two free mbufs are in the cache
            long clone = pool.cloneOf(a);
            assertNotEquals(0, clone, "two free mbufs in the cache make a clone of two segments");
            pool.free(clone);
            pool.free(a);
            assertEquals(4, pool.available());
        }
    }

    @Test
    void retainIfSoleTakesASecondReferenceOnlyFromASoleHolder() {
        try (JavaMbufPool pool = new JavaMbufPool("t", 4)) {
            long m = pool.alloc();
            assertTrue(pool.retainIfSole(m));
            assertEquals(2, pool.refcnt(m));
            assertFalse(pool.retainIfSole(m), "two holders: no third reference");
            assertEquals(2, pool.refcnt(m));
            pool.free(m);
            pool.free(m);
            assertEquals(4, pool.available());
            assertThrows(IllegalArgumentException.class, () -> pool.retainIfSole(m + 8), "not an mbuf at all");
        }
    }

    private static <T> T onAnotherThread(Callable<T> task) throws Exception {
        FutureTask<T> f = new FutureTask<>(task);
        Thread t = new Thread(f, "other");
        t.start();
        t.join();
        return f.get();
    }

    @Test
    void closingWithMbufsOutIsRefused() {
        JavaMbufPool pool = new JavaMbufPool("t", 4);
        long m = pool.alloc();
        IllegalStateException e = assertThrows(IllegalStateException.class, pool::close);
        assertTrue(e.getMessage().contains("1 mbufs in use"));
        pool.free(m);
        pool.close();
    }
}
