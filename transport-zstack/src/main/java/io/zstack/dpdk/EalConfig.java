package io.zstack.dpdk;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Typed EAL configuration. The defaults work on a machine with no hugepages and no NIC bound to DPDK
 * (vdevs only): {@code --no-huge -m 256 --no-pci --no-shconf --file-prefix=zstack-<pid> -l 0 --no-telemetry
 * --log-level=pmd.net.memif:error --log-level=*:warning}. {@link Builder#hugepagesWhenAvailable()} takes hugepages
 * (with {@code --huge-unlink}) when enough are free and mounted, and says so in the start-up line. For a real NIC,
 * allow its PCI address and choose lcores.
 */
public final class EalConfig {
    /**
     * Levels for drivers whose every start prints a warning that is no failure here, put before the global one.
     * memif warns "Failed to register mp action callback" on each probe: the callback serves secondary processes,
     * which --no-shconf rules out; memif's real failures are errors and still print. Left as they are, because
     * real failures share their level: pmd.net.tap (the multiq qdisc, rte_flow and secondary lines are errors, like
     * a tap that cannot be created) and lib.eal.
     */
    static final List<String> QUIET_DRIVER_LEVELS = List.of("pmd.net.memif:error");
    static final String SINGLE_FILE_SEGMENTS = "--single-file-segments";
    static final String HUGE_UNLINK = "--huge-unlink";

    private final boolean hugepages;
    /** Why hugepages are used or not, for the start-up line. */
    private final String memoryChoice;
    /** Hugepages chosen because the machine had them: their files are unlinked once mapped. */
    private final boolean hugeUnlink;
    /** One file per memory segment list instead of one per page: what memif's zero copy shares with its server. */
    private final boolean singleFileSegments;
    private final int memoryMegabytes;
    private final List<String> pciAllowList;
    private final String lcores;
    private final String filePrefix;
    private final boolean sharedConfig;
    private final boolean telemetry;
    private final List<String> vdevs;
    private final String logLevel;
    private final boolean quietDrivers;
    private final boolean keepMainThreadAffinity;
    private final List<String> extraArguments;

    private EalConfig(Builder b) {
        // given as a plain argument (an application's --eal-arg) it is still the option it names
        singleFileSegments = b.singleFileSegments || b.extraArguments.contains(SINGLE_FILE_SEGMENTS);
        if (singleFileSegments && b.extraArguments.contains(HUGE_UNLINK)) {
            throw new IllegalArgumentException(SINGLE_FILE_SEGMENTS + " and " + HUGE_UNLINK + " together: EAL refuses"
                    + " them (a memif zero-copy client shares its memory by its files, which must stay linked)");
        }
        if (b.hugepagesWhenAvailable) {
            Hugepages found = b.hugepageProbe != null ? b.hugepageProbe : Hugepages.probe();
            hugepages = found.canBack(b.memoryMegabytes);
            memoryChoice = found.describe(b.memoryMegabytes);
            // the files of single-file segments stay linked: EAL refuses --huge-unlink with them
            hugeUnlink = hugepages && !singleFileSegments;
        } else {
            hugeUnlink = false;
            hugepages = b.hugepages;
            memoryChoice = hugepages ? "hugepages (asked for)" : "4 KiB pages (--no-huge, asked for)";
        }
        memoryMegabytes = b.memoryMegabytes;
        pciAllowList = List.copyOf(b.pciAllowList);
        lcores = b.lcores;
        filePrefix = b.filePrefix != null ? b.filePrefix : "zstack-" + ProcessHandle.current().pid();
        sharedConfig = b.sharedConfig;
        telemetry = b.telemetry;
        vdevs = List.copyOf(b.vdevs);
        logLevel = b.logLevel;
        quietDrivers = b.quietDrivers;
        keepMainThreadAffinity = b.keepMainThreadAffinity;
        extraArguments = b.extraArguments.stream().filter(a -> !a.equals(SINGLE_FILE_SEGMENTS)).toList();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The defaults described above. */
    public static EalConfig defaults() {
        return builder().build();
    }

    /** True when EAL is given hugepages (no {@code --no-huge}). */
    public boolean hugepages() {
        return hugepages;
    }

    /** What memory EAL gets and why: the free hugepages found, or why it runs on 4 KiB pages. */
    public String memoryChoice() {
        return memoryChoice;
    }

    public String filePrefix() {
        return filePrefix;
    }

    /** The memory EAL reserves at start, in MiB ({@code -m}; 0: EAL decides). */
    public int memoryMegabytes() {
        return memoryMegabytes;
    }

    /** True with {@code --single-file-segments} (memif's zero copy needs it, with hugepages). */
    public boolean singleFileSegments() {
        return singleFileSegments;
    }

    /** The hugetlbfs directory a {@code --huge-dir=DIR} argument names, or null (EAL then takes the mounted one). */
    public String hugeDirectory() {
        for (String a : extraArguments) {
            if (a.startsWith("--huge-dir=")) {
                return a.substring("--huge-dir=".length());
            }
        }
        return null;
    }

    public boolean keepMainThreadAffinity() {
        return keepMainThreadAffinity;
    }

    /** The argv handed to rte_eal_init (argv[0] included). */
    public List<String> toArguments() {
        List<String> args = new ArrayList<>();
        args.add("zstack");
        args.add("-l");
        args.add(lcores);
        if (!hugepages) {
            args.add("--no-huge");
        } else if (hugeUnlink) {
            args.add(HUGE_UNLINK); // no hugepage files left behind in hugetlbfs, whatever way the process ends
        }
        if (singleFileSegments) {
            args.add(SINGLE_FILE_SEGMENTS);
        }
        if (memoryMegabytes > 0) {
            args.add("-m");
            args.add(Integer.toString(memoryMegabytes));
        }
        if (pciAllowList.isEmpty()) {
            args.add("--no-pci");
        } else {
            for (String pci : pciAllowList) {
                args.add("-a");
                args.add(pci);
            }
        }
        if (!sharedConfig) {
            args.add("--no-shconf");
        }
        args.add("--file-prefix=" + filePrefix);
        if (!telemetry) {
            args.add("--no-telemetry");
        }
        for (String vdev : vdevs) {
            args.add("--vdev=" + vdev);
        }
        if (logLevel != null) {
            if (quietDrivers) {
                // before the global level: a driver registers its log type after EAL read the options, and then
                // DPDK 22.11 takes the first option that matches it
                for (String level : QUIET_DRIVER_LEVELS) {
                    args.add("--log-level=" + level);
                }
            }
            args.add("--log-level=" + logLevel);
        }
        args.addAll(extraArguments);
        return args;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EalConfig other && toArguments().equals(other.toArguments())
                && keepMainThreadAffinity == other.keepMainThreadAffinity;
    }

    @Override
    public int hashCode() {
        return Objects.hash(toArguments(), keepMainThreadAffinity);
    }

    @Override
    public String toString() {
        return String.join(" ", toArguments());
    }

    public static final class Builder {
        private boolean hugepages;
        private boolean hugepagesWhenAvailable;
        private Hugepages hugepageProbe;
        private boolean singleFileSegments;
        private int memoryMegabytes = 256;
        private final List<String> pciAllowList = new ArrayList<>();
        private String lcores = "0";
        private String filePrefix;
        private boolean sharedConfig;
        private boolean telemetry;
        private final List<String> vdevs = new ArrayList<>();
        private String logLevel = "*:warning";
        private boolean quietDrivers = !Boolean.getBoolean("zstack.dpdk.driverWarnings");
        private boolean keepMainThreadAffinity;
        private final List<String> extraArguments = new ArrayList<>();

        private Builder() {
        }

        /**
         * Use hugepages, or not, whatever the machine offers (with {@code true}, EAL fails to start without enough
         * of them). Off by default; {@link #hugepagesWhenAvailable} decides from what the machine has.
         */
        public Builder hugepages(boolean on) {
            hugepages = on;
            hugepagesWhenAvailable = false;
            return this;
        }

        /**
         * Hugepages when the machine has a hugetlbfs mounted and enough free ones for {@link #memoryMegabytes}, else
         * {@code --no-huge} (4 KiB pages, first-touch and TLB costs); decided when the configuration is built, and
         * stated in EAL's start-up line ({@link EalConfig#memoryChoice()}). Not the default: rte_eal_init takes an
         * exclusive lock on the hugetlbfs directory, which every running DPDK process holds shared, so on a mount
         * another DPDK process uses (another engineer's benchmark, here) it blocks until that process exits. Use it
         * where the process owns its mount (the benchmark harness reserves and mounts its own).
         */
        public Builder hugepagesWhenAvailable() {
            hugepagesWhenAvailable = true;
            hugepageProbe = null;
            return this;
        }

        /** As {@link #hugepagesWhenAvailable}, deciding from {@code found} instead of this machine (tests). */
        public Builder hugepagesWhenAvailable(Hugepages found) {
            hugepagesWhenAvailable = true;
            hugepageProbe = found;
            return this;
        }

        /**
         * {@code --single-file-segments}: EAL backs each memory segment list with one hugetlbfs file instead of one
         * per page. memif's zero-copy client needs it (it hands its server those files, and the server maps the
         * client's mbufs from them). The files stay linked while the process runs (EAL refuses it with
         * {@code --huge-unlink}), so they outlive a killed process until the next EAL start in that directory or its
         * owner removes them; {@link Eal} removes its own at a normal exit.
         */
        public Builder singleFileSegments(boolean on) {
            singleFileSegments = on;
            return this;
        }

        /** Memory EAL reserves at start, in MiB ({@code -m}); 0 lets EAL decide (hugepages only). */
        public Builder memoryMegabytes(int megabytes) {
            if (megabytes < 0) {
                throw new IllegalArgumentException("memoryMegabytes: " + megabytes);
            }
            memoryMegabytes = megabytes;
            return this;
        }

        /** Allow a PCI device ({@code -a 0000:01:00.0}); with none, PCI is not scanned at all. */
        public Builder allowPci(String address) {
            pciAllowList.add(Objects.requireNonNull(address));
            return this;
        }

        /** EAL's lcore list ({@code -l}), "0" by default. */
        public Builder lcores(String list) {
            lcores = Objects.requireNonNull(list);
            return this;
        }

        /** Runtime-file prefix; unique per process by default so several processes can run side by side. */
        public Builder filePrefix(String prefix) {
            filePrefix = Objects.requireNonNull(prefix);
            return this;
        }

        /** Keep EAL's shared config (needed only for DPDK secondary processes). Off by default. */
        public Builder sharedConfig(boolean on) {
            sharedConfig = on;
            return this;
        }

        public Builder telemetry(boolean on) {
            telemetry = on;
            return this;
        }

        /** A vdev created at start-up; ports can also be hot-plugged later with {@link DpdkPort#probe}. */
        public Builder vdev(String devargs) {
            vdevs.add(Objects.requireNonNull(devargs));
            return this;
        }

        /**
         * EAL log level ({@code --log-level}), "*:warning" by default; null leaves DPDK's logging as it is, the
         * quieted drivers included.
         */
        public Builder logLevel(String level) {
            logLevel = level;
            return this;
        }

        /**
         * Whether drivers' known-harmless warnings are kept below the log level (memif's multi-process warning).
         * On by default; off with {@code -Dzstack.dpdk.driverWarnings=true} or {@code quietDrivers(false)}.
         */
        public Builder quietDrivers(boolean quiet) {
            quietDrivers = quiet;
            return this;
        }

        /**
         * rte_eal_init pins the calling thread to the main lcore's CPUs, and threads it creates later inherit
         * that. By default ZStack restores the caller's affinity afterwards; set this to keep the pinning.
         */
        public Builder keepMainThreadAffinity(boolean keep) {
            keepMainThreadAffinity = keep;
            return this;
        }

        /** Any other EAL argument, passed as is. */
        public Builder argument(String argument) {
            extraArguments.add(Objects.requireNonNull(argument));
            return this;
        }

        public EalConfig build() {
            return new EalConfig(this);
        }
    }
}
