package io.zstack.buffer;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.zstack.dpdk.Dpdk;
import io.zstack.dpdk.LayoutMismatchException;
import io.zstack.dpdk.LayoutTable;
import io.zstack.dpdk.LayoutTable.Entry;
import io.zstack.dpdk.LayoutTable.Kind;
import java.util.ArrayList;
import java.util.List;

/**
 * Where each rte_mbuf field the Java side touches lives, and the values of the offload flags it uses.
 *
 * <p>With DPDK installed the numbers come from the shim's layout table (the compiler's offsetof against the
 * installed headers). Without DPDK, the stack still runs over {@link JavaMbufPool}, with the built-in layout of
 * DPDK 22.11 on x86_64, so one code path serves both.
 */
public final class MbufLayout {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(MbufLayout.class);

    public final int size;
    public final int bufAddr;
    public final int bufIova;
    public final int dataOff;
    public final int refcnt;
    public final int nbSegs;
    public final int port;
    public final int olFlags;
    public final int packetType;
    public final int pktLen;
    public final int dataLen;
    public final int vlanTci;
    public final int rssHash;
    public final int bufLen;
    public final int pool;
    public final int next;
    public final int txOffload;
    public final int privSize;

    public final int l2LenShift;
    public final int l3LenShift;
    public final int l4LenShift;
    public final int tsoSegszShift;

    public final int headroom;
    public final int defaultBufSize;
    public final int maxSegments;

    public final long rxRssHash;
    public final long rxIpChecksumMask;
    public final long rxIpChecksumGood;
    public final long rxIpChecksumBad;
    public final long rxL4ChecksumMask;
    public final long rxL4ChecksumGood;
    public final long rxL4ChecksumBad;
    /**
     * DPDK's RX_L4_CKSUM_NONE, both bits of the mask: the data was verified, the checksum field is not its sum (a
     * device's LRO; ZStack's receive coalescing after it summed the frames it merged).
     */
    public final long rxL4ChecksumNone;
    public final long txIpv4;
    public final long txIpChecksum;
    public final long txTcpChecksum;
    public final long txTcpSegmentation;
    public final long indirect;
    public final long external;

    public final String source;

    private MbufLayout(LayoutTable t) {
        source = t.source();
        size = (int) t.constant("mbuf.sizeof");
        bufAddr = t.offset("mbuf.buf_addr", 8);
        bufIova = t.offset("mbuf.buf_iova", 8);
        dataOff = t.offset("mbuf.data_off", 2);
        refcnt = t.offset("mbuf.refcnt", 2);
        nbSegs = t.offset("mbuf.nb_segs", 2);
        port = t.offset("mbuf.port", 2);
        olFlags = t.offset("mbuf.ol_flags", 8);
        packetType = t.offset("mbuf.packet_type", 4);
        pktLen = t.offset("mbuf.pkt_len", 4);
        dataLen = t.offset("mbuf.data_len", 2);
        vlanTci = t.offset("mbuf.vlan_tci", 2);
        rssHash = t.offset("mbuf.hash_rss", 4);
        bufLen = t.offset("mbuf.buf_len", 2);
        pool = t.offset("mbuf.pool", 8);
        next = t.offset("mbuf.next", 8);
        txOffload = t.offset("mbuf.tx_offload", 8);
        privSize = t.offset("mbuf.priv_size", 2);
        l2LenShift = t.bitShift("mbuf.tx_offload.l2_len", 7);
        l3LenShift = t.bitShift("mbuf.tx_offload.l3_len", 9);
        l4LenShift = t.bitShift("mbuf.tx_offload.l4_len", 8);
        tsoSegszShift = t.bitShift("mbuf.tx_offload.tso_segsz", 16);
        headroom = (int) t.constant("mbuf.headroom");
        defaultBufSize = (int) t.constant("mbuf.default_buf_size");
        maxSegments = (int) t.constant("mbuf.max_nb_segs");
        rxRssHash = t.constant("ol.rx_rss_hash");
        rxIpChecksumMask = t.constant("ol.rx_ip_cksum_mask");
        rxIpChecksumGood = t.constant("ol.rx_ip_cksum_good");
        rxIpChecksumBad = t.constant("ol.rx_ip_cksum_bad");
        rxL4ChecksumMask = t.constant("ol.rx_l4_cksum_mask");
        rxL4ChecksumGood = t.constant("ol.rx_l4_cksum_good");
        rxL4ChecksumBad = t.constant("ol.rx_l4_cksum_bad");
        rxL4ChecksumNone = rxL4ChecksumGood | rxL4ChecksumBad;
        txIpv4 = t.constant("ol.tx_ipv4");
        txIpChecksum = t.constant("ol.tx_ip_cksum");
        txTcpChecksum = t.constant("ol.tx_tcp_cksum");
        txTcpSegmentation = t.constant("ol.tx_tcp_seg");
        indirect = t.constant("ol.indirect");
        external = t.constant("ol.external");
        checkFieldsDisjoint(t);
    }

    /** Builds and checks a layout; throws {@link LayoutMismatchException} if the table does not fit ZStack. */
    public static MbufLayout of(LayoutTable table) {
        return new MbufLayout(table);
    }

    /** The layout the process uses: the installed DPDK's if it loads, else the built-in one. */
    static MbufLayout current() {
        if (Dpdk.unavailabilityCause() == null) {
            return of(LayoutTable.fromShim());
        }
        logger.debug("DPDK not available: mbuf layout is the built-in one for DPDK 22.11 x86_64");
        return of(builtIn());
    }

    /** Every accessed field must lie inside the struct and no two may overlap: else offsets were misread. */
    private void checkFieldsDisjoint(LayoutTable t) {
        List<Entry> fields = new ArrayList<>();
        for (Entry e : t.entries()) {
            if (e.kind() == Kind.OFFSET && e.name().startsWith("mbuf.")) {
                fields.add(e);
            }
        }
        for (Entry a : fields) {
            if (a.value() + a.width() > size) {
                throw new LayoutMismatchException(source + ": " + a.name() + " at " + a.value() + "+" + a.width()
                        + " lies outside struct rte_mbuf (" + size + " bytes)");
            }
            for (Entry b : fields) {
                if (a != b && a.value() < b.value() + b.width() && b.value() < a.value() + a.width()) {
                    throw new LayoutMismatchException(source + ": mbuf fields " + a.name() + " and " + b.name()
                            + " overlap");
                }
            }
        }
    }

    /** struct rte_mbuf of DPDK 22.11 on x86_64 (RTE_IOVA_AS_PA), as its headers define it. */
    public static LayoutTable builtIn() {
        List<Entry> rows = new ArrayList<>();
        rows.add(new Entry("mbuf.sizeof", 128, 0, Kind.CONSTANT));
        field(rows, "mbuf.buf_addr", 0, 8);
        field(rows, "mbuf.buf_iova", 8, 8);
        field(rows, "mbuf.data_off", 16, 2);
        field(rows, "mbuf.refcnt", 18, 2);
        field(rows, "mbuf.nb_segs", 20, 2);
        field(rows, "mbuf.port", 22, 2);
        field(rows, "mbuf.ol_flags", 24, 8);
        field(rows, "mbuf.packet_type", 32, 4);
        field(rows, "mbuf.pkt_len", 36, 4);
        field(rows, "mbuf.data_len", 40, 2);
        field(rows, "mbuf.vlan_tci", 42, 2);
        field(rows, "mbuf.hash_rss", 44, 4);
        field(rows, "mbuf.buf_len", 54, 2);
        field(rows, "mbuf.pool", 56, 8);
        field(rows, "mbuf.next", 64, 8);
        field(rows, "mbuf.tx_offload", 72, 8);
        field(rows, "mbuf.priv_size", 88, 2);
        rows.add(new Entry("mbuf.tx_offload.l2_len", 0, 7, Kind.BITFIELD));
        rows.add(new Entry("mbuf.tx_offload.l3_len", 7, 9, Kind.BITFIELD));
        rows.add(new Entry("mbuf.tx_offload.l4_len", 16, 8, Kind.BITFIELD));
        rows.add(new Entry("mbuf.tx_offload.tso_segsz", 24, 16, Kind.BITFIELD));
        constant(rows, "mbuf.headroom", 128);
        constant(rows, "mbuf.default_buf_size", 2048 + 128);
        constant(rows, "mbuf.max_nb_segs", 0xffff);
        constant(rows, "ol.rx_rss_hash", 1L << 1);
        constant(rows, "ol.rx_ip_cksum_mask", (1L << 4) | (1L << 7));
        constant(rows, "ol.rx_ip_cksum_good", 1L << 7);
        constant(rows, "ol.rx_ip_cksum_bad", 1L << 4);
        constant(rows, "ol.rx_l4_cksum_mask", (1L << 3) | (1L << 8));
        constant(rows, "ol.rx_l4_cksum_good", 1L << 8);
        constant(rows, "ol.rx_l4_cksum_bad", 1L << 3);
        constant(rows, "ol.tx_ipv4", 1L << 55);
        constant(rows, "ol.tx_ip_cksum", 1L << 54);
        constant(rows, "ol.tx_tcp_cksum", 1L << 52);
        constant(rows, "ol.tx_tcp_seg", 1L << 50);
        constant(rows, "ol.indirect", 1L << 62);
        constant(rows, "ol.external", 1L << 61);
        return LayoutTable.of("built-in DPDK 22.11 x86_64 layout", rows);
    }

    private static void field(List<Entry> rows, String name, long offset, int width) {
        rows.add(new Entry(name, offset, width, Kind.OFFSET));
    }

    private static void constant(List<Entry> rows, String name, long value) {
        rows.add(new Entry(name, value, 0, Kind.CONSTANT));
    }
}
