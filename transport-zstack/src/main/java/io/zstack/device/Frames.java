package io.zstack.device;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;

/** Frame helpers shared by the simulated devices: deep copies across pools. */
final class Frames {
    private Frames() {
    }

    /**
     * A deep copy of the frame (data and the rx/tx metadata a NIC would carry) in mbufs of {@code pool}, chained
     * when it does not fit one; 0 when the pool runs out (nothing is kept allocated then).
     */
    static long copy(long frame, MbufPool pool) {
        int length = Mbuf.pktLen(frame);
        int room = Math.max(1, pool.dataRoom() - pool.headroom());
        long head = 0;
        int copied = 0;
        do {
            long m = pool.alloc();
            if (m == 0) {
                pool.free(head);
                return 0;
            }
            int n = Math.min(room, length - copied);
            long address = Mbuf.append(m, n);
            Mbuf.copyOut(frame, copied, Mbuf.MEMORY, address, n);
            copied += n;
            if (head == 0) {
                head = m;
            } else if (!Mbuf.chain(head, m)) {
                pool.free(m);
                pool.free(head);
                return 0; // more segments than DPDK allows: cannot be represented
            }
        } while (copied < length);
        Mbuf.setOlFlags(head, Mbuf.olFlags(frame) & ~(Mbuf.LAYOUT.indirect | Mbuf.LAYOUT.external));
        Mbuf.setPacketType(head, Mbuf.packetType(frame));
        Mbuf.setTxOffload(head, Mbuf.txOffload(frame));
        Mbuf.setRssHash(head, Mbuf.rssHash(frame));
        Mbuf.setPort(head, Mbuf.port(frame));
        return head;
    }

    /** True when some segment's buffer may be seen by someone else (refcount above 1, or an indirect view). */
    static boolean isShared(long frame) {
        long sharedFlags = Mbuf.LAYOUT.indirect | Mbuf.LAYOUT.external;
        for (long seg = frame; seg != 0; seg = Mbuf.next(seg)) {
            if (Mbuf.refcntPlain(seg) > 1 || (Mbuf.olFlags(seg) & sharedFlags) != 0) {
                return true;
            }
        }
        return false;
    }
}
