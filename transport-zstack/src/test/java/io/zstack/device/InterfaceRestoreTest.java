package io.zstack.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import io.zstack.testing.NetNamespace;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * A closed af_packet or af_xdp port gives its interface back as it found it: `ip -d link` (flags, promiscuity, XDP
 * program) reads the same before the port opened and after it closed. The port is opened on a thread inside the
 * test's namespace and closed from the test's own thread, outside it: the close must still act on that interface.
 */
class InterfaceRestoreTest {
    @Test
    void afPacketLeavesTheInterfaceAsItFoundIt() throws Exception {
        openAndClose(iface -> Vdevs.afPacket(60, iface), false, false);
    }

    @Test
    void afXdpDetachesItsProgramAndLeavesTheInterfaceAsItFoundIt() throws Exception {
        openAndClose(iface -> Vdevs.afXdp(61, iface), true, false);
    }

    /** Promiscuous mode the interface had before stays on: only what the port changed is undone. */
    @Test
    void aFlagSetBeforehandStays() throws Exception {
        openAndClose(iface -> Vdevs.afPacket(62, iface), false, true);
    }

    private static void openAndClose(Function<String, String> devargs, boolean xdp, boolean promiscuousBefore)
            throws Exception {
        try (NetNamespace ns = NetNamespace.create();
             DpdkMbufPool pool = DpdkMbufPool.create("ifr-" + ProcessHandle.current().pid() + (xdp ? "x" : "p")
                     + promiscuousBefore, 4095, 0, 2176, xdp)) {
            ns.exec("ip", "link", "add", "va", "type", "veth", "peer", "name", "vb");
            ns.exec("ip", "link", "set", "va", "up");
            ns.exec("ip", "link", "set", "vb", "up");
            if (promiscuousBefore) {
                ns.exec("ip", "link", "set", "va", "promisc", "on");
            }
            String before = ns.exec("ip", "-d", "link", "show", "va");
            DpdkPortDevice device = ns.call(() -> DpdkPortDevice.open(devargs.apply("va"), PortConfig.defaults(),
                    pool));
            String open = ns.exec("ip", "-d", "link", "show", "va");
            // the port did change the interface, so the comparison below can fail
            assertTrue(open.contains("PROMISC"), open);
            if (xdp) {
                assertTrue(open.contains("prog/xdp"), open);
            }
            device.close(); // from this thread, which is not in the namespace
            String after = ns.exec("ip", "-d", "link", "show", "va");
            assertEquals(before, after, "interface before the port opened vs after it closed");
            assertEquals(pool.capacity() - device.mbufsKeptAfterClose(), pool.available(),
                    "every mbuf home but those the driver forgot, counted at close");
            assertTrue(pool.closeAbandoned(device.mbufsKeptAfterClose()));
        }
    }
}
