package io.zstack.ip;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.LoopbackDevice;
import io.zstack.device.NetDevice;
import io.zstack.wire.TcpHeader;

/**
 * The ip tests' host: a device, a loopback and IPv4, without any transport above it, so the ip tests depend on
 * nothing above ip (LayeringTest). {@link #poll} runs a burst of each device through IPv4, then its upkeep and the
 * transmit queues. A packet for a protocol nobody registered is counted and dropped, as a host without it would.
 */
final class IpHost implements AutoCloseable {
    private final NetDevice device;
    private final NetDevice loopback;
    private final Ipv4Layer ip;
    private final MbufBurst rx = new MbufBurst(32);

    IpHost(NetDevice device, Ipv4Config config) {
        this.device = device;
        this.loopback = new LoopbackDevice("lo", device.pool(), 1024, 65535);
        this.ip = new Ipv4Layer(device, loopback, config, ArpCache.withDefaults());
    }

    Ipv4Layer ip() {
        return ip;
    }

    void poll(long nowNanos) {
        receive(device, nowNanos);
        ip.flushLoopback();
        receive(loopback, nowNanos);
        ip.poll(nowNanos);
        ip.flush();
    }

    private void receive(NetDevice from, long nowNanos) {
        int n = from.receive(rx);
        for (int i = 0; i < n; i++) {
            ip.input(from, rx.get(i), nowNanos);
        }
        rx.clear();
    }

    /**
     * Sends a bare TCP SYN header (20 bytes, no options) to {@code destination} through IPv4: what a connect hands
     * down, without TCP. IPv4 fills the checksum; without the next hop's MAC it waits for ARP.
     */
    boolean sendSyn(int destination, long nowNanos) {
        long m = device.pool().alloc();
        Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
        long at = Mbuf.append(m, TcpHeader.MIN_HEADER_LENGTH);
        TcpHeader.write(Mbuf.MEMORY, at, 40000, 80, 1, 0, TcpHeader.MIN_HEADER_LENGTH, 0x02, 65535);
        return ip.send(ip.sourceFor(destination), destination, 6, m, 16, TcpHeader.MIN_HEADER_LENGTH, nowNanos);
    }

    /** {@link #sendSyn} by a route (as a TCP connection sends its segments), with the same header. */
    boolean sendSyn(Route route, long nowNanos) {
        long m = device.pool().alloc();
        Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
        long at = Mbuf.append(m, TcpHeader.MIN_HEADER_LENGTH);
        TcpHeader.write(Mbuf.MEMORY, at, 40000, 80, 1, 0, TcpHeader.MIN_HEADER_LENGTH, 0x02, 65535);
        return ip.send(route, m, 16, TcpHeader.MIN_HEADER_LENGTH, nowNanos);
    }

    /** Frees what IPv4 holds and closes both devices. */
    @Override
    public void close() {
        ip.flush();
        ip.clear();
        loopback.close();
        device.close();
    }
}
