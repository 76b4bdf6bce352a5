package io.zstack.wire;

import static io.zstack.wire.Layouts.U16;
import static io.zstack.wire.Layouts.U32;
import static io.zstack.wire.Layouts.U8;

import java.lang.foreign.MemorySegment;

/** ARP for IPv4 over Ethernet (RFC 826): the only kind the stack speaks; anything else fails the check. */
public final class ArpPacket {
    public static final int LENGTH = 28;
    public static final int REQUEST = 1;
    public static final int REPLY = 2;

    private MemorySegment segment;
    private long offset;

    public CheckResult wrap(MemorySegment segment, long offset, int length) {
        this.segment = segment;
        this.offset = offset;
        if (length < LENGTH || !Layouts.inBounds(segment, offset, LENGTH)) {
            return CheckResult.TOO_SHORT;
        }
        if (segment.get(U16, offset) != 1 || segment.get(U8, offset + 4) != 6) {
            return CheckResult.BAD_HARDWARE_TYPE;
        }
        if (segment.get(U16, offset + 2) != Ethernet.TYPE_IPV4 || segment.get(U8, offset + 5) != 4) {
            return CheckResult.BAD_PROTOCOL_TYPE;
        }
        int op = operation();
        return op == REQUEST || op == REPLY ? CheckResult.OK : CheckResult.BAD_OPERATION;
    }

    public int operation() {
        return Short.toUnsignedInt(segment.get(U16, offset + 6));
    }

    public long senderMac() {
        return Ethernet.readMac(segment, offset + 8);
    }

    public int senderAddress() {
        return segment.get(U32, offset + 14);
    }

    public long targetMac() {
        return Ethernet.readMac(segment, offset + 18);
    }

    public int targetAddress() {
        return segment.get(U32, offset + 24);
    }

    /** Writes a whole Ethernet/IPv4 ARP packet at {@code offset}. */
    public static void write(MemorySegment segment, long offset, int operation, long senderMac, int senderAddress,
                             long targetMac, int targetAddress) {
        segment.set(U16, offset, (short) 1);
        segment.set(U16, offset + 2, (short) Ethernet.TYPE_IPV4);
        segment.set(U8, offset + 4, (byte) 6);
        segment.set(U8, offset + 5, (byte) 4);
        segment.set(U16, offset + 6, (short) operation);
        Ethernet.writeMac(segment, offset + 8, senderMac);
        segment.set(U32, offset + 14, senderAddress);
        Ethernet.writeMac(segment, offset + 18, targetMac);
        segment.set(U32, offset + 24, targetAddress);
    }
}
