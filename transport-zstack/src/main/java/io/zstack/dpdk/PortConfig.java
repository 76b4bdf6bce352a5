package io.zstack.dpdk;

/**
 * How to configure a port. Offloads are requested, not demanded: {@link DpdkPort#configure} keeps the ones the
 * port offers and reports the result in {@link DpdkPort#enabledRxOffloads()} / {@link DpdkPort#enabledTxOffloads()}.
 */
public record PortConfig(int rxQueues, int txQueues, int rxDescriptors, int txDescriptors, boolean checksumOffload,
                         boolean tso, boolean multiSegments, boolean rss, int mtu, boolean promiscuous) {

    public PortConfig {
        if (rxQueues < 1 || txQueues < 1 || rxQueues > 1024 || txQueues > 1024) {
            throw new IllegalArgumentException("queues: rx " + rxQueues + " tx " + txQueues);
        }
        if (rxDescriptors < 1 || txDescriptors < 1 || rxDescriptors > 0xffff || txDescriptors > 0xffff) {
            throw new IllegalArgumentException("descriptors: rx " + rxDescriptors + " tx " + txDescriptors);
        }
        if (mtu < 0 || mtu > 0xffff) {
            throw new IllegalArgumentException("mtu: " + mtu);
        }
    }

    /** One queue pair, 1024 descriptors each way, every offload the port offers, the port's own MTU. */
    public static PortConfig defaults() {
        return queues(1);
    }

    /** {@code n} queue pairs with RSS over IPv4/TCP when the port offers it. */
    public static PortConfig queues(int n) {
        return new PortConfig(n, n, 1024, 1024, true, true, true, n > 1, 0, true);
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
