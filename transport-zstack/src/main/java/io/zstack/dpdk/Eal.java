package io.zstack.dpdk;

import static java.lang.foreign.ValueLayout.ADDRESS;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * DPDK's Environment Abstraction Layer: initialised once per process, from a typed {@link EalConfig}.
 *
 * <p>Threads: the thread that calls {@link #init} becomes EAL's main lcore (its affinity is restored unless the
 * configuration says otherwise). Any other thread that polls ports or allocates mbufs should call
 * {@link #registerThread()} once, so it gets an lcore id and with it a mempool cache; unregistered threads work,
 * but every mbuf alloc/free then goes to the shared ring.
 */
public final class Eal {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(Eal.class);
    private static final Path RUNTIME_ROOT = Path.of("/var/run/dpdk");

    private static EalConfig active;

    private Eal() {
    }

    /** Initialises EAL with the defaults, or returns if it is already up (with any configuration). */
    public static synchronized void ensureInitialized() {
        if (active == null) {
            init(EalConfig.defaults());
        }
    }

    /**
     * Initialises EAL. Calling again with an equal configuration does nothing; with another one it throws,
     * since DPDK cannot be initialised twice in a process.
     */
    public static synchronized void init(EalConfig config) {
        if (active != null) {
            if (active.equals(config)) {
                return;
            }
            throw new IllegalStateException("DPDK's EAL is already initialised in this process with [" + active
                    + "]; it cannot be initialised again with [" + config + "]");
        }
        Dpdk.requireShim();
        List<String> args = config.toArguments();
        int rc;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment argv = arena.allocate(ADDRESS, args.size() + 1);
            for (int i = 0; i < args.size(); i++) {
                argv.setAtIndex(ADDRESS, i, arena.allocateFrom(args.get(i)));
            }
            argv.setAtIndex(ADDRESS, args.size(), MemorySegment.NULL);
            rc = Shim.ealInit(args.size(), argv, config.keepMainThreadAffinity() ? 1 : 0);
        }
        if (rc < 0) {
            throw new DpdkException("rte_eal_init(" + config + ")" + hint(-rc), -rc);
        }
        active = config;
        Path runtimeDir = RUNTIME_ROOT.resolve(config.filePrefix());
        Path hugeFiles = linkedHugepageFiles(config);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            deleteRuntimeDirectory(runtimeDir);
            deleteHugepageFiles(hugeFiles, config.filePrefix());
        }, "zstack-eal-cleanup"));
        logger.info("DPDK EAL initialised: {} [{}]; memory: {}", Dpdk.version(), config, config.memoryChoice());
    }

    private static String hint(int errno) {
        return switch (errno) {
            case 1, 13 -> " (DPDK needs root, or CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_IPC_LOCK)";
            case 12 -> " (not enough memory for -m; lower EalConfig.memoryMegabytes or reserve hugepages)";
            case 114 -> " (EAL was already initialised by other code in this process)";
            default -> "";
        };
    }

    /**
     * True when EAL's memory is in hugepages (no {@code --no-huge}), as the running EAL says; false before init.
     */
    public static synchronized boolean hugepagesInUse() {
        return active != null && Shim.hasHugepages() != 0;
    }

    /** True when the running EAL keeps one file per memory segment list ({@code --single-file-segments}). */
    public static synchronized boolean singleFileSegments() {
        return active != null && Shim.singleFileSegments();
    }

    /**
     * The hugetlbfs directory whose files EAL keeps linked while it runs (hugepages with single-file segments, which
     * EAL refuses to unlink), or null: its files are removed at exit, as the runtime folder is.
     */
    private static Path linkedHugepageFiles(EalConfig config) {
        if (!config.hugepages() || !config.singleFileSegments()) {
            return null;
        }
        String dir = config.hugeDirectory() != null ? config.hugeDirectory() : Hugepages.probe().mountPoint();
        return dir == null ? null : Path.of(dir);
    }

    /** Removes EAL's hugepage files of this process ({@code <prefix>map_<list>}): the pages go back at exit. */
    static void deleteHugepageFiles(Path dir, String prefix) {
        if (dir == null || !Files.isDirectory(dir)) {
            return;
        }
        try (Stream<Path> files = Files.list(dir)) {
            files.filter(f -> f.getFileName().toString().matches(Pattern.quote(prefix) + "map_\\d+"))
                    .forEach(f -> {
                        try {
                            Files.deleteIfExists(f);
                        } catch (IOException ignored) {
                            // best effort at exit
                        }
                    });
        } catch (IOException ignored) {
            // best effort at exit
        }
    }

    public static synchronized boolean isInitialized() {
        return active != null;
    }

    /** The configuration EAL runs with, or null before {@link #init}. */
    public static synchronized EalConfig config() {
        return active;
    }

    /**
     * Gives the calling thread an lcore id (and so a mempool cache). Returns the id; calling it again on the same
     * thread returns the id it already has.
     */
    public static int registerThread() {
        ensureInitialized();
        int existing = Dpdk.lcoreId();
        if (existing >= 0) {
            return existing;
        }
        return DpdkException.check("rte_thread_register", Shim.threadRegister());
    }

    /**
     * Releases the calling thread's lcore id (call before a registered thread ends), first returning the mbufs its
     * caches hold to their mempools: nobody would use them until another thread happened to get the same id.
     */
    public static void unregisterThread() {
        if (isInitialized()) {
            Shim.threadUnregister();
        }
    }

    /**
     * EAL writes a runtime folder (/var/run/dpdk/PREFIX) even with --no-shconf and never removes it. The process
     * removes its own at exit, so tests and demos leave nothing behind.
     */
    static void deleteRuntimeDirectory(Path dir) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort at exit
                }
            });
        } catch (IOException ignored) {
            // best effort at exit
        }
    }
}
