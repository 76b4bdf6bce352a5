package io.zstack.channel;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelPromise;
import io.netty.channel.DefaultChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.MultithreadEventLoopGroup;
import io.netty.util.NettyRuntime;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.Promise;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Event loops that each own one instance of the ZStack TCP/IP stack (one device queue) and busy-poll it. Use it as
 * {@code EpollEventLoopGroup} is used, with {@link ZStackServerSocketChannel} and {@link ZStackSocketChannel}.
 *
 * <p><b>A group is one host.</b> Its loops' stacks are the queues of the device its {@link ZStackConfig} names and
 * share that interface's address, what ARP learns, a loopback (127.0.0.0/8) that joins the group's stacks and
 * nothing else, and one port space. Groups share no network state: two groups in one JVM are two hosts, as two network
 * namespaces are, and reach each other only over a link between their devices (memif, a tap and a bridge, a NIC).
 * So a client reaches a server over 127.0.0.1 when its channel is registered in the group the server listens in.
 *
 * <p><b>Servers.</b> A {@link ZStackServerSocketChannel} listens on every stack of its <em>child group</em>: the
 * group {@code ServerBootstrap.group(parentGroup, childGroup)} names for the children, or the only group given to
 * {@code group(group)}. A connection is accepted by the stack its flow reaches (the NIC's RSS, or the loopback's flow
 * hash, picks the queue) and its child channel lives on that stack's loop, in the child group: the hash, not
 * round-robin, decides which of the group's loops, because the connection's TCP state lives in that loop's stack.
 * The parent (boss) group only runs the server channel's own pipeline; it may be any ZStack group, a loopback-only
 * one included, and needs no device. Ports are reserved per child group: servers in different groups may bind the
 * same port. A server channel registered and bound without {@code ServerBootstrap} listens in its own group. A child
 * group that is not a ZStack group is refused at bind, and registering a child in a group other than the one that
 * accepted it fails with an error naming both (the connection is reset).
 *
 * <p>Clients connect from the stack of the loop they are registered on: their group's device and address.
 *
 * <p>Statistics: {@link #describe()}, and over JMX while the group runs ({@link ZStackStatisticsMXBean}).
 */
public final class ZStackEventLoopGroup extends MultithreadEventLoopGroup {
    /** This host's servers: their listeners on its stacks, the ports they hold. */
    private final GroupListeners listeners;

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
        listeners = new GroupListeners(loops());
        shareNeighbours();
        ZStackStatistics.register(this);
    }

    public ZStackEventLoopGroup(int nThreads, Executor executor, ZStackConfig config) {
        super(nThreads, executor, config, new AtomicInteger(), loops(nThreads),
                new LoopbackFabric(loops(nThreads)));
        listeners = new GroupListeners(loops());
        shareNeighbours();
        ZStackStatistics.register(this);
    }

    /**
     * The loops' stacks are the queues of one device, and a NIC steers every ARP frame to one queue: what one stack
     * learns from ARP, every stack learns (Ipv4Layer#neighbourListener), or the others would never resolve a MAC.
     */
    private void shareNeighbours() {
        List<ZStackEventLoop> all = loops();
        if (all.size() > 1) {
            for (ZStackEventLoop loop : all) {
                loop.shareNeighboursWith(all);
            }
        }
    }

    private static int loops(int nThreads) {
        // MultithreadEventLoopGroup turns 0 into its default; the loops need the real count to pick their queue
        return nThreads == 0 ? NettyRuntime.availableProcessors() * 2 : nThreads;
    }

    @Override
    protected EventLoop newChild(Executor executor, Object... args) {
        ZStackConfig config = (ZStackConfig) args[0];
        int index = ((AtomicInteger) args[1]).getAndIncrement();
        int count = (Integer) args[2];
        return new ZStackEventLoop(this, executor, config, index, count, (LoopbackFabric) args[3]);
    }

    GroupListeners listeners() {
        return listeners;
    }

    /**
     * Registers a channel; an accepted child goes to the loop that owns its connection (the flow's queue), not to
     * the round-robin choice, because its TCP state lives in that loop's stack. A child accepted by another group's
     * stacks cannot move here: its registration fails, and names the group that carries it.
     */
    @Override
    public ChannelFuture register(Channel channel) {
        ZStackEventLoop owner = ownerOf(channel);
        return owner == null ? super.register(channel) : register(new DefaultChannelPromise(channel, owner));
    }

    @Override
    public ChannelFuture register(ChannelPromise promise) {
        ZStackEventLoop owner = ownerOf(promise.channel());
        if (owner == null) {
            return super.register(promise);
        }
        if (owner.parent() != this) {
            ((ZStackSocketChannel) promise.channel()).abortUnregistered();
            return promise.setFailure(new IllegalStateException("cannot register " + promise.channel() + " in "
                    + this + ": its connection was accepted by a stack of " + owner.parent() + ", and a connection"
                    + " stays on the stack that accepted it. A ZStack server listens in the child group its"
                    + " ServerBootstrap names (its own group without one): register its children there"));
        }
        return owner.register(promise);
    }

    @Deprecated
    @Override
    public ChannelFuture register(Channel channel, ChannelPromise promise) {
        return register(promise);
    }

    private static ZStackEventLoop ownerOf(Channel channel) {
        return channel instanceof ZStackSocketChannel c ? c.ownerLoop() : null;
    }

    @Override
    public String toString() {
        return "ZStackEventLoopGroup(" + executorCount() + " loops, " + loops().getFirst().stack().ip().config()
                + ")";
    }

    /** Every loop's {@link ZStackEventLoop#describe()}, one after the other; completes when all have answered. */
    public Future<String> describe() {
        List<ZStackEventLoop> loops = loops();
        Promise<String> result =
                GlobalEventExecutor.INSTANCE.newPromise();
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
    public List<ZStackEventLoop> loops() {
        List<ZStackEventLoop> all = new ArrayList<>();
        for (EventExecutor e : this) {
            all.add((ZStackEventLoop) e);
        }
        return all;
    }
}
