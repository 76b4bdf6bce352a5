package io.zstack.wire;

import static io.zstack.wire.Layouts.U16;
import static io.zstack.wire.Layouts.U32;
import static io.zstack.wire.Layouts.U64;
import static io.zstack.wire.Layouts.U8;

import java.lang.foreign.MemorySegment;

/**
 * TCP header view (RFC 9293 §3.1) with its options. {@link #wrap} checks the data offset against the segment
 * length; {@link #parseOptions} walks the options and rejects malformed ones (bad length, running past the header)
 * without ever reading outside it.
 */
public final class TcpHeader {
    public static final int MIN_HEADER_LENGTH = 20;
    public static final int MAX_HEADER_LENGTH = 60;

    public static final int OPTION_END = 0;
    public static final int OPTION_NOP = 1;
    public static final int OPTION_MSS = 2;
    public static final int OPTION_WINDOW_SCALE = 3;
    public static final int OPTION_SACK_PERMITTED = 4;
    public static final int OPTION_SACK = 5;
    public static final int OPTION_TIMESTAMP = 8;

    private MemorySegment segment;
    private long offset;
    /** Bytes 0-7 (ports, sequence number) and 8-15 (ack, data offset, flags, window), read once by {@link #wrap}. */
    private long ports;
    private long ackAndControl;

    /**
     * Points the view at a TCP segment of {@code length} bytes (header and payload). The header must lie in
     * {@code segment}; the payload may continue in further mbuf segments. The fields of the first 16 bytes are read
     * here, once, in two loads (every segment received asks for all of them): wrap again after changing those bytes.
     */
    public CheckResult wrap(MemorySegment segment, long offset, int length) {
        this.segment = segment;
        this.offset = offset;
        if (length < MIN_HEADER_LENGTH || !Layouts.inBounds(segment, offset, MIN_HEADER_LENGTH)) {
            ports = 0;
            ackAndControl = 0;
            return CheckResult.TOO_SHORT;
        }
        ports = segment.get(U64, offset);
        ackAndControl = segment.get(U64, offset + 8);
        int headerLength = headerLength();
        if (headerLength < MIN_HEADER_LENGTH || headerLength > length || !Layouts.inBounds(segment, offset, headerLength)) {
            return CheckResult.BAD_DATA_OFFSET;
        }
        return CheckResult.OK;
    }

    public int sourcePort() {
        return (int) (ports >>> 48);
    }

    public int destinationPort() {
        return (int) (ports >>> 32) & 0xffff;
    }

    public int seq() {
        return (int) ports;
    }

    public int ack() {
        return (int) (ackAndControl >>> 32);
    }

    public int headerLength() {
        return ((int) (ackAndControl >>> 28) & 0x0f) * 4;
    }

    /** The eight flag bits (FIN = 0x01 ... CWR = 0x80). */
    public int flags() {
        return (int) (ackAndControl >>> 16) & 0xff;
    }

    public int window() {
        return (int) ackAndControl & 0xffff;
    }

    public int checksum() {
        return Short.toUnsignedInt(segment.get(U16, offset + 16));
    }

    public int urgentPointer() {
        return Short.toUnsignedInt(segment.get(U16, offset + 18));
    }

    /** NOP, NOP, timestamp kind and length: how the timestamp option alone is laid out (RFC 7323 Appendix A). */
    private static final int ALIGNED_TIMESTAMP = (OPTION_NOP << 24) | (OPTION_NOP << 16) | (OPTION_TIMESTAMP << 8) | 10;

    /** Parses the options into {@code out} (cleared first); BAD_OPTION for a malformed one. */
    public CheckResult parseOptions(TcpOptions out) {
        out.clear();
        int headerLength = headerLength();
        if (headerLength == MIN_HEADER_LENGTH + 12 && segment.get(U32, offset + MIN_HEADER_LENGTH) == ALIGNED_TIMESTAMP) {
            // the usual options of an established connection, read without the walk (as Linux's fast path does)
            long ts = segment.get(U64, offset + MIN_HEADER_LENGTH + 4);
            out.hasTimestamp = true;
            out.tsVal = (int) (ts >>> 32);
            out.tsEcr = (int) ts;
            return CheckResult.OK;
        }
        long i = offset + MIN_HEADER_LENGTH;
        long end = offset + headerLength;
        while (i < end) {
            int kind = segment.get(U8, i) & 0xff;
            if (kind == OPTION_END) {
                break;
            }
            if (kind == OPTION_NOP) {
                i++;
                continue;
            }
            if (i + 1 >= end) {
                return CheckResult.BAD_OPTION;
            }
            int len = segment.get(U8, i + 1) & 0xff;
            if (len < 2 || i + len > end) {
                return CheckResult.BAD_OPTION;
            }
            switch (kind) {
                case OPTION_MSS -> {
                    if (len != 4) {
                        return CheckResult.BAD_OPTION;
                    }
                    out.mss = Short.toUnsignedInt(segment.get(U16, i + 2));
                }
                case OPTION_WINDOW_SCALE -> {
                    if (len != 3) {
                        return CheckResult.BAD_OPTION;
                    }
                    out.windowScale = segment.get(U8, i + 2) & 0xff;
                }
                case OPTION_SACK_PERMITTED -> {
                    if (len != 2) {
                        return CheckResult.BAD_OPTION;
                    }
                    out.sackPermitted = true;
                }
                case OPTION_SACK -> {
                    if ((len - 2) % 8 != 0 || len == 2) {
                        return CheckResult.BAD_OPTION;
                    }
                    int blocks = Math.min((len - 2) / 8, TcpOptions.MAX_SACK_BLOCKS);
                    for (int b = 0; b < blocks; b++) {
                        out.sackStart[b] = segment.get(U32, i + 2 + 8L * b);
                        out.sackEnd[b] = segment.get(U32, i + 6 + 8L * b);
                    }
                    out.sackBlocks = blocks;
                }
                case OPTION_TIMESTAMP -> {
                    if (len != 10) {
                        return CheckResult.BAD_OPTION;
                    }
                    out.hasTimestamp = true;
                    out.tsVal = segment.get(U32, i + 2);
                    out.tsEcr = segment.get(U32, i + 6);
                }
                default -> out.unknown++;
            }
            i += len;
        }
        return CheckResult.OK;
    }

    /**
     * Writes a header at {@code offset} with the given options already in place after it (see
     * {@link #writeOptions}); the checksum field is left 0 for the IP layer to fill or offload.
     */
    public static void write(MemorySegment segment, long offset, int sourcePort, int destinationPort, int seq, int ack,
                             int headerLength, int flags, int window) {
        // three stores, not nine: every segment sent writes one, and each access of a segment is checked
        segment.set(U64, offset, ((long) (sourcePort & 0xffff) << 48) | ((long) (destinationPort & 0xffff) << 32)
                | Integer.toUnsignedLong(seq));
        segment.set(U64, offset + 8, (Integer.toUnsignedLong(ack) << 32) | ((long) ((headerLength / 4) << 4 & 0xff) << 24)
                | ((long) (flags & 0xff) << 16) | (window & 0xffff));
        segment.set(U32, offset + 16, 0); // checksum and urgent pointer
    }

    /**
     * The length {@link #writeOptions} writes for the same choices ({@code mss}: whether an MSS option goes in), so
     * a header can be placed before it is written (in front of a payload, in place).
     */
    public static int optionsLength(boolean mss, boolean windowScale, boolean sackPermitted, boolean timestamp,
                                    int sackBlocks) {
        int n = (mss ? 4 : 0) + (timestamp ? 12 : sackPermitted ? 4 : 0) + (windowScale ? 4 : 0);
        int blocks = Math.min(sackBlocks, (MAX_HEADER_LENGTH - MIN_HEADER_LENGTH - n - 4) / 8);
        return blocks > 0 ? n + 4 + 8 * blocks : n;
    }

    /**
     * Writes options at {@code offset} in the order Linux uses, padded with NOPs so each lands 4-byte aligned, and
     * returns their length (a multiple of 4, at most 40). Absent options: mss/windowScale &lt; 0, flags false,
     * sackBlocks 0. SACK blocks that do not fit are left out.
     */
    public static int writeOptions(MemorySegment segment, long offset, int mss, int windowScale, boolean sackPermitted,
                                   boolean timestamp, int tsVal, int tsEcr, int[] sackStart, int[] sackEnd,
                                   int sackBlocks) {
        if (timestamp && mss < 0 && windowScale < 0 && !sackPermitted && sackBlocks <= 0) {
            // what almost every segment of a connection carries (RFC 7323 Appendix A's layout), in two stores
            segment.set(U32, offset, ALIGNED_TIMESTAMP);
            segment.set(U64, offset + 4, (Integer.toUnsignedLong(tsVal) << 32) | Integer.toUnsignedLong(tsEcr));
            return 12;
        }
        long i = offset;
        if (mss >= 0) {
            segment.set(U8, i, (byte) OPTION_MSS);
            segment.set(U8, i + 1, (byte) 4);
            segment.set(U16, i + 2, (short) mss);
            i += 4;
        }
        if (timestamp) {
            if (sackPermitted) {
                segment.set(U8, i, (byte) OPTION_SACK_PERMITTED);
                segment.set(U8, i + 1, (byte) 2);
            } else {
                segment.set(U8, i, (byte) OPTION_NOP);
                segment.set(U8, i + 1, (byte) OPTION_NOP);
            }
            segment.set(U8, i + 2, (byte) OPTION_TIMESTAMP);
            segment.set(U8, i + 3, (byte) 10);
            segment.set(U32, i + 4, tsVal);
            segment.set(U32, i + 8, tsEcr);
            i += 12;
        } else if (sackPermitted) {
            segment.set(U8, i, (byte) OPTION_NOP);
            segment.set(U8, i + 1, (byte) OPTION_NOP);
            segment.set(U8, i + 2, (byte) OPTION_SACK_PERMITTED);
            segment.set(U8, i + 3, (byte) 2);
            i += 4;
        }
        if (windowScale >= 0) {
            segment.set(U8, i, (byte) OPTION_NOP);
            segment.set(U8, i + 1, (byte) OPTION_WINDOW_SCALE);
            segment.set(U8, i + 2, (byte) 3);
            segment.set(U8, i + 3, (byte) windowScale);
            i += 4;
        }
        int room = (int) (MAX_HEADER_LENGTH - MIN_HEADER_LENGTH - (i - offset));
        int blocks = Math.min(sackBlocks, (room - 4) / 8);
        if (blocks > 0) {
            segment.set(U8, i, (byte) OPTION_NOP);
            segment.set(U8, i + 1, (byte) OPTION_NOP);
            segment.set(U8, i + 2, (byte) OPTION_SACK);
            segment.set(U8, i + 3, (byte) (2 + 8 * blocks));
            for (int b = 0; b < blocks; b++) {
                segment.set(U32, i + 4 + 8L * b, sackStart[b]);
                segment.set(U32, i + 8 + 8L * b, sackEnd[b]);
            }
            i += 4 + 8L * blocks;
        }
        return (int) (i - offset);
    }
}
