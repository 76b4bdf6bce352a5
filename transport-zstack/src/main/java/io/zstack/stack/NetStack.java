package io.zstack.stack;

import io.zstack.buffer.MbufBurst;
import io.zstack.device.LoopbackDevice;
import io.zstack.device.NetDevice;
import io.zstack.ip.ArpCache;
import io.zstack.ip.Ipv4Config;
import io.zstack.ip.Ipv4Layer;
import io.zstack.ip.ReceiveCoalescer;
import io.zstack.tcp.IsnGenerator;
import io.zstack.tcp.TcpLayer;
import io.zstack.tcp.TcpSettings;
import java.security.SecureRandom;

/**
 * One instance of the stack: a device (one queue of a port), the in-stack loopback, and the protocol layers.
 * {@link #poll} is the whole engine: receive a burst from each device, run it through the layers, run due
 * timers, and hand what the layers queued to the devices in bursts. Time is always passed in.
 *
 * <p>Single-threaded: one thread (one event loop, one lcore) polls a stack; several stacks run side by side on
 * the queues of one port.
 */
public final class NetStack implements AutoCloseable {
    private static final int BURST = 32;
    /**
     * Receive bursts one input may take from the device while each comes back full (as NAPI's budget of 64): in
     * setup 2 at 8 KB, 50 connections keep about 300 frames in flight, and a round that took 32 of them (five
     * requests) paid its fixed costs, and split a request's run of segments, every five requests.
     */
    private static final int DEVICE_BURSTS_PER_INPUT = 4;

    private final NetDevice device;
    private final NetDevice loopback;
    private final Ipv4Layer ip;
    private final TcpLayer tcp;
    private final MbufBurst rx = new MbufBurst(BURST);
    private boolean closed;
    /** Set when this stack shares its device with others that own some of the flows it receives; else null. */
    private FlowSteering steering;
    private long framesHandedOver;
    private long framesTakenOver;
    private long handOverDrops;
    /** Null when off: see {@link #coalesceReceivedSegments}. */
    private ReceiveCoalescer coalescer;

    /** A stack on {@code device} with the given address and default TCP settings; it owns the device. */
    public NetStack(NetDevice device, Ipv4Config config) {
        this(device, config, TcpSettings.defaults(), new IsnGenerator(), new SecureRandom().nextLong(), System.nanoTime());
    }

    /**
     * A stack with explicit TCP defaults, ISN key and random seed (a simulation that must replay passes fixed ones),
     * starting at time {@code nowNanos}.
     */
    public NetStack(NetDevice device, Ipv4Config config, TcpSettings tcpDefaults, IsnGenerator isns, long seed,
                    long nowNanos) {
        this(device, new LoopbackDevice("lo", device.pool(), 1024, 65535), config, tcpDefaults, isns, seed, nowNanos);
    }

    /**
     * A stack whose loopback is {@code loopback} (e.g. one shared by the stacks of several loops, delivering by flow
     * hash); it owns both devices.
     */
    public NetStack(NetDevice device, NetDevice loopback, Ipv4Config config, TcpSettings tcpDefaults,
                    IsnGenerator isns, long seed, long nowNanos) {
        this.device = device;
        this.loopback = loopback;
        this.ip = new Ipv4Layer(device, loopback, config, ArpCache.withDefaults());
        this.tcp = new TcpLayer(ip, device.pool(), tcpDefaults, isns, seed, nowNanos);
        this.coalescer = new ReceiveCoalescer(ip.counters());
    }

    public TcpLayer tcp() {
        return tcp;
    }

    public Ipv4Layer ip() {
        return ip;
    }

    public NetDevice device() {
        return device;
    }

    /**
     * Hands each frame the device delivers to the stack that owns its flow (see {@link FlowSteering}), and takes in
     * what the other stacks hand to this one, as if its own device had received it.
     */
    public void steerDeviceInput(FlowSteering steering) {
        this.steering = steering;
        // fragments carry no ports and reach one stack; the datagram they make goes to its flow's
        ip.reassembledSteering(this::handedToOwner);
    }

    /**
     * Whether a run of one connection's consecutive segments in a received burst is handed to IP and TCP as one
     * segment ({@link ReceiveCoalescer}, as Linux's GRO; on by default); on a device shared by several stacks
     * ({@link #steerDeviceInput}), each stack merges the frames of its own flows, those another stack handed it
     * included. Not for the loopback, whose frames are chains already.
     */
    public void coalesceReceivedSegments(boolean on) {
        coalescer = on ? (coalescer != null ? coalescer : new ReceiveCoalescer(ip.counters())) : null;
    }

    /** Frames this stack received from the device and handed to the stack owning their flow. */
    public long framesHandedOver() {
        return framesHandedOver;
    }

    /** Frames other stacks received from the device and handed to this one. */
    public long framesTakenOver() {
        return framesTakenOver;
    }

    /** Frames dropped because the owning stack's hand-over ring was full (TCP retransmits them). */
    public long handOverDrops() {
        return handOverDrops;
    }

    /** Announces our address on the link (gratuitous ARP); call once the device is up. */
    public void start() {
        ip.announce();
        ip.flush();
    }

    /**
     * Runs the stack once at time {@code nowNanos}: input from every device, timers, output. Returns the number of
     * frames received, so a caller can back off when idle.
     */
    public int poll(long nowNanos) {
        int received = input(nowNanos);
        output(nowNanos);
        return received;
    }

    /** The output half of {@link #poll}: due timers, ARP upkeep, and every queued frame to the devices in one burst. */
    public void output(long nowNanos) {
        tcp.poll(nowNanos);
        ip.poll(nowNanos);
        ip.flush();
    }

    /**
     * Runs after a receive burst brought frames and before they are processed: the layer above installs there what
     * another thread asked for before those frames could exist (a listener bound elsewhere), so no frame meets the
     * stack before it. Stack thread only.
     */
    public void beforeProcessing(Runnable hook) {
        this.beforeProcessing = hook;
    }

    private Runnable beforeProcessing;

    /**
     * Only the input half of {@link #poll}: what the device and the loopback hold is processed, and what that makes
     * the stack send waits for the next {@link #poll} or {@link #flush} (frames for the loopback are delivered at
     * once). A write uses it to see the connection as it is now without a transmit burst of its own: every write of a
     * loop round then goes out in that round's one burst.
     */
    public int input(long nowNanos) {
        int received = 0;
        for (int b = 0; b < DEVICE_BURSTS_PER_INPUT; b++) {
            int n = receive(device, nowNanos);
            received += n;
            if (n < BURST) {
                break;
            }
        }
        if (steering != null) {
            received += takeHandedOver(nowNanos);
        }
        // loopback frames are generated by this very poll; bound the rounds so a ping-pong cannot spin forever
        for (int round = 0; round < 4; round++) {
            ip.flushLoopback();
            int n = receive(loopback, nowNanos);
            received += n;
            if (n == 0) {
                break;
            }
        }
        return received;
    }

    /** Hands every queued frame to the devices (one burst each). */
    public void flush() {
        ip.flush();
    }

    /** Frames queued for the devices and not yet handed over. */
    public int queuedFrames() {
        return ip.queuedFrames();
    }

    private int receive(NetDevice from, long nowNanos) {
        int n;
        ip.lockDevices(); // see Ipv4Layer.flushStalled
        try {
            n = from.receive(rx);
        } finally {
            ip.unlockDevices();
        }
        if (n > 0) {
            if (beforeProcessing != null) {
                beforeProcessing.run();
            }
            tcp.checkMemory();
        }
        if (steering != null && from == device) {
            // the frames of other stacks' flows go to them (they coalesce what they take); ours stay, in order
            int kept = 0;
            for (int i = 0; i < n; i++) {
                long frame = rx.get(i);
                if (!handedToOwner(frame)) {
                    rx.set(kept++, frame);
                }
            }
            deliver(from, kept, nowNanos);
        } else {
            deliver(from, n, nowNanos);
        }
        rx.clear();
        return n;
    }

    /**
     * Gives {@code frame} to the stack that owns its flow, or frees it (counted) when that stack cannot take it now;
     * false, and nothing done, when the flow is this stack's.
     */
    private boolean handedToOwner(long frame) {
        int owner = steering.ownerOf(frame);
        if (owner == steering.self()) {
            return false;
        }
        if (steering.handOver(owner, frame)) {
            framesHandedOver++;
        } else {
            handOverDrops++;
            device.pool().free(frame);
        }
        return true;
    }

    /** IP input of the burst's first {@code n} frames, runs of a connection's segments merged (from the device). */
    private void deliver(NetDevice from, int n, long nowNanos) {
        int frames = coalescer != null && from == device && n > 1 ? coalescer.coalesce(rx, n) : n;
        for (int i = 0; i < frames; i++) {
            ip.input(from, rx.get(i), nowNanos);
        }
    }

    /** Frames of this stack's flows that another stack received from the shared device. */
    private int takeHandedOver(long nowNanos) {
        int n = steering.takeHandedOver(rx);
        if (n > 0) {
            tcp.checkMemory();
        }
        deliver(device, n, nowNanos);
        rx.clear();
        framesTakenOver += n;
        return n;
    }

    /** Frees everything the stack holds and closes its devices. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        tcp.abortAll(nowForShutdown());
        ip.flush(); // the peers' RSTs
        ip.clear();
        loopback.close();
        device.close();
    }

    private static long nowForShutdown() {
        return System.nanoTime();
    }

    @Override
    public String toString() {
        return "NetStack(" + device.name() + ", " + ip.config() + ")";
    }
}
