package io.zstack.channel;

import io.netty.channel.ChannelOption;

/**
 * Options of ZStack channels beyond the standard {@link ChannelOption}s. A group's defaults for the TCP ones are
 * {@link ZStackConfig.Builder#tcp}; an option set on a channel overrides them for that channel.
 */
public final class ZStackChannelOption<T> extends ChannelOption<T> {
    /** Delay ACKs (RFC 9293 §3.8.6.3); off sends an ACK for every segment, as TCP_QUICKACK does. */
    public static final ChannelOption<Boolean> DELAYED_ACK = valueOf(ZStackChannelOption.class, "DELAYED_ACK");
    /**
     * Congestion control (like TCP_CONGESTION): of the connection a client channel opens, and of an open one from then
     * on (a server's child option included: it takes over after the handshake, from its initial window).
     */
    public static final ChannelOption<ZStackCongestionControl> CONGESTION_CONTROL =
            valueOf(ZStackChannelOption.class, "CONGESTION_CONTROL");
    /** Seconds idle before the first keepalive probe (TCP_KEEPIDLE). */
    public static final ChannelOption<Integer> TCP_KEEPIDLE = valueOf(ZStackChannelOption.class, "TCP_KEEPIDLE");
    /** Seconds between keepalive probes (TCP_KEEPINTVL). */
    public static final ChannelOption<Integer> TCP_KEEPINTVL = valueOf(ZStackChannelOption.class, "TCP_KEEPINTVL");
    /**
     * Lower bound of the retransmission timeout in microseconds (as Linux's TCP_RTO_MIN_US; 200,000 by default, as
     * Linux's TCP_RTO_MIN): on a path whose round trip is microseconds, a timeout costs this much.
     */
    public static final ChannelOption<Integer> TCP_RTO_MIN_US = valueOf(ZStackChannelOption.class, "TCP_RTO_MIN_US");
    /** Unanswered probes before the connection is dropped (TCP_KEEPCNT). */
    public static final ChannelOption<Integer> TCP_KEEPCNT = valueOf(ZStackChannelOption.class, "TCP_KEEPCNT");
    /**
     * Copy on both paths instead of handing mbufs over (received data is copied into buffers from the channel's
     * allocator; written buffers are always copied into fresh mbufs). For benchmarking what zero copy saves.
     */
    public static final ChannelOption<Boolean> COPY_MODE = valueOf(ZStackChannelOption.class, "COPY_MODE");

    @SuppressWarnings({"unused", "deprecation"})
    private ZStackChannelOption() {
        super(null);
    }
}
