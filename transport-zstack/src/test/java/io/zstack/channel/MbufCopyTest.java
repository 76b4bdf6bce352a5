package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.util.IllegalReferenceCountException;
import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * Copying a write into mbufs: one chain in order, and at DPDK's segment limit a shorter chain, nothing leaked; every
 * kind of buffer an application writes (heap, direct, slices at an offset, read-only, composite) copied byte for
 * byte, and a copy-mode read into heap and direct buffers alike.
 */
class MbufCopyTest {
    @Test
    void aLongCopyIsOneChainOfSegmentSizedMbufsInOrder() {
        try (JavaMbufPool pool = new JavaMbufPool("copy", 256)) {
            ByteBuf src = pattern(100_000);
            long chain = MbufCopy.in(src, 0, src.readableBytes(), pool, 1448);
            assertEquals(100_000, Mbuf.pktLen(chain));
            assertEquals((100_000 + 1447) / 1448, Mbuf.nbSegs(chain));
            assertChainHolds(chain, src, 100_000);
            pool.free(chain);
            assertEquals(256, pool.available());
            src.release();
        }
    }

    @Test
    void aCopyPastDpdksSegmentLimitStopsAtTheLimitWithoutLeaking() {
        int limit = Mbuf.LAYOUT.maxSegments;
        int capacity = limit + 1000;
        try (JavaMbufPool pool = new JavaMbufPool("copy-limit", capacity, 256)) {
            ByteBuf src = pattern(limit + 500);
            // one byte per mbuf: the chain reaches the limit before the copy ends
            long chain = MbufCopy.in(src, 0, src.readableBytes(), pool, 1);
            assertEquals(limit, Mbuf.pktLen(chain), "the chain holds what it could take; the caller sends the rest later");
            assertEquals(limit, Mbuf.nbSegs(chain));
            assertEquals(capacity - limit, pool.available(), "the mbuf the chain refused went back to the pool");
            assertChainHolds(chain, src, limit);
            pool.free(chain);
            assertEquals(capacity, pool.available());
            src.release();
        }
    }

    private static ByteBuf pattern(int length) {
        ByteBuf buf = Unpooled.directBuffer(length);
        for (int i = 0; i < length; i++) {
            buf.writeByte(i * 31 + 7);
        }
        return buf;
    }

    /** The chain holds exactly the first {@code length} bytes of {@code src}, in order. */
    private static void assertChainHolds(long chain, ByteBuf src, int length) {
        assertArrayEquals(ByteBufUtil.getBytes(src, 0, length), chainBytes(chain));
    }

    /** The kinds of buffer a write may hold: each must arrive in the mbufs byte for byte, from its reader index on. */
    @Test
    void everyKindOfBufferIsCopiedByteForByte() {
        byte[] bytes = new byte[5000];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) (i * 13 + 5);
        }
        CompositeByteBuf composite = Unpooled.compositeBuffer();
        composite.addComponent(true, Unpooled.wrappedBuffer(bytes, 0, 1234));
        composite.addComponent(true, Unpooled.directBuffer(bytes.length).writeBytes(bytes, 1234, bytes.length - 1234));
        ByteBuf pooledDirect = PooledByteBufAllocator.DEFAULT.directBuffer(bytes.length).writeBytes(bytes);
        ByteBuf[] kinds = {
            Unpooled.wrappedBuffer(bytes), // heap, offset 0
            Unpooled.buffer(7 + bytes.length).writeZero(7).writeBytes(bytes).skipBytes(7), // heap, read from 7 on
            Unpooled.wrappedBuffer(bytes).slice(0, bytes.length), // a slice: array offset
            Unpooled.wrappedBuffer(concat(new byte[11], bytes)).slice(11, bytes.length), // a slice at an offset
            Unpooled.directBuffer(bytes.length).writeBytes(bytes), // direct
            Unpooled.directBuffer(bytes.length + 3).writeZero(3).writeBytes(bytes).skipBytes(3),
            pooledDirect.retainedSlice(0, bytes.length),
            Unpooled.unmodifiableBuffer(Unpooled.directBuffer(bytes.length).writeBytes(bytes)), // read-only, direct
            Unpooled.unmodifiableBuffer(Unpooled.wrappedBuffer(bytes)), // read-only, heap: no array to hand out
            composite, // two components, heap then direct
        };
        try (JavaMbufPool pool = new JavaMbufPool("copy-kinds", 256)) {
            for (ByteBuf buf : kinds) {
                long chain = MbufCopy.in(buf, buf.readerIndex(), buf.readableBytes(), pool, 1448);
                assertArrayEquals(bytes, chainBytes(chain), buf.toString());
                pool.free(chain);
                buf.release();
            }
            pooledDirect.release();
            assertEquals(256, pool.available());
        }
    }

    @Test
    void aCopyOfAReleasedOrTooShortBufferIsRefusedAndWritesNothing() {
        try (JavaMbufPool pool = new JavaMbufPool("copy-refused", 16)) {
            long m = pool.alloc();
            long dst = Mbuf.append(m, 100);
            MemorySegment.ofAddress(dst).reinterpret(100).fill((byte) 0x5a);
            ByteBuf heap = Unpooled.wrappedBuffer(new byte[50]);
            assertThrows(IndexOutOfBoundsException.class, () -> MbufCopy.toAddress(heap, 0, dst, 100));
            assertThrows(IndexOutOfBoundsException.class, () -> MbufCopy.toAddress(heap, -1, dst, 10));
            ByteBuf direct = Unpooled.directBuffer(100).writeZero(100);
            direct.release();
            assertThrows(IllegalReferenceCountException.class, () -> MbufCopy.toAddress(direct, 0, dst, 100));
            for (int i = 0; i < 100; i++) {
                assertEquals((byte) 0x5a, MemorySegment.ofAddress(dst).reinterpret(100).get(ValueLayout.JAVA_BYTE, i));
            }
            heap.release();
            pool.free(m);
            assertEquals(16, pool.available());
        }
    }

    /** Copy mode's read: the segment's bytes in a buffer of the channel's allocator, heap or direct, segment freed. */
    @Test
    void aCopyModeReadFillsHeapAndDirectBuffersAlike() {
        ByteBufAllocator heapOnly = new AbstractByteBufAllocator(false) { // an allocator that never gives direct memory
            @Override
            protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
                return Unpooled.buffer(initialCapacity, maxCapacity);
            }

            @Override
            protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
                return newHeapBuffer(initialCapacity, maxCapacity);
            }

            @Override
            public boolean isDirectBufferPooled() {
                return false;
            }
        };
        for (ByteBufAllocator allocator : new ByteBufAllocator[] {PooledByteBufAllocator.DEFAULT, heapOnly}) {
            try (JavaMbufPool pool = new JavaMbufPool("copy-out", 16)) {
                long m = pool.alloc();
                long dst = Mbuf.append(m, 1448);
                byte[] expected = new byte[1448];
                for (int i = 0; i < expected.length; i++) {
                    expected[i] = (byte) (i * 7 + 1);
                    MemorySegment.ofAddress(dst).reinterpret(1448).set(ValueLayout.JAVA_BYTE, i, expected[i]);
                }
                ByteBuf buf = MbufCopy.out(m, 1448, allocator, pool);
                assertEquals(1448, buf.readableBytes());
                byte[] got = new byte[1448];
                buf.getBytes(0, got);
                assertArrayEquals(expected, got);
                assertTrue(allocator != heapOnly || buf.hasArray(), "the heap allocator's buffer: " + buf);
                buf.release();
                assertEquals(16, pool.available(), "the segment went back to the pool");
            }
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static byte[] chainBytes(long chain) {
        byte[] out = new byte[Mbuf.pktLen(chain)];
        int at = 0;
        for (long seg = chain; seg != 0; seg = Mbuf.next(seg)) {
            int n = Mbuf.dataLen(seg);
            MemorySegment.copy(MemorySegment.ofAddress(Mbuf.dataAddress(seg)).reinterpret(n), ValueLayout.JAVA_BYTE, 0,
                    out, at, n);
            at += n;
        }
        return out;
    }
}
