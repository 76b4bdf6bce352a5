package io.zstack.buffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A pool of mbufs laid out exactly like DPDK's (struct rte_mbuf followed by its buffer), in memory the JVM
 * allocates, managed in Java. It lets the stack, the simulated link and their tests run without DPDK, through
 * the same {@link Mbuf} accessors. Semantics follow rte_pktmbuf_free / attach / detach, including indirect
 * mbufs that keep the direct one alive.
 *
 * <p>Thread-safe (the free list is under the pool's lock): mbufs may be freed from a thread other than the one that
 * allocated them, as Netty's handlers may release buffers anywhere. One thread may {@linkplain #bindToCurrentThread
 * bind} the pool, as an event loop binds its own: its allocations and last-reference frees then go through a private
 * cache without the lock, which it refills and drains in bulk under the lock (DPDK's per-lcore mempool cache).
 */
public final class JavaMbufPool implements MbufPool {
    private final String name;
    private final int capacity;
    private final int dataRoom;
    private final int elementSize;
    private final Arena arena;
    private final MemorySegment region;
    private final long base;
    /** Bytes of the region: mbufs lie at base + k * elementSize below base + regionBytes. */
    private final long regionBytes;
    /**
     * elementSize = oddFactor * 2^elementShift; {@link #owns} tests divisibility by a multiply with the odd factor's
     * inverse modulo 2^64 (exact for every offset: multiples of the odd factor are the products at or below
     * {@link #oddMultipleLimit}, unsigned) instead of a 64-bit remainder.
     */
    private final int elementShift;
    private final long oddInverse;
    private final long oddMultipleLimit;
    /** Every open Java pool by its base address (the value in its mbufs' pool field). */
    private static final Map<Long, JavaMbufPool> BY_BASE = new ConcurrentHashMap<>();
    private final long[] free;
    private int freeCount;
    private boolean closed;
    /** The thread bound to the pool ({@link #bindToCurrentThread}), or null: only it touches {@link #cache}. */
    private Thread boundThread; // plain: another thread reading a stale null takes the locked path, as it should
    /**
     * Free mbufs the bound thread holds back from {@link #free}: allocated and freed by it without the lock. Other
     * threads do not see them (as DPDK's lcore caches), so the cache stays small beside the pool: at most 64 mbufs
     * and 1/16 of the pool, refilled and drained half of that at a time.
     */
    private final long[] cache;
    private final int cacheHalf;
    private int cached;

    /** A pool of {@code capacity} mbufs with {@code dataRoom} buffer bytes each (headroom included). */
    public JavaMbufPool(String name, int capacity, int dataRoom) {
        if (capacity <= 0 || dataRoom <= 0 || dataRoom > 0xffff) {
            throw new IllegalArgumentException("pool " + name + ": capacity=" + capacity + " dataRoom=" + dataRoom);
        }
        this.name = name;
        this.capacity = capacity;
        this.dataRoom = dataRoom;
        this.elementSize = align(Mbuf.STRUCT_SIZE + dataRoom, 64);
        this.arena = Arena.ofShared();
        this.region = arena.allocate((long) elementSize * capacity, 64);
        this.region.fill((byte) 0);
        this.base = region.address();
        this.regionBytes = (long) elementSize * capacity;
        this.elementShift = Integer.numberOfTrailingZeros(elementSize);
        long odd = elementSize >>> elementShift;
        long inverse = odd; // Newton's iteration doubles the correct low bits each step: 3, 6, 12, 24, 48, 96
        for (int i = 0; i < 5; i++) {
            inverse *= 2 - odd * inverse;
        }
        this.oddInverse = inverse;
        this.oddMultipleLimit = Long.divideUnsigned(-1L, odd);
        this.free = new long[capacity];
        this.cacheHalf = Math.max(1, Math.min(32, capacity / 32));
        this.cache = new long[2 * cacheHalf];
        for (int i = capacity - 1; i >= 0; i--) {
            long m = base + (long) i * elementSize;
            Mbuf.setPool(m, base);
            Mbuf.setPrivSize(m, 0);
            resetBuffer(m);
            free[freeCount++] = m;
        }
        BY_BASE.put(base, this);
    }

    /** A pool with DPDK's default data room (2048 bytes + headroom). */
    public JavaMbufPool(String name, int capacity) {
        this(name, capacity, Mbuf.LAYOUT.defaultBufSize);
    }

    private static int align(int n, int a) {
        return (n + a - 1) & -a;
    }

    /** Points the mbuf at its own buffer again, as DPDK's rte_pktmbuf_init / detach do. */
    private void resetBuffer(long m) {
        long buffer = m + Mbuf.STRUCT_SIZE;
        Mbuf.setBufAddr(m, buffer);
        Mbuf.setBufIova(m, buffer);
        Mbuf.setBufLen(m, dataRoom);
        Mbuf.setOlFlags(m, 0);
    }

    private void reset(long m) {
        Mbuf.setDataOff(m, headroom());
        Mbuf.setDataLen(m, 0);
        Mbuf.setPktLen(m, 0);
        Mbuf.setNbSegs(m, 1);
        Mbuf.setNext(m, 0);
        Mbuf.setOlFlags(m, 0);
        Mbuf.setPacketType(m, 0);
        Mbuf.setTxOffload(m, 0);
        Mbuf.setRssHash(m, 0);
        Mbuf.setVlanTci(m, 0);
        Mbuf.setPort(m, 0xffff);
        Mbuf.setRefcntPlain(m, 1);
    }

    /** True when m is one of this pool's mbufs. */
    @Override
    public boolean owns(long m) {
        long offset = m - base;
        if (offset < 0 || offset >= regionBytes) {
            return false;
        }
        // every free and refcount update asks this; a 64-bit remainder costs tens of cycles each time
        if ((offset & ((1L << elementShift) - 1)) != 0) {
            return false;
        }
        return Long.compareUnsigned((offset >>> elementShift) * oddInverse, oddMultipleLimit) <= 0;
    }

    private void checkOwned(long m) {
        if (!owns(m)) {
            throw new IllegalArgumentException(String.format("0x%x is not an mbuf of pool %s", m, name));
        }
    }

    @Override
    public String name() {
        return name;
    }

    /**
     * Binds the pool to the calling thread, once: from then on its allocations, and its frees of mbufs it holds the
     * only reference to, use a private cache without the pool's lock; other threads' calls take the lock as before.
     * The thread that polls the stack using the pool (an event loop, a simulation) binds it: two lock operations per
     * allocation and per free showed in TcpSegmentBenchmark's profile. Returns whether the pool is now bound to the
     * calling thread: false when another thread bound it first (several loops sharing one pool), which changes nothing.
     */
    public synchronized boolean bindToCurrentThread() {
        if (boundThread == null) {
            boundThread = Thread.currentThread();
        }
        return isBoundThread();
    }

    private boolean isBoundThread() {
        return boundThread == Thread.currentThread();
    }

    @Override
    public long alloc() {
        if (!isBoundThread()) {
            return allocShared();
        }
        if (closed) {
            throw new IllegalStateException("pool " + name + " is closed");
        }
        if (cached == 0 && !refillCache()) {
            return 0;
        }
        long m = cache[--cached];
        reset(m);
        return m;
    }

    private synchronized long allocShared() {
        if (closed) {
            throw new IllegalStateException("pool " + name + " is closed");
        }
        if (freeCount == 0) {
            return 0;
        }
        long m = free[--freeCount];
        reset(m);
        return m;
    }

    /** Moves half a cache of free mbufs from the free list into the bound thread's empty cache; false if none. */
    private synchronized boolean refillCache() {
        if (closed) {
            throw new IllegalStateException("pool " + name + " is closed");
        }
        int n = Math.min(freeCount, cacheHalf);
        System.arraycopy(free, freeCount - n, cache, 0, n);
        freeCount -= n;
        cached = n;
        return n > 0;
    }

    /** Moves the bound thread's cached mbufs from {@code from} on back to the free list. */
    private synchronized void drainCache(int from) {
        int n = cached - from;
        System.arraycopy(cache, from, free, freeCount, n);
        freeCount += n;
        cached = from;
    }

    @Override
    public synchronized boolean allocBulk(MbufBurst burst, int count) {
        if (count > burst.capacity()) {
            throw new IndexOutOfBoundsException("alloc " + count + " into a burst of " + burst.capacity());
        }
        if (isBoundThread()) {
            drainCache(0); // all or nothing is judged on every free mbuf
        }
        if (count > freeCount) {
            return false;
        }
        for (int i = 0; i < count; i++) {
            burst.set(i, allocShared());
        }
        burst.size(count);
        return true;
    }

    @Override
    public void free(long m) {
        while (m != 0) {
            long next = Mbuf.next(m);
            freeSegment(m);
            m = next;
        }
    }

    /**
     * Frees one segment into the pool it came from, which need not be this one (as rte_pktmbuf_free follows
     * m->pool): frames cross between stacks of one process, and whoever holds the last reference frees them.
     */
    @Override
    public void freeSegment(long m) {
        ownerOf(m).freeOwnedSegment(m);
    }

    private JavaMbufPool ownerOf(long m) {
        if (owns(m)) {
            return this;
        }
        JavaMbufPool owner = BY_BASE.get(Mbuf.pool(m));
        if (owner == null || !owner.owns(m)) {
            throw new IllegalArgumentException(String.format("0x%x is not an mbuf of pool %s or any Java pool", m,
                    name));
        }
        return owner;
    }

    /** {@code m} is one of this pool's mbufs: callers found this pool through {@link #ownerOf}, which checked. */
    private void freeOwnedSegment(long m) {
        // the last reference, held by the bound thread: nobody else can be changing this mbuf, and its cache is its
        // own (an indirect mbuf also drops a reference to its direct one: that goes under the lock)
        if (Mbuf.refcntPlain(m) == 1 && !Mbuf.isIndirect(m) && isBoundThread()) {
            Mbuf.setRefcntPlain(m, 0);
            Mbuf.setNext(m, 0);
            Mbuf.setNbSegs(m, 1);
            if (cached == cache.length) {
                drainCache(cacheHalf);
            }
            cache[cached++] = m;
            return;
        }
        freeOwnedSegmentShared(m);
    }

    private synchronized void freeOwnedSegmentShared(long m) {
        int refs = Mbuf.refcntPlain(m);
        if (refs == 0) {
            throw new IllegalStateException(String.format("double free of mbuf 0x%x in pool %s", m, name));
        }
        if (refs > 1) {
            Mbuf.setRefcntPlain(m, refs - 1);
            return;
        }
        if (Mbuf.isIndirect(m)) {
            detach(m);
        }
        release(m);
    }

    /** Returns a segment whose last reference went to the free list. */
    private void release(long m) {
        Mbuf.setRefcntPlain(m, 0);
        Mbuf.setNext(m, 0);
        Mbuf.setNbSegs(m, 1);
        free[freeCount++] = m;
    }

    /** The direct mbuf whose buffer an indirect mbuf views (rte_mbuf_from_indirect). */
    private static long directOf(long indirect) {
        return Mbuf.bufAddr(indirect) - Mbuf.STRUCT_SIZE - Mbuf.privSize(indirect);
    }

    /** Undoes attach: the mbuf gets its own buffer back, and the direct one loses a reference. */
    private void detach(long m) {
        long direct = directOf(m);
        resetBuffer(m);
        Mbuf.setDataOff(m, headroom());
        Mbuf.setDataLen(m, 0);
        if (!owns(direct)) {
            // a view of another pool's mbuf (a large buffer cut into segments): that pool counts its references
            ownerOf(direct).freeOwnedSegment(direct);
            return;
        }
        int refs = Mbuf.refcntPlain(direct) - 1;
        if (refs == 0) {
            Mbuf.setRefcntPlain(direct, 1); // release() expects the last reference
            release(direct);
        } else {
            Mbuf.setRefcntPlain(direct, refs);
        }
    }

    @Override
    public void freeBulk(MbufBurst burst, int from, int count) {
        for (int i = from; i < from + count; i++) {
            free(burst.get(i));
        }
    }

    /**
     * Not under the pool's lock: whoever asks holds a reference, so the count cannot reach 0 meanwhile, and every
     * reference besides it was handed over from a thread that synchronised with the asker; the only changes the asker
     * can miss are other holders dropping theirs, which make the answer too high, never too low (the callers ask
     * "is it only mine?", and a stale "no" costs them a header mbuf, not wrong bytes). The lock on every segment's
     * transmission showed in TcpSegmentBenchmark.
     */
    @Override
    public int refcnt(long m) {
        return Mbuf.refcntPlain(m);
    }

    /**
     * Without the lock, from any thread: the caller holds a reference, so a count of 1 means nobody else holds one and
     * nobody else can change it (and a stale count is too high, never 1: see {@link #refcnt}). The second reference
     * reaches other threads only through a hand-over that publishes this write.
     */
    @Override
    public boolean retainIfSole(long m) {
        ownerOf(m); // throws for an address that no Java pool owns
        if (Mbuf.refcntPlain(m) != 1) {
            return false;
        }
        Mbuf.setRefcntPlain(m, 2);
        return true;
    }

    @Override
    public int refcntUpdate(long m, int delta) {
        return ownerOf(m).refcntUpdateOwned(m, delta);
    }

    /** {@code m} is one of this pool's mbufs (found through {@link #ownerOf}, which checked). */
    private synchronized int refcntUpdateOwned(long m, int delta) {
        int refs = Mbuf.refcntPlain(m) + delta;
        if (refs <= 0 || refs > 0xffff) {
            throw new IllegalStateException("refcnt of mbuf would become " + refs + "; use free to drop the last");
        }
        Mbuf.setRefcntPlain(m, refs);
        return refs;
    }

    /** Makes {@code mi} view {@code m}'s buffer, as rte_pktmbuf_attach does. */
    private void attach(long mi, long m) {
        long direct = Mbuf.isIndirect(m) ? directOf(m) : m;
        if (owns(direct)) {
            Mbuf.setRefcntPlain(direct, Mbuf.refcntPlain(direct) + 1);
        } else {
            ownerOf(direct).refcntUpdateOwned(direct, 1); // under its own pool's lock (this one's, then that one's)
        }
        Mbuf.setBufAddr(mi, Mbuf.bufAddr(m));
        Mbuf.setBufIova(mi, Mbuf.bufIova(m));
        Mbuf.setBufLen(mi, Mbuf.bufLen(m));
        Mbuf.setDataOff(mi, Mbuf.dataOff(m));
        Mbuf.setDataLen(mi, Mbuf.dataLen(m));
        Mbuf.setPort(mi, Mbuf.port(m));
        Mbuf.setVlanTci(mi, Mbuf.vlanTci(m));
        Mbuf.setTxOffload(mi, Mbuf.txOffload(m));
        Mbuf.setRssHash(mi, Mbuf.rssHash(m));
        Mbuf.setPacketType(mi, Mbuf.packetType(m));
        Mbuf.setOlFlags(mi, Mbuf.olFlags(m) | Mbuf.LAYOUT.indirect);
        Mbuf.setNext(mi, 0);
        Mbuf.setPktLen(mi, Mbuf.dataLen(mi));
        Mbuf.setNbSegs(mi, 1);
    }

    @Override
    public synchronized long attachIndirect(long direct) {
        ownerOf(direct); // any Java pool's mbuf may be viewed, as rte_pktmbuf_attach allows across mempools
        long mi = alloc();
        if (mi != 0) {
            attach(mi, direct);
        }
        return mi;
    }

    @Override
    public synchronized long cloneOf(long m) {
        checkOwned(m);
        if (freeCount + (isBoundThread() ? cached : 0) < Mbuf.nbSegs(m)) {
            return 0;
        }
        long head = 0;
        long tail = 0;
        for (long seg = m; seg != 0; seg = Mbuf.next(seg)) {
            long mi = alloc();
            attach(mi, seg);
            if (head == 0) {
                head = mi;
            } else {
                Mbuf.setNext(tail, mi);
            }
            tail = mi;
        }
        Mbuf.setNbSegs(head, Mbuf.nbSegs(m));
        Mbuf.setPktLen(head, Mbuf.pktLen(m));
        return head;
    }

    @Override
    public int capacity() {
        return capacity;
    }

    /**
     * Not under the pool's lock (the stack reads it after every receive burst to sense memory pressure): exact when no
     * other thread allocates or frees meanwhile, as at a leak check; a moment's value otherwise, as any count of a
     * pool others use.
     */
    @Override
    public int available() {
        return freeCount + cached;
    }

    @Override
    public int dataRoom() {
        return dataRoom;
    }

    @Override
    public synchronized boolean isClosed() {
        return closed;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        if (freeCount + cached != capacity) {
            throw new IllegalStateException("pool " + name + " still has " + (capacity - freeCount - cached)
                    + " mbufs in use (a leak); not freed");
        }
        closed = true;
        BY_BASE.remove(base, this);
        arena.close();
    }

    @Override
    public String toString() {
        return "JavaMbufPool(" + name + ", " + available() + "/" + capacity + " free)";
    }
}
