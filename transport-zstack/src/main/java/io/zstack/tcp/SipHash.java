package io.zstack.tcp;

/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012) over 64-bit message words, for keyed hashes of 4-tuples: ISNs
 * (RFC 6528) and SYN cookies. Only whole little-endian words are hashed; {@link #hash(long, long, byte[])} covers
 * byte strings for the reference test vector.
 */
final class SipHash {
    private final long k0;
    private final long k1;

    SipHash(long k0, long k1) {
        this.k0 = k0;
        this.k1 = k1;
    }

    /** Hashes two message words (16 bytes). */
    long hash(long m0, long m1) {
        long v0 = k0 ^ 0x736f6d6570736575L;
        long v1 = k1 ^ 0x646f72616e646f6dL;
        long v2 = k0 ^ 0x6c7967656e657261L;
        long v3 = k1 ^ 0x7465646279746573L;
        long[] v = {v0, v1, v2, v3};
        compress(v, m0);
        compress(v, m1);
        compress(v, 16L << 56); // final block: length 16, no tail bytes
        return finish(v);
    }

    /** Reference SipHash-2-4 of a byte string (tests). */
    static long hash(long k0, long k1, byte[] message) {
        long[] v = {k0 ^ 0x736f6d6570736575L, k1 ^ 0x646f72616e646f6dL, k0 ^ 0x6c7967656e657261L,
            k1 ^ 0x7465646279746573L};
        int whole = message.length / 8 * 8;
        for (int i = 0; i < whole; i += 8) {
            long m = 0;
            for (int b = 7; b >= 0; b--) {
                m = (m << 8) | (message[i + b] & 0xff);
            }
            compress(v, m);
        }
        long last = ((long) message.length & 0xff) << 56;
        for (int b = message.length - 1; b >= whole; b--) {
            last |= (long) (message[b] & 0xff) << (8 * (b - whole));
        }
        compress(v, last);
        return finish(v);
    }

    private static void compress(long[] v, long m) {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    }

    private static long finish(long[] v) {
        v[2] ^= 0xff;
        round(v);
        round(v);
        round(v);
        round(v);
        return v[0] ^ v[1] ^ v[2] ^ v[3];
    }

    private static void round(long[] v) {
        v[0] += v[1];
        v[1] = Long.rotateLeft(v[1], 13);
        v[1] ^= v[0];
        v[0] = Long.rotateLeft(v[0], 32);
        v[2] += v[3];
        v[3] = Long.rotateLeft(v[3], 16);
        v[3] ^= v[2];
        v[0] += v[3];
        v[3] = Long.rotateLeft(v[3], 21);
        v[3] ^= v[0];
        v[2] += v[1];
        v[1] = Long.rotateLeft(v[1], 17);
        v[1] ^= v[2];
        v[2] = Long.rotateLeft(v[2], 32);
    }
}
