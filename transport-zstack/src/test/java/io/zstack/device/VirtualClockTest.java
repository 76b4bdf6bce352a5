package io.zstack.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class VirtualClockTest {

    @Test
    void movesOnlyWhenTold() {
        VirtualClock clock = new VirtualClock();
        assertEquals(0, clock.now());
        assertEquals(0, clock.nanos());
        assertEquals(1500, clock.advance(1500));
        clock.advanceTo(2000);
        assertEquals(2000, clock.nanos());
        clock.advanceTo(2000); // standing still is fine
        clock.advance(0);
        assertEquals(2000, clock.now());
        assertThrows(IllegalArgumentException.class, () -> clock.advance(-1));
        assertThrows(IllegalArgumentException.class, () -> clock.advanceTo(1999));
        assertEquals(2000, clock.now());
        assertEquals(7, new VirtualClock(7).now());
    }

    @Test
    void systemClockIsMonotonic() {
        NanoClock clock = NanoClock.system();
        long a = clock.nanos();
        long b = clock.nanos();
        assertTrue(b >= a);
    }
}
