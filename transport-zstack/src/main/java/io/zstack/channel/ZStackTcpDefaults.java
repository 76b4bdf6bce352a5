package io.zstack.channel;

import io.zstack.tcp.TcpSettings;
import java.time.Duration;
import java.util.Objects;

/**
 * The TCP settings a group's channels start from ({@link ZStackConfig.Builder#tcp}), as sysctls are a host's: a
 * channel option set on a channel ({@code SO_RCVBUF}, {@link ZStackChannelOption#CONGESTION_CONTROL}, ...) overrides
 * the default for that channel only. An immutable value; the defaults follow Linux's.
 */
public final class ZStackTcpDefaults {
    private static final ZStackTcpDefaults LINUX_LIKE = builder().build();

    private final int receiveBufferBytes;
    private final int sendBufferBytes;
    private final boolean delayedAck;
    private final ZStackCongestionControl congestionControl;
    private final Duration minRto;
    private final Duration keepAliveIdle;
    private final Duration keepAliveInterval;
    private final int keepAliveProbes;
    private final int synRetries;
    private final int maxRetransmissions;
    private final int maxTimeWaits;
    private final boolean synCookies;
    private final boolean windowScaling;
    private final boolean timestamps;
    private final boolean sack;

    private ZStackTcpDefaults(Builder b) {
        receiveBufferBytes = b.receiveBufferBytes;
        sendBufferBytes = b.sendBufferBytes;
        delayedAck = b.delayedAck;
        congestionControl = b.congestionControl;
        minRto = b.minRto;
        keepAliveIdle = b.keepAliveIdle;
        keepAliveInterval = b.keepAliveInterval;
        keepAliveProbes = b.keepAliveProbes;
        synRetries = b.synRetries;
        maxRetransmissions = b.maxRetransmissions;
        maxTimeWaits = b.maxTimeWaits;
        synCookies = b.synCookies;
        windowScaling = b.windowScaling;
        timestamps = b.timestamps;
        sack = b.sack;
    }

    /** Linux's defaults: 256 KiB buffers, delayed ACK, CUBIC, a 200 ms minimum RTO, SACK, timestamps, ... */
    public static ZStackTcpDefaults defaults() {
        return LINUX_LIKE;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding these values, to change some of them. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.receiveBufferBytes = receiveBufferBytes;
        b.sendBufferBytes = sendBufferBytes;
        b.delayedAck = delayedAck;
        b.congestionControl = congestionControl;
        b.minRto = minRto;
        b.keepAliveIdle = keepAliveIdle;
        b.keepAliveInterval = keepAliveInterval;
        b.keepAliveProbes = keepAliveProbes;
        b.synRetries = synRetries;
        b.maxRetransmissions = maxRetransmissions;
        b.maxTimeWaits = maxTimeWaits;
        b.synCookies = synCookies;
        b.windowScaling = windowScaling;
        b.timestamps = timestamps;
        b.sack = sack;
        return b;
    }

    public int receiveBufferBytes() {
        return receiveBufferBytes;
    }

    public int sendBufferBytes() {
        return sendBufferBytes;
    }

    public boolean delayedAck() {
        return delayedAck;
    }

    public ZStackCongestionControl congestionControl() {
        return congestionControl;
    }

    public Duration minRto() {
        return minRto;
    }

    public Duration keepAliveIdle() {
        return keepAliveIdle;
    }

    public Duration keepAliveInterval() {
        return keepAliveInterval;
    }

    public int keepAliveProbes() {
        return keepAliveProbes;
    }

    public int synRetries() {
        return synRetries;
    }

    public int maxRetransmissions() {
        return maxRetransmissions;
    }

    public int maxTimeWaits() {
        return maxTimeWaits;
    }

    public boolean synCookies() {
        return synCookies;
    }

    public boolean windowScaling() {
        return windowScaling;
    }

    public boolean timestamps() {
        return timestamps;
    }

    public boolean sack() {
        return sack;
    }

    /** The stack's settings holding these defaults (a new object each time: every stack and channel owns its own). */
    TcpSettings toSettings() {
        TcpSettings s = new TcpSettings();
        s.receiveBufferBytes = receiveBufferBytes;
        s.sendBufferBytes = sendBufferBytes;
        s.delayedAck = delayedAck;
        s.congestionControl = congestionControl.algorithm();
        s.minRtoNanos = minRto.toNanos();
        s.keepAliveIdleNanos = keepAliveIdle.toNanos();
        s.keepAliveIntervalNanos = keepAliveInterval.toNanos();
        s.keepAliveProbes = keepAliveProbes;
        s.synRetries = synRetries;
        s.maxRetransmissions = maxRetransmissions;
        s.maxTimeWaits = maxTimeWaits;
        s.synCookies = synCookies;
        s.windowScaling = windowScaling;
        s.timestamps = timestamps;
        s.sack = sack;
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ZStackTcpDefaults d && receiveBufferBytes == d.receiveBufferBytes
                && sendBufferBytes == d.sendBufferBytes && delayedAck == d.delayedAck
                && congestionControl == d.congestionControl && minRto.equals(d.minRto)
                && keepAliveIdle.equals(d.keepAliveIdle) && keepAliveInterval.equals(d.keepAliveInterval)
                && keepAliveProbes == d.keepAliveProbes && synRetries == d.synRetries
                && maxRetransmissions == d.maxRetransmissions && maxTimeWaits == d.maxTimeWaits
                && synCookies == d.synCookies && windowScaling == d.windowScaling && timestamps == d.timestamps
                && sack == d.sack;
    }

    @Override
    public int hashCode() {
        return Objects.hash(receiveBufferBytes, sendBufferBytes, delayedAck, congestionControl, minRto, keepAliveIdle,
                keepAliveInterval, keepAliveProbes, synRetries, maxRetransmissions, maxTimeWaits, synCookies,
                windowScaling, timestamps, sack);
    }

    @Override
    public String toString() {
        return "ZStackTcpDefaults(rcvbuf=" + receiveBufferBytes + ", sndbuf=" + sendBufferBytes + ", delayedAck="
                + delayedAck + ", " + congestionControl + ", minRto=" + minRto + ", keepalive=" + keepAliveIdle + "/"
                + keepAliveInterval + "x" + keepAliveProbes + ", synRetries=" + synRetries + ", retries="
                + maxRetransmissions + ", maxTimeWaits=" + maxTimeWaits + ", synCookies=" + synCookies
                + ", wscale=" + windowScaling + ", timestamps=" + timestamps + ", sack=" + sack + ")";
    }

    public static final class Builder {
        // the stack's own defaults (TcpSettings), so the two cannot drift apart
        private int receiveBufferBytes;
        private int sendBufferBytes;
        private boolean delayedAck;
        private ZStackCongestionControl congestionControl;
        private Duration minRto;
        private Duration keepAliveIdle;
        private Duration keepAliveInterval;
        private int keepAliveProbes;
        private int synRetries;
        private int maxRetransmissions;
        private int maxTimeWaits;
        private boolean synCookies;
        private boolean windowScaling;
        private boolean timestamps;
        private boolean sack;

        private Builder() {
            TcpSettings s = new TcpSettings();
            receiveBufferBytes = s.receiveBufferBytes;
            sendBufferBytes = s.sendBufferBytes;
            delayedAck = s.delayedAck;
            congestionControl = ZStackCongestionControl.of(s.congestionControl);
            minRto = Duration.ofNanos(s.minRtoNanos);
            keepAliveIdle = Duration.ofNanos(s.keepAliveIdleNanos);
            keepAliveInterval = Duration.ofNanos(s.keepAliveIntervalNanos);
            keepAliveProbes = s.keepAliveProbes;
            synRetries = s.synRetries;
            maxRetransmissions = s.maxRetransmissions;
            maxTimeWaits = s.maxTimeWaits;
            synCookies = s.synCookies;
            windowScaling = s.windowScaling;
            timestamps = s.timestamps;
            sack = s.sack;
        }

        /** SO_RCVBUF: bounds the advertised window and what is held for the application (default 256 KiB). */
        public Builder receiveBufferBytes(int bytes) {
            receiveBufferBytes = positive("receive buffer", bytes);
            return this;
        }

        /** SO_SNDBUF: bytes queued, unsent plus unacknowledged, before writes wait (default 256 KiB). */
        public Builder sendBufferBytes(int bytes) {
            sendBufferBytes = positive("send buffer", bytes);
            return this;
        }

        /** Delayed ACK (RFC 9293 §3.8.6.3), on by default; off acknowledges every segment at once. */
        public Builder delayedAck(boolean on) {
            delayedAck = on;
            return this;
        }

        public Builder congestionControl(ZStackCongestionControl algorithm) {
            congestionControl = Objects.requireNonNull(algorithm, "congestion control");
            return this;
        }

        /**
         * Lower bound of the retransmission timeout (Linux's TCP_RTO_MIN, 200 ms by default): on a path whose round
         * trip is microseconds, a timeout costs this much. At least 1 µs, at most the maximum RTO (120 s).
         */
        public Builder minRto(Duration minRto) {
            Objects.requireNonNull(minRto, "minRto");
            if (minRto.toNanos() < 1_000 || minRto.compareTo(Duration.ofNanos(new TcpSettings().maxRtoNanos)) > 0) {
                throw new IllegalArgumentException("minRto must lie between 1 us and the maximum RTO (120 s): "
                        + minRto);
            }
            this.minRto = minRto;
            return this;
        }

        /**
         * Keepalive timing for channels with SO_KEEPALIVE on: idle time before the first probe (TCP_KEEPIDLE, 2 h),
         * time between probes (TCP_KEEPINTVL, 75 s), probes unanswered before the connection is dropped (TCP_KEEPCNT,
         * 9).
         */
        public Builder keepAlive(Duration idle, Duration interval, int probes) {
            keepAliveIdle = positive("keepalive idle", idle);
            keepAliveInterval = positive("keepalive interval", interval);
            keepAliveProbes = positive("keepalive probes", probes);
            return this;
        }

        /** SYN retransmissions before a connect fails (tcp_syn_retries, 6). */
        public Builder synRetries(int retries) {
            synRetries = notNegative("SYN retries", retries);
            return this;
        }

        /** Retransmissions of the same data before the connection is aborted (tcp_retries2, 15). */
        public Builder maxRetransmissions(int retries) {
            maxRetransmissions = notNegative("retransmissions", retries);
            return this;
        }

        /**
         * TIME_WAITs a stack keeps at most (tcp_max_tw_buckets, 65536); a connection closing beyond it is gone at
         * once.
         */
        public Builder maxTimeWaits(int count) {
            maxTimeWaits = notNegative("TIME_WAITs", count);
            return this;
        }

        /** SYN cookies when a listener's SYN queue is full (tcp_syncookies, on). */
        public Builder synCookies(boolean on) {
            synCookies = on;
            return this;
        }

        /** Window scaling (RFC 7323), on. */
        public Builder windowScaling(boolean on) {
            windowScaling = on;
            return this;
        }

        /** Timestamps (RFC 7323), on. */
        public Builder timestamps(boolean on) {
            timestamps = on;
            return this;
        }

        /** Selective acknowledgements (RFC 2018), on. */
        public Builder sack(boolean on) {
            sack = on;
            return this;
        }

        public ZStackTcpDefaults build() {
            return new ZStackTcpDefaults(this);
        }

        private static int positive(String what, int value) {
            if (value <= 0) {
                throw new IllegalArgumentException(what + " must be positive: " + value);
            }
            return value;
        }

        private static int notNegative(String what, int value) {
            if (value < 0) {
                throw new IllegalArgumentException(what + " must not be negative: " + value);
            }
            return value;
        }

        private static Duration positive(String what, Duration value) {
            Objects.requireNonNull(value, what);
            if (value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException(what + " must be positive: " + value);
            }
            return value;
        }
    }
}
