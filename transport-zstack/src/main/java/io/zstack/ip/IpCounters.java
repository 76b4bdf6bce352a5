package io.zstack.ip;

import io.zstack.util.Counters;

/** What the Ethernet/ARP/IPv4/ICMP layer counted, like the Ip/Icmp sections of {@code netstat -s}. */
public final class IpCounters extends Counters {
    public long framesReceived;
    public long framesSent;
    public long packetsReceived;
    public long packetsDelivered;
    public long packetsSent;
    public long arpRequestsReceived;
    public long arpRepliesReceived;
    public long arpRequestsSent;
    public long arpRepliesSent;
    public long icmpReceived;
    public long icmpEchoRepliesSent;
    public long icmpUnreachableReceived;

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
    public long ipFragmentsDropped;
    public long ipUnknownProtocol;
    public long icmpMalformed;
    public long icmpBadChecksum;
    public long noRoute;
    public long arpQueueDrops;
    public long txQueueFull;
    public long noMbufs;

    public IpCounters() {
        super("ip");
    }
}
