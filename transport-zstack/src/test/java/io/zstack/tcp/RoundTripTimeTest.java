package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.device.FaultConfig;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The RTT estimator follows the path's round trip on a path far shorter than the timestamp option's millisecond
 * (a same-host or LAN path): its samples come from the segments' send times, as Linux takes them, not from the
 * echoed timestamps, which say 0 or 1 ms there (and left SRTT anywhere from 1 ns to 1 ms, and with it RACK's
 * reordering window and the probe timeout). Both ends, from the handshake on, with timestamps on and off.
 */
class RoundTripTimeTest {
    private static final long US = 1_000;
    private static final long SECOND = 1_000_000_000L;
    /** 50 µs each way; the simulation steps 20 µs at a time, so a round trip takes 100 to 140 µs. */
    private static final long ONE_WAY = 50 * US;
    private static final long LOW = 2 * ONE_WAY;
    private static final long HIGH = 2 * ONE_WAY + 60 * US;
    /** The simulation's MAC addresses (TcpSimulation). */
    private static final long MAC_A = 0x020000000001L;
    private static final long MAC_B = 0x020000000002L;

    @ParameterizedTest(name = "timestamps {0}")
    @ValueSource(booleans = {true, false})
    void srttIsThePathsRoundTripFromTheHandshakeOn(boolean timestamps) {
        // without Nagle, a request cut in two pieces leaves at once instead of waiting for a delayed ACK of the first
        TcpSettings settings = TcpSettings.builder().timestamps(timestamps).nagle(false).build();
        try (TcpSimulation sim = new TcpSimulation(21, FaultConfig.NONE, settings, ONE_WAY)) {
            // each end knows the other's MAC, or the SYN would wait one round trip for ARP (and its RTT include it)
            sim.a.ip().arp().confirm(TcpSimulation.B, MAC_B, sim.now(), true, sim.poolA, (packet, mac) -> { });
            sim.b.ip().arp().confirm(TcpSimulation.A, MAC_A, sim.now(), true, sim.poolB, (packet, mac) -> { });
            TcpConnection[] pair = sim.establish(settings, SECOND);
            TcpConnection client = pair[0];
            TcpConnection server = pair[1];
            assertNotNull(server, "accepted");
            assertWithinPath("client after its SYN-ACK", client);
            assertWithinPath("server after the handshake's ACK", server);

            // request / response: each side's data is acknowledged by the other's next segment
            SplittableRandom sizes = new SplittableRandom(5);
            long requested = 0;
            long served = 0;
            long answered = 0;
            long received = 0;
            for (int round = 1; round <= 50; round++) {
                long target = round * 300L;
                requested = TcpSimulation.writeStream(client, sim.poolA, 1, requested, target, sizes, sim.now());
                long[] got = {served};
                assertTrue(sim.run(() -> (got[0] = TcpSimulation.readStream(server, sim.poolB, 1, got[0],
                        sim.now())) == target, SECOND), "request " + round);
                served = got[0];
                answered = TcpSimulation.writeStream(server, sim.poolB, 2, answered, target, sizes, sim.now());
                long[] back = {received};
                assertTrue(sim.run(() -> (back[0] = TcpSimulation.readStream(client, sim.poolA, 2, back[0],
                        sim.now())) == target, SECOND), "response " + round);
                received = back[0];
            }
            assertWithinPath("client after 50 exchanges", client);
            assertWithinPath("server after 50 exchanges", server);
        }
    }

    private static void assertWithinPath(String when, TcpConnection c) {
        RttEstimator rtt = c.sender.rtt;
        assertTrue(rtt.hasSample(), when + ": no RTT sample");
        assertTrue(rtt.srtt() >= LOW && rtt.srtt() <= HIGH,
                when + ": SRTT " + rtt.srtt() + " ns, the path's round trip is " + LOW + " to " + HIGH + " ns; " + rtt);
        assertTrue(rtt.minRtt() >= LOW && rtt.minRtt() <= HIGH, when + ": min RTT " + rtt.minRtt() + " ns");
    }
}
