package io.zstack.tcp;

import io.zstack.buffer.MbufPool;
import io.zstack.ip.Route;
import io.zstack.wire.Ipv4Packet;
import java.util.Objects;

/**
 * One TCP connection: the transmission control block of RFC 9293 and its event processing, with explicit time. This
 * class is the state machine: it owns the state and its transitions (FIN, TIME_WAIT, close, teardown), routes each
 * segment through the steps of RFC 9293 §3.10.7 to the part that answers it, and is the application's API. The
 * parts, as gVisor splits its endpoint: {@link ConnectionSetup} (SYN, SYN-ACK, the options they agree, the
 * handshake's end, a SYN cookie's connection), {@link TcpReceiver} (PAWS and acceptability, the receive window,
 * reassembly, our SACK blocks, the ACK policy), {@link TcpSender} (cutting segments, ACK processing, loss recovery,
 * the retransmission, persist and probe timers' work, congestion control) and {@link ConnectionTimers} (the
 * deadlines).
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
public final class TcpConnection extends TcpTuple {
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
    /** Where send buffer autotuning stops (Linux's tcp_wmem maximum). */
    static final int MAX_AUTO_SEND_BUFFER = 4 << 20;

    final TcpLayer layer;
    final MbufPool pool;
    /** Replaced whole when the application changes an option (from any thread): volatile, read per use. */
    volatile TcpSettings settings;
    /** The send buffer autotuning grew to (bytes, 0 before it grew): see growSendBuffer. */
    private int sendBufferGrown;
    /** Where autotuning stops for this connection: MAX_AUTO_SEND_BUFFER, or what a quarter of its pool holds. */
    private final int autoSendBufferLimit;
    /** Where our segments go: device, next hop's MAC, offloads, kept while they hold (see Route). */
    final Route route;
    /** The listener that created us (passive open) until the application accepts us; null otherwise. */
    TcpListener listener;
    Handler handler = NO_HANDLER;

    TcpState state = TcpState.CLOSED;

    /** Sending: the send queue, what is in flight, loss recovery and congestion control, probes (TcpSender). */
    final TcpSender sender;
    /** Receiving: the receive window, reassembly, what our ACKs say and when they go (TcpReceiver). */
    final TcpReceiver receiver;
    /** Opening: SYN and SYN-ACK, the options they agree, the handshake, a SYN cookie's connection (ConnectionSetup). */
    final ConnectionSetup setup;

    // ---- options in force (ConnectionSetup agrees them; both halves follow them)
    /** Both sides sent the window-scale option (RFC 7323 §2.2); until the handshake ends, what our SYN offers. */
    boolean windowScalingOn;
    boolean timestampsOn;
    boolean sackOn;
    /** Clock base for our TSval: milliseconds since the connection started, offset by a random value. */
    long tsOffsetMillis;
    /** The application closed the socket entirely (no more reads). */
    boolean closedByApplication;
    /** The application shut output down in SYN_RECEIVED: the FIN goes once our SYN is acknowledged. */
    private boolean finAfterHandshake;

    // ---- timers: every deadline and the one wheel entry, no later than the earliest; keepalive's probes
    final ConnectionTimers timers;
    int keepAliveProbesSent;
    long lastReceiveNanos;

    boolean closedNotified;
    TcpError error;
    /** An ICMP error seen while connecting: the reason given if the connect times out (RFC 5461). */
    TcpError softError;

    TcpConnection(TcpLayer layer, TcpSettings settings, int localAddress, int localPort, int remoteAddress,
                  int remotePort) {
        super(localAddress, localPort, remoteAddress, remotePort);
        this.layer = layer;
        this.pool = layer.pool();
        this.autoSendBufferLimit = (int) Math.min(MAX_AUTO_SEND_BUFFER, (long) pool.capacity() / 4 * pool.dataRoom());
        this.settings = settings;
        this.route = layer.route(localAddress, remoteAddress);
        this.timers = new ConnectionTimers(this, layer.timers());
        this.sender = new TcpSender(this);
        this.receiver = new TcpReceiver(this);
        this.setup = new ConnectionSetup(this);
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

    /**
     * Installs changed settings (an application's socket option); they apply from the next segment. Those read only
     * when a timer is armed take effect through {@link #minRtoChanged()} and {@link #keepAliveChanged(long)}.
     */
    public void settings(TcpSettings changed) {
        this.settings = Objects.requireNonNull(changed, "settings");
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
        return receiver.finReceived;
    }

    public boolean isOutputShutdown() {
        return sender.finQueued || finAfterHandshake;
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
        return Math.max(0, sendBufferBytes() - Math.max(sender.sendQueue.size(), sender.sendQueue.memory()));
    }

    /** The send buffer now: the setting, or more where {@link #growSendBuffer} grew it (a fixed setting stays). */
    public int sendBufferBytes() {
        TcpSettings s = settings;
        return s.sendBufferFixed() ? s.sendBufferBytes() : Math.max(s.sendBufferBytes(), sendBufferGrown);
    }

    /**
     * Send buffer autotuning, as Linux's ({@code tcp_sndbuf_expand}): unless the application set SO_SNDBUF, the buffer
     * grows to twice the congestion window in what its segments pin (a full segment's payload takes a whole mbuf's
     * room), up to {@link #MAX_AUTO_SEND_BUFFER} and what a quarter of the pool holds, and only while half the pool is
     * free (as Linux grows none under memory pressure). With 256 KiB fixed, under loss the data SACKed behind a hole
     * the cumulative ACK waited on filled the buffer: no new data could go, so nothing sent after a lost
     * retransmission could tell RACK it was lost, and the RTO did (1-13 times per 64 MiB sent through a router dropping
     * 0.5-5 %, where Linux's sender had 0-1).
     */
    void growSendBuffer() {
        if (settings.sendBufferFixed()) {
            return;
        }
        int mss = Math.max(1, sender.sendMss);
        long target = Math.min(2 * sender.congestion.cwnd() / mss * Math.max(mss, pool.dataRoom()),
                autoSendBufferLimit);
        if (target <= sendBufferGrown || pool.available() < pool.capacity() / 2) {
            return; // the pool is counted only when the window grew past what the buffer holds
        }
        sendBufferGrown = (int) target;
    }

    /** Bytes queued to send and not yet acknowledged. */
    public long sendQueued() {
        return sender.sendQueue.size();
    }

    /** Payload bytes a full segment carries to this peer now (the MSS less the timestamp option). */
    public int sendMss() {
        return sender.sendMss;
    }

    /** Bytes received in order and not yet read. */
    public long readable() {
        return receiver.receiveQueue.bytes();
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
        if (!state.canSend() || sender.finQueued || state == TcpState.SYN_SENT || state == TcpState.SYN_RECEIVED
                || sendSpace() <= 0) {
            return false;
        }
        sender.sendQueue.append(chain);
        return true;
    }

    /**
     * Room at the end of the send queue's last mbuf that a copied write may fill before taking new mbufs, so small
     * writes share mbufs as Linux appends them to its tail skb; 0 when there is none, or the connection cannot
     * queue. Fill it at {@link #sendTailAddress()} and report it with {@link #sendTailFilled}.
     */
    public int sendTailRoom() {
        if (!state.canSend() || sender.finQueued || state == TcpState.SYN_SENT || state == TcpState.SYN_RECEIVED) {
            return 0;
        }
        return sender.sendQueue.tailRoom(sender.sendMss);
    }

    /** Address of {@link #sendTailRoom()}. */
    public long sendTailAddress() {
        return sender.sendQueue.tailAddress();
    }

    /** Queues {@code n} bytes just written at {@link #sendTailAddress()}. */
    public void sendTailFilled(int n) {
        sender.sendQueue.extendTail(n);
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
        long chain = take();
        if (chain != 0 && windowUpdateDue()) {
            sendWindowUpdate(nowNanos);
        }
        return chain;
    }

    /**
     * {@link #read} without the window update, for a caller that reads the clock only when one is due
     * ({@link #windowUpdateDue}, then {@link #sendWindowUpdate}): a clock read per segment read was 3 % of a memif
     * server's CPU at 8 KB.
     */
    public long take() {
        return receiver.receiveQueue.poll();
    }

    /** Whether reading opened the window enough that the peer should hear of it now. */
    public boolean windowUpdateDue() {
        return receiver.windowUpdateWorthSending();
    }

    /** Sends the window update {@link #windowUpdateDue} asked for. */
    public void sendWindowUpdate(long nowNanos) {
        receiver.ackNow = true;
        output(nowNanos);
    }

    /** Sends FIN after the queued data (half-close); reading goes on. */
    public void shutdownOutput(long nowNanos) {
        if (sender.finQueued || finAfterHandshake) {
            return;
        }
        switch (state) {
            case SYN_SENT -> {
                destroy(null);
                return;
            }
            case SYN_RECEIVED -> {
                // a simultaneous open (a passive one is not the application's until established): the FIN waits
                // for the ACK of our SYN (RFC 9293 §3.10.4), since the sender's sequence space starts after it
                finAfterHandshake = true;
                return;
            }
            case ESTABLISHED -> state = TcpState.FIN_WAIT_1;
            case CLOSE_WAIT -> state = TcpState.LAST_ACK;
            default -> {
                return;
            }
        }
        sender.finSeq = sender.sequenceOf(sender.sendQueue.end());
        sender.finQueued = true;
        output(nowNanos);
    }

    /**
     * Closes the connection as close(2) does: with unread data or SO_LINGER 0 it resets at once; otherwise it sends
     * FIN after the queued data and lingers in the background.
     */
    public void close(long nowNanos) {
        closedByApplication = true;
        if (state == TcpState.CLOSED) {
            receiver.receiveQueue.clear(); // what a reset connection left unread
            return;
        }
        if (state == TcpState.TIME_WAIT) {
            receiver.receiveQueue.clear();
            return;
        }
        if (state == TcpState.LISTEN || state == TcpState.SYN_SENT) {
            destroy(null);
            return;
        }
        if (!receiver.receiveQueue.isEmpty() || settings.lingerNanos() == 0) {
            // RFC 2525 §2.17: data the application will never read means the peer must learn it was lost
            abort(nowNanos);
            return;
        }
        receiver.reassembly.clear();
        shutdownOutput(nowNanos);
        if (settings.lingerNanos() > 0) {
            timers.closeDeadline = nowNanos + settings.lingerNanos();
            timers.arm();
        }
    }

    /** Sends RST and discards everything (SO_LINGER 0, or the stack shutting down). */
    public void abort(long nowNanos) {
        closedByApplication = true;
        receiver.receiveQueue.clear();
        if (state.isSynchronized() && state != TcpState.TIME_WAIT) {
            layer.sendReset(this, sender.sndNxt, 0, false);
        }
        destroy(TcpError.ABORTED);
    }

    // ======================================================================================== what TcpLayer asks

    /** The timer wheel's entry for this connection came due: run what is due, in order ({@link ConnectionTimers}). */
    void timersDue(long nowNanos) {
        timers.fire(nowNanos);
    }

    /** A passive open: {@code l} made this connection and keeps it until the application accepts it. */
    void createdBy(TcpListener l) {
        listener = l;
    }

    /** An ICMP error while connecting: the reason given if the connect then times out (RFC 5461). */
    void softError(TcpError why) {
        softError = why;
    }

    /** Whether {@code seq} lies in what we sent and the peer has not acknowledged (an ICMP error must quote it). */
    boolean isUnacknowledged(int seq) {
        return !SeqNum.lt(seq, sender.sndUna) && SeqNum.lt(seq, sender.sndMax);
    }

    // The parts, for TcpLayer to ask the one that knows. Plain accessors here and in the parts: the JIT inlines those
    // even where TcpLayer.transmit has used up its inlining budget (a getter of a getter is not one, and was called).

    TcpSender sender() {
        return sender;
    }

    TcpReceiver receiver() {
        return receiver;
    }

    ConnectionSetup setup() {
        return setup;
    }

    /** Whether every segment carries the timestamp option (both sides offered it). */
    boolean timestampsOn() {
        return timestampsOn;
    }

    /** Whether a SYN (our settings) or a SYN-ACK (what the peer's SYN agreed) offers window scaling. */
    boolean synOffersWindowScale(boolean synAck) {
        return synAck ? windowScalingOn : settings.windowScaling();
    }

    boolean synOffersSack(boolean synAck) {
        return synAck ? sackOn : settings.sack();
    }

    boolean synOffersTimestamps(boolean synAck) {
        return synAck ? timestampsOn : settings.timestamps();
    }

    // ======================================================================================== input

    /**
     * Processes one segment for this connection (RFC 9293 §3.10.7.3 and on). Takes ownership of its payload.
     */
    void input(InboundSegment seg, long nowNanos) {
        try {
            if (state == TcpState.SYN_SENT) {
                setup.inputSynSent(seg, nowNanos);
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
            handOverTimeWait(nowNanos);
        }
    }

    /**
     * This input made the connection enter TIME_WAIT, and its last ACK has gone: the tuple's 2 MSL go on in a
     * {@link TimeWait} of a few dozen bytes, which takes this connection's place in the table, and this object, with
     * its queues and recovery state, is done (what is left to read stays readable). The application heard the close
     * and the EOF (enterTimeWait, receiveFin): no handler is kept, so nothing here keeps a channel and its pipeline
     * reachable either.
     */
    private void handOverTimeWait(long nowNanos) {
        TimeWait successor = new TimeWait(this, 2 * settings.mslNanos());
        handler = NO_HANDLER;
        state = TcpState.CLOSED;
        release(null);
        layer.replaceByTimeWait(this, successor, nowNanos + successor.lifetimeNanos);
    }

    /** RFC 9293 §3.10.7.4 in a synchronized state, step by step: which part answers each, what the state becomes. */
    private void inputSynchronized(InboundSegment seg, long nowNanos) {
        TcpCounters counters = layer.counters();
        if (state == TcpState.SYN_RECEIVED && seg.seq == receiver.irs
                && (seg.flags & (TcpFlags.SYN | TcpFlags.ACK | TcpFlags.RST | TcpFlags.FIN)) == TcpFlags.SYN) {
            // the peer resent its SYN, so our SYN-ACK was lost: send it again (as Linux does, at most one per 500 ms).
            // The SYN's number lies before the window, and the bare ACK that would answer it is dropped by a peer
            // still in SYN_SENT, which then waited for our own retransmission timer
            if (receiver.mayAnswerInvalid(nowNanos)) {
                setup.resendSynAck(nowNanos);
            }
            return;
        }
        if (!receiver.acceptable(seg, nowNanos)) {
            return; // an old duplicate (PAWS) or outside the window: answered with an ACK (a RST is ignored)
        }
        // step 2: RST (RFC 5961 §3.2): exact match resets, anything else in the window gets a challenge ACK
        if (seg.has(TcpFlags.RST)) {
            if (seg.seq != receiver.rcvNxt) {
                counters.challengeAcks++;
                receiver.answerUnacceptable(seg, nowNanos);
                return;
            }
            counters.resetsReceived++;
            switch (state) {
                case SYN_RECEIVED -> destroy(listener != null ? null : TcpError.REFUSED);
                case CLOSING, LAST_ACK -> destroy(null);
                default -> destroy(TcpError.RESET);
            }
            return;
        }
        // step 4: SYN in a synchronized state (RFC 5961 §4): challenge ACK
        if (seg.has(TcpFlags.SYN)) {
            counters.challengeAcks++;
            receiver.answerUnacceptable(seg, nowNanos);
            return;
        }
        // step 5: ACK
        if (!seg.has(TcpFlags.ACK)) {
            counters.noAck++;
            return;
        }
        receiver.takeTimestamp(seg, nowNanos);
        lastReceiveNanos = nowNanos;
        keepAliveProbesSent = 0;
        if (state == TcpState.SYN_RECEIVED && !setup.handshakeAcknowledged(seg, nowNanos)) {
            return;
        }
        if (!sender.processAck(seg, nowNanos)) {
            return;
        }
        if (state == TcpState.CLOSED) {
            return;
        }
        if (finAfterHandshake && state == TcpState.ESTABLISHED) {
            finAfterHandshake = false;
            shutdownOutput(nowNanos); // closed while our SYN was unacknowledged: now it is
        }
        // step 7: text
        if (seg.payloadLength > 0) {
            if (state.canReceive() && !receiver.finReceived) {
                receiver.acceptData(seg, nowNanos);
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
            if (finSeq == receiver.rcvNxt && !receiver.finReceived) {
                receiveFin(nowNanos);
            } else if (SeqNum.gt(finSeq, receiver.rcvNxt) && !receiver.finReceived) {
                receiver.pendingFinOffset = receiver.receiveOffset + SeqNum.diff(finSeq, receiver.rcvNxt);
                receiver.ackNow = true;
            }
        }
    }

    void finWasAcked(long nowNanos) {
        switch (state) {
            case FIN_WAIT_1 -> {
                state = TcpState.FIN_WAIT_2;
                if (closedByApplication) {
                    timers.closeDeadline = nowNanos + settings.finWait2TimeoutNanos();
                    timers.arm();
                }
            }
            case CLOSING -> enterTimeWait(nowNanos);
            case LAST_ACK -> destroy(null);
            default -> {
            }
        }
    }

    void receiveFin(long nowNanos) {
        receiver.rcvNxt += 1;
        receiver.finReceived = true;
        receiver.ackNow = true;
        switch (state) {
            case SYN_RECEIVED, ESTABLISHED -> state = TcpState.CLOSE_WAIT;
            case FIN_WAIT_1 -> {
                if (sender.finAcked) {
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

    /** TIME_WAIT begins: the application is told, and at the end of this input a {@link TimeWait} takes over. */
    private void enterTimeWait(long nowNanos) {
        if (layer.timeWaitCount >= settings.maxTimeWaits()) {
            // as Linux on tcp_max_tw_buckets: the peer's FIN is acknowledged, the tuple is not kept
            layer.counters().timeWaitOverflows++;
            receiver.sendAckNow(nowNanos);
            destroy(null);
            return;
        }
        // its queues and timers go when the TimeWait takes over, at the end of this input (handOverTimeWait)
        state = TcpState.TIME_WAIT;
        layer.counters().timeWaits++;
        notifyClosed(null); // the application is done with it; the 4-tuple stays reserved until 2MSL
    }

    // ======================================================================================== output

    /** Sends whatever the state, the windows and the ACK policy call for now. */
    void output(long nowNanos) {
        sender.switchCongestionControlIfDue(nowNanos);
        if (state == TcpState.CLOSED || state == TcpState.LISTEN || state == TcpState.SYN_SENT
                || state == TcpState.SYN_RECEIVED) {
            if (receiver.ackNow && state == TcpState.SYN_RECEIVED) {
                receiver.ackNow = false;
            }
            return;
        }
        boolean sentSomething = false;
        if (state != TcpState.TIME_WAIT) {
            sentSomething = sender.sendData(nowNanos);
        }
        if (!sentSomething && (receiver.ackNow || (receiver.segmentsUnacked > 0 && timers.delayedAckDeadline != 0
                && nowNanos >= timers.delayedAckDeadline))) {
            receiver.sendAckNow(nowNanos);
        }
        sender.scheduleProbe(nowNanos);
    }

    /** Our TSval: milliseconds on a per-connection offset clock (RFC 7323 §5.4, RFC 9293 hides uptime). */
    int tsNow(long nowNanos) {
        return tsValue(nowNanos, tsOffsetMillis);
    }

    /** The TSval clock at {@code nowNanos} for a connection whose offset is {@code offsetMillis} (and its TimeWait's). */
    static int tsValue(long nowNanos, long offsetMillis) {
        return (int) (nowNanos / 1_000_000L + offsetMillis);
    }

    /** When the timestamp {@code seg} echoes was sent (our clock, millisecond precision), or Long.MIN_VALUE if none. */
    long echoNanos(InboundSegment seg, long nowNanos) {
        if (!timestampsOn || !seg.hasTimestamp || seg.tsEcr == 0) {
            return Long.MIN_VALUE;
        }
        return nowNanos - (long) (tsNow(nowNanos) - seg.tsEcr) * 1_000_000L;
    }

    void armKeepAlive(long nowNanos) {
        if (settings.keepAlive()) {
            timers.keepAliveDeadline = nowNanos + settings.keepAliveIdleNanos();
            timers.arm();
        }
    }

    /** Re-reads the minimum RTO ({@link TcpSettings#minRtoNanos}) after the application changed it. */
    public void minRtoChanged() {
        sender.rtt.minRtoNanos(settings.minRtoNanos());
    }

    /** The congestion control setting changed: see {@link TcpSender#congestionControlChanged}. */
    public void congestionControlChanged(long nowNanos) {
        sender.congestionControlChanged(nowNanos);
    }

    /** Re-reads SO_KEEPALIVE and friends after the application changed them. */
    public void keepAliveChanged(long nowNanos) {
        if (settings.keepAlive() && isActive()) {
            armKeepAlive(Math.max(nowNanos, lastReceiveNanos));
        } else {
            timers.keepAliveDeadline = 0;
        }
    }

    /**
     * The close timer fired: FIN_WAIT_2 waited too long (tcp_fin_timeout), or linger expired with data
     * unacknowledged. Returns whether the connection is gone.
     */
    boolean closeTimeout(long nowNanos) {
        if (state == TcpState.FIN_WAIT_2) {
            destroy(null);
            return true;
        }
        if (closedByApplication && settings.lingerNanos() > 0) {
            abort(nowNanos);
            return true;
        }
        return false;
    }

    void keepAliveTimeout(long nowNanos) {
        if (!settings.keepAlive() || !isActive()) {
            return;
        }
        long idle = nowNanos - lastReceiveNanos;
        if (idle < settings.keepAliveIdleNanos() && keepAliveProbesSent == 0) {
            timers.keepAliveDeadline = lastReceiveNanos + settings.keepAliveIdleNanos();
            timers.arm();
            return;
        }
        if (keepAliveProbesSent >= settings.keepAliveProbes()) {
            layer.counters().keepAliveTimeouts++;
            layer.sendReset(this, sender.sndNxt, 0, false);
            destroy(TcpError.TIMED_OUT);
            return;
        }
        // a probe the peer must answer: SEG.SEQ = SND.UNA - 1 with no data (RFC 9293 §3.8.4)
        layer.transmit(this, TcpFlags.ACK, sender.sndUna - 1, 0, 0, nowNanos);
        layer.counters().keepAliveProbes++;
        keepAliveProbesSent++;
        timers.keepAliveDeadline = nowNanos + settings.keepAliveIntervalNanos();
        timers.arm();
    }

    // ======================================================================================== teardown

    /** Frees everything, leaves the connection table, and tells the handler once. */
    void destroy(TcpError why) {
        if (state == TcpState.CLOSED) {
            return;
        }
        state = TcpState.CLOSED;
        release(why);
        layer.remove(this);
        notifyClosed(why);
    }

    /** Frees what a closed connection keeps no more, stops its timers, and leaves its listener. */
    private void release(TcpError why) {
        sender.sendQueue.clear();
        // a connection still waiting to be accepted leaves the accept queue below: no application will read or close it
        if (closedByApplication || why == TcpError.ABORTED || listener != null) {
            receiver.receiveQueue.clear();
        }
        // otherwise data received before a RST, a timeout or TIME_WAIT stays readable, as on Linux, until close()
        receiver.reassembly.clear();
        sender.sent.clear();
        timers.cancelAll();
        if (listener != null) {
            listener.forget(this);
            listener = null;
        }
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
        TcpSender s = sender;
        TcpReceiver r = receiver;
        return this + " una=" + Integer.toUnsignedString(s.sndUna - s.iss) + " nxt=+" + SeqNum.diff(s.sndNxt, s.sndUna)
                + " max=+" + SeqNum.diff(s.sndMax, s.sndUna) + " sndWnd=" + s.sndWnd + " cwnd=" + s.congestion.cwnd()
                + s.congestion.describe() + " queued=" + s.sendQueue.size() + " sndbuf=" + sendBufferBytes()
                + " fin=" + s.finQueued + " rcvNxt=" + Integer.toUnsignedString(r.rcvNxt - r.irs)
                + " rcvWnd=" + r.currentReceiveWindow() + " readable=" + r.receiveQueue.bytes()
                + " ooo=" + r.reassembly.entries() + " dupAcks=" + s.dupAcks + " recovery=" + s.inRecovery
                + " loss=" + s.lossRecovery + " pipe=" + s.sent.pipe() + " lost=" + s.sent.lostBytes() + " sacked="
                + s.sent.sackedBytes() + " tlp=" + s.probesSent + "/" + s.probeRecoveries + " rackLost=" + s.rackLosses
                + " dsacks=" + s.dsacksReceived + " undos=" + s.undos + " prr=" + s.prrSegments + " reoWnd*"
                + s.rack.reoWndMult() + (s.rack.reorderingSeen() ? " reordering" : "")
                + " retransmits=" + s.retransmitCount + " rtt=" + s.rtt + " " + timers.describe(nowNanos);
    }

    @Override
    public String toString() {
        return "TcpConnection(" + Ipv4Packet.addressText(localAddress) + ":" + localPort + " > "
                + Ipv4Packet.addressText(remoteAddress) + ":" + remotePort + " " + state + ")";
    }
}
