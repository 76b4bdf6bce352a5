package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.FileRegion;
import io.zstack.tcp.TcpError;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntFunction;

/**
 * One channel's end of an in-process connection: it writes into {@link #out} and reads from {@link #in}, the two
 * {@link InProcessPipe}s it shares with {@link #peer}. No TCP is involved: a written buffer is handed to the peer as
 * the buffer it reads (by reference when the writer held the last reference to an mbuf, else copied once), and the
 * peer's loop is woken by a task.
 *
 * <p>Everything runs on the channel's loop, except {@link #wakeRead} and {@link #wakeWrite}, which the peer calls
 * from its own loop; each schedules at most one task at a time.
 */
class InProcessEnd {
    /** Largest copy of one written buffer: what a 64 KiB mbuf of the loop's large pool holds. */
    private static final int COPY_CHUNK = 60 * 1024;

    final ZStackSocketChannel channel;
    final LocalPipe in;
    final LocalPipe out;
    InProcessEnd peer;
    /** The ephemeral port this end reserved in its host (a connecting end), released when it closes; else 0. */
    private final GroupListeners reservedIn;
    private final int reservedAddress;
    private final int reservedPort;
    private final AtomicBoolean readScheduled = new AtomicBoolean();
    private final AtomicBoolean writeScheduled = new AtomicBoolean();
    private final Runnable readTask = this::readNow;
    private final Runnable writeTask = this::writeNow;
    // made once: a method reference made per read or per message would allocate on the receive path
    private final ChannelReads.Messages messages = this::nextMessage;
    private final IntFunction<ByteBuf> pieces = this::nextPiece;
    private final Runnable tookSome = this::tookSome;
    /** The buffer being delivered in pieces (the read size guess is smaller), or null. Loop thread only. */
    private ByteBuf current;
    /** A write found the peer closed and dropped its data: further writes fail, as after a reset. */
    private boolean peerGone;
    private boolean closed;

    InProcessEnd(ZStackSocketChannel channel, LocalPipe in, LocalPipe out, GroupListeners reservedIn,
                 int reservedAddress, int reservedPort) {
        this.channel = channel;
        this.in = in;
        this.out = out;
        this.reservedIn = reservedIn;
        this.reservedAddress = reservedAddress;
        this.reservedPort = reservedPort;
    }

    InProcessCounters counters() {
        return channel.zstackLoop().inProcessCounters;
    }

    // ============================================================================================ wake-ups

    /** Any thread: this end has something to read (or to learn about its input's end). */
    void wakeRead() {
        // an unregistered channel reads when it registers (its first beginRead looks at the pipe)
        if (channel.isRegistered() && readScheduled.compareAndSet(false, true)) {
            try {
                channel.eventLoop().execute(readTask);
            } catch (RejectedExecutionException e) {
                // its loop is stopping and closes the channel, which frees what waits
            }
        }
    }

    /** Any thread: the peer took data (room again) or went away; flush what waits. */
    void wakeWrite() {
        if (channel.isRegistered() && writeScheduled.compareAndSet(false, true)) {
            try {
                channel.eventLoop().execute(writeTask);
            } catch (RejectedExecutionException e) {
                // stopping: its pending writes fail when the loop closes the channel
            }
        }
    }

    private void writeNow() {
        writeScheduled.set(false);
        channel.flushNow();
    }

    // ============================================================================================ write

    /** What may be in flight toward the peer: this end's send buffer and the peer's receive buffer, as with TCP. */
    long budget() {
        return (long) channel.config().getSendBufferSize() + peer.channel.config().getReceiveBufferSize();
    }

    /** Moves flushed messages to the peer while there is room; the rest waits for {@link #wakeWrite}. */
    void write(ChannelOutboundBuffer buffer) throws IOException {
        boolean added = false;
        try {
            for (;;) {
                Object msg = buffer.current();
                if (msg == null) {
                    return;
                }
                if (out.isReaderClosed()) {
                    if (peerGone || in.isReset()) {
                        throw new IOException("Connection reset by peer");
                    }
                    // the peer closed in order (FIN): the first write after is accepted and dropped, as TCP's is
                    // before the RST it provokes comes back; the next one fails
                    peerGone = true;
                    while (buffer.remove()) {
                        // dropped
                    }
                    return;
                }
                long room = out.room(budget());
                if (room <= 0) {
                    out.writerBlocked = true;
                    if (out.room(budget()) <= 0) {
                        return; // the reader wakes us when it takes something (see InProcessPipe)
                    }
                    out.writerBlocked = false;
                    continue;
                }
                if (msg instanceof ByteBuf buf) {
                    int readable = buf.readableBytes();
                    if (readable == 0) {
                        buffer.remove();
                        continue;
                    }
                    // queued before the outbound buffer lets go: removing completes write promises, whose
                    // listeners may shut the output down or close, which must find these bytes sent
                    if (!channel.config().isCopyMode() && canHandOver(buf)) {
                        added |= out.add(buf.retain()); // the pipe's reference; the outbound buffer's goes below
                        counters().bytesByReference += readable;
                        buffer.remove();
                        continue;
                    }
                    int n = (int) Math.min(Math.min(readable, room), COPY_CHUNK);
                    added |= out.addCopy(buf, buf.readerIndex(), n, channel.zstackLoop().allocator());
                    counters().bytesCopied += n;
                    buffer.removeBytes(n);
                } else {
                    FileRegion region = (FileRegion) msg;
                    long left = region.count() - region.transferred();
                    if (left <= 0) {
                        buffer.remove();
                        continue;
                    }
                    int n = (int) Math.min(Math.min(left, room), COPY_CHUNK);
                    ByteBuf copy = channel.zstackLoop().allocator().directBuffer(n);
                    FileRegionSink sink = new FileRegionSink(n, bytes -> {
                        copy.writeBytes(bytes);
                        return true;
                    });
                    try {
                        region.transferTo(sink, region.transferred());
                    } catch (IOException | RuntimeException e) {
                        copy.release();
                        throw e;
                    }
                    if (sink.written == 0) {
                        copy.release();
                        throw new IOException("FileRegion ended early: " + region);
                    }
                    added |= out.add(copy);
                    counters().bytesCopied += sink.written;
                    buffer.progress(sink.written);
                    if (region.transferred() >= region.count()) {
                        buffer.remove();
                    }
                }
            }
        } finally {
            if (added) {
                wakePeerRead();
            }
        }
    }

    /** Whether {@code buf} may go to the reader by reference (see {@link MbufHandOff#forInProcess}). */
    boolean canHandOver(ByteBuf buf) {
        return MbufHandOff.forInProcess(buf);
    }

    void shutdownOutput() {
        out.end(false);
        wakePeerRead();
    }

    // ============================================================================================ read

    private void readNow() {
        readScheduled.set(false);
        try {
            readQueued();
        } catch (Throwable t) {
            channel.pipeline().fireExceptionCaught(t); // as the TCP path: never leave the channel silently stalled
        }
    }

    /** Delivers what the peer sent, as {@link TcpReadPath} does with what the stack received. */
    private void readQueued() {
        if (!channel.isOpen()) {
            return;
        }
        if (channel.inputShutdown) {
            discardInput();
            return;
        }
        if (!hasInput()) {
            // nothing to deliver (a wake-up for the input's end): no read, whose empty result would make an adaptive
            // receive allocator shrink its guess; the end of input is told at once, as with TCP
            inputDrained();
            return;
        }
        ZStackSocketChannelConfig config = channel.config();
        if (!channel.readPending && !config.isAutoRead()) {
            return; // data waits for read()
        }
        ChannelReads.deliver(channel, messages, null, tookSome);
        if (!channel.isOpen()) {
            return;
        }
        if (hasInput()) {
            if (channel.readPending || config.isAutoRead()) {
                wakeRead(); // the rest next round, so other channels get their turn
            }
        } else {
            inputDrained();
        }
    }

    /** The peer may wait for room: tell it some was made. */
    private void tookSome() {
        if (in.writerBlocked) {
            in.writerBlocked = false;
            wakePeerWrite();
        }
    }

    private boolean hasInput() {
        return current != null || !in.isEmpty();
    }

    /** Everything sent was delivered: report how the input ended, if it did. */
    private void inputDrained() {
        switch (in.endAfterData()) {
            case EOF -> channel.inputEnded();
            case RESET -> channel.failConnection(TcpError.RESET);
            case OPEN -> { }
        }
    }

    /**
     * Up to {@code limit} bytes: whole buffers while they fit (several make a composite), else a slice. Unlike TCP's
     * reads (one segment each), written buffers are joined as a byte stream's read joins them: a writer's small
     * writes reach the reader together, as over a socket (Netty's TrafficShapingHandlerTest times its steps by it).
     */
    private ByteBuf nextMessage(int limit) {
        return ChannelReads.gather(nextPiece(limit), limit, hasInput(), pieces,
                channel.config().getAllocator());
    }

    private ByteBuf nextPiece(int limit) {
        if (current == null) {
            current = in.poll();
            if (current == null) {
                return null;
            }
        }
        if (current.readableBytes() <= limit) {
            ByteBuf whole = current;
            current = null;
            return whole;
        }
        if (current instanceof CompositeByteBuf composite) {
            // the first bytes as a composite of the same pieces, not a slice of the composite, and the pieces read
            // whole let go here: a reader that writes them on (an echo) then hands them over instead of copying them
            // (see MbufHandOff.forInProcess). A piece cut in two stays shared by both parts, and is copied if echoed.
            CompositeByteBuf first = channel.config().getAllocator().compositeDirectBuffer(Integer.MAX_VALUE);
            for (ByteBuf part : composite.decompose(composite.readerIndex(), limit)) {
                first.addComponent(true, part.retain());
            }
            composite.skipBytes(limit).discardReadComponents();
            return first;
        }
        return current.readRetainedSlice(limit);
    }

    /** SHUT_RD, or input after the end: what arrives is dropped (and makes room for the writer). */
    void discardInput() {
        if (current != null) {
            current.release();
            current = null;
        }
        ByteBuf buf;
        while ((buf = in.poll()) != null) {
            buf.release();
        }
        tookSome();
    }

    // ============================================================================================ close

    /**
     * The channel closes: what waits toward it is freed, and the peer reads the end after what was sent: EOF, or a
     * reset when SO_LINGER is 0 or data sent here was never read (as Linux answers a close with unread data).
     */
    void close() {
        close(channel.config().getSoLinger() == 0);
    }

    /** An accepted end its server never handed out: the client sees a reset. Any thread (never registered). */
    void abort() {
        close(true);
    }

    private void close(boolean reset) {
        if (closed) {
            return;
        }
        closed = true;
        boolean unread = hasInput();
        if (current != null) {
            current.release();
            current = null;
        }
        in.closeReader();
        boolean sendsReset = reset || unread;
        out.end(sendsReset);
        if (sendsReset && channel.isRegistered()) {
            counters().resetsSent++;
        }
        wakePeerRead();
        wakePeerWrite(); // its pending writes now fail or drop, as after a reset
        if (reservedPort != 0) {
            reservedIn.releasePort(reservedAddress, reservedPort);
        }
        forget();
    }

    /** The peer's loop has something to read: its end learns it by a task on that loop. */
    void wakePeerRead() {
        peer.wakeRead();
    }

    void wakePeerWrite() {
        peer.wakeWrite();
    }

    /** This end is closed: out of the connection dump. */
    void forget() {
        InProcessConnections.closed(this);
    }

    /** What the dump calls this kind of connection. */
    String kind() {
        return "in-process";
    }

    /** One line for the ss-style dump. */
    String describe() {
        return kind() + " " + (closed ? "CLOSED" : channel.isOutputShutdown() ? "OUTPUT-SHUT" : "ESTABLISHED")
                + " " + format(channel.localAddress()) + " -> " + format(channel.remoteAddress())
                + (in.isEmpty() ? "" : " unread") + (out.writerBlocked ? " writer-blocked" : "");
    }

    private static String format(InetSocketAddress a) {
        return a == null ? "?" : a.getAddress().getHostAddress() + ":" + a.getPort();
    }
}
