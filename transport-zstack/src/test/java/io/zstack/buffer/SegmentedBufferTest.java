package io.zstack.buffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Buffers larger than a segment come as segment-sized mbufs, each with headroom: TCP sends each as one frame. */
class SegmentedBufferTest {
    private final JavaMbufPool pool = new JavaMbufPool("segmented", 16);
    private final ZStackByteBufAllocator alloc = new ZStackByteBufAllocator(pool, null,
            new UnpooledByteBufAllocator(true), 1448);

    @AfterEach
    void poolComplete() {
        assertEquals(pool.capacity(), pool.available(), "mbufs all home");
        pool.close();
    }

    @Test
    void aBufferLargerThanASegmentIsSegmentSizedMbufs() {
        ByteBuf buf = alloc.directBuffer(4000);
        assertTrue(buf instanceof CompositeByteBuf, buf.toString());
        assertEquals(4000, buf.capacity());
        assertEquals(0, buf.writerIndex());
        byte[] data = new byte[4000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 7);
        }
        buf.writeBytes(data);
        List<ByteBuf> parts = ((CompositeByteBuf) buf).decompose(0, 4000);
        assertEquals(List.of(1448, 1448, 1104), parts.stream().map(ByteBuf::readableBytes).toList());
        for (ByteBuf part : parts) {
            MbufByteBuf mbuf = MbufByteBuf.unwrapMbuf(part);
            assertNotNull(mbuf);
            long m = mbuf.mbuf();
            assertEquals(Mbuf.bufAddr(m) + pool.headroom(), part.memoryAddress() + part.readerIndex(),
                    "each piece starts right after its mbuf's headroom");
        }
        byte[] back = new byte[4000];
        buf.getBytes(0, back);
        assertArrayEquals(data, back);
        assertEquals(13, pool.available());
        // it grows as any composite: by more mbufs from the allocator
        buf.writeBytes(new byte[3000]);
        assertEquals(7000, buf.writerIndex());
        buf.release();
    }

    /**
     * Whichever buffer the leak detector samples stays a composite: a leak-aware wrapper that is not one hid the
     * pieces from the channel, which then copied that buffer (1 large buffer in 128 at the default level).
     */
    @Test
    void aTrackedLargeBufferIsStillAComposite() {
        ResourceLeakDetector.Level before = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID); // every buffer tracked
        try {
            ByteBuf buf = alloc.directBuffer(4000);
            assertTrue(buf instanceof CompositeByteBuf, buf.toString());
            assertEquals(3, ((CompositeByteBuf) buf).numComponents());
            buf.release();
        } finally {
            ResourceLeakDetector.setLevel(before);
        }
    }

    @Test
    void smallBuffersStayOneMbufAndAnEmptyPoolFallsBack() {
        ByteBuf small = alloc.directBuffer(1000);
        assertNotNull(MbufByteBuf.unwrapMbuf(small));
        assertFalse(small instanceof CompositeByteBuf);
        small.release();
        // more than the pool can give: nothing kept, the fallback serves it
        ByteBuf huge = alloc.directBuffer(1448 * 17);
        assertEquals(pool.capacity(), pool.available(), "the pieces taken were given back");
        assertTrue(MbufByteBuf.unwrapMbuf(huge) == null);
        huge.release();
    }
}
