package io.zstack.buffer;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;

/**
 * The allocator a ZStack channel hands out: direct buffers are mbufs from the stack's pool with headroom reserved,
 * so what the application writes goes to TCP by reference. Requests one mbuf cannot hold, requests while the pool
 * is down to the stack's reserve (the pool is shared with the stack and the NIC's receive ring: the application
 * must neither run it dry nor fail when it is low), and heap buffers go to a fallback allocator.
 *
 * <p>Every buffer goes through Netty's leak detection, received ones too ({@link #wrapReceived}): a leaked mbuf
 * starves the NIC, so it is the leak that matters most here.
 */
public class ZStackByteBufAllocator extends AbstractByteBufAllocator {
    private final MbufPool pool;
    private final ByteBufAllocator fallback;
    private final int mbufCapacity;
    private final MbufPool largePool;
    private final int largeCapacity;
    /** Payload of one segment: direct buffers larger than this are composites of such mbufs; 0: never. */
    private final int segmentPayload;
    /**
     * Mbufs of the regular pool the application does not get: the stack needs them for headers, ACKs, indirect
     * views and the NIC's receive ring. An application that holds buffers it cannot write yet (an echo ignoring
     * writability) must not take the last ones, or TCP can send nothing, hear no ACK, and free nothing.
     */
    private final int reserve;
    /** Allocations left before the pool's level is read again ({@link #poolLow}): the read is a downcall on DPDK. */
    private final AtomicInteger untilCheck = new AtomicInteger();
    private volatile boolean poolLow;

    /** Over {@code pool}, falling back to {@link PooledByteBufAllocator#DEFAULT}. */
    public ZStackByteBufAllocator(MbufPool pool) {
        this(pool, PooledByteBufAllocator.DEFAULT);
    }

    public ZStackByteBufAllocator(MbufPool pool, ByteBufAllocator fallback) {
        this(pool, null, fallback);
    }

    /**
     * Over {@code pool}, with {@code largePool} (may be null) serving buffers one mbuf of {@code pool} cannot hold:
     * they stay single mbufs, so writing them is still zero copy (TCP cuts them into segments by reference).
     */
    public ZStackByteBufAllocator(MbufPool pool, MbufPool largePool, ByteBufAllocator fallback) {
        this(pool, largePool, fallback, 0);
    }

    /**
     * As above; with {@code segmentPayload} > 0, a direct buffer larger than that is a composite of mbufs holding at
     * most {@code segmentPayload} bytes each (one TCP segment's payload), each with the pool's headroom in front: TCP
     * cuts every segment at an mbuf's start and sends it as that mbuf alone, headers written in its headroom, where a
     * single large mbuf gives every segment but the first a header mbuf of its own.
     */
    public ZStackByteBufAllocator(MbufPool pool, MbufPool largePool, ByteBufAllocator fallback, int segmentPayload) {
        super(true);
        if (pool == null || fallback == null) {
            throw new NullPointerException(pool == null ? "pool" : "fallback");
        }
        this.pool = pool;
        this.largePool = largePool;
        this.fallback = fallback;
        this.mbufCapacity = MbufByteBuf.mbufCapacity(pool);
        this.largeCapacity = largePool == null ? 0 : MbufByteBuf.mbufCapacity(largePool);
        this.segmentPayload = segmentPayload > 0 && segmentPayload < mbufCapacity ? segmentPayload : 0;
        this.reserve = pool.capacity() / 4;
    }

    /**
     * True when the regular pool is down to its reserve. Allocations are counted between two reads of the level,
     * assuming each takes an mbuf and none comes back, so the pool cannot pass the reserve unseen by more than the
     * threads racing here.
     */
    private boolean poolLow() {
        if (untilCheck.decrementAndGet() >= 0) {
            return poolLow;
        }
        int available = pool.available();
        boolean low = available <= reserve;
        poolLow = low;
        untilCheck.set(low ? 64 : (available - reserve) / 2);
        return low;
    }

    /** The pool of large mbufs, or null. */
    public MbufPool largePool() {
        return largePool;
    }

    /** The smallest of this allocator's pools whose mbufs hold {@code capacity} bytes after headroom, or null. */
    public MbufPool poolFor(int capacity) {
        if (capacity <= mbufCapacity) {
            return pool;
        }
        return capacity <= largeCapacity ? largePool : null;
    }

    public MbufPool pool() {
        return pool;
    }

    public ByteBufAllocator fallback() {
        return fallback;
    }

    /** The largest initial capacity served from an mbuf (one mbuf's data room after the headroom). */
    public int mbufCapacity() {
        return mbufCapacity;
    }

    /**
     * A buffer over a received segment, taking over one of its references (see {@link MbufByteBuf#ofReceived}),
     * tracked by the leak detector like any allocated buffer.
     */
    public ByteBuf wrapReceived(long segment) {
        return toLeakAwareBuffer(MbufByteBuf.ofReceived(this, pool, segment));
    }

    /** The segment payload large buffers are cut by (0: they are single mbufs). */
    public int segmentPayload() {
        return segmentPayload;
    }

    @Override
    protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
        if (segmentPayload > 0 && initialCapacity > segmentPayload && !poolLow()) {
            // typed as a composite so the leak detector wraps it as one: a plain leak-aware wrapper would hide the
            // pieces from the channel, which would then copy the buffer instead of sending its mbufs
            CompositeByteBuf segmented = segmented(initialCapacity);
            if (segmented != null) {
                return toLeakAwareBuffer(segmented);
            }
        }
        if (largePool != null && initialCapacity > largeCapacity) {
            CompositeByteBuf large = inLargeMbufs(initialCapacity);
            if (large != null) {
                return toLeakAwareBuffer(large); // a composite, as above
            }
        }
        MbufPool from = poolFor(initialCapacity);
        if (from == pool && poolLow()) {
            from = null; // the rest is the stack's
        }
        if (from != null) {
            MbufByteBuf buf = MbufByteBuf.allocate(this, from, initialCapacity, maxCapacity);
            if (buf != null) {
                return toLeakAwareBuffer(buf);
            }
        }
        // The fallback tracks leaks of its own buffers.
        return fallback.directBuffer(initialCapacity, maxCapacity);
    }

    /**
     * A composite of {@code capacity} bytes in mbufs of at most {@link #segmentPayload} bytes each (writerIndex 0), or
     * null (nothing held) when the pool cannot give them all. It grows as any composite does, by a component the
     * allocator gives; its components never grow themselves.
     */
    private CompositeByteBuf segmented(int capacity) {
        int pieces = (capacity + segmentPayload - 1) / segmentPayload;
        // the last mbufs are the stack's (see reserve); asked, not counted: a DPDK pool's count sums every
        // per-lcore cache (MbufPool.hasAvailable), which was 1 % of a load generator sending 8 KB bodies
        if (!pool.hasAvailable(reserve + pieces + 1)) {
            return null;
        }
        return inPieces(capacity, segmentPayload, n -> pool);
    }

    /**
     * A composite of {@code capacity} bytes (writerIndex 0) in mbufs of at most {@code piece} bytes, each from the
     * pool {@code poolFor} picks for its size; null (nothing held) when one cannot be had.
     */
    private CompositeByteBuf inPieces(int capacity, int piece, IntFunction<MbufPool> poolFor) {
        CompositeByteBuf composite = new CompositeByteBuf(this, true, Integer.MAX_VALUE);
        for (int at = 0; at < capacity; at += piece) {
            int n = Math.min(piece, capacity - at);
            MbufByteBuf part = MbufByteBuf.allocate(this, poolFor.apply(n), n, n);
            if (part == null) {
                composite.release();
                return null;
            }
            composite.addComponent(false, part.setIndex(0, n));
        }
        return composite;
    }

    /**
     * A composite of {@code capacity} bytes (writerIndex 0) in as few mbufs as hold them: large ones, the last piece
     * in a regular one when it fits there; or null (nothing held) when that would take more than half the large
     * mbufs left. A 64 KiB buffer, one byte more than a large mbuf holds after its headroom, is then two mbufs, which
     * a write hands over by reference, where a buffer of the fallback allocator must be copied.
     */
    private CompositeByteBuf inLargeMbufs(int capacity) {
        int whole = capacity / largeCapacity;
        int tail = capacity - whole * largeCapacity;
        if (!largePool.hasAvailable(2 * (whole + (tail > 0 ? 1 : 0)))) { // more than half of those left
            return null;
        }
        return inPieces(capacity, largeCapacity, n -> n <= mbufCapacity && !poolLow() ? pool : largePool);
    }

    @Override
    protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
        return fallback.heapBuffer(initialCapacity, maxCapacity);
    }

    // AbstractByteBufAllocator prefers direct buffers only when Netty may use sun.misc.Unsafe; without it buffer()
    // would hand out heap buffers, each copied on write. Mbufs need no Unsafe: always direct.

    @Override
    public ByteBuf buffer() {
        return directBuffer();
    }

    @Override
    public ByteBuf buffer(int initialCapacity) {
        return directBuffer(initialCapacity);
    }

    @Override
    public ByteBuf buffer(int initialCapacity, int maxCapacity) {
        return directBuffer(initialCapacity, maxCapacity);
    }

    /** True: direct buffers are cheap to get here, so Netty's ioBuffer() picks them even without Unsafe. */
    @Override
    public boolean isDirectBufferPooled() {
        return true;
    }

    @Override
    public String toString() {
        return "ZStackByteBufAllocator(" + pool + (largePool != null ? ", large " + largePool : "") + ", fallback "
                + fallback.getClass().getSimpleName() + ")";
    }
}
