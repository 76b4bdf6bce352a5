package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.junit.jupiter.api.Test;

/**
 * SipHash-2-4 against the known answers of its reference implementation: {@code vectors_sip64} in vectors.h of
 * https://github.com/veorq/SipHash (the authors' C code, as in Appendix A of the paper "SipHash: a fast short-input
 * PRF", Aumasson and Bernstein, 2012). Key: the bytes 00..0f; message number i: the bytes 00..i-1; answer: the
 * 64-bit hash as 8 little-endian bytes.
 */
class SipHashTest {
    /** vectors_sip64[0..16] and [63], byte for byte as the reference lists them. */
    private static final int[][] VECTORS = {
        {0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72},
        {0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74},
        {0x5a, 0x4f, 0xa9, 0xd9, 0x09, 0x80, 0x6c, 0x0d},
        {0x2d, 0x7e, 0xfb, 0xd7, 0x96, 0x66, 0x67, 0x85},
        {0xb7, 0x87, 0x71, 0x27, 0xe0, 0x94, 0x27, 0xcf},
        {0x8d, 0xa6, 0x99, 0xcd, 0x64, 0x55, 0x76, 0x18},
        {0xce, 0xe3, 0xfe, 0x58, 0x6e, 0x46, 0xc9, 0xcb},
        {0x37, 0xd1, 0x01, 0x8b, 0xf5, 0x00, 0x02, 0xab},
        {0x62, 0x24, 0x93, 0x9a, 0x79, 0xf5, 0xf5, 0x93},
        {0xb0, 0xe4, 0xa9, 0x0b, 0xdf, 0x82, 0x00, 0x9e},
        {0xf3, 0xb9, 0xdd, 0x94, 0xc5, 0xbb, 0x5d, 0x7a},
        {0xa7, 0xad, 0x6b, 0x22, 0x46, 0x2f, 0xb3, 0xf4},
        {0xfb, 0xe5, 0x0e, 0x86, 0xbc, 0x8f, 0x1e, 0x75},
        {0x90, 0x3d, 0x84, 0xc0, 0x27, 0x56, 0xea, 0x14},
        {0xee, 0xf2, 0x7a, 0x8e, 0x90, 0xca, 0x23, 0xf7},
        {0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1},
        {0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f},
    };
    private static final int[] VECTOR_63 = {0x72, 0x45, 0x06, 0xeb, 0x4c, 0x32, 0x8a, 0x95};
    private static final long K0 = littleEndian(bytes(0, 8));
    private static final long K1 = littleEndian(bytes(8, 16));

    @Test
    void byteStringsOfEveryTailLengthMatchTheReference() {
        for (int length = 0; length < VECTORS.length; length++) {
            assertEquals(littleEndian(VECTORS[length]), SipHash.hash(K0, K1, toBytes(bytes(0, length))),
                    "message of " + length + " bytes");
        }
        assertEquals(littleEndian(VECTOR_63), SipHash.hash(K0, K1, toBytes(bytes(0, 63))), "message of 63 bytes");
    }

    /** The paper's worked example: 15 bytes 00..0e under key 00..0f hash to a129ca6149be45e5. */
    @Test
    void thePapersExample() {
        assertEquals(0xa129ca6149be45e5L, SipHash.hash(K0, K1, toBytes(bytes(0, 15))));
    }

    /** The two-word form the stack uses (ISNs, SYN cookies) is the 16-byte message, words little-endian. */
    @Test
    void twoWordsAreTheSixteenByteMessage() {
        long m0 = littleEndian(bytes(0, 8));
        long m1 = littleEndian(bytes(8, 16));
        assertEquals(littleEndian(VECTORS[16]), new SipHash(K0, K1).hash(m0, m1));
    }

    @Test
    void anotherKeyGivesAnotherHash() {
        assertNotEquals(new SipHash(K0, K1).hash(1, 2), new SipHash(K0 ^ 1, K1).hash(1, 2));
        assertNotEquals(new SipHash(K0, K1).hash(1, 2), new SipHash(K0, K1 ^ (1L << 63)).hash(1, 2));
    }

    /** The bytes from..to-1 of the reference's counting sequence (byte i is i). */
    private static int[] bytes(int from, int to) {
        int[] out = new int[to - from];
        for (int i = 0; i < out.length; i++) {
            out[i] = from + i;
        }
        return out;
    }

    private static byte[] toBytes(int[] values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }

    private static long littleEndian(int[] eight) {
        long v = 0;
        for (int i = 7; i >= 0; i--) {
            v = (v << 8) | (eight[i] & 0xff);
        }
        return v;
    }
}
