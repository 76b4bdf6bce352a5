package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.NetDevice;
import io.zstack.wire.Ethernet;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** The loopback between a group's stacks when they stop one after the other. */
class LoopbackFabricTest {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /**
     * A stack that is still stopping sends its RSTs to one that has stopped: the frame is dropped and its mbuf goes
     * home. It used to wait in the stopped stack's ring for good (the "1 mbufs of zstack-loop1 still referenced"
     * that LocalPathsBenchmark logged after each ZStack TCP run: 14 mbufs in 3 rounds of a 16-connection echo, 0
     * after). Without the fix, the pool here stays one mbuf short.
     */
    @Test
    void aFrameForAStoppedStackIsFreed() {
        try (JavaMbufPool pool0 = new JavaMbufPool("fabric0", 64); JavaMbufPool pool1 = new JavaMbufPool("fabric1", 64)) {
            LoopbackFabric fabric = new LoopbackFabric(2);
            NetDevice lo0 = fabric.port(0, pool0, () -> { });
            NetDevice lo1 = fabric.port(1, pool1, () -> { });
            lo0.close();
            MbufBurst burst = new MbufBurst(4);
            burst.add(tcpFrameFor(0, pool1));
            assertEquals(pool1.capacity() - 1, pool1.available());
            lo1.transmit(burst);
            assertEquals(0, burst.size(), "taken");
            assertEquals(pool1.capacity(), pool1.available(), "the frame for the stopped stack was freed");
            lo1.close();
        }
    }

    /** A TCP frame of 127.0.0.1 to itself whose ports the flow hash steers to stack {@code owner} of two. */
    private static long tcpFrameFor(int owner, JavaMbufPool pool) {
        int localhost = 0x7f000001;
        for (int port = 40000; ; port++) {
            if (ZStackFlows.queueOf(localhost, port, localhost, 80, 2) != owner) {
                continue;
            }
            long m = pool.alloc();
            int length = Ethernet.HEADER_LENGTH + 20 + 20;
            Mbuf.setDataLen(m, length);
            Mbuf.setPktLen(m, length);
            MemorySegment f = MemorySegment.ofAddress(Mbuf.dataAddress(m)).reinterpret(length);
            f.fill((byte) 0);
            f.set(U16, 12, (short) Ethernet.TYPE_IPV4);
            int ip = Ethernet.HEADER_LENGTH;
            f.set(ValueLayout.JAVA_BYTE, ip, (byte) 0x45);
            f.set(ValueLayout.JAVA_BYTE, ip + 9, (byte) 6);
            f.set(U32, ip + 12, localhost);
            f.set(U32, ip + 16, localhost);
            f.set(U16, ip + 20, (short) port);
            f.set(U16, ip + 22, (short) 80);
            return m;
        }
    }
}
