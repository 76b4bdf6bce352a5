package io.zstack.channel;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.JavaMbufPool;
import io.zstack.device.DpdkPortDevice;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.KernelTapDevice;
import io.zstack.device.NetDevice;
import io.zstack.dpdk.DpdkPort;
import io.zstack.dpdk.Eal;
import io.zstack.dpdk.EalConfig;
import io.zstack.dpdk.Hugepages;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import io.zstack.wire.MacAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The devices a group can poll ({@link ZStackConfig.Builder#device}): a DPDK port (a NIC by PCI address, or any
 * vdev) opened once with one queue pair per loop and RSS across them, sharing one mbuf pool. Closing the last loop's
 * device closes the port and the pool. Each factory returns a {@link Port}, whose {@code with...} methods change the
 * port's and DPDK's configuration:
 *
 * <pre>
 * ZStackDevices.tap("zs0")
 * ZStackDevices.afPacket("veth1").withoutOffloads()
 * ZStackDevices.dpdk("0000:3b:00.0").withDescriptors(4096, 4096).withHugepages(true).withPciAllowed("0000:3b:00.0")
 * ZStackDevices.memifClient(socket).withZeroCopy().withEalArgument("--huge-dir=/run/huge")
 * </pre>
 */
public final class ZStackDevices {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ZStackDevices.class);

    /** Mbufs in the shared pool per queue: enough for full rx/tx rings plus what TCP holds in its queues. */
    public static final int MBUFS_PER_QUEUE = 16384;
    /** Data room of each mbuf: a 1500-byte frame plus DPDK's headroom. */
    public static final int MBUF_DATA_ROOM = 2176;
    /**
     * Data room of a {@link #kernelTap}'s mbufs: 8 KiB past the headroom. Every receive poll is a {@code readv} with
     * as many pieces as a 64 KB frame needs mbufs, and the kernel copies in the whole list each time, also when
     * nothing is waiting: in 2 KiB mbufs (33 pieces) that copy was 8 % of an 8 KB echo server's CPU.
     */
    public static final int KERNEL_TAP_MBUF_DATA_ROOM = 8192 + 128;
    /** Mbufs in each loop's pool on a {@link #kernelTap} by default (68 MB of them). */
    public static final int KERNEL_TAP_MBUFS = 8192;
    /** How long a memif client waits for its server's socket by default ({@link Port#withServerWait}). */
    public static final Duration DEFAULT_SERVER_WAIT = Duration.ofSeconds(10);

    private static final AtomicInteger POOLS = new AtomicInteger();
    /** DPDK names each vdev (net_tap0, net_memif1, ...): the number keeps the names of one process apart. */
    private static final AtomicInteger VDEVS = new AtomicInteger();

    private ZStackDevices() {
    }

    /** A TAP interface named {@code iface} (DPDK's net_tap): the kernel sees it as an ordinary interface. */
    public static Port tap(String iface) {
        return dpdk(Vdevs.tap(VDEVS.getAndIncrement(), iface));
    }

    /**
     * A TAP interface named {@code iface} that ZStack opens itself through {@code /dev/net/tun} with virtio-net headers
     * (no DPDK): the kernel hands over its large TCP segments (TSO) in one frame each and leaves TCP checksums to us
     * both ways ({@link KernelTapDevice}). The interface is created when it does not exist; an existing one (for
     * instance made with {@code ip tuntap add mode tap name IFACE vnet_hdr}, to be configured before the application
     * starts) must be a TAP, multi-queue when the group has more than one loop. Each receive poll is a system call.
     */
    public static KernelTap kernelTap(String iface) {
        return new KernelTap(Objects.requireNonNull(iface, "iface"), KERNEL_TAP_MBUFS);
    }

    /** An AF_PACKET socket on an existing kernel interface (a veth end); keep kernel IP off that interface. */
    public static Port afPacket(String iface) {
        return dpdk(Vdevs.afPacket(VDEVS.getAndIncrement(), iface));
    }

    /** AF_XDP on an existing kernel interface; it takes the interface's frames away from the kernel. */
    public static Port afXdp(String iface) {
        return dpdk(Vdevs.afXdp(VDEVS.getAndIncrement(), iface));
    }

    /** The listening side of a DPDK shared-memory link (net_memif) whose socket is the file {@code socket}. */
    public static Port memifServer(Path socket) {
        return dpdk(Vdevs.memifServer(VDEVS.getAndIncrement(), socket.toString()));
    }

    /**
     * The connecting side of a shared-memory link to the server listening on {@code socket}. It copies each frame
     * between its mbufs and the link's buffers unless asked for {@link Port#withZeroCopy zero copy}; started before
     * its server, it waits for it ({@link Port#withServerWait}, {@link #DEFAULT_SERVER_WAIT} by default).
     */
    public static Port memifClient(Path socket) {
        return dpdk(Vdevs.memifClient(VDEVS.getAndIncrement(), socket.toString()));
    }

    /**
     * The port {@code devargs} names: a PCI address ("0000:3b:00.0") or a vdev ("net_tap0,iface=zs0",
     * "net_af_packet0,iface=eth1"; the name before the first comma must be unique in the process), with one queue
     * pair per loop, 1024 descriptors each way (4096 receive descriptors on af_xdp: {@link PortConfig#defaults}),
     * every offload the port offers, the port's own MTU, promiscuous mode.
     */
    public static Port dpdk(String devargs) {
        return new Port(Objects.requireNonNull(devargs, "devargs"), PortConfig.defaults(), List.of(),
                DEFAULT_SERVER_WAIT);
    }

    /**
     * A DPDK port and how to configure it and DPDK's EAL; each {@code with...} returns a changed copy. One port is
     * for one group, whose loops open its queues. EAL starts once per process, with the options of the first port
     * opened: a port asking for other EAL options than those EAL started with is refused when its group starts.
     */
    public static final class Port extends ZStackConfig.DeviceFactory {
        private final String devargs;
        private final PortConfig config;
        private final List<Consumer<EalConfig.Builder>> eal;
        /** A memif client's longest wait for its server when started ({@link #withServerWait}). */
        private final Duration serverWait;
        /** The port once a group opens it: its loops' queues share it. */
        private final SharedPort shared;

        private Port(String devargs, PortConfig config, List<Consumer<EalConfig.Builder>> eal, Duration serverWait) {
            this.devargs = devargs;
            this.config = config;
            this.eal = eal;
            this.serverWait = serverWait;
            this.shared = new SharedPort(this);
        }

        /**
         * Zero copy on a memif client: the server reads the frames this port sends from this process's own mbufs,
         * and writes the frames it receives straight into mbufs this port posted to it, where a copying memif moves
         * every frame once more each way. DPDK (22.11) offers it to the client role only, and only when EAL's memory
         * is in hugepages with {@code --single-file-segments} (the server maps the client's memory from those
         * files): this option asks EAL for both (add {@code withEalArgument("--huge-dir=DIR")} for a hugetlbfs of the
         * application's own), and the group refuses to start, saying why, when the memory does not allow it (no free
         * hugepages, or EAL already running on 4 KiB pages or without single-file segments). The pools must lie in
         * the memory EAL had when the link came up ({@link #withEalMemoryMegabytes}, 256 MiB by default, is reserved
         * at start), and the memif PMD keeps the mbufs it posted to its server when the port closes.
         */
        public Port withZeroCopy() {
            requireMemifClient("withZeroCopy (DPDK's memif offers zero copy to the client role only)");
            return new Port(Vdevs.withArgument(devargs, "zero-copy", "yes"), config, eal, serverWait);
        }

        /**
         * How long a memif client, started before its server, waits for it: for its socket, then for the link to come
         * up ({@link #DEFAULT_SERVER_WAIT} by default; see {@link DpdkPort#start(Duration)}); zero fails at once when
         * no server listens. Past it, the group fails to start, naming the socket.
         */
        public Port withServerWait(Duration wait) {
            requireMemifClient("withServerWait");
            if (wait.isNegative()) {
                throw new IllegalArgumentException("serverWait: " + wait);
            }
            return new Port(devargs, config, eal, wait);
        }

        /** True for a memif client asking for zero copy ({@code zero-copy=yes}). */
        public boolean zeroCopy() {
            return Vdevs.isMemifZeroCopy(devargs);
        }

        private void requireMemifClient(String what) {
            if (!Vdevs.isMemifClient(devargs)) {
                throw new IllegalStateException(what + " is an option of a memif client port; this port is "
                        + devargs);
            }
        }

        /** Receive and transmit descriptors per queue (default 1024 each, 4096 receive on af_xdp; at most 65535). */
        public Port withDescriptors(int rx, int tx) {
            if (rx < 1) {
                throw new IllegalArgumentException("receive descriptors: " + rx);
            }
            return new Port(devargs, new PortConfig(config.rxQueues(), config.txQueues(), rx, tx,
                    config.checksumOffload(), config.tso(), config.multiSegments(), config.rss(), config.mtu(),
                    config.promiscuous()), eal, serverWait);
        }

        /** The port's MTU (default: the port's own). */
        public Port withMtu(int mtu) {
            return new Port(devargs, config.withMtu(mtu), eal, serverWait);
        }

        /** No checksum or segmentation offload, whatever the port offers: the stack computes every checksum. */
        public Port withoutOffloads() {
            return new Port(devargs, config.withoutOffloads(), eal, serverWait);
        }

        /** Promiscuous mode (on by default, as a vdev on a veth needs). */
        public Port withPromiscuous(boolean on) {
            return new Port(devargs, new PortConfig(config.rxQueues(), config.txQueues(), config.rxDescriptors(),
                    config.txDescriptors(), config.checksumOffload(), config.tso(), config.multiSegments(),
                    config.rss(), config.mtu(), on), eal, serverWait);
        }

        /**
         * EAL with hugepages, or not (default: not, {@code --no-huge} with 4 KiB pages); with {@code true}, EAL fails
         * to start without enough of them.
         */
        public Port withHugepages(boolean on) {
            return withEal(b -> b.hugepages(on));
        }

        /**
         * Hugepages when the machine has a hugetlbfs mounted and enough free, else 4 KiB pages. EAL waits for a
         * hugetlbfs another DPDK process holds: use it where this process owns its mount.
         */
        public Port withHugepagesWhenAvailable() {
            return withEal(EalConfig.Builder::hugepagesWhenAvailable);
        }

        /** EAL's memory in MiB (default 256). */
        public Port withEalMemoryMegabytes(int megabytes) {
            return withEal(b -> b.memoryMegabytes(megabytes));
        }

        /** Lets EAL probe the PCI device at {@code address} (default: no PCI device, vdevs only). */
        public Port withPciAllowed(String address) {
            return withEal(b -> b.allowPci(address));
        }

        /** EAL's lcore list (default "0"). */
        public Port withLcores(String list) {
            return withEal(b -> b.lcores(list));
        }

        /** Any other EAL argument, passed as given. */
        public Port withEalArgument(String argument) {
            return withEal(b -> b.argument(argument));
        }

        private Port withEal(Consumer<EalConfig.Builder> option) {
            List<Consumer<EalConfig.Builder>> all = new ArrayList<>(eal);
            all.add(option);
            return new Port(devargs, config, List.copyOf(all), serverWait);
        }

        /**
         * Null: EAL starts with its defaults (enough for vdevs), or as the process already started it. A zero-copy
         * port starts from hugepages with single-file segments, which its own options may still change (and then
         * its group refuses to start).
         */
        EalConfig ealConfig() {
            if (eal.isEmpty() && !zeroCopy()) {
                return null;
            }
            EalConfig.Builder b = EalConfig.builder();
            if (zeroCopy()) {
                b.hugepages(true).singleFileSegments(true);
            }
            eal.forEach(option -> option.accept(b));
            return b.build();
        }

        /** True when EAL options were given beyond those zero copy implies. */
        boolean hasOwnEalOptions() {
            return !eal.isEmpty();
        }

        Duration serverWait() {
            return serverWait;
        }

        @Override
        NetDevice open(int loopIndex, int loopCount) {
            return shared.open(loopIndex, loopCount);
        }

        PortConfig portConfig() {
            return config;
        }

        @Override
        public String toString() {
            return devargs;
        }
    }

    /**
     * A {@link #kernelTap} interface: one queue per loop (multi-queue when there are several loops), each loop's
     * frames in a pool of its own in Java memory, the MTU the interface has when the loop opens it.
     */
    public static final class KernelTap extends ZStackConfig.DeviceFactory {
        private final String iface;
        private final int mbufs;

        private KernelTap(String iface, int mbufs) {
            this.iface = iface;
            this.mbufs = mbufs;
        }

        /** Mbufs in each loop's pool (default {@link #KERNEL_TAP_MBUFS}). */
        public KernelTap withMbufs(int count) {
            if (count < 256) {
                throw new IllegalArgumentException("mbufs: " + count + " (at least 256)");
            }
            return new KernelTap(iface, count);
        }

        @Override
        NetDevice open(int loopIndex, int loopCount) {
            JavaMbufPool pool = new JavaMbufPool("zstack-tap-" + iface + "-" + loopIndex, mbufs,
                    KERNEL_TAP_MBUF_DATA_ROOM);
            try {
                // a locally administered address of our own (the kernel's end of the interface has its own), the same
                // for every loop, as a port's queues share the port's: the kernel picks the queue, not the address
                long mac = 0x02_5a_00_00_00_00L | (iface.hashCode() & 0xffff_ffffL);
                return new KernelTapDevice(iface, loopCount > 1, pool, true, MacAddress.of(mac),
                        KernelTapDevice.interfaceMtu(iface, 1500));
            } catch (RuntimeException e) {
                pool.close();
                throw e;
            }
        }

        @Override
        public String toString() {
            return "kernel tap " + iface;
        }
    }

    static final class SharedPort {
        private final Port options;
        private final String devargs;
        private final PortConfig config;
        private DpdkPort port;
        private DpdkMbufPool pool;
        private int open;

        SharedPort(Port options) {
            this.options = options;
            this.devargs = options.devargs;
            this.config = options.config;
        }

        synchronized NetDevice open(int loopIndex, int loopCount) {
            if (port == null) {
                EalConfig ealConfig = options.ealConfig();
                boolean zeroCopy = options.zeroCopy();
                // a zero-copy port with no EAL option of its own takes EAL as it runs, if its memory is right
                if (ealConfig != null && !(zeroCopy && !options.hasOwnEalOptions() && Eal.isInitialized())) {
                    if (zeroCopy && !Eal.isInitialized()) {
                        requireZeroCopyMemory(devargs, ealConfig, Hugepages.probe());
                    }
                    Eal.init(ealConfig); // a no-op if the process initialised it alike; a clear error if otherwise
                }
                if (zeroCopy) {
                    requireZeroCopyEal();
                }
                port = DpdkPort.probe(devargs);
                try {
                    // a new name each time: a pool the application still uses outlives its port
                    pool = DpdkMbufPool.create("zstack-" + Math.abs(devargs.hashCode()) + "-" + POOLS.incrementAndGet(),
                            MBUFS_PER_QUEUE * loopCount - 1, 256, MBUF_DATA_ROOM,
                            DpdkPort.AF_XDP_DRIVER.equals(port.info().driverName()));
                } catch (RuntimeException e) {
                    port.close();
                    port = null;
                    throw e;
                }
                try {
                    PortConfig queues = new PortConfig(loopCount, loopCount, config.rxDescriptors(),
                            config.txDescriptors(), config.checksumOffload(), config.tso(), config.multiSegments(),
                            loopCount > 1, config.mtu(), config.promiscuous());
                    port.configure(queues, pool.mempool().address());
                    port.start(options.serverWait()); // a memif client waits for its server; others start at once
                } catch (RuntimeException e) {
                    port.close();
                    pool.close();
                    port = null;
                    throw e;
                }
            }
            open++;
            return new QueueDevice(new DpdkPortDevice(port, loopIndex, pool));
        }

        /** Before EAL starts: the memory a zero-copy port's EAL options give, and what the machine has. */
        static void requireZeroCopyMemory(String devargs, EalConfig ealConfig, Hugepages machine) {
            if (!ealConfig.hugepages() || !ealConfig.singleFileSegments()) {
                throw new IllegalStateException("memif zero copy (" + devargs + ") needs EAL's memory in hugepages"
                        + " with --single-file-segments (the server maps the client's mbufs from those files); this"
                        + " port's EAL options give " + (ealConfig.hugepages() ? "hugepages without single-file"
                        + " segments" : "4 KiB pages: " + ealConfig.memoryChoice()) + " [" + ealConfig + "]");
            }
            boolean mounted = ealConfig.hugeDirectory() != null || machine.mountPoint() != null;
            if (!mounted || machine.freeMegabytes() < ealConfig.memoryMegabytes()) {
                throw new IllegalStateException("memif zero copy (" + devargs + ") needs hugepages, and this machine"
                        + " has " + (mounted ? "" : "no hugetlbfs mounted and ") + machine.freePages() + " free ("
                        + ealConfig.memoryMegabytes() + " MiB needed): as root, reserve them (echo N >"
                        + " /proc/sys/vm/nr_hugepages) and mount a hugetlbfs (mount -t hugetlbfs nodev DIR, then"
                        + " withEalArgument(\"--huge-dir=DIR\")), or use the port without zero copy");
            }
        }

        /** With EAL running: its memory must be what zero copy needs, whoever started it. */
        private void requireZeroCopyEal() {
            if (!Eal.hugepagesInUse() || !Eal.singleFileSegments()) {
                throw new IllegalStateException("memif zero copy (" + devargs + ") needs EAL's memory in hugepages"
                        + " with --single-file-segments (the server maps the client's mbufs from those files), and"
                        + " EAL already runs in this process " + (Eal.hugepagesInUse() ? "without single-file"
                        + " segments" : "on 4 KiB pages (--no-huge)") + " [" + Eal.config() + "]: EAL starts once per"
                        + " process, so give the zero-copy port's options to the first port opened, or use the port"
                        + " without zero copy");
            }
        }

        private synchronized void closed() {
            if (--open == 0) {
                port.close();
                // every mbuf home but those a closed af_xdp driver forgot (counted exactly at close): free the pool
                if (!pool.closeAbandoned(port.mbufsAbandonedAtClose())) {
                    logger.info("{} closed with {} mbufs of {} still held by the application{}; the pool stays"
                            + " allocated", port, pool.capacity() - pool.available() - port.mbufsAbandonedAtClose(),
                            pool, options.zeroCopy() ? " or by the zero-copy memif driver (DPDK 22.11 keeps the mbufs"
                            + " it posted to its server)" : "");
                }
                port = null;
            }
        }

        /** One loop's queue; closing it releases the shared port when it is the last. */
        private final class QueueDevice extends ForwardingNetDevice {
            private boolean closed;

            QueueDevice(DpdkPortDevice device) {
                super(device);
            }

            @Override
            public void close() {
                if (!closed) {
                    closed = true;
                    inner.close(); // a queue device of a shared port leaves the port alone
                    closed();
                }
            }
        }
    }
}
