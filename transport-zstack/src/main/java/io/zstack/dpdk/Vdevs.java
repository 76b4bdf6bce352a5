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
        return memif(index, "server", socketPath, false);
    }

    /** The connecting side of a shared-memory link; it copies frames between its mbufs and the link's buffers. */
    public static String memifClient(int index, String socketPath) {
        return memif(index, "client", socketPath, false);
    }

    /**
     * The connecting side of a shared-memory link, with {@code zeroCopy}: the server then reads and writes the
     * client's own mbufs (DPDK offers it to the client role only, and only with hugepages and EAL's
     * {@code --single-file-segments}: the server maps the client's memory from those files).
     */
    public static String memifClient(int index, String socketPath, boolean zeroCopy) {
        return memif(index, "client", socketPath, zeroCopy);
    }

    private static String memif(int index, String role, String socketPath, boolean zeroCopy) {
        // an abstract socket would escape the test's own directory
        return "net_memif" + index + ",role=" + role + ",socket=" + socketPath + ",socket-abstract=no,zero-copy="
                + (zeroCopy ? "yes" : "no");
    }

    /** True for the devargs of a memif port in the client role (the end that connects to the server's socket). */
    public static boolean isMemifClient(String devargs) {
        return deviceName(devargs).startsWith("net_memif") && "client".equals(argument(devargs, "role", "server"));
    }

    /** True for memif devargs that ask for zero copy ({@code zero-copy=yes}). */
    public static boolean isMemifZeroCopy(String devargs) {
        return deviceName(devargs).startsWith("net_memif") && "yes".equals(argument(devargs, "zero-copy", "no"));
    }

    /** The value of {@code key=} in devargs, or {@code otherwise}. */
    public static String argument(String devargs, String key, String otherwise) {
        String[] parts = devargs.split(",");
        for (int i = 1; i < parts.length; i++) {
            if (parts[i].startsWith(key + "=")) {
                return parts[i].substring(key.length() + 1);
            }
        }
        return otherwise;
    }

    /** devargs with {@code key=value}, in place of the key's value if it has one, else added at the end. */
    public static String withArgument(String devargs, String key, String value) {
        String[] parts = devargs.split(",");
        StringBuilder out = new StringBuilder(parts[0]);
        boolean replaced = false;
        for (int i = 1; i < parts.length; i++) {
            out.append(',');
            if (parts[i].startsWith(key + "=")) {
                out.append(key).append('=').append(value);
                replaced = true;
            } else {
                out.append(parts[i]);
            }
        }
        if (!replaced) {
            out.append(',').append(key).append('=').append(value);
        }
        return out.toString();
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
