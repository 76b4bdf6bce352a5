package io.zstack.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.testing.Command;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The wire views against real frames: they parse what scapy builds the way Linux sends it (frames.txt, made by
 * gen_frames.py), tshark accepts what they emit (fields and checksums), and no byte string makes a check throw.
 */
class WireFormatTest {
    private static final Map<String, byte[]> FRAMES = load();

    private static Map<String, byte[]> load() {
        try (InputStream in = WireFormatTest.class.getResourceAsStream("/wire/frames.txt")) {
            Map<String, byte[]> frames = new HashMap<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.US_ASCII).split("\n")) {
                String[] parts = line.trim().split(" ");
                frames.put(parts[0], HexFormat.of().parseHex(parts[1]));
            }
            return frames;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static MemorySegment frame(String name) {
        return MemorySegment.ofArray(FRAMES.get(name));
    }

    @Test
    void arpFromScapy() {
        MemorySegment f = frame("arp_request");
        Ethernet eth = new Ethernet();
        assertEquals(CheckResult.OK, eth.wrap(f, 0, (int) f.byteSize()));
        assertEquals(Ethernet.TYPE_ARP, eth.etherType());
        assertEquals(0xffff_ffff_ffffL, eth.destination());
        ArpPacket arp = new ArpPacket();
        assertEquals(CheckResult.OK, arp.wrap(f, 14, (int) f.byteSize() - 14));
        assertEquals(ArpPacket.REQUEST, arp.operation());
        assertEquals(Ipv4Packet.parseAddress("10.0.0.1"), arp.senderAddress());
        assertEquals(Ipv4Packet.parseAddress("10.0.0.2"), arp.targetAddress());
        assertEquals(0x020000000001L, arp.senderMac());
        MemorySegment reply = frame("arp_reply");
        assertEquals(CheckResult.OK, arp.wrap(reply, 14, (int) reply.byteSize() - 14));
        assertEquals(ArpPacket.REPLY, arp.operation());
        assertEquals(0x020000000002L, arp.targetMac());
    }

    @Test
    void ipv4AndIcmpFromScapy() {
        MemorySegment f = frame("icmp_echo_request");
        Ipv4Packet ip = new Ipv4Packet();
        assertEquals(CheckResult.OK, ip.wrap(f, 14, (int) f.byteSize() - 14));
        assertTrue(ip.checksumValid());
        assertEquals(Ipv4Packet.PROTOCOL_ICMP, ip.protocol());
        assertEquals(7, ip.identification());
        assertFalse(ip.isFragment());
        Icmpv4Packet icmp = new Icmpv4Packet();
        assertEquals(CheckResult.OK, icmp.wrap(f, 34, ip.totalLength() - 20));
        assertTrue(icmp.checksumValid());
        assertEquals(Icmpv4Packet.ECHO_REQUEST, icmp.type());
        assertEquals(0x1234, icmp.echoIdentifier());
        assertEquals(9, icmp.echoSequence());
        icmp.toEchoReply();
        assertEquals(Icmpv4Packet.ECHO_REPLY, icmp.type());
        assertTrue(icmp.checksumValid(), "incremental update keeps the checksum right");

        MemorySegment options = frame("ipv4_with_options");
        assertEquals(CheckResult.OK, ip.wrap(options, 14, (int) options.byteSize() - 14));
        assertEquals(24, ip.headerLength());
        assertTrue(ip.checksumValid());
        MemorySegment fragment = frame("ipv4_fragment");
        assertEquals(CheckResult.OK, ip.wrap(fragment, 14, (int) fragment.byteSize() - 14));
        assertTrue(ip.isFragment());
    }

    @Test
    void tcpHeadersAndOptionsFromScapy() {
        TcpHeader tcp = new TcpHeader();
        TcpOptions o = new TcpOptions();
        MemorySegment syn = frame("tcp_syn_linux");
        assertEquals(CheckResult.OK, tcp.wrap(syn, 34, (int) syn.byteSize() - 34));
        assertEquals(CheckResult.OK, tcp.parseOptions(o));
        assertEquals(40000, tcp.sourcePort());
        assertEquals(80, tcp.destinationPort());
        assertEquals(123456789, tcp.seq());
        assertEquals(0x02, tcp.flags());
        assertEquals(64240, tcp.window());
        assertEquals(1460, o.mss);
        assertEquals(7, o.windowScale);
        assertTrue(o.sackPermitted);
        assertTrue(o.hasTimestamp);
        assertEquals(1111, o.tsVal);
        assertEquals(0, o.tsEcr);
        assertTrue(checksumValid(syn));

        MemorySegment sack = frame("tcp_ack_sack_ts");
        assertEquals(CheckResult.OK, tcp.wrap(sack, 34, (int) sack.byteSize() - 34));
        assertEquals(CheckResult.OK, tcp.parseOptions(o));
        assertEquals(2, o.sackBlocks);
        assertEquals(3000, o.sackStart[0]);
        assertEquals(4000, o.sackEnd[0]);
        assertEquals(5000, o.sackStart[1]);
        assertEquals(6000, o.sackEnd[1]);
        assertEquals(2222, o.tsVal);
        assertEquals(3333, o.tsEcr);

        MemorySegment unknown = frame("tcp_unknown_option");
        assertEquals(CheckResult.OK, tcp.wrap(unknown, 34, (int) unknown.byteSize() - 34));
        assertEquals(CheckResult.OK, tcp.parseOptions(o));
        assertEquals(1, o.unknown);
        assertEquals(1400, o.mss, "the option after an unknown kind is still read");

        MemorySegment data = frame("tcp_data");
        assertEquals(CheckResult.OK, tcp.wrap(data, 34, (int) data.byteSize() - 34));
        assertEquals(0x18, tcp.flags());
        assertTrue(checksumValid(data));
        byte[] payload = new byte[(int) data.byteSize() - 34 - tcp.headerLength()];
        MemorySegment.copy(data, 34 + tcp.headerLength(), MemorySegment.ofArray(payload), 0, payload.length);
        assertArrayEquals("GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII), payload);
    }

    private static boolean checksumValid(MemorySegment frame) {
        Ipv4Packet ip = new Ipv4Packet();
        ip.wrap(frame, 14, (int) frame.byteSize() - 14);
        int l4 = ip.totalLength() - ip.headerLength();
        long sum = Checksum.add(Checksum.pseudoHeader(ip.source(), ip.destination(), 6, l4), frame,
                14 + ip.headerLength(), l4);
        return Checksum.fold(sum) == 0xffff;
    }

    /** A header written from values (its checksum summed from them) reads back, through wrap's words, as written. */
    @Test
    void ipv4HeadersWrittenFromValuesCheckAndReadBack() {
        SplittableRandom r = new SplittableRandom(3);
        MemorySegment h = MemorySegment.ofArray(new byte[20]);
        Ipv4Packet ip = new Ipv4Packet();
        for (int i = 0; i < 10_000; i++) {
            int total = r.nextInt(20, 65536);
            int id = r.nextInt(65536);
            int ttl = r.nextInt(256);
            int protocol = r.nextInt(256);
            int source = r.nextInt();
            int destination = r.nextInt();
            boolean df = r.nextBoolean();
            Ipv4Packet.write(h, 0, total, id, df, ttl, protocol, source, destination, true);
            assertEquals(0xffff, Checksum.fold(Checksum.add(0, h, 0, 20)), "the checksum summed from the values");
            assertEquals(CheckResult.OK, ip.wrap(h, 0, total));
            assertTrue(ip.checksumValid());
            assertEquals(total, ip.totalLength());
            assertEquals(id, ip.identification());
            assertEquals(df ? Ipv4Packet.FLAG_DF : 0, ip.flagsAndFragmentOffset());
            assertEquals(ttl, ip.ttl());
            assertEquals(protocol, ip.protocol());
            assertEquals(source, ip.source());
            assertEquals(destination, ip.destination());
            h.set(ValueLayout.JAVA_BYTE, 1 + r.nextInt(19), (byte) r.nextInt(256)); // byte 0 would change the layout
            if (ip.wrap(h, 0, 65535) == CheckResult.OK) { // a total length below 20 is refused before any sum
                boolean intact = Checksum.fold(Checksum.add(0, h, 0, 20)) == 0xffff;
                assertEquals(intact, ip.checksumValid(), "a changed byte is seen as the full sum sees it");
            }
        }
    }

    /**
     * What the checksum sees and what it cannot: any single flipped bit changes it, but two flips at the same place of
     * two 16-bit words, one 0 to 1 and one 1 to 0, leave it as it was (RFC 1071 sums words; a link's CRC is what
     * catches those). Why TcpSimulation corrupts a frame at most once on its way: two fault injectors flipping one
     * bit each made such frames, and TCP delivered their bytes as the checksum said they were.
     */
    @Test
    void theChecksumCatchesEverySingleFlippedBitButNotTwoOppositeFlipsInTheSamePlace() {
        SplittableRandom r = new SplittableRandom(11);
        byte[] data = new byte[1480];
        r.nextBytes(data);
        int original = Checksum.fold(Checksum.add(0, MemorySegment.ofArray(data), 0, data.length));
        for (int bit = 0; bit < data.length * 8; bit++) {
            byte[] flipped = data.clone();
            flipped[bit / 8] ^= (byte) (1 << (bit % 8));
            assertTrue(original != Checksum.fold(Checksum.add(0, MemorySegment.ofArray(flipped), 0, data.length)),
                    "bit " + bit);
        }
        // byte 10's bit 3 set and byte 700's bit 3 clear (both even offsets: the high byte of their words)
        byte[] twice = data.clone();
        twice[10] |= 0x08;
        twice[700] &= ~0x08;
        data[10] &= ~0x08;
        data[700] |= 0x08;
        original = Checksum.fold(Checksum.add(0, MemorySegment.ofArray(data), 0, data.length));
        assertEquals(original, Checksum.fold(Checksum.add(0, MemorySegment.ofArray(twice), 0, data.length)));
        assertFalse(java.util.Arrays.equals(data, twice));
    }

    /** Checksums split at odd boundaries (mbuf chains) equal the checksum of the whole. */
    @Test
    void checksumOverPiecesOfAnyLengthEqualsTheWhole() {
        SplittableRandom r = new SplittableRandom(5);
        for (int round = 0; round < 1000; round++) {
            byte[] data = new byte[r.nextInt(1, 3000)];
            r.nextBytes(data);
            MemorySegment s = MemorySegment.ofArray(data);
            int whole = Checksum.fold(Checksum.add(0, s, 0, data.length));
            long sum = 0;
            int at = 0;
            while (at < data.length) {
                int n = Math.min(data.length - at, r.nextInt(1, 200));
                sum = Checksum.addAt(sum, at, s, at, n);
                at += n;
            }
            assertEquals(whole, Checksum.fold(sum));
        }
    }

    /**
     * The word-at-a-time sum equals RFC 1071's definition (big-endian 16-bit words, a last odd byte padded with
     * zero, end-around carry) for every length up to 300 bytes and every alignment, off-heap as the stack uses it,
     * and for 64 KiB of 0xff bytes (the most carries).
     */
    @Test
    void checksumEqualsTheRfc1071DefinitionAtEveryLengthAndAlignment() {
        SplittableRandom r = new SplittableRandom(7);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(65536 + 8, 8);
            for (int length = 0; length <= 300; length++) {
                for (int offset = 0; offset < 8; offset++) { // every alignment of a 64-bit load
                    for (int i = 0; i < length; i++) {
                        s.set(ValueLayout.JAVA_BYTE, offset + i, (byte) r.nextInt(256));
                    }
                    assertEquals(rfc1071(s, offset, length), Checksum.fold(Checksum.add(0, s, offset, length)),
                            "length " + length + " offset " + offset);
                }
            }
            s.fill((byte) 0xff);
            assertEquals(rfc1071(s, 3, 65536), Checksum.fold(Checksum.add(0, s, 3, 65536)));
        }
    }

    private static int rfc1071(MemorySegment s, long offset, int length) {
        long sum = 0;
        for (int i = 0; i < length; i += 2) {
            int high = s.get(ValueLayout.JAVA_BYTE, offset + i) & 0xff;
            int low = i + 1 < length ? s.get(ValueLayout.JAVA_BYTE, offset + i + 1) & 0xff : 0;
            sum += (high << 8) | low;
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) sum;
    }

    /** What the views emit, tshark decodes field by field with good checksums. */
    @Test
    void tsharkAcceptsWhatWeEmit(@TempDir Path dir) throws IOException {
        byte[] frame = new byte[14 + 20 + 60 + 5];
        MemorySegment f = MemorySegment.ofArray(frame);
        int a = Ipv4Packet.parseAddress("10.1.2.3");
        int b = Ipv4Packet.parseAddress("10.4.5.6");
        int optionsLength = TcpHeader.writeOptions(f, 34 + 20, 1460, 7, true, true, 4242, 0, new int[] {100},
                new int[] {200}, 1);
        int tcpLength = 20 + optionsLength + 5;
        MemorySegment.copy(MemorySegment.ofArray("hello".getBytes(StandardCharsets.US_ASCII)), 0, f,
                34 + 20 + optionsLength, 5);
        TcpHeader.write(f, 34, 1234, 80, 1, 2, 20 + optionsLength, 0x12, 29200);
        Checksum.store(f, 34 + 16, Checksum.finish(Checksum.add(Checksum.pseudoHeader(a, b, 6, tcpLength), f, 34,
                tcpLength)));
        Ipv4Packet.write(f, 14, 20 + tcpLength, 77, true, 64, 6, a, b, true);
        Ethernet.write(f, 0, 0x020000000002L, 0x020000000001L, Ethernet.TYPE_IPV4);
        byte[] packet = java.util.Arrays.copyOf(frame, 34 + tcpLength);
        Path pcap = dir.resolve("emitted.pcap");
        writePcap(pcap, List.of(packet));
        String fields = Command.check("tshark", "-r", pcap.toString(), "-o", "ip.check_checksum:TRUE",
                "-o", "tcp.check_checksum:TRUE", "-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e", "ip.dst",
                "-e", "ip.checksum.status", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.checksum.status",
                "-e", "tcp.options.mss_val", "-e", "tcp.options.wscale.shift", "-e", "tcp.options.timestamp.tsval",
                "-e", "tcp.len");
        String row = fields.lines().filter(l -> l.startsWith("10.")).findFirst().orElseThrow(() -> new AssertionError(fields));
        // checksum.status 1 is "Good" in tshark's expert info (0 bad, 2 unverified)
        assertEquals("10.1.2.3,10.4.5.6,1,1234,80,1,1460,7,4242,5", row, "tshark: " + fields);
    }

    private static void writePcap(Path file, List<byte[]> packets) throws IOException {
        try (OutputStream out = Files.newOutputStream(file)) {
            ByteBuffer header = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
            header.putInt(0xa1b2c3d4).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0).putInt(65535).putInt(1);
            out.write(header.array());
            for (byte[] p : packets) {
                ByteBuffer record = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
                record.putInt(0).putInt(0).putInt(p.length).putInt(p.length);
                out.write(record.array());
                out.write(p);
            }
        }
    }

    /** Random and mutated bytes through every check and parse: never an exception. */
    @Test
    void noInputMakesAViewThrow() {
        SplittableRandom r = new SplittableRandom(11);
        Ethernet eth = new Ethernet();
        ArpPacket arp = new ArpPacket();
        Ipv4Packet ip = new Ipv4Packet();
        Icmpv4Packet icmp = new Icmpv4Packet();
        TcpHeader tcp = new TcpHeader();
        TcpOptions o = new TcpOptions();
        byte[][] seeds = FRAMES.values().toArray(new byte[0][]);
        for (int i = 0; i < 20_000; i++) {
            byte[] data;
            if (i % 2 == 0) {
                data = new byte[r.nextInt(0, 120)];
                r.nextBytes(data);
            } else {
                byte[] seed = seeds[r.nextInt(seeds.length)];
                data = java.util.Arrays.copyOf(seed, r.nextInt(0, seed.length + 1));
                for (int k = r.nextInt(1, 6); k > 0 && data.length > 0; k--) {
                    data[r.nextInt(data.length)] = (byte) r.nextInt(256);
                }
            }
            MemorySegment s = MemorySegment.ofArray(data);
            int n = data.length;
            if (eth.wrap(s, 0, n) == CheckResult.OK) {
                eth.etherType();
            }
            if (arp.wrap(s, Math.min(14, n), n - Math.min(14, n)) == CheckResult.OK) {
                arp.senderAddress();
            }
            if (ip.wrap(s, Math.min(14, n), n - Math.min(14, n)) == CheckResult.OK) {
                ip.checksumValid();
                int off = 14 + ip.headerLength();
                int len = ip.totalLength() - ip.headerLength();
                if (tcp.wrap(s, off, len) == CheckResult.OK) {
                    tcp.parseOptions(o);
                }
                if (icmp.wrap(s, off, len) == CheckResult.OK) {
                    icmp.checksumValid();
                }
            }
            // views pointed at arbitrary offsets and lengths, including nonsense ones
            tcp.wrap(s, r.nextInt(-5, n + 5), r.nextInt(-5, n + 5));
            ip.wrap(s, r.nextInt(-5, n + 5), r.nextInt(-5, n + 5));
        }
    }
}
