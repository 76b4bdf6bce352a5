package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.zip.CRC32;

/**
 * One end of a connection in the two-JVM tests, the same code in both processes ({@link ZStackTwoProcessTest} and
 * {@link CrossProcessPeer}): it counts and checksums what it reads, echoes it or not, answers the end of its input,
 * sends seeded random bytes as fast as writability allows, and reports what happens as lines {@code KIND id details}
 * to {@code events}: the peer prints them, the test queues them in an {@link EventLog}.
 *
 * <p>Events: {@code ACCEPTED|CONNECTED id local remote}; {@code READ_COMPLETE id received} (only while auto-read is
 * off, one per read); {@code INPUT_SHUTDOWN id received crc}; {@code WROTE id sent crc} (the whole stream written);
 * {@code OUTPUT_SHUTDOWN id sent crc}; {@code UNWRITABLE id sent} and then {@code WRITABLE id} (after {@link #fill});
 * {@code ERROR id class message}; {@code INACTIVE id received crc}.
 */
final class StreamEnd extends ChannelInboundHandlerAdapter {
    /** The largest chunk {@link #fill} writes. */
    static final int FILL_CHUNK = 1024;

    final int id;
    private final boolean echo;
    private final String activeEvent;
    private final Consumer<String> events;
    private long received;
    private final CRC32 receivedCrc = new CRC32();
    // the outgoing stream (loop thread)
    private Random random = new Random(0);
    private long toSend;
    private int maxChunk;
    private boolean shutdownAfter;
    private boolean filling;
    private boolean fillCheckDue;
    private boolean reportWritable;
    private long sent;
    private final CRC32 sentCrc = new CRC32();

    /**
     * @param echo        writes back what it reads and ends its output after its input; else it counts, and answers
     *                    the end of its input with the count (8 bytes) and the end of its output
     * @param activeEvent ACCEPTED for an accepted child, CONNECTED for a client
     */
    StreamEnd(int id, boolean echo, String activeEvent, Consumer<String> events) {
        this.id = id;
        this.echo = echo;
        this.activeEvent = activeEvent;
        this.events = events;
    }

    private void event(String kind, Object... details) {
        StringBuilder line = new StringBuilder(kind).append(' ').append(id);
        for (Object d : details) {
            line.append(' ').append(d);
        }
        events.accept(line.toString());
    }

    /** CRC-32 of a buffer's readable bytes, composite or not. */
    static void update(CRC32 crc, ByteBuf buf) {
        for (ByteBuffer b : buf.nioBuffers()) {
            crc.update(b);
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        event(activeEvent, ctx.channel().localAddress(), ctx.channel().remoteAddress());
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf buf = (ByteBuf) msg;
        received += buf.readableBytes();
        update(receivedCrc, buf);
        if (echo) {
            ctx.write(buf);
        } else {
            buf.release();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (echo) {
            ctx.flush();
        }
        if (!ctx.channel().config().isAutoRead()) {
            event("READ_COMPLETE", received);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!(evt instanceof ChannelInputShutdownEvent)) {
            return;
        }
        event("INPUT_SHUTDOWN", received, receivedCrc.getValue());
        DuplexChannel ch = (DuplexChannel) ctx.channel();
        if (ch.isOutputShutdown()) {
            return; // both directions ended: the application closes
        }
        ByteBuf answer = echo ? Unpooled.EMPTY_BUFFER : ctx.alloc().directBuffer(8).writeLong(received);
        sent += answer.readableBytes();
        update(sentCrc, answer);
        ctx.write(answer);
        shutdownOutput(ch);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            if (reportWritable) {
                reportWritable = false;
                event("WRITABLE");
            }
            pump(ctx.channel());
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        event("ERROR", cause.getClass().getSimpleName(), String.valueOf(cause.getMessage()).replace('\n', ' '));
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        event("INACTIVE", received, receivedCrc.getValue());
        ctx.fireChannelInactive();
    }

    /**
     * Sends {@code bytes} seeded random bytes in writes of 1 to {@code maxChunk} bytes, while the channel is writable
     * (on again when it turns writable), then reports WROTE with their CRC, and ends the output if asked.
     */
    void stream(Channel ch, long bytes, int maxChunk, long seed, boolean thenShutdown) {
        ch.eventLoop().execute(() -> {
            random = new Random(seed);
            toSend = sent + bytes;
            this.maxChunk = maxChunk;
            shutdownAfter = thenShutdown;
            pump(ch);
        });
    }

    /**
     * Writes {@link #FILL_CHUNK}-byte pieces until the ring toward the other process is full and the channel unwritable
     * (nothing moves until the other side reads), reports UNWRITABLE, then WRITABLE when it is writable again (a
     * channel that never turns unwritable stops at 64 MiB and reports WROTE instead).
     */
    void fill(Channel ch) {
        ch.eventLoop().execute(() -> {
            filling = true;
            toSend = sent + (64L << 20);
            maxChunk = FILL_CHUNK;
            pump(ch);
        });
    }

    /**
     * Ends the output once everything written before is out (a shutdown fails what still waits in the outbound
     * buffer, as with epoll); reports what was sent in all.
     */
    void shutdownOutput(DuplexChannel ch) {
        ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(w -> ch.shutdownOutput().addListener(f -> {
            if (f.isSuccess()) {
                event("OUTPUT_SHUTDOWN", sent, sentCrc.getValue());
            } else {
                event("ERROR", f.cause().getClass().getSimpleName(), "shutdownOutput: " + f.cause().getMessage());
            }
        }));
    }

    private void pump(Channel ch) {
        while (sent < toSend && ch.isWritable()) {
            int n = (int) Math.min(toSend - sent, filling ? FILL_CHUNK : 1 + random.nextInt(maxChunk));
            byte[] bytes = new byte[n];
            random.nextBytes(bytes);
            sentCrc.update(bytes);
            // both kinds of buffer: an mbuf of the channel's allocator, and a heap buffer it must copy
            ByteBuf buf = random.nextBoolean() ? ch.alloc().directBuffer(n) : Unpooled.buffer(n);
            sent += n;
            ChannelFuture written = ch.write(buf.writeBytes(bytes));
            if (sent == toSend) {
                written.addListener(f -> streamWritten(ch, f.cause()));
            }
        }
        ch.flush();
        if (filling && !ch.isWritable()) {
            if (((ZStackSocketChannel) ch).inProcess.out.writerBlocked) {
                // the ring is full (the writer found no room) and the outbound buffer above its high water mark:
                // nothing moves until the other process reads
                filling = false;
                toSend = sent;
                reportWritable = true;
                event("UNWRITABLE", sent);
            } else if (!fillCheckDue) {
                // unwritable only because the loop has not moved the outbound buffer into the ring yet: look again
                fillCheckDue = true;
                ch.eventLoop().schedule(() -> {
                    fillCheckDue = false;
                    pump(ch);
                }, 1, TimeUnit.MILLISECONDS);
            }
        }
    }

    private void streamWritten(Channel ch, Throwable cause) {
        if (cause != null) {
            event("ERROR", cause.getClass().getSimpleName(), "write: " + cause.getMessage());
            return;
        }
        event("WROTE", sent, sentCrc.getValue());
        if (shutdownAfter) {
            shutdownOutput((DuplexChannel) ch);
        }
    }
}
