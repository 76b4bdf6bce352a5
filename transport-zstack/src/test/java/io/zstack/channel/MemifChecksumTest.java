package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import io.zstack.ip.Ipv4Config;
import io.zstack.testing.FrameHoldingDevice;
import io.zstack.testing.MemifLink;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Checksums on a memif link. Frames there are copied between the two processes' memory and cross no wire, so a
 * receiver takes them as checksum-good without summing them; a sender still sums every frame in full, since the peer
 * may be a stack that checks (F-stack, VPP).
 */
class MemifChecksumTest {

    /** Checks the TCP checksum of every frame it sends, and the checksum verdict of every frame it receives. */
    static final class ChecksumCheckingDevice extends ForwardingNetDevice {
        final AtomicLong tcpFramesSent = new AtomicLong();
        final AtomicLong badChecksumsSent = new AtomicLong();
        final AtomicLong tcpFramesReceived = new AtomicLong();
        final AtomicLong receivedWithoutVerdict = new AtomicLong();

        ChecksumCheckingDevice(NetDevice inner) {
            super(inner);
        }

        @Override
        public int receive(MbufBurst burst) {
            int n = inner.receive(burst);
            for (int i = 0; i < n; i++) {
                long m = burst.get(i);
                if (isTcp(Mbuf.toByteArray(m))) {
                    tcpFramesReceived.incrementAndGet();
                    if ((Mbuf.olFlags(m) & Mbuf.LAYOUT.rxL4ChecksumMask) != Mbuf.LAYOUT.rxL4ChecksumGood) {
                        receivedWithoutVerdict.incrementAndGet();
                    }
                }
            }
            return n;
        }

        @Override
        public int transmit(MbufBurst burst) {
            for (int i = 0; i < burst.size(); i++) {
                byte[] f = Mbuf.toByteArray(burst.get(i));
                if (isTcp(f)) {
                    tcpFramesSent.incrementAndGet();
                    if (!tcpChecksumValid(f)) {
                        badChecksumsSent.incrementAndGet();
                    }
                }
            }
            return inner.transmit(burst);
        }

        private static boolean isTcp(byte[] f) {
            return f.length >= 54 && f[12] == 8 && f[13] == 0 && f[23] == 6;
        }

        /** The ones' complement sum over the pseudo-header and the segment, summed here byte by byte, is 0xffff. */
        private static boolean tcpChecksumValid(byte[] f) {
            int ipHeader = (f[14] & 0x0f) * 4;
            int total = ((f[16] & 0xff) << 8) | (f[17] & 0xff);
            int tcpLength = total - ipHeader;
            long sum = 6 + tcpLength;
            for (int i = 26; i < 34; i += 2) { // source and destination addresses
                sum += ((f[i] & 0xff) << 8) | (f[i + 1] & 0xff);
            }
            int start = 14 + ipHeader;
            for (int i = 0; i < tcpLength; i += 2) {
                int hi = f[start + i] & 0xff;
                int lo = i + 1 < tcpLength ? f[start + i + 1] & 0xff : 0;
                sum += (hi << 8) | lo;
            }
            while ((sum >>> 16) != 0) {
                sum = (sum & 0xffff) + (sum >>> 16);
            }
            return sum == 0xffff;
        }
    }

    @Test
    void receiversTrustMemifFramesAndSendersSumThemInFull() throws Exception {
        MemifLink link = new MemifLink("cksum", 51, 52, 4095);
        ChecksumCheckingDevice server = new ChecksumCheckingDevice(link.server);
        ChecksumCheckingDevice client = new ChecksumCheckingDevice(new FrameHoldingDevice(link.client, 16, 2_000_000));
        // the server with receive coalescing off, the client with it on (the default) and its frames held so that
        // bursts carry runs to merge: both kinds of input trust
        ZStackEventLoopGroup serverGroup = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .receiveCoalescing(false)
                .device((i, n) -> server).address(Ipv4Config.parse("10.9.51.1/24", null)).build());
        ZStackEventLoopGroup clientGroup = new ZStackEventLoopGroup(1, ZStackConfig.builder().inProcess(false)
                .device((i, n) -> client).address(Ipv4Config.parse("10.9.51.2/24", null)).build());
        int total = 512 * 1024;
        try {
            serverGroup.submit(() -> null).sync(); // the loops exist before the link is awaited
            new ServerBootstrap().group(serverGroup).channel(ZStackServerSocketChannel.class)
                    .childHandler(new ChannelInboundHandlerAdapter() {
                        CompositeByteBuf all;

                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            // echoed by reference, all of it in one write: then the segments of each flight share
                            // their ACK and window fields, and held, the client's bursts carry runs it may merge.
                            // Echoed segment by segment, each could go in a round of its own once the send buffer grew
                            // with the window, with the ACK and window of that moment, and a run happened or not
                            if (all == null) {
                                all = ctx.alloc().compositeDirectBuffer(Integer.MAX_VALUE);
                            }
                            all.addComponent(true, (ByteBuf) msg);
                            if (all.readableBytes() == total) {
                                ctx.writeAndFlush(all);
                            }
                        }
                    }).bind(new InetSocketAddress("10.9.51.1", 8080)).sync();
            link.awaitUp(10);
            CountDownLatch echoed = new CountDownLatch(1);
            long[] received = new long[1];
            String[] problem = new String[1];
            Channel ch = new Bootstrap().group(clientGroup).channel(ZStackSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ByteBuf buf = (ByteBuf) msg;
                            for (int i = 0; i < buf.readableBytes() && problem[0] == null; i++) {
                                if (buf.getByte(buf.readerIndex() + i) != pattern(received[0] + i)) {
                                    problem[0] = "byte " + (received[0] + i) + " differs";
                                }
                            }
                            received[0] += buf.readableBytes();
                            buf.release();
                            if (received[0] == total) {
                                echoed.countDown();
                            }
                        }
                    }).connect(new InetSocketAddress("10.9.51.1", 8080)).sync().channel();
            for (int at = 0; at < total; at += 8192) {
                ByteBuf out = ch.alloc().directBuffer(8192);
                for (int i = 0; i < 8192; i++) {
                    out.writeByte(pattern(at + i));
                }
                ch.writeAndFlush(out);
            }
            assertTrue(echoed.await(20, TimeUnit.SECONDS), "echoed " + received[0] + " of " + total);
            assertEquals(null, problem[0]);
            ch.close().sync();
            for (ChecksumCheckingDevice end : new ChecksumCheckingDevice[] {server, client}) {
                assertTrue(end.tcpFramesSent.get() > total / 1448, end.tcpFramesSent + " TCP frames sent");
                assertEquals(0, end.badChecksumsSent.get(), "frames sent with a wrong TCP checksum");
                assertTrue(end.tcpFramesReceived.get() > total / 1448, end.tcpFramesReceived + " received");
                assertEquals(0, end.receivedWithoutVerdict.get(), "frames received without a checksum-good verdict");
            }
            for (ZStackEventLoopGroup group : new ZStackEventLoopGroup[] {serverGroup, clientGroup}) {
                ZStackEventLoop loop = (ZStackEventLoop) group.next();
                java.util.Map<String, Long> ip = loop.submit(() -> loop.stack().ip().counters().snapshot()).get();
                assertEquals(0L, ip.get("rxChecksumSoftware"), ip.toString());
                // every frame was trusted: a packet of its own, or merged into one (receive coalescing)
                assertTrue(ip.get("rxChecksumTrusted") + ip.get("framesCoalesced") > total / 1448, ip.toString());
                if (group == serverGroup) {
                    assertEquals(0L, ip.get("framesCoalesced"), "coalescing off: " + ip);
                } else {
                    assertTrue(ip.get("framesCoalesced") > 0, "coalescing on: " + ip);
                }
            }
        } finally {
            clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            link.close(); // checks every mbuf came home
        }
    }

    private static byte pattern(long i) {
        return (byte) (i * 7 + (i >>> 8));
    }
}
