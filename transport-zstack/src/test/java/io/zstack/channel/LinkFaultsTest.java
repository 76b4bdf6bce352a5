package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.device.FaultConfig;
import org.junit.jupiter.api.Test;

/** {@link ZStackConfig.Builder#linkFaults}'s text: what each key sets, and a clear refusal of what is wrong. */
class LinkFaultsTest {
    @Test
    void eachKeySetsItsFault() {
        FaultConfig f = LinkFaults.parse("drop=0.01, duplicate=0.02,corrupt=0.003,reorder=0.04/5,"
                + "delay=0.5:2ms+250us,rate=1000/1ms,max-frame=1514,direction=rx,seed=7");
        assertEquals(0.01, f.drop());
        assertEquals(0.02, f.duplicate());
        assertEquals(0.003, f.corrupt());
        assertEquals(0.04, f.reorder());
        assertEquals(5, f.reorderGap());
        assertEquals(0.5, f.delay());
        assertEquals(2_000_000, f.delayNanos());
        assertEquals(250_000, f.jitterNanos());
        assertEquals(1000, f.rateFrames());
        assertEquals(1_000_000, f.rateIntervalNanos());
        assertEquals(1514, f.maxFrameBytes());
        assertEquals(FaultConfig.Direction.RECEIVE, f.direction());
        assertEquals(7, f.seed());
    }

    @Test
    void whatIsLeftOutIsOffOrItsDefault() {
        FaultConfig f = LinkFaults.parse("drop=0.1");
        assertEquals(FaultConfig.Direction.BOTH, f.direction());
        assertEquals(0, f.duplicate());
        assertEquals(0, f.seed());
        FaultConfig delayed = LinkFaults.parse("delay=1s,reorder=0.1");
        assertEquals(1.0, delayed.delay(), "a delay without a probability delays every frame");
        assertEquals(1_000_000_000L, delayed.delayNanos());
        assertEquals(3, delayed.reorderGap());
    }

    @Test
    void aMalformedSpecIsRefusedSayingWhy() {
        assertRefused("drop=2", "between 0 and 1");
        assertRefused("drop", "not key=value");
        assertRefused("loss=0.1", "unknown key");
        assertRefused("drop=0.1,drop=0.2", "given twice");
        assertRefused("delay=5", "unit");
        assertRefused("delay=-5ms", "not negative");
        assertRefused("rate=100", "N/TIME");
        assertRefused("direction=up", "both, rx or tx");
        assertRefused("seed=x", "'seed=x'");
        // damage on the way out could reach a peer that trusts its checksums (ZStack over memif)
        assertRefused("corrupt=0.01", "direction=rx");
        assertRefused("corrupt=0.01,direction=tx", "direction=rx");
    }

    @Test
    void theConfigKeepsTheSpecAndGivesEachLoopItsOwnSeed() {
        ZStackConfig config = ZStackConfig.builder().linkFaults("drop=0.01,seed=10").build();
        assertEquals("drop=0.01,seed=10", config.linkFaults());
        assertTrue(config.toString().contains("linkFaults=drop=0.01,seed=10"), config.toString());
        assertEquals(10, config.linkFaults(0).seed());
        assertEquals(13, config.linkFaults(3).seed());
        assertEquals(0.01, config.linkFaults(3).drop());
        assertNull(ZStackConfig.builder().build().linkFaults(0));
        assertThrows(IllegalArgumentException.class, () -> ZStackConfig.builder().linkFaults("drop=x"));
    }

    private static void assertRefused(String spec, String reason) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LinkFaults.parse(spec));
        assertTrue(e.getMessage().contains(reason) && e.getMessage().contains(spec), e.getMessage());
    }
}
