package io.zstack.tcp;

import java.security.SecureRandom;

/**
 * Initial sequence numbers per RFC 6528: ISN = M + F(4-tuple, secret), M a clock ticking every 4 microseconds,
 * F a keyed hash (SipHash-2-4) so that an off-path attacker cannot predict another connection's ISN.
 */
public final class IsnGenerator {
    private final SipHash hash;

    public IsnGenerator() {
        SecureRandom random = new SecureRandom();
        this.hash = new SipHash(random.nextLong(), random.nextLong());
    }

    /** With a fixed key (tests and simulations that must replay). */
    public IsnGenerator(long key0, long key1) {
        this.hash = new SipHash(key0, key1);
    }

    public int isn(int localAddress, int localPort, int remoteAddress, int remotePort, long nowNanos) {
        long m = nowNanos / 4000;
        long f = hash.hash(((long) localAddress << 32) | Integer.toUnsignedLong(remoteAddress),
                ((long) localPort << 16) | remotePort);
        return (int) (m + f);
    }

    /**
     * The offset of a connection's timestamp clock (RFC 7323 §5.4): a keyed hash of the 4-tuple, so an observer
     * learns nothing about the host's clock from it, and a new connection reusing a tuple (a client cycling
     * through its ports) sends timestamps newer than the last incarnation's, as the peer's TIME_WAIT wants before
     * it lets the tuple go (a random offset per connection made half those SYNs look old: refused, a second lost).
     */
    public int timestampOffset(int localAddress, int localPort, int remoteAddress, int remotePort) {
        return (int) keyed(localAddress, localPort, remoteAddress, remotePort, TIMESTAMP_DOMAIN);
    }

    /** Separates {@link #timestampOffset}'s hashes from the ISNs' and the SYN cookies'. */
    private static final long TIMESTAMP_DOMAIN = 0x7473_6f66L;

    /** A keyed hash of the 4-tuple and an extra word (SYN cookies share the key). */
    long keyed(int localAddress, int localPort, int remoteAddress, int remotePort, long extra) {
        return hash.hash(((long) localAddress << 32) | Integer.toUnsignedLong(remoteAddress),
                (((long) localPort << 16) | remotePort) ^ (extra << 32));
    }
}
