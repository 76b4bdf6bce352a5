package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.IllegalReferenceCountException;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufByteBuf;
import io.zstack.buffer.MbufPool;

/** Bytes that cannot go by reference: copied once into fresh mbufs (writes) or out of one (copy-mode reads). */
final class MbufCopy {
    private MbufCopy() {
    }

    /**
     * Copies [index, index+length) of {@code buf} into a new mbuf chain from {@code pool}; 0 if the pool ran out.
     * Each mbuf takes at most {@code perMbuf} bytes (a segment's payload), so TCP cuts every segment at an mbuf's
     * start and writes its headers in place in front.
     */
    static long in(ByteBuf buf, int index, int length, MbufPool pool, int perMbuf) {
        long head = 0;
        long last = 0;
        int done = 0;
        while (done < length) {
            long m = pool.alloc();
            if (m == 0) {
                pool.free(head);
                return 0;
            }
            int n = Math.min(Math.min(length - done, Mbuf.tailroom(m)), perMbuf);
            long dst = Mbuf.append(m, n);
            toAddress(buf, index + done, dst, n);
            done += n;
            if (head == 0) {
                head = m;
            } else if (!Mbuf.chain(head, last, m)) {
                // DPDK's segment limit: send what is chained; the caller copies the rest on its next round
                pool.free(m);
                return head;
            }
            last = m;
        }
        return head;
    }

    /** The {@code length} bytes of one received segment in a buffer of {@code allocator}; frees the segment. */
    static ByteBuf out(long segment, int length, ByteBufAllocator allocator, MbufPool pool) {
        ByteBuf buf = allocator.directBuffer(length);
        try {
            buf.ensureWritable(length);
            MbufByteBuf.copy(Mbuf.dataAddress(segment), buf, buf.writerIndex(), length);
            buf.writerIndex(buf.writerIndex() + length);
        } finally {
            pool.freeSegment(segment);
        }
        return buf;
    }

    /**
     * Copies [index, index+length) of {@code src} to native memory at {@code address} without a view of the
     * destination for the buffers that need none ({@link MbufByteBuf#copy(ByteBuf, int, long, int)}): a view per copy
     * was three objects per copied write of a heap or direct buffer.
     */
    static void toAddress(ByteBuf src, int index, long address, int length) {
        // getBytes checked these; the direct copies do not
        if (src.refCnt() == 0) {
            throw new IllegalReferenceCountException(0);
        }
        if (index < 0 || length < 0 || index > src.capacity() - length) {
            throw new IndexOutOfBoundsException("index " + index + ", length " + length + ", capacity "
                    + src.capacity());
        }
        MbufByteBuf.copy(src, index, address, length);
    }
}
