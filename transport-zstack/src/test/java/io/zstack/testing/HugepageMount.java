package io.zstack.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * 2 MiB hugepages reserved for one test and given back after it (a machine starts with none; see DESIGN.md): adds
 * {@code pages} to {@code /proc/sys/vm/nr_hugepages} and mounts a hugetlbfs of the test's own for them (EAL locks
 * the directory it uses, so a shared mount would make another DPDK process wait). {@link #close()} removes the files
 * left in it, unmounts it and takes back only the pages it added, so a machine where others hold hugepages keeps
 * theirs. A test JVM stopped part-way (Ctrl-C on {@code mvn test}, a SIGTERM) gives them back too, from a shutdown
 * hook; only a SIGKILL leaves the mount and the pages behind. Needs root.
 */
public final class HugepageMount implements AutoCloseable {
    private static final Path NR_HUGEPAGES = Path.of("/proc/sys/vm/nr_hugepages");

    private final Path dir;
    private final int added;
    private final Thread onExit;
    private boolean closed;

    private HugepageMount(Path dir, int added) {
        this.dir = dir;
        this.added = added;
        this.onExit = new Thread(this::closeQuietly, "hugepage-mount-release");
        Runtime.getRuntime().addShutdownHook(onExit);
    }

    /** Reserves {@code pages} x 2 MiB and mounts them; fails, having given back what it took, if the kernel gives fewer. */
    public static HugepageMount reserve(int pages) throws IOException {
        if (!"0".equals(Command.check("id", "-u").trim())) {
            throw new IllegalStateException("this test needs root (it reserves hugepages); run the test command as"
                    + " root, as .ci/run does");
        }
        int before = nrHugepages();
        setNrHugepages(before + pages);
        int added = Math.max(0, nrHugepages() - before);
        Path dir = Files.createTempDirectory("zstack-huge");
        HugepageMount mount = new HugepageMount(dir, added);
        try {
            if (added < pages) {
                throw new IllegalStateException("asked the kernel for " + pages + " hugepages of 2 MiB, it gave "
                        + added + " (memory too fragmented or too small)");
            }
            Command.check("mount", "-t", "hugetlbfs", "-o", "pagesize=2M,size=" + pages * 2 + "M", "nodev",
                    dir.toString());
        } catch (RuntimeException e) {
            mount.close();
            throw e;
        }
        return mount;
    }

    /** The hugetlbfs mount point (EAL's {@code --huge-dir}). */
    public Path dir() {
        return dir;
    }

    private static void setNrHugepages(int n) throws IOException {
        Files.writeString(NR_HUGEPAGES, Integer.toString(n));
    }

    /**
     * One read at offset 0: a sysctl file answers a read at any other offset with end of file, so Files.readString
     * (which reads its first byte alone, the file's size being 0) sees "9" for 96.
     */
    private static int nrHugepages() throws IOException {
        try (var in = Files.newInputStream(NR_HUGEPAGES)) {
            byte[] b = new byte[64];
            int n = in.read(b);
            return Integer.parseInt(new String(b, 0, Math.max(0, n), java.nio.charset.StandardCharsets.US_ASCII).trim());
        }
    }

    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        if (Thread.currentThread() != onExit) {
            try {
                Runtime.getRuntime().removeShutdownHook(onExit);
            } catch (IllegalStateException e) {
                // the JVM is exiting: the hook finds this mount closed
            }
        }
        if (Command.run("mountpoint", "-q", dir.toString()).exitCode() == 0) {
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f); // hugepage files a killed process left: their pages go back
                }
            }
            Command.check("umount", dir.toString());
        }
        Files.deleteIfExists(dir);
        int now = nrHugepages();
        setNrHugepages(Math.max(0, now - added));
    }

    private void closeQuietly() {
        try {
            close();
        } catch (IOException | RuntimeException e) {
            System.err.println("hugepages at " + dir + " not given back: " + e);
        }
    }
}
