package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.FileRegion;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpError;
import io.zstack.tcp.TcpSettings;
import io.zstack.tcp.TcpState;
import java.io.IOException;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.SocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NotYetConnectedException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A TCP connection of the ZStack stack as a Netty {@link SocketChannel}.
 *
 * <p>Zero copy: a read delivers each received mbuf segment as a ByteBuf over its payload (releasing it frees the
 * mbuf); a written ByteBuf from the loop's allocator goes into the TCP send queue by reference (the stack prepends
 * headers in front of it and frees it when acknowledged). Other buffers and FileRegions are copied once into mbufs.
 *
 * <p>All stack calls run on the loop that owns the connection. Stack events only schedule work on the loop, so the
 * pipeline never runs inside the stack's segment processing.
 *
 * <p>This file holds the channel's state, registration, the stack's events, half-closure and close; the rest is in
 * one file per question: {@link SocketConnect} (connecting), {@link TcpReadPath} (received bytes to the pipeline),
 * {@link TcpWritePath} (flushed messages to the send queue), {@link MbufHandOff} (when a buffer goes by reference),
 * {@link MbufCopy} (copies into and out of mbufs), {@link FileRegionSink} (FileRegion transfers), and
 * {@link InProcessEnd} for a connection that skips TCP.
 */
public final class ZStackSocketChannel extends AbstractZStackChannel implements SocketChannel {
    private static final ChannelMetadata METADATA = new ChannelMetadata(false, 16);

    private final ZStackSocketChannelConfig config;
    /** The loop that holds an accepted connection; null for a client channel until it registers. */
    private final ZStackEventLoop ownerLoop;
    private TcpConnection connection;
    /** This channel's end of an in-process connection (see {@link InProcessConnections}), or null (TCP). */
    InProcessEnd inProcess;
    volatile InetSocketAddress local;
    private volatile InetSocketAddress remote;
    volatile boolean inputShutdown;
    private volatile boolean outputShutdown;
    boolean readPending;
    private boolean readScheduled;
    private boolean flushScheduled;
    private boolean eofHandled;
    private final TcpReadPath readPath = new TcpReadPath(this);
    private final TcpWritePath writePath = new TcpWritePath(this);
    private final SocketConnect connect = new SocketConnect(this);
    private final Runnable readTask = this::readNow;
    private final Runnable flushTask = this::flushNow;

    /** A client channel; it opens its connection when connected. */
    public ZStackSocketChannel() {
        super(null);
        this.ownerLoop = null;
        this.config = new ZStackSocketChannelConfig(this, TcpSettings.defaults());
    }

    /** An accepted connection, created on {@code loop}'s thread. */
    ZStackSocketChannel(ZStackServerSocketChannel parent, ZStackEventLoop loop, TcpConnection connection) {
        super(parent);
        this.ownerLoop = loop;
        this.connection = connection;
        this.config = new ZStackSocketChannelConfig(this, connection.settings());
        config.defaultAllocator(loop.allocator());
        this.local = ZStackAddresses.toSocketAddress(connection.localAddress(), connection.localPort());
        this.remote = ZStackAddresses.toSocketAddress(connection.remoteAddress(), connection.remotePort());
        this.active = true;
        connection.handler(events);
    }

    /** An accepted in-process connection (its end is set by InProcessConnections); any loop may take it. */
    ZStackSocketChannel(ZStackServerSocketChannel parent, InetSocketAddress local, InetSocketAddress remote) {
        super(parent);
        this.ownerLoop = null;
        this.config = new ZStackSocketChannelConfig(this, parent.childSettings());
        this.local = local;
        this.remote = remote;
        this.active = true;
    }

    ZStackEventLoop ownerLoop() {
        return ownerLoop;
    }

    @Override
    protected boolean isCompatible(EventLoop loop) {
        return loop instanceof ZStackEventLoop && (ownerLoop == null || loop == ownerLoop);
    }

    @Override
    public ServerSocketChannel parent() {
        return (ServerSocketChannel) super.parent();
    }

    @Override
    public ZStackSocketChannelConfig config() {
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
        return (InetSocketAddress) super.remoteAddress();
    }

    @Override
    protected SocketAddress localAddress0() {
        return local;
    }

    @Override
    protected SocketAddress remoteAddress0() {
        return remote;
    }

    /** Composite pieces the write path has looked at, for tests (loop thread). */
    long writePiecesExamined() {
        return writePath.piecesExamined();
    }

    /** The TCP state (for statistics and tests); null before connect and on the in-process path. Loop thread only. */
    TcpConnection connection() {
        return connection;
    }

    /**
     * True when this connection is carried by the in-process path (both ends ZStack channels of this JVM, see
     * {@link ZStackConfig.Builder#inProcess}) rather than by TCP; false before it connects.
     */
    public boolean isInProcess() {
        return inProcess != null;
    }

    @Override
    protected void doRegister() throws Exception {
        super.doRegister();
        config.defaultAllocator(zstackLoop().allocator());
        if (parent() == null && connection == null && inProcess == null) {
            config.rebase(zstackLoop().config().tcpSettings()); // a client learns its group's TCP defaults here
        }
        if (connection != null) {
            connection.minRtoChanged(); // an accepted child's options were set before it had a loop to apply them on
        }
        if (connection != null && connection.state() == TcpState.CLOSED) {
            events.onClosed(connection, connection.error()); // it died between accept and registration
        }
        if (inProcess != null) {
            // what the peer did before this registration (its wake-ups found no loop): a task, so it runs registered
            eventLoop().execute(inProcess::wakeRead);
        }
    }

    /** The config's settings changed: the connection, if there is one, reads them from its next segment. */
    void settingsChanged(TcpSettings changed) {
        TcpConnection c = connection;
        if (c != null) {
            c.settings(changed);
        }
    }

    void minRtoChanged() {
        onLoop(() -> {
            if (connection != null) {
                connection.minRtoChanged();
            }
        });
    }

    void congestionControlChanged() {
        TcpConnection c = connection;
        if (!isRegistered() && c != null && ownerLoop != null) {
            // an accepted child's options are set before it registers, by the acceptor on the server channel's loop,
            // which may be another group's; the connection is its own loop's
            if (ownerLoop.inEventLoop()) {
                c.congestionControlChanged(ZStackEventLoop.now());
            } else {
                ownerLoop.execute(() -> c.congestionControlChanged(ZStackEventLoop.now()));
            }
            return;
        }
        onLoop(() -> {
            if (connection != null) {
                connection.congestionControlChanged(ZStackEventLoop.now());
            }
        });
    }

    void keepAliveChanged() {
        onLoop(() -> {
            if (connection != null) {
                connection.keepAliveChanged(ZStackEventLoop.now());
            }
        });
    }

    // ============================================================================================ stack events

    private final TcpConnection.Handler events = new TcpConnection.Handler() {
        @Override
        public void onConnected(TcpConnection c) {
            eventLoop().execute(connect::finish);
        }

        @Override
        public void onReadable(TcpConnection c) {
            scheduleRead();
        }

        @Override
        public void onWritable(TcpConnection c) {
            if (!flushScheduled && unsafe().outboundBuffer() != null && !unsafe().outboundBuffer().isEmpty()) {
                flushScheduled = true;
                eventLoop().execute(flushTask);
            }
        }

        @Override
        public void onClosed(TcpConnection c, TcpError error) {
            if (!isRegistered()) {
                return; // handled at registration
            }
            try {
                eventLoop().execute(() -> connectionClosed(error));
            } catch (RejectedExecutionException e) {
                // the loop has stopped and its stack is resetting what is left (NetStack.close in the loop's
                // cleanup): nothing will run the channel again. Thrown on, this ended that reset at the first
                // connection still open, and the others' mbufs were never freed
            }
        }
    };

    void scheduleRead() {
        if (!readScheduled && isRegistered()) {
            readScheduled = true;
            eventLoop().execute(readTask);
        }
    }

    // ============================================================================================ connect

    /** A TCP connect opened {@code c} (see {@link SocketConnect}): the channel follows it from now on. */
    void connected(TcpConnection c) {
        connection = c; // it holds config.settings(): the config installs later changes in it
        local = ZStackAddresses.toSocketAddress(c.localAddress(), c.localPort());
        c.handler(events);
    }

    /** The connection is established: {@code promise} succeeds and the channel turns active. */
    void activated(InetSocketAddress requestedRemote, ChannelPromise promise) {
        if (connection != null) {
            local = ZStackAddresses.toSocketAddress(connection.localAddress(), connection.localPort());
        }
        remote = requestedRemote;
        boolean wasActive = active;
        active = true;
        boolean promiseSet = promise.trySuccess();
        if (!wasActive) {
            pipeline().fireChannelActive();
        }
        if (!promiseSet) {
            unsafe().close(unsafe().voidPromise()); // cancelled meanwhile
        }
    }

    /** A connect failed before it was under way (see {@link SocketConnect#connect}). */
    void connectFailed(Throwable cause, SocketAddress remoteAddress, ChannelPromise promise) {
        ((SocketUnsafe) unsafe()).connectFailed(cause, remoteAddress, promise);
    }

    @Override
    protected void doBind(SocketAddress localAddress) throws Exception {
        InetSocketAddress requested = ZStackAddresses.checked(localAddress);
        int address = ZStackAddresses.toInt(requested.getAddress());
        if (address != 0 && !zstackLoop().stack().ip().isLocal(address)) {
            throw new BindException("Cannot assign requested address: " + requested);
        }
        // the port is taken when connecting (the stack checks the 4-tuple); 0 means an ephemeral one then
        local = requested;
    }

    // ============================================================================================ read

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
        if (inProcess != null) {
            inProcess.wakeRead();
            return;
        }
        if (connection != null && (readPath.hasInput(connection) || connection.isInputShutdown())) {
            scheduleRead();
        }
    }

    private void readNow() {
        readScheduled = false;
        readPath.read();
    }

    /** The peer sent FIN and everything before it was read. */
    void inputEnded() {
        if (eofHandled) {
            return;
        }
        eofHandled = true;
        if (config.isAllowHalfClosure()) {
            inputShutdown = true;
            pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
            pipeline().fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
        } else {
            unsafe().close(unsafe().voidPromise());
        }
    }

    /** The stack is done with the connection: orderly (error null) or not. */
    private void connectionClosed(TcpError error) {
        if (connect.pending()) {
            connect.closedByStack(error);
            return;
        }
        if (!isOpen()) {
            return;
        }
        readPath.ended(connection, error);
    }

    void failConnection(TcpError error) {
        IOException cause = switch (error) {
            case RESET -> new IOException("Connection reset by peer");
            case TIMED_OUT -> new IOException("Connection timed out");
            case UNREACHABLE -> new NoRouteToHostException("No route to host");
            case REFUSED -> new ConnectException("Connection refused");
            case ABORTED -> new IOException("Connection aborted");
        };
        pipeline().fireExceptionCaught(cause);
        unsafe().close(unsafe().voidPromise());
    }

    // ============================================================================================ write

    @Override
    protected Object filterOutboundMessage(Object msg) {
        if (msg instanceof ByteBuf || msg instanceof FileRegion) {
            return msg;
        }
        throw new UnsupportedOperationException("unsupported message type: " + msg.getClass().getName()
                + " (expected ByteBuf or FileRegion)");
    }

    void flushNow() {
        flushScheduled = false;
        if (isActive()) {
            ((SocketUnsafe) unsafe()).flushNow();
        }
    }

    @Override
    protected void doWrite(ChannelOutboundBuffer in) throws Exception {
        if (inProcess != null) {
            inProcess.write(in);
            return;
        }
        // the write sees the connection as the loop saw it at this round's start, or now after a long task (see
        // inputBeforeWrite). Stack events only queue tasks, so nothing re-enters this channel from here.
        ZStackEventLoop loop = zstackLoop();
        // one clock read serves the flush: queueing its buffers (at most a send buffer's worth of copies) takes well
        // under the TSval's millisecond, and RTT samples and timers taken a little early change nothing
        long now = ZStackEventLoop.now();
        loop.inputBeforeWrite(now);
        try {
            writePath.write(in);
        } finally {
            if (connection != null) {
                connection.push(now); // everything this flush queued, in as few segments as fit
            }
            // the frames usually wait for the loop's transmit burst at the end of this round, shared with the round's
            // other flushes as F-stack and Linux's xmit_more batch them; a round that has run long goes out now
            loop.wrote(now);
        }
    }

    /**
     * The write stopped with more to copy and room for it (its copy budget is spent): the rest in the loop's next
     * round, after it has transmitted what this flush queued and polled its devices, as epoll's channel reschedules a
     * write that spent its writeSpinCount.
     */
    void flushAgain() {
        if (!flushScheduled) {
            flushScheduled = true;
            zstackLoop().executeNextRound(flushTask);
        }
    }

    void scheduleRetry() {
        // the mbuf pool is empty: try again shortly, when ACKs have returned mbufs
        if (!flushScheduled) {
            flushScheduled = true;
            eventLoop().schedule(flushTask, 1, TimeUnit.MILLISECONDS);
        }
    }

    // ============================================================================================ shutdown, close

    @Override
    public boolean isInputShutdown() {
        return inputShutdown || !isOpen();
    }

    @Override
    public boolean isOutputShutdown() {
        return outputShutdown || !isOpen();
    }

    @Override
    public boolean isShutdown() {
        return isInputShutdown() && isOutputShutdown();
    }

    @Override
    public ChannelFuture shutdownOutput() {
        return shutdownOutput(newPromise());
    }

    @Override
    public ChannelFuture shutdownOutput(ChannelPromise promise) {
        EventLoop loop = eventLoop();
        if (loop.inEventLoop()) {
            ((AbstractUnsafe) unsafe()).shutdownOutput(promise);
        } else {
            loop.execute(() -> ((AbstractUnsafe) unsafe()).shutdownOutput(promise));
        }
        return promise;
    }

    @Override
    protected void doShutdownOutput() {
        if (connection == null && inProcess == null) {
            throw new NotYetConnectedException();
        }
        outputShutdown = true;
        if (inProcess != null) {
            inProcess.shutdownOutput();
        }
        if (connection != null) {
            connection.shutdownOutput(ZStackEventLoop.now());
        }
    }

    @Override
    public ChannelFuture shutdownInput() {
        return shutdownInput(newPromise());
    }

    @Override
    public ChannelFuture shutdownInput(ChannelPromise promise) {
        EventLoop loop = eventLoop();
        if (loop.inEventLoop()) {
            shutdownInput0(promise);
        } else {
            loop.execute(() -> shutdownInput0(promise));
        }
        return promise;
    }

    private void shutdownInput0(ChannelPromise promise) {
        if (!isOpen()) {
            promise.setFailure(new ClosedChannelException());
            return;
        }
        if (connection == null && inProcess == null) {
            promise.setFailure(new NotYetConnectedException());
            return;
        }
        // SHUT_RD: what arrives from now on is discarded (the peer is not told, as with Linux)
        inputShutdown = true;
        if (connection != null) {
            readPath.discard(connection);
        } else {
            inProcess.discardInput();
        }
        promise.setSuccess();
    }

    @Override
    public ChannelFuture shutdown() {
        return shutdown(newPromise());
    }

    @Override
    public ChannelFuture shutdown(ChannelPromise promise) {
        ChannelFuture output = shutdownOutput();
        if (output.isDone()) {
            shutdownOutputDone(output, promise);
        } else {
            output.addListener((ChannelFutureListener) f -> shutdownOutputDone(f, promise));
        }
        return promise;
    }

    private void shutdownOutputDone(ChannelFuture output, ChannelPromise promise) {
        ChannelFuture input = shutdownInput();
        input.addListener((ChannelFutureListener) f -> {
            Throwable cause = output.cause() != null ? output.cause() : f.cause();
            if (cause != null) {
                promise.setFailure(cause);
            } else {
                promise.setSuccess();
            }
        });
    }

    @Override
    protected void doDisconnect() throws Exception {
        doClose();
    }

    @Override
    protected void doClose() throws Exception {
        open = false;
        active = false;
        inputShutdown = true;
        outputShutdown = true;
        connect.abandon();
        readPath.releaseHeld();
        if (inProcess != null) {
            inProcess.close();
        }
        if (connection != null && !isRegistered() && ownerLoop != null && !ownerLoop.inEventLoop()) {
            abortUnregistered(); // an accepted child that never reached its loop (its registration failed)
        }
        TcpConnection c = connection;
        if (c != null) {
            c.handler(new TcpConnection.Handler() {
            });
            // always: a connection already reset or in TIME_WAIT still holds what it received and nobody read
            c.close(ZStackEventLoop.now());
        }
    }

    /**
     * An accepted child that never reached its loop (its server closed first, or its registration failed): reset it
     * on its own loop, once.
     */
    void abortUnregistered() {
        open = false;
        active = false;
        if (inProcess != null) {
            inProcess.abort();
        }
        TcpConnection c = connection;
        if (c != null) {
            connection = null;
            ownerLoop.execute(() -> c.abort(ZStackEventLoop.now()));
        }
    }

    @Override
    protected AbstractUnsafe newUnsafe() {
        return new SocketUnsafe();
    }

    private final class SocketUnsafe extends AbstractUnsafe {
        void flushNow() {
            flush0();
        }

        @Override
        public void connect(SocketAddress remoteAddress, SocketAddress localAddress, ChannelPromise promise) {
            if (promise.isDone() || !ensureOpen(promise)) {
                return;
            }
            connect.connect(remoteAddress, localAddress, promise);
        }

        void connectFailed(Throwable cause, SocketAddress remoteAddress, ChannelPromise promise) {
            closeIfClosed();
            promise.tryFailure(annotateConnectException(cause, remoteAddress));
        }
    }

}
