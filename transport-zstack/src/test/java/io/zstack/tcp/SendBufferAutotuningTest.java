package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.tcp.cc.CongestionAlgorithm;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The send buffer grows with the congestion window unless the application set it (SO_SNDBUF), as Linux's does. In the
 * deterministic simulation of {@link BbrSimulationTest} (1 Gbit/s, 1 ms round trip: a BDP of 125 kB) with 2 % random
 * loss both ways, BBR behind the default 256 KiB buffer, fixed, starves: the data SACKed behind each hole holds the
 * buffer until the hole is repaired, and nothing new goes meanwhile (on a real link that also left a lost
 * retransmission to the RTO: nothing sent after it could tell RACK; bench/loss.sh --offloads).
 */
class SendBufferAutotuningTest {
    private static final long BYTES = 8_000_000L;

    @Test
    void underLossAGrownBufferKeepsTheLinkBusyWhereTheFixedDefaultStarvesIt() {
        TcpSettings grows = TcpSettings.builder().congestionControl(CongestionAlgorithm.BBR)
                .receiveBufferBytes(4 << 20).build();
        TcpSettings fixed = grows.toBuilder().sendBufferFixed(true).build();
        for (long seed : new long[] {31, 32}) {
            BbrSimulationTest.Transfer g = BbrSimulationTest.transfer(seed, grows, 0.02, BYTES);
            BbrSimulationTest.Transfer f = BbrSimulationTest.transfer(seed, fixed, 0.02, BYTES);
            int grown = sndbuf(g.describe());
            assertTrue(grown > grows.sendBufferBytes(), "grew: " + g.describe());
            assertEquals(fixed.sendBufferBytes(), sndbuf(f.describe()), "SO_SNDBUF kept: " + f.describe());
            // 81 % / 41 % and 73 % / 37 % of the link for these seeds
            assertTrue(g.linkShare() > 1.5 * f.linkShare(), "grown to " + grown + ": " + g.linkShare()
                    + " of the link, fixed: " + f.linkShare());
        }
    }

    private static int sndbuf(String describe) {
        Matcher m = Pattern.compile(" sndbuf=(\\d+) ").matcher(describe);
        assertTrue(m.find(), describe);
        return Integer.parseInt(m.group(1));
    }
}
