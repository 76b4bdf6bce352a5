package io.zstack.channel;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.DuplexChannel;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The other process of the two-JVM tests ({@link ZStackTwoProcessTest}, through {@link PeerProcess}): a ZStack group
 * with the cross-process path on ({@code args[0]} is the rendezvous directory), in a JVM of its own, driven by one
 * command a line on stdin and answering on stdout. Every connection is a {@link StreamEnd} with an id, whose events
 * are printed as they happen. It ends when its stdin closes (or when it is killed).
 * <ul>
 *   <li>{@code listen echo|sink [manual] [linger=N]}: a server on 127.0.0.1 whose children echo or count (see
 *       {@link StreamEnd}), read only when asked ({@code manual}: auto-read off), with SO_LINGER N;
 *       prints {@code LISTENING port}. {@code unbind} closes it: {@code UNBOUND}.</li>
 *   <li>{@code connect PORT echo|sink [manual] [linger=N]}: a client to 127.0.0.1:PORT; {@code CONNECTED id ...} or
 *       {@code CONNECT_FAILED id class message}.</li>
 *   <li>{@code stream ID BYTES MAXCHUNK SEED [shutdown]}, {@code fill ID}: see {@link StreamEnd#stream},
 *       {@link StreamEnd#fill}; {@code read ID}; {@code autoread ID on|off}; {@code shutdown-output ID};
 *       {@code close ID [linger0]}: {@code CLOSED id} (linger0: SO_LINGER 0 first, a reset).</li>
 * </ul>
 * A command that fails prints {@code FAILED command: cause}.
 */
public final class CrossProcessPeer {
    private final PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    private final ZStackEventLoopGroup group;
    private final AtomicInteger ids = new AtomicInteger();
    private final Map<Integer, Channel> channels = new ConcurrentHashMap<>();
    private final Map<Integer, StreamEnd> ends = new ConcurrentHashMap<>();
    private Channel server;

    private CrossProcessPeer(Path rendezvous) {
        group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).crossProcess(rendezvous, false)
                .build());
    }

    public static void main(String[] args) throws Exception {
        CrossProcessPeer peer = new CrossProcessPeer(Path.of(args[0]));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            try {
                peer.command(line.trim().split(" "));
            } catch (Exception e) {
                peer.out.println("FAILED " + line + ": " + e);
            }
        }
        // the test closed our stdin
        for (Channel ch : peer.channels.values()) {
            ch.close().sync();
        }
        if (peer.server != null) {
            peer.server.close().sync();
        }
        peer.group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        System.exit(0);
    }

    /** {@code echo|sink [manual] [linger=N]} from {@code words[from]}. */
    private record Options(boolean echo, boolean autoRead, int linger) {
        static Options parse(String[] words, int from) {
            boolean autoRead = true;
            int linger = -1;
            for (int i = from + 1; i < words.length; i++) {
                if (words[i].equals("manual")) {
                    autoRead = false;
                } else if (words[i].startsWith("linger=")) {
                    linger = Integer.parseInt(words[i].substring("linger=".length()));
                } else {
                    throw new IllegalArgumentException(words[i]);
                }
            }
            return new Options(switch (words[from]) {
                case "echo" -> true;
                case "sink" -> false;
                default -> throw new IllegalArgumentException(words[from]);
            }, autoRead, linger);
        }
    }

    private void command(String[] c) throws Exception {
        switch (c[0]) {
            case "listen" -> listen(Options.parse(c, 1));
            case "unbind" -> {
                server.close().sync();
                out.println("UNBOUND");
            }
            case "connect" -> connect(Integer.parseInt(c[1]), Options.parse(c, 2));
            case "stream" -> end(c[1]).stream(channel(c[1]), Long.parseLong(c[2]), Integer.parseInt(c[3]),
                    Long.parseLong(c[4]), c.length > 5 && c[5].equals("shutdown"));
            case "fill" -> end(c[1]).fill(channel(c[1]));
            case "read" -> channel(c[1]).read();
            case "autoread" -> channel(c[1]).config().setAutoRead(c[2].equals("on"));
            case "shutdown-output" -> end(c[1]).shutdownOutput((DuplexChannel) channel(c[1]));
            case "close" -> {
                Channel ch = channel(c[1]);
                if (c.length > 2 && c[2].equals("linger0")) {
                    ch.config().setOption(ChannelOption.SO_LINGER, 0);
                }
                ch.close().addListener(f -> out.println("CLOSED " + c[1]));
            }
            default -> throw new IllegalArgumentException("unknown command " + c[0]);
        }
    }

    private Channel channel(String id) {
        Channel ch = channels.get(Integer.parseInt(id));
        if (ch == null) {
            throw new IllegalArgumentException("no connection " + id);
        }
        return ch;
    }

    private StreamEnd end(String id) {
        channel(id);
        return ends.get(Integer.parseInt(id));
    }

    private void listen(Options options) throws InterruptedException {
        server = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.AUTO_READ, options.autoRead)
                .childOption(ChannelOption.SO_LINGER, options.linger)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        int id = ids.incrementAndGet();
                        StreamEnd end = new StreamEnd(id, options.echo, "ACCEPTED", out::println);
                        channels.put(id, ch);
                        ends.put(id, end);
                        ch.pipeline().addLast(end);
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        out.println("LISTENING " + ((InetSocketAddress) server.localAddress()).getPort());
    }

    private void connect(int port, Options options) {
        int id = ids.incrementAndGet();
        StreamEnd end = new StreamEnd(id, options.echo, "CONNECTED", out::println);
        ChannelFuture f = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.AUTO_READ, options.autoRead)
                .option(ChannelOption.SO_LINGER, options.linger)
                .handler(end).connect(new InetSocketAddress("127.0.0.1", port));
        channels.put(id, f.channel());
        ends.put(id, end);
        f.addListener(done -> {
            if (!done.isSuccess()) {
                channels.remove(id);
                out.println("CONNECT_FAILED " + id + " " + done.cause().getClass().getSimpleName() + " "
                        + done.cause().getMessage());
            }
        });
    }
}
