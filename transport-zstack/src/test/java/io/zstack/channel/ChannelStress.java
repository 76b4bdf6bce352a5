package io.zstack.channel;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.FixedLengthFrameDecoder;
import io.zstack.buffer.MbufPool;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One seed of the channel read/write stress (see {@link ZStackChannelStressTest}): a connection between a client
 * group and a server group, driven by a plan drawn from the seed, every received byte checked against its position
 * in its stream.
 *
 * <p>What a seed varies: the mode (two independent streams, or an echo through a {@link FixedLengthFrameDecoder} whose
 * frames are written back, as Netty's SocketFixedLengthEchoTest does); the write sizes (1 B to 256 KiB); the kind of
 * each written buffer (from the channel's allocator, heap, a composite of both, a {@link DefaultFileRegion}); whether
 * the write is issued from the test thread or from a task on the channel's loop; whether the writer keeps the buffer
 * and overwrites it once the write completes (Netty allows that); the receive allocator's guess (down to 1 byte);
 * AUTO_READ toggled while reading, with explicit read() calls; received buffers held and released several reads
 * later, out of order (checked again when released); and, for some seeds, an abrupt close in the middle. The plan is
 * replayable from the seed; thread timing is not, which is what a stress test is for.
 */
final class ChannelStress {
    /** Stream bytes repeat with this period, a prime so that write sizes never line up with it. */
    static final int PERIOD = 1_048_573;
    /** The pattern twice, so that any range of up to PERIOD bytes from any phase is contiguous. */
    private static final byte[] PATTERN = new byte[2 * PERIOD];
    private static final int MAX_WRITE = 256 * 1024;
    private static Path patternFile;

    static {
        new Random(0x5eed).nextBytes(PATTERN);
        System.arraycopy(PATTERN, 0, PATTERN, PERIOD, PERIOD);
    }

    /** A file holding the pattern twice: FileRegions cut their ranges from it. */
    static synchronized Path patternFile() {
        if (patternFile == null) {
            try {
                patternFile = Files.createTempFile("zstack-stress", ".bin");
                patternFile.toFile().deleteOnExit();
                Files.write(patternFile, PATTERN);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return patternFile;
    }

    /** Byte {@code position} of the stream whose pattern starts at {@code phase}. */
    static byte expected(int phase, long position) {
        return PATTERN[(int) ((phase + position) % PERIOD)];
    }

    private final long seed;
    private final Random plan;
    private final Queue<String> problems = new ConcurrentLinkedQueue<>();
    private final boolean echo;
    private final boolean abort;

    ChannelStress(long seed) {
        this.seed = seed;
        this.plan = new Random(seed);
        this.echo = plan.nextInt(3) == 0;
        this.abort = plan.nextInt(8) == 0;
    }

    /**
     * Runs the seed: connects a client of {@code clientGroup} to a server of {@code serverGroup} at {@code bind},
     * exchanges, closes, and waits until every mbuf of {@code pools} is home. Returns what went wrong, empty if
     * nothing did.
     */
    List<String> run(EventLoopGroup serverGroup, EventLoopGroup clientGroup, InetSocketAddress bind,
                     List<MbufPool> pools) throws Exception {
        int clientPhase = plan.nextInt(PERIOD);
        int serverPhase = plan.nextInt(PERIOD);
        int frame = 1 + plan.nextInt(plan.nextBoolean() ? 64 : 4096);
        List<Write> clientWrites = writes(clientPhase);
        List<Write> serverWrites = echo ? List.of() : writes(serverPhase);
        long clientTotal = total(clientWrites);
        long serverTotal = total(serverWrites);
        // the echo returns whole frames only: FixedLengthFrameDecoder keeps a shorter tail
        long clientExpects = echo ? clientTotal / frame * frame : serverTotal;
        int clientInPhase = echo ? clientPhase : serverPhase;

        Receiver clientReceiver = new Receiver("client", clientInPhase, new Random(plan.nextLong()));
        Receiver serverReceiver = echo ? null : new Receiver("server", clientPhase, new Random(plan.nextLong()));
        EchoHandler echoHandler = echo ? new EchoHandler(new Random(plan.nextLong())) : null;
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        String mode = (echo ? "echo (frame " + frame + ")" : "duplex") + (abort ? ", abort" : "");

        Channel listener = new ServerBootstrap().group(serverGroup).channel(ZStackServerSocketChannel.class)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.AUTO_READ, plan.nextBoolean())
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, recvAllocator())
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (echo) {
                            ch.pipeline().addLast(new FixedLengthFrameDecoder(frame), echoHandler);
                        } else {
                            ch.pipeline().addLast(serverReceiver);
                        }
                        accepted.complete(ch);
                    }
                }).bind(bind).sync().channel();
        Channel client = null;
        Channel child = null;
        try {
            client = new Bootstrap().group(clientGroup).channel(ZStackSocketChannel.class)
                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .option(ChannelOption.AUTO_READ, plan.nextBoolean())
                    .option(ChannelOption.RCVBUF_ALLOCATOR, recvAllocator())
                    .handler(clientReceiver)
                    .connect(listener.localAddress()).sync().channel();
            child = accepted.get(10, TimeUnit.SECONDS);

            // both sides' writes, interleaved; issued in order from this thread, or as tasks on the loop
            int abortAt = abort ? plan.nextInt(clientWrites.size() + serverWrites.size() + 1) : -1;
            int ci = 0;
            int si = 0;
            for (int step = 0; step <= abortAt || ci < clientWrites.size() || si < serverWrites.size(); step++) {
                if (step == abortAt) {
                    (plan.nextBoolean() ? client : child).close();
                    break;
                }
                boolean fromClient = si == serverWrites.size()
                        || (ci < clientWrites.size() && plan.nextBoolean());
                if (fromClient) {
                    issue(client, clientWrites.get(ci++));
                } else {
                    issue(child, serverWrites.get(si++));
                }
            }
            if (!abort) {
                shutdownOutput(client);
                if (!echo) {
                    shutdownOutput(child);
                } // the echo side shuts its output when its input ends
            }

            // each receiver ends at its input's end (FIN read) or when its channel closes
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            boolean ended = awaitEnd(clientReceiver.ended, deadline, "client's input to end")
                    & awaitEnd(echo ? echoHandler.ended : serverReceiver.ended, deadline, "server's input to end");
            if (!ended) {
                problems.add("the stacks then:\n" + describe(serverGroup, clientGroup));
            }
            if (!abort) {
                expect(clientReceiver.received, clientExpects, "client received");
                if (!echo) {
                    expect(serverReceiver.received, clientTotal, "server received");
                } else {
                    expect(echoHandler.echoed, clientExpects, "server echoed");
                }
            }
            client.close().sync();
            child.close().sync();
        } finally {
            if (client != null) {
                client.close().await(5, TimeUnit.SECONDS);
            }
            if (child != null) {
                child.close().await(5, TimeUnit.SECONDS);
            }
            listener.close().sync();
        }
        if (!awaitPoolsHome(pools)) {
            problems.add("the stacks then:\n" + describe(serverGroup, clientGroup));
        }
        List<String> out = new ArrayList<>();
        for (String p : problems) {
            out.add("seed " + seed + " (" + mode + "): " + p);
        }
        return out;
    }

    /** Receive allocators from a 1-byte fixed guess (every read a partial one) to Netty's adaptive default. */
    private RecvByteBufAllocator recvAllocator() {
        return switch (plan.nextInt(4)) {
            case 0 -> new FixedRecvByteBufAllocator(1 + plan.nextInt(16));
            case 1 -> new FixedRecvByteBufAllocator(1 + plan.nextInt(4096));
            case 2 -> new AdaptiveRecvByteBufAllocator(16, 16 + plan.nextInt(2048), 65536); // its smallest size
            default -> new AdaptiveRecvByteBufAllocator();
        };
    }

    /**
     * Half-closes once every write issued before has completed: Netty's shutdownOutput fails what is still pending
     * in the outbound buffer (epoll and NIO alike), so a writer waits for its last write, here an empty one queued
     * behind the others.
     */
    private static void shutdownOutput(Channel ch) {
        ch.eventLoop().execute(() -> ch.writeAndFlush(Unpooled.EMPTY_BUFFER)
                .addListener(done -> ((DuplexChannel) ch).shutdownOutput()));
    }

    private boolean awaitEnd(CompletableFuture<Void> ended, long deadline, String what) throws Exception {
        try {
            ended.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            return true;
        } catch (TimeoutException e) {
            problems.add("timed out waiting for the " + what);
            return false;
        }
    }

    /** Counters and connections of both groups' stacks, for a failure's message. */
    private static String describe(EventLoopGroup serverGroup, EventLoopGroup clientGroup) throws Exception {
        return ((ZStackEventLoopGroup) serverGroup).describe().get() + (clientGroup == serverGroup ? ""
                : "\n" + ((ZStackEventLoopGroup) clientGroup).describe().get());
    }

    private void expect(long actual, long expected, String what) {
        if (actual != expected) {
            problems.add(what + " " + actual + " bytes, expected " + expected);
        }
    }

    private boolean awaitPoolsHome(List<MbufPool> pools) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        boolean home = true;
        for (MbufPool pool : pools) {
            while (pool.available() != pool.capacity()) {
                if (System.nanoTime() > deadline) {
                    problems.add((pool.capacity() - pool.available()) + " mbufs of " + pool.name()
                            + " not home 10 s after both channels closed");
                    home = false;
                    break;
                }
                Thread.sleep(1);
            }
        }
        return home;
    }

    // ================================================================================================= writing

    private enum Kind { ALLOC, HEAP, COMPOSITE, FILE_REGION }

    /** One write of the plan: stream bytes [position, position + length). */
    private record Write(int phase, long position, int length, Kind kind, boolean inLoop, boolean keepAndOverwrite,
                         long pieces) {
    }

    private List<Write> writes(int phase) {
        int count = 1 + plan.nextInt(12);
        List<Write> writes = new ArrayList<>(count);
        long position = 0;
        for (int i = 0; i < count; i++) {
            int length = switch (plan.nextInt(10)) {
                case 0, 1, 2 -> 1 + plan.nextInt(64);
                case 3, 4, 5 -> 1 + plan.nextInt(4096);
                case 6, 7, 8 -> 1 + plan.nextInt(64 * 1024);
                default -> 1 + plan.nextInt(MAX_WRITE);
            };
            Kind kind = Kind.values()[plan.nextInt(Kind.values().length)];
            writes.add(new Write(phase, position, length, kind, plan.nextBoolean(), plan.nextInt(4) == 0,
                    plan.nextLong()));
            position += length;
        }
        return writes;
    }

    private static long total(List<Write> writes) {
        return writes.stream().mapToLong(Write::length).sum();
    }

    private void issue(Channel ch, Write w) {
        if (w.inLoop) {
            ch.eventLoop().execute(() -> write(ch, w));
        } else {
            write(ch, w);
        }
    }

    private void write(Channel ch, Write w) {
        try {
            int start = (int) ((w.phase + w.position) % PERIOD);
            if (w.kind == Kind.FILE_REGION) {
                watch(w, ch.writeAndFlush(new DefaultFileRegion(patternFile().toFile(), start, w.length)));
                return;
            }
            ByteBuf buf = buffer(ch.alloc(), w, start);
            if (!w.keepAndOverwrite) {
                watch(w, ch.writeAndFlush(buf));
                return;
            }
            // the writer keeps the buffer, as a decoder keeps its cumulation or an owner its buffer for reuse, and
            // overwrites it once the write is done: what was written must be what the peer reads
            ChannelFuture f = watch(w, ch.writeAndFlush(buf.retainedDuplicate()));
            f.addListener(done -> {
                buf.setZero(0, buf.capacity());
                buf.release();
            });
        } catch (RuntimeException e) {
            problems.add("write " + w + " threw " + e);
        }
    }

    /** A write fails only when a seed closes a channel in the middle. */
    private ChannelFuture watch(Write w, ChannelFuture f) {
        if (!abort) {
            f.addListener(done -> {
                if (!done.isSuccess()) {
                    problems.add("write of " + w.length + " bytes at " + w.position + " (" + w.kind + ") failed: "
                            + done.cause());
                }
            });
        }
        return f;
    }

    /** The write's bytes in a buffer of its kind. */
    private static ByteBuf buffer(ByteBufAllocator alloc, Write w, int start) {
        return switch (w.kind) {
            case ALLOC -> alloc.directBuffer(w.length).writeBytes(PATTERN, start, w.length);
            case HEAP -> Unpooled.buffer(w.length).writeBytes(PATTERN, start, w.length);
            default -> {
                // pieces alternate allocator and heap memory, cut at points drawn from the write's own seed
                Random cuts = new Random(w.pieces);
                CompositeByteBuf composite = alloc.compositeDirectBuffer(Integer.MAX_VALUE);
                int done = 0;
                boolean direct = cuts.nextBoolean();
                while (done < w.length) {
                    int n = Math.min(w.length - done, 1 + cuts.nextInt(Math.max(1, w.length / 2)));
                    ByteBuf piece = direct ? alloc.directBuffer(n) : Unpooled.buffer(n);
                    piece.writeBytes(PATTERN, start + done, n);
                    composite.addComponent(true, piece);
                    done += n;
                    direct = !direct;
                }
                yield composite;
            }
        };
    }

    // ================================================================================================= reading

    /** A received buffer held past its read, and where it sits in the stream. */
    private record Held(ByteBuf buf, long position) {
    }

    /** What both ends of a seed do alike: read on their own while AUTO_READ is off, toggle it, report failures. */
    private abstract class StressHandler extends ChannelInboundHandlerAdapter {
        final String side;
        final Random random;
        final CompletableFuture<Void> ended = new CompletableFuture<>();

        StressHandler(String side, Random random) {
            this.side = side;
            this.random = random;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            if (!ctx.channel().config().isAutoRead()) {
                ctx.read();
            }
        }

        /** Turns AUTO_READ over one read in sixteen; the read's channelReadComplete then asks for more if off. */
        void maybeToggleAutoRead(ChannelHandlerContext ctx) {
            if (random.nextInt(16) == 0) {
                ctx.channel().config().setAutoRead(!ctx.channel().config().isAutoRead());
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (!(abort && cause instanceof IOException)) {
                problems.add(side + ": " + cause);
            }
            ctx.close();
        }
    }

    /** Checks every byte against its stream position; holds some buffers, toggles AUTO_READ. Loop thread only. */
    private final class Receiver extends StressHandler {
        final int phase;
        final List<Held> held = new ArrayList<>();
        volatile long received;
        boolean mismatch;

        Receiver(String side, int phase, Random random) {
            super(side, random);
            this.phase = phase;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            long position = received;
            check(buf, position, "read");
            received = position + buf.readableBytes();
            if (random.nextInt(4) == 0) {
                held.add(new Held(buf, position)); // released some reads later
            } else {
                buf.release();
            }
            while (held.size() > random.nextInt(8)) {
                release(held.remove(random.nextInt(held.size())));
            }
            maybeToggleAutoRead(ctx);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (!ctx.channel().config().isAutoRead()) {
                if (random.nextBoolean()) {
                    ctx.read();
                } else {
                    ctx.executor().execute(ctx::read); // a read() that comes later, from a task
                }
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                end();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            end();
        }

        private void end() {
            while (!held.isEmpty()) {
                release(held.remove(held.size() - 1));
            }
            ended.complete(null);
        }

        private void release(Held h) {
            check(h.buf, h.position, "release of a held buffer");
            h.buf.release();
        }

        private void check(ByteBuf buf, long position, String when) {
            if (mismatch) {
                return; // one report per stream
            }
            int from = buf.readerIndex();
            int n = buf.readableBytes();
            for (int i = 0; i < n; i++) {
                byte actual = buf.getByte(from + i);
                byte wanted = expected(phase, position + i);
                if (actual != wanted) {
                    mismatch = true;
                    problems.add(side + " byte " + (position + i) + " at " + when + ": " + actual + ", expected "
                            + wanted + " (" + buf + ")");
                    return;
                }
            }
        }
    }

    /**
     * The server of an echo seed: writes each frame FixedLengthFrameDecoder hands it (a retained slice of the
     * decoder's cumulation) and flushes at the end of a read, as Netty's fixed-length echo test does.
     */
    private final class EchoHandler extends StressHandler {
        volatile long echoed;

        EchoHandler(Random random) {
            super("echo server", random);
        }

        @Override
        public boolean isSharable() {
            return true;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            echoed += ((ByteBuf) msg).readableBytes();
            ctx.write(msg);
            maybeToggleAutoRead(ctx);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
            if (!ctx.channel().config().isAutoRead()) {
                ctx.read();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                shutdownOutput(ctx.channel());
                ended.complete(null);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            ended.complete(null);
        }
    }
}
