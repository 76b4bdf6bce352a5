package io.zstack.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.testing.Command;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What PcapDevice writes is read back by tshark: every frame, in order, cut at the snap length, up to the cap. */
class PcapDeviceTest {
    private static long frame(JavaMbufPool pool, int length, int seed) {
        long m = pool.alloc();
        MemorySegment data = MemorySegment.ofAddress(Mbuf.append(m, length)).reinterpret(length);
        for (int i = 0; i < length; i++) {
            data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (seed + i));
        }
        // an Ethernet header tshark accepts: broadcast destination, some source, an unknown ethertype
        data.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, -1L);
        data.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 12, (short) 0xb588);
        return m;
    }

    private static List<String> tshark(Path file) {
        String out = Command.run(30, List.of("tshark", "-r", file.toString(), "-T", "fields", "-e", "frame.len", "-e",
                "frame.cap_len")).requireSuccess(List.of("tshark")).output();
        // tshark's own remarks (e.g. about running as root) share the output: keep the field lines
        return out.lines().map(String::trim).filter(l -> l.matches("\\d+\\s+\\d+")).toList();
    }

    @Test
    void everyFrameSentAndReceivedIsCapturedAndReadableByTshark(@TempDir Path dir) {
        Path file = dir.resolve("capture.pcap");
        try (JavaMbufPool pool = new JavaMbufPool("pcap", 16)) {
            PcapDevice device = new PcapDevice(new LoopbackDevice(pool), file, 200, 1 << 20);
            MbufBurst burst = new MbufBurst(8);
            burst.add(frame(pool, 60, 1));
            burst.add(frame(pool, 1514, 2));
            burst.add(frame(pool, 100, 3));
            assertEquals(3, device.transmit(burst));
            MbufBurst received = new MbufBurst(8);
            assertEquals(3, device.receive(received));
            pool.freeBulk(received, 0, received.size());
            device.close();
            assertEquals(6, device.framesCaptured());
            assertEquals(List.of("60\t60", "1514\t200", "100\t100", "60\t60", "1514\t200", "100\t100"),
                    tshark(file).stream().map(l -> l.replaceAll("\\s+", "\t")).toList());
        }
    }

    @Test
    void theFileStopsGrowingAtItsCapAndTheRestIsCounted(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("capped.pcap");
        long cap = 24 + 2 * (16 + 100);
        try (JavaMbufPool pool = new JavaMbufPool("pcap-cap", 16)) {
            PcapDevice device = new PcapDevice(new LoopbackDevice(pool), file, 100, cap);
            MbufBurst burst = new MbufBurst(8);
            for (int i = 0; i < 5; i++) {
                burst.add(frame(pool, 300, i));
            }
            assertEquals(5, device.transmit(burst));
            MbufBurst received = new MbufBurst(8);
            device.receive(received);
            pool.freeBulk(received, 0, received.size());
            device.close();
            assertEquals(2, device.framesCaptured());
            assertEquals(8, device.framesNotCaptured());
            assertTrue(Files.size(file) <= cap, "file " + Files.size(file) + " bytes, cap " + cap);
            assertEquals(2, tshark(file).size());
        }
    }
}
