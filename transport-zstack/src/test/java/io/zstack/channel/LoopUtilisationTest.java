package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Each round is charged whole, from its start to the next round's, to the side its end decided. */
class LoopUtilisationTest {
    @Test
    void roundsAreChargedToWorkOrIdleFromOneStartToTheNext() {
        LoopUtilisation u = new LoopUtilisation();
        u.roundStarted(1_000);
        u.roundEnded(true); // 1,000 to 1,600: work
        u.roundStarted(1_600);
        u.roundEnded(false); // 1,600 to 1,700: nothing
        u.roundStarted(1_700);
        u.roundEnded(false);
        u.parked(); // 1,700 to 51,700: nothing, parked
        u.roundStarted(51_700);
        u.roundEnded(true); // 51,700 to 52,000: work
        u.roundStarted(52_000);
        u.roundEnded(true); // in progress: not counted yet
        Map<String, Long> m = u.snapshot();
        assertEquals(600 + 300, m.get("loop.busyNanos"));
        assertEquals(100 + 50_000, m.get("loop.idleNanos"));
        assertEquals(2, m.get("loop.busyRounds"));
        assertEquals(2, m.get("loop.idleRounds"));
        assertEquals(1, m.get("loop.parks"));
        assertEquals(0, m.get("loop.longRounds"));
        assertTrue(u.toString().startsWith("loop: busyNanos=900 idleNanos=50100 busyRounds=2 idleRounds=2 parks=1 "
                + "longRounds=0 longRoundNanos=0 longestRoundNanos=0 (1.8 % busy)"), u.toString());
    }

    @Test
    void roundsOfAMillisecondOrMoreThatDidNotParkAreCountedAsStallsWithTheLongest() {
        LoopUtilisation u = new LoopUtilisation();
        long t = 0;
        u.roundStarted(t);
        u.roundEnded(true);
        t += LoopUtilisation.LONG_ROUND_NANOS - 1; // just short of a stall
        u.roundStarted(t);
        u.roundEnded(false);
        t += 100_000_000; // an idle round of 100 ms (the thread descheduled while it polled)
        u.roundStarted(t);
        u.roundEnded(true);
        t += LoopUtilisation.LONG_ROUND_NANOS; // a busy round of exactly 1 ms
        u.roundStarted(t);
        u.roundEnded(false);
        u.parked(); // an idle round that parked 5 ms (a long park configured): a wait it chose, not a stall
        t += 5_000_000;
        u.roundStarted(t);
        u.roundEnded(true);
        t += 5_000;
        u.roundStarted(t);
        Map<String, Long> m = u.snapshot();
        assertEquals(2, m.get("loop.longRounds"));
        assertEquals(100_000_000 + LoopUtilisation.LONG_ROUND_NANOS, m.get("loop.longRoundNanos"));
        assertEquals(100_000_000, m.get("loop.longestRoundNanos"));
        assertEquals(3, m.get("loop.busyRounds")); // long rounds are still charged to work or idle as any other
        assertEquals(2, m.get("loop.idleRounds"));
        assertEquals(1, m.get("loop.parks"));
        assertTrue(u.toString().contains(" longRounds=2 longRoundNanos=101000000 longestRoundNanos=100000000 "),
                u.toString());
    }

    @Test
    void nothingIsChargedBeforeTheFirstRoundEnds() {
        LoopUtilisation u = new LoopUtilisation();
        assertTrue(u.toString().contains("(0.0 % busy)"), u.toString());
        u.roundStarted(5_000);
        u.roundEnded(true);
        assertEquals(0, u.snapshot().get("loop.busyNanos") + u.snapshot().get("loop.idleNanos"));
    }
}
