package io.zstack.dpdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class EalConfigTest {

    @Test
    void defaultsWorkWithoutHugepagesOrPci() {
        List<String> args = EalConfig.builder().hugepagesWhenAvailable(Hugepages.NONE).build().toArguments();
        assertEquals(List.of("zstack", "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                "--file-prefix=zstack-" + ProcessHandle.current().pid(), "--no-telemetry", "--log-level=pmd.net.memif:error",
                "--log-level=*:warning"), args);
    }

    @Test
    void driverWarningsCanBeShown() {
        List<String> args = EalConfig.builder().quietDrivers(false).build().toArguments();
        assertEquals(List.of("--log-level=*:warning"), args.stream().filter(a -> a.startsWith("--log-level")).toList());
    }

    /** Hugepages when enough are free and mounted (with --huge-unlink), 4 KiB pages otherwise; the reason is told. */
    @Test
    void hugepagesAreUsedWhenEnoughAreFreeAndMounted() {
        String mounts = "proc /proc proc rw 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n";
        String meminfo = "MemTotal: 8000000 kB\nHugePages_Total:     128\nHugePages_Free:      128\n"
                + "Hugepagesize:       2048 kB\n";
        Hugepages found = Hugepages.parse(meminfo, mounts);
        assertEquals(new Hugepages(128, 2048, "/dev/hugepages"), found);
        EalConfig huge = EalConfig.builder().hugepagesWhenAvailable(found).build();
        assertTrue(huge.hugepages());
        assertTrue(huge.toArguments().contains("--huge-unlink") && !huge.toArguments().contains("--no-huge"));
        assertTrue(huge.memoryChoice().contains("128 free x 2048 KiB at /dev/hugepages"), huge.memoryChoice());
        // 256 MiB wanted, 128 MiB free: 4 KiB pages
        EalConfig tooFew = EalConfig.builder()
                .hugepagesWhenAvailable(Hugepages.parse(meminfo.replace("Free:      128", "Free:      64"), mounts))
                .build();
        assertTrue(tooFew.toArguments().contains("--no-huge"), tooFew.toString());
        assertTrue(tooFew.memoryChoice().contains("256 MiB needed"), tooFew.memoryChoice());
        // reserved but not mounted where EAL looks: 4 KiB pages
        EalConfig unmounted = EalConfig.builder().hugepagesWhenAvailable(Hugepages.parse(meminfo, "proc /proc proc rw 0 0\n"))
                .build();
        assertTrue(unmounted.toArguments().contains("--no-huge"));
        assertTrue(unmounted.memoryChoice().contains("no hugetlbfs mounted"), unmounted.memoryChoice());
        // asked for explicitly: no probing
        assertTrue(EalConfig.builder().hugepages(false).hugepagesWhenAvailable(found).hugepages(false).build()
                .toArguments().contains("--no-huge"));
    }

    @Test
    void realNicSettingsReplaceTheDefaults() {
        List<String> args = EalConfig.builder().hugepages(true).memoryMegabytes(1024).allowPci("0000:3b:00.0")
                .lcores("2-3").filePrefix("prod").sharedConfig(true).telemetry(true).logLevel(null)
                .vdev("net_tap0,iface=x").argument("--huge-dir=/mnt/huge").build().toArguments();
        assertEquals(List.of("zstack", "-l", "2-3", "-m", "1024", "-a", "0000:3b:00.0", "--file-prefix=prod",
                "--vdev=net_tap0,iface=x", "--huge-dir=/mnt/huge"), args);
    }

    @Test
    void equalityFollowsTheArguments() {
        assertEquals(EalConfig.defaults(), EalConfig.defaults());
        assertNotEquals(EalConfig.defaults(), EalConfig.builder().memoryMegabytes(512).build());
    }

    @Test
    void reinitialisingWithAnotherConfigurationIsRefused() {
        Eal.ensureInitialized();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Eal.init(EalConfig.builder().memoryMegabytes(64).filePrefix("other").build()));
        assertTrue(e.getMessage().contains("cannot be initialised again"), e.getMessage());
        Eal.init(Eal.config()); // the same configuration again is a no-op
    }

    @Test
    void initRestoresTheCallersCpuAffinity() throws Exception {
        // EAL pins its init thread to lcore 0; the JVM's threads must keep every CPU they had
        Eal.ensureInitialized();
        String allowed = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/thread-self/status")).stream()
                .filter(l -> l.startsWith("Cpus_allowed_list:")).findFirst().orElseThrow();
        String processAllowed = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status")).stream()
                .filter(l -> l.startsWith("Cpus_allowed_list:")).findFirst().orElseThrow();
        assertEquals(processAllowed, allowed);
        assertEquals(Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().availableProcessors());
    }

    @Test
    void registeredThreadsGetAnLcore() throws Exception {
        Eal.ensureInitialized();
        int[] ids = new int[2];
        Thread t = Thread.ofPlatform().start(() -> {
            ids[0] = Dpdk.lcoreId();
            ids[1] = Eal.registerThread();
            Eal.unregisterThread();
        });
        t.join();
        assertEquals(-1, ids[0], "a new thread is not an lcore");
        assertTrue(ids[1] > 0, "registered thread got lcore " + ids[1]);
    }

    @Test
    void unregisteringAThreadReturnsWhatItsCachesHoldToTheRing() throws Exception {
        Eal.ensureInitialized();
        Mempool pool = Mempool.create("unregister-flush", 511, 64, 2176);
        try {
            int[] inRing = new int[2];
            Thread t = Thread.ofPlatform().start(() -> {
                Eal.registerThread();
                long[] taken = new long[10];
                for (int i = 0; i < taken.length; i++) {
                    taken[i] = pool.alloc();
                }
                for (long m : taken) {
                    Mempool.free(m);
                }
                inRing[0] = pool.freeInRing();
                Eal.unregisterThread();
                inRing[1] = pool.freeInRing();
            });
            t.join();
            assertTrue(inRing[0] < 511, "the registered thread's cache held mbufs: " + inRing[0] + " in the ring");
            assertEquals(511, inRing[1], "all back in the ring once the thread gave its lcore up");
            assertEquals(511, pool.available());
        } finally {
            pool.close();
        }
    }

    /** memif zero copy's memory: single-file segments, whose files EAL keeps linked (never with --huge-unlink). */
    @Test
    void singleFileSegmentsKeepTheirFilesLinked() {
        Hugepages found = new Hugepages(512, 2048, "/dev/hugepages");
        List<String> args = EalConfig.builder().singleFileSegments(true).hugepagesWhenAvailable(found).build()
                .toArguments();
        assertTrue(args.contains("--single-file-segments") && !args.contains("--huge-unlink"), args.toString());
        EalConfig asArgument = EalConfig.builder().hugepages(true).argument("--single-file-segments").build();
        assertTrue(asArgument.singleFileSegments());
        assertEquals(1, asArgument.toArguments().stream().filter("--single-file-segments"::equals).count());
        IllegalArgumentException both = assertThrows(IllegalArgumentException.class, () -> EalConfig.builder()
                .hugepages(true).singleFileSegments(true).argument("--huge-unlink").build());
        assertTrue(both.getMessage().contains("EAL refuses"), both.getMessage());
        assertEquals("/run/h", EalConfig.builder().argument("--huge-dir=/run/h").build().hugeDirectory());
    }
}
