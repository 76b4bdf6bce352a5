package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.ip.Ipv4Config;
import io.zstack.wire.MacAddress;
import org.junit.jupiter.api.Test;

/**
 * How often a receiver whose application reads at once acknowledges full segments: every second one (RFC 9293
 * §3.8.6.3), with no window update between (receiver SWS avoidance moves the edge by a full segment's payload, the
 * MSS less the timestamp option).
 */
class ReceiverAckPaceTest {

    @Test
    void aReaderThatKeepsUpGetsOneAckPerTwoFullSegments() {
        VirtualClock clock = new VirtualClock();
        try (JavaMbufPool pool = new JavaMbufPool("ack-pace", 4096)) {
            SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0).queueCapacity(1024)
                    .pool(pool).endA("a", MacAddress.of(0x020000000001L), 1500)
                    .endB("b", MacAddress.of(0x020000000002L), 1500).build();
            TcpSettings settings = TcpSettings.builder().nagle(false).build();
            TcpHost a = new TcpHost(link.a(), new Ipv4Config(0x0a000001, 24, 0), settings, new IsnGenerator(1, 2), 1, 0);
            TcpHost b = new TcpHost(link.b(), new Ipv4Config(0x0a000002, 24, 0), settings, new IsnGenerator(3, 4), 2, 0);
            TcpListener listener = b.tcp().listen(0, 80, settings);
            TcpConnection client = a.tcp().connect(0, 0, 0x0a000002, 80, settings, null, 0);
            TcpConnection server = null;
            for (int i = 0; i < 1000 && (server == null || client.state() != TcpState.ESTABLISHED); i++) {
                clock.advance(1_000);
                a.poll(clock.now());
                b.poll(clock.now());
                if (server == null) {
                    server = listener.accept();
                }
            }
            assertEquals(TcpState.ESTABLISHED, client.state());
            int mss = client.sendMss();
            assertEquals(1448, mss, "MTU 1500 with timestamps");
            long acksBefore = 0;
            long read = 0;
            int warmUp = 40; // past the quick ACKs of a new connection's first segments
            int segments = 200;
            for (int i = 0; i < warmUp + segments; i++) {
                if (i == warmUp) {
                    acksBefore = b.tcp().counters().segmentsSent;
                }
                long m = pool.alloc();
                Mbuf.append(m, mss);
                assertTrue(client.write(m, clock.now()));
                clock.advance(1_000);
                a.poll(clock.now());
                b.poll(clock.now());
                long chain;
                while ((chain = server.read(clock.now())) != 0) {
                    read += Mbuf.pktLen(chain);
                    pool.free(chain);
                }
                a.poll(clock.now());
            }
            assertEquals((long) (warmUp + segments) * mss, read);
            assertEquals(segments / 2, b.tcp().counters().segmentsSent - acksBefore,
                    "one ACK per two full segments, no window updates between");
            a.close();
            b.close();
            link.close();
        }
    }
}
