package io.zstack.example.httpecho;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.zstack.channel.ZStack;
import io.zstack.channel.ZStackChannelOption;
import io.zstack.channel.ZStackCongestionControl;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackDevices;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A plain Netty HTTP echo server. The transport is chosen by {@code --transport}; nothing else in the application
 * depends on it:
 *
 * <pre>
 * java -jar http-echo.jar --transport epoll --port 8080 [--threads N] [--bind ADDRESS]
 * java -jar http-echo.jar --transport zstack --tap zs0 --address 10.0.0.2/24 [--gateway 10.0.0.1] --port 8080
 * java -jar http-echo.jar --transport zstack --vdev net_af_packet0,iface=eth1 --address 10.0.0.2/24 --port 8080
 * java -jar http-echo.jar --transport zstack --kernel-tap zk0 --address 10.0.0.2/24 --port 8080   (no DPDK)
 * java -jar http-echo.jar --transport zstack --port 8080      (the stack's own loopback only, 127.0.0.1)
 * ... --pcap DIR      writes DIR/zstack-loop0.pcap, ... (what each loop's device sent and received, up to 256 MiB)
 * ... --huge-dir DIR  DPDK's memory in hugepages from the hugetlbfs mounted at DIR (default: 4 KiB pages)
 * ... --http lean     LeanHttpEchoHandler instead of Netty's HTTP codec (the benchmark's C peers' parsing)
 * </pre>
 */
public final class HttpEchoServer {
    /** {@code devargs} naming a {@link ZStackDevices#kernelTap} (no DPDK) rather than a DPDK device. */
    public static final String KERNEL_TAP = "kernel-tap:";
    /** Largest request body accepted. */
    static final int MAX_CONTENT = 16 * 1024 * 1024;

    /** A transport: its event loop group and server channel class. */
    public record Transport(String name, EventLoopGroup group, Class<? extends ServerChannel> serverChannel) {
        public static Transport of(String name, int threads) {
            return of(name, threads, null, null, null);
        }

        /**
         * A transport by name; for "zstack", {@code devargs} names the DPDK device ({@link #KERNEL_TAP} and an
         * interface name: a {@link ZStackDevices#kernelTap}; null: loopback only) and
         * {@code address}/{@code gateway} the interface address.
         */
        public static Transport of(String name, int threads, String devargs, String address, String gateway) {
            return of(name, threads, devargs, address, gateway, null);
        }

        /** As above; for "zstack", {@code pcapDirectory} (may be null) receives a capture of each loop's device. */
        public static Transport of(String name, int threads, String devargs, String address, String gateway,
                                   java.nio.file.Path pcapDirectory) {
            return of(name, threads, devargs, address, gateway, pcapDirectory, null, List.of());
        }

        /**
         * As above; for "zstack" with a device, {@code hugeDir} (may be null: 4 KiB pages) is a hugetlbfs mount whose
         * free hugepages back DPDK's memory (mbufs included), unlinked once mapped (a mount of its own: EAL locks the
         * directory for as long as it runs), and {@code ealArguments} are added to DPDK's EAL arguments.
         */
        public static Transport of(String name, int threads, String devargs, String address, String gateway,
                                   java.nio.file.Path pcapDirectory, String hugeDir, List<String> ealArguments) {
            return of(name, threads, devargs, address, gateway, pcapDirectory, hugeDir, ealArguments, false);
        }

        /**
         * As above; {@code neverPark} keeps a ZStack loop busy-polling when idle (by default it parks briefly after
         * {@link ZStackConfig.Builder#idleBackoff} empty rounds, and on a VM an idle vCPU may be halted by the host
         * and take a millisecond to run again).
         */
        public static Transport of(String name, int threads, String devargs, String address, String gateway,
                                   java.nio.file.Path pcapDirectory, String hugeDir, List<String> ealArguments,
                                   boolean neverPark) {
            return switch (name) {
                case "zstack" -> {
                    ZStackConfig.Builder config = ZStackConfig.builder();
                    if (neverPark) {
                        config.idleBackoff(0, 0);
                    }
                    if (pcapDirectory != null) {
                        config.capture(pcapDirectory, 65535, 256L << 20);
                    }
                    if (devargs != null && devargs.startsWith(KERNEL_TAP)) {
                        config.device(ZStackDevices.kernelTap(devargs.substring(KERNEL_TAP.length())));
                    } else if (devargs != null) {
                        if (!ZStack.isAvailable()) { // a device needs DPDK; the loopback alone does not
                            throw new IllegalStateException("ZStack's DPDK devices are not available: "
                                    + ZStack.unavailabilityCause().getMessage());
                        }
                        ZStackDevices.Port port = ZStackDevices.dpdk(devargs);
                        if (hugeDir != null) {
                            port = port.withHugepages(true).withEalArgument("--huge-dir=" + hugeDir);
                            if (!ealArguments.contains("--single-file-segments") && !port.zeroCopy()) {
                                // files unlinked once mapped; EAL refuses this with single-file segments (memif's
                                // zero-copy client, which asks for them, shares its memory by file), whose files
                                // EAL removes at exit and the mount's owner after a kill
                                port = port.withEalArgument("--huge-unlink");
                            }
                        }
                        for (String argument : ealArguments) {
                            port = port.withEalArgument(argument);
                        }
                        config.device(port);
                    }
                    if (address != null) {
                        config.address(address, gateway);
                    }
                    yield new Transport(name, new ZStackEventLoopGroup(threads, config.build()),
                            ZStackServerSocketChannel.class);
                }
                case "epoll" -> {
                    if (!Epoll.isAvailable()) {
                        throw new IllegalStateException("epoll is not available: " + Epoll.unavailabilityCause());
                    }
                    yield new Transport(name, new EpollEventLoopGroup(threads), EpollServerSocketChannel.class);
                }
                case "nio" -> new Transport(name, new NioEventLoopGroup(threads), NioServerSocketChannel.class);
                default -> throw new IllegalArgumentException("unknown transport " + name + " (zstack, epoll or nio)");
            };
        }
    }

    private HttpEchoServer() {
    }

    /** Starts the server; the returned channel's close future completes when it stops. */
    public static Channel start(Transport transport, InetSocketAddress address) throws InterruptedException {
        return start(transport, address, false);
    }

    /**
     * As above; {@code copyMode} (ZStack only) makes the connections copy on both paths, as a stack without zero
     * copy would (ZStackChannelOption.COPY_MODE), so the two can be measured against each other.
     */
    public static Channel start(Transport transport, InetSocketAddress address, boolean copyMode)
            throws InterruptedException {
        return start(transport, address, copyMode, null);
    }

    /** As above; {@code congestion} (ZStack only, null: the stack's default) is the connections' congestion control. */
    public static Channel start(Transport transport, InetSocketAddress address, boolean copyMode,
                                ZStackCongestionControl congestion) throws InterruptedException {
        return start(transport, address, copyMode, congestion, false);
    }

    /**
     * As above; {@code lean}: the exchange is served by {@link LeanHttpEchoHandler} (no Netty HTTP codec, the C peer
     * servers' parsing) instead of Netty's codec, aggregator and {@link HttpEchoHandler}.
     */
    public static Channel start(Transport transport, InetSocketAddress address, boolean copyMode,
                                ZStackCongestionControl congestion, boolean lean) throws InterruptedException {
        if (copyMode && transport.serverChannel() != ZStackServerSocketChannel.class) {
            throw new IllegalArgumentException("copy mode is a ZStack option; the transport is " + transport.name());
        }
        if (congestion != null && transport.serverChannel() != ZStackServerSocketChannel.class) {
            throw new IllegalArgumentException("--congestion-control is a ZStack option (the kernel's is a sysctl);"
                    + " the transport is " + transport.name());
        }
        HttpEchoHandler handler = new HttpEchoHandler();
        ServerBootstrap b = new ServerBootstrap()
                .group(transport.group())
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        if (lean) {
                            ch.pipeline().addLast(new LeanHttpEchoHandler());
                        } else {
                            ch.pipeline().addLast(new HttpServerCodec(), new HttpServerKeepAliveHandler(),
                                    new HttpObjectAggregator(MAX_CONTENT), handler);
                        }
                    }
                });
        if (copyMode) {
            b.childOption(ZStackChannelOption.COPY_MODE, true);
        }
        if (congestion != null) {
            b.childOption(ZStackChannelOption.CONGESTION_CONTROL, congestion);
        }
        return b.bind(address).sync().channel();
    }

    public static void main(String[] args) throws Exception {
        String transportName = "epoll";
        int port = 8080;
        int threads = 1;
        String bind = "0.0.0.0";
        String devargs = null;
        String address = null;
        String gateway = null;
        java.nio.file.Path pcap = null;
        boolean copyMode = false;
        ZStackCongestionControl congestion = null;
        String hugeDir = null;
        List<String> ealArguments = new ArrayList<>();
        boolean neverPark = false;
        boolean lean = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--tap" -> devargs = "net_tap0,iface=" + args[++i]; // DPDK's tap driver on interface IFACE
                case "--vdev" -> devargs = args[++i];
                // a TAP ZStack opens itself with virtio-net headers (ZStackDevices.kernelTap): large segments whole
                case "--kernel-tap" -> devargs = KERNEL_TAP + args[++i];
                case "--address" -> address = args[++i];
                case "--gateway" -> gateway = args[++i];
                case "--pcap" -> pcap = java.nio.file.Path.of(args[++i]);
                case "--transport" -> transportName = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--bind" -> bind = args[++i];
                case "--copy-mode" -> copyMode = true;
                case "--huge-dir" -> hugeDir = args[++i];
                case "--eal-arg" -> ealArguments.add(args[++i]);
                case "--never-park" -> neverPark = true;
                case "--http" -> {
                    String http = args[++i];
                    if (!http.equals("netty") && !http.equals("lean")) {
                        System.err.println("http-echo: --http is netty (Netty's HTTP codec, the default) or lean");
                        System.exit(2);
                    }
                    lean = http.equals("lean");
                }
                case "--congestion-control" -> congestion = ZStackCongestionControl.valueOf(
                        args[++i].toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
                default -> {
                    System.err.println("usage: http-echo [--transport zstack|epoll|nio] [--port N] [--threads N]"
                            + " [--bind ADDRESS] [--tap IFACE | --kernel-tap IFACE | --vdev DEVARGS] [--address CIDR]"
                            + " [--gateway ADDRESS]"
                            + " [--pcap DIRECTORY] [--copy-mode] [--congestion-control cubic|new-reno|bbr]"
                            + " [--huge-dir HUGETLBFS] [--eal-arg ARGUMENT]... [--never-park] [--http netty|lean]");
                    System.exit(2);
                }
            }
        }
        Transport transport;
        try {
            transport = Transport.of(transportName, threads, devargs, address, gateway, pcap, hugeDir, ealArguments,
                    neverPark);
        } catch (RuntimeException e) {
            exitWith(e);
            return;
        }
        try {
            Channel server;
            try {
                server = start(transport, new InetSocketAddress(bind, port), copyMode, congestion, lean);
            } catch (Exception e) {
                transport.group().shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
                exitWith(e);
                return;
            }
            // Ctrl-C or kill: close the channels and the ports properly (a DPDK port detaches what it attached,
            // af_xdp its XDP program, memif its peer) before the JVM goes
            Transport running = transport;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> running.group()
                    .shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS),
                    "http-echo-shutdown"));
            System.out.println("http-echo on " + transport.name() + (copyMode ? " (copy mode)" : "")
                    + (lean ? " (lean HTTP handler)" : "")
                    + (congestion != null ? " (" + congestion + ")" : "")
                    + " listening at " + server.localAddress());
            System.out.flush();
            server.closeFuture().sync();
        } finally {
            transport.group().shutdownGracefully();
        }
    }

    /**
     * A set-up mistake (no permission, no such interface, address in use, DPDK missing...) ends the program with one
     * line saying what went wrong, each cause's message after the last; {@code -Dhttp-echo.trace=true} adds the
     * stack trace.
     */
    private static void exitWith(Throwable e) {
        StringBuilder line = new StringBuilder("http-echo: cannot start: ");
        String previous = null;
        for (Throwable t = e; t != null; t = t.getCause()) {
            String message = t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
            if (previous == null || !previous.contains(message)) {
                line.append(previous == null ? "" : ": ").append(message);
            }
            previous = message;
        }
        System.err.println(line);
        if (Boolean.getBoolean("http-echo.trace")) {
            e.printStackTrace();
        }
        System.exit(1);
    }
}
