package io.zstack.channel;

import io.zstack.util.Counters;

/**
 * One loop's connections that skip TCP (in-process, {@link InProcessConnections}, and cross-process,
 * {@link CrossProcessConnections}); written by that loop's thread only. Bytes copied into a cross-process region
 * count as copied.
 */
final class InProcessCounters extends Counters {
    /** Connections this loop's clients opened without TCP. */
    public long connectsInProcess;
    /** Written bytes handed to the peer as the writer's own mbufs. */
    public long bytesByReference;
    /** Written bytes copied once (a buffer others hold, heap or composite memory, a FileRegion, copy mode). */
    public long bytesCopied;
    /** Closes the peer reads as a reset (SO_LINGER 0, or data it sent was left unread). */
    public long resetsSent;
    /** Connections this loop's clients opened to another process of the node through shared memory. */
    public long connectsCrossProcess;
    /** Cross-process connections whose peer process went away without closing them (killed): read as a reset. */
    public long peersLost;

    InProcessCounters() {
        super("inprocess");
    }
}
