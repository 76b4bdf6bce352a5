package io.zstack.buffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The channel allocator's choice between mbufs and its fallback. */
class ZStackByteBufAllocatorTest {

    /**
     * An application that keeps allocating (an echo that ignores writability) gets fallback buffers once the pool is
     * down to a quarter: the rest stays for the stack's headers, ACKs and the NIC. Before, it could take every mbuf,
     * and its connection then had none left to send with, so nothing was acknowledged and nothing freed (found by
     * ZStackChannelStressTest's echo of 20-byte frames).
     */
    @Test
    void theApplicationLeavesTheStacksReserve() {
        try (JavaMbufPool pool = new JavaMbufPool("reserve", 1024)) {
            ZStackByteBufAllocator alloc = new ZStackByteBufAllocator(pool, new UnpooledByteBufAllocator(true));
            List<ByteBuf> held = new ArrayList<>();
            int fromPool = 0;
            for (int i = 0; i < 2000; i++) {
                ByteBuf buf = alloc.directBuffer(100);
                held.add(buf);
                if (MbufByteBuf.unwrapMbuf(buf) != null) {
                    fromPool++;
                }
            }
            assertTrue(pool.available() >= pool.capacity() / 4, "the reserve is left: " + pool);
            assertEquals(pool.capacity() - pool.available(), fromPool);
            assertTrue(fromPool >= pool.capacity() / 2, "the application still got most of the pool: " + fromPool);
            held.forEach(ByteBuf::release);
            // the pool refilled: mbufs again, once the level is read again
            ByteBuf again = null;
            for (int i = 0; i < 100 && (again == null || MbufByteBuf.unwrapMbuf(again) == null); i++) {
                if (again != null) {
                    again.release();
                }
                again = alloc.directBuffer(100);
            }
            assertNotNull(MbufByteBuf.unwrapMbuf(again), "mbufs again once the pool is full");
            again.release();
            assertEquals(pool.capacity(), pool.available());
        }
    }

    /**
     * A buffer larger than a large mbuf holds (64 KiB: the headroom leaves a large mbuf one byte short) is a
     * composite of mbufs, large ones and the tail in a regular one, so a write hands it over instead of copying it;
     * it comes from the fallback only when it would take more than half the large mbufs left.
     */
    @Test
    void aBufferLargerThanALargeMbufIsMbufsToo() {
        try (JavaMbufPool pool = new JavaMbufPool("regular", 1024);
             JavaMbufPool large = new JavaMbufPool("large", 8, 0xffff)) {
            ZStackByteBufAllocator alloc = new ZStackByteBufAllocator(pool, large, new UnpooledByteBufAllocator(true));
            ByteBuf buf = alloc.directBuffer(64 * 1024);
            CompositeByteBuf composite = assertInstanceOf(CompositeByteBuf.class, buf);
            assertEquals(64 * 1024, buf.capacity());
            assertEquals(2, composite.numComponents());
            assertNotNull(MbufByteBuf.unwrapMbuf(composite.internalComponent(0)));
            assertNotNull(MbufByteBuf.unwrapMbuf(composite.internalComponent(1)));
            assertEquals(7, large.available(), "one large mbuf");
            assertEquals(1023, pool.available(), "the tail in a regular one");
            buf.writeZero(64 * 1024);
            ByteBuf tooMany = alloc.directBuffer(4 * 64 * 1024); // five large mbufs of the seven left
            assertNull(MbufByteBuf.unwrapMbuf(tooMany), "from the fallback");
            assertFalse(tooMany instanceof CompositeByteBuf);
            tooMany.release();
            buf.release();
            assertEquals(8, large.available());
            assertEquals(1024, pool.available());
        }
    }

    /**
     * A buffer cut into segment-sized mbufs takes them only while the stack's reserve (a quarter of the pool) stays
     * free after it, to the mbuf: the pool is asked whether reserve + pieces + 1 are free, not counted.
     */
    @Test
    void aSegmentedBufferLeavesTheReserveToTheMbuf() {
        try (JavaMbufPool pool = new JavaMbufPool("segmented", 64)) {
            ZStackByteBufAllocator alloc = new ZStackByteBufAllocator(pool, null, new UnpooledByteBufAllocator(true),
                    1000);
            int reserve = pool.capacity() / 4;
            List<Long> taken = new ArrayList<>();
            while (pool.available() > reserve + 3 + 1) {
                taken.add(pool.alloc());
            }
            ByteBuf fits = alloc.directBuffer(3000); // three pieces: the reserve and one more mbuf stay free
            CompositeByteBuf composite = assertInstanceOf(CompositeByteBuf.class, fits);
            assertEquals(3, composite.numComponents());
            assertEquals(reserve + 1, pool.available());
            fits.release();
            taken.add(pool.alloc());
            assertEquals(reserve + 3, pool.available());
            ByteBuf refused = alloc.directBuffer(3000); // would leave exactly the reserve: not this buffer's
            assertNull(MbufByteBuf.unwrapMbuf(refused), "from the fallback");
            assertFalse(refused instanceof CompositeByteBuf);
            assertEquals(reserve + 3, pool.available());
            refused.release();
            taken.forEach(pool::free);
            assertEquals(pool.capacity(), pool.available());
        }
    }
}
