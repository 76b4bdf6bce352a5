package io.zstack.tcp;

import java.util.ArrayDeque;

/**
 * A listening socket: its settings (copied into each connection it creates), the half-open connections it is
 * handshaking (SYN backlog), and the established ones waiting for {@link #accept} (accept backlog).
 */
public final class TcpListener {
    /** Events for the layer above. */
    public interface Handler {
        /** A connection is waiting in the accept queue. */
        void onAcceptable(TcpListener listener);
    }

    final TcpLayer layer;
    final int localAddress;
    final int localPort;
    final TcpSettings settings;
    private final ArrayDeque<TcpConnection> acceptQueue = new ArrayDeque<>();
    int halfOpen;
    private Handler handler;
    private boolean closed;

    TcpListener(TcpLayer layer, int localAddress, int localPort, TcpSettings settings) {
        this.layer = layer;
        this.localAddress = localAddress;
        this.localPort = localPort;
        this.settings = settings;
    }

    public int localAddress() {
        return localAddress;
    }

    public int localPort() {
        return localPort;
    }

    public TcpSettings settings() {
        return settings;
    }

    public void handler(Handler h) {
        this.handler = h;
    }

    /** The next established connection, or null. The caller sets its handler before the next poll. */
    public TcpConnection accept() {
        TcpConnection c = acceptQueue.poll();
        if (c != null) {
            c.listener = null;
        }
        return c;
    }

    public int pending() {
        return acceptQueue.size();
    }

    /** A half-open connection of ours completed its handshake; false if the accept queue is full. */
    boolean established(TcpConnection c) {
        if (acceptQueue.size() >= settings.acceptBacklog()) {
            layer.counters().listenOverflows++;
            return false;
        }
        halfOpen--;
        acceptQueue.add(c);
        if (handler != null) {
            handler.onAcceptable(this);
        }
        return true;
    }

    /** A connection created by a cookie goes straight to the accept queue; false if it is full. */
    boolean enqueueEstablished(TcpConnection c) {
        if (acceptQueue.size() >= settings.acceptBacklog()) {
            layer.counters().listenOverflows++;
            return false;
        }
        acceptQueue.add(c);
        if (handler != null) {
            handler.onAcceptable(this);
        }
        return true;
    }

    /** A connection we created died before being accepted. */
    void forget(TcpConnection c) {
        if (!acceptQueue.remove(c)) {
            halfOpen--;
        }
    }

    boolean synBacklogFull() {
        return halfOpen >= settings.synBacklog();
    }

    /** Whether a new SYN may create state or must be answered with a cookie (or dropped). */
    boolean acceptQueueFull() {
        return acceptQueue.size() >= settings.acceptBacklog();
    }

    public boolean isClosed() {
        return closed;
    }

    /** Stops listening: pending connections are reset, the port is released. */
    public void close(long nowNanos) {
        if (closed) {
            return;
        }
        closed = true;
        layer.unlisten(this);
        TcpConnection c;
        while ((c = acceptQueue.poll()) != null) {
            c.listener = null;
            c.abort(nowNanos);
        }
    }
}
