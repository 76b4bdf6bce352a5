package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.dpdk.DpdkPort;
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
    void receiveDescriptorsDefaultPerDriverUnlessSet() {
        // af_xdp's receive ring absorbs a burst of 200 connections' 8 KB requests at 4096, not at 1024 (PortConfig)
        PortConfig defaults = ZStackDevices.dpdk("net_af_xdp3,iface=veth2").portConfig();
        assertEquals(4096, defaults.rxDescriptorsFor(DpdkPort.AF_XDP_DRIVER));
        assertEquals(1024, defaults.rxDescriptorsFor("net_memif"));
        assertEquals(1024, defaults.rxDescriptorsFor("net_af_packet"));
        assertEquals(1024, defaults.txDescriptors());
        PortConfig chosen = ZStackDevices.dpdk("net_af_xdp3,iface=veth2").withDescriptors(1024, 512).portConfig();
        assertEquals(1024, chosen.rxDescriptorsFor(DpdkPort.AF_XDP_DRIVER), "descriptors set are kept");
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

    /** Zero copy is a memif client's option, a changed copy, and asks EAL for the memory it needs. */
    @Test
    void zeroCopyAsksForHugepagesWithSingleFileSegments() {
        ZStackDevices.Port client = ZStackDevices.memifClient(Path.of("/tmp/m.sock"));
        ZStackDevices.Port zeroCopy = client.withZeroCopy().withEalArgument("--huge-dir=/run/huge");
        assertTrue(zeroCopy.toString().contains(",zero-copy=yes") && !zeroCopy.toString().contains("zero-copy=no"),
                zeroCopy.toString());
        assertTrue(client.toString().contains(",zero-copy=no") && !client.zeroCopy(), "the original is unchanged");
        assertTrue(zeroCopy.zeroCopy());
        assertNull(client.ealConfig());
        List<String> args = zeroCopy.ealConfig().toArguments();
        assertTrue(args.contains("--single-file-segments") && args.contains("--huge-dir=/run/huge"), args.toString());
        assertFalse(args.contains("--no-huge") || args.contains("--huge-unlink"), args.toString());
        assertTrue(ZStackDevices.dpdk("net_memif3,role=client,socket=/x,zero-copy=yes").zeroCopy(),
                "devargs asking for it are a zero-copy port too");
        assertEquals(client.toString(), client.withServerWait(java.time.Duration.ZERO).toString());
        IllegalStateException server = assertThrows(IllegalStateException.class,
                () -> ZStackDevices.memifServer(Path.of("/tmp/m.sock")).withZeroCopy());
        assertTrue(server.getMessage().contains("client role only"), server.getMessage());
        assertThrows(IllegalStateException.class, () -> ZStackDevices.tap("zs0").withServerWait(
                java.time.Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> client.withServerWait(java.time.Duration.ofSeconds(-1)));
    }

    /** Before EAL starts, a zero-copy port whose memory cannot be hugepages is refused, saying why. */
    @Test
    void zeroCopyWithoutHugepagesIsRefusedSayingWhy() {
        ZStackDevices.Port zeroCopy = ZStackDevices.memifClient(Path.of("/tmp/m.sock")).withZeroCopy();
        String devargs = zeroCopy.toString();
        IllegalStateException none = assertThrows(IllegalStateException.class, () -> ZStackDevices.SharedPort
                .requireZeroCopyMemory(devargs, zeroCopy.ealConfig(), io.zstack.dpdk.Hugepages.NONE));
        assertTrue(none.getMessage().contains("no hugetlbfs mounted and 0 free"), none.getMessage());
        IllegalStateException fourKiB = assertThrows(IllegalStateException.class, () -> ZStackDevices.SharedPort
                .requireZeroCopyMemory(devargs, zeroCopy.withHugepages(false).ealConfig(),
                        new io.zstack.dpdk.Hugepages(512, 2048, "/dev/hugepages")));
        assertTrue(fourKiB.getMessage().contains("4 KiB pages"), fourKiB.getMessage());
        ZStackDevices.SharedPort.requireZeroCopyMemory(devargs, zeroCopy.ealConfig(),
                new io.zstack.dpdk.Hugepages(128, 2048, "/dev/hugepages")); // 256 MiB free: allowed
    }
}
