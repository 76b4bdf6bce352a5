package io.zstack.ip;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Ipv4Packet;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * IPv4 reassembly (RFC 791 §3.2, RFC 1122 §3.3.2): a host must put fragmented datagrams back together. TCP never
 * needs it from a peer that sets DF, as every current one does; a peer that does not (path MTU discovery turned off)
 * has its segments cut by any router with a smaller MTU, and a large ping arrives in pieces too.
 *
 * <p>The fragments' own mbufs become the datagram: the first fragment's frame keeps its Ethernet and IP headers, the
 * others' payloads are chained behind it in order, and the header is rewritten as an unfragmented datagram's (total
 * length, no MF, offset 0, checksum). Nothing is copied.
 *
 * <p>Hostile fragments cost bounded memory and work: at most {@link #MAX_DATAGRAMS} datagrams in progress (the oldest
 * goes when another starts), {@link #MAX_FRAGMENTS} fragments each and {@link #MAX_HELD} in all, and a datagram not
 * complete {@link #TIMEOUT_NANOS} after its first fragment is dropped (Linux's 30 s). Overlapping fragments drop their
 * whole datagram, as Linux has done since FragmentSmack: there is no honest reason to send them, and choosing between
 * overlapping bytes is how IDS evasion works; an exact duplicate is dropped alone. Every drop is counted.
 *
 * <p>Pure state: time comes from the caller. One stack's thread only.
 */
final class Reassembly {
    /** How long a datagram may take to arrive whole, from its first fragment. */
    static final long TIMEOUT_NANOS = 30_000_000_000L;
    /** Datagrams in progress at once. */
    static final int MAX_DATAGRAMS = 16;
    /** Fragments of one datagram: a 64 KB datagram over a 1,500-byte MTU is 45. */
    static final int MAX_FRAGMENTS = 64;
    /** Fragments held across all datagrams. */
    static final int MAX_HELD = 256;
    /** Largest datagram, header included (the total-length field's limit). */
    private static final int MAX_DATAGRAM = 65_535;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final MbufPool pool;
    private final IpCounters counters;
    private final Datagram[] datagrams = new Datagram[MAX_DATAGRAMS];
    private int held;

    Reassembly(MbufPool pool, IpCounters counters) {
        this.pool = pool;
        this.counters = counters;
        for (int i = 0; i < MAX_DATAGRAMS; i++) {
            datagrams[i] = new Datagram();
        }
    }

    /** One datagram in progress: its key and its fragments, sorted by offset. */
    private static final class Datagram {
        boolean used;
        int source;
        int destination;
        int protocol;
        int identification;
        long firstArrivalNanos;
        /** Payload bytes of the whole datagram, known once its last fragment (MF clear) came; -1 before. */
        int totalPayload = -1;
        int receivedPayload;
        int count;
        /** Each fragment's frame: Ethernet and IP headers still in front of its payload. */
        final long[] frames = new long[MAX_FRAGMENTS];
        final int[] offsets = new int[MAX_FRAGMENTS];
        final int[] lengths = new int[MAX_FRAGMENTS];
        final int[] headerLengths = new int[MAX_FRAGMENTS];

        boolean matches(int source, int destination, int protocol, int identification) {
            return used && this.source == source && this.destination == destination && this.protocol == protocol
                    && this.identification == identification;
        }
    }

    /**
     * Takes a fragment: {@code frame} starts with its Ethernet header, {@code ip} is wrapped on its IPv4 header (whose
     * checksum was checked) and the frame holds at least the IP packet. Returns the whole datagram's frame once this
     * fragment completes it, else 0; the fragment is held or freed either way.
     */
    long offer(long frame, Ipv4Packet ip, long nowNanos) {
        counters.ipFragmentsReceived++;
        int headerLength = ip.headerLength();
        int payload = ip.totalLength() - headerLength;
        int field = ip.flagsAndFragmentOffset();
        int offset = (field & 0x1fff) * 8;
        boolean more = (field & Ipv4Packet.FLAG_MF) != 0;
        if (payload <= 0 || (more && (payload & 7) != 0) || offset + payload + headerLength > MAX_DATAGRAM) {
            // empty, a middle fragment not a multiple of 8 bytes (RFC 791), or past the largest datagram
            counters.ipFragmentsMalformed++;
            pool.free(frame);
            return 0;
        }
        int frameLength = Ethernet.HEADER_LENGTH + headerLength + payload;
        if (Mbuf.pktLen(frame) > frameLength) {
            frame = Mbuf.trimTo(pool, frame, frameLength); // Ethernet padding is not payload
        }
        Datagram d = find(ip.source(), ip.destination(), ip.protocol(), ip.identification(), nowNanos);
        if (!more) {
            int total = offset + payload;
            if ((d.totalPayload >= 0 && d.totalPayload != total) || (d.count > 0 && endOfLast(d) > total)) {
                fail(d, frame); // two different ends, or data past the end
                return 0;
            }
            d.totalPayload = total;
        } else if (d.totalPayload >= 0 && offset + payload > d.totalPayload) {
            fail(d, frame);
            return 0;
        }
        int at = insertionPoint(d, offset);
        if (at > 0 && d.offsets[at - 1] == offset && d.lengths[at - 1] == payload) {
            counters.ipFragmentDuplicates++; // sent twice, or duplicated on the way: the copy held is as good
            pool.free(frame);
            return 0;
        }
        if ((at > 0 && d.offsets[at - 1] + d.lengths[at - 1] > offset)
                || (at < d.count && offset + payload > d.offsets[at])) {
            counters.ipFragmentOverlaps++;
            fail(d, frame);
            return 0;
        }
        if (d.count == MAX_FRAGMENTS || held == MAX_HELD) {
            fail(d, frame);
            return 0;
        }
        System.arraycopy(d.frames, at, d.frames, at + 1, d.count - at);
        System.arraycopy(d.offsets, at, d.offsets, at + 1, d.count - at);
        System.arraycopy(d.lengths, at, d.lengths, at + 1, d.count - at);
        System.arraycopy(d.headerLengths, at, d.headerLengths, at + 1, d.count - at);
        d.frames[at] = frame;
        d.offsets[at] = offset;
        d.lengths[at] = payload;
        d.headerLengths[at] = headerLength;
        d.count++;
        held++;
        d.receivedPayload += payload; // no overlaps: the sum reaches the total exactly when every byte is here
        if (d.totalPayload < 0 || d.receivedPayload != d.totalPayload) {
            return 0;
        }
        return assemble(d);
    }

    /** Told of a datagram given up on whose first fragment had come (to answer it); must not keep the frame. */
    interface TimeoutSink {
        void timedOut(long firstFragment, int headerLength, long nowNanos);
    }

    /** Drops datagrams whose time is up, telling {@code sink} of those with their first fragment; cheap when idle. */
    void expire(long nowNanos, TimeoutSink sink) {
        if (held == 0) {
            return;
        }
        for (Datagram d : datagrams) {
            if (d.used && nowNanos - d.firstArrivalNanos >= TIMEOUT_NANOS) {
                counters.ipReassemblyTimeouts++;
                if (d.count > 0 && d.offsets[0] == 0) {
                    sink.timedOut(d.frames[0], d.headerLengths[0], nowNanos);
                }
                drop(d);
            }
        }
    }

    /** Frees every fragment held (the stack is closing). */
    void clear() {
        for (Datagram d : datagrams) {
            if (d.used) {
                drop(d);
            }
        }
    }

    /** Fragments held now. */
    int held() {
        return held;
    }

    /** The datagram with this key, or a new one in a free slot, or in the oldest one's (dropped). */
    private Datagram find(int source, int destination, int protocol, int identification, long nowNanos) {
        Datagram free = null;
        Datagram oldest = null;
        for (Datagram d : datagrams) {
            if (d.matches(source, destination, protocol, identification)) {
                return d;
            }
            if (!d.used) {
                if (free == null) {
                    free = d;
                }
            } else if (oldest == null || d.firstArrivalNanos - oldest.firstArrivalNanos < 0) {
                oldest = d;
            }
        }
        Datagram d = free;
        if (d == null) {
            counters.ipReassemblyEvictions++;
            drop(oldest);
            d = oldest;
        }
        d.used = true;
        d.source = source;
        d.destination = destination;
        d.protocol = protocol;
        d.identification = identification;
        d.firstArrivalNanos = nowNanos;
        d.totalPayload = -1;
        d.receivedPayload = 0;
        d.count = 0;
        return d;
    }

    private static int insertionPoint(Datagram d, int offset) {
        int i = d.count;
        while (i > 0 && d.offsets[i - 1] > offset) {
            i--;
        }
        return i;
    }

    private static int endOfLast(Datagram d) {
        return d.offsets[d.count - 1] + d.lengths[d.count - 1];
    }

    /** The fragment cannot be part of a whole datagram: it and its datagram go. */
    private void fail(Datagram d, long frame) {
        counters.ipReassemblyFailed++;
        pool.free(frame);
        drop(d);
    }

    private void drop(Datagram d) {
        for (int i = 0; i < d.count; i++) {
            pool.free(d.frames[i]);
            d.frames[i] = 0;
        }
        release(d);
    }

    /** The datagram's slot is free again; its fragments are freed or handed on already. */
    private void release(Datagram d) {
        held -= d.count;
        d.count = 0;
        d.used = false;
    }

    /** Chains the fragments' payloads behind the first fragment's frame and makes its header the datagram's. */
    private long assemble(Datagram d) {
        long head = d.frames[0];
        long last = Mbuf.lastSegment(head);
        for (int i = 1; i < d.count; i++) {
            long frame = d.frames[i];
            Mbuf.adj(frame, Ethernet.HEADER_LENGTH + d.headerLengths[i]); // the header is in the first mbuf
            long tail = Mbuf.lastSegment(frame);
            if (!Mbuf.chain(head, last, frame)) {
                // more mbufs than a chain may have (DPDK's limit): the datagram cannot be handed on
                counters.ipReassemblyFailed++;
                for (int j = i; j < d.count; j++) {
                    pool.free(d.frames[j]);
                }
                pool.free(head);
                release(d);
                return 0;
            }
            last = tail;
        }
        release(d);
        int headerLength = d.headerLengths[0];
        long ipHeader = Mbuf.dataAddress(head) + Ethernet.HEADER_LENGTH;
        Mbuf.MEMORY.set(U16, ipHeader + 2, (short) (headerLength + d.totalPayload));
        int flags = Short.toUnsignedInt(Mbuf.MEMORY.get(U16, ipHeader + 6)) & Ipv4Packet.FLAG_DF;
        Mbuf.MEMORY.set(U16, ipHeader + 6, (short) flags);
        Mbuf.MEMORY.set(U16, ipHeader + 10, (short) 0);
        Checksum.store(Mbuf.MEMORY, ipHeader + 10, Checksum.finish(Checksum.add(0, Mbuf.MEMORY, ipHeader,
                headerLength)));
        // a device's verdict on the first fragment's transport checksum says nothing of the datagram's
        Mbuf.setOlFlags(head, Mbuf.olFlags(head) & ~Mbuf.LAYOUT.rxL4ChecksumMask);
        counters.ipReassembled++;
        return head;
    }
}
