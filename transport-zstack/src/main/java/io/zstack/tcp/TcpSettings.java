package io.zstack.tcp;

import io.zstack.tcp.cc.CongestionAlgorithm;
import java.util.Objects;

/**
 * TCP settings of a stack, a listener or one connection: an immutable value, so a stack's defaults, a listener's and
 * a connection's can be handed around without copying and no thread sees one half changed. A change is a new value
 * ({@code settings.toBuilder().nagle(false).build()}) that the owner installs
 * ({@link TcpConnection#settings(TcpSettings)} applies from the connection's next segment). Times are nanoseconds.
 * Defaults follow Linux where RFCs leave a choice.
 */
public final class TcpSettings {
    private static final long MS = 1_000_000L;
    private static final long S = 1_000_000_000L;
    private static final TcpSettings DEFAULTS = new Builder().build();

    private final int receiveBufferBytes;
    private final int sendBufferBytes;
    private final boolean sendBufferFixed;
    private final int reassemblySegments;
    private final boolean windowScaling;
    private final boolean timestamps;
    private final boolean sack;
    private final boolean nagle;
    private final boolean delayedAck;
    private final long delayedAckTimeoutNanos;
    private final int quickAckSegments;
    private final CongestionAlgorithm congestionControl;
    private final long initialRtoNanos;
    private final long minRtoNanos;
    private final long maxRtoNanos;
    private final boolean prrSlowStartBound;
    private final int synRetries;
    private final int synAckRetries;
    private final int maxRetransmissions;
    private final long mslNanos;
    private final int maxTimeWaits;
    private final long finWait2TimeoutNanos;
    private final boolean keepAlive;
    private final long keepAliveIdleNanos;
    private final long keepAliveIntervalNanos;
    private final int keepAliveProbes;
    private final long lingerNanos;
    private final int acceptBacklog;
    private final int synBacklog;
    private final boolean synCookies;
    private final long persistMinNanos;
    private final long persistMaxNanos;

    private TcpSettings(Builder b) {
        this.receiveBufferBytes = b.receiveBufferBytes;
        this.sendBufferBytes = b.sendBufferBytes;
        this.sendBufferFixed = b.sendBufferFixed;
        this.reassemblySegments = b.reassemblySegments;
        this.windowScaling = b.windowScaling;
        this.timestamps = b.timestamps;
        this.sack = b.sack;
        this.nagle = b.nagle;
        this.delayedAck = b.delayedAck;
        this.delayedAckTimeoutNanos = b.delayedAckTimeoutNanos;
        this.quickAckSegments = b.quickAckSegments;
        this.congestionControl = b.congestionControl;
        this.initialRtoNanos = b.initialRtoNanos;
        this.minRtoNanos = b.minRtoNanos;
        this.maxRtoNanos = b.maxRtoNanos;
        this.prrSlowStartBound = b.prrSlowStartBound;
        this.synRetries = b.synRetries;
        this.synAckRetries = b.synAckRetries;
        this.maxRetransmissions = b.maxRetransmissions;
        this.mslNanos = b.mslNanos;
        this.maxTimeWaits = b.maxTimeWaits;
        this.finWait2TimeoutNanos = b.finWait2TimeoutNanos;
        this.keepAlive = b.keepAlive;
        this.keepAliveIdleNanos = b.keepAliveIdleNanos;
        this.keepAliveIntervalNanos = b.keepAliveIntervalNanos;
        this.keepAliveProbes = b.keepAliveProbes;
        this.lingerNanos = b.lingerNanos;
        this.acceptBacklog = b.acceptBacklog;
        this.synBacklog = b.synBacklog;
        this.synCookies = b.synCookies;
        this.persistMinNanos = b.persistMinNanos;
        this.persistMaxNanos = b.persistMaxNanos;
    }

    /** Linux's defaults (see each accessor). */
    public static TcpSettings defaults() {
        return DEFAULTS;
    }

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these settings, for a changed copy. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Receive buffer: bounds the advertised window and the bytes held for the application. */
    public int receiveBufferBytes() {
        return receiveBufferBytes;
    }

    /**
     * Send buffer: bytes queued (unsent plus unacknowledged) before writes are refused. A connection grows it with its
     * congestion window unless it was set ({@link #sendBufferFixed}), as Linux grows a socket's unless SO_SNDBUF was.
     */
    public int sendBufferBytes() {
        return sendBufferBytes;
    }

    /**
     * True when connections keep {@link #sendBufferBytes} as it is, never larger: the application set it (SO_SNDBUF,
     * {@code ZStackTcpDefaults}), as Linux stops growing a socket's buffer once SO_SNDBUF was set on it.
     */
    public boolean sendBufferFixed() {
        return sendBufferFixed;
    }

    /** Out-of-order segments held at most. */
    public int reassemblySegments() {
        return reassemblySegments;
    }

    /** Window scaling (RFC 7323 §2) offered in our SYN and accepted in a peer's. */
    public boolean windowScaling() {
        return windowScaling;
    }

    /** Timestamps (RFC 7323 §3) offered and accepted. */
    public boolean timestamps() {
        return timestamps;
    }

    /** Selective acknowledgements (RFC 2018) offered and accepted. */
    public boolean sack() {
        return sack;
    }

    /** Nagle's algorithm (RFC 9293 §3.7.4); TCP_NODELAY turns it off. */
    public boolean nagle() {
        return nagle;
    }

    /** Delayed ACK (RFC 9293 §3.8.6.3); off means every segment is acknowledged at once. */
    public boolean delayedAck() {
        return delayedAck;
    }

    /** How long an ACK may be delayed. */
    public long delayedAckTimeoutNanos() {
        return delayedAckTimeoutNanos;
    }

    /** Segments acknowledged at once at the start of a connection (Linux's quick-ack mode). */
    public int quickAckSegments() {
        return quickAckSegments;
    }

    /** The congestion control each new connection creates. */
    public CongestionAlgorithm congestionControl() {
        return congestionControl;
    }

    /** Retransmission timeout before the first RTT sample (RFC 6298 §2.1). */
    public long initialRtoNanos() {
        return initialRtoNanos;
    }

    /** Lower bound of the retransmission timeout (Linux's TCP_RTO_MIN, 200 ms; RFC 6298 §2.4 suggests 1 s). */
    public long minRtoNanos() {
        return minRtoNanos;
    }

    /** Upper bound of the retransmission timeout, backoff included. */
    public long maxRtoNanos() {
        return maxRtoNanos;
    }

    /**
     * Proportional Rate Reduction's bound once the pipe fell below ssthresh (RFC 6937 §3): true for the Slow Start
     * Reduction Bound (one segment more than was delivered per ACK, the RFC's and Linux's choice), false for the
     * Conservative Reduction Bound (no more than was delivered).
     */
    public boolean prrSlowStartBound() {
        return prrSlowStartBound;
    }

    /** SYN retransmissions before connect fails (Linux tcp_syn_retries). */
    public int synRetries() {
        return synRetries;
    }

    /** SYN-ACK retransmissions before a half-open connection is dropped (tcp_synack_retries). */
    public int synAckRetries() {
        return synAckRetries;
    }

    /** Retransmissions of the same data before the connection is aborted (tcp_retries2). */
    public int maxRetransmissions() {
        return maxRetransmissions;
    }

    /** Maximum segment lifetime; TIME_WAIT lasts twice this. */
    public long mslNanos() {
        return mslNanos;
    }

    /**
     * TIME_WAITs a stack keeps at most (tcp_max_tw_buckets); a connection closing beyond it acknowledges the peer's
     * FIN and is gone at once, counted as a timeWaitOverflow. Each holds about 2.5 KB of heap for 2MSL, and a server
     * closing first at 20,000 connections/s would otherwise hold 1.2 million of them.
     */
    public int maxTimeWaits() {
        return maxTimeWaits;
    }

    /** How long an orphaned connection may sit in FIN_WAIT_2 (tcp_fin_timeout). */
    public long finWait2TimeoutNanos() {
        return finWait2TimeoutNanos;
    }

    /** SO_KEEPALIVE: probe an idle connection and abort it when the probes go unanswered. */
    public boolean keepAlive() {
        return keepAlive;
    }

    /** Idle time before the first keepalive probe (TCP_KEEPIDLE). */
    public long keepAliveIdleNanos() {
        return keepAliveIdleNanos;
    }

    /** Time between keepalive probes (TCP_KEEPINTVL). */
    public long keepAliveIntervalNanos() {
        return keepAliveIntervalNanos;
    }

    /** Unanswered keepalive probes before the connection is aborted (TCP_KEEPCNT). */
    public int keepAliveProbes() {
        return keepAliveProbes;
    }

    /** SO_LINGER: negative means off; 0 means close sends RST and discards unsent data. */
    public long lingerNanos() {
        return lingerNanos;
    }

    /** Accepted connections waiting for the application (SO_BACKLOG). */
    public int acceptBacklog() {
        return acceptBacklog;
    }

    /** Half-open connections per listener before SYN cookies (or drops) begin. */
    public int synBacklog() {
        return synBacklog;
    }

    /** SYN cookies (RFC 4987 §3.6) once the SYN backlog is full; off: such SYNs are dropped. */
    public boolean synCookies() {
        return synCookies;
    }

    /** Lower bound of the persist timer for zero-window probes. */
    public long persistMinNanos() {
        return persistMinNanos;
    }

    /** Upper bound of the persist timer for zero-window probes. */
    public long persistMaxNanos() {
        return persistMaxNanos;
    }

    /** Builds {@link TcpSettings}; every setting starts at its default (or at the value it is copied from). */
    public static final class Builder {
        private int receiveBufferBytes = 256 * 1024;
        private int sendBufferBytes = 256 * 1024;
        private boolean sendBufferFixed;
        private int reassemblySegments = 1024;
        private boolean windowScaling = true;
        private boolean timestamps = true;
        private boolean sack = true;
        private boolean nagle = true;
        private boolean delayedAck = true;
        private long delayedAckTimeoutNanos = 40 * MS;
        private int quickAckSegments = 16;
        private CongestionAlgorithm congestionControl = CongestionAlgorithm.CUBIC;
        private long initialRtoNanos = 1 * S;
        private long minRtoNanos = 200 * MS;
        private long maxRtoNanos = 120 * S;
        private boolean prrSlowStartBound = true;
        private int synRetries = 6;
        private int synAckRetries = 5;
        private int maxRetransmissions = 15;
        private long mslNanos = 30 * S;
        private int maxTimeWaits = 65536;
        private long finWait2TimeoutNanos = 60 * S;
        private boolean keepAlive = false;
        private long keepAliveIdleNanos = 7200 * S;
        private long keepAliveIntervalNanos = 75 * S;
        private int keepAliveProbes = 9;
        private long lingerNanos = -1;
        private int acceptBacklog = 128;
        private int synBacklog = 256;
        private boolean synCookies = true;
        private long persistMinNanos = 200 * MS;
        private long persistMaxNanos = 60 * S;

        private Builder() {
        }

        private Builder(TcpSettings s) {
            this.receiveBufferBytes = s.receiveBufferBytes;
            this.sendBufferBytes = s.sendBufferBytes;
            this.sendBufferFixed = s.sendBufferFixed;
            this.reassemblySegments = s.reassemblySegments;
            this.windowScaling = s.windowScaling;
            this.timestamps = s.timestamps;
            this.sack = s.sack;
            this.nagle = s.nagle;
            this.delayedAck = s.delayedAck;
            this.delayedAckTimeoutNanos = s.delayedAckTimeoutNanos;
            this.quickAckSegments = s.quickAckSegments;
            this.congestionControl = s.congestionControl;
            this.initialRtoNanos = s.initialRtoNanos;
            this.minRtoNanos = s.minRtoNanos;
            this.maxRtoNanos = s.maxRtoNanos;
            this.prrSlowStartBound = s.prrSlowStartBound;
            this.synRetries = s.synRetries;
            this.synAckRetries = s.synAckRetries;
            this.maxRetransmissions = s.maxRetransmissions;
            this.mslNanos = s.mslNanos;
            this.maxTimeWaits = s.maxTimeWaits;
            this.finWait2TimeoutNanos = s.finWait2TimeoutNanos;
            this.keepAlive = s.keepAlive;
            this.keepAliveIdleNanos = s.keepAliveIdleNanos;
            this.keepAliveIntervalNanos = s.keepAliveIntervalNanos;
            this.keepAliveProbes = s.keepAliveProbes;
            this.lingerNanos = s.lingerNanos;
            this.acceptBacklog = s.acceptBacklog;
            this.synBacklog = s.synBacklog;
            this.synCookies = s.synCookies;
            this.persistMinNanos = s.persistMinNanos;
            this.persistMaxNanos = s.persistMaxNanos;
        }

        /** @see TcpSettings#receiveBufferBytes() */
        public Builder receiveBufferBytes(int receiveBufferBytes) {
            if (receiveBufferBytes <= 0) {
                throw new IllegalArgumentException("receiveBufferBytes must be positive: " + receiveBufferBytes);
            }
            this.receiveBufferBytes = receiveBufferBytes;
            return this;
        }

        /** @see TcpSettings#sendBufferBytes() */
        public Builder sendBufferBytes(int sendBufferBytes) {
            if (sendBufferBytes <= 0) {
                throw new IllegalArgumentException("sendBufferBytes must be positive: " + sendBufferBytes);
            }
            this.sendBufferBytes = sendBufferBytes;
            return this;
        }

        /** @see TcpSettings#sendBufferFixed() */
        public Builder sendBufferFixed(boolean sendBufferFixed) {
            this.sendBufferFixed = sendBufferFixed;
            return this;
        }

        /** @see TcpSettings#reassemblySegments() */
        public Builder reassemblySegments(int reassemblySegments) {
            this.reassemblySegments = reassemblySegments;
            return this;
        }

        /** @see TcpSettings#windowScaling() */
        public Builder windowScaling(boolean windowScaling) {
            this.windowScaling = windowScaling;
            return this;
        }

        /** @see TcpSettings#timestamps() */
        public Builder timestamps(boolean timestamps) {
            this.timestamps = timestamps;
            return this;
        }

        /** @see TcpSettings#sack() */
        public Builder sack(boolean sack) {
            this.sack = sack;
            return this;
        }

        /** @see TcpSettings#nagle() */
        public Builder nagle(boolean nagle) {
            this.nagle = nagle;
            return this;
        }

        /** @see TcpSettings#delayedAck() */
        public Builder delayedAck(boolean delayedAck) {
            this.delayedAck = delayedAck;
            return this;
        }

        /** @see TcpSettings#delayedAckTimeoutNanos() */
        public Builder delayedAckTimeoutNanos(long delayedAckTimeoutNanos) {
            this.delayedAckTimeoutNanos = delayedAckTimeoutNanos;
            return this;
        }

        /** @see TcpSettings#quickAckSegments() */
        public Builder quickAckSegments(int quickAckSegments) {
            this.quickAckSegments = quickAckSegments;
            return this;
        }

        /** @see TcpSettings#congestionControl() */
        public Builder congestionControl(CongestionAlgorithm congestionControl) {
            this.congestionControl = Objects.requireNonNull(congestionControl, "congestionControl");
            return this;
        }

        /** @see TcpSettings#initialRtoNanos() */
        public Builder initialRtoNanos(long initialRtoNanos) {
            this.initialRtoNanos = initialRtoNanos;
            return this;
        }

        /** @see TcpSettings#minRtoNanos() */
        public Builder minRtoNanos(long minRtoNanos) {
            this.minRtoNanos = minRtoNanos;
            return this;
        }

        /** @see TcpSettings#maxRtoNanos() */
        public Builder maxRtoNanos(long maxRtoNanos) {
            this.maxRtoNanos = maxRtoNanos;
            return this;
        }

        /** @see TcpSettings#prrSlowStartBound() */
        public Builder prrSlowStartBound(boolean prrSlowStartBound) {
            this.prrSlowStartBound = prrSlowStartBound;
            return this;
        }

        /** @see TcpSettings#synRetries() */
        public Builder synRetries(int synRetries) {
            this.synRetries = synRetries;
            return this;
        }

        /** @see TcpSettings#synAckRetries() */
        public Builder synAckRetries(int synAckRetries) {
            this.synAckRetries = synAckRetries;
            return this;
        }

        /** @see TcpSettings#maxRetransmissions() */
        public Builder maxRetransmissions(int maxRetransmissions) {
            this.maxRetransmissions = maxRetransmissions;
            return this;
        }

        /** @see TcpSettings#mslNanos() */
        public Builder mslNanos(long mslNanos) {
            this.mslNanos = mslNanos;
            return this;
        }

        /** @see TcpSettings#maxTimeWaits() */
        public Builder maxTimeWaits(int maxTimeWaits) {
            this.maxTimeWaits = maxTimeWaits;
            return this;
        }

        /** @see TcpSettings#finWait2TimeoutNanos() */
        public Builder finWait2TimeoutNanos(long finWait2TimeoutNanos) {
            this.finWait2TimeoutNanos = finWait2TimeoutNanos;
            return this;
        }

        /** @see TcpSettings#keepAlive() */
        public Builder keepAlive(boolean keepAlive) {
            this.keepAlive = keepAlive;
            return this;
        }

        /** @see TcpSettings#keepAliveIdleNanos() */
        public Builder keepAliveIdleNanos(long keepAliveIdleNanos) {
            this.keepAliveIdleNanos = keepAliveIdleNanos;
            return this;
        }

        /** @see TcpSettings#keepAliveIntervalNanos() */
        public Builder keepAliveIntervalNanos(long keepAliveIntervalNanos) {
            this.keepAliveIntervalNanos = keepAliveIntervalNanos;
            return this;
        }

        /** @see TcpSettings#keepAliveProbes() */
        public Builder keepAliveProbes(int keepAliveProbes) {
            this.keepAliveProbes = keepAliveProbes;
            return this;
        }

        /** @see TcpSettings#lingerNanos() */
        public Builder lingerNanos(long lingerNanos) {
            this.lingerNanos = lingerNanos;
            return this;
        }

        /** @see TcpSettings#acceptBacklog() */
        public Builder acceptBacklog(int acceptBacklog) {
            this.acceptBacklog = acceptBacklog;
            return this;
        }

        /** @see TcpSettings#synBacklog() */
        public Builder synBacklog(int synBacklog) {
            this.synBacklog = synBacklog;
            return this;
        }

        /** @see TcpSettings#synCookies() */
        public Builder synCookies(boolean synCookies) {
            this.synCookies = synCookies;
            return this;
        }

        /** @see TcpSettings#persistMinNanos() */
        public Builder persistMinNanos(long persistMinNanos) {
            this.persistMinNanos = persistMinNanos;
            return this;
        }

        /** @see TcpSettings#persistMaxNanos() */
        public Builder persistMaxNanos(long persistMaxNanos) {
            this.persistMaxNanos = persistMaxNanos;
            return this;
        }

        public TcpSettings build() {
            return new TcpSettings(this);
        }
    }
}
