package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** SYN cookies on their own: what a cookie encodes, how long it holds, and what it refuses. */
class SynCookiesTest {
    private static final long S = 1_000_000_000L;
    private static final int LOCAL = 0x0a000001;
    private static final int REMOTE = 0x0a000002;
    private static final int CLIENT_ISN = 0x12345678;

    private final SynCookies cookies = new SynCookies(new IsnGenerator(7, 11));

    private int make(int mss, long now) {
        return cookies.make(LOCAL, 80, REMOTE, 40000, CLIENT_ISN, mss, now);
    }

    private int check(int cookie, long now) {
        return cookies.check(LOCAL, 80, REMOTE, 40000, CLIENT_ISN, cookie, now);
    }

    @Test
    void theCookieCarriesTheLargestTableMssNotAboveTheOffer() {
        assertEquals(1460, check(make(1460, 0), 0));
        assertEquals(1440, check(make(1459, 0), 0));
        assertEquals(536, check(make(1000, 0), 0));
        assertEquals(8960, check(make(65495, 0), 0));
        assertEquals(536, check(make(536, 0), 0));
    }

    @Test
    void itsLayoutIsPeriodMssIndexAndHash() {
        long now = 3 * 64 * S + 5 * S; // period 3
        int cookie = make(1400, now);
        assertEquals(3, cookie >>> 27);
        assertEquals(3, (cookie >>> 24) & 0x7, "1400 is MSS_TABLE[3]");
    }

    /** Accepted in the period it was made and the next (64 to 128 s in all), refused after. */
    @Test
    void aCookieHoldsForTwoPeriods() {
        long made = 10 * 64 * S + 63 * S; // one second before the period ends
        int cookie = make(1460, made);
        assertEquals(1460, check(cookie, made));
        assertEquals(1460, check(cookie, made + S)); // next period
        assertEquals(1460, check(cookie, made + 65 * S - 1)); // still the next period
        assertEquals(-1, check(cookie, made + 65 * S)); // the one after
    }

    /** The period is a 5-bit counter: a cookie of period 31 is still good in period 32 (0 again). */
    @Test
    void thePeriodCounterWrapsAround() {
        long made = 31 * 64 * S;
        int cookie = make(1460, made);
        assertEquals(1460, check(cookie, made + 64 * S));
        assertEquals(-1, check(cookie, made + 128 * S));
    }

    @Test
    void anotherFlowAnotherClientIsnOrAnotherKeyIsRefused() {
        int cookie = make(1460, 0);
        assertEquals(-1, cookies.check(LOCAL, 80, REMOTE, 40001, CLIENT_ISN, cookie, 0));
        assertEquals(-1, cookies.check(LOCAL, 81, REMOTE, 40000, CLIENT_ISN, cookie, 0));
        assertEquals(-1, cookies.check(LOCAL, 80, REMOTE + 1, 40000, CLIENT_ISN, cookie, 0));
        assertEquals(-1, cookies.check(LOCAL + 1, 80, REMOTE, 40000, CLIENT_ISN, cookie, 0));
        assertEquals(-1, cookies.check(LOCAL, 80, REMOTE, 40000, CLIENT_ISN + 1, cookie, 0));
        SynCookies otherKey = new SynCookies(new IsnGenerator(7, 12));
        assertEquals(-1, otherKey.check(LOCAL, 80, REMOTE, 40000, CLIENT_ISN, cookie, 0));
    }

    /** Every single-bit change of a cookie is refused: the hash covers the MSS index and the period too. */
    @Test
    void aTamperedCookieIsRefused() {
        long now = 5 * 64 * S;
        int cookie = make(1460, now);
        for (int bit = 0; bit < 32; bit++) {
            assertEquals(-1, check(cookie ^ (1 << bit), now), "bit " + bit);
        }
    }
}
