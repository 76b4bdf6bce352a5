package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.ip.Ipv4Config;
import io.zstack.stack.NetStack;
import io.zstack.testing.ArpFrames;
import io.zstack.wire.ArpPacket;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A group's loops are the queues of one device: a neighbour that one loop's stack learns from ARP is known to every
 * loop's stack soon after (NeighbourSharingTest shows why each stack needs it).
 */
class ZStackNeighbourSharingTest {
    private static final int PEER = 0x0a000002;
    private static final long PEER_MAC = 0x020000000002L;

    @Test
    void whatOneLoopLearnsFromArpEveryLoopKnows() throws Exception {
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(2,
                ZStackConfig.builder().inProcess(false).address(Ipv4Config.parse("10.0.0.1/24", null)).build());
        try {
            List<ZStackEventLoop> loops = group.loops();
            ZStackEventLoop first = loops.get(0);
            ZStackEventLoop second = loops.get(1);
            first.submit(() -> {
                // an ARP request for our address arrives on the first loop's queue
                NetStack stack = first.stack();
                long m = ArpFrames.frame(stack.device().pool(), ArpPacket.REQUEST, PEER_MAC, PEER, 0,
                        stack.ip().config().address());
                stack.ip().input(stack.device(), m, System.nanoTime());
            }).sync();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            boolean known = false;
            while (!known && System.nanoTime() < deadline) {
                known = second.submit(() -> second.stack().ip().arp().lookup(PEER)
                        && second.stack().ip().arp().lastMac() == PEER_MAC).get();
                if (!known) {
                    Thread.sleep(10);
                }
            }
            assertTrue(known, "the second loop's stack knows the peer's MAC");
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }
}
