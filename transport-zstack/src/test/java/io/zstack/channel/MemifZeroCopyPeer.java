package io.zstack.channel;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.MbufByteBuf;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The other process of {@link ZStackMemifZeroCopyTest}: a ZStack group on a memif <em>client</em> port in its own
 * EAL (hugepages from the test's mount, {@code --single-file-segments}), with zero copy or without, running a TCP
 * echo server. It records where every segment it reads lies: in an mbuf of its own port's pool or not, and in which
 * file of its memory map. Commands on stdin, answers on stdout:
 *
 * <pre>
 * (start)  READY                                   the group is up (its port connected to the server) and listening
 * report   FILE path inode reads ... REPORT reads=N mbufs=N ownPool=N
 * hold     HELD                                    its loop is parked in a task: it polls the port no more
 * quit     (exits 0 after closing its group)
 * </pre>
 *
 * <p>args: socket hugeDir zeroCopy(true|false) address/prefix port
 */
final class MemifZeroCopyPeer {
    private MemifZeroCopyPeer() {
    }

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        String hugeDir = args[1];
        boolean zeroCopy = Boolean.parseBoolean(args[2]);
        String address = args[3];
        int port = Integer.parseInt(args[4]);
        ZStackDevices.Port device = ZStackDevices.memifClient(socket).withServerWait(java.time.Duration.ofSeconds(60))
                .withEalArgument("--huge-dir=" + hugeDir).withEalMemoryMegabytes(128);
        // the control: the same memory (hugepages, single-file segments), the memif copying
        device = zeroCopy ? device.withZeroCopy()
                : device.withHugepages(true).withEalArgument("--single-file-segments");
        // no stall watch: while the loop is held (below) nothing may transmit on the port
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .stallFlush(0).device(device).address(address).build());
        List<long[]> reads = new ArrayList<>(); // {data address, 1 if an mbuf of the port's pool, 1 if an mbuf}
        Channel listener = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ByteBuf buf = (ByteBuf) msg;
                        MbufByteBuf mbuf = MbufByteBuf.unwrapMbuf(buf);
                        boolean own = mbuf != null && mbuf.pool() == ((ZStackEventLoop) ctx.channel().eventLoop()).pool()
                                && mbuf.pool() instanceof DpdkMbufPool pool && pool.owns(mbuf.mbuf());
                        synchronized (reads) {
                            reads.add(new long[] {buf.memoryAddress() + buf.readerIndex(), own ? 1 : 0,
                                mbuf != null ? 1 : 0});
                        }
                        ctx.write(msg); // echoed as received: the same mbufs go back out
                    }

                    @Override
                    public void channelReadComplete(ChannelHandlerContext ctx) {
                        ctx.flush();
                    }
                }).bind(new InetSocketAddress(address.substring(0, address.indexOf('/')), port)).sync().channel();
        System.out.println("READY");
        System.out.flush();
        CountDownLatch release = new CountDownLatch(1);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null && !line.equals("quit")) {
            switch (line) {
                case "report" -> {
                    List<long[]> seen;
                    synchronized (reads) {
                        seen = new ArrayList<>(reads);
                    }
                    report(seen);
                }
                case "hold" -> {
                    CountDownLatch held = new CountDownLatch(1);
                    group.next().execute(() -> {
                        held.countDown();
                        try {
                            release.await(60, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    });
                    held.await(10, TimeUnit.SECONDS);
                    System.out.println("HELD");
                }
                default -> System.out.println("UNKNOWN " + line);
            }
            System.out.flush();
        }
        release.countDown();
        listener.close().sync();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        System.exit(0);
    }

    /** One FILE line per file of this process's memory map holding read segments, then the REPORT line. */
    private static void report(List<long[]> seen) throws Exception {
        List<String[]> maps = new ArrayList<>(); // {start, end, inode, path}
        for (String l : Files.readAllLines(Path.of("/proc/self/maps"))) {
            String[] f = l.trim().split("\\s+", 6);
            String[] range = f[0].split("-");
            maps.add(new String[] {range[0], range[1], f[4], f.length > 5 ? f[5] : ""});
        }
        Map<String, Integer> files = new TreeMap<>();
        int own = 0;
        int mbufs = 0;
        for (long[] r : seen) {
            own += (int) r[1];
            mbufs += (int) r[2];
            String where = "none 0";
            for (String[] m : maps) {
                if (Long.compareUnsigned(r[0], Long.parseUnsignedLong(m[0], 16)) >= 0
                        && Long.compareUnsigned(r[0], Long.parseUnsignedLong(m[1], 16)) < 0) {
                    where = (m[3].isEmpty() ? "anonymous" : m[3]) + " " + m[2];
                    break;
                }
            }
            files.merge(where, 1, Integer::sum);
        }
        for (Map.Entry<String, Integer> e : files.entrySet()) {
            System.out.println("FILE " + e.getKey() + " " + e.getValue());
        }
        System.out.println("REPORT reads=" + seen.size() + " mbufs=" + mbufs + " ownPool=" + own);
    }
}
