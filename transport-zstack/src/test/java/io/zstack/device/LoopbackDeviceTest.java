package io.zstack.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.wire.MacAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class LoopbackDeviceTest {
    private final JavaMbufPool pool = new JavaMbufPool("lo-test", 256);
    private LoopbackDevice lo;

    @AfterEach
    void noLeak() {
        if (lo != null) {
            lo.close();
        }
        assertEquals(pool.capacity(), pool.available(), "every mbuf back in the pool");
        pool.close();
    }

    @Test
    void framesComeBackInOrderWithoutCopy() {
        lo = new LoopbackDevice("lo", pool, 64, 65535);
        MbufBurst tx = new MbufBurst(16);
        MbufBurst rx = new MbufBurst(7); // smaller than tx: several receives per transmit
        long[] sent = new long[100];
        int next = 0;
        int received = 0;
        while (received < 100) {
            while (next < 100 && !tx.isFull()) {
                sent[next] = TestFrames.frame(pool, next);
                tx.add(sent[next++]);
            }
            assertEquals(tx.size(), lo.transmit(tx));
            int n;
            while ((n = lo.receive(rx)) > 0) {
                for (int i = 0; i < n; i++) {
                    long m = rx.get(i);
                    assertEquals(sent[received], m, "the very mbuf sent");
                    assertEquals(received, TestFrames.seqOf(m));
                    received++;
                }
                pool.freeBulk(rx, 0, n);
            }
        }
        assertEquals(0, lo.receive(rx));
        assertEquals(0, rx.size());
    }

    @Test
    void fullQueueTakesFewerAndLeavesTheRestWithTheCaller() {
        lo = new LoopbackDevice("lo", pool, 8, 1500);
        MbufBurst tx = new MbufBurst(16);
        for (int i = 0; i < 10; i++) {
            tx.add(TestFrames.frame(pool, i));
        }
        assertEquals(8, lo.transmit(tx));
        assertEquals(2, tx.size(), "the two that did not fit stay in the burst");
        assertEquals(8, TestFrames.seqOf(tx.get(0)));
        assertEquals(9, TestFrames.seqOf(tx.get(1)));
        assertEquals(8, lo.queued());
        assertEquals(0, lo.transmit(tx), "still full");

        MbufBurst rx = new MbufBurst(4);
        assertEquals(4, lo.receive(rx));
        for (int i = 0; i < 4; i++) {
            assertEquals(i, TestFrames.seqOf(rx.get(i)));
        }
        pool.freeBulk(rx, 0, 4);
        assertEquals(2, lo.transmit(tx));
        assertEquals(0, tx.size());

        MbufBurst all = new MbufBurst(32);
        assertEquals(6, lo.receive(all));
        for (int i = 0; i < 6; i++) {
            assertEquals(4 + i, TestFrames.seqOf(all.get(i)));
        }
        pool.freeBulk(all, 0, 6);
    }

    @Test
    void closeFreesQueuedFrames() {
        lo = new LoopbackDevice(pool);
        MbufBurst tx = new MbufBurst(32);
        for (int i = 0; i < 32; i++) {
            tx.add(TestFrames.frame(pool, i, 1500 + 14));
        }
        lo.transmit(tx);
        assertEquals(pool.capacity() - 32, pool.available());
        lo.close();
        assertEquals(pool.capacity(), pool.available());
        lo.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> lo.receive(tx));
    }

    @Test
    void describesAReliableMedium() {
        lo = new LoopbackDevice(pool);
        assertEquals(DeviceCapabilities.RELIABLE_MEDIUM, lo.capabilities());
        assertEquals(MacAddress.ZERO, lo.macAddress());
        assertEquals(LoopbackDevice.DEFAULT_MTU, lo.mtu());
        assertEquals(pool, lo.pool());
        assertEquals("lo", lo.name());

        MbufBurst burst = new MbufBurst(1);
        long m = TestFrames.frame(pool, 5);
        byte[] bytes = Mbuf.toByteArray(m);
        Mbuf.setOlFlags(m, Mbuf.LAYOUT.txIpChecksum | Mbuf.LAYOUT.txTcpChecksum);
        burst.add(m);
        lo.transmit(burst);
        assertEquals(1, lo.receive(burst));
        assertArrayEquals(bytes, Mbuf.toByteArray(burst.get(0)));
        assertEquals(Mbuf.LAYOUT.rxIpChecksumGood | Mbuf.LAYOUT.rxL4ChecksumGood, Mbuf.olFlags(burst.get(0)),
                "received as verified, tx requests gone");
        pool.free(burst.get(0));
    }
}
