package io.zstack.tcp;

import io.zstack.buffer.MbufPool;
import io.zstack.tcp.cc.CongestionAlgorithm;
import io.zstack.tcp.cc.CongestionControl;
import io.zstack.wire.Ipv4Packet;

/**
 * One TCP connection: the transmission control block of RFC 9293 and its event processing, with explicit time.
 *
 * <p>Input follows RFC 9293 §3.10.7 step by step, with RFC 5961's defences (challenge ACKs for in-window RST and
 * SYN, ACK range check), RFC 7323's PAWS and timestamps, and RFC 2018 SACK with RFC 2883 D-SACK. Output sends
 * what the windows allow, with Nagle, receiver and sender silly-window avoidance, delayed ACKs, zero-window probes and
 * keepalives. Loss recovery: with SACK, RACK-TLP (RFC 8985: {@link Rack} over the per-segment {@link SentSegments})
 * detects losses by time and probes tail losses, fast recovery sends under Proportional Rate Reduction (RFC 6937),
 * and a reduction that D-SACKs or timestamps show needless is undone (RFC 3522 / RFC 4015, as Linux does); without
 * SACK, RFC 5681 fast retransmit with RFC 6582 NewReno and limited transmit (RFC 3042). The retransmission timer
 * (RFC 6298, minimum {@link TcpSettings#minRtoNanos}) is the last resort.
 *
 * <p>Payload moves by mbuf reference only: received segments go to the {@link ReceiveQueue} as the mbufs they
 * arrived in; data written goes to the {@link SendQueue} and leaves as indirect views of those mbufs.
 *
 * <p>Single-threaded: every method runs on the stack's thread.
 */
public final class TcpConnection {
    /** Events for the layer above (the Netty channel). */
    public interface Handler {
        /** The handshake finished (active open); for passive opens the listener's accept queue says so. */
        default void onConnected(TcpConnection c) {
        }

        /** Data or the peer's FIN can be read. */
        default void onReadable(TcpConnection c) {
        }

        /** Send buffer space became free. */
        default void onWritable(TcpConnection c) {
        }

        /** The connection is gone: {@code error} is null after an orderly close. Called once. */
        default void onClosed(TcpConnection c, TcpError error) {
        }
    }

    private static final Handler NO_HANDLER = new Handler() {
    };

    final TcpLayer layer;
    final MbufPool pool;
    final TcpSettings settings;
    final int localAddress;
    final int localPort;
    final int remoteAddress;
    final int remotePort;
    /** The listener that created us (passive open) until the application accepts us; null otherwise. */
    TcpListener listener;
    private Handler handler = NO_HANDLER;

    TcpState state = TcpState.CLOSED;

    // ---- send sequence space (RFC 9293 §3.3.1)
    int iss;
    int sndUna;
    int sndNxt;
    /** Highest sequence number sent + 1 (SND.NXT may go back on timeout; this does not). */
    int sndMax;
    int sndWnd;
    int sndWl1;
    int sndWl2;
    int maxSndWnd;
    int sndWindowShift;
    /** MSS we may send (peer's MSS option, clamped by our MTU). */
    int sendMss;
    /** MSS we announce (our MTU less headers). */
    int receiveMss;

    // ---- receive sequence space
    int irs;
    int rcvNxt;
    int rcvWindowShift;
    /** Right edge we last advertised: never moved left (RFC 9293 §3.8.6.2.2). */
    int rcvAdvertisedEdge;

    // ---- options in force
    /** Both sides sent the window-scale option (RFC 7323 §2.2); until the handshake ends, what our SYN offers. */
    boolean windowScalingOn;
    boolean timestampsOn;
    boolean sackOn;
    int tsRecent;
    long tsRecentAtNanos;
    /** Clock base for our TSval: milliseconds since the connection started, offset by a random value. */
    private long tsOffsetMillis;

    // ---- queues
    final SendQueue sendQueue;
    final ReceiveQueue receiveQueue;
    final ReassemblyQueue reassembly;
    /** Stream offset of RCV.NXT (bytes delivered in order so far). */
    long receiveOffset;
    /** FIN seen beyond a hole: its stream offset, or -1. */
    long pendingFinOffset = -1;
    boolean finReceived;
    /** The application asked to send FIN after the queued data. */
    boolean finQueued;
    /** Sequence number of our FIN, fixed when it is queued (no data may follow it). */
    int finSeq;
    boolean finAcked;
    /** The application closed the socket entirely (no more reads). */
    boolean closedByApplication;

    // ---- retransmission, congestion
    final RttEstimator rtt;
    CongestionControl congestion;
    /** Which algorithm {@link #congestion} is, and whether the setting asks for another (congestionControlChanged). */
    private CongestionAlgorithm congestionAlgorithm;
    private boolean congestionChangePending;
    int dupAcks;
    boolean inRecovery;
    int recoveryPoint;
    /** Highest sequence retransmitted during the current recovery. */
    int highRetransmitted;
    int retransmitCount;
    /** RTT timing without timestamps (Karn): the sequence being timed and when it left, or timing off. */
    boolean rttTiming;
    int rttTimedSeq;
    long rttTimedAtNanos;
    /** Every segment in flight with its transmit time and SACKed / lost / retransmitted marks. */
    final SentSegments sent = new SentSegments();
    /** RACK-TLP loss detection (RFC 8985), used whenever the peer SACKs. */
    final Rack rack = new Rack();
    /** After a retransmission timeout with SACK: lost segments go again as cwnd allows, until the recovery point. */
    boolean lossRecovery;
    /** Proportional Rate Reduction (RFC 6937): what fast recovery may send. */
    final ProportionalRateReduction prr = new ProportionalRateReduction();
    /** Releases segments at the congestion control's pacing rate, if it has one. */
    final Pacer pacer = new Pacer();
    /** Undoing a needless reduction (RFC 2883 D-SACK, RFC 3522 / RFC 4015 Eifel, as Linux undoes). */
    final UndoEpisode undoEpisode = new UndoEpisode();
    // ---- tail loss probe (its deadline and the reordering one are in timers)
    /** Start of the tail loss probe's range, for the D-SACK that says it was needless. */
    int probeSeq;
    /** An ACK or new data since the PTO was last set: set it again (RFC 8985 §7.2). */
    boolean probeRearm;
    // ---- this connection's recovery counts (the stack's TcpCounters sum them)
    long probesSent;
    long probeRecoveries;
    long rackLosses;
    long dsacksReceived;
    long undos;
    long prrSegments;
    /** The SACK blocks our ACKs carry: a D-SACK owed, the latest out-of-order range. */
    final SackReport sackReport = new SackReport();

    // ---- ACK policy
    int segmentsUnacked;
    int quickAcksLeft;
    boolean ackNow;

    // ---- timers: every deadline and the one wheel entry at the earliest
    final ConnectionTimers timers;
    int persistBackoff;
    int keepAliveProbesSent;
    long lastReceiveNanos;
    long lastSendNanos;

    boolean closedNotified;
    TcpError error;
    /** An ICMP error seen while connecting: the reason given if the connect times out (RFC 5461). */
    TcpError softError;

    TcpConnection(TcpLayer layer, TcpSettings settings, int localAddress, int localPort, int remoteAddress,
                  int remotePort) {
        this.layer = layer;
        this.pool = layer.pool();
        this.settings = settings;
        this.localAddress = localAddress;
        this.localPort = localPort;
        this.remoteAddress = remoteAddress;
        this.remotePort = remotePort;
        this.sendQueue = new SendQueue(pool);
        this.receiveQueue = new ReceiveQueue(pool);
        this.reassembly = new ReassemblyQueue(pool, settings.reassemblySegments);
        this.rtt = new RttEstimator(settings.initialRtoNanos, settings.minRtoNanos, settings.maxRtoNanos, 1_000_000L);
        this.congestionAlgorithm = settings.congestionControl;
        this.congestion = congestionAlgorithm.create();
        this.timers = new ConnectionTimers(this, layer.timers());
        this.quickAcksLeft = settings.quickAckSegments;
    }

    // ======================================================================================== public API

    /** Whether events still go to a handler (tests: a TIME_WAIT lets go of its channel). */
    boolean hasHandler() {
        return handler != NO_HANDLER;
    }

    public TcpState state() {
        return state;
    }

    public int localAddress() {
        return localAddress;
    }

    public int localPort() {
        return localPort;
    }

    public int remoteAddress() {
        return remoteAddress;
    }

    public int remotePort() {
        return remotePort;
    }

    public TcpSettings settings() {
        return settings;
    }

    public void handler(Handler h) {
        this.handler = h == null ? NO_HANDLER : h;
    }

    /** The error that ended the connection, or null. */
    public TcpError error() {
        return error;
    }

    /** True once the peer's FIN has been received and every byte before it delivered to the receive queue. */
    public boolean isInputShutdown() {
        return finReceived;
    }

    public boolean isOutputShutdown() {
        return finQueued;
    }

    public boolean isOpen() {
        return state != TcpState.CLOSED && state != TcpState.TIME_WAIT;
    }

    public boolean isActive() {
        return state == TcpState.ESTABLISHED || state == TcpState.CLOSE_WAIT || state == TcpState.FIN_WAIT_1
                || state == TcpState.FIN_WAIT_2;
    }

    /** Bytes that can be written before the send buffer is full. */
    public long sendSpace() {
        // bytes, and what their mbufs pin: many tiny pieces must not take the whole pool (SendQueue.charge)
        return Math.max(0, settings.sendBufferBytes - Math.max(sendQueue.size(), sendQueue.memory()));
    }

    /** Bytes queued to send and not yet acknowledged. */
    public long sendQueued() {
        return sendQueue.size();
    }

    /** Payload bytes a full segment carries to this peer now (the MSS less the timestamp option). */
    public int sendMss() {
        return sendMss;
    }

    /** Bytes received in order and not yet read. */
    public long readable() {
        return receiveQueue.bytes();
    }

    /**
     * Queues an mbuf chain for sending, taking ownership. Refused (returns false, ownership stays with the caller)
     * when the connection cannot send or the send buffer is full.
     */
    public boolean write(long chain, long nowNanos) {
        if (!queue(chain)) {
            return false;
        }
        output(nowNanos);
        return true;
    }

    /**
     * Queues a chain as {@link #write} does but sends nothing yet: several buffers queued and then {@link #push}ed go
     * out in as few segments as the MSS allows, as writev(2) of them would.
     */
    public boolean queue(long chain) {
        if (!state.canSend() || finQueued || state == TcpState.SYN_SENT || state == TcpState.SYN_RECEIVED
                || sendSpace() <= 0) {
            return false;
        }
        sendQueue.append(chain);
        return true;
    }

    /**
     * Room at the end of the send queue's last mbuf that a copied write may fill before taking new mbufs, so small
     * writes share mbufs as Linux appends them to its tail skb; 0 when there is none, or the connection cannot
     * queue. Fill it at {@link #sendTailAddress()} and report it with {@link #sendTailFilled}.
     */
    public int sendTailRoom() {
        if (!state.canSend() || finQueued || state == TcpState.SYN_SENT || state == TcpState.SYN_RECEIVED) {
            return 0;
        }
        return sendQueue.tailRoom(sendMss);
    }

    /** Address of {@link #sendTailRoom()}. */
    public long sendTailAddress() {
        return sendQueue.tailAddress();
    }

    /** Queues {@code n} bytes just written at {@link #sendTailAddress()}. */
    public void sendTailFilled(int n) {
        sendQueue.extendTail(n);
    }

    /** Sends what {@link #queue} left waiting, as the windows allow. */
    public void push(long nowNanos) {
        output(nowNanos);
    }

    /**
     * Takes the next received chain (payload only; the caller owns and frees it), or 0 when nothing is waiting.
     * Reading opens the receive window; a window update goes out when it grew enough.
     */
    public long read(long nowNanos) {
        long chain = receiveQueue.poll();
        if (chain != 0 && windowUpdateWorthSending()) {
            ackNow = true;
            output(nowNanos);
        }
        return chain;
    }

    /** Sends FIN after the queued data (half-close); reading goes on. */
    public void shutdownOutput(long nowNanos) {
        if (finQueued) {
            return;
        }
        switch (state) {
            case SYN_SENT -> {
                destroy(null);
                return;
            }
            case SYN_RECEIVED, ESTABLISHED -> state = TcpState.FIN_WAIT_1;
            case CLOSE_WAIT -> state = TcpState.LAST_ACK;
            default -> {
                return;
            }
        }
        finSeq = sequenceOf(sendQueue.end());
        finQueued = true;
        output(nowNanos);
    }

    /**
     * Closes the connection as close(2) does: with unread data or SO_LINGER 0 it resets at once; otherwise it sends
     * FIN after the queued data and lingers in the background.
     */
    public void close(long nowNanos) {
        closedByApplication = true;
        if (state == TcpState.CLOSED) {
            receiveQueue.clear(); // what a reset connection left unread
            return;
        }
        if (state == TcpState.TIME_WAIT) {
            receiveQueue.clear();
            return;
        }
        if (state == TcpState.LISTEN || state == TcpState.SYN_SENT) {
            destroy(null);
            return;
        }
        if (!receiveQueue.isEmpty() || settings.lingerNanos == 0) {
            // RFC 2525 §2.17: data the application will never read means the peer must learn it was lost
            abort(nowNanos);
            return;
        }
        reassembly.clear();
        shutdownOutput(nowNanos);
        if (settings.lingerNanos > 0) {
            timers.closeDeadline = nowNanos + settings.lingerNanos;
            timers.arm();
        }
    }

    /** Sends RST and discards everything (SO_LINGER 0, or the stack shutting down). */
    public void abort(long nowNanos) {
        closedByApplication = true;
        receiveQueue.clear();
        if (state.isSynchronized() && state != TcpState.TIME_WAIT) {
            layer.sendReset(this, sndNxt, 0, false);
        }
        destroy(TcpError.ABORTED);
    }

    // ======================================================================================== opening

    /** Active open: sends SYN (RFC 9293 §3.10.1). */
    void connect(long nowNanos) {
        iss = layer.isn(localAddress, localPort, remoteAddress, remotePort, nowNanos);
        sndUna = iss;
        sndNxt = iss;
        sndMax = iss;
        recoveryPoint = iss;
        receiveMss = layer.mssFor(remoteAddress);
        sendMss = 536; // RFC 9293 default until the peer says otherwise
        tsOffsetMillis = timestampOffset();
        // what our SYN offers; the peer's SYN-ACK decides what is used
        windowScalingOn = settings.windowScaling;
        rcvWindowShift = settings.windowScaling ? windowShiftFor(settings.receiveBufferBytes) : 0;
        sackOn = settings.sack;
        timestampsOn = settings.timestamps;
        state = TcpState.SYN_SENT;
        lastReceiveNanos = nowNanos;
        sendSyn(nowNanos, false);
    }

    /** Passive open: a SYN reached a listener (already checked); answer SYN-ACK (RFC 9293 §3.10.7.2). */
    void acceptSyn(InboundSegment seg, long nowNanos) {
        irs = seg.seq;
        rcvNxt = seg.seq + 1;
        rcvAdvertisedEdge = rcvNxt; // nothing advertised yet: the edge must not be left at 0
        iss = layer.isn(localAddress, localPort, remoteAddress, remotePort, nowNanos);
        sndUna = iss;
        sndNxt = iss;
        sndMax = iss;
        recoveryPoint = iss;
        receiveMss = layer.mssFor(remoteAddress);
        tsOffsetMillis = timestampOffset();
        takeSynOptions(seg, nowNanos);
        sndWnd = seg.window; // never scaled in a SYN (RFC 7323 §2.2)
        maxSndWnd = sndWnd;
        sndWl1 = seg.seq;
        sndWl2 = iss;
        state = TcpState.SYN_RECEIVED;
        lastReceiveNanos = nowNanos;
        sendSyn(nowNanos, true);
    }

    /** A connection rebuilt from a valid SYN cookie: straight to ESTABLISHED with what the cookie kept. */
    void acceptCookie(InboundSegment seg, int cookieIss, int peerMss, long nowNanos) {
        irs = seg.seq - 1;
        rcvNxt = seg.seq;
        rcvAdvertisedEdge = rcvNxt;
        iss = cookieIss;
        sndUna = seg.ack;
        sndNxt = seg.ack;
        sndMax = seg.ack;
        recoveryPoint = seg.ack;
        receiveMss = layer.mssFor(remoteAddress);
        sendMss = Math.min(peerMss, receiveMss);
        tsOffsetMillis = timestampOffset();
        // the cookie keeps no window scale, SACK or timestamps: the connection runs without them (documented)
        sndWnd = seg.window;
        maxSndWnd = sndWnd;
        sndWl1 = seg.seq;
        sndWl2 = seg.ack;
        congestion.init(sendMss, nowNanos);
        rcvAdvertisedEdge = rcvNxt + advertisedWindowBytes();
        state = TcpState.ESTABLISHED;
        lastReceiveNanos = nowNanos;
        armKeepAlive(nowNanos);
    }

    private void takeSynOptions(InboundSegment seg, long nowNanos) {
        int peerMss = seg.mss > 0 ? seg.mss : 536;
        sendMss = Math.max(64, Math.min(peerMss, receiveMss));
        if (settings.windowScaling && seg.windowScale >= 0) {
            windowScalingOn = true;
            sndWindowShift = Math.min(seg.windowScale, 14); // RFC 7323 §2.3: treat larger as 14
            rcvWindowShift = windowShiftFor(settings.receiveBufferBytes);
        } else {
            windowScalingOn = false;
            sndWindowShift = 0;
            rcvWindowShift = 0;
        }
        sackOn = settings.sack && seg.sackPermitted;
        if (settings.timestamps && seg.hasTimestamp) {
            timestampsOn = true;
            tsRecent = seg.tsVal;
            tsRecentAtNanos = nowNanos;
        } else {
            timestampsOn = false;
        }
        if (timestampsOn) {
            sendMss -= 12; // the timestamp option rides in every segment
        }
        congestion.init(sendMss, nowNanos);
    }

    static int windowShiftFor(int bufferBytes) {
        int shift = 0;
        while (shift < 14 && (65535L << shift) < bufferBytes) {
            shift++;
        }
        return shift;
    }

    private void sendSyn(long nowNanos, boolean withAck) {
        int flags = TcpFlags.SYN | (withAck ? TcpFlags.ACK : 0);
        synSentAt = nowNanos;
        layer.transmit(this, flags, iss, 0, 0, nowNanos);
        sndNxt = iss + 1;
        sndMax = iss + 1;
        if (timers.retransmitDeadline == 0) {
            timers.retransmitDeadline = nowNanos + rtt.rto();
            timers.arm();
        }
    }

    // ======================================================================================== input

    /**
     * Processes one segment for this connection (RFC 9293 §3.10.7.3 and on). Takes ownership of its payload.
     */
    void input(InboundSegment seg, long nowNanos) {
        try {
            if (state == TcpState.SYN_SENT) {
                inputSynSent(seg, nowNanos);
            } else {
                inputSynchronized(seg, nowNanos);
            }
        } finally {
            if (seg.payload != 0) {
                pool.free(seg.payload);
                seg.payload = 0;
            }
        }
        if (state != TcpState.CLOSED) {
            output(nowNanos);
        }
        if (state == TcpState.TIME_WAIT) {
            // the application heard the close and the EOF (enterTimeWait, receiveFin): nothing more goes to it, so
            // 2MSL in the connection table must not keep its channel and pipeline reachable (thousands of them on
            // a server closing first)
            handler = NO_HANDLER;
        }
    }

    private void inputSynSent(InboundSegment seg, long nowNanos) {
        boolean ackOk = false;
        if (seg.has(TcpFlags.ACK)) {
            if (SeqNum.le(seg.ack, iss) || SeqNum.gt(seg.ack, sndNxt)) {
                if (!seg.has(TcpFlags.RST)) {
                    layer.sendReset(this, seg.ack, 0, false);
                }
                layer.counters().badAcks++;
                return;
            }
            ackOk = true;
        }
        if (seg.has(TcpFlags.RST)) {
            if (ackOk) {
                destroy(TcpError.REFUSED);
            }
            return;
        }
        if (!seg.has(TcpFlags.SYN)) {
            return;
        }
        irs = seg.seq;
        rcvNxt = seg.seq + 1;
        rcvAdvertisedEdge = rcvNxt;
        takeSynOptions(seg, nowNanos);
        if (ackOk) {
            sndUna = seg.ack;
            sndWnd = seg.window; // a SYN's window is never scaled
            maxSndWnd = sndWnd;
            sndWl1 = seg.seq;
            sndWl2 = seg.ack;
            timers.retransmitDeadline = 0;
            if (retransmitCount == 0 && !timestampsOn) {
                rtt.sample(nowNanos - synSentAt);
            } else if (timestampsOn && seg.hasTimestamp && seg.tsEcr != 0) {
                rtt.sample(Math.max(0, (tsNow(nowNanos) - seg.tsEcr)) * 1_000_000L);
            }
            retransmitCount = 0;
            rtt.resetBackoff();
            state = TcpState.ESTABLISHED;
            rcvAdvertisedEdge = rcvNxt;
            ackNow = true;
            armKeepAlive(nowNanos);
            handler.onConnected(this);
            if (seg.payloadLength > 0) {
                acceptData(seg, nowNanos);
            }
        } else {
            // simultaneous open (RFC 9293 §3.5): answer SYN-ACK with our original ISS
            state = TcpState.SYN_RECEIVED;
            sndWnd = seg.window;
            maxSndWnd = sndWnd;
            sndWl1 = seg.seq;
            sndWl2 = iss;
            layer.transmit(this, TcpFlags.SYN | TcpFlags.ACK, iss, 0, 0, nowNanos);
        }
    }

    /** This tuple's timestamp clock offset: see {@link IsnGenerator#timestampOffset}. */
    private long timestampOffset() {
        return Integer.toUnsignedLong(layer.timestampOffset(localAddress, localPort, remoteAddress, remotePort));
    }

    /** When our first SYN left, for the handshake's RTT sample (Karn: only if it was not retransmitted). */
    private long synSentAt;

    private void inputSynchronized(InboundSegment seg, long nowNanos) {
        TcpCounters counters = layer.counters();
        // RFC 7323 §5.3 PAWS: a timestamp older than TS.Recent means an old duplicate (RST segments excepted)
        if (timestampsOn && seg.hasTimestamp && !seg.has(TcpFlags.RST)
                && SeqNum.lt(seg.tsVal, tsRecent)
                && nowNanos - tsRecentAtNanos < 24L * 24 * 3600 * 1_000_000_000L) {
            counters.pawsRejected++;
            sendAckNow(nowNanos);
            return;
        }
        // step 1: sequence number acceptability (RFC 9293 §3.10.7.4, four cases)
        int rcvWnd = currentReceiveWindow();
        int segLen = seg.sequenceLength();
        boolean acceptable;
        if (segLen == 0) {
            // the right edge itself is accepted too (Linux does the same; RFC 9293's test is strict): a peer that
            // filled our window numbers its ACKs with exactly the right edge, and dropping those would stop us
            // hearing its ACKs for as long as our reader leaves the window full
            acceptable = rcvWnd == 0 ? seg.seq == rcvNxt : SeqNum.inWindow(seg.seq, rcvNxt, rcvWnd + 1);
        } else {
            acceptable = rcvWnd != 0 && (SeqNum.inWindow(seg.seq, rcvNxt, rcvWnd)
                    || SeqNum.inWindow(seg.seq + segLen - 1, rcvNxt, rcvWnd));
        }
        if (!acceptable) {
            if (!seg.has(TcpFlags.RST)) {
                counters.outOfWindow++;
                if (segLen > 0 && seg.payloadLength > 0 && SeqNum.le(seg.seq + seg.payloadLength, rcvNxt)) {
                    reportDuplicate(seg.seq, seg.seq + seg.payloadLength); // RFC 2883: the peer resent what we had
                }
                if (timestampsOn && seg.hasTimestamp && segLen > 0 && SeqNum.le(seg.seq + segLen, rcvNxt)) {
                    // a retransmission of what we already have: our ACK was lost. RFC 7323 §4.3 (2) takes its TSval
                    // (SEG.SEQ <= Last.ACK.sent, and PAWS passed), so the ACK below echoes the retransmission, not
                    // the original. Echoing the original, as Linux does, hands the peer an RTT sample as long as
                    // its whole timeout, which inflates its next timeout, and under steady loss that feeds on itself.
                    tsRecent = seg.tsVal;
                    tsRecentAtNanos = nowNanos;
                }
                sendAckNow(nowNanos);
            } else {
                counters.resetsIgnored++;
            }
            return;
        }
        // step 2: RST (RFC 5961 §3.2): exact match resets, anything else in the window gets a challenge ACK
        if (seg.has(TcpFlags.RST)) {
            if (seg.seq != rcvNxt) {
                counters.challengeAcks++;
                sendAckNow(nowNanos);
                return;
            }
            counters.resetsReceived++;
            switch (state) {
                case SYN_RECEIVED -> destroy(listener != null ? null : TcpError.REFUSED);
                case CLOSING, LAST_ACK, TIME_WAIT -> destroy(null);
                default -> destroy(TcpError.RESET);
            }
            return;
        }
        // step 4: SYN in a synchronized state (RFC 5961 §4): challenge ACK
        if (seg.has(TcpFlags.SYN)) {
            if (state == TcpState.SYN_RECEIVED && seg.seq == irs) {
                // our SYN-ACK was lost: the peer retransmitted its SYN; answer again
                layer.transmit(this, TcpFlags.SYN | TcpFlags.ACK, iss, 0, 0, nowNanos);
                return;
            }
            counters.challengeAcks++;
            sendAckNow(nowNanos);
            return;
        }
        // step 5: ACK
        if (!seg.has(TcpFlags.ACK)) {
            counters.noAck++;
            return;
        }
        if (timestampsOn && seg.hasTimestamp && SeqNum.le(seg.seq, rcvAdvertisedEdge)
                && SeqNum.le(seg.seq, rcvNxt)) {
            // RFC 7323 §4.3: remember the timestamp of the segment that covers RCV.NXT
            tsRecent = seg.tsVal;
            tsRecentAtNanos = nowNanos;
        }
        lastReceiveNanos = nowNanos;
        keepAliveProbesSent = 0;
        if (state == TcpState.SYN_RECEIVED) {
            if (SeqNum.le(seg.ack, sndUna) || SeqNum.gt(seg.ack, sndNxt)) {
                layer.sendReset(this, seg.ack, 0, false);
                counters.badAcks++;
                return;
            }
            state = TcpState.ESTABLISHED;
            sndWnd = seg.window << sndWindowShift;
            maxSndWnd = Math.max(maxSndWnd, sndWnd);
            sndWl1 = seg.seq;
            sndWl2 = seg.ack;
            rcvAdvertisedEdge = rcvNxt + advertisedWindowBytes();
            armKeepAlive(nowNanos);
            if (listener != null) {
                if (!listener.established(this)) {
                    // accept queue full: behave as if the ACK was lost (Linux's default); the SYN-ACK timer retries
                    state = TcpState.SYN_RECEIVED;
                    return;
                }
            } else {
                handler.onConnected(this);
            }
        }
        if (!processAck(seg, nowNanos)) {
            return;
        }
        if (state == TcpState.CLOSED) {
            return;
        }
        // step 7: text
        if (seg.payloadLength > 0) {
            if (state.canReceive() && !finReceived) {
                acceptData(seg, nowNanos);
                if (state == TcpState.CLOSED) {
                    return; // reset: data after close
                }
            } else {
                counters.dataAfterFin++;
            }
        }
        // step 8: FIN
        if (seg.has(TcpFlags.FIN)) {
            int finSeq = seg.seq + seg.payloadLength;
            if (finSeq == rcvNxt && !finReceived) {
                receiveFin(nowNanos);
            } else if (SeqNum.gt(finSeq, rcvNxt) && !finReceived) {
                pendingFinOffset = receiveOffset + SeqNum.diff(finSeq, rcvNxt);
                ackNow = true;
            } else if (state == TcpState.TIME_WAIT) {
                // a retransmitted FIN: our ACK was lost; acknowledge again and restart 2MSL (RFC 9293 §3.10.7.4)
                ackNow = true;
                timers.closeDeadline = nowNanos + 2 * settings.mslNanos;
                timers.arm();
            }
        }
    }

    /** ACK processing of RFC 9293 §3.10.7.4 step 5 with RFC 5961 §5; false means drop the rest of the segment. */
    private boolean processAck(InboundSegment seg, long nowNanos) {
        TcpCounters counters = layer.counters();
        int ack = seg.ack;
        if (SeqNum.gt(ack, sndMax)) {
            counters.ackUnsent++;
            sendAckNow(nowNanos);
            return false;
        }
        if (SeqNum.lt(ack, sndUna - maxSndWnd)) {
            counters.challengeAcks++;
            sendAckNow(nowNanos);
            return false;
        }
        int window = seg.window << sndWindowShift;
        long echo = echoNanos(seg, nowNanos);
        int unaBefore = sndUna;
        // bytes this ACK newly delivered, SACKed or cumulatively (RFC 6937 DeliveredData)
        long delivered = 0;
        boolean dsack = false;
        if (sackOn && seg.sackBlocks > 0) {
            dsack = isDsack(seg, ack);
            if (dsack) {
                dsackReceived(seg.sackStart[0], seg.sackEnd[0], nowNanos);
            }
            for (int b = dsack ? 1 : 0; b < seg.sackBlocks; b++) {
                int s = seg.sackStart[b];
                int e = seg.sackEnd[b];
                if (SeqNum.lt(s, e) && SeqNum.gt(e, ack) && SeqNum.le(e, sndMax)) {
                    delivered += sent.sack(SeqNum.max(s, ack), e, rack, echo, nowNanos);
                }
            }
        }
        if (SeqNum.gt(ack, sndUna)) {
            delivered += newAck(seg, ack, echo, nowNanos);
        } else if (ack == sndUna) {
            boolean duplicate = seg.payloadLength == 0 && !seg.has(TcpFlags.FIN) && window == sndWnd
                    && sndMax != sndUna;
            if (duplicate) {
                duplicateAck(nowNanos);
            } else if (sndMax == sndUna) {
                dupAcks = 0;
            }
        }
        // window update (RFC 9293 §3.10.7.4: only from newer segments)
        if (SeqNum.lt(sndWl1, seg.seq) || (sndWl1 == seg.seq && SeqNum.le(sndWl2, ack))) {
            boolean opened = sndWnd == 0 && window > 0;
            sndWnd = window;
            maxSndWnd = Math.max(maxSndWnd, window);
            sndWl1 = seg.seq;
            sndWl2 = ack;
            if (opened) {
                timers.persistDeadline = 0;
                persistBackoff = 0;
            }
        }
        congestion.onRateSample(sent.rate.endOfAck(sent.pipe()), nowNanos);
        if (frto != FRTO_OFF) {
            frtoAck(SeqNum.gt(ack, unaBefore), nowNanos);
        }
        if (sackOn && state != TcpState.CLOSED) {
            rackAfterAck(ack, dsack, delivered, nowNanos);
        }
        return true;
    }

    // ---- F-RTO (RFC 5682, SACK-enhanced): was a retransmission timeout spurious?
    static final int FRTO_OFF = 0;
    /** The timeout's retransmission went: waiting for the first ACK after it. */
    static final int FRTO_FIRST_ACK = 1;
    /** That ACK advanced SND.UNA and two new segments went instead of retransmissions: waiting for the second. */
    static final int FRTO_SECOND_ACK = 2;
    int frto;

    /**
     * RFC 5682 §3.1 steps 2 and 3, after a timeout without timestamps (with them, Eifel's echoed timestamp answers
     * the question at the first ACK). If the first ACK after the timeout's retransmission advances SND.UNA (short of
     * the recovery point), two new segments go instead of more retransmissions; if the ACK after that advances
     * SND.UNA again, it acknowledges segments sent only once before the timeout: they were not lost, only late, and the
     * timeout's reduction is undone (RFC 4015). Anything else (a duplicate ACK, no new data to send) continues the
     * conventional recovery: resending what the timeout marked lost, in slow start.
     */
    private void frtoAck(boolean advanced, long nowNanos) {
        if (!lossRecovery || !advanced) {
            frto = FRTO_OFF;
            return;
        }
        if (frto == FRTO_SECOND_ACK) {
            frto = FRTO_OFF;
            layer.counters().spuriousTimeouts++;
            if (undoEpisode.possible()) {
                undo(nowNanos);
            }
            return;
        }
        int mss = effectiveMss();
        int sentNew = 0;
        while (sentNew < PROBE_SEGMENTS) {
            long offset = offsetOf(sndNxt);
            long unsent = Math.max(0, sendQueue.end() - offset);
            int len = unsent > 0 ? sendQueue.endAtPiece(offset, (int) Math.min(unsent, mss)) : 0;
            long flight = Integer.toUnsignedLong(SeqNum.diff(sndNxt, sndUna));
            if (len <= 0 || SeqNum.lt(sndNxt, sndMax) || Integer.toUnsignedLong(sndWnd) < flight + len) {
                break;
            }
            boolean fin = finQueued && offset + len == sendQueue.end();
            sendSegmentAt(sndNxt, len, nowNanos, false);
            sndNxt += len + (fin ? 1 : 0);
            sentNew++;
        }
        frto = sentNew > 0 ? FRTO_SECOND_ACK : FRTO_OFF;
    }

    /** When the timestamp an ACK echoes was sent (our clock, millisecond precision), or Long.MIN_VALUE if none. */
    private long echoNanos(InboundSegment seg, long nowNanos) {
        if (!timestampsOn || !seg.hasTimestamp || seg.tsEcr == 0) {
            return Long.MIN_VALUE;
        }
        return nowNanos - (long) (tsNow(nowNanos) - seg.tsEcr) * 1_000_000L;
    }

    /**
     * RFC 2883 §4: the first SACK block is a D-SACK when the cumulative ACK covers its start, or when the second block
     * contains it.
     */
    private static boolean isDsack(InboundSegment seg, int ack) {
        int s = seg.sackStart[0];
        int e = seg.sackEnd[0];
        if (!SeqNum.lt(s, e)) {
            return false;
        }
        return SeqNum.lt(s, ack) || (seg.sackBlocks > 1 && SeqNum.ge(s, seg.sackStart[1])
                && SeqNum.le(e, seg.sackEnd[1]));
    }

    /** Set while an ACK carrying a D-SACK is processed, with its range. */
    private boolean dsackOnThisAck;
    private int lastDsackStart;
    private int lastDsackEnd;

    /**
     * The peer received [s, e) twice. RACK widens its reordering window (RFC 8985 §6.2 step 4); if the range is one
     * this episode retransmitted, that retransmission was needless, and once every retransmission of the episode is
     * shown needless the reduction is undone (RFC 2883 §5, Linux's undo). A D-SACK for data the path duplicated
     * matches no retransmission and changes nothing else.
     */
    private void dsackReceived(int s, int e, long nowNanos) {
        dsacksReceived++;
        layer.counters().dsacksReceived++;
        dsackOnThisAck = true;
        lastDsackStart = s;
        lastDsackEnd = e;
        rack.onDsack(sndUna, sndMax);
        if (undoEpisode.possible() && undoEpisode.dsackShowsAllNeedless(s, e)) {
            undo(nowNanos);
        }
    }

    /**
     * Every retransmission of the episode was needless (D-SACKs), or the ACK of the first one echoes a timestamp
     * older than it (RFC 3522 Eifel detection: the original arrived): the reduction is undone (RFC 4015 response),
     * the window and threshold restored, and the losses it assumed forgotten (RACK marks any real one again).
     */
    private void undo(long nowNanos) {
        undoEpisode.restore(congestion);
        undos++;
        layer.counters().recoveriesUndone++;
        if (inRecovery || lossRecovery) {
            inRecovery = false;
            lossRecovery = false;
            rack.onRecoveryEnd();
        }
        sent.unmarkLost();
        probeRearm = true; // out of recovery: a tail loss probe guards the flight again
    }

    /** A loss episode begins: remember what an undo would restore (a second episode inside one keeps the first's). */
    private void startUndoEpisode() {
        undoEpisode.begin(inRecovery || lossRecovery, congestion, sndUna);
    }

    /**
     * After an ACK's SACK blocks and cumulative ACK are taken, with SACK: the TLP episode's end (RFC 8985 §7.4), RACK's
     * loss marking and reordering timer (§6.2), entry into fast recovery, PRR's send quota (RFC 6937), and the lost
     * segments' retransmissions.
     */
    private void rackAfterAck(int ack, boolean dsack, long delivered, long nowNanos) {
        boolean dsackHere = dsackOnThisAck;
        dsackOnThisAck = false;
        if (rack.tlpOutstanding && SeqNum.ge(ack, rack.tlpEndSeq)) {
            rack.tlpOutstanding = false;
            boolean probeNeedless = dsackHere && SeqNum.lt(lastDsackStart, rack.tlpEndSeq)
                    && SeqNum.gt(lastDsackEnd, probeSeq);
            if (rack.tlpIsRetransmission && !probeNeedless) {
                // the probe repaired a loss: the congestion response of a recovery that already ended (§7.4.2)
                probeRecoveries++;
                layer.counters().tailLossProbeRecoveries++;
                if (!inRecovery && !lossRecovery) {
                    congestion.onEnterRecovery(congestion.cwnd(), nowNanos);
                    congestion.onExitRecovery(nowNanos);
                }
            }
        }
        if (sndUna == sndMax) {
            timers.reorderDeadline = 0;
            return;
        }
        detectLosses(nowNanos);
        boolean entered = false;
        if (!inRecovery && !lossRecovery && sent.lostBytes() > 0) {
            enterFastRecovery(nowNanos);
            entered = true;
        }
        if (inRecovery) {
            prr.onAck(delivered, sent.pipe(), congestion.ssthresh(), settings.prrSlowStartBound, sendMss);
            if (delivered > 0) {
                // in recovery the probe only asks for news, and this is news: the next silence may have its own
                rack.tlpOutstanding = false;
            }
            probeRearm = true; // the recovery's probe waits one PTO from its latest ACK
        }
        if ((inRecovery || lossRecovery) && frto != FRTO_SECOND_ACK) {
            recoverySend(nowNanos, entered);
        }
        timers.arm();
    }

    /** RACK_detect_loss_and_arrange_timer (RFC 8985 §6.2 step 5, §6.3). */
    private void detectLosses(long nowNanos) {
        if (!rack.hasDelivered()) {
            return;
        }
        if (sent.sackedSegments() == 0 && !inRecovery && !lossRecovery && timers.reorderDeadline == 0) {
            // cumulative ACKs alone never show a segment sent after a missing one delivered: nothing to look at
            return;
        }
        long reoWnd = rack.reorderingWindow(inRecovery || lossRecovery, sent.sackedSegments(), rtt.srtt());
        long wait = sent.detectLoss(rack, reoWnd, nowNanos);
        if (sent.markedLost > 0) {
            rackLosses += sent.markedLost;
            layer.counters().rackLosses += sent.markedLost;
        }
        timers.reorderDeadline = wait > 0 ? nowNanos + wait : 0;
    }

    /** RACK deemed a segment lost: fast recovery (RFC 6675 §5) with PRR's accounting (RFC 6937 §3). */
    private void enterFastRecovery(long nowNanos) {
        startUndoEpisode();
        long flight = Integer.toUnsignedLong(SeqNum.diff(sndMax, sndUna));
        inRecovery = true;
        recoveryPoint = sndMax;
        congestion.onEnterRecovery(flight, nowNanos);
        layer.counters().fastRetransmits++;
        prr.begin(flight, sent.pipe());
        if (rack.tlpOutstanding) {
            // the probe's SACK showed the loss: a fast recovery instead of a timeout
            probeRecoveries++;
            layer.counters().tailLossProbeRecoveries++;
        }
        rack.tlpOutstanding = false;
        timers.probeDeadline = 0;
    }

    /** What the recovery may send now: PRR's quota in fast recovery, cwnd less the pipe after a timeout. */
    private long recoveryBudget() {
        return (inRecovery && congestion.boundedByPrr() ? prr.window() : congestion.cwnd()) - sent.pipe();
    }

    /**
     * Retransmits the segments deemed lost and not yet resent, in sequence order, as the recovery's budget allows
     * ({@code force}: the first goes whatever the budget, RFC 6675 §5 step 4.3). Adjacent lost segments go together
     * up to the MSS; the last one in flight takes unsent data along, as a resend from the left edge would.
     */
    private void recoverySend(long nowNanos, boolean force) {
        for (int round = 0; round < 4096; round++) {
            int i = sent.firstLostNotRetransmitted();
            if (i < 0) {
                return;
            }
            int seq = sent.start(i);
            int runEnd = sent.lostRunEnd(i);
            boolean toTheEnd = runEnd == sent.end(sent.size() - 1);
            int limit = Math.min(effectiveMss(), toTheEnd ? Integer.MAX_VALUE : SeqNum.diff(runEnd, seq));
            int len = segmentLengthAt(seq, limit);
            boolean finOnly = finQueued && seq == finSeq;
            if (len <= 0 && !finOnly) {
                return;
            }
            if (!force && recoveryBudget() < Math.max(len, 1)) {
                return;
            }
            force = false;
            sendSegmentAt(seq, len, nowNanos, true);
            probeRearm = true;
            int end = seq + len + (finQueued && seq + len == finSeq ? 1 : 0);
            if (SeqNum.gt(end, sndNxt)) {
                sndNxt = end;
            }
        }
    }

    /** The reordering timer fired: segments RACK was waiting on may now be lost (RFC 8985 §6.3). */
    void reorderTimeout(long nowNanos) {
        if (!sackOn || sndUna == sndMax) {
            return;
        }
        layer.counters().rackReorderTimeouts++;
        detectLosses(nowNanos);
        if (!inRecovery && !lossRecovery && sent.lostBytes() > 0) {
            enterFastRecovery(nowNanos);
            recoverySend(nowNanos, true);
        } else if (inRecovery || lossRecovery) {
            recoverySend(nowNanos, false);
        }
    }

    /**
     * RFC 8985 §7.2: after an ACK or new data, with SACK, outside recovery, nothing SACKed and no probe out, a tail
     * loss probe is due in one PTO, never later than the retransmission timer.
     *
     * <p>Also in fast recovery, beyond the RFC (and Linux): RACK finds a lost segment only once one sent after it is
     * delivered, so when the last ACKs of a recovery go missing (the final ACK, or a retransmission and what followed
     * it) nothing is left to show it, and the recovery would wait for the RTO, at least 200 ms, however short the
     * round trip. On a lossy path that is the usual way a recovery ends in a timeout (the loss benchmark: every one
     * of them was this, a receiver that compresses its SACKs sending a single ACK after the hole was filled). A
     * probe one PTO after the last ACK or transmission gets an answer in one round trip instead.
     *
     * <p>A probe whose answer is lost as well gets a second one, two PTOs later, before the RTO (the RFC and Linux
     * go to the RTO): a probe is sent exactly when an ACK was lost, so on a path that loses ACKs at random its answer
     * is lost as often as any ACK (at 5% drop, every remaining RTO of the benchmark was such a probe).
     */
    private void scheduleProbe(long nowNanos) {
        if (!probeRearm) {
            return;
        }
        probeRearm = false;
        if (rack.tlpOutstanding && timers.probeDeadline != 0 && sackOn && sndUna != sndMax && !lossRecovery) {
            // news while the second probe waits: it waits its two PTOs from now
            timers.probeDeadline = secondProbeDeadline(nowNanos);
            timers.arm();
            return;
        }
        boolean tail = inRecovery || sent.sackedBytes() == 0;
        if (!sackOn || sndUna == sndMax || lossRecovery || rack.tlpOutstanding || !tail
                || timers.retransmitDeadline == 0 || !state.canSend() && state != TcpState.FIN_WAIT_1
                && state != TcpState.CLOSING && state != TcpState.LAST_ACK) {
            timers.probeDeadline = 0;
            return;
        }
        probesUnanswered = 0;
        timers.probeDeadline = Math.min(nowNanos + probeTimeout(), timers.retransmitDeadline);
        timers.arm();
    }

    /** Two PTOs from now, if that comes before the RTO (which the second probe never postpones); else 0. */
    private long secondProbeDeadline(long nowNanos) {
        long at = nowNanos + 2 * probeTimeout();
        return timers.retransmitDeadline != 0 && at < timers.retransmitDeadline ? at : 0;
    }

    private long probeTimeout() {
        return Rack.probeTimeout(rtt.hasSample(), rtt.srtt(), SeqNum.diff(sndMax, sndUna) <= sendMss);
    }

    /** Probes sent since the last one that was answered (see {@link #scheduleProbe}). */
    private int probesUnanswered;
    /** Probes in a row before only the RTO is left. */
    static final int MAX_PROBES = 2;

    /**
     * The PTO fired (RFC 8985 §7.3): new data goes if the peer's window takes it, else the last segment again, so that
     * its ACK (with SACK) starts or ends a fast recovery instead of waiting for the retransmission timer, which starts
     * again from now.
     *
     * <p>New data goes as two segments where the RFC sends one: a receiver may hold back its ACK of a lone in-order
     * segment (RFC 9293 §3.8.6.3, up to 500 ms; Linux 40 ms) but not of a second full one. When it was the flight's
     * last ACK that was lost, a lone segment arrives in order, and its ACK came 40 ms later: in the loss benchmark at
     * 2% (a kernel receiver), a third of the transfer time went in those waits.
     */
    private void sendProbe(long nowNanos) {
        probesSent++;
        layer.counters().tailLossProbes++;
        if (inRecovery) {
            layer.counters().recoveryProbes++;
        }
        int mss = effectiveMss();
        long offset = offsetOf(sndNxt);
        long unsent = Math.max(0, sendQueue.end() - offset);
        long flight = Integer.toUnsignedLong(SeqNum.diff(sndNxt, sndUna));
        int start;
        boolean retransmittedProbe = false;
        if (unsent > 0 && Integer.toUnsignedLong(sndWnd) >= flight + Math.min(unsent, mss)) {
            start = sndNxt;
            for (int n = 0; n < PROBE_SEGMENTS && unsent > 0; n++) {
                int len = sendQueue.endAtPiece(offset, (int) Math.min(unsent, mss));
                if (n > 0 && Integer.toUnsignedLong(sndWnd) < flight + len) {
                    break;
                }
                boolean fin = finQueued && offset + len == sendQueue.end();
                sendSegmentAt(sndNxt, len, nowNanos, false);
                sndNxt += len + (fin ? 1 : 0);
                offset += len;
                unsent -= len;
                flight += len;
            }
        } else {
            int dataEnd = finQueued && SeqNum.gt(sndMax, finSeq) ? finSeq : sndMax;
            start = SeqNum.diff(dataEnd, sndUna) > mss ? dataEnd - mss : sndUna;
            sendSegmentAt(start, SeqNum.diff(dataEnd, start), nowNanos, true);
            retransmittedProbe = true;
        }
        // one episode for both probes: it repaired a loss if either was a retransmission the peer did not report needless
        rack.tlpIsRetransmission = retransmittedProbe || rack.tlpOutstanding && rack.tlpIsRetransmission;
        probeSeq = rack.tlpOutstanding && SeqNum.lt(probeSeq, start) ? probeSeq : start;
        rack.tlpOutstanding = true;
        rack.tlpEndSeq = sndMax;
        timers.retransmitDeadline = nowNanos + rtt.rto();
        timers.probeDeadline = ++probesUnanswered < MAX_PROBES ? secondProbeDeadline(nowNanos) : 0;
        timers.arm();
    }

    /** A new cumulative ACK; returns the bytes it delivered that were not SACKed before. */
    private long newAck(InboundSegment seg, int ack, long echo, long nowNanos) {
        int acked = SeqNum.diff(ack, sndUna);
        long inFlightBefore = Integer.toUnsignedLong(SeqNum.diff(sndMax, sndUna));
        // RTT: timestamps give a sample per ACK; without, Karn's algorithm times one segment at a time
        long sample = -1;
        if (timestampsOn && seg.hasTimestamp && seg.tsEcr != 0) {
            sample = Math.max(0, tsNow(nowNanos) - seg.tsEcr) * 1_000_000L;
        } else if (rttTiming && SeqNum.gt(ack, rttTimedSeq)) {
            sample = nowNanos - rttTimedAtNanos;
            rttTiming = false;
        }
        if (sample >= 0) {
            rtt.sample(sample);
        }
        // Eifel (RFC 3522): the ACK of the episode's first retransmission echoes a timestamp from before it, so the
        // original arrived and the retransmissions (a timeout's included) were needless
        if (undoEpisode.possible() && undoEpisode.firstRetransmitNanos() != 0 && timestampsOn && seg.hasTimestamp
                && seg.tsEcr != 0 && SeqNum.gt(ack, undoEpisode.marker())
                && SeqNum.lt(seg.tsEcr, tsNow(undoEpisode.firstRetransmitNanos()))) {
            undo(nowNanos);
        }
        // the data part of the acknowledged range (SYN and FIN occupy a sequence number but no queue byte)
        boolean finNowAcked = finQueued && !finAcked && SeqNum.gt(ack, finSeq);
        long dataAcked = acked - (finNowAcked ? 1 : 0);
        if (sndUna == iss) {
            dataAcked -= 1; // our SYN was in there
        }
        if (dataAcked > 0) {
            sendQueue.acknowledge(sendQueue.start() + Math.min(dataAcked, sendQueue.size()));
        }
        long delivered = sent.acknowledge(ack, rack, echo, nowNanos);
        sndUna = ack;
        if (SeqNum.lt(sndNxt, sndUna)) {
            sndNxt = sndUna;
        }
        retransmitCount = 0;
        rtt.resetBackoff();
        probeRearm = true;
        // congestion control and recovery
        if (sackOn) {
            if ((inRecovery || lossRecovery) && SeqNum.ge(ack, recoveryPoint)) {
                if (inRecovery) {
                    congestion.onExitRecovery(nowNanos); // PRR ends with cwnd = ssthresh (RFC 6937 §3)
                }
                inRecovery = false;
                lossRecovery = false;
                rack.onRecoveryEnd();
            } else if (!inRecovery) {
                congestion.onAck(acked, inFlightBefore, sample, nowNanos); // after a timeout: slow start
            }
        } else if (inRecovery) {
            if (SeqNum.ge(ack, recoveryPoint)) {
                inRecovery = false;
                congestion.onExitRecovery(nowNanos);
            } else {
                // RFC 6582 partial ACK: retransmit the next hole, deflate
                congestion.onPartialAck(acked, nowNanos);
                retransmitNextHole(nowNanos);
            }
        } else {
            congestion.onAck(acked, inFlightBefore, sample, nowNanos);
        }
        dupAcks = 0;
        // RFC 6298 §5.3: restart the timer when new data is acked, stop it when everything is
        timers.retransmitDeadline = sndUna == sndMax ? 0 : nowNanos + rtt.rto();
        timers.arm();
        if (finNowAcked) {
            finAcked = true;
            finWasAcked(nowNanos);
        }
        if (sendSpace() > 0 && state.canSend()) {
            handler.onWritable(this);
        }
        return delivered;
    }

    private void finWasAcked(long nowNanos) {
        switch (state) {
            case FIN_WAIT_1 -> {
                state = TcpState.FIN_WAIT_2;
                if (closedByApplication) {
                    timers.closeDeadline = nowNanos + settings.finWait2TimeoutNanos;
                    timers.arm();
                }
            }
            case CLOSING -> enterTimeWait(nowNanos);
            case LAST_ACK -> destroy(null);
            default -> {
            }
        }
    }

    private void duplicateAck(long nowNanos) {
        dupAcks++;
        layer.counters().duplicateAcks++;
        if (sackOn) {
            return; // RACK decides losses from the SACK blocks (rackAfterAck)
        }
        if (inRecovery) {
            // each further duplicate means a segment left the network: let a new one in (RFC 5681 §3.2 step 4)
            congestion.onDuplicateAckInRecovery(nowNanos);
            return;
        }
        if (dupAcks >= 3 && SeqNum.ge(sndUna, recoveryPoint)) {
            // fast retransmit (RFC 5681 §3.2); RFC 6582 §3.2 step 2: not again for losses of the window before
            inRecovery = true;
            recoveryPoint = sndMax;
            highRetransmitted = sndUna;
            congestion.onEnterRecovery(Integer.toUnsignedLong(SeqNum.diff(sndMax, sndUna)), nowNanos);
            layer.counters().fastRetransmits++;
            retransmitNextHole(nowNanos);
        } else if (dupAcks <= 2) {
            limitedTransmit = true; // RFC 3042: one new segment per duplicate, if the receive window has room
        }
    }

    private boolean limitedTransmit;
    /** Segments of new data a loss probe sends (see {@link #sendProbe}). */
    static final int PROBE_SEGMENTS = 2;

    /** Retransmits (NewReno, without SACK) the first unacknowledged segment not yet resent in this recovery. */
    private void retransmitNextHole(long nowNanos) {
        int seq = SeqNum.max(highRetransmitted, sndUna);
        if (SeqNum.ge(seq, sndMax)) {
            return;
        }
        int len = segmentLengthAt(seq, Math.min(effectiveMss(), SeqNum.diff(sndMax, seq)));
        if (len <= 0 && !(finQueued && seq == finSeq)) {
            return;
        }
        sendSegmentAt(seq, len, nowNanos, true);
        highRetransmitted = seq + Math.max(len, 1);
        rttTiming = false; // Karn: never time a retransmitted segment
    }
    /**
     * Payload that fits a segment now: the MSS less the SACK blocks our segments carry while we hold out-of-order
     * data (the timestamp option is already accounted in {@link #sendMss}), so no frame outgrows the MTU.
     */
    int effectiveMss() {
        if (!sackOn || reassembly.isEmpty()) {
            return sendMss;
        }
        int blocks = Math.min(reassembly.entries(), timestampsOn ? 3 : 4);
        return sendMss - (4 + 8 * blocks);
    }

    /** Bytes of data at seq, up to limit, that can go in one segment (stopping at the FIN). */
    private int segmentLengthAt(int seq, int limit) {
        long offset = offsetOf(seq);
        long available = sendQueue.end() - offset;
        return (int) Math.max(0, Math.min(limit, available));
    }

    /** Stream offset of a sequence number at or after SND.UNA in the data range. */
    private long offsetOf(int seq) {
        int base = sndUna;
        if (sndUna == iss) {
            base = iss + 1;
        }
        return sendQueue.start() + SeqNum.diff(seq, base);
    }

    private int sequenceOf(long offset) {
        int base = sndUna == iss ? iss + 1 : sndUna;
        return base + (int) (offset - sendQueue.start());
    }


    private void acceptData(InboundSegment seg, long nowNanos) {
        TcpCounters counters = layer.counters();
        long chain = seg.payload;
        seg.payload = 0;
        int len = seg.payloadLength;
        int seq = seg.seq;
        // trim what we already have (RFC 9293 §3.10.7.4: segments overlapping the left edge)
        if (SeqNum.lt(seq, rcvNxt)) {
            int cut = SeqNum.diff(rcvNxt, seq);
            reportDuplicate(seq, seq + Math.min(cut, len));
            if (cut >= len) {
                pool.free(chain);
                counters.duplicateSegments++;
                ackNow = true;
                return;
            }
            chain = io.zstack.buffer.Mbuf.trimFront(pool, chain, cut);
            len -= cut;
            seq = rcvNxt;
        }
        if (closedByApplication) {
            // new data after close(): nobody will read it. Queuing it would hold its mbufs until TIME_WAIT ends and
            // tell the peer it was delivered; reset instead, as Linux does (TCPAbortOnData, RFC 9293 §3.10.7.4)
            pool.free(chain);
            counters.abortOnData++;
            abort(nowNanos);
            return;
        }
        // trim what lies beyond the window
        int window = currentReceiveWindow();
        int room = window - SeqNum.diff(seq, rcvNxt);
        if (room <= 0) {
            pool.free(chain);
            counters.beyondWindow++;
            ackNow = true;
            return;
        }
        if (len > room) {
            chain = io.zstack.buffer.Mbuf.trimTo(pool, chain, room);
            len = room;
        }
        // the window counts payload bytes, but every queued segment holds a whole mbuf: bound how many a connection
        // keeps (a peer sending tiny segments) and leave the pool's last mbufs to ACKs (TcpLayer.checkMemory)
        if (layer.memoryTight() || receiveQueue.chains() + reassembly.entries() >= maxReceiveChains()) {
            pool.free(chain);
            counters.receiveMemoryDrops++;
            return;
        }
        if (seq == rcvNxt) {
            receiveQueue.add(chain, len);
            rcvNxt += len;
            receiveOffset += len;
            counters.bytesReceivedInOrder += len;
            if (!reassembly.isEmpty()) {
                long before = receiveOffset;
                receiveOffset = reassembly.drainInto(receiveOffset, receiveQueue);
                rcvNxt += (int) (receiveOffset - before);
                ackNow = true; // filled (part of) a hole: tell the sender at once (RFC 5681 §4.2)
            }
            if (pendingFinOffset >= 0 && receiveOffset == pendingFinOffset) {
                pendingFinOffset = -1;
                receiveFin(nowNanos);
            }
            scheduleAck(nowNanos, len);
            handler.onReadable(this);
        } else {
            long start = receiveOffset + SeqNum.diff(seq, rcvNxt);
            int kept = reassembly.insert(start, chain, len);
            if (kept == 0) {
                reportDuplicate(seq, seq + len); // all of it was held already
            }
            if (kept < 0) {
                counters.reassemblyDrops++;
            } else {
                counters.outOfOrderSegments++;
                sackReport.outOfOrder(start, start + len);
            }
            ackNow = true; // a hole: duplicate ACK at once, with SACK blocks (RFC 5681 §4.2, RFC 2018)
        }
    }

    /** Segments the receive and reassembly queues may hold together: four times what full-sized ones fill. */
    private int maxReceiveChains() {
        return 4 * settings.receiveBufferBytes / 1460 + 64;
    }

    private void receiveFin(long nowNanos) {
        rcvNxt += 1;
        finReceived = true;
        ackNow = true;
        switch (state) {
            case SYN_RECEIVED, ESTABLISHED -> state = TcpState.CLOSE_WAIT;
            case FIN_WAIT_1 -> {
                if (finAcked) {
                    enterTimeWait(nowNanos);
                } else {
                    state = TcpState.CLOSING;
                }
            }
            case FIN_WAIT_2 -> enterTimeWait(nowNanos);
            default -> {
            }
        }
        handler.onReadable(this);
    }

    private void enterTimeWait(long nowNanos) {
        if (layer.timeWaitCount >= settings.maxTimeWaits) {
            // as Linux on tcp_max_tw_buckets: the peer's FIN is acknowledged, the tuple is not kept
            layer.counters().timeWaitOverflows++;
            sendAckNow(nowNanos);
            destroy(null);
            return;
        }
        layer.timeWaitCount++;
        state = TcpState.TIME_WAIT;
        timers.stopAllButClose();
        sent.clear();
        timers.closeDeadline = nowNanos + 2 * settings.mslNanos;
        sendQueue.clear();
        timers.arm();
        layer.counters().timeWaits++;
        notifyClosed(null); // the application is done with it; the 4-tuple stays reserved until 2MSL
    }

    private void scheduleAck(long nowNanos, int len) {
        segmentsUnacked++;
        if (!settings.delayedAck || quickAcksLeft > 0) {
            if (quickAcksLeft > 0) {
                quickAcksLeft--;
            }
            ackNow = true;
        } else if (segmentsUnacked >= 2 && len >= sendMss / 2) {
            ackNow = true; // RFC 9293 §3.8.6.3: at least every second full-sized segment
        } else if (timers.delayedAckDeadline == 0) {
            timers.delayedAckDeadline = nowNanos + settings.delayedAckTimeoutNanos;
            timers.arm();
        }
    }

    // ======================================================================================== output

    /** Sends whatever the state, the windows and the ACK policy call for now. */
    void output(long nowNanos) {
        switchCongestionControlIfDue(nowNanos);
        if (state == TcpState.CLOSED || state == TcpState.LISTEN || state == TcpState.SYN_SENT
                || state == TcpState.SYN_RECEIVED) {
            if (ackNow && state == TcpState.SYN_RECEIVED) {
                ackNow = false;
            }
            return;
        }
        boolean sentSomething = false;
        if (state != TcpState.TIME_WAIT) {
            sentSomething = sendData(nowNanos);
        }
        if (!sentSomething && (ackNow || (segmentsUnacked > 0 && timers.delayedAckDeadline != 0
                && nowNanos >= timers.delayedAckDeadline))) {
            sendAckNow(nowNanos);
        }
        scheduleProbe(nowNanos);
    }

    /** Sends new data (and FIN) as the windows allow; true if any segment went out. */
    private boolean sendData(long nowNanos) {
        if (sackOn && (inRecovery || lossRecovery)) {
            if (frto == FRTO_SECOND_ACK) {
                return false; // F-RTO's two new segments are out: nothing more before the next ACK tells
            }
            recoverySend(nowNanos, false); // lost segments before new data (RFC 6675 NextSeg)
        }
        boolean sentAny = false;
        if (sndUna == sndMax && nowNanos - lastSendNanos > rtt.rto()
                && sendQueue.end() > offsetOf(sndNxt)) {
            // RFC 5681 §4.1: idle for longer than an RTO, the window is no longer known to fit the path
            congestion.onIdleRestart(nowNanos);
        }
        while (!(finQueued && SeqNum.gt(sndNxt, finSeq))) {
            long offset = offsetOf(sndNxt);
            long unsent = Math.max(0, sendQueue.end() - offset);
            if (unsent == 0 && !finQueued) {
                break;
            }
            if (pacer.mustWait(congestion.pacingRate(), nowNanos)) {
                layer.pacedConnections().hold(this);
                layer.counters().pacingWaits++;
                break;
            }
            int len = 0;
            if (unsent > 0) {
                long inFlight = Integer.toUnsignedLong(SeqNum.diff(sndNxt, sndUna));
                long usable;
                if (sackOn) {
                    // with SACK the pipe (RFC 6675 §2) is what is in flight: SACKed and lost octets left it; in
                    // recovery PRR's quota says what may go (RFC 6937)
                    long budget = recoveryBudget();
                    usable = Math.min(Integer.toUnsignedLong(sndWnd) - inFlight, budget);
                } else {
                    long cwnd = congestion.cwnd() + (limitedTransmit ? 2L * sendMss : 0);
                    usable = Math.min(Integer.toUnsignedLong(sndWnd), cwnd) - inFlight;
                }
                if (sndWnd == 0) {
                    // zero window: the persist timer probes it (RFC 9293 §3.8.6.1)
                    if (timers.persistDeadline == 0 && timers.retransmitDeadline == 0) {
                        timers.persistDeadline = nowNanos + persistInterval();
                        timers.arm();
                    }
                    break;
                }
                int mss = effectiveMss();
                len = (int) Math.min(Math.min(unsent, mss), Math.max(usable, 0));
                if (len <= 0) {
                    break;
                }
                boolean allTheRest = len == unsent;
                if (len < mss && !allTheRest && len < maxSndWnd / 2) {
                    // sender SWS avoidance (RFC 9293 §3.8.6.2.1): wait for a useful amount of window. With nothing
                    // in flight no ACK is coming to open it, and if the peer's window update was lost the wait
                    // would never end: the persist timer is the RFC's override timeout (as Linux's probe timer)
                    if (inFlight == 0 && timers.persistDeadline == 0 && timers.retransmitDeadline == 0) {
                        timers.persistDeadline = nowNanos + persistInterval();
                        timers.arm();
                    }
                    break;
                }
                if (len < mss && settings.nagle && inFlight > 0 && !finQueued) {
                    break; // Nagle: at most one small segment in flight
                }
                len = sendQueue.endAtPiece(offset, len); // one mbuf per segment where the pieces allow (SendQueue)
            }
            boolean fin = finQueued && offset + len == sendQueue.end();
            sendSegmentAt(sndNxt, len, nowNanos, false); // moves SND.MAX
            sndNxt += len + (fin ? 1 : 0);
            limitedTransmit = false;
            sentAny = true;
            probeRearm = true;
            if (fin) {
                break;
            }
        }
        sent.rate.checkApplicationLimited(sendQueue.end() - offsetOf(sndNxt), effectiveMss(), sent.pipe(),
                congestion.cwnd(), sent.firstLostNotRetransmitted() >= 0);
        return sentAny;
    }

    /**
     * Transmits [seq, seq+len) (plus FIN if it ends at the FIN) as one segment with ACK, and keeps the timers.
     */
    private void sendSegmentAt(int seq, int len, long nowNanos, boolean retransmission) {
        int flags = TcpFlags.ACK;
        long offset = offsetOf(seq);
        if (len > 0 && offset + len == sendQueue.end()) {
            flags |= TcpFlags.PSH;
        }
        if (finQueued && seq + len == finSeq) {
            flags |= TcpFlags.FIN;
        }
        lastTransmitFailed = !layer.transmit(this, flags, seq, offset, len, nowNanos);
        pacer.sent(len, congestion.pacingRate(), sendMss, nowNanos);
        int end = seq + len + ((flags & TcpFlags.FIN) != 0 ? 1 : 0);
        if (sent.sent(seq, end, nowNanos)) {
            retransmission = true; // sent before (a resend after a timeout or a smaller MSS counts too)
        }
        if (inRecovery) {
            prr.sent(len);
            if (sackOn) {
                prrSegments++;
                layer.counters().prrSegments++;
            }
        }
        if (SeqNum.gt(end, sndMax)) {
            // a resend from the left edge may run past what was sent before (the queue grew meanwhile): SND.MAX
            // must cover it, or the peer's ACK of it would look like an ACK of unsent data
            sndMax = end;
        }
        segmentsUnacked = 0;
        timers.delayedAckDeadline = 0;
        ackNow = false;
        lastSendNanos = nowNanos;
        if (retransmission) {
            layer.counters().retransmittedSegments++;
            if (undoEpisode.possible() && (inRecovery || lossRecovery)) {
                undoEpisode.retransmitted(seq, end, nowNanos);
            }
        } else if (!rttTiming && !timestampsOn && len > 0) {
            rttTiming = true;
            rttTimedSeq = seq + len - 1;
            rttTimedAtNanos = nowNanos;
        }
        if (timers.retransmitDeadline == 0) {
            timers.retransmitDeadline = nowNanos + rtt.rto();
            timers.persistDeadline = 0;
            timers.arm();
        }
        rcvAdvertisedEdge = rcvNxt + advertisedWindowBytes();
    }

    /** A bare ACK carrying the current RCV.NXT and window (and SACK blocks). */
    void sendAckNow(long nowNanos) {
        // SND.MAX, not SND.NXT: after a timeout SND.NXT goes back to SND.UNA, and an ACK numbered below what the peer
        // already received is unacceptable there (RFC 9293 §3.10.7.4), so the peer would drop it, ACK field and all
        // (BSD numbers pure ACKs the same way; Linux's SND.NXT never goes back)
        layer.transmit(this, TcpFlags.ACK, sndMax, 0, 0, nowNanos);
        segmentsUnacked = 0;
        timers.delayedAckDeadline = 0;
        ackNow = false;
        rcvAdvertisedEdge = rcvNxt + advertisedWindowBytes();
    }

    /**
     * ICMP fragmentation-needed (RFC 1191): shrink the MSS to fit the next hop's MTU (never below 536 + options, the
     * RFC 9293 minimum), and resend the unacknowledged data at the new size.
     */
    void pathMtuChanged(int nextHopMtu) {
        int newMss = Math.max(536, nextHopMtu - 40) - (timestampsOn ? 12 : 0);
        if (nextHopMtu <= 0 || newMss >= sendMss) {
            return;
        }
        sendMss = newMss;
        sndNxt = sndUna; // what was sent at the old size was dropped on the way
    }

    // ======================================================================================== windows

    /** Receive window in bytes: buffer space not used by data waiting to be read or reassembled. */
    int currentReceiveWindow() {
        long free = settings.receiveBufferBytes - receiveQueue.bytes() - reassembly.bytes();
        long maxWindow = 65535L << rcvWindowShift;
        int window = (int) Math.max(0, Math.min(free, maxWindow));
        // never shrink the right edge already advertised (RFC 9293 §3.8.6.2.2); an edge further out than any window
        // we can express was never advertised (a bug, not a promise), so it is ignored
        int edgeRoom = SeqNum.diff(rcvAdvertisedEdge, rcvNxt);
        return edgeRoom > maxWindow ? window : Math.max(window, Math.max(edgeRoom, 0));
    }

    /**
     * The window to advertise, with receiver silly-window avoidance (RFC 9293 §3.8.6.2.2): the right edge moves only
     * by at least min(buffer/2, MSS).
     */
    private int advertisedWindowBytes() {
        int window = currentReceiveWindow();
        int edgeRoom = Math.max(0, SeqNum.diff(rcvAdvertisedEdge, rcvNxt));
        int step = Math.min(settings.receiveBufferBytes / 2, receiveMss);
        if (window - edgeRoom < step && window < settings.receiveBufferBytes) {
            window = edgeRoom;
        }
        // round down to what the scale can express, so the peer sees exactly this
        return (window >>> rcvWindowShift) << rcvWindowShift;
    }

    /** The window field to put in a segment (scaled; a SYN's is never scaled). */
    int windowField(boolean syn) {
        if (syn) {
            return Math.min(settings.receiveBufferBytes, 65535);
        }
        return Math.min(advertisedWindowBytes() >>> rcvWindowShift, 65535);
    }

    private boolean windowUpdateWorthSending() {
        if (!state.canReceive()) {
            return false;
        }
        int window = currentReceiveWindow();
        int edgeRoom = Math.max(0, SeqNum.diff(rcvAdvertisedEdge, rcvNxt));
        return window - edgeRoom >= Math.min(settings.receiveBufferBytes / 2, 2 * receiveMss);
    }

    /** Our TSval: milliseconds on a per-connection offset clock (RFC 7323 §5.4, RFC 9293 hides uptime). */
    int tsNow(long nowNanos) {
        return (int) (nowNanos / 1_000_000L + tsOffsetMillis);
    }

    /**
     * Fills the SACK blocks to send (RFC 2018 §4: the block with the latest segment first, then the others); returns
     * how many, at most {@code max}.
     */
    int sackBlocks(int[] starts, int[] ends, int max) {
        if (!sackOn || max <= 0) {
            return 0;
        }
        return sackReport.fill(starts, ends, max, rcvNxt, receiveOffset, reassembly, layer.counters());
    }

    /** A segment brought [s, e) we already had: the next ACK reports it as a D-SACK (RFC 2883), and goes at once. */
    private void reportDuplicate(int s, int e) {
        if (!sackOn || !SeqNum.lt(s, e)) {
            return;
        }
        sackReport.duplicate(s, e);
        ackNow = true;
    }

    // ======================================================================================== timers

    private long persistInterval() {
        long base = Math.max(settings.persistMinNanos, rtt.rto());
        return Math.min(settings.persistMaxNanos, base << Math.min(persistBackoff, 10));
    }

    private void armKeepAlive(long nowNanos) {
        if (settings.keepAlive) {
            timers.keepAliveDeadline = nowNanos + settings.keepAliveIdleNanos;
            timers.arm();
        }
    }

    /** Re-reads the minimum RTO ({@link TcpSettings#minRtoNanos}) after the application changed it. */
    public void minRtoChanged() {
        rtt.minRtoNanos(settings.minRtoNanos);
    }

    /**
     * The congestion control setting changed on an open connection (as Linux's TCP_CONGESTION may; a server's child
     * option is applied after the handshake): the new algorithm takes over from its initial window, at once or, if a
     * loss recovery is under way (whose exit each algorithm handles its own way), when it ends.
     */
    public void congestionControlChanged(long nowNanos) {
        congestionChangePending = settings.congestionControl != congestionAlgorithm;
        switchCongestionControlIfDue(nowNanos);
    }

    private void switchCongestionControlIfDue(long nowNanos) {
        if (!congestionChangePending || inRecovery || lossRecovery) {
            return;
        }
        congestionChangePending = false;
        congestionAlgorithm = settings.congestionControl;
        congestion = congestionAlgorithm.create();
        congestion.init(sendMss, nowNanos);
    }

    /** Re-reads SO_KEEPALIVE and friends after the application changed them. */
    public void keepAliveChanged(long nowNanos) {
        if (settings.keepAlive && isActive()) {
            armKeepAlive(Math.max(nowNanos, lastReceiveNanos));
        } else {
            timers.keepAliveDeadline = 0;
        }
    }

    /**
     * The close timer fired: TIME_WAIT is over, FIN_WAIT_2 waited too long (tcp_fin_timeout), or linger expired with
     * data unacknowledged. Returns whether the connection is gone.
     */
    boolean closeTimeout(long nowNanos) {
        if (state == TcpState.TIME_WAIT || state == TcpState.FIN_WAIT_2) {
            destroy(null);
            return true;
        }
        if (closedByApplication && settings.lingerNanos > 0) {
            abort(nowNanos);
            return true;
        }
        return false;
    }

    /** The tail loss probe timer fired (RFC 8985 §7.3). */
    void tailLossProbeTimeout(long nowNanos) {
        if (timers.retransmitDeadline != 0 && sndUna != sndMax && !lossRecovery) {
            sendProbe(nowNanos); // restarts the retransmission timer
        }
    }

    void delayedAckTimeout(long nowNanos) {
        if (segmentsUnacked > 0 || ackNow) {
            sendAckNow(nowNanos);
        }
    }

    void retransmitTimeout(long nowNanos) {
        TcpCounters counters = layer.counters();
        retransmitCount++;
        counters.timeouts++;
        int limit = switch (state) {
            case SYN_SENT -> settings.synRetries;
            case SYN_RECEIVED -> settings.synAckRetries;
            default -> settings.maxRetransmissions;
        };
        if (retransmitCount > limit) {
            if (state == TcpState.SYN_RECEIVED && listener != null) {
                destroy(null); // a half-open connection that never completed: forget it quietly
            } else {
                if (state != TcpState.SYN_SENT) {
                    layer.sendReset(this, sndNxt, 0, false);
                }
                destroy(softError != null ? softError : TcpError.TIMED_OUT);
            }
            return;
        }
        rtt.backoff();
        rttTiming = false;
        if (state == TcpState.SYN_SENT || state == TcpState.SYN_RECEIVED) {
            layer.transmit(this, TcpFlags.SYN | (state == TcpState.SYN_RECEIVED ? TcpFlags.ACK : 0), iss, 0, 0,
                    nowNanos);
            layer.counters().retransmittedSegments++;
            timers.retransmitDeadline = nowNanos + rtt.rto();
            timers.arm();
            return;
        }
        if (sackOn) {
            // RFC 8985 §6.3: everything unSACKed is lost; RFC 5681 §3.1: from a window of one segment, slow start
            // resends the lost segments (and only those) until the recovery point, then new data
            startUndoEpisode();
            congestion.onRetransmitTimeout(Integer.toUnsignedLong(SeqNum.diff(sndMax, sndUna)), nowNanos);
            // F-RTO (RFC 5682) where Eifel cannot tell: the first timeout, outside a fast recovery, without timestamps
            frto = !timestampsOn && retransmitCount == 1 && !inRecovery && !lossRecovery ? FRTO_FIRST_ACK : FRTO_OFF;
            inRecovery = false;
            lossRecovery = true;
            recoveryPoint = sndMax;
            dupAcks = 0;
            sent.markAllLost();
            rack.tlpOutstanding = false;
            timers.probeDeadline = 0;
            timers.reorderDeadline = 0;
            lastTransmitFailed = false;
            recoverySend(nowNanos, true);
            resendFailedLocally();
            timers.retransmitDeadline = nowNanos + rtt.rto();
            timers.arm();
            return;
        }
        // RFC 5681 §3.1 / RFC 6298 §5.4–5.6: collapse the window, resend from the left edge (go-back-N)
        congestion.onRetransmitTimeout(Integer.toUnsignedLong(SeqNum.diff(sndMax, sndUna)), nowNanos);
        inRecovery = false;
        recoveryPoint = sndMax;
        dupAcks = 0;
        sndNxt = sndUna;
        int len = segmentLengthAt(sndUna, effectiveMss());
        lastTransmitFailed = false;
        if (len > 0 || (finQueued && sndUna == finSeq)) {
            sendSegmentAt(sndUna, len, nowNanos, true);
            sndNxt = sndUna + len + ((finQueued && sndUna + len == finSeq) ? 1 : 0);
        }
        resendFailedLocally();
        timers.retransmitDeadline = nowNanos + rtt.rto();
        timers.arm();
    }

    /** The latest segment handed to the layer did not leave the host (TcpLayer#transmit had no mbuf for it). */
    private boolean lastTransmitFailed;

    /**
     * A timeout's resend that found no mbuf never reached the path: it neither backs the timer off nor counts toward
     * giving up, and the timer retries at the current RTO, as Linux retries a resend that failed locally.
     */
    private void resendFailedLocally() {
        if (!lastTransmitFailed) {
            return;
        }
        layer.counters().timeoutResendsFailed++;
        rtt.withdrawBackoff();
        retransmitCount--;
    }

    /**
     * Zero-window probe. RFC 9293 §3.8.6.1 sends one byte beyond the window; like Linux we send a bare ACK with the
     * already-acknowledged sequence number SND.UNA - 1 instead: the peer must answer it with its current window, and
     * no byte sits in flight outside the window (which would need its own retransmission).
     *
     * <p>A window that is open but too small for sender SWS avoidance, with nothing in flight, gets what it takes
     * instead (the RFC's override timeout; Linux's probe timer sends the part that fits): its ACK brings the window.
     */
    void zeroWindowProbe(long nowNanos) {
        if (sendQueue.end() <= offsetOf(sndNxt)) {
            persistBackoff = 0;
            return;
        }
        if (sndWnd != 0) {
            persistBackoff = 0;
            long inFlight = Integer.toUnsignedLong(SeqNum.diff(sndNxt, sndUna));
            long room = Integer.toUnsignedLong(sndWnd) - inFlight;
            if (inFlight == 0 && room > 0) {
                int len = (int) Math.min(Math.min(room, sendQueue.end() - offsetOf(sndNxt)), effectiveMss());
                boolean fin = finQueued && offsetOf(sndNxt) + len == sendQueue.end();
                layer.counters().windowOverrides++;
                sendSegmentAt(sndNxt, len, nowNanos, false);
                sndNxt += len + (fin ? 1 : 0);
            }
            return;
        }
        layer.counters().windowProbes++;
        layer.transmit(this, TcpFlags.ACK, sndUna - 1, 0, 0, nowNanos);
        persistBackoff++;
        timers.persistDeadline = nowNanos + persistInterval();
        timers.arm();
    }

    void keepAliveTimeout(long nowNanos) {
        if (!settings.keepAlive || !isActive()) {
            return;
        }
        long idle = nowNanos - lastReceiveNanos;
        if (idle < settings.keepAliveIdleNanos && keepAliveProbesSent == 0) {
            timers.keepAliveDeadline = lastReceiveNanos + settings.keepAliveIdleNanos;
            timers.arm();
            return;
        }
        if (keepAliveProbesSent >= settings.keepAliveProbes) {
            layer.counters().keepAliveTimeouts++;
            layer.sendReset(this, sndNxt, 0, false);
            destroy(TcpError.TIMED_OUT);
            return;
        }
        // a probe the peer must answer: SEG.SEQ = SND.UNA - 1 with no data (RFC 9293 §3.8.4)
        layer.transmit(this, TcpFlags.ACK, sndUna - 1, 0, 0, nowNanos);
        layer.counters().keepAliveProbes++;
        keepAliveProbesSent++;
        timers.keepAliveDeadline = nowNanos + settings.keepAliveIntervalNanos;
        timers.arm();
    }

    // ======================================================================================== teardown

    /** Frees everything, leaves the connection table, and tells the handler once. */
    void destroy(TcpError why) {
        if (state == TcpState.CLOSED) {
            return;
        }
        if (state == TcpState.TIME_WAIT) {
            layer.timeWaitCount--;
        }
        state = TcpState.CLOSED;
        sendQueue.clear();
        if (closedByApplication || why == TcpError.ABORTED) {
            receiveQueue.clear();
        }
        // otherwise data received before a RST (or a timeout) stays readable, as on Linux, until close() frees it
        reassembly.clear();
        sent.clear();
        timers.cancelAll();
        layer.remove(this);
        if (listener != null) {
            listener.forget(this);
            listener = null;
        }
        notifyClosed(why);
    }

    private void notifyClosed(TcpError why) {
        if (closedNotified) {
            return;
        }
        closedNotified = true;
        error = why;
        handler.onClosed(this, why);
    }

    /** Everything that decides what the connection sends next, in one line (like `ss -ti`), for diagnostics. */
    public String describe(long nowNanos) {
        return this + " una=" + Integer.toUnsignedString(sndUna - iss) + " nxt=+" + SeqNum.diff(sndNxt, sndUna)
                + " max=+" + SeqNum.diff(sndMax, sndUna) + " sndWnd=" + sndWnd + " cwnd=" + congestion.cwnd()
                + congestion.describe()
                + " queued=" + sendQueue.size() + " fin=" + finQueued + " rcvNxt=" + Integer.toUnsignedString(
                rcvNxt - irs) + " rcvWnd=" + currentReceiveWindow() + " readable=" + receiveQueue.bytes()
                + " ooo=" + reassembly.entries() + " dupAcks=" + dupAcks + " recovery=" + inRecovery
                + " loss=" + lossRecovery + " pipe=" + sent.pipe() + " lost=" + sent.lostBytes() + " sacked="
                + sent.sackedBytes() + " tlp=" + probesSent + "/" + probeRecoveries + " rackLost=" + rackLosses
                + " dsacks=" + dsacksReceived + " undos=" + undos + " prr=" + prrSegments + " reoWnd*"
                + rack.reoWndMult() + (rack.reorderingSeen() ? " reordering" : "")
                + " retransmits=" + retransmitCount + " rtt=" + rtt + " " + timers.describe(nowNanos);
    }

    @Override
    public String toString() {
        return "TcpConnection(" + Ipv4Packet.addressText(localAddress) + ":" + localPort + " > "
                + Ipv4Packet.addressText(remoteAddress) + ":" + remotePort + " " + state + ")";
    }
}
