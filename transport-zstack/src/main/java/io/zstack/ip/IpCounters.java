package io.zstack.ip;

import io.zstack.util.Counters;

/** What the Ethernet/ARP/IPv4/ICMP layer counted, like the Ip/Icmp sections of {@code netstat -s}. */
public final class IpCounters extends Counters {
    /** Frames the devices delivered, those receive coalescing merged included. */
    public long framesReceived;
    /** Transport checksums left to the device (offloaded: only the pseudo-header sum is written). */
    public long txChecksumOffloaded;
    /** TCP segments handed to the device to cut into MSS-sized ones (TSO). */
    public long tsoPacketsSent;
    /** TSO segments dropped because their route stopped being usable before they went (the transport resends). */
    public long tsoUnroutable;
    /** Transport checksums summed here (the device offers no offload, or the frame's layout defeats it). */
    public long txChecksumSoftware;
    /** Received transport packets whose checksum the device verified (its RX_L4_CKSUM_GOOD flag): not summed again. */
    public long rxChecksumTrusted;
    /**
     * Received transport packets without the device's verdict: the transport sums them, or receive coalescing summed
     * them (and marked them RX_L4_CKSUM_NONE: verified, but the merged packet's checksum field is not its sum).
     */
    public long rxChecksumSoftware;
    /** Received frames merged into the TCP segment before them (receive coalescing, NetStack). */
    public long framesCoalesced;
    /** Segments receive coalescing made of more than one frame. */
    public long segmentsCoalesced;
    /** Frames another thread flushed because the loop did not come back from a handler (ZStackEventLoop.StallWatch). */
    public long stalledFlushFrames;
    public long framesSent;
    public long packetsReceived;
    public long packetsDelivered;
    public long packetsSent;
    public long arpRequestsReceived;
    public long arpRepliesReceived;
    public long arpRequestsSent;
    public long arpRepliesSent;
    public long icmpReceived;
    /** Fragments received for us (RFC 1122's reassembly requests; Linux's ReasmReqds). */
    public long ipFragmentsReceived;
    /** Datagrams put back together from their fragments (ReasmOKs). */
    public long ipReassembled;
    public long icmpEchoRepliesSent;
    /** Fragments sent: of echo replies larger than the MTU (to requests reassembled from fragments). */
    public long fragmentsSent;
    public long icmpUnreachableReceived;
    /** ICMP time exceeded sent for datagrams whose reassembly timed out with their first fragment here. */
    public long icmpTimeExceededSent;

    // drops by reason
    public long frameTooShort;
    public long otherEtherType;
    public long notOurMac;
    public long arpMalformed;
    public long arpNotForUs;
    public long ipTooShort;
    public long ipBadVersion;
    public long ipBadHeaderLength;
    public long ipBadTotalLength;
    public long ipBadChecksum;
    public long ipNotForUs;
    /** Fragments dropped because the pool was low (an eighth of it or less free). */
    public long ipFragmentsDropped;
    /** Fragments that cannot be part of a datagram: empty, a middle one not a multiple of 8 bytes, past 64 KB. */
    public long ipFragmentsMalformed;
    /** Fragments received again (the same offset and length): the first copy is kept. */
    public long ipFragmentDuplicates;
    /** Fragments overlapping another of their datagram: the datagram is dropped (counted in ipReassemblyFailed too). */
    public long ipFragmentOverlaps;
    /** Datagrams dropped part-way: overlaps, inconsistent ends, too many fragments (ReasmFails, less timeouts). */
    public long ipReassemblyFailed;
    /** Datagrams not complete within Reassembly.TIMEOUT_NANOS of their first fragment (ReasmTimeout). */
    public long ipReassemblyTimeouts;
    /** Datagrams in progress dropped to make room for a new one (the oldest goes). */
    public long ipReassemblyEvictions;
    /** Packets of just an IPv4 header, nothing for a transport. */
    public long ipNoTransportBytes;
    public long ipUnknownProtocol;
    public long icmpMalformed;
    public long icmpBadChecksum;
    /** Echo requests in more mbufs than the device sends in one frame (DeviceCapabilities.maxChain): not answered. */
    public long icmpEchoChainTooLong;
    public long noRoute;
    public long arpQueueDrops;
    public long txQueueFull;
    public long noMbufs;

    public IpCounters() {
        super("ip");
    }
}
