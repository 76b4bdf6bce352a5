package io.zstack.wire;

import static io.zstack.wire.Layouts.U16;
import static io.zstack.wire.Layouts.U32;
import static io.zstack.wire.Layouts.U64;

import java.lang.foreign.MemorySegment;

/** Ethernet II header view (no FCS): destination, source, EtherType. */
public final class Ethernet {
    public static final int HEADER_LENGTH = 14;
    public static final int TYPE_IPV4 = 0x0800;
    public static final int TYPE_ARP = 0x0806;
    public static final int TYPE_VLAN = 0x8100;
    public static final int TYPE_IPV6 = 0x86DD;

    private MemorySegment segment;
    private long offset;

    /** Points the view at a frame of {@code length} bytes; TOO_SHORT if it cannot hold the header. */
    public CheckResult wrap(MemorySegment segment, long offset, int length) {
        this.segment = segment;
        this.offset = offset;
        return length >= HEADER_LENGTH && Layouts.inBounds(segment, offset, HEADER_LENGTH)
                ? CheckResult.OK : CheckResult.TOO_SHORT;
    }

    public long destination() {
        return readMac(segment, offset);
    }

    public long source() {
        return readMac(segment, offset + 6);
    }

    public int etherType() {
        return Short.toUnsignedInt(segment.get(U16, offset + 12));
    }

    /** Writes a whole header at {@code offset}. */
    public static void write(MemorySegment segment, long offset, long destination, long source, int etherType) {
        // three stores, not five: destination and the source's first two bytes, the source's last four, the type
        segment.set(U64, offset, ((destination & 0xffff_ffff_ffffL) << 16) | ((source >>> 32) & 0xffff));
        segment.set(U32, offset + 8, (int) source);
        segment.set(U16, offset + 12, (short) etherType);
    }

    /** A MAC address (48 bits in a long) at {@code offset}. */
    public static long readMac(MemorySegment segment, long offset) {
        return (Integer.toUnsignedLong(segment.get(U32, offset)) << 16) | Short.toUnsignedInt(segment.get(U16, offset + 4));
    }

    public static void writeMac(MemorySegment segment, long offset, long mac) {
        segment.set(U32, offset, (int) (mac >>> 16));
        segment.set(U16, offset + 4, (short) mac);
    }
}
