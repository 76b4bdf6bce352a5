package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.ip.Ipv4Config;
import io.zstack.wire.MacAddress;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Headers in the reserved headroom (SendQueue.inPlace's rule): a first transmission of an allocated or echoed buffer
 * is its own mbuf, every header written in front of the payload; a retransmission while the first copy is still held
 * (a transmit ring), a segment cut from the middle of a buffer, or a view of someone else's buffer gets a header mbuf,
 * and nothing a held frame or a peer reads is ever overwritten.
 */
class InPlaceHeadersTest {
    private static final int HEADER_ROOM = TcpLayer.HEADER_ROOM;

    /** Records the frames a stack hands to its device (as tx_burst would get them) and can hold them like a ring. */
    static final class TxRecorder extends ForwardingNetDevice {
        record Frame(long head, int segments, int payload, byte[] bytes) {
        }

        final List<Frame> frames = new ArrayList<>();
        final List<Long> held = new ArrayList<>();
        boolean hold;

        TxRecorder(NetDevice inner) {
            super(inner);
        }

        @Override
        public int transmit(MbufBurst burst) {
            for (int i = 0; i < burst.size(); i++) {
                long m = burst.get(i);
                byte[] bytes = Mbuf.toByteArray(m);
                frames.add(new Frame(m, Mbuf.nbSegs(m), tcpPayload(bytes), bytes));
            }
            if (!hold) {
                return inner.transmit(burst);
            }
            int n = burst.size();
            for (int i = 0; i < n; i++) {
                held.add(burst.get(i));
            }
            burst.removeFirst(n);
            return n;
        }

        /** The ring sends what it held. */
        void release() {
            MbufBurst b = new MbufBurst(Math.max(1, held.size()));
            for (long m : held) {
                b.add(m);
            }
            held.clear();
            inner.transmit(b);
        }

        /** TCP payload bytes of an Ethernet + IPv4 + TCP frame, -1 for anything else. */
        static int tcpPayload(byte[] f) {
            if (f.length < 54 || f[12] != 8 || f[13] != 0 || f[23] != 6) {
                return -1;
            }
            int ipHeader = (f[14] & 0x0f) * 4;
            int total = ((f[16] & 0xff) << 8) | (f[17] & 0xff);
            int tcpHeader = ((f[14 + ipHeader + 12] & 0xff) >>> 4) * 4;
            return total - ipHeader - tcpHeader;
        }

        List<Frame> dataFrames() {
            return frames.stream().filter(f -> f.payload > 0).toList();
        }

    }

    private final VirtualClock clock = new VirtualClock();
    private final JavaMbufPool poolA = new JavaMbufPool("inplace-a", 2048);
    private final JavaMbufPool poolB = new JavaMbufPool("inplace-b", 2048);
    /** Buffers bigger than one segment, as the loop's large pool serves them. */
    private final JavaMbufPool large = new JavaMbufPool("inplace-large", 16, 8192 + 128);
    private final SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(10_000).bitsPerSecond(0)
            .queueCapacity(1024).pools(poolA, poolB).endA("a", MacAddress.of(0x020000000001L), 1500)
            .endB("b", MacAddress.of(0x020000000002L), 1500).build();
    private final TxRecorder txA = new TxRecorder(link.a());
    private final TxRecorder txB = new TxRecorder(link.b());
    private TcpHost a;
    private TcpHost b;
    private TcpConnection client;
    private TcpConnection server;

    @AfterEach
    void poolsComplete() {
        if (a != null) {
            txA.release();
            a.close();
            b.close();
        }
        link.close();
        assertEquals(poolA.capacity(), poolA.available(), "stack A's mbufs all home");
        assertEquals(poolB.capacity(), poolB.available(), "stack B's mbufs all home");
        assertEquals(large.capacity(), large.available(), "large mbufs all home");
        poolA.close();
        poolB.close();
        large.close();
    }

    private void connect() {
        TcpSettings settings = TcpSettings.builder().nagle(false).build();
        a = new TcpHost(txA, new Ipv4Config(0x0a000001, 24, 0), settings, new IsnGenerator(1, 2), 1, 0);
        b = new TcpHost(txB, new Ipv4Config(0x0a000002, 24, 0), settings, new IsnGenerator(3, 4), 2, 0);
        TcpListener listener = b.tcp().listen(0, 80, settings);
        client = a.tcp().connect(0, 0, 0x0a000002, 80, settings, null, 0);
        for (int i = 0; i < 1000 && (server == null || client.state() != TcpState.ESTABLISHED); i++) {
            step();
            if (server == null) {
                server = listener.accept();
            }
        }
        assertEquals(TcpState.ESTABLISHED, client.state());
        assertEquals(1448, client.sender.sendMss, "MTU 1500 with timestamps");
    }

    private void step() {
        clock.advance(20_000);
        a.poll(clock.now());
        b.poll(clock.now());
    }

    /** A buffer as the channel's allocator hands it out: payload right after the pool's headroom. */
    private static long allocated(MbufPool pool, byte[] content) {
        long m = pool.alloc();
        long at = Mbuf.append(m, content.length);
        MemorySegment.copy(content, 0, Mbuf.MEMORY, java.lang.foreign.ValueLayout.JAVA_BYTE, at, content.length);
        return m;
    }

    private static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    private static byte[] readAll(TcpConnection c, MbufPool pool, long now) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long chain;
        while ((chain = c.read(now)) != 0) {
            out.writeBytes(Mbuf.toByteArray(chain));
            pool.free(chain);
        }
        return out.toByteArray();
    }

    @Test
    void firstTransmissionsOfAllocatedAndEchoedBuffersAreOneMbufPerSegment() {
        connect();
        // a full segment, a short one, and one more full: as an application writes them
        byte[][] writes = {pattern(1448, 1), pattern(600, 2), pattern(1448, 3), pattern(100, 4)};
        ByteArrayOutputStream sent = new ByteArrayOutputStream();
        for (byte[] w : writes) {
            assertTrue(client.write(allocated(poolA, w), clock.now()));
            sent.writeBytes(w);
        }
        // the server echoes what it reads, all of it at once: its received mbufs, old headers in front
        ByteArrayOutputStream echoed = new ByteArrayOutputStream();
        for (int i = 0; i < 200 && echoed.size() < sent.size(); i++) {
            step();
            long chain = server.read(clock.now());
            if (chain != 0) {
                long more;
                while ((more = server.read(clock.now())) != 0) {
                    Mbuf.chain(chain, more);
                }
                assertTrue(server.write(chain, clock.now()));
            }
            echoed.writeBytes(readAll(client, poolA, clock.now()));
        }
        assertArrayEquals(sent.toByteArray(), echoed.toByteArray(), "echo came back intact");
        assertEquals(0, a.tcp().counters().retransmittedSegments + b.tcp().counters().retransmittedSegments,
                "first transmissions only");
        List<TxRecorder.Frame> fromA = txA.dataFrames();
        List<TxRecorder.Frame> fromB = txB.dataFrames();
        assertEquals(writes.length, fromA.size(), "one segment per write");
        for (TxRecorder.Frame f : fromA) {
            assertEquals(1, f.segments(), "an allocated buffer's segment is one mbuf (" + f.payload() + " bytes)");
        }
        assertTrue(fromB.size() >= writes.length, "echo segments: " + fromB.size());
        for (TxRecorder.Frame f : fromB) {
            assertEquals(1, f.segments(), "an echoed buffer's segment is one mbuf (" + f.payload() + " bytes)");
        }
        assertEquals(fromA.size(), a.tcp().counters().segmentsInPlace);
        assertEquals(0, a.tcp().counters().segmentsWithHeaderMbuf + b.tcp().counters().segmentsWithHeaderMbuf);
    }

    @Test
    void retransmissionWhileTheRingHoldsTheFirstCopyGetsAHeaderMbufAndLeavesTheFirstIntact() {
        connect();
        byte[] data = pattern(1000, 7);
        txA.hold = true; // the NIC has not sent it yet: its ring holds the mbuf
        assertTrue(client.write(allocated(poolA, data), clock.now()));
        step();
        List<TxRecorder.Frame> first = txA.dataFrames();
        assertEquals(1, first.size());
        assertEquals(1, first.get(0).segments(), "first transmission: the buffer's own mbuf");
        long held = first.get(0).head();
        byte[] asQueued = Mbuf.toByteArray(held);
        // no ACK comes (the frame never left): the retransmission timer fires while the ring still holds it
        for (int i = 0; i < 200 && a.tcp().counters().retransmittedSegments == 0; i++) {
            clock.advance(10_000_000);
            a.poll(clock.now());
        }
        assertTrue(a.tcp().counters().retransmittedSegments > 0, "retransmitted");
        TxRecorder.Frame again = txA.dataFrames().get(1);
        assertEquals(2, again.segments(), "retransmission while the ring holds the first copy: header mbuf + view");
        assertNotEquals(held, again.head());
        assertArrayEquals(asQueued, Mbuf.toByteArray(held), "the held frame's bytes did not change");
        assertArrayEquals(data, java.util.Arrays.copyOfRange(again.bytes(), again.bytes().length - 1000,
                again.bytes().length), "the retransmission carries the data");
        txA.hold = false;
        txA.release();
        for (int i = 0; i < 100 && client.sender.sendQueue.size() > 0; i++) {
            step();
        }
        assertArrayEquals(data, readAll(server, poolB, clock.now()));
    }

    @Test
    void aSegmentCutFromTheMiddleOfABufferNeverWritesOverThePreviousOne() {
        connect();
        byte[] data = pattern(4000, 9);
        txA.hold = true;
        assertTrue(client.write(allocated(large, data), clock.now()));
        step();
        List<TxRecorder.Frame> frames = txA.dataFrames();
        assertEquals(3, frames.size(), "1448 + 1448 + 1104");
        assertEquals(1, frames.get(0).segments(), "the first segment starts at the buffer's start: in place");
        assertEquals(2, frames.get(1).segments(), "the second starts mid-buffer: header mbuf");
        assertEquals(2, frames.get(2).segments());
        for (TxRecorder.Frame f : frames) {
            assertArrayEquals(f.bytes(), Mbuf.toByteArray(f.head()), "a held frame's bytes stayed as handed over");
        }
        txA.hold = false;
        txA.release();
        for (int i = 0; i < 100 && client.sender.sendQueue.size() > 0; i++) {
            step();
        }
        assertArrayEquals(data, readAll(server, poolB, clock.now()));
    }

    // ------------------------------------------------------------------ the rule, one clause at a time, on the queue

    @Test
    void queueRuleDirectExclusiveAtThePieceStartWithRoom() {
        SendQueue q = new SendQueue(poolA);
        long m = allocated(poolA, pattern(1000, 1));
        q.append(m);
        long frame = q.inPlace(0, 1000, HEADER_ROOM, true);
        assertEquals(m, frame, "the queued mbuf itself");
        assertEquals(2, poolA.refcnt(m), "the queue's reference and the frame's");
        // rule 2: while the frame is out (a ring, a loopback peer), no second in-place use
        assertEquals(0, q.inPlace(0, 1000, HEADER_ROOM, true));
        long view = q.slice(0, 1000);
        assertTrue(Mbuf.isIndirect(view), "a view while the frame is out");
        poolA.free(view);
        poolA.free(frame); // the ring sent it
        // back with the queue alone: a later retransmission may go in place again
        long again = q.inPlace(0, 1000, HEADER_ROOM, true);
        assertEquals(m, again);
        poolA.free(again);
        // rule 3: not from the middle (bytes in front are the previous segment's), but yes once they are acknowledged
        assertEquals(0, q.inPlace(500, 500, HEADER_ROOM, true));
        q.acknowledge(500);
        long rest = q.inPlace(500, 500, HEADER_ROOM, true);
        assertEquals(m, rest);
        assertEquals(Mbuf.bufAddr(m) + poolA.headroom() + 500, Mbuf.dataAddress(rest));
        poolA.free(rest);
        q.clear();
    }

    @Test
    void queueRuleRefusesViewsAndShortHeadroom() {
        SendQueue q = new SendQueue(poolA);
        long direct = allocated(poolA, pattern(300, 2));
        long view = poolA.attachIndirect(direct); // rule 1: an indirect mbuf's headroom is the direct one's buffer
        poolA.free(direct);
        q.append(view);
        assertEquals(0, q.inPlace(0, 300, HEADER_ROOM, true));
        q.clear();
        long tight = poolA.alloc(); // rule 4: the payload starts too close to the buffer's start
        Mbuf.setDataOff(tight, HEADER_ROOM - 1);
        Mbuf.append(tight, 100);
        q.append(tight);
        assertEquals(0, q.inPlace(300, 100, HEADER_ROOM, true));
        q.clear();
    }

    /** Copies appended to the last piece stop at one segment's payload, so the next segment starts at a piece. */
    @Test
    void copiesAppendedToTheLastPieceNeverGrowItPastASegment() {
        SendQueue q = new SendQueue(poolA);
        q.append(allocated(poolA, pattern(1000, 5)));
        assertEquals(448, q.tailRoom(1448));
        q.extendTail(448);
        assertEquals(0, q.tailRoom(1448));
        assertTrue(q.tailRoom() > 0, "the mbuf itself has room left, a segment does not");
        q.clear();
    }

    @Test
    void aSegmentOverSeveralPiecesTakesThemAllByReference() {
        SendQueue q = new SendQueue(poolA);
        long p1 = allocated(poolA, pattern(100, 1));
        long p2 = allocated(poolA, pattern(200, 2));
        long p3 = allocated(poolA, pattern(300, 3));
        q.append(p1);
        q.append(p2);
        q.append(p3);
        assertEquals(0, q.inPlace(0, 600, HEADER_ROOM, false), "a device without chains copies instead");
        assertEquals(1, poolA.refcnt(p1), "nothing held after a refusal");
        long frame = q.inPlace(0, 600, HEADER_ROOM, true);
        assertEquals(p1, frame);
        assertEquals(p2, Mbuf.next(p1));
        assertEquals(p3, Mbuf.next(p2));
        assertEquals(3, Mbuf.nbSegs(frame));
        assertEquals(600, Mbuf.pktLen(frame));
        poolA.free(frame);
        // segments end at piece boundaries when one lies inside
        assertEquals(300, q.endAtPiece(0, 400), "100 + 200, not into the third piece");
        assertEquals(100, q.endAtPiece(0, 150));
        assertEquals(250, q.endAtPiece(50, 250), "already ends at a boundary");
        assertEquals(200, q.endAtPiece(350, 200), "no boundary inside: kept");
        q.clear();
    }
}
