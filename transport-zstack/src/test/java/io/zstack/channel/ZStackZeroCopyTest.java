package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufByteBuf;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Zero copy, proven on DPDK's data path: two loops joined by a memif link. The payload a server handler reads is
 * the memory of the mbuf the device delivered (no copy between NIC and handler), and a buffer the client allocated
 * from its channel and wrote is the memory handed to tx_burst (no copy between handler and NIC).
 */
class ZStackZeroCopyTest {
    /** Records where the frames it passes live. */
    static final class RecordingDevice extends ForwardingNetDevice {
        /** [start, end) of every received segment's data. */
        final List<long[]> received = new CopyOnWriteArrayList<>();
        /** TCP data frames in each transmit call (a tx_burst) that carried any. */
        final List<Integer> dataFramesPerTransmit = new CopyOnWriteArrayList<>();
        /** Data frames whose first mbuf held only headers (a header mbuf in front of the payload). */
        final List<Integer> headerOnlyHeads = new CopyOnWriteArrayList<>();
        /** Mbufs (nb_segs) of every transmitted TCP frame that carried bytes never sent before. */
        final List<Integer> dataFrameSegments = new CopyOnWriteArrayList<>();
        /** Segments per frame of the data frames that repeated bytes already sent. */
        final List<Integer> retransmittedFrames = new CopyOnWriteArrayList<>();
        /** Per connection (its ports), the sequence number just past the highest payload byte transmitted. */
        private final java.util.Map<Integer, Integer> sentEnd = new java.util.HashMap<>();
        /** [start, end) of the first mbuf of every frame carrying bytes never sent before (headers included). */
        final List<long[]> dataFrameRanges = new CopyOnWriteArrayList<>();
        /** [start, end) of every transmitted segment's data (headers included). */
        final List<long[]> transmitted = new CopyOnWriteArrayList<>();

        /** Calls of {@link #receive}: every look at the device, empty or not. */
        final java.util.concurrent.atomic.AtomicInteger receiveCalls = new java.util.concurrent.atomic.AtomicInteger();

        RecordingDevice(NetDevice device) {
            super(device);
        }

        @Override
        public int receive(MbufBurst burst) {
            receiveCalls.incrementAndGet();
            int n = inner.receive(burst);
            for (int i = 0; i < n; i++) {
                for (long s = burst.get(i); s != 0; s = Mbuf.next(s)) {
                    received.add(new long[] {Mbuf.dataAddress(s), Mbuf.dataAddress(s) + Mbuf.dataLen(s)});
                }
            }
            return n;
        }

        @Override
        public int transmit(MbufBurst burst) {
            int dataFrames = 0;
            for (int i = 0; i < burst.size(); i++) {
                byte[] frame = Mbuf.toByteArray(burst.get(i));
                int payload = tcpPayload(frame);
                if (payload > 0 && !firstTransmission(frame, payload)) {
                    retransmittedFrames.add(Mbuf.nbSegs(burst.get(i))); // a probe or a resend: may take a header mbuf
                } else if (payload > 0) {
                    dataFrameSegments.add(Mbuf.nbSegs(burst.get(i)));
                    long head = burst.get(i);
                    dataFrameRanges.add(new long[] {Mbuf.dataAddress(head), Mbuf.dataAddress(head) + Mbuf.dataLen(head)});
                    if (Mbuf.dataLen(burst.get(i)) <= frame.length - payload) {
                        headerOnlyHeads.add(Mbuf.dataLen(burst.get(i)));
                    }
                    dataFrames++;
                }
                for (long s = burst.get(i); s != 0; s = Mbuf.next(s)) {
                    transmitted.add(new long[] {Mbuf.dataAddress(s), Mbuf.dataAddress(s) + Mbuf.dataLen(s)});
                }
            }
            if (dataFrames > 0) {
                dataFramesPerTransmit.add(dataFrames);
            }
            return inner.transmit(burst);
        }

        /**
         * True when the frame's payload reaches past everything its connection sent before: a tail loss probe or a
         * retransmission repeats bytes already sent, and the timing of those depends on the machine, not on the
         * buffers' layout. Connections are told apart by their ports (each has its own sequence space).
         */
        private boolean firstTransmission(byte[] f, int payload) {
            int tcp = 14 + (f[14] & 0x0f) * 4;
            int ports = ((f[tcp] & 0xff) << 24) | ((f[tcp + 1] & 0xff) << 16) | ((f[tcp + 2] & 0xff) << 8)
                    | (f[tcp + 3] & 0xff);
            int seq = ((f[tcp + 4] & 0xff) << 24) | ((f[tcp + 5] & 0xff) << 16) | ((f[tcp + 6] & 0xff) << 8)
                    | (f[tcp + 7] & 0xff);
            int end = seq + payload;
            Integer before = sentEnd.get(ports);
            if (before != null && end - before <= 0) {
                return false;
            }
            sentEnd.put(ports, end);
            return true;
        }

        /** TCP payload bytes of an Ethernet + IPv4 + TCP frame, -1 for anything else. */
        static int tcpPayload(byte[] f) {
            if (f.length < 54 || f[12] != 8 || f[13] != 0 || f[23] != 6) {
                return -1;
            }
            int ipHeader = (f[14] & 0x0f) * 4;
            int total = ((f[16] & 0xff) << 8) | (f[17] & 0xff);
            return total - ipHeader - ((f[14 + ipHeader + 12] & 0xff) >>> 4) * 4;
        }

        /** True when some transmitted segment's memory holds [address, address + length). */
        boolean transmittedFrom(long address, int length) {
            return transmitted.stream().anyMatch(r -> address >= r[0] && address + length <= r[1]);
        }
    }

    @Test
    void handlersSeeTheDevicesMbufsAndWriteTheirOwn() throws Exception {
        exchange(false);
    }

    /** COPY_MODE copies on both paths: the same checks must then find other memory (so they can tell). */
    @Test
    void copyModeCopiesOnBothPaths() throws Exception {
        exchange(true);
    }

    private void exchange(boolean copyMode) throws Exception {
        MemifRecordingPair pair = new MemifRecordingPair("zc" + copyMode, copyMode ? 23 : 21, 0, b -> b);
        RecordingDevice server = pair.server;
        RecordingDevice client = pair.client;
        ZStackEventLoopGroup serverGroup = pair.serverGroup;
        ZStackEventLoopGroup clientGroup = pair.clientGroup;
        pair.run(() -> {
            int size = 1000;
            CountDownLatch read = new CountDownLatch(1);
            List<String> problems = new CopyOnWriteArrayList<>();
            int[] bytes = new int[1];
            int bigSize = 8192;
            int partSize = 300;
            int skip = 100;
            int total = size + bigSize + 2 * partSize + 2 * partSize - skip;
            Channel listener = new ServerBootstrap().group(serverGroup).channel(ZStackServerSocketChannel.class)
                    .childOption(ZStackChannelOption.COPY_MODE, copyMode)
                    .childHandler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ByteBuf buf = (ByteBuf) msg;
                            // a read may gather several segments into one composite: check each piece
                            List<ByteBuf> pieces = buf instanceof CompositeByteBuf composite
                                    ? composite.decompose(composite.readerIndex(), composite.readableBytes())
                                    : List.of(buf);
                            for (ByteBuf piece : pieces) {
                                long start = piece.memoryAddress() + piece.readerIndex();
                                long end = start + piece.readableBytes();
                                boolean inDeviceMbuf = server.received.stream()
                                        .anyMatch(r -> start >= r[0] && end <= r[1]);
                                if (inDeviceMbuf == copyMode) {
                                    problems.add("payload at " + Long.toHexString(start) + (copyMode
                                            ? " is in a received mbuf in copy mode" : " is not in a received mbuf"));
                                }
                            }
                            for (int i = 0; i < buf.readableBytes(); i++) {
                                if (buf.getByte(buf.readerIndex() + i) != (byte) (bytes[0] + i)) {
                                    problems.add("byte " + (bytes[0] + i) + " differs");
                                    break;
                                }
                            }
                            bytes[0] += buf.readableBytes();
                            buf.release();
                            if (bytes[0] == total) {
                                read.countDown();
                            }
                        }
                    }).bind(new InetSocketAddress("10.9.0.1", 8080)).sync().channel();
            pair.awaitLink();
            Channel ch = new Bootstrap().group(clientGroup).channel(ZStackSocketChannel.class)
                    .option(ZStackChannelOption.COPY_MODE, copyMode)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(new InetSocketAddress("10.9.0.1", 8080)).sync().channel();
            ByteBuf out = ch.alloc().directBuffer(size);
            assertNotNull(MbufByteBuf.unwrapMbuf(out), "the channel's allocator gives mbuf-backed buffers: " + out);
            for (int i = 0; i < size; i++) {
                out.writeByte((byte) i);
            }
            long written = out.memoryAddress() + out.readerIndex();
            // copy mode: the written buffers stay held, so their mbufs cannot come back as the very mbufs a later copy
            // or frame is built in (which would make "not in a transmitted frame" fail by chance)
            List<ByteBuf> held = new java.util.ArrayList<>();
            if (copyMode) {
                held.add(out.retain());
            }
            ch.writeAndFlush(out).sync();
            // a buffer larger than one mbuf comes from the loop's large mbufs, and TCP cuts it by reference too
            // a buffer larger than one segment is a composite of segment-sized mbufs, each with headroom of its own
            ByteBuf big = ch.alloc().directBuffer(bigSize);
            for (int i = 0; i < bigSize; i++) {
                big.writeByte((byte) (size + i));
            }
            assertTrue(big instanceof CompositeByteBuf, "8 KiB from the channel's allocator: " + big);
            List<long[]> bigParts = new java.util.ArrayList<>();
            for (ByteBuf part : ((CompositeByteBuf) big).decompose(big.readerIndex(), big.readableBytes())) {
                assertNotNull(MbufByteBuf.unwrapMbuf(part), "each piece is an mbuf: " + part);
                assertTrue(part.readableBytes() <= 1448, "at most one segment's payload: " + part.readableBytes());
                bigParts.add(new long[] {part.memoryAddress() + part.readerIndex(), part.readableBytes()});
            }
            if (copyMode) {
                held.add(big.retain());
            }
            ch.writeAndFlush(big).sync();
            // a composite of allocated buffers (a codec's header and body, an echoed read) goes piece by piece
            ByteBuf partA = ch.alloc().directBuffer(partSize);
            ByteBuf partB = ch.alloc().directBuffer(partSize);
            for (int i = 0; i < partSize; i++) {
                partA.writeByte((byte) (size + bigSize + i));
                partB.writeByte((byte) (size + bigSize + partSize + i));
            }
            long partAWritten = partA.memoryAddress() + partA.readerIndex();
            long partBWritten = partB.memoryAddress() + partB.readerIndex();
            ByteBuf parts = ch.alloc().compositeDirectBuffer(2).addComponents(true, partA, partB);
            if (copyMode) {
                held.add(parts.retain());
            }
            ch.writeAndFlush(parts).sync();
            // a composite read part way into its first piece (a decoder took a prefix) goes from there, by reference
            int base = size + bigSize + 2 * partSize;
            ByteBuf partC = ch.alloc().directBuffer(partSize);
            ByteBuf partD = ch.alloc().directBuffer(partSize);
            for (int i = 0; i < partSize; i++) {
                partC.writeByte(i < skip ? 0x55 : (byte) (base + i - skip));
                partD.writeByte((byte) (base + partSize - skip + i));
            }
            long partCWritten = partC.memoryAddress() + partC.readerIndex() + skip;
            long partDWritten = partD.memoryAddress() + partD.readerIndex();
            ByteBuf skipped = ch.alloc().compositeDirectBuffer(2).addComponents(true, partC, partD).skipBytes(skip);
            if (copyMode) {
                held.add(skipped.retain());
            }
            ch.writeAndFlush(skipped).sync();
            assertTrue(read.await(10, TimeUnit.SECONDS), "server read " + bytes[0] + " bytes");
            assertEquals(List.of(), problems);
            assertEquals(!copyMode, bigParts.stream().allMatch(p -> client.transmittedFrom(p[0], (int) p[1])), copyMode
                    ? "copy mode: the large buffer was copied" : "every piece of the large buffer went as its own memory");
            assertEquals(!copyMode, client.transmittedFrom(partAWritten, partSize)
                    && client.transmittedFrom(partBWritten, partSize), copyMode
                    ? "copy mode: the composite's pieces were copied" : "each piece of the composite went by reference");
            assertEquals(!copyMode, client.transmittedFrom(partCWritten, partSize - skip)
                    && client.transmittedFrom(partDWritten, partSize), copyMode
                    ? "copy mode: the composite's pieces were copied"
                    : "a composite read part way went by reference from its reader index");
            assertEquals(!copyMode, client.transmittedFrom(written, size), copyMode
                    ? "copy mode: the written buffer was copied into other mbufs"
                    : "the written buffer's memory went to tx_burst (no copy on the way out)");
            held.forEach(ByteBuf::release);
            ch.close().sync();
            listener.close().sync();
        });
    }

    /**
     * What tx_burst gets on a DPDK port: the first transmission of each segment of an {@code alloc()}ed buffer, and of
     * a server's echo of what it read, is one mbuf (headers written in its headroom), never a header mbuf in front.
     */
    @Test
    void firstTransmissionsReachTxBurstAsOneMbufPerSegment() throws Exception {
        MemifRecordingPair pair = new MemifRecordingPair("zc1", 25, 1, b -> b);
        RecordingDevice server = pair.server;
        RecordingDevice client = pair.client;
        ZStackEventLoopGroup serverGroup = pair.serverGroup;
        ZStackEventLoopGroup clientGroup = pair.clientGroup;
        pair.run(() -> {
            int writes = 20;
            int size = 1000;
            int bigSize = 8192;
            CountDownLatch echoed = new CountDownLatch(writes * size + bigSize);
            Channel listener = new ServerBootstrap().group(serverGroup).channel(ZStackServerSocketChannel.class)
                    .childHandler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ctx.writeAndFlush(msg); // the received mbufs go back out
                        }
                    }).bind(new InetSocketAddress("10.9.1.1", 8080)).sync().channel();
            pair.awaitLink();
            Channel ch = connectCountingEchoes(clientGroup, "10.9.1.1", echoed);
            // one write at a time, each echoed before the next: no window ever cuts a piece in the middle (a segment
            // starting mid-piece rightly gets a header mbuf: the bytes in front are the previous segment's)
            long expected = 0;
            for (int w = 0; w < writes; w++) {
                ByteBuf out = ch.alloc().directBuffer(size);
                out.writeZero(size);
                ch.writeAndFlush(out).sync();
                expected += size;
                awaitEchoed(echoed, writes * size + bigSize - expected);
            }
            // and one larger than a segment: every segment TCP cuts from it is one of its mbufs
            ByteBuf big = ch.alloc().directBuffer(bigSize);
            big.writeZero(bigSize);
            ch.writeAndFlush(big).sync();
            assertTrue(echoed.await(10, TimeUnit.SECONDS), "echo incomplete: " + echoed.getCount() + " bytes missing");
            // first transmissions only: a tail loss probe fires when an ACK is late, as it may be on a busy machine
            assertEquals(writes + (bigSize + 1447) / 1448, client.dataFrameSegments.size(),
                    "one segment per small write, six for the large one: " + client.dataFrameSegments
                    + ", and resent: " + client.retransmittedFrames);
            assertEquals(List.of(1), client.dataFrameSegments.stream().distinct().toList(),
                    "every allocated buffer's segment is one mbuf at tx_burst");
            assertEquals(List.of(), client.headerOnlyHeads);
            assertTrue(server.dataFrameSegments.size() >= writes, "echo frames: " + server.dataFrameSegments);
            // the echo's pieces are what reads delivered (a read's size limit may cut a received segment, and a cut
            // piece is copied): a segment may chain several of them, but its headers are always in the first one's
            // headroom, never in a header mbuf of their own
            // a retransmission may take a header mbuf (the first copy may still be in the ring): only those may
            long retransmitted = retransmissions(serverGroup);
            assertTrue(server.headerOnlyHeads.size() <= retransmitted, "echoed segments with a header mbuf in front: "
                    + server.headerOnlyHeads.size() + " (retransmissions " + retransmitted + "): "
                    + server.dataFrameSegments);
            ch.close().sync();
            listener.close().sync();
        });
    }

    /**
     * Segments waiting together when a read runs reach the pipeline one by one, each the buffer over the mbuf the
     * device delivered. A decoder then takes them as they are (Netty's default cumulator copies any buffer that is not
     * contiguous, so a read joining segments into a composite cost the very copy zero copy saves), and what a
     * streaming decoder passes on (as HTTP's content chunks are) is echoed from the received memory.
     */
    @Test
    void segmentsWaitingTogetherReachADecoderWithoutACopy() throws Exception {
        MemifRecordingPair pair = new MemifRecordingPair("zc3", 35, 3, b -> b);
        RecordingDevice server = pair.server;
        pair.run(() -> {
            int size = 8192;
            List<String> notContiguous = new CopyOnWriteArrayList<>();
            java.util.concurrent.atomic.AtomicReference<Channel> accepted =
                    new java.util.concurrent.atomic.AtomicReference<>();
            CountDownLatch echoed = new CountDownLatch(size);
            Channel listener = new ServerBootstrap().group(pair.serverGroup).channel(ZStackServerSocketChannel.class)
                    .childOption(io.netty.channel.ChannelOption.AUTO_READ, false)
                    .childHandler(new io.netty.channel.ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                                @Override
                                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                    if (!((ByteBuf) msg).isContiguous()) {
                                        notContiguous.add(msg.toString());
                                    }
                                    ctx.fireChannelRead(msg);
                                }
                            }, new io.netty.handler.codec.ByteToMessageDecoder() {
                                @Override
                                protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
                                    out.add(in.readRetainedSlice(in.readableBytes()));
                                }
                            }, new ChannelInboundHandlerAdapter() {
                                @Override
                                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                    ctx.writeAndFlush(msg);
                                }
                            });
                            accepted.set(ch);
                        }
                    }).bind(new InetSocketAddress("10.9.3.1", 8080)).sync().channel();
            pair.awaitLink();
            Channel ch = connectCountingEchoes(pair.clientGroup, "10.9.3.1", echoed);
            ByteBuf big = ch.alloc().directBuffer(size);
            big.writeZero(size);
            ch.writeAndFlush(big).sync();
            // the server reads nothing until all six segments wait in its connection: then every read finds several
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (accepted.get() == null || waiting((ZStackSocketChannel) accepted.get()) < size) {
                assertTrue(System.nanoTime() < deadline, "the segments never all arrived");
                Thread.sleep(1);
            }
            Channel child = accepted.get();
            while (echoed.getCount() > 0) {
                assertTrue(System.nanoTime() < deadline, "echo incomplete: " + echoed.getCount() + " bytes missing");
                child.read();
                Thread.sleep(1);
            }
            assertEquals(List.of(), notContiguous, "every read is one received segment");
            assertTrue(server.dataFrameRanges.size() >= (size + 1447) / 1448, "echoed: " + server.dataFrameRanges);
            List<long[]> fromElsewhere = server.dataFrameRanges.stream().filter(f -> server.received.stream()
                    .noneMatch(r -> f[0] >= r[0] && f[1] <= r[1])).toList();
            assertEquals(0, fromElsewhere.size(), "echoed frames sent from memory no segment arrived in: "
                    + fromElsewhere.size() + " of " + server.dataFrameRanges.size());
            ch.close().sync();
            listener.close().sync();
        });
    }

    /** Bytes received and not yet read on {@code ch}'s connection, asked on its loop. */
    private static int waiting(ZStackSocketChannel ch) throws Exception {
        return ch.eventLoop().submit(() -> ch.connection() == null ? 0 : (int) ch.connection().readable())
                .get(5, TimeUnit.SECONDS);
    }

    /** A client connected to {@code server}:8080 that counts every byte echoed back down on {@code echoed}. */
    private static Channel connectCountingEchoes(ZStackEventLoopGroup group, String server, CountDownLatch echoed)
            throws InterruptedException {
        return new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ByteBuf buf = (ByteBuf) msg;
                        for (int i = 0; i < buf.readableBytes(); i++) {
                            echoed.countDown();
                        }
                        buf.release();
                    }
                })
                .connect(new InetSocketAddress(server, 8080)).sync().channel();
    }

    private static void awaitEchoed(CountDownLatch echoed, long left) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (echoed.getCount() > left) {
            assertTrue(System.nanoTime() < deadline, "echo stalled: " + echoed.getCount() + " bytes missing");
            Thread.sleep(1);
        }
    }

    private static long retransmissions(ZStackEventLoopGroup group) throws Exception {
        ZStackEventLoop loop = (ZStackEventLoop) group.next();
        return loop.submit(() -> loop.stack().tcp().counters().retransmittedSegments).get(5, TimeUnit.SECONDS);
    }
}
