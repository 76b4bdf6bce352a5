package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufByteBuf;
import io.zstack.buffer.MbufPool;

/**
 * When a written buffer may go on by reference instead of being copied: to TCP's send queue, or to the reader of an
 * in-process connection. Both need the same promise, that nobody can change the bytes once the write is done; TCP
 * needs more, since its send queue frames the mbuf itself.
 */
final class MbufHandOff {
    private MbufHandOff() {
    }

    /**
     * The mbuf-backed buffer under {@code buf} when the write holds the last reference to it and to its mbuf, else
     * null. Someone else holding it (a decoder's cumulation whose frame this is, an owner that retained it to reuse,
     * the same buffer already queued by an earlier write) may change the bytes once the write releases its reference,
     * which TCP needs until they are acknowledged and a peer reads in place.
     */
    private static MbufByteBuf lastReference(ByteBuf buf) {
        MbufByteBuf root = MbufByteBuf.unwrapMbuf(buf);
        if (root == null || root.mbuf() == 0 || root.refCnt() != 1) {
            return null;
        }
        return root.pool().refcnt(root.mbuf()) == 1 ? root : null;
    }

    /**
     * The mbuf TCP's send queue may take for {@code buf}'s {@code readable} bytes, or 0; changes nothing. Besides the
     * last reference, the mbuf must come from the writing loop's own pools ({@code pool}, {@code largePool}): a
     * buffer received by another loop's stack goes back to that loop's pool, which the send queue does not free into.
     */
    static long forTcp(ByteBuf buf, int readable, MbufPool pool, MbufPool largePool) {
        return forTcp(buf, buf.readerIndex(), readable, pool, largePool);
    }

    /** {@link #forTcp(ByteBuf, int, MbufPool, MbufPool)} for {@code buf}'s bytes [index, index + length). */
    static long forTcp(ByteBuf buf, int index, int length, MbufPool pool, MbufPool largePool) {
        MbufByteBuf root = lastReference(buf);
        if (root == null || !buf.hasMemoryAddress()) {
            return 0;
        }
        MbufPool owner = root.pool();
        long m = root.mbuf();
        if (owner != pool && owner != largePool || !owner.owns(m)) {
            return 0;
        }
        long start = buf.memoryAddress() + index;
        long bufStart = Mbuf.bufAddr(m);
        if (start < bufStart || start + length > bufStart + Mbuf.bufLen(m)) {
            return 0;
        }
        return m;
    }

    /**
     * Gives the send queue its own reference to {@code m}, {@link #forTcp}'s answer for {@code buf}, framed to buf's
     * bytes; the ByteBuf's own reference goes when the outbound buffer releases it.
     */
    static long takeReference(ByteBuf buf, long m, int readable) {
        return takeReference(buf, m, buf.readerIndex(), readable);
    }

    /** {@link #takeReference(ByteBuf, long, int)} for {@code buf}'s bytes [index, index + length). */
    static long takeReference(ByteBuf buf, long m, int index, int length) {
        long start = buf.memoryAddress() + index;
        MbufByteBuf.unwrapMbuf(buf).pool().refcntUpdate(m, 1);
        Mbuf.setDataOff(m, (int) (start - Mbuf.bufAddr(m)));
        Mbuf.setDataLen(m, length);
        Mbuf.setPktLen(m, length);
        Mbuf.setNbSegs(m, 1);
        Mbuf.setNext(m, 0);
        return m;
    }

    /**
     * True when an in-process reader may receive {@code buf} itself, so the reader's view can never change under it:
     * an mbuf-backed buffer of which the write holds the last reference, or a composite the write alone holds whose
     * readable pieces are such buffers (a large allocated buffer, an echoed read of several). A composite
     * nested in a composite is copied: its pieces cannot be checked through the slice that holds it.
     */
    static boolean forInProcess(ByteBuf buf) {
        if (buf.refCnt() != 1) {
            return false;
        }
        if (!(buf instanceof CompositeByteBuf composite)) {
            return lastReference(buf) != null;
        }
        // two pieces of one buffer (or of one mbuf) hold two references to it: lastReference refuses both
        for (ByteBuf part : composite.decompose(composite.readerIndex(), composite.readableBytes())) {
            if (part.isReadable() && lastReference(part) == null) {
                return false;
            }
        }
        return true;
    }
}
