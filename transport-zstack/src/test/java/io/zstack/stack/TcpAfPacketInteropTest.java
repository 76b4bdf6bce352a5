package io.zstack.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.device.DpdkPortDevice;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import io.zstack.ip.Ipv4Config;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpListener;
import io.zstack.testing.Command;
import io.zstack.testing.NetNamespace;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ZStack on DPDK's af_packet PMD against the kernel's TCP across a veth pair: ZStack owns one end (no kernel address
 * on it) in one namespace, the kernel peer the other end in a second namespace, with checksum and segmentation
 * offloads off so the kernel sends real, complete frames. The kernel client streams through a ZStack echo server.
 * (af_xdp on the same veth is not here: with DPDK 22.11 on this kernel its port goes silent both ways after a few
 * hundred frames, see the project notes.)
 */
class TcpAfPacketInteropTest {
    private static final int BYTES = 8 * 1024 * 1024;

    @Test
    void kernelClientStreamsThroughAZStackEchoServer(@TempDir Path dir) throws Exception {
        Path script = TcpTapInteropTest.peerScript(dir);
        try (NetNamespace zstack = NetNamespace.create(); NetNamespace kernel = NetNamespace.create();
             DpdkMbufPool pool = DpdkMbufPool.create("afp-" + ProcessHandle.current().pid(), 4095, 0, 2176)) {
            zstack.exec("ip", "link", "add", "vz", "type", "veth", "peer", "name", "vk", "netns", kernel.name());
            for (NetNamespace ns : List.of(zstack, kernel)) {
                String iface = ns == zstack ? "vz" : "vk";
                ns.exec("ethtool", "-K", iface, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
                ns.exec("ip", "link", "set", iface, "up");
            }
            kernel.exec("ip", "addr", "add", "10.81.0.1/24", "dev", "vk");
            // the packet socket is opened in the namespace of the thread that probes the port
            DpdkPortDevice device = zstack.call(() -> DpdkPortDevice.open(Vdevs.afPacket(50, "vz"),
                    PortConfig.defaults(), pool));
            try (NetStack stack = new NetStack(device, Ipv4Config.parse("10.81.0.2/24", null))) {
                TcpListener listener = stack.tcp().listen(0, 7000, stack.tcp().defaults().copy());
                List<TcpConnection> connections = new ArrayList<>();
                Command.Result result;
                try (TcpTapInteropTest.Runner runner = new TcpTapInteropTest.Runner(stack,
                        now -> TcpTapInteropTest.echo(listener, connections, now, pool))) {
                    result = kernel.execResult(300, "/usr/bin/python3", script.toString(), "client", "10.81.0.2",
                            "7000", Integer.toString(BYTES), "17");
                }
                String[] words = result.output().trim().split("\\s+");
                assertTrue(result.output().contains("sent "), result.output() + "\n" + stack.tcp().counters() + "\n"
                        + stack.tcp().describeConnections(System.nanoTime()) + "\n" + pool + " "
                        + device.port().stats() + "\n" + stack.ip().counters());
                assertEquals(words[1], words[3], "sha256 of what the kernel sent vs what came back: "
                        + result.output());
                assertEquals(Integer.toString(BYTES), words[4]);
                assertTrue(stack.tcp().counters().passiveOpens >= 1);
            }
        }
    }
}
