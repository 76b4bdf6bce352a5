package io.zstack.channel;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.MultithreadEventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Event loops that each own one instance of the ZStack TCP/IP stack (one device queue) and busy-poll it. Use it as
 * {@code EpollEventLoopGroup} is used, with {@link ZStackServerSocketChannel} and {@link ZStackSocketChannel}.
 *
 * <p>Every loop's stack shares the interface address, as the queues of one NIC do. A server channel listens on every
 * loop's stack; an accepted child channel lives on the loop whose stack holds its connection, whichever group that
 * loop belongs to ({@link #register(Channel)} sends it there).
 *
 * <p>Statistics: {@link #describe()}, and over JMX while the group runs ({@link ZStackStatisticsMXBean}).
 */
public final class ZStackEventLoopGroup extends MultithreadEventLoopGroup {
    /** A loopback-only group with the default number of loops (twice the cores, as Netty's groups). */
    public ZStackEventLoopGroup() {
        this(0);
    }

    public ZStackEventLoopGroup(int nThreads) {
        this(nThreads, (ThreadFactory) null);
    }

    public ZStackEventLoopGroup(int nThreads, ThreadFactory threadFactory) {
        this(nThreads, threadFactory, ZStackConfig.loopback());
    }

    public ZStackEventLoopGroup(int nThreads, Executor executor) {
        this(nThreads, executor, ZStackConfig.loopback());
    }

    public ZStackEventLoopGroup(int nThreads, ZStackConfig config) {
        this(nThreads, (ThreadFactory) null, config);
    }

    public ZStackEventLoopGroup(int nThreads, ThreadFactory threadFactory, ZStackConfig config) {
        super(nThreads, threadFactory, config, new AtomicInteger(), loops(nThreads),
                new LoopbackFabric(loops(nThreads)));
        shareNeighbours();
        ZStackStatistics.register(this);
    }

    public ZStackEventLoopGroup(int nThreads, Executor executor, ZStackConfig config) {
        super(nThreads, executor, config, new AtomicInteger(), loops(nThreads),
                new LoopbackFabric(loops(nThreads)));
        shareNeighbours();
        ZStackStatistics.register(this);
    }

    /**
     * The loops' stacks are the queues of one device, and a NIC steers every ARP frame to one queue: what one stack
     * learns from ARP, every stack learns (Ipv4Layer#neighbourListener), or the others would never resolve a MAC.
     */
    private void shareNeighbours() {
        java.util.List<ZStackEventLoop> all = loops();
        if (all.size() > 1) {
            for (ZStackEventLoop loop : all) {
                loop.shareNeighboursWith(all);
            }
        }
    }

    private static int loops(int nThreads) {
        // MultithreadEventLoopGroup turns 0 into its default; the loops need the real count to pick their queue
        return nThreads == 0 ? io.netty.util.NettyRuntime.availableProcessors() * 2 : nThreads;
    }

    @Override
    protected EventLoop newChild(Executor executor, Object... args) {
        ZStackConfig config = (ZStackConfig) args[0];
        int index = ((AtomicInteger) args[1]).getAndIncrement();
        int count = (Integer) args[2];
        return new ZStackEventLoop(this, executor, config, index, count, (LoopbackFabric) args[3]);
    }

    /**
     * Registers a channel; an accepted child goes to the loop that owns its connection (the flow's queue), not to
     * the round-robin choice, because its TCP state lives in that loop's stack.
     */
    @Override
    public ChannelFuture register(Channel channel) {
        ZStackEventLoop owner = ownerOf(channel);
        return owner != null ? owner.register(channel) : super.register(channel);
    }

    @Override
    public ChannelFuture register(ChannelPromise promise) {
        ZStackEventLoop owner = ownerOf(promise.channel());
        return owner != null ? owner.register(promise) : super.register(promise);
    }

    @Deprecated
    @Override
    public ChannelFuture register(Channel channel, ChannelPromise promise) {
        ZStackEventLoop owner = ownerOf(channel);
        return owner != null ? owner.register(channel, promise) : super.register(channel, promise);
    }

    private static ZStackEventLoop ownerOf(Channel channel) {
        return channel instanceof ZStackSocketChannel c ? c.ownerLoop() : null;
    }

    /** Every loop's {@link ZStackEventLoop#describe()}, one after the other; completes when all have answered. */
    public io.netty.util.concurrent.Future<String> describe() {
        java.util.List<ZStackEventLoop> loops = loops();
        io.netty.util.concurrent.Promise<String> result =
                io.netty.util.concurrent.GlobalEventExecutor.INSTANCE.newPromise();
        String[] parts = new String[loops.size()];
        AtomicInteger left = new AtomicInteger(loops.size());
        for (int i = 0; i < loops.size(); i++) {
            int k = i;
            loops.get(i).describe().addListener(f -> {
                parts[k] = f.isSuccess() ? (String) f.getNow() : loops.get(k) + ": " + f.cause();
                if (left.decrementAndGet() == 0) {
                    result.setSuccess(String.join("", parts));
                }
            });
        }
        return result;
    }

    /** The loops of this group (for statistics and tests). */
    public java.util.List<ZStackEventLoop> loops() {
        java.util.List<ZStackEventLoop> all = new java.util.ArrayList<>();
        for (EventExecutor e : this) {
            all.add((ZStackEventLoop) e);
        }
        return all;
    }
}
