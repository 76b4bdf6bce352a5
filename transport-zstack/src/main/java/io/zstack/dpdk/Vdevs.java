package io.zstack.dpdk;

/**
 * devargs strings for the virtual devices that work on these machines (see DESIGN.md), to pass to
 * {@link DpdkPort#probe}. The device name (before the first comma) must be unique in the process.
 */
public final class Vdevs {
    private Vdevs() {
    }

    /** A kernel tap interface named {@code iface} in the calling thread's network namespace. */
    public static String tap(int index, String iface) {
        return "net_tap" + index + ",iface=" + iface;
    }

    /** An AF_PACKET socket on an existing kernel interface (a veth end); keep kernel IP off that interface. */
    public static String afPacket(int index, String iface) {
        return "net_af_packet" + index + ",iface=" + iface;
    }

    /** AF_XDP on an existing kernel interface; takes its frames away from the kernel. */
    public static String afXdp(int index, String iface) {
        return "net_af_xdp" + index + ",iface=" + iface + ",start_queue=0,queue_count=1";
    }

    /** The listening side of a shared-memory link; {@code socketPath} is a filesystem path. */
    public static String memifServer(int index, String socketPath) {
        return memif(index, "server", socketPath);
    }

    /** The connecting side of a shared-memory link. */
    public static String memifClient(int index, String socketPath) {
        return memif(index, "client", socketPath);
    }

    private static String memif(int index, String role, String socketPath) {
        // zero-copy fails without hugepages; an abstract socket would escape the test's own directory
        return "net_memif" + index + ",role=" + role + ",socket=" + socketPath + ",socket-abstract=no,zero-copy=no";
    }

    /** A port whose transmit ring is its receive ring: what it sends, it receives. */
    public static String ring(int index) {
        return "net_ring" + index;
    }

    /** The device name part of devargs (what rte_eth_dev_get_port_by_name takes). */
    public static String deviceName(String devargs) {
        int comma = devargs.indexOf(',');
        return comma < 0 ? devargs : devargs.substring(0, comma);
    }
}
