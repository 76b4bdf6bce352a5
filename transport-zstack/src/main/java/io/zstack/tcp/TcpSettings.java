package io.zstack.tcp;

import io.zstack.tcp.cc.CongestionAlgorithm;

/**
 * Per-connection TCP settings. A stack holds the defaults; each connection (and listener) gets a copy it may change
 * through socket options. Times are nanoseconds. Defaults follow Linux where RFCs leave a choice.
 */
public final class TcpSettings implements Cloneable {
    private static final long MS = 1_000_000L;
    private static final long S = 1_000_000_000L;

    /** Receive buffer: bounds the advertised window and the bytes held for the application. */
    public int receiveBufferBytes = 256 * 1024;
    /** Send buffer: bytes queued (unsent plus unacknowledged) before writes are refused. */
    public int sendBufferBytes = 256 * 1024;
    /** Out-of-order segments held at most. */
    public int reassemblySegments = 1024;

    public boolean windowScaling = true;
    public boolean timestamps = true;
    public boolean sack = true;
    /** Nagle's algorithm (RFC 9293 §3.7.4); TCP_NODELAY turns it off. */
    public boolean nagle = true;
    /** Delayed ACK (RFC 9293 §3.8.6.3); off means every segment is acknowledged at once. */
    public boolean delayedAck = true;
    public long delayedAckTimeoutNanos = 40 * MS;
    /** Segments acknowledged at once at the start of a connection (Linux's quick-ack mode). */
    public int quickAckSegments = 16;

    public CongestionAlgorithm congestionControl = CongestionAlgorithm.CUBIC;

    public long initialRtoNanos = 1 * S;
    /** Lower bound of the retransmission timeout (Linux's TCP_RTO_MIN, 200 ms; RFC 6298 §2.4 suggests 1 s). */
    public long minRtoNanos = 200 * MS;
    public long maxRtoNanos = 120 * S;
    /**
     * Proportional Rate Reduction's bound once the pipe fell below ssthresh (RFC 6937 §3): true for the Slow Start
     * Reduction Bound (one segment more than was delivered per ACK, the RFC's and Linux's choice), false for the
     * Conservative Reduction Bound (no more than was delivered).
     */
    public boolean prrSlowStartBound = true;
    /** SYN retransmissions before connect fails (Linux tcp_syn_retries). */
    public int synRetries = 6;
    /** SYN-ACK retransmissions before a half-open connection is dropped (tcp_synack_retries). */
    public int synAckRetries = 5;
    /** Retransmissions of the same data before the connection is aborted (tcp_retries2). */
    public int maxRetransmissions = 15;

    /** Maximum segment lifetime; TIME_WAIT lasts twice this. */
    public long mslNanos = 30 * S;
    /**
     * TIME_WAITs a stack keeps at most (tcp_max_tw_buckets); a connection closing beyond it acknowledges the peer's
     * FIN and is gone at once, counted as a timeWaitOverflow. Each holds about 2.5 KB of heap for 2MSL, and a server
     * closing first at 20,000 connections/s would otherwise hold 1.2 million of them.
     */
    public int maxTimeWaits = 65536;
    /** How long an orphaned connection may sit in FIN_WAIT_2 (tcp_fin_timeout). */
    public long finWait2TimeoutNanos = 60 * S;

    public boolean keepAlive;
    public long keepAliveIdleNanos = 7200 * S;
    public long keepAliveIntervalNanos = 75 * S;
    public int keepAliveProbes = 9;

    /** SO_LINGER: negative means off; 0 means close sends RST and discards unsent data. */
    public long lingerNanos = -1;

    /** Accepted connections waiting for the application (SO_BACKLOG). */
    public int acceptBacklog = 128;
    /** Half-open connections per listener before SYN cookies (or drops) begin. */
    public int synBacklog = 256;
    public boolean synCookies = true;

    /** Persist timer bounds for zero-window probes. */
    public long persistMinNanos = 200 * MS;
    public long persistMaxNanos = 60 * S;

    public TcpSettings copy() {
        try {
            return (TcpSettings) clone();
        } catch (CloneNotSupportedException e) {
            throw new AssertionError(e);
        }
    }
}
