package io.zstack.testsuite;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * A loopback address that swallows connection attempts: a SYN sent to it is never answered, neither by a SYN-ACK
 * nor by an RST, so a connect to it stays pending until its timeout or cancellation.
 *
 * <p>Netty's {@code SocketConnectionAttemptTest} gets that behaviour from a host on the Internet
 * ({@code 198.51.100.254}, a documentation address assumed to be unrouted). Tests here must never send to anything
 * but loopback, so the black hole is built on loopback instead, with the transport under test only: a listener
 * that is never read (so it never accepts) with a backlog of 1 is filled with connections until a further SYN is no
 * longer answered. A TCP stack that, like Linux, drops a SYN while the listener's accept queue is full then leaves
 * every later connect to it hanging. (A stack that resets or answers with a SYN cookie instead makes {@link #open}
 * fail with that explanation.)
 */
public final class LoopbackBlackHole implements AutoCloseable {

    private static final int BACKLOG = 1;
    /** Linux queues backlog + 1 connections; anything far above that means the stack never drops. */
    private static final int MAX_FILLERS = 16;
    /** A loopback handshake takes microseconds; one not done after this was dropped. */
    private static final long UNANSWERED_MILLIS = 500;

    private final Channel listener;
    private final List<Channel> fillers;

    private LoopbackBlackHole(Channel listener, List<Channel> fillers) {
        this.listener = listener;
        this.fillers = fillers;
    }

    /** Opens a black hole on {@code 127.0.0.1} with the bootstraps of {@code permutation}. */
    public static LoopbackBlackHole open(ZStackSocketTestPermutation permutation) throws InterruptedException {
        Channel listener = permutation.newServerBootstrap()
                .option(ChannelOption.SO_BACKLOG, BACKLOG)
                // Never read, hence never accept: established connections stay in the accept queue.
                .option(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInboundHandlerAdapter())
                .bind(ZStackSocketTestPermutation.newSocketAddress()).sync().channel();
        List<Channel> fillers = new ArrayList<>();
        LoopbackBlackHole hole = new LoopbackBlackHole(listener, fillers);
        boolean ok = false;
        try {
            for (int i = 0; i < MAX_FILLERS; i++) {
                ChannelFuture connect = permutation.newClientBootstrap()
                        .handler(new ChannelInboundHandlerAdapter())
                        .connect(listener.localAddress());
                if (!connect.await(UNANSWERED_MILLIS)) {
                    // This SYN went unanswered: the accept queue is full and stays full.
                    connect.channel().close().sync();
                    ok = true;
                    return hole;
                }
                if (!connect.isSuccess()) {
                    throw new IllegalStateException("connect #" + (i + 1) + " to a full listener at "
                            + listener.localAddress() + " failed instead of hanging: " + connect.cause()
                            + " (the stack must drop a SYN while the accept queue is full)", connect.cause());
                }
                fillers.add(connect.channel());
            }
            throw new IllegalStateException("a listener with backlog " + BACKLOG + " that never accepts answered "
                    + MAX_FILLERS + " connects; the stack must drop a SYN while the accept queue is full");
        } finally {
            if (!ok) {
                hole.close();
            }
        }
    }

    /** Where to connect to get no answer at all. */
    public InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
    }

    @Override
    public void close() throws InterruptedException {
        for (Channel filler : fillers) {
            filler.close().sync();
        }
        listener.close().sync();
    }
}
