package io.zstack.channel;

import io.zstack.tcp.TcpSettings;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;

/**
 * The listening side of one {@link ZStackEventLoopGroup}, which is one host: its servers' listeners and the ports
 * they hold. A server listens on every loop's stack of its group (as a socket with SO_REUSEPORT on every
 * queue would), so a connection is accepted by the stack its flow reaches. Nothing here is shared between groups:
 * two groups are two hosts, with a port space each.
 */
final class GroupListeners {
    private final List<ZStackEventLoop> loops;
    /** Bound listener ports (address 0 = every address), so two servers never take the same one. */
    private final Set<Long> ports = ConcurrentHashMap.newKeySet();
    private int nextEphemeral = 32768;

    GroupListeners(List<ZStackEventLoop> loops) {
        this.loops = List.copyOf(loops);
    }

    /** A fresh copy of this host's TCP defaults (see {@link ZStackConfig.Builder#tcp}). */
    TcpSettings tcpDefaults() {
        return loops.getFirst().config().tcpSettings();
    }

    /** Whether {@code address} (0: any) belongs to this group's stacks, which share one interface configuration. */
    boolean isLocal(int address) {
        return address == 0 || loops.getFirst().stack().ip().isLocal(address);
    }

    /**
     * Reserves {@code port} on {@code address} (0 picks a free port) for a server; returns the port, or -1 if it is
     * taken.
     */
    synchronized int reservePort(int address, int port) {
        if (port != 0) {
            if (ports.contains(key(0, port)) || ports.contains(key(address, port))
                    || (address == 0 && ports.stream().anyMatch(k -> (k & 0xffff) == port))) {
                return -1;
            }
            ports.add(key(address, port));
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

    void releasePort(int address, int port) {
        ports.remove(key(address, port));
    }

    private static long key(int address, int port) {
        return (Integer.toUnsignedLong(address) << 16) | port;
    }

    /**
     * Starts listening on every loop of the group (a loop not yet running starts with this, so its queue is polled
     * from now on). The installations are queued before bind returns and each loop runs them before it processes the
     * frames of its next receive burst ({@link ZStackEventLoop#listenBeforeInput}), so a SYN sent after the bind
     * completed finds its listener on whichever loop the flow hash picks.
     */
    void listen(ZStackServerSocketChannel server) {
        for (ZStackEventLoop loop : loops) {
            if (loop.inEventLoop()) {
                server.listenOn(loop);
            } else if (!loop.isShuttingDown()) {
                try {
                    // before that loop processes any frame it receives from now on, not after its next input
                    loop.listenBeforeInput(() -> server.listenOn(loop));
                } catch (RejectedExecutionException e) {
                    // the loop is stopping: it will accept nothing anyway
                }
            }
        }
    }

    void unlisten(ZStackServerSocketChannel server) {
        for (ZStackEventLoop loop : loops) {
            onLoop(loop, () -> server.unlistenOn(loop)); // shutting down: its stack closes every listener
        }
    }

    private static void onLoop(ZStackEventLoop loop, Runnable task) {
        if (!loop.isShuttingDown()) {
            try {
                loop.execute(task);
            } catch (RejectedExecutionException e) {
                // the loop is stopping between the check and the task
            }
        }
    }
}
