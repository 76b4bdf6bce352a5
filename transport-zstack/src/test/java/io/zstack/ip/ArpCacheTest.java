package io.zstack.ip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.ip.ArpCache.Resolution;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ArpCacheTest {
    private static final long SECOND = 1_000_000_000L;
    private final JavaMbufPool pool = new JavaMbufPool("arp", 256, 256);
    private final ArpCache cache = new ArpCache(8, 2, 30 * SECOND, SECOND, 3);
    private final List<long[]> released = new ArrayList<>();

    @AfterEach
    void noLeak() {
        for (long[] r : released) {
            pool.free(r[0]);
        }
        cache.clear(pool);
        assertEquals(pool.capacity(), pool.available());
        pool.close();
    }

    @Test
    void unknownAddressQueuesUntilConfirmedThenReleasesInOrder() {
        long a = pool.alloc();
        long b = pool.alloc();
        assertEquals(Resolution.QUEUED_REQUEST, cache.resolve(7, a, pool, 0));
        assertEquals(Resolution.QUEUED, cache.resolve(7, b, pool, 1));
        long c = pool.alloc();
        assertEquals(Resolution.DROPPED, cache.resolve(7, c, pool, 2), "queue of 2 is full");
        assertEquals(1, cache.pendingDrops());
        cache.confirm(7, 0xaabbccL, 3, false, pool, (p, mac) -> released.add(new long[] {p, mac}));
        assertEquals(2, released.size());
        assertEquals(a, released.get(0)[0]);
        assertEquals(b, released.get(1)[0]);
        assertEquals(0xaabbccL, released.get(0)[1]);
        long d = pool.alloc();
        assertEquals(Resolution.KNOWN, cache.resolve(7, d, pool, 4));
        assertEquals(0xaabbccL, cache.lastMac());
        pool.free(d);
    }

    @Test
    void requestsAreRetriedThenTheAddressGivesUpAndFreesItsPackets() {
        cache.resolve(9, pool.alloc(), pool, 0);
        List<Integer> requested = new ArrayList<>();
        List<Integer> failed = new ArrayList<>();
        ArpCache.RetryHandler handler = new ArpCache.RetryHandler() {
            @Override
            public void request(int address) {
                requested.add(address);
            }

            @Override
            public void failed(int address) {
                failed.add(address);
            }
        };
        cache.poll(SECOND / 2, pool, handler);
        assertTrue(requested.isEmpty(), "not before the retransmit interval");
        cache.poll(SECOND, pool, handler);
        cache.poll(2 * SECOND, pool, handler);
        assertEquals(List.of(9, 9), requested);
        cache.poll(3 * SECOND, pool, handler);
        assertEquals(List.of(9), failed);
        assertEquals(0, cache.size());
        assertEquals(1, cache.resolutionFailures());
    }

    @Test
    void staleEntriesAreStillUsedButReconfirmed() {
        cache.confirm(5, 0x1L, 0, true, pool, (p, m) -> { });
        long m = pool.alloc();
        assertEquals(Resolution.KNOWN, cache.resolve(5, m, pool, 10 * SECOND));
        assertEquals(Resolution.KNOWN_REQUEST, cache.resolve(5, m, pool, 31 * SECOND));
        assertEquals(Resolution.KNOWN, cache.resolve(5, m, pool, 31 * SECOND + 1), "one request per interval");
        cache.confirm(5, 0x2L, 32 * SECOND, false, pool, (p, mac) -> { });
        assertEquals(Resolution.KNOWN, cache.resolve(5, m, pool, 33 * SECOND));
        assertEquals(0x2L, cache.lastMac(), "a new MAC replaces the old one");
        pool.free(m);
    }

    @Test
    void strangersDoNotFillTheTableButKnownOnesUpdate() {
        cache.confirm(1, 0x1L, 0, false, pool, (p, m) -> { });
        assertFalse(cache.lookup(1));
        cache.confirm(1, 0x1L, 0, true, pool, (p, m) -> { });
        assertTrue(cache.lookup(1));
    }

    @Test
    void aFullTableEvictsTheOldestResolvedEntry() {
        for (int i = 1; i <= 6; i++) {
            cache.confirm(i, i, i, true, pool, (p, m) -> { });
        }
        cache.confirm(100, 100, 100, true, pool, (p, m) -> { });
        assertFalse(cache.lookup(1), "oldest evicted");
        assertTrue(cache.lookup(100));
        for (int i = 2; i <= 6; i++) {
            assertTrue(cache.lookup(i), "entry " + i + " survives eviction and re-seating");
        }
    }
}
