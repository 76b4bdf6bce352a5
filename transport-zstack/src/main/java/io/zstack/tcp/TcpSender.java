package io.zstack.tcp;

import io.zstack.tcp.cc.CongestionAlgorithm;
import io.zstack.tcp.cc.CongestionControl;
import io.zstack.tcp.cc.RateSample;

/**
 * The sending half of a {@link TcpConnection} (gVisor's {@code sender}): the send sequence space and queue, cutting
 * segments (Nagle, sender SWS avoidance), what is in flight ({@link SentSegments}), loss recovery (RACK-TLP, PRR,
 * undo, F-RTO; NewReno without SACK), the retransmission and persist timers' work, and congestion control. The
 * connection routes ACKs here ({@link #processAck}) and asks it to send ({@link #sendData}).
 */
final class TcpSender {
    final TcpConnection c;
    final TcpLayer layer;
    final ConnectionTimers timers;

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

    // ---- what the application wrote, and our FIN
    final SendQueue sendQueue;
    /** The application asked to send FIN after the queued data. */
    boolean finQueued;
    /** Sequence number of our FIN, fixed when it is queued (no data may follow it). */
    int finSeq;
    boolean finAcked;

    // ---- retransmission, congestion
    final RttEstimator rtt;
    CongestionControl congestion;
    /** Which algorithm {@link #congestion} is, and whether the setting asks for another (see congestionControlChanged). */
    private CongestionAlgorithm congestionAlgorithm;
    private boolean congestionChangePending;
    int dupAcks;
    boolean inRecovery;
    int recoveryPoint;
    /** Highest sequence retransmitted during the current recovery. */
    int highRetransmitted;
    int retransmitCount;
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
    // ---- the persist timer's backoff; when we last sent (RFC 5681 §4.1 restarts an idle connection's window)
    int persistBackoff;
    long lastSendNanos;

    TcpSender(TcpConnection c) {
        this.c = c;
        this.layer = c.layer;
        this.timers = c.timers;
        this.sendQueue = new SendQueue(c.pool);
        TcpSettings settings = c.settings;
        this.rtt = new RttEstimator(settings.initialRtoNanos(), settings.minRtoNanos(), settings.maxRtoNanos(),
                1_000_000L);
        this.congestionAlgorithm = settings.congestionControl();
        this.congestion = congestionAlgorithm.create();
    }

    /**
     * The congestion control setting changed on an open connection (as Linux's TCP_CONGESTION may; a server's child
     * option is applied after the handshake): the new algorithm takes over from its initial window, at once or, if a
     * loss recovery is under way (whose exit each algorithm handles its own way), when it ends.
     */
    void congestionControlChanged(long nowNanos) {
        congestionChangePending = c.settings.congestionControl() != congestionAlgorithm;
        switchCongestionControlIfDue(nowNanos);
    }

    void switchCongestionControlIfDue(long nowNanos) {
        if (!congestionChangePending || inRecovery || lossRecovery) {
            return;
        }
        congestionChangePending = false;
        congestionAlgorithm = c.settings.congestionControl();
        congestion = congestionAlgorithm.create();
        congestion.init(sendMss, nowNanos);
    }

    /** The queue our segments' payload is cut from. */
    SendQueue sendQueue() {
        return sendQueue;
    }

    /** Payload bytes a full segment carries (the peer's MSS, clamped by our MTU, less the timestamp option). */
    int sendMss() {
        return sendMss;
    }

    /** The send sequence space starts at our ISS (RFC 9293 §3.3.1): nothing sent, nothing acknowledged yet. */
    void start(int initialSequence) {
        iss = initialSequence;
        sndUna = iss;
        sndNxt = iss;
        sndMax = iss;
        recoveryPoint = iss;
    }

    // ======================================================================================== ACKs and loss recovery

    /** ACK processing of RFC 9293 §3.10.7.4 step 5 with RFC 5961 §5; false means drop the rest of the segment. */
    boolean processAck(InboundSegment seg, long nowNanos) {
        TcpCounters counters = layer.counters();
        int ack = seg.ack;
        if (SeqNum.gt(ack, sndMax)) {
            counters.ackUnsent++;
            c.receiver.answerUnacceptable(seg, nowNanos);
            return false;
        }
        if (SeqNum.lt(ack, sndUna - maxSndWnd)) {
            counters.challengeAcks++;
            c.receiver.answerUnacceptable(seg, nowNanos);
            return false;
        }
        int window = seg.window << sndWindowShift;
        if (ack == sndUna && sndUna == sndMax && seg.sackBlocks == 0 && frto == FRTO_OFF && !rack.tlpOutstanding
                && !inRecovery && !lossRecovery) {
            // the ACK field of the peer's data while nothing of ours is in flight: nothing delivered, so no rate
            // sample, RACK or recovery step has anything to take (a D-SACK still goes the full way: its block);
            // only the window can change. This is every segment a receiving end gets.
            dupAcks = 0;
            takeWindow(seg, ack, window);
            timers.reorderDeadline = 0;
            return true;
        }
        long echo = c.echoNanos(seg, nowNanos);
        int unaBefore = sndUna;
        // bytes this ACK newly delivered, SACKed or cumulatively (RFC 6937 DeliveredData)
        long delivered = 0;
        boolean dsack = false;
        if (c.sackOn && seg.sackBlocks > 0) {
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
        takeWindow(seg, ack, window);
        RateSample sample = sent.rate.endOfAck(sent.pipe());
        sample.lostBytes = sent.lostMarkedBytes() - lostBytesSampled;
        lostBytesSampled = sent.lostMarkedBytes();
        congestion.onRateSample(sample, nowNanos);
        if (frto != FRTO_OFF) {
            frtoAck(SeqNum.gt(ack, unaBefore), nowNanos);
        }
        if (c.sackOn && c.state != TcpState.CLOSED) {
            rackAfterAck(ack, dsack, delivered, nowNanos);
        }
        return true;
    }

    /** The window update of RFC 9293 §3.10.7.4: only from newer segments. */
    private void takeWindow(InboundSegment seg, int ack, int window) {
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
            int len = unsent > 0 ? fitChain(offset, sendQueue.endAtPiece(offset, (int) Math.min(unsent, mss))) : 0;
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
    /** {@link SentSegments#lostMarkedBytes} at the last rate sample: the next one carries what was marked since. */
    private long lostBytesSampled;
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
            prr.onAck(delivered, sent.pipe(), congestion.ssthresh(), c.settings.prrSlowStartBound(), sendMss);
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
        if (!c.sackOn || sndUna == sndMax) {
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
    void scheduleProbe(long nowNanos) {
        if (!probeRearm) {
            return;
        }
        probeRearm = false;
        if (rack.tlpOutstanding && timers.probeDeadline != 0 && c.sackOn && sndUna != sndMax && !lossRecovery) {
            // news while the second probe waits: it waits its two PTOs from now
            timers.probeDeadline = secondProbeDeadline(nowNanos);
            timers.arm();
            return;
        }
        boolean tail = inRecovery || sent.sackedBytes() == 0;
        if (!c.sackOn || sndUna == sndMax || lossRecovery || rack.tlpOutstanding || !tail
                || timers.retransmitDeadline == 0 || !c.state.canSend() && c.state != TcpState.FIN_WAIT_1
                && c.state != TcpState.CLOSING && c.state != TcpState.LAST_ACK) {
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
                int len = fitChain(offset, sendQueue.endAtPiece(offset, (int) Math.min(unsent, mss)));
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
            start = dataEnd - fitChainTail(offsetOf(dataEnd), SeqNum.diff(dataEnd, start)); // the last bytes still
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
        layer.confirmNeighbour(c, nowNanos);
        long inFlightBefore = Integer.toUnsignedLong(SeqNum.diff(sndMax, sndUna));
        // Eifel (RFC 3522): the ACK of the episode's first retransmission echoes a timestamp from before it, so the
        // original arrived and the retransmissions (a timeout's included) were needless
        if (undoEpisode.possible() && undoEpisode.firstRetransmitNanos() != 0 && c.timestampsOn && seg.hasTimestamp
                && seg.tsEcr != 0 && SeqNum.gt(ack, undoEpisode.marker())
                && SeqNum.lt(seg.tsEcr, c.tsNow(undoEpisode.firstRetransmitNanos()))) {
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
        // RTT (as Linux): from the send times of the segments this ACK delivered, never resent ones only (Karn);
        // when it delivered a resent one, from the echoed timestamp, which tells the transmissions apart but counts
        // milliseconds. An ACK of our SYN alone was sampled by the handshake.
        long sample = sent.cumulativeAckRtt(nowNanos);
        if (sample < 0 && sent.retransmissionAcknowledged() && echo != Long.MIN_VALUE) {
            sample = Math.max(0, nowNanos - echo);
        }
        if (sample >= 0) {
            rtt.sample(sample);
        }
        sndUna = ack;
        if (SeqNum.lt(sndNxt, sndUna)) {
            sndNxt = sndUna;
        }
        retransmitCount = 0;
        rtt.resetBackoff();
        probeRearm = true;
        // congestion control and recovery
        if (c.sackOn) {
            if ((inRecovery || lossRecovery) && SeqNum.ge(ack, recoveryPoint)) {
                if (inRecovery) {
                    congestion.onExitRecovery(nowNanos); // PRR ends with cwnd = ssthresh (RFC 6937 §3)
                } else {
                    congestion.onLossRecoveryEnd(nowNanos);
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
            c.finWasAcked(nowNanos);
        }
        c.growSendBuffer();
        if (c.sendSpace() > 0 && c.state.canSend()) {
            c.handler.onWritable(c);
        }
        return delivered;
    }

    private void duplicateAck(long nowNanos) {
        dupAcks++;
        layer.counters().duplicateAcks++;
        if (c.sackOn) {
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
    }
    // ======================================================================================== sending

    /**
     * Payload that fits a segment now: the MSS less the SACK blocks our segments carry while we hold out-of-order
     * data (the timestamp option is already accounted in {@link #sendMss}), so no frame outgrows the MTU.
     */
    int effectiveMss() {
        if (!c.sackOn || c.receiver.reassembly.isEmpty()) {
            return sendMss;
        }
        int blocks = Math.min(c.receiver.reassembly.entries(), c.timestampsOn ? 3 : 4);
        return sendMss - (4 + 8 * blocks);
    }

    /** Bytes of data at seq, up to limit, that can go in one segment (stopping at the FIN). */
    private int segmentLengthAt(int seq, int limit) {
        long offset = offsetOf(seq);
        long available = sendQueue.end() - offset;
        return fitChain(offset, (int) Math.max(0, Math.min(limit, available)));
    }

    /**
     * {@code len} cut so that the segment of [offset, offset + len) is a chain the device takes (its
     * {@code maxChain}, one mbuf left for a header mbuf): data in tiny mbufs, sent, resent or probed. Counted.
     */
    private int fitChain(long offset, int len) {
        int chain = layer.chainLimit(c);
        return chain > 0 && len > 0 ? counted(len, sendQueue.withinPieces(offset, len, chain - 1)) : len;
    }

    /** As {@link #fitChain}, for the last {@code len} bytes before {@code end}: the cut keeps the end. */
    private int fitChainTail(long end, int len) {
        int chain = layer.chainLimit(c);
        return chain > 0 && len > 0 ? counted(len, sendQueue.tailWithinPieces(end, len, chain - 1)) : len;
    }

    private int counted(int len, int fitted) {
        if (fitted < len) {
            layer.counters().chainsCut++;
        }
        return fitted;
    }

    /** Stream offset of a sequence number at or after SND.UNA in the data range. */
    private long offsetOf(int seq) {
        int base = sndUna;
        if (sndUna == iss) {
            base = iss + 1;
        }
        return sendQueue.start() + SeqNum.diff(seq, base);
    }

    int sequenceOf(long offset) {
        int base = sndUna == iss ? iss + 1 : sndUna;
        return base + (int) (offset - sendQueue.start());
    }

    /** Sends new data (and FIN) as the windows allow; true if any segment went out. */
    boolean sendData(long nowNanos) {
        if (c.sackOn && (inRecovery || lossRecovery)) {
            if (frto == FRTO_SECOND_ACK) {
                return false; // F-RTO's two new segments are out: nothing more before the next ACK tells
            }
            recoverySend(nowNanos, false); // lost segments before new data (RFC 6675 NextSeg)
        }
        boolean sentAny = false;
        int tsoLimit = -1; // the largest segment for the device to cut (TSO), asked once per call when needed
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
                layer.pacedConnections().hold(c);
                layer.counters().pacingWaits++;
                break;
            }
            int len = 0;
            if (unsent > 0) {
                long inFlight = Integer.toUnsignedLong(SeqNum.diff(sndNxt, sndUna));
                long usable;
                if (c.sackOn) {
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
                int limit = mss;
                if (unsent > mss && usable > mss && mss == sendMss) {
                    // several segments' worth may go: on a device with TSO as one segment it cuts into full-sized
                    // ones (data segments carry no SACK blocks then: each piece gets the same header)
                    if (tsoLimit < 0) {
                        tsoLimit = layer.tsoBytes(c, nowNanos) / mss * mss;
                    }
                    limit = Math.max(mss, tsoLimit);
                }
                len = (int) Math.min(Math.min(unsent, limit), Math.max(usable, 0));
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
                if (len < mss && c.settings.nagle() && inFlight > 0 && !finQueued) {
                    break; // Nagle: at most one small segment in flight
                }
                int within = fitChain(offset, len); // gathered from many small writes: at most what the device takes
                if (within < len) {
                    len = within;
                    allTheRest = false;
                }
                if (len > mss) {
                    len = allTheRest ? len : len / mss * mss; // every piece the device cuts full-sized but the last
                    if (layer.tsoNeedsEvenPieces(c) && !sendQueue.evenPieces(offset, len)) {
                        len = sendQueue.endAtPiece(offset, mss); // that device would sum this chain wrong: no TSO
                        layer.counters().tsoOddChains++;
                    }
                } else {
                    len = sendQueue.endAtPiece(offset, len); // one mbuf per segment where the pieces allow
                }
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
        lastTransmitFailed = !layer.transmit(c, flags, seq, offset, len, nowNanos);
        pacer.sent(len, congestion.pacingRate(), sendMss, nowNanos);
        int end = seq + len + ((flags & TcpFlags.FIN) != 0 ? 1 : 0);
        if (sent.sent(seq, end, nowNanos)) {
            retransmission = true; // sent before (a resend after a timeout or a smaller MSS counts too)
        }
        if (inRecovery) {
            prr.sent(len);
            if (c.sackOn) {
                prrSegments++;
                layer.counters().prrSegments++;
            }
        }
        if (SeqNum.gt(end, sndMax)) {
            // a resend from the left edge may run past what was sent before (the queue grew meanwhile): SND.MAX
            // must cover it, or the peer's ACK of it would look like an ACK of unsent data
            sndMax = end;
        }
        c.receiver.acknowledged(); // every segment we send carries the ACK
        lastSendNanos = nowNanos;
        if (retransmission) {
            layer.counters().retransmittedSegments++;
            if (undoEpisode.possible() && (inRecovery || lossRecovery)) {
                undoEpisode.retransmitted(seq, end, nowNanos);
            }
        }
        if (timers.retransmitDeadline == 0) {
            timers.retransmitDeadline = nowNanos + rtt.rto();
            timers.persistDeadline = 0;
            timers.arm();
        }
    }

    /**
     * ICMP fragmentation-needed (RFC 1191): shrink the MSS to fit the next hop's MTU (never below 536 + options, the
     * RFC 9293 minimum), and resend the unacknowledged data at the new size.
     */
    void pathMtuChanged(int nextHopMtu) {
        int newMss = Math.max(536, nextHopMtu - 40) - (c.timestampsOn ? 12 : 0);
        if (nextHopMtu <= 0 || newMss >= sendMss) {
            return;
        }
        sendMss = newMss;
        sndNxt = sndUna; // what was sent at the old size was dropped on the way
    }

    // ======================================================================================== the timers' work

    private long persistInterval() {
        long base = Math.max(c.settings.persistMinNanos(), rtt.rto());
        return Math.min(c.settings.persistMaxNanos(), base << Math.min(persistBackoff, 10));
    }

    /** The tail loss probe timer fired (RFC 8985 §7.3). */
    void tailLossProbeTimeout(long nowNanos) {
        if (timers.retransmitDeadline != 0 && sndUna != sndMax && !lossRecovery) {
            sendProbe(nowNanos); // restarts the retransmission timer
        }
    }

    void retransmitTimeout(long nowNanos) {
        TcpCounters counters = layer.counters();
        retransmitCount++;
        counters.timeouts++;
        int limit = switch (c.state) {
            case SYN_SENT -> c.settings.synRetries();
            case SYN_RECEIVED -> c.settings.synAckRetries();
            default -> c.settings.maxRetransmissions();
        };
        if (retransmitCount > limit) {
            if (c.state == TcpState.SYN_RECEIVED && c.listener != null) {
                c.destroy(null); // a half-open connection that never completed: forget it quietly
            } else {
                if (c.state != TcpState.SYN_SENT) {
                    layer.sendReset(c, sndNxt, 0, false);
                }
                c.destroy(c.softError != null ? c.softError : TcpError.TIMED_OUT);
            }
            return;
        }
        rtt.backoff();
        if (c.state == TcpState.SYN_SENT || c.state == TcpState.SYN_RECEIVED) {
            layer.transmit(c, TcpFlags.SYN | (c.state == TcpState.SYN_RECEIVED ? TcpFlags.ACK : 0), iss, 0, 0,
                    nowNanos);
            layer.counters().retransmittedSegments++;
            timers.retransmitDeadline = nowNanos + rtt.rto();
            timers.arm();
            return;
        }
        if (c.sackOn) {
            // RFC 8985 §6.3: everything unSACKed is lost; RFC 5681 §3.1: from a window of one segment, slow start
            // resends the lost segments (and only those) until the recovery point, then new data
            startUndoEpisode();
            congestion.onRetransmitTimeout(Integer.toUnsignedLong(SeqNum.diff(sndMax, sndUna)), nowNanos);
            // F-RTO (RFC 5682) where Eifel cannot tell: the first timeout, outside a fast recovery, without timestamps
            frto = !c.timestampsOn && retransmitCount == 1 && !inRecovery && !lossRecovery ? FRTO_FIRST_ACK : FRTO_OFF;
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
                int len = fitChain(offsetOf(sndNxt),
                        (int) Math.min(Math.min(room, sendQueue.end() - offsetOf(sndNxt)), effectiveMss()));
                boolean fin = finQueued && offsetOf(sndNxt) + len == sendQueue.end();
                layer.counters().windowOverrides++;
                sendSegmentAt(sndNxt, len, nowNanos, false);
                sndNxt += len + (fin ? 1 : 0);
            }
            return;
        }
        layer.counters().windowProbes++;
        layer.transmit(c, TcpFlags.ACK, sndUna - 1, 0, 0, nowNanos);
        persistBackoff++;
        timers.persistDeadline = nowNanos + persistInterval();
        timers.arm();
    }
}
