package io.zstack.bench;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class CrossCoreProbeTest {
    @Test
    void aRoundTripBetweenTwoCpusTakesSomeNanoseconds() throws Exception {
        // every machine this runs on has CPUs 0 and 1 (CI's has two); a round trip is two cache-line transfers:
        // more than nothing, and far below the millisecond a descheduled thread would cost
        long[] ns = CrossCoreProbe.measure(0, 1);
        assertTrue(ns[1] > 0 && ns[1] <= ns[0], "min " + ns[1] + " median " + ns[0]);
        assertTrue(ns[0] < 1_000_000, "median " + ns[0]);
    }

    @Test
    void aCpuThatCannotBeUsedIsAClearErrorNotAHang() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CrossCoreProbe.measure(0, 1023));
        assertTrue(e.getMessage().contains("CPU 1023"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CrossCoreProbe.measure(1023, 1));
        assertTrue(e.getMessage().contains("CPU 1023"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CrossCoreProbe.measure(1, 1));
    }
}
