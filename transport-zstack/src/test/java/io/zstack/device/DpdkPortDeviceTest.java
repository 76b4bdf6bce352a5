package io.zstack.device;

import static io.zstack.device.TestFrames.EXPERIMENTAL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.MbufBurst;
import io.zstack.dpdk.PortConfig;
import io.zstack.testing.TapNetwork;
import org.junit.jupiter.api.Test;

/** A DPDK port's transmit side against the kernel, over DPDK's tap in a namespace the test creates. */
class DpdkPortDeviceTest {

    /**
     * net_tap stops its tx_burst at a frame it cannot write (here one longer than the MTU allows) and counts it as an
     * error; it will never take it. The device drops that frame once it has been refused for
     * {@link DpdkPortDevice#REFUSED_FRAME_NANOS} and sends what was queued behind it: before, the frame stayed first
     * in line and the port sent nothing again (TSO frames net_tap refuses wedged it so, ACKs and all).
     */
    @Test
    void aFrameThePmdNeverTakesIsDroppedAndCountedAndTheFramesBehindItGo() throws Exception {
        try (TapNetwork net = TapNetwork.create("10.77.0.1", PortConfig.defaults())) {
            DpdkPortDevice device = net.device;
            long kernelReceivedBefore = kernelRxPackets(net);
            long opacketsBefore = device.port().stats().opackets();
            MbufBurst queue = new MbufBurst(8);
            queue.add(TestFrames.frame(net.pool, 0, device.mtu() + 100, EXPERIMENTAL)); // longer than the port sends
            int behind = 3;
            for (int i = 1; i <= behind; i++) {
                queue.add(TestFrames.frame(net.pool, i, 60, EXPERIMENTAL));
            }
            long giveUpAt = System.nanoTime() + 5_000_000_000L;
            int sent = 0;
            while (queue.size() > 0 && System.nanoTime() - giveUpAt < 0) {
                sent += device.transmit(queue);
            }
            assertEquals(0, queue.size(), "frames still queued: " + device.statistics());
            assertEquals(behind, sent, device.statistics());
            assertEquals(1, device.txRefusedDrops(), device.statistics());
            assertEquals(behind, device.port().stats().opackets() - opacketsBefore, device.statistics());
            assertTrue(device.port().stats().oerrors() > 0, device.statistics()); // net_tap did refuse it
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (kernelRxPackets(net) - kernelReceivedBefore < behind && System.nanoTime() - deadline < 0) {
                Thread.sleep(10);
            }
            assertEquals(behind, kernelRxPackets(net) - kernelReceivedBefore, "frames the kernel's interface got");
        } // TapNetwork's close checks every mbuf came back to the pool
    }

    private static long kernelRxPackets(TapNetwork net) throws Exception {
        return Long.parseLong(net.namespace.exec("cat", "/sys/class/net/" + net.interfaceName
                + "/statistics/rx_packets").trim());
    }
}
