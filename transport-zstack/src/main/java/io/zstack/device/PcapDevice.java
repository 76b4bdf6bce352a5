package io.zstack.device;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * Captures what a device receives and sends into a pcap file (readable by tcpdump, tshark, Wireshark): the libpcap
 * format with nanosecond timestamps, Ethernet link type, frames cut at a snap length. The file stops growing at a
 * size cap; frames past it are counted, not written. The frames themselves pass through untouched.
 *
 * <p>Writes go through a buffer flushed when full and on {@link #close}; single-threaded like every device.
 */
public final class PcapDevice extends ForwardingNetDevice {
    private static final int MAGIC_NANOS = 0xa1b23c4d;
    private static final int LINKTYPE_ETHERNET = 1;
    private static final int FILE_HEADER = 24;
    private static final int RECORD_HEADER = 16;

    private final FileChannel file;
    private final int snapLength;
    private final long maxBytes;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.nativeOrder());
    private final MemorySegment bufferMemory = MemorySegment.ofBuffer(buffer);
    private long written;
    private long framesCaptured;
    private long framesNotCaptured;
    /** Frames at the front of the transmit burst already captured but not yet taken by the device. */
    private int capturedUntaken;

    /**
     * Captures {@code device}'s traffic into {@code path} (replaced if it exists), each frame cut at
     * {@code snapLength} bytes, the file growing to at most {@code maxBytes}.
     */
    public PcapDevice(NetDevice device, Path path, int snapLength, long maxBytes) {
        if (snapLength < 64 || maxBytes < FILE_HEADER) {
            throw new IllegalArgumentException("snap length " + snapLength + ", max bytes " + maxBytes);
        }
        super(device);
        this.snapLength = snapLength;
        this.maxBytes = maxBytes;
        try {
            this.file = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the capture file " + path, e);
        }
        buffer.putInt(MAGIC_NANOS).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0)
                .putInt(snapLength).putInt(LINKTYPE_ETHERNET);
        written = FILE_HEADER;
    }

    public long framesCaptured() {
        return framesCaptured;
    }

    /** Frames that were not written because the file reached its size cap. */
    public long framesNotCaptured() {
        return framesNotCaptured;
    }

    private void capture(long frame) {
        int length = Mbuf.pktLen(frame);
        int kept = Math.min(length, snapLength);
        if (written + RECORD_HEADER + kept > maxBytes) {
            framesNotCaptured++;
            return;
        }
        if (buffer.remaining() < RECORD_HEADER + kept) {
            flush();
        }
        Instant now = Instant.now();
        buffer.putInt((int) now.getEpochSecond()).putInt(now.getNano()).putInt(kept).putInt(length);
        Mbuf.copyOut(frame, 0, bufferMemory, buffer.position(), kept);
        buffer.position(buffer.position() + kept);
        written += RECORD_HEADER + kept;
        framesCaptured++;
    }

    private void flush() {
        buffer.flip();
        try {
            while (buffer.hasRemaining()) {
                file.write(buffer);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("writing the capture file failed", e);
        } finally {
            buffer.clear();
        }
    }

    @Override
    public int receive(MbufBurst burst) {
        int n = inner.receive(burst);
        for (int i = 0; i < n; i++) {
            capture(burst.get(i));
        }
        return n;
    }

    @Override
    public int transmit(MbufBurst burst) {
        // the device owns (and may free) what it takes: capture first, once per frame even if it is offered again
        for (int i = capturedUntaken; i < burst.size(); i++) {
            capture(burst.get(i));
        }
        int offered = burst.size();
        int taken = inner.transmit(burst);
        capturedUntaken = offered - taken;
        return taken;
    }

    @Override
    public String statistics() {
        String own = inner.statistics();
        return (own.isEmpty() ? "" : own + "; ") + "pcap " + framesCaptured + " frames captured, "
                + framesNotCaptured + " past the size cap";
    }

    @Override
    public void close() {
        try {
            flush();
            file.close();
        } catch (IOException e) {
            throw new UncheckedIOException("closing the capture file failed", e);
        } finally {
            inner.close();
        }
    }
}
