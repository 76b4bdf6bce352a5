package io.zstack.buffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
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
}
