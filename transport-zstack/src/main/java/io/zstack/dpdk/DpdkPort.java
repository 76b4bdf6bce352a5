package io.zstack.dpdk;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * An ethdev port: any PMD, a real NIC or a vdev. Created by hot-plugging a vdev ({@link #probe}) or by name for
 * a device EAL already found ({@link #byName}); configured with queues and offloads, started, polled with
 * {@link #rxBurst}/{@link #txBurst}, and closed (stop, close, device removed).
 *
 * <p>Bursts take the native address of an array of mbuf pointers ({@code MbufBurst.address(i)} on the buffer
 * side). A queue must be polled by one thread at a time, as DPDK requires.
 */
public final class DpdkPort implements AutoCloseable {
    private static final class InfoLayout {
        static final LayoutTable T = LayoutTable.fromShim();
        static final long SIZE = T.constant("port_info.sizeof");
        static final int RX_CAPA = T.offset("port_info.rx_offload_capa", 8);
        static final int TX_CAPA = T.offset("port_info.tx_offload_capa", 8);
        static final int RSS = T.offset("port_info.flow_type_rss_offloads", 8);
        static final int MAX_RXQ = T.offset("port_info.max_rx_queues", 4);
        static final int MAX_TXQ = T.offset("port_info.max_tx_queues", 4);
        static final int MIN_MTU = T.offset("port_info.min_mtu", 4);
        static final int MAX_MTU = T.offset("port_info.max_mtu", 4);
        static final int MAX_RX_PKTLEN = T.offset("port_info.max_rx_pktlen", 4);
        static final int IF_INDEX = T.offset("port_info.if_index", 4);
        static final int LINK_SPEED = T.offset("port_info.link_speed", 4);
        static final int MTU = T.offset("port_info.mtu", 2);
        static final int LINK_UP = T.offset("port_info.link_up", 1);
        static final int FULL_DUPLEX = T.offset("port_info.link_full_duplex", 1);
        static final int SOCKET = T.offset("port_info.socket_id", 4);
        static final int MAC = T.offset("port_info.mac", 6);
        static final int DRIVER = T.offset("port_info.driver_name", 64);
        static final int DEVICE = T.offset("port_info.device_name", 64);
        static final long STATS_SIZE = T.constant("port_stats.sizeof");
        static final int[] STATS = {
            T.offset("port_stats.ipackets", 8), T.offset("port_stats.opackets", 8), T.offset("port_stats.ibytes", 8),
            T.offset("port_stats.obytes", 8), T.offset("port_stats.imissed", 8), T.offset("port_stats.ierrors", 8),
            T.offset("port_stats.oerrors", 8), T.offset("port_stats.rx_nombuf", 8),
        };
    }

    private final short port;
    private final String name;
    private final boolean hotplugged;
    private int rxQueues;
    private int txQueues;
    private long enabledRxOffloads;
    private long enabledTxOffloads;
    private boolean started;
    /** The af_xdp PMD: its pool must be packed (see {@link Mempool}), and it keeps mbufs after close. */
    public static final String AF_XDP_DRIVER = "net_af_xdp";

    private int mbufsTakenAtSetup;
    private boolean keepsMbufsAfterClose;
    private boolean closed;

    private DpdkPort(int port, String name, boolean hotplugged) {
        this.port = (short) port;
        this.name = name;
        this.hotplugged = hotplugged;
    }

    /**
     * Creates a device from devargs (see {@link Vdevs}) and opens its port. EAL is initialised with defaults
     * first if nobody did. A tap device appears in the network namespace of the calling thread.
     */
    public static DpdkPort probe(String devargs) {
        Eal.ensureInitialized();
        String name = Vdevs.deviceName(devargs);
        int rc;
        try (Arena arena = Arena.ofConfined()) {
            rc = Shim.devProbe(arena.allocateFrom(devargs), arena.allocateFrom(name));
        }
        if (rc < 0) {
            String hint;
            if (!hasNetAdmin()) {
                // PMDs report a refused TUNSETIFF or packet socket as EINVAL or EPERM: say what is really missing
                hint = " (this process lacks CAP_NET_ADMIN, which tap, af_packet and af_xdp ports need: run as root)";
            } else {
                hint = switch (-rc) {
                    case 17 -> " (a device named " + name + " exists already)";
                    // af_packet answers a missing interface with EPERM (its probe returns -1), even to root
                    case 19, 2, 1 -> " (no such driver or interface: is the PMD installed, and does the interface "
                            + "exist in this network namespace?)";
                    default -> "";
                };
            }
            throw new DpdkException("probing device " + devargs + hint, -rc);
        }
        return new DpdkPort(rc, name, true);
    }

    /** Whether this process holds CAP_NET_ADMIN (bit 12 of CapEff in /proc/self/status); true if it cannot tell. */
    static boolean hasNetAdmin() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    return (Long.parseUnsignedLong(line.substring(7).trim(), 16) & (1L << 12)) != 0;
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            return true;
        }
        return true;
    }

    /** Opens a port EAL already knows (a PCI NIC allowed in {@link EalConfig}, or a vdev given at init). */
    public static DpdkPort byName(String name) {
        Eal.ensureInitialized();
        int rc;
        try (Arena arena = Arena.ofConfined()) {
            rc = Shim.portByName(arena.allocateFrom(name));
        }
        if (rc < 0) {
            throw new DpdkException("finding port " + name + " (" + Shim.portCount() + " ports available)", -rc);
        }
        return new DpdkPort(rc, name, false);
    }

    /** Number of ports DPDK has now. */
    public static int count() {
        Eal.ensureInitialized();
        return Shim.portCount();
    }

    public int id() {
        return Short.toUnsignedInt(port);
    }

    public String name() {
        return name;
    }

    public PortInfo info() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(InfoLayout.SIZE, 8);
            DpdkException.check("rte_eth_dev_info_get(" + name + ")", Shim.portInfo(port, s));
            byte[] mac = new byte[6];
            MemorySegment.copy(s, JAVA_BYTE, InfoLayout.MAC, mac, 0, 6);
            return new PortInfo(id(),
                    s.asSlice(InfoLayout.DEVICE, 64).getString(0),
                    s.asSlice(InfoLayout.DRIVER, 64).getString(0),
                    mac,
                    Short.toUnsignedInt(s.get(JAVA_SHORT, InfoLayout.MTU)),
                    s.get(JAVA_INT, InfoLayout.MIN_MTU),
                    s.get(JAVA_INT, InfoLayout.MAX_MTU),
                    s.get(JAVA_INT, InfoLayout.MAX_RX_PKTLEN),
                    s.get(JAVA_INT, InfoLayout.MAX_RXQ),
                    s.get(JAVA_INT, InfoLayout.MAX_TXQ),
                    s.get(JAVA_LONG, InfoLayout.RX_CAPA),
                    s.get(JAVA_LONG, InfoLayout.TX_CAPA),
                    s.get(JAVA_LONG, InfoLayout.RSS),
                    s.get(JAVA_INT, InfoLayout.IF_INDEX),
                    s.get(JAVA_INT, InfoLayout.SOCKET),
                    s.get(JAVA_BYTE, InfoLayout.LINK_UP) != 0,
                    s.get(JAVA_INT, InfoLayout.LINK_SPEED),
                    s.get(JAVA_BYTE, InfoLayout.FULL_DUPLEX) != 0);
        }
    }

    /**
     * Configures queues and offloads, receiving into {@code mempoolAddress} (an rte_mempool). Requested offloads
     * the port lacks are dropped; RSS is enabled with more than one rx queue when the port offers IPv4/TCP hashing.
     */
    public void configure(PortConfig config, long mempoolAddress) {
        checkOpen();
        if (started) {
            throw new IllegalStateException("port " + name + " is started; stop it before configuring");
        }
        PortInfo info = info();
        if (config.rxQueues() > info.maxRxQueues() || config.txQueues() > info.maxTxQueues()) {
            throw new IllegalArgumentException("port " + name + " has at most " + info.maxRxQueues() + " rx and "
                    + info.maxTxQueues() + " tx queues; asked for " + config.rxQueues() + "/" + config.txQueues());
        }
        long rx = 0;
        long tx = 0;
        if (config.checksumOffload()) {
            rx |= Offloads.RX_IPV4_CKSUM | Offloads.RX_TCP_CKSUM;
            tx |= Offloads.TX_IPV4_CKSUM | Offloads.TX_TCP_CKSUM;
        }
        if (config.tso()) {
            tx |= Offloads.TX_TCP_TSO;
        }
        if (config.multiSegments()) {
            tx |= Offloads.TX_MULTI_SEGS;
        }
        long rss = 0;
        if (config.rss() && config.rxQueues() > 1) {
            rss = info.rssHashFunctions() & (Offloads.RSS_IP | Offloads.RSS_TCP);
            rx |= Offloads.RX_RSS_HASH;
        }
        rx &= info.rxOffloadCapabilities();
        tx &= info.txOffloadCapabilities();
        int inUseBefore = Shim.poolInUse(mempoolAddress);
        int rc = Shim.portConfigure(port, (short) config.rxQueues(), (short) config.txQueues(),
                (short) config.rxDescriptors(), (short) config.txDescriptors(), rx, tx, rss, (short) config.mtu(),
                mempoolAddress);
        DpdkException.check("configuring port " + name, rc);
        mbufsTakenAtSetup = Shim.poolInUse(mempoolAddress) - inUseBefore;
        keepsMbufsAfterClose = AF_XDP_DRIVER.equals(info.driverName());
        rxQueues = config.rxQueues();
        txQueues = config.txQueues();
        enabledRxOffloads = rx;
        enabledTxOffloads = tx;
        if (config.promiscuous()) {
            // some PMDs (tap) cannot switch promiscuity; frames to our MAC arrive either way
            Shim.portPromiscuous(port, 1);
        }
    }

    /**
     * Mbufs the driver took from the pool while its queues were set up: a tap's rx ring, af_xdp's fill ring. Most
     * drivers give them back at close; see {@link #keepsMbufsAfterClose}.
     */
    public int mbufsTakenAtSetup() {
        return mbufsTakenAtSetup;
    }

    /**
     * True for net_af_xdp: DPDK 22.11 abandons the mbufs of its fill ring (and of its last transmit burst) when it
     * closes, so its pool never sees them again; not a leak of the stack's, but the pool cannot be freed.
     */
    public boolean keepsMbufsAfterClose() {
        return keepsMbufsAfterClose;
    }

    public long enabledRxOffloads() {
        return enabledRxOffloads;
    }

    public long enabledTxOffloads() {
        return enabledTxOffloads;
    }

    public int rxQueues() {
        return rxQueues;
    }

    public int txQueues() {
        return txQueues;
    }

    public void start() {
        checkOpen();
        if (rxQueues == 0) {
            throw new IllegalStateException("port " + name + " is not configured");
        }
        DpdkException.check("starting port " + name, Shim.portStart(port));
        started = true;
    }

    public void stop() {
        if (started && !closed) {
            Shim.portStop(port);
            started = false;
        }
    }

    public boolean isStarted() {
        return started;
    }

    public void setMtu(int mtu) {
        checkOpen();
        DpdkException.check("setting MTU " + mtu + " on " + name, Shim.portSetMtu(port, (short) mtu));
    }

    public PortStats stats() {
        checkOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(InfoLayout.STATS_SIZE, 8);
            DpdkException.check("rte_eth_stats_get(" + name + ")", Shim.portStats(port, s));
            int[] o = InfoLayout.STATS;
            return new PortStats(s.get(JAVA_LONG, o[0]), s.get(JAVA_LONG, o[1]), s.get(JAVA_LONG, o[2]),
                    s.get(JAVA_LONG, o[3]), s.get(JAVA_LONG, o[4]), s.get(JAVA_LONG, o[5]), s.get(JAVA_LONG, o[6]),
                    s.get(JAVA_LONG, o[7]));
        }
    }

    public void resetStats() {
        checkOpen();
        DpdkException.check("rte_eth_stats_reset(" + name + ")", Shim.portStatsReset(port));
    }

    /** Receives up to {@code n} mbufs into the pointer array at {@code array}; returns how many. */
    public int rxBurst(int queue, long array, int n) {
        return Shim.rxBurst(port, (short) queue, array, (short) n);
    }

    /**
     * Hands up to {@code n} mbufs at {@code array} to the port; returns how many it took. Those now belong to the
     * port (freed once sent); the rest still belong to the caller.
     */
    public int txBurst(int queue, long array, int n) {
        return Shim.txBurst(port, (short) queue, array, (short) n);
    }

    /** Lets the PMD check and fix up offload requests (pseudo-header checksums) before {@link #txBurst}. */
    public int txPrepare(int queue, long array, int n) {
        return Shim.txPrepare(port, (short) queue, array, (short) n);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("port " + name + " is closed");
        }
    }

    /** Stops and closes the port and removes a hot-plugged device. Stop polling it first. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        started = false;
        int rc = Shim.portClose(port);
        if (rc < 0 && hotplugged) {
            throw new DpdkException("closing port " + name, -rc);
        }
    }

    @Override
    public String toString() {
        return "DpdkPort(" + id() + ", " + name + ")";
    }
}
