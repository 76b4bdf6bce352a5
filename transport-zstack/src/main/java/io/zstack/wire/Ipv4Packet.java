package io.zstack.wire;

import static io.zstack.wire.Layouts.U32;
import static io.zstack.wire.Layouts.U64;

import java.lang.foreign.MemorySegment;

/**
 * IPv4 header view (RFC 791). {@link #wrap} checks everything the stack relies on before a field is read:
 * version, header length within the buffer, total length between the header length and the buffer length (the
 * buffer may be longer: Ethernet pads short frames). Options are allowed and skipped.
 */
public final class Ipv4Packet {
    public static final int MIN_HEADER_LENGTH = 20;
    public static final int PROTOCOL_ICMP = 1;
    public static final int PROTOCOL_TCP = 6;
    public static final int PROTOCOL_UDP = 17;
    public static final int FLAG_DF = 0x4000;
    public static final int FLAG_MF = 0x2000;

    private MemorySegment segment;
    private long offset;
    /** The 20 bytes every header has, read once by {@link #wrap}: 0-7, 8-15 and 16-19. */
    private long word0;
    private long word1;
    private int destination;

    /**
     * Points the view at a packet of {@code length} bytes. The header must lie in {@code segment}; the rest of the
     * packet may continue elsewhere (further mbuf segments), so only {@code length} bounds the total length. The
     * fixed 20 bytes are read here, once, in three loads (every packet received asks for most of them, and for their
     * checksum): wrap again after changing them.
     */
    public CheckResult wrap(MemorySegment segment, long offset, int length) {
        this.segment = segment;
        this.offset = offset;
        if (length < MIN_HEADER_LENGTH || !Layouts.inBounds(segment, offset, MIN_HEADER_LENGTH)) {
            word0 = 0;
            word1 = 0;
            destination = 0;
            return CheckResult.TOO_SHORT;
        }
        word0 = segment.get(U64, offset);
        word1 = segment.get(U64, offset + 8);
        destination = segment.get(U32, offset + 16);
        int first = (int) (word0 >>> 56);
        if ((first >>> 4) != 4) {
            return CheckResult.BAD_VERSION;
        }
        int headerLength = (first & 0x0f) * 4;
        if (headerLength < MIN_HEADER_LENGTH || headerLength > length || !Layouts.inBounds(segment, offset, headerLength)) {
            return CheckResult.BAD_HEADER_LENGTH;
        }
        int total = totalLength();
        if (total < headerLength || total > length) {
            return CheckResult.BAD_TOTAL_LENGTH;
        }
        return CheckResult.OK;
    }

    public int headerLength() {
        return ((int) (word0 >>> 56) & 0x0f) * 4;
    }

    public int dscpEcn() {
        return (int) (word0 >>> 48) & 0xff;
    }

    public int totalLength() {
        return (int) (word0 >>> 32) & 0xffff;
    }

    public int identification() {
        return (int) (word0 >>> 16) & 0xffff;
    }

    /** Flags and fragment offset (in 8-byte units) as one 16-bit field. */
    public int flagsAndFragmentOffset() {
        return (int) word0 & 0xffff;
    }

    /** True for any fragment: more-fragments set or a non-zero offset. */
    public boolean isFragment() {
        return (flagsAndFragmentOffset() & (FLAG_MF | 0x1fff)) != 0;
    }

    public int ttl() {
        return (int) (word1 >>> 56) & 0xff;
    }

    public int protocol() {
        return (int) (word1 >>> 48) & 0xff;
    }

    public int checksum() {
        return (int) (word1 >>> 32) & 0xffff;
    }

    public int source() {
        return (int) word1;
    }

    public int destination() {
        return destination;
    }

    public boolean checksumValid() {
        int headerLength = headerLength();
        if (headerLength == MIN_HEADER_LENGTH) {
            // the usual header: summed from the words wrap read, in 32-bit halves (2^32 = 1 modulo 0xffff)
            long sum = (word0 >>> 32) + (word0 & 0xffff_ffffL) + (word1 >>> 32) + (word1 & 0xffff_ffffL)
                    + Integer.toUnsignedLong(destination);
            return Checksum.fold(sum) == 0xffff;
        }
        return Checksum.fold(Checksum.add(0, segment, offset, headerLength)) == 0xffff;
    }

    /** Writes a 20-byte header (no options) with its checksum, or with 0 in the checksum field if offloaded. */
    public static void write(MemorySegment segment, long offset, int totalLength, int identification, boolean dontFragment,
                             int ttl, int protocol, int source, int destination, boolean fillChecksum) {
        write(segment, offset, totalLength, identification, dontFragment ? FLAG_DF : 0, ttl, protocol, source,
                destination, fillChecksum);
    }

    /**
     * {@link #write}, with the whole flags and fragment offset field given ({@code flagsAndFragmentOffset}: DF, MF and
     * the offset in 8-byte units), as a fragment's header has it.
     */
    public static void write(MemorySegment segment, long offset, int totalLength, int identification,
                             int flagsAndFragmentOffset, int ttl, int protocol, int source, int destination,
                             boolean fillChecksum) {
        // three stores, not ten (each access of a segment is checked); the checksum summed from the values
        int fragmentField = flagsAndFragmentOffset & 0xffff;
        int checksum = fillChecksum
                ? headerChecksum(totalLength, identification, fragmentField, ttl, protocol, source, destination) : 0;
        segment.set(U64, offset, (0x45L << 56) | ((long) (totalLength & 0xffff) << 32)
                | ((long) (identification & 0xffff) << 16) | fragmentField);
        segment.set(U64, offset + 8, ((long) (ttl & 0xff) << 56) | ((long) (protocol & 0xff) << 48)
                | ((long) checksum << 32) | Integer.toUnsignedLong(source));
        segment.set(U32, offset + 16, destination);
    }

    /** The checksum field of the 20-byte header {@link #write} writes with these values. */
    public static int headerChecksum(int totalLength, int identification, boolean dontFragment, int ttl, int protocol,
                                     int source, int destination) {
        return headerChecksum(totalLength, identification, dontFragment ? FLAG_DF : 0, ttl, protocol, source,
                destination);
    }

    private static int headerChecksum(int totalLength, int identification, int flagsAndFragmentOffset, int ttl,
                                      int protocol, int source, int destination) {
        long sum = 0x4500L + (totalLength & 0xffff) + (identification & 0xffff) + (flagsAndFragmentOffset & 0xffff)
                + (((ttl & 0xff) << 8) | (protocol & 0xff)) + (source >>> 16) + (source & 0xffff)
                + (destination >>> 16) + (destination & 0xffff);
        return Checksum.finish(sum);
    }

    /** Dotted-quad text of an address held in an int. */
    public static String addressText(int a) {
        return (a >>> 24) + "." + ((a >>> 16) & 0xff) + "." + ((a >>> 8) & 0xff) + "." + (a & 0xff);
    }

    /** Parses a dotted quad into an int; IllegalArgumentException otherwise. */
    public static int parseAddress(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            throw new IllegalArgumentException("not an IPv4 address: " + text);
        }
        int a = 0;
        for (String p : parts) {
            int v;
            try {
                v = Integer.parseInt(p);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not an IPv4 address: " + text);
            }
            if (v < 0 || v > 255 || p.isEmpty() || p.length() > 3) {
                throw new IllegalArgumentException("not an IPv4 address: " + text);
            }
            a = (a << 8) | v;
        }
        return a;
    }
}
