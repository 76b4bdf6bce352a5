package io.zstack.bench;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * How much CPU the JIT compiler threads of every JVM on the machine (threads named "C1 CompilerThre..." and
 * "C2 CompilerThre...") have used, read from /proc. The benchmark pins each JVM to one CPU, so a compilation takes
 * that CPU from the busy-polling loop: a server whose C2 recompiled for a second inside a 6 s window measured half
 * its rate. A warm-up is over only once the compilers are quiet (bench/harness.py does the same for wrk's warm-up).
 */
final class JitActivity {
    /** Linux reports thread times in USER_HZ ticks, 100 per second on every architecture this runs on. */
    private static final double TICKS_PER_SECOND = 100;

    private JitActivity() {
    }

    /** Per compiler thread (its /proc task path), the CPU ticks it has used so far; threads that vanish are skipped. */
    static Map<String, Long> ticks() {
        Map<String, Long> out = new HashMap<>();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), JitActivity::isNumber)) {
            for (Path proc : procs) {
                try (DirectoryStream<Path> tasks = Files.newDirectoryStream(proc.resolve("task"))) {
                    for (Path task : tasks) {
                        try {
                            String comm = Files.readString(task.resolve("comm"));
                            if (!comm.startsWith("C1 Compiler") && !comm.startsWith("C2 Compiler")) {
                                continue;
                            }
                            String stat = Files.readString(task.resolve("stat"));
                            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                            out.put(task.toString(), Long.parseLong(fields[11]) + Long.parseLong(fields[12]));
                        } catch (IOException | RuntimeException e) {
                            // the thread ended while we looked
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    // the process ended while we looked
                }
            }
        } catch (IOException e) {
            // no /proc: nothing to wait for
        }
        return out;
    }

    /**
     * CPU seconds the compiler threads used between two {@link #ticks} snapshots (a thread started meanwhile counts
     * whole; one that ended meanwhile loses its last part: C2 threads come and go with demand).
     */
    static double secondsBetween(Map<String, Long> before, Map<String, Long> after) {
        long ticks = 0;
        for (Map.Entry<String, Long> e : after.entrySet()) {
            ticks += e.getValue() - before.getOrDefault(e.getKey(), 0L);
        }
        return ticks / TICKS_PER_SECOND;
    }

    private static boolean isNumber(Path p) {
        String name = p.getFileName().toString();
        for (int i = 0; i < name.length(); i++) {
            if (!Character.isDigit(name.charAt(i))) {
                return false;
            }
        }
        return !name.isEmpty();
    }
}
