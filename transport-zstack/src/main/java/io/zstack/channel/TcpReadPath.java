package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.util.UncheckedBooleanSupplier;
import io.netty.channel.RecvByteBufAllocator;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpError;

/**
 * How the bytes a channel's TCP connection received reach its pipeline: each received mbuf segment becomes a
 * ByteBuf over its payload (zero copy; releasing it frees the mbuf), one message per segment, cut to the receive
 * allocator's guess; and how the input ended (FIN or an error), told once everything before it was delivered. Loop
 * thread only.
 */
final class TcpReadPath {
    private final ZStackSocketChannel channel;
    /** The received segment being delivered in pieces (when the read size guess is smaller), or null. */
    private ByteBuf current;
    /** Received segments after {@link #current}, not yet wrapped (a chain), or 0. */
    private long rest;
    /** How the stack ended the connection, reported once the data received before it is delivered. */
    private TcpError stackError;
    /** The connection a read is taking from. */
    private TcpConnection reading;
    // made once: a method reference made per read or per message would allocate on the receive path
    private final ChannelReads.Messages messages = this::nextMessage;
    private final UncheckedBooleanSupplier moreWaits;

    TcpReadPath(ZStackSocketChannel channel) {
        this.channel = channel;
        this.moreWaits = () -> {
            TcpConnection c = channel.connection();
            return c != null && hasInput(c);
        };
    }

    /** A scheduled read: delivers what waits, as far as the allocator and AUTO_READ let it. */
    void read() {
        try {
            readReceived();
        } catch (Throwable t) {
            // the transport's own read path failed (a handler's exceptions go through the pipeline already), for
            // example a RecvByteBufAllocator that cannot make a handle: the data stays queued and nothing would
            // schedule another read, so tell the application instead of leaving the channel silently stalled
            channel.pipeline().fireExceptionCaught(t);
        }
    }

    private void readReceived() {
        TcpConnection c = channel.connection();
        if (c == null || !channel.isOpen()) {
            return;
        }
        if (channel.inputShutdown) {
            discard(c);
            return;
        }
        ZStackSocketChannelConfig config = channel.config();
        if (!channel.readPending && !config.isAutoRead()) {
            // data waits for read() (the receive window closes meanwhile); the end of input is told at once
            if (!hasInput(c)) {
                inputDrained(c);
            }
            return;
        }
        reading = c;
        ChannelReads.deliver(channel, messages, moreWaits, null);
        if (!channel.isOpen() || channel.connection() == null) {
            return;
        }
        if (hasInput(c)) {
            if (channel.readPending || config.isAutoRead()) {
                channel.scheduleRead(); // the rest next round, so other channels get their turn
            }
        } else {
            inputDrained(c);
        }
    }

    /** The stack is done with the connection, in order (error null) or not: told once what came before is read. */
    void ended(TcpConnection c, TcpError error) {
        if (error != null) {
            stackError = error;
        }
        if (hasInput(c)) {
            channel.scheduleRead(); // what arrived before the end is delivered first (a reset is reported after it)
        } else {
            inputDrained(c);
        }
    }

    /** Everything received was delivered: report how the input ended, if it did. */
    private void inputDrained(TcpConnection c) {
        if (c.isInputShutdown()) {
            channel.inputEnded();
        } else if (stackError != null) {
            TcpError error = stackError;
            stackError = null;
            channel.failConnection(error);
        }
    }

    /** Received bytes not yet delivered: in the stack, or taken from it and held here. */
    boolean hasInput(TcpConnection c) {
        return current != null || rest != 0 || c.readable() > 0;
    }

    /**
     * The next message: one received segment, the buffer owning its mbuf, or a slice of it (sharing the mbuf) when
     * the allocator's guess is smaller; null when nothing waits. Segments are never joined into a composite: a
     * decoder (ByteToMessageDecoder's default cumulator) copies every non-contiguous buffer it is given, so a
     * composite read would cost the very copy zero copy saves, where one segment at a time reaches it as is.
     */
    private ByteBuf nextMessage(int limit) {
        while (current == null) {
            long segment = rest;
            if (segment == 0) {
                segment = reading.take();
                if (segment == 0) {
                    return null;
                }
                if (reading.windowUpdateDue()) {
                    // stamped now, not at the loop's start: a handler that wrote (an echo) sent segments stamped
                    // since, and an update with an older TSval would be dropped by the peer (PAWS)
                    reading.sendWindowUpdate(ZStackEventLoop.now());
                }
            }
            rest = Mbuf.next(segment);
            int length = Mbuf.dataLen(segment);
            // each segment becomes a buffer of its own
            Mbuf.setNext(segment, 0);
            Mbuf.setNbSegs(segment, 1);
            Mbuf.setPktLen(segment, length);
            if (length == 0) {
                pool().freeSegment(segment);
                continue;
            }
            current = channel.config().isCopyMode()
                    ? MbufCopy.out(segment, length, channel.config().getAllocator(), pool())
                    : channel.zstackLoop().allocator().wrapReceived(segment);
        }
        if (current.readableBytes() <= limit) {
            ByteBuf whole = current;
            current = null;
            return whole;
        }
        return current.readRetainedSlice(limit);
    }

    /** SHUT_RD, or input after the end: what was received, and what arrives, is dropped. */
    void discard(TcpConnection c) {
        releaseHeld();
        long chain;
        long now = ZStackEventLoop.now();
        while ((chain = c.read(now)) != 0) {
            pool().free(chain);
        }
    }

    /** Frees what was taken from the stack and not delivered. */
    void releaseHeld() {
        if (current != null) {
            current.release();
            current = null;
        }
        if (rest != 0) {
            pool().free(rest);
            rest = 0;
        }
    }

    private MbufPool pool() {
        return channel.zstackLoop().pool();
    }
}
