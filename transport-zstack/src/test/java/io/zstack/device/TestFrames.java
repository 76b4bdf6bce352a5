package io.zstack.device;

import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.zip.CRC32;

/**
 * Test frames: an Ethernet header (EtherType IPv4 unless told otherwise, since only IPv4 frames are corrupted by the
 * fault injector), a sequence number, a pattern derived from it, and a CRC-32 of everything before it, so a receiver
 * can tell which frame it got and whether it is intact.
 */
final class TestFrames {
    static final int HEADER = 14;
    static final int MIN_LENGTH = HEADER + 4 + 4;
    static final short IPV4 = 0x0800;
    static final short ARP = 0x0806;
    /** An experimental EtherType (IEEE 802's local experimental 1): a kernel interface counts it, then drops it. */
    static final short EXPERIMENTAL = (short) 0x88b5;

    private TestFrames() {
    }

    /** Length of frame {@code seq} when lengths vary: 64..263 bytes. */
    static int lengthOf(int seq) {
        return 64 + Math.floorMod(seq * 37, 200);
    }

    static byte[] bytes(int seq, int length) {
        return bytes(seq, length, IPV4);
    }

    static byte[] bytes(int seq, int length, short etherType) {
        if (length < MIN_LENGTH) {
            throw new IllegalArgumentException("frame too short: " + length);
        }
        ByteBuffer b = ByteBuffer.allocate(length);
        b.put(new byte[] {2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a}).putShort(etherType).putInt(seq);
        while (b.position() < length - 4) {
            b.put((byte) (seq * 31 + b.position()));
        }
        CRC32 crc = new CRC32();
        crc.update(b.array(), 0, length - 4);
        b.putInt((int) crc.getValue());
        return b.array();
    }

    /** A frame in a fresh mbuf of {@code pool} (chained if it does not fit one). */
    static long frame(MbufPool pool, int seq, int length) {
        return frame(pool, seq, length, IPV4);
    }

    static long frame(MbufPool pool, int seq, int length, short etherType) {
        return chain(pool, bytes(seq, length, etherType), true, pool.dataRoom() - pool.headroom());
    }

    /**
     * {@code data} in fresh mbufs of {@code pool}, chained as needed: the first holds at most {@code firstPiece}
     * bytes; each starts at the pool's headroom, or with {@code headroom} false at the very start of its buffer.
     */
    static long chain(MbufPool pool, byte[] data, boolean headroom, int firstPiece) {
        int length = data.length;
        long head = 0;
        int done = 0;
        int room = headroom ? pool.dataRoom() - pool.headroom() : pool.dataRoom();
        while (done < length) {
            long m = pool.alloc();
            assertNotEquals(0, m, "pool " + pool.name() + " is empty");
            if (!headroom) {
                Mbuf.setDataOff(m, 0);
            }
            int n = Math.min(done == 0 ? Math.min(firstPiece, room) : room, length - done);
            MemorySegment.copy(MemorySegment.ofArray(data), done, MemorySegment.ofAddress(Mbuf.append(m, n))
                    .reinterpret(n), 0, n);
            done += n;
            if (head == 0) {
                head = m;
            } else {
                Mbuf.chain(head, m);
            }
        }
        return head;
    }

    static long frame(MbufPool pool, int seq) {
        return frame(pool, seq, lengthOf(seq));
    }

    /** The frame's sequence number, or -1 when its CRC does not match (corrupted). */
    static int seqOf(long m) {
        return seqOf(Mbuf.toByteArray(m));
    }

    static int seqOf(byte[] frame) {
        if (frame.length < MIN_LENGTH) {
            return -1;
        }
        CRC32 crc = new CRC32();
        crc.update(frame, 0, frame.length - 4);
        ByteBuffer b = ByteBuffer.wrap(frame);
        if ((int) crc.getValue() != b.getInt(frame.length - 4)) {
            return -1;
        }
        return b.getInt(HEADER);
    }
}
