package io.zstack.wire;

import java.util.Locale;

/** A 48-bit Ethernet address, held in the low 48 bits of a long (most significant byte first on the wire). */
public final class MacAddress {
    public static final MacAddress BROADCAST = new MacAddress(0xffff_ffff_ffffL);
    public static final MacAddress ZERO = new MacAddress(0);

    private final long bits;

    private MacAddress(long bits) {
        this.bits = bits & 0xffff_ffff_ffffL;
    }

    public static MacAddress of(long bits) {
        return new MacAddress(bits);
    }

    public static MacAddress of(byte[] bytes) {
        if (bytes.length != 6) {
            throw new IllegalArgumentException("a MAC address has 6 bytes, not " + bytes.length);
        }
        long v = 0;
        for (byte b : bytes) {
            v = (v << 8) | (b & 0xff);
        }
        return new MacAddress(v);
    }

    /** Parses "02:00:00:00:00:01" (colons or dashes). */
    public static MacAddress parse(String text) {
        String[] parts = text.split("[:-]");
        if (parts.length != 6) {
            throw new IllegalArgumentException("not a MAC address: " + text);
        }
        long v = 0;
        for (String p : parts) {
            int b = Integer.parseInt(p, 16);
            if (p.length() > 2 || b > 0xff) {
                throw new IllegalArgumentException("not a MAC address: " + text);
            }
            v = (v << 8) | b;
        }
        return new MacAddress(v);
    }

    public long toLong() {
        return bits;
    }

    public byte[] toBytes() {
        byte[] out = new byte[6];
        for (int i = 0; i < 6; i++) {
            out[i] = (byte) (bits >>> (40 - 8 * i));
        }
        return out;
    }

    public boolean isBroadcast() {
        return bits == 0xffff_ffff_ffffL;
    }

    /** Group bit: the least significant bit of the first byte. */
    public boolean isMulticast() {
        return (bits & 0x0100_0000_0000L) != 0;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MacAddress other && other.bits == bits;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(bits);
    }

    @Override
    public String toString() {
        byte[] b = toBytes();
        return String.format(Locale.ROOT, "%02x:%02x:%02x:%02x:%02x:%02x",
                b[0] & 0xff, b[1] & 0xff, b[2] & 0xff, b[3] & 0xff, b[4] & 0xff, b[5] & 0xff);
    }
}
