package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * One direction of a connection that skips TCP: what one end wrote and the other has not taken yet, in order, and how
 * the direction ended. {@link InProcessPipe} keeps the writer's own buffers in a queue between two loops of this
 * process; {@link CrossProcessPipe} copies the bytes into a ring of memory shared with another process.
 */
abstract class LocalPipe {
    enum End { OPEN, EOF, RESET }

    /** The writer found no room and waits for the reader to take something. */
    volatile boolean writerBlocked;

    /** Writer: the room left under {@code budget}; 0 or less means wait. */
    abstract long room(long budget);

    /** Writer: queues {@code buf} (taking over its reference); false if the reader is gone (buf then freed). */
    abstract boolean add(ByteBuf buf);

    /**
     * Writer: queues a copy of {@code length} bytes of {@code src} at {@code index} (at most the room); false if the
     * reader is gone.
     */
    abstract boolean addCopy(ByteBuf src, int index, int length, ByteBufAllocator alloc);

    /** Writer: no more data; {@code reset} reports it as a reset. Only the first end counts, as the first FIN does. */
    abstract void end(boolean reset);

    /** The writer reset the direction (it may still have data queued before the reset). */
    abstract boolean isReset();

    abstract boolean isReaderClosed();

    /** Reader: the next buffer, or null. Its room is given back to the writer once it is taken (or released). */
    abstract ByteBuf poll();

    abstract boolean isEmpty();

    /**
     * Reader: how the direction ended once everything before was taken, or OPEN. The end is read first: every
     * buffer was queued before it was set, so a queue seen empty after it is empty for good.
     */
    abstract End endAfterData();

    /** Reader: it closes; frees what waits and whatever the writer adds later. */
    abstract void closeReader();
}
