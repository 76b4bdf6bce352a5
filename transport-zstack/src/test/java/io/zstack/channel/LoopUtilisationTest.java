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
        assertTrue(u.toString().startsWith("loop: busyNanos=900 idleNanos=50100 busyRounds=2 idleRounds=2 parks=1 "
                + "(1.8 % busy)"), u.toString());
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
