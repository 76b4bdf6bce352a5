package io.zstack.tcp;

/**
 * SYN cookies: when a listener's SYN backlog is full, its SYN-ACK carries all the state in the ISN, and the
 * connection is created only when the client's ACK returns it. Layout of the 32-bit cookie: top 5 bits a counter
 * of 64-second periods, next 3 bits an index into {@link #MSS_TABLE}, low 24 bits a keyed hash of the 4-tuple, the
 * client's ISN, the period and the MSS index. A cookie is accepted for two periods (64–128 s).
 *
 * <p>Simpler than Linux: window scaling, SACK and timestamps are not encoded, so cookie connections run without
 * them (the SYN-ACK offers only MSS).
 */
final class SynCookies {
    static final int[] MSS_TABLE = {536, 1220, 1300, 1400, 1440, 1460, 4312, 8960};
    private static final long PERIOD_NANOS = 64_000_000_000L;

    private final IsnGenerator keys;

    SynCookies(IsnGenerator keys) {
        this.keys = keys;
    }

    /**
     * The largest table MSS not above what the client offered; for an offer below 536, 536 itself (index 0), as
     * Linux's cookies do: every host must take 576-byte datagrams (RFC 9293 §3.7.1), so 536 is always deliverable.
     */
    static int mssIndex(int mss) {
        int index = 0;
        for (int i = 0; i < MSS_TABLE.length; i++) {
            if (MSS_TABLE[i] <= mss) {
                index = i;
            }
        }
        return index;
    }

    int make(int localAddress, int localPort, int remoteAddress, int remotePort, int clientIsn, int mss,
             long nowNanos) {
        int period = (int) (nowNanos / PERIOD_NANOS) & 0x1f;
        int index = mssIndex(mss);
        return (period << 27) | (index << 24)
                | hash(localAddress, localPort, remoteAddress, remotePort, clientIsn, period, index);
    }

    private int hash(int localAddress, int localPort, int remoteAddress, int remotePort, int clientIsn, int period,
                     int index) {
        long extra = (Integer.toUnsignedLong(clientIsn) << 8) ^ ((long) period << 3) ^ index;
        return (int) keys.keyed(localAddress, localPort, remoteAddress, remotePort, extra) & 0xffffff;
    }

    /**
     * Checks the cookie an ACK returned ({@code cookie} = SEG.ACK - 1, {@code clientIsn} = SEG.SEQ - 1); returns the
     * MSS it encodes, or -1 if it is not one of ours or too old.
     */
    int check(int localAddress, int localPort, int remoteAddress, int remotePort, int clientIsn, int cookie,
              long nowNanos) {
        int period = cookie >>> 27;
        int index = (cookie >>> 24) & 0x7;
        int current = (int) (nowNanos / PERIOD_NANOS) & 0x1f;
        int age = (current - period) & 0x1f;
        if (age > 1) {
            return -1;
        }
        if (hash(localAddress, localPort, remoteAddress, remotePort, clientIsn, period, index) != (cookie & 0xffffff)) {
            return -1;
        }
        return MSS_TABLE[index];
    }
}
