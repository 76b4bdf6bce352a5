package io.zstack.channel;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.channels.UnsupportedAddressTypeException;

/** Conversions between Java socket addresses and the stack's IPv4 addresses (host-order ints). */
final class ZStackAddresses {
    private ZStackAddresses() {
    }

    static InetSocketAddress checked(SocketAddress address) {
        if (!(address instanceof InetSocketAddress inet)) {
            throw new UnsupportedAddressTypeException();
        }
        if (inet.isUnresolved()) {
            throw new UnresolvedAddressException();
        }
        return inet;
    }

    /** The IPv4 address as an int; the stack is IPv4-only, so an IPv6 address is refused with a clear message. */
    static int toInt(InetAddress address) {
        if (address instanceof Inet4Address) {
            byte[] b = address.getAddress();
            return ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
        }
        if (address.isAnyLocalAddress()) {
            return 0; // "::" as a wildcard bind means every address, which for us is every IPv4 address
        }
        throw new IllegalArgumentException("ZStack is IPv4-only; cannot use " + address.getHostAddress());
    }

    static InetSocketAddress toSocketAddress(int address, int port) {
        byte[] b = {(byte) (address >>> 24), (byte) (address >>> 16), (byte) (address >>> 8), (byte) address};
        try {
            return new InetSocketAddress(InetAddress.getByAddress(b), port);
        } catch (UnknownHostException e) {
            throw new AssertionError(e); // four bytes are always a valid address
        }
    }
}
