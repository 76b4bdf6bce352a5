package io.zstack.testsuite;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.ReflectiveChannelFactory;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import io.zstack.channel.ZStackSocketChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/**
 * The one place that says which transport the testsuite runs on.
 *
 * <p>Every test class in this module obtains its event loops and channel classes from here (through
 * {@link ZStackSocketTestPermutation} or directly), so switching the whole suite from the stand-in to ZStack means
 * editing only this class: the five members marked {@code SWITCH}. Until {@code io.zstack.channel} has its event loop
 * group and channels, the stand-in is Netty's NIO transport, which lets the suite itself be proven on this machine.
 *
 * <p>For ZStack, the intended bodies are:
 * <pre>
 *   newGroup:                 new ZStackEventLoopGroup(threads, new DefaultThreadFactory(name, true))
 *   serverChannelClass:       ZStackServerSocketChannel.class
 *   clientChannelClass:       ZStackSocketChannel.class
 *   supportsChannelIteration: whatever ZStackEventLoop.registeredChannelsIterator() supports
 * </pre>
 */
public final class ZStackTransport {

    /** Human-readable name of the transport behind the seam, for logs and reports. SWITCH. */
    public static final String NAME = "zstack";

    private ZStackTransport() {
    }

    /**
     * A new event loop group with {@code threads} loops whose threads are daemons named after {@code name}.
     * SWITCH.
     */
    public static EventLoopGroup newGroup(int threads, String name) {
        return newGroup(threads, name, false);
    }

    /**
     * {@link #newGroup(int, String)}, with connections between its channels carried by TCP over the stack's loopback
     * ({@code inProcess} false) or by the in-process path, which skips TCP ({@code ZStackConfig.Builder#inProcess}).
     */
    public static EventLoopGroup newGroup(int threads, String name, boolean inProcess) {
        return new ZStackEventLoopGroup(threads, new DefaultThreadFactory(name, true),
                ZStackConfig.builder().inProcess(inProcess).build());
    }

    /** {@link #newGroup(int, String)} with a default thread name. */
    public static EventLoopGroup newGroup(int threads) {
        return newGroup(threads, "testsuite-transport");
    }

    /** The listening channel class, for {@code ServerBootstrap.channel(..)}. SWITCH. */
    public static Class<? extends ServerSocketChannel> serverChannelClass() {
        return ZStackServerSocketChannel.class;
    }

    /** The connecting/accepted stream channel class, for {@code Bootstrap.channel(..)}. SWITCH. */
    public static Class<? extends SocketChannel> clientChannelClass() {
        return ZStackSocketChannel.class;
    }

    /**
     * Whether the transport's event loop implements {@code SingleThreadEventLoop.registeredChannelsIterator()}
     * (NIO does; Netty's base class throws {@link UnsupportedOperationException}). SWITCH.
     */
    public static boolean supportsChannelIteration() {
        return true;
    }

    /** A new, unregistered client channel of {@link #clientChannelClass()}. */
    public static SocketChannel newClientChannel() {
        return new ReflectiveChannelFactory<SocketChannel>(clientChannelClass()).newChannel();
    }

    /** Whether {@code channel} belongs to the transport under test (as opposed to a kernel or helper channel). */
    public static boolean isTransportChannel(io.netty.channel.Channel channel) {
        return clientChannelClass().isInstance(channel) || serverChannelClass().isInstance(channel);
    }
}
