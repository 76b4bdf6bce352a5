package io.zstack.tcp;

import io.zstack.buffer.MbufBurst;
import io.zstack.device.LoopbackDevice;
import io.zstack.device.NetDevice;
import io.zstack.ip.ArpCache;
import io.zstack.ip.Ipv4Config;
import io.zstack.ip.Ipv4Layer;
import io.zstack.ip.ReceiveCoalescer;

/**
 * The TCP tests' host: a device, a loopback, IPv4 and TCP put together as the stack layer does, but from the layers
 * below it only, so the tcp tests depend on nothing above tcp (LayeringTest). One {@link #poll} runs a burst of each
 * device through IPv4 into TCP, then TCP's timers, then the transmit queues. Time is always passed in.
 */
final class TcpHost implements AutoCloseable {
    private final NetDevice device;
    private final NetDevice loopback;
    private final Ipv4Layer ip;
    private final TcpLayer tcp;
    private final MbufBurst rx = new MbufBurst(32);
    /** As NetStack: runs of one connection's segments in a burst reach IP and TCP merged. */
    private final ReceiveCoalescer coalescer;
    private boolean closed;

    TcpHost(NetDevice device, Ipv4Config config, TcpSettings tcpDefaults, IsnGenerator isns, long seed,
            long nowNanos) {
        this.device = device;
        this.loopback = new LoopbackDevice("lo", device.pool(), 1024, 65535);
        this.ip = new Ipv4Layer(device, loopback, config, ArpCache.withDefaults());
        this.tcp = new TcpLayer(ip, device.pool(), tcpDefaults, isns, seed, nowNanos);
        this.coalescer = new ReceiveCoalescer(ip.counters());
    }

    TcpLayer tcp() {
        return tcp;
    }

    Ipv4Layer ip() {
        return ip;
    }

    NetDevice device() {
        return device;
    }

    /** Input from both devices, then timers and output; returns the frames received. */
    int poll(long nowNanos) {
        int received = input(nowNanos);
        output(nowNanos);
        return received;
    }

    /** The input half of {@link #poll}, as an event loop's round runs it before the application's tasks. */
    int input(long nowNanos) {
        int received = receive(device, nowNanos);
        for (int round = 0; round < 4; round++) { // loopback frames this very poll produced, bounded
            ip.flushLoopback();
            int n = receive(loopback, nowNanos);
            received += n;
            if (n == 0) {
                break;
            }
        }
        return received;
    }

    /** The output half of {@link #poll}: owed ACKs, timers, then the transmit queues. */
    void output(long nowNanos) {
        tcp.poll(nowNanos);
        ip.poll(nowNanos);
        ip.flush();
    }

    private int receive(NetDevice from, long nowNanos) {
        int n = from.receive(rx);
        if (n > 0) {
            tcp.checkMemory();
        }
        int frames = from == device && n > 1 ? coalescer.coalesce(rx, n) : n;
        for (int i = 0; i < frames; i++) {
            ip.input(from, rx.get(i), nowNanos);
        }
        rx.clear();
        return n;
    }

    /** Resets every connection, sends the RSTs, frees everything and closes both devices. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        tcp.abortAll(System.nanoTime());
        ip.flush();
        ip.clear();
        loopback.close();
        device.close();
    }
}
