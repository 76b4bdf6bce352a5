package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Ipv4Packet;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * Gives every frame the stack receives the checksum verdicts a NIC with receive checksum offload gives (DPDK's
 * RX_IP_CKSUM_GOOD/BAD and RX_L4_CKSUM_GOOD/BAD), honestly: it sums the IPv4 header and the TCP segment itself and
 * flags what it found; now and then ({@code unknownOneIn}) it leaves a verdict unknown, as NICs do for packets they do
 * not parse. The stack then takes its trusted paths (no sum of its own, receive coalescing without summing) on the
 * same hostile frames.
 */
final class ChecksumVerdictDevice extends ForwardingNetDevice {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final Random random;
    private final int unknownOneIn;
    private long verdicts;
    private long badVerdicts;

    ChecksumVerdictDevice(NetDevice inner, long seed, int unknownOneIn) {
        super(inner);
        this.random = new Random(seed);
        this.unknownOneIn = unknownOneIn;
    }

    @Override
    public int receive(MbufBurst burst) {
        int n = inner.receive(burst);
        for (int i = 0; i < n; i++) {
            judge(burst.get(i));
        }
        return n;
    }

    /** Verdicts given (IPv4 and TCP counted apart), and how many of them said bad. */
    long verdicts() {
        return verdicts;
    }

    long badVerdicts() {
        return badVerdicts;
    }

    private void judge(long frame) {
        byte[] bytes = Mbuf.toByteArray(frame);
        MemorySegment f = MemorySegment.ofArray(bytes);
        int ip = Ethernet.HEADER_LENGTH;
        if (bytes.length < ip + Ipv4Packet.MIN_HEADER_LENGTH
                || ((bytes[12] & 0xff) << 8 | (bytes[13] & 0xff)) != Ethernet.TYPE_IPV4 || (bytes[ip] & 0xf0) != 0x40) {
            return;
        }
        int headerLength = (bytes[ip] & 0x0f) * 4;
        if (headerLength < Ipv4Packet.MIN_HEADER_LENGTH || ip + headerLength > bytes.length) {
            return;
        }
        long flags = Mbuf.olFlags(frame) & ~(Mbuf.LAYOUT.rxIpChecksumMask | Mbuf.LAYOUT.rxL4ChecksumMask);
        if (random.nextInt(unknownOneIn) != 0) {
            boolean good = Checksum.fold(Checksum.add(0, f, ip, headerLength)) == 0xffff;
            flags |= good ? Mbuf.LAYOUT.rxIpChecksumGood : Mbuf.LAYOUT.rxIpChecksumBad;
            count(good);
        }
        int totalLength = (bytes[ip + 2] & 0xff) << 8 | (bytes[ip + 3] & 0xff);
        boolean fragment = (((bytes[ip + 6] & 0xff) << 8 | (bytes[ip + 7] & 0xff)) & 0x3fff) != 0;
        if ((bytes[ip + 9] & 0xff) == Ipv4Packet.PROTOCOL_TCP && !fragment && totalLength > headerLength
                && ip + totalLength <= bytes.length && random.nextInt(unknownOneIn) != 0) {
            int source = f.get(U32, ip + 12);
            int destination = f.get(U32, ip + 16);
            int l4Length = totalLength - headerLength;
            long sum = Checksum.add(Checksum.pseudoHeader(source, destination, Ipv4Packet.PROTOCOL_TCP, l4Length), f,
                    ip + headerLength, l4Length);
            boolean good = Checksum.fold(sum) == 0xffff;
            flags |= good ? Mbuf.LAYOUT.rxL4ChecksumGood : Mbuf.LAYOUT.rxL4ChecksumBad;
            count(good);
        }
        Mbuf.setOlFlags(frame, flags);
    }

    private void count(boolean good) {
        verdicts++;
        if (!good) {
            badVerdicts++;
        }
    }
}
