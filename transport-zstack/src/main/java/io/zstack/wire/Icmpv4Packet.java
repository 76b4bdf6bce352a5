package io.zstack.wire;

import static io.zstack.wire.Layouts.U16;
import static io.zstack.wire.Layouts.U8;

import java.lang.foreign.MemorySegment;

/** ICMPv4 view (RFC 792): type, code, checksum, and the 4 bytes after (echo id/sequence, or next-hop MTU). */
public final class Icmpv4Packet {
    public static final int HEADER_LENGTH = 8;
    public static final int ECHO_REPLY = 0;
    public static final int DESTINATION_UNREACHABLE = 3;
    public static final int ECHO_REQUEST = 8;
    public static final int TIME_EXCEEDED = 11;
    public static final int CODE_NET_UNREACHABLE = 0;
    public static final int CODE_HOST_UNREACHABLE = 1;
    public static final int CODE_PROTOCOL_UNREACHABLE = 2;
    public static final int CODE_PORT_UNREACHABLE = 3;
    public static final int CODE_FRAGMENTATION_NEEDED = 4;

    private MemorySegment segment;
    private long offset;
    private int length;

    public CheckResult wrap(MemorySegment segment, long offset, int length) {
        this.segment = segment;
        this.offset = offset;
        this.length = length;
        return length >= HEADER_LENGTH && Layouts.inBounds(segment, offset, length)
                ? CheckResult.OK : CheckResult.TOO_SHORT;
    }

    public int type() {
        return segment.get(U8, offset) & 0xff;
    }

    public int code() {
        return segment.get(U8, offset + 1) & 0xff;
    }

    public int checksum() {
        return Short.toUnsignedInt(segment.get(U16, offset + 2));
    }

    public int echoIdentifier() {
        return Short.toUnsignedInt(segment.get(U16, offset + 4));
    }

    public int echoSequence() {
        return Short.toUnsignedInt(segment.get(U16, offset + 6));
    }

    /** Next-hop MTU of a fragmentation-needed message (RFC 1191). */
    public int nextHopMtu() {
        return Short.toUnsignedInt(segment.get(U16, offset + 6));
    }

    public int length() {
        return length;
    }

    /** Offset of the original datagram carried by an error message (after the 8-byte header). */
    public long embeddedOffset() {
        return offset + HEADER_LENGTH;
    }

    public boolean checksumValid() {
        return Checksum.fold(Checksum.add(0, segment, offset, length)) == 0xffff;
    }

    /** Turns an echo request into its reply in place: type 0, checksum updated incrementally (RFC 1624). */
    public void toEchoReply() {
        int oldWord = (type() << 8) | code();
        segment.set(U8, offset, (byte) ECHO_REPLY);
        segment.set(U16, offset + 2, (short) Checksum.update(checksum(), oldWord, code()));
    }

    /** Writes a header (payload must already be in place) and the checksum over header and payload. */
    public static void write(MemorySegment segment, long offset, int length, int type, int code, int restOfHeader) {
        segment.set(U8, offset, (byte) type);
        segment.set(U8, offset + 1, (byte) code);
        segment.set(U16, offset + 2, (short) 0);
        segment.set(Layouts.U32, offset + 4, restOfHeader);
        segment.set(U16, offset + 2, (short) Checksum.finish(Checksum.add(0, segment, offset, length)));
    }
}
