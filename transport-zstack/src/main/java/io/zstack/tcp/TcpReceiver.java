package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;

/**
 * The receiving half of a {@link TcpConnection} (gVisor's {@code receiver}): the receive sequence space, the window we
 * advertise (receiver SWS avoidance, never shrinking the right edge), in-order data to the {@link ReceiveQueue} and
 * out-of-order data to the {@link ReassemblyQueue}, the SACK blocks our ACKs carry, and the ACK policy (delayed ACK,
 * quick ACKs at the start, an ACK at once for a hole or a duplicate).
 */
final class TcpReceiver {
    final TcpConnection c;
    final TcpLayer layer;
    final MbufPool pool;
    final ConnectionTimers timers;

    // ---- receive sequence space (RFC 9293 §3.3.1)
    int irs;
    int rcvNxt;
    int rcvWindowShift;
    /** Right edge we last advertised: never moved left (RFC 9293 §3.8.6.2.2). */
    int rcvAdvertisedEdge;
    /** MSS we announce (our MTU less headers). */
    int receiveMss;
    /** TS.Recent (RFC 7323 §4.3): the peer's timestamp our segments echo, and when it came (PAWS ages it). */
    int tsRecent;
    long tsRecentAtNanos;

    // ---- what arrived
    final ReceiveQueue receiveQueue;
    final ReassemblyQueue reassembly;
    /** Stream offset of RCV.NXT (bytes delivered in order so far). */
    long receiveOffset;
    /** FIN seen beyond a hole: its stream offset, or -1. */
    long pendingFinOffset = -1;
    boolean finReceived;
    /** The SACK blocks our ACKs carry: a D-SACK owed, the latest out-of-order range. */
    final SackReport sackReport = new SackReport();

    // ---- ACK policy
    int segmentsUnacked;
    int quickAcksLeft;
    boolean ackNow;
    /**
     * Listed in {@link TcpLayer}'s owed ACKs: full segments of this round await one ACK, sent by the round's output
     * unless a segment of ours carried it first.
     */
    boolean ackOwed;

    TcpReceiver(TcpConnection c) {
        this.c = c;
        this.layer = c.layer;
        this.pool = c.pool;
        this.timers = c.timers;
        this.receiveQueue = new ReceiveQueue(pool);
        this.reassembly = new ReassemblyQueue(pool, c.settings.reassemblySegments());
        this.quickAcksLeft = c.settings.quickAckSegments();
    }

    /** The MSS our SYN or SYN-ACK announces (our MTU less headers). */
    int receiveMss() {
        return receiveMss;
    }

    /** The shift our window-scale option announces and our window fields use. */
    int receiveWindowShift() {
        return rcvWindowShift;
    }

    /** RCV.NXT: what our ACKs acknowledge. */
    int receiveNext() {
        return rcvNxt;
    }

    /** TS.Recent: the timestamp our segments echo (RFC 7323 §4.3). */
    int timestampToEcho() {
        return tsRecent;
    }

    /**
     * Whether a segment in a synchronized state may go on to the RST, SYN and ACK checks: RFC 7323 §5.3 PAWS and
     * step 1 of RFC 9293 §3.10.7.4 (sequence number acceptability). An old duplicate or a segment outside the window
     * is answered with an ACK (a RST is ignored).
     */
    boolean acceptable(InboundSegment seg, long nowNanos) {
        // RFC 7323 §5.3 PAWS: a timestamp older than TS.Recent means an old duplicate (RST segments excepted). As
        // Linux: one tick older passes (two ACKs that swapped places across a tick of the peer's clock), and so does
        // a pure duplicate ACK that changes nothing, within an RTO's worth of ticks (its SACK blocks are news)
        if (c.timestampsOn && seg.hasTimestamp && !seg.has(TcpFlags.RST)
                && tsRecent - seg.tsVal > PAWS_WINDOW_TICKS && tsRecentFresh(nowNanos) && !disorderedAck(seg)) {
            layer.counters().pawsRejected++;
            answerUnacceptable(seg, nowNanos);
            return false;
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
            outOfWindow(seg, segLen, nowNanos);
            return false;
        }
        return true;
    }

    /** A segment outside the window (RFC 9293 §3.10.7.4 step 1): an ACK answers it, unless it is a RST. */
    private void outOfWindow(InboundSegment seg, int segLen, long nowNanos) {
        TcpCounters counters = layer.counters();
        if (!seg.has(TcpFlags.RST)) {
            counters.outOfWindow++;
            if (segLen > 0 && seg.payloadLength > 0 && SeqNum.le(seg.seq + seg.payloadLength, rcvNxt)) {
                reportDuplicate(seg.seq, seg.seq + seg.payloadLength); // RFC 2883: the peer resent what we had
            }
            if (c.timestampsOn && seg.hasTimestamp && segLen > 0 && SeqNum.le(seg.seq + segLen, rcvNxt)) {
                // a retransmission of what we already have: our ACK was lost. RFC 7323 §4.3 (2) takes its TSval
                // (SEG.SEQ <= Last.ACK.sent, and PAWS passed), so the ACK below echoes the retransmission, not
                // the original. Echoing the original, as Linux does, hands the peer an RTT sample as long as
                // its whole timeout, which inflates its next timeout, and under steady loss that feeds on itself.
                tsRecent = seg.tsVal;
                tsRecentAtNanos = nowNanos;
            }
            answerUnacceptable(seg, nowNanos);
        } else {
            counters.resetsIgnored++;
        }
    }

    /**
     * Least time between two ACKs that answer unacceptable segments without data (500 ms, as Linux's default
     * {@code tcp_invalid_ratelimit}). Unlimited, two stacks that each hold the other's segments out of the window
     * answer each other's ACKs with ACKs for ever, as fast as they can (an ACK loop: a desynchronised or hijacked
     * connection), and a host forging segments for a connection gets an ACK out of it for each.
     */
    static final long INVALID_ACK_INTERVAL_NANOS = 500_000_000L;
    /** When an ACK last answered an unacceptable segment without data, if one ever did. */
    private long invalidAckNanos;
    private boolean invalidAckSent;

    /**
     * An ACK for a segment that is dropped as unacceptable: always when it carries data or a FIN (a retransmission of
     * either means our ACK was lost, and neither can loop: a peer answers it with a bare ACK), otherwise (a bare ACK,
     * a RST or SYN challenged) at most once per {@link #INVALID_ACK_INTERVAL_NANOS}, counted when not
     * ({@code invalidAcksSuppressed}).
     */
    void answerUnacceptable(InboundSegment seg, long nowNanos) {
        if (seg.payloadLength == 0 && !seg.has(TcpFlags.FIN) && !mayAnswerInvalid(nowNanos)) {
            return;
        }
        sendAckNow(nowNanos);
    }

    /**
     * Whether an answer to a segment without data that needs one (see {@link #answerUnacceptable}, and a resent SYN in
     * SYN_RECEIVED) may go now: one per {@link #INVALID_ACK_INTERVAL_NANOS}, the others counted.
     */
    boolean mayAnswerInvalid(long nowNanos) {
        if (invalidAckSent && nowNanos - invalidAckNanos < INVALID_ACK_INTERVAL_NANOS) {
            layer.counters().invalidAcksSuppressed++;
            return false;
        }
        invalidAckSent = true;
        invalidAckNanos = nowNanos;
        return true;
    }

    /** How many ticks older than TS.Recent a timestamp may be and pass PAWS (Linux's TCP_PAWS_WINDOW). */
    static final int PAWS_WINDOW_TICKS = 1;

    /** TS.Recent is younger than 24 days (RFC 7323 §5.5): older, PAWS no longer holds it against anything. */
    private boolean tsRecentFresh(long nowNanos) {
        return nowNanos - tsRecentAtNanos < 24L * 24 * 3600 * 1_000_000_000L;
    }

    /**
     * A duplicate ACK that arrived after a newer segment (Linux's tcp_disordered_ack): no data, at RCV.NXT, the ACK
     * field at SND.UNA, no window update, and a timestamp older than TS.Recent by no more than an RTO, read as
     * milliseconds (the peer's clock rate is not known; Linux assumes the same).
     */
    private boolean disorderedAck(InboundSegment seg) {
        TcpSender s = c.sender();
        int window = seg.window << s.sndWindowShift;
        return seg.has(TcpFlags.ACK) && seg.sequenceLength() == 0 && seg.seq == rcvNxt && seg.ack == s.sndUna
                && !SeqNum.gt(seg.seq, s.sndWl1) && !(seg.seq == s.sndWl1 && (window > s.sndWnd || window == 0))
                && tsRecent - seg.tsVal <= s.rtt.rto() / 1_000_000L;
    }

    /**
     * RFC 7323 §4.3: an acceptable segment that covers RCV.NXT brings the timestamp our segments echo, unless it is
     * older than the one we have (a segment PAWS let through: {@link #acceptable}).
     */
    void takeTimestamp(InboundSegment seg, long nowNanos) {
        if (c.timestampsOn && seg.hasTimestamp && SeqNum.le(seg.seq, rcvAdvertisedEdge)
                && SeqNum.le(seg.seq, rcvNxt) && (!SeqNum.lt(seg.tsVal, tsRecent) || !tsRecentFresh(nowNanos))) {
            tsRecent = seg.tsVal;
            tsRecentAtNanos = nowNanos;
        }
    }

    /**
     * Step 7 of RFC 9293 §3.10.7.4, a segment's text: in order to the receive queue (with what reassembly then
     * completes), out of order to reassembly; trimmed to the window, dropped when the connection holds too many mbufs.
     */
    void acceptData(InboundSegment seg, long nowNanos) {
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
            chain = Mbuf.trimFront(pool, chain, cut);
            len -= cut;
            seq = rcvNxt;
        }
        if (c.closedByApplication) {
            // new data after close(): nobody will read it. Queuing it would hold its mbufs until TIME_WAIT ends and
            // tell the peer it was delivered; reset instead, as Linux does (TCPAbortOnData, RFC 9293 §3.10.7.4)
            pool.free(chain);
            counters.abortOnData++;
            c.abort(nowNanos);
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
            chain = Mbuf.trimTo(pool, chain, room);
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
                c.receiveFin(nowNanos);
            }
            scheduleAck(nowNanos, len);
            c.handler.onReadable(c);
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
        return 4 * c.settings.receiveBufferBytes() / 1460 + 64;
    }

    private void scheduleAck(long nowNanos, int len) {
        // a segment longer than the MSS (a device handing over the peer's TSO segments whole, as GRO does) counts as
        // the full-sized segments it stands for: "every second full-sized segment" holds for the peer's segments
        int full = c.sender.sendMss;
        segmentsUnacked += len > full ? len / full : 1;
        if (!c.settings.delayedAck() || quickAcksLeft > 0) {
            if (quickAcksLeft > 0) {
                quickAcksLeft--;
            }
            ackNow = true;
        } else if (segmentsUnacked >= 2 && len >= c.sender.sendMss / 2) {
            // RFC 9293 §3.8.6.3: at least every second full-sized segment. The segments of one receive burst share
            // one ACK, sent at the round's output, and the answer the application writes in that round carries it:
            // an 8 KB request no longer costs the peer three bare ACKs (Linux acks a GRO batch once the same way)
            layer.oweAck(c);
        } else if (timers.delayedAckDeadline == 0) {
            timers.delayedAckDeadline = nowNanos + c.settings.delayedAckTimeoutNanos();
            timers.arm();
        }
    }

    /** A bare ACK carrying the current RCV.NXT and window (and SACK blocks). */
    void sendAckNow(long nowNanos) {
        // SND.MAX, not SND.NXT: after a timeout SND.NXT goes back to SND.UNA, and an ACK numbered below what the peer
        // already received is unacceptable there (RFC 9293 §3.10.7.4), so the peer would drop it, ACK field and all
        // (BSD numbers pure ACKs the same way; Linux's SND.NXT never goes back)
        layer.transmit(c, TcpFlags.ACK, c.sender.sndMax, 0, 0, nowNanos);
        acknowledged();
    }

    /**
     * A segment acknowledging RCV.NXT went (a bare ACK or data): nothing is owed. The right edge its window promised
     * was recorded as its header was written ({@link #advertise}).
     */
    void acknowledged() {
        segmentsUnacked = 0;
        timers.delayedAckDeadline = 0;
        ackNow = false;
    }

    // ======================================================================================== windows

    /** Receive window in bytes: buffer space not used by data waiting to be read or reassembled. */
    int currentReceiveWindow() {
        long free = c.settings.receiveBufferBytes() - receiveQueue.bytes() - reassembly.bytes();
        long maxWindow = 65535L << rcvWindowShift;
        int window = (int) Math.max(0, Math.min(free, maxWindow));
        // never shrink the right edge already advertised (RFC 9293 §3.8.6.2.2); an edge further out than any window
        // we can express was never advertised (a bug, not a promise), so it is ignored
        int edgeRoom = SeqNum.diff(rcvAdvertisedEdge, rcvNxt);
        return edgeRoom > maxWindow ? window : Math.max(window, Math.max(edgeRoom, 0));
    }

    /**
     * The window to advertise, with receiver silly-window avoidance (RFC 9293 §3.8.6.2.2): the right edge moves only
     * by at least min(buffer/2, Eff.snd.MSS), a full segment's payload as the peer sends it (our MSS less the
     * timestamp option it carries in every segment). With the MSS itself, one full segment read (1,448 bytes with
     * timestamps) never moved the edge, so every ACK sent before the application read the segments it acknowledged
     * left the edge behind, and the next read sent a window update of its own: two ACKs every three segments.
     */
    int advertisedWindowBytes() {
        int window = currentReceiveWindow();
        int edgeRoom = Math.max(0, SeqNum.diff(rcvAdvertisedEdge, rcvNxt));
        int step = Math.min(c.settings.receiveBufferBytes() / 2, receiveMss - (c.timestampsOn ? 12 : 0));
        if (window - edgeRoom < step && window < c.settings.receiveBufferBytes()) {
            window = edgeRoom;
        }
        // round down to what the scale can express, so the peer sees exactly this
        return (window >>> rcvWindowShift) << rcvWindowShift;
    }

    /**
     * The window field of a segment being sent, as {@link #windowField}, and for any but a SYN the right edge it
     * promises the peer recorded (the edge a later window may not shrink from). Worked out once per segment sent:
     * it was worked out again after the transmit, and the receive window, asked about six times per segment, was
     * 7 % of TcpSegmentBenchmark's op (with every computation of it replaced by a constant).
     */
    int advertise(boolean syn) {
        if (syn) {
            return windowField(true);
        }
        int bytes = advertisedWindowBytes();
        rcvAdvertisedEdge = rcvNxt + bytes;
        return scaledField(bytes);
    }

    /** The window field to put in a segment (scaled; a SYN's is never scaled). */
    int windowField(boolean syn) {
        if (syn) {
            return Math.min(c.settings.receiveBufferBytes(), 65535);
        }
        return scaledField(advertisedWindowBytes());
    }

    /** A window in bytes as the 16-bit field carries it, scaled. */
    private int scaledField(int bytes) {
        return Math.min(bytes >>> rcvWindowShift, 65535);
    }

    /**
     * After a read: whether the window grew enough to tell the peer now (receiver SWS avoidance's other side). Only
     * when the window the peer knows is down to half the buffer or less, as Linux's {@code tcp_cleanup_rbuf}: with
     * more, the peer is not held back, and the next segment we send carries the new window anyway (a server reading
     * an 8 KB request sent a bare window update before the answer that would have carried it).
     */
    boolean windowUpdateWorthSending() {
        if (!c.state.canReceive()) {
            return false;
        }
        int edgeRoom = Math.max(0, SeqNum.diff(rcvAdvertisedEdge, rcvNxt));
        int buffer = c.settings.receiveBufferBytes();
        // the window only when the peer's view is down to half the buffer: a read asks this for every segment
        return edgeRoom <= buffer / 2 && currentReceiveWindow() - edgeRoom >= Math.min(buffer / 2, 2 * receiveMss);
    }

    /**
     * Fills the SACK blocks to send (RFC 2018 §4: the block with the latest segment first, then the others); returns
     * how many, at most {@code max}.
     */
    int sackBlocks(int[] starts, int[] ends, int max) {
        if (!c.sackOn || max <= 0) {
            return 0;
        }
        return sackReport.fill(starts, ends, max, rcvNxt, receiveOffset, reassembly, layer.counters());
    }

    /** A segment brought [s, e) we already had: the next ACK reports it as a D-SACK (RFC 2883), and goes at once. */
    void reportDuplicate(int s, int e) {
        if (!c.sackOn || !SeqNum.lt(s, e)) {
            return;
        }
        sackReport.duplicate(s, e);
        ackNow = true;
    }

    /** The delayed-ACK timer fired: the ACK it held goes now, unless a segment took it along meanwhile. */
    void delayedAckTimeout(long nowNanos) {
        if (segmentsUnacked > 0 || ackNow) {
            layer.counters().delayedAcksSent++;
            sendAckNow(nowNanos);
        }
    }
}
