package io.zstack.channel;

/**
 * Which queue a flow reaches: the Toeplitz hash a NIC's RSS computes over (source address, destination address,
 * source port, destination port) of a received packet, with the well-known default key, then the hash modulo the
 * queue count (DPDK's default redirection table spreads hash values round-robin over the queues). An outgoing
 * connection picks its ephemeral port so that the peer's replies hash to its own loop's queue.
 */
final class ZStackFlows {
    /** The 40-byte RSS key most NICs and DPDK's examples default to. */
    static final byte[] DEFAULT_KEY = {
        0x6d, 0x5a, 0x56, (byte) 0xda, 0x25, 0x5b, 0x0e, (byte) 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, (byte) 0xa3,
        (byte) 0x8f, (byte) 0xb0, (byte) 0xd0, (byte) 0xca, 0x2b, (byte) 0xcb, (byte) 0xae, 0x7b, 0x30,
        (byte) 0xb4, 0x77, (byte) 0xcb, 0x2d, (byte) 0xa3, (byte) 0x80, 0x30, (byte) 0xf2, 0x0c, 0x6a, 0x42,
        (byte) 0xb7, 0x3b, (byte) 0xbe, (byte) 0xac, 0x01, (byte) 0xfa};

    private ZStackFlows() {
    }

    /** The queue a packet from remote to local reaches. */
    static int queueOf(int remoteAddress, int remotePort, int localAddress, int localPort, int queues) {
        int hash = toeplitz(remoteAddress, localAddress, remotePort, localPort);
        return Integer.remainderUnsigned(hash, queues);
    }

    /**
     * Toeplitz hash of the IPv4/TCP 4-tuple in network order (Microsoft RSS specification). Every received frame of
     * a multi-loop group is hashed (to find its owning loop), so the bitwise definition is folded into one table per
     * input byte: the hash is the XOR of twelve lookups.
     */
    static int toeplitz(int source, int destination, int sourcePort, int destinationPort) {
        int[] t = TABLE;
        return t[source >>> 24] ^ t[256 + ((source >>> 16) & 0xff)] ^ t[512 + ((source >>> 8) & 0xff)]
                ^ t[768 + (source & 0xff)]
                ^ t[1024 + (destination >>> 24)] ^ t[1280 + ((destination >>> 16) & 0xff)]
                ^ t[1536 + ((destination >>> 8) & 0xff)] ^ t[1792 + (destination & 0xff)]
                ^ t[2048 + ((sourcePort >>> 8) & 0xff)] ^ t[2304 + (sourcePort & 0xff)]
                ^ t[2560 + ((destinationPort >>> 8) & 0xff)] ^ t[2816 + (destinationPort & 0xff)];
    }

    /** For input byte i and value v, at [i * 256 + v]: the XOR of the key's 32-bit windows at v's set bits. */
    private static final int[] TABLE = buildTable();

    private static int[] buildTable() {
        int[] table = new int[12 * 256];
        for (int i = 0; i < 12; i++) {
            for (int v = 0; v < 256; v++) {
                int h = 0;
                for (int bit = 0; bit < 8; bit++) {
                    if ((v & (0x80 >>> bit)) != 0) {
                        h ^= keyWindow(i * 8 + bit);
                    }
                }
                table[i * 256 + v] = h;
            }
        }
        return table;
    }

    /** The 32 bits of the key starting at bit {@code start} (bit 0 is the first byte's top bit). */
    private static int keyWindow(int start) {
        int w = 0;
        for (int k = 0; k < 32; k++) {
            int bit = start + k;
            w = (w << 1) | ((DEFAULT_KEY[bit >>> 3] >>> (7 - (bit & 7))) & 1);
        }
        return w;
    }
}
