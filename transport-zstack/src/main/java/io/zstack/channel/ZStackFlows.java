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

    /** Toeplitz hash of the IPv4/TCP 4-tuple in network order (Microsoft RSS specification). */
    static int toeplitz(int source, int destination, int sourcePort, int destinationPort) {
        byte[] input = {
            (byte) (source >>> 24), (byte) (source >>> 16), (byte) (source >>> 8), (byte) source,
            (byte) (destination >>> 24), (byte) (destination >>> 16), (byte) (destination >>> 8), (byte) destination,
            (byte) (sourcePort >>> 8), (byte) sourcePort, (byte) (destinationPort >>> 8), (byte) destinationPort};
        int result = 0;
        // the 32-bit window of the key that starts at each input bit
        long window = ((DEFAULT_KEY[0] & 0xffL) << 24) | ((DEFAULT_KEY[1] & 0xffL) << 16)
                | ((DEFAULT_KEY[2] & 0xffL) << 8) | (DEFAULT_KEY[3] & 0xffL);
        int nextKeyByte = 4;
        for (byte b : input) {
            long keyByte = DEFAULT_KEY[nextKeyByte++] & 0xffL;
            for (int bit = 7; bit >= 0; bit--) {
                if ((b & (1 << bit)) != 0) {
                    result ^= (int) window;
                }
                window = ((window << 1) | ((keyByte >>> bit) & 1)) & 0xffff_ffffL;
            }
        }
        return result;
    }
}
