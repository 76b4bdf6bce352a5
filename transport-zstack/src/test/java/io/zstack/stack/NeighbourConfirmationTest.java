package io.zstack.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.ip.Ipv4Config;
import io.zstack.tcp.IsnGenerator;
import io.zstack.tcp.TcpConnection;
import io.zstack.tcp.TcpListener;
import io.zstack.tcp.TcpSettings;
import io.zstack.tcp.TcpState;
import io.zstack.wire.MacAddress;
import org.junit.jupiter.api.Test;

/**
 * A connection whose data keeps being acknowledged keeps its next hop fresh, as Linux's TCP confirms neighbours: the
 * sender asks ARP once, at the start, however long it sends. Before, its next hop went stale every reachable time
 * (30 s), and each time it sent a request and took the full send path until the reply. A pure receiver, whose ACKs
 * acknowledge nothing of its own, has no such proof and still asks.
 */
class NeighbourConfirmationTest {
    private static final long SECOND = 1_000_000_000L;

    @Test
    void aSenderWhoseDataIsAcknowledgedAsksArpOnlyOnce() {
        VirtualClock clock = new VirtualClock();
        JavaMbufPool pool = new JavaMbufPool("neighbours", 4096);
        SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(50_000).bitsPerSecond(0).queueCapacity(1024)
                .pool(pool).endA("a", MacAddress.of(0x020000000001L), 1500)
                .endB("b", MacAddress.of(0x020000000002L), 1500).build();
        TcpSettings settings = TcpSettings.builder().nagle(false).build();
        NetStack a = new NetStack(link.a(), new Ipv4Config(0x0a000001, 24, 0), settings, new IsnGenerator(1, 2), 1, 0);
        NetStack b = new NetStack(link.b(), new Ipv4Config(0x0a000002, 24, 0), settings, new IsnGenerator(3, 4), 2, 0);
        try {
            TcpListener listener = b.tcp().listen(0, 80, settings);
            TcpConnection client = a.tcp().connect(0, 0, 0x0a000002, 80, settings, null, 0);
            TcpConnection server = null;
            long received = 0;
            long written = 0;
            // 100 s of a write every 100 ms, read and acknowledged by the other end
            for (int step = 0; step < 100_000; step++) {
                clock.advance(1_000_000);
                a.poll(clock.now());
                b.poll(clock.now());
                if (server == null) {
                    server = listener.accept();
                }
                if (client.state() == TcpState.ESTABLISHED && step % 100 == 0) {
                    long m = pool.alloc();
                    Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
                    Mbuf.append(m, 100);
                    if (client.write(m, clock.now())) {
                        written += 100;
                    } else {
                        pool.free(m);
                    }
                }
                long chain;
                while (server != null && (chain = server.read(clock.now())) != 0) {
                    received += Mbuf.pktLen(chain);
                    pool.free(chain);
                }
            }
            assertTrue(clock.now() >= 100 * SECOND);
            assertTrue(written >= 900 * 100, "the client kept sending: " + written);
            assertEquals(written, received, "everything arrived");
            assertEquals(1, a.ip().counters().arpRequestsSent,
                    "the sender asked once, at the start: its ACKs confirmed the next hop since");
            assertTrue(b.ip().counters().arpRequestsSent >= 2,
                    "the receiver's next hop went stale and was asked again: "
                            + b.ip().counters().arpRequestsSent);
        } finally {
            a.close();
            b.close();
            link.close();
            pool.close();
        }
    }
}
