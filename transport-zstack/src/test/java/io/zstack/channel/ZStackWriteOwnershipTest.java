package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.zstack.buffer.MbufByteBuf;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A written buffer's bytes are the bytes the peer receives, whatever its owner does with the buffer once the write
 * has completed. Netty lets the holder of a buffer's last reference change it: a ByteToMessageDecoder whose frames
 * (retained slices of its cumulation) were written compacts or refills the cumulation as soon as those writes
 * released their slices. TCP still needs the written bytes until they are acknowledged, and over the loopback the
 * peer's receive queue views them until its handler reads them: a buffer that someone else still holds must not
 * go to TCP by reference.
 *
 * <p>This was the cause of the wrong bytes in Netty's SocketFixedLengthEchoTest (issue 9): its echo handler writes
 * FixedLengthFrameDecoder's slices, and the decoder's discardSomeReadBytes then moved unread bytes over them.
 */
class ZStackWriteOwnershipTest {
    private static final int SIZE = 1500;

    private static ZStackEventLoopGroup group;

    @BeforeAll
    static void group() {
        group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false).build());
    }

    @AfterAll
    static void shutdown() throws Exception {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        for (ZStackEventLoop loop : group.loops()) {
            assertEquals(loop.pool().capacity(), loop.pool().available(), loop + " leaked mbufs");
            assertEquals(loop.largePool().capacity(), loop.largePool().available(), loop + " leaked large mbufs");
        }
    }

    /** The owner keeps the buffer and writes a retained slice of it, as a frame decoder's handler does. */
    @Test
    void retainedSliceWrittenThenBufferOverwritten() throws Exception {
        writeOverwriteThenRead(root -> root.retainedSlice(0, SIZE));
    }

    /** The owner writes the buffer itself with an extra reference, to reuse it once the write completes. */
    @Test
    void retainedBufferWrittenThenOverwritten() throws Exception {
        writeOverwriteThenRead(ByteBuf::retain);
    }

    /** A retained duplicate: the written view and the kept one share the memory. */
    @Test
    void retainedDuplicateWrittenThenOverwritten() throws Exception {
        writeOverwriteThenRead(ByteBuf::retainedDuplicate);
    }

    /**
     * A composite of allocated pieces (a codec's header and body) kept by its owner: each piece is held only by the
     * composite, but the composite is shared, so its pieces can change.
     */
    @Test
    void retainedCompositeWrittenThenOverwritten() throws Exception {
        writeOverwriteThenRead(ByteBuf::retain, true);
    }

    private void writeOverwriteThenRead(Function<ByteBuf, ByteBuf> toWrite) throws Exception {
        writeOverwriteThenRead(toWrite, false);
    }

    /**
     * The peer does not read (AUTO_READ off), so the segments wait in its receive queue; the writer's owner then
     * overwrites its buffer, which Netty allows once the write future is done and it holds the only reference; only
     * then does the peer read. It must get the bytes that were written.
     */
    private void writeOverwriteThenRead(Function<ByteBuf, ByteBuf> toWrite, boolean composite) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        CompletableFuture<byte[]> done = new CompletableFuture<>();
        Channel server = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.complete(ctx.channel());
                    }

                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ByteBuf buf = (ByteBuf) msg;
                        byte[] chunk = new byte[buf.readableBytes()];
                        buf.readBytes(chunk);
                        buf.release();
                        received.writeBytes(chunk);
                        if (received.size() >= SIZE) {
                            done.complete(received.toByteArray());
                        } else {
                            ctx.read();
                        }
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        Channel client = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(server.localAddress()).sync().channel();
        Channel child = accepted.get(5, TimeUnit.SECONDS);
        byte[] written = new byte[SIZE];
        for (int i = 0; i < SIZE; i++) {
            written[i] = (byte) (i * 7 + 3);
        }
        ByteBuf root;
        if (composite) {
            ByteBuf header = client.alloc().directBuffer(100).writeBytes(written, 0, 100);
            ByteBuf body = client.alloc().directBuffer(SIZE - 100).writeBytes(written, 100, SIZE - 100);
            root = client.alloc().compositeDirectBuffer(2).addComponents(true, header, body);
        } else {
            root = client.alloc().directBuffer(SIZE).writeBytes(written);
            assertNotNull(MbufByteBuf.unwrapMbuf(root), "the channel's allocator gives mbuf-backed buffers");
        }
        client.writeAndFlush(toWrite.apply(root)).sync();
        // the write is complete: its reference is released, the owner holds the only one and may reuse the buffer
        assertEquals(1, root.refCnt());
        assertTrue(awaitReadable(child, SIZE), "the segments reached the peer's receive queue");
        for (int i = 0; i < SIZE; i++) {
            root.setByte(i, 0x55);
        }
        root.release();
        child.read();
        assertArrayEquals(written, done.get(5, TimeUnit.SECONDS), "the peer reads the bytes that were written");
        client.close().sync();
        child.close().sync();
        server.close().sync();
    }

    /** True once {@code child}'s connection holds {@code bytes} received bytes the application has not read (5 s). */
    static boolean awaitReadable(Channel child, long bytes) throws Exception {
        ZStackSocketChannel channel = (ZStackSocketChannel) child;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < deadline) {
            long queued = child.eventLoop().submit(() -> channel.connection().readable()).get();
            if (queued >= bytes) {
                return true;
            }
            Thread.sleep(1);
        }
        return false;
    }
}
