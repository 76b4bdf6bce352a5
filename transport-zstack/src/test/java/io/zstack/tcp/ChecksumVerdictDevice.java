package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import io.zstack.wire.CheckResult;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Ipv4Packet;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * Gives every frame the stack receives the checksum verdicts a NIC with receive checksum offload gives (DPDK's
 * RX_IP_CKSUM_GOOD/BAD and RX_L4_CKSUM_GOOD/BAD), honestly: it sums the IPv4 header and the TCP segment itself and
 * flags what it found; now and then ({@code unknownOneIn}) it leaves a verdict unknown, as NICs do for packets they do
 * not parse. The stack then takes its trusted paths (no sum of its own, receive coalescing without summing) on the
 * same hostile frames.
 */
final class ChecksumVerdictDevice extends ForwardingNetDevice {
    private final Ethernet ethernet = new Ethernet();
    private final Ipv4Packet ip = new Ipv4Packet();
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
        if (ethernet.wrap(f, 0, bytes.length) != CheckResult.OK || ethernet.etherType() != Ethernet.TYPE_IPV4) {
            return;
        }
        // a header whose total length does not fit the frame still has a header checksum to judge
        CheckResult header = ip.wrap(f, Ethernet.HEADER_LENGTH, bytes.length - Ethernet.HEADER_LENGTH);
        if (header != CheckResult.OK && header != CheckResult.BAD_TOTAL_LENGTH) {
            return;
        }
        long flags = Mbuf.olFlags(frame) & ~(Mbuf.LAYOUT.rxIpChecksumMask | Mbuf.LAYOUT.rxL4ChecksumMask);
        if (random.nextInt(unknownOneIn) != 0) {
            boolean good = ip.checksumValid();
            flags |= good ? Mbuf.LAYOUT.rxIpChecksumGood : Mbuf.LAYOUT.rxIpChecksumBad;
            count(good);
        }
        int l4Length = ip.totalLength() - ip.headerLength();
        if (header == CheckResult.OK && ip.protocol() == Ipv4Packet.PROTOCOL_TCP && !ip.isFragment() && l4Length > 0
                && random.nextInt(unknownOneIn) != 0) {
            long sum = Checksum.add(Checksum.pseudoHeader(ip.source(), ip.destination(), Ipv4Packet.PROTOCOL_TCP,
                    l4Length), f, Ethernet.HEADER_LENGTH + ip.headerLength(), l4Length);
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
