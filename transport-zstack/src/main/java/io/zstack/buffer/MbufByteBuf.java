package io.zstack.buffer;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import io.netty.buffer.AbstractReferenceCountedByteBuf;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.internal.ObjectPool;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ReadOnlyBufferException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.ScatteringByteChannel;

/**
 * A Netty {@link ByteBuf} whose memory is the data area of one mbuf segment: a received payload handed to the
 * application without a copy, or a buffer the application fills in place, with the pool's headroom left in front
 * so the stack can prepend Ethernet/IPv4/TCP headers without moving the payload.
 *
 * <p>Index 0 is an address fixed at creation. The buffer never reads data_off/data_len again: the transport edits
 * them when it queues the mbuf for TCP, and this view must not move under the application. The buffer may grow
 * into the rest of its mbuf; beyond that it moves its content like any Netty buffer, into a fresh mbuf when one
 * can hold it, else into off-heap memory that is no mbuf ({@link #mbuf()} then returns 0, and the transport copies).
 *
 * <p>Memory is reached through java.lang.foreign only, so it works with Netty's Unsafe paths disabled. Releasing
 * the last reference drops one reference from the mbuf (DPDK's rte_pktmbuf_free_seg semantics: the mbuf returns
 * to its pool only if the transport holds no reference of its own), from any thread.
 */
public final class MbufByteBuf extends AbstractReferenceCountedByteBuf {
    private static final ValueLayout.OfShort SHORT_BE = JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort SHORT_LE = JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_BE = JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_BE = JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The whole address space (a global-scope segment): primitive accesses and copies to other buffers' addresses. */
    private static final MemorySegment MEMORY = Mbuf.MEMORY;

    /** Chunk size for stream transfers, which need a heap array in between. */
    private static final int STREAM_CHUNK = 8192;

    /**
     * Buffers are recycled, as Netty's pooled buffers are: one per received segment was the transport's largest
     * allocation per request. A per-thread pool (Netty's Recycler, which takes back buffers released on other
     * threads); a buffer goes back only from {@link #deallocate}, when its reference count reached 0, so what still
     * points at it is a stale reference to a released buffer, exactly as with Netty's pooled buffers.
     */
    private static final ObjectPool<MbufByteBuf> RECYCLER = ObjectPool.newPool(MbufByteBuf::new);

    private final ObjectPool.Handle<MbufByteBuf> recyclerHandle;
    private ByteBufAllocator alloc;
    private MbufPool pool;
    /** The mbuf holding the memory; 0 once the content moved to off-heap memory or the buffer was freed. */
    private long mbuf;
    /** Owner of the off-heap memory when the content outgrew every mbuf; null while mbuf-backed. */
    private Arena arena;
    /**
     * Index 0's address, and the usable room from there (to the mbuf's buffer end, or the off-heap allocation's);
     * 0 and 0 once freed. A plain address and bound instead of a MemorySegment per buffer: the segment was an object
     * per received segment (a fifth of what the transport allocated per HTTP echo request), and every access is
     * checked against the capacity (never beyond the room) by AbstractByteBuf before it gets here.
     */
    private long address;
    private int room;
    private int capacity;
    private ByteBuffer tmpNioBuf;

    private MbufByteBuf(ObjectPool.Handle<MbufByteBuf> recyclerHandle) {
        super(Integer.MAX_VALUE);
        this.recyclerHandle = recyclerHandle;
    }

    /** A buffer from the recycler, set up as a fresh one: one reference, indices and marks 0. */
    private static MbufByteBuf newBuffer(ByteBufAllocator alloc, MbufPool pool, long mbuf, long address, int room,
                                         int capacity, int maxCapacity) {
        MbufByteBuf buf = RECYCLER.get();
        buf.alloc = alloc;
        buf.pool = pool;
        buf.mbuf = mbuf;
        buf.arena = null;
        buf.address = address;
        buf.room = room;
        buf.capacity = capacity;
        buf.tmpNioBuf = null;
        buf.maxCapacity(maxCapacity);
        buf.resetRefCnt();
        buf.setIndex(0, 0);
        buf.markReaderIndex();
        buf.markWriterIndex();
        return buf;
    }

    /**
     * Wraps a received segment, taking over one of its references (released with this buffer). Index 0 is the
     * segment's first data byte; readerIndex 0, writerIndex = capacity = data_len. Only this segment is covered
     * and freed, even if its next pointer is set. The buffer may grow into the segment's tailroom unless the
     * segment's buffer is shared (indirect, or more than one reference), where the tail may belong to another view.
     */
    public static MbufByteBuf ofReceived(ByteBufAllocator alloc, MbufPool pool, long segment) {
        if (segment == 0) {
            throw new IllegalArgumentException("segment is 0");
        }
        int length = Mbuf.dataLen(segment);
        // A plain read suffices: a snapshot decides the room, and it saves a downcall per received segment.
        boolean shared = Mbuf.isIndirect(segment) || Mbuf.refcntPlain(segment) > 1;
        int room = shared ? length : Mbuf.bufLen(segment) - Mbuf.dataOff(segment);
        if (room < length) {
            throw new IllegalArgumentException(String.format("mbuf 0x%x: data_off + data_len past buf_len", segment));
        }
        MbufByteBuf buf = newBuffer(alloc, pool, segment, Mbuf.dataAddress(segment), room, length,
                Integer.MAX_VALUE);
        buf.setIndex(0, length);
        return buf;
    }

    /**
     * A buffer in a fresh mbuf, index 0 right after the pool's headroom; empty, with the given capacity. Returns
     * null when the pool is empty (the caller picks a fallback; an exception would be a costly way to say so on a
     * path that runs per write). Throws IllegalArgumentException when {@code initialCapacity} exceeds one mbuf's
     * room after headroom ({@link #mbufCapacity(MbufPool)}).
     */
    public static MbufByteBuf allocate(ByteBufAllocator alloc, MbufPool pool, int initialCapacity, int maxCapacity) {
        if (initialCapacity < 0 || initialCapacity > maxCapacity) {
            throw new IllegalArgumentException("initialCapacity " + initialCapacity + ", maxCapacity " + maxCapacity);
        }
        if (initialCapacity > mbufCapacity(pool)) {
            throw new IllegalArgumentException("initialCapacity " + initialCapacity + " exceeds one mbuf of pool "
                    + pool.name() + " (" + mbufCapacity(pool) + " bytes after headroom)");
        }
        long m = pool.alloc();
        if (m == 0) {
            return null;
        }
        return newBuffer(alloc, pool, m, Mbuf.dataAddress(m), roomOf(m), initialCapacity, maxCapacity);
    }

    /** The largest buffer one mbuf of this pool holds after the headroom. */
    public static int mbufCapacity(MbufPool pool) {
        return Math.max(0, pool.dataRoom() - pool.headroom());
    }

    /** Bytes from the fresh mbuf's data start to the end of its buffer. */
    private static int roomOf(long m) {
        return Mbuf.bufLen(m) - Mbuf.dataOff(m);
    }

    /** The memory as a bounded segment, for NIO views and memset (each call makes one). */
    private MemorySegment segment() {
        return MemorySegment.ofAddress(address).reinterpret(room);
    }

    /**
     * The MbufByteBuf underneath {@code buf} (itself, or through leak-detection wrappers, slices and duplicates,
     * which all share its memory), or null. The transport uses it to decide whether a written buffer can go to TCP
     * by reference: then {@code buf.memoryAddress() + buf.readerIndex()} lies inside {@link #mbuf()}'s buffer.
     */
    public static MbufByteBuf unwrapMbuf(ByteBuf buf) {
        for (ByteBuf b = buf; b != null; b = b.unwrap()) {
            if (b instanceof MbufByteBuf m) {
                return m;
            }
        }
        return null;
    }

    /** The mbuf holding this buffer's memory, or 0 when the content lives in off-heap memory (or was freed). */
    public long mbuf() {
        return mbuf;
    }

    /** The pool this buffer's mbufs come from and go back to. */
    public MbufPool pool() {
        return pool;
    }

    // ---- capacity

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public ByteBuf capacity(int newCapacity) {
        checkNewCapacity(newCapacity);
        if (newCapacity > room) {
            reallocate(newCapacity);
        } else if (newCapacity < capacity) {
            trimIndicesToCapacity(newCapacity);
        }
        capacity = newCapacity;
        return this;
    }

    /** Moves the content to memory of at least newCapacity bytes, as Netty's own buffers do when they grow. */
    private void reallocate(int newCapacity) {
        // a bigger mbuf when the allocator has a pool of them (still zero copy when written), else off-heap memory
        MbufPool target = newCapacity <= mbufCapacity(pool) ? pool
                : alloc instanceof ZStackByteBufAllocator z ? z.poolFor(newCapacity) : null;
        long fresh = target != null ? target.alloc() : 0;
        Arena newArena = null;
        long newAddress;
        int newRoom;
        if (fresh != 0) {
            newAddress = Mbuf.dataAddress(fresh);
            newRoom = roomOf(fresh);
        } else {
            // Shared: the buffer may be released on another thread than the one that grew it.
            newArena = Arena.ofShared();
            try {
                newAddress = newArena.allocate(newCapacity, 16).address();
            } catch (RuntimeException | Error e) {
                newArena.close();
                throw e;
            }
            newRoom = newCapacity;
        }
        MemorySegment.copy(MEMORY, address, MEMORY, newAddress, capacity);
        freeMemory();
        if (fresh != 0) {
            pool = target;
        }
        mbuf = fresh;
        arena = newArena;
        address = newAddress;
        room = newRoom;
        tmpNioBuf = null;
    }

    private void freeMemory() {
        long m = mbuf;
        Arena a = arena;
        mbuf = 0;
        arena = null;
        // No room: a NIO view asked for after release (with Netty's accessibility check off) fails instead of
        // reaching a recycled mbuf.
        address = 0;
        room = 0;
        if (m != 0) {
            // One segment, one reference: free_seg leaves next alone and only decrements a raised refcnt.
            pool.freeSegment(m);
        } else if (a != null) {
            a.close();
        }
    }

    @Override
    protected void deallocate() {
        tmpNioBuf = null;
        freeMemory();
        recyclerHandle.recycle(this);
    }

    @Override
    public int maxFastWritableBytes() {
        // ensureWritable grows within the mbuf's tailroom first instead of asking the allocator for a new size.
        return Math.min(room, maxCapacity()) - writerIndex();
    }

    @Override
    public boolean isContiguous() {
        return true;
    }

    // ---- identity

    @Override
    public ByteBufAllocator alloc() {
        return alloc;
    }

    @Override
    public ByteOrder order() {
        return ByteOrder.BIG_ENDIAN;
    }

    @Override
    public ByteBuf unwrap() {
        return null;
    }

    @Override
    public boolean isDirect() {
        return true;
    }

    @Override
    public boolean hasArray() {
        return false;
    }

    @Override
    public byte[] array() {
        throw new UnsupportedOperationException("direct buffer");
    }

    @Override
    public int arrayOffset() {
        throw new UnsupportedOperationException("direct buffer");
    }

    @Override
    public boolean hasMemoryAddress() {
        return true;
    }

    @Override
    public long memoryAddress() {
        ensureAccessible();
        return address;
    }

    // ---- primitive access
    //
    // AbstractByteBuf has checked the index against the capacity (never beyond the room) and the reference count.
    // Every access, bulk transfers too, goes through the whole-address-space segment at a plain address: a
    // per-buffer segment's own bounds and scope checks doubled the cost of getLong (3.0 vs 1.6 ns in
    // MbufByteBufBenchmark), and the segment itself was an allocation per received segment. As with Netty's Unsafe
    // buffers, access after release is only stopped by Netty's accessibility check (io.netty.buffer.checkAccessible,
    // on by default).


    @Override
    protected byte _getByte(int index) {
        return MEMORY.get(JAVA_BYTE, address + index);
    }

    @Override
    protected short _getShort(int index) {
        return MEMORY.get(SHORT_BE, address + index);
    }

    @Override
    protected short _getShortLE(int index) {
        return MEMORY.get(SHORT_LE, address + index);
    }

    @Override
    protected int _getUnsignedMedium(int index) {
        long at = address + index;
        return (MEMORY.get(JAVA_BYTE, at) & 0xff) << 16 | MEMORY.get(SHORT_BE, at + 1) & 0xffff;
    }

    @Override
    protected int _getUnsignedMediumLE(int index) {
        long at = address + index;
        return MEMORY.get(JAVA_BYTE, at) & 0xff | (MEMORY.get(SHORT_LE, at + 1) & 0xffff) << 8;
    }

    @Override
    protected int _getInt(int index) {
        return MEMORY.get(INT_BE, address + index);
    }

    @Override
    protected int _getIntLE(int index) {
        return MEMORY.get(INT_LE, address + index);
    }

    @Override
    protected long _getLong(int index) {
        return MEMORY.get(LONG_BE, address + index);
    }

    @Override
    protected long _getLongLE(int index) {
        return MEMORY.get(LONG_LE, address + index);
    }

    @Override
    protected void _setByte(int index, int value) {
        MEMORY.set(JAVA_BYTE, address + index, (byte) value);
    }

    @Override
    protected void _setShort(int index, int value) {
        MEMORY.set(SHORT_BE, address + index, (short) value);
    }

    @Override
    protected void _setShortLE(int index, int value) {
        MEMORY.set(SHORT_LE, address + index, (short) value);
    }

    @Override
    protected void _setMedium(int index, int value) {
        MEMORY.set(JAVA_BYTE, address + index, (byte) (value >>> 16));
        MEMORY.set(SHORT_BE, address + index + 1, (short) value);
    }

    @Override
    protected void _setMediumLE(int index, int value) {
        MEMORY.set(JAVA_BYTE, address + index, (byte) value);
        MEMORY.set(SHORT_LE, address + index + 1, (short) (value >>> 8));
    }

    @Override
    protected void _setInt(int index, int value) {
        MEMORY.set(INT_BE, address + index, value);
    }

    @Override
    protected void _setIntLE(int index, int value) {
        MEMORY.set(INT_LE, address + index, value);
    }

    @Override
    protected void _setLong(int index, long value) {
        MEMORY.set(LONG_BE, address + index, value);
    }

    @Override
    protected void _setLongLE(int index, long value) {
        MEMORY.set(LONG_LE, address + index, value);
    }

    @Override
    public ByteBuf setZero(int index, int length) {
        checkIndex(index, length);
        MEMORY.asSlice(address + index, length).fill((byte) 0);
        return this;
    }

    // ---- bulk transfers out

    @Override
    public ByteBuf getBytes(int index, byte[] dst, int dstIndex, int length) {
        checkDstIndex(index, length, dstIndex, dst.length);
        MemorySegment.copy(MEMORY, JAVA_BYTE, address + index, dst, dstIndex, length);
        return this;
    }

    /**
     * Copies {@code length} bytes at native {@code address} into {@code dst} at {@code dstIndex}; the caller has checked
     * the bounds. A buffer with a writable native address or a heap array is copied into directly; others (composite,
     * read-only or NIO-backed) through a ByteBuffer view of the source, which every ByteBuf accepts (and throws if it
     * must). Also serves copies out of mbufs that no MbufByteBuf wraps (copy-mode reads).
     */
    public static void copy(long address, ByteBuf dst, int dstIndex, int length) {
        if (dst.hasMemoryAddress() && !dst.isReadOnly()) {
            MemorySegment.copy(MEMORY, address, MEMORY, dst.memoryAddress() + dstIndex, length);
        } else if (dst.hasArray()) {
            MemorySegment.copy(MEMORY, JAVA_BYTE, address, dst.array(), dst.arrayOffset() + dstIndex, length);
        } else {
            dst.setBytes(dstIndex, MEMORY.asSlice(address, length).asByteBuffer());
        }
    }

    /**
     * Copies [srcIndex, srcIndex + length) of {@code src} to native {@code address}; the caller has checked the bounds.
     * From a native address or a heap array directly (overlapping ranges, src being the destination's own buffer as in
     * discardReadBytes, copy like memmove); from other kinds through a ByteBuffer view of the destination. Also serves
     * copies into mbufs that no MbufByteBuf wraps (copied writes).
     */
    public static void copy(ByteBuf src, int srcIndex, long address, int length) {
        if (src.hasMemoryAddress()) {
            MemorySegment.copy(MEMORY, src.memoryAddress() + srcIndex, MEMORY, address, length);
        } else if (src.hasArray()) {
            MemorySegment.copy(src.array(), src.arrayOffset() + srcIndex, MEMORY, JAVA_BYTE, address, length);
        } else {
            src.getBytes(srcIndex, MEMORY.asSlice(address, length).asByteBuffer());
        }
    }

    @Override
    public ByteBuf getBytes(int index, ByteBuf dst, int dstIndex, int length) {
        checkDstIndex(index, length, dstIndex, dst.capacity());
        if (length == 0) {
            return this;
        }
        copy(address + index, dst, dstIndex, length);
        return this;
    }

    @Override
    public ByteBuf getBytes(int index, ByteBuffer dst) {
        int length = dst.remaining();
        checkIndex(index, length);
        if (length == 0) {
            return this;
        }
        if (dst.isReadOnly()) {
            throw new ReadOnlyBufferException();
        }
        MemorySegment.copy(MEMORY, address + index, MemorySegment.ofBuffer(dst), 0, length);
        dst.position(dst.position() + length);
        return this;
    }

    @Override
    public ByteBuf getBytes(int index, OutputStream out, int length) throws IOException {
        checkIndex(index, length);
        if (length == 0) {
            return this;
        }
        byte[] chunk = new byte[Math.min(length, STREAM_CHUNK)];
        for (int done = 0; done < length; ) {
            int n = Math.min(chunk.length, length - done);
            MemorySegment.copy(MEMORY, JAVA_BYTE, address + index + done, chunk, 0, n);
            out.write(chunk, 0, n);
            done += n;
        }
        return this;
    }

    @Override
    public int getBytes(int index, GatheringByteChannel out, int length) throws IOException {
        if (length == 0) {
            checkIndex(index, 0);
            return 0;
        }
        return out.write(internalNioBuffer(index, length));
    }

    @Override
    public int getBytes(int index, FileChannel out, long position, int length) throws IOException {
        if (length == 0) {
            checkIndex(index, 0);
            return 0;
        }
        return out.write(internalNioBuffer(index, length), position);
    }

    // ---- bulk transfers in

    @Override
    public ByteBuf setBytes(int index, byte[] src, int srcIndex, int length) {
        checkSrcIndex(index, length, srcIndex, src.length);
        MemorySegment.copy(src, srcIndex, MEMORY, JAVA_BYTE, address + index, length);
        return this;
    }

    @Override
    public ByteBuf setBytes(int index, ByteBuf src, int srcIndex, int length) {
        checkSrcIndex(index, length, srcIndex, src.capacity());
        if (length == 0) {
            return this;
        }
        copy(src, srcIndex, address + index, length);
        return this;
    }

    @Override
    public ByteBuf setBytes(int index, ByteBuffer src) {
        int length = src.remaining();
        checkIndex(index, length);
        MemorySegment.copy(MemorySegment.ofBuffer(src), 0, MEMORY, address + index, length);
        src.position(src.position() + length);
        return this;
    }

    /** Reads until length bytes arrived, the stream ends, or a read comes back short (more would block). */
    @Override
    public int setBytes(int index, InputStream in, int length) throws IOException {
        checkIndex(index, length);
        byte[] chunk = new byte[Math.min(length, STREAM_CHUNK)];
        int done = 0;
        do {
            // Reads even for length 0, so an exhausted stream answers -1 as with Netty's own buffers.
            int want = Math.min(chunk.length, length - done);
            int n = in.read(chunk, 0, want);
            if (n < 0) {
                return done == 0 ? -1 : done;
            }
            MemorySegment.copy(chunk, 0, MEMORY, JAVA_BYTE, address + index + done, n);
            done += n;
            if (n < want) {
                break;
            }
        } while (done < length);
        return done;
    }

    @Override
    public int setBytes(int index, ScatteringByteChannel in, int length) throws IOException {
        // No shortcut for length 0: a closed channel still answers -1, as with Netty's own buffers.
        try {
            return in.read(internalNioBuffer(index, length));
        } catch (ClosedChannelException e) {
            return -1;
        }
    }

    @Override
    public int setBytes(int index, FileChannel in, long position, int length) throws IOException {
        // No shortcut for length 0: a closed channel still answers -1, as with Netty's own buffers.
        try {
            return in.read(internalNioBuffer(index, length), position);
        } catch (ClosedChannelException e) {
            return -1;
        }
    }

    // ---- copies and NIO views

    /** A copy from this buffer's allocator: an mbuf again when the allocator is ZStack's and the size fits. */
    @Override
    public ByteBuf copy(int index, int length) {
        checkIndex(index, length);
        ByteBuf copy = alloc.directBuffer(length, maxCapacity());
        try {
            return copy.writeBytes(this, index, length);
        } catch (Throwable t) {
            copy.release();
            throw t;
        }
    }

    @Override
    public int nioBufferCount() {
        return 1;
    }

    /** A direct, big-endian ByteBuffer over [index, index + length) of the same memory; position 0. */
    @Override
    public ByteBuffer nioBuffer(int index, int length) {
        checkIndex(index, length);
        return segment().asSlice(index, length).asByteBuffer();
    }

    @Override
    public ByteBuffer[] nioBuffers(int index, int length) {
        return new ByteBuffer[] {nioBuffer(index, length)};
    }

    /** A cached ByteBuffer over the whole room, positioned at index with limit index + length. */
    @Override
    public ByteBuffer internalNioBuffer(int index, int length) {
        checkIndex(index, length);
        ByteBuffer b = tmpNioBuf;
        if (b == null) {
            tmpNioBuf = b = segment().asByteBuffer();
        }
        return b.clear().position(index).limit(index + length);
    }

    @Override
    public String toString() {
        String s = super.toString();
        long m = mbuf;
        return m != 0 ? s + String.format("[mbuf 0x%x]", m) : s;
    }
}
