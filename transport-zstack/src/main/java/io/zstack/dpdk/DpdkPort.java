package io.zstack.dpdk;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An ethdev port: any PMD, a real NIC or a vdev. Created by hot-plugging a vdev ({@link #probe}) or by name for
 * a device EAL already found ({@link #byName}); configured with queues and offloads, started, polled with
 * {@link #rxBurst}/{@link #txBurst}, and closed (stop, close, device removed).
 *
 * <p>Bursts take the native address of an array of mbuf pointers ({@code MbufBurst.address(i)} on the buffer
 * side). A queue must be polled by one thread at a time, as DPDK requires.
 *
 * <p>Closing is safe in any order and from any thread: stop and close run on DPDK's interrupt thread, one after
 * another with the PMDs' own handlers, inside the network namespace the port was opened in; a memif port pauses its
 * own bursts and those of its peer in this process while the link between them is torn down. A closed port gives
 * its kernel interface back as it found it (promiscuous mode off if it turned it on, its XDP program detached).
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

    /** IFF_PROMISC: the interface flag {@link PortConfig#promiscuous()} turns on. */
    private static final int IFF_PROMISC = 0x100;
    /** Open memif ports by socket path and interface id: the two ends of a link in this process. */
    private static final Map<String, List<DpdkPort>> MEMIF_LINKS = new HashMap<>();
    private static final long MEMIF_PEER_DOWN_NANOS = 5_000_000_000L;

    private final short port;
    private final String name;
    private final boolean hotplugged;
    /** The network namespace of the thread that opened the port (a file descriptor), or -1. */
    private final int netnsFd;
    /** The kernel interface an af_packet or af_xdp port runs on, or null. */
    private final String kernelInterface;
    private final int interfaceFlagsBefore;
    private final int xdpProgramBefore;
    /** For memif ports: the key of its link in {@link #MEMIF_LINKS}, and the gate its bursts pass; else null. */
    private final String memifLink;
    /** For a memif client: the server's socket it connects to when started (null if abstract); else null. */
    private final Path memifServerSocket;
    private final boolean memifClient;
    private final boolean memifZeroCopy;
    /**
     * For a memif server with a socket file: the path clients connect to, which exists only while the port is
     * started ({@link #publish}), and the path the PMD made its socket at when probed; else null.
     */
    private final Path publishedSocket;
    private final Path stagedSocket;
    private boolean published;
    private static final AtomicInteger STAGED = new AtomicInteger();
    private final PollGate gate;
    private int flagsToClear;
    private long mempoolAddress;
    private int mbufsAbandonedAtClose;
    private int rxQueues;
    private int txQueues;
    private long enabledRxOffloads;
    private long enabledTxOffloads;
    private boolean started;
    /** The af_xdp PMD: its pool must be packed (see {@link Mempool}), and it keeps mbufs after close. */
    public static final String AF_XDP_DRIVER = "net_af_xdp";
    /** The af_packet PMD: a packet ring and a socket, like af_xdp's a kernel interface's. */
    public static final String AF_PACKET_DRIVER = "net_af_packet";

    private boolean closed;

    private DpdkPort(int port, String name, boolean hotplugged, String devargs, InterfaceState before,
                     Path stagedSocket) {
        this.port = (short) port;
        this.stagedSocket = stagedSocket;
        this.publishedSocket = stagedSocket == null ? null : Path.of(Vdevs.argument(devargs, "socket", ""));
        this.name = name;
        this.hotplugged = hotplugged;
        this.kernelInterface = before == null ? null : before.name;
        this.interfaceFlagsBefore = before == null ? 0 : before.flags;
        this.xdpProgramBefore = before == null ? 0 : before.xdpProgram;
        int fd = Shim.netnsOpen();
        this.netnsFd = fd < 0 ? -1 : fd;
        String driver = info().driverName();
        memifClient = "net_memif".equals(driver) && devargs != null && Vdevs.isMemifClient(devargs);
        memifServerSocket = memifClient && !"yes".equals(Vdevs.argument(devargs, "socket-abstract", "yes"))
                ? Path.of(Vdevs.argument(devargs, "socket", "")) : null;
        memifZeroCopy = memifClient && Vdevs.isMemifZeroCopy(devargs);
        if ("net_memif".equals(driver) && devargs != null) {
            memifLink = Vdevs.argument(devargs, "socket", "") + "#" + Vdevs.argument(devargs, "id", "0");
            PortInfo info = info();
            gate = new PollGate(Math.max(1, Math.max(info.maxRxQueues(), info.maxTxQueues())));
            synchronized (MEMIF_LINKS) {
                MEMIF_LINKS.computeIfAbsent(memifLink, k -> new ArrayList<>()).add(this);
            }
        } else {
            memifLink = null;
            gate = null;
        }
    }

    /**
     * True for a memif port: its frames cross memory the two processes share, copied, never carried over a wire.
     */
    public boolean sharedMemoryLink() {
        return memifLink != null;
    }

    /**
     * Whether a transmit burst ends in one system call: af_xdp and af_packet fill their ring, then kick the kernel
     * with one {@code sendto} for the whole burst (see {@code NetDevice.transmitCallEntersKernel}).
     */
    public boolean transmitCallEntersKernel() {
        String driver = info().driverName();
        return AF_XDP_DRIVER.equals(driver) || AF_PACKET_DRIVER.equals(driver);
    }

    /** A kernel interface's flags and XDP program when a port was opened on it: what close gives back. */
    private record InterfaceState(String name, int flags, int xdpProgram) {
        /** The state of the interface an af_packet or af_xdp devargs names, or null for other devices. */
        static InterfaceState of(String devargs) {
            String device = Vdevs.deviceName(devargs);
            if (!device.startsWith("net_af_packet") && !device.startsWith("net_af_xdp")) {
                return null;
            }
            String iface = Vdevs.argument(devargs, "iface", null);
            if (iface == null) {
                return null;
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment flags = arena.allocate(JAVA_INT);
                MemorySegment xdp = arena.allocate(JAVA_INT);
                if (Shim.ifState(arena.allocateFrom(iface), flags, xdp) < 0) {
                    return null; // no such interface: the probe says so
                }
                return new InterfaceState(iface, flags.get(JAVA_INT, 0), xdp.get(JAVA_INT, 0));
            }
        }
    }

    /**
     * Creates a device from devargs (see {@link Vdevs}) and opens its port. EAL is initialised with defaults
     * first if nobody did. A tap device appears in the network namespace of the calling thread.
     */
    public static DpdkPort probe(String devargs) {
        Eal.ensureInitialized();
        String name = Vdevs.deviceName(devargs);
        InterfaceState before = InterfaceState.of(devargs);
        Path staged = stagedSocket(devargs);
        String probed = staged == null ? devargs : Vdevs.withArgument(devargs, "socket", staged.toString());
        int rc;
        try (Arena arena = Arena.ofConfined()) {
            rc = Shim.devProbe(arena.allocateFrom(probed), arena.allocateFrom(name));
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
        return new DpdkPort(rc, name, true, devargs, before, staged);
    }

    /**
     * Where a memif server's PMD makes its socket when probed, or null to make it where devargs says. DPDK's memif
     * server listens from its probe on, but turns clients away until it is started, and a client connects only when
     * it starts (a zero-copy client of DPDK 22.11 cannot even connect again: its first attempt closes its memory's
     * file descriptors). So the socket is made beside its path and linked there once the port is started: a client
     * that waits for the path finds a server that takes it. Throws if the path exists (a socket left behind, or
     * another server's), as the PMD's own bind would.
     */
    private static Path stagedSocket(String devargs) {
        if (!Vdevs.deviceName(devargs).startsWith("net_memif") || Vdevs.isMemifClient(devargs)
                || !"no".equals(Vdevs.argument(devargs, "socket-abstract", "yes"))) {
            return null;
        }
        Path socket = Path.of(Vdevs.argument(devargs, "socket", "/run/memif.sock"));
        if (Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            throw new DpdkException("probing device " + devargs + ": its socket " + socket + " exists (another"
                    + " server's, or one left behind: remove it)", 98); // EADDRINUSE
        }
        Path staged = socket.resolveSibling(socket.getFileName() + ".starting-" + ProcessHandle.current().pid()
                + "-" + STAGED.incrementAndGet());
        return staged.toString().length() < 108 ? staged : null; // sun_path's limit: then no staging
    }
    /** Whether this process holds CAP_NET_ADMIN (bit 12 of CapEff in /proc/self/status); true if it cannot tell. */
    static boolean hasNetAdmin() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    return (Long.parseUnsignedLong(line.substring(7).trim(), 16) & (1L << 12)) != 0;
                }
            }
        } catch (IOException | RuntimeException e) {
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
        return new DpdkPort(rc, name, false, null, null, null);
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
        int rc = Shim.portConfigure(port, (short) config.rxQueues(), (short) config.txQueues(),
                (short) config.rxDescriptorsFor(info.driverName()), (short) config.txDescriptors(), rx, tx, rss,
                (short) config.mtu(),
                mempoolAddress);
        DpdkException.check("configuring port " + name, rc);
        this.mempoolAddress = mempoolAddress;
        rxQueues = config.rxQueues();
        txQueues = config.txQueues();
        enabledRxOffloads = rx;
        enabledTxOffloads = tx;
        if (config.promiscuous()) {
            // some PMDs (tap) cannot switch promiscuity; frames to our MAC arrive either way
            if (Shim.portPromiscuous(port, 1) == 0 && kernelInterface != null
                    && (interfaceFlagsBefore & IFF_PROMISC) == 0) {
                flagsToClear |= IFF_PROMISC; // ours to turn off again at close
            }
        }
    }

    /**
     * Mbufs of the receive pool the driver holds now, exactly, or -1 if this driver's holdings cannot be read (only
     * net_af_xdp's can: its fill ring, its unread receive ring and its uncompleted transmits, from the ring indices
     * only it writes). A snapshot; exact while nobody polls the port.
     */
    public int mbufsHeldByDriver() {
        if (closed || mempoolAddress == 0 || !AF_XDP_DRIVER.equals(info().driverName())) {
            return -1;
        }
        int held = Shim.afXdpMbufsHeld(port, mempoolAddress);
        return held < 0 ? -1 : held;
    }

    /**
     * Mbufs the driver still held when the port closed and never gave back: net_af_xdp (DPDK 22.11) forgets its umem
     * rings at close. Counted exactly before the close; the pool they belong to can be freed once every other mbuf
     * is home ({@link Mempool#closeAbandoned}). 0 for other drivers.
     */
    public int mbufsAbandonedAtClose() {
        return mbufsAbandonedAtClose;
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
        checkStartable();
        DpdkException.check("starting port " + name, Shim.portStart(port));
        started = true;
        publish();
    }

    private void checkStartable() {
        checkOpen();
        if (rxQueues == 0) {
            throw new IllegalStateException("port " + name + " is not configured");
        }
    }

    /** A started memif server's socket appears at its path (a hard link to the PMD's socket). */
    private void publish() {
        if (stagedSocket == null || published) {
            return;
        }
        try {
            Files.createLink(publishedSocket, stagedSocket);
            published = true;
        } catch (IOException e) {
            stop();
            throw new DpdkException("starting memif server port " + name + ": cannot link its socket at "
                    + publishedSocket + " (" + e + ")", e instanceof FileAlreadyExistsException ? 98 : 5);
        }
    }

    /** A stopped memif server's socket leaves its path: clients wait for it instead of being turned away. */
    private void unpublish() {
        if (published) {
            published = false;
            try {
                Files.deleteIfExists(publishedSocket);
            } catch (IOException ignored) {
                // the PMD's own socket goes at close; a link left behind is refused by the next probe, by name
            }
        }
    }

    /**
     * As {@link #start()}; a memif client, whose start connects to its server's socket, waits for that server for at
     * most {@code serverWait}, until the link is up: first until the socket file exists, then it starts. A copying
     * client whose link does not come up stops and starts again (a server that is gone, or one that made its socket
     * but is not started yet, turns it away, and DPDK's memif client connects only when started). A zero-copy client
     * connects once: DPDK 22.11 closes its memory's file descriptors when its link goes down, and a second connect
     * would hand the server stale ones. ZStack's own memif servers make their socket appear only once started. Other
     * ports start at once. Throws, naming the socket, when no server took the link in time.
     */
    public void start(Duration serverWait) {
        if (!memifClient || serverWait.isZero() || serverWait.isNegative()) {
            start();
            return;
        }
        checkStartable();
        long deadline = System.nanoTime() + serverWait.toNanos();
        boolean connected = false;
        long linkWait = 1_000_000_000L;
        while (true) {
            // no connect before the file exists: each failed one makes the PMD log an error
            if (memifServerSocket == null || Files.exists(memifServerSocket)) {
                if (Shim.portStart(port) == 0) {
                    started = true;
                    connected = true;
                    long linkDeadline = memifZeroCopy ? deadline : Math.min(deadline, System.nanoTime() + linkWait);
                    while (!linkUpQuietly() && System.nanoTime() - linkDeadline < 0) {
                        pause(5);
                    }
                    if (linkUpQuietly()) {
                        return;
                    }
                    stop();
                    if (memifZeroCopy) {
                        break;
                    }
                    linkWait = Math.min(linkWait * 2, 4_000_000_000L); // connect again, waiting a little longer
                }
            }
            if (System.nanoTime() - deadline >= 0) {
                break;
            }
            pause(connected ? 50 : 20);
        }
        String where = memifServerSocket == null ? "its abstract socket" : memifServerSocket.toString();
        throw new DpdkException("starting memif client port " + name + ": no memif server "
                + (connected ? "brought the link up on " : "accepted a connection on ") + where + " within "
                + serverWait.toMillis() + " ms" + (connected && memifZeroCopy ? " (a zero-copy client connects"
                + " once: a server that turned it away, having made its socket before it started, cannot be retried)"
                : " (start the server, or give it longer)"), 111); // ECONNREFUSED
    }

    private void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DpdkException("starting memif client port " + name + ": interrupted while waiting for its"
                    + " server", 4);
        }
    }

    /** Stops the port (on DPDK's interrupt thread; a memif peer in this process is paused meanwhile). */
    public void stop() {
        if (started && !closed) {
            started = false;
            unpublish();
            List<DpdkPort> peers = pauseLink();
            try {
                Shim.portStopSafely(port, netnsFd);
            } finally {
                resumeLink(peers);
            }
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
        if (gate == null) {
            return Shim.rxBurst(port, (short) queue, array, (short) n);
        }
        if (!gate.enter(queue)) {
            return 0;
        }
        try {
            return Shim.rxBurst(port, (short) queue, array, (short) n);
        } finally {
            gate.exit(queue);
        }
    }

    /**
     * Hands up to {@code n} mbufs at {@code array} to the port; returns how many it took. Those now belong to the
     * port (freed once sent); the rest still belong to the caller.
     */
    public int txBurst(int queue, long array, int n) {
        if (gate == null) {
            return Shim.txBurst(port, (short) queue, array, (short) n);
        }
        if (!gate.enter(queue)) {
            return 0; // paused: the frames stay with the caller, as with a full ring
        }
        try {
            return Shim.txBurst(port, (short) queue, array, (short) n);
        } finally {
            gate.exit(queue);
        }
    }

    /** Lets the PMD check and fix up offload requests (pseudo-header checksums) before {@link #txBurst}. */
    public int txPrepare(int queue, long array, int n) {
        if (gate == null) {
            return Shim.txPrepare(port, (short) queue, array, (short) n);
        }
        if (!gate.enter(queue)) {
            return n; // nothing to check now: the burst that follows sends nothing either
        }
        try {
            return Shim.txPrepare(port, (short) queue, array, (short) n);
        } finally {
            gate.exit(queue);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("port " + name + " is closed");
        }
    }

    /**
     * Stops and closes the port, removes a hot-plugged device and restores its kernel interface. Safe from any thread
     * and in any order with other ports; bursts on a closed memif port return 0, other ports must not be polled
     * after close.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        started = false;
        unpublish();
        List<DpdkPort> peers = pauseLink();
        if (gate != null) {
            gate.pause(); // for good: this port's bursts return 0 from now on
        }
        int rc;
        int restoreRc;
        try (Arena arena = Arena.ofConfined()) {
            if (mempoolAddress != 0 && AF_XDP_DRIVER.equals(info().driverName())) {
                mbufsAbandonedAtClose = Math.max(0, Shim.afXdpMbufsHeld(port, mempoolAddress));
            }
            MemorySegment restore = arena.allocate(JAVA_INT);
            rc = Shim.portCloseSafely(port, netnsFd, kernelInterface == null ? MemorySegment.NULL
                    : arena.allocateFrom(kernelInterface), flagsToClear, xdpProgramBefore, restore);
            restoreRc = restore.get(JAVA_INT, 0);
        } finally {
            if (memifLink != null) {
                synchronized (MEMIF_LINKS) {
                    List<DpdkPort> ends = MEMIF_LINKS.get(memifLink);
                    ends.remove(this);
                    if (ends.isEmpty()) {
                        MEMIF_LINKS.remove(memifLink);
                    }
                }
            }
            resumeLink(peers);
            Shim.fdClose(netnsFd);
        }
        if (rc < 0 && hotplugged) {
            throw new DpdkException("closing port " + name, -rc);
        }
        if (restoreRc < 0) {
            throw new DpdkException("restoring interface " + kernelInterface + " after closing port " + name,
                    -restoreRc);
        }
    }

    /**
     * The other open end of this memif link in this process, paused: stopping or closing this end makes DPDK's
     * interrupt thread tear that end down too, and its bursts must not run meanwhile. Empty for other ports.
     */
    private List<DpdkPort> pauseLink() {
        if (memifLink == null) {
            return List.of();
        }
        List<DpdkPort> peers;
        synchronized (MEMIF_LINKS) {
            peers = new ArrayList<>(MEMIF_LINKS.getOrDefault(memifLink, List.of()));
        }
        peers.remove(this);
        for (DpdkPort peer : peers) {
            peer.gate.pause();
        }
        return peers;
    }

    /**
     * Lets the peers' bursts run again once the interrupt thread has taken their link down: the disconnect message is
     * in their socket when this end's close returns, their link goes down when the thread starts handling it, and an
     * empty job on that thread returns only after the handling has finished.
     */
    private static void resumeLink(List<DpdkPort> peers) {
        if (peers.isEmpty()) {
            return;
        }
        long deadline = System.nanoTime() + MEMIF_PEER_DOWN_NANOS;
        for (DpdkPort peer : peers) {
            while (peer.linkUpQuietly() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
                Thread.yield();
            }
        }
        Shim.interruptThreadSync();
        for (DpdkPort peer : peers) {
            peer.gate.resume();
        }
    }

    /** The link state, false once the port is gone (another thread may close it meanwhile). */
    private boolean linkUpQuietly() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(InfoLayout.SIZE, 8);
            return Shim.portInfo(port, s) == 0 && s.get(JAVA_BYTE, InfoLayout.LINK_UP) != 0;
        }
    }

    @Override
    public String toString() {
        return "DpdkPort(" + id() + ", " + name + ")";
    }
}
