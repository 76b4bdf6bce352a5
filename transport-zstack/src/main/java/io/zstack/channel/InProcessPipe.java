package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
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
final class InProcessPipe extends LocalPipe {
    /** What one queued buffer costs at least: a small write still holds a whole mbuf, as an skb's truesize counts. */
    static final int MIN_CHARGE = 2048;

    private final Queue<ByteBuf> queue = new ConcurrentLinkedQueue<>();
    /** What the queued buffers cost (see {@link #charge}). */
    private final AtomicLong charged = new AtomicLong();
    /** How the writer ended the direction: set once, by the writer's loop, after its last buffer. */
    private volatile End end = End.OPEN;
    /** The reader closed: nothing it is sent will be read. */
    private volatile boolean readerClosed;

    static long charge(int bytes) {
        return Math.max(bytes, MIN_CHARGE);
    }

    @Override
    long room(long budget) {
        return budget - charged.get();
    }

    @Override
    boolean add(ByteBuf buf) {
        charged.addAndGet(charge(buf.readableBytes()));
        queue.add(buf);
        if (readerClosed) {
            discard();
            return false;
        }
        return true;
    }

    @Override
    void end(boolean reset) {
        if (end == End.OPEN) {
            end = reset ? End.RESET : End.EOF;
        }
    }

    @Override
    boolean isReset() {
        return end == End.RESET;
    }

    @Override
    boolean isReaderClosed() {
        return readerClosed;
    }

    /** Reader: the next buffer, or null. Its charge is released: the writer may go on. */
    @Override
    boolean addCopy(ByteBuf src, int index, int length, ByteBufAllocator alloc) {
        ByteBuf copy = alloc.directBuffer(length);
        copy.writeBytes(src, index, length);
        return add(copy);
    }

    @Override
    ByteBuf poll() {
        ByteBuf buf = queue.poll();
        if (buf != null) {
            charged.addAndGet(-charge(buf.readableBytes()));
        }
        return buf;
    }

    @Override
    boolean isEmpty() {
        return queue.isEmpty();
    }

    @Override
    End endAfterData() {
        End e = end;
        return e != End.OPEN && queue.isEmpty() ? e : End.OPEN;
    }

    @Override
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
