package io.zstack.testsuite;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.SocketConnectionAttemptTest;
import io.netty.testsuite.transport.socket.SocketTestPermutation;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Netty's {@link SocketConnectionAttemptTest} on the transport behind {@link ZStackTransport}, with every address
 * on IPv4 loopback.
 *
 * <p>The base class needs two kinds of peer. A port nobody listens on, for "connection refused": it uses
 * {@code NetUtil.LOCALHOST} (IPv6 here), so the refused cases are run again against {@code 127.0.0.1}. And a host
 * that never answers, for the connect timeout and for cancelling a pending connect: it uses 198.51.100.254 and even
 * probes it with a kernel socket first. Nothing here may send outside loopback, so those cases connect to a
 * {@link LoopbackBlackHole} instead and the probe is skipped. The checks are the base class's, made slightly
 * stricter where the peer is now known: a timed-out connect must fail with {@link ConnectTimeoutException}.
 */
public class ZStackSocketConnectionAttemptTest extends SocketConnectionAttemptTest {

    /** Opened once per class; a subclass for another permutation opens its own (see its hiding openBlackHole). */
    protected static LoopbackBlackHole blackHole;

    @BeforeAll
    static void openBlackHole() throws InterruptedException {
        blackHole = LoopbackBlackHole.open(ZStackSocketTestPermutation.INSTANCE);
    }

    @AfterAll
    static void closeBlackHole() throws InterruptedException {
        if (blackHole != null) {
            blackHole.close();
        }
    }

    @Override
    protected List<BootstrapFactory<Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.INSTANCE.clientSocket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return ZStackSocketTestPermutation.newSocketAddress();
    }

    @Override
    public void testConnectTimeout(Bootstrap cb) throws Throwable {
        cb.handler(new ChannelInboundHandlerAdapter()).option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 2000);
        ChannelFuture connect = cb.connect(blackHole.address());
        try {
            assertTrue(connect.await(3000), "a 2 s connect timeout did not fire within 3 s");
            assertInstanceOf(ConnectTimeoutException.class, connect.cause());
        } finally {
            connect.channel().close();
        }
    }

    @Override
    public void testConnectRefused(Bootstrap cb) throws Throwable {
        connectToClosedPort(cb, false);
    }

    @Override
    public void testConnectRefusedHalfClosure(Bootstrap cb) throws Throwable {
        connectToClosedPort(cb, true);
    }

    private static void connectToClosedPort(Bootstrap cb, boolean allowHalfClosure) {
        AtomicBoolean activated = new AtomicBoolean();
        cb.handler(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                activated.set(true);
            }
        });
        cb.option(ChannelOption.ALLOW_HALF_CLOSURE, allowHalfClosure);
        InetSocketAddress closed = new InetSocketAddress(
                ZStackSocketTestPermutation.localhost(), SocketTestPermutation.UNASSIGNED_PORT);
        ChannelFuture connect = cb.connect(closed).awaitUninterruptibly();
        assertInstanceOf(ConnectException.class, connect.cause());
        assertFalse(activated.get(), "channelActive fired for a refused connection");
    }

    /** Replaces the base test only to drop its kernel-socket probe of an outside address; same checks. */
    @Test
    @Timeout(30)
    @Override
    public void testConnectCancellation(TestInfo testInfo) throws Throwable {
        run(testInfo, bootstrap -> testConnectCancellation(bootstrap));
    }

    @Override
    public void testConnectCancellation(Bootstrap cb) throws Throwable {
        cb.handler(new ChannelInboundHandlerAdapter()).option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 4000);
        ChannelFuture connect = cb.connect(blackHole.address());
        try {
            assertFalse(connect.await(1000), "a connect to the black hole completed: " + connect.cause());
            if (connect.cancel(true)) {
                assertTrue(connect.channel().closeFuture().await(500), "cancelled connect did not close the channel");
                assertTrue(connect.isCancelled());
            } else {
                assertFalse(isConnectCancellationSupported(connect.channel()),
                        connect.channel().getClass() + " should support connect cancellation");
            }
        } finally {
            connect.channel().close();
        }
    }
}
