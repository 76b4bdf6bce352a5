package io.zstack.testsuite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketChannel;
import java.net.SocketException;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The checks of Netty's {@code SocketShutdownOutputBySelfTest}, with the peer on the transport. Netty's class makes
 * its peer a kernel {@code java.net.ServerSocket} inside each test body, which a userspace stack cannot reach, so it
 * is not wired here (see README, Exclusions); the same assertions run against a transport server child instead.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
public class ZStackSocketShutdownOutputBySelfTest {
    /** The permutation of both ends. */
    protected ZStackSocketTestPermutation permutation() {
        return ZStackSocketTestPermutation.INSTANCE;
    }

    /** The peer: a server child that records what it reads, when its input ends, and can write back. */
    private static final class Peer extends ChannelInboundHandlerAdapter {
        final BlockingQueue<Integer> bytes = new LinkedBlockingQueue<>();
        final CompletableFuture<Channel> child = new CompletableFuture<>();
        final CompletableFuture<Void> inputEnded = new CompletableFuture<>();

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            child.complete(ctx.channel());
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            while (buf.isReadable()) {
                bytes.add((int) buf.readByte());
            }
            buf.release();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt == ChannelInputShutdownEvent.INSTANCE) {
                inputEnded.complete(null);
            }
        }
    }

    private Channel server(Peer peer) {
        return permutation().newServerBootstrap().childOption(ChannelOption.ALLOW_HALF_CLOSURE, true).childHandler(peer)
                .bind(ZStackSocketTestPermutation.newSocketAddress()).syncUninterruptibly().channel();
    }

    @Test
    public void shutdownOutputHalfClosesAndTheOtherDirectionStillWorks() throws Exception {
        Peer peer = new Peer();
        Channel server = server(peer);
        BlockingQueue<Integer> received = new LinkedBlockingQueue<>();
        SocketChannel ch = (SocketChannel) permutation().newClientBootstrap()
                .handler(new SimpleChannelInboundHandler<ByteBuf>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                        received.add((int) msg.readByte());
                    }
                }).connect(server.localAddress()).sync().channel();
        try {
            assertTrue(ch.isActive());
            assertFalse(ch.isOutputShutdown());
            ch.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1})).sync();
            assertEquals(1, peer.bytes.poll(10, TimeUnit.SECONDS));

            ch.shutdownOutput().sync();
            peer.inputEnded.get(10, TimeUnit.SECONDS); // the peer reads end-of-stream
            assertTrue(ch.isOpen());
            assertTrue(ch.isActive());
            assertFalse(ch.isInputShutdown());
            assertTrue(ch.isOutputShutdown());

            // half-closed: the peer can still write to us
            peer.child.get(10, TimeUnit.SECONDS).writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1})).sync();
            assertEquals(1, received.poll(10, TimeUnit.SECONDS));
        } finally {
            ch.close().sync();
            server.close().sync();
        }
    }

    @Test
    public void shutdownAfterCloseFails() throws Exception {
        Peer peer = new Peer();
        Channel server = server(peer);
        try {
            SocketChannel ch = (SocketChannel) permutation().newClientBootstrap()
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(server.localAddress()).sync().channel();
            assertTrue(ch.isActive());
            ch.close().syncUninterruptibly();
            Throwable input = assertThrows(Throwable.class, () -> ch.shutdownInput().syncUninterruptibly());
            assertClosed(input);
            Throwable output = assertThrows(Throwable.class, () -> ch.shutdownOutput().syncUninterruptibly());
            assertClosed(output);
        } finally {
            server.close().sync();
        }
    }

    private static void assertClosed(Throwable cause) {
        if (!(cause instanceof SocketException)) {
            assertInstanceOf(ClosedChannelException.class, cause);
        }
    }

    @Test
    public void shutdownOutputWithSoLingerCompletes() throws Exception {
        shutdownWithSoLinger(true);
    }

    @Test
    public void shutdownWithSoLingerCompletes() throws Exception {
        shutdownWithSoLinger(false);
    }

    private void shutdownWithSoLinger(boolean outputOnly) throws Exception {
        Peer peer = new Peer();
        Channel server = server(peer);
        SocketChannel ch = (SocketChannel) permutation().newClientBootstrap().option(ChannelOption.SO_LINGER, 1)
                .handler(new ChannelInboundHandlerAdapter()).connect(server.localAddress()).sync().channel();
        try {
            if (outputOnly) {
                ch.shutdownOutput().sync();
            } else {
                ch.shutdown().sync();
            }
            peer.inputEnded.get(10, TimeUnit.SECONDS);
        } finally {
            ch.close().sync();
            server.close().sync();
        }
    }
}
