package io.zstack.testsuite;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ReflectiveChannelFactory;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.zstack.channel.ZStackConfig;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackServerSocketChannel;
import io.zstack.channel.ZStackSocketChannel;

/**
 * The one place that says which transport the testsuite runs on: ZStack's event loop group and channels.
 *
 * <p>Every test class in this module obtains its event loops and channel classes from here (through
 * {@link ZStackSocketTestPermutation} or directly), so the suite names the transport's classes in one file only.
 */
public final class ZStackTransport {

    /** Human-readable name of the transport, for logs and reports. */
    public static final String NAME = "zstack";

    private ZStackTransport() {
    }

    /** A new loopback-only group of {@code threads} loops whose threads are daemons named after {@code name}. */
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

    /** The listening channel class, for {@code ServerBootstrap.channel(..)}. */
    public static Class<? extends ServerSocketChannel> serverChannelClass() {
        return ZStackServerSocketChannel.class;
    }

    /** The connecting/accepted stream channel class, for {@code Bootstrap.channel(..)}. */
    public static Class<? extends SocketChannel> clientChannelClass() {
        return ZStackSocketChannel.class;
    }

    /**
     * Whether the transport's event loop implements {@code SingleThreadEventLoop.registeredChannelsIterator()}
     * (ZStack's does; Netty's base class throws {@link UnsupportedOperationException}).
     */
    public static boolean supportsChannelIteration() {
        return true;
    }

    /** A new, unregistered client channel of {@link #clientChannelClass()}. */
    public static SocketChannel newClientChannel() {
        return new ReflectiveChannelFactory<SocketChannel>(clientChannelClass()).newChannel();
    }

    /** Whether {@code channel} belongs to the transport under test (as opposed to a kernel or helper channel). */
    public static boolean isTransportChannel(Channel channel) {
        return clientChannelClass().isInstance(channel) || serverChannelClass().isInstance(channel);
    }
}
