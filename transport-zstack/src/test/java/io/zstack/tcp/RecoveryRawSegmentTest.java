package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.Mbuf;
import io.zstack.tcp.cc.Bbr;
import io.zstack.tcp.cc.CongestionAlgorithm;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Loss recovery of one stack's sender, black box with scripted raw segments: RACK-TLP (RFC 8985), Proportional Rate
 * Reduction (RFC 6937), D-SACK (RFC 2883) sent and used to undo, Eifel undo of a spurious timeout (RFC 3522). The
 * peer decides what was "lost" by never acknowledging it; time moves only when the test says so.
 */
class RecoveryRawSegmentTest {
    private static final long MS = 1_000_000L;
    private static final int PEER_ISN = 1000;

    private RawPeer peer;
    private TcpConnection conn;
    private TcpCounters counters;
    private int iss;
    private int mss;
    /** The stack's latest TSval, echoed in the peer's ACKs so that the stack measures RTT. */
    private int echo;
    /** Whether the peer offers (and then sends) timestamps. */
    private boolean timestamps = true;

    @AfterEach
    void tearDown() {
        if (peer != null) {
            peer.close(); // pools refuse to close if an mbuf leaked
        }
    }

    private void connect(CongestionAlgorithm cc) {
        connect(cc, 200 * MS);
    }

    private void connect(CongestionAlgorithm cc, long minRtoNanos) {
        connect(cc, minRtoNanos, true);
    }

    private void connect(CongestionAlgorithm cc, long minRtoNanos, boolean prrSlowStartBound) {
        TcpSettings settings = TcpSettings.builder().congestionControl(cc).minRtoNanos(minRtoNanos)
                .prrSlowStartBound(prrSlowStartBound).build();
        peer = new RawPeer(settings);
        counters = peer.tcp().counters();
        TcpListener listener = peer.tcp().listen(0, 80, settings);
        RawPeer.Segment syn = segment(TcpFlags.SYN, PEER_ISN, 0);
        syn.mss = 1460;
        syn.windowScale = 7;
        syn.sackPermitted = true;
        peer.send(syn);
        RawPeer.Sent synAck = peer.next();
        assertNotNull(synAck);
        iss = synAck.seq();
        echo = synAck.options().tsVal();
        peer.advance(10 * MS); // a 10 ms round trip: the handshake's RTT sample
        peer.send(segment(TcpFlags.ACK, PEER_ISN + 1, iss + 1));
        conn = listener.accept();
        assertNotNull(conn);
        assertTrue(conn.sackOn);
        assertEquals(timestamps, conn.timestampsOn);
        mss = conn.sender.sendMss;
    }

    private RawPeer.Segment segment(int flags, int seq, int ack) {
        RawPeer.Segment s = new RawPeer.Segment();
        s.destinationPort = 80;
        s.flags = flags;
        s.seq = seq;
        s.ack = ack;
        s.timestamp = timestamps;
        s.tsVal = 100;
        s.tsEcr = echo;
        return s;
    }

    /** An ACK of everything below {@code ack}, with SACK blocks given as [start, end) pairs. */
    private void ack(int ack, int... blocks) {
        RawPeer.Segment s = segment(TcpFlags.ACK, PEER_ISN + 1, ack);
        s.sackStart = new int[blocks.length / 2];
        s.sackEnd = new int[blocks.length / 2];
        for (int i = 0; i < blocks.length / 2; i++) {
            s.sackStart[i] = blocks[2 * i];
            s.sackEnd[i] = blocks[2 * i + 1];
        }
        peer.send(s);
    }

    /** Sequence number of the stack's n-th full data segment (0 is the first). */
    private int seg(int n) {
        return iss + 1 + n * mss;
    }

    /** Queues n full segments at once and returns what went out. */
    private List<RawPeer.Sent> write(int n) {
        for (int i = 0; i < n; i++) {
            long m = peer.stackPool.alloc();
            Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
            MemorySegment.ofAddress(Mbuf.append(m, mss)).reinterpret(mss).fill((byte) i);
            assertTrue(conn.queue(m));
        }
        conn.push(peer.now());
        peer.poll();
        return taken();
    }

    /** What the stack sent since the last look (data segments only), remembering its TSval to echo. */
    private List<RawPeer.Sent> taken() {
        List<RawPeer.Sent> data = new ArrayList<>();
        for (RawPeer.Sent s : peer.takeAll()) {
            echo = timestamps ? s.options().tsVal() : 0;
            if (s.payload().length > 0) {
                data.add(s);
            }
        }
        return data;
    }

    private static List<Integer> seqs(List<RawPeer.Sent> sent) {
        return sent.stream().map(RawPeer.Sent::seq).toList();
    }

    /** A tail loss costs one probe timeout, not a retransmission timeout (RFC 8985 §7). */
    @Test
    void aTailLossIsRepairedByAProbeWithoutATimeout() {
        connect(CongestionAlgorithm.CUBIC);
        assertEquals(10, write(10).size());
        peer.advance(10 * MS);
        ack(seg(7)); // segments 7, 8 and 9 are lost: no ACK will ever SACK anything above them
        long pto = 2 * conn.sender.rtt.srtt() + 2 * MS;
        assertTrue(pto < conn.sender.rtt.rto() / 4, "PTO " + pto + " well below the RTO " + conn.sender.rtt.rto());
        peer.advance(pto - 2 * MS);
        assertEquals(List.of(), taken(), "nothing before the PTO");
        peer.advance(3 * MS);
        List<RawPeer.Sent> probe = taken();
        assertEquals(List.of(seg(9)), seqs(probe), "the probe: the last segment again");
        assertEquals(1, counters.tailLossProbes);
        // the probe arrived, its ACK a round trip later (an answer faster than the minimum RTT would be the
        // original's, RFC 8985 §6.2 step 2): its SACK shows 7 and 8 missing
        peer.advance(10 * MS);
        ack(seg(7), seg(9), seg(10));
        assertEquals(List.of(seg(7), seg(8)), seqs(taken()), "RACK marks both lost at once: fast recovery");
        assertTrue(conn.sender.inRecovery);
        assertEquals(1, counters.tailLossProbeRecoveries);
        ack(seg(10));
        assertEquals(0, conn.sendQueued());
        assertEquals(0, counters.timeouts, "no retransmission timeout");
        assertEquals(2, counters.rackLosses);
        assertTrue(!conn.sender.inRecovery && !conn.sender.lossRecovery);
    }

    /**
     * A probe with new data sends two segments (TcpSender#sendProbe): when the flight's last ACK was what got
     * lost, the probe arrives in order, and a receiver may hold the ACK of one lone segment (Linux for 40 ms) but must
     * answer a second full one at once (RFC 9293 §3.8.6.3).
     */
    @Test
    void aProbeWithNewDataSendsTwoSegments() {
        connect(CongestionAlgorithm.CUBIC);
        assertEquals(10, write(20).size(), "the initial window; ten more wait");
        long pto = 2 * conn.sender.rtt.srtt() + 2 * MS;
        peer.advance(pto - MS);
        assertEquals(List.of(), taken(), "nothing before the PTO");
        peer.advance(2 * MS);
        assertEquals(List.of(seg(10), seg(11)), seqs(taken()), "the probe: two new segments");
        assertEquals(1, counters.tailLossProbes);
        ack(seg(12)); // everything arrived: only the ACKs were lost
        assertEquals(0, counters.timeouts);
        assertEquals(0, counters.retransmittedSegments);
        assertTrue(!conn.sender.rack.tlpOutstanding, "the probe's episode ended with its ACK");
    }

    /**
     * A probe whose answer is lost too gets a second one two PTOs later, before the RTO: a probe goes exactly when an
     * ACK was lost, so its own answer is as likely to be lost as any ACK. The second one's answer ends the episode.
     */
    @Test
    void aProbeWhoseAnswerIsLostGetsASecondBeforeTheTimeout() {
        connect(CongestionAlgorithm.CUBIC);
        assertEquals(10, write(20).size());
        long pto = 2 * conn.sender.rtt.srtt() + 2 * MS;
        peer.advance(pto + MS);
        assertEquals(List.of(seg(10), seg(11)), seqs(taken()), "the first probe");
        peer.advance(2 * pto - 2 * MS); // its answer is lost
        assertEquals(List.of(), taken(), "nothing before two PTOs");
        peer.advance(2 * MS);
        assertEquals(List.of(seg(12), seg(13)), seqs(taken()), "the second probe, two PTOs after the first");
        assertEquals(2, counters.tailLossProbes);
        ack(seg(14));
        assertTrue(!conn.sender.rack.tlpOutstanding);
        assertEquals(0, counters.timeouts);
        peer.advance(3 * pto);
        assertEquals(0, counters.timeouts, "no timeout later either");
    }

    /**
     * A fast recovery whose ACKs stop (here every ACK after the retransmission is lost, though the peer got it all)
     * is not left to the 200 ms RTO: one PTO after the last ACK a probe goes, and its answer ends the recovery. RACK
     * alone cannot help: nothing sent after the retransmission was ever reported delivered.
     */
    @Test
    void aRecoveryWhoseAcksStopEndsWithAProbeNotATimeout() {
        connect(CongestionAlgorithm.CUBIC);
        assertEquals(10, write(30).size());
        peer.advance(10 * MS);
        ack(seg(0), seg(1), seg(4)); // three SACKed above segment 0: lost
        List<RawPeer.Sent> recovery = taken();
        assertEquals(seg(0), recovery.get(0).seq(), "fast retransmit");
        assertTrue(conn.sender.inRecovery);
        int highest = conn.sender.sndMax;
        int next = (highest - seg(0)) / mss;
        long pto = 2 * conn.sender.rtt.srtt() + 2 * MS;
        assertTrue(pto < conn.sender.rtt.rto() / 4, "PTO " + pto + " well below the RTO " + conn.sender.rtt.rto());
        peer.advance(pto - MS);
        assertEquals(List.of(), taken(), "nothing before the PTO");
        peer.advance(2 * MS);
        assertEquals(List.of(seg(next), seg(next + 1)), seqs(taken()), "the probe: two new segments");
        assertEquals(1, counters.recoveryProbes);
        assertTrue(conn.sender.inRecovery, "the probe alone ends nothing");
        ack(seg(next + 2)); // its answer: everything arrived, the recovery point is passed
        assertTrue(!conn.sender.inRecovery && !conn.sender.lossRecovery, "the recovery ended");
        assertEquals(0, counters.timeouts, "no retransmission timeout");
        assertEquals(1, counters.retransmittedSegments);
    }

    /**
     * The recovery's probe also finds a lost retransmission: its SACK shows it delivered after the retransmission was
     * sent, so RACK marks the retransmission lost and sends it again, still without a timeout.
     */
    @Test
    void aRecoveryProbeRevealsALostRetransmission() {
        connect(CongestionAlgorithm.CUBIC);
        assertEquals(10, write(30).size());
        peer.advance(10 * MS);
        ack(seg(0), seg(1), seg(4));
        assertEquals(seg(0), taken().get(0).seq());
        int next = (conn.sender.sndMax - seg(0)) / mss;
        peer.advance(2 * conn.sender.rtt.srtt() + 3 * MS);
        assertEquals(List.of(seg(next), seg(next + 1)), seqs(taken()), "the probe");
        ack(seg(0), seg(1), seg(next + 2)); // all but segment 0: the retransmission was lost too
        List<RawPeer.Sent> again = taken();
        assertTrue(!again.isEmpty(), "something was sent");
        assertEquals(seg(0), again.get(0).seq(), "segment 0 a second time");
        assertEquals(0, counters.timeouts);
    }

    /** A retransmission that is lost again is found by time, not by the RTO (RFC 8985 §2.2 and §6). */
    @Test
    void aLostRetransmissionIsDetectedByRackWithoutATimeout() {
        connect(CongestionAlgorithm.NEW_RENO);
        assertEquals(10, write(20).size()); // ten wait for the window
        peer.advance(10 * MS);
        ack(seg(0), seg(1), seg(4)); // three SACKed above segment 0: lost at once
        assertEquals(List.of(seg(0)), seqs(taken()), "the first retransmission");
        peer.advance(10 * MS);
        ack(seg(0), seg(1), seg(10)); // the rest of the window arrived: new data goes out under PRR
        List<RawPeer.Sent> fresh = taken();
        assertTrue(!fresh.isEmpty() && fresh.stream().allMatch(s -> s.seq() - seg(10) >= 0), "new data: " + fresh);
        peer.advance(10 * MS);
        // the new data sent after the retransmission arrived, the retransmission did not: it was lost as well
        ack(seg(0), seg(10), seg(11), seg(1), seg(10));
        List<RawPeer.Sent> again = taken();
        assertTrue(!again.isEmpty(), "something was sent");
        assertEquals(seg(0), again.get(0).seq(), "segment 0 a second time, without waiting for the RTO");
        assertEquals(0, counters.timeouts);
        assertEquals(2, counters.retransmittedSegments);
    }

    /**
     * Once reordering was seen, three segments SACKed above a hole no longer make it lost at once: RACK waits a
     * quarter of the minimum RTT for it (RFC 8985 §6.2), and a hole filled in that time costs no retransmission.
     */
    @Test
    void reorderingWithinTheWindowCausesNoRetransmission() {
        connect(CongestionAlgorithm.CUBIC);
        assertEquals(10, write(10).size());
        peer.advance(20 * MS);
        ack(seg(0), seg(1), seg(2)); // segment 1 overtook segment 0
        ack(seg(2)); // and segment 0 arrives: reordering, not loss
        assertTrue(conn.sender.rack.reorderingSeen());
        ack(seg(2), seg(3), seg(6)); // 2 is late now, with three SACKed above it
        assertEquals(List.of(), taken(), "within the reordering window: no retransmission");
        peer.advance(2 * MS); // a quarter of the 20 ms RTT is 5 ms
        assertEquals(List.of(), taken());
        ack(seg(6)); // 2 arrived after all
        assertEquals(0, counters.retransmittedSegments);
        assertEquals(0, counters.fastRetransmits);
        ack(seg(6), seg(7), seg(10)); // 6 is late too, and this time it does not come
        peer.advance(6 * MS);
        assertEquals(List.of(seg(6)), seqs(taken()), "past the window, the reordering timer marks it lost");
        assertEquals(1, counters.rackReorderTimeouts);
    }

    /** A D-SACK widens the reordering window by a quarter of the minimum RTT (RFC 8985 §6.2 step 4). */
    @Test
    void aDsackWidensTheReorderingWindow() {
        connect(CongestionAlgorithm.CUBIC);
        assertEquals(10, write(10).size());
        peer.advance(20 * MS);
        ack(seg(0), seg(1), seg(2));
        ack(seg(2)); // reordering seen; the window is 5 ms
        ack(seg(3), seg(0), seg(1)); // a D-SACK: segment 0 reached the peer twice (the path duplicated it)
        assertEquals(1, counters.dsacksReceived);
        assertEquals(2, conn.sender.rack.reoWndMult());
        ack(seg(3), seg(4), seg(7)); // 3 is late, three SACKed above it
        peer.advance(8 * MS); // past 5 ms, within 10 ms
        assertEquals(List.of(), taken(), "the widened window still waits");
        peer.advance(3 * MS);
        assertEquals(List.of(seg(3)), seqs(taken()), "and then gives up on it");
        assertEquals(0, counters.recoveriesUndone, "a D-SACK for data the path duplicated undoes nothing");
    }

    /**
     * PRR (RFC 6937 §3): with half the flight as ssthresh (NewReno), while the pipe exceeds ssthresh one segment
     * goes for every two delivered (sndcnt = ceil(prr_delivered * ssthresh / RecoverFS) - prr_out); once it is at or
     * below, the Slow Start Reduction Bound lets the pipe back up to ssthresh, one segment per ACK.
     */
    @Test
    void prrSendsInProportionToWhatIsDelivered() {
        connect(CongestionAlgorithm.NEW_RENO);
        // grow the window to 20 segments: acknowledge the first 10, one by one, in slow start
        assertEquals(10, write(60).size());
        peer.advance(10 * MS);
        for (int i = 1; i <= 10; i++) {
            ack(seg(i));
        }
        List<RawPeer.Sent> flight = taken();
        assertEquals(20, flight.size(), "a flight of 20 segments");
        assertEquals(seg(10), flight.get(0).seq());
        peer.advance(10 * MS);
        // segment 10 is lost; the peer SACKs 11, 12, ... one per ACK
        List<Integer> perAck = new ArrayList<>();
        for (int k = 1; k <= 19; k++) {
            ack(seg(10), seg(11), seg(11 + k));
            perAck.add(taken().size());
        }
        // ACKs 1 and 2: not lost yet (a quarter RTT of reordering window), and the pipe fell by one: a new segment
        // each. ACK 3 (three SACKed) enters recovery with 22 in flight: RecoverFS = 22, ssthresh = 11; its segment 10
        // goes whatever the quota. ACKs 4 to 15 (pipe 18..12 > 11): sndcnt = ceil(k * 11 / 22) - prr_out, one segment
        // every second ACK. ACK 16: pipe = 11, nothing. ACKs 17 to 19: pipe 10 < 11, the SSRB's one per ACK
        assertEquals(List.of(1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1), perAck);
        assertEquals(1, counters.fastRetransmits);
        assertEquals(9, counters.prrSegments, "sent in recovery, from ACK 3 on");
    }

    /**
     * PRR's two bounds once the pipe is below ssthresh (RFC 6937 §3), where they differ: ten segments found lost at
     * once by the reordering timer drop the pipe far below ssthresh with nothing delivered yet. On the next ACK, which
     * delivers one segment, the Slow Start Reduction Bound lets two go (delivered + 1 MSS), the Conservative one none
     * (prr_delivered - prr_out = 0, the forced first retransmission having used the one delivery's share).
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "slow start bound {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void prrBoundsOnceThePipeIsBelowSsthresh(boolean slowStartBound) {
        connect(CongestionAlgorithm.CUBIC, 200 * MS, slowStartBound);
        assertEquals(10, write(60).size());
        peer.advance(10 * MS);
        for (int i = 1; i <= 10; i++) {
            ack(seg(i));
        }
        assertEquals(20, taken().size(), "a flight of 20 segments, 10 to 29; cwnd 20");
        peer.advance(10 * MS);
        ack(seg(10), seg(20), seg(21)); // 20 arrived: 10 to 19 may be late (a quarter RTT of reordering window)
        assertEquals(List.of(seg(30)), seqs(taken()), "the pipe fell by one: one new segment");
        peer.advance(3 * MS);
        assertEquals(List.of(seg(10)), seqs(taken()), "the reordering timer: ten lost, the first resent at once");
        assertTrue(conn.sender.inRecovery);
        assertEquals(14L * mss, conn.sender.congestion.ssthresh(), "CUBIC: 0.7 x 20 segments");
        ack(seg(10), seg(20), seg(22)); // one more delivered; the pipe is 10 segments, ssthresh 14
        assertEquals(slowStartBound ? List.of(seg(11), seg(12)) : List.of(), seqs(taken()));
    }

    /** The receiver side of D-SACK: a duplicate segment is reported in the first SACK block (RFC 2883 §4). */
    @Test
    void aDuplicateSegmentIsReportedWithADsack() {
        connect(CongestionAlgorithm.CUBIC);
        RawPeer.Segment data = segment(TcpFlags.ACK | TcpFlags.PSH, PEER_ISN + 1, iss + 1);
        data.payload = new byte[100];
        peer.send(data);
        peer.advance(50 * MS); // the delayed ACK
        peer.drain();
        peer.send(data); // again: our ACK was lost, or the path duplicated it
        RawPeer.Sent ack = peer.next();
        assertNotNull(ack);
        assertEquals(PEER_ISN + 1 + 100, ack.ack());
        assertArrayEquals(new int[] {PEER_ISN + 1}, ack.options().sackStart());
        assertArrayEquals(new int[] {PEER_ISN + 1 + 100}, ack.options().sackEnd());
        assertEquals(1, counters.dsacksSent);
        peer.stackPool.free(conn.read(peer.now()));
        peer.send(segment(TcpFlags.ACK, PEER_ISN + 1 + 100, iss + 1)); // a window probe's answer
        peer.advance(50 * MS);
        for (RawPeer.Sent s : peer.takeAll()) {
            assertEquals(0, s.options().sackStart().length, "a D-SACK is reported once");
        }
    }

    /**
     * The first SACK block reports the latest arrival (RFC 2018 §4), and a D-SACK above the cumulative ACK is followed
     * by the block holding it (RFC 2883 §4), also when more ranges are held than an option has room for and that
     * block is not among the lowest of them.
     */
    @Test
    void sackBlocksLeadWithTheLatestArrivalAmongManyRanges() {
        connect(CongestionAlgorithm.CUBIC);
        int base = PEER_ISN + 1;
        RawPeer.Segment last = null;
        for (int k = 0; k < 5; k++) { // [100, 200), [300, 400), ... [900, 1000) held; the holes between missing
            last = segment(TcpFlags.ACK, base + 100 + 200 * k, iss + 1);
            last.payload = new byte[100];
            peer.drain();
            peer.send(last);
        }
        RawPeer.Sent ack = peer.next();
        assertNotNull(ack);
        assertEquals(base, ack.ack());
        assertEquals(base + 900, ack.options().sackStart()[0], "the first block: the latest arrival");
        peer.drain();
        peer.send(last); // again: the path duplicated it
        ack = peer.next();
        assertNotNull(ack);
        assertArrayEquals(new int[] {base + 900, base + 900, base + 700}, ack.options().sackStart());
        assertArrayEquals(new int[] {base + 1000, base + 1000, base + 800}, ack.options().sackEnd());
        assertEquals(1, counters.dsacksSent);
    }

    /**
     * NewReno, ten segments out, the third SACKed: a fast recovery retransmits the first (its only retransmission).
     * Returns cwnd from before the recovery.
     */
    private long recoveryWithOneRetransmission() {
        connect(CongestionAlgorithm.NEW_RENO);
        assertEquals(10, write(10).size());
        long cwndBefore = conn.sender.congestion.cwnd();
        peer.advance(10 * MS);
        ack(seg(0), seg(1), seg(4));
        assertEquals(List.of(seg(0)), seqs(taken()));
        assertTrue(conn.sender.inRecovery);
        return cwndBefore;
    }

    /** A D-SACK for the only retransmission of a recovery shows it needless: cwnd and ssthresh come back. */
    @Test
    void aDsackForASpuriousRetransmissionRestoresTheWindow() {
        long cwndBefore = recoveryWithOneRetransmission();
        assertTrue(conn.sender.congestion.cwnd() < cwndBefore, "reduced: " + conn.sender.congestion.cwnd());
        ack(seg(10), seg(0), seg(1)); // the original arrived late; then the resend, reported as a D-SACK
        assertEquals(1, counters.recoveriesUndone);
        assertTrue(conn.sender.congestion.cwnd() >= cwndBefore, "restored: " + conn.sender.congestion.cwnd());
        assertEquals(Long.MAX_VALUE, conn.sender.congestion.ssthresh(), "still in slow start");
        assertTrue(!conn.sender.inRecovery);
    }

    /**
     * The D-SACK may come after the ACK of everything, on an ACK that acknowledges nothing new while nothing is in
     * flight: the shape TcpSender.processAck takes a short path for. A SACK block keeps it on the full path, and the
     * needless recovery is still undone.
     */
    @Test
    void aDsackAfterEverythingWasAcknowledgedStillRestoresTheWindow() {
        long cwndBefore = recoveryWithOneRetransmission();
        ack(seg(10)); // the original arrived late: everything acknowledged, the recovery over
        assertTrue(!conn.sender.inRecovery);
        assertEquals(0, counters.recoveriesUndone);
        assertEquals(conn.sender.sndMax, conn.sender.sndUna, "nothing in flight");
        ack(seg(10), seg(0), seg(1)); // then the resend, reported as a D-SACK on an ACK with nothing new
        assertEquals(1, counters.dsacksReceived);
        assertEquals(1, counters.recoveriesUndone);
        assertTrue(conn.sender.congestion.cwnd() >= cwndBefore, "restored: " + conn.sender.congestion.cwnd());
    }

    /**
     * A timeout whose retransmission was needless (the ACKs were only late): the ACK echoes the original's timestamp,
     * older than the retransmission, and the collapse to one segment is undone (RFC 3522 detection, RFC 4015).
     */
    @Test
    void aSpuriousTimeoutIsUndoneByTimestamps() {
        connect(CongestionAlgorithm.NEW_RENO);
        List<RawPeer.Sent> sent = write(3);
        assertEquals(3, sent.size());
        int original = sent.get(2).options().tsVal();
        long cwndBefore = conn.sender.congestion.cwnd();
        peer.advance(450 * MS); // the probes, then the timeout
        assertEquals(TcpSender.MAX_PROBES, counters.tailLossProbes);
        assertEquals(1, counters.timeouts);
        assertEquals(conn.sender.sendMss, conn.sender.congestion.cwnd(), "collapsed to one segment");
        echo = original;
        ack(seg(3)); // all three arrived long ago: the ACK echoes the original TSval
        assertEquals(1, counters.recoveriesUndone);
        assertTrue(conn.sender.congestion.cwnd() >= cwndBefore, "restored: " + conn.sender.congestion.cwnd());
    }

    /**
     * F-RTO without timestamps (RFC 5682 §3.1): the first ACK after a timeout's retransmission advances SND.UNA, so
     * two new segments go instead of retransmissions; the next ACK advances it again, acknowledging segments sent only
     * once: the timeout was spurious (the ACKs were late), and its collapse of the window is undone.
     */
    @Test
    void fRtoFindsASpuriousTimeoutWithoutTimestamps() {
        timestamps = false;
        connect(CongestionAlgorithm.NEW_RENO);
        assertEquals(10, write(30).size());
        peer.advance(10 * MS);
        ack(seg(2)); // the handshake and this ACK give RTT samples (Karn's timing without timestamps)
        List<RawPeer.Sent> grown = taken();
        assertTrue(!grown.isEmpty());
        long cwndBefore = conn.sender.congestion.cwnd();
        int highest = (conn.sender.sndMax - seg(0)) / mss;
        untilTheFirstTimeout(); // no ACK: probes, then the timeout
        List<RawPeer.Sent> afterTimeout = taken();
        assertEquals(seg(2), afterTimeout.get(afterTimeout.size() - 1).seq(), "the timeout resends the first");
        int next = (conn.sender.sndMax - seg(0)) / mss;
        ack(seg(5)); // the late ACKs arrive: SND.UNA advances, short of the recovery point
        assertEquals(List.of(seg(next), seg(next + 1)), seqs(taken()), "F-RTO: two new segments, no retransmission");
        ack(seg(8)); // and again: segments sent once, before the timeout, were acknowledged
        assertEquals(1, counters.spuriousTimeouts);
        assertEquals(1, counters.recoveriesUndone);
        assertTrue(!conn.sender.lossRecovery, "the timeout's recovery is over");
        assertTrue(conn.sender.congestion.cwnd() >= cwndBefore, "restored: " + conn.sender.congestion.cwnd() + " < " + cwndBefore);
        assertTrue(highest > 8);
    }

    /**
     * BBR after a timeout that was real: the recovery ends when everything outstanding at the timeout is acknowledged,
     * and the algorithm hears it (it restores the window it had before the timeout: BbrTest).
     */
    @Test
    void theEndOfATimeoutsRecoveryReachesBbr() {
        connect(CongestionAlgorithm.BBR);
        assertEquals(10, write(10).size());
        untilTheFirstTimeout();
        Bbr bbr = (Bbr) conn.sender.congestion;
        assertTrue(bbr.inLossRecovery());
        List<RawPeer.Sent> resent = taken();
        assertEquals(seg(0), resent.get(resent.size() - 1).seq(), "after the probes, the timeout resends the first");
        ack(seg(1)); // the retransmission's ACK (echoing its TSval: the loss was real), short of the recovery point
        assertTrue(conn.sender.lossRecovery);
        assertTrue(bbr.inLossRecovery());
        taken();
        ack(seg(10));
        assertTrue(!conn.sender.lossRecovery, "everything outstanding at the timeout is acknowledged");
        assertTrue(!bbr.inLossRecovery(), "BBR heard the recovery end: " + bbr.describe());
        assertEquals(0, counters.recoveriesUndone);
    }

    /** Moves time a millisecond at a time until the retransmission timer fires (at most a second). */
    private void untilTheFirstTimeout() {
        for (int i = 0; i < 1000 && counters.timeouts == 0; i++) {
            peer.advance(MS);
        }
        assertEquals(1, counters.timeouts);
    }

    /** F-RTO with a real loss: the ACK after its two new segments is a duplicate, so the recovery resends as usual. */
    @Test
    void fRtoFallsBackToTheConventionalRecoveryOnADuplicateAck() {
        timestamps = false;
        connect(CongestionAlgorithm.NEW_RENO);
        assertEquals(10, write(30).size());
        peer.advance(10 * MS);
        ack(seg(2));
        taken();
        untilTheFirstTimeout();
        taken();
        int next = (conn.sender.sndMax - seg(0)) / mss;
        ack(seg(3)); // the retransmission arrived; segment 3 and what follows it did not
        assertEquals(List.of(seg(next), seg(next + 1)), seqs(taken()));
        ack(seg(3), seg(next), seg(next + 1)); // a duplicate ACK: the new segments arrived, segment 3 still missing
        List<RawPeer.Sent> resent = taken();
        assertTrue(!resent.isEmpty() && resent.get(0).seq() == seg(3), "the conventional recovery resends: " + resent);
        assertEquals(0, counters.spuriousTimeouts);
        assertEquals(0, counters.recoveriesUndone);
        assertTrue(conn.sender.lossRecovery);
    }

    /**
     * A window too small for sender SWS avoidance, with nothing in flight, is not waited on forever: no ACK is coming
     * to open it (the peer's window update may have been lost), so the persist timer sends what fits (RFC 9293
     * §3.8.6.2.1's override timeout). Found by the channel stress test under load: 9,649 bytes held for a 9,040-byte
     * window, no timer armed, the transfer stuck.
     */
    @Test
    void aSmallWindowHoldingDataIsOverriddenByThePersistTimer() {
        connect(CongestionAlgorithm.CUBIC);
        assertEquals(10, write(10).size());
        peer.advance(10 * MS);
        RawPeer.Segment small = segment(TcpFlags.ACK, PEER_ISN + 1, seg(10));
        small.window = 8; // 1,024 bytes (scale 7): less than a segment and than half the largest window seen
        peer.send(small);
        assertEquals(List.of(), write(3), "sender SWS avoidance holds the data");
        peer.advance(150 * MS);
        assertEquals(List.of(), taken(), "not before the persist interval");
        peer.advance(100 * MS);
        List<RawPeer.Sent> sent = taken();
        assertEquals(List.of(seg(10)), seqs(sent), "the override: what the window takes");
        assertEquals(1024, sent.get(0).payload().length);
        assertEquals(1, counters.windowOverrides);
        ack(seg(10) + 1024); // its ACK opens the window again: the rest goes
        assertTrue(taken().size() >= 2, "the rest, once the window opened");
    }

    /**
     * A timeout whose resend finds no mbuf (the pool is empty) did not reach the path: no backoff, not counted toward
     * giving up, and the timer tries again at the same RTO, not twice it.
     */
    @Test
    void aTimeoutResendWithoutAnMbufIsRetriedWithoutBackoff() {
        connect(CongestionAlgorithm.CUBIC);
        long m = peer.stackPool.alloc();
        Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
        MemorySegment.ofAddress(Mbuf.append(m, 100)).reinterpret(100).fill((byte) 7);
        assertTrue(conn.queue(m));
        peer.stackPool.refcntUpdate(m, 1); // held elsewhere too: every resend needs a header mbuf in front
        conn.push(peer.now());
        peer.poll();
        assertEquals(List.of(seg(0)), seqs(taken()));
        List<Long> drained = new ArrayList<>();
        for (long d; (d = peer.stackPool.alloc()) != 0; ) {
            drained.add(d);
        }
        long rto = conn.sender.rtt.rto();
        for (int i = 0; i < 2000 && counters.timeouts == 0; i++) {
            peer.advance(MS);
        }
        assertEquals(1, counters.timeouts);
        assertEquals(1, counters.timeoutResendsFailed, "the resend found no mbuf");
        assertEquals(0, conn.sender.rtt.backoffCount(), "no backoff for it");
        assertEquals(rto, conn.sender.rtt.rto());
        assertEquals(List.of(), taken());
        drained.forEach(peer.stackPool::free);
        peer.advance(rto - MS);
        assertEquals(List.of(), taken(), "not before one RTO");
        peer.advance(2 * MS);
        assertEquals(List.of(seg(0)), seqs(taken()), "the retry, one RTO later: it leaves now");
        assertEquals(2, counters.timeouts);
        assertEquals(1, conn.sender.rtt.backoffCount(), "this one reached the path");
        peer.stackPool.free(m);
        ack(seg(0) + 100);
    }

    /** The minimum RTO is a setting (TcpSettings.minRtoNanos(), 200 ms as in Linux by default): here 50 ms. */
    @Test
    void theMinimumRtoIsASetting() {
        connect(CongestionAlgorithm.CUBIC, 50 * MS);
        assertEquals(1, write(1).size());
        assertEquals(50 * MS, conn.sender.rtt.rto(), "SRTT 10 ms + 4 RTTVAR (5 ms) = 30 ms, raised to the 50 ms minimum");
        peer.advance(49 * MS);
        assertEquals(List.of(), taken());
        peer.advance(2 * MS);
        assertEquals(List.of(seg(0)), seqs(taken()), "the probe, at the latest when the RTO would fire");
        peer.advance(48 * MS); // the probe left at 50 ms and we are at 51
        assertEquals(List.of(), taken());
        peer.advance(2 * MS);
        assertEquals(List.of(seg(0)), seqs(taken()), "the timeout, one minimum RTO after the probe");
        assertEquals(1, counters.timeouts);
    }
}
