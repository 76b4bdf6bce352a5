package io.zstack.shm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * One direction of a byte stream between two processes, in a shared {@link MemorySegment}: the bytes live in
 * fixed-size chunks (the region's mbufs), and two single-producer single-consumer rings carry references to them. The
 * writer copies bytes into its current chunk and publishes a descriptor (chunk, offset, length) per piece on the
 * descriptor ring; the reader takes descriptors in order, hands out views of the chunk bytes, and returns a chunk on
 * the return ring once the writer has filled it and every view of it was released, in whatever order. A view held long
 * holds its chunk only, as a held mbuf holds itself and not the pool: the writer goes on with the other chunks.
 *
 * <p>Ring indices count entries since the start and never wrap; the slot is the index modulo the ring's size. Each
 * index is written by one side with a release store and read by the other with an acquire load, so what a published
 * index covers is visible to the other process. Two more words tell how the stream ended: {@code end} (the writer's,
 * after its last descriptor: EOF or reset) and {@code readerClosed} (the reader reads nothing more; the writer drops
 * what it has). A survivor writes the dead side's word (nobody else maps the region then). Every word sits on its own
 * cache line, so the two processes' cores do not fight over a line.
 *
 * <p>One instance per process per direction: the writer's process uses the producer methods, the reader's the
 * consumer methods; each side's local state (free chunks, views per chunk) is its own.
 */
public final class ChunkRing {
    public static final int OPEN = 0;
    public static final int EOF = 1;
    public static final int RESET = 2;
    /** Bytes per chunk: a 64 KiB write is four descriptors, a small one shares its chunk with the next writes. */
    public static final int CHUNK = 16 * 1024;
    private static final int HEADER = 6 * 64;
    private static final int DESCRIPTOR = 16;

    private static final long DESC_TAIL = 0;
    private static final long DESC_HEAD = 64;
    private static final long RET_TAIL = 128;
    private static final long RET_HEAD = 192;
    private static final long END = 256;
    private static final long READER_CLOSED = 320;
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    private final MemorySegment header;
    private final MemorySegment descriptors;
    private final MemorySegment returns;
    private final MemorySegment chunks;
    private final int chunkCount;
    private final int descriptorCount;

    // producer's own state
    private final int[] freeChunks;
    private int freeCount;
    private int current = -1;
    private int fill;
    private long descTail;
    private long retHead;

    // consumer's own state
    private long descHead;
    private long retTail;
    private final AtomicIntegerArray viewsOf;
    private final boolean[] filled;
    private volatile boolean released;

    private ChunkRing(MemorySegment ring, int chunkCount) {
        this.chunkCount = chunkCount;
        this.descriptorCount = descriptorsFor(chunkCount);
        long at = 0;
        this.header = ring.asSlice(at, HEADER);
        at += HEADER;
        this.descriptors = ring.asSlice(at, (long) descriptorCount * DESCRIPTOR);
        at += (long) descriptorCount * DESCRIPTOR;
        this.returns = ring.asSlice(at, 4L * chunkCount);
        at = align(at + 4L * chunkCount, 4096);
        this.chunks = ring.asSlice(at, (long) chunkCount * CHUNK);
        this.freeChunks = new int[chunkCount];
        for (int i = 0; i < chunkCount; i++) {
            freeChunks[i] = chunkCount - 1 - i;
        }
        this.freeCount = chunkCount;
        this.viewsOf = new AtomicIntegerArray(chunkCount);
        this.filled = new boolean[chunkCount];
    }

    private static int descriptorsFor(int chunkCount) {
        return Math.max(1024, 4 * chunkCount);
    }

    private static long align(long n, long to) {
        return (n + to - 1) / to * to;
    }

    /** The bytes a direction of {@code capacity} bytes (a multiple of {@link #CHUNK}, a power of two) takes. */
    public static long footprint(long capacity) {
        int count = chunkCount(capacity);
        return align(HEADER + (long) descriptorsFor(count) * DESCRIPTOR + 4L * count, 4096) + capacity;
    }

    private static int chunkCount(long capacity) {
        if (capacity < 4L * CHUNK || Long.bitCount(capacity) != 1 || capacity > (1L << 30)) {
            throw new IllegalArgumentException("ring capacity must be a power of two from 64 KiB to 1 GiB: "
                    + capacity);
        }
        return (int) (capacity / CHUNK);
    }

    /** The ring laid out at the start of {@code ring} (at least {@link #footprint}, 4096-aligned). */
    public static ChunkRing at(MemorySegment ring, long capacity) {
        if (ring.byteSize() < footprint(capacity) || ring.address() % 4096 != 0) {
            throw new IllegalArgumentException("ring segment too small or not page-aligned: " + ring);
        }
        return new ChunkRing(ring, chunkCount(capacity));
    }

    public long capacity() {
        return (long) chunkCount * CHUNK;
    }

    // ================================================================================== producer

    /** Producer: the bytes it may write now (chunks free or returned, and descriptors for them). */
    public long free() {
        takeReturns();
        long bytes = (current < 0 ? 0 : CHUNK - fill) + (long) freeCount * CHUNK;
        long slots = descriptorCount - (descTail - (long) LONG.getAcquire(header, DESC_HEAD));
        return Math.max(0, Math.min(bytes, (slots - 1) * CHUNK));
    }

    private void takeReturns() {
        long tail = (long) LONG.getAcquire(header, RET_TAIL);
        if (tail == retHead) {
            return;
        }
        for (; retHead < tail; retHead++) {
            int chunk = returns.getAtIndex(ValueLayout.JAVA_INT, retHead % chunkCount);
            if (chunk < 0 || chunk >= chunkCount || freeCount == chunkCount) {
                throw new IllegalStateException("bad chunk return " + chunk + " (" + freeCount + " free)");
            }
            freeChunks[freeCount++] = chunk;
        }
        LONG.setRelease(header, RET_HEAD, retHead);
    }

    /** Producer, {@code length} at most {@link #free}: copies the bytes in, through {@code copy}, and publishes them. */
    public void write(int length, Copier copy) {
        int done = 0;
        while (done < length) {
            if (current < 0) {
                if (freeCount == 0) {
                    throw new IllegalStateException("write of " + length + " bytes beyond the ring's room");
                }
                current = freeChunks[--freeCount];
                fill = 0;
            }
            int n = Math.min(length - done, CHUNK - fill);
            copy.copy(chunks.asSlice((long) current * CHUNK + fill, n), done);
            long slot = (descTail % descriptorCount) * DESCRIPTOR;
            boolean closes = fill + n == CHUNK;
            descriptors.set(ValueLayout.JAVA_INT, slot, current);
            descriptors.set(ValueLayout.JAVA_INT, slot + 4, fill);
            descriptors.set(ValueLayout.JAVA_INT, slot + 8, n);
            descriptors.set(ValueLayout.JAVA_INT, slot + 12, closes ? 1 : 0);
            descTail++;
            fill += n;
            done += n;
            if (closes) {
                current = -1;
            }
        }
        LONG.setRelease(header, DESC_TAIL, descTail);
    }

    /** Fills a piece of a chunk with the bytes from {@code offset} of what is being written. */
    @FunctionalInterface
    public interface Copier {
        void copy(MemorySegment target, int offset);
    }

    /** Producer: no more data, as EOF or a reset. The first end counts, as the first FIN does. */
    public void end(int how) {
        if ((int) INT.getAcquire(header, END) == OPEN) {
            INT.setRelease(header, END, how);
        }
    }

    public boolean isReaderClosed() {
        return (int) INT.getAcquire(header, READER_CLOSED) != 0;
    }

    // ================================================================================== consumer

    /** Consumer: how many descriptors the producer has published (compare with earlier calls to see news). */
    public long published() {
        return (long) LONG.getAcquire(header, DESC_TAIL);
    }

    /** Consumer: whether every published descriptor was taken. */
    public boolean isEmpty() {
        return published() == descHead;
    }

    /**
     * Consumer: the bytes of the next descriptor, or null; the caller makes a view of them and calls
     * {@link #viewReleased} with the returned chunk index when the view is released. The chunk number is in
     * {@code chunkOut[0]}.
     */
    public MemorySegment next(int[] chunkOut) {
        if (descHead == published()) {
            return null;
        }
        long slot = (descHead % descriptorCount) * DESCRIPTOR;
        int chunk = descriptors.get(ValueLayout.JAVA_INT, slot);
        int offset = descriptors.get(ValueLayout.JAVA_INT, slot + 4);
        int length = descriptors.get(ValueLayout.JAVA_INT, slot + 8);
        boolean closes = descriptors.get(ValueLayout.JAVA_INT, slot + 12) != 0;
        if (chunk < 0 || chunk >= chunkCount || offset < 0 || length <= 0 || offset + length > CHUNK) {
            throw new IllegalStateException("bad descriptor " + chunk + "/" + offset + "/" + length);
        }
        descHead++;
        LONG.setRelease(header, DESC_HEAD, descHead); // the slot is read: the producer may reuse it
        viewsOf.incrementAndGet(chunk);
        if (closes) {
            filled[chunk] = true;
        }
        chunkOut[0] = chunk;
        return chunks.asSlice((long) chunk * CHUNK + offset, length);
    }

    /** Any thread: a view of {@code chunk} was released. */
    public void viewReleased(int chunk) {
        viewsOf.decrementAndGet(chunk);
        released = true;
    }

    /** Consumer: returns the filled chunks whose views were all released. Returns true if any. */
    public boolean sweep() {
        if (!released) {
            return false;
        }
        released = false;
        boolean any = false;
        for (int chunk = 0; chunk < chunkCount; chunk++) {
            if (filled[chunk] && viewsOf.get(chunk) == 0) {
                filled[chunk] = false;
                returns.setAtIndex(ValueLayout.JAVA_INT, retTail % chunkCount, chunk);
                retTail++;
                any = true;
            }
        }
        if (any) {
            LONG.setRelease(header, RET_TAIL, retTail);
        }
        return any;
    }

    /** How the producer ended the stream: {@link #OPEN}, {@link #EOF} or {@link #RESET}. */
    public int end() {
        return (int) INT.getAcquire(header, END);
    }

    /** Consumer: it reads nothing more; the producer drops what it would write. */
    public void closeReader() {
        INT.setRelease(header, READER_CLOSED, 1);
    }
}
