package io.zstack.ip;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Ipv4Packet;
import io.zstack.wire.TcpHeader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Receive coalescing, as Linux's GRO: in one received burst, a run of in-order TCP data segments of one connection,
 * back to back, becomes one segment before IP and TCP see it. The payload of each later frame is chained behind the
 * first frame (its headers stripped, nothing copied), the first frame's IP total length and header checksum are
 * rewritten, and the layers above then parse, look up, acknowledge and queue once per run instead of once per frame.
 * TCP already takes segments longer than the MSS (the kernel TAP hands over the peer's TSO segments whole) and counts
 * them as the full-sized segments they stand for when it decides when to ACK.
 *
 * <p>Frames merge only when nothing but the payload and sequence number tells them apart: single-mbuf IPv4 without
 * options or fragmentation, the same Ethernet and IP addresses, TOS, TTL and ports, flags ACK (PSH allowed; it ends
 * the run), the same acknowledgment number, window and TCP options (timestamps byte for byte), each starting where the
 * one before ended, 64 KB at most. Unlike GRO, which hands its packets on and may have to cut them again (so every
 * segment but the last must be as long as the first), a merged segment here goes only to our own TCP: segments of
 * any lengths merge. An echo's answer starts with a short head buffer, then full segments: GRO's rule kept that
 * first segment apart (setup 2 at 4 KB: three frames made two segments, not one).
 *
 * <p>A frame whose checksums the device did not vouch for is summed here before it merges (the layers above would
 * have summed it anyway) and is then marked RX_L4_CKSUM_NONE (verified, the field not the merged packet's sum), which
 * IP counts as summed in software; one that fails is left alone for IP and TCP to count and drop.
 */
public final class ReceiveCoalescer {
    private static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final MemorySegment MEMORY = Mbuf.MEMORY;

    private static final int ETH = Ethernet.HEADER_LENGTH;
    /** An IPv4 header without options, the only kind a run takes. */
    private static final int IP_HEADER = Ipv4Packet.MIN_HEADER_LENGTH;
    private static final int TCP_MIN = TcpHeader.MIN_HEADER_LENGTH;
    private static final int IP_TOTAL_LENGTH = ETH + 2;
    private static final int IP_FRAGMENT = ETH + 6;
    private static final int IP_CHECKSUM = ETH + 10;
    private static final int IP_SOURCE = ETH + 12;
    private static final int TCP = ETH + IP_HEADER;
    private static final int TCP_SEQ = TCP + 4;
    private static final int TCP_ACK = TCP + 8;
    private static final int TCP_OFFSET = TCP + 12;
    private static final int TCP_FLAGS = TCP + 13;
    private static final int TCP_WINDOW = TCP + 14;
    private static final int TCP_OPTIONS = TCP + TCP_MIN;
    private static final int ACK = 0x10;
    private static final int PSH = 0x08;
    /** The most L4 bytes one IPv4 packet carries. */
    private static final int MAX_L4 = 65535 - IP_HEADER;
    /** Frames per merged segment at most: 64 KB of full-sized segments, well within DPDK's segments per chain. */
    private static final int MAX_FRAMES = Math.min(64, Mbuf.LAYOUT.maxSegments);

    private static final long IP_MASK = Mbuf.LAYOUT.rxIpChecksumMask;
    private static final long IP_GOOD = Mbuf.LAYOUT.rxIpChecksumGood;
    private static final long IP_BAD = Mbuf.LAYOUT.rxIpChecksumBad;
    private static final long L4_MASK = Mbuf.LAYOUT.rxL4ChecksumMask;
    private static final long L4_GOOD = Mbuf.LAYOUT.rxL4ChecksumGood;
    private static final long L4_BAD = Mbuf.LAYOUT.rxL4ChecksumBad;
    private static final long L4_VERIFIED_HERE = Mbuf.LAYOUT.rxL4ChecksumNone;

    /** framesCoalesced, segmentsCoalesced and framesReceived (merged frames never reach IP's input). */
    private final IpCounters counters;

    // the run being built: its first frame, last mbuf, and what a frame must match to join it
    private long head;
    private long headAddress;
    private long headLast;
    private int headFrames;
    private int payloadTotal;
    private int nextSeq;
    private int tcpHeaderLength;
    private boolean headOpen;
    private boolean headVerified;

    public ReceiveCoalescer(IpCounters counters) {
        this.counters = counters;
    }

    /**
     * Merges, in place, runs of frames {@code [0, n)} of {@code burst} that are one connection's consecutive segments;
     * returns how many frames are left (the burst's first ones, in their order).
     */
    public int coalesce(MbufBurst burst, int n) {
        int out = 0;
        head = 0;
        for (int i = 0; i < n; i++) {
            long frame = burst.get(i);
            if (head != 0 && headOpen && joins(frame)) {
                continue;
            }
            finish();
            burst.set(out++, frame);
            start(frame);
        }
        finish();
        return out;
    }

    /** Makes {@code frame} the first of a run, if it may start one. */
    private void start(long frame) {
        head = 0;
        int payload = dataPayload(frame);
        if (payload <= 0) {
            return;
        }
        head = frame;
        headAddress = Mbuf.dataAddress(frame);
        headLast = frame;
        headFrames = 1;
        payloadTotal = payload;
        tcpHeaderLength = (MEMORY.get(BYTE, headAddress + TCP_OFFSET) & 0xf0) >>> 2;
        nextSeq = MEMORY.get(U32, headAddress + TCP_SEQ) + payload;
        headOpen = (MEMORY.get(BYTE, headAddress + TCP_FLAGS) & PSH) == 0;
        headVerified = false;
    }

    /** Chains {@code frame}'s payload to the run when it continues it; false (nothing changed) when not. */
    private boolean joins(long frame) {
        long a = Mbuf.dataAddress(frame);
        long h = headAddress;
        // the flow and the sequence first: in a burst of many connections' frames (small requests) most stop here
        if (Mbuf.dataLen(frame) < TCP + TCP_MIN || MEMORY.get(U32, a + TCP_SEQ) != nextSeq
                || MEMORY.get(U32, a + TCP) != MEMORY.get(U32, h + TCP)
                || MEMORY.get(U64, a + IP_SOURCE) != MEMORY.get(U64, h + IP_SOURCE)) {
            return false;
        }
        int payload = dataPayload(frame);
        if (payload <= 0 || headFrames >= MAX_FRAMES
                || payloadTotal + payload + tcpHeaderLength > MAX_L4) {
            return false;
        }
        if (MEMORY.get(U64, a) != MEMORY.get(U64, h) || MEMORY.get(U32, a + 8) != MEMORY.get(U32, h + 8)
                || MEMORY.get(U16, a + ETH) != MEMORY.get(U16, h + ETH) // version, header length, TOS
                || MEMORY.get(U32, a + IP_FRAGMENT) != MEMORY.get(U32, h + IP_FRAGMENT) // DF, TTL, protocol
                || MEMORY.get(U32, a + TCP_ACK) != MEMORY.get(U32, h + TCP_ACK)
                || MEMORY.get(BYTE, a + TCP_OFFSET) != MEMORY.get(BYTE, h + TCP_OFFSET)
                || MEMORY.get(U16, a + TCP_WINDOW) != MEMORY.get(U16, h + TCP_WINDOW)) {
            return false;
        }
        for (int o = 0; o < tcpHeaderLength - TCP_MIN; o += 4) {
            if (MEMORY.get(U32, a + TCP_OPTIONS + o) != MEMORY.get(U32, h + TCP_OPTIONS + o)) {
                return false;
            }
        }
        if (!headVerified) {
            if (!verified(head, h)) {
                headOpen = false;
                return false;
            }
            headVerified = true;
        }
        if (!verified(frame, a)) {
            return false;
        }
        int flags = MEMORY.get(BYTE, a + TCP_FLAGS);
        Mbuf.adj(frame, TCP + tcpHeaderLength);
        Mbuf.chain(head, headLast, frame);
        headLast = frame;
        headFrames++;
        payloadTotal += payload;
        nextSeq += payload;
        if ((flags & PSH) != 0) {
            MEMORY.set(BYTE, h + TCP_FLAGS, (byte) (ACK | PSH));
            headOpen = false;
        }
        counters.framesCoalesced++;
        counters.framesReceived++;
        return true;
    }

    /** Gives the run's first frame the merged segment's IP total length (and header checksum). */
    private void finish() {
        if (head != 0 && headFrames > 1) {
            long h = headAddress;
            int oldTotal = MEMORY.get(U16, h + IP_TOTAL_LENGTH) & 0xffff;
            int newTotal = IP_HEADER + tcpHeaderLength + payloadTotal;
            MEMORY.set(U16, h + IP_TOTAL_LENGTH, (short) newTotal);
            int checksum = MEMORY.get(U16, h + IP_CHECKSUM) & 0xffff;
            MEMORY.set(U16, h + IP_CHECKSUM, (short) Checksum.update(checksum, oldTotal, newTotal));
            counters.segmentsCoalesced++;
        }
        head = 0;
    }

    /**
     * The TCP payload length of a frame that may take part in a run (one mbuf, IPv4 without options or fragments,
     * TCP with ACK and at most PSH besides, no checksum the device found bad, no Ethernet padding), else -1.
     */
    private static int dataPayload(long frame) {
        int length = Mbuf.dataLen(frame);
        if (Mbuf.nbSegs(frame) != 1 || length < TCP + TCP_MIN) {
            return -1;
        }
        long a = Mbuf.dataAddress(frame);
        long flags = Mbuf.olFlags(frame);
        if (MEMORY.get(U16, a + 12) != Ethernet.TYPE_IPV4 || MEMORY.get(BYTE, a + ETH) != 0x45
                || (MEMORY.get(U16, a + IP_FRAGMENT) & 0x3fff) != 0
                || MEMORY.get(BYTE, a + ETH + 9) != Ipv4Packet.PROTOCOL_TCP
                || (flags & IP_MASK) == IP_BAD || (flags & L4_MASK) == L4_BAD) {
            return -1;
        }
        int total = MEMORY.get(U16, a + IP_TOTAL_LENGTH) & 0xffff;
        int tcpFlags = MEMORY.get(BYTE, a + TCP_FLAGS) & 0xff;
        int tcpHeader = (MEMORY.get(BYTE, a + TCP_OFFSET) & 0xf0) >>> 2;
        if (total != length - ETH || (tcpFlags != ACK && tcpFlags != (ACK | PSH)) || tcpHeader < TCP_MIN) {
            return -1;
        }
        return total - IP_HEADER - tcpHeader;
    }

    /**
     * True when both checksums of {@code frame} are right: the device's verdict, else summed here (and then marked
     * verified, {@link #L4_VERIFIED_HERE}).
     */
    private static boolean verified(long frame, long a) {
        long flags = Mbuf.olFlags(frame);
        if ((flags & IP_MASK) != IP_GOOD && Checksum.fold(Checksum.add(0, MEMORY, a + ETH, IP_HEADER)) != 0xffff) {
            return false;
        }
        long l4 = flags & L4_MASK;
        if (l4 != L4_GOOD && l4 != L4_VERIFIED_HERE) {
            int l4Length = (MEMORY.get(U16, a + IP_TOTAL_LENGTH) & 0xffff) - IP_HEADER;
            long sum = Checksum.pseudoHeader(MEMORY.get(U32, a + IP_SOURCE), MEMORY.get(U32, a + IP_SOURCE + 4),
                    Ipv4Packet.PROTOCOL_TCP,
                    l4Length);
            if (Checksum.fold(Checksum.add(sum, MEMORY, a + TCP, l4Length)) != 0xffff) {
                return false;
            }
            l4 = L4_VERIFIED_HERE;
        }
        Mbuf.setOlFlags(frame, (flags & ~(IP_MASK | L4_MASK)) | IP_GOOD | l4);
        return true;
    }
}
