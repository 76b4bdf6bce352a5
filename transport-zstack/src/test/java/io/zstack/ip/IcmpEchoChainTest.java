package io.zstack.ip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.DeviceCapabilities;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Icmpv4Packet;
import io.zstack.wire.Ipv4Packet;
import io.zstack.wire.MacAddress;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Echo requests larger than an mbuf (a jumbo ping, a device receiving into small buffers) arrive as chains. They were
 * dropped as malformed; now each is answered with its own mbufs, the message left where it is and its checksum
 * updated, and what cannot be answered (a header cut across mbufs, a bad sum, more mbufs than the device sends in one
 * frame) is dropped, counted and freed.
 */
class IcmpEchoChainTest {
    private static final int OURS = 0x0a000001;
    private static final int PEER = 0x0a000002;
    private static final long OUR_MAC = 0x020000000001L;
    private static final long PEER_MAC = 0x020000000002L;

    private final VirtualClock clock = new VirtualClock();
    private final JavaMbufPool pool = new JavaMbufPool("icmp-chain", 256);
    private final SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0).queueCapacity(16)
            .pool(pool).endA("stack", MacAddress.of(OUR_MAC), 9000)
            .endB("peer", MacAddress.of(PEER_MAC), 9000).build();
    private IpHost stack;

    @AfterEach
    void tearDown() {
        if (stack != null) {
            stack.close();
        }
        link.close();
        pool.close(); // refuses if a request or reply was not freed
    }

    @Test
    void aRequestInThreeMbufsIsAnsweredWithThoseMbufsAndEveryByteOfItsData() {
        stack = new IpHost(link.a(), new Ipv4Config(OURS, 24, 0));
        byte[] request = echoRequest(0, 3000, 7);
        byte[] reply = exchange(request, 600, 1900);
        assertEquals(1, stack.ip().counters().icmpEchoRepliesSent, stack.ip().counters().toString());
        assertValidReplyTo(request, 0, reply);
    }

    /**
     * Request options are not echoed (as before for one mbuf): the new 20-byte header now goes just in front of the
     * message instead of the message being moved back over the options, which in a chain it could not be.
     */
    @Test
    void aRequestWithOptionsInAChainIsAnsweredWithoutThem() {
        stack = new IpHost(link.a(), new Ipv4Config(OURS, 24, 0));
        byte[] request = echoRequest(8, 2500, 8);
        byte[] reply = exchange(request, 100, 1700);
        assertValidReplyTo(request, 8, reply);
    }

    @Test
    void aRequestWhoseIcmpHeaderIsCutAcrossMbufsIsDroppedAndCounted() {
        stack = new IpHost(link.a(), new Ipv4Config(OURS, 24, 0));
        byte[] request = echoRequest(0, 200, 9);
        // Ethernet, IPv4 and 4 of the 8 ICMP header bytes in the first mbuf
        assertEquals(0, exchangeCounting(request, Ethernet.HEADER_LENGTH + 20 + 4));
        assertEquals(1, stack.ip().counters().icmpMalformed, stack.ip().counters().toString());
    }

    @Test
    void aChainedRequestWithABadChecksumInItsLastMbufIsDroppedAndCounted() {
        stack = new IpHost(link.a(), new Ipv4Config(OURS, 24, 0));
        byte[] request = echoRequest(0, 3000, 10);
        request[request.length - 5] ^= 0x01;
        assertEquals(0, exchangeCounting(request, 500, 1500));
        assertEquals(1, stack.ip().counters().icmpBadChecksum, stack.ip().counters().toString());
    }

    /** A reply goes as the request's chain: one in more mbufs than the device sends in a frame is not answered. */
    @Test
    void aRequestInMoreMbufsThanTheDeviceSendsIsDroppedAndCounted() {
        NetDevice twoPerFrame = new ForwardingNetDevice(link.a()) {
            @Override
            public DeviceCapabilities capabilities() {
                return new DeviceCapabilities(false, false, false, false, true, 0, true, 2);
            }
        };
        stack = new IpHost(twoPerFrame, new Ipv4Config(OURS, 24, 0));
        assertEquals(0, exchangeCounting(echoRequest(0, 3000, 11), 600, 1900));
        assertEquals(1, stack.ip().counters().icmpEchoChainTooLong, stack.ip().counters().toString());
        assertValidReplyTo(echoRequest(0, 2000, 12), 0, exchange(echoRequest(0, 2000, 12), 1000));
    }

    /** An Ethernet frame holding an echo request from the peer to us with {@code optionBytes} of NOP options. */
    private static byte[] echoRequest(int optionBytes, int dataBytes, long seed) {
        int ipHeader = 20 + optionBytes;
        int icmpLength = Icmpv4Packet.HEADER_LENGTH + dataBytes;
        byte[] frame = new byte[Ethernet.HEADER_LENGTH + ipHeader + icmpLength];
        MemorySegment s = MemorySegment.ofArray(frame);
        Ethernet.write(s, 0, OUR_MAC, PEER_MAC, Ethernet.TYPE_IPV4);
        Ipv4Packet.write(s, Ethernet.HEADER_LENGTH, ipHeader + icmpLength, 1, false, 64, Ipv4Packet.PROTOCOL_ICMP, PEER,
                OURS, false);
        frame[Ethernet.HEADER_LENGTH] = (byte) (0x40 | ipHeader / 4);
        Arrays.fill(frame, Ethernet.HEADER_LENGTH + 20, Ethernet.HEADER_LENGTH + ipHeader, (byte) 1); // NOP options
        frame[Ethernet.HEADER_LENGTH + 10] = 0;
        frame[Ethernet.HEADER_LENGTH + 11] = 0;
        int headerSum = Checksum.finish(Checksum.add(0, s, Ethernet.HEADER_LENGTH, ipHeader));
        Checksum.store(s, Ethernet.HEADER_LENGTH + 10, headerSum);
        int icmp = Ethernet.HEADER_LENGTH + ipHeader;
        byte[] data = new byte[dataBytes];
        new Random(seed).nextBytes(data);
        System.arraycopy(data, 0, frame, icmp + Icmpv4Packet.HEADER_LENGTH, dataBytes);
        Icmpv4Packet.write(s, icmp, icmpLength, Icmpv4Packet.ECHO_REQUEST, 0, 0x1234_0001);
        return frame;
    }

    /** Sends {@code frame} cut at {@code cuts} to the stack, polls, and returns the one frame it sent back. */
    private byte[] exchange(byte[] frame, int... cuts) {
        assertEquals(1, exchangeCounting(frame, cuts), stack.ip().counters().toString());
        MbufBurst burst = new MbufBurst(2);
        assertEquals(1, link.b().receive(burst));
        long reply = burst.get(0);
        assertEquals(cuts.length + 1, Mbuf.nbSegs(reply), "the reply is the request's mbufs");
        byte[] bytes = Mbuf.toByteArray(reply);
        pool.free(reply);
        return bytes;
    }

    /** Sends {@code frame} cut at {@code cuts} to the stack, polls, and returns how many frames it sent back. */
    private int exchangeCounting(byte[] frame, int... cuts) {
        long head = 0;
        int from = 0;
        for (int i = 0; i <= cuts.length; i++) {
            int to = i < cuts.length ? cuts[i] : frame.length;
            long m = pool.alloc();
            MemorySegment.copy(frame, from, Mbuf.MEMORY, ValueLayout.JAVA_BYTE, Mbuf.append(m, to - from), to - from);
            if (head == 0) {
                head = m;
            } else {
                Mbuf.chain(head, m);
            }
            from = to;
        }
        long repliesBefore = stack.ip().counters().icmpEchoRepliesSent;
        MbufBurst burst = new MbufBurst(1);
        burst.add(head);
        link.b().transmit(burst);
        clock.advance(1_000_000);
        stack.poll(clock.now());
        return (int) (stack.ip().counters().icmpEchoRepliesSent - repliesBefore);
    }

    private static void assertValidReplyTo(byte[] request, int optionBytes, byte[] reply) {
        int icmpIn = Ethernet.HEADER_LENGTH + 20 + optionBytes;
        int icmpOut = Ethernet.HEADER_LENGTH + 20;
        int icmpLength = request.length - icmpIn;
        assertEquals(icmpOut + icmpLength, reply.length, "the reply's length");
        MemorySegment r = MemorySegment.ofArray(reply);
        Ethernet eth = new Ethernet();
        eth.wrap(r, 0, reply.length);
        assertEquals(PEER_MAC, eth.destination());
        assertEquals(OUR_MAC, eth.source());
        Ipv4Packet ip = new Ipv4Packet();
        assertEquals(io.zstack.wire.CheckResult.OK, ip.wrap(r, Ethernet.HEADER_LENGTH, reply.length
                - Ethernet.HEADER_LENGTH));
        assertEquals(20, ip.headerLength());
        assertEquals(OURS, ip.source());
        assertEquals(PEER, ip.destination());
        assertEquals(true, ip.checksumValid(), "IPv4 header checksum");
        assertEquals(Icmpv4Packet.ECHO_REPLY, reply[icmpOut] & 0xff);
        assertEquals(0xffff, Checksum.fold(Checksum.add(0, r, icmpOut, icmpLength)), "ICMP checksum");
        // identifier, sequence and every data byte as the request had them
        assertArrayEquals(Arrays.copyOfRange(request, icmpIn + 4, request.length),
                Arrays.copyOfRange(reply, icmpOut + 4, reply.length));
    }
}
