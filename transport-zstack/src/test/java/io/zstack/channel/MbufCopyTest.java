package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** Copying a write into mbufs: one chain in order, and at DPDK's segment limit a shorter chain, nothing leaked. */
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

    private static void assertChainHolds(long chain, ByteBuf src, int length) {
        int at = 0;
        for (long seg = chain; seg != 0; seg = Mbuf.next(seg)) {
            MemorySegment data = MemorySegment.ofAddress(Mbuf.dataAddress(seg)).reinterpret(Mbuf.dataLen(seg));
            for (int i = 0; i < Mbuf.dataLen(seg); i++, at++) {
                if (data.get(ValueLayout.JAVA_BYTE, i) != src.getByte(at)) {
                    throw new AssertionError("byte " + at + " differs");
                }
            }
        }
        assertEquals(length, at);
    }
}
