package io.zstack.buffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.dpdk.DpdkPort;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.PortStats;
import io.zstack.dpdk.Vdevs;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** A net_ring port sends into its own receive ring: every frame and byte comes back, and no mbuf is lost. */
class RingPortTest {

    @Test
    void framesSentOnARingPortComeBackByteForByte() {
        try (DpdkMbufPool pool = DpdkMbufPool.create("ring-test", 1023, 0, 2176);
             DpdkPort port = DpdkPort.probe(Vdevs.ring(7))) {
            port.configure(PortConfig.defaults(), pool.mempool().address());
            port.start();
            MbufBurst tx = new MbufBurst(32);
            assertTrue(pool.allocBulk(tx, 32));
            for (int i = 0; i < 32; i++) {
                long m = tx.get(i);
                long data = Mbuf.append(m, 60 + i);
                MemorySegment bytes = MemorySegment.ofAddress(data).reinterpret(60 + i);
                for (int b = 0; b < 60 + i; b++) {
                    bytes.set(java.lang.foreign.ValueLayout.JAVA_BYTE, b, (byte) (i * 7 + b));
                }
            }
            assertEquals(32, port.txBurst(0, tx.address(0), 32));
            MbufBurst rx = new MbufBurst(64);
            int n = port.rxBurst(0, rx.address(0), 64);
            assertEquals(32, n);
            for (int i = 0; i < n; i++) {
                long m = rx.get(i);
                byte[] expected = new byte[60 + i];
                for (int b = 0; b < expected.length; b++) {
                    expected[b] = (byte) (i * 7 + b);
                }
                assertArrayEquals(expected, Mbuf.toByteArray(m));
            }
            pool.freeBulk(rx, 0, n);
            PortStats stats = port.stats();
            assertEquals(32, stats.opackets());
            assertEquals(32, stats.ipackets());
            port.stop();
            assertEquals(pool.capacity(), pool.available(), "every mbuf back in the pool");
        }
    }
}
