package io.zstack.dpdk;

/**
 * What a port is and can do (rte_eth_dev_info, link, MAC), read once through the shim's flat struct.
 * Offload masks are DPDK's RTE_ETH_{RX,TX}_OFFLOAD_* bits; {@link Offloads} names the ones ZStack uses.
 */
public record PortInfo(
        int port,
        String deviceName,
        String driverName,
        byte[] macAddress,
        int mtu,
        int minMtu,
        int maxMtu,
        int maxRxPacketLength,
        int maxRxQueues,
        int maxTxQueues,
        long rxOffloadCapabilities,
        long txOffloadCapabilities,
        long rssHashFunctions,
        int ifIndex,
        int socketId,
        boolean linkUp,
        int linkSpeedMbps,
        boolean linkFullDuplex) {

    public PortInfo {
        macAddress = macAddress.clone();
    }

    @Override
    public byte[] macAddress() {
        return macAddress.clone();
    }

    public String macString() {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < macAddress.length; i++) {
            if (i > 0) {
                s.append(':');
            }
            s.append(String.format("%02x", macAddress[i] & 0xff));
        }
        return s.toString();
    }

    @Override
    public String toString() {
        return "port " + port + " " + deviceName + " (" + driverName + ") mac " + macString() + " mtu " + mtu
                + " link " + (linkUp ? "up " + linkSpeedMbps + " Mbps" : "down") + " queues rx " + maxRxQueues
                + " tx " + maxTxQueues + " offloads rx 0x" + Long.toHexString(rxOffloadCapabilities)
                + " tx 0x" + Long.toHexString(txOffloadCapabilities);
    }
}
