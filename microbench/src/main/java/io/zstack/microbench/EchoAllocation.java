package io.zstack.microbench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.codec.http.HttpVersion;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackDevices;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import io.zstack.channel.ZStackSocketChannel;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Issue 11's heap question: the bytes a server's event loop allocates per HTTP echo request (a POST of N bytes,
 * answered with its body by HttpServerCodec + HttpObjectAggregator + an echo handler, as the HTTP echo benchmark's
 * server does), and the mean round trip, on ZStack over a DPDK memif pair in this process (two groups of one loop,
 * the closest thing to a NIC here: 1500-byte frames, received payloads are mbufs the server alone holds) and on Netty's
 * epoll over the kernel's 127.0.0.1. Each connection keeps one request in flight. Bytes come from the loop threads'
 * allocation counters (ThreadMXBean), per round of {@code --requests} requests: server and client separately.
 * Needs root (DPDK, --no-huge).
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp microbench/target/microbench.jar io.zstack.microbench.EchoAllocation \
 *     [--sizes 64,8192] [--transports zstack,epoll] [--connections 1] [--requests 20000] [--warmup 5] [--rounds 5]</pre>
 */
public final class EchoAllocation {
    private static final int PORT = 9710;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private record Transport(String name, EventLoopGroup serverGroup, EventLoopGroup clientGroup,
            Class<? extends ServerChannel> serverChannel, Class<? extends Channel> clientChannel,
            InetSocketAddress address, Path dir) {
        void close() throws Exception {
            clientGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
            serverGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
            if (dir != null) {
                Files.deleteIfExists(dir.resolve("memif.sock"));
                Files.deleteIfExists(dir);
            }
        }
    }

    private static Transport open(String name) throws Exception {
        return switch (name) {
            case "zstack" -> {
                Path dir = Files.createTempDirectory("zstack-echoalloc");
                Path socket = dir.resolve("memif.sock");
                ZStackEventLoopGroup server = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                        .device(ZStackDevices.memifServer(socket)).address("10.77.0.1/24").build());
                ZStackEventLoopGroup client = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                        .device(ZStackDevices.memifClient(socket)).address("10.77.0.2/24").build());
                yield new Transport(name, server, client, ZStackServerSocketChannel.class, ZStackSocketChannel.class,
                        new InetSocketAddress("10.77.0.1", PORT), dir);
            }
            case "epoll" -> new Transport(name, new EpollEventLoopGroup(1), new EpollEventLoopGroup(1),
                    EpollServerSocketChannel.class, EpollSocketChannel.class, new InetSocketAddress("127.0.0.1", PORT),
                    null);
            default -> throw new IllegalArgumentException("unknown transport " + name);
        };
    }

    /** The HTTP echo server's answer to a POST: the request's body, by reference, with its type and length. */
    private static final class Echo extends SimpleChannelInboundHandler<FullHttpRequest> {
        Echo() {
            super(false); // the body moves into the response
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                    request.content());
            String type = request.headers().get(HttpHeaderNames.CONTENT_TYPE);
            response.headers().set(HttpHeaderNames.CONTENT_TYPE,
                    type != null ? type : HttpHeaderValues.APPLICATION_OCTET_STREAM);
            response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, response.content().readableBytes());
            ctx.writeAndFlush(response);
        }
    }

    /** One connection's driver: sends the request, counts the answer's bytes, sends the next while any are due. */
    private static final class Client extends ChannelInboundHandlerAdapter {
        private final byte[] request;
        private volatile ChannelHandlerContext ctx;
        private final CountDownLatch active = new CountDownLatch(1);
        /** The answer's length, learnt from the first answer (header end + content-length). */
        private int answerLength = -1;
        private final StringBuilder head = new StringBuilder();
        private int received;
        private int left;
        private CountDownLatch done;

        Client(byte[] request) {
            this.request = request;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            this.ctx = ctx;
            active.countDown();
        }

        /** Runs {@code count} requests one after another; counts {@code done} down at the end. From any thread. */
        void start(int count, CountDownLatch done) {
            ctx.executor().execute(() -> {
                this.left = count;
                this.done = done;
                send();
            });
        }

        private void send() {
            received = 0;
            ByteBuf buf = ctx.alloc().buffer(request.length);
            ctx.writeAndFlush(buf.writeBytes(request), ctx.voidPromise());
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                if (answerLength < 0) {
                    head.append(buf.toString(StandardCharsets.ISO_8859_1));
                    int end = head.indexOf("\r\n\r\n");
                    if (end >= 0) {
                        String lower = head.substring(0, end).toLowerCase(Locale.ROOT);
                        int at = lower.indexOf("content-length:");
                        int eol = lower.indexOf("\r\n", at);
                        answerLength = end + 4 + Integer.parseInt(lower.substring(at + 15, eol < 0 ? end : eol)
                                .trim());
                    }
                }
                received += buf.readableBytes();
            } finally {
                buf.release();
            }
            if (answerLength >= 0 && received >= answerLength) {
                if (received > answerLength) {
                    throw new IllegalStateException("answer longer than " + answerLength + ": " + received);
                }
                if (--left > 0) {
                    send();
                } else {
                    done.countDown();
                }
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            cause.printStackTrace();
            ctx.close();
        }
    }

    private static long threadOf(EventLoopGroup group) throws Exception {
        return group.next().submit(() -> Thread.currentThread().threadId()).get();
    }

    public static void main(String[] args) throws Exception {
        int[] sizes = {64, 8192};
        List<String> transports = List.of("zstack", "epoll");
        int connections = 1;
        int requests = 20_000;
        int warmup = 5;
        int rounds = 5;
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--sizes" -> sizes = Arrays.stream(v.split(",")).mapToInt(Integer::parseInt).toArray();
                case "--transports" -> transports = List.of(v.split(","));
                case "--connections" -> connections = Integer.parseInt(v);
                case "--requests" -> requests = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--rounds" -> rounds = Integer.parseInt(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        System.out.println("transport,size,connections,server_bytes_per_request,client_bytes_per_request,"
                + "us_per_request,round");
        for (String name : transports) {
            Transport t = open(name);
            try {
                run(t, sizes, connections, requests, warmup, rounds);
            } finally {
                t.close();
            }
        }
    }

    private static void run(Transport t, int[] sizes, int connections, int requests, int warmup, int rounds)
            throws Exception {
        Channel server = new ServerBootstrap().group(t.serverGroup()).channel(t.serverChannel())
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpServerKeepAliveHandler(),
                                new HttpObjectAggregator(1 << 20), new Echo());
                    }
                }).bind(t.address()).sync().channel();
        long serverThread = threadOf(t.serverGroup());
        long clientThread = threadOf(t.clientGroup());
        try {
            for (int size : sizes) {
                byte[] body = new byte[size];
                Arrays.fill(body, (byte) 'x');
                byte[] headers = ("POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\n"
                        + "Content-Length: " + size + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);
                byte[] request = Arrays.copyOf(headers, headers.length + size);
                System.arraycopy(body, 0, request, headers.length, size);
                List<Client> clients = new ArrayList<>();
                List<Channel> channels = new ArrayList<>();
                for (int c = 0; c < connections; c++) {
                    Client client = new Client(request);
                    Channel ch = connect(t, client);
                    client.active.await(10, TimeUnit.SECONDS);
                    clients.add(client);
                    channels.add(ch);
                }
                for (int round = -warmup; round < rounds; round++) {
                    CountDownLatch done = new CountDownLatch(clients.size());
                    long serverBefore = THREADS.getThreadAllocatedBytes(serverThread);
                    long clientBefore = THREADS.getThreadAllocatedBytes(clientThread);
                    long start = System.nanoTime();
                    for (Client client : clients) {
                        client.start(requests, done);
                    }
                    if (!done.await(120, TimeUnit.SECONDS)) {
                        throw new IllegalStateException(t.name() + " " + size + " B: round did not finish");
                    }
                    long elapsed = System.nanoTime() - start;
                    long serverBytes = THREADS.getThreadAllocatedBytes(serverThread) - serverBefore;
                    long clientBytes = THREADS.getThreadAllocatedBytes(clientThread) - clientBefore;
                    long total = (long) requests * clients.size();
                    if (round >= 0) {
                        System.out.printf(Locale.ROOT, "%s,%d,%d,%.0f,%.0f,%.2f,%d%n", t.name(), size, connections,
                                (double) serverBytes / total, (double) clientBytes / total,
                                elapsed / 1e3 / requests, round);
                    }
                }
                for (Channel ch : channels) {
                    ch.close().sync();
                }
            }
        } finally {
            server.close().sync();
        }
    }

    private static Channel connect(Transport t, Client client) throws Exception {
        Bootstrap b = new Bootstrap().group(t.clientGroup()).channel(t.clientChannel())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 2000).handler(client);
        Exception last = null;
        for (int attempt = 0; attempt < 10; attempt++) { // a memif link comes up a moment after its ports start
            try {
                return b.connect(t.address()).sync().channel();
            } catch (Exception e) {
                last = e;
                Thread.sleep(200);
            }
        }
        throw last;
    }
}
