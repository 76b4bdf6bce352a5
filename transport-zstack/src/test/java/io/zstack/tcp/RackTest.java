package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** RACK-TLP's state (RFC 8985) on its own: the RACK segment, ambiguous samples, the reordering window, the PTO. */
class RackTest {
    private static final long MS = 1_000_000L;
    private static final long NO_ECHO = Long.MIN_VALUE;

    private final Rack rack = new Rack();

    @Test
    void theRackSegmentIsTheLatestSentOfThoseDelivered() {
        assertFalse(rack.hasDelivered());
        assertFalse(rack.sentAfter(0, 0));
        rack.delivered(10 * MS, 1, 1000, false, NO_ECHO, 30 * MS);
        assertTrue(rack.hasDelivered());
        assertEquals(20 * MS, rack.rtt());
        rack.delivered(5 * MS, 0, 500, false, NO_ECHO, 31 * MS); // sent earlier: not the RACK segment
        assertEquals(20 * MS, rack.rtt());
        assertTrue(rack.sentAfter(5 * MS, 0));
        assertFalse(rack.sentAfter(10 * MS, 1), "not after itself");
        assertTrue(rack.sentAfter(10 * MS, 0), "a tie in time goes to the later transmission");
        rack.delivered(12 * MS, 2, 2000, false, NO_ECHO, 40 * MS);
        assertEquals(28 * MS, rack.rtt());
        assertEquals(20 * MS, rack.minRtt());
    }

    @Test
    void aSegmentDeliveredBelowTheHighestDeliveredOneMeansReordering() {
        rack.delivered(MS, 1, 2000, false, NO_ECHO, 10 * MS);
        assertFalse(rack.reorderingSeen());
        rack.delivered(MS, 0, 1000, true, NO_ECHO, 10 * MS); // retransmitted: no evidence of reordering
        assertFalse(rack.reorderingSeen());
        rack.delivered(MS, 0, 1000, false, NO_ECHO, 10 * MS);
        assertTrue(rack.reorderingSeen());
    }

    /** RFC 8985 §6.2 step 2: an ACK of a retransmitted segment may be for the original; such samples are dropped. */
    @Test
    void ambiguousSamplesOfRetransmissionsAreIgnored() {
        rack.delivered(0, 1, 1000, false, NO_ECHO, 10 * MS); // min RTT 10 ms
        rack.delivered(20 * MS, 2, 2000, true, NO_ECHO, 25 * MS); // 5 ms: below the minimum, the original's ACK
        assertEquals(10 * MS, rack.rtt());
        rack.delivered(20 * MS, 2, 2000, true, 10 * MS, 40 * MS); // echoes a timestamp older than the resend
        assertEquals(10 * MS, rack.rtt());
        // echoes a timestamp of the resend's millisecond, but 0.5 ms after it: the original's ACK, the RTT tells
        rack.delivered(20 * MS, 2, 2000, true, 20 * MS, 20 * MS + MS / 2);
        assertEquals(10 * MS, rack.rtt());
        rack.delivered(20 * MS, 2, 2000, true, 20 * MS, 40 * MS); // echoes the resend itself
        assertEquals(20 * MS, rack.rtt());
        assertEquals(10 * MS, rack.minRtt(), "retransmissions never set the minimum");
    }

    @Test
    void theReorderingWindowIsZeroUntilReorderingIsSeenOnlyWhenLossIsLikely() {
        rack.delivered(0, 1, 2000, false, NO_ECHO, 40 * MS); // min RTT 40 ms: a step is 10 ms
        assertEquals(0, rack.reorderingWindow(true, 0, 0));
        assertEquals(0, rack.reorderingWindow(false, Rack.DUP_THRESH, 0));
        assertEquals(10 * MS, rack.reorderingWindow(false, Rack.DUP_THRESH - 1, 0));
        assertEquals(8 * MS, rack.reorderingWindow(false, 0, 8 * MS), "at most SRTT");
        rack.delivered(0, 0, 1000, false, NO_ECHO, 40 * MS); // reordered
        assertEquals(10 * MS, rack.reorderingWindow(true, 5, 0));
    }

    /** RFC 8985 §6.2 step 4: one widening per round trip, kept for 16 recoveries, then back to one step. */
    @Test
    void dsacksWidenTheWindowOncePerRoundAndItShrinksBackAfterSixteenRecoveries() {
        rack.delivered(0, 1, 2000, false, NO_ECHO, 40 * MS);
        rack.delivered(0, 0, 1000, false, NO_ECHO, 40 * MS);
        rack.onDsack(1000, 5000);
        assertEquals(2, rack.reoWndMult());
        rack.onDsack(2000, 6000); // SND.UNA has not passed 5000: the same round
        assertEquals(2, rack.reoWndMult());
        rack.onDsack(5000, 9000);
        assertEquals(3, rack.reoWndMult());
        assertEquals(30 * MS, rack.reorderingWindow(false, 0, 0));
        for (int i = 1; i < Rack.REO_WND_PERSIST; i++) {
            rack.onRecoveryEnd();
        }
        assertEquals(3, rack.reoWndMult());
        rack.onRecoveryEnd();
        assertEquals(1, rack.reoWndMult());
    }

    /** RFC 8985 §7.2. */
    @Test
    void theProbeTimeout() {
        assertEquals(1000 * MS, Rack.probeTimeout(false, 10 * MS, true));
        assertEquals(220 * MS, Rack.probeTimeout(true, 10 * MS, true), "2 SRTT + the worst delayed ACK");
        assertEquals(22 * MS, Rack.probeTimeout(true, 10 * MS, false), "2 SRTT + 2 ms");
    }
}
