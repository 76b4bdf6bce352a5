package io.zstack.device;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.wire.MacAddress;
import java.util.Objects;

/**
 * A point-to-point Ethernet link between two simulated devices, {@link #a()} and {@link #b()}, timed by a
 * {@link NanoClock} (a {@link VirtualClock} in tests). Each direction has:
 * <ul>
 *   <li>a bandwidth: a frame of L bytes occupies the wire for L*8/bandwidth, and frames queue behind each other
 *       (serialisation delay; preamble, FCS and inter-frame gap are not modelled);
 *   <li>a one-way latency, added once a frame is fully on the wire;
 *   <li>a bounded queue of frames in flight (sent and not yet received by the other end, whether serialising,
 *       propagating or waiting to be polled). A frame sent into a full queue is dropped and counted (tail drop):
 *       size it above the bandwidth-delay product, in frames, to let the link run at full rate.
 * </ul>
 * A frame sent at time t is receivable at {@code max(t, wire free) + L*8/bandwidth + latency}, in the order sent.
 *
 * <p>Pools: both ends may share one pool, and then the receiver gets the very mbuf the sender sent. With
 * separate pools the receiving end copies the frame into its own pool when it receives it (as a NIC writes into
 * its own buffers) and frees the original to the sender's pool; if its pool is empty the frame is dropped and
 * counted. Frames sent on an end must come from that end's pool.
 *
 * <p>Transmit always takes every frame offered (the link drops, it does not push back), and never blocks.
 * Frames larger than the receiving end's MTU plus an Ethernet header and a VLAN tag are dropped on arrival.
 * The link reports {@link DeviceCapabilities#NONE}: the stack computes checksums, so a {@link FaultInjectingDevice}
 * around an end can corrupt frames detectably. Single-threaded, like every device.
 */
public final class SimulatedLink implements AutoCloseable {
    /** Ethernet header plus one VLAN tag: a frame may be this much longer than the MTU. */
    private static final int MAX_L2_OVERHEAD = 14 + 4;

    private final NanoClock clock;
    private final long latencyNanos;
    private final long bitsPerSecond;
    private final End a;
    private final End b;

    private SimulatedLink(Builder builder) {
        this.clock = Objects.requireNonNull(builder.clock, "clock");
        this.latencyNanos = builder.latencyNanos;
        this.bitsPerSecond = builder.bitsPerSecond;
        this.a = new End(builder.nameA, builder.macA, builder.mtuA, Objects.requireNonNull(builder.poolA, "pool of a"),
                builder.queueCapacity);
        this.b = new End(builder.nameB, builder.macB, builder.mtuB, Objects.requireNonNull(builder.poolB, "pool of b"),
                builder.queueCapacity);
        a.peer = b;
        b.peer = a;
    }

    /** A builder for a link timed by {@code clock}. */
    public static Builder builder(NanoClock clock) {
        return new Builder(clock);
    }

    public End a() {
        return a;
    }

    public End b() {
        return b;
    }

    public long latencyNanos() {
        return latencyNanos;
    }

    /** Bits per second in each direction; 0 means unlimited (no serialisation delay). */
    public long bitsPerSecond() {
        return bitsPerSecond;
    }

    /** Time a frame of {@code bytes} occupies the wire, rounded up to a whole nanosecond. */
    public long serialisationNanos(int bytes) {
        if (bitsPerSecond == 0) {
            return 0;
        }
        return Math.ceilDiv(Math.multiplyExact(bytes * 8L, 1_000_000_000L), bitsPerSecond);
    }

    /** Closes both ends, freeing every frame in flight. */
    @Override
    public void close() {
        a.close();
        b.close();
    }

    @Override
    public String toString() {
        return "SimulatedLink(" + a.name + " <-> " + b.name + ", " + latencyNanos + " ns, " + bitsPerSecond + " bit/s)";
    }

    /**
     * Counters of one direction of the link, for the frames one end sent.
     *
     * @param sentFrames        frames put on the wire
     * @param sentBytes         their bytes
     * @param deliveredFrames   frames the other end received
     * @param queueDropped      tail drops: the in-flight queue was full
     * @param oversizeDropped   longer than the receiver's MTU allows
     * @param noMbufDropped     the receiver's pool was empty when it had to copy the frame
     * @param peerClosedDropped sent after the other end closed
     */
    public record LinkStats(long sentFrames, long sentBytes, long deliveredFrames, long queueDropped,
                            long oversizeDropped, long noMbufDropped, long peerClosedDropped) {
    }

    /** One end of the link: a {@link NetDevice} that sends to, and receives from, the other end. */
    public final class End implements NetDevice {
        private final String name;
        private final MacAddress mac;
        private final int mtu;
        private final MbufPool pool;
        /** Frames this end sent, on their way to the peer, with their arrival times. */
        private final MbufRing outbound;
        /** When the wire in this end's sending direction is free again. */
        private long wireFreeAt = Long.MIN_VALUE;
        private End peer;
        private boolean closed;
        private long sentFrames;
        private long sentBytes;
        private long deliveredFrames;
        private long queueDropped;
        private long oversizeDropped;
        private long noMbufDropped;
        private long peerClosedDropped;

        private End(String name, MacAddress mac, int mtu, MbufPool pool, int queueCapacity) {
            this.name = name;
            this.mac = mac;
            this.mtu = mtu;
            this.pool = pool;
            this.outbound = new MbufRing(queueCapacity);
        }

        /** The other end. */
        public End peer() {
            return peer;
        }

        @Override
        public String name() {
            return name;
        }

        /** Receives the frames that have arrived by now, in the order sent, up to the burst's capacity. */
        @Override
        public int receive(MbufBurst burst) {
            checkOpen();
            MbufRing inbound = peer.outbound;
            long now = clock.nanos();
            int n = 0;
            while (n < burst.capacity() && !inbound.isEmpty() && inbound.time(0) <= now) {
                long m = inbound.poll();
                if (Mbuf.pktLen(m) > mtu + MAX_L2_OVERHEAD) {
                    peer.pool.free(m);
                    peer.oversizeDropped++;
                    continue;
                }
                if (peer.pool != pool) {
                    long copy = Frames.copy(m, pool);
                    peer.pool.free(m);
                    if (copy == 0) {
                        peer.noMbufDropped++;
                        continue;
                    }
                    m = copy;
                }
                Mbuf.setOlFlags(m, 0); // a fresh receive: no tx requests, no rx verdicts (this NIC checks nothing)
                burst.set(n++, m);
                peer.deliveredFrames++;
            }
            burst.size(n);
            return n;
        }

        /** Takes every frame: each is queued towards the peer, or dropped and counted (see {@link #stats()}). */
        @Override
        public int transmit(MbufBurst burst) {
            checkOpen();
            long now = clock.nanos();
            int taken = burst.size();
            for (int i = 0; i < taken; i++) {
                long m = burst.get(i);
                int length = Mbuf.pktLen(m);
                if (peer.closed) {
                    pool.free(m);
                    peerClosedDropped++;
                } else if (outbound.isFull()) {
                    pool.free(m);
                    queueDropped++;
                } else {
                    long onWire = Math.max(now, wireFreeAt);
                    wireFreeAt = onWire + serialisationNanos(length);
                    outbound.add(m, wireFreeAt + latencyNanos);
                    sentFrames++;
                    sentBytes += length;
                }
            }
            burst.clear();
            return taken;
        }

        /** Counters of the direction this end sends on. */
        public LinkStats stats() {
            return new LinkStats(sentFrames, sentBytes, deliveredFrames, queueDropped, oversizeDropped,
                    noMbufDropped, peerClosedDropped);
        }

        /** Frames this end sent that the peer has not received yet. */
        public int inFlight() {
            return outbound.size();
        }

        /**
         * When the next frame becomes receivable at this end ({@link Long#MAX_VALUE} if none is on its way): a
         * simulation advances its clock to the earliest such time.
         */
        public long nextArrivalNanos() {
            MbufRing inbound = peer.outbound;
            return inbound.isEmpty() ? Long.MAX_VALUE : inbound.time(0);
        }

        @Override
        public DeviceCapabilities capabilities() {
            return DeviceCapabilities.NONE;
        }

        @Override
        public MacAddress macAddress() {
            return mac;
        }

        @Override
        public int mtu() {
            return mtu;
        }

        @Override
        public MbufPool pool() {
            return pool;
        }

        private void checkOpen() {
            if (closed) {
                throw new IllegalStateException(name + " is closed");
            }
        }

        /**
         * Closes this end: frames on their way to it are freed (to the sender's pool), and the peer's later sends
         * are dropped. Frames this end already sent stay receivable by the peer. Idempotent.
         */
        @Override
        public void close() {
            if (!closed) {
                closed = true;
                peer.outbound.freeAll(peer.pool);
            }
        }

        @Override
        public String toString() {
            return "SimulatedLink.End(" + name + ", " + mac + ", mtu " + mtu + ", " + outbound.size() + " in flight)";
        }
    }

    /** Settings of a link; each end gets a name, MAC, MTU and pool. */
    public static final class Builder {
        private final NanoClock clock;
        private long latencyNanos;
        private long bitsPerSecond;
        private int queueCapacity = 1024;
        private String nameA = "sim-a";
        private String nameB = "sim-b";
        private MacAddress macA = MacAddress.parse("02:00:00:00:00:0a");
        private MacAddress macB = MacAddress.parse("02:00:00:00:00:0b");
        private int mtuA = 1500;
        private int mtuB = 1500;
        private MbufPool poolA;
        private MbufPool poolB;

        private Builder(NanoClock clock) {
            this.clock = clock;
        }

        /** One-way propagation delay (default 0). */
        public Builder latencyNanos(long nanos) {
            if (nanos < 0) {
                throw new IllegalArgumentException("latency: " + nanos);
            }
            this.latencyNanos = nanos;
            return this;
        }

        /** Bandwidth of each direction in bits per second; 0 (the default) means unlimited. */
        public Builder bitsPerSecond(long bps) {
            if (bps < 0) {
                throw new IllegalArgumentException("bandwidth: " + bps);
            }
            this.bitsPerSecond = bps;
            return this;
        }

        /** Most frames in flight per direction (default 1024); more are tail-dropped. */
        public Builder queueCapacity(int frames) {
            if (frames <= 0) {
                throw new IllegalArgumentException("queue capacity: " + frames);
            }
            this.queueCapacity = frames;
            return this;
        }

        /** Both ends use one pool: frames cross the link without a copy. */
        public Builder pool(MbufPool shared) {
            return pools(shared, shared);
        }

        /** Each end has its own pool: frames are copied into the receiver's pool. */
        public Builder pools(MbufPool a, MbufPool b) {
            this.poolA = a;
            this.poolB = b;
            return this;
        }

        public Builder endA(String name, MacAddress mac, int mtu) {
            this.nameA = Objects.requireNonNull(name);
            this.macA = Objects.requireNonNull(mac);
            this.mtuA = checkMtu(mtu);
            return this;
        }

        public Builder endB(String name, MacAddress mac, int mtu) {
            this.nameB = Objects.requireNonNull(name);
            this.macB = Objects.requireNonNull(mac);
            this.mtuB = checkMtu(mtu);
            return this;
        }

        /** The same MTU on both ends (default 1500). */
        public Builder mtu(int mtu) {
            this.mtuA = checkMtu(mtu);
            this.mtuB = mtuA;
            return this;
        }

        private static int checkMtu(int mtu) {
            if (mtu < 68 || mtu > 65535) {
                throw new IllegalArgumentException("mtu: " + mtu);
            }
            return mtu;
        }

        public SimulatedLink build() {
            return new SimulatedLink(this);
        }
    }
}
