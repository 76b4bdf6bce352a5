package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.device.FaultCounters;
import io.zstack.device.FaultInjectingDevice;
import io.zstack.ip.Ipv4Config;
import io.zstack.stack.TcpTapInteropTest;
import io.zstack.testing.NetNamespace;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two loops on one kernel TAP ({@link ZStackDevices#kernelTap}): a multi-queue TAP, one queue per loop, which the
 * group opens in the namespace of the thread that builds it. The kernel picks the queue of each frame it sends by
 * its own flow hash, so about half the frames reach the loop that does not hold their connection and are handed
 * over; every connection out to the kernel's echo server must complete and carry its own seeded stream
 * ({@link ZStackAfPacketLoopsTest#run}).
 */
class ZStackKernelTapLoopsTest {
    @Test
    void everyOutgoingConnectionOfTwoLoopsCompletesAndCarriesItsBytes(@TempDir Path dir) throws Exception {
        NetNamespace.requireRoot();
        Path script = TcpTapInteropTest.peerScript(dir);
        try (NetNamespace ns = NetNamespace.create()) {
            // made beforehand, multi-queue, and addressed before the application starts (as a user would)
            multiQueueTap(ns, "zkq0", "10.84.0.1/24");
            // the group opens the TAP's queues in the namespace of the thread that builds it
            ZStackAfPacketLoopsTest.run(script, ns, "10.84.0.1", 7200, ns, () -> new ZStackEventLoopGroup(2,
                    ZStackConfig.builder().device(ZStackDevices.kernelTap("zkq0"))
                            .address(Ipv4Config.parse("10.84.0.2/24", null)).build()));
        }
    }

    /**
     * The same against the kernel over a lossy link ({@link ZStackConfig.Builder#linkFaults} on both loops' queues,
     * both ways: frames lost, duplicated, reordered and delayed, the kernel's TSO frames and ours among them): each
     * connection still carries its stream whole, through both stacks' recovery. Fails if the faults did not happen.
     */
    @Test
    void overALossyLinkEveryConnectionStillCarriesItsBytes(@TempDir Path dir) throws Exception {
        NetNamespace.requireRoot();
        Path script = TcpTapInteropTest.peerScript(dir);
        try (NetNamespace ns = NetNamespace.create()) {
            multiQueueTap(ns, "zkf0", "10.85.0.1/24");
            ZStackAfPacketLoopsTest.run(script, ns, "10.85.0.1", 7300, ns, () -> new ZStackEventLoopGroup(2,
                    ZStackConfig.builder().device(ZStackDevices.kernelTap("zkf0"))
                            .linkFaults("drop=0.02,duplicate=0.01,reorder=0.02/3,delay=0.02:500us+500us,seed=3")
                            .address(Ipv4Config.parse("10.85.0.2/24", null)).build()), group -> {
                        FaultCounters done = FaultCounters.ZERO;
                        for (ZStackEventLoop loop : group.loops()) {
                            done = done.plus(loop.submit(() -> ((FaultInjectingDevice) loop.stack().device())
                                    .counters()).get(5, TimeUnit.SECONDS));
                        }
                        System.out.println("link faults: " + done);
                        assertTrue(done.dropped() > 0 && done.duplicated() > 0 && done.reordered() > 0
                                && done.delayed() > 0, "the faults did not all happen: " + done);
                    });
        }
    }

    private static void multiQueueTap(NetNamespace ns, String name, String kernelAddress) throws Exception {
        ns.exec("ip", "tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr", "multi_queue");
        ns.exec("ip", "addr", "add", kernelAddress, "dev", name);
        ns.exec("ip", "link", "set", name, "up");
    }
}
