package io.zstack.channel;

import io.netty.util.internal.SystemPropertyUtil;
import io.zstack.buffer.JavaMbufPool;
import io.zstack.device.FaultConfig;
import io.zstack.device.NetDevice;
import io.zstack.device.NoLinkDevice;
import io.zstack.ip.Ipv4Config;
import io.zstack.shm.Rendezvous;
import io.zstack.tcp.TcpSettings;
import io.zstack.wire.MacAddress;
import java.nio.file.Path;
import java.util.Objects;

/**
 * How a {@link ZStackEventLoopGroup} builds the stack each of its loops owns: the device (one queue per loop, from
 * {@link ZStackDevices}), the interface address, the TCP defaults ({@link ZStackTcpDefaults}), and how an idle loop
 * backs off. The one configuration entry point of the transport; every type it takes is in this package.
 *
 * <p>The default is a loopback-only stack (127.0.0.1/8, no NIC, no DPDK needed): server and client in one
 * process talk through the full TCP path of the stack's own loopback.
 */
public final class ZStackConfig {
    /**
     * The device a group's loops poll, one queue per loop: {@link ZStackDevices#tap}, {@link ZStackDevices#dpdk} and
     * the other factories of {@link ZStackDevices}. Opened by the group, once per loop, when it starts.
     */
    public abstract static class DeviceFactory {
        DeviceFactory() {
        }

        /** Opens the device for one loop: {@code loopIndex} of {@code loopCount} (a port's queue, a vdev, ...). */
        abstract NetDevice open(int loopIndex, int loopCount);
    }

    /** A device made in this package (tests wrap simulated links and recorders so). */
    @FunctionalInterface
    interface DeviceOpener {
        NetDevice open(int loopIndex, int loopCount);
    }

    /** Mbufs in each loop's pool when the loop has no NIC. */
    public static final int DEFAULT_LOOPBACK_MBUFS = 8192;
    /** Default of {@link Builder#transmitBatch} for a device whose transmit stays in this process (memif, a NIC). */
    public static final long DEFAULT_TRANSMIT_BATCH_NANOS = 5_000;
    /**
     * Default of {@link Builder#transmitBatch} for a device whose every transmit call is a system call
     * ({@link NetDevice#transmitCallEntersKernel}: af_xdp, af_packet).
     */
    public static final long KERNEL_TRANSMIT_BATCH_NANOS = 30_000;
    /**
     * How long a loop may go without taking in its devices' frames before a write does so first
     * ({@code ZStackEventLoop.inputBeforeWrite}): a task that has held the loop this long, never an ordinary round.
     */
    static final long DEFAULT_WRITE_INPUT_INTERVAL_NANOS = 1_000_000;
    /** {@link Builder#transmitBatch} not set: the default follows the device. */
    private static final long TRANSMIT_BATCH_BY_DEVICE = -1;

    private final DeviceFactory device;
    private final Ipv4Config address;
    private final ZStackTcpDefaults tcpDefaults;
    private final int idleSpins;
    private final long idleParkNanos;
    private final long stallFlushNanos;
    private final long transmitBatchNanos;
    private final long writeInputIntervalNanos;
    private final boolean receiveCoalescing;
    private final int largeBuffers;
    private final Path captureDirectory;
    private final int captureSnapLength;
    private final long captureMaxBytes;
    private final boolean inProcess;
    private final Path crossProcessDirectory;
    private final boolean crossProcessGroupShared;
    /** The faults each loop's device is impaired with, or null: see {@link Builder#linkFaults}. */
    private final FaultConfig linkFaults;
    private final String linkFaultsSpec;

    private ZStackConfig(Builder b) {
        this.linkFaults = b.linkFaults;
        this.linkFaultsSpec = b.linkFaultsSpec;
        this.inProcess = b.inProcess;
        this.crossProcessDirectory = b.crossProcessDirectory;
        this.crossProcessGroupShared = b.crossProcessGroupShared;
        this.device = b.device;
        this.address = b.address;
        this.tcpDefaults = b.tcpDefaults;
        this.idleSpins = b.idleSpins;
        this.idleParkNanos = b.idleParkNanos;
        this.stallFlushNanos = b.stallFlushNanos;
        this.transmitBatchNanos = b.transmitBatchNanos;
        this.writeInputIntervalNanos = b.writeInputIntervalNanos;
        this.receiveCoalescing = b.receiveCoalescing;
        this.largeBuffers = b.largeBuffers;
        this.captureDirectory = b.captureDirectory;
        this.captureSnapLength = b.captureSnapLength;
        this.captureMaxBytes = b.captureMaxBytes;
    }

    /** Where each loop writes the pcap of its device's traffic, or null when capture is off. */
    public Path captureDirectory() {
        return captureDirectory;
    }

    public int captureSnapLength() {
        return captureSnapLength;
    }

    public long captureMaxBytes() {
        return captureMaxBytes;
    }

    /** Whether connections between ZStack channels of this process skip TCP (see {@link Builder#inProcess}). */
    public boolean inProcess() {
        return inProcess;
    }

    /** The rendezvous directory of the cross-process path, or null when it is off (see {@link Builder#crossProcess}). */
    public Path crossProcessDirectory() {
        return crossProcessDirectory;
    }

    /** Whether processes of this user's group may attach too (else only this user's). */
    public boolean crossProcessGroupShared() {
        return crossProcessGroupShared;
    }

    /** What {@link Builder#linkFaults} was given, or null when the device is not impaired. */
    public String linkFaults() {
        return linkFaultsSpec;
    }

    /** The faults of loop {@code index}'s device, or null: the seed moved by the index, so loops do not draw alike. */
    FaultConfig linkFaults(int index) {
        return linkFaults == null ? null : linkFaults.toBuilder().seed(linkFaults.seed() + index).build();
    }

    /** Large mbufs (64 KiB) per loop for buffers one ordinary mbuf cannot hold; 0: such buffers are copied. */
    public int largeBuffers() {
        return largeBuffers;
    }

    /** A loopback-only stack with default TCP settings and idle backoff. */
    public static ZStackConfig loopback() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    DeviceFactory device() {
        return device;
    }

    Ipv4Config address() {
        return address;
    }

    /** The TCP settings the group's channels start from. */
    public ZStackTcpDefaults tcp() {
        return tcpDefaults;
    }

    /** A fresh copy of the TCP defaults as the stack's settings (each stack and channel gets its own). */
    TcpSettings tcpSettings() {
        return tcpDefaults.toSettings();
    }

    public int idleSpins() {
        return idleSpins;
    }

    public long idleParkNanos() {
        return idleParkNanos;
    }

    /**
     * How long frames written to {@code device} may wait for a round's transmit burst: what
     * {@link Builder#transmitBatch} set, else {@link #KERNEL_TRANSMIT_BATCH_NANOS} for a device whose transmit calls
     * enter the kernel and {@link #DEFAULT_TRANSMIT_BATCH_NANOS} for any other.
     */
    long transmitBatchNanos(NetDevice device) {
        if (transmitBatchNanos >= 0) {
            return transmitBatchNanos;
        }
        return device.transmitCallEntersKernel() ? KERNEL_TRANSMIT_BATCH_NANOS : DEFAULT_TRANSMIT_BATCH_NANOS;
    }

    /** See {@link #DEFAULT_WRITE_INPUT_INTERVAL_NANOS}. */
    long writeInputIntervalNanos() {
        return writeInputIntervalNanos;
    }

    /** Whether a loop merges runs of one connection's received segments (see {@link Builder#receiveCoalescing}). */
    public boolean receiveCoalescing() {
        return receiveCoalescing;
    }

    /** How long a loop may stay in one round before another thread flushes what it queued (see {@link #Builder}). */
    public long stallFlushNanos() {
        return stallFlushNanos;
    }

    @Override
    public String toString() {
        return "ZStackConfig(" + address + ", idleSpins=" + idleSpins + ", idleParkNanos=" + idleParkNanos
                + ", transmitBatchNanos=" + (transmitBatchNanos < 0 ? "by device"
                : transmitBatchNanos) + (linkFaultsSpec == null ? "" : ", linkFaults=" + linkFaultsSpec) + ")";
    }

    public static final class Builder {
        private DeviceFactory device = opened((index, count) -> new NoLinkDevice("nolink" + index,
                new JavaMbufPool("zstack-loop" + index, DEFAULT_LOOPBACK_MBUFS), MacAddress.of(0x02_00_00_00_00_01L),
                true));
        private Ipv4Config address = Ipv4Config.parse("127.0.0.1/8", null);
        private ZStackTcpDefaults tcpDefaults = ZStackTcpDefaults.defaults();
        private int idleSpins = 1000;
        private long idleParkNanos = 50_000;
        private long stallFlushNanos = 1_000_000;
        private long transmitBatchNanos = SystemPropertyUtil.getLong("io.zstack.transmitBatchNanos",
                TRANSMIT_BATCH_BY_DEVICE);
        private long writeInputIntervalNanos = DEFAULT_WRITE_INPUT_INTERVAL_NANOS;
        private boolean receiveCoalescing = SystemPropertyUtil.getBoolean("io.zstack.receiveCoalescing", true);
        private int largeBuffers = 128;
        private Path captureDirectory;
        private int captureSnapLength;
        private long captureMaxBytes;
        private boolean inProcess = true;
        private Path crossProcessDirectory;
        private boolean crossProcessGroupShared;
        private String linkFaultsSpec;
        private FaultConfig linkFaults;

        private Builder() {
            String faults = SystemPropertyUtil.get("io.zstack.linkFaults");
            if (faults != null && !faults.isBlank()) {
                linkFaults(faults);
            }
        }

        /**
         * The device each loop polls, from {@link ZStackDevices}; without one, loops serve only the in-stack
         * loopback.
         */
        public Builder device(DeviceFactory device) {
            this.device = Objects.requireNonNull(device, "device");
            return this;
        }

        Builder device(DeviceOpener opener) {
            return device(opened(opener));
        }

        private static DeviceFactory opened(DeviceOpener opener) {
            Objects.requireNonNull(opener, "device");
            return new DeviceFactory() {
                @Override
                NetDevice open(int loopIndex, int loopCount) {
                    return opener.open(loopIndex, loopCount);
                }
            };
        }

        /**
         * The interface's address and prefix, {@code "10.0.0.2/24"}, with no gateway: only the connected subnet is
         * reachable.
         */
        public Builder address(String cidr) {
            return address(cidr, null);
        }

        /**
         * The interface's address and prefix, {@code "10.0.0.2/24"}, and the default gateway ({@code "10.0.0.1"};
         * null or empty for none). A malformed address, or a gateway outside the subnet, is refused here.
         */
        public Builder address(String cidr, String gateway) {
            return address(Ipv4Config.parse(Objects.requireNonNull(cidr, "address"), gateway));
        }

        Builder address(Ipv4Config address) {
            this.address = Objects.requireNonNull(address, "address");
            return this;
        }

        /** The TCP settings the group's channels start from; channel options override them per channel. */
        public Builder tcp(ZStackTcpDefaults defaults) {
            this.tcpDefaults = Objects.requireNonNull(defaults, "tcp defaults");
            return this;
        }

        /**
         * Frames a loop round sends go to the device in one burst at the round's end (or with a later write of the
         * round, see {@link #transmitBatch}). A handler that blocks its loop (waits on a latch, a future, I/O) would
         * hold them back, so when a round has lasted longer than {@code nanos}, another thread flushes what it queued
         * (default 1 ms; 0: never, every write then waits for the end of its round or a later write). The watching
         * thread looks every millisecond while a round lasts that long, and less often, down to every 16 ms, while none
         * does: a first stall after a quiet time is flushed up to 16 ms late.
         */
        public Builder stallFlush(long nanos) {
            if (nanos < 0) {
                throw new IllegalArgumentException("stallFlush " + nanos);
            }
            this.stallFlushNanos = nanos;
            return this;
        }

        /**
         * How long a loop may hold written frames back to send them in one burst with later writes of the same round
         * (or the system property {@code io.zstack.transmitBatchNanos}). A write made when the loop has not
         * transmitted for this long sends everything queued at once; the rest go at the round's end. 0 sends at every
         * write (lowest latency, one transmit call per write); {@link Long#MAX_VALUE} once per round (fewest calls: a
         * round that serves many requests then answers them all at its end).
         *
         * <p>By default it follows the device. Where a transmit call stays in this process (memif, a NIC, the
         * loopback) it is cheap and the peer may be idle waiting, so writes go out after
         * {@value #DEFAULT_TRANSMIT_BATCH_NANOS} ns: with one burst per round both ends of setup 2 took turns (64 B,
         * 10 connections: 76k req/s, 137-151k with a burst per write; 30 µs: 132-136k, 151-175k at 2 µs). At 2 µs a
         * server answering 50 connections made one transmit call per answer (4 KB: 3.2 million calls for 3.0 million
         * answers); 5 µs took 1.02-1.22x its rate in 9 of 9 alternated pairs there, and stayed within the host's swings
         * at 10 connections and at 64 B (2026-12-06). Where each
         * call is a system call ({@link NetDevice#transmitCallEntersKernel}: af_xdp, af_packet), a call per answer
         * cost more than the answer (setup 1, 64 B: one {@code sendto} and one IPI per request, 4-6 µs of a 13 µs
         * request), so writes wait up to {@value #KERNEL_TRANSMIT_BATCH_NANOS} ns and about ten share a call.
         */
        public Builder transmitBatch(long nanos) {
            if (nanos < 0) {
                throw new IllegalArgumentException("transmitBatch " + nanos);
            }
            this.transmitBatchNanos = nanos;
            return this;
        }

        /**
         * See {@link #DEFAULT_WRITE_INPUT_INTERVAL_NANOS}; tests set 0 (every write looks first) or
         * {@link Long#MAX_VALUE} (none does).
         */
        Builder writeInputInterval(long nanos) {
            if (nanos < 0) {
                throw new IllegalArgumentException("writeInputInterval " + nanos);
            }
            this.writeInputIntervalNanos = nanos;
            return this;
        }

        /**
         * Receive coalescing, as Linux's GRO (on by default; also the system property
         * {@code io.zstack.receiveCoalescing}): a run of one connection's in-order segments in a received burst is
         * parsed, looked up and queued by TCP once, its payloads chained, not copied (an HTTP echo of 8 KB over memif:
         * the six frames of a request, and of its answer, reach TCP as one segment). Off, every frame goes through IP
         * and TCP on its own. Loops that share a device's queue by flow hash each merge their own flows' frames.
         */
        public Builder receiveCoalescing(boolean on) {
            this.receiveCoalescing = on;
            return this;
        }

        /**
         * Idle backoff: after {@code spins} polls that found nothing to do, the loop parks for {@code parkNanos}
         * at a time (a task submitted from another thread wakes it at once). {@code parkNanos} 0 busy-polls forever,
         * which gives the lowest latency and burns a core.
         */
        public Builder idleBackoff(int spins, long parkNanos) {
            if (spins < 0 || parkNanos < 0) {
                throw new IllegalArgumentException("idle backoff: spins " + spins + ", park " + parkNanos + " ns");
            }
            this.idleSpins = spins;
            this.idleParkNanos = parkNanos;
            return this;
        }

        /**
         * How many 64 KiB mbufs each loop keeps for buffers larger than one ordinary mbuf (2 KiB): allocated from the
         * channel they stay single mbufs, so writing them is zero copy too. 0 turns them off (such buffers come from
         * Netty's pooled allocator and are copied once when written).
         */
        public Builder largeBuffers(int count) {
            if (count < 0) {
                throw new IllegalArgumentException("large buffers: " + count);
            }
            this.largeBuffers = count;
            return this;
        }

        /**
         * Captures what each loop's device sends and receives into {@code directory}/zstack-loop{index}.pcap
         * (tcpdump/Wireshark format), frames cut at {@code snapLength} bytes, each file at most {@code maxBytes}.
         */
        public Builder capture(Path directory, int snapLength, long maxBytes) {
            this.captureDirectory = Objects.requireNonNull(directory, "directory");
            this.captureSnapLength = snapLength;
            this.captureMaxBytes = maxBytes;
            return this;
        }

        /**
         * Impairs each loop's device as a lossy link would, to see how the application and ZStack's TCP behave on one
         * without building a router: frames lost, duplicated, corrupted, reordered, delayed or rate-limited on their
         * way in, out or both, as {@code spec} says in netem-like terms, e.g. {@code "drop=0.01"} or
         * {@code "drop=0.02,reorder=0.01/3,delay=1ms+500us,direction=rx,seed=7"} (keys: drop, duplicate, corrupt,
         * reorder=P[/GAP], delay=[P:]TIME[+JITTER], rate=N/TIME, max-frame, direction=both|rx|tx, seed; times with
         * ns, us, ms or s). Corrupt only with direction=rx: a frame damaged on its way out would reach a peer that
         * may trust its checksums, as ZStack over memif does. Randomness comes from the seed alone (loop i draws
         * from seed + i). Only the device is impaired, not the stack's loopback nor the in-process and cross-process
         * paths; the loop's {@code describe()} counts what was done to its frames. Default: the system property
         * {@code io.zstack.linkFaults}, else none. A malformed spec is refused here (IllegalArgumentException).
         */
        public Builder linkFaults(String spec) {
            Objects.requireNonNull(spec, "spec");
            this.linkFaults = LinkFaults.parse(spec);
            this.linkFaultsSpec = spec;
            return this;
        }

        /**
         * The in-process path (default on): a connection from a channel of this group to a ZStack server of this
         * process that TCP would reach (over 127/8 or this group's address, a server of this group; over another
         * address, one of the group whose stacks have it), whose child group has the path on too, is carried without
         * TCP: the writer's mbufs become the reader's received buffers (no headers, checksums
         * or ACKs), with Netty's socket semantics kept (addresses, ordering, writability, half-closure, resets).
         * Such connections are marked in-process in the connection dump and counters; a capture shows nothing of
         * them. Off: every connection takes the stack's TCP, over its loopback or its device.
         */
        public Builder inProcess(boolean on) {
            this.inProcess = on;
            return this;
        }

        /**
         * The cross-process path (default off): this group's servers are published in {@code directory} (see
         * {@link io.zstack.shm.Rendezvous}; {@link #crossProcess()} uses /dev/shm/zstack-USER), and a connect from this group to a port another ZStack process of this node serves
         * there (over 127/8 or that process's address) is carried through memory both processes map, without TCP,
         * with the in-process path's socket semantics. Only processes of the same user attach, or of the same group
         * when {@code groupShared} (the directory is then 0770 and the peer's group is accepted). Connections are
         * marked cross-process in the dump and counters; a capture shows nothing of them.
         */
        public Builder crossProcess(Path directory, boolean groupShared) {
            this.crossProcessDirectory = Objects.requireNonNull(directory, "directory");
            this.crossProcessGroupShared = groupShared;
            return this;
        }

        /** {@link #crossProcess(java.nio.file.Path, boolean)} in /dev/shm/zstack-USER, for this user only. */
        public Builder crossProcess() {
            return crossProcess(Rendezvous.defaultDirectory(), false);
        }

        public ZStackConfig build() {
            return new ZStackConfig(this);
        }
    }
}
