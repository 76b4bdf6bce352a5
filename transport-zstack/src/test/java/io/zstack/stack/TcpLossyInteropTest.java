package io.zstack.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.device.FaultConfig;
import io.zstack.device.FaultInjectingDevice;
import io.zstack.device.NanoClock;
import io.zstack.dpdk.PortConfig;
import io.zstack.ip.Ipv4Config;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpListener;
import io.zstack.testing.Command;
import io.zstack.testing.NetNamespace;
import io.zstack.testing.TapNetwork;
import io.zstack.wire.Ipv4Packet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ZStack against the kernel's TCP across an impaired path: the kernel client sits in its own namespace behind a
 * router namespace that drops 1% of forwarded packets each way and duplicates 0.5% (iptables statistic + TEE, since
 * this kernel has no netem), and ZStack's device reorders 0.5% of what it receives. The data goes both ways through a
 * ZStack echo server (100 MiB each way), and from a ZStack client through a kernel echo server; the sha256 of what came
 * back equals what was sent.
 */
class TcpLossyInteropTest {
    private static final int BYTES = 100 * 1024 * 1024;
    private static final Pattern DROPS = Pattern.compile("^\\s*(\\d+)\\s+\\d+\\s+DROP", Pattern.MULTILINE);

    @Test
    void streamsSurviveLossDuplicationAndReorderingAgainstTheKernel(@TempDir Path dir) throws Exception {
        Path script = TcpTapInteropTest.peerScript(dir);
        try (TapNetwork net = TapNetwork.create("10.77.0.1", PortConfig.defaults());
             NetNamespace client = NetNamespace.create()) {
            NetNamespace router = impair(net, client);

            FaultInjectingDevice reordering = reordering(net);
            try (NetStack stack = new NetStack(reordering, Ipv4Config.parse("10.77.0.2/24", "10.77.0.1"))) {
                TcpListener listener = stack.tcp().listen(0, 7000, stack.tcp().defaults());
                List<TcpConnection> connections = new ArrayList<>();
                Command.Result result;
                try (TcpTapInteropTest.Runner runner = new TcpTapInteropTest.Runner(stack,
                        new java.util.function.LongConsumer() {
                            long nextReport = System.nanoTime() + 10_000_000_000L;

                            @Override
                            public void accept(long now) {
                                TcpTapInteropTest.echo(listener, connections, now, net.pool);
                                if (now > nextReport) {
                                    nextReport = now + 10_000_000_000L;
                                    for (TcpConnection c : connections) {
                                        System.out.println("state: " + c.describe(now));
                                    }
                                    System.out.println("pool: " + net.pool + " port: " + net.device.port().stats()
                                            + " " + stack.tcp().counters() + " " + stack.ip().counters());
                                }
                            }
                        })) {
                    result = client.execResult(600, "/usr/bin/python3", script.toString(), "client", "10.77.0.2",
                            "7000", Integer.toString(BYTES), "99");
                }
                String[] words = result.output().trim().split("\\s+");
                if (!result.output().contains("sent ")) {
                    // what each side saw, for a failure that does not reproduce at will
                    String diagnosis = result.output() + "\n" + stack.tcp().describeConnections(System.nanoTime())
                            + "\n" + stack.tcp().counters() + "\n" + stack.ip().counters() + "\n" + net.pool + " "
                            + net.device.port().stats() + "\nrouter:\n" + router.execResult(10, "ip", "neigh").output()
                            + router.execResult(10, "ip", "-s", "link").output()
                            + router.execResult(10, "iptables", "-L", "-v", "-x", "-n").output() + "\nclient:\n"
                            + client.execResult(10, "ss", "-tin").output()
                            + client.execResult(10, "nstat", "-az").output();
                    throw new AssertionError(diagnosis);
                }
                assertEquals(words[1], words[3], "sha256 of what the kernel sent vs what came back: " + result.output()
                        + "\n" + stack.tcp().counters());
                assertEquals(Integer.toString(BYTES), words[4]);
                long drops = routerDrops(router);
                assertTrue(drops > 100, "the router dropped " + drops + " packets");
                assertTrue(stack.tcp().counters().retransmittedSegments > 0, stack.tcp().counters().toString());
                assertTrue(reordering.counters().reordered() > 0, reordering.counters().toString());
                System.out.println("lossy interop: router dropped " + drops + " packets; " + stack.tcp().counters()
                        + "; " + reordering.counters());
            }
        }
    }

    /**
     * Makes the tap's namespace a router to a new client namespace (10.78.0.2 behind 10.78.0.1) that drops 1% of
     * forwarded packets and duplicates 0.5% each way.
     */
    private static NetNamespace impair(TapNetwork net, NetNamespace client) throws Exception {
        NetNamespace router = net.namespace;
        router.exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
        router.exec("ip", "link", "add", "vr", "type", "veth", "peer", "name", "vc", "netns", client.name());
        router.exec("ip", "addr", "add", "10.78.0.1/24", "dev", "vr");
        router.exec("ip", "link", "set", "vr", "up");
        client.exec("ip", "addr", "add", "10.78.0.2/24", "dev", "vc");
        client.exec("ip", "link", "set", "vc", "up");
        client.exec("ip", "route", "add", "default", "via", "10.78.0.1");
        router.exec("iptables", "-A", "FORWARD", "-m", "statistic", "--mode", "random", "--probability", "0.01",
                "-j", "DROP");
        router.exec("iptables", "-t", "mangle", "-A", "PREROUTING", "-i", "vr", "-m", "statistic", "--mode",
                "random", "--probability", "0.005", "-j", "TEE", "--gateway", "10.77.0.2");
        router.exec("iptables", "-t", "mangle", "-A", "PREROUTING", "-i", net.interfaceName, "-m", "statistic",
                "--mode", "random", "--probability", "0.005", "-j", "TEE", "--gateway", "10.78.0.2");

        return router;
    }

    private static FaultInjectingDevice reordering(TapNetwork net) {
        return new FaultInjectingDevice(net.device, FaultConfig.builder().seed(11)
                .direction(FaultConfig.Direction.RECEIVE).reorder(0.005).build(), NanoClock.system());
    }

    private static long routerDrops(NetNamespace router) throws Exception {
        String rules = router.exec("iptables", "-L", "FORWARD", "-v", "-x", "-n");
        Matcher m = DROPS.matcher(rules);
        assertTrue(m.find(), rules);
        return Long.parseLong(m.group(1));
    }

    @Test
    void aZStackClientStreamsThroughAKernelEchoServerOverTheSamePath(@TempDir Path dir) throws Exception {
        Path script = TcpTapInteropTest.peerScript(dir);
        try (TapNetwork net = TapNetwork.create("10.77.0.1", PortConfig.defaults());
             NetNamespace client = NetNamespace.create()) {
            NetNamespace router = impair(net, client);
            Process server = new ProcessBuilder("ip", "netns", "exec", client.name(), "/usr/bin/python3",
                    script.toString(), "echo-server", "10.78.0.2", "7001").redirectErrorStream(true).start();
            FaultInjectingDevice reordering = reordering(net);
            try (NetStack stack = new NetStack(reordering, Ipv4Config.parse("10.77.0.2/24", "10.77.0.1"))) {
                assertEquals("listening\n", new String(server.getInputStream().readNBytes("listening\n".length())));
                TcpTapInteropTest.StreamingClient streaming = new TcpTapInteropTest.StreamingClient(stack,
                        Ipv4Packet.parseAddress("10.78.0.2"), 7001, BYTES, 5, net.pool);
                try (TcpTapInteropTest.Runner runner = new TcpTapInteropTest.Runner(stack, streaming)) {
                    streaming.awaitEnd(TimeUnit.SECONDS.toNanos(300));
                }
                streaming.assertEchoed(stack);
                assertTrue(server.waitFor(30, TimeUnit.SECONDS));
                String out = new String(server.getInputStream().readAllBytes());
                assertTrue(out.contains("echoed " + BYTES), out);
                long drops = routerDrops(router);
                assertTrue(drops > 100, "the router dropped " + drops + " packets");
                assertTrue(stack.tcp().counters().retransmittedSegments > 0, stack.tcp().counters().toString());
                System.out.println("lossy interop, ZStack client: router dropped " + drops + " packets; "
                        + stack.tcp().counters() + "; " + reordering.counters());
            } finally {
                server.destroyForcibly();
            }
        }
    }
}
