package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.dpdk.PortConfig;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What {@link ZStackDevices} turns a user's choices into, without opening anything: the devargs of each factory,
 * the port configuration and the EAL arguments of a {@link ZStackDevices.Port}, each {@code with...} a changed copy.
 */
class ZStackDevicesTest {

    @Test
    void factoriesNameTheirDriversAndEachVdevIsUniqueInTheProcess() {
        String tap = ZStackDevices.tap("zs0").toString();
        String packet = ZStackDevices.afPacket("veth1").toString();
        String xdp = ZStackDevices.afXdp("veth2").toString();
        String server = ZStackDevices.memifServer(Path.of("/tmp/m.sock")).toString();
        String client = ZStackDevices.memifClient(Path.of("/tmp/m.sock")).toString();
        assertTrue(tap.matches("net_tap\\d+,iface=zs0"), tap);
        assertTrue(packet.matches("net_af_packet\\d+,iface=veth1"), packet);
        assertTrue(xdp.matches("net_af_xdp\\d+,iface=veth2,.*"), xdp);
        assertTrue(server.matches("net_memif\\d+,role=server,socket=/tmp/m.sock,.*"), server);
        assertTrue(client.matches("net_memif\\d+,role=client,socket=/tmp/m.sock,.*"), client);
        assertNotEquals(server.substring(0, server.indexOf(',')), client.substring(0, client.indexOf(',')),
                "two memif ends of one process need two device names");
        assertEquals("net_af_packet7,iface=eth1", ZStackDevices.dpdk("net_af_packet7,iface=eth1").toString());
    }

    @Test
    void portOptionsChangeACopy() {
        ZStackDevices.Port port = ZStackDevices.dpdk("net_ring9");
        ZStackDevices.Port tuned = port.withDescriptors(4096, 512).withMtu(9000).withoutOffloads()
                .withPromiscuous(false);
        assertEquals(PortConfig.defaults(), port.portConfig(), "the original is unchanged");
        PortConfig c = tuned.portConfig();
        assertEquals(List.of(4096, 512, 9000), List.of(c.rxDescriptors(), c.txDescriptors(), c.mtu()));
        assertFalse(c.checksumOffload() || c.tso() || c.promiscuous());
        assertThrows(IllegalArgumentException.class, () -> port.withDescriptors(0, 1024));
        assertThrows(IllegalArgumentException.class, () -> port.withMtu(-1));
    }

    @Test
    void ealOptionsBecomeEalArguments() {
        ZStackDevices.Port port = ZStackDevices.dpdk("0000:3b:00.0");
        assertNull(port.ealConfig(), "no EAL option: EAL starts with its defaults, or as the process started it");
        List<String> args = port.withHugepages(true).withEalMemoryMegabytes(1024).withPciAllowed("0000:3b:00.0")
                .withLcores("2").withEalArgument("--in-memory").ealConfig().toArguments();
        assertFalse(args.contains("--no-huge"), args.toString());
        assertTrue(Collections.indexOfSubList(args, List.of("-m", "1024")) >= 0, args.toString());
        assertTrue(Collections.indexOfSubList(args, List.of("-a", "0000:3b:00.0")) >= 0, args.toString());
        assertTrue(Collections.indexOfSubList(args, List.of("-l", "2")) >= 0, args.toString());
        assertTrue(args.contains("--in-memory"), args.toString());
        assertNull(port.ealConfig(), "the original is unchanged");
    }
}
