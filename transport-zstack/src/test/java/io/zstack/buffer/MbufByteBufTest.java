package io.zstack.buffer;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.util.IllegalReferenceCountException;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.concurrent.FastThreadLocalThread;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.netty.util.internal.logging.JdkLoggerFactory;
import io.zstack.dpdk.Mempool;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.ScatteringByteChannel;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MbufByteBuf behaves like Netty's own direct buffer in every operation, views the mbuf's memory without copying,
 * and gives every mbuf back; the allocator falls back where it must and its buffers are leak-tracked.
 */
class MbufByteBufTest {
    private static final HexFormat HEX = HexFormat.of();

    @TempDir
    Path tmp;

    private JavaMbufPool pool;
    private ZStackByteBufAllocator alloc;

    @BeforeEach
    void createPool() {
        pool = new JavaMbufPool("mbuf-bytebuf", 256);
        alloc = new ZStackByteBufAllocator(pool);
    }

    @AfterEach
    void everyMbufCameBack() {
        assertEquals(pool.capacity(), pool.available(), "mbufs leaked");
        pool.close();
    }

    // ---- differential

    @Test
    void randomOperationSequencesMatchUnpooledDirectBuffer() throws Exception {
        Coverage cov = new Coverage();
        try (FileChannel file = FileChannel.open(tmp.resolve("io"), CREATE, READ, WRITE)) {
            for (long seed = 1; seed <= 16; seed++) {
                new Differential(pool, alloc, file, seed, cov).run(2500);
            }
        }
        System.out.println("differential on JavaMbufPool: " + cov);
        // The runs must have gone through every way the memory can change, else they proved less than they claim.
        assertTrue(cov.growWithinMbuf > 0, "growth within the mbuf: " + cov);
        assertTrue(cov.mbufToMbuf > 0, "growth into a fresh mbuf: " + cov);
        assertTrue(cov.mbufToOffHeap > 0, "growth beyond any mbuf: " + cov);
        assertTrue(cov.offHeapGrowth > 0, "growth of off-heap memory: " + cov);
        assertTrue(cov.shrink > 0, "shrinking: " + cov);
        assertTrue(cov.exceptions > 100, "out-of-bounds and other failures compared: " + cov);
        assertTrue(cov.mbufSteps > cov.steps / 3, "most steps on mbuf memory: " + cov);
    }

    /** What a differential run went through. */
    static final class Coverage {
        int steps;
        int mbufSteps;
        int growWithinMbuf;
        int mbufToMbuf;
        int mbufToOffHeap;
        int offHeapGrowth;
        int shrink;
        int exceptions;

        @Override
        public String toString() {
            return "steps=" + steps + " onMbuf=" + mbufSteps + " growWithinMbuf=" + growWithinMbuf + " mbufToMbuf="
                    + mbufToMbuf + " mbufToOffHeap=" + mbufToOffHeap + " offHeapGrowth=" + offHeapGrowth
                    + " shrink=" + shrink + " exceptions=" + exceptions;
        }
    }

    interface Fn {
        Object apply(ByteBuf buf) throws Exception;
    }

    record Op(String name, Fn fn) {
    }

    /**
     * Applies one random sequence of operations to an MbufByteBuf and to Unpooled.directBuffer, comparing every
     * result (or exception class) and, after every step, indices and the whole content. Bytes a buffer leaves
     * unspecified (grown capacity not yet written) are zeroed on both sides, and capacities, which Netty lets each
     * buffer choose when it grows by itself, are aligned with capacity(int) after each step.
     */
    static final class Differential {
        private static final Charset[] CHARSETS = {StandardCharsets.UTF_8, StandardCharsets.US_ASCII,
                StandardCharsets.ISO_8859_1};

        private final MbufPool pool;
        private final ZStackByteBufAllocator alloc;
        private final FileChannel file;
        private final long seed;
        private final SplittableRandom rnd;
        private final Coverage cov;
        private final ArrayDeque<String> trail = new ArrayDeque<>();
        private ByteBuf a;
        private ByteBuf b;
        private long extraReference;
        /** Growth past every mbuf is one-way, so it is held back until the last quarter of a run. */
        private boolean late;

        Differential(MbufPool pool, ZStackByteBufAllocator alloc, FileChannel file, long seed, Coverage cov) {
            this.pool = pool;
            this.alloc = alloc;
            this.file = file;
            this.seed = seed;
            this.rnd = new SplittableRandom(seed);
            this.cov = cov;
        }

        void run(int steps) throws Exception {
            setUp();
            try {
                checkState("setup");
                for (int i = 0; i < steps; i++) {
                    step(i, steps);
                }
                assertEquals(1, a.refCnt());
            } finally {
                a.release();
                b.release();
                if (extraReference != 0) {
                    pool.freeSegment(extraReference);
                }
            }
        }

        private void setUp() {
            int kind = (int) (seed % 4);
            int room = MbufByteBuf.mbufCapacity(pool);
            int initial = rnd.nextInt(room + 1);
            int max = switch (rnd.nextInt(4)) {
                case 0 -> initial + rnd.nextInt(room - initial + 1); // a limit inside the mbuf
                case 1 -> 4096;
                case 2 -> 65536;
                default -> Integer.MAX_VALUE;
            };
            if (kind < 2) {
                a = kind == 0 ? MbufByteBuf.allocate(alloc, pool, initial, max) : alloc.directBuffer(initial, max);
                assertNotNull(MbufByteBuf.unwrapMbuf(a));
                b = Unpooled.directBuffer(initial, max);
                a.setZero(0, initial);
                b.setZero(0, initial);
            } else {
                // A received frame: payload anywhere in the buffer, as left by header trimming.
                long m = take(pool);
                int off = rnd.nextInt(pool.dataRoom() + 1);
                int len = rnd.nextInt(pool.dataRoom() - off + 1);
                Mbuf.setDataOff(m, off);
                Mbuf.setDataLen(m, len);
                Mbuf.setPktLen(m, len);
                byte[] data = bytes(len);
                MemorySegment.copy(data, 0, Mbuf.MEMORY, JAVA_BYTE, Mbuf.dataAddress(m), len);
                if (kind == 3) {
                    pool.refcntUpdate(m, 1); // the transport still holds it: the tail is not ours to grow into
                    extraReference = m;
                }
                a = kind == 2 ? alloc.wrapReceived(m) : MbufByteBuf.ofReceived(alloc, pool, m);
                // The transport edits the mbuf once the buffer exists; the view must stay where it was.
                Mbuf.setDataOff(m, 0);
                Mbuf.setDataLen(m, 0);
                b = Unpooled.directBuffer(len, Integer.MAX_VALUE).writeBytes(data);
            }
            trail.add("setup kind=" + kind + " cap=" + a.capacity() + " max=" + a.maxCapacity());
        }

        private void step(int i, int steps) throws Exception {
            late = i >= steps * 3 / 4;
            MbufByteBuf root = MbufByteBuf.unwrapMbuf(a);
            long mbufBefore = root.mbuf();
            int capA = a.capacity();
            int capB = b.capacity();
            Op op = nextOp();
            trail.add(i + ": " + op.name);
            if (trail.size() > 12) {
                trail.removeFirst();
            }
            Object ra = outcome(op, a);
            Object rb = outcome(op, b);
            if (ra instanceof Failure) {
                cov.exceptions++;
            }
            assertEquals(String.valueOf(rb), String.valueOf(ra), () -> context("result of " + op.name));
            zeroUnspecified(a, capA);
            zeroUnspecified(b, capB);
            if (a.capacity() != b.capacity()) {
                int target = Math.max(a.capacity(), b.capacity());
                ByteBuf smaller = a.capacity() < target ? a : b;
                int old = smaller.capacity();
                smaller.capacity(target);
                zeroUnspecified(smaller, old);
            }
            long mbufAfter = root.mbuf();
            if (a.capacity() > capA) {
                if (mbufBefore != 0 && mbufAfter == mbufBefore) {
                    cov.growWithinMbuf++;
                } else if (mbufBefore != 0 && mbufAfter != 0) {
                    cov.mbufToMbuf++;
                } else if (mbufBefore != 0) {
                    cov.mbufToOffHeap++;
                } else {
                    cov.offHeapGrowth++;
                }
            } else if (a.capacity() < capA) {
                cov.shrink++;
            }
            cov.steps++;
            if (mbufAfter != 0) {
                cov.mbufSteps++;
            }
            try {
                checkState(op.name);
            } catch (RuntimeException e) {
                throw new AssertionError(context("state check failed after " + op.name), e);
            }
        }

        private record Failure(String type) {
            @Override
            public String toString() {
                return "threw " + type;
            }
        }

        private static Object outcome(Op op, ByteBuf buf) {
            try {
                return op.fn.apply(buf);
            } catch (IllegalArgumentException e) {
                // Netty's UnpooledDirectByteBuf moves a ByteBuffer's limit for channel transfers without checking
                // the range first, so it reports out of bounds as the limit's IllegalArgumentException.
                boolean channel = op.name.startsWith("file#") || op.name.startsWith("channel#");
                return new Failure((channel ? IndexOutOfBoundsException.class : e.getClass()).getName());
            } catch (Exception e) {
                return new Failure(e.getClass().getName());
            }
        }

        /** Grown capacity past what the step wrote holds unspecified bytes: make them equal on both sides. */
        private static void zeroUnspecified(ByteBuf buf, int oldCapacity) {
            int from = Math.max(oldCapacity, buf.writerIndex());
            if (buf.capacity() > from) {
                buf.setZero(from, buf.capacity() - from);
            }
        }

        private void checkState(String after) {
            assertEquals(b.readerIndex(), a.readerIndex(), () -> context("readerIndex after " + after));
            assertEquals(b.writerIndex(), a.writerIndex(), () -> context("writerIndex after " + after));
            assertEquals(b.capacity(), a.capacity(), () -> context("capacity after " + after));
            assertEquals(b.maxCapacity(), a.maxCapacity(), () -> context("maxCapacity after " + after));
            assertEquals(b.refCnt(), a.refCnt(), () -> context("refCnt after " + after));
            int cap = a.capacity();
            // Read a's memory through its address, independently of its own accessors.
            byte[] actual = MemorySegment.ofAddress(a.memoryAddress()).reinterpret(cap).toArray(JAVA_BYTE);
            byte[] expected = new byte[cap];
            b.getBytes(0, expected);
            if (!Arrays.equals(expected, actual)) {
                int at = Arrays.mismatch(expected, actual);
                fail(context("content differs at " + at + " (of " + cap + ") after " + after));
            }
            assertTrue(a.equals(b) && b.equals(a), () -> context("equals after " + after));
            assertEquals(b.hashCode(), a.hashCode(), () -> context("hashCode after " + after));
            MbufByteBuf root = MbufByteBuf.unwrapMbuf(a);
            long m = root.mbuf();
            if (m != 0) {
                long start = Mbuf.bufAddr(m);
                long address = a.memoryAddress();
                assertTrue(address >= start && address + cap <= start + Mbuf.bufLen(m),
                        () -> context("memory outside the mbuf after " + after));
            }
        }

        private String context(String what) {
            return "seed " + seed + ": " + what + "; a=" + a + " b=" + b + "; last ops: " + String.join(" | ", trail);
        }

        // ---- random parameters

        private byte[] bytes(int n) {
            byte[] out = new byte[n];
            for (int i = 0; i < n; i++) {
                out[i] = (byte) rnd.nextInt(256);
            }
            return out;
        }

        private int cap() {
            return a.capacity();
        }

        /** A start index for width bytes: valid mostly, sometimes just outside. */
        private int index(int width) {
            int cap = cap();
            if (rnd.nextInt(30) == 0) {
                return rnd.nextBoolean() ? -1 - rnd.nextInt(2) : Math.max(0, cap - width + 1) + rnd.nextInt(3);
            }
            return cap >= width ? rnd.nextInt(cap - width + 1) : 0;
        }

        private int length(int limit) {
            int max = Math.max(0, limit);
            return rnd.nextInt(10) < 7 ? rnd.nextInt(Math.min(max, 64) + 1) : rnd.nextInt(max + 1);
        }

        /** {index, length} inside the capacity, sometimes reaching past it. */
        private int[] range() {
            int cap = cap();
            int index = rnd.nextInt(cap + 1);
            int len = length(cap - index);
            if (rnd.nextInt(30) == 0) {
                len = cap - index + 1 + rnd.nextInt(3);
            } else if (rnd.nextInt(60) == 0) {
                index = -1;
            }
            return new int[] {index, len};
        }

        private int[] readable() {
            int n = a.readableBytes();
            int len = length(n);
            if (rnd.nextInt(30) == 0) {
                len = n + 1;
            }
            return new int[] {len};
        }

        private String text() {
            String[] parts = {"a", "Zz", "0123456789", "é", "€", "\uD83D\uDE00", " ", "\n", "ß"};
            StringBuilder s = new StringBuilder();
            int n = rnd.nextInt(12);
            for (int i = 0; i < n; i++) {
                s.append(parts[rnd.nextInt(parts.length)]);
            }
            return s.toString();
        }

        private static final int BUF_KINDS = 7;

        /** A zeroed buffer of one of Netty's kinds (heap, direct, pooled, mbuf, composite, array slice, NIO), empty. */
        private ByteBuf newBuf(int kind, int capacity) {
            ByteBuf x = switch (kind) {
                case 0 -> Unpooled.buffer(capacity, capacity);
                case 1 -> Unpooled.directBuffer(capacity, capacity);
                case 2 -> PooledByteBufAllocator.DEFAULT.directBuffer(capacity, capacity);
                case 3 -> alloc.directBuffer(capacity, capacity);
                case 4 -> {
                    int h = capacity / 2;
                    CompositeByteBuf c = Unpooled.compositeBuffer();
                    c.addComponents(true, Unpooled.buffer(h, h).writeZero(h),
                            Unpooled.directBuffer(capacity - h, capacity - h).writeZero(capacity - h));
                    yield c;
                }
                case 5 -> Unpooled.wrappedBuffer(new byte[capacity + 7], 7, capacity);
                default -> new UnpooledDirectByteBuf(UnpooledByteBufAllocator.DEFAULT, capacity, capacity);
            };
            x.setZero(0, x.capacity());
            return x.clear();
        }

        private ByteBuf filled(int kind, byte[] content, int extra) {
            return newBuf(kind, content.length + extra).writeBytes(content);
        }

        private static String hex(ByteBuf buf) {
            return ByteBufUtil.hexDump(buf, 0, buf.capacity()) + "@" + buf.readerIndex() + "," + buf.writerIndex();
        }

        private static String hex(ByteBuffer bb) {
            ByteBuffer d = bb.duplicate();
            d.clear();
            byte[] out = new byte[d.remaining()];
            d.get(out);
            return HEX.formatHex(out) + "@" + bb.position() + "," + bb.limit();
        }

        // ---- operations

        private Op nextOp() {
            if (!late && a.writerIndex() > 1500 && rnd.nextInt(4) == 0) {
                return new Op("clear", buf -> buf.clear().writerIndex()); // keeps early steps on mbuf memory
            }
            int choice = rnd.nextInt(64);
            return switch (choice) {
                case 0, 1, 2, 3, 4 -> get();
                case 5, 6, 7, 8, 9 -> set();
                case 10, 11, 12 -> read();
                case 13, 14, 15, 16 -> write();
                case 17 -> setArray();
                case 18 -> getArray();
                case 19 -> setNio();
                case 20 -> getNio();
                case 21, 22 -> setByteBuf();
                case 23, 24 -> getByteBuf();
                case 25 -> selfCopy();
                case 26 -> writeArray();
                case 27 -> writeByteBuf();
                case 28 -> writeNio();
                case 29 -> readArray();
                case 30 -> readByteBuf();
                case 31 -> readNewBuf();
                case 32 -> readNio();
                case 33, 34 -> indices();
                case 35 -> discard();
                case 36, 37 -> capacityChange();
                case 38 -> ensureWritable();
                case 39 -> slice();
                case 40 -> duplicate();
                case 41 -> retainedDerived();
                case 42 -> nioView();
                case 43 -> internalNio();
                case 44, 45 -> search();
                case 46 -> copy();
                case 47, 48 -> chars();
                case 49 -> zero();
                case 50 -> streams();
                case 51 -> channels();
                case 52 -> fileChannel();
                case 53 -> compare();
                case 54 -> swapped();
                case 55 -> readOnly();
                case 56 -> readSlices();
                default -> rnd.nextBoolean() ? get() : set();
            };
        }

        private Op get() {
            int w = new int[] {1, 2, 3, 4, 8}[rnd.nextInt(5)];
            int i = index(w);
            return new Op("get" + w + "@" + i, buf -> switch (w) {
                case 1 -> List.of(buf.getByte(i), buf.getUnsignedByte(i), buf.getBoolean(i));
                case 2 -> List.of(buf.getShort(i), buf.getShortLE(i), buf.getUnsignedShort(i),
                        buf.getUnsignedShortLE(i), (int) buf.getChar(i));
                case 3 -> List.of(buf.getMedium(i), buf.getMediumLE(i), buf.getUnsignedMedium(i),
                        buf.getUnsignedMediumLE(i));
                case 4 -> List.of(buf.getInt(i), buf.getIntLE(i), buf.getUnsignedInt(i), buf.getUnsignedIntLE(i),
                        Float.floatToRawIntBits(buf.getFloat(i)), Float.floatToRawIntBits(buf.getFloatLE(i)));
                default -> List.of(buf.getLong(i), buf.getLongLE(i), Double.doubleToRawLongBits(buf.getDouble(i)),
                        Double.doubleToRawLongBits(buf.getDoubleLE(i)));
            });
        }

        private Op set() {
            int variant = rnd.nextInt(15);
            int w = switch (variant) {
                case 0, 1 -> 1;
                case 2, 3, 4 -> 2;
                case 5, 6 -> 3;
                case 7, 8, 9, 10 -> 4;
                default -> 8;
            };
            int i = index(w);
            long v = rnd.nextLong();
            return new Op("set#" + variant + "@" + i, buf -> {
                switch (variant) {
                    case 0 -> buf.setByte(i, (int) v);
                    case 1 -> buf.setBoolean(i, (v & 1) != 0);
                    case 2 -> buf.setShort(i, (int) v);
                    case 3 -> buf.setShortLE(i, (int) v);
                    case 4 -> buf.setChar(i, (int) v);
                    case 5 -> buf.setMedium(i, (int) v);
                    case 6 -> buf.setMediumLE(i, (int) v);
                    case 7 -> buf.setInt(i, (int) v);
                    case 8 -> buf.setIntLE(i, (int) v);
                    case 9 -> buf.setFloat(i, Float.intBitsToFloat((int) v & 0x3fffffff));
                    case 10 -> buf.setFloatLE(i, Float.intBitsToFloat((int) v & 0x3fffffff));
                    case 11 -> buf.setLong(i, v);
                    case 12 -> buf.setLongLE(i, v);
                    case 13 -> buf.setDouble(i, Double.longBitsToDouble(v & 0x3fffffffffffffffL));
                    default -> buf.setDoubleLE(i, Double.longBitsToDouble(v & 0x3fffffffffffffffL));
                }
                return "ok";
            });
        }

        private static final Fn[] READS = {
            ByteBuf::readByte, ByteBuf::readUnsignedByte, ByteBuf::readBoolean, ByteBuf::readShort,
            ByteBuf::readShortLE, ByteBuf::readUnsignedShort, ByteBuf::readUnsignedShortLE, b -> (int) b.readChar(),
            ByteBuf::readMedium, ByteBuf::readMediumLE, ByteBuf::readUnsignedMedium, ByteBuf::readUnsignedMediumLE,
            ByteBuf::readInt, ByteBuf::readIntLE, ByteBuf::readUnsignedInt, ByteBuf::readUnsignedIntLE,
            b -> Float.floatToRawIntBits(b.readFloat()), b -> Float.floatToRawIntBits(b.readFloatLE()),
            ByteBuf::readLong, ByteBuf::readLongLE, b -> Double.doubleToRawLongBits(b.readDouble()),
            b -> Double.doubleToRawLongBits(b.readDoubleLE()),
        };

        private Op read() {
            int variant = rnd.nextInt(READS.length);
            return new Op("read#" + variant, READS[variant]);
        }

        private Op write() {
            int variant = rnd.nextInt(15);
            long v = rnd.nextLong();
            return new Op("write#" + variant, buf -> {
                switch (variant) {
                    case 0 -> buf.writeByte((int) v);
                    case 1 -> buf.writeBoolean((v & 1) != 0);
                    case 2 -> buf.writeShort((int) v);
                    case 3 -> buf.writeShortLE((int) v);
                    case 4 -> buf.writeChar((int) v);
                    case 5 -> buf.writeMedium((int) v);
                    case 6 -> buf.writeMediumLE((int) v);
                    case 7 -> buf.writeInt((int) v);
                    case 8 -> buf.writeIntLE((int) v);
                    case 9 -> buf.writeFloat(Float.intBitsToFloat((int) v & 0x3fffffff));
                    case 10 -> buf.writeFloatLE(Float.intBitsToFloat((int) v & 0x3fffffff));
                    case 11 -> buf.writeLong(v);
                    case 12 -> buf.writeLongLE(v);
                    case 13 -> buf.writeDouble(Double.longBitsToDouble(v & 0x3fffffffffffffffL));
                    default -> buf.writeDoubleLE(Double.longBitsToDouble(v & 0x3fffffffffffffffL));
                }
                return buf.writerIndex();
            });
        }

        private Op setArray() {
            int[] r = range();
            int extra = rnd.nextInt(8);
            byte[] src = bytes(Math.max(0, r[1]) + extra);
            int srcIndex = rnd.nextInt(extra + 1);
            return new Op("setBytes(byte[])@" + r[0] + "+" + r[1], buf -> buf.setBytes(r[0], src, srcIndex, r[1])
                    .writerIndex());
        }

        private Op getArray() {
            int[] r = range();
            int extra = rnd.nextInt(8);
            int dstIndex = rnd.nextInt(extra + 1);
            return new Op("getBytes(byte[])@" + r[0] + "+" + r[1], buf -> {
                byte[] dst = new byte[Math.max(0, r[1]) + extra];
                buf.getBytes(r[0], dst, dstIndex, r[1]);
                return HEX.formatHex(dst);
            });
        }

        private ByteBuffer nio(boolean direct, int capacity) {
            return direct ? ByteBuffer.allocateDirect(capacity) : ByteBuffer.allocate(capacity);
        }

        private Op setNio() {
            int[] r = range();
            boolean direct = rnd.nextBoolean();
            int pos = rnd.nextInt(8);
            byte[] data = bytes(pos + Math.max(0, r[1]) + 3);
            return new Op("setBytes(ByteBuffer " + direct + ")@" + r[0] + "+" + r[1], buf -> {
                ByteBuffer src = nio(direct, data.length).put(data);
                src.position(pos).limit(pos + Math.max(0, r[1]));
                buf.setBytes(r[0], src);
                return src.position();
            });
        }

        private Op getNio() {
            int[] r = range();
            int kind = rnd.nextInt(3);
            int pos = rnd.nextInt(8);
            return new Op("getBytes(ByteBuffer " + kind + ")@" + r[0] + "+" + r[1], buf -> {
                ByteBuffer dst = nio(kind == 1, pos + Math.max(0, r[1]) + 3);
                dst.position(pos).limit(pos + Math.max(0, r[1]));
                if (kind == 2) {
                    dst = dst.asReadOnlyBuffer();
                }
                buf.getBytes(r[0], dst);
                return hex(dst);
            });
        }

        private Op setByteBuf() {
            int[] r = range();
            int kind = rnd.nextInt(BUF_KINDS);
            int srcIndex = rnd.nextInt(4);
            byte[] content = bytes(Math.max(0, r[1]) + srcIndex + rnd.nextInt(3));
            int form = rnd.nextInt(3);
            return new Op("setBytes(ByteBuf " + kind + " form " + form + ")@" + r[0] + "+" + r[1], buf -> {
                ByteBuf src = filled(kind, content, 0);
                try {
                    switch (form) {
                        case 0 -> buf.setBytes(r[0], src, srcIndex, r[1]);
                        case 1 -> {
                            src.readerIndex(srcIndex);
                            buf.setBytes(r[0], src, r[1]);
                        }
                        default -> {
                            src.setIndex(srcIndex, Math.min(src.capacity(), srcIndex + Math.max(0, r[1])));
                            buf.setBytes(r[0], src);
                        }
                    }
                    return src.readerIndex() + "," + src.writerIndex();
                } finally {
                    src.release();
                }
            });
        }

        private Op getByteBuf() {
            int[] r = range();
            int kind = rnd.nextInt(BUF_KINDS);
            int dstIndex = rnd.nextInt(4);
            int dstCapacity = Math.max(0, r[1]) + dstIndex + rnd.nextInt(3);
            int form = rnd.nextInt(3);
            return new Op("getBytes(ByteBuf " + kind + " form " + form + ")@" + r[0] + "+" + r[1], buf -> {
                ByteBuf dst = newBuf(kind, dstCapacity);
                try {
                    switch (form) {
                        case 0 -> buf.getBytes(r[0], dst, dstIndex, r[1]);
                        case 1 -> {
                            dst.writerIndex(dstIndex);
                            buf.getBytes(r[0], dst, r[1]);
                        }
                        default -> {
                            dst.writerIndex(dstIndex);
                            buf.getBytes(r[0], dst);
                        }
                    }
                    return hex(dst);
                } finally {
                    dst.release();
                }
            });
        }

        /** Copies within the buffer itself, overlapping ranges included (memmove semantics). */
        private Op selfCopy() {
            int cap = cap();
            int len = length(cap);
            int from = rnd.nextInt(cap - len + 1);
            int to = rnd.nextInt(cap - len + 1);
            boolean viaGet = rnd.nextBoolean();
            return new Op("selfCopy " + from + "->" + to + "+" + len + (viaGet ? " get" : " set"), buf -> {
                if (viaGet) {
                    buf.getBytes(from, buf, to, len);
                } else {
                    buf.setBytes(to, buf, from, len);
                }
                return "ok";
            });
        }

        private Op writeArray() {
            int len = length(late && rnd.nextInt(10) == 0 ? 3000 : 200);
            byte[] data = bytes(len + 4);
            int off = rnd.nextInt(5);
            return new Op("writeBytes(byte[])+" + len, buf -> buf.writeBytes(data, off, len).writerIndex());
        }

        private Op writeByteBuf() {
            int len = length(late && rnd.nextInt(10) == 0 ? 3000 : 200);
            int kind = rnd.nextInt(BUF_KINDS);
            byte[] data = bytes(len);
            boolean withLength = rnd.nextBoolean();
            return new Op("writeBytes(ByteBuf " + kind + ")+" + len, buf -> {
                ByteBuf src = filled(kind, data, 2);
                try {
                    if (withLength) {
                        buf.writeBytes(src, len / 2);
                    } else {
                        buf.writeBytes(src);
                    }
                    return src.readerIndex() + "," + buf.writerIndex();
                } finally {
                    src.release();
                }
            });
        }

        private Op writeNio() {
            int len = length(late && rnd.nextInt(10) == 0 ? 3000 : 200);
            boolean direct = rnd.nextBoolean();
            byte[] data = bytes(len);
            return new Op("writeBytes(ByteBuffer " + direct + ")+" + len, buf -> {
                ByteBuffer src = nio(direct, len).put(data).flip();
                buf.writeBytes(src);
                return src.position() + "," + buf.writerIndex();
            });
        }

        private Op readArray() {
            int len = readable()[0];
            return new Op("readBytes(byte[])+" + len, buf -> {
                byte[] dst = new byte[len];
                buf.readBytes(dst);
                return HEX.formatHex(dst);
            });
        }

        private Op readByteBuf() {
            int len = readable()[0];
            int kind = rnd.nextInt(BUF_KINDS);
            boolean untilFull = rnd.nextBoolean();
            return new Op("readBytes(ByteBuf " + kind + ")+" + len, buf -> {
                ByteBuf dst = newBuf(kind, len + 1);
                try {
                    if (untilFull) {
                        dst.writerIndex(1);
                        buf.readBytes(dst);
                    } else {
                        buf.readBytes(dst, 1, len);
                    }
                    return hex(dst);
                } finally {
                    dst.release();
                }
            });
        }

        private Op readNewBuf() {
            int len = readable()[0];
            return new Op("readBytes(int)+" + len, buf -> {
                ByteBuf out = buf.readBytes(len);
                try {
                    return ByteBufUtil.hexDump(out) + "/" + out.readerIndex();
                } finally {
                    out.release();
                }
            });
        }

        private Op readNio() {
            int len = readable()[0];
            boolean direct = rnd.nextBoolean();
            return new Op("readBytes(ByteBuffer)+" + len, buf -> {
                ByteBuffer dst = nio(direct, len);
                buf.readBytes(dst);
                return hex(dst);
            });
        }

        private Op readSlices() {
            int len = readable()[0];
            boolean retained = rnd.nextBoolean();
            return new Op("read" + (retained ? "Retained" : "") + "Slice+" + len, buf -> {
                ByteBuf s = retained ? buf.readRetainedSlice(len) : buf.readSlice(len);
                String out = ByteBufUtil.hexDump(s) + "/" + buf.refCnt();
                if (retained) {
                    s.release();
                }
                return out;
            });
        }

        private Op indices() {
            int cap = cap();
            int r = rnd.nextInt(cap + 2);
            int w = rnd.nextInt(cap + 2);
            int variant = rnd.nextInt(8);
            int n = rnd.nextInt(40);
            return new Op("indices#" + variant + " " + r + "," + w, buf -> {
                switch (variant) {
                    case 0 -> buf.setIndex(Math.min(r, w), Math.max(r, w));
                    case 1 -> buf.readerIndex(r);
                    case 2 -> buf.writerIndex(w);
                    case 3 -> buf.skipBytes(n);
                    case 4 -> buf.clear();
                    case 5 -> buf.markReaderIndex().skipBytes(Math.min(n, buf.readableBytes())).resetReaderIndex();
                    case 6 -> buf.markWriterIndex().writerIndex(buf.capacity()).resetWriterIndex();
                    default -> buf.setIndex(r, w);
                }
                return buf.readerIndex() + "," + buf.writerIndex() + "," + buf.isReadable(n) + ","
                        + buf.isWritable(n) + "," + buf.maxWritableBytes();
            });
        }

        private Op discard() {
            boolean some = rnd.nextBoolean();
            return new Op(some ? "discardSomeReadBytes" : "discardReadBytes", buf -> {
                if (some) {
                    buf.discardSomeReadBytes();
                } else {
                    buf.discardReadBytes();
                }
                return buf.readerIndex() + "," + buf.writerIndex();
            });
        }

        private Op capacityChange() {
            int n;
            int pick = rnd.nextInt(20);
            if (pick == 0 && late) {
                n = rnd.nextInt(12_001);
            } else if (pick < 8) {
                n = rnd.nextInt(cap() + 1);
            } else if (pick == 8) {
                n = a.maxCapacity() == Integer.MAX_VALUE ? -1 : a.maxCapacity() + 1;
            } else {
                n = rnd.nextInt(2049);
            }
            return new Op("capacity(" + n + ")", buf -> {
                buf.capacity(n);
                return buf.capacity() + "," + buf.readerIndex() + "," + buf.writerIndex();
            });
        }

        private Op ensureWritable() {
            int n = length(late && rnd.nextInt(10) == 0 ? 5000 : 300);
            boolean force = rnd.nextBoolean();
            int variant = rnd.nextInt(2);
            return new Op("ensureWritable(" + n + ")#" + variant, buf -> {
                if (variant == 0) {
                    buf.ensureWritable(n);
                    return buf.writableBytes() >= n;
                }
                return buf.ensureWritable(n, force);
            });
        }

        private Op slice() {
            int[] r = range();
            int p = rnd.nextInt(Math.max(1, r[1]));
            long v = rnd.nextLong();
            return new Op("slice@" + r[0] + "+" + r[1], buf -> {
                ByteBuf s = buf.slice(r[0], r[1]);
                if (p + 8 <= s.capacity()) {
                    s.setLong(p, v);
                }
                String head = s.capacity() >= 4 ? Integer.toString(s.getIntLE(0)) : "-";
                return hex(s) + "/" + head + "/" + s.isDirect() + "/" + s.indexOf(0, s.capacity(), (byte) v);
            });
        }

        private Op duplicate() {
            int cap = cap();
            int r = rnd.nextInt(cap + 1);
            int w = r + rnd.nextInt(cap - r + 1);
            int v = rnd.nextInt();
            return new Op("duplicate " + r + "," + w, buf -> {
                ByteBuf d = buf.duplicate();
                d.setIndex(r, w);
                if (d.isWritable(4)) {
                    d.writeInt(v);
                }
                return ByteBufUtil.hexDump(d) + "/" + d.capacity();
            });
        }

        private Op retainedDerived() {
            int[] r = range();
            boolean slice = rnd.nextBoolean();
            int v = rnd.nextInt();
            return new Op("retained" + (slice ? "Slice@" + r[0] + "+" + r[1] : "Duplicate"), buf -> {
                ByteBuf d = slice ? buf.retainedSlice(r[0], r[1]) : buf.retainedDuplicate();
                int during = buf.refCnt();
                if (d.capacity() > 0) {
                    d.setByte(0, v);
                }
                String out = hex(d);
                boolean freed = d.release();
                return out + "/" + during + "/" + freed + "/" + buf.refCnt();
            });
        }

        private Op nioView() {
            int[] r = range();
            int variant = rnd.nextInt(3);
            byte v = (byte) rnd.nextInt();
            return new Op("nio#" + variant + "@" + r[0] + "+" + r[1], buf -> {
                ByteBuffer[] views = switch (variant) {
                    case 0 -> new ByteBuffer[] {buf.nioBuffer(r[0], r[1])};
                    case 1 -> buf.nioBuffers(r[0], r[1]);
                    default -> buf.nioBuffers();
                };
                StringBuilder out = new StringBuilder().append(buf.nioBufferCount()).append('/');
                for (ByteBuffer bb : views) {
                    out.append(hex(bb)).append(bb.order()).append(bb.isDirect()).append(bb.isReadOnly()).append(';');
                    if (bb.remaining() >= 4) {
                        out.append(bb.getInt(bb.position()));
                    }
                    if (bb.hasRemaining()) {
                        bb.put(bb.position(), v); // the view is the buffer's own memory
                    }
                }
                return out.toString();
            });
        }

        private Op internalNio() {
            int[] r = range();
            byte v = (byte) rnd.nextInt();
            return new Op("internalNioBuffer@" + r[0] + "+" + r[1], buf -> {
                ByteBuffer bb = buf.internalNioBuffer(r[0], r[1]);
                byte[] seen = new byte[bb.remaining()];
                bb.duplicate().get(seen);
                if (bb.hasRemaining()) {
                    bb.put(bb.position(), v);
                }
                return bb.position() + "," + bb.limit() + "," + bb.isDirect() + "," + bb.order() + ":"
                        + HEX.formatHex(seen);
            });
        }

        private Op search() {
            int cap = cap();
            int from = rnd.nextInt(cap + 1);
            int to = rnd.nextInt(cap + 1);
            byte value = cap > 0 && rnd.nextBoolean() ? a.getByte(rnd.nextInt(cap)) : (byte) rnd.nextInt(4);
            int variant = rnd.nextInt(6);
            int len = length(cap - from);
            return new Op("search#" + variant + " " + from + "," + to + " " + value, buf -> switch (variant) {
                case 0 -> buf.indexOf(from, to, value);
                case 1 -> buf.bytesBefore(value);
                case 2 -> buf.bytesBefore(from, len, value);
                case 3 -> buf.forEachByte(from, len, x -> x != value);
                case 4 -> buf.forEachByteDesc(from, len, x -> x != value);
                default -> buf.forEachByte(x -> x != value) + "," + buf.forEachByteDesc(x -> x != value);
            });
        }

        private Op copy() {
            int[] r = range();
            boolean whole = rnd.nextBoolean();
            return new Op("copy" + (whole ? "()" : "@" + r[0] + "+" + r[1]), buf -> {
                ByteBuf c = whole ? buf.copy() : buf.copy(r[0], r[1]);
                try {
                    return ByteBufUtil.hexDump(c) + "/" + c.readerIndex() + "," + c.isDirect() + "," + c.maxCapacity();
                } finally {
                    c.release();
                }
            });
        }

        private Op chars() {
            String text = text();
            Charset cs = CHARSETS[rnd.nextInt(CHARSETS.length)];
            int[] r = range();
            int variant = rnd.nextInt(5);
            // Within the readable bytes: Netty's readCharSequence checks only the capacity and would move
            // readerIndex past writerIndex, on every buffer alike.
            int readLen = length(a.readableBytes());
            return new Op("chars#" + variant + " " + cs + " @" + r[0] + "+" + r[1], buf -> switch (variant) {
                case 0 -> buf.setCharSequence(r[0], text, cs);
                case 1 -> buf.writeCharSequence(text, cs) + "," + buf.writerIndex();
                case 2 -> buf.getCharSequence(r[0], r[1], cs).toString();
                case 3 -> buf.readCharSequence(readLen, cs).toString();
                default -> buf.toString(r[0], r[1], cs);
            });
        }

        private Op zero() {
            int[] r = range();
            boolean write = rnd.nextBoolean();
            return new Op((write ? "writeZero+" : "setZero@" + r[0] + "+") + r[1], buf -> {
                if (write) {
                    buf.writeZero(Math.max(0, r[1]));
                } else {
                    buf.setZero(r[0], r[1]);
                }
                return buf.writerIndex();
            });
        }

        private Op streams() {
            int[] r = range();
            int variant = rnd.nextInt(4);
            byte[] data = bytes(rnd.nextInt(10) == 0 ? Math.max(0, r[1]) / 2 : Math.max(0, r[1]) + 5);
            int readLen = readable()[0];
            int writeLen = length(300);
            return new Op("stream#" + variant + "@" + r[0] + "+" + r[1], buf -> {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                return switch (variant) {
                    case 0 -> {
                        buf.getBytes(r[0], out, r[1]);
                        yield HEX.formatHex(out.toByteArray());
                    }
                    case 1 -> buf.setBytes(r[0], new ByteArrayInputStream(data), r[1]);
                    case 2 -> {
                        buf.readBytes(out, readLen);
                        yield HEX.formatHex(out.toByteArray());
                    }
                    default -> buf.writeBytes(new ByteArrayInputStream(data), writeLen) + "," + buf.writerIndex();
                };
            });
        }

        private Op channels() {
            int[] r = range();
            int variant = rnd.nextInt(5);
            byte[] data = bytes(Math.max(0, r[1]) + 5);
            int readLen = readable()[0];
            int writeLen = length(300);
            return new Op("channel#" + variant + "@" + r[0] + "+" + r[1], buf -> {
                MemoryChannel ch = new MemoryChannel(data);
                return switch (variant) {
                    case 0 -> buf.getBytes(r[0], ch, r[1]) + ":" + ch.written();
                    case 1 -> buf.setBytes(r[0], ch, r[1]);
                    case 2 -> buf.readBytes(ch, readLen) + ":" + ch.written();
                    case 3 -> buf.writeBytes(ch, writeLen) + "," + buf.writerIndex();
                    default -> {
                        ch.close();
                        yield buf.setBytes(r[0], ch, r[1]); // closed: -1, as Netty's buffers report it
                    }
                };
            });
        }

        private Op fileChannel() {
            int[] r = range();
            int variant = rnd.nextInt(4);
            long position = rnd.nextInt(5000);
            byte[] data = bytes(Math.max(Math.max(0, r[1]), 300));
            int readLen = readable()[0];
            int writeLen = length(300);
            return new Op("file#" + variant + "@" + r[0] + "+" + r[1] + " pos " + position, buf -> {
                file.write(ByteBuffer.wrap(data), position); // the same file bytes for both buffers
                return switch (variant) {
                    case 0 -> {
                        int n = buf.getBytes(r[0], file, position, r[1]);
                        ByteBuffer back = ByteBuffer.allocate(Math.max(0, n));
                        file.read(back, position);
                        yield n + ":" + HEX.formatHex(back.array());
                    }
                    case 1 -> buf.setBytes(r[0], file, position, r[1]);
                    case 2 -> {
                        int n = buf.readBytes(file, position, readLen);
                        ByteBuffer back = ByteBuffer.allocate(Math.max(0, n));
                        file.read(back, position);
                        yield n + ":" + HEX.formatHex(back.array());
                    }
                    default -> buf.writeBytes(file, position, writeLen) + "," + buf.writerIndex();
                };
            });
        }

        private Op compare() {
            byte[] other = new byte[a.readableBytes()];
            a.getBytes(a.readerIndex(), other);
            if (other.length > 0 && rnd.nextBoolean()) {
                other[rnd.nextInt(other.length)] ^= (byte) (1 + rnd.nextInt(255));
            }
            byte[] shorter = Arrays.copyOf(other, rnd.nextInt(other.length + 1));
            return new Op("compare", buf -> {
                ByteBuf o = Unpooled.wrappedBuffer(other);
                ByteBuf s = Unpooled.wrappedBuffer(shorter);
                return Integer.signum(buf.compareTo(o)) + "," + Integer.signum(buf.compareTo(s)) + "," + buf.equals(o)
                        + "," + ByteBufUtil.equals(buf, o) + "," + buf.hashCode();
            });
        }

        private Op swapped() {
            int i = index(8);
            long v = rnd.nextLong();
            boolean write = rnd.nextBoolean();
            return new Op("order(LE)@" + i, buf -> {
                ByteBuf le = buf.order(ByteOrder.LITTLE_ENDIAN);
                if (write) {
                    le.setLong(i, v);
                }
                return le.getLong(i) + "," + le.getInt(i) + "," + le.getShort(i) + "," + le.order();
            });
        }

        private Op readOnly() {
            int i = index(8);
            return new Op("asReadOnly@" + i, buf -> {
                ByteBuf ro = buf.asReadOnly();
                String value = Long.toString(ro.getLong(i));
                try {
                    ro.setByte(i, 1);
                    return value + ",writable";
                } catch (Exception e) {
                    return value + "," + e.getClass().getName();
                }
            });
        }
    }

    /** An in-memory gathering/scattering channel (Channels.newChannel's adapters are neither). */
    static final class MemoryChannel implements GatheringByteChannel, ScatteringByteChannel {
        private final ByteBuffer input;
        private final ByteArrayOutputStream output = new ByteArrayOutputStream();
        private boolean open = true;

        MemoryChannel(byte[] input) {
            this.input = ByteBuffer.wrap(input);
        }

        String written() {
            return HEX.formatHex(output.toByteArray());
        }

        @Override
        public int read(ByteBuffer dst) throws ClosedChannelException {
            if (!open) {
                throw new ClosedChannelException();
            }
            if (!input.hasRemaining()) {
                return -1;
            }
            int n = Math.min(dst.remaining(), input.remaining());
            dst.put(input.slice(input.position(), n));
            input.position(input.position() + n);
            return n;
        }

        @Override
        public long read(ByteBuffer[] dsts, int offset, int length) throws ClosedChannelException {
            long total = 0;
            for (int i = offset; i < offset + length; i++) {
                int n = read(dsts[i]);
                if (n < 0) {
                    return total == 0 ? -1 : total;
                }
                total += n;
            }
            return total;
        }

        @Override
        public long read(ByteBuffer[] dsts) throws ClosedChannelException {
            return read(dsts, 0, dsts.length);
        }

        @Override
        public int write(ByteBuffer src) throws ClosedChannelException {
            if (!open) {
                throw new ClosedChannelException();
            }
            byte[] bytes = new byte[src.remaining()];
            src.get(bytes);
            output.writeBytes(bytes);
            return bytes.length;
        }

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) throws ClosedChannelException {
            long total = 0;
            for (int i = offset; i < offset + length; i++) {
                total += write(srcs[i]);
            }
            return total;
        }

        @Override
        public long write(ByteBuffer[] srcs) throws ClosedChannelException {
            return write(srcs, 0, srcs.length);
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public void close() {
            open = false;
        }
    }

    // ---- zero copy

    @Test
    void receivedBufferIsTheMbufsOwnMemory() {
        long m = take(pool);
        long data = Mbuf.append(m, 300);
        Mbuf.adj(m, 40); // headers trimmed by the stack before the payload reaches the application
        byte[] payload = new byte[260];
        new SplittableRandom(7).nextBytes(payload);
        MemorySegment.copy(payload, 0, Mbuf.MEMORY, JAVA_BYTE, Mbuf.dataAddress(m), payload.length);

        ByteBuf buf = alloc.wrapReceived(m);
        assertEquals(Mbuf.dataAddress(m), buf.memoryAddress(), "no copy: the buffer is the mbuf's payload");
        assertEquals(data + 40, buf.memoryAddress());
        assertSame(alloc, buf.alloc());
        MbufByteBuf mb = MbufByteBuf.unwrapMbuf(buf);
        assertNotNull(mb);
        assertEquals(m, mb.mbuf());
        assertEquals(0, buf.readerIndex());
        assertEquals(260, buf.writerIndex());
        assertEquals(260, buf.capacity());
        assertTrue(buf.isDirect());
        assertFalse(buf.hasArray());
        assertEquals(ByteOrder.BIG_ENDIAN, buf.order());
        assertArrayEquals(payload, ByteBufUtil.getBytes(buf));
        assertEquals(Mbuf.dataAddress(m), MemorySegment.ofBuffer(buf.nioBuffer()).address(), "NIO view, no copy");

        buf.setByte(5, 0x77);
        assertEquals(0x77, Mbuf.getByte(m, 5), "writes land in the mbuf");

        // The transport edits the fields when it takes the mbuf; the view stays where it was.
        long address = buf.memoryAddress();
        Mbuf.adj(m, 100);
        Mbuf.setDataLen(m, 3);
        assertEquals(address, buf.memoryAddress());
        assertEquals(260, buf.capacity());
        assertEquals(payload[200], buf.getByte(200));

        assertTrue(buf.release());
        assertEquals(pool.capacity(), pool.available());
    }

    @Test
    void allocatedBufferLeavesHeadroomForHeadersPrependedInPlace() {
        ByteBuf buf = alloc.directBuffer(1448);
        MbufByteBuf mb = MbufByteBuf.unwrapMbuf(buf);
        assertNotNull(mb);
        long m = mb.mbuf();
        assertEquals(Mbuf.bufAddr(m) + pool.headroom(), buf.memoryAddress());
        assertEquals(1448, buf.capacity());
        assertEquals(1, pool.refcnt(m));
        byte[] payload = new byte[1448];
        new SplittableRandom(3).nextBytes(payload);
        buf.writeBytes(payload);

        // What the transport does at write time: mark the payload, then prepend 54 bytes of headers in place.
        Mbuf.setDataLen(m, buf.writerIndex());
        Mbuf.setPktLen(m, buf.writerIndex());
        long header = Mbuf.prepend(m, 54);
        assertEquals(buf.memoryAddress() - 54, header);
        byte[] frame = Mbuf.toByteArray(m);
        assertArrayEquals(payload, Arrays.copyOfRange(frame, 54, frame.length));

        // Growth stays in the mbuf up to its end, then moves off mbufs (no mbuf holds more).
        buf.capacity(MbufByteBuf.mbufCapacity(pool));
        assertEquals(m, mb.mbuf());
        int before = pool.available();
        buf.writeBytes(new byte[MbufByteBuf.mbufCapacity(pool) - 1448 + 1]);
        assertEquals(0, mb.mbuf(), "content outgrew every mbuf");
        assertEquals(before + 1, pool.available(), "old mbuf returned");
        assertArrayEquals(payload, ByteBufUtil.getBytes(buf, 0, 1448));
        assertTrue(buf.release());
    }

    @Test
    void allocateRefusesTooLargeAndReturnsNullWhenThePoolIsEmpty() {
        int room = MbufByteBuf.mbufCapacity(pool);
        assertEquals(pool.dataRoom() - pool.headroom(), room);
        assertThrows(IllegalArgumentException.class, () -> MbufByteBuf.allocate(alloc, pool, room + 1, room + 1));
        assertThrows(IllegalArgumentException.class, () -> MbufByteBuf.allocate(alloc, pool, 10, 5));
        List<Long> taken = drain(pool);
        try {
            assertNull(MbufByteBuf.allocate(alloc, pool, 64, 1024));
        } finally {
            taken.forEach(pool::freeSegment);
        }
        MbufByteBuf ok = MbufByteBuf.allocate(alloc, pool, room, room);
        assertNotNull(ok);
        assertEquals(room, ok.capacity());
        assertEquals(room, ok.maxCapacity());
        ok.release();
    }

    @Test
    void growthMovesToAFreshMbufThenOffHeapKeepingTheContent() {
        long m = take(pool);
        Mbuf.setDataOff(m, pool.dataRoom() - 100); // 100 bytes of room: growth must move
        Mbuf.append(m, 60);
        byte[] payload = new byte[60];
        new SplittableRandom(5).nextBytes(payload);
        MemorySegment.copy(payload, 0, Mbuf.MEMORY, JAVA_BYTE, Mbuf.dataAddress(m), 60);
        MbufByteBuf buf = MbufByteBuf.ofReceived(alloc, pool, m);

        buf.capacity(100);
        assertEquals(m, buf.mbuf(), "within the tailroom");
        int free = pool.available();
        buf.capacity(1000);
        assertNotEquals(0, buf.mbuf());
        assertNotEquals(m, buf.mbuf(), "a fresh mbuf");
        assertEquals(free, pool.available(), "one mbuf out, one back");
        assertEquals(Mbuf.bufAddr(buf.mbuf()) + pool.headroom(), buf.memoryAddress(), "with headroom again");
        assertArrayEquals(payload, ByteBufUtil.getBytes(buf));

        buf.capacity(50_000);
        assertEquals(0, buf.mbuf());
        assertEquals(free + 1, pool.available());
        assertArrayEquals(payload, ByteBufUtil.getBytes(buf));
        buf.setLong(49_992, 0x0102030405060708L);
        assertEquals(0x0807060504030201L, buf.getLongLE(49_992));
        assertTrue(buf.nioBuffer(0, 50_000).isDirect());
        assertTrue(buf.release());
    }

    @Test
    void sharedReceivedSegmentsDoNotGrowIntoTheirTail() {
        long m = take(pool);
        Mbuf.append(m, 10);
        pool.refcntUpdate(m, 1); // TCP still holds it
        MbufByteBuf buf = MbufByteBuf.ofReceived(alloc, pool, m);
        buf.writeByte(1);
        assertNotEquals(m, buf.mbuf(), "moved instead of writing into a buffer someone else holds");
        assertEquals(1, pool.refcnt(m));
        buf.release();
        pool.freeSegment(m);
    }

    // ---- reference counts

    @Test
    void referenceCountsFollowNettyAndFreeTheMbufOnce() {
        int free = pool.available();
        ByteBuf buf = MbufByteBuf.allocate(alloc, pool, 64, 1024);
        assertEquals(free - 1, pool.available());
        assertEquals(1, buf.refCnt());
        buf.retain();
        assertEquals(2, buf.refCnt());
        assertFalse(buf.release());
        buf.retain(3);
        assertFalse(buf.release(3));
        assertEquals(free - 1, pool.available());
        assertTrue(buf.release());
        assertEquals(0, buf.refCnt());
        assertEquals(free, pool.available());
        assertThrows(IllegalReferenceCountException.class, () -> buf.getByte(0));
        assertThrows(IllegalReferenceCountException.class, () -> buf.writeByte(1));
        assertThrows(IllegalReferenceCountException.class, buf::memoryAddress);
        assertThrows(IllegalReferenceCountException.class, () -> buf.nioBuffer(0, 1));
        assertThrows(IllegalReferenceCountException.class, () -> buf.capacity(10));
        assertThrows(IllegalReferenceCountException.class, buf::retain);
        assertThrows(IllegalReferenceCountException.class, buf::release);
        assertEquals(free, pool.available(), "freed exactly once");

        // Derived buffers share the count; the mbuf goes back with the last of them.
        ByteBuf parent = alloc.directBuffer(100).writeLong(42);
        ByteBuf slice = parent.retainedSlice(0, 8);
        assertFalse(parent.release());
        assertEquals(1, slice.refCnt());
        assertEquals(42, slice.getLong(0));
        assertTrue(slice.release());
        assertEquals(free, pool.available());
    }

    @Test
    void aReleasedBufferComesBackAsAFreshOneForTheNextMbuf() throws Exception {
        // on a thread of its own, as an event loop's: its pool starts empty, so the buffer released is the next one out
        // (a pool that other tests on this thread filled hands out its oldest first)
        Throwable[] failure = new Throwable[1];
        Thread loop = new FastThreadLocalThread(() -> {
            try {
                releasedBufferComesBackFresh();
            } catch (Throwable t) {
                failure[0] = t;
            }
        });
        loop.start();
        loop.join();
        if (failure[0] != null) {
            throw new AssertionError(failure[0]);
        }
    }

    private void releasedBufferComesBackFresh() {
        MbufByteBuf first = MbufByteBuf.allocate(alloc, pool, 64, 1024);
        first.writeLong(7).readByte();
        first.markReaderIndex().markWriterIndex();
        first.internalNioBuffer(0, 8); // caches a NIO view of this mbuf
        assertTrue(first.release());
        long m = take(pool);
        Mbuf.append(m, 100);
        MbufByteBuf second = MbufByteBuf.ofReceived(alloc, pool, m);
        assertSame(first, second, "recycled on the thread that released it");
        assertEquals(1, second.refCnt());
        assertEquals(m, second.mbuf());
        assertEquals(Mbuf.dataAddress(m), second.memoryAddress());
        assertEquals(100, second.capacity());
        assertEquals(Integer.MAX_VALUE, second.maxCapacity());
        assertEquals(0, second.readerIndex());
        assertEquals(100, second.writerIndex());
        assertEquals(Mbuf.dataAddress(m), MemorySegment.ofBuffer(second.internalNioBuffer(0, 8)).address(),
                "the NIO view is of the new mbuf");
        second.readerIndex(10).resetReaderIndex();
        assertEquals(0, second.readerIndex(), "marks start at 0 again");
        second.resetWriterIndex();
        assertEquals(0, second.writerIndex(), "marks start at 0 again");
        assertTrue(second.release());
        assertThrows(IllegalReferenceCountException.class, () -> second.getByte(0));

        MbufByteBuf third = MbufByteBuf.allocate(alloc, pool, 32, 512);
        assertSame(first, third);
        assertEquals(512, third.maxCapacity());
        assertEquals(0, third.writerIndex());
        assertEquals(32, third.capacity());
        assertTrue(third.release());
    }

    @Test
    void aReferenceHeldByTheTransportKeepsTheMbufOut() {
        long m = take(pool);
        Mbuf.append(m, 100);
        MbufByteBuf buf = MbufByteBuf.ofReceived(alloc, pool, m);
        pool.refcntUpdate(m, 1); // handed to TCP for retransmission
        assertTrue(buf.release());
        assertEquals(1, pool.refcnt(m), "release only dropped the buffer's reference");
        assertEquals(pool.capacity() - 1, pool.available());
        pool.freeSegment(m); // acknowledged
        assertEquals(pool.capacity(), pool.available());
    }

    @Test
    void releaseFromOtherThreadsReturnsEveryMbuf() throws Exception {
        List<ByteBuf> bufs = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(11);
        for (int i = 0; i < 200; i++) {
            ByteBuf buf = rnd.nextBoolean() ? alloc.directBuffer(rnd.nextInt(2048)) : received(rnd.nextInt(1500));
            if (i % 10 == 0) {
                buf.capacity(3000); // some moved off mbufs
            }
            if (i % 7 == 0) {
                bufs.add(buf.retainedSlice());
            }
            bufs.add(buf);
        }
        assertTrue(pool.available() < pool.capacity() - 150);
        ExecutorService threads = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int first = t;
                done.add(threads.submit(() -> {
                    for (int i = first; i < bufs.size(); i += 4) {
                        bufs.get(i).release();
                    }
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            threads.shutdown();
        }
        assertEquals(pool.capacity(), pool.available());
    }

    private ByteBuf received(int length) {
        long m = take(pool);
        Mbuf.append(m, length);
        return alloc.wrapReceived(m);
    }

    /** An mbuf, or a failed test rather than a write through address 0 (which would take the JVM down). */
    static long take(MbufPool pool) {
        long m = pool.alloc();
        assertNotEquals(0, m, () -> "pool empty: " + pool);
        return m;
    }

    private static List<Long> drain(MbufPool pool) {
        List<Long> taken = new ArrayList<>();
        for (long m = pool.alloc(); m != 0; m = pool.alloc()) {
            taken.add(m);
        }
        return taken;
    }

    // ---- allocator

    @Test
    void allocatorServesMbufsAndFallsBackWhenEmptyOrTooBig() {
        assertSame(pool, alloc.pool());
        assertTrue(alloc.isDirectBufferPooled());
        assertSame(PooledByteBufAllocator.DEFAULT, alloc.fallback());
        int room = alloc.mbufCapacity();

        for (ByteBuf buf : List.of(alloc.buffer(), alloc.buffer(100), alloc.ioBuffer(), alloc.directBuffer(room),
                alloc.buffer(0, 10))) {
            assertNotNull(MbufByteBuf.unwrapMbuf(buf), "mbuf-backed: " + buf);
            assertTrue(buf.isDirect());
            buf.release();
        }

        ByteBuf big = alloc.directBuffer(room + 1);
        assertNull(MbufByteBuf.unwrapMbuf(big), "too big for one mbuf");
        assertTrue(big.isDirect());
        assertEquals(room + 1, big.capacity());
        big.release();

        ByteBuf heap = alloc.heapBuffer(10);
        assertTrue(heap.hasArray());
        heap.release();

        List<Long> taken = drain(pool);
        try {
            ByteBuf fallback = alloc.directBuffer(100);
            assertNull(MbufByteBuf.unwrapMbuf(fallback), "pool empty");
            assertTrue(fallback.isDirect());
            fallback.writeLong(1).release();
            ByteBuf viaBuffer = alloc.buffer(100);
            assertTrue(viaBuffer.isDirect());
            viaBuffer.release();
        } finally {
            taken.forEach(pool::freeSegment);
        }
        ByteBuf again = alloc.directBuffer(100);
        assertNotNull(MbufByteBuf.unwrapMbuf(again), "mbufs again once the pool has some");
        again.release();

        ZStackByteBufAllocator unpooledFallback = new ZStackByteBufAllocator(pool, UnpooledByteBufAllocator.DEFAULT);
        ByteBuf viaOther = unpooledFallback.directBuffer(room + 1);
        assertSame(UnpooledByteBufAllocator.DEFAULT, viaOther.alloc());
        viaOther.release();
    }

    @Test
    void largeBuffersAreLargeMbufsAndGrowthMovesIntoThem() {
        try (JavaMbufPool large = new JavaMbufPool("large", 2, 0xffff)) {
            ZStackByteBufAllocator withLarge = new ZStackByteBufAllocator(pool, large, PooledByteBufAllocator.DEFAULT);
            int room = withLarge.mbufCapacity();
            ByteBuf big = withLarge.directBuffer(8192);
            MbufByteBuf root = MbufByteBuf.unwrapMbuf(big);
            assertNotNull(root, "8 KiB fits a large mbuf: " + big);
            assertSame(large, root.pool());
            assertEquals(Mbuf.dataAddress(root.mbuf()), big.memoryAddress(), "right after the large mbuf's headroom");
            big.release();

            // an ordinary buffer written past one mbuf moves into a large one, content kept
            ByteBuf growing = withLarge.directBuffer(16);
            for (int i = 0; i < room + 100; i++) {
                growing.writeByte(i);
            }
            assertSame(large, MbufByteBuf.unwrapMbuf(growing).pool(), "moved into a large mbuf");
            for (int i = 0; i < room + 100; i++) {
                assertEquals((byte) i, growing.getByte(i));
            }
            growing.release();
            assertEquals(2, large.available(), "every large mbuf back");

            ByteBuf tooBig = withLarge.directBuffer(0x10000);
            assertNull(MbufByteBuf.unwrapMbuf(tooBig), "beyond a large mbuf: the fallback");
            tooBig.release();
        }
        assertEquals(pool.capacity(), pool.available());
    }

    @Test
    void copiesOfMbufBuffersAreMbufsAgain() {
        ByteBuf buf = alloc.directBuffer(64).writeLong(7).writeLong(8);
        ByteBuf copy = buf.copy();
        MbufByteBuf inner = MbufByteBuf.unwrapMbuf(copy);
        assertNotNull(inner);
        assertNotEquals(MbufByteBuf.unwrapMbuf(buf).mbuf(), inner.mbuf());
        assertEquals(8, copy.getLong(8));
        copy.release();
        buf.release();
    }

    @Test
    void unwrapMbufSeesThroughWrappersSlicesAndDuplicates() {
        ByteBuf buf = alloc.directBuffer(64).writeZero(64);
        MbufByteBuf root = MbufByteBuf.unwrapMbuf(buf);
        assertNotNull(root);
        for (ByteBuf view : List.of(buf.slice(8, 16), buf.duplicate(), buf.asReadOnly(),
                buf.order(ByteOrder.LITTLE_ENDIAN))) {
            assertSame(root, MbufByteBuf.unwrapMbuf(view));
        }
        assertEquals(buf.memoryAddress() + 8, buf.slice(8, 16).memoryAddress());
        CompositeByteBuf composite = Unpooled.compositeBuffer().addComponent(true, buf.retain());
        assertNull(MbufByteBuf.unwrapMbuf(composite), "a composite is no single mbuf");
        assertNull(MbufByteBuf.unwrapMbuf(Unpooled.buffer(4)));
        composite.release();
        buf.release();
    }

    // ---- leak detection

    @Test
    void leakedReceivedBufferIsReported() throws Exception {
        long m = take(pool);
        Mbuf.append(m, 128);
        String report = leakReport(() -> dropReceived(m));
        assertTrue(report.contains("wrapReceived"), report);
        pool.freeSegment(m); // Netty reports leaks; it does not free them
    }

    @Test
    void leakedAllocatedBufferIsReported() throws Exception {
        long[] m = new long[1];
        String report = leakReport(() -> m[0] = dropAllocated());
        assertTrue(report.contains("dropAllocated"), report);
        pool.freeSegment(m[0]);
    }

    private void dropReceived(long m) {
        alloc.wrapReceived(m).touch("received and forgotten").getByte(0);
    }

    private long dropAllocated() {
        ByteBuf buf = alloc.directBuffer(256).writeInt(1);
        return MbufByteBuf.unwrapMbuf(buf).mbuf();
    }

    /** Runs leak under PARANOID detection, then collects garbage until Netty logs the leak; returns the report. */
    private String leakReport(Runnable leak) throws InterruptedException {
        assertInstanceOf(JdkLoggerFactory.class, InternalLoggerFactory.getDefaultFactory(),
                "the report is captured from java.util.logging, Netty's logger when no other is on the class path");
        ResourceLeakDetector.Level level = ResourceLeakDetector.getLevel();
        Logger logger = Logger.getLogger(ResourceLeakDetector.class.getName());
        List<String> reports = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (record.getMessage() != null && record.getMessage().contains("LEAK")) {
                    reports.add(record.getMessage());
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        logger.addHandler(capture);
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        try {
            leak.run();
            // The detector reports when it tracks the next buffer after the garbage collector cleared the lost one.
            for (int i = 0; i < 100 && reports.isEmpty(); i++) {
                System.gc();
                Thread.sleep(20);
                alloc.directBuffer(16).release();
            }
        } finally {
            ResourceLeakDetector.setLevel(level);
            logger.removeHandler(capture);
        }
        assertFalse(reports.isEmpty(), "no leak reported");
        String report = String.join("\n", reports);
        assertTrue(report.contains("ByteBuf.release() was not called"), report);
        return report;
    }

    // ---- real DPDK mempool

    @Test
    void worksOnADpdkMempool() throws Exception {
        try (DpdkMbufPool dpdk = DpdkMbufPool.create("mbb-dpdk", 255, 0, 2176)) {
            ZStackByteBufAllocator dalloc = new ZStackByteBufAllocator(dpdk);
            int free = dpdk.available();

            // Received: the buffer is the mbuf's payload, as DPDK's mtod sees it.
            long m = take(dpdk);
            long data = Mempool.Reference.append(m, 200);
            MemorySegment.ofAddress(data).reinterpret(200).fill((byte) 0x3c);
            ByteBuf rx = dalloc.wrapReceived(m);
            assertEquals(Mempool.Reference.mtod(m), rx.memoryAddress());
            assertEquals(200, rx.readableBytes());
            assertEquals(0x3c3c3c3c, rx.readInt());

            // A reference taken by the transport outlives the buffer; DPDK's free_seg drops only ours.
            dpdk.refcntUpdate(m, 1);
            assertTrue(rx.release());
            assertEquals(1, Mempool.refcnt(m));
            assertEquals(free - 1, dpdk.available());
            dpdk.freeSegment(m);
            assertEquals(free, dpdk.available());

            // Allocated: headroom in front, growth into a fresh DPDK mbuf then off-heap, freed on another thread.
            ByteBuf tx = dalloc.directBuffer(100);
            MbufByteBuf root = MbufByteBuf.unwrapMbuf(tx);
            assertNotNull(root);
            long first = root.mbuf();
            assertEquals(Mbuf.bufAddr(first) + dpdk.headroom(), tx.memoryAddress());
            tx.writeLong(0x1122334455667788L);
            Mbuf.setDataLen(first, 8);
            Mbuf.setPktLen(first, 8);
            assertEquals(0x11, Mbuf.getByte(first, 0) & 0xff, "DPDK sees the bytes where the buffer wrote them");
            assertNotEquals(0, Mempool.Reference.prepend(first, 54), "headers fit in front");
            tx.writeBytes(new byte[2500]);
            assertEquals(0, root.mbuf());
            assertEquals(0x1122334455667788L, tx.getLong(0));
            Thread releaser = new Thread(tx::release);
            releaser.start();
            releaser.join();
            assertEquals(0, tx.refCnt());

            ByteBuf moved = MbufByteBuf.ofReceived(dalloc, dpdk, receivedAt(dpdk, 2000, 50));
            moved.writeBytes(new byte[300]);
            assertNotEquals(0, MbufByteBuf.unwrapMbuf(moved).mbuf(), "a fresh DPDK mbuf");
            moved.release();
            assertEquals(free, dpdk.available());

            // The same differential as on the Java pool, on DPDK's memory and free path.
            try (FileChannel file = FileChannel.open(tmp.resolve("dpdk-io"), CREATE, READ, WRITE)) {
                Coverage cov = new Coverage();
                for (long seed = 101; seed <= 104; seed++) {
                    new Differential(dpdk, dalloc, file, seed, cov).run(1200);
                }
                System.out.println("differential on DPDK: " + cov);
                assertTrue(cov.mbufSteps > cov.steps / 3, cov.toString());
            }
            assertEquals(dpdk.capacity(), dpdk.available(), "mbufs leaked into the DPDK mempool");
        }
    }

    private static long receivedAt(MbufPool pool, int dataOff, int length) {
        long m = take(pool);
        Mbuf.setDataOff(m, dataOff);
        Mbuf.setDataLen(m, length);
        Mbuf.setPktLen(m, length);
        return m;
    }
}
