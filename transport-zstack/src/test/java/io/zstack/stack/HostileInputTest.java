package io.zstack.stack;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.dpdk.PortConfig;
import io.zstack.ip.IpCounters;
import io.zstack.ip.Ipv4Config;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpCounters;
import io.zstack.tcp.TcpListener;
import io.zstack.tcp.TcpState;
import io.zstack.testing.Command;
import io.zstack.testing.TapNetwork;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A scapy script sends malformed, truncated, bad-checksum, wrong-length, fragmented, random-flag and out-of-window
 * frames at a live ZStack connection over a tap; the connection survives (valid data sent afterwards is echoed),
 * nothing leaks (the fixture checks the pool), and the counters say why each frame was dropped.
 */
class HostileInputTest {

    @Test
    void aLiveConnectionSurvivesHostileFramesAndCountsWhyEachWasDropped(@TempDir Path dir) throws Exception {
        Path script = dir.resolve("hostile.py");
        try (InputStream in = HostileInputTest.class.getResourceAsStream("/interop/hostile.py")) {
            Files.copy(in, script);
        }
        try (TapNetwork net = TapNetwork.create("10.77.0.1", PortConfig.defaults());
             NetStack stack = new NetStack(net.device, Ipv4Config.parse("10.77.0.2/24", null))) {
            // the script opens the connection by hand: the kernel must not reset it
            net.namespace.exec("iptables", "-A", "OUTPUT", "-p", "tcp", "--tcp-flags", "RST", "RST", "-j", "DROP");
            TcpListener listener = stack.tcp().listen(0, 7000, stack.tcp().defaults());
            List<TcpConnection> connections = new ArrayList<>();
            Command.Result result;
            try (TcpTapInteropTest.Runner runner = new TcpTapInteropTest.Runner(stack,
                    now -> TcpTapInteropTest.echo(listener, connections, now, net.pool))) {
                result = net.namespace.execResult(120, "/usr/bin/python3", script.toString(), net.interfaceName,
                        net.device.macAddress().toString(), "10.77.0.1", "10.77.0.2", "7000");
                Thread.sleep(200);
            }
            IpCounters ip = stack.ip().counters();
            TcpCounters tcp = stack.tcp().counters();
            String report = result.output() + "\n" + ip + "\n" + tcp;
            assertTrue(result.output().contains("echo b'still alive'"), "the connection still works:\n" + report);
            assertTrue(connections.size() == 1 && connections.get(0).state() == TcpState.ESTABLISHED, report);
            // (a frame shorter than an Ethernet header never leaves the kernel's packet socket, so none arrives)
            assertTrue(ip.ipTooShort + ip.ipBadHeaderLength >= 1, "cut IPv4 header\n" + report);
            assertTrue(ip.ipBadVersion >= 1, "version\n" + report);
            assertTrue(ip.ipBadHeaderLength >= 2, "IHL 3 and 15\n" + report);
            assertTrue(ip.ipBadTotalLength >= 1, "total length beyond the frame\n" + report);
            assertTrue(ip.ipBadChecksum >= 1, "IP checksum\n" + report);
            // two fragments of a datagram that never completes: held for reassembly (freed at close, or after 30 s)
            assertTrue(ip.ipFragmentsReceived >= 2 && stack.ip().fragmentsHeld() >= 2, "fragments\n" + report);
            assertTrue(tcp.checksumErrors >= 1, "TCP checksum\n" + report);
            assertTrue(tcp.malformed >= 6, "short segment, data offsets, options\n" + report);
            assertTrue(tcp.outOfWindow >= 1, "out-of-window data\n" + report);
            assertTrue(tcp.ackUnsent >= 1, "ACK of unsent data\n" + report);
            assertTrue(tcp.challengeAcks >= 2, "in-window RST and SYN\n" + report);
            assertTrue(tcp.noAck >= 2, "segments without ACK\n" + report);
        }
    }
}
