package io.zstack.ip;

import io.zstack.device.NetDevice;
import io.zstack.wire.Ipv4Packet;

/**
 * Where one flow's packets go (a TCP connection keeps one), worked out once and reused for every packet while it
 * still holds: the device, the next hop's MAC and the Ethernet header it makes, whether the device offloads the
 * checksums. {@link Ipv4Layer#send(Route, long, int, int, long)} uses it while the ARP table has not changed since
 * (its {@link ArpCache#version}) and the next hop's entry is still fresh (confirmed less than the reachable time ago,
 * when resolving it would neither ask again nor send a request); otherwise it works the route out again, and while
 * the next hop is unresolved or stale every packet takes the full path ({@link Ipv4Layer#send(int, int, int, long, int,
 * int, long)}), which queues it and asks ARP. Addresses and the device's capabilities do not change while a stack
 * runs; the MAC is the only part that can, and every change of it changes the table's version.
 *
 * <p>Made by {@link Ipv4Layer#route}; its fields belong to that layer.
 */
public final class Route {
    final int source;
    final int destination;
    final int protocol;

    /** {@link ArpCache#version} when this was worked out; -1: not (or no longer) usable. */
    long arpVersion = -1;
    /** Inside the stack (our own or a 127/8 address): no ARP, always fresh. */
    boolean local;
    NetDevice out;
    /** The neighbour the packets go to (the destination on the link, else the gateway); for a device route only. */
    int nextHop;
    /** The next hop's entry was confirmed then; fresh for {@link #reachableNanos} after. */
    long confirmedAt;
    long reachableNanos;
    /** Ethernet destination and source (48 bits each). */
    long destinationMac;
    long sourceMac;
    boolean offloadTransportChecksum;
    boolean offloadIpChecksum;
    /** The device's offloaded transport checksum is right for any chain ({@code txChecksumAnyChain}). */
    boolean offloadAnyChain;
    /** The largest TCP segment the device cuts up itself (TSO), 0 without. */
    int tsoBytes;
    /** The most mbufs a frame's chain may have on the device, 0: no limit. */
    int chain;

    Route(int source, int destination, int protocol) {
        this.source = source;
        this.destination = destination;
        this.protocol = protocol;
    }

    /** True while the packet may go by this route without asking routing and ARP again. */
    boolean usable(long arpTableVersion, long nowNanos) {
        return arpVersion == arpTableVersion && (local || nowNanos - confirmedAt < reachableNanos);
    }

    @Override
    public String toString() {
        return "Route(" + Ipv4Packet.addressText(destination) + (arpVersion < 0 ? " unresolved"
                : local ? " local" : " via " + Long.toHexString(destinationMac)) + ")";
    }
}
