package io.zstack.stack;

import io.zstack.buffer.MbufBurst;

/**
 * Where received frames belong when several stacks share one device, one queue each. A NIC's RSS already delivers a
 * TCP flow to the queue its Toeplitz hash picks, and outgoing connections choose their ports by that hash; a device
 * that spreads frames otherwise (af_packet's kernel fanout, a tap's or a memif peer's queue choice) delivers some to
 * a stack that does not hold their connection. The stack that receives such a frame hands it to its owner.
 */
public interface FlowSteering {
    /** The index of the stack a frame received from the device belongs to. */
    int ownerOf(long frame);

    /** This stack's index. */
    int self();

    /** Gives {@code frame} to stack {@code owner}; false when it cannot take it now (the caller still owns it). */
    boolean handOver(int owner, long frame);

    /** Moves frames other stacks handed to this one into {@code burst}; returns how many. */
    int takeHandedOver(MbufBurst burst);
}
