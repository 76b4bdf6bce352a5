package io.zstack.channel;

import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SingleThreadEventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.RejectedExecutionHandlers;
import io.netty.util.internal.PlatformDependent;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.MbufPool;
import io.zstack.buffer.ZStackByteBufAllocator;
import io.zstack.device.FaultConfig;
import io.zstack.device.FaultInjectingDevice;
import io.zstack.device.NanoClock;
import io.zstack.device.NetDevice;
import io.zstack.device.NoLinkDevice;
import io.zstack.device.PcapDevice;
import io.zstack.dpdk.Eal;
import io.zstack.stack.NetStack;
import io.zstack.tcp.IsnGenerator;
import io.zstack.util.TimerSlack;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * One thread, one stack instance, one device queue. The loop polls the stack (receive, timers, transmit), then runs
 * Netty's tasks and scheduled tasks, and does it again; it never blocks while there is work. After
 * {@link ZStackConfig#idleSpins()} empty rounds it parks for {@link ZStackConfig#idleParkNanos()} at a time, and
 * a task from another thread unparks it.
 */
public final class ZStackEventLoop extends SingleThreadEventLoop {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ZStackEventLoop.class);
    /**
     * Most time a round spends before its tasks stop (counted from the round's start, its input included), so the
     * device queue is polled often even under a task flood.
     */
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
    /** In-process connections of this loop's channels. Loop thread only. */
    final InProcessCounters inProcessCounters = new InProcessCounters();
    /** Ends of cross-process connections of this loop's channels: polled every round (the peer cannot wake us). */
    final List<CrossProcessEnd> crossProcessEnds = new CopyOnWriteArrayList<>();
    private final AtomicBoolean startRequested = new AtomicBoolean();
    private volatile Thread thread;
    /** This loop's DPDK lcore id while it runs on a DPDK port's pool, else -1 (see {@link #registerLcore}). */
    private int lcore = -1;
    private volatile boolean parked;
    /** How long this loop's writes may wait for a shared transmit burst: {@link ZStackConfig#transmitBatchNanos}. */
    private final long transmitBatchNanos;
    /** See {@link #inputBeforeWrite}. */
    private final long writeInputIntervalNanos;

    ZStackEventLoop(EventLoopGroup parent, Executor executor, ZStackConfig config, int index, int count,
                    LoopbackFabric fabric) {
        super(parent, executor, false, newQueue(), newQueue(), RejectedExecutionHandlers.reject());
        this.config = config;
        this.index = index;
        this.count = count;
        NetDevice opened = config.device().open(index, count);
        FaultConfig faults = config.linkFaults(index);
        // the capture outside the faults: it shows what the stack sent and what reached it
        NetDevice impaired = faults == null ? opened : new FaultInjectingDevice(opened, faults, NanoClock.system());
        NetDevice device = config.captureDirectory() == null ? impaired : new PcapDevice(impaired,
                config.captureDirectory().resolve("zstack-loop" + index + ".pcap"), config.captureSnapLength(),
                config.captureMaxBytes());
        this.pool = device.pool();
        this.transmitBatchNanos = config.transmitBatchNanos(device);
        this.writeInputIntervalNanos = config.writeInputIntervalNanos();
        this.fabric = fabric;
        NetDevice loopback = fabric.port(index, pool, this::frameArrived);
        this.stack = new NetStack(device, loopback, config.address(), config.tcpSettings(), new IsnGenerator(),
                new SecureRandom().nextLong(), System.nanoTime());
        if (count > 1) {
            stack.steerDeviceInput(fabric.steering(index)); // each TCP frame to the loop its flow hash picks
        }
        stack.coalesceReceivedSegments(config.receiveCoalescing());
        stack.beforeProcessing(this::runListenTasks);
        this.largePool = config.largeBuffers() == 0 ? null : largePoolLike(pool, config.largeBuffers(), index);
        // large buffers in segment-sized mbufs: a full segment's payload on this device (MTU less IPv4, TCP and the
        // timestamp option); a loopback-only loop (64 KiB segments, more than one mbuf) keeps single large mbufs
        this.allocator = new ZStackByteBufAllocator(pool, largePool, PooledByteBufAllocator.DEFAULT,
                opened instanceof NoLinkDevice ? 0 : device.mtu() - 20 - 20 - 12);
    }

    /** The biggest mbufs a pool can hold (buf_len is 16 bits), of the same kind as the device's pool. */
    private static MbufPool largePoolLike(MbufPool devicePool, int count, int index) {
        int dataRoom = 0xffff;
        String name = "zstack-large-" + index + "-" + Integer.toHexString(System.identityHashCode(devicePool));
        if (devicePool instanceof DpdkMbufPool) {
            return DpdkMbufPool.create(name, count, 0, dataRoom);
        }
        return new JavaMbufPool(name, count, dataRoom);
    }

    ZStackConfig config() {
        return config;
    }

    /** How long this loop's writes may wait to share a transmit call (see {@link #wrote}). */
    long transmitBatchNanos() {
        return transmitBatchNanos;
    }

    MbufPool largePool() {
        return largePool;
    }

    private static Queue<Runnable> newQueue() {
        return PlatformDependent.newMpscQueue();
    }

    /** The stack this loop polls. Loop thread only. */
    NetStack stack() {
        return stack;
    }

    /** Buffers from this loop's mbuf pool: writing them sends without a copy. */
    ZStackByteBufAllocator allocator() {
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
    void shareNeighboursWith(List<ZStackEventLoop> loops) {
        stack.ip().neighbourListener((address, mac) -> {
            for (ZStackEventLoop other : loops) {
                if (other != this && !other.isShuttingDown()) {
                    try {
                        other.execute(() -> other.stack.ip().learnNeighbour(address, mac, now()));
                    } catch (RejectedExecutionException e) {
                        // that loop is stopping: it needs no neighbours any more
                    }
                }
            }
        });
    }

    @Override
    protected void run() {
        thread = Thread.currentThread();
        if (pool instanceof JavaMbufPool javaPool) {
            javaPool.bindToCurrentThread(); // this loop's allocations and frees skip the pool's lock (see there)
        } else if (pool instanceof DpdkMbufPool) {
            lcore = registerLcore();
        }
        stack.start();
        if (config.idleParkNanos() > 0) {
            TimerSlack.set(IDLE_TIMER_SLACK_NANOS); // a 50 µs park, not 50 µs plus Linux's default 50 µs of slack
        }
        if (config.stallFlushNanos() > 0) {
            stack.ip().shareWithStallWatch();
            StallWatch.watch(this);
        }
        int idle = 0;
        try {
            for (;;) {
                // one round: input, the tasks it and others queued (reads, writes), then one transmit burst for
                // everything the round sent (the writes of every channel, ACKs, timers' segments)
                long roundStart = now();
                roundStartedNanos = roundStart;
                utilisation.roundStarted(roundStart);
                lastInputNanos = roundStart;
                // the device lock is held through the stack's own phases (its accesses inside re-enter cheaply) and
                // released while tasks run, when handler code may block
                stack.ip().lockDevices();
                int work;
                try {
                    work = stack.input(roundStart);
                } finally {
                    stack.ip().unlockDevices();
                }
                if (!crossProcessEnds.isEmpty()) {
                    for (CrossProcessEnd end : crossProcessEnds) {
                        work += end.poll();
                    }
                }
                boolean ranTasks = runRoundTasks(roundStart);
                boolean busy = work > 0 || ranTasks;
                // an empty round lasted a few hundred ns: its start serves as its output's time too (a clock read is
                // about 45 ns on these VMs, and two of them were a quarter of an idle round)
                long outputStart = busy ? now() : roundStart;
                stack.ip().lockDevices();
                try {
                    // a long round (a handler, a large copy): what came meanwhile (ACKs) is taken in before the
                    // timers run, or they would count its wait in the device as the peer's silence (a tail loss
                    // probe, even an RTO, for data acknowledged long ago: ZStackLongRoundTest)
                    inputIfOlderThan(LoopUtilisation.LONG_ROUND_NANOS, outputStart);
                    stack.output(outputStart);
                } finally {
                    stack.ip().unlockDevices();
                }
                lastTransmitNanos = outputStart;
                utilisation.roundEnded(busy);
                if (busy) {
                    idle = 0;
                } else if (config.idleParkNanos() > 0 && ++idle > config.idleSpins()) {
                    park();
                } else if (!crossProcessEnds.isEmpty()) {
                    // the peer process's loop, which this one waits for, may share this core: let it run at once
                    // (yielding every 8th empty round instead put 8 rounds, 5-6 us, into each 64 B round trip)
                    Thread.yield();
                }
                if (shutdownRequested || isShutdown()) {
                    closeAll();
                    stack.poll(now()); // the FINs and RSTs of the closed channels
                    if (nextRound.isEmpty() && confirmShutdown()) { // what a round held runs first
                        break;
                    }
                }
            }
        } catch (Throwable t) {
            logger.error("ZStack event loop failed; its channels are closed", t);
            closeAll();
        } finally {
            StallWatch.unwatch(this);
        }
    }

    /**
     * Listeners another thread installs on this loop's stack ({@link GroupListeners#listen}). They run before the
     * frames of every receive burst are processed, not as ordinary tasks: a round processes input before its tasks,
     * so a SYN that a connect sent after bind() returned could otherwise reach this stack before its listener and be
     * reset (ZStackEchoTest saw "Connection refused" on a two-loop group).
     */
    private final Queue<Runnable> listenTasks = new ConcurrentLinkedQueue<>();

    /** Queues a listener installation (see {@link #listenTasks}) and makes sure the loop runs it soon. */
    void listenBeforeInput(Runnable task) {
        listenTasks.add(task);
        execute(this::runListenTasks); // a loop not yet started starts with it; an idle one wakes
    }

    private void runListenTasks() {
        Runnable task;
        while ((task = listenTasks.poll()) != null) {
            task.run();
        }
    }

    /**
     * {@code System.nanoTime()} minus Netty's scheduler clock ({@link #getCurrentTimeNanos()}), taken once. Netty's
     * clock is read first, so the offset comes out larger than the true one by the time between the two reads: the
     * Netty time worked out from the round's clock then lags the true one a little, and a scheduled task is never run
     * before its deadline, only up to that much after it.
     */
    private final long nettyClockOffset = nettyClockOffset();

    private long nettyClockOffset() {
        long netty = getCurrentTimeNanos();
        return System.nanoTime() - netty;
    }

    /** Tasks for the next round (see {@link #executeNextRound}); loop thread only. */
    private final ArrayDeque<Runnable> nextRound = new ArrayDeque<>();

    /**
     * Runs {@code task} in the next round, after that round has taken in its devices' frames and this one has
     * transmitted: {@link #execute} would run it in this round's tasks, which run until the queue is empty. A channel
     * whose flush spent its copy budget goes on this way, so one flush after another does not copy a whole send buffer
     * (megabytes) in one round while the ACKs wait. Loop thread only; while shutting down it is an ordinary task.
     */
    void executeNextRound(Runnable task) {
        if (isShuttingDown()) {
            execute(task);
        } else {
            nextRound.add(task);
        }
    }

    /** When {@link #runRoundTasks} last updated Netty's last-execution time (the graceful shutdown's quiet period). */
    private long lastExecutionUpdateNanos;

    /**
     * Netty's {@code runAllTasks(TASK_BUDGET_NANOS)} on the round's clock: the due scheduled tasks join the task queue
     * behind what it holds, then the queue runs until it is empty or the budget is spent (checked every 64 tasks).
     * Netty's own reads the clock two or three times a call (the scheduled tasks, the deadline, the last execution
     * time); a clock read costs 30-45 ns on these VMs, and at 8 KB in setup 2 the server's loop spent 12 % of its CPU
     * in {@code clock_gettime}. The budget counts from the round's start (its input included). The quiet period's
     * last-execution time is kept to within a millisecond.
     */
    private boolean runRoundTasks(long roundStart) {
        Runnable held;
        while ((held = nextRound.poll()) != null) {
            addTask(held); // held by the previous round (executeNextRound): they follow this round's input
        }
        long nettyNow = roundStart - nettyClockOffset;
        Runnable scheduled;
        while ((scheduled = pollScheduledTask(nettyNow)) != null) {
            if (isShutdown()) {
                safeExecute(scheduled); // the queue refuses tasks now; Netty's would have taken it
            } else {
                addTask(scheduled);
            }
        }
        Runnable task = pollTask();
        if (task == null) {
            afterRunningAllTasks();
            return false;
        }
        long deadline = roundStart + TASK_BUDGET_NANOS;
        long ran = 0;
        do {
            safeExecute(task);
            if ((++ran & 0x3f) == 0 && now() >= deadline) {
                break;
            }
        } while ((task = pollTask()) != null);
        afterRunningAllTasks();
        if (roundStart - lastExecutionUpdateNanos >= 1_000_000 || isShuttingDown()) {
            updateLastExecutionTime();
            lastExecutionUpdateNanos = roundStart;
        }
        return true;
    }

    /** Time in rounds with work and without (see {@link LoopUtilisation}); loop thread only. */
    private final LoopUtilisation utilisation = new LoopUtilisation();

    /** When this loop last took in what its devices held: a round's start, or a write that looked first. */
    private long lastInputNanos;

    /**
     * A channel is about to write at {@code nowNanos}: when the loop has not taken in its devices' frames for
     * {@link ZStackConfig#DEFAULT_WRITE_INPUT_INTERVAL_NANOS} (a millisecond), it does so first (an ACK that freed
     * the send buffer, a RST), so that a handler that has held the loop long writes against the connection as it is.
     * Within a round it does not: the round took its input at its start, and what came since waits for the next
     * round, as a kernel's write(2) does not process the receive queue either. Looking before every write made a
     * transmit window after the last look (2 µs on memif) was one more receive call per request at both ends of
     * setup 2.
     */
    void inputBeforeWrite(long nowNanos) {
        inputIfOlderThan(writeInputIntervalNanos, nowNanos);
    }

    /** Takes in what the devices hold if the loop last did {@code intervalNanos} or more before {@code nowNanos}. */
    private void inputIfOlderThan(long intervalNanos, long nowNanos) {
        if (nowNanos - lastInputNanos >= intervalNanos) {
            stack.input(nowNanos);
            lastInputNanos = nowNanos;
        }
    }

    /** When this loop last handed its queued frames to the device: a round's end, or a write that did not wait. */
    private long lastTransmitNanos;

    /**
     * A channel's write queued its frames at {@code nowNanos}. They wait for the round's one transmit burst unless the
     * loop has not transmitted for {@link #transmitBatchNanos} (set by the device: 5 µs in process, 30 µs where a
     * transmit is a system call): then everything queued goes now. A round
     * that read many requests at once (ten connections' worth in one receive burst) would otherwise hold the first
     * response until the last was written, and the peer, idle meanwhile, would answer in the same convoy: both ends
     * then take turns instead of working side by side (setup 2, 64 B, ten connections: 76k req/s with one burst per
     * round, 137-151k with a burst per write).
     */
    void wrote(long nowNanos) {
        if (nowNanos - lastTransmitNanos >= transmitBatchNanos && stack.queuedFrames() > 0) {
            stack.flush();
            lastTransmitNanos = nowNanos;
        }
    }

    /** The loop thread's timer slack when it parks while idle (see {@link TimerSlack}). */
    static final long IDLE_TIMER_SLACK_NANOS = 1_000;

    /** When the current round started (System.nanoTime), or 0 while parked; read by {@link StallWatch}. */
    private volatile long roundStartedNanos;

    /**
     * Batched transmit has one hazard, and this closes it. Frames a round queued go out in one burst at the round's
     * end; a handler that blocks its event loop after writing (Netty's SocketHalfClosedTest does: its leader writes,
     * then waits in channelActive until the follower, on another loop, has read the data and closed) would hold them
     * back forever, where a kernel would have sent them during write(2). A daemon thread looks at every loop each
     * {@link #PERIOD_NANOS}; a loop whose round started more than {@link ZStackConfig#stallFlushNanos()} ago (1 ms by
     * default) and whose thread is waiting (not runnable) gets its queued frames
     * flushed from that thread, under the transmit lock its own thread takes around every device and queue access
     * ({@link io.zstack.ip.Ipv4Layer#flushStalled}): never while the loop is in there itself. While no round lasts a
     * period, the watch looks half as often each time, down to every {@link #QUIET_PERIOD_NANOS}: it shares the CPU
     * of a busy-polling loop (the benchmark pins a server's threads to one), and waking 1,000 times a second took 2 %
     * of that CPU from the loop. A first stall is then flushed at most 16 ms late; the next ones within a period.
     */
    static final class StallWatch {
        static final long PERIOD_NANOS = 1_000_000;
        static final long QUIET_PERIOD_NANOS = 16_000_000;
        private static final Set<ZStackEventLoop> LOOPS = ConcurrentHashMap.newKeySet();
        private static Thread watcher;

        static synchronized void watch(ZStackEventLoop loop) {
            LOOPS.add(loop);
            if (watcher == null) {
                watcher = new Thread(StallWatch::run, "zstack-stall-watch");
                watcher.setDaemon(true);
                watcher.start();
            }
        }

        static synchronized void unwatch(ZStackEventLoop loop) {
            LOOPS.remove(loop);
        }

        /** The watch's next sleep: a period again once a round outlasted one, else twice the last, up to quiet. */
        static long nextPeriod(long period, boolean sawLongRound) {
            return sawLongRound ? PERIOD_NANOS : Math.min(2 * period, QUIET_PERIOD_NANOS);
        }

        private static void run() {
            long period = PERIOD_NANOS;
            for (;;) {
                LockSupport.parkNanos(period);
                long now = System.nanoTime();
                boolean sawLongRound = false;
                for (ZStackEventLoop loop : LOOPS) {
                    long started = loop.roundStartedNanos;
                    sawLongRound |= started != 0 && now - started >= PERIOD_NANOS;
                    long stall = loop.config.stallFlushNanos();
                    Thread t = loop.thread;
                    // only a loop whose thread waits (a latch, a future, sleep, a monitor): one that is merely slow
                    // (descheduled on a busy machine, a long task) flushes at its round's end itself, and taking its
                    // lock then would only make it wait for this thread
                    if (started != 0 && stall > 0 && now - started > stall && t != null && !loop.parked
                            && t.getState() != Thread.State.RUNNABLE) {
                        loop.stack.ip().flushStalled();
                    }
                }
                period = nextPeriod(period, sawLongRound);
            }
        }
    }

    private void park() {
        long delay = config.idleParkNanos();
        long scheduled = nextScheduledTaskDeadlineNanos();
        if (scheduled != -1) {
            delay = Math.min(delay, Math.max(0, scheduled - getCurrentTimeNanos()));
        }
        parked = true;
        utilisation.parked();
        roundStartedNanos = 0; // parked, nothing queued: not a stall
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
                } catch (RejectedExecutionException e) {
                    // shutting down: its stack frees what is queued when it closes
                }
            }
        } else if (parked) {
            LockSupport.unpark(t);
        }
    }

    /**
     * Set once a graceful shutdown's quiet period and timeout are in place; the loop acts on a shutdown only then (or
     * on {@code shutdown()}). Netty's {@code shutdownGracefully} publishes the shutting-down state first and writes
     * those two fields after it, and this loop reads {@code isShuttingDown()} every round without waiting for a
     * wake-up: when the caller's thread was preempted between the two, the loop saw the state with a timeout of 0, and
     * {@code confirmShutdown} ended it at once, without the quiet period (ZStackLoopTasksTest: terminated 2.8 ms after
     * the last task, quiet period 300 ms, in one full test run). Synchronized: a second caller's Netty call returns at
     * once, and must not set the flag while the first one's is still between its two steps.
     */
    private volatile boolean shutdownRequested;

    @Override
    public synchronized Future<?> shutdownGracefully(long quietPeriod, long timeout, TimeUnit unit) {
        Future<?> termination = super.shutdownGracefully(quietPeriod, timeout, unit);
        shutdownRequested = true;
        wakeup(inEventLoop()); // Netty's own wake-up came before the flag
        return termination;
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
        try {
            stack.close(); // resets what is left, frees every queued mbuf, closes the device (which closes what it owns)
            if (fabric.lastToStop()) {
                // only now is nothing held by a loop of the group: before, a loop still running held mbufs of a
                // stopped one (loopback frames, received data, in-process buffers), and freed them after its report
                for (ZStackEventLoop loop : ((ZStackEventLoopGroup) parent()).loops()) {
                    loop.reportPools();
                }
            }
        } finally {
            if (lcore >= 0) {
                Eal.unregisterThread(); // hands what its caches hold back to the pools, then frees the id
                lcore = -1;
            }
        }
    }

    /**
     * Gives this loop's thread a DPDK lcore id, and with it a per-lcore cache in every mempool. Without one, each mbuf
     * the port's receive allocates and each one freed goes through the mempool's shared ring, first in, first out:
     * allocation cycles through the whole pool, so every mbuf arrives cold (and pays a compare-and-set on the ring).
     */
    private int registerLcore() {
        try {
            return Eal.registerThread();
        } catch (RuntimeException e) {
            logger.warn("{}: no DPDK lcore for this loop's thread, so no mempool cache ({})", this, e.getMessage());
            return -1;
        }
    }

    /** DPDK's lcore id of this loop's thread while it runs, or -1 when it has none (a Java pool, or none free). */
    int lcore() {
        return lcore;
    }

    /** After the group stopped: closes the large pool if every mbuf is home, and reports what the application holds. */
    private void reportPools() {
        if (largePool != null) {
            if (largePool.available() == largePool.capacity()) {
                largePool.close();
            } else {
                logger.info("{} large mbufs of {} still referenced when the group stopped",
                        largePool.capacity() - largePool.available(), largePool);
            }
        }
        // the device may have closed the pool with it (every mbuf home, the last loop on a shared port)
        long outstanding = pool.isClosed() ? 0 : (long) pool.capacity() - pool.available();
        int keptByDriver = Math.min((int) outstanding, stack.device().mbufsKeptAfterClose());
        if (outstanding > keptByDriver) {
            logger.info("{} mbufs of {} still referenced when the group stopped (buffers not released, or a leak)",
                    outstanding - keptByDriver, pool);
        }
    }

    @Override
    public String toString() {
        return "ZStackEventLoop(" + index + "/" + count + ", " + stack + ")";
    }

    /**
     * This loop in text: its time with and without work ({@link LoopUtilisation}), its stack's IP and TCP counters
     * (netstat -s style), mbuf pool use, and every connection.
     */
    public Future<String> describe() {
        return submit(() -> {
            String device = stack.device().statistics();
            return this + "\n  " + utilisation + "\n  " + stack.ip().counters() + "\n  " + stack.tcp().counters()
                    + "\n  pool " + pool
                    + (largePool == null ? "" : ", large " + largePool) + (device.isEmpty() ? "" : "\n  device "
                    + device) + (count == 1 ? "" : "\n  steering: handed over " + stack.framesHandedOver()
                    + ", taken over " + stack.framesTakenOver() + ", dropped " + stack.handOverDrops())
                    + "\n  " + inProcessCounters + "\n" + connections().indent(2);
        });
    }

    /**
     * This loop's counters, netstat -s style: IP ({@code ip.*}), TCP ({@code tcp.*}), in-process connections
     * ({@code inprocess.*}) and the loop's time with and without work ({@code loop.*}, {@link LoopUtilisation}), read
     * on the loop's thread so that they are consistent with each other.
     */
    public Future<Map<String, Long>> counters() {
        return submit(() -> {
            Map<String, Long> all = new LinkedHashMap<>();
            stack.ip().counters().snapshot().forEach((k, v) -> all.put("ip." + k, v));
            stack.tcp().counters().snapshot().forEach((k, v) -> all.put("tcp." + k, v));
            inProcessCounters.snapshot().forEach((k, v) -> all.put("inprocess." + k, v));
            all.putAll(utilisation.snapshot());
            return all;
        });
    }

    /** The state of every connection of this loop's stack, one per line (runs on the loop). */
    public Future<String> describeConnections() {
        return submit(this::connections);
    }

    /** TCP connections, then the in-process ones (marked so) of this loop's channels. */
    private String connections() {
        String tcp = stack.tcp().describeConnections(now());
        String inProcess = InProcessConnections.describe(this);
        return inProcess.isEmpty() ? tcp : tcp.isEmpty() ? inProcess : tcp.stripTrailing() + "\n" + inProcess;
    }

    @Override
    public int registeredChannels() {
        return channels.size();
    }

    @Override
    public Iterator<Channel> registeredChannelsIterator() {
        assert inEventLoop();
        return List.<Channel>copyOf(channels).iterator();
    }
}
