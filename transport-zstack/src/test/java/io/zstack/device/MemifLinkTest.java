package io.zstack.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Two DPDK memif ports in one process, server and client over a unix socket: frames cross DPDK's shared-memory
 * data path both ways, every byte checked, every mbuf returned to its pool.
 */
class MemifLinkTest {
    private static final int FRAMES = 2000;

    @Test
    void framesCrossAMemifLinkBothWaysIntact() throws Exception {
        Path dir = Files.createTempDirectory("zstack-memif");
        String socket = dir.resolve("memif.sock").toString();
        try (DpdkMbufPool serverPool = DpdkMbufPool.create("memif-srv", 4095, 0, 2176);
             DpdkMbufPool clientPool = DpdkMbufPool.create("memif-cli", 4095, 0, 2176)) {
            DpdkPortDevice server = DpdkPortDevice.open(Vdevs.memifServer(11, socket), PortConfig.defaults(), serverPool);
            DpdkPortDevice client = null;
            try {
                client = DpdkPortDevice.open(Vdevs.memifClient(12, socket), PortConfig.defaults(), clientPool);
                waitForLink(server, client);
                Calls first = exchange(client, server, 1);
                Calls second = exchange(server, client, 2);
                // the statistics line counts the calls each end made (rx_burst, those that returned frames, tx_burst)
                assertCalls(client, first.transmit, second.receive, second.bursts);
                assertCalls(server, second.transmit, first.receive, first.bursts);
            } finally {
                if (client != null) {
                    client.close();
                }
                server.close();
            }
            assertEquals(serverPool.capacity(), serverPool.available(), "server pool leaked mbufs");
            assertEquals(clientPool.capacity(), clientPool.available(), "client pool leaked mbufs");
        } finally {
            Files.deleteIfExists(Path.of(socket));
            Files.deleteIfExists(dir);
        }
    }

    private static void waitForLink(DpdkPortDevice a, DpdkPortDevice b) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!(a.port().info().linkUp() && b.port().info().linkUp())) {
            assertTrue(System.nanoTime() < deadline, "memif link did not come up in 10 s");
            Thread.sleep(10);
        }
    }

    /** The device calls an exchange made: tx_burst on the sender; rx_burst, and those with frames, on the receiver. */
    private record Calls(long transmit, long receive, long bursts) {
    }

    private static void assertCalls(DpdkPortDevice device, long transmit, long receive, long bursts) {
        String line = device.statistics();
        assertEquals(transmit, counter(line, "txCalls"), line);
        assertEquals(receive, counter(line, "rxCalls"), line);
        assertEquals(bursts, counter(line, "rxBursts"), line);
    }

    private static long counter(String line, String name) {
        Matcher m = Pattern.compile(" " + name + "=(\\d+)").matcher(line);
        assertTrue(m.find(), name + " missing from " + line);
        return Long.parseLong(m.group(1));
    }

    /**
     * Sends FRAMES frames of varying size and content from one end; the other must see each one, in order. Returns
     * the calls it made.
     */
    private static Calls exchange(DpdkPortDevice from, DpdkPortDevice to, long seed) {
        SplittableRandom sent = new SplittableRandom(seed);
        SplittableRandom expected = new SplittableRandom(seed);
        MbufBurst tx = new MbufBurst(32);
        MbufBurst rx = new MbufBurst(32);
        int queued = 0;
        int received = 0;
        long transmitCalls = 0;
        long receiveCalls = 0;
        long bursts = 0;
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (received < FRAMES) {
            assertTrue(System.nanoTime() < deadline, "only " + received + " of " + FRAMES + " frames arrived");
            while (queued < FRAMES && !tx.isFull()) {
                long m = from.pool().alloc();
                assertTrue(m != 0, "sender pool empty");
                byte[] frame = frame(sent, queued);
                MemorySegment.copy(frame, 0, MemorySegment.ofAddress(Mbuf.append(m, frame.length)).reinterpret(frame.length),
                        ValueLayout.JAVA_BYTE, 0, frame.length);
                tx.add(m);
                queued++;
            }
            if (tx.size() > 0) {
                transmitCalls++; // one tx_burst: the ring has room for a burst (it stops at the first short one)
            }
            from.transmit(tx);
            int n = to.receive(rx);
            receiveCalls++;
            bursts += n > 0 ? 1 : 0;
            for (int i = 0; i < n; i++) {
                long m = rx.get(i);
                assertArrayEquals(frame(expected, received), Mbuf.toByteArray(m), "frame " + received);
                received++;
            }
            to.pool().freeBulk(rx, 0, n);
        }
        // anything the sender could not hand over is ours to free
        from.pool().freeBulk(tx, 0, tx.size());
        assertEquals(FRAMES, received);
        return new Calls(transmitCalls, receiveCalls, bursts);
    }

    private static byte[] frame(SplittableRandom random, int index) {
        byte[] frame = new byte[60 + random.nextInt(1514 - 60 + 1)];
        random.nextBytes(frame);
        frame[0] = (byte) (index >>> 8); // sequence in the first bytes so a reordering shows as a mismatch
        frame[1] = (byte) index;
        return frame;
    }
}
