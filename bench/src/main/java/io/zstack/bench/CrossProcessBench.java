package io.zstack.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import io.zstack.channel.ZStackSocketChannel;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * Two JVMs on one node: ZStack's cross-process shared-memory path against epoll over the kernel's 127.0.0.1.
 * This JVM is the client; each repeat launches a fresh server JVM (the same jar, role {@code server}).
 * <ul>
 *   <li>throughput: one connection, the client writes 64 KiB messages for {@code seconds} (as fast as writability
 *       allows), shuts its output down, and the server answers with the byte count once it has read everything;
 *       bytes over the time from the first write to that answer;</li>
 *   <li>latency: one connection, 64-byte ping-pong (the server echoes), {@code samples} round trips after
 *       {@code warmup}; p50 and p99 of the round-trip time.</li>
 * </ul>
 * Usage: {@code java --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -cp
 * bench/target/zstack-bench.jar io.zstack.bench.CrossProcessBench [repeats] [seconds] [samples] [ringKiB]}
 * (defaults 3, 5, 200000, and the channel's SO_SNDBUF + SO_RCVBUF: 512 KiB). {@code ringKiB} sets the ZStack
 * client's SO_SNDBUF and SO_RCVBUF to half of it each, which sizes the region's rings; epoll's sockets keep the
 * kernel's autotuning (up to 4 MiB on loopback). Prints one line per run and a min-max summary with the load average.
 */
public final class CrossProcessBench {
    private static final int MESSAGE = 64 * 1024;
    private static final int PING = 64;
    /** The ZStack client's ring per direction in KiB (SO_SNDBUF + SO_RCVBUF), or 0 for the channel's defaults. */
    private static int ringKiB;

    private CrossProcessBench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("server")) {
            serve(args[1], args.length > 2 ? Path.of(args[2]) : null);
            return;
        }
        int repeats = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        int samples = args.length > 2 ? Integer.parseInt(args[2]) : 200_000;
        ringKiB = args.length > 3 ? Integer.parseInt(args[3]) : 0;
        Path dir = Path.of("/dev/shm", "zstack-bench-" + ProcessHandle.current().pid());
        String loadBefore = Files.readString(Path.of("/proc/loadavg")).trim();
        List<double[]> shm = new ArrayList<>();
        List<double[]> epoll = new ArrayList<>();
        try {
            for (int r = 0; r < repeats; r++) {
                shm.add(run("shm", dir, seconds, samples));
                epoll.add(run("epoll", dir, seconds, samples));
            }
        } finally {
            if (Files.isDirectory(dir)) {
                try (var files = Files.list(dir)) {
                    for (Path f : files.toList()) {
                        Files.deleteIfExists(f);
                    }
                }
                Files.deleteIfExists(dir);
            }
        }
        String loadAfter = Files.readString(Path.of("/proc/loadavg")).trim();
        System.out.println();
        System.out.println("summary (min-max over " + repeats + " repeats; shm ring "
                + (ringKiB > 0 ? ringKiB + " KiB" : "default") + "; load before: " + loadBefore + ", after: "
                + loadAfter + ")");
        summary("throughput 64 KiB, MB/s", shm, epoll, 0);
        summary("p50 RTT 64 B, us", shm, epoll, 1);
        summary("p99 RTT 64 B, us", shm, epoll, 2);
    }

    /** Min-max of each transport, and of the ratio within each repeat (the two runs of a repeat are back to back). */
    private static void summary(String what, List<double[]> shm, List<double[]> epoll, int i) {
        List<double[]> ratios = new ArrayList<>();
        for (int r = 0; r < shm.size(); r++) {
            ratios.add(new double[] {shm.get(r)[i] / epoll.get(r)[i]});
        }
        double[] s = minMax(shm, i);
        double[] e = minMax(epoll, i);
        double[] q = minMax(ratios, 0);
        System.out.printf(Locale.ROOT, "  %-24s shm %9.1f-%-9.1f epoll %9.1f-%-9.1f shm/epoll per repeat %.2f-%.2f%n",
                what, s[0], s[1], e[0], e[1], q[0], q[1]);
    }

    private static double[] minMax(List<double[]> runs, int i) {
        double min = Double.MAX_VALUE;
        double max = -Double.MAX_VALUE;
        for (double[] r : runs) {
            min = Math.min(min, r[i]);
            max = Math.max(max, r[i]);
        }
        return new double[] {min, max};
    }

    // ============================================================================================ client

    /** One repeat of one transport: {throughput MB/s, p50 us, p99 us}. */
    private static double[] run(String transport, Path dir, int seconds, int samples) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"));
        String serverOptions = System.getenv("ZSBENCH_SERVER_JVM_OPTS"); // e.g. a flight recording of the server
        if (serverOptions != null && !serverOptions.isBlank()) {
            command.addAll(List.of(serverOptions.trim().split("\\s+")));
        }
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), CrossProcessBench.class.getName(),
                "server", transport));
        if (transport.equals("shm")) {
            command.add(dir.toString());
        }
        Process server = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        EventLoopGroup group = null;
        try {
            BufferedReader lines = new BufferedReader(new InputStreamReader(server.getInputStream()));
            String line;
            while ((line = lines.readLine()) != null && !line.startsWith("PORTS ")) {
                System.out.println("server: " + line); // a JVM option's own output (a flight recording's start)
            }
            if (line == null) {
                throw new IllegalStateException("the server JVM ended before it listened");
            }
            String[] ports = line.split(" "); // "PORTS sink echo"
            boolean shm = transport.equals("shm");
            group = shm ? new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                    .crossProcess(dir, false).build()) : new EpollEventLoopGroup(1);
            Class<? extends Channel> type = shm ? ZStackSocketChannel.class : EpollSocketChannel.class;
            double mbps = throughput(group, type, Integer.parseInt(ports[1]), seconds);
            Histogram rtt = pingPong(group, type, Integer.parseInt(ports[2]), samples);
            double[] result = {mbps, rtt.getValueAtPercentile(50) / 1000.0, rtt.getValueAtPercentile(99) / 1000.0};
            System.out.printf(Locale.ROOT, "%-5s throughput %.1f MB/s, RTT 64 B p50 %.1f us p99 %.1f us%n",
                    transport, result[0], result[1], result[2]);
            return result;
        } finally {
            if (group != null) {
                group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            }
            server.getOutputStream().close();
            if (!server.waitFor(10, TimeUnit.SECONDS)) {
                server.destroyForcibly().waitFor();
            }
        }
    }

    /**
     * One connection to {@code port} whose handler measures something and completes {@link Measurement#done} with it
     * (or with the connection's failure); waits up to {@code timeoutSeconds} for it.
     */
    private static <T> T measure(EventLoopGroup group, Class<? extends Channel> type, int port, Bootstrap options,
                                 Measurement<T> measurement, long timeoutSeconds) throws Exception {
        options.group(group).channel(type).handler(measurement)
                .connect(new InetSocketAddress("127.0.0.1", port)).sync();
        return measurement.done.get(timeoutSeconds, TimeUnit.SECONDS);
    }

    /** A client handler that measures one connection; a failure of the connection fails the measurement. */
    private abstract static class Measurement<T> extends ChannelInboundHandlerAdapter {
        final CompletableFuture<T> done = new CompletableFuture<>();

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            done.completeExceptionally(cause);
            ctx.close();
        }
    }

    private static double throughput(EventLoopGroup group, Class<? extends Channel> type, int port, int seconds)
            throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        Bootstrap options = new Bootstrap().option(ChannelOption.ALLOW_HALF_CLOSURE, true);
        if (ringKiB > 0 && type == ZStackSocketChannel.class) {
            options.option(ChannelOption.SO_SNDBUF, ringKiB * 512).option(ChannelOption.SO_RCVBUF, ringKiB * 512);
        }
        return measure(group, type, port, options, new Measurement<Double>() {
            ByteBuf message;
            long start;
            long sent;
            boolean ended;

            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                message = ctx.alloc().directBuffer(MESSAGE).writerIndex(MESSAGE);
                start = System.nanoTime();
                pump(ctx);
            }

            private void pump(ChannelHandlerContext ctx) {
                while (!ended && ctx.channel().isWritable()) {
                    if (System.nanoTime() >= deadline) {
                        ended = true;
                        ctx.flush();
                        ((DuplexChannel) ctx.channel()).shutdownOutput();
                        return;
                    }
                    ctx.write(message.retainedDuplicate());
                    sent += MESSAGE;
                    if (sent % (16 * MESSAGE) == 0) {
                        ctx.flush();
                    }
                }
                ctx.flush();
            }

            @Override
            public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                pump(ctx);
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ByteBuf count = (ByteBuf) msg;
                if (count.readableBytes() >= 8) {
                    long received = count.readLong();
                    double secs = (System.nanoTime() - start) / 1e9;
                    done.complete(received / secs / 1e6);
                    message.release();
                    ctx.close();
                }
                count.release();
            }
        }, seconds + 60L);
    }

    private static Histogram pingPong(EventLoopGroup group, Class<? extends Channel> type, int port, int samples)
            throws Exception {
        Histogram histogram = new Histogram(1, TimeUnit.SECONDS.toNanos(10), 3);
        int warmup = Math.max(1000, samples / 10);
        return measure(group, type, port, new Bootstrap().option(ChannelOption.TCP_NODELAY, true),
                new Measurement<Histogram>() {
                    long sentAt;
                    int received;
                    int rounds;

                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        send(ctx);
                    }

                    private void send(ChannelHandlerContext ctx) {
                        sentAt = System.nanoTime();
                        ctx.writeAndFlush(ctx.alloc().directBuffer(PING).writerIndex(PING));
                    }

                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        received += ((ByteBuf) msg).readableBytes();
                        ((ByteBuf) msg).release();
                        if (received < PING) {
                            return;
                        }
                        received -= PING;
                        if (++rounds > warmup) {
                            histogram.recordValue(System.nanoTime() - sentAt);
                        }
                        if (rounds == warmup + samples) {
                            done.complete(histogram);
                            ctx.close();
                        } else {
                            send(ctx);
                        }
                    }
                }, 300);
    }

    // ============================================================================================ server

    /** The server JVM: a sink (answers a half-close with the byte count) and an echo; prints "PORTS sink echo". */
    private static void serve(String transport, Path dir) throws Exception {
        boolean shm = transport.equals("shm");
        EventLoopGroup group = shm ? new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .crossProcess(dir, false).build()) : new EpollEventLoopGroup(1);
        Class<? extends ServerChannel> type = shm ? ZStackServerSocketChannel.class : EpollServerSocketChannel.class;
        Channel sink = listen(group, type, ChannelOption.ALLOW_HALF_CLOSURE, new Sink());
        Channel echo = listen(group, type, ChannelOption.TCP_NODELAY, new Echo());
        System.out.println("PORTS " + ((InetSocketAddress) sink.localAddress()).getPort() + " "
                + ((InetSocketAddress) echo.localAddress()).getPort());
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        while (in.readLine() != null) {
            // until the client closes our stdin
        }
        sink.close().sync();
        echo.close().sync();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        System.exit(0);
    }

    /** A server on 127.0.0.1 whose children have {@code option} on and {@code handler}. */
    private static Channel listen(EventLoopGroup group, Class<? extends ServerChannel> type,
                                  ChannelOption<Boolean> option, ChannelHandler handler) throws InterruptedException {
        return new ServerBootstrap().group(group).channel(type).childOption(option, true).childHandler(handler)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    /** Counts what it reads; answers the end of its input with the count (8 bytes). */
    @ChannelHandler.Sharable
    private static final class Sink extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Long count = ctx.channel().attr(COUNT).get();
            ctx.channel().attr(COUNT).set((count == null ? 0 : count) + ((ByteBuf) msg).readableBytes());
            ((ByteBuf) msg).release();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                Long count = ctx.channel().attr(COUNT).get();
                ctx.writeAndFlush(ctx.alloc().directBuffer(8).writeLong(count == null ? 0 : count));
            }
        }
    }

    /** Writes back what it reads. */
    @ChannelHandler.Sharable
    private static final class Echo extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }
    }

    private static final io.netty.util.AttributeKey<Long> COUNT = io.netty.util.AttributeKey.valueOf("count");
}
