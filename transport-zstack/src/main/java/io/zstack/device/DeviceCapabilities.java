package io.zstack.device;

/**
 * What a device does so the stack does not have to.
 *
 * @param rxChecksumVerified the device checks IPv4 and TCP checksums on receive and flags the result
 * @param txIpv4Checksum     the device fills the IPv4 header checksum when asked per mbuf
 * @param txTcpChecksum      the device fills the TCP checksum (from the pseudo-header sum) when asked per mbuf
 * @param tcpSegmentation    the device cuts a large TCP segment into MSS-sized ones (TSO)
 * @param multiSegment       the device sends frames that are mbuf chains
 * @param maxTsoBytes        largest TSO payload it takes (0 without TSO)
 * @param txChecksumAnyChain the transport checksum it fills is right for any chain, also one whose inner segments
 *                           have odd lengths (DPDK 22.11's net_tap gets those wrong: the stack sums them itself)
 * @param maxChain           most mbufs a frame's chain may have (0: no limit): TCP cuts a segment gathered from many
 *                           small writes shorter to stay within it
 */
public record DeviceCapabilities(boolean rxChecksumVerified, boolean txIpv4Checksum, boolean txTcpChecksum,
                                 boolean tcpSegmentation, boolean multiSegment, int maxTsoBytes,
                                 boolean txChecksumAnyChain, int maxChain) {

    /** Largest TSO payload there is: an IPv4 packet's 65,535 bytes less its header and the largest TCP header. */
    public static final int MAX_TSO_BYTES = 65535 - 20 - 60;

    /** A device that does nothing for the stack but carry chained frames. */
    public static final DeviceCapabilities NONE = new DeviceCapabilities(false, false, false, false, true, 0, true, 0);

    /** No checksum needs computing: the medium cannot corrupt frames (in-process loopback). */
    public static final DeviceCapabilities RELIABLE_MEDIUM = new DeviceCapabilities(true, true, true, false, true, 0,
            true, 0);
}
