package io.zstack.ip;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.LinkedHashMap;
import java.util.Map;

/** What the Ethernet/ARP/IPv4/ICMP layer counted, like the Ip/Icmp sections of {@code netstat -s}. */
public final class IpCounters {
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

    public Map<String, Long> snapshot() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Field f : IpCounters.class.getDeclaredFields()) {
            if (f.getType() == long.class && !Modifier.isStatic(f.getModifiers())) {
                try {
                    out.put(f.getName(), f.getLong(this));
                } catch (IllegalAccessException e) {
                    throw new AssertionError(e);
                }
            }
        }
        return out;
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("ip:");
        snapshot().forEach((k, v) -> {
            if (v != 0) {
                s.append(' ').append(k).append('=').append(v);
            }
        });
        return s.toString();
    }
}
