package io.zstack.channel;

import io.zstack.util.Counters;

/** One loop's in-process connections (see {@link InProcessConnections}); written by that loop's thread only. */
final class InProcessCounters extends Counters {
    /** Connections this loop's clients opened without TCP. */
    public long connectsInProcess;
    /** Written bytes handed to the peer as the writer's own mbufs. */
    public long bytesByReference;
    /** Written bytes copied once (a buffer others hold, heap or composite memory, a FileRegion, copy mode). */
    public long bytesCopied;
    /** Closes the peer reads as a reset (SO_LINGER 0, or data it sent was left unread). */
    public long resetsSent;

    InProcessCounters() {
        super("inprocess");
    }
}
