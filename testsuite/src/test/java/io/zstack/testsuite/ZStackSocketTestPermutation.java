package io.zstack.testsuite;

import io.netty.channel.EventLoopGroup;
import io.netty.testsuite.transport.socket.SocketTestPermutation;
import io.netty.util.NetUtil;

import java.net.Inet4Address;
import java.net.InetSocketAddress;

/**
 * The permutations Netty's socket tests run over: transport server x transport client, nothing else.
 *
 * <p>Netty's own {@link SocketTestPermutation} pairs NIO (and optionally OIO) servers and clients; epoll's variant
 * crosses epoll with NIO to prove interoperability over the kernel. For ZStack such crossing is impossible: the stack
 * is a userspace TCP/IP stack, so a kernel socket and a ZStack socket in the same process do not share a loopback.
 * Both ends of every test therefore run on the transport under test, on one shared event loop group, and the bytes
 * travel over the stack's own loopback interface (127.0.0.0/8) inside this JVM. Which transport that is comes from
 * {@link ZStackTransport}; this class only arranges bootstraps.
 *
 * <p><b>IPv4 only.</b> Netty's tests bind {@code new InetSocketAddress(NetUtil.LOCALHOST, 0)}, and
 * {@code NetUtil.LOCALHOST} is {@code ::1} on a host whose loopback interface carries IPv6 (it does here). The ZStack
 * stack implements IPv4 only, so every address a test binds or connects to must be {@code 127.0.0.1}: each test
 * subclass overrides {@code newSocketAddress()} with {@link #newSocketAddress()}, and the few test bodies that name
 * {@code NetUtil.LOCALHOST} directly are overridden to use {@link #localhost()}. The surefire configuration also sets
 * {@code java.net.preferIPv4Stack=true}, so that nothing left in Netty's code can pick an IPv6 address either.
 */
public final class ZStackSocketTestPermutation extends SingleComboPermutation {

    /** Shared by every test class, as Netty's own permutation is: TCP over the stack's loopback. */
    public static final ZStackSocketTestPermutation INSTANCE = new ZStackSocketTestPermutation(false);

    /** Event loops in the shared group: one per core of the 2-core machines this runs on. */
    static final int THREADS = 2;

    // Server (boss and children) and client all live on one group: a ZStack group is one host, and only sockets
    // of the same host reach each other through its loopback.
    private final EventLoopGroup group;

    private ZStackSocketTestPermutation(boolean inProcess) {
        EventLoopGroup group = ZStackTransport.newGroup(THREADS, inProcess ? "testsuite-inprocess"
                : "testsuite-zstack", inProcess);
        super(group, group, ZStackTransport.serverChannelClass(), ZStackTransport.clientChannelClass());
        this.group = group;
    }

    /**
     * The third permutation (the second is memif's): the same group shape, with the in-process path on, so every
     * connection between its channels skips TCP. Made on first use.
     */
    public static ZStackSocketTestPermutation inProcess() {
        return InProcessHolder.IN_PROCESS;
    }

    private static final class InProcessHolder {
        static final ZStackSocketTestPermutation IN_PROCESS = new ZStackSocketTestPermutation(true);
    }

    /** The IPv4 loopback address every test uses, {@code 127.0.0.1}. */
    public static Inet4Address localhost() {
        return NetUtil.LOCALHOST4;
    }

    /** {@code 127.0.0.1:0}: the replacement for Netty's {@code new InetSocketAddress(NetUtil.LOCALHOST, 0)}. */
    public static InetSocketAddress newSocketAddress() {
        return new InetSocketAddress(localhost(), 0);
    }

    /** The event loop group shared by all bootstraps of this permutation. */
    public EventLoopGroup group() {
        return group;
    }
}
