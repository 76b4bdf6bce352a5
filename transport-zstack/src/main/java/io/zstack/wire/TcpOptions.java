package io.zstack.wire;

/**
 * The TCP options the stack understands (RFC 9293 MSS, RFC 7323 window scale and timestamps, RFC 2018 SACK),
 * filled by {@link TcpHeader#parseOptions}. One reusable instance; nothing is allocated per segment.
 */
public final class TcpOptions {
    public static final int MAX_SACK_BLOCKS = 4;

    /** MSS, or -1 when absent. */
    public int mss = -1;
    /** Window scale shift, or -1 when absent. */
    public int windowScale = -1;
    public boolean sackPermitted;
    public boolean hasTimestamp;
    public int tsVal;
    public int tsEcr;
    public int sackBlocks;
    public final int[] sackStart = new int[MAX_SACK_BLOCKS];
    public final int[] sackEnd = new int[MAX_SACK_BLOCKS];
    /** Options of kinds we do not know, skipped by their length. */
    public int unknown;

    public void clear() {
        mss = -1;
        windowScale = -1;
        sackPermitted = false;
        hasTimestamp = false;
        tsVal = 0;
        tsEcr = 0;
        sackBlocks = 0;
        unknown = 0;
    }
}
