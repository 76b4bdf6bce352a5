package io.zstack.shm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * One direction of a byte stream between two processes: a single-producer single-consumer ring inside a shared
 * {@link MemorySegment}. The producer copies bytes in at {@code tail} and publishes the new tail with a release
 * store; the consumer reads up to the tail it loaded with an acquire, and gives the space back by publishing
 * {@code head} (release) once the bytes are no longer used, which may be long after they were read (the reader's
 * buffers are views of the ring). Positions count bytes since the start and never wrap; the offset in the ring is the
 * position modulo the capacity (a power of two).
 *
 * <p>Two more words tell how the stream ended: {@code end} (the writer's last word after its data: EOF or reset) and
 * {@code readerClosed} (the reader will read nothing more: the writer drops what it has). Each is written by one side
 * only, except that a survivor writes the other side's word when that process died (nobody else maps the region
 * then). Each word sits on its own cache line, so the two processes' cores do not fight over a line.
 */
public final class ByteRing {
    /** Bytes before the data: four words, one per 64-byte line. */
    public static final int HEADER = 256;
    public static final int OPEN = 0;
    public static final int EOF = 1;
    public static final int RESET = 2;

    private static final long TAIL = 0;
    private static final long HEAD = 64;
    private static final long END = 128;
    private static final long READER_CLOSED = 192;
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    private final MemorySegment header;
    private final MemorySegment data;
    private final long capacity;
    private final long mask;

    private ByteRing(MemorySegment ring, long capacity) {
        this.header = ring.asSlice(0, HEADER);
        this.data = ring.asSlice(HEADER, capacity);
        this.capacity = capacity;
        this.mask = capacity - 1;
    }

    /** The bytes a ring of {@code capacity} takes in a region. */
    public static long footprint(long capacity) {
        return HEADER + capacity;
    }

    /** The ring laid out at the start of {@code ring}, whose size must be {@link #footprint}({@code capacity}). */
    public static ByteRing at(MemorySegment ring, long capacity) {
        if (capacity < 4096 || Long.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("ring capacity must be a power of two of at least 4096: " + capacity);
        }
        if (ring.byteSize() < footprint(capacity) || ring.address() % 64 != 0) {
            throw new IllegalArgumentException("ring segment too small or not 64-byte aligned: " + ring);
        }
        return new ByteRing(ring, capacity);
    }

    public long capacity() {
        return capacity;
    }

    // ================================================================================== producer

    /** Producer: its own tail (no other process writes it, so a plain read is exact). */
    public long tail() {
        return (long) LONG.get(header, TAIL);
    }

    /** Producer: bytes it may write now. */
    public long free() {
        return capacity - (tail() - (long) LONG.getAcquire(header, HEAD));
    }

    /**
     * Producer: the contiguous space at {@code position} (the tail, or past it for bytes not yet published), at most
     * {@code max} bytes and never past the ring's end: write into it, then {@link #publish}.
     */
    public MemorySegment spaceAt(long position, long max) {
        long offset = position & mask;
        return data.asSlice(offset, Math.min(max, capacity - offset));
    }

    /** Producer: the bytes up to {@code newTail} are written; the consumer may read them. */
    public void publish(long newTail) {
        LONG.setRelease(header, TAIL, newTail);
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

    /** Consumer: where the producer has written up to (acquire: the bytes before it are visible). */
    public long published() {
        return (long) LONG.getAcquire(header, TAIL);
    }

    /** Consumer: the readable bytes at {@code position}, contiguous, at most {@code max}. */
    public MemorySegment bytesAt(long position, long max) {
        long offset = position & mask;
        return data.asSlice(offset, Math.min(max, capacity - offset));
    }

    /** Consumer: the space before {@code position} may be written again. */
    public void release(long position) {
        LONG.setRelease(header, HEAD, position);
    }

    /** Consumer: the last released position. */
    public long head() {
        return (long) LONG.getAcquire(header, HEAD);
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
