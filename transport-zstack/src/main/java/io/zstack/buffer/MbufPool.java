package io.zstack.buffer;

/**
 * A pool of mbufs with the rte_mbuf layout: DPDK's mempool ({@link DpdkMbufPool}) or pure Java
 * ({@link JavaMbufPool}, for tests and simulation without DPDK). The pool owns everything that depends on
 * where an mbuf came from: allocation, freeing, reference counts, indirect views.
 *
 * <p>Freeing follows DPDK: {@link #free} drops one reference from each segment of a chain and returns a
 * segment to its pool when its count reaches zero; freeing an indirect mbuf drops a reference from the direct
 * mbuf whose buffer it views.
 */
public interface MbufPool extends AutoCloseable {
    String name();

    /** A fresh mbuf (refcnt 1, one segment, no data, headroom {@link #headroom()}), or 0 when the pool is empty. */
    long alloc();

    /** Fills burst slots [0, count) with fresh mbufs and sets its size to count; all or nothing. */
    boolean allocBulk(MbufBurst burst, int count);

    /** True when {@code m} was allocated from this pool (its pool field names this pool). */
    boolean owns(long m);

    /** Frees a whole chain. 0 is ignored. */
    void free(long m);

    /** Frees one segment, ignoring its next pointer. */
    void freeSegment(long m);

    /** Frees the chains in burst slots [from, from + count). */
    void freeBulk(MbufBurst burst, int from, int count);

    /** Current reference count of a segment. */
    int refcnt(long m);

    /** Adds delta (may be negative, never to zero: use free) and returns the new count. */
    int refcntUpdate(long m, int delta);

    /**
     * Adds a reference to {@code m} when the caller holds its only one (refcnt 1), and says whether it did: the
     * send queue's test before it hands a queued mbuf itself to a frame, as one pool operation.
     */
    default boolean retainIfSole(long m) {
        if (refcnt(m) != 1) {
            return false;
        }
        refcntUpdate(m, 1);
        return true;
    }

    /**
     * An indirect copy of the chain: new mbufs viewing the same buffers, which stay alive until both are freed.
     * 0 when the pool is empty. The data is not copied.
     */
    long cloneOf(long m);

    /**
     * A new indirect mbuf viewing the buffer of the single segment {@code direct} (same data_off and data_len),
     * which stays alive until the view is freed too; 0 when the pool is empty. The caller may then narrow the
     * view with {@link Mbuf#setDataOff}/{@link Mbuf#setDataLen} without touching the direct mbuf.
     */
    long attachIndirect(long direct);

    /** Total number of mbufs. */
    int capacity();

    /** Free mbufs now (caches included). {@code available() == capacity()} means none is leaked. */
    int available();

    /** Whether at least {@code n} mbufs are free: {@code available() >= n}, possibly cheaper to answer. */
    default boolean hasAvailable(int n) {
        return available() >= n;
    }

    /** Buffer bytes per mbuf, headroom included. */
    int dataRoom();

    /** Headroom of a fresh mbuf. */
    default int headroom() {
        return Math.min(Mbuf.HEADROOM, dataRoom());
    }

    /** Frees the pool; refused with IllegalStateException while mbufs are out. */
    @Override
    void close();

    /** True once {@link #close} succeeded; counting a closed pool is refused. */
    boolean isClosed();
}
