package io.zstack.device;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.dpdk.DpdkPort;
import io.zstack.dpdk.Offloads;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.PortInfo;
import io.zstack.dpdk.PortStats;
import io.zstack.wire.MacAddress;

/**
 * One rx/tx queue pair of a DPDK port as a {@link NetDevice}. Received frames are mbufs of the pool the port
 * receives into; frames to send go to the NIC as they are (headers in the mbuf, offload requests in ol_flags).
 */
public final class DpdkPortDevice implements NetDevice {

    private final DpdkPort port;
    private final int queue;
    private final DpdkMbufPool pool;
    private final boolean ownsPort;
    private final MacAddress mac;
    private final int mtu;
    private final DeviceCapabilities capabilities;
    private final boolean prepareBeforeSend;
    private long txPrepareDrops;

    /**
     * rx_burst calls, those that returned frames, and tx_burst calls (the loop thread's, plain): frames per call is
     * how well a busy loop batches, and each call costs the PMD's look at its ring, a system call on af_xdp/af_packet.
     */
    private long receiveCalls;
    private long receiveBursts;
    private long transmitCalls;

    /**
     * A device over queue {@code queue} of a port that is configured and started. The pool must be the one the
     * port receives into on that queue.
     */
    public DpdkPortDevice(DpdkPort port, int queue, DpdkMbufPool pool) {
        this(port, queue, pool, false);
    }

    private DpdkPortDevice(DpdkPort port, int queue, DpdkMbufPool pool, boolean ownsPort) {
        if (!port.isStarted()) {
            throw new IllegalStateException(port + " is not started");
        }
        if (queue < 0 || queue >= port.rxQueues() || queue >= port.txQueues()) {
            throw new IllegalArgumentException(port + " has no queue " + queue);
        }
        this.port = port;
        this.queue = queue;
        this.pool = pool;
        this.ownsPort = ownsPort;
        PortInfo info = port.info();
        this.mac = MacAddress.of(info.macAddress());
        this.mtu = info.mtu();
        long rx = port.enabledRxOffloads();
        long tx = port.enabledTxOffloads();
        // TCP does not hand DPDK ports TSO segments: on the one port here that offers TSO (net_tap, which cuts them in
        // software), the kernel took none of the segments it made of them (TcpTapInteropTest, 2026-12-06). The kernel
        // TAP of KernelTapDevice takes them.
        this.capabilities = new DeviceCapabilities(
                (rx & Offloads.RX_IPV4_CKSUM) != 0 && (rx & Offloads.RX_TCP_CKSUM) != 0,
                (tx & Offloads.TX_IPV4_CKSUM) != 0,
                (tx & Offloads.TX_TCP_CKSUM) != 0,
                false,
                (tx & Offloads.TX_MULTI_SEGS) != 0,
                0,
                false); // net_tap's sum of a chain with an odd inner segment is wrong (Ipv4Layer.transportChecksum)
        this.prepareBeforeSend = (tx & (Offloads.TX_IPV4_CKSUM | Offloads.TX_TCP_CKSUM | Offloads.TX_TCP_TSO)) != 0;
    }

    /**
     * Probes a device from devargs (see {@code io.zstack.dpdk.Vdevs}), configures it with {@code config} to receive
     * into {@code pool}, starts it, and returns queue 0. Closing the device closes the port.
     */
    public static DpdkPortDevice open(String devargs, PortConfig config, DpdkMbufPool pool) {
        DpdkPort port = DpdkPort.probe(devargs);
        try {
            port.configure(config, pool.mempool().address());
            port.start();
            return new DpdkPortDevice(port, 0, pool, true);
        } catch (RuntimeException e) {
            port.close();
            throw e;
        }
    }

    public DpdkPort port() {
        return port;
    }

    public int queue() {
        return queue;
    }

    @Override
    public String name() {
        return port.name() + (queue == 0 ? "" : "/q" + queue);
    }

    @Override
    public int receive(MbufBurst burst) {
        int n = port.rxBurst(queue, burst.address(0), burst.capacity());
        burst.size(n);
        receiveCalls++;
        if (n > 0) {
            receiveBursts++;
        }
        return n;
    }

    @Override
    public int transmit(MbufBurst burst) {
        int sent = 0;
        while (burst.size() > 0) {
            int ready = burst.size();
            if (prepareBeforeSend) {
                ready = port.txPrepare(queue, burst.address(0), ready);
                if (ready == 0) {
                    // the PMD refuses this frame's offload request: it can never be sent, so drop and count it
                    pool.free(burst.get(0));
                    burst.removeFirst(1);
                    txPrepareDrops++;
                    continue;
                }
            }
            int n = port.txBurst(queue, burst.address(0), ready);
            transmitCalls++;
            burst.removeFirst(n);
            sent += n;
            if (n < ready) {
                break; // tx ring full: the rest stays with the caller
            }
        }
        return sent;
    }

    /** Frames dropped because the PMD's tx_prepare rejected their offload request. */
    public long txPrepareDrops() {
        return txPrepareDrops;
    }

    @Override
    public DeviceCapabilities capabilities() {
        return capabilities;
    }

    @Override
    public boolean transmitCallEntersKernel() {
        return port.transmitCallEntersKernel();
    }

    @Override
    public MacAddress macAddress() {
        return mac;
    }

    @Override
    public int mtu() {
        return mtu;
    }

    @Override
    public MbufPool pool() {
        return pool;
    }

    /** Closes the port if this device opened it (stopping it frees the mbufs in its rings). */
    @Override
    public void close() {
        if (ownsPort) {
            port.close();
        }
    }

    @Override
    public int mbufsKeptAfterClose() {
        return port.mbufsAbandonedAtClose();
    }

    /** The port's counters (all queues), read from DPDK. */
    @Override
    public String statistics() {
        PortStats s = port.stats();
        return "port " + port.id() + " queue " + queue + ": ipackets=" + s.ipackets() + " opackets=" + s.opackets()
                + " ibytes=" + s.ibytes() + " obytes=" + s.obytes() + " imissed=" + s.imissed() + " ierrors="
                + s.ierrors() + " oerrors=" + s.oerrors() + " rx_nombuf=" + s.rxNoMbuf() + " rxCalls=" + receiveCalls
                + " rxBursts=" + receiveBursts + " txCalls=" + transmitCalls;
    }

    @Override
    public String toString() {
        return "DpdkPortDevice(" + name() + ", " + mac + ", mtu " + mtu + ", " + capabilities + ")";
    }
}
