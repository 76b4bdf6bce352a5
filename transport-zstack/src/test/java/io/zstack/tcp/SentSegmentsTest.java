package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The sender's record of what is in flight, on its own: splitting, flags, the pipe, RACK's loss marking. */
class SentSegmentsTest {
    private static final long MS = 1_000_000L;
    private static final long NO_ECHO = Long.MIN_VALUE;

    private final SentSegments sent = new SentSegments();
    private final Rack rack = new Rack();

    /** Three 1000-byte segments from 1000, sent at 1, 2 and 3 ms. */
    private void sendThree() {
        assertFalse(sent.sent(1000, 2000, MS));
        assertFalse(sent.sent(2000, 3000, 2 * MS));
        assertFalse(sent.sent(3000, 4000, 3 * MS));
    }

    @Test
    void newSegmentsAreRecordedInOrderAndFillThePipe() {
        sendThree();
        assertEquals(3, sent.size());
        assertEquals(3000, sent.pipe());
        assertEquals(1000, sent.start(0));
        assertEquals(4000, sent.end(2));
        assertFalse(sent.sent(5000, 5000, 4 * MS), "an empty range records nothing");
        assertEquals(3, sent.size());
    }

    /** Sending part of a record again splits it; the copy in flight counts in the pipe beside the original. */
    @Test
    void aRetransmissionOfPartOfARecordSplitsItAndCountsTwice() {
        sendThree();
        assertTrue(sent.sent(1000, 1500, 4 * MS));
        assertEquals(4, sent.size());
        assertEquals(1500, sent.end(0));
        assertEquals(3500, sent.pipe());
        // a range reaching past the last record is part retransmission, part new
        assertTrue(sent.sent(3500, 4500, 5 * MS));
        assertEquals(4500, sent.end(sent.size() - 1));
        assertEquals(4500, sent.pipe());
    }

    /** The scenario of a SACKed tail: RACK marks the older holes lost, they are resent, ACKs drop the records. */
    @Test
    void sackLossRetransmissionAndAcknowledgement() {
        sendThree();
        assertEquals(1000, sent.sack(2500, 3500, rack, NO_ECHO, 10 * MS));
        assertEquals(5, sent.size(), "split at both ends of the block");
        assertEquals(1000, sent.sackedBytes());
        assertEquals(2, sent.sackedSegments());
        assertEquals(2000, sent.pipe());
        assertEquals(0, sent.sack(2500, 3500, rack, NO_ECHO, 10 * MS), "SACKed again: nothing new");
        assertEquals(7 * MS, rack.rtt(), "RACK follows the latest sent of the delivered segments");

        // sent before the RACK segment and more than RACK.rtt ago: lost; the one sent with it is not
        assertEquals(0, sent.detectLoss(rack, 0, 10 * MS));
        assertEquals(2, sent.markedLost);
        assertEquals(1500, sent.lostBytes());
        assertEquals(500, sent.pipe());
        assertEquals(0, sent.firstLostNotRetransmitted());
        assertEquals(2500, sent.lostRunEnd(0), "the two lost records are adjacent");

        assertTrue(sent.sent(1000, 2500, 11 * MS));
        assertEquals(-1, sent.firstLostNotRetransmitted());
        assertEquals(2000, sent.pipe(), "the retransmissions are in flight");
        assertEquals(0, sent.detectLoss(rack, 0, 12 * MS));
        assertEquals(0, sent.markedLost, "retransmissions sent after the RACK segment are not lost yet");

        assertEquals(1500, sent.acknowledge(2500, rack, NO_ECHO, 20 * MS));
        assertEquals(3, sent.size());
        assertEquals(500, sent.pipe());
        // the SACKed records go without counting again; the ACK ends inside the last record and splits it
        assertEquals(200, sent.acknowledge(3700, rack, NO_ECHO, 21 * MS));
        assertEquals(1, sent.size());
        assertEquals(3700, sent.start(0));
        assertEquals(300, sent.pipe());
        assertEquals(0, sent.sackedBytes());
    }

    @Test
    void aSegmentNotYetOldEnoughGivesTheTimeUntilItIs() {
        sendThree();
        sent.sack(3000, 4000, rack, NO_ECHO, 4 * MS); // RACK.rtt = 1 ms
        // sent at 1 and 2 ms; lost once older than rtt (1 ms) + reoWnd (5 ms): at 7 and 8 ms
        assertEquals(2 * MS, sent.detectLoss(rack, 5 * MS, 6 * MS));
        assertEquals(0, sent.markedLost);
        assertEquals(MS, sent.detectLoss(rack, 5 * MS, 7 * MS));
        assertEquals(1, sent.markedLost);
        assertEquals(1000, sent.lostBytes());
    }

    @Test
    void aTimeoutMarksEveryUnsackedOctetLostAndAnUndoTakesItBack() {
        sendThree();
        sent.sack(2000, 3000, rack, NO_ECHO, 5 * MS);
        sent.markAllLost();
        assertEquals(2000, sent.lostBytes());
        assertEquals(0, sent.pipe());
        assertEquals(0, sent.firstLostNotRetransmitted());
        assertEquals(2000, sent.lostRunEnd(0), "a SACKed record ends the run");
        sent.unmarkLost();
        assertEquals(0, sent.lostBytes());
        assertEquals(2000, sent.pipe());
        assertEquals(-1, sent.firstLostNotRetransmitted());
    }

    /** What congestion control hears as newly lost: each marking once, however often a record is marked again. */
    @Test
    void bytesDeemedLostAreCountedOncePerMarking() {
        sendThree();
        sent.sack(2000, 3000, rack, NO_ECHO, 5 * MS);
        sent.markAllLost();
        assertEquals(2000, sent.lostMarkedBytes(), "the two unSACKed records");
        sent.markAllLost();
        assertEquals(2000, sent.lostMarkedBytes(), "already lost: not counted again");
        sent.unmarkLost();
        sent.markAllLost();
        assertEquals(4000, sent.lostMarkedBytes(), "an undo, then a new marking: counted again");
        assertEquals(2000, sent.lostBytes());
    }

    @Test
    void sequenceNumbersWrapAround() {
        int start = -1024; // 0xfffffc00
        for (int i = 0; i < 4; i++) {
            sent.sent(start + i * 512, start + (i + 1) * 512, (i + 1) * MS);
        }
        assertEquals(2048, sent.pipe());
        assertEquals(512, sent.sack(-256, 256, rack, NO_ECHO, 10 * MS), "a block across the wrap");
        // up to 0: the two records before the block count as delivered, the SACKed [-256, 0) does not again
        assertEquals(768, sent.acknowledge(0, rack, NO_ECHO, 11 * MS));
        assertEquals(256, sent.sackedBytes(), "[0, 256) stays SACKed");
        assertEquals(3, sent.size());
        assertEquals(0, sent.start(0));
        assertEquals(1024, sent.end(2));
        assertEquals(768, sent.pipe());
    }

    /** More records than the arrays first hold, with the front moving as ACKs arrive: nothing is lost or mixed up. */
    @Test
    void manyRecordsAndAMovingFront() {
        for (int i = 0; i < 300; i++) {
            sent.sent(i * 100, (i + 1) * 100, i);
        }
        assertEquals(25_000, sent.acknowledge(25_000, rack, NO_ECHO, 1000));
        for (int i = 300; i < 600; i++) {
            sent.sent(i * 100, (i + 1) * 100, i);
        }
        assertEquals(350, sent.size());
        assertEquals(35_000, sent.pipe());
        for (int i = 0; i < 350; i++) {
            assertEquals(25_000 + i * 100, sent.start(i));
            assertEquals(25_100 + i * 100, sent.end(i));
        }
        sent.clear();
        assertTrue(sent.isEmpty());
        assertEquals(0, sent.pipe());
    }
}
