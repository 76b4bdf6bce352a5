package io.zstack.tcp.cc;

/**
 * BBR (Cardwell et al., "BBR: Congestion-Based Congestion Control", ACM Queue 2016; draft-cardwell-iccrg-bbr, the
 * first version, which the Linux kernels here run): instead of reading loss as congestion, a model of the path from
 * the delivery rate samples: the bottleneck bandwidth (the largest delivery rate of the last ten round trips) and the
 * round-trip propagation time (the smallest RTT of the last ten seconds). The sender paces at a gain times that
 * bandwidth and keeps at most a gain times the bandwidth-delay product in flight; random loss changes neither, so a
 * path that drops 1 or 5% of packets at random keeps its rate, where CUBIC's window shrinks to about 1.2/sqrt(p).
 *
 * <p>States: STARTUP (gain 2/ln 2: doubling the rate each round until the bandwidth stops growing by 25% for three
 * rounds), DRAIN (the inverse gain, until the queue STARTUP built is gone), PROBE_BW (a cycle of eight RTTs with pacing
 * gains 5/4, 3/4 and six of 1: probe for more, drain what the probe queued, cruise), PROBE_RTT (every ten seconds
 * without a new minimum, four segments in flight for 200 ms and a round trip, so the queue empties and the minimum is
 * seen again).
 *
 * <p>Loss: a fast recovery holds the flight for its first round trip (packet conservation: what was delivered may be
 * sent), then the model's window applies again; bytes deemed lost during a recovery come off the window; when recovery
 * ends the window is back to at least what it was. A timeout starts over from one segment and grows by what each ACK
 * delivers; when everything outstanding at the timeout is acknowledged the window before it is restored. PRR does not
 * apply (see {@link #boundedByPrr}).
 *
 * <p>Everything happens in {@link #onRateSample}, which the sender calls at every ACK, in or out of recovery; byte
 * counts, bytes per second and nanoseconds throughout.
 */
public final class Bbr implements CongestionControl {
    /** The states of BBR's state machine. */
    public enum Mode { STARTUP, DRAIN, PROBE_BW, PROBE_RTT }

    static final double HIGH_GAIN = 2 / Math.log(2);
    static final double DRAIN_GAIN = 1 / HIGH_GAIN;
    static final double CWND_GAIN = 2;
    static final double[] PROBE_BW_GAINS = {1.25, 0.75, 1, 1, 1, 1, 1, 1};
    /** Round trips the bandwidth filter spans. */
    static final int BW_WINDOW_ROUNDS = 10;
    static final long MIN_RTT_WINDOW_NANOS = 10_000_000_000L;
    static final long PROBE_RTT_NANOS = 200_000_000L;
    static final int MIN_CWND_SEGMENTS = 4;
    /** STARTUP ends when the bandwidth grew less than this factor for {@link #FULL_BW_ROUNDS} rounds. */
    static final double FULL_BW_GROWTH = 1.25;
    static final int FULL_BW_ROUNDS = 3;
    /** Pacing a little under the estimate, so a queue does not build from the estimate's own error. */
    static final double PACING_MARGIN = 0.99;
    /** Pacing bursts: about a millisecond at the pacing rate, between two segments and 64 KiB. */
    static final long MAX_SEND_QUANTUM = 65536;

    private int mss = 536;
    private long cwnd;
    private long priorCwnd;
    private Mode mode = Mode.STARTUP;
    private double pacingGain = HIGH_GAIN;
    private double cwndGain = HIGH_GAIN;
    private long pacingRate;

    // the bandwidth filter: the largest sample of each of the last BW_WINDOW_ROUNDS round trips
    private final long[] bwOfRound = new long[BW_WINDOW_ROUNDS];
    private final long[] roundOfSlot = new long[BW_WINDOW_ROUNDS];
    private long maxBw;

    private long minRtt = -1;
    private long minRttStamp;
    private boolean probeRttDone;
    private long probeRttDoneStamp;
    private boolean probeRttRoundDone;

    /** Round trips: a round ends when a segment sent after the previous round ended is delivered. */
    private long roundCount;
    private long nextRoundDelivered;
    private boolean roundStart;

    private boolean filledPipe;
    private long fullBw;
    private int fullBwCount;

    private int cycleIndex;
    private long cycleStamp;

    private boolean inRecovery;
    /** Between a retransmission timeout and the ACK of everything that was outstanding at it. */
    private boolean inLossRecovery;
    private boolean packetConservation;
    private long recoveryRoundEnd;
    private boolean idleRestart;

    private long lastInflight;
    private long lastAcked;
    private long delivered;
    private long probeRttEntries;

    @Override
    public void init(int mss, long nowNanos) {
        this.mss = mss;
        this.cwnd = NewReno.initialWindow(mss);
        this.minRttStamp = nowNanos;
        this.cycleStamp = nowNanos;
        // no RTT yet: the initial window over a millisecond, at the startup gain
        this.pacingRate = (long) (HIGH_GAIN * cwnd * 1e9 / 1_000_000L);
    }

    @Override
    public long cwnd() {
        return cwnd;
    }

    /** BBR keeps no threshold: reported as unbounded. */
    @Override
    public long ssthresh() {
        return Long.MAX_VALUE;
    }

    @Override
    public boolean boundedByPrr() {
        return false;
    }

    @Override
    public long pacingRate() {
        return pacingRate;
    }

    public Mode mode() {
        return mode;
    }

    /** The bottleneck bandwidth estimate, bytes per second (0 before the first sample). */
    public long bandwidth() {
        return maxBw;
    }

    /** The round-trip propagation time estimate, or -1 before the first sample. */
    public long minRtt() {
        return minRtt;
    }

    public double pacingGain() {
        return pacingGain;
    }

    public long probeRttEntries() {
        return probeRttEntries;
    }

    /** Between a retransmission timeout and the end of its recovery. */
    public boolean inLossRecovery() {
        return inLossRecovery;
    }

    /** The window the model asks for at a gain: gain x bandwidth x min RTT, plus room for the pacing bursts. */
    long targetWindow(double gain) {
        if (minRtt < 0 || maxBw == 0) {
            return NewReno.initialWindow(mss);
        }
        long bdp = (long) (maxBw * (double) minRtt / 1e9);
        long target = (long) (gain * bdp) + 3 * sendQuantum();
        if (mode == Mode.PROBE_BW && cycleIndex == 0) {
            target += 2L * mss; // the probing phase: room for the extra the probe puts in flight
        }
        return Math.max(target, (long) MIN_CWND_SEGMENTS * mss);
    }

    long sendQuantum() {
        return sendQuantum(pacingRate, mss);
    }

    /** The bytes a pacer may send back to back: about a millisecond's worth at the rate, 2 segments to 64 KiB. */
    public static long sendQuantum(long pacingRate, int mss) {
        return Math.max(2L * mss, Math.min(pacingRate / 1000, MAX_SEND_QUANTUM));
    }

    @Override
    public void onRateSample(RateSample rs, long nowNanos) {
        lastInflight = rs.inflightBytes;
        lastAcked = rs.ackedBytes;
        delivered = rs.totalDelivered;
        if (rs.ackedBytes == 0 && rs.priorDelivered < 0) {
            return; // nothing delivered: no news for the model
        }
        updateRound(rs);
        updateBandwidth(rs);
        checkCyclePhase(rs, nowNanos);
        checkFullPipe(rs);
        checkDrain(rs, nowNanos);
        updateMinRtt(rs, nowNanos);
        setPacingRate(pacingGain);
        setCwnd(rs);
        idleRestart = false;
    }

    private void updateRound(RateSample rs) {
        roundStart = false;
        if (rs.priorDelivered >= 0 && rs.priorDelivered >= nextRoundDelivered) {
            nextRoundDelivered = rs.totalDelivered;
            roundCount++;
            roundStart = true;
            if (packetConservation && rs.priorDelivered >= recoveryRoundEnd) {
                packetConservation = false; // a round trip of recovery has passed
            }
        }
    }

    private void updateBandwidth(RateSample rs) {
        if (!rs.valid()) {
            return;
        }
        long bw = rs.rate();
        // an application-limited sample says only that the path carries at least this much
        if (rs.appLimited && bw < maxBw) {
            return;
        }
        int slot = (int) (roundCount % BW_WINDOW_ROUNDS);
        if (roundOfSlot[slot] != roundCount) {
            roundOfSlot[slot] = roundCount;
            bwOfRound[slot] = 0;
        }
        bwOfRound[slot] = Math.max(bwOfRound[slot], bw);
        long max = 0;
        for (int i = 0; i < BW_WINDOW_ROUNDS; i++) {
            if (roundCount - roundOfSlot[i] < BW_WINDOW_ROUNDS) {
                max = Math.max(max, bwOfRound[i]);
            }
        }
        maxBw = max;
    }

    /** PROBE_BW: each phase lasts a min RTT; the probe goes on until it put its extra in flight (or saw a loss). */
    private void checkCyclePhase(RateSample rs, long nowNanos) {
        if (mode != Mode.PROBE_BW) {
            return;
        }
        boolean fullLength = minRtt >= 0 && nowNanos - cycleStamp > minRtt;
        boolean next;
        if (pacingGain > 1) {
            next = fullLength && (inRecovery || rs.inflightBytes >= targetWindow(pacingGain) - 3 * sendQuantum());
        } else if (pacingGain < 1) {
            // the drain phase ends early once the flight is down to the estimated BDP
            next = fullLength || rs.inflightBytes <= targetWindow(1) - 3 * sendQuantum();
        } else {
            next = fullLength;
        }
        if (next) {
            cycleIndex = (cycleIndex + 1) % PROBE_BW_GAINS.length;
            cycleStamp = nowNanos;
            pacingGain = PROBE_BW_GAINS[cycleIndex];
        }
    }

    private void checkFullPipe(RateSample rs) {
        if (filledPipe || !roundStart || rs.appLimited) {
            return;
        }
        if (maxBw >= fullBw * FULL_BW_GROWTH) {
            fullBw = maxBw;
            fullBwCount = 0;
            return;
        }
        if (++fullBwCount >= FULL_BW_ROUNDS) {
            filledPipe = true;
        }
    }

    private void checkDrain(RateSample rs, long nowNanos) {
        if (mode == Mode.STARTUP && filledPipe) {
            mode = Mode.DRAIN;
            pacingGain = DRAIN_GAIN;
            cwndGain = HIGH_GAIN;
        }
        if (mode == Mode.DRAIN && rs.inflightBytes <= targetWindow(1) - 3 * sendQuantum()) {
            enterProbeBw(nowNanos);
        }
    }

    private void enterProbeBw(long nowNanos) {
        mode = Mode.PROBE_BW;
        cwndGain = CWND_GAIN;
        // a phase other than the draining one, picked from the clock so that flows starting together do not probe in
        // step (the paper picks at random)
        cycleIndex = (int) Math.floorMod(nowNanos / 1000, PROBE_BW_GAINS.length - 1);
        if (cycleIndex >= 1) {
            cycleIndex++;
        }
        cycleStamp = nowNanos;
        pacingGain = PROBE_BW_GAINS[cycleIndex];
    }

    /** The min RTT filter; when it is ten seconds old, PROBE_RTT drains the queue to see the propagation time again. */
    private void updateMinRtt(RateSample rs, long nowNanos) {
        boolean expired = nowNanos - minRttStamp > MIN_RTT_WINDOW_NANOS;
        if (rs.rttNanos >= 0 && (minRtt < 0 || rs.rttNanos <= minRtt || expired)) {
            minRtt = rs.rttNanos;
            minRttStamp = nowNanos;
        }
        if (expired && !idleRestart && mode != Mode.PROBE_RTT) {
            mode = Mode.PROBE_RTT;
            probeRttEntries++;
            pacingGain = 1;
            cwndGain = 1;
            saveCwnd();
            probeRttDoneStamp = 0;
        }
        if (mode == Mode.PROBE_RTT) {
            if (probeRttDoneStamp == 0 && rs.inflightBytes <= (long) MIN_CWND_SEGMENTS * mss) {
                probeRttDoneStamp = nowNanos + PROBE_RTT_NANOS;
                probeRttRoundDone = false;
                nextRoundDelivered = rs.totalDelivered;
            } else if (probeRttDoneStamp != 0) {
                if (roundStart) {
                    probeRttRoundDone = true;
                }
                if (probeRttRoundDone && nowNanos >= probeRttDoneStamp) {
                    minRttStamp = nowNanos;
                    cwnd = Math.max(cwnd, priorCwnd);
                    if (filledPipe) {
                        enterProbeBw(nowNanos);
                    } else {
                        mode = Mode.STARTUP;
                        pacingGain = HIGH_GAIN;
                        cwndGain = HIGH_GAIN;
                    }
                }
            }
        }
    }

    private void setPacingRate(double gain) {
        if (maxBw == 0) {
            if (minRtt > 0) {
                // no bandwidth sample yet: the window over the first RTT measured, instead of over the assumed 1 ms
                pacingRate = (long) (HIGH_GAIN * cwnd * 1e9 / minRtt);
            }
            return;
        }
        long rate = (long) (gain * maxBw * PACING_MARGIN);
        // in STARTUP the rate only rises: an early, small sample must not slow the ramp
        if (filledPipe || rate > pacingRate) {
            pacingRate = rate;
        }
    }

    private void setCwnd(RateSample rs) {
        long target = targetWindow(cwndGain);
        if ((inRecovery || inLossRecovery) && rs.lostBytes > 0) {
            // what was just deemed lost left the network without being delivered: it comes off the window (as
            // Linux's BBR does), so a recovery does not send into a path that is dropping at the window's size
            cwnd = Math.max(cwnd - rs.lostBytes, mss);
        }
        if (packetConservation) {
            cwnd = Math.max(cwnd, rs.inflightBytes + rs.ackedBytes);
        } else if (filledPipe) {
            cwnd = Math.min(cwnd + rs.ackedBytes, target);
        } else if (cwnd < target || rs.totalDelivered < NewReno.initialWindow(mss)) {
            cwnd += rs.ackedBytes;
        }
        cwnd = Math.max(cwnd, (long) MIN_CWND_SEGMENTS * mss);
        if (mode == Mode.PROBE_RTT) {
            cwnd = Math.min(cwnd, (long) MIN_CWND_SEGMENTS * mss);
        }
    }

    private void saveCwnd() {
        priorCwnd = inRecovery || inLossRecovery || mode == Mode.PROBE_RTT ? Math.max(priorCwnd, cwnd) : cwnd;
    }

    @Override
    public void onAck(long ackedBytes, long bytesInFlight, long rttNanos, long nowNanos) {
        // the model moves with the rate samples (onRateSample), at every ACK
    }

    @Override
    public void onEnterRecovery(long bytesInFlight, long nowNanos) {
        saveCwnd();
        inRecovery = true;
        packetConservation = true;
        recoveryRoundEnd = delivered;
        // the first round trip of recovery: what is in flight, plus what this ACK delivered
        cwnd = Math.max(lastInflight + lastAcked, (long) MIN_CWND_SEGMENTS * mss);
    }

    @Override
    public void onDuplicateAckInRecovery(long nowNanos) {
    }

    @Override
    public void onPartialAck(long ackedBytes, long nowNanos) {
    }

    @Override
    public void onExitRecovery(long nowNanos) {
        inRecovery = false;
        packetConservation = false;
        cwnd = Math.max(cwnd, priorCwnd);
    }

    @Override
    public void onRetransmitTimeout(long bytesInFlight, long nowNanos) {
        saveCwnd();
        inRecovery = false;
        inLossRecovery = true;
        packetConservation = false;
        // the window regrows by what each ACK delivers (setCwnd); the model stays. The bandwidth may have dropped (a
        // route change, a policer): the growth check starts over
        cwnd = mss;
        fullBw = 0;
        fullBwCount = 0;
    }

    /** The timeout's losses are repaired: the window the model had before it, if the regrowth has not passed it. */
    @Override
    public void onLossRecoveryEnd(long nowNanos) {
        inLossRecovery = false;
        cwnd = Math.max(cwnd, priorCwnd);
    }

    @Override
    public void undo(long priorCwnd, long priorSsthresh) {
        inRecovery = false;
        inLossRecovery = false;
        packetConservation = false;
        cwnd = Math.max(cwnd, Math.max(priorCwnd, this.priorCwnd));
    }

    @Override
    public void onIdleRestart(long nowNanos) {
        // back from idle: pace at the estimated bandwidth, without the probing gain, until the next ACK
        idleRestart = true;
        if (mode == Mode.PROBE_BW) {
            setPacingRate(1);
        }
    }

    @Override
    public String describe() {
        return " bbr[" + mode + " bw=" + maxBw * 8 / 1_000_000 + "Mbit/s minRtt="
                + (minRtt < 0 ? "-" : minRtt / 1000 + "us") + " pacing=" + pacingRate * 8 / 1_000_000
                + "Mbit/s gain=" + String.format("%.2f", pacingGain) + " round=" + roundCount
                + (filledPipe ? " full" : "") + " probeRtt=" + probeRttEntries + "]";
    }
}
