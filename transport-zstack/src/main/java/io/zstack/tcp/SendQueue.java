package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import java.lang.foreign.MemorySegment;

/**
 * The bytes a connection has been given to send and that are not yet acknowledged, held as references to the mbufs
 * the application wrote (never copied). Positions are stream offsets ({@code long}, counted from the first byte
 * ever queued), so sequence-number wraparound stays the connection's business.
 *
 * <p>Each piece is one mbuf segment plus the range of its buffer that holds queued bytes. The range is kept here,
 * not in the mbuf, because a NIC may still hold the mbuf (its data_off changed by headers prepended in place)
 * while a retransmission needs the original bytes. {@link #inPlace} hands out the queued mbuf itself, headers to go
 * in its headroom, when nothing else can be reading it (the rule is written there); {@link #slice} builds a
 * segment's payload for a header mbuf otherwise; {@link #acknowledge} drops whole pieces and narrows the first.
 */
final class SendQueue {
    private final MbufPool pool;
    // 8 pieces to start with (a request/response connection needs no more), doubled as a flight needs
    private long[] mbufs = new long[8];
    private long[] dataAddress = new long[8];
    private int[] length = new int[8];
    private long[] startOffset = new long[8];
    private int head;
    private int count;
    /** Stream offset of the first unacknowledged byte. */
    private long startOfQueue;
    /** Stream offset just past the last queued byte. */
    private long endOfQueue;
    /** What the queued pieces pin of the pools, as Linux counts skb truesize: see {@link #charge}. */
    private long memory;
    private int capacityMask = 7;

    SendQueue(MbufPool pool) {
        this.pool = pool;
    }

    /** Queued, unacknowledged bytes. */
    long size() {
        return endOfQueue - startOfQueue;
    }

    long start() {
        return startOfQueue;
    }

    long end() {
        return endOfQueue;
    }

    int pieces() {
        return count;
    }

    /** Pool memory the queue pins: the send buffer limits this as well as the bytes (see {@link #charge}). */
    long memory() {
        return memory;
    }

    /**
     * A piece pins a whole mbuf whatever it holds: counting bytes alone, writes of a few bytes each could take every
     * mbuf of the pool into one send queue (the stress test's 3-byte echo did, and the connection then had none left
     * to send with). Each piece counts at least one regular mbuf's data room.
     */
    private long charge(int len) {
        return Math.max(len, pool.dataRoom());
    }

    /**
     * Room after the last piece's bytes that a copy may fill ({@link #extendTail}): 0 unless that piece is a direct
     * mbuf that nothing but this queue references (not in flight, no view of it anywhere), so bytes written past
     * the piece are seen by no one else.
     */
    int tailRoom() {
        return tailRoom(Integer.MAX_VALUE);
    }

    /**
     * {@link #tailRoom()}, but never growing the last piece past {@code maxPiece} bytes: with pieces of at most one
     * segment's payload, TCP cuts every segment at a piece's start, where its headers go in place ({@link #inPlace}).
     */
    int tailRoom(int maxPiece) {
        if (count == 0) {
            return 0;
        }
        int i = (head + count - 1) & capacityMask;
        long m = mbufs[i];
        if (Mbuf.isIndirect(m) || pool.refcnt(m) != 1) {
            return 0;
        }
        long bufferEnd = Mbuf.bufAddr(m) + Mbuf.bufLen(m);
        long room = Math.max(0, bufferEnd - (dataAddress[i] + length[i]));
        return (int) Math.max(0, Math.min(room, (long) maxPiece - length[i]));
    }

    /** Where {@link #tailRoom} starts. */
    long tailAddress() {
        int i = (head + count - 1) & capacityMask;
        return dataAddress[i] + length[i];
    }

    /** Queues {@code n} bytes written at {@link #tailAddress}, at most {@link #tailRoom}. */
    void extendTail(int n) {
        if (n < 0 || n > tailRoom()) { // callers ask tailRoom(maxPiece), at most this
            throw new IllegalArgumentException("extendTail " + n + ", room " + tailRoom());
        }
        int i = (head + count - 1) & capacityMask;
        memory += charge(length[i] + n) - charge(length[i]);
        length[i] += n;
        endOfQueue += n;
    }

    /**
     * Takes ownership of an mbuf chain whose data (every segment's data_len bytes) is to be sent. Empty segments are
     * freed at once. Returns the number of bytes queued.
     */
    int append(long chain) {
        int total = 0;
        long seg = chain;
        while (seg != 0) {
            long next = Mbuf.next(seg);
            int len = Mbuf.dataLen(seg);
            if (len == 0) {
                pool.freeSegment(seg);
            } else {
                if (count == mbufs.length) {
                    grow();
                }
                int i = (head + count) & capacityMask;
                mbufs[i] = seg;
                dataAddress[i] = Mbuf.dataAddress(seg);
                length[i] = len;
                startOffset[i] = endOfQueue;
                count++;
                endOfQueue += len;
                memory += charge(len);
                total += len;
            }
            seg = next;
        }
        // the chain's links now belong to nobody: each piece is freed alone (freeSegment), never as a chain
        return total;
    }

    private void grow() {
        int n = mbufs.length * 2;
        long[] m = new long[n];
        long[] a = new long[n];
        int[] l = new int[n];
        long[] s = new long[n];
        for (int k = 0; k < count; k++) {
            int i = (head + k) & capacityMask;
            m[k] = mbufs[i];
            a[k] = dataAddress[i];
            l[k] = length[i];
            s[k] = startOffset[i];
        }
        mbufs = m;
        dataAddress = a;
        length = l;
        startOffset = s;
        head = 0;
        capacityMask = n - 1;
    }

    /** Drops bytes up to stream offset {@code upTo} (acknowledged), freeing pieces that are wholly covered. */
    void acknowledge(long upTo) {
        if (upTo <= startOfQueue) {
            return;
        }
        if (upTo > endOfQueue) {
            throw new IllegalArgumentException("ack past the queue: " + upTo + " > " + endOfQueue);
        }
        while (count > 0) {
            int i = head;
            long pieceEnd = startOffset[i] + length[i];
            if (pieceEnd <= upTo) {
                memory -= charge(length[i]);
                pool.freeSegment(mbufs[i]);
                mbufs[i] = 0;
                head = (head + 1) & capacityMask;
                count--;
            } else {
                if (upTo > startOffset[i]) {
                    int cut = (int) (upTo - startOffset[i]);
                    memory += charge(length[i] - cut) - charge(length[i]);
                    dataAddress[i] += cut;
                    length[i] -= cut;
                    startOffset[i] = upTo;
                }
                break;
            }
        }
        startOfQueue = upTo;
    }

    /** Index (0-based from the head) of the piece holding stream offset {@code offset}; binary search. */
    private int find(long offset) {
        int lo = 0;
        int hi = count - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (startOffset[(head + mid) & capacityMask] <= offset) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /**
     * A chain for one segment's first-choice transmission: its head is the queued mbuf itself, to take the segment's
     * headers in place, in the headroom in front of its payload; 0 when the rule below forbids it (nothing is held
     * then: the caller builds a header mbuf in front of {@link #slice}).
     *
     * <p><b>The rule (wrong bytes otherwise).</b> Writing headers in front of a payload writes into memory that the
     * send queue does not account for. That is allowed only when nobody can be reading that memory, which holds when
     * <ol>
     * <li>the mbuf is direct and has no external buffer: an indirect mbuf's (or an attached external buffer's)
     * headroom is another mbuf's buffer, whose bytes are some other segment's payload;</li>
     * <li>the send queue holds its only reference (refcnt 1): otherwise a transmit ring, a loopback peer's receive
     * queue or a capture still reads the earlier transmission of these bytes (and the memory in front of them),
     * which is the case of a retransmission while the NIC still holds the first copy;</li>
     * <li>the segment starts at the first byte the queue holds of that mbuf: the bytes in front are then headroom,
     * the headers of the frame it was received in (an echo), or bytes already acknowledged. A segment cut from the
     * middle of a buffer has the previous segment's unacknowledged payload in front of it;</li>
     * <li>the headroom holds the largest Ethernet + IPv4 + TCP header ({@code headerRoom}).</li>
     * </ol>
     * The other mbufs of a segment that spans several pieces follow {@link #slice}'s rules (no bytes are written
     * into them); {@code chains} false (a device that takes one mbuf per frame) refuses such a segment.
     */
    long inPlace(long from, int len, int headerRoom, boolean chains) {
        checkRange(from, len);
        int k = find(from);
        int i = (this.head + k) & capacityMask;
        if (from != startOffset[i]) {
            return 0; // rule 3
        }
        long m = mbufs[i];
        int take = Math.min(length[i], len);
        if ((take < len && !chains) || !direct(m) || dataAddress[i] - Mbuf.bufAddr(m) < headerRoom
                || !pool.retainIfSole(m)) {
            // rules 1, 4 and 2 (the last takes the transmission's reference when it holds: the NIC frees it, the
            // queue keeps its own), or a segment spanning pieces for a device that takes no chains
            return 0;
        }
        frame(m, dataAddress[i], take);
        if (take == len) {
            return m;
        }
        long rest = views(from + take, len - take, k + 1);
        if (rest == 0) {
            pool.freeSegment(m);
            return 0;
        }
        Mbuf.setNext(m, rest);
        Mbuf.setNbSegs(m, 1 + Mbuf.nbSegs(rest));
        Mbuf.setPktLen(m, len);
        return m;
    }

    /**
     * A direct mbuf with its own buffer (rule 1 of {@link #inPlace}); with the queue's reference its only one
     * ({@link MbufPool#retainIfSole}, rule 2) it may itself go into a frame. Its fields (data_off, data_len, next)
     * are then the transmission's; the queue keeps the range in its own arrays.
     */
    private static boolean direct(long m) {
        return (Mbuf.olFlags(m) & (Mbuf.LAYOUT.indirect | Mbuf.LAYOUT.external)) == 0;
    }

    /** Points a queued direct mbuf (one more reference already taken) at [address, address + len), alone. */
    private static void frame(long m, long address, int len) {
        Mbuf.setDataOff(m, (int) (address - Mbuf.bufAddr(m)));
        Mbuf.setDataLen(m, len);
        Mbuf.setPktLen(m, len);
        Mbuf.setNbSegs(m, 1);
        Mbuf.setNext(m, 0);
        Mbuf.setOlFlags(m, 0);
        Mbuf.setPacketType(m, 0);
        Mbuf.setTxOffload(m, 0);
    }

    private void checkRange(long from, int len) {
        if (from < startOfQueue || len <= 0 || from + len > endOfQueue) {
            throw new IllegalArgumentException("slice [" + from + ", +" + len + ") outside [" + startOfQueue + ", "
                    + endOfQueue + ")");
        }
    }

    /**
     * A new mbuf chain holding bytes [{@code from}, {@code from + len}) of the queue by reference (the payload is
     * never copied), or 0 if the pool ran out (nothing is held then). Each piece goes as the queued mbuf itself with
     * a reference more when only the queue holds it ({@link #direct}, {@link MbufPool#retainIfSole}: its fields are
     * free to describe this frame), else as an indirect mbuf viewing it (the queued mbuf is still in an earlier frame: a transmit ring or a
     * loopback peer reads its fields and bytes). Nothing is written into any payload's memory. The caller owns the
     * chain: it goes to the NIC, which frees it, and the queued bytes stay alive until acknowledged.
     */
    long slice(long from, int len) {
        checkRange(from, len);
        return views(from, len, find(from));
    }

    /** The chain of {@link #slice}, starting at piece {@code k} (which holds {@code from}). */
    private long views(long from, int len, int k) {
        long head = 0;
        long tail = 0;
        int segments = 0;
        long at = from;
        int left = len;
        while (left > 0) {
            int i = (this.head + k) & capacityMask;
            int skip = (int) (at - startOffset[i]);
            int take = Math.min(length[i] - skip, left);
            long m = mbufs[i];
            long view;
            if (direct(m) && pool.retainIfSole(m)) { // exclusive: the frame takes a reference of its own
                view = m;
                frame(view, dataAddress[i] + skip, take);
            } else {
                view = pool.attachIndirect(m);
                if (view == 0) {
                    pool.free(head);
                    return 0;
                }
                Mbuf.setDataOff(view, (int) (dataAddress[i] + skip - Mbuf.bufAddr(view)));
                Mbuf.setDataLen(view, take);
                Mbuf.setPktLen(view, take);
            }
            if (head == 0) {
                head = view;
            } else {
                Mbuf.setNext(tail, view);
            }
            tail = view;
            segments++;
            at += take;
            left -= take;
            k++;
        }
        Mbuf.setNbSegs(head, segments);
        Mbuf.setPktLen(head, len);
        return head;
    }

    /**
     * The length of a new segment of at most {@code len} bytes at {@code from}, cut back to the last boundary between
     * pieces inside it when it would otherwise end in the middle of a piece. The next segment then starts at a piece's
     * first byte, where its headers can go in place ({@link #inPlace}'s rule 3): a short piece followed by full ones
     * (a header and a body, an echoed read) costs one frame more than cutting by the MSS alone, instead of a header
     * mbuf and an indirect mbuf in every later segment. Without a boundary inside, {@code len} is kept.
     */
    int endAtPiece(long from, int len) {
        long end = from + len;
        if (end >= endOfQueue) {
            return len;
        }
        int i = (head + find(end - 1)) & capacityMask;
        long pieceStart = startOffset[i];
        if (pieceStart + length[i] == end || pieceStart <= from) {
            return len;
        }
        return (int) (pieceStart - from);
    }

    /**
     * True when every piece boundary inside [from, from + len) lies an even number of bytes past {@code from}: the
     * segment made of that range is a chain whose inner mbufs all have even lengths (its header's length is a multiple
     * of 4). A device whose offloaded checksum is wrong for odd inner pieces (DPDK 22.11's net_tap) can take such a
     * segment whole for TSO.
     */
    boolean evenPieces(long from, int len) {
        long end = from + len;
        int k = find(from);
        while (true) {
            int i = (head + k) & capacityMask;
            long pieceEnd = startOffset[i] + length[i];
            if (pieceEnd >= end) {
                return true;
            }
            if (((pieceEnd - from) & 1) != 0) {
                return false;
            }
            k++;
        }
    }

    /**
     * The length of the longest prefix of [from, from + len) that lies in at most {@code pieces} of the queue's mbufs:
     * {@code len} itself when the range spans no more.
     */
    int withinPieces(long from, int len, int pieces) {
        long end = from + len;
        int k = find(from);
        for (int n = 1; ; n++, k++) {
            int i = (head + k) & capacityMask;
            long pieceEnd = startOffset[i] + length[i];
            if (pieceEnd >= end) {
                return len;
            }
            if (n == pieces) {
                return (int) (pieceEnd - from);
            }
        }
    }

    /**
     * The length of the longest suffix of [end - len, end) that lies in at most {@code pieces} of the queue's mbufs:
     * {@code len} itself when the range spans no more.
     */
    int tailWithinPieces(long end, int len, int pieces) {
        long from = end - len;
        int k = find(end - 1);
        for (int n = 1; ; n++, k--) {
            long pieceStart = startOffset[(head + k) & capacityMask];
            if (pieceStart <= from) {
                return len;
            }
            if (n == pieces) {
                return (int) (end - pieceStart);
            }
        }
    }

    /** Copies bytes [from, from + len) into dst (used when a device cannot send chains). */
    void copyOut(long from, int len, MemorySegment dst, long dstOffset) {
        int k = find(from);
        long at = from;
        int left = len;
        while (left > 0) {
            int i = (head + k) & capacityMask;
            int skip = (int) (at - startOffset[i]);
            int take = Math.min(length[i] - skip, left);
            Mbuf.copyFromAddress(dataAddress[i] + skip, dst, dstOffset, take);
            dstOffset += take;
            at += take;
            left -= take;
            k++;
        }
    }

    /** Frees everything (connection aborted or closed). */
    void clear() {
        memory = 0;
        while (count > 0) {
            pool.freeSegment(mbufs[head]);
            mbufs[head] = 0;
            head = (head + 1) & capacityMask;
            count--;
        }
        startOfQueue = endOfQueue;
    }
}
