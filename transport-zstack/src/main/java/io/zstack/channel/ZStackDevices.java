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

/**
 * Device factories for {@link ZStackConfig.Builder#device}: a DPDK port (a NIC by PCI address, or any vdev) opened
 * once with one queue pair per loop and RSS across them, sharing one mbuf pool. Closing the last loop's device
 * closes the port and the pool.
 */
public final class ZStackDevices {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ZStackDevices.class);

    /** Mbufs in the shared pool per queue: enough for full rx/tx rings plus what TCP holds in its queues. */
    public static final int MBUFS_PER_QUEUE = 16384;
    /** Data room of each mbuf: a 1500-byte frame plus DPDK's headroom. */
    public static final int MBUF_DATA_ROOM = 2176;

    private static final java.util.concurrent.atomic.AtomicInteger POOLS = new java.util.concurrent.atomic.AtomicInteger();

    private ZStackDevices() {
    }

    /** A TAP interface named {@code iface} (DPDK's net_tap): the kernel sees it as an ordinary interface. */
    public static ZStackConfig.DeviceFactory tap(String iface) {
        return dpdk(Vdevs.tap(0, iface), PortConfig.defaults());
    }

    /**
     * The port {@code devargs} names (e.g. "net_tap0,iface=zs0" or "net_af_packet0,iface=eth1"), configured from
     * {@code config} with as many queue pairs as the group has loops.
     */
    public static ZStackConfig.DeviceFactory dpdk(String devargs, PortConfig config) {
        return new SharedPort(devargs, config, null);
    }

    /**
     * As {@link #dpdk(String, PortConfig)}, initialising DPDK's EAL with {@code eal} first (PCI allow-list, hugepages,
     * lcores for a real NIC); without it the EAL starts with {@link EalConfig#defaults()}, which suits virtual
     * devices. EAL starts once per process: another configuration than the one it started with is refused.
     */
    public static ZStackConfig.DeviceFactory dpdk(String devargs, PortConfig config, EalConfig eal) {
        return new SharedPort(devargs, config, eal);
    }

    private static final class SharedPort implements ZStackConfig.DeviceFactory {
        private final String devargs;
        private final PortConfig config;
        private final EalConfig eal;
        private DpdkPort port;
        private DpdkMbufPool pool;
        private int open;

        SharedPort(String devargs, PortConfig config, EalConfig eal) {
            this.devargs = devargs;
            this.config = config;
            this.eal = eal;
        }

        @Override
        public synchronized NetDevice open(int loopIndex, int loopCount) {
            if (port == null) {
                if (eal != null) {
                    Eal.init(eal); // a no-op if the process initialised it alike; a clear error if otherwise
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
