package io.zstack.dpdk;

/** A port's basic counters (rte_eth_stats). */
public record PortStats(long ipackets, long opackets, long ibytes, long obytes, long imissed, long ierrors,
                        long oerrors, long rxNoMbuf) {
}
