package io.zstack.testsuite;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.SocketChannelNotYetConnectedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

import java.net.SocketAddress;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Netty's {@link SocketChannelNotYetConnectedTest} on the transport behind {@link ZStackTransport}.
 *
 * <p>The base {@code readMustBePendingUntilChannelIsActive} starts its server on a private {@code NioEventLoopGroup}
 * bound to the wildcard address, which a userspace stack cannot reach. The same check is made here with the server on
 * the transport under test, bound to 127.0.0.1: a read requested before the client is connected (from
 * {@code handlerAdded}) must stay pending and deliver the server's first bytes once the connection is up.
 */
public class ZStackSocketChannelNotYetConnectedTest extends SocketChannelNotYetConnectedTest {

    @Override
    protected List<BootstrapFactory<Bootstrap>> newFactories() {
        return permutation().clientSocket();
    }

    /** The permutation whose bootstraps the test body uses too. */
    protected ZStackSocketTestPermutation permutation() {
        return ZStackSocketTestPermutation.INSTANCE;
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return ZStackSocketTestPermutation.newSocketAddress();
    }

    @Test
    @Timeout(30)
    @Override
    public void readMustBePendingUntilChannelIsActive(TestInfo info) throws Throwable {
        run(info, bootstrap -> readPendingUntilActive(bootstrap));
    }

    private void readPendingUntilActive(Bootstrap cb) throws Throwable {
        Channel server = permutation().newServerBootstrap()
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        ctx.writeAndFlush(Unpooled.copyInt(42));
                    }
                })
                .bind(newSocketAddress()).sync().channel();
        Channel client = null;
        try {
            CountDownLatch received = new CountDownLatch(1);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            cb.handler(new ByteToMessageDecoder() {
                @Override
                public void handlerAdded(ChannelHandlerContext ctx) {
                    if (ctx.channel().isActive()) {
                        failure.compareAndSet(null, new AssertionError("channel already active in handlerAdded"));
                    }
                    ctx.read();
                }

                @Override
                protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
                    if (in.readableBytes() > Integer.BYTES) {
                        failure.compareAndSet(null, new AssertionError("more than 4 bytes: " + in.readableBytes()));
                    }
                    if (in.readableBytes() >= Integer.BYTES) {
                        int value = in.readInt();
                        if (value != 42) {
                            failure.compareAndSet(null, new AssertionError("read " + value + " instead of 42"));
                        }
                        received.countDown();
                    }
                }
            });
            client = cb.connect(server.localAddress()).sync().channel();
            received.await();
            if (failure.get() != null) {
                throw failure.get();
            }
            assertEquals(server.localAddress(), client.remoteAddress());
        } finally {
            if (client != null) {
                client.close().sync();
            }
            server.close().sync();
        }
    }
}
