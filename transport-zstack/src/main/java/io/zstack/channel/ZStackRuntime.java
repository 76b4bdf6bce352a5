package io.zstack.channel;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What all ZStack loops of the process share: which loops run, and which server channels listen. A server listens
 * on every loop's stack (as a socket with SO_REUSEPORT on every queue would), so a connection is accepted by the
 * stack its flow reaches; a loop that starts later gets the listeners of the servers already bound.
 */
final class ZStackRuntime {
    private static final Set<ZStackEventLoop> LOOPS = ConcurrentHashMap.newKeySet();
    private static final Set<ZStackServerSocketChannel> SERVERS = ConcurrentHashMap.newKeySet();
    /** Bound listener ports (address 0 = every address), so two servers never take the same one. */
    private static final Set<Long> PORTS = ConcurrentHashMap.newKeySet();
    private static int nextEphemeral = 32768;

    private ZStackRuntime() {
    }

    static void loopStarted(ZStackEventLoop loop) {
        LOOPS.add(loop);
        for (ZStackServerSocketChannel server : SERVERS) {
            server.listenOn(loop);
        }
    }

    static void loopStopped(ZStackEventLoop loop) {
        LOOPS.remove(loop);
    }

    /**
     * Reserves {@code port} on {@code address} (0 picks a free port) for a server; returns the port, or -1 if it is
     * taken.
     */
    static synchronized int reservePort(int address, int port) {
        if (port != 0) {
            if (PORTS.contains(key(0, port)) || PORTS.contains(key(address, port))
                    || (address == 0 && PORTS.stream().anyMatch(k -> (k & 0xffff) == port))) {
                return -1;
            }
            PORTS.add(key(address, port));
            return port;
        }
        for (int tries = 0; tries < 28232; tries++) {
            int candidate = nextEphemeral++;
            if (nextEphemeral > 60999) {
                nextEphemeral = 32768;
            }
            if (reservePort(address, candidate) == candidate) {
                return candidate;
            }
        }
        return -1;
    }

    static void releasePort(int address, int port) {
        PORTS.remove(key(address, port));
    }

    private static long key(int address, int port) {
        return (Integer.toUnsignedLong(address) << 16) | port;
    }

    /**
     * Starts listening on every running loop. The listen tasks are queued before bind returns, so any connect the
     * application issues after seeing the bind complete runs after them on every loop (the task queue is FIFO).
     */
    static void listen(ZStackServerSocketChannel server) {
        SERVERS.add(server);
        for (ZStackEventLoop loop : LOOPS) {
            if (loop.inEventLoop()) {
                server.listenOn(loop);
            } else if (!loop.isShuttingDown()) {
                try {
                    loop.execute(() -> server.listenOn(loop));
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    // the loop is shutting down: it will accept nothing anyway
                }
            }
        }
    }

    static void unlisten(ZStackServerSocketChannel server) {
        SERVERS.remove(server);
        for (ZStackEventLoop loop : LOOPS) {
            if (!loop.isShuttingDown()) {
                try {
                    loop.execute(() -> server.unlistenOn(loop));
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    // shutting down: its stack closes every listener
                }
            }
        }
    }

    static List<ZStackEventLoop> loops() {
        return new ArrayList<>(LOOPS);
    }
}
