package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.ip.Ipv4Config;
import io.zstack.wire.MacAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * How often a receiver acknowledges: every second full segment (RFC 9293 §3.8.6.3) when they come one per round, one
 * ACK for the full segments of one receive burst, none of its own when the application answers in the same round (the
 * answer carries it), and a window update after a read only when the window the peer knows is down to half the buffer
 * (receiver SWS avoidance moves the edge by a full segment's payload, the MSS less the timestamp option).
 */
class ReceiverAckPaceTest {
    private static final int WARM_UP = 40; // past the quick ACKs of a new connection's first segments

    private final VirtualClock clock = new VirtualClock();
    private JavaMbufPool pool;
    private SimulatedLink link;
    private TcpHost a;
    private TcpHost b;
    private TcpConnection client;
    private TcpConnection server;
    private int mss;

    @BeforeEach
    void connect() {
        connect(TcpSettings.builder().nagle(false).build());
    }

    private void connect(TcpSettings settings) {
        close();
        pool = new JavaMbufPool("ack-pace", 4096);
        link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0).queueCapacity(1024)
                .pool(pool).endA("a", MacAddress.of(0x020000000001L), 1500)
                .endB("b", MacAddress.of(0x020000000002L), 1500).build();
        a = new TcpHost(link.a(), new Ipv4Config(0x0a000001, 24, 0), settings, new IsnGenerator(1, 2), 1, 0);
        b = new TcpHost(link.b(), new Ipv4Config(0x0a000002, 24, 0), settings, new IsnGenerator(3, 4), 2, 0);
        TcpListener listener = b.tcp().listen(0, 80, settings);
        client = a.tcp().connect(0, 0, 0x0a000002, 80, settings, null, 0);
        server = null;
        for (int i = 0; i < 1000 && (server == null || client.state() != TcpState.ESTABLISHED); i++) {
            clock.advance(1_000);
            a.poll(clock.now());
            b.poll(clock.now());
            if (server == null) {
                server = listener.accept();
            }
        }
        assertEquals(TcpState.ESTABLISHED, client.state());
        mss = client.sendMss();
        assertEquals(1448, mss, "MTU 1500 with timestamps");
        for (int i = 0; i < WARM_UP; i++) {
            send(mss);
            exchange();
            readAll(server);
            a.poll(clock.now());
        }
    }

    @AfterEach
    void close() {
        if (a != null) {
            a.close();
            b.close();
            link.close();
            pool.close();
            a = null;
        }
    }

    @Test
    void aReaderThatKeepsUpGetsOneAckPerTwoFullSegments() {
        long acksBefore = b.tcp().counters().segmentsSent;
        long read = 0;
        int segments = 200;
        for (int i = 0; i < segments; i++) {
            send(mss);
            exchange();
            read += readAll(server);
            a.poll(clock.now());
        }
        assertEquals((long) segments * mss, read);
        assertEquals(segments / 2, b.tcp().counters().segmentsSent - acksBefore,
                "one ACK per two full segments, no window updates between");
    }

    @Test
    void theFullSegmentsOfOneBurstShareOneAck() {
        send(8192); // six segments, sent in one burst and received in one
        clock.advance(1_000);
        a.poll(clock.now());
        long before = b.tcp().counters().segmentsSent;
        b.poll(clock.now());
        assertEquals(1, b.tcp().counters().segmentsSent - before, "one ACK for the burst, not one per two segments");
        a.poll(clock.now());
        assertEquals(0, client.sendQueued(), "that ACK acknowledged all six");
    }

    @Test
    void anAnswerWrittenInTheSameRoundCarriesTheAck() {
        send(8192);
        clock.advance(1_000);
        a.poll(clock.now());
        long before = b.tcp().counters().segmentsSent;
        b.input(clock.now()); // the round's input; then the application's task reads and answers
        assertEquals(8192, readAll(server));
        assertEquals(0, b.tcp().counters().segmentsSent - before, "no bare ACK and no window update before the answer");
        long answer = pool.alloc();
        Mbuf.append(answer, 64);
        assertTrue(server.write(answer, clock.now()));
        b.output(clock.now());
        assertEquals(1, b.tcp().counters().segmentsSent - before, "the answer alone, carrying the ACK");
        a.poll(clock.now());
        assertEquals(0, client.sendQueued(), "the answer acknowledged the request");
        assertEquals(64, readAll(client));
    }

    @Test
    void aReadThatReopensAHalfClosedWindowIsAnnouncedAtOnce() {
        connect(TcpSettings.builder().nagle(false).receiveBufferBytes(32 * 1024).build());
        readAll(server);
        for (int i = 0; i < 48; i++) {
            send(mss); // more than the server's buffer: the client ends up held back by the window
        }
        for (int i = 0; i < 20; i++) {
            exchange();
            a.poll(clock.now());
        }
        assertTrue(client.sendQueued() > 32 * 1024 - server.readable(), "the client waits for window");
        long before = b.tcp().counters().segmentsSent;
        for (int i = 0; i < 3; i++) { // two MSS (1,460 each) of room: three segments of 1,448
            long chain = server.read(clock.now());
            assertTrue(chain != 0);
            pool.free(chain);
        }
        assertEquals(1, b.tcp().counters().segmentsSent - before, "a window update at once, before any round's output");
    }

    private void send(int bytes) {
        long m = pool.alloc();
        int room = Mbuf.tailroom(m);
        if (bytes > room) {
            pool.free(m);
            for (int left = bytes; left > 0; left -= room) {
                send(Math.min(left, room));
            }
            return;
        }
        Mbuf.append(m, bytes);
        assertTrue(client.write(m, clock.now()));
    }

    private void exchange() {
        clock.advance(1_000);
        a.poll(clock.now());
        b.poll(clock.now());
    }

    private long readAll(TcpConnection c) {
        long read = 0;
        long chain;
        while ((chain = c.read(clock.now())) != 0) {
            read += Mbuf.pktLen(chain);
            pool.free(chain);
        }
        return read;
    }
}
