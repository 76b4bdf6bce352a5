package io.zstack.channel;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ConnectTimeoutException;
import io.netty.util.concurrent.Future;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpError;
import io.zstack.tcp.TcpState;
import java.io.IOException;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.SocketAddress;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ConnectionPendingException;
import java.util.concurrent.TimeUnit;

/**
 * How a client channel connects: over the in-process path when a ZStack server of this JVM listens at the target
 * (retried while its accept queue is full), else over TCP from an ephemeral port whose flow hashes back to the
 * channel's loop; the promise completes when the handshake does, fails with the error a socket would give (refused,
 * unreachable, timed out after CONNECT_TIMEOUT_MILLIS), and cancelling it closes the channel. Loop thread only.
 */
final class SocketConnect {
    private final ZStackSocketChannel channel;
    private ChannelPromise promise;
    private Future<?> timeout;
    private InetSocketAddress requestedRemote;

    SocketConnect(ZStackSocketChannel channel) {
        this.channel = channel;
    }

    /** A connect is under way. */
    boolean pending() {
        return promise != null;
    }

    /** The address the application asked for (the remote address once connected). */
    InetSocketAddress requestedRemote() {
        return requestedRemote;
    }

    /** Unsafe.connect: starts connecting; the promise stays cancellable (cancelling it closes the channel). */
    void connect(SocketAddress remoteAddress, SocketAddress localAddress, ChannelPromise promise) {
        try {
            if (this.promise != null) {
                throw new ConnectionPendingException();
            }
            if (channel.connection() != null || channel.inProcess != null) {
                throw new AlreadyConnectedException();
            }
            this.promise = promise;
            if (open(remoteAddress, localAddress)) {
                finish();
                return;
            }
            int timeoutMillis = channel.config().getConnectTimeoutMillis();
            if (timeoutMillis > 0) {
                timeout = channel.eventLoop().schedule(() -> {
                    if (this.promise != null) {
                        fail(new ConnectTimeoutException("connection timed out after " + timeoutMillis + " ms: "
                                + remoteAddress));
                    }
                }, timeoutMillis, TimeUnit.MILLISECONDS);
            }
            promise.addListener((ChannelFutureListener) f -> {
                if (f.isCancelled()) {
                    cancelTimeout();
                    this.promise = null;
                    channel.unsafe().close(channel.unsafe().voidPromise());
                }
            });
        } catch (Throwable t) {
            if (this.promise == promise) {
                this.promise = null; // this attempt failed; a connect refused as pending leaves the one under way
            }
            channel.connectFailed(t, remoteAddress, promise);
        }
    }

    /** Opens the connection; true when it is already established (in-process), false while TCP's handshake runs. */
    private boolean open(SocketAddress remoteAddress, SocketAddress localAddress) throws Exception {
        InetSocketAddress target = ZStackAddresses.checked(remoteAddress);
        int address = ZStackAddresses.toInt(target.getAddress());
        InetSocketAddress bound = localAddress != null ? ZStackAddresses.checked(localAddress) : channel.local;
        InProcessConnections.Outcome inProcessOutcome = InProcessConnections.connect(channel, target, bound);
        if (inProcessOutcome != InProcessConnections.Outcome.TCP) {
            requestedRemote = target;
            if (inProcessOutcome == InProcessConnections.Outcome.BACKLOG_FULL) {
                retryInProcess(target, bound);
            }
            return inProcessOutcome == InProcessConnections.Outcome.CONNECTED;
        }
        int localIp = 0;
        int localPort = 0;
        if (bound != null) {
            localIp = ZStackAddresses.toInt(bound.getAddress());
            localPort = bound.getPort();
        }
        ZStackEventLoop loop = channel.zstackLoop();
        int source = localIp != 0 ? localIp : loop.stack().ip().sourceFor(address);
        TcpConnection c;
        int remotePort = target.getPort();
        int queues = loop.queueCount();
        // a loopback peer lives on whichever loop the flow hash picks; prefer another loop than this one, so the two
        // ends run on different threads as two kernel sockets would (a handler that blocks one cannot stall both)
        boolean spread = queues > 1 && loop.stack().ip().isLocal(address);
        try {
            // an ephemeral port whose flow hashes back to this loop's queue, so replies reach this stack
            c = loop.stack().tcp().connect(localIp, localPort, address, remotePort,
                    channel.config().settings(),
                    queues > 1 ? port -> ZStackFlows.queueOf(address, remotePort, source, port, queues)
                            == loop.queueIndex() && (!spread || ZStackFlows.queueOf(source, port, address, remotePort,
                            queues) != loop.queueIndex()) : null, ZStackEventLoop.now());
        } catch (IllegalStateException e) {
            throw new BindException(e.getMessage());
        }
        requestedRemote = target;
        channel.connected(c);
        if (c.state() == TcpState.CLOSED) {
            throw error(c.error(), target);
        }
        return false; // the handshake finishes in onConnected
    }

    /**
     * The in-process server's accept queue was full: try again shortly, as a dropped SYN is resent, until accepted,
     * timed out (CONNECT_TIMEOUT_MILLIS) or cancelled; refused if the server has gone meanwhile.
     */
    private void retryInProcess(InetSocketAddress target, InetSocketAddress bound) {
        channel.eventLoop().schedule(() -> {
            if (promise == null || !channel.isOpen()) {
                return; // timed out, cancelled or closed
            }
            try {
                switch (InProcessConnections.connect(channel, target, bound)) {
                    case CONNECTED -> finish();
                    case BACKLOG_FULL -> retryInProcess(target, bound);
                    case TCP -> fail(new ConnectException("Connection refused: " + target));
                }
            } catch (IOException e) {
                fail(e);
            }
        }, 10, TimeUnit.MILLISECONDS);
    }

    /** The connection is established: the promise succeeds and the channel turns active. */
    void finish() {
        ChannelPromise p = promise;
        if (p == null) {
            return;
        }
        promise = null;
        cancelTimeout();
        channel.activated(requestedRemote, p);
    }

    /** The attempt failed: the promise fails with {@code cause} and the channel closes. */
    void fail(Throwable cause) {
        ChannelPromise p = promise;
        if (p == null) {
            return;
        }
        promise = null;
        cancelTimeout();
        p.tryFailure(cause);
        channel.unsafe().close(channel.unsafe().voidPromise());
    }

    /** The stack ended the connection during the handshake. */
    void closedByStack(TcpError error) {
        fail(error(error == null ? TcpError.REFUSED : error, requestedRemote));
    }

    /** The channel closes: a pending connect fails. */
    void abandon() {
        cancelTimeout();
        ChannelPromise p = promise;
        if (p != null) {
            promise = null;
            p.tryFailure(new ClosedChannelException());
        }
    }

    private void cancelTimeout() {
        if (timeout != null) {
            timeout.cancel(false);
            timeout = null;
        }
    }

    private static IOException error(TcpError error, InetSocketAddress target) {
        if (error == TcpError.TIMED_OUT) {
            return new ConnectTimeoutException("connection timed out: " + target);
        }
        if (error == TcpError.UNREACHABLE) {
            return new NoRouteToHostException("No route to host: " + target);
        }
        return new ConnectException("Connection refused: " + target);
    }
}
