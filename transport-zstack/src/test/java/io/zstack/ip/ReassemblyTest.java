package io.zstack.ip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Icmpv4Packet;
import io.zstack.wire.Ipv4Packet;
import io.zstack.wire.MacAddress;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * IPv4 reassembly (RFC 1122 §3.3.2) through the stack's input: fragments of an echo request, in any order, make the
 * datagram the stack answers; duplicates, overlaps, malformed fragments, timeouts and the limits on what may be held
 * are dropped and counted, and every mbuf comes back to the pool (it refuses to close otherwise).
 */
class ReassemblyTest {
    private static final int OURS = 0x0a000001;
    private static final int PEER = 0x0a000002;
    private static final long OUR_MAC = 0x020000000001L;
    private static final long PEER_MAC = 0x020000000002L;

    private final VirtualClock clock = new VirtualClock();
    private final JavaMbufPool pool = new JavaMbufPool("reassembly", 1024, 10240);
    private final SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0).queueCapacity(128)
            .pool(pool).endA("stack", MacAddress.of(OUR_MAC), 9000)
            .endB("peer", MacAddress.of(PEER_MAC), 9000).build();
    private final IpHost stack = new IpHost(link.a(), new Ipv4Config(OURS, 24, 0));

    @AfterEach
    void tearDown() {
        stack.close();
        link.close();
        pool.close(); // refuses if a fragment was not freed
    }

    private IpCounters counters() {
        return stack.ip().counters();
    }

    @Test
    void fragmentsInOrderMakeTheRequestThatIsAnswered() {
        byte[] icmp = echoMessage(3000, 1);
        List<byte[]> fragments = fragments(icmp, 7, 1480);
        assertEquals(3, fragments.size());
        fragments.forEach(this::receive);
        assertEquals(3, counters().ipFragmentsReceived, counters().toString());
        assertEquals(1, counters().ipReassembled, counters().toString());
        assertReplyTo(icmp);
        assertEquals(0, stack.ip().fragmentsHeld());
    }

    @Test
    void fragmentsInAnyOrderMakeTheSameRequest() {
        byte[] icmp = echoMessage(5000, 2);
        List<byte[]> fragments = fragments(icmp, 8, 1000);
        int[] order = {5, 2, 0, 4, 1, 3};
        assertEquals(order.length, fragments.size());
        for (int i : order) {
            receive(fragments.get(i));
        }
        assertEquals(1, counters().ipReassembled, counters().toString());
        assertReplyTo(icmp);
    }

    @Test
    void aDuplicateFragmentIsDroppedAndTheDatagramStillCompletes() {
        byte[] icmp = echoMessage(3000, 3);
        List<byte[]> fragments = fragments(icmp, 9, 1480);
        receive(fragments.get(0));
        receive(fragments.get(0));
        receive(fragments.get(1));
        receive(fragments.get(2));
        assertEquals(1, counters().ipFragmentDuplicates, counters().toString());
        assertEquals(1, counters().ipReassembled, counters().toString());
        assertReplyTo(icmp);
    }

    /** Overlapping fragments (not exact copies) drop their whole datagram, as Linux does: no reply. */
    @Test
    void overlappingFragmentsDropTheirDatagram() {
        byte[] icmp = echoMessage(3000, 4);
        List<byte[]> fragments = fragments(icmp, 10, 1480);
        receive(fragments.get(0));
        receive(fragment(icmp, 10, 1472, 1000, true)); // bytes 1472-2471: 8 of them are the first fragment's
        assertEquals(1, counters().ipFragmentOverlaps, counters().toString());
        assertEquals(1, counters().ipReassemblyFailed, counters().toString());
        assertEquals(0, stack.ip().fragmentsHeld());
        receive(fragments.get(2)); // starts a new datagram that never completes: freed when the stack closes
        assertEquals(0, counters().ipReassembled);
        assertNoReply();
    }

    /**
     * A datagram not whole 30 s after its first fragment came is dropped; with its first fragment here, the sender is
     * told with ICMP time exceeded (code 1, reassembly), quoting that fragment's header and first 8 bytes (RFC 1122
     * §3.3.2). Without its first fragment it goes silently.
     */
    @Test
    void anIncompleteDatagramIsDroppedAfterThirtySecondsAndItsSenderTold() {
        MbufBurst arp = new MbufBurst(1);
        arp.add(io.zstack.testing.ArpFrames.frame(pool, io.zstack.wire.ArpPacket.REPLY, PEER_MAC, PEER, OUR_MAC,
                OURS)); // the stack knows the peer's MAC: its ICMP needs no ARP round
        link.b().transmit(arp);
        byte[] icmp = echoMessage(3000, 5);
        List<byte[]> fragments = fragments(icmp, 11, 1480);
        receive(fragments.get(0));
        receive(fragments.get(2));
        receive(fragments(echoMessage(3000, 6), 12, 1480).get(1)); // another datagram, without its first fragment
        assertEquals(3, stack.ip().fragmentsHeld());
        clock.advance(Reassembly.TIMEOUT_NANOS - 2_000_000);
        stack.poll(clock.now());
        assertEquals(3, stack.ip().fragmentsHeld(), "not yet");
        clock.advance(2_000_000);
        stack.poll(clock.now());
        stack.poll(clock.now()); // the upkeep queued the ICMP; this poll sends it
        assertEquals(0, stack.ip().fragmentsHeld());
        assertEquals(2, counters().ipReassemblyTimeouts, counters().toString());
        assertEquals(1, counters().icmpTimeExceededSent, counters().toString());
        // 30 s on, the peer's ARP entry is stale: the stack asks again (an ARP request) and sends meanwhile
        MbufBurst burst = new MbufBurst(4);
        byte[] sent = null;
        int n = link.b().receive(burst);
        for (int i = 0; i < n; i++) {
            byte[] frame = Mbuf.toByteArray(burst.get(i));
            pool.free(burst.get(i));
            if (((frame[12] & 0xff) << 8 | (frame[13] & 0xff)) == Ethernet.TYPE_IPV4) {
                assertEquals(null, sent, "one IPv4 packet");
                sent = frame;
            }
        }
        assertTrue(sent != null, counters().toString());
        int at = Ethernet.HEADER_LENGTH + 20;
        assertEquals(at + 8 + 20 + 8, sent.length);
        MemorySegment r = MemorySegment.ofArray(sent);
        Ipv4Packet ip = new Ipv4Packet();
        ip.wrap(r, Ethernet.HEADER_LENGTH, sent.length - Ethernet.HEADER_LENGTH);
        assertEquals(Ipv4Packet.PROTOCOL_ICMP, ip.protocol());
        assertEquals(PEER, ip.destination());
        assertEquals(Icmpv4Packet.TIME_EXCEEDED, sent[at] & 0xff);
        assertEquals(1, sent[at + 1]);
        assertEquals(0xffff, Checksum.fold(Checksum.add(0, r, at, 8 + 20 + 8)), "ICMP checksum");
        byte[] first = fragments.get(0);
        assertArrayEquals(Arrays.copyOfRange(first, Ethernet.HEADER_LENGTH, Ethernet.HEADER_LENGTH + 28),
                Arrays.copyOfRange(sent, at + 8, sent.length), "the first fragment's header and 8 bytes, quoted");
        receive(fragments.get(1)); // too late: a datagram of its own now, which never completes
        assertNoReply();
    }

    /**
     * RFC 1122 §3.2.2: no ICMP error about a datagram sent to a broadcast address, nor about an ICMP error. Both time
     * out here with their first fragment, silently.
     */
    @Test
    void noTimeExceededAboutABroadcastDatagramOrAnIcmpError() {
        byte[] toBroadcast = echoMessage(3000, 16);
        receive(fragment(toBroadcast, 20, 0, 1480, true, 0x0a0000ff));
        byte[] error = echoMessage(3000, 17);
        error[0] = (byte) Icmpv4Packet.DESTINATION_UNREACHABLE;
        receive(fragment(error, 21, 0, 1480, true));
        assertEquals(2, stack.ip().fragmentsHeld());
        clock.advance(Reassembly.TIMEOUT_NANOS);
        stack.poll(clock.now());
        stack.poll(clock.now());
        assertEquals(2, counters().ipReassemblyTimeouts, counters().toString());
        assertEquals(0, counters().icmpTimeExceededSent, counters().toString());
        MbufBurst burst = new MbufBurst(4);
        assertEquals(0, link.b().receive(burst), counters().toString());
    }

    @Test
    void fragmentsThatCannotBePartOfADatagramAreDroppedAndCounted() {
        byte[] icmp = echoMessage(3000, 6);
        receive(fragment(icmp, 12, 0, 1001, true)); // a middle fragment whose length is not a multiple of 8
        receive(fragment(new byte[70_000], 13, 65_528, 16, false)); // past the largest datagram
        assertEquals(2, counters().ipFragmentsMalformed, counters().toString());
        assertEquals(0, stack.ip().fragmentsHeld());
        // a last fragment that says the datagram ends before data already held
        receive(fragment(icmp, 14, 1480, 1480, true));
        receive(fragment(icmp, 14, 1000, 8, false));
        assertEquals(1, counters().ipReassemblyFailed, counters().toString());
        assertEquals(0, stack.ip().fragmentsHeld());
    }

    /** What fragments may hold is bounded: datagrams in progress (the oldest goes) and fragments per datagram. */
    @Test
    void theLimitsOnHeldFragmentsHold() {
        byte[] icmp = echoMessage(3000, 7);
        for (int id = 100; id < 100 + Reassembly.MAX_DATAGRAMS + 1; id++) {
            receive(fragment(icmp, id, 0, 8, true));
        }
        assertEquals(1, counters().ipReassemblyEvictions, counters().toString());
        assertEquals(Reassembly.MAX_DATAGRAMS, stack.ip().fragmentsHeld());
        byte[] big = echoMessage(8000, 8);
        for (int i = 0; i <= Reassembly.MAX_FRAGMENTS; i++) {
            receive(fragment(big, 500, i * 8, 8, true));
        }
        assertEquals(1, counters().ipReassemblyFailed, counters().toString());
        assertEquals(Reassembly.MAX_DATAGRAMS - 1, stack.ip().fragmentsHeld(), "the 64 tiny ones went");
    }

    /**
     * A request larger than the device's MTU once whole is answered in fragments, as Linux answers it: each within the
     * MTU, one identification, MF on all but the last, and together the echo reply.
     */
    @Test
    void aReassembledRequestLargerThanTheMtuIsAnsweredInFragments() {
        byte[] icmp = echoMessage(9500, 9);
        fragments(icmp, 15, 4000).forEach(this::receive);
        assertEquals(1, counters().ipReassembled, counters().toString());
        MbufBurst burst = new MbufBurst(8);
        int n = link.b().receive(burst);
        assertEquals(2, n, counters().toString());
        byte[] message = new byte[icmp.length];
        int identification = -1;
        int covered = 0;
        for (int i = 0; i < n; i++) {
            byte[] frame = Mbuf.toByteArray(burst.get(i));
            pool.free(burst.get(i));
            assertTrue(frame.length - Ethernet.HEADER_LENGTH <= 9000, "within the MTU");
            MemorySegment f = MemorySegment.ofArray(frame);
            Ipv4Packet ip = new Ipv4Packet();
            ip.wrap(f, Ethernet.HEADER_LENGTH, frame.length - Ethernet.HEADER_LENGTH);
            assertEquals(true, ip.checksumValid());
            assertEquals(PEER, ip.destination());
            assertTrue(identification < 0 || identification == ip.identification(), "one identification");
            identification = ip.identification();
            int offset = (ip.flagsAndFragmentOffset() & 0x1fff) * 8;
            boolean more = (ip.flagsAndFragmentOffset() & Ipv4Packet.FLAG_MF) != 0;
            assertEquals(i < n - 1, more, "MF on all but the last");
            int length = ip.totalLength() - 20;
            System.arraycopy(frame, Ethernet.HEADER_LENGTH + 20, message, offset, length);
            covered += length;
        }
        assertEquals(icmp.length, covered);
        assertEquals(Icmpv4Packet.ECHO_REPLY, message[0] & 0xff);
        assertEquals(0xffff, Checksum.fold(Checksum.add(0, MemorySegment.ofArray(message), 0, message.length)));
        assertArrayEquals(Arrays.copyOfRange(icmp, 4, icmp.length), Arrays.copyOfRange(message, 4, message.length));
        assertEquals(2, counters().fragmentsSent, counters().toString());
        assertEquals(1, counters().icmpEchoRepliesSent, counters().toString());
    }

    // ---------------------------------------------------------------------------------------------- helpers

    /** An ICMP echo request of {@code dataBytes} random bytes, checksummed. */
    private static byte[] echoMessage(int dataBytes, long seed) {
        byte[] icmp = new byte[Icmpv4Packet.HEADER_LENGTH + dataBytes];
        new Random(seed).nextBytes(icmp);
        Icmpv4Packet.write(MemorySegment.ofArray(icmp), 0, icmp.length, Icmpv4Packet.ECHO_REQUEST, 0, 0x4321_0001);
        return icmp;
    }

    /** {@code message} cut into fragments of {@code size} bytes (the last shorter), IP identification {@code id}. */
    private static List<byte[]> fragments(byte[] message, int id, int size) {
        List<byte[]> out = new ArrayList<>();
        for (int offset = 0; offset < message.length; offset += size) {
            int length = Math.min(size, message.length - offset);
            out.add(fragment(message, id, offset, length, offset + length < message.length));
        }
        return out;
    }

    /** A frame holding bytes [offset, offset + length) of {@code message} as an IPv4 fragment from the peer. */
    private static byte[] fragment(byte[] message, int id, int offset, int length, boolean more) {
        return fragment(message, id, offset, length, more, OURS);
    }

    /** As above, to {@code destination}. */
    private static byte[] fragment(byte[] message, int id, int offset, int length, boolean more, int destination) {
        byte[] frame = new byte[Ethernet.HEADER_LENGTH + 20 + length];
        MemorySegment s = MemorySegment.ofArray(frame);
        Ethernet.write(s, 0, OUR_MAC, PEER_MAC, Ethernet.TYPE_IPV4);
        Ipv4Packet.write(s, Ethernet.HEADER_LENGTH, 20 + length, id, false, 64, Ipv4Packet.PROTOCOL_ICMP, PEER,
                destination, false);
        int field = (more ? Ipv4Packet.FLAG_MF : 0) | (offset / 8);
        frame[Ethernet.HEADER_LENGTH + 6] = (byte) (field >>> 8);
        frame[Ethernet.HEADER_LENGTH + 7] = (byte) field;
        Checksum.store(s, Ethernet.HEADER_LENGTH + 10, Checksum.finish(Checksum.add(0, s, Ethernet.HEADER_LENGTH, 20)));
        System.arraycopy(message, offset, frame, Ethernet.HEADER_LENGTH + 20, Math.min(length,
                Math.max(0, message.length - offset)));
        return frame;
    }

    private void receive(byte[] frame) {
        long m = pool.alloc();
        MemorySegment.copy(frame, 0, Mbuf.MEMORY, ValueLayout.JAVA_BYTE, Mbuf.append(m, frame.length), frame.length);
        MbufBurst burst = new MbufBurst(1);
        burst.add(m);
        link.b().transmit(burst);
        clock.advance(1_000);
        stack.poll(clock.now());
    }

    private void assertReplyTo(byte[] icmp) {
        MbufBurst burst = new MbufBurst(4);
        assertEquals(1, link.b().receive(burst), counters().toString());
        long reply = burst.get(0);
        byte[] bytes = Mbuf.toByteArray(reply);
        pool.free(reply);
        int at = Ethernet.HEADER_LENGTH + 20;
        assertEquals(at + icmp.length, bytes.length);
        MemorySegment r = MemorySegment.ofArray(bytes);
        Ipv4Packet ip = new Ipv4Packet();
        ip.wrap(r, Ethernet.HEADER_LENGTH, bytes.length - Ethernet.HEADER_LENGTH);
        assertEquals(0, ip.flagsAndFragmentOffset() & 0x3fff, "the reply is whole");
        assertEquals(PEER, ip.destination());
        assertEquals(true, ip.checksumValid());
        assertEquals(Icmpv4Packet.ECHO_REPLY, bytes[at] & 0xff);
        assertEquals(0xffff, Checksum.fold(Checksum.add(0, r, at, icmp.length)), "ICMP checksum");
        assertArrayEquals(Arrays.copyOfRange(icmp, 4, icmp.length), Arrays.copyOfRange(bytes, at + 4, bytes.length));
        assertEquals(1, counters().icmpEchoRepliesSent);
    }

    private void assertNoReply() {
        MbufBurst burst = new MbufBurst(4);
        assertEquals(0, link.b().receive(burst));
        assertEquals(0, counters().icmpEchoRepliesSent);
    }
}
