package io.zstack.channel;

import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;

/**
 * Where {@link io.netty.channel.FileRegion#transferTo} writes: at most {@code limit} bytes (what the send buffer or
 * the in-process budget takes now), each piece handed to a {@link Target} that copies it (into mbufs, or into a
 * buffer). A piece the target cannot take ends the transfer for now, with {@link #refused} set.
 */
final class FileRegionSink implements WritableByteChannel {
    /** Takes a copy of the bytes it is given, all of them, or none and answers false (no memory left). */
    @FunctionalInterface
    interface Target {
        boolean take(ByteBuffer bytes);
    }

    private final Target target;
    private final int limit;
    /** Bytes the target took. */
    int written;
    /** The target refused a piece: retry when it has room again. */
    boolean refused;

    FileRegionSink(int limit, Target target) {
        this.limit = limit;
        this.target = target;
    }

    @Override
    public int write(ByteBuffer src) {
        int n = Math.min(src.remaining(), limit - written);
        if (n <= 0) {
            return 0;
        }
        int start = src.position();
        if (!target.take(src.slice(start, n))) {
            refused = true;
            return 0;
        }
        src.position(start + n);
        written += n;
        return n;
    }

    @Override
    public boolean isOpen() {
        return true;
    }

    @Override
    public void close() {
    }
}
