package io.zstack.ip;

import io.zstack.wire.Ipv4Packet;

/**
 * An interface's IPv4 configuration: address and prefix (the connected subnet), default gateway (0 for none).
 * Addresses are ints, most significant byte first (10.0.0.1 is 0x0A000001).
 */
public record Ipv4Config(int address, int prefixLength, int gateway) {
    public Ipv4Config {
        if (prefixLength < 0 || prefixLength > 32) {
            throw new IllegalArgumentException("prefix length " + prefixLength);
        }
        if (gateway != 0 && !sameSubnet(address, gateway, prefixLength)) {
            throw new IllegalArgumentException("gateway " + Ipv4Packet.addressText(gateway) + " is not in "
                    + Ipv4Packet.addressText(address) + "/" + prefixLength);
        }
    }

    /** Parses "10.0.0.2/24" and an optional gateway ("" or null for none). */
    public static Ipv4Config parse(String cidr, String gateway) {
        int slash = cidr.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("expected ADDRESS/PREFIX, got " + cidr);
        }
        return new Ipv4Config(Ipv4Packet.parseAddress(cidr.substring(0, slash)),
                Integer.parseInt(cidr.substring(slash + 1)),
                gateway == null || gateway.isEmpty() ? 0 : Ipv4Packet.parseAddress(gateway));
    }

    public int netmask() {
        return prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
    }

    public boolean onLink(int destination) {
        return sameSubnet(address, destination, prefixLength);
    }

    /** The subnet's broadcast address. */
    public int broadcast() {
        return address | ~netmask();
    }

    private static boolean sameSubnet(int a, int b, int prefixLength) {
        int mask = prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
        return (a & mask) == (b & mask);
    }

    @Override
    public String toString() {
        return Ipv4Packet.addressText(address) + "/" + prefixLength
                + (gateway != 0 ? " via " + Ipv4Packet.addressText(gateway) : "");
    }
}
