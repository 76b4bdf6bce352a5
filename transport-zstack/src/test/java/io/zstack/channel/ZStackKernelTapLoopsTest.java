package io.zstack.channel;

import io.zstack.ip.Ipv4Config;
import io.zstack.stack.TcpTapInteropTest;
import io.zstack.testing.NetNamespace;
import java.nio.file.Path;
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
            ns.exec("ip", "tuntap", "add", "dev", "zkq0", "mode", "tap", "vnet_hdr", "multi_queue");
            ns.exec("ip", "addr", "add", "10.84.0.1/24", "dev", "zkq0");
            ns.exec("ip", "link", "set", "zkq0", "up");
            // the group opens the TAP's queues in the namespace of the thread that builds it
            ZStackAfPacketLoopsTest.run(script, ns, "10.84.0.1", 7200, ns, () -> new ZStackEventLoopGroup(2,
                    ZStackConfig.builder().device(ZStackDevices.kernelTap("zkq0"))
                            .address(Ipv4Config.parse("10.84.0.2/24", null)).build()));
        }
    }
}
