package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.FileRegion;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufByteBuf;
import io.zstack.buffer.MbufPool;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpError;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.util.Arrays;
import java.util.List;

/**
 * How flushed messages enter a channel's TCP send queue, as far as the send buffer takes them now: an
 * {@code alloc()}ed buffer (or a composite of such pieces) by reference ({@link MbufHandOff}), anything else copied
 * once into mbufs ({@link MbufCopy}); small copies fill the last queued mbuf; FileRegions through a
 * {@link FileRegionSink}. Loop thread only.
 */
final class TcpWritePath {
    /**
     * Bytes one flush copies at most (256 KiB, the send buffer before it grew with the window): the loop then polls
     * and transmits before copying on. Since a send buffer grows to megabytes, one flush filling it with a copy would
     * keep the loop from its ACKs, its transmit burst and every other connection for a millisecond or more.
     */
    static final int COPY_BUDGET = 256 * 1024;

    private final ZStackSocketChannel channel;
    /**
     * handOffComponents' mbuf, offset in its piece and length for each piece, kept: a new array per composite written
     * was garbage per request.
     */
    private long[] roots = new long[8];
    private int[] pieceIndexes = new int[8];
    private int[] pieceLengths = new int[8];
    /** Finds an mbuf under two pieces of a composite; its table kept for the same reason. */
    private final RepeatFinder repeatFinder = new RepeatFinder();
    /** Composite pieces handOffComponents has looked at, over the channel's life (tests: linear in pieces written). */
    private long piecesExamined;

    TcpWritePath(ZStackSocketChannel channel) {
        this.channel = channel;
    }

    /**
     * Queues flushed messages until the outbound buffer is empty, the send buffer full, the pool empty or
     * {@link #COPY_BUDGET} bytes copied (the rest then goes in another flush, {@link ZStackSocketChannel#flushAgain}).
     */
    void write(ChannelOutboundBuffer in) throws Exception {
        TcpConnection c = channel.connection();
        ZStackSocketChannelConfig config = channel.config();
        long copied = 0;
        for (;;) {
            Object msg = in.current();
            if (msg == null) {
                return;
            }
            if (c == null || !c.state().canSend() || c.isOutputShutdown()) {
                throw c != null && c.error() == TcpError.RESET ? new IOException("Connection reset by peer")
                        : new ClosedChannelException();
            }
            long space = c.sendSpace();
            if (space <= 0) {
                return; // onWritable flushes again when ACKs free space
            }
            if (copied >= COPY_BUDGET) {
                channel.flushAgain();
                return;
            }
            if (msg instanceof ByteBuf buf) {
                int readable = buf.readableBytes();
                if (readable == 0) {
                    in.remove();
                    continue;
                }
                if (!config.isCopyMode() && buf instanceof CompositeByteBuf composite) {
                    int queued = handOffComponents(c, composite, readable);
                    if (queued == readable) {
                        in.remove();
                        continue;
                    }
                    if (queued > 0) {
                        in.removeBytes(queued); // the send buffer is full: the rest when ACKs free space
                        return;
                    }
                }
                long handedOff = config.isCopyMode() ? 0 : handOff(buf, readable);
                if (handedOff != 0) {
                    queue(c, handedOff);
                    in.remove();
                    continue;
                }
                int n = (int) Math.min(Math.min(readable, space), COPY_BUDGET);
                int toTail = Math.min(n, c.sendTailRoom());
                if (toTail > 0) {
                    // small copied writes share the last mbuf instead of taking one each
                    MbufCopy.toAddress(buf, buf.readerIndex(), c.sendTailAddress(), toTail);
                    c.sendTailFilled(toTail);
                    in.removeBytes(toTail);
                    copied += toTail;
                    continue;
                }
                long chain = copyIn(c, buf, buf.readerIndex(), n);
                if (chain == 0) {
                    channel.scheduleRetry();
                    return;
                }
                int length = Mbuf.pktLen(chain); // less than n only at DPDK's segment limit (MbufCopy.in)
                queue(c, chain);
                in.removeBytes(length);
                copied += length;
            } else {
                FileRegion region = (FileRegion) msg;
                long left = region.count() - region.transferred();
                if (left <= 0) {
                    in.remove();
                    continue;
                }
                long[] chain = {0};
                FileRegionSink sink = new FileRegionSink((int) Math.min(Math.min(left, space), COPY_BUDGET), bytes -> {
                    long part = copyIn(c, Unpooled.wrappedBuffer(bytes), 0, bytes.remaining());
                    if (part == 0) {
                        return false;
                    }
                    // all of the piece or none (the sink's contract): a piece cut short, or one the chain cannot
                    // take, at DPDK's segment limit waits for the next round
                    if (Mbuf.pktLen(part) < bytes.remaining() || chain[0] != 0 && !Mbuf.chain(chain[0], part)) {
                        pool().free(part);
                        return false;
                    }
                    if (chain[0] == 0) {
                        chain[0] = part;
                    }
                    return true;
                });
                long n = region.transferTo(sink, region.transferred());
                if (chain[0] == 0) {
                    if (n < 0 || sink.refused) {
                        if (sink.refused) {
                            channel.scheduleRetry();
                            return;
                        }
                        throw new IOException("FileRegion ended early: " + region);
                    }
                    continue;
                }
                queue(c, chain[0]);
                in.progress(sink.written);
                copied += sink.written;
                if (region.transferred() >= region.count()) {
                    in.remove();
                }
            }
        }
    }

    /** Hands {@code chain} to the send queue; frees it if the connection can no longer take it. */
    private void queue(TcpConnection c, long chain) throws ClosedChannelException {
        if (!c.queue(chain)) {
            pool().free(chain);
            throw new ClosedChannelException();
        }
    }

    /**
     * The mbuf holding {@code buf}'s readable bytes, made ready for the send queue with a reference of its own, or
     * 0 when the buffer is not one mbuf of this loop's pools that nothing else holds.
     */
    private long handOff(ByteBuf buf, int readable) {
        long m = MbufHandOff.forTcp(buf, readable, pool(), channel.zstackLoop().largePool());
        return m == 0 ? 0 : MbufHandOff.takeReference(buf, m, readable);
    }

    /**
     * A composite whose every component can be handed off (an echoed read, an aggregated HTTP body, a header and a
     * body written together, a large allocated buffer) goes to the send queue piece by piece, each by reference, as
     * many whole pieces as the send buffer takes now. Returns the bytes queued, or -1, having changed nothing, if any
     * piece it looked at (those the send buffer could take now) would need a copy; the caller then copies what the
     * send buffer takes, and the rest is looked at again in the next flush.
     */
    private int handOffComponents(TcpConnection c, CompositeByteBuf composite, int readable)
            throws ClosedChannelException {
        if (composite.refCnt() != 1) {
            return -1; // someone else holds the composite and may change its pieces: see MbufHandOff
        }
        // the pieces in place (the composite's own cached view of each), not decompose's list of new slices: that
        // was a list, an array and a slice per piece for every composite written, all garbage once queued
        int from = composite.readerIndex();
        int to = from + readable;
        int first = composite.toComponentIndex(from);
        int last = composite.toComponentIndex(to - 1);
        // only the pieces the send buffer can take now (each queued piece takes at least its length of the space): the
        // rest waits for ACKs and is looked at then. Looking at every piece on every flush made a composite of n
        // pieces cost n^2 / (pieces per send buffer): an 8 MiB body of 2 KiB pieces took milliseconds per ACK
        long space = c.sendSpace();
        long covered = 0;
        int count = 0;
        MbufPool largePool = channel.zstackLoop().largePool();
        for (int k = first; k <= last && covered < space; k++) {
            if (count == roots.length) {
                roots = Arrays.copyOf(roots, 2 * count);
                pieceIndexes = Arrays.copyOf(pieceIndexes, 2 * count);
                pieceLengths = Arrays.copyOf(pieceLengths, 2 * count);
            }
            int start = composite.toByteIndex(k);
            ByteBuf part = composite.internalComponent(k);
            int index = Math.max(from, start) - start;
            int n = Math.min(to, start + part.capacity()) - start - index;
            piecesExamined++;
            pieceIndexes[count] = index;
            pieceLengths[count] = n;
            roots[count] = n <= 0 ? RepeatFinder.NONE : MbufHandOff.forTcp(part, index, n, pool(), largePool);
            if (roots[count++] == 0) {
                return -1;
            }
            covered += Math.max(n, 0);
        }
        if (repeatFinder.repeats(roots, count)) {
            return -1; // two pieces of one mbuf: each would need its own view
        }
        // whole pieces while the send buffer has room (a large allocated buffer is many segment-sized pieces): the
        // caller leaves the rest in the outbound buffer, its pieces untouched, for when ACKs free space
        int queued = 0;
        for (int i = 0; i < count && c.sendSpace() > 0; i++) {
            if (roots[i] == RepeatFinder.NONE) {
                continue;
            }
            int n = pieceLengths[i];
            queue(c, MbufHandOff.takeReference(composite.internalComponent(first + i), roots[i], pieceIndexes[i], n));
            queued += n;
        }
        return queued;
    }

    long piecesExamined() {
        return piecesExamined;
    }

    /**
     * A copy into mbufs of at most one segment each, so TCP writes every segment's headers in place. Where a segment
     * holds more than a regular mbuf (the loopback's 64 KiB), large mbufs while there are: a 64 KiB echo was a chain
     * of 33 regular ones, each allocated, chained and then read back as a 2 KiB message of its own.
     */
    private long copyIn(TcpConnection c, ByteBuf buf, int index, int length) {
        int mss = Math.max(1, c.sendMss());
        MbufPool large = channel.zstackLoop().largePool();
        if (large != null && length > MbufByteBuf.mbufCapacity(pool()) && mss > MbufByteBuf.mbufCapacity(pool())) {
            long chain = MbufCopy.in(buf, index, length, large, mss);
            if (chain != 0) {
                return chain;
            }
        }
        return MbufCopy.in(buf, index, length, pool(), mss);
    }

    private MbufPool pool() {
        return channel.zstackLoop().pool();
    }
}
