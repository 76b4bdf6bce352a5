package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledUnsafeDirectByteBuf;
import io.zstack.shm.ByteRing;
import io.zstack.shm.SharedRegion;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;

/**
 * One direction of a cross-process connection, as this process sees it: a {@link ByteRing} in the connection's
 * {@link SharedRegion}. The writer copies each written buffer into the ring once (its mbufs live in its own process's
 * memory, which the other process cannot see); the reader's received buffers are views of the ring, no copy, and the
 * ring space under a view is given back to the writer only when the view is released (in ring order: a view held
 * longer holds back the space after it, as a held mbuf holds its pool's memory).
 *
 * <p>Loop thread only, except a view's release (any thread), which only sets a flag that {@link #sweep} reads.
 */
final class CrossProcessPipe extends LocalPipe {
    private final ByteRing ring;
    private final SharedRegion region;
    /** Reader: the position up to which views were handed out. */
    private long readPosition;
    /** Reader: views handed out and not yet given back to the writer, in ring order. */
    private final ArrayDeque<View> views = new ArrayDeque<>();

    CrossProcessPipe(ByteRing ring, SharedRegion region) {
        this.ring = ring;
        this.region = region;
    }

    // ============================================================================================ writer

    @Override
    long room(long budget) {
        return ring.free(); // the ring is the budget: its size was chosen from the buffers (see CrossProcessEnd)
    }

    @Override
    boolean add(ByteBuf buf) {
        try {
            return addCopy(buf, buf.readerIndex(), buf.readableBytes(), null);
        } finally {
            buf.release();
        }
    }

    @Override
    boolean addCopy(ByteBuf src, int index, int length, ByteBufAllocator alloc) {
        if (ring.isReaderClosed()) {
            return false;
        }
        if (length > ring.free()) {
            throw new IllegalStateException("write of " + length + " bytes beyond the ring's room " + ring.free());
        }
        long tail = ring.tail();
        int done = 0;
        while (done < length) {
            MemorySegment space = ring.spaceAt(tail + done, length - done);
            int n = (int) space.byteSize();
            src.getBytes(index + done, space.asByteBuffer());
            done += n;
        }
        ring.publish(tail + length);
        return true;
    }

    @Override
    void end(boolean reset) {
        ring.end(reset ? ByteRing.RESET : ByteRing.EOF);
    }

    @Override
    boolean isReaderClosed() {
        return ring.isReaderClosed();
    }

    /** Writer's side of a dead peer: nobody reads any more. */
    void readerLost() {
        ring.closeReader();
    }

    // ============================================================================================ reader

    @Override
    boolean isReset() {
        return ring.end() == ByteRing.RESET;
    }

    @Override
    ByteBuf poll() {
        long available = ring.published() - readPosition;
        if (available <= 0 || !region.retain()) {
            return null;
        }
        MemorySegment bytes = ring.bytesAt(readPosition, Math.min(available, Integer.MAX_VALUE));
        View view = new View(bytes, readPosition + bytes.byteSize(), region);
        readPosition += bytes.byteSize();
        views.add(view);
        return view;
    }

    /** Reader: where the writer has written up to, and how it ended: the loop's poll compares them each round. */
    long published() {
        return ring.published();
    }

    int endWord() {
        return ring.end();
    }

    @Override
    boolean isEmpty() {
        return ring.published() == readPosition;
    }

    @Override
    End endAfterData() {
        int e = ring.end();
        if (e == ByteRing.OPEN || !isEmpty()) {
            return End.OPEN;
        }
        return e == ByteRing.RESET ? End.RESET : End.EOF;
    }

    @Override
    void closeReader() {
        ring.closeReader();
        readPosition = ring.published(); // what waits is dropped; the writer stops
    }

    /** Reader's side of a dead peer: its stream ends in a reset after what it wrote. */
    void writerLost() {
        ring.end(ByteRing.RESET);
    }

    /** Reader: gives the writer back the space of the views released so far, in order. Returns true if any. */
    boolean sweep() {
        View first;
        boolean any = false;
        while ((first = views.peekFirst()) != null && first.released) {
            views.pollFirst();
            any = true;
        }
        if (any) {
            ring.release(first == null ? readPosition : first.start());
        }
        return any;
    }

    /**
     * A received buffer: a view of ring bytes in the shared region (no copy). Releasing it marks its space free for
     * {@link #sweep} and lets go of the region.
     */
    static final class View extends UnpooledUnsafeDirectByteBuf {
        private final long end;
        private final int length;
        private final SharedRegion region;
        volatile boolean released;

        View(MemorySegment bytes, long end, SharedRegion region) {
            super(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, bytes.asByteBuffer(), (int) bytes.byteSize());
            this.end = end;
            this.length = (int) bytes.byteSize();
            this.region = region;
        }

        long start() {
            return end - length;
        }

        @Override
        protected void deallocate() {
            super.deallocate(); // a buffer it does not own: nothing freed
            released = true;
            region.release();
        }
    }
}
