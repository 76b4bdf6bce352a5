package io.zstack.channel;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.zstack.buffer.DpdkMbufPool;
import io.zstack.device.DpdkPortDevice;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import io.zstack.dpdk.DpdkPort;
import io.zstack.dpdk.Eal;
import io.zstack.dpdk.EalConfig;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;

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
 * </pre>
 */
public final class ZStackDevices {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ZStackDevices.class);

    /** Mbufs in the shared pool per queue: enough for full rx/tx rings plus what TCP holds in its queues. */
    public static final int MBUFS_PER_QUEUE = 16384;
    /** Data room of each mbuf: a 1500-byte frame plus DPDK's headroom. */
    public static final int MBUF_DATA_ROOM = 2176;

    private static final AtomicInteger POOLS = new AtomicInteger();
    /** DPDK names each vdev (net_tap0, net_memif1, ...): the number keeps the names of one process apart. */
    private static final AtomicInteger VDEVS = new AtomicInteger();

    private ZStackDevices() {
    }

    /** A TAP interface named {@code iface} (DPDK's net_tap): the kernel sees it as an ordinary interface. */
    public static Port tap(String iface) {
        return dpdk(Vdevs.tap(VDEVS.getAndIncrement(), iface));
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

    /** The connecting side of a shared-memory link to the server listening on {@code socket}. */
    public static Port memifClient(Path socket) {
        return dpdk(Vdevs.memifClient(VDEVS.getAndIncrement(), socket.toString()));
    }

    /**
     * The port {@code devargs} names: a PCI address ("0000:3b:00.0") or a vdev ("net_tap0,iface=zs0",
     * "net_af_packet0,iface=eth1"; the name before the first comma must be unique in the process), with one queue
     * pair per loop, 1024 descriptors each way, every offload the port offers, the port's own MTU, promiscuous mode.
     */
    public static Port dpdk(String devargs) {
        return new Port(Objects.requireNonNull(devargs, "devargs"), PortConfig.defaults(), List.of());
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
        /** The port once a group opens it: its loops' queues share it. */
        private final SharedPort shared;

        private Port(String devargs, PortConfig config, List<Consumer<EalConfig.Builder>> eal) {
            this.devargs = devargs;
            this.config = config;
            this.eal = eal;
            this.shared = new SharedPort(devargs, config, this::ealConfig);
        }

        /** Receive and transmit descriptors per queue (default 1024 each, at most 65535). */
        public Port withDescriptors(int rx, int tx) {
            return new Port(devargs, new PortConfig(config.rxQueues(), config.txQueues(), rx, tx,
                    config.checksumOffload(), config.tso(), config.multiSegments(), config.rss(), config.mtu(),
                    config.promiscuous()), eal);
        }

        /** The port's MTU (default: the port's own). */
        public Port withMtu(int mtu) {
            return new Port(devargs, config.withMtu(mtu), eal);
        }

        /** No checksum or segmentation offload, whatever the port offers: the stack computes every checksum. */
        public Port withoutOffloads() {
            return new Port(devargs, config.withoutOffloads(), eal);
        }

        /** Promiscuous mode (on by default, as a vdev on a veth needs). */
        public Port withPromiscuous(boolean on) {
            return new Port(devargs, new PortConfig(config.rxQueues(), config.txQueues(), config.rxDescriptors(),
                    config.txDescriptors(), config.checksumOffload(), config.tso(), config.multiSegments(),
                    config.rss(), config.mtu(), on), eal);
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
            return new Port(devargs, config, List.copyOf(all));
        }

        /** Null: EAL starts with its defaults (enough for vdevs), or as the process already started it. */
        EalConfig ealConfig() {
            if (eal.isEmpty()) {
                return null;
            }
            EalConfig.Builder b = EalConfig.builder();
            eal.forEach(option -> option.accept(b));
            return b.build();
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

    private static final class SharedPort {
        private final String devargs;
        private final PortConfig config;
        private final Supplier<EalConfig> eal;
        private DpdkPort port;
        private DpdkMbufPool pool;
        private int open;

        SharedPort(String devargs, PortConfig config, Supplier<EalConfig> eal) {
            this.devargs = devargs;
            this.config = config;
            this.eal = eal;
        }

        synchronized NetDevice open(int loopIndex, int loopCount) {
            if (port == null) {
                EalConfig ealConfig = eal.get();
                if (ealConfig != null) {
                    Eal.init(ealConfig); // a no-op if the process initialised it alike; a clear error if otherwise
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
                    port.start();
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

        private synchronized void closed() {
            if (--open == 0) {
                port.close();
                // every mbuf home but those a closed af_xdp driver forgot (counted exactly at close): free the pool
                if (!pool.closeAbandoned(port.mbufsAbandonedAtClose())) {
                    logger.info("{} closed with {} mbufs of {} still held by the application; the pool stays"
                            + " allocated", port, pool.capacity() - pool.available() - port.mbufsAbandonedAtClose(),
                            pool);
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
