package io.zstack.dpdk;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A DPDK packet-mbuf mempool ({@code rte_pktmbuf_pool_create}) and the mbuf operations that need DPDK itself:
 * allocation, freeing, refcounts, attach/clone. Mbufs are plain addresses ({@code long}); the layout-only
 * operations (fields, prepend, append, chain) are done in Java by {@code io.zstack.buffer.Mbuf}.
 *
 * <p>Arrays of mbufs are passed by the address of native memory holding {@code struct rte_mbuf *} values.
 */
public final class Mempool implements AutoCloseable {
    private final String name;
    private final long address;
    private final int size;
    private final int dataRoom;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Mempool(String name, long address) {
        this.name = name;
        this.address = address;
        this.size = Shim.poolSize(address);
        this.dataRoom = Shim.poolDataRoom(address);
    }

    /**
     * Creates a pool of {@code count} mbufs with {@code dataRoom} bytes each (headroom included; DPDK's default
     * is 2176 = 128 + 2048) and a per-lcore cache of {@code cacheSize}.
     */
    public static Mempool create(String name, int count, int cacheSize, int dataRoom) {
        return create(name, count, cacheSize, dataRoom, false);
    }

    /**
     * As {@link #create(String, int, int, int)}; {@code packed} lays the mbufs back to back in one memory chunk,
     * page boundaries ignored, which net_af_xdp's zero-copy umem needs (it registers the pool's memory as one
     * array of equal frames: with 4 KiB pages the default layout leaves a third of the mbufs outside it, and the
     * port loses them one by one until it goes silent). Not for NICs that DMA by physical address.
     */
    public static Mempool create(String name, int count, int cacheSize, int dataRoom, boolean packed) {
        if (count <= 0 || cacheSize < 0 || dataRoom <= 0 || dataRoom > 0xffff) {
            throw new IllegalArgumentException("mempool " + name + ": count=" + count + " cache=" + cacheSize
                    + " dataRoom=" + dataRoom);
        }
        Eal.ensureInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(JAVA_INT);
            MemorySegment cName = arena.allocateFrom(name);
            long mp = packed ? Shim.poolCreatePacked(cName, count, cacheSize, (short) dataRoom, -1, err)
                    : Shim.poolCreate(cName, count, cacheSize, (short) dataRoom, -1, err);
            if (mp == 0) {
                int errno = -err.get(JAVA_INT, 0);
                String hint = errno == 12 ? " (EAL memory too small for " + count + " mbufs; raise EalConfig.memoryMegabytes)"
                        : errno == 17 ? " (a mempool with this name exists)" : "";
                throw new DpdkException("rte_pktmbuf_pool_create(" + name + ")" + hint, errno);
            }
            return new Mempool(name, mp);
        }
    }

    public String name() {
        return name;
    }

    /** The rte_mempool pointer. */
    public long address() {
        return address;
    }

    public int size() {
        return size;
    }

    /** Bytes of buffer per mbuf, headroom included (buf_len of a fresh mbuf). */
    public int dataRoom() {
        return dataRoom;
    }

    /** Free mbufs, per-lcore caches included. */
    public int available() {
        checkOpen();
        return Shim.poolAvailable(address);
    }

    /**
     * Whether at least {@code n} mbufs are free, as {@code available() >= n}, without summing every lcore's cache when
     * the pool's ring alone has them (the shim's {@code zs_mempool_has_free}).
     */
    public boolean hasFree(int n) {
        checkOpen();
        return Shim.poolHasFree(address, n);
    }

    /** Free mbufs in the pool's shared ring alone: what no lcore's cache holds. */
    public int freeInRing() {
        checkOpen();
        return Shim.poolRingCount(address);
    }

    public int inUse() {
        checkOpen();
        return Shim.poolInUse(address);
    }

    public boolean isClosed() {
        return closed.get();
    }

    /** Counting a freed pool reads freed memory (it once reported -22 free mbufs): refused instead. */
    private void checkOpen() {
        if (closed.get()) {
            throw new IllegalStateException("mempool " + name + " is closed");
        }
    }

    /** One mbuf, reset, or 0 when the pool is empty. */
    public long alloc() {
        return Shim.alloc(address);
    }

    /** Fills {@code n} pointers at {@code array}; all or nothing. Returns false when the pool has fewer. */
    public boolean allocBulk(long array, int n) {
        return Shim.allocBulk(address, array, n) == 0;
    }

    /** An indirect copy of the chain at {@code m} (payload shared, refcounts raised), or 0 when empty. */
    public long cloneOf(long m) {
        return Shim.cloneMbuf(m, address);
    }

    /**
     * Frees this pool. Mbufs still out would point into freed memory, so that is refused unless every mbuf is back.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        int out = Shim.poolInUse(address);
        if (out != 0) {
            closed.set(false);
            throw new IllegalStateException("mempool " + name + " still has " + out + " mbufs in use (a leak); not freed");
        }
        Shim.poolFree(address);
    }

    /**
     * Frees this pool although {@code abandoned} mbufs never came back, because a closed driver forgot them (see
     * {@link DpdkPort#mbufsAbandonedAtClose}): nothing can reach them any more. Every other mbuf must be home, so
     * this is refused (and returns false) while anyone else still holds one.
     */
    public boolean closeAbandoned(int abandoned) {
        if (abandoned < 0) {
            throw new IllegalArgumentException("abandoned " + abandoned);
        }
        if (!closed.compareAndSet(false, true)) {
            return true;
        }
        int out = Shim.poolInUse(address);
        if (out != abandoned) {
            closed.set(false);
            return false;
        }
        Shim.poolFree(address);
        return true;
    }

    // ---- operations on mbufs of any DPDK pool

    /** Frees a whole chain (rte_pktmbuf_free). */
    public static void free(long m) {
        Shim.free(m);
    }

    /** Frees one segment, ignoring next (rte_pktmbuf_free_seg). */
    public static void freeSegment(long m) {
        Shim.freeSegment(m);
    }

    /** Frees {@code n} chains whose pointers are at {@code array} (rte_pktmbuf_free_bulk). */
    public static void freeBulk(long array, int n) {
        Shim.freeBulk(array, n);
    }

    public static int refcnt(long m) {
        return Shim.refcntRead(m);
    }

    /** Adds {@code delta} atomically; returns the new count. */
    public static int refcntUpdate(long m, int delta) {
        return Shim.refcntUpdate(m, (short) delta);
    }

    public static void refcntSet(long m, int value) {
        Shim.refcntSet(m, (short) value);
    }

    /** Makes {@code indirect} a view of {@code direct}'s buffer (rte_pktmbuf_attach). */
    public static void attach(long indirect, long direct) {
        Shim.attach(indirect, direct);
    }

    public static void detach(long m) {
        Shim.detach(m);
    }

    /** DPDK's own implementations of the layout-only helpers, as references for tests of the Java ones. */
    public static final class Reference {
        private Reference() {
        }

        public static long prepend(long m, int len) {
            return Shim.prepend(m, (short) len);
        }

        public static long append(long m, int len) {
            return Shim.append(m, (short) len);
        }

        public static long adj(long m, int len) {
            return Shim.adj(m, (short) len);
        }

        public static int trim(long m, int len) {
            return Shim.trim(m, (short) len);
        }

        public static int chain(long head, long tail) {
            return Shim.chain(head, tail);
        }

        public static long mtod(long m) {
            return Shim.mtod(m);
        }
    }
}
