package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The timing wheel on its own: never early, at most a tick late, cancel and reschedule, rounds, idle jumps. */
class TimerWheelTest {
    private static final long MS = 1_000_000L;

    /** What fired: owner and the time advance passed. */
    private final List<String> fired = new ArrayList<>();

    private void fire(String owner, long now) {
        fired.add(owner + "@" + now / MS);
    }

    @Test
    void aTimerFiresNeverBeforeItsDeadlineAndAtMostOneTickAfter() {
        TimerWheel<String> wheel = new TimerWheel<>(MS, 16, 0);
        TimerWheel.Timer<String> t = new TimerWheel.Timer<>("t");
        wheel.schedule(t, 5 * MS + 1); // between ticks: rounds up to tick 6
        assertTrue(t.isScheduled());
        assertEquals(5 * MS + 1, t.deadline());
        wheel.advance(5 * MS + MS / 2, this::fire);
        assertEquals(List.of(), fired, "not before its deadline");
        wheel.advance(6 * MS, this::fire);
        assertEquals(List.of("t@6"), fired);
        assertFalse(t.isScheduled());
        assertEquals(0, wheel.size());
        wheel.advance(100 * MS, this::fire);
        assertEquals(List.of("t@6"), fired, "once");
    }

    @Test
    void deadlinesOnEitherSideOfATickBoundaryFireExactlyAtTheirTickWhereverTheClockStands() {
        // System.nanoTime may be anywhere, negative too: the tick a deadline rounds up to, and the poll times at which
        // a tick starts, must come out as the division defines them (the wheel multiplies and compares instead)
        SplittableRandom random = new SplittableRandom(7);
        long[] origins = {0, -(1L << 40) - 12_345, 1L << 50, (1L << 62) - 100 * MS, 987_654_321_123_456_789L};
        for (long origin : origins) {
            for (int i = 0; i < 2000; i++) {
                long tick = Math.floorDiv(origin, MS) + 2 + random.nextInt(200);
                long deadline = tick * MS + (random.nextBoolean() ? 0 : random.nextBoolean() ? 1 : -1)
                        + (i % 7 == 0 ? random.nextLong(MS) : 0);
                long due = (deadline + MS - 1) / MS; // the tick, as the division defines it
                TimerWheel<String> wheel = new TimerWheel<>(MS, 256, origin);
                TimerWheel.Timer<String> t = new TimerWheel.Timer<>("t");
                wheel.schedule(t, deadline);
                long first = due > 0 ? due * MS : (due - 1) * MS + 1;
                wheel.advance(first - 1, (owner, now) -> fired.add("early"));
                assertTrue(t.isScheduled(), "not before its tick: deadline " + deadline + " origin " + origin);
                wheel.advance(first, (owner, now) -> fired.add(owner));
                assertFalse(t.isScheduled(), "at its tick: deadline " + deadline + " origin " + origin);
            }
        }
        assertFalse(fired.contains("early"));
    }

    @Test
    void timersFireInDeadlineOrderAcrossSlots() {
        TimerWheel<String> wheel = new TimerWheel<>(MS, 16, 0);
        wheel.schedule(new TimerWheel.Timer<>("c"), 9 * MS);
        wheel.schedule(new TimerWheel.Timer<>("a"), 2 * MS);
        wheel.schedule(new TimerWheel.Timer<>("b"), 4 * MS);
        assertEquals(3, wheel.size());
        wheel.advance(10 * MS, (owner, now) -> fired.add(owner));
        assertEquals(List.of("a", "b", "c"), fired);
    }

    @Test
    void aCancelledTimerNeverFiresAndCancellingTwiceIsHarmless() {
        TimerWheel<String> wheel = new TimerWheel<>(MS, 16, 0);
        TimerWheel.Timer<String> t = new TimerWheel.Timer<>("t");
        wheel.schedule(t, 3 * MS);
        wheel.cancel(t);
        wheel.cancel(t);
        assertEquals(0, wheel.size());
        assertFalse(t.isScheduled());
        wheel.advance(10 * MS, this::fire);
        assertEquals(List.of(), fired);
    }

    @Test
    void reschedulingMovesTheTimerEarlierOrLater() {
        TimerWheel<String> wheel = new TimerWheel<>(MS, 16, 0);
        TimerWheel.Timer<String> t = new TimerWheel.Timer<>("t");
        wheel.schedule(t, 10 * MS);
        wheel.schedule(t, 3 * MS);
        assertEquals(1, wheel.size(), "moved, not added");
        wheel.advance(3 * MS, this::fire);
        assertEquals(List.of("t@3"), fired);
        wheel.schedule(t, 5 * MS);
        wheel.schedule(t, 12 * MS);
        wheel.advance(11 * MS, this::fire);
        assertEquals(List.of("t@3"), fired);
        wheel.advance(12 * MS, this::fire);
        assertEquals(List.of("t@3", "t@12"), fired);
    }

    /** 8 slots of 1 ms: a timer 20 ms away shares a slot with ticks 4 and 12 and must wait for its own round. */
    @Test
    void aTimerMoreThanOneTurnAwayWaitsForItsRound() {
        TimerWheel<String> wheel = new TimerWheel<>(MS, 8, 0);
        TimerWheel.Timer<String> far = new TimerWheel.Timer<>("far");
        wheel.schedule(far, 20 * MS);
        for (long ms = 1; ms < 20; ms++) {
            wheel.advance(ms * MS, this::fire);
        }
        assertEquals(List.of(), fired);
        wheel.advance(20 * MS, this::fire);
        assertEquals(List.of("far@20"), fired);
    }

    /** One advance across many turns fires what is due, in order, and skips the empty turns in between. */
    @Test
    void oneLongAdvanceFiresEverythingDueInOrder() {
        TimerWheel<String> wheel = new TimerWheel<>(MS, 8, 0);
        wheel.schedule(new TimerWheel.Timer<>("late"), 10_000 * MS);
        wheel.schedule(new TimerWheel.Timer<>("early"), 3 * MS);
        wheel.schedule(new TimerWheel.Timer<>("later"), 50_000 * MS);
        wheel.advance(20_000 * MS, (owner, now) -> fired.add(owner));
        assertEquals(List.of("early", "late"), fired);
        assertEquals(1, wheel.size());
        wheel.advance(50_000 * MS, (owner, now) -> fired.add(owner));
        assertEquals(List.of("early", "late", "later"), fired);
    }

    @Test
    void anIdleWheelJumpsToTheNewTimeSoANewTimerIsNotDueAtOnce() {
        TimerWheel<String> wheel = new TimerWheel<>(MS, 8, 0);
        wheel.advance(1_000_000 * MS, this::fire);
        TimerWheel.Timer<String> t = new TimerWheel.Timer<>("t");
        wheel.schedule(t, 1_000_002 * MS);
        wheel.advance(1_000_001 * MS, this::fire);
        assertEquals(List.of(), fired);
        wheel.advance(1_000_002 * MS, this::fire);
        assertEquals(List.of("t@1000002"), fired);
    }

    @Test
    void aDeadlineAlreadyPastFiresOnTheNextTick() {
        TimerWheel<String> wheel = new TimerWheel<>(MS, 8, 10 * MS);
        wheel.schedule(new TimerWheel.Timer<>("past"), 2 * MS);
        wheel.advance(10 * MS, this::fire);
        assertEquals(List.of(), fired, "time did not move");
        wheel.advance(11 * MS, this::fire);
        assertEquals(List.of("past@11"), fired);
    }

    /** The first of two timers of one slot cancels the other and reschedules itself: the wheel stays consistent. */
    @Test
    void callbacksMayCancelAndRescheduleTimersOfTheirOwnSlot() {
        TimerWheel<String> wheel = new TimerWheel<>(MS, 8, 0);
        TimerWheel.Timer<String> x = new TimerWheel.Timer<>("x");
        TimerWheel.Timer<String> y = new TimerWheel.Timer<>("y");
        wheel.schedule(x, 4 * MS);
        wheel.schedule(y, 4 * MS);
        wheel.advance(4 * MS, (owner, now) -> {
            fired.add(owner);
            TimerWheel.Timer<String> self = owner.equals("x") ? x : y;
            wheel.cancel(owner.equals("x") ? y : x);
            wheel.schedule(self, 6 * MS);
        });
        assertEquals(1, fired.size(), fired.toString());
        String first = fired.get(0);
        assertEquals(1, wheel.size());
        assertTrue((first.equals("x") ? x : y).isScheduled());
        assertFalse((first.equals("x") ? y : x).isScheduled());
        wheel.advance(6 * MS, (owner, now) -> fired.add(owner));
        assertEquals(List.of(first, first), fired);
        assertEquals(0, wheel.size());
    }

    /** Random schedules, reschedules and cancels against a list of deadlines: the same timers fire, none early. */
    @Test
    void randomUseAgreesWithAPlainListOfDeadlines() {
        SplittableRandom random = new SplittableRandom(12);
        TimerWheel<Integer> wheel = new TimerWheel<>(MS, 64, 0);
        int n = 200;
        List<TimerWheel.Timer<Integer>> timers = new ArrayList<>();
        long[] deadline = new long[n]; // -1: not scheduled
        for (int i = 0; i < n; i++) {
            timers.add(new TimerWheel.Timer<>(i));
            deadline[i] = -1;
        }
        long now = 0;
        for (int step = 0; step < 20_000; step++) {
            int i = random.nextInt(n);
            switch (random.nextInt(4)) {
                case 0, 1 -> {
                    long d = now + random.nextLong(1, 300 * MS);
                    wheel.schedule(timers.get(i), d);
                    deadline[i] = d;
                }
                case 2 -> {
                    wheel.cancel(timers.get(i));
                    deadline[i] = -1;
                }
                default -> {
                    long target = now + random.nextLong(0, 20 * MS);
                    long at = target;
                    List<Integer> got = new ArrayList<>();
                    wheel.advance(at, (owner, t) -> got.add(owner));
                    List<Integer> due = new ArrayList<>();
                    for (int k = 0; k < n; k++) {
                        // due by the end of the last whole tick passed (deadlines round up to a tick)
                        if (deadline[k] >= 0 && (deadline[k] + MS - 1) / MS <= at / MS) {
                            due.add(k);
                        }
                    }
                    got.sort(null);
                    assertEquals(due, got, "step " + step + " at " + at);
                    for (int k : got) {
                        assertTrue(deadline[k] <= at, "timer " + k + " fired early");
                        deadline[k] = -1;
                    }
                    now = target;
                }
            }
        }
    }

    @Test
    void theSlotCountMustBeAPowerOfTwo() {
        assertThrows(IllegalArgumentException.class, () -> new TimerWheel<String>(MS, 100, 0));
    }
}
