package io.zstack.testsuite.crossprocess;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.concurrent.Future;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackSocketChannel;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The client process of {@link TwoProcessSocketShutdownOutputByPeerTest}: a ZStack group with the cross-process path on
 * ({@code args[0]} is the permutation's rendezvous directory), in a JVM of its own, doing one socket operation a
 * command line on stdin and answering each with one line, {@code OK [id]} or {@code ERR cause}:
 * {@code connect PORT} (to 127.0.0.1; the answer is the connection's id, and an error unless the connection is a
 * cross-process one), {@code write ID BYTE}, {@code shutdown-output ID}, {@code close ID}. It ends when its stdin
 * closes.
 */
public final class TwoProcessPeer {
    private TwoProcessPeer() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .crossProcess(Path.of(args[0]), false).build());
        List<DuplexChannel> channels = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] c = line.trim().split(" ");
            try {
                switch (c[0]) {
                    case "connect" -> {
                        DuplexChannel ch = (DuplexChannel) done(new Bootstrap().group(group)
                                .channel(ZStackSocketChannel.class).handler(new ChannelInboundHandlerAdapter())
                                .connect(new InetSocketAddress("127.0.0.1", Integer.parseInt(c[1])))).channel();
                        channels.add(ch);
                        String dump = group.describe().get(5, TimeUnit.SECONDS);
                        String local = ch.localAddress().toString().substring(1);
                        if (!dump.contains("cross-process ESTABLISHED " + local)) {
                            throw new IllegalStateException("not a cross-process connection: " + dump);
                        }
                        out.println("OK " + (channels.size() - 1));
                    }
                    case "write" -> {
                        done(channel(channels, c[1]).writeAndFlush(Unpooled.wrappedBuffer(
                                new byte[] {(byte) Integer.parseInt(c[2])})));
                        out.println("OK");
                    }
                    case "shutdown-output" -> {
                        done(channel(channels, c[1]).shutdownOutput());
                        out.println("OK");
                    }
                    case "close" -> {
                        done(channel(channels, c[1]).close());
                        out.println("OK");
                    }
                    default -> throw new IllegalArgumentException("unknown command " + c[0]);
                }
            } catch (Exception e) {
                out.println("ERR " + e.toString().replace('\n', ' '));
            }
        }
        for (DuplexChannel ch : channels) {
            ch.close().sync();
        }
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        System.exit(0);
    }

    private static DuplexChannel channel(List<DuplexChannel> channels, String id) {
        return channels.get(Integer.parseInt(id));
    }

    /** Waits for {@code f}; its failure is thrown. */
    private static <F extends Future<?>> F done(F f) throws Exception {
        if (!f.await(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not done in 30 s: " + f);
        }
        if (f.cause() != null) {
            throw new IllegalStateException(f.cause());
        }
        return f;
    }
}
