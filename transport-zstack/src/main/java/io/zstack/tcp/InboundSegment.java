package io.zstack.tcp;

/**
 * A received TCP segment as TCP input needs it: header fields and options already parsed and checked by the
 * wire layer, the payload as an mbuf chain whose data starts at the first payload byte. One instance is reused for
 * every segment; TCP input takes ownership of {@link #payload} (it frees or queues it) and sets it to 0.
 */
public final class InboundSegment {
    public int sourceAddress;
    public int destinationAddress;
    public int sourcePort;
    public int destinationPort;
    public int seq;
    public int ack;
    public int flags;
    /** The window field as sent (not yet scaled). */
    public int window;

    /** MSS option, or -1 when absent. */
    public int mss;
    /** Window-scale shift, or -1 when absent. */
    public int windowScale;
    public boolean sackPermitted;
    public boolean hasTimestamp;
    public int tsVal;
    public int tsEcr;
    /** SACK blocks: start and end sequence numbers, {@link #sackBlocks} of them. */
    public final int[] sackStart = new int[4];
    public final int[] sackEnd = new int[4];
    public int sackBlocks;

    /** Payload chain (0 when none); data_off points at the first payload byte. */
    public long payload;
    public int payloadLength;

    /** Resets the options before parsing a new segment. */
    public void clearOptions() {
        mss = -1;
        windowScale = -1;
        sackPermitted = false;
        hasTimestamp = false;
        tsVal = 0;
        tsEcr = 0;
        sackBlocks = 0;
    }

    public boolean has(int flag) {
        return (flags & flag) != 0;
    }

    /** Sequence space the segment occupies: payload plus one for SYN and one for FIN. */
    public int sequenceLength() {
        return payloadLength + ((flags & TcpFlags.SYN) != 0 ? 1 : 0) + ((flags & TcpFlags.FIN) != 0 ? 1 : 0);
    }

    @Override
    public String toString() {
        return String.format("%s:%d > %s:%d %s seq %d ack %d win %d len %d",
                Integer.toUnsignedString(sourceAddress), sourcePort, Integer.toUnsignedString(destinationAddress),
                destinationPort, TcpFlags.toString(flags), Integer.toUnsignedLong(seq), Integer.toUnsignedLong(ack),
                window, payloadLength);
    }
}
