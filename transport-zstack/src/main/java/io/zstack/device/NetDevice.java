package io.zstack.device;

import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.wire.MacAddress;

/**
 * An Ethernet device the stack polls: a DPDK port queue, the in-stack loopback, or a simulated link end.
 * Frames are mbuf chains holding a whole Ethernet frame (no FCS). Single-threaded: one poller per device.
 *
 * <p>Ownership: frames returned by {@link #receive} belong to the caller, who frees them to
 * {@link #pool()} (or to the pool that owns them). Frames accepted by {@link #transmit} belong to the device.
 */
public interface NetDevice extends AutoCloseable {
    String name();

    /**
     * Receives up to {@code burst.capacity()} frames into the burst, replacing its contents, and returns how many.
     * Never blocks.
     */
    int receive(MbufBurst burst);

    /**
     * Offers the burst's frames, in order, for transmission. Returns how many the device took; those are removed
     * from the front of the burst, and the ones it could not take (queue full) stay there, still the caller's.
     */
    int transmit(MbufBurst burst);

    /** What the device does for the stack (checksums, TSO, segment chains). */
    DeviceCapabilities capabilities();

    /**
     * Whether each {@link #transmit} call ends in one system call for the whole burst: af_xdp's and af_packet's
     * {@code sendto}, which on a veth also runs the peer's receive and, on these VMs, an inter-processor interrupt
     * to the CPU that takes it. Such a call costs several microseconds however few frames it carries, so a loop
     * holds its writes longer to share one ({@code ZStackConfig.Builder.transmitBatch}). A device whose transmit
     * stays in this process (memif, a NIC's doorbell, the loopback) or costs a call per frame anyway (tap) says no.
     */
    default boolean transmitCallEntersKernel() {
        return false;
    }

    MacAddress macAddress();

    /** Largest IP packet the device carries (without the Ethernet header). */
    int mtu();

    /** The pool received frames are allocated from, and the one to build frames to send in. */
    MbufPool pool();

    /** What the device itself counts (a DPDK port's statistics, a capture's size), for diagnostics; may be empty. */
    default String statistics() {
        return "";
    }

    /**
     * Mbufs of {@link #pool()} that the driver keeps even after {@link #close} (net_af_xdp abandons its fill ring):
     * missing from the pool, but not held by the stack or the application.
     */
    default int mbufsKeptAfterClose() {
        return 0;
    }

    /** Releases the device; frames still queued inside it are freed. */
    @Override
    void close();
}
