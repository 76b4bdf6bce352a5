package io.zstack.device;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.testing.NetNamespace;
import io.zstack.wire.MacAddress;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The steering program a single-queue {@link KernelTapDevice} gives its interface (see
 * {@code TapFile.steerToQueueZero}): the kernel runs it instead of hashing every frame to choose a queue. Shown where
 * the choice is visible, on a two-queue interface: with the program every flow the kernel sends goes to queue 0;
 * taken off again, the kernel spreads the flows over both queues once more.
 */
class TapSteeringTest {
    private static final int FLOWS = 64;

    @Test
    void theProgramPutsEveryFlowOnQueueZeroAndTakingItOffGivesTheChoiceBack(@TempDir Path dir) throws Exception {
        NetNamespace.requireRoot();
        Path sender = udpSender(dir);
        try (NetNamespace ns = NetNamespace.create();
             TapFile first = ns.call(() -> new TapFile("zksteer0", true));
             TapFile second = ns.call(() -> new TapFile("zksteer0", true));
             Arena arena = Arena.ofConfined()) {
            ns.exec("ip", "link", "set", "zksteer0", "up");
            Queues queues = new Queues(arena, first, second);
            queues.drain(); // what the kernel sent on its own when the interface came up (IPv6 solicitations)

            assertTrue(first.steerToQueueZero(), "the kernel took the steering program");
            ns.exec("/usr/bin/python3", sender.toString(), "zksteer0", Integer.toString(FLOWS));
            int[] steered = queues.count(FLOWS);
            assertEquals(FLOWS, steered[0], "every flow on queue 0 with the program");
            assertEquals(0, steered[1], "none on queue 1 with the program");

            assertTrue(first.clearSteering(), "the program came off");
            ns.exec("/usr/bin/python3", sender.toString(), "zksteer0", Integer.toString(FLOWS));
            int[] chosen = queues.count(FLOWS);
            assertEquals(FLOWS, chosen[0] + chosen[1], "every frame arrived");
            // 64 flows hashed over two queues: all on one of them has a chance of 2^-63
            assertTrue(chosen[0] > 0 && chosen[1] > 0, "the kernel spreads the flows again: " + chosen[0] + " / "
                    + chosen[1]);
        }
    }

    /**
     * A single-queue device steers (the common case, where the hash is wasted); a multi-queue one leaves the choice to
     * the kernel, which is what spreads flows over its queues. Closing takes the program off, and the interface, made
     * beforehand, can be opened and steered again.
     */
    @Test
    void onlyASingleQueueDeviceSteersAndItsCloseTakesTheProgramOff() throws Exception {
        NetNamespace.requireRoot();
        JavaMbufPool pool = new JavaMbufPool("ktap-steer", 256, 2176);
        try (NetNamespace ns = NetNamespace.create()) {
            ns.exec("ip", "tuntap", "add", "dev", "zksteer1", "mode", "tap", "vnet_hdr");
            for (int open = 0; open < 2; open++) {
                assertSteering(ns, pool, "zksteer1", false, 0x02_5a_00_00_00_03L, true);
            }
            assertSteering(ns, pool, "zksteer2", true, 0x02_5a_00_00_00_04L, false);
        }
        pool.close(); // throws if an mbuf leaked
    }

    /** Opens interface {@code name} in {@code ns} as a device, checks whether it steers to queue 0, closes it. */
    private static void assertSteering(NetNamespace ns, JavaMbufPool pool, String name, boolean multiQueue, long mac,
                                       boolean steers) throws Exception {
        KernelTapDevice device = ns.call(() -> new KernelTapDevice(name, multiQueue, pool, false, MacAddress.of(mac),
                1500));
        try {
            assertEquals(steers, device.steersToQueueZero(), device.statistics());
            assertTrue(device.statistics().contains(steers ? " steering=queue0" : " steering=kernel"),
                    device.statistics());
        } finally {
            device.close();
        }
    }

    /** A script that sends {@code argv[2]} UDP frames, each of its own flow (source port), out of {@code argv[1]}. */
    private static Path udpSender(Path dir) throws Exception {
        Path script = dir.resolve("udp.py");
        Files.writeString(script, String.join("\n",
                "import socket, struct, sys",
                "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)",
                "s.bind((sys.argv[1], 0))",
                "def csum(b):",
                "    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))",
                "    t = (t >> 16) + (t & 0xffff)",
                "    return ~(t + (t >> 16)) & 0xffff",
                "for i in range(int(sys.argv[2])):",
                "    udp = struct.pack('!HHHH', 10000 + i, 9, 8 + 4, 0) + b'flow'",
                "    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,",
                "                     bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2]))",
                "    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]",
                "    eth = bytes.fromhex('025a00000009') + bytes.fromhex('025a00000008') + b'\\x08\\x00'",
                "    s.send(eth + ip + udp)",
                ""));
        return script;
    }

    /** Reads both queues of the interface, counting frames per queue. */
    private static final class Queues {
        private final TapFile[] files;
        private final long iov;

        Queues(Arena arena, TapFile... files) {
            this.files = files;
            MemorySegment buffer = arena.allocate(65536 + TapFile.VNET_HEADER_LENGTH, 8);
            MemorySegment iovec = arena.allocate(16, 8);
            iovec.set(JAVA_LONG, 0, buffer.address());
            iovec.set(JAVA_LONG, 8, buffer.byteSize());
            this.iov = iovec.address();
        }

        /** Reads until {@code expected} UDP-sized frames came (other frames are not counted), or 5 s passed. */
        int[] count(int expected) throws InterruptedException {
            int[] counts = new int[files.length];
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (counts[0] + counts[1] < expected && System.nanoTime() < deadline) {
                boolean any = false;
                for (int q = 0; q < files.length; q++) {
                    long n = files[q].readv(iov, 1);
                    if (n == TapFile.VNET_HEADER_LENGTH + 14 + 20 + 12) { // our UDP frames, nothing else
                        counts[q]++;
                    }
                    any |= n > 0;
                }
                if (!any) {
                    Thread.sleep(1);
                }
            }
            return counts;
        }

        /** Reads what is queued now, for 200 ms. */
        void drain() throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
            while (System.nanoTime() < deadline) {
                for (TapFile file : files) {
                    file.readv(iov, 1);
                }
                Thread.sleep(1);
            }
        }
    }
}
