package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.Mbuf;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Black-box tests of one stack's TCP with scripted raw segments (gVisor packetimpact style). */
class RawSegmentTest {
    private static final long MS = 1_000_000L;
    private int peerIsn = 1000;

    private RawPeer peer;
    private TcpListener listener;
    private TcpConnection conn;
    /** The stack's ISS, learnt from its SYN-ACK. */
    private int iss;
    private int peerTs = 100;

    @BeforeEach
    void setUp() {
        peer = new RawPeer(TcpSettings.defaults());
        listener = peer.tcp().listen(0, 80, peer.tcp().defaults());
    }

    @AfterEach
    void tearDown() {
        peer.close(); // pools refuse to close if an mbuf leaked
    }

    private RawPeer.Segment segment(int flags, int seq, int ack) {
        RawPeer.Segment s = new RawPeer.Segment();
        s.destinationPort = 80;
        s.flags = flags;
        s.seq = seq;
        s.ack = ack;
        s.timestamp = true;
        s.tsVal = peerTs;
        return s;
    }

    private RawPeer.Sent handshake() {
        RawPeer.Segment syn = segment(TcpFlags.SYN, peerIsn, 0);
        syn.mss = 1460;
        syn.windowScale = 7;
        syn.sackPermitted = true;
        peer.send(syn);
        RawPeer.Sent synAck = peer.next();
        assertNotNull(synAck, "SYN-ACK");
        iss = synAck.seq();
        peer.send(segment(TcpFlags.ACK, peerIsn + 1, iss + 1));
        conn = listener.accept();
        assertNotNull(conn, "accepted");
        assertEquals(TcpState.ESTABLISHED, conn.state());
        return synAck;
    }

    private RawPeer.Segment data(int offset, int length) {
        RawPeer.Segment s = segment(TcpFlags.ACK | TcpFlags.PSH, peerIsn + 1 + offset, iss + 1);
        s.payload = new byte[length];
        for (int i = 0; i < length; i++) {
            s.payload[i] = (byte) (offset + i);
        }
        return s;
    }

    private void write(int length) {
        long m = peer.stackPool.alloc();
        Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
        MemorySegment.ofAddress(Mbuf.append(m, length)).reinterpret(length).fill((byte) 7);
        assertTrue(conn.write(m, peer.now()));
        peer.poll(); // the stack's transmit queue goes out at the end of a poll
    }

    @Test
    void handshakeNegotiatesMssWindowScaleSackAndTimestamps() {
        RawPeer.Sent synAck = handshake();
        assertTrue(synAck.has(TcpFlags.SYN) && synAck.has(TcpFlags.ACK));
        assertEquals(peerIsn + 1, synAck.ack());
        assertEquals(1460, synAck.options().mss());
        assertTrue(synAck.options().windowScale() >= 0, "window scale offered back");
        assertTrue(synAck.options().sackPermitted());
        assertTrue(synAck.options().timestamp());
        assertEquals(100, synAck.options().tsEcr(), "our TSval echoed");
        assertTrue(conn.timestampsOn && conn.sackOn && conn.windowScalingOn);
    }

    @Test
    void synAckIsRetransmittedWithExponentialBackoff() {
        RawPeer.Segment syn = segment(TcpFlags.SYN, peerIsn, 0);
        syn.mss = 1460;
        peer.send(syn);
        RawPeer.Sent first = peer.next();
        assertNotNull(first);
        peer.advance(990 * MS);
        assertNull(peer.next(), "not before the initial RTO of 1 s");
        peer.advance(20 * MS);
        RawPeer.Sent second = peer.next();
        assertNotNull(second, "retransmitted after 1 s");
        assertEquals(first.seq(), second.seq());
        peer.advance(1900 * MS);
        assertNull(peer.next(), "second retransmission waits 2 s");
        peer.advance(200 * MS);
        assertNotNull(peer.next());
    }

    @Test
    void closedPortAnswersResetWithAckOfTheSyn() {
        RawPeer.Segment syn = segment(TcpFlags.SYN, 5000, 0);
        syn.destinationPort = 81;
        peer.send(syn);
        RawPeer.Sent rst = peer.next();
        assertNotNull(rst);
        assertTrue(rst.has(TcpFlags.RST) && rst.has(TcpFlags.ACK));
        assertEquals(5001, rst.ack());
        assertEquals(1, peer.tcp().counters().noSocket);
    }

    @Test
    void resetInWindowButNotAtRcvNxtGetsAChallengeAck() {
        handshake();
        peer.send(segment(TcpFlags.RST, peerIsn + 1 + 100, 0));
        RawPeer.Sent challenge = peer.next();
        assertNotNull(challenge, "challenge ACK (RFC 5961 §3.2)");
        assertTrue(challenge.has(TcpFlags.ACK) && !challenge.has(TcpFlags.RST));
        assertEquals(peerIsn + 1, challenge.ack());
        assertEquals(TcpState.ESTABLISHED, conn.state());
        peer.send(segment(TcpFlags.RST, peerIsn + 1, 0));
        assertEquals(TcpState.CLOSED, conn.state());
        assertEquals(TcpError.RESET, conn.error());
    }

    /**
     * A connection reset while it waits in the accept queue leaves the queue, and what it had received goes back to
     * the pool: the application never sees it, so nobody else would free it (found by {@link TcpFuzzTest}: a reset
     * connection kept its data for a read that, after an accept, would have followed).
     */
    @Test
    void aConnectionResetBeforeItIsAcceptedFreesWhatItReceived() {
        RawPeer.Segment syn = segment(TcpFlags.SYN, peerIsn, 0);
        syn.mss = 1460;
        peer.send(syn);
        iss = peer.next().seq();
        peer.send(segment(TcpFlags.ACK, peerIsn + 1, iss + 1));
        assertEquals(1, listener.pending());
        peer.send(data(0, 1000));
        peer.send(data(1000, 1000));
        assertTrue(peer.stackPool.capacity() - peer.stackPool.available() >= 2, "the data waits in the connection");
        peer.send(segment(TcpFlags.RST, peerIsn + 1 + 2000, 0));
        assertEquals(0, listener.pending(), "the reset connection left the accept queue");
        assertNull(listener.accept());
        assertEquals(0, peer.stackPool.capacity() - peer.stackPool.available(), "every received mbuf freed");
    }

    /**
     * A simultaneous open closed before the peer acknowledged our SYN: the FIN waits until it has (RFC 9293 §3.10.4,
     * CLOSE in SYN-RECEIVED). It went at once before, with the SYN unacknowledged, and the retransmission timer then
     * asked the send queue for the SYN's byte and threw (found by {@link TcpFuzzTest}); the ACK of the SYN would have
     * been taken as acknowledging a byte of data.
     */
    @Test
    void aSimultaneousOpenClosedBeforeItsSynIsAcknowledgedSendsItsFinOnceItIs() {
        TcpConnection c = peer.tcp().connect(0, 0, RawPeer.PEER, 40000, peer.tcp().defaults(), null, peer.now());
        peer.poll();
        RawPeer.Sent syn = peer.next();
        assertTrue(syn != null && syn.has(TcpFlags.SYN) && !syn.has(TcpFlags.ACK), "our SYN");
        int ourIss = syn.seq();
        RawPeer.Segment theirSyn = segment(TcpFlags.SYN, peerIsn, 0);
        theirSyn.sourcePort = 40000;
        theirSyn.destinationPort = c.localPort();
        peer.send(theirSyn);
        assertEquals(TcpState.SYN_RECEIVED, c.state());
        peer.drain(); // our SYN-ACK
        c.shutdownOutput(peer.now());
        assertTrue(c.isOutputShutdown());
        assertEquals(TcpState.SYN_RECEIVED, c.state(), "no FIN before our SYN is acknowledged");
        peer.advance(1_500 * MS); // the retransmission timer: our SYN-ACK again, nothing else
        RawPeer.Sent again = peer.next();
        assertNotNull(again, "the SYN-ACK resent");
        assertTrue(again.has(TcpFlags.SYN) && again.has(TcpFlags.ACK) && !again.has(TcpFlags.FIN));
        assertEquals(ourIss, again.seq());
        peer.drain();
        RawPeer.Segment ack = segment(TcpFlags.ACK, peerIsn + 1, ourIss + 1);
        ack.sourcePort = 40000;
        ack.destinationPort = c.localPort();
        peer.send(ack);
        RawPeer.Sent fin = peer.next();
        assertNotNull(fin, "the FIN, once the SYN is acknowledged");
        assertTrue(fin.has(TcpFlags.FIN));
        assertEquals(ourIss + 1, fin.seq());
        assertEquals(TcpState.FIN_WAIT_1, c.state());
        RawPeer.Segment finAck = segment(TcpFlags.ACK, peerIsn + 1, ourIss + 2);
        finAck.sourcePort = 40000;
        finAck.destinationPort = c.localPort();
        peer.send(finAck);
        assertEquals(TcpState.FIN_WAIT_2, c.state());
        c.abort(peer.now());
    }

    /**
     * Data in a SYN-ACK starts after the SYN's own sequence number. It was taken as starting at it: the first byte
     * was cut as a duplicate (and reported in a D-SACK) and the application read the rest one place early, every
     * byte wrong (found by {@link TcpFuzzTest}).
     */
    @Test
    void dataInASynAckReachesTheApplicationAsSent() {
        TcpConnection c = peer.tcp().connect(0, 0, RawPeer.PEER, 40000, peer.tcp().defaults(), null, peer.now());
        peer.poll();
        int ourIss = peer.next().seq();
        RawPeer.Segment synAck = segment(TcpFlags.SYN | TcpFlags.ACK, peerIsn, ourIss + 1);
        synAck.sourcePort = 40000;
        synAck.destinationPort = c.localPort();
        synAck.mss = 1460;
        synAck.payload = new byte[100];
        for (int i = 0; i < 100; i++) {
            synAck.payload[i] = (byte) (i + 1);
        }
        peer.send(synAck);
        assertEquals(TcpState.ESTABLISHED, c.state());
        RawPeer.Sent ack = peer.takeAll().getLast();
        assertEquals(peerIsn + 1 + 100, ack.ack(), "the SYN and all 100 bytes acknowledged");
        assertEquals(0, ack.options().sackStart().length, "no D-SACK: nothing was received twice");
        long chain = c.read(peer.now());
        assertNotNull(chain);
        byte[] read = Mbuf.toByteArray(chain);
        peer.stackPool.free(chain);
        assertArrayEquals(synAck.payload, read);
        c.abort(peer.now());
    }

    /**
     * An IPv4 header alone (total length 20, protocol TCP), padded to Ethernet's 60 bytes as on any wire: IP trimmed
     * the padding, was left with no mbuf, and handed TCP mbuf 0, whose header TCP then read at address 0: the JVM died
     * of a SIGSEGV, one such frame from anyone on the link was enough (found by {@link TcpFuzzTest}).
     */
    @Test
    void anIpv4HeaderWithNothingBehindItIsDroppedNotHandedToTcp() {
        handshake();
        byte[] frame = new byte[60];
        java.lang.foreign.MemorySegment f = java.lang.foreign.MemorySegment.ofArray(frame);
        io.zstack.wire.Ethernet.write(f, 0, RawPeer.STACK_MAC, RawPeer.PEER_MAC, io.zstack.wire.Ethernet.TYPE_IPV4);
        io.zstack.wire.Ipv4Packet.write(f, 14, 20, 7, true, 64, io.zstack.wire.Ipv4Packet.PROTOCOL_TCP, RawPeer.PEER,
                RawPeer.STACK, true);
        peer.sendFrame(frame);
        assertEquals(1, peer.stack.ip().counters().ipNoTransportBytes);
        peer.send(data(0, 10));
        assertEquals(10, conn.readable(), "the connection goes on");
        peer.stackPool.free(conn.read(peer.now()));
    }

    /**
     * A peer that resends its SYN lost our SYN-ACK: it gets the SYN-ACK again (at most one per 500 ms), as from
     * Linux. It got a bare ACK (the SYN's number lies before the window, and the code meant to resend was behind that
     * check), which a peer in SYN_SENT drops: the handshake then waited for our own timer (found in a sweep of
     * TcpSimulationTest's seeds).
     */
    @Test
    void aResentSynGetsTheSynAckAgain() {
        RawPeer.Segment syn = segment(TcpFlags.SYN, peerIsn, 0);
        syn.mss = 1460;
        peer.send(syn);
        RawPeer.Sent synAck = peer.next();
        assertTrue(synAck.has(TcpFlags.SYN) && synAck.has(TcpFlags.ACK));
        peer.drain();
        peer.advance(600 * MS); // before our own timer (1 s)
        peer.drain();
        peerTs += 600;
        RawPeer.Segment again = segment(TcpFlags.SYN, peerIsn, 0);
        again.mss = 1460;
        peer.send(again);
        RawPeer.Sent answer = peer.next();
        assertNotNull(answer, "an answer to the resent SYN");
        assertTrue(answer.has(TcpFlags.SYN) && answer.has(TcpFlags.ACK), "the SYN-ACK, not a bare ACK: " + answer);
        assertEquals(synAck.seq(), answer.seq());
        assertEquals(peerIsn + 1, answer.ack());
        peer.send(again); // a third copy at once: within 500 ms of the last answer, none
        assertNull(peer.next());
        peer.send(segment(TcpFlags.ACK, peerIsn + 1, synAck.seq() + 1));
        conn = listener.accept();
        assertNotNull(conn);
        assertEquals(TcpState.ESTABLISHED, conn.state());
    }

    /** A FIN in a SYN-ACK, after its data, closes the input at once (it was ignored until the peer resent it). */
    @Test
    void aFinInASynAckClosesTheInputAtOnce() {
        TcpConnection c = peer.tcp().connect(0, 0, RawPeer.PEER, 40000, peer.tcp().defaults(), null, peer.now());
        peer.poll();
        int ourIss = peer.next().seq();
        RawPeer.Segment synAck = segment(TcpFlags.SYN | TcpFlags.ACK | TcpFlags.FIN, peerIsn, ourIss + 1);
        synAck.sourcePort = 40000;
        synAck.destinationPort = c.localPort();
        synAck.mss = 1460;
        synAck.payload = new byte[] {1, 2, 3};
        peer.send(synAck);
        assertEquals(TcpState.CLOSE_WAIT, c.state());
        assertTrue(c.isInputShutdown());
        assertEquals(peerIsn + 1 + 3 + 1, peer.takeAll().getLast().ack(), "SYN, data and FIN acknowledged");
        long chain = c.read(peer.now());
        assertArrayEquals(new byte[] {1, 2, 3}, Mbuf.toByteArray(chain));
        peer.stackPool.free(chain);
        c.abort(peer.now());
    }

    @Test
    void resetOutsideTheWindowIsIgnoredSilently() {
        handshake();
        peer.send(segment(TcpFlags.RST, peerIsn + 1 + (1 << 30), 0));
        assertNull(peer.next());
        assertEquals(TcpState.ESTABLISHED, conn.state());
    }

    @Test
    void synOnAnEstablishedConnectionGetsAChallengeAck() {
        handshake();
        peer.send(segment(TcpFlags.SYN, peerIsn + 50, 0));
        RawPeer.Sent challenge = peer.next();
        assertNotNull(challenge);
        assertTrue(challenge.has(TcpFlags.ACK) && !challenge.has(TcpFlags.SYN));
        assertEquals(TcpState.ESTABLISHED, conn.state());
        assertEquals(1, peer.tcp().counters().challengeAcks);
    }

    @Test
    void pawsDropsASegmentWithAnOlderTimestamp() {
        handshake();
        peerTs = 200;
        peer.send(data(0, 100));
        assertEquals(100, conn.readable());
        peer.drain();
        peerTs = 150; // older than TS.Recent: an old duplicate
        peer.send(data(100, 100));
        assertEquals(100, conn.readable(), "not accepted");
        assertEquals(1, peer.tcp().counters().pawsRejected);
        RawPeer.Sent ack = peer.next();
        assertNotNull(ack, "PAWS answers with an ACK");
        assertEquals(peerIsn + 1 + 100, ack.ack());
        long chain = conn.read(peer.now());
        peer.stackPool.free(chain);
    }

    /**
     * As Linux: a timestamp one tick older than TS.Recent passes PAWS (two segments that swapped places across a tick
     * of the peer's clock), and TS.Recent stays where it was; two ticks older is an old duplicate.
     */
    @Test
    void pawsLetsATimestampOneTickOlderThroughNotTwo() {
        handshake();
        peerTs = 200;
        peer.send(data(0, 100));
        peer.drain();
        peerTs = 199;
        peer.send(data(100, 100));
        assertEquals(200, conn.readable(), "one tick older: taken");
        assertEquals(0, peer.tcp().counters().pawsRejected);
        RawPeer.Sent ack = peer.takeAll().getLast();
        assertEquals(200, ack.options().tsEcr(), "TS.Recent did not go back");
        peerTs = 198;
        peer.send(data(200, 100));
        assertEquals(200, conn.readable(), "two ticks older: an old duplicate");
        assertEquals(1, peer.tcp().counters().pawsRejected);
        peer.stackPool.free(conn.read(peer.now()));
    }

    /**
     * A duplicate ACK overtaken by a newer segment (a router forwarding on two CPUs reorders ACKs) passes PAWS when it
     * changes nothing and its timestamp is less than an RTO older, as Linux's tcp_disordered_ack: its SACK blocks
     * reach the sender. A segment with data, or a timestamp older than that, is still an old duplicate.
     */
    @Test
    void aReorderedDuplicateAckPassesPawsWithItsSackBlocks() {
        handshake();
        for (int i = 0; i < 4; i++) {
            write(1000);
        }
        peer.drain();
        peerTs = 500;
        peer.send(segment(TcpFlags.ACK, peerIsn + 1, iss + 1)); // TS.Recent 500, nothing acknowledged
        RawPeer.Segment reordered = segment(TcpFlags.ACK, peerIsn + 1, iss + 1);
        reordered.tsVal = 450; // sent before the one above, 50 ticks older: well within an RTO (200 ms and more)
        reordered.sackStart = new int[] {iss + 1 + 1000};
        reordered.sackEnd = new int[] {iss + 1 + 2000};
        peer.send(reordered);
        assertEquals(0, peer.tcp().counters().pawsRejected, "taken");
        assertEquals(1000, conn.sender().sent.sackedBytes(), "its SACK block reached the sender");
        RawPeer.Segment ancient = segment(TcpFlags.ACK, peerIsn + 1, iss + 1);
        ancient.tsVal = 500 - 100_000; // older than any RTO
        peer.send(ancient);
        assertEquals(1, peer.tcp().counters().pawsRejected);
        RawPeer.Segment withData = data(0, 10);
        withData.tsVal = 499 - 1;
        peer.send(withData);
        assertEquals(2, peer.tcp().counters().pawsRejected, "data is not a duplicate ACK");
        assertEquals(0, conn.readable());
    }

    /**
     * Unacceptable segments without data (here bare ACKs beyond the window, and RSTs in it but not at RCV.NXT) get one
     * ACK per 500 ms between them; a retransmission of data already received gets its ACK every time.
     */
    @Test
    void bareUnacceptableSegmentsGetOneAckPerHalfSecondDataEveryTime() {
        handshake();
        peer.drain();
        for (int i = 0; i < 5; i++) {
            peer.send(segment(TcpFlags.ACK, peerIsn + 1 + 10_000_000, iss + 1)); // far beyond the window
            peer.advance(10 * MS);
        }
        peer.send(segment(TcpFlags.RST, peerIsn + 1 + 100, 0)); // in the window, not at RCV.NXT: a challenge
        assertEquals(1, peer.pending(), "one ACK for six unacceptable bare segments within 60 ms");
        assertEquals(5, peer.tcp().counters().invalidAcksSuppressed);
        assertEquals(1, peer.tcp().counters().challengeAcks);
        peer.drain();
        peer.advance(500 * MS);
        peer.send(segment(TcpFlags.ACK, peerIsn + 1 + 10_000_000, iss + 1));
        RawPeer.Sent later = peer.next();
        assertNotNull(later, "half a second later an unacceptable bare segment is answered again");
        assertEquals(peerIsn + 1, later.ack());
        // data already received, sent again (its ACK was lost): answered each time, however soon
        peer.send(data(0, 100));
        peer.drain();
        for (int i = 0; i < 3; i++) {
            peer.send(data(0, 100));
        }
        assertEquals(3, peer.pending(), "each retransmission of received data is acknowledged");
        assertEquals(TcpState.ESTABLISHED, conn.state());
        peer.drain();
        peer.stackPool.free(conn.read(peer.now()));
    }

    @Test
    void anUnreadReceiveBufferClosesTheWindowWhateverThePeersIsn() {
        // an ISN in the upper half of the sequence space once left the advertised edge at 0, which then looked like
        // a window of hundreds of megabytes: the stack accepted data it had no room for
        peerIsn = 0xC000_0000;
        handshake();
        int buffer = conn.settings().receiveBufferBytes();
        RawPeer.Sent last = null;
        for (int offset = 0; offset < buffer + 20_000; offset += 1000) {
            peer.send(data(offset, 1000));
            RawPeer.Sent ack;
            while ((ack = peer.next()) != null) {
                last = ack;
            }
        }
        assertNotNull(last);
        int acknowledged = last.ack() - (peerIsn + 1);
        assertTrue(acknowledged <= buffer, "acknowledged " + acknowledged + " bytes into a " + buffer + "-byte buffer");
        assertTrue(acknowledged >= buffer - 1000, "the buffer filled: " + acknowledged);
        assertEquals(0, last.window(), "the window closed");
        assertTrue(peer.tcp().counters().outOfWindow + peer.tcp().counters().beyondWindow > 0,
                "data beyond the window was dropped and counted");
        long chain;
        while ((chain = conn.read(peer.now())) != 0) {
            peer.stackPool.free(chain);
        }
    }

    @Test
    void tinySegmentsCannotPinMoreMbufsThanFullOnes() {
        // 256 KiB of window in one-byte segments would be 262144 mbufs: the count is bounded, the rest dropped
        handshake();
        int sent = 1000;
        for (int offset = 0; offset < sent; offset++) {
            peer.send(data(offset, 1));
            peer.drain();
        }
        int held = conn.receiver.receiveQueue.chains() + conn.receiver.reassembly.entries();
        assertTrue(held < sent, "held " + held + " one-byte segments");
        assertEquals(sent - held, peer.tcp().counters().receiveMemoryDrops, "every segment not held was counted");
        assertTrue(peer.stackPool.available() > peer.stackPool.capacity() - held - 64, peer.stackPool.toString());
        int read = readAll();
        assertEquals(held, read, "what was kept is readable, in order");
        peer.send(data(held, sent - held)); // the peer sends the dropped bytes again
        RawPeer.Sent ack = lastSent();
        assertEquals(peerIsn + 1 + sent, ack.ack(), "the resent bytes were accepted");
        assertEquals(sent - held, readAll());
    }

    @Test
    void aPoolRunningLowDropsDataButStillTakesAcks() {
        handshake();
        write(500);
        RawPeer.Sent ours = peer.next();
        assertEquals(500, ours.payload().length);
        List<Long> taken = new ArrayList<>();
        while (peer.stackPool.available() > peer.stackPool.capacity() / 16 - 8) {
            taken.add(peer.stackPool.alloc());
        }
        try {
            RawPeer.Segment dataAndAck = data(0, 100);
            dataAndAck.ack = iss + 1 + 500;
            peer.send(dataAndAck);
            peer.drain();
            assertEquals(1, peer.tcp().counters().receiveMemoryDrops, "the data was dropped");
            assertEquals(iss + 1 + 500, conn.sender.sndUna, "the ACK it carried was taken: our 500 bytes are acknowledged");
            assertEquals(0, conn.receiver.receiveQueue.chains());
        } finally {
            taken.forEach(peer.stackPool::free);
        }
        peer.send(data(0, 100));
        assertEquals(peerIsn + 1 + 100, lastSent().ack(), "with the pool back, the resent data is taken");
        assertEquals(100, readAll());
    }

    private RawPeer.Sent lastSent() {
        peer.poll();
        RawPeer.Sent last = null;
        for (RawPeer.Sent s; (s = peer.next()) != null; ) {
            last = s;
        }
        if (last == null) {
            // a delayed ACK: let its timer fire
            peer.advance(500 * MS);
            last = peer.next();
        }
        assertNotNull(last, "the stack answered");
        return last;
    }

    /** Writes {@code n} full-sized segments' worth (one mbuf each) and returns everything the stack sent. */
    private List<RawPeer.Sent> writeFullSegments(int n) {
        for (int i = 0; i < n; i++) {
            write(conn.sender.sendMss);
        }
        return peer.takeAll();
    }

    private int readAll() {
        long chain;
        int total = 0;
        while ((chain = conn.read(peer.now())) != 0) {
            total += Mbuf.pktLen(chain);
            peer.stackPool.free(chain);
        }
        return total;
    }

    /**
     * RFC 5681 §4.1: after an idle period longer than the RTO, a sender starts again from the initial window rather
     * than bursting a window grown long ago into a path it no longer knows.
     */
    @Test
    void anIdleConnectionRestartsFromTheInitialWindow() {
        handshake();
        int mss = conn.sender.sendMss;
        List<RawPeer.Sent> sent = writeFullSegments(60);
        int acked = iss + 1;
        while (!sent.isEmpty()) {
            RawPeer.Sent last = sent.get(sent.size() - 1);
            acked = last.seq() + last.payload().length;
            peer.send(segment(TcpFlags.ACK, peerIsn + 1, acked)); // a window-limited sender: its window grows
            sent = peer.takeAll();
        }
        assertEquals(iss + 1 + 60 * mss, acked, "all 60 segments sent and acknowledged");
        assertTrue(conn.sender.congestion.cwnd() >= 15L * mss, "cwnd grew: " + conn.sender.congestion.cwnd());
        peer.advance(5_000 * MS); // idle well past the RTO
        List<RawPeer.Sent> burst = writeFullSegments(30);
        assertEquals(10, burst.size(), "the initial window of RFC 6928 (10 segments of " + mss + " bytes)");
    }

    @Test
    void sackRecoveryRepairsEveryLostHoleOfAWindowInOneRoundTrip() {
        // RFC 6675: with segments 0, 2 and 4 of a window lost and the rest SACKed, all three go again at once;
        // NewReno (RFC 6582) would resend one per round trip, waiting for each partial ACK
        handshake();
        int mss = conn.sender.sendMss;
        List<RawPeer.Sent> window = writeFullSegments(10);
        assertTrue(window.size() >= 8, "an initial window of at least 8 segments: " + window.size());
        int first = iss + 1;
        int end = window.get(window.size() - 1).seq() + mss;
        int[][] sacks = {
            {first + mss, first + 2 * mss},
            {first + 3 * mss, first + 4 * mss},
            {first + 5 * mss, end},
        };
        for (int blocks = 1; blocks <= 3; blocks++) {
            RawPeer.Segment dupAck = segment(TcpFlags.ACK, peerIsn + 1, first);
            dupAck.sackStart = new int[blocks];
            dupAck.sackEnd = new int[blocks];
            for (int b = 0; b < blocks; b++) {
                dupAck.sackStart[b] = sacks[b][0];
                dupAck.sackEnd[b] = sacks[b][1];
            }
            peer.send(dupAck);
        }
        List<Integer> resent = new ArrayList<>();
        for (RawPeer.Sent s : peer.takeAll()) {
            if (s.payload().length > 0 && SeqNum.lt(s.seq(), end)) {
                resent.add(s.seq() - first);
            }
        }
        assertEquals(List.of(0, 2 * mss, 4 * mss), resent, "the three holes, in order, before any further ACK");
        assertTrue(conn.sender.inRecovery);
        assertEquals(1, peer.tcp().counters().fastRetransmits);
        RawPeer.Segment all = segment(TcpFlags.ACK, peerIsn + 1, end);
        peer.send(all);
        assertEquals(end, conn.sender.sndUna);
        assertTrue(!conn.sender.inRecovery || SeqNum.lt(end, conn.sender.recoveryPoint), "recovery ends once its data is acked");
    }

    @Test
    void aHoleIsReportedWithSackBlocksAtOnce() {
        handshake();
        peer.send(data(1000, 100));
        RawPeer.Sent ack = peer.next();
        assertNotNull(ack, "out-of-order data is acknowledged at once");
        assertEquals(peerIsn + 1, ack.ack(), "duplicate ACK of the left edge");
        assertArrayEquals(new int[] {peerIsn + 1 + 1000}, ack.options().sackStart());
        assertArrayEquals(new int[] {peerIsn + 1 + 1100}, ack.options().sackEnd());
        peer.send(data(0, 1000));
        RawPeer.Sent filled = peer.next();
        assertEquals(peerIsn + 1 + 1100, filled.ack(), "hole filled: everything acknowledged");
        assertEquals(0, filled.options().sackStart().length);
        long chain;
        int total = 0;
        while ((chain = conn.read(peer.now())) != 0) {
            total += Mbuf.pktLen(chain);
            peer.stackPool.free(chain);
        }
        assertEquals(1100, total);
    }

    @Test
    void dataIsRetransmittedWithBackoffUntilAcknowledged() {
        handshake();
        write(500);
        RawPeer.Sent first = peer.next();
        assertNotNull(first);
        assertEquals(500, first.payload().length);
        long rto = conn.sender.rtt.rto();
        peer.advance(rto + 2 * MS);
        RawPeer.Sent probe = peer.next();
        assertNotNull(probe, "a tail loss probe, at the latest when the RTO (" + rto / MS + " ms) would fire");
        assertEquals(first.seq(), probe.seq());
        assertEquals(1, peer.tcp().counters().tailLossProbes);
        assertEquals(0, peer.tcp().counters().timeouts, "the probe restarted the retransmission timer");
        peer.advance(rto + 2 * MS);
        RawPeer.Sent again = peer.next();
        assertNotNull(again, "retransmitted one RTO after the probe");
        assertEquals(first.seq(), again.seq());
        assertEquals(1, peer.tcp().counters().timeouts);
        peer.advance(rto + 2 * MS);
        assertNull(peer.next(), "the next one waits twice as long");
        peer.advance(rto + 2 * MS);
        assertNotNull(peer.next());
        peer.send(segment(TcpFlags.ACK, peerIsn + 1, iss + 1 + 500));
        peer.drain();
        peer.advance(10 * rto);
        assertNull(peer.next(), "nothing left to retransmit");
        assertEquals(0, conn.sendQueued());
    }

    /**
     * The wheel entry is armed lazily (ConnectionTimers.arm): an ACK that clears the timers leaves it at the first
     * segment's probe deadline, and the next segment's later deadline does not move it. It must wake there, send
     * nothing (nothing is due) and re-arm, so that the second segment's probe still goes at its own deadline.
     */
    @Test
    void aTimerMovedLaterByAnAckFiresAtItsNewDeadlineNotTheOld() {
        handshake();
        write(500);
        assertNotNull(peer.next());
        long firstDeadline = conn.timers.probeDeadline;
        assertTrue(firstDeadline > peer.now(), "a probe is due for the first segment");
        peer.advance(MS);
        peer.send(segment(TcpFlags.ACK, peerIsn + 1, iss + 1 + 500));
        assertEquals(0, conn.timers.probeDeadline, "everything acknowledged: no probe");
        assertEquals(0, conn.timers.retransmitDeadline);
        peer.advance((firstDeadline - peer.now()) / 2);
        write(300);
        RawPeer.Sent second = peer.next();
        assertNotNull(second);
        long secondDeadline = conn.timers.probeDeadline;
        assertTrue(secondDeadline > firstDeadline + 2 * MS, "the second probe is due later than the first was");
        peer.advance(firstDeadline + 2 * MS - peer.now());
        assertNull(peer.next(), "nothing is due at the first segment's old deadline");
        assertEquals(0, peer.tcp().counters().tailLossProbes);
        peer.advance(secondDeadline - MS - peer.now());
        assertNull(peer.next(), "nor before the second's");
        peer.advance(2 * MS);
        RawPeer.Sent probe = peer.next();
        assertNotNull(probe, "the probe goes within a tick of its deadline");
        assertEquals(second.seq(), probe.seq());
        assertEquals(1, peer.tcp().counters().tailLossProbes);
    }

    @Test
    void aTimeoutResendThatRunsPastWhatWasSentCanBeAcknowledged() {
        handshake();
        write(8);
        assertEquals(8, peer.next().payload().length);
        write(1000);
        assertNull(peer.next(), "Nagle holds the small write while 8 bytes are in flight");
        peer.advance(conn.sender.rtt.rto() + 2 * MS);
        RawPeer.Sent probe = peer.next();
        assertNotNull(probe, "the tail loss probe");
        assertEquals(iss + 1 + 8, probe.seq(), "a probe sends new data when there is some");
        assertEquals(1000, probe.payload().length);
        peer.advance(conn.sender.rtt.rto() + 2 * MS);
        RawPeer.Sent resend = peer.next();
        assertNotNull(resend, "resent from the left edge after the timeout");
        assertEquals(1008, resend.payload().length, "the resend takes all that is lost, up to a segment");
        peer.send(segment(TcpFlags.ACK, peerIsn + 1, iss + 1 + 1008));
        assertEquals(0, peer.tcp().counters().ackUnsent, "the ACK of the resent data is not an ACK of unsent data");
        assertEquals(iss + 1 + 1008, conn.sender.sndUna);
        assertEquals(0, conn.sendQueued());
    }

    @Test
    void theAckOfAResentSegmentWeAlreadyHadEchoesTheResentTimestamp() {
        // our ACK was lost and the peer resent: echoing the original's TSval would give it an RTT sample as long as
        // its timeout (RFC 7323 §4.3 (2) lets the resent one's TSval in: SEG.SEQ <= Last.ACK.sent)
        handshake();
        peerTs = 200;
        peer.send(data(0, 100));
        peer.drain();
        peerTs = 900;
        peer.send(data(0, 100));
        RawPeer.Sent ack = peer.next();
        assertNotNull(ack, "a duplicate is answered with an ACK");
        assertEquals(peerIsn + 1 + 100, ack.ack());
        assertEquals(900, ack.options().tsEcr());
        assertEquals(100, conn.readable(), "the duplicate's bytes were not taken twice");
        peer.stackPool.free(conn.read(peer.now()));
    }

    @Test
    void aPureAckAfterATimeoutCarriesTheHighestSequenceSent() {
        // after a timeout SND.NXT goes back to SND.UNA; the peer already has more than that, and would find an ACK
        // numbered SND.NXT below its window and drop it (RFC 9293 §3.10.7.4): pure ACKs are numbered SND.MAX
        handshake();
        int mss = conn.sender.sendMss;
        int sent = writeFullSegments(3).stream().mapToInt(s -> s.payload().length).sum();
        assertEquals(3 * mss, sent);
        peer.advance(conn.sender.rtt.rto() + 2 * MS);
        assertEquals(iss + 1 + 2 * mss, peer.next().seq(), "first the tail loss probe: the last segment again");
        // the handshake's RTT (0 here) makes the PTO short: the second probe, two PTOs later, comes before the RTO
        assertEquals(iss + 1 + 2 * mss, peer.next().seq(), "the second probe: the last segment again");
        peer.advance(conn.sender.rtt.rto() + 2 * MS);
        assertEquals(iss + 1, peer.next().seq(), "the timeout resends from the left edge");
        peer.send(data(0, 100)); // the peer has all three segments and sends data of its own, acking none yet
        peer.advance(500 * MS); // past any delayed ACK
        RawPeer.Sent ack = peer.next();
        assertNotNull(ack);
        assertEquals(0, ack.payload().length, "a pure ACK: the window after the timeout has no room for data");
        assertEquals(iss + 1 + 3 * mss, ack.seq());
        assertEquals(peerIsn + 1 + 100, ack.ack());
        peer.stackPool.free(conn.read(peer.now()));
    }

    @Test
    void anAckNumberedAtTheRightEdgeOfTheWindowIsTaken() {
        // a peer that filled our window up to its right edge numbers its ACKs with that edge; Linux takes them,
        // RFC 9293's strict test would not, and we would stop hearing the peer's ACKs while our reader is slow
        handshake();
        write(500);
        assertNotNull(peer.next());
        int edge = conn.receiver.rcvAdvertisedEdge;
        int offset = edge - (peerIsn + 1) - 100;
        peer.send(data(offset, 100)); // out of order, ending exactly at the edge
        peer.drain();
        RawPeer.Segment ack = segment(TcpFlags.ACK, edge, iss + 1 + 500);
        long outOfWindowBefore = peer.tcp().counters().outOfWindow;
        peer.send(ack);
        assertEquals(iss + 1 + 500, conn.sender.sndUna, "the ACK was taken");
        assertEquals(outOfWindowBefore, peer.tcp().counters().outOfWindow);
    }

    @Test
    void aZeroWindowIsProbed() {
        handshake();
        write(1000);
        RawPeer.Sent sent = peer.next();
        RawPeer.Segment closeWindow = segment(TcpFlags.ACK, peerIsn + 1, iss + 1 + 1000);
        closeWindow.window = 0;
        peer.send(closeWindow);
        write(1000);
        assertNull(peer.next(), "nothing is sent into a zero window");
        peer.advance(2_000 * MS);
        // the persist timer backs off from the RTO: 200 ms after the data's RTT sample, so several probes in 2 s
        int probes = 0;
        for (RawPeer.Sent probe; (probe = peer.next()) != null; probes++) {
            assertEquals(iss + 1 + 1000 - 1, probe.seq(), "probe: SND.UNA - 1, as Linux sends it");
            assertEquals(0, probe.payload().length);
        }
        assertTrue(probes >= 1, "zero-window probe");
        assertEquals(probes, peer.tcp().counters().windowProbes);
        RawPeer.Segment open = segment(TcpFlags.ACK, peerIsn + 1, iss + 1 + 1000);
        peer.send(open);
        RawPeer.Sent rest = peer.next();
        assertNotNull(rest, "window open: the data flows");
        assertEquals(iss + 1 + 1000, rest.seq());
        assertEquals(sent.payload().length, rest.payload().length);
    }

    @Test
    void keepAliveProbesThenTimesOut() {
        handshake();
        conn.settings(conn.settings().toBuilder().keepAlive(true).keepAliveIdleNanos(10_000 * MS)
                .keepAliveIntervalNanos(1_000 * MS).keepAliveProbes(3).build());
        conn.keepAliveChanged(peer.now());
        peer.advance(10_010 * MS);
        RawPeer.Sent probe = peer.next();
        assertNotNull(probe, "keepalive after 10 s idle");
        assertEquals(iss, probe.seq(), "probe carries SND.UNA - 1");
        assertEquals(0, probe.payload().length);
        peer.advance(3_100 * MS);
        assertEquals(TcpState.CLOSED, conn.state());
        assertEquals(TcpError.TIMED_OUT, conn.error());
    }

    @Test
    void activeCloseWaitsTwoMslInTimeWait() {
        handshake();
        List<String> events = new ArrayList<>();
        conn.handler(new TcpConnection.Handler() {
            @Override
            public void onReadable(TcpConnection c) {
                events.add("readable");
            }

            @Override
            public void onClosed(TcpConnection c, TcpError error) {
                events.add("closed " + error);
            }
        });
        closeIntoTimeWait();
        assertEquals(List.of("closed null", "readable"), events, "the close and the EOF reach the application");
        assertTrue(!conn.hasHandler(), "2MSL in the table keeps no channel reachable");
        peer.advance(2 * conn.settings().mslNanos() - 100 * MS);
        assertEquals(1, peer.tcp().connectionCount(), "still in TIME_WAIT");
        assertEquals("1 in TIME_WAIT\n", peer.tcp().describeConnections(peer.now()), "counted, not listed");
        assertEquals(1, peer.tcp().timeWaitCount);
        peer.advance(200 * MS);
        assertEquals(0, peer.tcp().connectionCount());
        assertEquals(0, peer.tcp().timeWaitCount);
    }

    /**
     * The peer's FIN again (our last ACK was lost) is acknowledged again from TIME_WAIT, with our FIN's successor,
     * the window and timestamps a connection's ACK has (echoing the retransmission), and restarts the 2 MSL.
     */
    @Test
    void aRetransmittedFinInTimeWaitIsAcknowledgedAgainAndRestartsTwoMsl() {
        handshake();
        conn.close(peer.now());
        peer.poll();
        RawPeer.Sent fin = peer.next();
        peer.send(segment(TcpFlags.ACK | TcpFlags.FIN, peerIsn + 1, fin.seq() + 1));
        RawPeer.Sent lastAck = peer.next();
        assertTrue(peer.tcp().inTimeWait(conn));
        long msl = conn.settings().mslNanos();
        peer.advance(msl);
        peerTs += 1000;
        peer.send(segment(TcpFlags.ACK | TcpFlags.FIN, peerIsn + 1, fin.seq() + 1));
        RawPeer.Sent again = peer.next();
        assertNotNull(again, "the FIN is acknowledged again");
        assertEquals(TcpFlags.ACK, again.flags());
        assertEquals(fin.seq() + 1, again.seq());
        assertEquals(peerIsn + 2, again.ack());
        assertEquals(lastAck.window(), again.window(), "the window the last ACK advertised");
        assertTrue(again.options().timestamp());
        assertEquals(peerTs, again.options().tsEcr(), "the retransmission's timestamp echoed");
        assertTrue(again.options().tsVal() - lastAck.options().tsVal() >= msl / 1_000_000,
                "our timestamp clock went on: " + lastAck.options().tsVal() + " then " + again.options().tsVal());
        assertNull(peer.next());
        peer.advance(2 * msl - 100 * MS);
        assertTrue(peer.tcp().inTimeWait(conn), "2 MSL from the retransmitted FIN, not from the first");
        peer.advance(200 * MS);
        assertTimeWaitOver();
    }

    /** A RST at RCV.NXT ends TIME_WAIT; one anywhere else is ignored (a blind reset, RFC 5961) and not answered. */
    @Test
    void onlyAResetAtTheNextSequenceNumberEndsTimeWait() {
        handshake();
        closeIntoTimeWait();
        peer.send(segment(TcpFlags.RST, peerIsn + 1000, 0));
        assertNull(peer.next(), "not answered");
        assertTrue(peer.tcp().inTimeWait(conn));
        assertEquals(1, peer.tcp().counters().resetsIgnored);
        peer.send(segment(TcpFlags.RST, peerIsn + 2, 0));
        assertNull(peer.next());
        assertTimeWaitOver();
    }

    /**
     * Bare segments TIME_WAIT cannot take (an old duplicate ACK, a SYN that is not a new incarnation) are answered
     * with an ACK at most once per 500 ms, as a connection answers them: two TIME_WAITs answering each other's ACKs
     * would loop.
     */
    @Test
    void timeWaitAnswersBareSegmentsAtMostTwiceASecond() {
        handshake();
        closeIntoTimeWait();
        for (int i = 0; i < 3; i++) {
            peer.send(segment(TcpFlags.ACK, peerIsn + 5000, iss)); // out of the window
        }
        RawPeer.Sent answer = peer.next();
        assertNotNull(answer, "the first is answered");
        assertEquals(peerIsn + 2, answer.ack());
        assertNull(peer.next(), "the next two are not");
        assertEquals(2, peer.tcp().counters().invalidAcksSuppressed);
        peer.advance(600 * MS);
        peer.send(segment(TcpFlags.ACK, peerIsn + 5000, iss));
        assertNotNull(peer.next(), "answered again after 500 ms");
    }

    private void assertTimeWaitOver() {
        assertFalse(peer.tcp().inTimeWait(conn));
        assertEquals(0, peer.tcp().connectionCount());
        assertEquals(0, peer.tcp().timeWaitCount);
    }

    /** With maxTimeWaits held, a closing connection still acknowledges the peer's FIN, then keeps no TIME_WAIT. */
    @Test
    void beyondMaxTimeWaitsAClosingConnectionAcknowledgesAndGoes() {
        handshake();
        conn.settings(conn.settings().toBuilder().maxTimeWaits(0).build());
        closeFirst();
        assertEquals(TcpState.CLOSED, conn.state());
        assertEquals(0, peer.tcp().connectionCount());
        assertEquals(0, peer.tcp().timeWaitCount);
        assertEquals(1, peer.tcp().counters().timeWaitOverflows);
    }

    /**
     * Closes the accepted connection first and completes the close (the peer's FIN acknowledged), leaving this stack
     * in TIME_WAIT.
     */
    private void closeIntoTimeWait() {
        closeFirst();
        peer.drain();
        assertTrue(peer.tcp().inTimeWait(conn), "the tuple is in TIME_WAIT");
        assertEquals(TcpState.CLOSED, conn.state(), "the connection itself is done: a TimeWait holds the tuple");
    }

    /** The accepted connection closes first; the peer acknowledges its FIN with its own, which gets acknowledged. */
    private void closeFirst() {
        conn.close(peer.now());
        peer.poll();
        RawPeer.Sent fin = peer.next();
        assertTrue(fin.has(TcpFlags.FIN));
        peer.send(segment(TcpFlags.ACK | TcpFlags.FIN, peerIsn + 1, fin.seq() + 1));
        RawPeer.Sent lastAck = peer.next();
        assertNotNull(lastAck, "the peer's FIN is acknowledged");
        assertEquals(peerIsn + 2, lastAck.ack());
    }

    /**
     * A client opening connections faster than its 1 ms timestamp clock ticks sends a SYN for a tuple in TIME_WAIT
     * with the timestamp it last sent: it passes PAWS, and starting past the old stream, it takes the tuple (as on
     * Linux). It was refused for not having a newer timestamp: the client waited a second and sent it again.
     */
    @Test
    void aSynStartingPastTheOldStreamReusesTimeWaitWithAnEqualTimestamp() {
        handshake();
        closeIntoTimeWait();
        peerIsn += 100_000;
        RawPeer.Segment syn = segment(TcpFlags.SYN, peerIsn, 0); // same peerTs as the old connection's last
        syn.mss = 1460;
        peer.send(syn);
        RawPeer.Sent synAck = peer.next();
        assertNotNull(synAck, "the SYN is answered");
        assertTrue(synAck.has(TcpFlags.SYN) && synAck.has(TcpFlags.ACK), "a SYN-ACK, a new connection");
        assertEquals(peerIsn + 1, synAck.ack());
        assertEquals(1, peer.tcp().counters().timeWaitReused);
        assertFalse(peer.tcp().inTimeWait(conn), "the old incarnation is gone");
        peer.send(segment(TcpFlags.ACK, peerIsn + 1, synAck.seq() + 1));
        TcpConnection again = listener.accept();
        assertNotNull(again, "accepted");
        again.abort(peer.now());
        peer.drain();
    }

    /** A SYN whose timestamp is older than the TIME_WAIT's last one is an old duplicate (PAWS): the tuple stays. */
    @Test
    void aSynWithAnOlderTimestampLeavesTimeWaitAlone() {
        handshake();
        closeIntoTimeWait();
        peerTs -= 10;
        peer.send(segment(TcpFlags.SYN, peerIsn + 100_000, 0));
        RawPeer.Sent reply = peer.next();
        assertTrue(reply == null || !reply.has(TcpFlags.SYN), "no SYN-ACK: " + reply);
        assertEquals(0, peer.tcp().counters().timeWaitReused);
        assertTrue(peer.tcp().inTimeWait(conn));
    }

    /**
     * Data that arrives after the application closed the connection resets it: nobody will read it, so it must
     * neither be acknowledged as delivered nor hold its mbufs through TIME_WAIT (found by ZStackChannelStressTest:
     * a closed channel's connection kept 32 mbufs of its peer's pool for 60 s).
     */
    @Test
    void dataAfterCloseResetsTheConnection() {
        handshake();
        conn.close(peer.now());
        peer.poll();
        RawPeer.Sent fin = peer.next();
        assertTrue(fin.has(TcpFlags.FIN));
        RawPeer.Segment late = data(0, 100);
        late.ack = fin.seq() + 1;
        peer.send(late);
        RawPeer.Sent reset = peer.next();
        assertNotNull(reset, "an answer to the late data");
        assertTrue(reset.has(TcpFlags.RST), "the late data is answered with RST");
        assertEquals(fin.seq() + 1, reset.seq());
        assertEquals(TcpState.CLOSED, conn.state());
        assertEquals(0, peer.tcp().connectionCount(), "nothing lingers in TIME_WAIT holding the data");
        assertEquals(1, peer.tcp().counters().abortOnData);
    }

    @Test
    void icmpPortUnreachableRefusesAConnectAndStaleIcmpIsIgnored() {
        TcpConnection c = peer.tcp().connect(0, 0, RawPeer.PEER, 9000, peer.tcp().defaults(), null, peer.now());
        peer.poll();
        RawPeer.Sent syn = peer.next();
        assertTrue(syn.has(TcpFlags.SYN));
        peer.sendIcmpUnreachable(3, 0, syn.sourcePort(), 9000, syn.seq() + 12345); // not a sequence we sent
        assertEquals(TcpState.SYN_SENT, c.state(), "forged or stale ICMP is ignored (RFC 5927)");
        assertEquals(1, peer.tcp().counters().icmpIgnored);
        peer.sendIcmpUnreachable(3, 0, syn.sourcePort(), 9000, syn.seq());
        assertEquals(TcpState.CLOSED, c.state());
        assertEquals(TcpError.REFUSED, c.error());
    }

    @Test
    void fragmentationNeededLowersTheMss() {
        handshake();
        int before = conn.sender.sendMss;
        write(1400);
        RawPeer.Sent big = peer.next();
        peer.sendIcmpUnreachable(4, 1000, 80, 40000, big.seq());
        assertTrue(conn.sender.sendMss < before && conn.sender.sendMss <= 1000 - 40, "MSS now " + conn.sender.sendMss);
        peer.advance(conn.sender.rtt.rto() + 5 * MS);
        RawPeer.Sent resent = peer.next();
        assertNotNull(resent, "resent at the new size");
        assertTrue(resent.payload().length <= conn.sender.sendMss, "segment of " + resent.payload().length);
    }

    @Test
    void synCookiesServeClientsWhenTheSynBacklogIsFull() {
        listener.close(peer.now());
        TcpSettings settings = peer.tcp().defaults().toBuilder().synBacklog(1).build();
        listener = peer.tcp().listen(0, 80, settings);
        RawPeer.Segment first = segment(TcpFlags.SYN, 7000, 0);
        first.sourcePort = 41000;
        peer.send(first);
        assertNotNull(peer.next(), "a normal SYN-ACK for the first");
        RawPeer.Segment second = segment(TcpFlags.SYN, 9000, 0);
        second.sourcePort = 41001;
        second.mss = 1460;
        peer.send(second);
        RawPeer.Sent cookie = peer.next();
        assertNotNull(cookie, "backlog full: a SYN-ACK carrying a cookie");
        assertEquals(1, peer.tcp().counters().synCookiesSent);
        assertEquals(1460, cookie.options().mss());
        RawPeer.Segment ack = segment(TcpFlags.ACK, 9001, cookie.seq() + 1);
        ack.sourcePort = 41001;
        ack.timestamp = false;
        peer.send(ack);
        assertEquals(1, peer.tcp().counters().synCookiesAccepted);
        TcpConnection c = listener.accept();
        assertNotNull(c, "the cookie connection is accepted");
        assertEquals(TcpState.ESTABLISHED, c.state());
        assertEquals(41001, c.remotePort());
        RawPeer.Segment forged = segment(TcpFlags.ACK, 5001, 12345);
        forged.sourcePort = 41002;
        peer.send(forged);
        assertEquals(1, peer.tcp().counters().synCookiesRejected);
        RawPeer.Sent rst = peer.next();
        assertTrue(rst != null && rst.has(TcpFlags.RST), "a bad cookie is answered with RST");
    }

    @Test
    void aCorruptedSegmentIsCountedAndDropped() {
        handshake();
        RawPeer.Segment bad = data(0, 100);
        bad.corruptChecksum = true;
        peer.send(bad);
        assertEquals(0, conn.readable());
        assertEquals(1, peer.tcp().counters().checksumErrors);
    }
}
