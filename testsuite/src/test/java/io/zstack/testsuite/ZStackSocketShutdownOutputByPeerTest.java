package io.zstack.testsuite;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.SocketChannel;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.AbstractSocketShutdownOutputByPeerTest;
import io.netty.testsuite.transport.socket.SocketShutdownOutputByPeerTest;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketAddress;
import java.util.List;

/**
 * Netty's shutdown-output-by-peer test on the transport behind {@link ZStackTransport}.
 *
 * <p>{@link SocketShutdownOutputByPeerTest} drives the server from a kernel {@code java.net.Socket}, which cannot reach
 * a userspace stack's loopback. Its generic base, {@link AbstractSocketShutdownOutputByPeerTest}, takes the peer as a
 * type parameter (epoll's domain-socket variant plugs in its native socket there); here the peer is a client channel
 * of the transport under test, on the permutation's group, driven synchronously from the test thread: connect, write
 * one byte, shut down its output, close. The server-side assertions are the base class's, unchanged.
 */
public class ZStackSocketShutdownOutputByPeerTest
        extends AbstractSocketShutdownOutputByPeerTest<ZStackSocketShutdownOutputByPeerTest.Peer> {

    /** The peer: a not-yet-connected client channel of the transport. */
    public static final class Peer {
        private SocketChannel channel;
    }

    @Override
    protected List<BootstrapFactory<ServerBootstrap>> newFactories() {
        return permutation().serverSocket();
    }

    /** The permutation of the server and of the peer. */
    protected ZStackSocketTestPermutation permutation() {
        return ZStackSocketTestPermutation.INSTANCE;
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return ZStackSocketTestPermutation.newSocketAddress();
    }

    @Override
    protected Peer newSocket() {
        return new Peer();
    }

    @Override
    protected void connect(Peer peer, SocketAddress address) throws IOException {
        peer.channel = (SocketChannel) await(permutation().newClientBootstrap()
                .handler(new ChannelInboundHandlerAdapter())
                .connect(address)).channel();
    }

    @Override
    protected void write(Peer peer, int data) throws IOException {
        await(peer.channel.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {(byte) data})));
    }

    @Override
    protected void shutdownOutput(Peer peer) throws IOException {
        await(peer.channel.shutdownOutput());
    }

    @Override
    protected void close(Peer peer) throws IOException {
        if (peer.channel != null) {
            await(peer.channel.close());
        }
    }

    /** Waits for {@code future} and turns its failure into the IOException the base class's signatures expect. */
    private static <F extends io.netty.util.concurrent.Future<?>> F await(F future) throws IOException {
        try {
            future.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for " + future);
        }
        Throwable cause = future.cause();
        if (cause instanceof IOException io) {
            throw io;
        }
        if (cause != null) {
            throw new IOException(cause);
        }
        return future;
    }
}
