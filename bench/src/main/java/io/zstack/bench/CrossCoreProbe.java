package io.zstack.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * How long a cache line takes to go from one CPU to another and back right now: two threads, each pinned to one of
 * the two CPUs, pass a counter back and forth through two cache lines. The harness runs it before and after every
 * measurement (columns {@code cross_core_ns_before} and {@code cross_core_ns_after}).
 *
 * <p>Why: on these VMs the same pair of processes on the same two CPUs ran at 0.45 to 1.03 M req/s within minutes.
 * memif's share of the server's CPU went from 36 % to 11 % between two such runs: what its PMD pays is loads and
 * stores of cache lines the other CPU wrote, and the host places the VM's two CPUs nearer or farther apart (one round
 * trip measured 70 to 611 ns, minutes apart). A measurement bracketed by slow round trips is the host's, not the
 * server's.
 *
 * <p>Usage: {@code java --enable-native-access=ALL-UNNAMED -cp zstack-bench.jar io.zstack.bench.CrossCoreProbe CPU_A
 * CPU_B}; prints {@code cross_core_ns=<median> min=<min>} (one round trip, in ns, over 16 batches).
 */
public final class CrossCoreProbe {
    private static final int BATCHES = 16;
    private static final int ROUND_TRIPS_PER_BATCH = 5_000;
    /** Longs between the two lines: 256 bytes, so neither the line nor its prefetched neighbour is shared. */
    private static final int STRIDE = 32;
    private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(long[].class);

    private CrossCoreProbe() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: CrossCoreProbe CPU_A CPU_B");
            System.exit(2);
        }
        try {
            long[] ns = measure(Integer.parseInt(args[0]), Integer.parseInt(args[1]));
            System.out.println("cross_core_ns=" + ns[0] + " min=" + ns[1]);
        } catch (IllegalArgumentException e) {
            System.err.println("CrossCoreProbe: " + e.getMessage());
            System.exit(2);
        }
    }

    /**
     * One round trip between {@code cpuA} and {@code cpuB}: {median, min} over the batches, in ns. Throws
     * IllegalArgumentException when a CPU cannot be used (not online, or outside this process's affinity).
     */
    static long[] measure(int cpuA, int cpuB) throws InterruptedException {
        if (cpuA == cpuB) {
            throw new IllegalArgumentException("two different CPUs are needed, got " + cpuA + " twice");
        }
        long[] lines = new long[3 * STRIDE];
        int ping = STRIDE;
        int pong = 2 * STRIDE;
        long total = (long) BATCHES * ROUND_TRIPS_PER_BATCH;
        Throwable[] echoFailure = new Throwable[1];
        Thread echo = new Thread(() -> {
            try {
                pin(cpuB);
            } catch (Throwable t) {
                echoFailure[0] = t;
                SLOTS.setRelease(lines, pong, -1L); // tells the other side to stop waiting
                return;
            }
            for (long i = 1; i <= total; i++) {
                long seen;
                while ((seen = (long) SLOTS.getAcquire(lines, ping)) != i) {
                    if (seen < 0) {
                        return; // the timing side could not start
                    }
                    Thread.onSpinWait();
                }
                SLOTS.setRelease(lines, pong, i);
            }
        }, "cross-core-echo");
        echo.start();
        // the timing side runs on a thread of its own too: pinning the caller would leave it pinned
        long[] perBatch = new long[BATCHES];
        Throwable[] pingFailure = new Throwable[1];
        Thread timer = new Thread(() -> {
            try {
                pin(cpuA);
                long i = 0;
                for (int b = 0; b < BATCHES; b++) {
                    long start = System.nanoTime();
                    for (int k = 0; k < ROUND_TRIPS_PER_BATCH; k++) {
                        i++;
                        SLOTS.setRelease(lines, ping, i);
                        long seen;
                        while ((seen = (long) SLOTS.getAcquire(lines, pong)) != i) {
                            if (seen < 0) {
                                return; // the echo side could not start: its failure is reported below
                            }
                            Thread.onSpinWait();
                        }
                    }
                    perBatch[b] = (System.nanoTime() - start) / ROUND_TRIPS_PER_BATCH;
                }
            } catch (Throwable t) {
                pingFailure[0] = t;
                SLOTS.setRelease(lines, ping, -1L); // tells the echo side to stop waiting
            }
        }, "cross-core-ping");
        timer.start();
        timer.join();
        if (pingFailure[0] instanceof RuntimeException e) {
            throw e;
        }
        echo.join();
        if (echoFailure[0] instanceof RuntimeException e) {
            throw e;
        }
        if (pingFailure[0] != null || echoFailure[0] != null) {
            throw new IllegalStateException("cross-core probe failed", pingFailure[0] != null ? pingFailure[0]
                    : echoFailure[0]);
        }
        Arrays.sort(perBatch);
        return new long[] {perBatch[BATCHES / 2], perBatch[0]};
    }

    /** Pins the calling thread to {@code cpu} (sched_setaffinity of thread id 0, the caller). */
    private static void pin(int cpu) {
        if (cpu < 0 || cpu >= 1024) {
            throw new IllegalArgumentException("CPU " + cpu + " is outside 0..1023");
        }
        int rc;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(128); // cpu_set_t: 1024 bits
            mask.set(ValueLayout.JAVA_LONG, (cpu / 64) * 8L, 1L << (cpu % 64));
            rc = (int) SetAffinity.HANDLE.invokeExact(0, 128L, mask);
        } catch (Throwable t) {
            throw new IllegalStateException("sched_setaffinity", t);
        }
        if (rc != 0) {
            throw new IllegalArgumentException("CPU " + cpu + " cannot be used by this process (sched_setaffinity "
                    + "failed: not online, or outside the process's affinity mask)");
        }
    }

    /** libc's sched_setaffinity, looked up once. */
    private static final class SetAffinity {
        static final MethodHandle HANDLE;

        static {
            Linker linker = Linker.nativeLinker();
            HANDLE = linker.downcallHandle(linker.defaultLookup().find("sched_setaffinity").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                            ValueLayout.ADDRESS));
        }
    }
}
