package io.zstack.tcp;

import io.zstack.util.Counters;

/**
 * What the TCP layer counted, like {@code netstat -s}: segments, connections, and every reason a segment was
 * dropped. Plain fields, written only by the stack's thread; {@link #snapshot()} reads them for display.
 */
public final class TcpCounters extends Counters {
    // segments
    public long segmentsReceived;
    public long segmentsSent;
    /** Data segments sent as their payload's own mbuf, every header written in place in its headroom. */
    public long segmentsInPlace;
    /** Data segments sent as a header mbuf followed by the payload by reference (see SendQueue.inPlace's rule). */
    public long segmentsWithHeaderMbuf;
    /** Segments longer than the MSS handed to a device that cuts them up itself (TSO). */
    public long segmentsOffloaded;
    /**
     * Sends that would have been one TSO segment but went MSS by MSS: the device sums odd-length inner pieces wrong
     * (net_tap) and the send queue's pieces there had one.
     */
    public long tsoOddChains;
    /** Segments (sent, resent or probes) cut shorter to keep their chain within what the device takes. */
    public long chainsCut;
    /** Data segments whose payload was copied behind the header (a device that takes one mbuf per frame). */
    public long segmentsCopied;
    public long retransmittedSegments;
    public long resetsSent;
    public long resetsReceived;
    public long bytesReceivedInOrder;

    // connections
    public long activeOpens;
    public long passiveOpens;
    public long failedConnects;
    public long establishedResets;
    public long timeWaits;
    public long timeWaitReused;
    /** Connections that skipped TIME_WAIT because maxTimeWaits were held. */
    public long timeWaitOverflows;

    // drops, by reason
    public long checksumErrors;
    public long malformed;
    public long noSocket;
    public long badAcks;
    public long ackUnsent;
    public long pawsRejected;
    public long outOfWindow;
    public long resetsIgnored;
    public long noAck;
    public long dataAfterFin;
    /** Connections reset because data arrived after the application closed them (Linux's TCPAbortOnData). */
    public long abortOnData;
    public long beyondWindow;
    public long duplicateSegments;
    public long reassemblyDrops;
    /** Data dropped because the pool ran low or the connection held too many (small) segments; sent again. */
    public long receiveMemoryDrops;
    public long listenOverflows;
    public long synBacklogDrops;
    public long noMbufs;
    /** Retransmission timeouts whose resend could not leave the host (no mbuf): retried without backoff. */
    public long timeoutResendsFailed;

    // defences and recovery
    public long challengeAcks;
    /**
     * ACKs not sent in answer to unacceptable segments without data (out of the window, PAWS, RFC 5961 challenges, an
     * ACK of unsent data): one per connection per {@link TcpReceiver#INVALID_ACK_INTERVAL_NANOS} at most.
     */
    public long invalidAcksSuppressed;
    public long synCookiesSent;
    public long synCookiesAccepted;
    public long synCookiesRejected;
    public long outOfOrderSegments;
    public long duplicateAcks;
    public long fastRetransmits;
    public long timeouts;
    /**
     * Tail loss probes sent (RFC 8985 §7), and those that worked: their ACK started a fast recovery, or showed that
     * the probe itself repaired the loss (§7.4.2).
     */
    public long tailLossProbes;
    public long tailLossProbeRecoveries;
    /** Of the probes, those sent in fast recovery after its ACKs stopped (TcpSender#scheduleProbe). */
    public long recoveryProbes;
    /** Segments RACK deemed lost by time (RFC 8985 §6.2), and expiries of its reordering timer. */
    public long rackLosses;
    public long rackReorderTimeouts;
    /** D-SACK blocks received from peers and sent to them (RFC 2883). */
    public long dsacksReceived;
    public long dsacksSent;
    /** ACKs the delayed-ACK timer sent (nothing else had acknowledged the data by then). */
    public long delayedAcksSent;
    /** Retransmission timeouts F-RTO (RFC 5682) found spurious: segments sent once before it were acknowledged. */
    public long spuriousTimeouts;
    /** Window reductions undone: D-SACKs or timestamps (Eifel) showed every retransmission needless. */
    public long recoveriesUndone;
    /** Segments sent in fast recovery under Proportional Rate Reduction (RFC 6937). */
    public long prrSegments;
    /** Times the pacer held a segment until its departure time (a congestion control that paces: BBR). */
    public long pacingWaits;
    public long windowProbes;
    /** Segments sent into a window too small for sender SWS avoidance once the persist timer ran out (RFC 9293). */
    public long windowOverrides;
    public long keepAliveProbes;
    public long keepAliveTimeouts;
    /** ICMP errors that matched a connection, and those that did not (stale or forged). */
    public long icmpReceived;
    public long icmpIgnored;

    public TcpCounters() {
        super("tcp");
    }
}
