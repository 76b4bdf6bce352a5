package io.zstack.channel;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SingleThreadEventLoop;
import io.netty.util.concurrent.RejectedExecutionHandlers;
import io.netty.util.internal.PlatformDependent;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.zstack.buffer.MbufPool;
import io.zstack.buffer.ZStackByteBufAllocator;
import io.zstack.device.NetDevice;
import io.zstack.stack.NetStack;
import io.zstack.tcp.IsnGenerator;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.locks.LockSupport;

/**
 * One thread, one stack instance, one device queue. The loop polls the stack (receive, timers, transmit), then runs
 * Netty's tasks and scheduled tasks, and does it again; it never blocks while there is work. After
 * {@link ZStackConfig#idleSpins()} empty rounds it parks for {@link ZStackConfig#idleParkNanos()} at a time, and
 * a task from another thread unparks it.
 */
public final class ZStackEventLoop extends SingleThreadEventLoop {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ZStackEventLoop.class);
    /** Most time spent on tasks per round, so the device queue is polled often even under a task flood. */
    private static final long TASK_BUDGET_NANOS = 500_000;

    private final ZStackConfig config;
    private final int index;
    private final int count;
    private final NetStack stack;
    private final MbufPool pool;
    /** 64 KiB mbufs for large buffers the application allocates, or null. */
    private final MbufPool largePool;
    private final ZStackByteBufAllocator allocator;
    /** Channels registered here: closed when the loop shuts down. Loop thread only. */
    final Set<AbstractZStackChannel> channels = new HashSet<>();
    private final LoopbackFabric fabric;
    private final java.util.concurrent.atomic.AtomicBoolean startRequested = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile Thread thread;
    private volatile boolean parked;

    ZStackEventLoop(EventLoopGroup parent, Executor executor, ZStackConfig config, int index, int count,
                    LoopbackFabric fabric) {
        super(parent, executor, false, newQueue(), newQueue(), RejectedExecutionHandlers.reject());
        this.config = config;
        this.index = index;
        this.count = count;
        NetDevice opened = config.device().open(index, count);
        NetDevice device = config.captureDirectory() == null ? opened : new io.zstack.device.PcapDevice(opened,
                config.captureDirectory().resolve("zstack-loop" + index + ".pcap"), config.captureSnapLength(),
                config.captureMaxBytes());
        this.pool = device.pool();
        this.fabric = fabric;
        NetDevice loopback = fabric.port(index, pool, this::frameArrived);
        this.stack = new NetStack(device, loopback, config.address(), config.tcpDefaults(), new IsnGenerator(),
                new SecureRandom().nextLong(), System.nanoTime());
        this.largePool = config.largeBuffers() == 0 ? null : largePoolLike(pool, config.largeBuffers(), index);
        this.allocator = new ZStackByteBufAllocator(pool, largePool, io.netty.buffer.PooledByteBufAllocator.DEFAULT);
    }

    /** The biggest mbufs a pool can hold (buf_len is 16 bits), of the same kind as the device's pool. */
    private static MbufPool largePoolLike(MbufPool devicePool, int count, int index) {
        int dataRoom = 0xffff;
        String name = "zstack-large-" + index + "-" + Integer.toHexString(System.identityHashCode(devicePool));
        if (devicePool instanceof io.zstack.buffer.DpdkMbufPool) {
            return io.zstack.buffer.DpdkMbufPool.create(name, count, 0, dataRoom);
        }
        return new io.zstack.buffer.JavaMbufPool(name, count, dataRoom);
    }

    MbufPool largePool() {
        return largePool;
    }

    private static Queue<Runnable> newQueue() {
        return PlatformDependent.newMpscQueue();
    }

    /** The stack this loop polls. Loop thread only. */
    public NetStack stack() {
        return stack;
    }

    /** Buffers from this loop's mbuf pool: writing them sends without a copy. */
    public ZStackByteBufAllocator allocator() {
        return allocator;
    }

    MbufPool pool() {
        return pool;
    }

    /** This loop's queue index among {@link #queueCount()} (the flow hash picks it). */
    public int queueIndex() {
        return index;
    }

    public int queueCount() {
        return count;
    }

    static long now() {
        return System.nanoTime();
    }

    /** Tells the other loops' stacks of each neighbour this loop's stack learns from ARP, on their own threads. */
    void shareNeighboursWith(java.util.List<ZStackEventLoop> loops) {
        stack.ip().neighbourListener((address, mac) -> {
            for (ZStackEventLoop other : loops) {
                if (other != this && !other.isShuttingDown()) {
                    try {
                        other.execute(() -> other.stack.ip().learnNeighbour(address, mac, now()));
                    } catch (java.util.concurrent.RejectedExecutionException e) {
                        // that loop is stopping: it needs no neighbours any more
                    }
                }
            }
        });
    }

    @Override
    protected void run() {
        thread = Thread.currentThread();
        stack.start(now());
        int idle = 0;
        try {
            for (;;) {
                int work = stack.poll(now());
                boolean ranTasks = runAllTasks(TASK_BUDGET_NANOS);
                // what the tasks wrote goes out now, not one round later
                if (ranTasks) {
                    work += stack.poll(now());
                }
                if (work > 0 || ranTasks) {
                    idle = 0;
                } else if (config.idleParkNanos() > 0 && ++idle > config.idleSpins()) {
                    park();
                }
                if (isShuttingDown()) {
                    closeAll();
                    stack.poll(now()); // the FINs and RSTs of the closed channels
                    if (confirmShutdown()) {
                        break;
                    }
                }
            }
        } catch (Throwable t) {
            logger.error("ZStack event loop failed; its channels are closed", t);
            closeAll();
        }
    }

    private void park() {
        long delay = config.idleParkNanos();
        long scheduled = nextScheduledTaskDeadlineNanos();
        if (scheduled != -1) {
            delay = Math.min(delay, Math.max(0, scheduled - getCurrentTimeNanos()));
        }
        parked = true;
        try {
            if (!hasTasks() && delay > 0) {
                LockSupport.parkNanos(this, delay);
            }
        } finally {
            parked = false;
        }
    }

    /** Another loop's stack delivered loopback frames to this one: make sure this loop runs and is awake. */
    private void frameArrived() {
        Thread t = thread;
        if (t == null) {
            if (startRequested.compareAndSet(false, true)) {
                try {
                    execute(() -> { }); // Netty starts a loop's thread with its first task
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    // shutting down: its stack frees what is queued when it closes
                }
            }
        } else if (parked) {
            LockSupport.unpark(t);
        }
    }

    @Override
    protected void wakeup(boolean inEventLoop) {
        if (!inEventLoop && parked) {
            LockSupport.unpark(thread);
        }
    }

    private void closeAll() {
        for (AbstractZStackChannel ch : new ArrayList<>(channels)) {
            ch.unsafe().close(ch.unsafe().voidPromise());
        }
    }

    @Override
    protected void cleanup() {
        stack.close(); // resets what is left, frees every queued mbuf, closes the device (which closes what it owns)
        if (largePool != null && largePool.available() == largePool.capacity()) {
            largePool.close(); // otherwise buffers the application holds still use it
        }
        // the device may have closed the pool with it (every mbuf home, the last loop on a shared port)
        long outstanding = pool.isClosed() ? 0 : (long) pool.capacity() - pool.available();
        int keptByDriver = Math.min((int) outstanding, stack.device().mbufsKeptAfterClose());
        if (outstanding > keptByDriver) {
            // held by ByteBufs the application has not released, or by loops still running (loopback frames cross
            // between loops, and the receiving stack frees them)
            logger.info("{} mbufs of {} still referenced when this loop stopped", outstanding - keptByDriver, pool);
        }
    }

    @Override
    public String toString() {
        return "ZStackEventLoop(" + index + "/" + count + ", " + stack + ")";
    }

    /** This loop's stack in text: IP and TCP counters (netstat -s style), mbuf pool use, and every connection. */
    public io.netty.util.concurrent.Future<String> describe() {
        return submit(() -> {
            String device = stack.device().statistics();
            return this + "\n  " + stack.ip().counters() + "\n  " + stack.tcp().counters() + "\n  pool " + pool
                    + (largePool == null ? "" : ", large " + largePool) + (device.isEmpty() ? "" : "\n  device "
                    + device) + "\n" + stack.tcp().describeConnections(now()).indent(2);
        });
    }

    /** The state of every connection of this loop's stack, one per line (runs on the loop). */
    public io.netty.util.concurrent.Future<String> describeConnections() {
        return submit(() -> stack.tcp().describeConnections(now()));
    }

    @Override
    public int registeredChannels() {
        return channels.size();
    }

    @Override
    public java.util.Iterator<Channel> registeredChannelsIterator() {
        assert inEventLoop();
        return java.util.List.<Channel>copyOf(channels).iterator();
    }
}
