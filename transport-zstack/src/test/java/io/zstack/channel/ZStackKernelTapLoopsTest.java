package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zstack.ip.Ipv4Config;
import io.zstack.stack.TcpTapInteropTest;
import io.zstack.testing.NetNamespace;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
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
            ns.exec("ip", "tuntap", "add", "dev", "zkq0", "mode", "tap", "vnet_hdr", "multi_queue");
            ns.exec("ip", "addr", "add", "10.84.0.1/24", "dev", "zkq0");
            ns.exec("ip", "link", "set", "zkq0", "up");
            Process server = new ProcessBuilder("ip", "netns", "exec", ns.name(), "/usr/bin/python3",
                    script.toString(), "echo-many", "10.84.0.1", "7200",
                    Integer.toString(ZStackAfPacketLoopsTest.CONNECTIONS)).redirectErrorStream(true).start();
            ZStackEventLoopGroup group = null;
            try {
                BufferedReader serverOutput = new BufferedReader(new InputStreamReader(server.getInputStream(),
                        StandardCharsets.UTF_8));
                assertEquals("listening", serverOutput.readLine());
                group = ns.call(() -> new ZStackEventLoopGroup(2, ZStackConfig.builder()
                        .device(ZStackDevices.kernelTap("zkq0"))
                        .address(Ipv4Config.parse("10.84.0.2/24", null)).build()));
                ZStackAfPacketLoopsTest.run(group, serverOutput, "10.84.0.1", 7200);
            } finally {
                if (group != null) {
                    group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
                }
                server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
