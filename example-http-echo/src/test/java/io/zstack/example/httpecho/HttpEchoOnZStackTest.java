package io.zstack.example.httpecho;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.Channel;
import io.zstack.testing.Command;
import io.zstack.testing.NetNamespace;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The README's main job as a test: the HTTP echo server on ZStack over a DPDK tap in a namespace of its own, and
 * curl on the kernel side of the tap as the client.
 */
class HttpEchoOnZStackTest {
    /** Netty's HTTP codec and the lean handler (which must answer curl's Expect: 100-continue for the 3 MB body). */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void curlTalksToTheEchoServerOnZStackOverATap(boolean lean, @TempDir Path dir) throws Exception {
        try (NetNamespace ns = NetNamespace.create()) {
            String iface = lean ? "zshttp1" : "zshttp0";
            // the tap appears in the namespace of the thread that creates the group (it probes the device)
            HttpEchoServer.Transport transport = ns.call(() -> HttpEchoServer.Transport.of("zstack", 1,
                    (lean ? "net_tap41" : "net_tap40") + ",iface=" + iface, "10.79.0.2/24", null, dir));
            try {
                Channel server = HttpEchoServer.start(transport, new InetSocketAddress("0.0.0.0", 8080), false, null,
                        lean);
                ns.exec("ip", "link", "set", iface, "address", "02:00:00:00:00:01");
                ns.exec("ip", "addr", "add", "10.79.0.1/24", "dev", iface);
                ns.exec("ip", "link", "set", iface, "up");

                String sized = ns.exec("curl", "-sS", "--max-time", "10", "http://10.79.0.2:8080/size/100");
                assertEquals("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv",
                        sized.trim());

                byte[] body = new byte[3_000_000];
                new Random(5).nextBytes(body);
                Path in = dir.resolve("body.bin");
                Path out = dir.resolve("echo.bin");
                Files.write(in, body);
                Command.Result posted = ns.execResult(60, "curl", "-sS", "--max-time", "30", "-o", out.toString(),
                        "-w", "%{http_code}", "--data-binary", "@" + in, "http://10.79.0.2:8080/echo");
                assertEquals("200", posted.output().trim(), () -> posted.output() + "\n" + connections(transport));
                byte[] echoed = Files.readAllBytes(out);
                assertEquals(sha256(body), sha256(echoed), "the 3 MB body came back unchanged");
                assertTrue(echoed.length == body.length);
                String stats = ns.exec("curl", "-sS", "--max-time", "10", "http://10.79.0.2:8080/stats");
                assertTrue(stats.contains("passiveOpens=") && stats.contains("10.79.0.2:8080 > 10.79.0.1:"),
                        "GET /stats shows the stack's counters and this very connection:\n" + stats);
                server.close().sync();
            } finally {
                transport.group().shutdownGracefully(0, 5, java.util.concurrent.TimeUnit.SECONDS).sync();
            }
            // the loop's capture, read by tshark: the requests curl sent and the answers ZStack gave
            String http = Command.run(60, java.util.List.of("tshark", "-r", dir.resolve("zstack-loop0.pcap").toString(),
                    "-Y", "http", "-T", "fields", "-e", "http.request.uri", "-e", "http.response.code")).output();
            assertTrue(http.contains("/size/100") && http.contains("/echo") && http.contains("200"),
                    "the capture holds the HTTP exchange:\n" + http);
        }
    }

    /**
     * Two loops on the two queues of one af_packet port (a veth with two queues; the kernel's fanout spreads the
     * flows): every one of 40 curls, each a new connection, gets its answer. The client's ARP frames land on one
     * queue only, so this needs the loops to share what ARP teaches (before they did, 28 of 40 timed out).
     */
    @Test
    void curlGetsEveryAnswerFromTwoLoopsOnTwoQueues() throws Exception {
        try (NetNamespace server = NetNamespace.create(); NetNamespace client = NetNamespace.create()) {
            server.exec("ip", "link", "add", "vq", "numtxqueues", "2", "numrxqueues", "2", "type", "veth", "peer",
                    "name", "vc", "netns", client.name(), "numtxqueues", "2", "numrxqueues", "2");
            for (NetNamespace ns : java.util.List.of(server, client)) {
                String iface = ns == server ? "vq" : "vc";
                ns.exec("ethtool", "-K", iface, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
                ns.exec("ip", "link", "set", iface, "up");
                ns.exec("ip", "link", "set", "lo", "up");
            }
            client.exec("ip", "addr", "add", "10.82.0.1/24", "dev", "vc");
            HttpEchoServer.Transport transport = server.call(() -> HttpEchoServer.Transport.of("zstack", 2,
                    "net_af_packet41,iface=vq,qpairs=2", "10.82.0.2/24", null));
            try {
                Channel channel = HttpEchoServer.start(transport, new InetSocketAddress("0.0.0.0", 8080));
                int answered = 0;
                StringBuilder failures = new StringBuilder();
                for (int i = 0; i < 40; i++) {
                    Command.Result r = client.execResult(10, "curl", "-sS", "--max-time", "3", "--data",
                            "request-" + i, "http://10.82.0.2:8080/echo");
                    if (r.output().trim().equals("request-" + i)) {
                        answered++;
                    } else {
                        failures.append(i).append(": ").append(r.output().trim()).append('\n');
                    }
                }
                assertEquals(40, answered, failures + connections(transport));
                for (io.zstack.channel.ZStackEventLoop loop
                        : ((io.zstack.channel.ZStackEventLoopGroup) transport.group()).loops()) {
                    long opens = loop.counters().get().get("tcp.passiveOpens");
                    assertTrue(opens > 0, loop + " served none of the connections: both queues must carry flows");
                }
                channel.close().sync();
            } finally {
                transport.group().shutdownGracefully(0, 5, java.util.concurrent.TimeUnit.SECONDS).sync();
            }
        }
    }

    private static String connections(HttpEchoServer.Transport transport) {
        StringBuilder sb = new StringBuilder();
        for (io.zstack.channel.ZStackEventLoop loop : ((io.zstack.channel.ZStackEventLoopGroup) transport.group()).loops()) {
            sb.append(loop.describeConnections().syncUninterruptibly().getNow());
        }
        return sb.toString();
    }

    private static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }
}
