package io.zstack.dpdk;

/**
 * The ethdev capability and RSS bits ZStack uses, with their values from the installed DPDK's headers
 * (through the layout table). Mbuf ol_flags bits live in {@code io.zstack.buffer.MbufLayout}.
 */
public final class Offloads {
    public static final long RX_IPV4_CKSUM;
    public static final long RX_TCP_CKSUM;
    public static final long RX_RSS_HASH;
    public static final long RX_SCATTER;
    public static final long TX_IPV4_CKSUM;
    public static final long TX_TCP_CKSUM;
    public static final long TX_TCP_TSO;
    public static final long TX_MULTI_SEGS;
    public static final long TX_MBUF_FAST_FREE;
    public static final long RSS_IPV4;
    public static final long RSS_NONFRAG_IPV4_TCP;
    public static final long RSS_IP;
    public static final long RSS_TCP;

    static {
        LayoutTable t = LayoutTable.fromShim();
        RX_IPV4_CKSUM = t.constant("rxcapa.ipv4_cksum");
        RX_TCP_CKSUM = t.constant("rxcapa.tcp_cksum");
        RX_RSS_HASH = t.constant("rxcapa.rss_hash");
        RX_SCATTER = t.constant("rxcapa.scatter");
        TX_IPV4_CKSUM = t.constant("txcapa.ipv4_cksum");
        TX_TCP_CKSUM = t.constant("txcapa.tcp_cksum");
        TX_TCP_TSO = t.constant("txcapa.tcp_tso");
        TX_MULTI_SEGS = t.constant("txcapa.multi_segs");
        TX_MBUF_FAST_FREE = t.constant("txcapa.mbuf_fast_free");
        RSS_IPV4 = t.constant("rss.ipv4");
        RSS_NONFRAG_IPV4_TCP = t.constant("rss.nonfrag_ipv4_tcp");
        RSS_IP = t.constant("rss.ip");
        RSS_TCP = t.constant("rss.tcp");
    }

    private Offloads() {
    }
}
