package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The send, receive and reassembly queues move mbuf references, keep every byte, and leak nothing. */
class TcpQueuesTest {
    private final JavaMbufPool pool = new JavaMbufPool("queues", 8192, 2176);

    @AfterEach
    void noLeak() {
        assertEquals(pool.capacity(), pool.available(), "mbufs leaked");
        pool.close();
    }

    private long mbufWith(byte[] stream, int from, int len) {
        long m = pool.alloc();
        assertTrue(len <= Mbuf.tailroom(m));
        MemorySegment.ofAddress(Mbuf.append(m, len)).reinterpret(len)
                .copyFrom(MemorySegment.ofArray(stream).asSlice(from, len));
        return m;
    }

    /** A chain of segments of random sizes (at most 2000 bytes each) carrying stream[from, from+len). */
    private long chainWith(SplittableRandom r, byte[] stream, int from, int len) {
        long head = 0;
        int at = from;
        while (at < from + len) {
            int n = Math.min(from + len - at, r.nextInt(1, 2001));
            long m = mbufWith(stream, at, n);
            if (head == 0) {
                head = m;
            } else {
                assertTrue(Mbuf.chain(head, m));
            }
            at += n;
        }
        return head;
    }

    /**
     * Each queued piece counts at least one mbuf's data room against the send buffer, so tiny writes cannot take
     * the pool; copies may extend the last piece instead, but only while nothing else references its mbuf.
     */
    @Test
    void tinyPiecesAreChargedAWholeMbufAndCopiesFillTheTail() {
        SendQueue queue = new SendQueue(pool);
        byte[] stream = new byte[4000];
        new SplittableRandom(3).nextBytes(stream);
        for (int i = 0; i < 10; i++) {
            queue.append(mbufWith(stream, i * 3, 3));
        }
        assertEquals(30, queue.size());
        assertEquals(10L * pool.dataRoom(), queue.memory(), "ten 3-byte pieces pin ten mbufs");
        // the last piece's mbuf is the queue's alone: a copy may fill the rest of it
        int room = queue.tailRoom();
        assertTrue(room > 1000, "room after the last piece: " + room);
        MemorySegment.ofAddress(queue.tailAddress()).reinterpret(100)
                .copyFrom(MemorySegment.ofArray(stream).asSlice(30, 100));
        queue.extendTail(100);
        assertEquals(130, queue.size());
        assertEquals(10L * pool.dataRoom(), queue.memory(), "filling the tail takes no new mbuf");
        // once a view of the tail exists (a segment in flight), bytes after it may be seen by no one: no room
        long view = queue.slice(0, 130);
        assertEquals(0, queue.tailRoom());
        byte[] sent = new byte[130];
        queue.copyOut(0, 130, MemorySegment.ofArray(sent), 0);
        assertArrayEquals(java.util.Arrays.copyOf(stream, 130), sent);
        pool.free(view);
        assertEquals(room - 100, queue.tailRoom(), "the view freed, the tail is the queue's again");
        queue.acknowledge(129);
        assertEquals(pool.dataRoom(), queue.memory(), "the acknowledged pieces no longer count");
        queue.clear();
        assertEquals(0, queue.memory());
    }

    @Test
    void outOfOrderOverlappingDuplicatedSegmentsReassembleExactly() {
        for (int seed = 0; seed < 50; seed++) {
            SplittableRandom r = new SplittableRandom(seed);
            byte[] stream = new byte[20_000 + r.nextInt(20_000)];
            r.nextBytes(stream);
            List<int[]> segments = new ArrayList<>();
            for (int at = 0; at < stream.length; ) {
                int len = Math.min(stream.length - at, r.nextInt(1, 1500));
                segments.add(new int[] {at, len});
                // retransmissions that overlap neighbours, re-cut differently
                if (r.nextInt(4) == 0) {
                    int s = Math.max(0, at - r.nextInt(800));
                    segments.add(new int[] {s, Math.min(stream.length - s, r.nextInt(1, 2000))});
                }
                at += len;
            }
            Collections.shuffle(segments, new java.util.Random(seed));
            ReassemblyQueue ooo = new ReassemblyQueue(pool, 4096);
            ReceiveQueue in = new ReceiveQueue(pool);
            long next = 0;
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int[] s : segments) {
                long chain = chainWith(r, stream, s[0], s[1]);
                if (s[0] + s[1] <= next) {
                    pool.free(chain); // old duplicate: TCP input drops these before the queue
                    continue;
                }
                long start = s[0];
                int len = s[1];
                if (start < next) {
                    chain = Mbuf.trimFront(pool, chain, (int) (next - start));
                    len -= (int) (next - start);
                    start = next;
                }
                if (start == next) {
                    in.add(chain, len);
                    next += len;
                } else {
                    assertTrue(ooo.insert(start, chain, len) >= 0);
                }
                next = ooo.drainInto(next, in);
                long c;
                while ((c = in.poll()) != 0) {
                    out.writeBytes(Mbuf.toByteArray(c));
                    pool.free(c);
                }
            }
            assertEquals(stream.length, next, "seed " + seed);
            assertTrue(ooo.isEmpty());
            assertArrayEquals(stream, out.toByteArray(), "seed " + seed);
        }
    }

    @Test
    void rangesMergeContiguousEntriesForSack() {
        ReassemblyQueue ooo = new ReassemblyQueue(pool, 16);
        byte[] stream = new byte[100];
        ooo.insert(10, mbufWith(stream, 10, 10), 10);
        ooo.insert(20, mbufWith(stream, 20, 5), 5);
        ooo.insert(40, mbufWith(stream, 40, 10), 10);
        long[] ranges = new long[8];
        assertEquals(2, ooo.ranges(ranges));
        assertArrayEquals(new long[] {10, 25, 40, 50}, java.util.Arrays.copyOf(ranges, 4));
        assertEquals(0, ooo.insert(12, mbufWith(stream, 12, 8), 8), "duplicate kept nothing");
        ooo.clear();
    }

    @Test
    void aFullReassemblyQueueDropsNewSegments() {
        ReassemblyQueue ooo = new ReassemblyQueue(pool, 2);
        byte[] stream = new byte[100];
        ooo.insert(10, mbufWith(stream, 10, 1), 1);
        ooo.insert(20, mbufWith(stream, 20, 1), 1);
        assertEquals(-1, ooo.insert(30, mbufWith(stream, 30, 1), 1));
        assertEquals(2, ooo.entries());
        ooo.clear();
    }

    @Test
    void sendQueueSlicesAnyRangeWithoutCopyingAndFreesOnAck() {
        SplittableRandom r = new SplittableRandom(7);
        byte[] stream = new byte[50_000];
        r.nextBytes(stream);
        SendQueue q = new SendQueue(pool);
        for (int at = 0; at < stream.length; ) {
            int len = Math.min(stream.length - at, r.nextInt(1, 3000));
            q.append(chainWith(r, stream, at, len));
            at += len;
        }
        assertEquals(stream.length, q.size());
        long acked = 0;
        while (acked < stream.length) {
            for (int k = 0; k < 5; k++) {
                long from = acked + r.nextInt((int) Math.min(5000, stream.length - acked));
                int len = (int) Math.min(stream.length - from, r.nextInt(1, 9000));
                long slice = q.slice(from, len);
                assertEquals(len, Mbuf.pktLen(slice));
                byte[] expected = java.util.Arrays.copyOfRange(stream, (int) from, (int) from + len);
                assertArrayEquals(expected, Mbuf.toByteArray(slice));
                for (long seg = slice; seg != 0; seg = Mbuf.next(seg)) {
                    // an indirect view, or the queued mbuf itself with the slice's reference added: never a copy
                    assertTrue(Mbuf.isIndirect(seg) || pool.refcnt(seg) >= 2, "views, not copies");
                }
                if (k == 0) {
                    byte[] copy = new byte[len];
                    q.copyOut(from, len, MemorySegment.ofArray(copy), 0);
                    assertArrayEquals(expected, copy);
                }
                // a slice still held (by a NIC) keeps its bytes alive after the ack
                q.acknowledge(Math.min(stream.length, acked + 1));
                assertArrayEquals(expected, Mbuf.toByteArray(slice));
                pool.free(slice);
            }
            acked = Math.min(stream.length, acked + r.nextInt(1, 4000));
            q.acknowledge(acked);
            assertEquals(stream.length - acked, q.size());
        }
        assertEquals(0, q.pieces());
    }
}
