package io.zstack.channel;

import io.netty.buffer.ByteBuf;
import io.zstack.shm.ChunkRing;
import io.zstack.shm.Rendezvous;
import io.zstack.shm.SharedRegion;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One channel's end of a cross-process connection (see {@link CrossProcessConnections}): the in-process end's
 * semantics (ordering, backpressure, half-closure, resets, close with unread data) over two {@link CrossProcessPipe}s
 * in a region shared with the other process. The peer is out of reach of tasks, so nothing is woken directly: the
 * channel's loop looks at the rings every round ({@link #poll}) and schedules the read or the flush that is due.
 *
 * <p>The peer's death is seen on the rendezvous socket kept open for the connection: when it closes before the peer
 * ended its stream, the peer is gone, and this end reads a reset after what the peer wrote, and its writes fail.
 */
final class CrossProcessEnd extends InProcessEnd {
    private final SharedRegion region;
    private final SocketChannel control;
    private final CrossProcessPipe reader;
    private final CrossProcessPipe writer;
    private final AtomicBoolean enrolled = new AtomicBoolean();
    private volatile boolean controlClosed;
    private volatile boolean forgotten;
    /** The socket is watched (the connection is established on both sides); guarded by {@code control}. */
    private boolean watching;
    /** Loop thread: what the last poll saw. */
    private long seenTail;
    private int seenEnd;
    private boolean seenReaderClosed;
    private boolean lossHandled;

    private CrossProcessEnd(ZStackSocketChannel channel, CrossProcessPipe in, CrossProcessPipe out,
                            SharedRegion region, SocketChannel control, GroupListeners reservedIn,
                            int reservedAddress, int reservedPort) {
        super(channel, in, out, reservedIn, reservedAddress, reservedPort);
        this.region = region;
        this.control = control;
        this.reader = in;
        this.writer = out;
    }

    /** The connecting side's end: it writes toward the acceptor. */
    static CrossProcessEnd connector(ZStackSocketChannel channel, SharedRegion region, SocketChannel control,
                                     GroupListeners reservedIn, int reservedAddress, int reservedPort) {
        return new CrossProcessEnd(channel, new CrossProcessPipe(region.toConnector(), region),
                new CrossProcessPipe(region.toAcceptor(), region), region, control, reservedIn, reservedAddress,
                reservedPort);
    }

    /** The accepting side's end (an accepted child). */
    static CrossProcessEnd acceptor(ZStackSocketChannel child, SharedRegion region, SocketChannel control) {
        return new CrossProcessEnd(child, new CrossProcessPipe(region.toAcceptor(), region),
                new CrossProcessPipe(region.toConnector(), region), region, control, null, 0, 0);
    }

    /**
     * Starts watching the peer, once the connection is established on both sides (the acceptor's answer is written
     * on the socket); if this end closed before, the socket is closed now instead.
     */
    void watchPeer() {
        boolean closeNow;
        synchronized (control) {
            watching = true;
            closeNow = forgotten;
        }
        if (closeNow) {
            closeControl();
        } else {
            Rendezvous.watch(control, () -> controlClosed = true);
        }
    }

    private void closeControl() {
        try {
            control.close(); // after the rings say how this end ended: the peer sees a close, not a death
        } catch (IOException e) {
            // closing anyway
        }
    }

    /** In flight toward the peer: the ring, whose size the connector chose from its buffers. */
    @Override
    long budget() {
        return region.capacity();
    }

    /** Every written byte is copied into the region once: the peer cannot see this process's mbufs. */
    @Override
    boolean canHandOver(ByteBuf buf) {
        return false;
    }

    /** The peer's loop polls the rings: nothing to wake. */
    @Override
    void wakePeerRead() {
    }

    @Override
    void wakePeerWrite() {
    }

    /** Also joins the loop's polled ends the first time the channel has a loop (an accepted child at registration). */
    @Override
    void wakeRead() {
        if (channel.isRegistered() && !forgotten && enrolled.compareAndSet(false, true)) {
            channel.zstackLoop().crossProcessEnds.add(this);
        }
        super.wakeRead();
    }

    @Override
    void forget() {
        boolean closeNow;
        synchronized (control) {
            forgotten = true;
            closeNow = watching; // else the acceptor's answer is still to be written: watchPeer closes it
        }
        if (enrolled.get() && channel.isRegistered()) {
            channel.zstackLoop().crossProcessEnds.remove(this);
        }
        super.forget();
        if (closeNow) {
            closeControl();
        }
        region.release(); // unmapped here once the views still held are released too
    }

    @Override
    String kind() {
        return "cross-process";
    }

    /**
     * Loop thread, every round: gives back the space of released views, notices the peer's death, new bytes or an
     * end from the peer (a read is due) and room or a closed reader toward it (a flush is due). Returns what it did.
     */
    int poll() {
        if (forgotten) {
            return 0;
        }
        try {
            return pollRings();
        } catch (RuntimeException e) {
            // the region holds what the peer process wrote: a broken descriptor fails this connection, not the loop
            channel.pipeline().fireExceptionCaught(e);
            channel.unsafe().close(channel.voidPromise());
            return 1;
        }
    }

    private int pollRings() {
        int work = reader.sweep() ? 1 : 0;
        if (controlClosed && !lossHandled) {
            lossHandled = true;
            if (reader.endWord() == ChunkRing.OPEN || !writer.isReaderClosed()) {
                counters().peersLost++; // it never ended its side: its process died
            }
            reader.writerLost();
            writer.readerLost();
        }
        long tail = reader.published();
        int end = reader.endWord();
        if (tail != seenTail || end != seenEnd) {
            seenTail = tail;
            seenEnd = end;
            wakeRead();
            work++;
        }
        boolean readerClosed = writer.isReaderClosed();
        if (writer.writerBlocked && writer.room(0) > 0 || readerClosed != seenReaderClosed) {
            seenReaderClosed = readerClosed;
            writer.writerBlocked = false;
            wakeWrite();
            work++;
        }
        return work;
    }

    /** For tests: whether this process still maps the connection's region. */
    boolean regionMapped() {
        return region.isMapped();
    }
}
