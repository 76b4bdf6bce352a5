package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.device.FaultConfig;
import org.junit.jupiter.api.Test;

/**
 * Two stacks whose connection lost its sequence sync, each holding the other's segments unacceptable, must not answer
 * each other's ACKs with ACKs for ever (RFC 5961 §7's concern; a hijacked or corrupted connection does this): each
 * answers a bare unacceptable segment at most once per {@link TcpReceiver#INVALID_ACK_INTERVAL_NANOS}.
 */
class AckLoopTest {
    private static final long SECOND = 1_000_000_000L;

    @Test
    void desynchronisedEndsExchangeAFewAcksNotALoop() {
        try (TcpSimulation sim = new TcpSimulation(7, FaultConfig.NONE, TcpSettings.defaults())) {
            TcpConnection[] pair = sim.establish(TcpSettings.defaults(), 5 * SECOND);
            assertNotNull(pair[1], "established");
            TcpConnection a = pair[0];
            // a believes it received a megabyte b never sent: its ACKs acknowledge unsent data at b (answered with an
            // ACK), and b's segments lie a megabyte below a's window (answered with an ACK)
            a.receiver.rcvNxt += 1 << 20;
            a.receiver.rcvAdvertisedEdge += 1 << 20;
            long framesBefore = sim.link.a().stats().sentFrames() + sim.link.b().stats().sentFrames();
            a.receiver.sendAckNow(sim.now());
            sim.run(() -> false, 5 * SECOND);
            long frames = sim.link.a().stats().sentFrames() + sim.link.b().stats().sentFrames() - framesBefore;
            // unlimited, a frame each way per 1 ms round trip for the whole 5 s (about 10,000); limited, the loop ends
            // at the first answer that comes within half a second of the previous one
            assertTrue(frames <= 2 * 5 * 2, "frames exchanged in 5 s: " + frames);
            assertTrue(sim.a.tcp().counters().invalidAcksSuppressed + sim.b.tcp().counters().invalidAcksSuppressed > 0,
                    "the loop was cut by the limit");
        }
    }
}
