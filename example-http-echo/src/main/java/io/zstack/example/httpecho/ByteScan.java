package io.zstack.example.httpecho;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Finds a byte in a byte array eight bytes at a time, as C's {@code memchr} does with wide words: the C peer servers
 * scan request heads with {@code memchr}, and {@link LeanHttpEchoHandler}'s byte-at-a-time loops were most of its
 * parse time (perf, setup 2 at 64 B). The benchmark's load generator reads response heads with it too.
 */
public final class ByteScan {
    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101_0101_0101_0101L;
    private static final long HIGHS = 0x8080_8080_8080_8080L;

    private ByteScan() {
    }

    /** The first index in [from, to) of {@code b} in {@code a}, or -1. */
    public static int indexOf(byte[] a, byte b, int from, int to) {
        long pattern = ONES * (b & 0xff);
        int i = from;
        for (; i + Long.BYTES <= to; i += Long.BYTES) {
            long v = (long) LONGS.get(a, i) ^ pattern; // a zero byte where a[i + k] == b
            // high bit set in the lowest zero byte (bytes above it may be flagged by the borrow too, never below:
            // so the lowest flag is exact); little-endian, so the lowest byte is the first in the array
            long zeros = (v - ONES) & ~v & HIGHS;
            if (zeros != 0) {
                return i + (Long.numberOfTrailingZeros(zeros) >>> 3);
            }
        }
        for (; i < to; i++) {
            if (a[i] == b) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The length of the HTTP head ending in "\r\n\r\n" within a[0..to), or -1. The bytes before {@code from} were
     * searched already and hold no complete end; the end may still begin among their last three bytes.
     */
    static int headEnd(byte[] a, int from, int to) {
        for (int nl = indexOf(a, (byte) '\n', from, to); nl >= 0; nl = indexOf(a, (byte) '\n', nl + 1, to)) {
            if (nl >= 3 && a[nl - 1] == '\r' && a[nl - 2] == '\n' && a[nl - 3] == '\r') {
                return nl + 1;
            }
        }
        return -1;
    }
}
