package io.zstack.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.ip.Ipv4Config;
import io.zstack.wire.MacAddress;
import org.junit.jupiter.api.Test;

/**
 * One input takes what the device holds in bursts of 32, as long as each comes back full, and at most four of them
 * (128 frames): the rest waits for the next round, so a flood cannot hold a loop in its input.
 */
class NetStackInputTest {

    @Test
    void oneInputTakesFullBurstsUpToFourAndLeavesTheRestForTheNext() {
        VirtualClock clock = new VirtualClock();
        try (JavaMbufPool pool = new JavaMbufPool("input", 1024);
             SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0).queueCapacity(512)
                     .pool(pool).endA("a", MacAddress.of(0x020000000001L), 1500)
                     .endB("b", MacAddress.of(0x020000000002L), 1500).build();
             NetStack b = new NetStack(link.b(), Ipv4Config.parse("10.0.0.2/24", null))) {
            send(link, pool, 100);
            b.input(clock.now());
            assertEquals(100, b.ip().counters().framesReceived, "100 frames: bursts of 32, 32, 32 and 4, one input");
            send(link, pool, 300);
            b.input(clock.now());
            assertEquals(100 + 128, b.ip().counters().framesReceived, "four full bursts, no more");
            b.input(clock.now());
            assertEquals(100 + 256, b.ip().counters().framesReceived);
            b.input(clock.now());
            assertEquals(400, b.ip().counters().framesReceived);
            assertEquals(400, b.ip().counters().otherEtherType, "every frame was dropped and counted");
            assertEquals(1024, pool.available(), "and freed");
        }
    }

    /** {@code n} minimal broadcast frames of an EtherType nobody handles, sent from the link's other end. */
    private static void send(SimulatedLink link, JavaMbufPool pool, int n) {
        MbufBurst burst = new MbufBurst(n);
        for (int i = 0; i < n; i++) {
            long m = pool.alloc();
            long at = Mbuf.append(m, 60);
            Mbuf.MEMORY.asSlice(at, 60).fill((byte) 0);
            Mbuf.MEMORY.asSlice(at, 6).fill((byte) 0xff); // broadcast: past the MAC filter
            Mbuf.MEMORY.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN),
                    at + 12, (short) 0x88b5); // IEEE 802 local experimental EtherType
            burst.add(m);
        }
        assertEquals(n, link.a().transmit(burst));
    }
}
