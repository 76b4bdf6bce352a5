package io.zstack.ip;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.wire.ArpPacket;
import io.zstack.wire.CheckResult;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Ipv4Packet;
import io.zstack.wire.MacAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What IPv4 input takes before it reads or hands on: the header must lie in a frame's first segment (the layer reads
 * it in place), so a chained frame whose header runs into the second segment is dropped and counted, not read past
 * the first segment's data; and a packet must carry bytes for its transport.
 */
class Ipv4InputBoundsTest {
    private static final int OURS = 0x0a000001;
    private static final long OUR_MAC = 0x020000000001L;

    private final VirtualClock clock = new VirtualClock();
    private final JavaMbufPool pool = new JavaMbufPool("bounds", 256);
    private final SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0).queueCapacity(16)
            .pool(pool).endA("stack", MacAddress.of(OUR_MAC), 1500)
            .endB("peer", MacAddress.of(0x020000000002L), 1500).build();
    private final IpHost stack = new IpHost(link.a(), new Ipv4Config(OURS, 24, 0));

    @AfterEach
    void tearDown() {
        stack.close();
        link.close();
        pool.close(); // refuses if a dropped frame was not freed
    }

    @Test
    void aHeaderThatRunsIntoTheSecondSegmentIsDroppedAndCounted() {
        // first segment: Ethernet + 10 bytes of a 20-byte header; then: Ethernet + 20 of a 24-byte header
        send(link, pool, 10, 5);
        send(link, pool, 20, 6);
        for (int i = 0; i < 3; i++) {
            clock.advance(1_000_000);
            stack.poll(clock.now());
        }
        assertEquals(1, stack.ip().counters().ipTooShort, stack.ip().counters().toString());
        assertEquals(1, stack.ip().counters().ipBadHeaderLength, stack.ip().counters().toString());
        assertEquals(0, stack.ip().counters().packetsReceived);
    }

    /**
     * An IPv4 packet of just its header (total length 20) with TCP as its protocol, padded to Ethernet's 60-byte
     * minimum as every such frame on a wire is: trimming the padding left no transport bytes and no mbuf, and TCP was
     * handed mbuf 0 and read the memory at address 0 (the JVM died of a SIGSEGV; found by TcpFuzzTest). Now dropped,
     * counted, freed; UDP and ICMP alike, and without padding too.
     */
    @Test
    void aPacketWithNoTransportBytesIsDroppedAndCountedNotHandedOn() {
        int[] protocols = {Ipv4Packet.PROTOCOL_TCP, Ipv4Packet.PROTOCOL_ICMP, Ipv4Packet.PROTOCOL_UDP};
        for (int protocol : protocols) {
            for (int frameLength : new int[] {60, Ethernet.HEADER_LENGTH + 20}) {
                byte[] frame = new byte[frameLength];
                java.lang.foreign.MemorySegment s = java.lang.foreign.MemorySegment.ofArray(frame);
                Ethernet.write(s, 0, OUR_MAC, 0x020000000002L, Ethernet.TYPE_IPV4);
                Ipv4Packet.write(s, Ethernet.HEADER_LENGTH, 20, 1, true, 64, protocol, 0x0a000002, OURS, true);
                MbufBurst burst = new MbufBurst(1);
                burst.add(segment(pool, frame, 0, frame.length));
                link.b().transmit(burst);
                clock.advance(1_000_000);
                stack.poll(clock.now());
            }
        }
        IpCounters counters = stack.ip().counters();
        assertEquals(2 * protocols.length, counters.ipNoTransportBytes, counters.toString());
        assertEquals(0, counters.packetsDelivered, counters.toString());
    }

    /**
     * An ARP request received as a chain (the packet in the first mbuf, the frame's padding in two more, as a device
     * receiving into small buffers hands it over) is answered with one mbuf: the reply was the whole chain, over the
     * limit of mbufs per frame of a device that takes fewer (found by TcpFuzzTest with its scattering device).
     */
    @Test
    void anArpRequestReceivedAsAChainIsAnsweredWithItsFirstMbufAlone() {
        byte[] frame = new byte[60];
        java.lang.foreign.MemorySegment s = java.lang.foreign.MemorySegment.ofArray(frame);
        Ethernet.write(s, 0, 0xffff_ffff_ffffL, 0x020000000002L, Ethernet.TYPE_ARP);
        ArpPacket.write(s, Ethernet.HEADER_LENGTH, ArpPacket.REQUEST, 0x020000000002L, 0x0a000002, 0, OURS);
        int arpEnd = Ethernet.HEADER_LENGTH + ArpPacket.LENGTH;
        long head = segment(pool, frame, 0, arpEnd);
        Mbuf.chain(head, segment(pool, frame, arpEnd, 7));
        Mbuf.chain(head, segment(pool, frame, arpEnd + 7, frame.length - arpEnd - 7));
        MbufBurst burst = new MbufBurst(4);
        burst.add(head);
        link.b().transmit(burst);
        clock.advance(1_000_000);
        stack.poll(clock.now());
        burst.clear();
        assertEquals(1, link.b().receive(burst));
        long reply = burst.get(0);
        int segments = Mbuf.nbSegs(reply);
        int length = Mbuf.pktLen(reply);
        byte[] bytes = Mbuf.toByteArray(reply);
        pool.free(reply);
        assertEquals(1, segments, "mbufs in the reply");
        assertEquals(arpEnd, length);
        ArpPacket view = new ArpPacket();
        assertEquals(CheckResult.OK, view.wrap(java.lang.foreign.MemorySegment.ofArray(bytes), Ethernet.HEADER_LENGTH,
                ArpPacket.LENGTH));
        assertEquals(ArpPacket.REPLY, view.operation());
        assertEquals(OURS, view.senderAddress());
        assertEquals(1, stack.ip().counters().arpRepliesSent);
    }

    /** An IPv4/TCP frame of 100 bytes in two segments, {@code inFirst} bytes of IP in the first; IHL = words. */
    private static void send(SimulatedLink link, JavaMbufPool pool, int inFirst, int words) {
        byte[] frame = new byte[Ethernet.HEADER_LENGTH + 100];
        java.lang.foreign.MemorySegment s = java.lang.foreign.MemorySegment.ofArray(frame);
        Ethernet.write(s, 0, OUR_MAC, 0x020000000002L, Ethernet.TYPE_IPV4);
        Ipv4Packet.write(s, Ethernet.HEADER_LENGTH, 100, 1, true, 64, Ipv4Packet.PROTOCOL_TCP, 0x0a000002, OURS,
                true);
        frame[Ethernet.HEADER_LENGTH] = (byte) (0x40 | words);
        int split = Ethernet.HEADER_LENGTH + inFirst;
        long head = segment(pool, frame, 0, split);
        Mbuf.chain(head, segment(pool, frame, split, frame.length - split));
        MbufBurst burst = new MbufBurst(1);
        burst.add(head);
        link.b().transmit(burst);
    }

    private static long segment(JavaMbufPool pool, byte[] bytes, int from, int length) {
        long m = pool.alloc();
        long at = Mbuf.append(m, length);
        java.lang.foreign.MemorySegment.copy(bytes, from, Mbuf.MEMORY, java.lang.foreign.ValueLayout.JAVA_BYTE, at,
                length);
        return m;
    }
}
