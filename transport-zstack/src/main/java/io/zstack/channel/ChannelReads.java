package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;
import java.util.function.IntFunction;

/**
 * How one read hands received buffers to a socket channel's pipeline, whichever path received them (TCP's
 * {@link TcpReadPath}, the in-process {@link InProcessEnd}): the receive allocator's guess bounds each message, as the
 * buffer size bounds read(2); what makes one message is the path's choice (one TCP segment; the in-process path's
 * written buffers gathered up to the guess, {@link #gather}).
 */
final class ChannelReads {
    private ChannelReads() {
    }

    /** Supplies the next message of at most the given number of bytes, or null when nothing waits. */
    @FunctionalInterface
    interface Messages {
        ByteBuf next(int limit);
    }

    /**
     * Fires messages from {@code messages} while the receive allocator's handle asks for more and the channel stays
     * open, then the read's completion; {@code afterMessages} (may be null) runs once the messages are taken, even
     * when firing them failed. {@code moreWaits} (may be null) tells an extended handle whether more input waits,
     * for a path whose messages do not fill the guess (one segment each), where "the last read filled its buffer",
     * the stock hint, says nothing; epoll's handle asks its socket the same way.
     */
    static void deliver(ZStackSocketChannel channel, Messages messages, UncheckedBooleanSupplier moreWaits,
                        Runnable afterMessages) {
        RecvByteBufAllocator.Handle handle = channel.unsafe().recvBufAllocHandle();
        handle.reset(channel.config());
        ChannelPipeline pipeline = channel.pipeline();
        boolean readSomething = false;
        try {
            do {
                // reporting the guess as the attempt (not what arrived) lets the adaptive allocator size reads as it
                // does for NIO and epoll
                int limit = Math.max(1, handle.guess());
                ByteBuf msg = messages.next(limit);
                if (msg == null) {
                    break;
                }
                channel.readPending = false;
                readSomething = true;
                handle.attemptedBytesRead(limit);
                handle.lastBytesRead(msg.readableBytes());
                handle.incMessagesRead(1);
                pipeline.fireChannelRead(msg);
            } while (continueReading(handle, moreWaits) && channel.isOpen());
        } finally {
            if (afterMessages != null) {
                afterMessages.run();
            }
        }
        handle.readComplete();
        if (readSomething) {
            pipeline.fireChannelReadComplete();
        }
    }

    private static boolean continueReading(RecvByteBufAllocator.Handle handle, UncheckedBooleanSupplier moreWaits) {
        return moreWaits != null && handle instanceof RecvByteBufAllocator.ExtendedHandle extended
                ? extended.continueReading(moreWaits) : handle.continueReading();
    }

    /**
     * One message of at most {@code limit} bytes that starts with {@code first}: as read(2) fills its buffer with
     * whatever has arrived, the pieces that wait ({@code more}: some do) join it in one composite of views (no
     * copy) up to the limit.
     */
    static ByteBuf gather(ByteBuf first, int limit, boolean more, IntFunction<ByteBuf> nextPiece,
                          ByteBufAllocator allocator) {
        if (first == null || first.readableBytes() >= limit || !more) {
            return first;
        }
        // flattened: a piece that is itself a composite (the in-process path's large buffers) adds its own pieces,
        // so the message stays one level deep and can be written on without a copy
        CompositeByteBuf composite = allocator.compositeDirectBuffer(Integer.MAX_VALUE);
        composite.addFlattenedComponents(true, first);
        ByteBuf piece;
        while (composite.readableBytes() < limit
                && (piece = nextPiece.apply(limit - composite.readableBytes())) != null) {
            composite.addFlattenedComponents(true, piece);
        }
        return composite;
    }
}
