package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.device.FaultConfig;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Two stacks transfer streams both ways over a simulated link, clean and under loss, reordering, duplication and
 * corruption; every byte arrives in order, both sides close cleanly, and no mbuf leaks. Each case names its seed.
 */
class TcpSimulationTest {
    private static final long SECOND = 1_000_000_000L;

    static Object[][] cases() {
        FaultConfig lossy = FaultConfig.builder().drop(0.02).duplicate(0.01).corrupt(0.01).reorder(0.02).build();
        FaultConfig harsh = FaultConfig.builder().drop(0.10).duplicate(0.02).corrupt(0.02).reorder(0.05).build();
        int extraSeeds = Integer.getInteger("zstack.sim.seeds", 0); // -Dzstack.sim.seeds=40: a wider sweep, half lossy
        if (extraSeeds > 0) {
            Object[][] sweep = new Object[extraSeeds][];
            for (int i = 0; i < extraSeeds; i++) {
                boolean isHarsh = i >= extraSeeds / 2;
                sweep[i] = new Object[] {1000L + i, isHarsh ? harsh : lossy, isHarsh ? 300_000L : 1_000_000L};
            }
            return sweep;
        }
        return new Object[][] {
            {1L, FaultConfig.NONE, 2_000_000L},
            {2L, FaultConfig.NONE, 2_000_000L},
            {3L, lossy, 1_000_000L},
            {4L, lossy, 1_000_000L},
            {5L, lossy, 1_000_000L},
            {6L, harsh, 300_000L},
            {7L, harsh, 300_000L},
        };
    }

    @ParameterizedTest(name = "seed {0}: {2} bytes each way under {1}")
    @MethodSource("cases")
    void streamsArriveIntactBothWaysAndConnectionsCloseCleanly(long seed, FaultConfig faults, long bytes) {
        transfer(seed, faults, bytes, TcpSettings.defaults());
    }

    /**
     * A client that reuses its port while the server still holds the tuple in TIME_WAIT (wrk cycling through its
     * ports against a server that closes first) gets through at once, every time: each end's timestamp clock has
     * an offset fixed per tuple, so a new incarnation's timestamps are newer than the old one's. With an offset
     * drawn per connection, about half these SYNs carried an older timestamp and waited for the SYN's 1 s timeout.
     */
    @Test
    void aClientReusingItsPortGetsThroughTheServersTimeWaitAtOnce() {
        TcpSettings settings = TcpSettings.defaults();
        try (TcpSimulation sim = new TcpSimulation(11, FaultConfig.NONE, settings)) {
            TcpListener listener = sim.b.tcp().listen(TcpSimulation.B, 7000, settings);
            int rounds = 40;
            for (int i = 0; i < rounds; i++) {
                TcpConnection client = sim.a.tcp().connect(0, 40000, TcpSimulation.B, 7000, settings, null,
                        sim.now());
                TcpConnection[] server = new TcpConnection[1];
                int round = i;
                assertTrue(sim.run(() -> {
                    if (server[0] == null) {
                        server[0] = listener.accept();
                    }
                    return server[0] != null && client.state() == TcpState.ESTABLISHED;
                }, SECOND / 2), () -> "connection " + round + " not through within 500 ms: " + client.describe(sim.now())
                        + "\n" + sim.b.tcp().counters());
                server[0].close(sim.now()); // the server closes first and keeps the TIME_WAIT
                assertTrue(sim.run(() -> client.state() == TcpState.CLOSE_WAIT, SECOND));
                client.close(sim.now());
                assertTrue(sim.run(() -> client.state() == TcpState.CLOSED && sim.b.tcp().inTimeWait(server[0]),
                        SECOND));
            }
            assertEquals(rounds - 1, sim.b.tcp().counters().timeWaitReused);
            assertEquals(0, sim.b.tcp().counters().pawsRejected);
        }
    }

    static Object[][] casesWithoutSack() {
        FaultConfig lossy = FaultConfig.builder().drop(0.02).duplicate(0.01).corrupt(0.01).reorder(0.02).build();
        FaultConfig harsh = FaultConfig.builder().drop(0.10).duplicate(0.02).corrupt(0.02).reorder(0.05).build();
        return new Object[][] {{3L, lossy, 1_000_000L}, {4L, lossy, 1_000_000L}, {6L, harsh, 300_000L}};
    }

    /** Peers that do not offer SACK: NewReno recovery (RFC 6582) on dupACKs and partial ACKs, no RACK or TLP. */
    @ParameterizedTest(name = "without SACK, seed {0}: {2} bytes each way under {1}")
    @MethodSource("casesWithoutSack")
    void newRenoWithoutSackStillDeliversEverything(long seed, FaultConfig faults, long bytes) {
        TcpSettings settings = TcpSettings.builder().sack(false).build();
        transfer(seed, faults, bytes, settings);
    }

    /**
     * Receive coalescing (ReceiveCoalescer, as Linux's GRO) under the same faults: on a link with no bandwidth limit
     * a window's worth of segments arrives in one burst, and runs of them reach TCP as one segment of up to 64 KB
     * (with loss, reordering and duplication around them, and corrupted frames left out of the runs and dropped).
     */
    @ParameterizedTest(name = "coalesced, seed {0}: {2} bytes each way under {1}")
    @MethodSource("casesWithoutSack")
    void coalescedSegmentsDeliverEverythingUnderFaults(long seed, FaultConfig faults, long bytes) {
        try (TcpSimulation sim = new TcpSimulation(seed, faults, TcpSettings.defaults(), 500_000, 0)) {
            transfer(sim, seed, faults, bytes, TcpSettings.defaults());
            for (TcpHost host : new TcpHost[] {sim.a, sim.b}) {
                assertTrue(host.ip().counters().framesCoalesced > 0, "runs merged: " + host.ip().counters());
                assertTrue(host.tcp().counters().checksumErrors > 0, "corrupted frames still dropped by TCP: "
                        + host.tcp().counters());
            }
        }
    }

    private static void transfer(long seed, FaultConfig faults, long bytes, TcpSettings settings) {
        try (TcpSimulation sim = new TcpSimulation(seed, faults, settings)) {
            transfer(sim, seed, faults, bytes, settings);
        }
    }

    private static void transfer(TcpSimulation sim, long seed, FaultConfig faults, long bytes, TcpSettings settings) {
        TcpConnection[] pair = connect(sim, settings, seed);
        TcpConnection client = pair[0];
        TcpConnection[] server = {pair[1]};
        assertNotNull(server[0]);
        SplittableRandom sizes = new SplittableRandom(seed);
        long[] sentA = {0};
        long[] sentB = {0};
        long[] readA = {0};
        long[] readB = {0};
        long started = sim.now();
        boolean done = sim.run(() -> {
            long now = sim.now();
            sentA[0] = TcpSimulation.writeStream(client, sim.poolA, 100 + seed, sentA[0], bytes, sizes, now);
            sentB[0] = TcpSimulation.writeStream(server[0], sim.poolB, 200 + seed, sentB[0], bytes, sizes, now);
            readB[0] = TcpSimulation.readStream(server[0], sim.poolB, 100 + seed, readB[0], now);
            readA[0] = TcpSimulation.readStream(client, sim.poolA, 200 + seed, readA[0], now);
            return readA[0] == bytes && readB[0] == bytes;
        }, 120 * SECOND); // the harsh seeds need 5 to 30 s; stale RTT samples once made one take 2800 s
        // one line per seed for comparing recovery changes over a sweep (grep 'sim-sweep'): virtual time of the
        // transfer and both stacks' counters
        TcpCounters ca = sim.a.tcp().counters();
        TcpCounters cb = sim.b.tcp().counters();
        assertTrue(settings.sack() == client.sackOn && settings.sack() == server[0].sackOn);
        System.out.printf("sim-sweep " + (settings.sack() ? "" : "nosack-") + "seed %d %s: %d ms, timeouts %d, retransmitted %d, fast retransmits %d, probes %d, undone %d%n",
                seed, faults == FaultConfig.NONE ? "clean" : "drop " + faults.drop(), (sim.now() - started) / 1_000_000L,
                ca.timeouts + cb.timeouts, ca.retransmittedSegments + cb.retransmittedSegments,
                ca.fastRetransmits + cb.fastRetransmits, ca.tailLossProbes + cb.tailLossProbes,
                ca.recoveriesUndone + cb.recoveriesUndone);
        assertTrue(done, "seed " + seed + ": a->b " + readB[0] + "/" + bytes + ", b->a " + readA[0] + "/" + bytes
                + "\n" + sim.a.tcp().counters() + "\n" + sim.b.tcp().counters() + "\n" + client.describe(sim.now())
                + "\n" + server[0].describe(sim.now()));
        client.close(sim.now());
        server[0].close(sim.now());
        assertTrue(sim.run(() -> client.state() == TcpState.CLOSED && server[0].state() == TcpState.CLOSED,
                120 * SECOND),
                "seed " + seed + ": close ended in " + client.state() + " / " + server[0].state());
        assertTrue(client.error() == null && server[0].error() == null,
                "orderly close: " + client.error() + " / " + server[0].error());
        // TIME_WAIT ends after 2 MSL and the tables empty
        assertTrue(sim.run(() -> sim.a.tcp().connectionCount() == 0 && sim.b.tcp().connectionCount() == 0,
                2 * settings.mslNanos() + 10 * SECOND));
    }

    /**
     * Opens the connection the streams go over. Under the harsh faults every frame is lost with 19 % probability (10 %
     * at each of the two injectors it crosses), ARP's too, so now and then (a seed in a few hundred) every SYN or its
     * answer is lost until the client gives up, as TCP must: that attempt has to end in a timeout after all its
     * retries; or the client's last ACK and its answers to the server's resent SYN-ACKs are, and the server gives up
     * its half of the connection. The next attempt goes on; anything else fails the test.
     */
    private static TcpConnection[] connect(TcpSimulation sim, TcpSettings settings, long seed) {
        TcpListener listener = sim.b.tcp().listen(TcpSimulation.B, 7000, settings);
        for (int attempt = 0; attempt < 3; attempt++) {
            // beyond the SYN retries' last timeout (1 + 2 + ... + 64 s with the default 6 retries)
            TcpConnection[] pair = sim.establish(listener, settings, 200 * SECOND);
            TcpConnection client = pair[0];
            if (pair[1] != null && client.state() == TcpState.ESTABLISHED) {
                return pair;
            }
            if (client.state() == TcpState.ESTABLISHED && sim.b.tcp().connectionCount() == 0) {
                // our last ACK and every answer to the server's resent SYN-ACKs were lost: the server gave up on its
                // half-open connection, as TCP does, and this end would learn it from a RST when it next sent
                client.abort(sim.now());
                continue;
            }
            String why = "handshake, seed " + seed + ": " + client.describe(sim.now()) + "\n" + sim.a.tcp().counters()
                    + "\n" + sim.b.tcp().counters() + "\n" + sim.a.ip().counters() + "\n" + sim.b.ip().counters();
            assertEquals(TcpState.CLOSED, client.state(), why);
            assertEquals(TcpError.TIMED_OUT, client.error(), why);
            assertEquals(settings.synRetries(), client.sender().retransmitCount - 1, why);
        }
        throw new AssertionError("seed " + seed + ": three connects in a row timed out");
    }

    /** Both ends close at the same moment: FIN_WAIT_1, CLOSING, TIME_WAIT on both sides (RFC 9293 §3.6 case 2). */
    @Test
    void simultaneousCloseEndsInTimeWaitOnBothSides() {
        TcpSettings settings = TcpSettings.defaults();
        try (TcpSimulation sim = new TcpSimulation(10, FaultConfig.NONE, settings)) {
            TcpListener listener = sim.b.tcp().listen(TcpSimulation.B, 7000, settings);
            TcpConnection client = sim.a.tcp().connect(0, 0, TcpSimulation.B, 7000, settings, null, sim.now());
            TcpConnection[] server = new TcpConnection[1];
            assertTrue(sim.run(() -> (server[0] = server[0] != null ? server[0] : listener.accept()) != null
                    && client.state() == TcpState.ESTABLISHED, SECOND));
            client.close(sim.now());
            server[0].close(sim.now());
            assertEquals(TcpState.FIN_WAIT_1, client.state());
            assertEquals(TcpState.FIN_WAIT_1, server[0].state());
            assertTrue(sim.run(() -> sim.a.tcp().inTimeWait(client) && sim.b.tcp().inTimeWait(server[0]), SECOND),
                    client.state() + " / " + server[0].state());
            assertTrue(client.error() == null && server[0].error() == null);
        }
    }

    /** Both ends send SYN to each other at once: one connection, no listener (RFC 9293 §3.5 figure 7). */
    @Test
    void simultaneousOpenMakesOneConnection() {
        TcpSettings settings = TcpSettings.defaults();
        try (TcpSimulation sim = new TcpSimulation(12, FaultConfig.NONE, settings)) {
            TcpConnection a = sim.a.tcp().connect(0, 5001, TcpSimulation.B, 5002, settings, null, sim.now());
            TcpConnection b = sim.b.tcp().connect(0, 5002, TcpSimulation.A, 5001, settings, null, sim.now());
            assertTrue(sim.run(() -> a.state() == TcpState.ESTABLISHED && b.state() == TcpState.ESTABLISHED, 5 * SECOND),
                    a.state() + " / " + b.state());
            long[] sent = {0};
            long[] read = {0};
            SplittableRandom sizes = new SplittableRandom(1);
            assertTrue(sim.run(() -> {
                sent[0] = TcpSimulation.writeStream(a, sim.poolA, 3, sent[0], 100_000, sizes, sim.now());
                read[0] = TcpSimulation.readStream(b, sim.poolB, 3, read[0], sim.now());
                return read[0] == 100_000;
            }, 10 * SECOND));
        }
    }

    @Test
    void connectingToAClosedPortIsRefused() {
        TcpSettings settings = TcpSettings.defaults();
        try (TcpSimulation sim = new TcpSimulation(9, FaultConfig.NONE, settings)) {
            TcpConnection client = sim.a.tcp().connect(0, 0, TcpSimulation.B, 9999, settings, null, sim.now());
            assertTrue(sim.run(() -> client.state() == TcpState.CLOSED, 10 * SECOND));
            assertEquals(TcpError.REFUSED, client.error());
            assertEquals(1, sim.b.tcp().counters().noSocket);
        }
    }
}
