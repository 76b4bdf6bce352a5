package io.zstack.wire;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Network-byte-order unaligned layouts shared by every view; static finals so the JIT constant-folds them. */
final class Layouts {
    static final ValueLayout.OfByte U8 = ValueLayout.JAVA_BYTE;
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private Layouts() {
    }

    /**
     * True when [offset, offset+length) lies inside the segment. Written so that it cannot overflow
     * and never throws, whatever the arguments.
     */
    static boolean inBounds(MemorySegment segment, long offset, long length) {
        return segment != null && offset >= 0 && length >= 0 && length <= segment.byteSize() - offset;
    }
}
