package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RepeatFinderTest {
    /** Against a HashSet, on addresses as a pool lays them out (a fixed stride), with and without one repeat. */
    @Test
    void findsARepeatAmongAnyNumberOfAddressesAndOnlyThen() {
        Random random = new Random(7);
        RepeatFinder finder = new RepeatFinder();
        for (int n = 0; n <= 5000; n += n < 40 ? 1 : 97) {
            long[] values = new long[n + 3]; // longer than n: what lies past n is not looked at
            long base = 0x7f00_0000_0000L + random.nextInt(1 << 20) * 64L;
            for (int i = 0; i < n; i++) {
                values[i] = random.nextInt(5) == 0 ? RepeatFinder.NONE : base + 2176L * i;
            }
            values[n] = values[n + 1] = values[n + 2] = base; // repeats past n
            assertFalse(hasRepeat(values, n));
            assertFalse(finder.repeats(values, n), "distinct, n=" + n);
            if (n >= 2) {
                int a = random.nextInt(n);
                int b = random.nextInt(n);
                while (b == a) {
                    b = random.nextInt(n);
                }
                values[a] = base + 2176L * (n + 1);
                values[b] = values[a];
                assertTrue(finder.repeats(values, n), "one repeat at " + a + " and " + b + ", n=" + n);
                // after a call that found one, the table is clean for the next
                values[b] = base + 2176L * (n + 2);
                assertFalse(finder.repeats(values, n), "repeat removed, n=" + n);
            }
        }
    }

    @Test
    void emptyPiecesAreNoRepeat() {
        RepeatFinder finder = new RepeatFinder();
        for (int n : new int[] {2, 8, 9, 100}) {
            long[] values = new long[n];
            Arrays.fill(values, RepeatFinder.NONE);
            assertFalse(finder.repeats(values, n), "all empty, n=" + n);
        }
    }

    private static boolean hasRepeat(long[] values, int n) {
        Set<Long> seen = new HashSet<>();
        for (int i = 0; i < n; i++) {
            if (values[i] != RepeatFinder.NONE && !seen.add(values[i])) {
                return true;
            }
        }
        return false;
    }
}
