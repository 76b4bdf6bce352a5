package io.zstack.dpdk;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the machine offers DPDK in hugepages: the default size's free pages ({@code /proc/meminfo}) and whether a
 * hugetlbfs is mounted ({@code /proc/mounts}), where EAL looks for them. Root reserves them with
 * {@code echo N > /proc/sys/vm/nr_hugepages}; none are reserved when a machine starts.
 *
 * @param freePages  HugePages_Free
 * @param pageKib    Hugepagesize, in KiB
 * @param mountPoint a hugetlbfs mount point, or null when none is mounted
 */
public record Hugepages(long freePages, long pageKib, String mountPoint) {
    /** A machine without hugepages. */
    public static final Hugepages NONE = new Hugepages(0, 0, null);

    /** The running machine's, read now; {@link #NONE} when the files cannot be read. */
    public static Hugepages probe() {
        try {
            return parse(Files.readString(Path.of("/proc/meminfo")), Files.readString(Path.of("/proc/mounts")));
        } catch (IOException | RuntimeException e) {
            return NONE;
        }
    }

    /** From the text of /proc/meminfo and /proc/mounts. */
    public static Hugepages parse(String meminfo, String mounts) {
        long free = 0;
        long size = 0;
        for (String line : meminfo.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 2 && f[0].equals("HugePages_Free:")) {
                free = Long.parseLong(f[1]);
            } else if (f.length >= 2 && f[0].equals("Hugepagesize:")) {
                size = Long.parseLong(f[1]);
            }
        }
        String mount = null;
        for (String line : mounts.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 3 && f[2].equals("hugetlbfs")) {
                mount = f[1];
                break;
            }
        }
        return new Hugepages(free, size, mount);
    }

    /** Free hugepage memory, in MiB. */
    public long freeMegabytes() {
        return freePages * pageKib / 1024;
    }

    /** True when EAL can take {@code megabytes} MiB (0: EAL decides, so any free page) from mounted hugepages. */
    public boolean canBack(int megabytes) {
        return mountPoint != null && freePages > 0 && freeMegabytes() >= megabytes;
    }

    /** One line for the start-up log: what was found, and what it means for {@code megabytes}. */
    public String describe(int megabytes) {
        if (canBack(megabytes)) {
            return "hugepages: " + freePages + " free x " + pageKib + " KiB at " + mountPoint;
        }
        return "4 KiB pages (--no-huge): " + (mountPoint == null ? "no hugetlbfs mounted" : freePages + " free x "
                + pageKib + " KiB hugepages") + ", " + megabytes + " MiB needed";
    }
}
