package io.zstack.channel;

import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ServerSocketChannel;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpListener;
import io.zstack.tcp.TcpSettings;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A listening socket on the ZStack stack. Binding installs a listener in every stack of the child group (each queue of
 * that group's interface; see {@link ZStackEventLoopGroup} for the model): the group {@code ServerBootstrap} names
 * for the children, else this channel's own. A connection is accepted by the stack its flow reaches, and its child
 * channel belongs to that stack's loop. The accepted children reach this channel's pipeline as messages, as in every
 * Netty transport.
 */
public final class ZStackServerSocketChannel extends AbstractZStackChannel implements ServerSocketChannel {
    private static final ChannelMetadata METADATA = new ChannelMetadata(false, 16);

    private final ZStackServerSocketChannelConfig config = new ZStackServerSocketChannelConfig(this);
    /** Each loop's listener; touched only on that loop's thread (the map itself is shared). */
    private final Map<ZStackEventLoop, TcpListener> listeners = new ConcurrentHashMap<>();
    /** Children accepted by any loop, waiting for this channel's read. */
    private final Queue<ZStackSocketChannel> accepted = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean acceptScheduled = new AtomicBoolean();
    /** Loops whose listener holds connections this channel had no room for. */
    private final Set<ZStackEventLoop> stalled = ConcurrentHashMap.newKeySet();
    private volatile InetSocketAddress local;
    /** The child group's listeners, where this server is bound; null before bind. */
    private volatile GroupListeners host;
    private volatile int boundAddress;
    private volatile int boundPort;
    private boolean readPending;

    public ZStackServerSocketChannel() {
        super(null);
    }

    @Override
    public ZStackServerSocketChannelConfig config() {
        return config;
    }

    @Override
    public ChannelMetadata metadata() {
        return METADATA;
    }

    @Override
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) super.localAddress();
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return null;
    }

    @Override
    protected SocketAddress localAddress0() {
        return local;
    }

    @Override
    protected SocketAddress remoteAddress0() {
        return null;
    }

    @Override
    protected AbstractUnsafe newUnsafe() {
        return new ServerUnsafe();
    }

    @Override
    protected void doBind(SocketAddress localAddress) throws Exception {
        InetSocketAddress requested = ZStackAddresses.checked(localAddress);
        int address = ZStackAddresses.toInt(requested.getAddress());
        ZStackEventLoopGroup children = ChildGroups.of(this);
        GroupListeners listeners = children.listeners();
        if (!listeners.isLocal(address)) {
            throw new BindException("Cannot assign requested address: " + requested.getAddress().getHostAddress()
                    + " is not an address of the child group " + children);
        }
        int port = listeners.reservePort(address, requested.getPort());
        if (port < 0) {
            throw new BindException("Address already in use: " + requested + " in " + children);
        }
        host = listeners;
        boundAddress = address;
        boundPort = port;
        local = ZStackAddresses.toSocketAddress(address, port);
        active = true;
        listeners.listen(this);
        InProcessConnections.listen(this, children, address, port);
    }

    /** The settings an in-process child starts with: its host's TCP defaults under this server's options. */
    TcpSettings childSettings() {
        return config.listenerSettings(host.tcpDefaults());
    }

    /** Installs this server's listener in {@code loop}'s stack. Runs on that loop. */
    void listenOn(ZStackEventLoop loop) {
        if (local == null || !open || listeners.containsKey(loop)) {
            return;
        }
        int address = boundAddress;
        if (address != 0 && !loop.stack().ip().isLocal(address)) {
            return; // that stack does not own the address
        }
        TcpListener listener;
        try {
            listener = loop.stack().tcp().listen(address, boundPort,
                    config.listenerSettings(loop.config().tcpSettings()));
        } catch (IllegalStateException e) {
            return; // a listener of another server holds it on that stack: it cannot happen through the runtime
        }
        listener.handler(l -> acceptFrom(loop, l));
        listeners.put(loop, listener);
    }

    /** Removes this server's listener from {@code loop}'s stack. Runs on that loop. */
    void unlistenOn(ZStackEventLoop loop) {
        TcpListener listener = listeners.remove(loop);
        if (listener != null) {
            listener.close(ZStackEventLoop.now());
        }
    }

    /** Connections completed on {@code loop}: wrap them as children (on that loop) and hand them to this channel. */
    private void acceptFrom(ZStackEventLoop loop, TcpListener listener) {
        TcpConnection c;
        // no more than the backlog waits here: the rest stay in the stack's accept queue, which then refuses new SYNs
        // as listen(2)'s does
        while (accepted.size() < config.getBacklog() && (c = listener.accept()) != null) {
            accepted.add(new ZStackSocketChannel(this, loop, c));
        }
        if (listener.pending() > 0) {
            stalled.add(loop);
        }
        scheduleAccept();
    }

    /**
     * An in-process connection's child (any thread): queued for accept as a TCP child is; false when this server
     * is closed or its backlog is full.
     */
    boolean acceptInProcess(ZStackSocketChannel child) {
        if (!isOpen() || accepted.size() >= config.getBacklog()) {
            return false;
        }
        accepted.add(child);
        if (!isOpen()) {
            closePending(); // closed meanwhile: its doClose may have looked at the queue before the add
            return true; // the child is reset, as a connection accepted just before a close is
        }
        scheduleAccept();
        return true;
    }

    private void scheduleAccept() {
        if (acceptScheduled.compareAndSet(false, true)) {
            EventLoop mine = eventLoop();
            if (mine.inEventLoop()) {
                mine.execute(this::acceptReady); // not from inside the stack's poll: the pipeline may call back in
            } else {
                try {
                    mine.execute(this::acceptReady);
                } catch (RejectedExecutionException e) {
                    acceptScheduled.set(false);
                    closePending();
                }
            }
        }
    }

    /** Fires the accepted children into the pipeline, as the read that was asked for allows. */
    private void acceptReady() {
        acceptScheduled.set(false);
        if (!isOpen()) {
            closePending();
            return;
        }
        if (!readPending && !config.isAutoRead()) {
            return; // they wait for read()
        }
        RecvByteBufAllocator.Handle handle = unsafe().recvBufAllocHandle();
        handle.reset(config);
        ChannelPipeline pipeline = pipeline();
        ZStackSocketChannel child;
        do {
            child = accepted.poll();
            if (child == null) {
                break;
            }
            readPending = false;
            handle.incMessagesRead(1);
            pipeline.fireChannelRead(child);
        } while (handle.continueReading());
        handle.readComplete();
        pipeline.fireChannelReadComplete();
        // room again: let the loops whose accept queues were left waiting hand over more
        for (ZStackEventLoop loop : stalled) {
            if (accepted.size() >= config.getBacklog()) {
                break;
            }
            stalled.remove(loop);
            loop.execute(() -> {
                TcpListener l = listeners.get(loop);
                if (l != null) {
                    acceptFrom(loop, l);
                }
            });
        }
        if (!accepted.isEmpty() && (readPending || config.isAutoRead())
                && acceptScheduled.compareAndSet(false, true)) {
            eventLoop().execute(this::acceptReady);
        }
    }

    private void closePending() {
        ZStackSocketChannel child;
        while ((child = accepted.poll()) != null) {
            child.abortUnregistered();
        }
    }

    @Override
    void clearReadPending() {
        if (!isRegistered() || eventLoop().inEventLoop()) {
            readPending = false;
        } else {
            eventLoop().execute(() -> readPending = false);
        }
    }

    @Override
    protected void doBeginRead() {
        readPending = true;
        if (!accepted.isEmpty() && acceptScheduled.compareAndSet(false, true)) {
            eventLoop().execute(this::acceptReady);
        }
    }

    @Override
    protected void doClose() throws Exception {
        boolean wasBound = local != null;
        open = false;
        active = false;
        if (wasBound) {
            InProcessConnections.unlisten(this);
            host.unlisten(this);
            for (ZStackEventLoop loop : listeners.keySet()) {
                if (loop.inEventLoop()) {
                    unlistenOn(loop);
                }
            }
            host.releasePort(boundAddress, boundPort);
        }
        closePending();
    }

    @Override
    protected void doDisconnect() {
        throw new UnsupportedOperationException();
    }

    @Override
    protected void doWrite(ChannelOutboundBuffer in) {
        throw new UnsupportedOperationException();
    }

    @Override
    protected Object filterOutboundMessage(Object msg) {
        throw new UnsupportedOperationException();
    }

    private final class ServerUnsafe extends AbstractUnsafe {
        @Override
        public void connect(SocketAddress remoteAddress, SocketAddress localAddress, ChannelPromise promise) {
            promise.setFailure(new UnsupportedOperationException());
        }
    }
}
