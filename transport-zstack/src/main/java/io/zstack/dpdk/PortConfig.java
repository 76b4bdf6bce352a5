package io.zstack.dpdk;

/**
 * How to configure a port. Offloads are requested, not demanded: {@link DpdkPort#configure} keeps the ones the
 * port offers and reports the result in {@link DpdkPort#enabledRxOffloads()} / {@link DpdkPort#enabledTxOffloads()}.
 */
public record PortConfig(int rxQueues, int txQueues, int rxDescriptors, int txDescriptors, boolean checksumOffload,
                         boolean tso, boolean multiSegments, boolean rss, int mtu, boolean promiscuous) {
    /** {@link #rxDescriptors} left to ZStack, per driver: see {@link #rxDescriptorsFor}. */
    public static final int DRIVER_DEFAULT = 0;
    /** Receive descriptors per queue where the driver has no default of ours. */
    public static final int RX_DESCRIPTORS = 1024;
    /**
     * Receive descriptors per queue on af_xdp: the socket's receive ring. With 1024, wrk's 200 connections posting
     * 8 KB each (1,200 frames at once) overflowed it and the veth dropped 0.1-0.2 % of the client's frames (its TCP
     * resent them); with 4096 none. Descriptors only: the PMD stocks its fill ring with a fixed number of mbufs
     * (ETH_AF_XDP_DFLT_NUM_DESCS) whatever this count.
     */
    public static final int AF_XDP_RX_DESCRIPTORS = 4096;

    public PortConfig {
        if (rxQueues < 1 || txQueues < 1 || rxQueues > 1024 || txQueues > 1024) {
            throw new IllegalArgumentException("queues: rx " + rxQueues + " tx " + txQueues);
        }
        if (rxDescriptors < DRIVER_DEFAULT || txDescriptors < 1 || rxDescriptors > 0xffff || txDescriptors > 0xffff) {
            throw new IllegalArgumentException("descriptors: rx " + rxDescriptors + " tx " + txDescriptors);
        }
        if (mtu < 0 || mtu > 0xffff) {
            throw new IllegalArgumentException("mtu: " + mtu);
        }
    }

    /**
     * One queue pair, the driver's receive descriptors ({@link #rxDescriptorsFor}) and 1024 transmit descriptors,
     * every offload the port offers, the port's own MTU.
     */
    public static PortConfig defaults() {
        return queues(1);
    }

    /** {@code n} queue pairs with RSS over IPv4/TCP when the port offers it. */
    public static PortConfig queues(int n) {
        return new PortConfig(n, n, DRIVER_DEFAULT, 1024, true, true, true, n > 1, 0, true);
    }

    /**
     * The receive descriptors asked of a port of {@code driver} (DPDK's driver name): the ones set, else ZStack's for
     * that driver.
     */
    public int rxDescriptorsFor(String driver) {
        if (rxDescriptors != DRIVER_DEFAULT) {
            return rxDescriptors;
        }
        return DpdkPort.AF_XDP_DRIVER.equals(driver) ? AF_XDP_RX_DESCRIPTORS : RX_DESCRIPTORS;
    }

    public PortConfig withMtu(int newMtu) {
        return new PortConfig(rxQueues, txQueues, rxDescriptors, txDescriptors, checksumOffload, tso, multiSegments,
                rss, newMtu, promiscuous);
    }

    public PortConfig withoutOffloads() {
        return new PortConfig(rxQueues, txQueues, rxDescriptors, txDescriptors, false, false, multiSegments, rss, mtu,
                promiscuous);
    }
}
