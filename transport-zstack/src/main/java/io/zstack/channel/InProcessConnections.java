package io.zstack.channel;

import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * The in-process path: a connect from a ZStack channel to an address and port where a ZStack server of this process
 * listens is carried without TCP, by two {@link InProcessPipe}s between the client and a new child of the server
 * (see {@link ZStackConfig.Builder#inProcess}). Both the client's group and the server's child group must allow it.
 * The server is the one TCP would reach (a group is one host): for 127/8 and the group's own address, a server of the
 * client's group; for another address, a server of the group whose stacks have it. A full accept queue leaves the
 * connect pending (retried, as a dropped SYN is resent) until it is accepted, times out or is cancelled.
 *
 * <p>The addresses are TCP's: the client gets the source address the stack would pick and an ephemeral port (taken
 * from the ports servers bind, so neither can take the other's); the child's local address is the one the client
 * connected to. Nothing crosses a device, so a capture shows nothing of these connections.
 */
final class InProcessConnections {
    /** Servers whose child group allows the path, by host (a group), bound address (0: every address) and port. */
    private static final Map<Bound, ZStackServerSocketChannel> SERVERS = new ConcurrentHashMap<>();
    /** Open ends, for the connection dump. */
    private static final Set<InProcessEnd> ENDS = ConcurrentHashMap.newKeySet();

    private InProcessConnections() {
    }

    /** Where a server listens: a port of an address (0: all) of one host, the group its children live in. */
    private record Bound(GroupListeners host, int address, int port) {
    }

    /** A server bound in {@code children}'s host: connects to it may take the path if that group allows it. */
    static void listen(ZStackServerSocketChannel server, ZStackEventLoopGroup children, int address, int port) {
        if (children.loops().getFirst().config().inProcess()) {
            SERVERS.put(new Bound(children.listeners(), address, port), server);
        }
        CrossProcessConnections.listen(server, children, address, port);
    }

    static void unlisten(ZStackServerSocketChannel server) {
        SERVERS.values().remove(server);
        CrossProcessConnections.unlisten(server);
    }

    /** What {@link #connect} did. */
    enum Outcome {
        /** Connected: the client's end and local address are set, the server's child is queued for its accept. */
        CONNECTED,
        /** The server's accept queue is full: nothing changed; try again later, as a dropped SYN is resent. */
        BACKLOG_FULL,
        /** Not for these paths (switched off, or no local server there): TCP carries the connection. */
        TCP
    }

    /**
     * Connects {@code client} in process if its group allows it and a server of a group that allows it listens at
     * {@code target}, else across processes if its group has that path on and another process serves the target.
     * {@code bound} is the client's bound local address, or null.
     */
    static Outcome connect(ZStackSocketChannel client, InetSocketAddress target, InetSocketAddress bound)
            throws IOException {
        ZStackEventLoop loop = client.zstackLoop();
        int address = ZStackAddresses.toInt(target.getAddress());
        int port = target.getPort();
        GroupListeners own = ((ZStackEventLoopGroup) loop.parent()).listeners();
        ZStackServerSocketChannel server = loop.config().inProcess() ? serverAt(own, address, port) : null;
        if (server == null || !server.isOpen()) {
            // nobody here: another process, or TCP finds out (a refusal over the loopback, or a peer on the link)
            return CrossProcessConnections.connect(client, target, bound, own);
        }
        ClientPort from = ClientPort.reserve(loop, own, address, bound);
        int source = from.source();
        int reserved = from.reserved();
        InetSocketAddress clientAddress = from.address();
        InetSocketAddress serverAddress = ZStackAddresses.toSocketAddress(address, port);
        InProcessPipe up = new InProcessPipe();
        InProcessPipe down = new InProcessPipe();
        ZStackSocketChannel child = new ZStackSocketChannel(server, serverAddress, clientAddress);
        InProcessEnd clientEnd = new InProcessEnd(client, down, up, own, source, reserved);
        InProcessEnd childEnd = new InProcessEnd(child, up, down, null, 0, 0);
        clientEnd.peer = childEnd;
        childEnd.peer = clientEnd;
        child.inProcess = childEnd;
        client.inProcess = clientEnd;
        ENDS.add(clientEnd);
        ENDS.add(childEnd);
        if (!server.acceptInProcess(child)) {
            client.inProcess = null;
            ENDS.remove(clientEnd);
            ENDS.remove(childEnd);
            from.release(own);
            // as Linux drops a SYN while the accept queue is full: the connect stays pending, and is tried again
            return Outcome.BACKLOG_FULL;
        }
        client.local = clientAddress;
        loop.inProcessCounters.connectsInProcess++;
        return Outcome.CONNECTED;
    }

    /**
     * The server a TCP connect to {@code address}:{@code port} from host {@code own} would reach: 127/8 and the
     * host's own address are its own (a group is one host), any other address is the host whose stacks have it.
     */
    private static ZStackServerSocketChannel serverAt(GroupListeners own, int address, int port) {
        if (own.isLocal(address)) {
            ZStackServerSocketChannel server = SERVERS.get(new Bound(own, address, port));
            return server != null ? server : SERVERS.get(new Bound(own, 0, port));
        }
        for (Map.Entry<Bound, ZStackServerSocketChannel> e : SERVERS.entrySet()) {
            Bound b = e.getKey();
            if (b.port() == port && (b.address() == address || b.address() == 0) && b.host().isLocal(address)) {
                return e.getValue();
            }
        }
        return null;
    }

    /**
     * The client's address for a connection that skips TCP: the source address the stack would pick, and an
     * ephemeral port reserved in its host (taken from the ports servers bind), or the bound ones.
     */
    record ClientPort(int source, int port, int reserved) {
        static ClientPort reserve(ZStackEventLoop loop, GroupListeners own, int target, InetSocketAddress bound)
                throws BindException {
            int source = bound != null && ZStackAddresses.toInt(bound.getAddress()) != 0
                    ? ZStackAddresses.toInt(bound.getAddress()) : loop.stack().ip().sourceFor(target);
            int localPort = bound != null ? bound.getPort() : 0;
            if (localPort != 0) {
                return new ClientPort(source, localPort, 0);
            }
            localPort = own.reservePort(source, 0);
            if (localPort < 0) {
                throw new BindException("Cannot assign requested address: no ephemeral port left on "
                        + ZStackAddresses.toSocketAddress(source, 0).getAddress().getHostAddress());
            }
            return new ClientPort(source, localPort, localPort);
        }

        InetSocketAddress address() {
            return ZStackAddresses.toSocketAddress(source, port);
        }

        /** A connect that did not happen gives its ephemeral port back. */
        void release(GroupListeners own) {
            if (reserved != 0) {
                own.releasePort(source, reserved);
            }
        }
    }

    /** An end of another kind (cross-process) joins the connection dump. */
    static void opened(InProcessEnd end) {
        ENDS.add(end);
    }

    static void closed(InProcessEnd end) {
        ENDS.remove(end);
    }

    /** The in-process connections of channels on {@code loop}, one per line, ss style. */
    static String describe(ZStackEventLoop loop) {
        return ENDS.stream().filter(e -> e.channel.isRegistered() && e.channel.eventLoop() == loop)
                .map(InProcessEnd::describe).sorted().collect(Collectors.joining("\n"));
    }
}
