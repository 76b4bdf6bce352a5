package io.zstack.device;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.dpdk.DpdkPort;
import io.zstack.dpdk.Offloads;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.PortInfo;
import io.zstack.dpdk.PortStats;
import io.zstack.wire.Ethernet;
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
    static final String NET_TAP_DRIVER = "net_tap";
    /** The most segments net_tap's GSO cuts one frame into (its MAX_GSO_MBUFS): a larger frame it refuses. */
    private static final int TAP_GSO_SEGMENTS = 64;
    /**
     * net_tap: the most a TSO frame's segment size plus its headers (Ethernet's included) may be, its MTU; 0 on other
     * ports. See {@link #limitTsoSegments}.
     */
    private final int tapTsoFrameLimit;
    /** TSO frames whose segment size was lowered to what net_tap takes. */
    private long tsoSegmentsShortened;
    /**
     * Frames received are marked checksum-good, not summed again: on a memif link they were copied from the other
     * process's memory and never crossed a wire, so nothing on the way can have changed them, and the checksum would
     * prove nothing (Linux takes what crosses a veth unchecked for the same reason). Frames sent are still summed in
     * full: the peer (F-stack, VPP) may check them.
     */
    private final boolean trustReceivedChecksums;
    private static final long CHECKSUMS_GOOD = Mbuf.LAYOUT.rxIpChecksumGood | Mbuf.LAYOUT.rxL4ChecksumGood;
    private long txPrepareDrops;

    /**
     * How long tx_burst may take nothing with the same frame first in line before that frame is dropped and counted:
     * far above the time a ring takes to drain, so only a frame the PMD will not take reaches it.
     */
    static final long REFUSED_FRAME_NANOS = 10_000_000L;
    /** The frame first in line when tx_burst last took nothing (0: it took something since), and since when. */
    private long refusedHead;
    private long refusedSince;
    private long txRefusedDrops;

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
        long rx = port.enabledRxOffloads();
        long tx = port.enabledTxOffloads();
        // TSO on net_tap, the one port here that offers it, with the checksum offloads it implies. It cuts TSO
        // segments in software (DPDK's GSO, at most TAP_GSO_SEGMENTS a frame) and has two flaws the stack works
        // around: its sum of a chain is wrong when an inner mbuf has an odd length (txChecksumAnyChain false: the stack
        // sums such chains itself, and sends a TSO segment only as a chain of even pieces), and it refuses every TSO
        // frame whose segment size plus all headers, Ethernet's included, exceeds the MTU, so a full MSS (1448 + 14 +
        // 20 + 32 = 1514 > 1500) never passes: the stack is given a smaller MTU (below), and transmit still lowers any
        // larger segment size (limitTsoSegments). Not yet on NICs:
        // how many mbufs their TSO frames may have (tx_desc_lim) is not read, and none was here to test against.
        boolean netTap = NET_TAP_DRIVER.equals(info.driverName());
        boolean tso = netTap && (tx & Offloads.TX_TCP_TSO) != 0 && (tx & Offloads.TX_IPV4_CKSUM) != 0
                && (tx & Offloads.TX_TCP_CKSUM) != 0 && (tx & Offloads.TX_MULTI_SEGS) != 0;
        // the MTU the stack sizes its segments by: on net_tap with TSO the port's less the Ethernet header, because
        // its GSO counts that header in the MTU. Sized for the port's MTU, every TSO segment of whole 1,448-byte MSS
        // was cut by limitTsoSegments' 1,434 into 1,434s and a remainder: of an 8 MiB GET's 7,401 frames 1,491
        // carried 28 bytes. The allocator's segment-sized pieces follow the same MTU, so TSO segments stay whole
        // pieces; the peer is told an MSS 14 bytes lower and sends frames that fit the port as they did.
        this.mtu = tso ? info.mtu() - Ethernet.HEADER_LENGTH : info.mtu();
        this.capabilities = new DeviceCapabilities(
                (rx & Offloads.RX_IPV4_CKSUM) != 0 && (rx & Offloads.RX_TCP_CKSUM) != 0 || port.sharedMemoryLink(),
                (tx & Offloads.TX_IPV4_CKSUM) != 0,
                (tx & Offloads.TX_TCP_CKSUM) != 0,
                tso,
                (tx & Offloads.TX_MULTI_SEGS) != 0,
                tso ? Math.min(DeviceCapabilities.MAX_TSO_BYTES, TAP_GSO_SEGMENTS * (info.mtu() - Ethernet.HEADER_LENGTH - 20 - 60)) : 0,
                !netTap,
                0); // long chains of small pieces pass its GSO (TcpTapInteropTest)
        this.tapTsoFrameLimit = tso ? info.mtu() : 0; // a guard now: the stack's segments already fit
        this.prepareBeforeSend = (tx & (Offloads.TX_IPV4_CKSUM | Offloads.TX_TCP_CKSUM | Offloads.TX_TCP_TSO)) != 0;
        this.trustReceivedChecksums = port.sharedMemoryLink();
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
            if (trustReceivedChecksums) {
                for (int i = 0; i < n; i++) {
                    long m = burst.get(i);
                    Mbuf.setOlFlags(m, Mbuf.olFlags(m) | CHECKSUMS_GOOD);
                }
            }
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
            if (tapTsoFrameLimit > 0) {
                limitTsoSegments(burst, ready);
            }
            int n = port.txBurst(queue, burst.address(0), ready);
            transmitCalls++;
            burst.removeFirst(n);
            sent += n;
            if (n > 0) {
                refusedHead = 0;
            } else if (refusedTooLong(burst.get(0))) {
                pool.free(burst.get(0));
                burst.removeFirst(1);
                txRefusedDrops++;
                continue;
            }
            if (n < ready) {
                break; // tx ring full: the rest stays with the caller
            }
        }
        return sent;
    }

    /**
     * Lowers the segment size of the TSO frames among the first {@code count} of {@code burst} to what net_tap takes:
     * at most its MTU with every header, Ethernet's included, and even, so that with a chain of even pieces every
     * piece of every segment it cuts stays even (its checksum's flaw). The peer's TCP takes segments shorter than the
     * MSS as any others; 14 bytes less per segment is the cost.
     */
    private void limitTsoSegments(MbufBurst burst, int count) {
        long tsoFlag = Mbuf.LAYOUT.txTcpSegmentation;
        for (int i = 0; i < count; i++) {
            long m = burst.get(i);
            if ((Mbuf.olFlags(m) & tsoFlag) == 0) {
                continue;
            }
            int headers = Mbuf.transportHeaderOffset(m) + Mbuf.transportHeaderLength(m);
            int most = (tapTsoFrameLimit - headers) & ~1;
            if (Mbuf.tsoSegmentSize(m) > most) {
                Mbuf.setTsoSegmentSize(m, most);
                tsoSegmentsShortened++;
            }
        }
    }

    /** TSO frames whose segment size {@link #limitTsoSegments} lowered (net_tap only). */
    public long tsoSegmentsShortened() {
        return tsoSegmentsShortened;
    }

    /**
     * True when tx_burst has taken nothing, {@code head} first in line, for {@link #REFUSED_FRAME_NANOS}. A ring stays
     * full for microseconds; a PMD that stops at a frame it will never send (net_tap does, for a frame it cannot
     * write, and counts it in oerrors) would otherwise hold it, and everything queued behind it, forever.
     */
    private boolean refusedTooLong(long head) {
        long now = System.nanoTime();
        if (head != refusedHead) {
            refusedHead = head;
            refusedSince = now;
            return false;
        }
        return now - refusedSince >= REFUSED_FRAME_NANOS;
    }

    /** Frames dropped because tx_burst took nothing with them first in line for {@link #REFUSED_FRAME_NANOS}. */
    public long txRefusedDrops() {
        return txRefusedDrops;
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
                + " rxBursts=" + receiveBursts + " txCalls=" + transmitCalls + " txRefusedDrops=" + txRefusedDrops
                + " txPrepareDrops=" + txPrepareDrops + " tsoSegmentsShortened=" + tsoSegmentsShortened;
    }

    @Override
    public String toString() {
        return "DpdkPortDevice(" + name() + ", " + mac + ", mtu " + mtu + ", " + capabilities + ")";
    }
}
