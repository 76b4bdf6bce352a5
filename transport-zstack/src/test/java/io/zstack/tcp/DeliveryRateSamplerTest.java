package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.tcp.cc.RateSample;
import org.junit.jupiter.api.Test;

/**
 * Delivery rate samples from {@link SentSegments} and its {@link DeliveryRateSampler}, on explicit time: segments sent,
 * then cumulatively ACKed or SACKed, and the rate each ACK reports.
 */
class DeliveryRateSamplerTest {
    private static final long US = 1_000L;
    private static final int MSS = 1000;

    private final SentSegments sent = new SentSegments();
    private final Rack rack = new Rack();

    private void send(int seg, long at) {
        sent.sent(seg * MSS, (seg + 1) * MSS, at);
    }

    private RateSample ack(int segs, long at) {
        sent.acknowledge(segs * MSS, rack, Long.MIN_VALUE, at);
        return sent.rate.endOfAck(sent.pipe());
    }

    /**
     * Ten segments sent back to back at t=0, ACKed two at a time every 100 us from t=1 ms (a 1 ms round trip, a
     * bottleneck of 20 MB/s): the first ACK's span is its own 1 ms round trip; later ones span from the first
     * delivery, so the rate converges on the ACK rate, never above it.
     */
    @Test
    void aBurstAckedAtTheBottleneckRateMeasuresTheBottleneck() {
        for (int i = 0; i < 10; i++) {
            send(i, 0);
        }
        RateSample first = ack(2, 1000 * US);
        assertTrue(first.valid());
        assertEquals(2 * MSS, first.deliveredBytes);
        assertEquals(1000 * US, first.intervalNanos);
        assertEquals(1000 * US, first.rttNanos);
        assertEquals(2 * MSS, first.ackedBytes);
        assertEquals(8 * MSS, first.inflightBytes);
        RateSample s = null;
        for (int k = 2; k <= 5; k++) {
            s = ack(2 * k, (1000 + 100 * (k - 1)) * US);
        }
        // the last ACK at 1.4 ms covers segments sent at t=0 with delivered count 0: 10 segments over 1.4 ms
        assertEquals(10 * MSS, s.deliveredBytes);
        assertEquals(1400 * US, s.intervalNanos);
        assertEquals(10 * MSS * 1_000_000_000L / (1400 * US), s.rate());
        assertEquals(0, s.inflightBytes);
    }

    /**
     * Steady state: a segment is sent as each is ACKed (the ACK clock), 100 us apart, round trip 1 ms. A segment sent
     * after the first delivery carries the delivered count and time of then, so its sample is the rate of the ACKs
     * between its send and its delivery: 10 segments per ms.
     */
    @Test
    void anAckClockedFlowMeasuresItsDeliveryRate() {
        for (int i = 0; i < 10; i++) {
            send(i, i * 100 * US);
        }
        RateSample s = null;
        for (int i = 0; i < 30; i++) {
            long now = 1000 * US + i * 100 * US;
            s = ack(i + 1, now);
            send(10 + i, now);
        }
        assertTrue(s.valid());
        assertFalse(s.appLimited);
        assertEquals(10_000_000L, s.rate(), "1000 bytes per 100 us");
        assertEquals(1000 * US, s.rttNanos);
    }

    /** The send interval counts when it is the longer: ACKs arriving in a burst do not inflate the rate. */
    @Test
    void aCompressedAckBurstIsBoundedByTheSendInterval() {
        // segment 0 opens the flight at t=0; ten more are paced out 100 us apart after its ACK
        send(0, 0);
        ack(1, 1000 * US);
        for (int i = 1; i <= 10; i++) {
            send(i, (1000 + 100 * i) * US);
        }
        // a receiver (or a queue) holds the ACKs back and releases them all at once
        RateSample s = ack(11, 3000 * US);
        // the sampled segment is 10, sent at 2 ms in a flight that started (empty pipe) at 1.1 ms: a send interval of
        // 0.9 ms, an ACK interval of 1.9 ms (from the flight's start to the burst); the longer is the span
        assertEquals(10 * MSS, s.deliveredBytes);
        assertEquals(1900 * US, s.intervalNanos);
    }

    /** A SACK delivers too; a duplicate ACK delivering nothing gives no sample. */
    @Test
    void sackedSegmentsAreSamplesAndAnAckDeliveringNothingIsNone() {
        for (int i = 0; i < 4; i++) {
            send(i, 0);
        }
        sent.sack(2 * MSS, 4 * MSS, rack, Long.MIN_VALUE, 1000 * US);
        RateSample s = sent.rate.endOfAck(sent.pipe());
        assertTrue(s.valid());
        assertEquals(2 * MSS, s.deliveredBytes);
        assertEquals(2 * MSS, s.totalDelivered);
        RateSample none = sent.rate.endOfAck(sent.pipe());
        assertFalse(none.valid());
        assertEquals(-1, none.priorDelivered);
        assertEquals(0, none.ackedBytes);
    }

    /** A retransmitted segment's round trip is ambiguous: no RTT from it, but its delivery still counts. */
    @Test
    void aRetransmissionGivesNoRttSample() {
        send(0, 0);
        send(0, 300_000 * US);
        RateSample s = ack(1, 301_000 * US);
        assertEquals(-1, s.rttNanos);
        assertEquals(MSS, s.ackedBytes);
    }

    /**
     * The sender ran out of data with room in its window: samples of what was then in flight are application-limited,
     * and the mark clears once those bytes are delivered.
     */
    @Test
    void applicationLimitedMarksLastUntilTheFlightThenIsDelivered() {
        send(0, 0);
        send(1, 0);
        sent.rate.checkApplicationLimited(MSS - 1, MSS, sent.pipe(), 10L * MSS, false);
        send(2, 100 * US);
        assertFalse(ack(1, 1000 * US).appLimited, "segment 0 was sent before the mark");
        assertTrue(ack(3, 1100 * US).appLimited, "segment 2 was sent after it");
        send(3, 1100 * US);
        assertFalse(ack(4, 2100 * US).appLimited, "the flight of the mark was delivered");
    }

    /** A full segment left to send, a full window, or a loss waiting to be resent: not application-limited. */
    @Test
    void theNetworkLimitsWhenDataWaitsTheWindowIsFullOrALossWaits() {
        send(0, 0);
        sent.rate.checkApplicationLimited(MSS, MSS, sent.pipe(), 10L * MSS, false);
        sent.rate.checkApplicationLimited(0, MSS, 10L * MSS, 10L * MSS, false);
        sent.rate.checkApplicationLimited(0, MSS, sent.pipe(), 10L * MSS, true);
        send(1, 0);
        assertFalse(ack(2, 1000 * US).appLimited);
    }
}
