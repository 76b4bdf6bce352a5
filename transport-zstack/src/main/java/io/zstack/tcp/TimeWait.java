package io.zstack.tcp;

/**
 * A 4-tuple in TIME_WAIT (RFC 9293 §3.6): what a connection that closed first leaves for 2 MSL, so that a late
 * segment of it is not taken for a new connection's and a lost last ACK can be sent again. It keeps only what that
 * takes (the sequence numbers, the timestamps, the window it last advertised), as Linux's timewait socket does: the
 * connection itself, with its queues, recovery and congestion state (about 3 KB of heap), goes when it enters
 * TIME_WAIT. A server closing first holds up to {@link TcpSettings#maxTimeWaits} of these.
 *
 * <p>Input, as Linux's {@code tcp_timewait_state_process}: a RST at RCV.NXT ends it; a bare ACK at RCV.NXT restarts
 * its 2 MSL; a SYN that starts a new incarnation takes the tuple over ({@link #startsNewIncarnation}, in
 * {@link TcpLayer}); anything else (the peer's FIN again, data, an old duplicate) is answered with an ACK, which also
 * restarts the 2 MSL, bare segments' answers at most one per {@link TcpReceiver#INVALID_ACK_INTERVAL_NANOS}.
 */
final class TimeWait extends TcpTuple {
    /** Our SND.NXT: past our FIN. */
    final int sndNxt;
    /** RCV.NXT: past the peer's FIN. */
    final int rcvNxt;
    /** The window field our last segment carried. */
    final int windowField;
    final boolean timestampsOn;
    /** The connection's TSval clock offset ({@link TcpConnection#tsNow}), so our timestamps stay monotonic. */
    final long tsOffsetMillis;
    /** 2 MSL: how long it lasts after the last segment that restarts it. */
    final long lifetimeNanos;
    /** TS.Recent: the peer's timestamp our ACKs echo, and PAWS's reference. */
    int tsRecent;
    private long answeredNanos;
    private boolean answered;
    final TimerWheel.Timer<TimeWait> expiry = new TimerWheel.Timer<>(this);

    TimeWait(TcpConnection c, long lifetimeNanos) {
        super(c.localAddress, c.localPort, c.remoteAddress, c.remotePort);
        this.sndNxt = c.sender.sndNxt;
        this.rcvNxt = c.receiver.rcvNxt;
        this.windowField = c.receiver.windowField(false);
        this.timestampsOn = c.timestampsOn;
        this.tsOffsetMillis = c.tsOffsetMillis;
        this.tsRecent = c.receiver.tsRecent;
        this.lifetimeNanos = lifetimeNanos;
    }

    /**
     * Whether a SYN on this tuple starts a new incarnation that may take it over (RFC 6191, RFC 9293 §3.6.1). As Linux
     * does: its timestamp must pass PAWS, and either it is newer or the SYN starts past the old stream (a client
     * opening connections faster than its 1 ms timestamp clock ticks repeats a timestamp).
     */
    boolean startsNewIncarnation(InboundSegment syn) {
        boolean timestamps = timestampsOn && syn.hasTimestamp;
        return !(timestamps && SeqNum.lt(syn.tsVal, tsRecent))
                && (SeqNum.gt(syn.seq, rcvNxt) || timestamps && SeqNum.gt(syn.tsVal, tsRecent));
    }

    /** A segment for this tuple that does not take it over (see the class comment). */
    void input(TcpLayer layer, InboundSegment seg, long nowNanos) {
        boolean rst = seg.has(TcpFlags.RST);
        boolean timestamp = timestampsOn && seg.hasTimestamp;
        boolean pawsRejected = timestamp && !rst && tsRecent - seg.tsVal > TcpReceiver.PAWS_WINDOW_TICKS;
        int length = seg.sequenceLength();
        if (!pawsRejected && seg.seq == rcvNxt && (length == 0 || rst)) {
            if (rst) {
                layer.counters().resetsReceived++;
                layer.endTimeWait(this);
                return;
            }
            if (timestamp) {
                tsRecent = seg.tsVal;
            }
            layer.restartTimeWait(this, nowNanos);
            return;
        }
        if (rst) {
            layer.counters().resetsIgnored++; // not at RCV.NXT: a blind reset (RFC 5961) cannot end it
            return;
        }
        if (pawsRejected) {
            layer.counters().pawsRejected++;
        } else {
            layer.counters().outOfWindow++;
            if (timestamp && length > 0 && SeqNum.le(seg.seq + length, rcvNxt)) {
                tsRecent = seg.tsVal; // a retransmission (our ACK was lost): echo it, as TcpReceiver.outOfWindow does
            }
        }
        if (pawsRejected || seg.has(TcpFlags.ACK)) {
            layer.restartTimeWait(this, nowNanos);
        }
        // data or a FIN again means our ACK was lost, and cannot loop; a bare segment's answer could (an ACK loop)
        if (seg.payloadLength == 0 && !seg.has(TcpFlags.FIN) && answered
                && nowNanos - answeredNanos < TcpReceiver.INVALID_ACK_INTERVAL_NANOS) {
            layer.counters().invalidAcksSuppressed++;
            return;
        }
        answered = true;
        answeredNanos = nowNanos;
        layer.sendTimeWaitAck(this, nowNanos);
    }

    /** Our TSval now: the connection's clock goes on ({@link TcpConnection#tsValue}). */
    int tsNow(long nowNanos) {
        return TcpConnection.tsValue(nowNanos, tsOffsetMillis);
    }
}
