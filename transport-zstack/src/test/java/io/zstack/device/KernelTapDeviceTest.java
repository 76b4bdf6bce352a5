package io.zstack.device;

import static io.zstack.device.TestFrames.EXPERIMENTAL;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.MbufBurst;
import io.zstack.testing.NetNamespace;
import io.zstack.wire.MacAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link KernelTapDevice}'s transmit side, against the kernel's end of the TAP in a namespace the test creates. */
class KernelTapDeviceTest {

    /**
     * The stack's frames have headroom for the virtio-net header; a frame that has none (built elsewhere, or an mbuf
     * whose data starts at its buffer) goes with a header mbuf of the device's own in front. Either way the kernel's
     * end gets the frame byte for byte, chained or not, and every mbuf comes back to the pool.
     */
    @Test
    void framesWithAndWithoutHeadroomReachTheKernelIntact(@TempDir Path dir) throws Exception {
        NetNamespace.requireRoot();
        Path capture = dir.resolve("capture.py");
        Files.writeString(capture, String.join("\n",
                "import socket, sys",
                "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))",
                "s.bind((sys.argv[1], 0x88b5))",
                "s.settimeout(10)",
                "print('ready', flush=True)",
                "for i in range(int(sys.argv[2])):",
                "    print(s.recv(65536).hex(), flush=True)",
                ""));
        JavaMbufPool pool = new JavaMbufPool("ktap-headroom", 64, 2176);
        int[] lengths = {100, 300, 1500, 3000}; // the last two are chains: 1500 split 60 / 1440 below, 3000 by room
        try (NetNamespace ns = NetNamespace.create()) {
            KernelTapDevice device = ns.call(() -> new KernelTapDevice("zktapd1", false, pool, false,
                    MacAddress.of(0x02_5a_00_00_00_02L), 1500));
            try {
                ns.exec("ip", "link", "set", "zktapd1", "up");
                Process receiver = new ProcessBuilder("ip", "netns", "exec", ns.name(), "/usr/bin/python3",
                        capture.toString(), "zktapd1", Integer.toString(2 * lengths.length)).start();
                try {
                    assertEquals("ready\n", new String(receiver.getInputStream().readNBytes(6)));
                    MbufBurst queue = new MbufBurst(16);
                    int seq = 0;
                    for (int length : lengths) {
                        queue.add(TestFrames.frame(pool, seq++, length, EXPERIMENTAL));
                        queue.add(withoutHeadroom(pool, seq++, length));
                    }
                    int taken = device.transmit(queue);
                    assertEquals(2 * lengths.length, taken, device.statistics());
                    assertEquals(0, device.transmitErrors(), device.statistics());
                    List<String> got = new String(receiver.getInputStream().readAllBytes()).lines().toList();
                    assertEquals(2 * lengths.length, got.size(), String.join("\n", got));
                    for (int i = 0; i < got.size(); i++) {
                        assertEquals(HexFormat.of().formatHex(TestFrames.bytes(i, lengths[i / 2], EXPERIMENTAL)),
                                got.get(i), "frame " + i);
                    }
                } finally {
                    receiver.destroyForcibly();
                }
            } finally {
                device.close();
            }
        }
        pool.close(); // throws if an mbuf leaked
    }

    /** Frame {@code seq} with its data at the very start of each buffer: no room for a header in front. */
    private static long withoutHeadroom(JavaMbufPool pool, int seq, int length) {
        // the first piece short, so a chain starts with an inner piece the kernel must join
        return TestFrames.chain(pool, TestFrames.bytes(seq, length, EXPERIMENTAL), false, length > 1000 ? 60 : length);
    }
}
