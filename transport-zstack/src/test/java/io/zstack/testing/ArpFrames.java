package io.zstack.testing;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import io.zstack.wire.ArpPacket;
import io.zstack.wire.Ethernet;

/** ARP frames built in an mbuf, as a peer would send them to a stack under test. */
public final class ArpFrames {
    private ArpFrames() {
    }

    /**
     * An ARP request (to the broadcast address, target MAC 0) or reply (to {@code targetMac}) from
     * {@code senderMac}/{@code sender} about {@code target}, in a new mbuf of {@code pool}.
     */
    public static long frame(MbufPool pool, int operation, long senderMac, int sender, long targetMac, int target) {
        long m = pool.alloc();
        long at = Mbuf.append(m, Ethernet.HEADER_LENGTH + ArpPacket.LENGTH);
        boolean request = operation == ArpPacket.REQUEST;
        Ethernet.write(Mbuf.MEMORY, at, request ? 0xffff_ffff_ffffL : targetMac, senderMac, Ethernet.TYPE_ARP);
        ArpPacket.write(Mbuf.MEMORY, at + Ethernet.HEADER_LENGTH, operation, senderMac, sender,
                request ? 0 : targetMac, target);
        return m;
    }
}
