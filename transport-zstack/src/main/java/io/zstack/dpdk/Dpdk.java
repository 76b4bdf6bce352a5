package io.zstack.dpdk;

/** Process-wide facts about the DPDK this process runs on. */
public final class Dpdk {
    /** The shim ABI this Java code was written against (ZS_SHIM_ABI in native/zstack_shim.c). */
    static final int SHIM_ABI = 2;

    private static volatile boolean checked;

    private Dpdk() {
    }

    /**
     * Loads the shim if needed and checks it is the one this code expects; throws
     * {@link DpdkUnavailableException} with a clear message otherwise. Every entry point into {@link Shim}
     * goes through here first.
     */
    static void requireShim() {
        if (checked) {
            return;
        }
        NativeShim.lookup();
        int abi = Shim.shimAbi();
        if (abi != SHIM_ABI) {
            throw new DpdkUnavailableException("ZStack's native shim has ABI " + abi + ", the Java side expects "
                    + SHIM_ABI + ": the shim and the transport jar come from different builds");
        }
        checked = true;
    }

    /**
     * Why DPDK and the shim do not load in this process (the libraries, the platform, native access, the shim's
     * build), or null when they do. Never throws. Users ask {@code io.zstack.channel.ZStack}, which adds the JDK.
     */
    public static DpdkUnavailableException unavailabilityCause() {
        try {
            requireShim();
            return null;
        } catch (DpdkUnavailableException e) {
            return e;
        }
    }

    /** DPDK's version string, e.g. "DPDK 22.11.11". */
    public static String version() {
        requireShim();
        return Shim.dpdkVersion().reinterpret(256).getString(0);
    }

    /** DPDK's text for an errno value (rte_strerror). */
    public static String strerror(int errno) {
        requireShim();
        return Shim.strerror(errno).reinterpret(1024).getString(0);
    }

    /** The calling thread's lcore id, or -1 when it is not an lcore (no mempool cache). */
    public static int lcoreId() {
        requireShim();
        int id = Shim.lcoreId();
        return id == (int) LCORE_ID_ANY ? -1 : id;
    }

    private static final long LCORE_ID_ANY = 0xffffffffL;

    /** Mempools that exist in this process now (a pool never freed shows here). */
    public static int mempoolCount() {
        Eal.ensureInitialized();
        return Shim.mempoolCount();
    }

    /** Bytes of EAL's heap allocated now: mempools, rings and the PMDs' own state. */
    public static long heapAllocatedBytes() {
        Eal.ensureInitialized();
        return Shim.heapAllocatedBytes();
    }
}
