package io.zstack.channel;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The other process of {@link ZStackTwoProcessTest}: a ZStack group with the cross-process path on, in a JVM of its
 * own, talking to the test through lines on stdout. It ends when its stdin closes (or when it is killed).
 * <ul>
 *   <li>{@code server DIR}: an echo server on 127.0.0.1 (half-closure answered by a shutdown after the echo);
 *       prints {@code LISTENING port}, then {@code ACCEPTED local remote} per connection;</li>
 *   <li>{@code hold-client DIR PORT}: connects to 127.0.0.1:PORT, writes 1000 bytes, prints
 *       {@code CONNECTED local remote}, and holds the connection open.</li>
 * </ul>
 */
public final class CrossProcessPeer {
    private CrossProcessPeer() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true);
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .crossProcess(Path.of(args[1]), false).build());
        List<Channel> channels = new ArrayList<>();
        switch (args[0]) {
            case "server" -> {
                Channel server = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                        .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                        .childHandler(new Echo(out)).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
                channels.add(server);
                out.println("LISTENING " + ((InetSocketAddress) server.localAddress()).getPort());
            }
            case "hold-client" -> {
                Channel client = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                        .handler(new ChannelInboundHandlerAdapter())
                        .connect(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[2]))).sync().channel();
                client.writeAndFlush(client.alloc().directBuffer(1000).writerIndex(1000)).sync();
                channels.add(client);
                out.println("CONNECTED " + client.localAddress() + " " + client.remoteAddress());
            }
            default -> throw new IllegalArgumentException(args[0]);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        while (in.readLine() != null) {
            // until the test closes our stdin
        }
        for (Channel ch : channels) {
            ch.close().sync();
        }
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        System.exit(0);
    }

    /** Writes back what it reads; answers the end of input by ending its output once the echo is written. */
    @io.netty.channel.ChannelHandler.Sharable
    private static final class Echo extends ChannelInboundHandlerAdapter {
        private final PrintStream out;

        Echo(PrintStream out) {
            this.out = out;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            out.println("ACCEPTED " + ctx.channel().localAddress() + " " + ctx.channel().remoteAddress());
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER)
                        .addListener(f -> ((DuplexChannel) ctx.channel()).shutdownOutput());
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            out.println("ERROR " + cause);
            ctx.close();
        }
    }
}
