package io.zstack.channel;

import io.zstack.tcp.TcpSettings;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * The TCP settings a group's channels start from ({@link ZStackConfig.Builder#tcp}), as sysctls are a host's: a
 * channel option set on a channel ({@code SO_RCVBUF}, {@link ZStackChannelOption#CONGESTION_CONTROL}, ...) overrides
 * the default for that channel only. An immutable value; the defaults follow Linux's.
 */
public final class ZStackTcpDefaults {
    private static final long MAX_RTO_NANOS = TcpSettings.defaults().maxRtoNanos();
    private static final ZStackTcpDefaults LINUX_LIKE = builder().build();

    /** The values, in the stack's own (immutable) form. */
    private final TcpSettings values;

    private ZStackTcpDefaults(TcpSettings values) {
        this.values = values;
    }

    /** Linux's defaults: 256 KiB buffers, delayed ACK, CUBIC, a 200 ms minimum RTO, SACK, timestamps, ... */
    public static ZStackTcpDefaults defaults() {
        return LINUX_LIKE;
    }

    public static Builder builder() {
        return new Builder(TcpSettings.defaults().toBuilder());
    }

    /** A builder holding these values, to change some of them. */
    public Builder toBuilder() {
        return new Builder(values.toBuilder());
    }

    public int receiveBufferBytes() {
        return values.receiveBufferBytes();
    }

    public int sendBufferBytes() {
        return values.sendBufferBytes();
    }

    public boolean delayedAck() {
        return values.delayedAck();
    }

    public ZStackCongestionControl congestionControl() {
        return ZStackCongestionControl.of(values.congestionControl());
    }

    public Duration minRto() {
        return Duration.ofNanos(values.minRtoNanos());
    }

    public Duration keepAliveIdle() {
        return Duration.ofNanos(values.keepAliveIdleNanos());
    }

    public Duration keepAliveInterval() {
        return Duration.ofNanos(values.keepAliveIntervalNanos());
    }

    public int keepAliveProbes() {
        return values.keepAliveProbes();
    }

    public int synRetries() {
        return values.synRetries();
    }

    public int maxRetransmissions() {
        return values.maxRetransmissions();
    }

    public int maxTimeWaits() {
        return values.maxTimeWaits();
    }

    public boolean synCookies() {
        return values.synCookies();
    }

    public boolean windowScaling() {
        return values.windowScaling();
    }

    public boolean timestamps() {
        return values.timestamps();
    }

    public boolean sack() {
        return values.sack();
    }

    /** The stack's settings holding these defaults. */
    TcpSettings toSettings() {
        return values;
    }

    private List<Object> all() {
        return List.of(receiveBufferBytes(), sendBufferBytes(), delayedAck(), congestionControl(), minRto(),
                keepAliveIdle(), keepAliveInterval(), keepAliveProbes(), synRetries(), maxRetransmissions(),
                maxTimeWaits(), synCookies(), windowScaling(), timestamps(), sack());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ZStackTcpDefaults d && all().equals(d.all());
    }

    @Override
    public int hashCode() {
        return all().hashCode();
    }

    @Override
    public String toString() {
        return "ZStackTcpDefaults(rcvbuf=" + receiveBufferBytes() + ", sndbuf=" + sendBufferBytes() + ", delayedAck="
                + delayedAck() + ", " + congestionControl() + ", minRto=" + minRto() + ", keepalive="
                + keepAliveIdle() + "/" + keepAliveInterval() + "x" + keepAliveProbes() + ", synRetries="
                + synRetries() + ", retries=" + maxRetransmissions() + ", maxTimeWaits=" + maxTimeWaits()
                + ", synCookies=" + synCookies() + ", wscale=" + windowScaling() + ", timestamps=" + timestamps()
                + ", sack=" + sack() + ")";
    }

    /** Starts from the stack's own defaults (Linux's), so the two cannot drift apart. */
    public static final class Builder {
        private final TcpSettings.Builder values;

        private Builder(TcpSettings.Builder values) {
            this.values = values;
        }

        /** SO_RCVBUF: bounds the advertised window and what is held for the application (default 256 KiB). */
        public Builder receiveBufferBytes(int bytes) {
            values.receiveBufferBytes(positive("receive buffer", bytes));
            return this;
        }

        /**
         * SO_SNDBUF: bytes queued, unsent plus unacknowledged, before writes wait. Set, it stays as set; by default
         * each connection starts at 256 KiB and grows it with its congestion window (up to 4 MiB), as Linux does.
         */
        public Builder sendBufferBytes(int bytes) {
            values.sendBufferBytes(positive("send buffer", bytes)).sendBufferFixed(true);
            return this;
        }

        /** Delayed ACK (RFC 9293 §3.8.6.3), on by default; off acknowledges every segment at once. */
        public Builder delayedAck(boolean on) {
            values.delayedAck(on);
            return this;
        }

        public Builder congestionControl(ZStackCongestionControl algorithm) {
            values.congestionControl(Objects.requireNonNull(algorithm, "congestion control").algorithm());
            return this;
        }

        /**
         * Lower bound of the retransmission timeout (Linux's TCP_RTO_MIN, 200 ms by default): on a path whose round
         * trip is microseconds, a timeout costs this much. At least 1 µs, at most the maximum RTO (120 s).
         */
        public Builder minRto(Duration minRto) {
            Objects.requireNonNull(minRto, "minRto");
            if (minRto.toNanos() < 1_000 || minRto.compareTo(Duration.ofNanos(MAX_RTO_NANOS)) > 0) {
                throw new IllegalArgumentException("minRto must lie between 1 us and the maximum RTO (120 s): "
                        + minRto);
            }
            values.minRtoNanos(minRto.toNanos());
            return this;
        }

        /**
         * Keepalive timing for channels with SO_KEEPALIVE on: idle time before the first probe (TCP_KEEPIDLE, 2 h),
         * time between probes (TCP_KEEPINTVL, 75 s), probes unanswered before the connection is dropped (TCP_KEEPCNT,
         * 9).
         */
        public Builder keepAlive(Duration idle, Duration interval, int probes) {
            values.keepAliveIdleNanos(positive("keepalive idle", idle).toNanos());
            values.keepAliveIntervalNanos(positive("keepalive interval", interval).toNanos());
            values.keepAliveProbes(positive("keepalive probes", probes));
            return this;
        }

        /** SYN retransmissions before a connect fails (tcp_syn_retries, 6). */
        public Builder synRetries(int retries) {
            values.synRetries(notNegative("SYN retries", retries));
            return this;
        }

        /** Retransmissions of the same data before the connection is aborted (tcp_retries2, 15). */
        public Builder maxRetransmissions(int retries) {
            values.maxRetransmissions(notNegative("retransmissions", retries));
            return this;
        }

        /**
         * TIME_WAITs a stack keeps at most (tcp_max_tw_buckets, 65536); a connection closing beyond it is gone at
         * once.
         */
        public Builder maxTimeWaits(int count) {
            values.maxTimeWaits(notNegative("TIME_WAITs", count));
            return this;
        }

        /** SYN cookies when a listener's SYN queue is full (tcp_syncookies, on). */
        public Builder synCookies(boolean on) {
            values.synCookies(on);
            return this;
        }

        /** Window scaling (RFC 7323), on. */
        public Builder windowScaling(boolean on) {
            values.windowScaling(on);
            return this;
        }

        /** Timestamps (RFC 7323), on. */
        public Builder timestamps(boolean on) {
            values.timestamps(on);
            return this;
        }

        /** Selective acknowledgements (RFC 2018), on. */
        public Builder sack(boolean on) {
            values.sack(on);
            return this;
        }

        public ZStackTcpDefaults build() {
            return new ZStackTcpDefaults(values.build());
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
