package io.zstack.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.concurrent.EventExecutor;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackDevices;
import io.zstack.channel.ZStackEventLoop;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackSocketChannel;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.HdrHistogram.Histogram;

/**
 * An HTTP/1.1 load generator on Netty, on epoll or on ZStack, for the benchmark harness (bench/harness.py).
 *
 * <p>Closed loop (default): {@code --connections} keep-alive connections, each with one request in flight; the
 * next request leaves when the previous response has fully arrived; latency is measured from the send. Requests are
 * bytes built once and responses are read by {@link ResponseParser}, with no HTTP objects, so that the client costs
 * less per request than the servers it measures (as wrk does).
 * Open loop ({@code --rate R}): requests are due at R per second in total, spread evenly over the connections;
 * a request is sent at its due time, or as soon as its connection's previous response arrived if that is later,
 * and its latency is measured from its due time (so a stalled server is charged for the requests it delayed).
 *
 * <p>Warm-up: slices of 2 s, each measured as the window is (the same GET /stats and loop tasks at its edges), until
 * three successive slices agree within 10 % and the last saw no JIT compiling in any JVM of the machine
 * ({@link JitActivity}), between {@code --warmup-min} and {@code --warmup} seconds; then the
 * measured window of {@code --duration} seconds, in which every response completed is counted and its latency
 * recorded in an HdrHistogram (1 ns to 60 s, 3 significant digits); a window in which a JVM compiled is measured
 * again, up to {@link #MAX_WINDOWS} windows.
 * It prints one line {@code ZSBENCH key=value ...} with the keys wrk-report.lua prints (latencies in µs).
 *
 * <p>Everything runs on one event loop thread: connections, histogram and counters are touched only there.
 */
public final class LoadGenerator {
    private final Options o;
    static final long LATENCY_RANGE_NANOS = TimeUnit.SECONDS.toNanos(60);
    private final Histogram histogram = new Histogram(LATENCY_RANGE_NANOS, 3);
    private final byte[] body;
    private final byte[] request;
    private final List<Conn> conns = new ArrayList<>();
    private EventLoop loop;
    // state of the run, confined to the event loop
    private boolean running = true;
    private long completed;
    private long bytes;
    private long errConnect;
    private long errRead;
    private long errStatus;
    /** Exceptions printed so far: the first few say why connections failed. */
    private int exceptionsLogged;
    private long openLoopStart;

    private LoadGenerator(Options o) {
        this.o = o;
        this.body = new byte[o.size];
        Arrays.fill(body, (byte) 'z');
        this.request = requestBytes(o, body);
    }

    /** Command-line options. */
    static final class Options {
        String transport = "epoll";
        String host = "127.0.0.1";
        int port = 8080;
        int size = 64;
        String mode = "post";
        int connections = 10;
        int duration = 10;
        int warmup = 12;
        int warmupMin = 4;
        double rate;
        String vdev;
        String address;
        String gateway;
        /** A hugetlbfs mount for DPDK's memory (the mbufs); null: 4 KiB pages. */
        String hugeDir;
        String pcapDir;
        boolean fetchStats;
        /** After the warm-up, report progress every this many milliseconds until killed (0: one window, as usual). */
        int progressMillis;

        static Options parse(String[] args) {
            Options o = new Options();
            for (int i = 0; i < args.length; i++) {
                String v = i + 1 < args.length ? args[i + 1] : null;
                switch (args[i]) {
                    case "--transport" -> o.transport = v;
                    case "--host" -> o.host = v;
                    case "--port" -> o.port = Integer.parseInt(v);
                    case "--size" -> o.size = Integer.parseInt(v);
                    case "--mode" -> o.mode = v;
                    case "--connections" -> o.connections = Integer.parseInt(v);
                    case "--duration" -> o.duration = Integer.parseInt(v);
                    case "--warmup" -> o.warmup = Integer.parseInt(v);
                    case "--warmup-min" -> o.warmupMin = Integer.parseInt(v);
                    case "--rate" -> o.rate = Double.parseDouble(v);
                    case "--vdev" -> o.vdev = v;
                    case "--address" -> o.address = v;
                    case "--gateway" -> o.gateway = v;
                    case "--huge-dir" -> o.hugeDir = v;
                    case "--pcap" -> o.pcapDir = v;
                    case "--progress-ms" -> o.progressMillis = Integer.parseInt(v);
                    case "--fetch-stats" -> {
                        o.fetchStats = true;
                        i--;
                    }
                    default -> usage("unknown option " + args[i]);
                }
                i++;
            }
            if (!o.mode.equals("post") && !o.mode.equals("get")) {
                usage("--mode is post or get");
            }
            if (o.transport.equals("zstack") && (o.vdev == null || o.address == null)) {
                usage("--transport zstack needs --vdev DEVARGS and --address A/NN");
            }
            return o;
        }

        static void usage(String why) {
            System.err.println("load-generator: " + why);
            System.err.println("usage: java -jar zstack-bench.jar --transport epoll|zstack --host H --port P"
                    + " --size N --mode post|get --connections C --duration S [--warmup S] [--warmup-min S]"
                    + " [--rate REQ_PER_S (open loop)] [--vdev DEVARGS --address A/NN [--gateway G] [--huge-dir DIR]"
                    + " [--pcap DIR]]"
                    + " [--progress-ms MS (after the warm-up, progress lines until killed)]");
            System.exit(2);
        }
    }

    public static void main(String[] args) throws Exception {
        Options o = Options.parse(args);
        System.exit(new LoadGenerator(o).run());
    }

    private int run() throws Exception {
        EventLoopGroup group;
        Class<? extends SocketChannel> channel;
        if (o.transport.equals("zstack")) {
            ZStackDevices.Port port = ZStackDevices.dpdk(o.vdev);
            if (o.hugeDir != null) {
                // as http-echo's --huge-dir: a mount of the harness's own, the files unlinked once mapped, except
                // for a zero-copy memif client, whose server maps them by name (ZStack removes them at exit)
                port = port.withHugepages(true).withEalArgument("--huge-dir=" + o.hugeDir);
                if (!port.zeroCopy()) {
                    port = port.withEalArgument("--huge-unlink");
                }
            }
            ZStackConfig.Builder config = ZStackConfig.builder().device(port).address(o.address, o.gateway);
            if (o.pcapDir != null) { // what the client's device sent and received, to compare servers' segments
                config.capture(java.nio.file.Path.of(o.pcapDir), 65535, 256L << 20);
            }
            group = new ZStackEventLoopGroup(1, config.build());
            channel = ZStackSocketChannel.class;
        } else if (o.transport.equals("epoll")) {
            if (!Epoll.isAvailable()) {
                throw new IllegalStateException("epoll is not available: " + Epoll.unavailabilityCause());
            }
            group = new EpollEventLoopGroup(1);
            channel = EpollSocketChannel.class;
        } else {
            Options.usage("unknown transport " + o.transport);
            return 2;
        }
        try {
            loop = group.next();
            Bootstrap b = new Bootstrap().group(group).channel(channel)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 1000)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            Conn c = new Conn(conns.size());
                            conns.add(c);
                            ch.pipeline().addLast(c);
                        }
                    });
            connectAll(b);
            loop.submit(() -> {
                openLoopStart = System.nanoTime();
                for (Conn c : conns) {
                    c.next(openLoopStart);
                }
            }).sync();
            warmUp(b, group);
            if (o.progressMillis > 0) {
                reportProgressUntilKilled(group);
            }
            Window w;
            for (int window = 1; ; window++) {
                w = measure(b, group, o.duration, true);
                // a JVM compiling inside the window took the pinned CPUs from the loops (a late C2 recompile: 1.2 s
                // in a 6 s window halved the rate after a quiet warm-up): that window measured the JIT; the next
                // one is measured instead, at most MAX_WINDOWS in all (the last is kept whatever happened in it)
                if (w.compiled <= JIT_QUIET * o.duration || window == MAX_WINDOWS) {
                    System.out.println("window " + window + ": JIT compiler CPU " + hundredths(w.compiled) + " s");
                    break;
                }
                System.out.println("window " + window + " discarded: the JIT compiled for "
                        + hundredths(w.compiled) + " s in it; measuring again");
            }
            long[] start = w.start;
            Object[] end = w.end;
            onLoop(() -> {
                running = false;
                return null;
            });
            Histogram h = (Histogram) end[6];
            long durationNanos = (long) end[0] - start[0];
            System.out.println(String.format(Locale.ROOT, "ZSBENCH requests=%d duration_us=%d bytes=%d"
                            + " err_connect=%d err_read=%d err_write=0 err_status=%d err_timeout=0"
                            + " lat_mean_us=%.3f lat_stdev_us=%.3f lat_p50_us=%d lat_p99_us=%d lat_p999_us=%d"
                            + " lat_max_us=%d client_cpu_ns=%d warmup_s=%d warmup_settled=%d transport=%s loop=%s"
                            + " server_loop_busy=%s client_loop_busy=%s",
                    (long) end[1] - start[1], durationNanos / 1000, (long) end[2] - start[2],
                    (long) end[3], (long) end[4], (long) end[5],
                    h.getMean() / 1e3, h.getStdDeviation() / 1e3, h.getValueAtPercentile(50) / 1000,
                    h.getValueAtPercentile(99) / 1000, h.getValueAtPercentile(99.9) / 1000, h.getMaxValue() / 1000,
                    w.cpuNanos, warmupSeconds, warmupSettled ? 1 : 0, o.transport, o.rate > 0 ? "open" : "closed",
                    busyShare(w.serverLoop0, w.serverLoop1), busyShare(w.ownLoop0, w.ownLoop1)));
            System.out.flush();
            if (group instanceof ZStackEventLoopGroup z) {
                // the load generator's own stack: counters and connections, for the log
                System.out.println("load generator stack:\n" + z.describe().get(10, TimeUnit.SECONDS));
            }
            if (o.fetchStats) {
                System.out.println("server GET /stats:\n" + w.serverStats); // as read at the window's end
            }
            for (Conn c : conns) {
                if (c.ch != null) {
                    c.ch.close();
                }
            }
            return 0;
        } finally {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
        }
    }

    /**
     * The paired mode of the harness (bench/harness.py --paired): it keeps several warmed-up server and load generator
     * pairs and lets one run at a time, stopping the others with SIGSTOP, so that the transports compared meet the same
     * moments of the host. A window is whatever lies between two of these lines that the harness reads while this
     * process runs: the loop's clock and its count of completed requests, so a window never spans a stop.
     */
    private void reportProgressUntilKilled(EventLoopGroup group) throws Exception {
        System.out.println("ZSBENCH-WARM");
        System.out.flush();
        long lastCompleted = -1;
        long lastNanos = 0;
        long stuckNanos = 0;
        boolean described = false;
        while (true) {
            Thread.sleep(o.progressMillis);
            long[] now = onLoop(() -> new long[] {System.nanoTime(), completed, errConnect + errRead + errStatus});
            System.out.println("ZSBENCH-PROGRESS ns=" + now[0] + " requests=" + now[1] + " errors=" + now[2]);
            System.out.flush();
            // a second of running (gaps of a stop not counted) without a response: say what the stack holds, once
            long gap = now[0] - lastNanos;
            stuckNanos = now[1] != lastCompleted ? 0 : stuckNanos + (gap < 3L * o.progressMillis * 1_000_000 ? gap : 0);
            if (stuckNanos > 1_000_000_000L && !described && group instanceof ZStackEventLoopGroup z) {
                described = true;
                System.out.println("no response for a second of running; load generator stack:\n"
                        + z.describe().get(10, TimeUnit.SECONDS));
                System.out.flush();
            }
            lastCompleted = now[1];
            lastNanos = now[0];
        }
    }

    /**
     * Records a latency, at most the histogram's range (60 s). Under the harness's --paired a request in flight when
     * its pair was stopped takes as long as the stop, 90 s and more, and recording that threw out of the connection's
     * handler, which closed every connection of the pair.
     */
    static void recordLatency(Histogram histogram, long nanos) {
        histogram.recordValue(Math.min(Math.max(0, nanos), LATENCY_RANGE_NANOS));
    }

    /** Opens every connection; a ZStack link (memif) may take a few seconds to come up, so refusals are retried. */
    private void connectAll(Bootstrap b) throws InterruptedException {
        InetSocketAddress server = new InetSocketAddress(o.host, o.port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (int i = 0; i < o.connections; i++) {
            while (true) {
                ChannelFuture f = b.connect(server).await();
                if (f.isSuccess()) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("could not connect to " + server + ": " + f.cause());
                }
                Thread.sleep(100);
            }
        }
    }

    /**
     * Whether the last three warm-up slices are within 10% of each other. Two were not enough: a JIT still compiling
     * on a slow machine climbed 2,215, 2,760, 2,860 req/s, its last two agreed, and the window measured a fifth of
     * the steady rate.
     */
    static boolean lastThreeAgree(List<Long> rates) {
        int n = rates.size();
        if (n < 3) {
            return false;
        }
        long max = Math.max(rates.get(n - 1), Math.max(rates.get(n - 2), rates.get(n - 3)));
        long min = Math.min(rates.get(n - 1), Math.min(rates.get(n - 2), rates.get(n - 3)));
        return max > 0 && max - min <= 0.1 * max;
    }

    /**
     * Most JIT compiler CPU (every JVM's) per second of a warm-up slice or a window for either to count as quiet: 0.5 %,
     * one 10 ms tick in a 2 s slice (was 2 %, which let windows in with 60 ms of C2 on a pinned server's CPU: a
     * millisecond p99 against 0.17 ms after a quieter warm-up; bench/harness.py's JIT_QUIET).
     */
    static final double JIT_QUIET = 0.005;
    /** Windows measured at most when the JIT compiles inside them. */
    static final int MAX_WINDOWS = 3;

    /**
     * What one window measured: the loop's counters at its edges ({nanoTime, completed, bytes, errors...}; the end's
     * also the latency histogram), this process's CPU time in it, both ends' loop time at its edges (null where there
     * is none), the JIT compiler CPU (every JVM's) between them, and the server's GET /stats text at its end (null
     * without --fetch-stats).
     */
    private record Window(long[] start, Object[] end, long cpuNanos, long[] serverLoop0, long[] serverLoop1,
                          long[] ownLoop0, long[] ownLoop1, double compiled, String serverStats) {
        long completed() {
            return (long) end[1] - start[1];
        }
    }

    /**
     * Measures one window of the given seconds. The warm-up's slices are windows too, down to the GET /stats at
     * their edges and the tasks they run on the loop: each of those, new to a warmed-up load generator or server
     * at the first window, deoptimised the hot paths of both (a new connection, a large response, the server's
     * /stats branch, a new task class in the loop's inlined task runner), and C2 recompiled them on the pinned CPUs
     * for 1-3 s inside the window. {@code announce}: print the ZSBENCH-WINDOW lines the harness samples the server at.
     */
    private Window measure(Bootstrap b, EventLoopGroup group, int seconds, boolean announce) throws Exception {
        // both ends' busy-polling loops: how much of the window each spent on work (a ZStack server tells in its
        // GET /stats; null where there is none, a peer's or epoll's)
        long[] serverLoop0 = o.fetchStats ? loopTime(fetchStats(b)) : null;
        long[] ownLoop0 = ownLoopTime(group);
        Map<String, Long> jit0 = JitActivity.ticks();
        long cpu0 = processCpuNanos();
        long[] start = onLoop(() -> {
            histogram.reset();
            return new long[] {System.nanoTime(), completed, bytes, errConnect + errRead + errStatus};
        });
        if (announce) {
            // the harness samples the server's CPU time when it reads these two lines (the last pair counts)
            System.out.println("ZSBENCH-WINDOW start");
            System.out.flush();
        }
        Thread.sleep(TimeUnit.SECONDS.toMillis(seconds));
        Object[] end = onLoop(() -> new Object[] {System.nanoTime(), completed, bytes, errConnect, errRead, errStatus,
                histogram.copy()});
        long cpu1 = processCpuNanos();
        if (announce) {
            System.out.println("ZSBENCH-WINDOW end");
        }
        long[] ownLoop1 = ownLoopTime(group);
        String serverStats = o.fetchStats ? fetchStats(b) : null;
        return new Window(start, end, cpu1 - cpu0, serverLoop0, serverStats == null ? null : loopTime(serverStats),
                ownLoop0, ownLoop1, JitActivity.secondsBetween(jit0, JitActivity.ticks()), serverStats);
    }

    /**
     * Seconds the warm-up took, and whether it settled (false: the cap came first, and the window starts before steady
     * state).
     */
    private int warmupSeconds;
    private boolean warmupSettled = true;

    private void warmUp(Bootstrap b, EventLoopGroup group) throws Exception {
        if (o.warmup <= 0) {
            return;
        }
        warmupSettled = false;
        int done = 0;
        List<Long> rates = new ArrayList<>();
        List<Double> jit = new ArrayList<>();
        double compiledBefore = Double.MAX_VALUE; // in the slice before the last
        while (done < o.warmup) {
            int slice = Math.min(2, o.warmup - done);
            Window w = measure(b, group, slice, false);
            rates.add(Math.round(w.completed() / (double) slice));
            jit.add(hundredths(w.compiled));
            done += slice;
            // no compiling in the last two slices either: a server's C2 recompiled for a second after the rate had
            // settled, and compiles trail off unevenly (0.05, 0.03, 0.01, 0.07, 0.01 s per slice)
            if (done >= o.warmupMin && lastThreeAgree(rates)
                    && Math.max(w.compiled, compiledBefore) <= JIT_QUIET * slice) {
                warmupSettled = true;
                break;
            }
            compiledBefore = w.compiled;
        }
        warmupSeconds = done;
        System.out.println("warm-up: " + done + " s, " + (warmupSettled ? "settled" : "NOT settled (cap reached)")
                + ", req/s per slice " + rates + ", JIT compiler CPU s per slice " + jit);
    }

    /** Seconds rounded to hundredths, for the log. */
    private static double hundredths(double seconds) {
        return Math.round(seconds * 100) / 100.0;
    }

    /** GET /stats on a new connection (the server's counters, on ZStack); the body as text, or why it failed. */
    private String fetchStats(Bootstrap template) throws InterruptedException {
        java.util.concurrent.CompletableFuture<String> text = new java.util.concurrent.CompletableFuture<>();
        Bootstrap b = template.clone().handler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
                ch.pipeline().addLast(new HttpClientCodec(), new io.netty.handler.codec.http.HttpObjectAggregator(1 << 20),
                        new SimpleChannelInboundHandler<io.netty.handler.codec.http.FullHttpResponse>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx,
                                                        io.netty.handler.codec.http.FullHttpResponse r) {
                                text.complete(r.content().toString(java.nio.charset.StandardCharsets.UTF_8));
                                ctx.close();
                            }
                        });
            }
        });
        ChannelFuture f = b.connect(new InetSocketAddress(o.host, o.port)).await();
        if (!f.isSuccess()) {
            return "connect failed: " + f.cause();
        }
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/stats",
                Unpooled.EMPTY_BUFFER);
        r.headers().set(HttpHeaderNames.HOST, o.host);
        f.channel().writeAndFlush(r);
        try {
            return text.get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            return "no answer: " + e;
        } finally {
            f.channel().close();
        }
    }

    private static final Pattern LOOP_TIME = Pattern.compile("loop: busyNanos=(\\d+) idleNanos=(\\d+)");

    /** {busy, idle} nanoseconds summed over the loops a ZStack GET /stats text describes; null when it has none. */
    static long[] loopTime(String statsText) {
        Matcher m = LOOP_TIME.matcher(statsText);
        long[] time = null;
        while (m.find()) {
            time = time == null ? new long[2] : time;
            time[0] += Long.parseLong(m.group(1));
            time[1] += Long.parseLong(m.group(2));
        }
        return time;
    }

    /** {busy, idle} nanoseconds summed over this load generator's own ZStack loops (their counters); null on epoll. */
    private static long[] ownLoopTime(EventLoopGroup group) throws Exception {
        if (!(group instanceof ZStackEventLoopGroup)) {
            return null;
        }
        long[] time = new long[2];
        for (EventExecutor e : group) {
            Map<String, Long> counters = ((ZStackEventLoop) e).counters().get(10, TimeUnit.SECONDS);
            time[0] += counters.get("loop.busyNanos");
            time[1] += counters.get("loop.idleNanos");
        }
        return time;
    }

    /** The share of the time between two loop readings spent in rounds with work, or empty when one is missing. */
    static String busyShare(long[] start, long[] end) {
        if (start == null || end == null) {
            return "";
        }
        long busy = end[0] - start[0];
        long total = busy + end[1] - start[1];
        return total <= 0 ? "" : String.format(Locale.ROOT, "%.3f", (double) busy / total);
    }

    /** CPU time of this whole process (every thread), user + system. */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private <T> T onLoop(java.util.concurrent.Callable<T> task) throws Exception {
        return loop.submit(task).get(30, TimeUnit.SECONDS);
    }

    /**
     * Every request's bytes, built once: the headers Netty's {@code HttpClientCodec} wrote for the same request (a
     * POST's content-type and content-length, then host) and the body. Each send copies them into one buffer of the
     * channel's allocator (on ZStack an mbuf, or MSS-sized mbufs, written without a further copy), as wrk writes its
     * request from one buffer.
     */
    private static byte[] requestBytes(Options o, byte[] body) {
        String head = o.mode.equals("post")
                ? "POST /echo HTTP/1.1\r\ncontent-type: application/octet-stream\r\ncontent-length: " + o.size
                        + "\r\nhost: " + o.host + "\r\n\r\n"
                : "GET /size/" + o.size + " HTTP/1.1\r\nhost: " + o.host + "\r\n\r\n";
        byte[] h = head.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        if (!o.mode.equals("post")) {
            return h;
        }
        byte[] r = Arrays.copyOf(h, h.length + body.length);
        System.arraycopy(body, 0, r, h.length, body.length);
        return r;
    }

    /** One connection: one request in flight; responses read by a {@link ResponseParser}, no HTTP objects. */
    private final class Conn extends ChannelInboundHandlerAdapter implements ResponseParser.Listener {
        private final int index;
        private final ResponseParser parser = new ResponseParser(this);
        private Channel ch;
        private long due;
        private long sent;
        private boolean inFlight;
        private long nextDue = -1;

        Conn(int index) {
            this.index = index;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ch = ctx.channel();
            ctx.fireChannelActive();
        }

        /** Sends the next request (closed loop: now; open loop: at its due time); {@code now}: System.nanoTime. */
        void next(long now) {
            if (!running || ch == null || !ch.isActive()) {
                return;
            }
            if (o.rate <= 0) {
                send(now, now);
                return;
            }
            long interval = (long) (o.connections * 1e9 / o.rate);
            if (nextDue < 0) {
                nextDue = openLoopStart + index * interval / o.connections;
            }
            long d = nextDue;
            nextDue += interval;
            if (d <= now) {
                send(d, now);
            } else {
                ch.eventLoop().schedule(() -> send(d, System.nanoTime()), d - now, TimeUnit.NANOSECONDS);
            }
        }

        /**
         * {@code now} is the clock read the caller made: a read costs 25-45 ns on these VMs, and three per request
         * (next, send, response) were 8 % of the load generator's CPU at 64 B.
         */
        private void send(long dueTime, long now) {
            if (!running || !ch.isActive()) {
                return;
            }
            due = dueTime;
            sent = now;
            inFlight = true;
            ch.writeAndFlush(ch.alloc().buffer(request.length).writeBytes(request), ch.voidPromise());
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            try {
                parser.feed(in);
            } finally {
                in.release();
            }
        }

        @Override
        public void response(int status, long bodyBytes) {
            if (status != 200) {
                errStatus++;
            }
            bytes += bodyBytes;
            if (!inFlight) {
                return;
            }
            inFlight = false;
            long now = System.nanoTime();
            completed++;
            // recorded in the warm-up too (the window starts with a reset): a path first taken when the
            // window opened was compiled inside it, 0.5-2.7 s of C2 on the load generator's one CPU
            recordLatency(histogram, now - (o.rate > 0 ? due : sent));
            next(now);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (running) {
                errConnect++;
            }
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (running) {
                errRead++;
            }
            if (exceptionsLogged++ < 3) {
                System.out.println("connection " + ctx.channel() + ": " + cause);
            }
            ctx.close();
        }
    }
}
