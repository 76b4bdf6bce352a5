package io.zstack.ip;

import io.zstack.buffer.MbufPool;

/**
 * The neighbour table for IPv4 over Ethernet: address to MAC, with aging, and a bounded queue of packets waiting
 * for each address being resolved. Pure bookkeeping with explicit time: the IPv4 layer sends the ARP requests this
 * table asks for, and transmits the packets it releases.
 *
 * <p>States, after Linux's neighbour machine, simplified: INCOMPLETE (requests sent every {@code retransmitNanos},
 * up to {@code maxRequests}, packets queued), REACHABLE (confirmed less than {@code reachableNanos} ago), STALE
 * (still used, but the next use asks for one request to confirm it; if none confirms within
 * {@code maxRequests * retransmitNanos}, the entry is dropped and the next packet starts over).
 *
 * <p>Open addressing with linear probing, fixed capacity: O(1) lookups and no allocation per packet. When the
 * table is full, the least recently confirmed entry that is not INCOMPLETE is replaced.
 */
public final class ArpCache {
    /** What {@link #resolve} tells the caller to do. */
    public enum Resolution {
        /** The MAC is known: {@link #lastMac()} holds it; send now. */
        KNOWN,
        /** The MAC is known but old: send now, and also send an ARP request for it. */
        KNOWN_REQUEST,
        /** Unknown: the packet was queued; send an ARP request (broadcast). */
        QUEUED_REQUEST,
        /** Unknown, a request is already out: the packet was queued. */
        QUEUED,
        /** Unknown and the per-neighbour queue is full (or the table is): the packet was freed. Count a drop. */
        DROPPED
    }

    private static final byte FREE = 0;
    private static final byte INCOMPLETE = 1;
    private static final byte REACHABLE = 2;
    private static final byte STALE = 3;

    private final int capacity;
    private final int mask;
    private final int pendingPerNeighbour;
    private final long reachableNanos;
    private final long retransmitNanos;
    private final int maxRequests;

    private final int[] addresses;
    private final byte[] states;
    private final long[] macs;
    private final long[] confirmedAt;
    private final long[] lastRequestAt;
    private final int[] requestsSent;
    private final long[][] pending;
    private final int[] pendingCount;
    private int size;
    private long lastMac;
    private long lastConfirmedAt;
    /** Changes whenever an entry's MAC or state may have changed: a {@link Route} resolved before it is re-checked. */
    private long version;

    private long resolutionFailures;
    private long pendingDrops;

    /**
     * @param capacity            number of neighbours (rounded up to a power of two)
     * @param pendingPerNeighbour packets held while one address resolves
     * @param reachableNanos      how long a confirmation is trusted
     * @param retransmitNanos     gap between requests
     * @param maxRequests         requests before giving up on an address
     */
    public ArpCache(int capacity, int pendingPerNeighbour, long reachableNanos, long retransmitNanos, int maxRequests) {
        int cap = Integer.highestOneBit(Math.max(4, capacity - 1)) << 1;
        this.capacity = cap;
        this.mask = cap - 1;
        this.pendingPerNeighbour = pendingPerNeighbour;
        this.reachableNanos = reachableNanos;
        this.retransmitNanos = retransmitNanos;
        this.maxRequests = maxRequests;
        addresses = new int[cap];
        states = new byte[cap];
        macs = new long[cap];
        confirmedAt = new long[cap];
        lastRequestAt = new long[cap];
        requestsSent = new int[cap];
        pending = new long[cap][];
        pendingCount = new int[cap];
    }

    /** Linux-like defaults: 256 neighbours, 16 queued packets each, 30 s reachable, 1 s between 3 requests. */
    public static ArpCache withDefaults() {
        return new ArpCache(256, 16, 30_000_000_000L, 1_000_000_000L, 3);
    }

    private static int hash(int address) {
        int h = address * 0x9E3779B9;
        return h ^ (h >>> 16);
    }

    private int find(int address) {
        for (int i = hash(address) & mask, n = 0; n < capacity; i = (i + 1) & mask, n++) {
            if (states[i] == FREE) {
                return -1;
            }
            if (addresses[i] == address) {
                return i;
            }
        }
        return -1;
    }

    /**
     * A number that changes whenever any entry is added, removed, confirmed or goes stale: what a {@link Route} learnt
     * from {@link #reachable} holds while it is the same.
     */
    public long version() {
        return version;
    }

    /** How long a confirmation is trusted (after it, {@link #resolve} asks the neighbour again). */
    public long reachableNanos() {
        return reachableNanos;
    }

    /**
     * Whether {@code address} is REACHABLE and was confirmed less than the reachable time ago: then {@link #resolve}
     * would answer KNOWN with nothing else to do until {@link #lastConfirmedAt()} + {@link #reachableNanos()}. The MAC
     * goes to {@link #lastMac()}. Never queues, never changes the entry.
     */
    public boolean reachable(int address, long nowNanos) {
        int i = find(address);
        if (i < 0 || states[i] != REACHABLE || nowNanos - confirmedAt[i] >= reachableNanos) {
            return false;
        }
        lastMac = macs[i];
        lastConfirmedAt = confirmedAt[i];
        return true;
    }

    /**
     * A transport's proof that {@code address} still answers at {@code mac} (TCP: an ACK of new data, as Linux's
     * neighbour confirmation by upper layers): a REACHABLE entry at that MAC counts as confirmed now. Nothing else
     * changes, so the table's {@link #version} stays. False, changing nothing, for any other entry.
     */
    public boolean confirmReachable(int address, long mac, long nowNanos) {
        int i = find(address);
        if (i < 0 || states[i] != REACHABLE || macs[i] != mac) {
            return false;
        }
        confirmedAt[i] = nowNanos;
        return true;
    }

    /** When the entry {@link #reachable} last found was confirmed. */
    public long lastConfirmedAt() {
        return lastConfirmedAt;
    }

    /** The MAC found by the last {@link #resolve} or {@link #lookup} that returned a known address. */
    public long lastMac() {
        return lastMac;
    }

    /** The MAC of a neighbour (REACHABLE or STALE) into {@link #lastMac()}; false if unknown. Never queues. */
    public boolean lookup(int address) {
        int i = find(address);
        if (i >= 0 && states[i] != INCOMPLETE) {
            lastMac = macs[i];
            return true;
        }
        return false;
    }

    /**
     * Finds the MAC for a packet to {@code address}. When it is unknown the packet (an mbuf chain the caller gives
     * up) is queued for {@link #confirm} to release, or freed to {@code pool} if the queue is full.
     */
    public Resolution resolve(int address, long packet, MbufPool pool, long nowNanos) {
        int i = find(address);
        if (i >= 0 && states[i] != INCOMPLETE) {
            lastMac = macs[i];
            if (states[i] == REACHABLE && nowNanos - confirmedAt[i] >= reachableNanos) {
                version++;
                states[i] = STALE;
                requestsSent[i] = 0;
            }
            if (states[i] == STALE && nowNanos - lastRequestAt[i] >= retransmitNanos) {
                if (requestsSent[i] >= maxRequests) {
                    remove(i, pool); // nobody confirmed the old address: start over
                    return resolve(address, packet, pool, nowNanos);
                }
                lastRequestAt[i] = nowNanos;
                requestsSent[i]++;
                return Resolution.KNOWN_REQUEST;
            }
            return Resolution.KNOWN;
        }
        if (i < 0) {
            i = insert(address, pool);
            if (i < 0) {
                pool.free(packet);
                pendingDrops++;
                return Resolution.DROPPED;
            }
            states[i] = INCOMPLETE;
            requestsSent[i] = 1;
            lastRequestAt[i] = nowNanos;
            enqueue(i, packet);
            return Resolution.QUEUED_REQUEST;
        }
        if (pendingCount[i] >= pendingPerNeighbour) {
            pool.free(packet);
            pendingDrops++;
            return Resolution.DROPPED;
        }
        enqueue(i, packet);
        return Resolution.QUEUED;
    }

    private void enqueue(int i, long packet) {
        if (pending[i] == null) {
            pending[i] = new long[pendingPerNeighbour];
        }
        pending[i][pendingCount[i]++] = packet;
    }

    private int insert(int address, MbufPool pool) {
        if (size * 4 >= capacity * 3) {
            int victim = oldestResolved();
            if (victim < 0) {
                return -1;
            }
            remove(victim, pool);
        }
        int i = hash(address) & mask;
        while (states[i] != FREE) {
            i = (i + 1) & mask;
        }
        addresses[i] = address;
        pendingCount[i] = 0;
        size++;
        version++;
        return i;
    }

    private int oldestResolved() {
        int victim = -1;
        for (int i = 0; i < capacity; i++) {
            if ((states[i] == REACHABLE || states[i] == STALE) && (victim < 0 || confirmedAt[i] < confirmedAt[victim])) {
                victim = i;
            }
        }
        return victim;
    }

    /** Removes slot i, freeing queued packets, and re-seats the probe chain after it (linear probing delete). */
    private void remove(int i, MbufPool pool) {
        for (int p = 0; p < pendingCount[i]; p++) {
            pool.free(pending[i][p]);
            pendingDrops++;
        }
        pendingCount[i] = 0;
        states[i] = FREE;
        size--;
        version++;
        for (int j = (i + 1) & mask; states[j] != FREE; j = (j + 1) & mask) {
            int address = addresses[j];
            byte state = states[j];
            long mac = macs[j];
            long confirmed = confirmedAt[j];
            long requested = lastRequestAt[j];
            int sent = requestsSent[j];
            long[] queue = pending[j];
            int queued = pendingCount[j];
            states[j] = FREE;
            pending[j] = null;
            pendingCount[j] = 0;
            int k = hash(address) & mask;
            while (states[k] != FREE) {
                k = (k + 1) & mask;
            }
            addresses[k] = address;
            states[k] = state;
            macs[k] = mac;
            confirmedAt[k] = confirmed;
            lastRequestAt[k] = requested;
            requestsSent[k] = sent;
            pending[k] = queue;
            pendingCount[k] = queued;
        }
    }

    /** Receiver of packets released by {@link #confirm}. */
    @FunctionalInterface
    public interface PendingSink {
        void send(long packet, long mac);
    }

    /**
     * Records that {@code address} is at {@code mac} (an ARP reply or request from it) and hands every packet queued
     * for it to {@code sink}. With {@code create} false, only an address already in the table is updated (RFC 826:
     * a request from a stranger that is not for us must not fill the table).
     */
    public void confirm(int address, long mac, long nowNanos, boolean create, MbufPool pool, PendingSink sink) {
        int i = find(address);
        if (i < 0) {
            if (!create) {
                return;
            }
            i = insert(address, pool);
            if (i < 0) {
                return;
            }
        }
        states[i] = REACHABLE;
        macs[i] = mac;
        confirmedAt[i] = nowNanos;
        version++;
        requestsSent[i] = 0;
        int n = pendingCount[i];
        pendingCount[i] = 0;
        for (int p = 0; p < n; p++) {
            sink.send(pending[i][p], mac);
        }
    }

    /** Receiver of the addresses {@link #poll} wants requested again, and of those it gave up on. */
    public interface RetryHandler {
        void request(int address);

        /** Resolution failed; queued packets have been freed (the IP layer may tell its transports). */
        void failed(int address);
    }

    /**
     * Drives retransmission of requests for INCOMPLETE entries and gives up on them after {@code maxRequests}.
     * Call from the stack's timer processing every few milliseconds; it scans the table (256 slots by default)
     * and does nothing when the table is empty.
     */
    public void poll(long nowNanos, MbufPool pool, RetryHandler handler) {
        if (size == 0) {
            return;
        }
        for (int i = 0; i < capacity; i++) {
            if (states[i] != INCOMPLETE || nowNanos - lastRequestAt[i] < retransmitNanos) {
                continue;
            }
            if (requestsSent[i] >= maxRequests) {
                int address = addresses[i];
                resolutionFailures++;
                remove(i, pool);
                handler.failed(address);
                i--; // remove() may have moved another entry into slot i
                continue;
            }
            requestsSent[i]++;
            lastRequestAt[i] = nowNanos;
            handler.request(addresses[i]);
        }
    }

    /** Frees every queued packet and forgets every neighbour. */
    public void clear(MbufPool pool) {
        for (int i = 0; i < capacity; i++) {
            for (int p = 0; p < pendingCount[i]; p++) {
                pool.free(pending[i][p]);
            }
            pendingCount[i] = 0;
            states[i] = FREE;
        }
        size = 0;
        version++;
    }

    public int size() {
        return size;
    }

    /** Addresses given up on after unanswered requests. */
    public long resolutionFailures() {
        return resolutionFailures;
    }

    /** Packets freed because their neighbour's queue was full or it never answered. */
    public long pendingDrops() {
        return pendingDrops;
    }
}
