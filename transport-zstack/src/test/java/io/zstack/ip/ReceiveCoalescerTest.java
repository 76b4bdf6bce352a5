package io.zstack.ip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Ipv4Packet;
import io.zstack.wire.TcpHeader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ReceiveCoalescer} on hand-built frames: which runs merge, what the merged frame looks like (IP total length
 * and header checksum, payload chained in order, PSH carried), and what is left alone. The stack-level behaviour
 * (TCP over merged segments, against the Linux kernel too) is in the interop tests, which count the merges.
 */
class ReceiveCoalescerTest {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final long MAC_A = 0x02_00_00_00_00_01L;
    private static final long MAC_B = 0x02_00_00_00_00_02L;
    private static final int IP_A = 0x0a000001;
    private static final int IP_B = 0x0a000002;
    private static final int ACK = 0x10;
    private static final int PSH = 0x08;

    private final JavaMbufPool pool = new JavaMbufPool("coalesce", 256);
    private final IpCounters counters = new IpCounters();
    private final ReceiveCoalescer coalescer = new ReceiveCoalescer(counters);
    private final MbufBurst burst = new MbufBurst(32);

    @AfterEach
    void freeAndCheck() {
        for (int i = 0; i < burst.size(); i++) {
            pool.free(burst.get(i));
        }
        burst.clear();
        assertEquals(pool.capacity(), pool.available(), "every mbuf back in the pool");
        pool.close();
    }

    /** A TCP segment from A:1000 to B:80 with the timestamp option (tsVal) and a payload of bytes seq, seq+1, ... */
    private long segment(int seq, int length, int flags, int tsVal, int window) {
        long m = pool.alloc();
        int tcpHeader = 32;
        long a = Mbuf.append(m, 14 + 20 + tcpHeader + length);
        MemorySegment mem = Mbuf.MEMORY;
        Ethernet.write(mem, a, MAC_B, MAC_A, Ethernet.TYPE_IPV4);
        Ipv4Packet.write(mem, a + 14, 20 + tcpHeader + length, seq & 0xffff, true, 64, Ipv4Packet.PROTOCOL_TCP, IP_A,
                IP_B, true);
        TcpHeader.write(mem, a + 34, 1000, 80, seq, 777, tcpHeader, flags, window);
        TcpHeader.writeOptions(mem, a + 54, -1, -1, false, true, tsVal, 55, null, null, 0);
        for (int i = 0; i < length; i++) {
            mem.set(ValueLayout.JAVA_BYTE, a + 66 + i, (byte) (seq + i));
        }
        long sum = Checksum.pseudoHeader(IP_A, IP_B, Ipv4Packet.PROTOCOL_TCP, tcpHeader + length);
        Checksum.store(mem, a + 34 + 16, Checksum.finish(Checksum.add(sum, mem, a + 34, tcpHeader + length)));
        return m;
    }

    private long segment(int seq, int length, int flags) {
        return segment(seq, length, flags, 99, 500);
    }

    private int coalesce(long... frames) {
        for (long f : frames) {
            burst.add(f);
        }
        int n = coalescer.coalesce(burst, frames.length);
        burst.size(n);
        return n;
    }

    private static int ipTotalLength(long frame) {
        return Mbuf.MEMORY.get(U16, Mbuf.dataAddress(frame) + 16) & 0xffff;
    }

    private static boolean ipHeaderChecksumValid(long frame) {
        return Checksum.fold(Checksum.add(0, Mbuf.MEMORY, Mbuf.dataAddress(frame) + 14, 20)) == 0xffff;
    }

    private static int tcpFlags(long frame) {
        return Mbuf.MEMORY.get(ValueLayout.JAVA_BYTE, Mbuf.dataAddress(frame) + 47) & 0xff;
    }

    /** The TCP payload of a (possibly merged) frame, read across its chain. */
    private static byte[] payload(long frame) {
        byte[] all = Mbuf.toByteArray(frame);
        byte[] p = new byte[all.length - 66];
        System.arraycopy(all, 66, p, 0, p.length);
        return p;
    }

    private static byte[] expected(int seq, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (seq + i);
        }
        return b;
    }

    @Test
    void consecutiveFullSegmentsBecomeOneWithTheLastOnesPush() {
        int n = coalesce(segment(1000, 1448, ACK), segment(2448, 1448, ACK), segment(3896, 1448, ACK),
                segment(5344, 500, ACK | PSH));
        assertEquals(1, n);
        long merged = burst.get(0);
        assertEquals(4, Mbuf.nbSegs(merged));
        assertEquals(20 + 32 + 3 * 1448 + 500, ipTotalLength(merged));
        assertEquals(14 + 20 + 32 + 3 * 1448 + 500, Mbuf.pktLen(merged));
        assertEquals(true, ipHeaderChecksumValid(merged), "the IP header checksum follows the new total length");
        assertEquals(ACK | PSH, tcpFlags(merged));
        assertArrayEquals(expected(1000, 3 * 1448 + 500), payload(merged));
        long flags = Mbuf.olFlags(merged);
        assertEquals(Mbuf.LAYOUT.rxL4ChecksumNone, flags & Mbuf.LAYOUT.rxL4ChecksumMask,
                "summed here: RX_L4_CKSUM_NONE, verified with a checksum field that is not the merged packet's");
        assertEquals(Mbuf.LAYOUT.rxIpChecksumGood, flags & Mbuf.LAYOUT.rxIpChecksumMask);
        assertEquals(3, counters.framesCoalesced);
        assertEquals(1, counters.segmentsCoalesced);
        assertEquals(3, counters.framesReceived, "the merged frames never reach IP's input, which counts the rest");
    }

    @Test
    void aPushEndsTheRunAndSegmentsOfAnyLengthsMerge() {
        // an echo's answer: a short head, then full segments, then the rest (GRO would keep the head apart)
        int n = coalesce(segment(0, 80, ACK), segment(80, 1448, ACK), segment(1528, 1448, ACK),
                segment(2976, 700, ACK | PSH), segment(3676, 100, ACK), segment(3776, 60, ACK));
        assertEquals(2, n, "[0,3676) ends at its PSH, [3676,3836) after it");
        assertArrayEquals(expected(0, 3676), payload(burst.get(0)));
        assertArrayEquals(expected(3676, 160), payload(burst.get(1)));
        assertEquals(ACK | PSH, tcpFlags(burst.get(0)));
        assertEquals(ACK, tcpFlags(burst.get(1)));
        assertEquals(20 + 32 + 3676, ipTotalLength(burst.get(0)));
        assertEquals(true, ipHeaderChecksumValid(burst.get(1)));
    }

    @Test
    void framesThatDifferInMoreThanSequenceAndPayloadAreLeftAlone() {
        int n = coalesce(segment(0, 100, ACK), segment(100, 100, ACK, 100, 500), // another TSval
                segment(200, 100, ACK, 100, 600), // another window
                segment(400, 100, ACK, 100, 600), // a hole before it
                segment(500, 100, ACK | 0x01, 100, 600), // FIN
                segment(600, 100, ACK | 0x20, 100, 600)); // URG
        assertEquals(6, n);
        assertEquals(0, counters.framesCoalesced);
        for (int i = 0; i < n; i++) {
            assertEquals(1, Mbuf.nbSegs(burst.get(i)));
        }
    }

    @Test
    void framesTheDeviceVerifiedKeepItsVerdict() {
        long good = Mbuf.LAYOUT.rxIpChecksumGood | Mbuf.LAYOUT.rxL4ChecksumGood;
        long first = segment(0, 100, ACK);
        long second = segment(100, 100, ACK);
        Mbuf.setOlFlags(first, good);
        Mbuf.setOlFlags(second, good);
        Mbuf.MEMORY.set(ValueLayout.JAVA_BYTE, Mbuf.dataAddress(second) + 66, (byte) 0x7f); // not summed: trusted
        assertEquals(1, coalesce(first, second));
        assertEquals(good, Mbuf.olFlags(burst.get(0)), "the device's verdict, counted as trusted by IP");
    }

    @Test
    void aFrameWithABadChecksumIsNotMergedAndStaysForTcpToDrop() {
        long good = segment(0, 100, ACK);
        long bad = segment(100, 100, ACK);
        long a = Mbuf.dataAddress(bad);
        Mbuf.MEMORY.set(ValueLayout.JAVA_BYTE, a + 66 + 5, (byte) 0x7f); // a payload byte, checksum unchanged
        long next = segment(200, 100, ACK);
        int n = coalesce(good, bad, next);
        assertEquals(3, n, "nothing merges across the corrupted frame: it follows its own run");
        assertEquals(bad, burst.get(1));
        assertEquals(0, Mbuf.olFlags(bad) & Mbuf.LAYOUT.rxL4ChecksumMask, "left unverified for TCP to count");
        assertEquals(1, Mbuf.nbSegs(burst.get(0)));
    }

    @Test
    void runsOfDifferentConnectionsInOneBurstMergeEachOnTheirOwn() {
        long a1 = segment(0, 100, ACK);
        long a2 = segment(100, 100, ACK);
        long b1 = segment(5000, 100, ACK);
        Mbuf.MEMORY.set(U16, Mbuf.dataAddress(b1) + 34, (short) 1001); // another source port: another connection
        long b1Sum = Checksum.pseudoHeader(IP_A, IP_B, Ipv4Packet.PROTOCOL_TCP, 132);
        Mbuf.MEMORY.set(U16, Mbuf.dataAddress(b1) + 50, (short) 0);
        Checksum.store(Mbuf.MEMORY, Mbuf.dataAddress(b1) + 50,
                Checksum.finish(Checksum.add(b1Sum, Mbuf.MEMORY, Mbuf.dataAddress(b1) + 34, 132)));
        long a3 = segment(200, 100, ACK);
        int n = coalesce(a1, a2, b1, a3);
        assertEquals(3, n, "a1+a2, b1, a3: only frames back to back merge");
        assertEquals(200, payload(burst.get(0)).length);
        assertEquals(b1, burst.get(1));
        assertEquals(a3, burst.get(2));
    }
}
