package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One direction of an in-process connection: the buffers one end wrote and the other has not taken yet, in order,
 * and how that direction ended.
 *
 * <p>The writer's loop adds, the reader's loop takes; the queue is a lock-free one, so the two never wait for each
 * other. Nothing leaks when the reader closes while the writer still writes: the reader sets {@link #readerClosed}
 * and then frees what is queued; the writer adds and then looks at {@link #readerClosed}, freeing what is queued if
 * it is set. Both are sequentially consistent (volatile and the queue's own atomics), so at least one of the two
 * sees the other's step and frees a buffer added at the same moment (a buffer taken by both is impossible: the
 * queue hands each element out once).
 *
 * <p>{@link #charged} bounds what is in flight, as a socket's send and receive buffers do: the writer stops at
 * {@code budget} and waits until the reader takes buffers.
 */
final class InProcessPipe {
    /** What one queued buffer costs at least: a small write still holds a whole mbuf, as an skb's truesize counts. */
    static final int MIN_CHARGE = 2048;

    enum End { OPEN, EOF, RESET }

    private final Queue<ByteBuf> queue = new ConcurrentLinkedQueue<>();
    /** What the queued buffers cost (see {@link #charge}). */
    private final AtomicLong charged = new AtomicLong();
    /** The writer found no room and waits for the reader to take something. */
    volatile boolean writerBlocked;
    /** How the writer ended the direction: set once, by the writer's loop, after its last buffer. */
    private volatile End end = End.OPEN;
    /** The reader closed: nothing it is sent will be read. */
    private volatile boolean readerClosed;

    static long charge(int bytes) {
        return Math.max(bytes, MIN_CHARGE);
    }

    /** Writer: the room left under {@code budget}; 0 or less means wait. */
    long room(long budget) {
        return budget - charged.get();
    }

    /** Writer: queues {@code buf} (taking over its reference); false if the reader is gone (buf then freed). */
    boolean add(ByteBuf buf) {
        charged.addAndGet(charge(buf.readableBytes()));
        queue.add(buf);
        if (readerClosed) {
            discard();
            return false;
        }
        return true;
    }

    /** Writer: no more data; {@code reset} reports it as a reset. Only the first end counts, as the first FIN does. */
    void end(boolean reset) {
        if (end == End.OPEN) {
            end = reset ? End.RESET : End.EOF;
        }
    }

    /** The writer reset the direction (it may still have data queued before the reset). */
    boolean isReset() {
        return end == End.RESET;
    }

    boolean isReaderClosed() {
        return readerClosed;
    }

    /** Reader: the next buffer, or null. Its charge is released: the writer may go on. */
    ByteBuf poll() {
        ByteBuf buf = queue.poll();
        if (buf != null) {
            charged.addAndGet(-charge(buf.readableBytes()));
        }
        return buf;
    }

    boolean isEmpty() {
        return queue.isEmpty();
    }

    /**
     * Reader: how the direction ended once everything before was taken, or OPEN. The end is read first: every
     * buffer was queued before it was set, so a queue seen empty after it is empty for good.
     */
    End endAfterData() {
        End e = end;
        return e != End.OPEN && queue.isEmpty() ? e : End.OPEN;
    }

    /** Reader: it closes; frees what waits and whatever the writer adds later. */
    void closeReader() {
        readerClosed = true;
        discard();
    }

    private void discard() {
        ByteBuf buf;
        while ((buf = queue.poll()) != null) {
            buf.release();
        }
    }
}
