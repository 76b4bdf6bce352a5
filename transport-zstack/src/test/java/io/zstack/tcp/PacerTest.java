package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The pacer's departure times, on explicit time. */
class PacerTest {
    private static final long MS = 1_000_000L;
    private static final int MSS = 1000;
    /** 1 MB/s: a 1000-byte segment per millisecond; a burst of 2 segments (the floor: 1 ms at this rate is 1000). */
    private static final long RATE = 1_000_000L;

    @Test
    void segmentsLeaveAtTheRateAndAPauseEarnsOneBurst() {
        Pacer p = new Pacer();
        assertFalse(p.mustWait(RATE, 0));
        p.sent(MSS, RATE, MSS, 0);
        assertTrue(p.mustWait(RATE, 0));
        assertEquals(MS, p.nextDepartureNanos());
        assertFalse(p.mustWait(RATE, MS));
        p.sent(MSS, RATE, MSS, MS);
        assertEquals(2 * MS, p.nextDepartureNanos());
        // a pause of 10 ms: the unused time counts only up to a burst (2 ms): three segments at once, then the rate
        long now = 12 * MS;
        int sent = 0;
        while (!p.mustWait(RATE, now)) {
            p.sent(MSS, RATE, MSS, now);
            sent++;
        }
        assertEquals(3, sent);
        assertEquals(now + MS, p.nextDepartureNanos());
    }

    @Test
    void withoutARateNothingWaits() {
        Pacer p = new Pacer();
        p.sent(64 * MSS, 0, MSS, 0);
        assertFalse(p.mustWait(0, 0));
        assertEquals(0, p.nextDepartureNanos());
    }
}
