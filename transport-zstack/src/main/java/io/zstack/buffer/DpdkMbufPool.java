package io.zstack.buffer;

import io.zstack.dpdk.LayoutMismatchException;
import io.zstack.dpdk.Mempool;

/** An {@link MbufPool} over a DPDK mempool. Freeing and refcounts go through DPDK (atomic, cache-aware). */
public final class DpdkMbufPool implements MbufPool {
    private static volatile boolean layoutVerified;

    private final Mempool mempool;

    private DpdkMbufPool(Mempool mempool) {
        this.mempool = mempool;
    }

    /**
     * Creates a DPDK mempool of {@code count} mbufs of {@code dataRoom} bytes (headroom included), and on the
     * first pool of the process checks on a live mbuf that Java and DPDK read its fields the same way.
     */
    public static DpdkMbufPool create(String name, int count, int cacheSize, int dataRoom) {
        return create(name, count, cacheSize, dataRoom, false);
    }

    /** As {@link #create(String, int, int, int)}, laid out for net_af_xdp when {@code packed} ({@link Mempool}). */
    public static DpdkMbufPool create(String name, int count, int cacheSize, int dataRoom, boolean packed) {
        DpdkMbufPool pool = new DpdkMbufPool(Mempool.create(name, count, cacheSize, dataRoom, packed));
        if (!layoutVerified) {
            try {
                verifyLayout(pool);
            } catch (RuntimeException e) {
                pool.close();
                throw e;
            }
            layoutVerified = true;
        }
        return pool;
    }

    /** The underlying DPDK mempool (ports receive into it). */
    public Mempool mempool() {
        return mempool;
    }

    /**
     * Writes through DPDK and reads through Java, and the other way round, on one live mbuf. The table already
     * came from the compiler; this catches a shim built against other headers than the runtime library.
     */
    static void verifyLayout(DpdkMbufPool pool) {
        long m = pool.alloc();
        if (m == 0) {
            throw new IllegalStateException("mempool " + pool.name() + " is empty at creation");
        }
        try {
            check(Mbuf.pool(m) == pool.mempool.address(), "pool", Mbuf.pool(m), pool.mempool.address());
            check(Mbuf.dataAddress(m) == Mempool.Reference.mtod(m), "buf_addr + data_off", Mbuf.dataAddress(m),
                    Mempool.Reference.mtod(m));
            check(Mbuf.bufLen(m) == pool.dataRoom(), "buf_len", Mbuf.bufLen(m), pool.dataRoom());
            check(Mbuf.refcntPlain(m) == 1 && Mempool.refcnt(m) == 1, "refcnt", Mbuf.refcntPlain(m), 1);
            check(Mbuf.nbSegs(m) == 1 && Mbuf.next(m) == 0, "nb_segs/next", Mbuf.nbSegs(m), 1);
            long appended = Mempool.Reference.append(m, 100);
            check(Mbuf.dataLen(m) == 100 && Mbuf.pktLen(m) == 100, "data_len/pkt_len", Mbuf.dataLen(m), 100);
            check(appended == Mbuf.dataAddress(m), "append address", appended, Mbuf.dataAddress(m));
            Mempool.refcntSet(m, 3);
            check(Mbuf.refcntPlain(m) == 3, "refcnt write", Mbuf.refcntPlain(m), 3);
            Mempool.refcntSet(m, 1);
            Mbuf.setTxOffload(m, 14, 20, 32, 1448);
            Mbuf.setDataOff(m, 64);
            check(Mempool.Reference.mtod(m) == Mbuf.bufAddr(m) + 64, "data_off write", Mempool.Reference.mtod(m),
                    Mbuf.bufAddr(m) + 64);
        } finally {
            pool.free(m);
        }
    }

    private static void check(boolean ok, String field, long javaSaw, long dpdkSaw) {
        if (!ok) {
            throw new LayoutMismatchException("live mbuf check: Java and DPDK disagree on " + field + " (Java "
                    + javaSaw + ", DPDK " + dpdkSaw + "); the shim was built against other DPDK headers");
        }
    }

    @Override
    public String name() {
        return mempool.name();
    }

    @Override
    public boolean owns(long m) {
        return Mbuf.pool(m) == mempool.address();
    }

    @Override
    public long alloc() {
        return mempool.alloc();
    }

    @Override
    public boolean allocBulk(MbufBurst burst, int count) {
        if (count > burst.capacity()) {
            throw new IndexOutOfBoundsException("alloc " + count + " into a burst of " + burst.capacity());
        }
        if (!mempool.allocBulk(burst.address(0), count)) {
            return false;
        }
        burst.size(count);
        return true;
    }

    @Override
    public void free(long m) {
        if (m != 0) {
            Mempool.free(m);
        }
    }

    @Override
    public void freeSegment(long m) {
        Mempool.freeSegment(m);
    }

    @Override
    public void freeBulk(MbufBurst burst, int from, int count) {
        if (count > 0) {
            Mempool.freeBulk(burst.address(from), count);
        }
    }

    /**
     * A plain load, not a downcall (one per segment sent and per buffer handed to TCP): the caller holds a reference,
     * so the count cannot reach 0 meanwhile, and what it can miss is other holders (a PMD on another lcore) dropping
     * theirs, which makes the answer too high, never too low; the callers ask "is it only mine?" (see
     * {@link JavaMbufPool#refcnt}).
     */
    @Override
    public int refcnt(long m) {
        return Mbuf.refcntPlain(m);
    }

    /**
     * As {@code rte_mbuf_refcnt_update}: a count of 1 is the caller's alone, and nobody else can change it, so it is
     * written plainly; any other goes through DPDK's atomic add.
     */
    @Override
    public int refcntUpdate(long m, int delta) {
        if (Mbuf.refcntPlain(m) == 1) {
            int refs = 1 + delta;
            if (refs <= 0 || refs > 0xffff) {
                throw new IllegalStateException("refcnt of mbuf would become " + refs + "; use free to drop the last");
            }
            Mbuf.setRefcntPlain(m, refs);
            return refs;
        }
        return Mempool.refcntUpdate(m, delta);
    }

    @Override
    public long cloneOf(long m) {
        return mempool.cloneOf(m);
    }

    @Override
    public long attachIndirect(long direct) {
        long mi = mempool.alloc();
        if (mi != 0) {
            Mempool.attach(mi, direct);
        }
        return mi;
    }

    @Override
    public int capacity() {
        return mempool.size();
    }

    @Override
    public int available() {
        return mempool.available();
    }

    @Override
    public boolean hasAvailable(int n) {
        return mempool.hasFree(n);
    }

    @Override
    public int dataRoom() {
        return mempool.dataRoom();
    }

    @Override
    public void close() {
        mempool.close();
    }

    /** Frees the pool if every mbuf but the {@code abandoned} ones a closed driver forgot is home (see Mempool). */
    public boolean closeAbandoned(int abandoned) {
        return mempool.closeAbandoned(abandoned);
    }

    @Override
    public boolean isClosed() {
        return mempool.isClosed();
    }

    @Override
    public String toString() {
        return "DpdkMbufPool(" + name() + ", " + (isClosed() ? "closed" : available() + "/" + capacity() + " free")
                + ")";
    }
}
