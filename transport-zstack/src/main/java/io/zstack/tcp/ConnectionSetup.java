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

    ConnectionSetup(TcpConnection c) {
        this.c = c;
        this.layer = c.layer;
        this.timers = c.timers;
    }

    // ======================================================================================== opening

    /** Active open: sends SYN (RFC 9293 §3.10.1). */
    void connect(long nowNanos) {
        c.sender.iss = layer.isn(c.localAddress, c.localPort, c.remoteAddress, c.remotePort, nowNanos);
        c.sender.sndUna = c.sender.iss;
        c.sender.sndNxt = c.sender.iss;
        c.sender.sndMax = c.sender.iss;
        c.sender.recoveryPoint = c.sender.iss;
        c.receiver.receiveMss = layer.mssFor(c.remoteAddress);
        c.sender.sendMss = 536; // RFC 9293 default until the peer says otherwise
        c.tsOffsetMillis = timestampOffset();
        // what our SYN offers; the peer's SYN-ACK decides what is used
        c.windowScalingOn = c.settings.windowScaling();
        c.receiver.rcvWindowShift = c.settings.windowScaling() ? windowShiftFor(c.settings.receiveBufferBytes()) : 0;
        c.sackOn = c.settings.sack();
        c.timestampsOn = c.settings.timestamps();
        c.state = TcpState.SYN_SENT;
        c.lastReceiveNanos = nowNanos;
        sendSyn(nowNanos, false);
    }

    /** Passive open: a SYN reached a listener (already checked); answer SYN-ACK (RFC 9293 §3.10.7.2). */
    void acceptSyn(InboundSegment seg, long nowNanos) {
        c.receiver.irs = seg.seq;
        c.receiver.rcvNxt = seg.seq + 1;
        c.receiver.rcvAdvertisedEdge = c.receiver.rcvNxt; // nothing advertised yet: the edge must not be left at 0
        c.sender.iss = layer.isn(c.localAddress, c.localPort, c.remoteAddress, c.remotePort, nowNanos);
        c.sender.sndUna = c.sender.iss;
        c.sender.sndNxt = c.sender.iss;
        c.sender.sndMax = c.sender.iss;
        c.sender.recoveryPoint = c.sender.iss;
        c.receiver.receiveMss = layer.mssFor(c.remoteAddress);
        c.tsOffsetMillis = timestampOffset();
        takeSynOptions(seg, nowNanos);
        c.sender.sndWnd = seg.window; // never scaled in a SYN (RFC 7323 §2.2)
        c.sender.maxSndWnd = c.sender.sndWnd;
        c.sender.sndWl1 = seg.seq;
        c.sender.sndWl2 = c.sender.iss;
        c.state = TcpState.SYN_RECEIVED;
        c.lastReceiveNanos = nowNanos;
        sendSyn(nowNanos, true);
    }

    /** A connection rebuilt from a valid SYN cookie: straight to ESTABLISHED with what the cookie kept. */
    void acceptCookie(InboundSegment seg, int cookieIss, int peerMss, long nowNanos) {
        c.receiver.irs = seg.seq - 1;
        c.receiver.rcvNxt = seg.seq;
        c.receiver.rcvAdvertisedEdge = c.receiver.rcvNxt;
        c.sender.iss = cookieIss;
        c.sender.sndUna = seg.ack;
        c.sender.sndNxt = seg.ack;
        c.sender.sndMax = seg.ack;
        c.sender.recoveryPoint = seg.ack;
        c.receiver.receiveMss = layer.mssFor(c.remoteAddress);
        c.sender.sendMss = Math.min(peerMss, c.receiver.receiveMss);
        c.tsOffsetMillis = timestampOffset();
        // the cookie keeps no window scale, SACK or timestamps: the connection runs without them (documented)
        c.sender.sndWnd = seg.window;
        c.sender.maxSndWnd = c.sender.sndWnd;
        c.sender.sndWl1 = seg.seq;
        c.sender.sndWl2 = seg.ack;
        c.sender.congestion.init(c.sender.sendMss, nowNanos);
        c.receiver.rcvAdvertisedEdge = c.receiver.rcvNxt + c.receiver.advertisedWindowBytes();
        c.state = TcpState.ESTABLISHED;
        c.lastReceiveNanos = nowNanos;
        c.armKeepAlive(nowNanos);
    }

    private void takeSynOptions(InboundSegment seg, long nowNanos) {
        int peerMss = seg.mss > 0 ? seg.mss : 536;
        c.sender.sendMss = Math.max(64, Math.min(peerMss, c.receiver.receiveMss));
        if (c.settings.windowScaling() && seg.windowScale >= 0) {
            c.windowScalingOn = true;
            c.sender.sndWindowShift = Math.min(seg.windowScale, 14); // RFC 7323 §2.3: treat larger as 14
            c.receiver.rcvWindowShift = windowShiftFor(c.settings.receiveBufferBytes());
        } else {
            c.windowScalingOn = false;
            c.sender.sndWindowShift = 0;
            c.receiver.rcvWindowShift = 0;
        }
        c.sackOn = c.settings.sack() && seg.sackPermitted;
        if (c.settings.timestamps() && seg.hasTimestamp) {
            c.timestampsOn = true;
            c.receiver.tsRecent = seg.tsVal;
            c.receiver.tsRecentAtNanos = nowNanos;
        } else {
            c.timestampsOn = false;
        }
        if (c.timestampsOn) {
            c.sender.sendMss -= 12; // the timestamp option rides in every segment
        }
        c.sender.congestion.init(c.sender.sendMss, nowNanos);
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
        layer.transmit(c, flags, c.sender.iss, 0, 0, nowNanos);
        c.sender.sndNxt = c.sender.iss + 1;
        c.sender.sndMax = c.sender.iss + 1;
        if (timers.retransmitDeadline == 0) {
            timers.retransmitDeadline = nowNanos + c.sender.rtt.rto();
            timers.arm();
        }
    }

    void inputSynSent(InboundSegment seg, long nowNanos) {
        boolean ackOk = false;
        if (seg.has(TcpFlags.ACK)) {
            if (SeqNum.le(seg.ack, c.sender.iss) || SeqNum.gt(seg.ack, c.sender.sndNxt)) {
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
        c.receiver.irs = seg.seq;
        c.receiver.rcvNxt = seg.seq + 1;
        c.receiver.rcvAdvertisedEdge = c.receiver.rcvNxt;
        takeSynOptions(seg, nowNanos);
        if (ackOk) {
            c.sender.sndUna = seg.ack;
            c.sender.sndWnd = seg.window; // a SYN's window is never scaled
            c.sender.maxSndWnd = c.sender.sndWnd;
            c.sender.sndWl1 = seg.seq;
            c.sender.sndWl2 = seg.ack;
            timers.retransmitDeadline = 0;
            if (c.sender.retransmitCount == 0 && !c.timestampsOn) {
                c.sender.rtt.sample(nowNanos - synSentAt);
            } else if (c.timestampsOn && seg.hasTimestamp && seg.tsEcr != 0) {
                c.sender.rtt.sample(Math.max(0, (c.tsNow(nowNanos) - seg.tsEcr)) * 1_000_000L);
            }
            c.sender.retransmitCount = 0;
            c.sender.rtt.resetBackoff();
            c.state = TcpState.ESTABLISHED;
            c.receiver.rcvAdvertisedEdge = c.receiver.rcvNxt;
            c.receiver.ackNow = true;
            c.armKeepAlive(nowNanos);
            c.handler.onConnected(c);
            if (seg.payloadLength > 0) {
                c.receiver.acceptData(seg, nowNanos);
            }
        } else {
            // simultaneous open (RFC 9293 §3.5): answer SYN-ACK with our original ISS
            c.state = TcpState.SYN_RECEIVED;
            c.sender.sndWnd = seg.window;
            c.sender.maxSndWnd = c.sender.sndWnd;
            c.sender.sndWl1 = seg.seq;
            c.sender.sndWl2 = c.sender.iss;
            layer.transmit(c, TcpFlags.SYN | TcpFlags.ACK, c.sender.iss, 0, 0, nowNanos);
        }
    }

    /** This tuple's timestamp clock offset: see {@link IsnGenerator#timestampOffset}. */
    private long timestampOffset() {
        return Integer.toUnsignedLong(layer.timestampOffset(c.localAddress, c.localPort, c.remoteAddress,
                c.remotePort));
    }

    /** When our first SYN left, for the handshake's RTT sample (Karn: only if it was not retransmitted). */
    private long synSentAt;
}
