package io.zstack.testing;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.device.DpdkPortDevice;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A DPDK tap port whose kernel side lives in a network namespace the test created: the kernel interface gets
 * {@code kernelAddress/24}, the stack under test answers for another address of that subnet. Closing removes the
 * port (and with it the tap), then the namespace, and checks the pool got every mbuf back.
 */
public final class TapNetwork implements AutoCloseable {
    private static final AtomicInteger COUNTER = new AtomicInteger();
    /** A locally administered address for the kernel's end of the tap. */
    public static final String KERNEL_MAC = "02:00:00:00:00:01";

    public final NetNamespace namespace;
    public final String interfaceName;
    public final DpdkMbufPool pool;
    public final DpdkPortDevice device;

    private TapNetwork(NetNamespace namespace, String interfaceName, DpdkMbufPool pool, DpdkPortDevice device) {
        this.namespace = namespace;
        this.interfaceName = interfaceName;
        this.pool = pool;
        this.device = device;
    }

    public static TapNetwork create(String kernelAddress, PortConfig config) throws Exception {
        int n = COUNTER.incrementAndGet();
        NetNamespace ns = NetNamespace.create();
        DpdkMbufPool pool = null;
        try {
            String iface = "zstap" + n;
            pool = DpdkMbufPool.create("tap-pool-" + ProcessHandle.current().pid() + "-" + n, 4095, 0, 2176);
            DpdkMbufPool receivePool = pool;
            // the tap interface is created in the namespace of the thread that probes it
            DpdkPortDevice device = ns.call(() -> DpdkPortDevice.open(Vdevs.tap(20 + n, iface), config, receivePool));
            // the tap PMD gives the kernel interface the port's own MAC; two ends of a link need two addresses
            ns.exec("ip", "link", "set", iface, "address", KERNEL_MAC);
            ns.exec("ip", "addr", "add", kernelAddress + "/24", "dev", iface);
            ns.exec("ip", "link", "set", iface, "up");
            return new TapNetwork(ns, iface, pool, device);
        } catch (Exception | Error e) {
            if (pool != null) {
                pool.close();
            }
            ns.close();
            throw e;
        }
    }

    @Override
    public void close() {
        try {
            device.close();
        } finally {
            namespace.close();
            pool.close(); // refuses (throws) if an mbuf leaked
        }
    }
}
