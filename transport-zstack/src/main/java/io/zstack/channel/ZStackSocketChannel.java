package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.FileRegion;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.concurrent.Future;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufByteBuf;
import io.zstack.buffer.MbufPool;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpError;
import io.zstack.tcp.TcpSettings;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ConnectionPendingException;
import java.nio.channels.WritableByteChannel;
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
    /** The received segment being delivered in pieces (when the read size guess is smaller), or null. */
    private ByteBuf current;
    /** Received segments after {@link #current}, not yet wrapped (a chain), or 0. */
    private long rest;
    private boolean readScheduled;
    private boolean flushScheduled;
    private boolean eofHandled;
    /** How the stack ended the connection, reported once the data received before it is delivered. */
    private TcpError stackError;
    private ChannelPromise connectPromise;
    private Future<?> connectTimeout;
    private InetSocketAddress requestedRemote;
    private final Runnable readTask = this::readNow;
    private final Runnable flushTask = this::flushNow;

    /** A client channel; it opens its connection when connected. */
    public ZStackSocketChannel() {
        super(null);
        this.ownerLoop = null;
        this.config = new ZStackSocketChannelConfig(this, new TcpSettings());
    }

    /** An accepted connection, created on {@code loop}'s thread. */
    ZStackSocketChannel(ZStackServerSocketChannel parent, ZStackEventLoop loop, TcpConnection connection) {
        super(parent);
        this.ownerLoop = loop;
        this.connection = connection;
        this.config = new ZStackSocketChannelConfig(this, connection.settings());
        config.settings(connection.settings());
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
        this.config = new ZStackSocketChannelConfig(this, parent.config().listenerSettings());
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

    /** The TCP state (for statistics and tests); null before connect. Loop thread only. */
    public TcpConnection connection() {
        return connection;
    }

    private MbufPool pool() {
        return zstackLoop().pool();
    }

    @Override
    protected void doRegister() throws Exception {
        super.doRegister();
        config.defaultAllocator(zstackLoop().allocator());
        if (connection != null) {
            connection.minRtoChanged(); // an accepted child's options were set before it had a loop to apply them on
        }
        if (connection != null && connection.state() == io.zstack.tcp.TcpState.CLOSED) {
            events.onClosed(connection, connection.error()); // it died between accept and registration
        }
        if (inProcess != null) {
            // what the peer did before this registration (its wake-ups found no loop): a task, so it runs registered
            eventLoop().execute(inProcess::wakeRead);
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
            eventLoop().execute(ZStackSocketChannel.this::finishConnect);
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
            eventLoop().execute(() -> connectionClosed(error));
        }
    };

    private void scheduleRead() {
        if (!readScheduled && isRegistered()) {
            readScheduled = true;
            eventLoop().execute(readTask);
        }
    }

    // ============================================================================================ connect

    private void finishConnect() {
        ChannelPromise promise = connectPromise;
        if (promise == null) {
            return;
        }
        connectPromise = null;
        cancelConnectTimeout();
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

    private void failConnect(Throwable cause) {
        ChannelPromise promise = connectPromise;
        if (promise == null) {
            return;
        }
        connectPromise = null;
        cancelConnectTimeout();
        promise.tryFailure(cause);
        unsafe().close(unsafe().voidPromise());
    }

    private void cancelConnectTimeout() {
        if (connectTimeout != null) {
            connectTimeout.cancel(false);
            connectTimeout = null;
        }
    }

    protected boolean doConnect(SocketAddress remoteAddress, SocketAddress localAddress) throws Exception {
        if (connection != null || inProcess != null) {
            throw new AlreadyConnectedException();
        }
        InetSocketAddress target = ZStackAddresses.checked(remoteAddress);
        int address = ZStackAddresses.toInt(target.getAddress());
        int localIp = 0;
        int localPort = 0;
        InetSocketAddress bound = localAddress != null ? ZStackAddresses.checked(localAddress) : local;
        InProcessConnections.Outcome inProcessOutcome = InProcessConnections.connect(this, target, bound);
        if (inProcessOutcome != InProcessConnections.Outcome.TCP) {
            requestedRemote = target;
            if (inProcessOutcome == InProcessConnections.Outcome.BACKLOG_FULL) {
                retryInProcessConnect(target, bound);
            }
            return inProcessOutcome == InProcessConnections.Outcome.CONNECTED;
        }
        if (bound != null) {
            localIp = ZStackAddresses.toInt(bound.getAddress());
            localPort = bound.getPort();
        }
        ZStackEventLoop loop = zstackLoop();
        int source = localIp != 0 ? localIp : loop.stack().ip().sourceFor(address);
        TcpConnection c;
        int remotePort = target.getPort();
        int queues = loop.queueCount();
        // a loopback peer lives on whichever loop the flow hash picks; prefer another loop than this one, so the two
        // ends run on different threads as two kernel sockets would (a handler that blocks one cannot stall both)
        boolean spread = queues > 1 && loop.stack().ip().isLocal(address);
        try {
            // an ephemeral port whose flow hashes back to this loop's queue, so replies reach this stack
            c = loop.stack().tcp().connect(localIp, localPort, address, remotePort, config.settings().copy(),
                    queues > 1 ? port -> ZStackFlows.queueOf(address, remotePort, source, port, queues)
                            == loop.queueIndex() && (!spread || ZStackFlows.queueOf(source, port, address, remotePort,
                            queues) != loop.queueIndex()) : null, ZStackEventLoop.now());
        } catch (IllegalStateException e) {
            throw new java.net.BindException(e.getMessage());
        }
        connection = c;
        config.settings(c.settings());
        requestedRemote = target;
        local = ZStackAddresses.toSocketAddress(c.localAddress(), c.localPort());
        c.handler(events);
        if (c.state() == io.zstack.tcp.TcpState.CLOSED) {
            throw connectError(c.error(), target);
        }
        return false; // the handshake finishes in onConnected
    }

    /**
     * The in-process server's accept queue was full: try again shortly, as a dropped SYN is resent, until accepted,
     * timed out (CONNECT_TIMEOUT_MILLIS) or cancelled; refused if the server has gone meanwhile.
     */
    private void retryInProcessConnect(InetSocketAddress target, InetSocketAddress bound) {
        eventLoop().schedule(() -> {
            if (connectPromise == null || !isOpen()) {
                return; // timed out, cancelled or closed
            }
            try {
                switch (InProcessConnections.connect(this, target, bound)) {
                    case CONNECTED -> finishConnect();
                    case BACKLOG_FULL -> retryInProcessConnect(target, bound);
                    case TCP -> failConnect(new ConnectException("Connection refused: " + target));
                }
            } catch (IOException e) {
                failConnect(e);
            }
        }, 10, TimeUnit.MILLISECONDS);
    }

    private static IOException connectError(TcpError error, InetSocketAddress target) {
        if (error == TcpError.TIMED_OUT) {
            return new ConnectTimeoutException("connection timed out: " + target);
        }
        if (error == TcpError.UNREACHABLE) {
            return new NoRouteToHostException("No route to host: " + target);
        }
        return new ConnectException("Connection refused: " + target);
    }

    @Override
    protected void doBind(SocketAddress localAddress) throws Exception {
        InetSocketAddress requested = ZStackAddresses.checked(localAddress);
        int address = ZStackAddresses.toInt(requested.getAddress());
        if (address != 0 && !zstackLoop().stack().ip().isLocal(address)) {
            throw new java.net.BindException("Cannot assign requested address: " + requested);
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
        if (connection != null && (hasInput(connection) || connection.isInputShutdown())) {
            scheduleRead();
        }
    }

    private void readNow() {
        readScheduled = false;
        try {
            readReceived();
        } catch (Throwable t) {
            // the transport's own read path failed (a handler's exceptions go through the pipeline already), for
            // example a RecvByteBufAllocator that cannot make a handle: the data stays queued and nothing would
            // schedule another read, so tell the application instead of leaving the channel silently stalled
            pipeline().fireExceptionCaught(t);
        }
    }

    private void readReceived() {
        TcpConnection c = connection;
        if (c == null || !isOpen()) {
            return;
        }
        if (inputShutdown) {
            discardInput(c);
            return;
        }
        if (!readPending && !config.isAutoRead()) {
            // data waits for read() (the receive window closes meanwhile); the end of input is told at once
            if (!hasInput(c)) {
                inputDrained(c);
            }
            return;
        }
        RecvByteBufAllocator.Handle handle = unsafe().recvBufAllocHandle();
        handle.reset(config);
        ChannelPipeline pipeline = pipeline();
        boolean readSomething = false;
        do {
            // the allocator's guess bounds each read, as the buffer size bounds read(2); reporting the guess as the
            // attempt (not what arrived) lets the adaptive allocator size reads as it does for NIO and epoll
            int limit = Math.max(1, handle.guess());
            // the time of this read, not of the loop's start: a handler that wrote (an echo) sent segments stamped
            // since, and a window update stamped earlier would carry an older TSval, which the peer drops (PAWS)
            ByteBuf msg = nextMessage(c, limit, ZStackEventLoop.now());
            if (msg == null) {
                break;
            }
            readPending = false;
            readSomething = true;
            int n = msg.readableBytes();
            handle.attemptedBytesRead(limit);
            handle.lastBytesRead(n);
            handle.incMessagesRead(1);
            pipeline.fireChannelRead(msg);
        } while (handle.continueReading() && isOpen());
        handle.readComplete();
        if (readSomething) {
            pipeline.fireChannelReadComplete();
        }
        if (!isOpen() || connection == null) {
            return;
        }
        if (hasInput(c)) {
            if (readPending || config.isAutoRead()) {
                scheduleRead(); // the rest next round, so other channels get their turn
            }
        } else {
            inputDrained(c);
        }
    }

    /** Everything received was delivered: report how the input ended, if it did. */
    private void inputDrained(TcpConnection c) {
        if (c.isInputShutdown()) {
            inputEnded();
        } else if (stackError != null) {
            failConnection(stackError);
        }
    }

    /** Received bytes not yet delivered: in the stack, or taken from it and held here. */
    private boolean hasInput(TcpConnection c) {
        return current != null || rest != 0 || c.readable() > 0;
    }

    /**
     * The next message of at most {@code limit} bytes: the whole current segment when it fits (zero copy, the
     * buffer owns the mbuf), or a slice of it (still zero copy, sharing the mbuf). Null when nothing is received.
     */
    private ByteBuf nextMessage(TcpConnection c, int limit, long now) {
        ByteBuf first = nextPiece(c, limit, now);
        if (first == null || first.readableBytes() >= limit || !hasInput(c)) {
            return first;
        }
        // as read(2) fills its buffer with whatever has arrived, a read takes every segment waiting, up to the
        // guess: several segments make one composite message of mbuf views (still no copy)
        CompositeByteBuf composite = config.getAllocator().compositeDirectBuffer(Integer.MAX_VALUE);
        composite.addComponent(true, first);
        ByteBuf piece;
        while (composite.readableBytes() < limit
                && (piece = nextPiece(c, limit - composite.readableBytes(), now)) != null) {
            composite.addComponent(true, piece);
        }
        return composite;
    }

    /** The next piece of received data, at most {@code limit} bytes of one segment; null when nothing waits. */
    private ByteBuf nextPiece(TcpConnection c, int limit, long now) {
        while (current == null) {
            long segment = rest;
            if (segment == 0) {
                segment = c.read(now);
                if (segment == 0) {
                    return null;
                }
            }
            rest = Mbuf.next(segment);
            int length = Mbuf.dataLen(segment);
            // each segment becomes a buffer of its own
            Mbuf.setNext(segment, 0);
            Mbuf.setNbSegs(segment, 1);
            Mbuf.setPktLen(segment, length);
            if (length == 0) {
                pool().freeSegment(segment);
                continue;
            }
            current = config.isCopyMode() ? copyOut(segment, length)
                    : zstackLoop().allocator().wrapReceived(segment);
        }
        if (current.readableBytes() <= limit) {
            ByteBuf whole = current;
            current = null;
            return whole;
        }
        return current.readRetainedSlice(limit);
    }

    /** Frees what was taken from the stack and not delivered. */
    private void releaseHeldInput() {
        if (current != null) {
            current.release();
            current = null;
        }
        if (rest != 0) {
            pool().free(rest);
            rest = 0;
        }
    }

    private ByteBuf copyOut(long segment, int length) {
        ByteBuf buf = config.getAllocator().directBuffer(length);
        try {
            buf.writeBytes(MemorySegment.ofAddress(Mbuf.dataAddress(segment)).reinterpret(length).asByteBuffer());
        } finally {
            pool().freeSegment(segment);
        }
        return buf;
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

    private void discardInput(TcpConnection c) {
        releaseHeldInput();
        long chain;
        long now = ZStackEventLoop.now();
        while ((chain = c.read(now)) != 0) {
            pool().free(chain);
        }
    }

    /** The stack is done with the connection: orderly (error null) or not. */
    private void connectionClosed(TcpError error) {
        if (connectPromise != null) {
            failConnect(connectError(error == null ? TcpError.REFUSED : error, requestedRemote));
            return;
        }
        if (!isOpen()) {
            return;
        }
        if (error != null) {
            stackError = error;
        }
        if (hasInput(connection)) {
            scheduleRead(); // what arrived before the end is delivered first (a reset is reported after it)
        } else {
            inputDrained(connection);
        }
    }

    void failConnection(TcpError error) {
        IOException cause = switch (error) {
            case RESET -> new IOException("Connection reset by peer");
            case TIMED_OUT -> new IOException("Connection timed out");
            case UNREACHABLE -> new NoRouteToHostException("No route to host");
            case REFUSED -> new ConnectException("Connection refused");
            case ABORTED -> new IOException("Connection aborted");
        };
        stackError = null;
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
        // the write sees the connection as it is now: what waits in the devices (a RST, an ACK opening the window) is
        // processed first, as a kernel has processed it before send() is called. Stack events only queue tasks, so
        // nothing re-enters this channel from here.
        zstackLoop().stack().input(ZStackEventLoop.now());
        try {
            writeQueued(in);
        } finally {
            if (connection != null) {
                connection.push(ZStackEventLoop.now()); // everything this flush queued, in as few segments as fit
            }
            // the frames wait for the loop's transmit burst at the end of this round (ZStackEventLoop.run): every
            // flush of a round shares one tx_burst, as F-stack and Linux's xmit_more batch them
        }
    }

    private void writeQueued(ChannelOutboundBuffer in) throws Exception {
        TcpConnection c = connection;
        long now = ZStackEventLoop.now();
        for (;;) {
            Object msg = in.current();
            if (msg == null) {
                return;
            }
            if (c == null || !c.state().canSend() || c.isOutputShutdown()) {
                throw c != null && c.error() == TcpError.RESET ? new IOException("Connection reset by peer")
                        : new ClosedChannelException();
            }
            long space = c.sendSpace();
            if (space <= 0) {
                return; // onWritable flushes again when ACKs free space
            }
            if (msg instanceof ByteBuf buf) {
                int readable = buf.readableBytes();
                if (readable == 0) {
                    in.remove();
                    continue;
                }
                if (!config.isCopyMode() && buf instanceof CompositeByteBuf composite) {
                    int queued = handOffComponents(c, composite, readable);
                    if (queued == readable) {
                        in.remove();
                        continue;
                    }
                    if (queued > 0) {
                        in.removeBytes(queued); // the send buffer is full: the rest when ACKs free space
                        return;
                    }
                }
                long handedOff = config.isCopyMode() ? 0 : handOff(buf, readable);
                if (handedOff != 0) {
                    if (!c.queue(handedOff)) {
                        pool().free(handedOff);
                        throw new ClosedChannelException();
                    }
                    in.remove();
                    continue;
                }
                int n = (int) Math.min(readable, space);
                int toTail = Math.min(n, c.sendTailRoom());
                if (toTail > 0) {
                    // small copied writes share the last mbuf instead of taking one each
                    buf.getBytes(buf.readerIndex(),
                            MemorySegment.ofAddress(c.sendTailAddress()).reinterpret(toTail).asByteBuffer());
                    c.sendTailFilled(toTail);
                    in.removeBytes(toTail);
                    continue;
                }
                long chain = copyIn(buf, buf.readerIndex(), n);
                if (chain == 0) {
                    scheduleRetry();
                    return;
                }
                if (!c.queue(chain)) {
                    pool().free(chain);
                    throw new ClosedChannelException();
                }
                in.removeBytes(n);
            } else {
                FileRegion region = (FileRegion) msg;
                long left = region.count() - region.transferred();
                if (left <= 0) {
                    in.remove();
                    continue;
                }
                MbufSink sink = new MbufSink((int) Math.min(left, space));
                long n = region.transferTo(sink, region.transferred());
                if (sink.chain == 0) {
                    if (n < 0 || sink.poolEmpty) {
                        if (sink.poolEmpty) {
                            scheduleRetry();
                            return;
                        }
                        throw new IOException("FileRegion ended early: " + region);
                    }
                    continue;
                }
                if (!c.queue(sink.chain)) {
                    pool().free(sink.chain);
                    throw new ClosedChannelException();
                }
                in.progress(sink.written);
                if (region.transferred() >= region.count()) {
                    in.remove();
                }
            }
        }
    }

    private void scheduleRetry() {
        // the mbuf pool is empty: try again shortly, when ACKs have returned mbufs
        if (!flushScheduled) {
            flushScheduled = true;
            eventLoop().schedule(flushTask, 1, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * The mbuf holding {@code buf}'s readable bytes, made ready for the send queue with a reference of its own, or
     * 0 when the buffer is not one mbuf of this loop's pool that nothing else has queued.
     */
    private long handOff(ByteBuf buf, int readable) {
        long m = handOffCandidate(buf, readable);
        return m == 0 ? 0 : takeReference(buf, m, readable);
    }

    /** Gives the send queue its own reference to {@code m}, {@code buf}'s candidate, framed to buf's bytes. */
    private static long takeReference(ByteBuf buf, long m, int readable) {
        long start = buf.memoryAddress() + buf.readerIndex();
        // the send queue's reference; the ByteBuf's goes when in.remove() releases it
        MbufByteBuf.unwrapMbuf(buf).pool().refcntUpdate(m, 1);
        Mbuf.setDataOff(m, (int) (start - Mbuf.bufAddr(m)));
        Mbuf.setDataLen(m, readable);
        Mbuf.setPktLen(m, readable);
        Mbuf.setNbSegs(m, 1);
        Mbuf.setNext(m, 0);
        return m;
    }

    /**
     * A composite whose every component can be handed off (an echoed read, an aggregated HTTP body, a header and a
     * body written together, a large allocated buffer) goes to the send queue piece by piece, each by reference, as
     * many whole pieces as the send buffer takes now. Returns the bytes queued, or -1, having changed nothing, if any
     * piece would need a copy; the caller then copies the whole.
     */
    private int handOffComponents(TcpConnection c, CompositeByteBuf composite, int readable)
            throws ClosedChannelException {
        if (composite.refCnt() != 1) {
            return -1; // someone else holds the composite and may change its pieces: see handOffCandidate
        }
        List<ByteBuf> parts = composite.decompose(composite.readerIndex(), readable);
        long[] roots = new long[parts.size()];
        for (int i = 0; i < roots.length; i++) {
            ByteBuf part = parts.get(i);
            roots[i] = part.readableBytes() == 0 ? -1 : handOffCandidate(part, part.readableBytes());
            if (roots[i] == 0) {
                return -1;
            }
            for (int j = 0; j < i; j++) {
                if (roots[j] == roots[i]) {
                    return -1; // two pieces of one mbuf: each would need its own view
                }
            }
        }
        // whole pieces while the send buffer has room (a large allocated buffer is many segment-sized pieces): the
        // caller leaves the rest in the outbound buffer, its pieces untouched, for when ACKs free space
        int queued = 0;
        for (int i = 0; i < roots.length && c.sendSpace() > 0; i++) {
            ByteBuf part = parts.get(i);
            int n = part.readableBytes();
            if (n == 0) {
                continue;
            }
            long m = takeReference(part, roots[i], n);
            if (!c.queue(m)) {
                pool().free(m);
                throw new ClosedChannelException();
            }
            queued += n;
        }
        return queued;
    }

    /** The mbuf {@link #handOff} would hand over for {@code buf}, or 0; changes nothing. */
    private long handOffCandidate(ByteBuf buf, int readable) {
        MbufByteBuf root = MbufByteBuf.unwrapMbuf(buf);
        if (root == null || root.mbuf() == 0 || !buf.hasMemoryAddress()) {
            return 0;
        }
        if (root.refCnt() != 1) {
            // Someone besides this write holds the buffer (a decoder's cumulation whose frame this is, an owner that
            // retained it to reuse): once the write releases its reference, Netty lets them change the bytes, which
            // TCP needs until they are acknowledged and a loopback peer reads in place. Only the last reference
            // goes by reference.
            return 0;
        }
        MbufPool owner = root.pool();
        if (owner != pool() && owner != zstackLoop().largePool()) {
            return 0; // another loop's buffer (received over the loopback): the send queue takes this loop's only
        }
        long m = root.mbuf();
        if (!owner.owns(m)) {
            return 0; // received by another loop's stack from its pool (loopback): the send queue takes our own only
        }
        if (owner.refcnt(m) != 1) {
            return 0; // already in a send queue (the same buffer written twice): copy
        }
        long start = buf.memoryAddress() + buf.readerIndex();
        long bufStart = Mbuf.bufAddr(m);
        if (start < bufStart || start + readable > bufStart + Mbuf.bufLen(m)) {
            return 0;
        }
        return m;
    }

    /**
     * Copies [index, index+length) of buf into a new mbuf chain; 0 if the pool ran out. Each mbuf takes at most one
     * segment's payload, so TCP cuts every segment at an mbuf's start and writes its headers in place in front.
     */
    private long copyIn(ByteBuf buf, int index, int length) {
        MbufPool pool = pool();
        TcpConnection c = connection;
        int perMbuf = c == null ? Integer.MAX_VALUE : Math.max(1, c.sendMss());
        long head = 0;
        int done = 0;
        while (done < length) {
            long m = pool.alloc();
            if (m == 0) {
                pool.free(head);
                return 0;
            }
            int n = Math.min(Math.min(length - done, Mbuf.tailroom(m)), perMbuf);
            long dst = Mbuf.append(m, n);
            buf.getBytes(index + done, MemorySegment.ofAddress(dst).reinterpret(n).asByteBuffer());
            done += n;
            if (head == 0) {
                head = m;
            } else {
                Mbuf.chain(head, m);
            }
        }
        return head;
    }

    /** A WritableByteChannel that fills mbufs, for FileRegion.transferTo. */
    private final class MbufSink implements WritableByteChannel {
        private final int limit;
        long chain;
        int written;
        boolean poolEmpty;

        MbufSink(int limit) {
            this.limit = limit;
        }

        @Override
        public int write(ByteBuffer src) {
            int n = Math.min(src.remaining(), limit - written);
            if (n <= 0) {
                return 0;
            }
            int start = src.position();
            ByteBuffer slice = src.slice(start, n);
            long part = copyIn(io.netty.buffer.Unpooled.wrappedBuffer(slice), 0, n);
            if (part == 0) {
                poolEmpty = true;
                return 0;
            }
            if (chain == 0) {
                chain = part;
            } else {
                Mbuf.chain(chain, part);
            }
            src.position(start + n);
            written += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
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
            throw new java.nio.channels.NotYetConnectedException();
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
            promise.setFailure(new java.nio.channels.NotYetConnectedException());
            return;
        }
        // SHUT_RD: what arrives from now on is discarded (the peer is not told, as with Linux)
        inputShutdown = true;
        if (connection != null) {
            discardInput(connection);
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
        cancelConnectTimeout();
        ChannelPromise promise = connectPromise;
        if (promise != null) {
            connectPromise = null;
            promise.tryFailure(new ClosedChannelException());
        }
        releaseHeldInput();
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
            // the promise stays cancellable: cancelling a pending connect closes the channel (see below)
            if (promise.isDone() || !ensureOpen(promise)) {
                return;
            }
            try {
                if (connectPromise != null) {
                    throw new ConnectionPendingException();
                }
                if (connection != null || inProcess != null) {
                    throw new AlreadyConnectedException();
                }
                boolean wasActive = isActive();
                connectPromise = promise;
                if (doConnect(remoteAddress, localAddress)) {
                    finishConnect();
                    return;
                }
                int timeoutMillis = config.getConnectTimeoutMillis();
                if (timeoutMillis > 0) {
                    connectTimeout = eventLoop().schedule(() -> {
                        ChannelPromise pending = connectPromise;
                        if (pending != null) {
                            failConnect(new ConnectTimeoutException("connection timed out after " + timeoutMillis
                                    + " ms: " + remoteAddress));
                        }
                    }, timeoutMillis, TimeUnit.MILLISECONDS);
                }
                promise.addListener((ChannelFutureListener) f -> {
                    if (f.isCancelled()) {
                        cancelConnectTimeout();
                        connectPromise = null;
                        close(voidPromise());
                    }
                });
            } catch (Throwable t) {
                connectPromise = null;
                closeIfClosed();
                promise.tryFailure(annotateConnectException(t, remoteAddress));
            }
        }
    }

}
