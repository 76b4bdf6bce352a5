package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * The stall watch's sleep: it halves how often it looks while no loop round lasts a period (1, 2, 4, 8, 16 ms, then
 * every 16 ms), and looks every millisecond again as soon as one does, so the stall that follows is flushed on time.
 */
class StallWatchPeriodTest {
    private static final long MS = 1_000_000;

    @Test
    void quietRoundsBackOffToTheQuietPeriodAndALongRoundResetsIt() {
        long period = ZStackEventLoop.StallWatch.PERIOD_NANOS;
        long[] expected = {2 * MS, 4 * MS, 8 * MS, 16 * MS, 16 * MS, 16 * MS};
        for (long next : expected) {
            period = ZStackEventLoop.StallWatch.nextPeriod(period, false);
            assertEquals(next, period);
        }
        assertEquals(MS, ZStackEventLoop.StallWatch.nextPeriod(period, true), "a round as long as a period");
        assertEquals(MS, ZStackEventLoop.StallWatch.nextPeriod(MS, true), "and as long as rounds stay long");
    }
}
