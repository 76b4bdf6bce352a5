package io.zstack.buffer;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import java.lang.foreign.MemorySegment;

/**
 * Field access and the layout-only operations on an rte_mbuf, given its address.
 *
 * <p>An mbuf is a {@code long} everywhere in ZStack (0 means none): the receive and send paths handle
 * millions per second, and a plain address costs no allocation. Offsets are static finals taken from
 * {@link MbufLayout#current()}, so the JIT folds them into the loads. Operations that depend on which pool
 * owns the mbuf (free, refcount, attach) live on {@link MbufPool}.
 *
 * <p>{@link #prepend}, {@link #append}, {@link #adj}, {@link #trim} and {@link #chain} do what DPDK's inline
 * functions of the same names do; MbufTest checks them against DPDK's own.
 */
public final class Mbuf {
    /**
     * The whole address space: every mbuf access is an offset into it. The stack's per-packet paths read and write
     * packet bytes through it at absolute addresses rather than through a slice per mbuf ({@link #data}): a slice
     * that a wire view keeps in a field escapes, so each costs an allocation, and a segment through both stacks
     * made about ten of them (a third of its CPU in TcpSegmentBenchmark). Bounds are then the caller's business:
     * the wire views check lengths before they read. Public because the ip and tcp layers write headers through it;
     * the module does not export this package, so no application reaches it on the module path.
     */
    public static final MemorySegment MEMORY = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    public static final MbufLayout LAYOUT = MbufLayout.current();

    private static final int SIZE = LAYOUT.size;
    private static final int BUF_ADDR = LAYOUT.bufAddr;
    private static final int BUF_IOVA = LAYOUT.bufIova;
    private static final int DATA_OFF = LAYOUT.dataOff;
    private static final int REFCNT = LAYOUT.refcnt;
    private static final int NB_SEGS = LAYOUT.nbSegs;
    private static final int PORT = LAYOUT.port;
    private static final int OL_FLAGS = LAYOUT.olFlags;
    private static final int PACKET_TYPE = LAYOUT.packetType;
    private static final int PKT_LEN = LAYOUT.pktLen;
    private static final int DATA_LEN = LAYOUT.dataLen;
    private static final int VLAN_TCI = LAYOUT.vlanTci;
    private static final int RSS_HASH = LAYOUT.rssHash;
    private static final int BUF_LEN = LAYOUT.bufLen;
    private static final int POOL = LAYOUT.pool;
    private static final int NEXT = LAYOUT.next;
    private static final int TX_OFFLOAD = LAYOUT.txOffload;
    private static final int PRIV_SIZE = LAYOUT.privSize;
    private static final int L2_SHIFT = LAYOUT.l2LenShift;
    private static final int L3_SHIFT = LAYOUT.l3LenShift;
    private static final int L4_SHIFT = LAYOUT.l4LenShift;
    private static final int TSO_SHIFT = LAYOUT.tsoSegszShift;
    private static final int MAX_SEGS = LAYOUT.maxSegments;

    /** Size of struct rte_mbuf. */
    public static final int STRUCT_SIZE = SIZE;
    /** Headroom DPDK leaves in front of received data (RTE_PKTMBUF_HEADROOM). */
    public static final int HEADROOM = LAYOUT.headroom;

    private Mbuf() {
    }

    // ---- fields

    public static long bufAddr(long m) {
        return MEMORY.get(JAVA_LONG_UNALIGNED, m + BUF_ADDR);
    }

    static void setBufAddr(long m, long address) {
        MEMORY.set(JAVA_LONG_UNALIGNED, m + BUF_ADDR, address);
    }

    static long bufIova(long m) {
        return MEMORY.get(JAVA_LONG_UNALIGNED, m + BUF_IOVA);
    }

    static void setBufIova(long m, long iova) {
        MEMORY.set(JAVA_LONG_UNALIGNED, m + BUF_IOVA, iova);
    }

    public static int bufLen(long m) {
        return Short.toUnsignedInt(MEMORY.get(JAVA_SHORT_UNALIGNED, m + BUF_LEN));
    }

    static void setBufLen(long m, int len) {
        MEMORY.set(JAVA_SHORT_UNALIGNED, m + BUF_LEN, (short) len);
    }

    public static int dataOff(long m) {
        return Short.toUnsignedInt(MEMORY.get(JAVA_SHORT_UNALIGNED, m + DATA_OFF));
    }

    public static void setDataOff(long m, int off) {
        MEMORY.set(JAVA_SHORT_UNALIGNED, m + DATA_OFF, (short) off);
    }

    /** Plain read; only a pool changes the refcount (DPDK's atomically). */
    public static int refcntPlain(long m) {
        return Short.toUnsignedInt(MEMORY.get(JAVA_SHORT_UNALIGNED, m + REFCNT));
    }

    static void setRefcntPlain(long m, int value) {
        MEMORY.set(JAVA_SHORT_UNALIGNED, m + REFCNT, (short) value);
    }

    public static int nbSegs(long m) {
        return Short.toUnsignedInt(MEMORY.get(JAVA_SHORT_UNALIGNED, m + NB_SEGS));
    }

    public static void setNbSegs(long m, int n) {
        MEMORY.set(JAVA_SHORT_UNALIGNED, m + NB_SEGS, (short) n);
    }

    public static int port(long m) {
        return Short.toUnsignedInt(MEMORY.get(JAVA_SHORT_UNALIGNED, m + PORT));
    }

    public static void setPort(long m, int port) {
        MEMORY.set(JAVA_SHORT_UNALIGNED, m + PORT, (short) port);
    }

    public static long olFlags(long m) {
        return MEMORY.get(JAVA_LONG_UNALIGNED, m + OL_FLAGS);
    }

    public static void setOlFlags(long m, long flags) {
        MEMORY.set(JAVA_LONG_UNALIGNED, m + OL_FLAGS, flags);
    }

    public static int packetType(long m) {
        return MEMORY.get(JAVA_INT_UNALIGNED, m + PACKET_TYPE);
    }

    public static void setPacketType(long m, int type) {
        MEMORY.set(JAVA_INT_UNALIGNED, m + PACKET_TYPE, type);
    }

    /** Total length of the chain starting here (valid on the first segment). */
    public static int pktLen(long m) {
        return MEMORY.get(JAVA_INT_UNALIGNED, m + PKT_LEN);
    }

    public static void setPktLen(long m, int len) {
        MEMORY.set(JAVA_INT_UNALIGNED, m + PKT_LEN, len);
    }

    /** Bytes of data in this segment. */
    public static int dataLen(long m) {
        return Short.toUnsignedInt(MEMORY.get(JAVA_SHORT_UNALIGNED, m + DATA_LEN));
    }

    public static void setDataLen(long m, int len) {
        MEMORY.set(JAVA_SHORT_UNALIGNED, m + DATA_LEN, (short) len);
    }

    public static int vlanTci(long m) {
        return Short.toUnsignedInt(MEMORY.get(JAVA_SHORT_UNALIGNED, m + VLAN_TCI));
    }

    static void setVlanTci(long m, int tci) {
        MEMORY.set(JAVA_SHORT_UNALIGNED, m + VLAN_TCI, (short) tci);
    }

    /** The NIC's RSS hash (meaningful when ol_flags has RX_RSS_HASH). */
    public static int rssHash(long m) {
        return MEMORY.get(JAVA_INT_UNALIGNED, m + RSS_HASH);
    }

    public static void setRssHash(long m, int hash) {
        MEMORY.set(JAVA_INT_UNALIGNED, m + RSS_HASH, hash);
    }

    /** The rte_mempool (or Java pool) this mbuf belongs to. */
    public static long pool(long m) {
        return MEMORY.get(JAVA_LONG_UNALIGNED, m + POOL);
    }

    static void setPool(long m, long pool) {
        MEMORY.set(JAVA_LONG_UNALIGNED, m + POOL, pool);
    }

    public static long next(long m) {
        return MEMORY.get(JAVA_LONG_UNALIGNED, m + NEXT);
    }

    public static void setNext(long m, long next) {
        MEMORY.set(JAVA_LONG_UNALIGNED, m + NEXT, next);
    }

    public static long txOffload(long m) {
        return MEMORY.get(JAVA_LONG_UNALIGNED, m + TX_OFFLOAD);
    }

    public static void setTxOffload(long m, long value) {
        MEMORY.set(JAVA_LONG_UNALIGNED, m + TX_OFFLOAD, value);
    }

    /**
     * Fills the header lengths a NIC needs for checksum offload and TSO (l2_len, l3_len, l4_len, tso_segsz),
     * clearing the rest of tx_offload.
     */
    public static void setTxOffload(long m, int l2Len, int l3Len, int l4Len, int tsoSegmentSize) {
        long v = ((long) (l2Len & 0x7f) << L2_SHIFT) | ((long) (l3Len & 0x1ff) << L3_SHIFT)
                | ((long) (l4Len & 0xff) << L4_SHIFT) | ((long) (tsoSegmentSize & 0xffff) << TSO_SHIFT);
        setTxOffload(m, v);
    }

    /** tx_offload's l2_len + l3_len: where the transport header starts in the frame, as the stack filled it in. */
    public static int transportHeaderOffset(long m) {
        long v = txOffload(m);
        return (int) ((v >>> L2_SHIFT) & 0x7f) + (int) ((v >>> L3_SHIFT) & 0x1ff);
    }

    /** tx_offload's l4_len: the transport header's length. */
    public static int transportHeaderLength(long m) {
        return (int) (txOffload(m) >>> L4_SHIFT) & 0xff;
    }

    /** tx_offload's tso_segsz: the payload bytes per segment a device cuts a TSO frame into. */
    public static int tsoSegmentSize(long m) {
        return (int) (txOffload(m) >>> TSO_SHIFT) & 0xffff;
    }

    /** Replaces tx_offload's tso_segsz, leaving the header lengths as they are. */
    public static void setTsoSegmentSize(long m, int tsoSegmentSize) {
        setTxOffload(m, (txOffload(m) & ~(0xffffL << TSO_SHIFT)) | ((long) (tsoSegmentSize & 0xffff) << TSO_SHIFT));
    }

    public static int privSize(long m) {
        return Short.toUnsignedInt(MEMORY.get(JAVA_SHORT_UNALIGNED, m + PRIV_SIZE));
    }

    static void setPrivSize(long m, int size) {
        MEMORY.set(JAVA_SHORT_UNALIGNED, m + PRIV_SIZE, (short) size);
    }

    /** True when this mbuf is a view of another mbuf's buffer (clone/attach). */
    public static boolean isIndirect(long m) {
        return (olFlags(m) & LAYOUT.indirect) != 0;
    }

    // ---- data

    /** Address of the first data byte of this segment (rte_pktmbuf_mtod). */
    public static long dataAddress(long m) {
        return bufAddr(m) + dataOff(m);
    }

    /** This segment's data as a segment of exactly data_len bytes; no copy. */
    public static MemorySegment data(long m) {
        return MEMORY.asSlice(dataAddress(m), dataLen(m));
    }

    /** Headroom before the data of this segment. */
    public static int headroom(long m) {
        return dataOff(m);
    }

    /** Room after the data of this segment. */
    public static int tailroom(long m) {
        return bufLen(m) - dataOff(m) - dataLen(m);
    }

    public static byte getByte(long m, int offset) {
        return MEMORY.get(JAVA_BYTE, dataAddress(m) + offset);
    }

    /** The last segment of a chain. */
    public static long lastSegment(long m) {
        long seg = m;
        for (long n = next(seg); n != 0; n = next(seg)) {
            seg = n;
        }
        return seg;
    }

    /** Grows the data at the front by len bytes; returns the new data address, or 0 without room. */
    public static long prepend(long m, int len) {
        int off = dataOff(m);
        if (len < 0 || len > off) {
            return 0;
        }
        setDataOff(m, off - len);
        setDataLen(m, dataLen(m) + len);
        setPktLen(m, pktLen(m) + len);
        return bufAddr(m) + off - len;
    }

    /** Grows the data at the end of the chain by len bytes; returns the address of the new bytes, or 0. */
    public static long append(long m, int len) {
        long last = lastSegment(m);
        if (len < 0 || len > tailroom(last)) {
            return 0;
        }
        long tail = dataAddress(last) + dataLen(last);
        setDataLen(last, dataLen(last) + len);
        setPktLen(m, pktLen(m) + len);
        return tail;
    }

    /** Removes len bytes from the front of the first segment; returns the new data address, or 0. */
    public static long adj(long m, int len) {
        int dataLen = dataLen(m);
        if (len < 0 || len > dataLen) {
            return 0;
        }
        setDataLen(m, dataLen - len);
        int off = dataOff(m) + len;
        setDataOff(m, off);
        setPktLen(m, pktLen(m) - len);
        return bufAddr(m) + off;
    }

    /** Removes len bytes from the end of the last segment; false if it holds fewer. */
    public static boolean trim(long m, int len) {
        long last = lastSegment(m);
        if (len < 0 || len > dataLen(last)) {
            return false;
        }
        setDataLen(last, dataLen(last) - len);
        setPktLen(m, pktLen(m) - len);
        return true;
    }

    /**
     * Appends the chain {@code tail} to {@code head}; false (nothing changed) if the segment count would pass
     * DPDK's limit.
     */
    public static boolean chain(long head, long tail) {
        return chain(head, lastSegment(head), tail);
    }

    /**
     * {@link #chain(long, long)} when the caller already holds {@code head}'s last segment {@code last}: a loop that
     * builds a long chain one mbuf at a time must not walk it from the head for every mbuf (quadratic).
     */
    public static boolean chain(long head, long last, long tail) {
        int segs = nbSegs(head) + nbSegs(tail);
        if (segs > MAX_SEGS) {
            return false;
        }
        setNext(last, tail);
        setNbSegs(head, segs);
        setPktLen(head, pktLen(head) + pktLen(tail));
        setPktLen(tail, dataLen(tail));
        return true;
    }

    /**
     * Removes the first {@code n} data bytes of a chain: segments wholly covered are freed to {@code pool}, the first
     * remaining one is narrowed. Returns the new head (0 if nothing remains). The head's pkt_len and nb_segs follow.
     */
    public static long trimFront(MbufPool pool, long chain, int n) {
        int total = pktLen(chain);
        int segs = nbSegs(chain);
        long seg = chain;
        int left = n;
        while (seg != 0 && left >= dataLen(seg) && left > 0) {
            left -= dataLen(seg);
            long next = next(seg);
            pool.freeSegment(seg);
            segs--;
            seg = next;
        }
        if (seg == 0) {
            return 0;
        }
        if (left > 0) {
            setDataOff(seg, dataOff(seg) + left);
            setDataLen(seg, dataLen(seg) - left);
        }
        setPktLen(seg, total - n);
        setNbSegs(seg, segs);
        return seg;
    }

    /** Keeps only the first {@code keep} data bytes of a chain, freeing segments past them. Returns the head. */
    public static long trimTo(MbufPool pool, long chain, int keep) {
        if (keep <= 0) {
            pool.free(chain);
            return 0;
        }
        int segs = 0;
        int seen = 0;
        long seg = chain;
        long last = 0;
        while (seg != 0 && seen < keep) {
            int len = dataLen(seg);
            if (seen + len > keep) {
                setDataLen(seg, keep - seen);
                len = keep - seen;
            }
            seen += len;
            segs++;
            last = seg;
            seg = next(seg);
        }
        setNext(last, 0);
        while (seg != 0) {
            long next = next(seg);
            pool.freeSegment(seg);
            seg = next;
        }
        setPktLen(chain, seen);
        setNbSegs(chain, segs);
        return chain;
    }

    /** Copies the chain's bytes out, from offset, into dst (tests, pcap, and the copy mode). */
    public static void copyOut(long m, int offset, MemorySegment dst, long dstOffset, int length) {
        long seg = m;
        int skip = offset;
        int left = length;
        while (seg != 0 && left > 0) {
            int len = dataLen(seg);
            if (skip >= len) {
                skip -= len;
            } else {
                int n = Math.min(len - skip, left);
                MemorySegment.copy(MEMORY, dataAddress(seg) + skip, dst, dstOffset, n);
                dstOffset += n;
                left -= n;
                skip = 0;
            }
            seg = next(seg);
        }
        if (left > 0) {
            throw new IndexOutOfBoundsException("chain holds fewer than " + (offset + length) + " bytes");
        }
    }

    /** Copies len bytes starting at a raw address (inside some mbuf's buffer) into dst. */
    public static void copyFromAddress(long address, MemorySegment dst, long dstOffset, int len) {
        MemorySegment.copy(MEMORY, address, dst, dstOffset, len);
    }

    /** The chain's bytes as a new array (tests and diagnostics; never the data path). */
    public static byte[] toByteArray(long m) {
        byte[] out = new byte[pktLen(m)];
        copyOut(m, 0, MemorySegment.ofArray(out), 0, out.length);
        return out;
    }
}
