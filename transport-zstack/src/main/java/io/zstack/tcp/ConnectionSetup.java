package io.zstack.tcp;

/**
 * Opening a {@link TcpConnection} (gVisor's handshake): the active open's SYN, the passive open's SYN-ACK, the
 * options both agree (MSS, window scale, SACK, timestamps), the SYN_SENT state's input, and a connection rebuilt from
 * a SYN cookie. It sets both halves' starting sequence numbers; from ESTABLISHED on it has nothing more to do.
 */
final class ConnectionSetup {
    final TcpConnection c;
    final TcpLayer layer;
    final ConnectionTimers timers;
    /** The halves whose starting point the handshake sets (the connection makes them first). */
    final TcpSender sender;
    final TcpReceiver receiver;
    /** When our first SYN left, for the handshake's RTT sample (Karn: only if it was not retransmitted). */
    private long synSentAt;
    /** Our SYN or SYN-ACK went out more than once: the ACK of it may answer either, so no RTT from synSentAt. */
    private boolean synResent;

    ConnectionSetup(TcpConnection c) {
        this.c = c;
        this.layer = c.layer;
        this.timers = c.timers;
        this.sender = c.sender;
        this.receiver = c.receiver;
    }

    /** Active open: sends SYN (RFC 9293 §3.10.1). */
    void connect(long nowNanos) {
        sender.start(layer.isn(c.localAddress, c.localPort, c.remoteAddress, c.remotePort, nowNanos));
        receiver.receiveMss = layer.mssFor(c.remoteAddress);
        sender.sendMss = 536; // RFC 9293 default until the peer says otherwise
        c.tsOffsetMillis = timestampOffset();
        // what our SYN offers; the peer's SYN-ACK decides what is used
        c.windowScalingOn = c.settings.windowScaling();
        receiver.rcvWindowShift = c.settings.windowScaling() ? windowShiftFor(c.settings.receiveBufferBytes()) : 0;
        c.sackOn = c.settings.sack();
        c.timestampsOn = c.settings.timestamps();
        c.state = TcpState.SYN_SENT;
        c.lastReceiveNanos = nowNanos;
        sendSyn(nowNanos, false);
    }

    /** Passive open: a SYN reached a listener (already checked); answer SYN-ACK (RFC 9293 §3.10.7.2). */
    void acceptSyn(InboundSegment seg, long nowNanos) {
        receiver.irs = seg.seq;
        receiver.rcvNxt = seg.seq + 1;
        receiver.rcvAdvertisedEdge = receiver.rcvNxt; // nothing advertised yet: the edge must not be left at 0
        sender.start(layer.isn(c.localAddress, c.localPort, c.remoteAddress, c.remotePort, nowNanos));
        receiver.receiveMss = layer.mssFor(c.remoteAddress);
        c.tsOffsetMillis = timestampOffset();
        takeSynOptions(seg, nowNanos);
        sender.sndWnd = seg.window; // never scaled in a SYN (RFC 7323 §2.2)
        sender.maxSndWnd = sender.sndWnd;
        sender.sndWl1 = seg.seq;
        sender.sndWl2 = sender.iss;
        c.state = TcpState.SYN_RECEIVED;
        c.lastReceiveNanos = nowNanos;
        sendSyn(nowNanos, true);
    }

    /** A connection rebuilt from a valid SYN cookie: straight to ESTABLISHED with what the cookie kept. */
    void acceptCookie(InboundSegment seg, int cookieIss, int peerMss, long nowNanos) {
        receiver.irs = seg.seq - 1;
        receiver.rcvNxt = seg.seq;
        receiver.rcvAdvertisedEdge = receiver.rcvNxt;
        sender.iss = cookieIss;
        sender.sndUna = seg.ack;
        sender.sndNxt = seg.ack;
        sender.sndMax = seg.ack;
        sender.recoveryPoint = seg.ack;
        receiver.receiveMss = layer.mssFor(c.remoteAddress);
        sender.sendMss = Math.min(peerMss, receiver.receiveMss);
        c.tsOffsetMillis = timestampOffset();
        // the cookie keeps no window scale, SACK or timestamps: the connection runs without them (documented)
        sender.sndWnd = seg.window;
        sender.maxSndWnd = sender.sndWnd;
        sender.sndWl1 = seg.seq;
        sender.sndWl2 = seg.ack;
        sender.congestion.init(sender.sendMss, nowNanos);
        receiver.rcvAdvertisedEdge = receiver.rcvNxt + receiver.advertisedWindowBytes();
        c.state = TcpState.ESTABLISHED;
        c.lastReceiveNanos = nowNanos;
        c.armKeepAlive(nowNanos);
    }

    private void takeSynOptions(InboundSegment seg, long nowNanos) {
        int peerMss = seg.mss > 0 ? seg.mss : 536;
        sender.sendMss = Math.max(64, Math.min(peerMss, receiver.receiveMss));
        if (c.settings.windowScaling() && seg.windowScale >= 0) {
            c.windowScalingOn = true;
            sender.sndWindowShift = Math.min(seg.windowScale, 14); // RFC 7323 §2.3: treat larger as 14
            receiver.rcvWindowShift = windowShiftFor(c.settings.receiveBufferBytes());
        } else {
            c.windowScalingOn = false;
            sender.sndWindowShift = 0;
            receiver.rcvWindowShift = 0;
        }
        c.sackOn = c.settings.sack() && seg.sackPermitted;
        if (c.settings.timestamps() && seg.hasTimestamp) {
            c.timestampsOn = true;
            receiver.tsRecent = seg.tsVal;
            receiver.tsRecentAtNanos = nowNanos;
        } else {
            c.timestampsOn = false;
        }
        if (c.timestampsOn) {
            sender.sendMss -= 12; // the timestamp option rides in every segment
        }
        sender.congestion.init(sender.sendMss, nowNanos);
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
        layer.transmit(c, flags, sender.iss, 0, 0, nowNanos);
        sender.sndNxt = sender.iss + 1;
        sender.sndMax = sender.iss + 1;
        if (timers.retransmitDeadline == 0) {
            timers.retransmitDeadline = nowNanos + sender.rtt.rto();
            timers.arm();
        }
    }

    void inputSynSent(InboundSegment seg, long nowNanos) {
        boolean ackOk = false;
        if (seg.has(TcpFlags.ACK)) {
            if (SeqNum.le(seg.ack, sender.iss) || SeqNum.gt(seg.ack, sender.sndNxt)) {
                if (!seg.has(TcpFlags.RST)) {
                    layer.sendReset(c, seg.ack, 0, false);
                }
                layer.counters().badAcks++;
                return;
            }
            ackOk = true;
        }
        if (seg.has(TcpFlags.RST)) {
            if (ackOk) {
                c.destroy(TcpError.REFUSED);
            }
            return;
        }
        if (!seg.has(TcpFlags.SYN)) {
            return;
        }
        receiver.irs = seg.seq;
        receiver.rcvNxt = seg.seq + 1;
        receiver.rcvAdvertisedEdge = receiver.rcvNxt;
        takeSynOptions(seg, nowNanos);
        if (ackOk) {
            sender.sndUna = seg.ack;
            sender.sndWnd = seg.window; // a SYN's window is never scaled
            sender.maxSndWnd = sender.sndWnd;
            sender.sndWl1 = seg.seq;
            sender.sndWl2 = seg.ack;
            timers.retransmitDeadline = 0;
            handshakeRtt(seg, nowNanos);
            sender.retransmitCount = 0;
            sender.rtt.resetBackoff();
            c.state = TcpState.ESTABLISHED;
            receiver.rcvAdvertisedEdge = receiver.rcvNxt;
            receiver.ackNow = true;
            c.armKeepAlive(nowNanos);
            c.handler.onConnected(c);
            if (seg.payloadLength > 0) {
                seg.seq++; // the SYN holds seg.seq: its data starts at the next number, where rcvNxt now is
                receiver.acceptData(seg, nowNanos);
            }
            // RFC 9293 §3.10.7.3: a SYN-ACK's other controls are processed too; a FIN right after all its data
            // closes the input now (one after data cut off at the window is resent by the peer)
            if (seg.has(TcpFlags.FIN) && c.state == TcpState.ESTABLISHED && !receiver.finReceived
                    && receiver.rcvNxt == receiver.irs + 1 + seg.payloadLength) {
                c.receiveFin(nowNanos);
            }
        } else {
            // simultaneous open (RFC 9293 §3.5): answer SYN-ACK with our original ISS
            c.state = TcpState.SYN_RECEIVED;
            sender.sndWnd = seg.window;
            sender.maxSndWnd = sender.sndWnd;
            sender.sndWl1 = seg.seq;
            sender.sndWl2 = sender.iss;
            layer.transmit(c, TcpFlags.SYN | TcpFlags.ACK, sender.iss, 0, 0, nowNanos);
        }
    }

    /**
     * The ACK that completes a passive (or simultaneous) open, step 5 of RFC 9293 §3.10.7.4 in SYN_RECEIVED:
     * ESTABLISHED, the send window it brings, and the accept queue (or the application) told. False when the rest of
     * the segment is dropped: an ACK of something we never sent gets a RST, and a full accept queue leaves the
     * connection in SYN_RECEIVED as if the ACK was lost.
     */
    boolean handshakeAcknowledged(InboundSegment seg, long nowNanos) {
        TcpCounters counters = layer.counters();
        if (SeqNum.le(seg.ack, sender.sndUna) || SeqNum.gt(seg.ack, sender.sndNxt)) {
            layer.sendReset(c, seg.ack, 0, false);
            counters.badAcks++;
            return false;
        }
        handshakeRtt(seg, nowNanos);
        c.state = TcpState.ESTABLISHED;
        sender.sndWnd = seg.window << sender.sndWindowShift;
        sender.maxSndWnd = Math.max(sender.maxSndWnd, sender.sndWnd);
        sender.sndWl1 = seg.seq;
        sender.sndWl2 = seg.ack;
        receiver.rcvAdvertisedEdge = receiver.rcvNxt + receiver.advertisedWindowBytes();
        c.armKeepAlive(nowNanos);
        if (c.listener != null) {
            if (!c.listener.established(c)) {
                // accept queue full: behave as if the ACK was lost (Linux's default); the SYN-ACK timer retries
                c.state = TcpState.SYN_RECEIVED;
                return false;
            }
        } else {
            c.handler.onConnected(c);
        }
        return true;
    }

    /**
     * The handshake's RTT sample, on the ACK of our SYN or SYN-ACK (Linux takes both): from its send when it went out
     * once, else from the echoed timestamp (which tells the transmissions apart, in milliseconds).
     */
    private void handshakeRtt(InboundSegment seg, long nowNanos) {
        if (sender.retransmitCount == 0 && !synResent) {
            sender.rtt.sample(nowNanos - synSentAt);
            return;
        }
        long echo = c.echoNanos(seg, nowNanos);
        if (echo != Long.MIN_VALUE) {
            sender.rtt.sample(Math.max(0, nowNanos - echo));
        }
    }

    /** The peer sent its SYN again while we are in SYN_RECEIVED: our SYN-ACK was lost, answer it again. */
    void resendSynAck(long nowNanos) {
        synResent = true;
        layer.transmit(c, TcpFlags.SYN | TcpFlags.ACK, sender.iss, 0, 0, nowNanos);
    }

    /** This tuple's timestamp clock offset: see {@link IsnGenerator#timestampOffset}. */
    private long timestampOffset() {
        return Integer.toUnsignedLong(layer.timestampOffset(c.localAddress, c.localPort, c.remoteAddress,
                c.remotePort));
    }
}
