package io.zstack.channel;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.zstack.shm.Rendezvous;
import io.zstack.shm.SharedRegion;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The cross-process path: a connect from a ZStack channel to a port that another ZStack process of this node serves
 * is carried through a {@link SharedRegion} both processes map, without TCP (see
 * {@link ZStackConfig.Builder#crossProcess}). The processes meet in a {@link Rendezvous} directory: a server of a group
 * with the path on is published there when it binds; a client of such a group, finding no server of its own process
 * at the target, looks the port up there, creates the region, and hands it to the serving process on its Unix socket;
 * that process checks the client's credentials, maps the region and queues a child for its server's accept.
 *
 * <p>Which connects take it: 127/8 is the node's loopback (a server bound to it or to every address of any process),
 * and any other address is the process whose group has it. A port nobody publishes, or whose process is gone, is
 * left to TCP: over 127/8 the client's own stack then refuses it, as the kernel refuses a port nobody listens on.
 * Ports are first come, first served: a second process binding an address and port another live process publishes
 * still binds (its stack is its own host) but is not published (logged).
 *
 * <p>The handshake blocks the client's loop for one exchange on a Unix socket with the other process's rendezvous
 * thread (never its loop), at most the connect timeout (5 s at most).
 */
final class CrossProcessConnections {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(CrossProcessConnections.class);
    private static final long MIN_RING = 256 * 1024;
    private static final long MAX_RING = 64L * 1024 * 1024;
    private static final int MAX_HANDSHAKE_MILLIS = 5_000;

    /** This process's published servers: where each is published, and its host (its child group's). */
    private static final Map<ZStackServerSocketChannel, Published> PUBLISHED = new ConcurrentHashMap<>();

    private CrossProcessConnections() {
    }

    private record Published(Rendezvous rendezvous, GroupListeners host, int address, int port) {
    }

    /** A server bound in {@code children}'s host: published if that group has the path on. */
    static void listen(ZStackServerSocketChannel server, ZStackEventLoopGroup children, int address, int port) {
        ZStackConfig config = children.loops().getFirst().config();
        if (config.crossProcessDirectory() == null) {
            return;
        }
        try {
            Rendezvous rendezvous = Rendezvous.in(config.crossProcessDirectory(), config.crossProcessGroupShared());
            int[] addresses = {config.address().address()};
            if (rendezvous.register(address, port, addresses, (request, region, control, replied) ->
                    accept(server, request, region, control, replied))) {
                PUBLISHED.put(server, new Published(rendezvous, children.listeners(), address, port));
            } else {
                logger.warn("{}:{} is served by another process of this node: {} is not published for the "
                        + "cross-process path", ZStackAddresses.toSocketAddress(address, port).getAddress()
                        .getHostAddress(), port, server);
            }
        } catch (IOException e) {
            logger.warn("cross-process path unavailable for " + server + ": " + e.getMessage());
        }
    }

    static void unlisten(ZStackServerSocketChannel server) {
        Published p = PUBLISHED.remove(server);
        if (p != null) {
            p.rendezvous().unregister(p.address(), p.port());
        }
    }

    /** On the rendezvous thread: a client of another process connects to {@code server}. */
    private static Rendezvous.Reply accept(ZStackServerSocketChannel server, Rendezvous.Request request,
                                           SharedRegion region, SocketChannel control,
                                           CompletionStage<Void> replied) {
        if (!server.isOpen()) {
            return Rendezvous.Reply.REFUSED;
        }
        InetSocketAddress local = ZStackAddresses.toSocketAddress(request.targetAddress(), request.targetPort());
        InetSocketAddress remote = ZStackAddresses.toSocketAddress(request.clientAddress(), request.clientPort());
        ZStackSocketChannel child = new ZStackSocketChannel(server, local, remote);
        CrossProcessEnd end = CrossProcessEnd.acceptor(child, region, control);
        child.inProcess = end;
        InProcessConnections.opened(end);
        if (!server.acceptInProcess(child)) {
            child.inProcess = null;
            InProcessConnections.closed(end);
            return server.isOpen() ? Rendezvous.Reply.BUSY : Rendezvous.Reply.REFUSED;
        }
        // the child may run (and close) before the answer is written: its socket is watched, or closed, only after
        replied.whenComplete((ok, failed) -> end.watchPeer());
        return Rendezvous.Reply.ACCEPTED;
    }

    /**
     * Connects {@code client} through another process's region if its group has the path on and a process of this
     * node serves {@code target} (a server of the client's own host is left to TCP, which reaches it).
     */
    static InProcessConnections.Outcome connect(ZStackSocketChannel client, InetSocketAddress target,
                                                InetSocketAddress bound, GroupListeners own) throws IOException {
        ZStackEventLoop loop = client.zstackLoop();
        ZStackConfig config = loop.config();
        if (config.crossProcessDirectory() == null) {
            return InProcessConnections.Outcome.TCP;
        }
        int address = ZStackAddresses.toInt(target.getAddress());
        int port = target.getPort();
        if (servedByOwnHost(own, address, port)) {
            return InProcessConnections.Outcome.TCP;
        }
        Rendezvous rendezvous = Rendezvous.in(config.crossProcessDirectory(), config.crossProcessGroupShared());
        long pid = rendezvous.servingPid(address, port);
        if (pid < 0) {
            return InProcessConnections.Outcome.TCP;
        }
        InProcessConnections.ClientPort from = InProcessConnections.ClientPort.reserve(loop, own, address, bound);
        Rendezvous.Connected connected;
        try {
            int timeout = client.config().getConnectTimeoutMillis();
            connected = rendezvous.connect(pid, new Rendezvous.Request(from.source(), from.port(), address, port),
                    ringCapacity(client.config()), timeout <= 0 ? MAX_HANDSHAKE_MILLIS
                            : Math.min(timeout, MAX_HANDSHAKE_MILLIS));
        } catch (IOException | RuntimeException e) {
            from.release(own);
            throw e;
        }
        if (connected == null || connected.reply() != Rendezvous.Reply.ACCEPTED) {
            from.release(own);
            return connected != null && connected.reply() == Rendezvous.Reply.BUSY
                    ? InProcessConnections.Outcome.BACKLOG_FULL : InProcessConnections.Outcome.TCP;
        }
        CrossProcessEnd end = CrossProcessEnd.connector(client, connected.region(), connected.control(), own,
                from.source(), from.reserved());
        client.inProcess = end;
        client.local = from.address();
        InProcessConnections.opened(end);
        end.watchPeer();
        end.wakeRead(); // joins the loop's polled ends; data the child wrote already is read
        loop.inProcessCounters.connectsCrossProcess++;
        return InProcessConnections.Outcome.CONNECTED;
    }

    /** Whether a server of {@code own} host listens there (this process's TCP or in-process path reaches it). */
    private static boolean servedByOwnHost(GroupListeners own, int address, int port) {
        for (Published p : PUBLISHED.values()) {
            if (p.host() == own && p.port() == port && (p.address() == address || p.address() == 0)) {
                return true;
            }
        }
        return false;
    }

    /** Each direction's ring: what TCP would keep in flight (send plus receive buffer), a power of two. */
    static long ringCapacity(ZStackSocketChannelConfig config) {
        long wanted = (long) config.getSendBufferSize() + config.getReceiveBufferSize();
        long capacity = Long.highestOneBit(Math.max(MIN_RING, wanted) - 1) << 1;
        return Math.min(MAX_RING, capacity);
    }
}
