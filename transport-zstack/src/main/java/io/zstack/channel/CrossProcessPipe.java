package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.buffer.UnpooledUnsafeDirectByteBuf;
import io.zstack.shm.ChunkRing;
import io.zstack.shm.SharedRegion;
import java.lang.foreign.MemorySegment;

/**
 * One direction of a cross-process connection, as this process sees it: a {@link ChunkRing} in the connection's
 * {@link SharedRegion}. The writer copies each written buffer into the region's chunks once (its mbufs live in its own
 * process's memory, which the other process cannot see); the reader's received buffers are views of the chunks, no
 * copy, and a chunk goes back to the writer once every view of it is released (in any order: a held view holds its
 * chunk only, as a held mbuf holds itself).
 *
 * <p>Loop thread only, except a view's release (any thread), which {@link ChunkRing#viewReleased} makes safe.
 */
final class CrossProcessPipe extends LocalPipe {
    private final ChunkRing ring;
    private final SharedRegion region;
    private final int[] chunk = new int[1];

    CrossProcessPipe(ChunkRing ring, SharedRegion region) {
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
        ring.write(length, (target, offset) -> src.getBytes(index + offset, target.asByteBuffer()));
        return true;
    }

    @Override
    void end(boolean reset) {
        ring.end(reset ? ChunkRing.RESET : ChunkRing.EOF);
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
        return ring.end() == ChunkRing.RESET;
    }

    @Override
    ByteBuf poll() {
        if (ring.isEmpty() || !region.retain()) {
            return null;
        }
        MemorySegment bytes = ring.next(chunk);
        if (bytes == null) {
            region.release();
            return null;
        }
        return new View(bytes, ring, chunk[0], region);
    }

    /** Reader: how many pieces the writer has published, and how it ended: the loop's poll compares them. */
    long published() {
        return ring.published();
    }

    int endWord() {
        return ring.end();
    }

    @Override
    boolean isEmpty() {
        return ring.isEmpty();
    }

    @Override
    End endAfterData() {
        int e = ring.end();
        if (e == ChunkRing.OPEN || !isEmpty()) {
            return End.OPEN;
        }
        return e == ChunkRing.RESET ? End.RESET : End.EOF;
    }

    @Override
    void closeReader() {
        ring.closeReader(); // the writer stops; what waits is never viewed, and the region goes with the connection
    }

    /** Reader's side of a dead peer: its stream ends in a reset after what it wrote. */
    void writerLost() {
        ring.end(ChunkRing.RESET);
    }

    /** Reader: gives the writer back the chunks whose views were all released. Returns true if any. */
    boolean sweep() {
        return ring.sweep();
    }

    /**
     * A received buffer: a view of chunk bytes in the shared region (no copy). Releasing it tells the ring, and lets
     * go of the region.
     */
    static final class View extends UnpooledUnsafeDirectByteBuf {
        private final ChunkRing ring;
        private final int chunk;
        private final SharedRegion region;

        View(MemorySegment bytes, ChunkRing ring, int chunk, SharedRegion region) {
            super(UnpooledByteBufAllocator.DEFAULT, bytes.asByteBuffer(), (int) bytes.byteSize());
            this.ring = ring;
            this.chunk = chunk;
            this.region = region;
        }

        @Override
        protected void deallocate() {
            super.deallocate(); // a buffer it does not own: nothing freed
            ring.viewReleased(chunk);
            region.release();
        }
    }
}
