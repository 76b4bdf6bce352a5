package io.zstack.microbench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SelectStrategy;
import io.netty.channel.SelectStrategyFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.local.LocalAddress;
import io.netty.channel.local.LocalChannel;
import io.netty.channel.local.LocalServerChannel;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import io.zstack.channel.ZStackSocketChannel;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Issue 13's side-by-side comparison of same-host paths, all in this JVM: request/response echo over ZStack's
 * in-process path (no TCP), ZStack's TCP over its own loopback, Netty's epoll over the kernel's 127.0.0.1, and
 * Netty's {@code LocalChannel} (in-JVM, no socket semantics). Every transport gets two event loop threads (epoll and
 * local: a server group and a client group of one each; ZStack: one group of two, as one host); each client connection sends a message of N bytes from its channel's allocator, waits for all N
 * bytes to come back, and sends the next. Reported per point and repeat: messages/s and MB/s (each direction), and
 * the p50 / p99 round trip; ratios against epoll and against epoll busy-polling ({@code epoll-busy}: its loops spin
 * as ZStack's do, so an idle vCPU's wake-up is not in its round trips) in the same repeat. Transports are interleaved within a repeat, so a
 * busy machine slows them alike.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp microbench/target/microbench.jar \
 *     io.zstack.microbench.LocalPathsBenchmark [--sizes 64,1024,16384,65536] [--connections 1,16] [--seconds 3]
 *     [--warmup 2] [--repeats 3] [--transports inprocess,zstack-tcp,epoll,epoll-busy,local]</pre>
 */
public final class LocalPathsBenchmark {
    private static final int PORT = 9700;
    private static final SelectStrategyFactory BUSY_WAIT = () -> (selectSupplier, hasTasks) -> SelectStrategy.BUSY_WAIT;

    /** One transport: its groups, channel classes and the server address. */
    private record Transport(String name, EventLoopGroup serverGroup, EventLoopGroup clientGroup,
            Class<? extends ServerChannel> serverChannel, Class<? extends Channel> clientChannel, SocketAddress address) {
        void close() throws InterruptedException {
            clientGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
            if (serverGroup != clientGroup) {
                serverGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
            }
        }
    }

    private static Transport open(String name) {
        return switch (name) {
            // one group (one host, as TCP's 127.0.0.1 is) of two loops, server and clients in it: with the
            // in-process path on (the default) a connect takes it; off, TCP over the stack's loopback carries it
            case "inprocess", "zstack-tcp" -> {
                ZStackEventLoopGroup group = new ZStackEventLoopGroup(2,
                        ZStackConfig.builder().inProcess(name.equals("inprocess")).build());
                yield new Transport(name, group, group, ZStackServerSocketChannel.class, ZStackSocketChannel.class,
                        new InetSocketAddress("127.0.0.1", PORT));
            }
            case "epoll" -> new Transport(name, new EpollEventLoopGroup(1), new EpollEventLoopGroup(1),
                    EpollServerSocketChannel.class, EpollSocketChannel.class, new InetSocketAddress("127.0.0.1", PORT));
            // epoll's loops spinning on epoll_wait(0) instead of sleeping in it, as ZStack's loops busy-poll: an idle
            // vCPU's wake-up latency then no longer dominates a round trip
            case "epoll-busy" -> new Transport(name, new EpollEventLoopGroup(1, BUSY_WAIT),
                    new EpollEventLoopGroup(1, BUSY_WAIT), EpollServerSocketChannel.class, EpollSocketChannel.class,
                    new InetSocketAddress("127.0.0.1", PORT));
            case "local" -> new Transport(name, new DefaultEventLoopGroup(1), new DefaultEventLoopGroup(1),
                    LocalServerChannel.class, LocalChannel.class, new LocalAddress("local-paths-benchmark"));
            default -> throw new IllegalArgumentException("unknown transport " + name
                    + " (inprocess, zstack-tcp, epoll, epoll-busy, local)");
        };
    }

    /** Echoes what it reads, as it reads it; one instance serves every child. */
    @io.netty.channel.ChannelHandler.Sharable
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

    /** A client connection: one message in flight, round trips recorded while {@code recording}. */
    private static final class Client extends ChannelInboundHandlerAdapter {
        private final int size;
        private final AtomicBoolean running;
        private final AtomicBoolean recording;
        private final CountDownLatch stopped;
        long[] rtts = new long[1 << 16];
        int count;
        private int awaiting;
        private long sentAt;

        Client(int size, AtomicBoolean running, AtomicBoolean recording, CountDownLatch stopped) {
            this.size = size;
            this.running = running;
            this.recording = recording;
            this.stopped = stopped;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            send(ctx);
        }

        private void send(ChannelHandlerContext ctx) {
            ByteBuf out = ctx.alloc().directBuffer(size);
            out.writerIndex(size); // the bytes' values do not matter here; the echo tests check them elsewhere
            awaiting = size;
            sentAt = System.nanoTime();
            ctx.writeAndFlush(out);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            awaiting -= in.readableBytes();
            in.release();
            if (awaiting > 0) {
                return;
            }
            if (recording.get()) {
                if (count == rtts.length) {
                    rtts = Arrays.copyOf(rtts, count * 2);
                }
                rtts[count++] = System.nanoTime() - sentAt;
            }
            if (running.get()) {
                send(ctx);
            } else {
                stopped.countDown();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            cause.printStackTrace();
            ctx.close();
        }
    }

    /** One measurement: messages/s, p50 and p99 in microseconds. */
    private record Result(double messagesPerSecond, double p50Micros, double p99Micros) {
    }

    private static Result measure(Transport t, int size, int connections, double warmupSeconds, double seconds)
            throws Exception {
        Channel server = new ServerBootstrap().group(t.serverGroup()).channel(t.serverChannel())
                .childHandler(new Echo()).bind(t.address()).sync().channel();
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicBoolean recording = new AtomicBoolean(false);
        CountDownLatch stopped = new CountDownLatch(connections);
        List<Client> clients = new ArrayList<>();
        List<Channel> channels = new ArrayList<>();
        try {
            for (int i = 0; i < connections; i++) {
                Client c = new Client(size, running, recording, stopped);
                clients.add(c);
                Bootstrap b = new Bootstrap().group(t.clientGroup()).channel(t.clientChannel()).handler(c);
                if (!(t.address() instanceof LocalAddress)) {
                    b.option(ChannelOption.TCP_NODELAY, true);
                }
                channels.add(b.connect(t.address()).sync().channel());
            }
            Thread.sleep((long) (warmupSeconds * 1000));
            recording.set(true);
            long start = System.nanoTime();
            Thread.sleep((long) (seconds * 1000));
            recording.set(false);
            long elapsed = System.nanoTime() - start;
            running.set(false);
            if (!stopped.await(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException(t.name() + ": connections did not finish their last round trip");
            }
            long[] all = clients.stream().flatMapToLong(c -> Arrays.stream(c.rtts, 0, c.count)).sorted().toArray();
            if (all.length == 0) {
                throw new IllegalStateException(t.name() + ": no round trip completed");
            }
            return new Result(all.length * 1e9 / elapsed, all[all.length / 2] / 1e3,
                    all[(int) Math.min(all.length - 1, all.length * 0.99)] / 1e3);
        } finally {
            for (Channel ch : channels) {
                ch.close().sync();
            }
            server.close().sync();
        }
    }

    /** Throughput and p50 against a baseline of the same repeat, or two empty columns without it. */
    private static String ratios(Result x, Result baseline) {
        return baseline == null ? "," : String.format(Locale.ROOT, "%.2f,%.2f",
                x.messagesPerSecond() / baseline.messagesPerSecond(), x.p50Micros() / baseline.p50Micros());
    }

    private static List<Integer> ints(String list) {
        return Arrays.stream(list.split(",")).map(String::trim).map(Integer::parseInt).toList();
    }

    public static void main(String[] args) throws Exception {
        List<Integer> sizes = List.of(64, 1024, 16384, 65536);
        List<Integer> concurrency = List.of(1, 16);
        List<String> transports = List.of("inprocess", "zstack-tcp", "epoll", "epoll-busy", "local");
        double seconds = 3;
        double warmup = 2;
        int repeats = 3;
        for (int i = 0; i < args.length; i += 2) {
            String value = args[i + 1];
            switch (args[i]) {
                case "--sizes" -> sizes = ints(value);
                case "--connections" -> concurrency = ints(value);
                case "--transports" -> transports = List.of(value.split(","));
                case "--seconds" -> seconds = Double.parseDouble(value);
                case "--warmup" -> warmup = Double.parseDouble(value);
                case "--repeats" -> repeats = Integer.parseInt(value);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        System.out.printf(Locale.ROOT, "# LocalPathsBenchmark: %s; sizes %s, connections %s, %.1f s (+%.1f s warm-up), "
                + "%d repeats, load average at start %.2f%n", transports, sizes, concurrency, seconds, warmup,
                repeats, java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        System.out.println("repeat,size,connections,transport,messages_per_s,mb_per_s,p50_us,p99_us,"
                + "throughput_vs_epoll,p50_vs_epoll,throughput_vs_epoll_busy,p50_vs_epoll_busy");
        for (int r = 0; r < repeats; r++) {
            for (int size : sizes) {
                for (int connections : concurrency) {
                    List<String> order = new ArrayList<>(transports);
                    java.util.Collections.rotate(order, r); // a different transport first in each repeat
                    java.util.Map<String, Result> results = new java.util.LinkedHashMap<>();
                    for (String name : order) {
                        Transport t = open(name);
                        try {
                            results.put(name, measure(t, size, connections, warmup, seconds));
                        } finally {
                            t.close();
                        }
                    }
                    for (String name : transports) {
                        Result x = results.get(name);
                        System.out.printf(Locale.ROOT, "%d,%d,%d,%s,%.0f,%.1f,%.1f,%.1f,%s,%s%n", r, size, connections,
                                name, x.messagesPerSecond(), x.messagesPerSecond() * size / 1e6, x.p50Micros(),
                                x.p99Micros(), ratios(x, results.get("epoll")), ratios(x, results.get("epoll-busy")));
                    }
                }
            }
        }
    }
}
