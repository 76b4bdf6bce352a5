package io.zstack.tcp;

/**
 * 32-bit sequence-number arithmetic (RFC 9293 §3.4): numbers are compared modulo 2^32 through their signed
 * difference, valid while they are less than 2^31 apart.
 */
public final class SeqNum {
    private SeqNum() {
    }

    public static boolean lt(int a, int b) {
        return a - b < 0;
    }

    public static boolean le(int a, int b) {
        return a - b <= 0;
    }

    public static boolean gt(int a, int b) {
        return a - b > 0;
    }

    public static boolean ge(int a, int b) {
        return a - b >= 0;
    }

    /** a - b as a signed distance. */
    public static int diff(int a, int b) {
        return a - b;
    }

    public static int max(int a, int b) {
        return gt(a, b) ? a : b;
    }

    public static int min(int a, int b) {
        return lt(a, b) ? a : b;
    }

    /** start <= seq < start + length, modulo 2^32 (length treated as unsigned, at most 2^31). */
    public static boolean inWindow(int seq, int start, int length) {
        return Integer.compareUnsigned(seq - start, length) < 0;
    }
}
