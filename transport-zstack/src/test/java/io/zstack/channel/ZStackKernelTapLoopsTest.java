package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.device.FaultCounters;
import io.zstack.device.FaultInjectingDevice;
import io.zstack.ip.Ipv4Config;
import io.zstack.stack.TcpTapInteropTest;
import io.zstack.testing.Command;
import io.zstack.testing.NetNamespace;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two loops on one kernel TAP ({@link ZStackDevices#kernelTap}): a multi-queue TAP, one queue per loop, which the
 * group opens in the namespace of the thread that builds it. The kernel picks the queue of each frame it sends by
 * its own flow hash, so about half the frames reach the loop that does not hold their connection and are handed
 * over; every connection out to the kernel's echo server must complete and carry its own seeded stream
 * ({@link ZStackAfPacketLoopsTest#run}).
 */
class ZStackKernelTapLoopsTest {
    @Test
    void everyOutgoingConnectionOfTwoLoopsCompletesAndCarriesItsBytes(@TempDir Path dir) throws Exception {
        NetNamespace.requireRoot();
        Path script = TcpTapInteropTest.peerScript(dir);
        try (NetNamespace ns = NetNamespace.create()) {
            // made beforehand, multi-queue, and addressed before the application starts (as a user would)
            multiQueueTap(ns, "zkq0", "10.84.0.1/24");
            // the group opens the TAP's queues in the namespace of the thread that builds it
            ZStackAfPacketLoopsTest.run(script, ns, "10.84.0.1", 7200, ns, () -> new ZStackEventLoopGroup(2,
                    ZStackConfig.builder().device(ZStackDevices.kernelTap("zkq0"))
                            .address(Ipv4Config.parse("10.84.0.2/24", null)).build()));
        }
    }

    /**
     * The same against the kernel over a lossy link ({@link ZStackConfig.Builder#linkFaults} on both loops' queues,
     * both ways: frames lost, duplicated, reordered and delayed, the kernel's TSO frames and ours among them): each
     * connection still carries its stream whole, through both stacks' recovery. Fails if the faults did not happen.
     */
    @Test
    void overALossyLinkEveryConnectionStillCarriesItsBytes(@TempDir Path dir) throws Exception {
        NetNamespace.requireRoot();
        Path script = TcpTapInteropTest.peerScript(dir);
        try (NetNamespace ns = NetNamespace.create()) {
            multiQueueTap(ns, "zkf0", "10.85.0.1/24");
            ZStackAfPacketLoopsTest.run(script, ns, "10.85.0.1", 7300, ns, () -> new ZStackEventLoopGroup(2,
                    ZStackConfig.builder().device(ZStackDevices.kernelTap("zkf0"))
                            .linkFaults("drop=0.02,duplicate=0.01,reorder=0.02/3,delay=0.02:500us+500us,seed=3")
                            .address(Ipv4Config.parse("10.85.0.2/24", null)).build()), group -> {
                        FaultCounters done = FaultCounters.ZERO;
                        for (ZStackEventLoop loop : group.loops()) {
                            done = done.plus(loop.submit(() -> ((FaultInjectingDevice) loop.stack().device())
                                    .counters()).get(5, TimeUnit.SECONDS));
                        }
                        System.out.println("link faults: " + done);
                        assertTrue(done.dropped() > 0 && done.duplicated() > 0 && done.reordered() > 0
                                && done.delayed() > 0, "the faults did not all happen: " + done);
                    });
        }
    }

    /**
     * The kernel's echo server, path MTU discovery off (no DF), behind a kernel router whose interface toward the
     * loops (the TAP) has an MTU of 700: the router cuts the echoes into fragments, which carry no ports. Each loop's
     * fragments meet in the loop their addresses pick, and each datagram goes to its connection's loop once whole:
     * every connection still carries its stream.
     */
    @Test
    void echoesCutIntoFragmentsReachTheLoopsOfTheirConnections(@TempDir Path dir) throws Exception {
        NetNamespace.requireRoot();
        Path script = TcpTapInteropTest.peerScript(dir);
        try (NetNamespace router = NetNamespace.create(); NetNamespace server = NetNamespace.create()) {
            Command.check("ip", "link", "add", "zfs0", "netns", server.name(), "type", "veth", "peer", "name",
                    "zfr1", "netns", router.name());
            server.exec("ip", "addr", "add", "10.88.0.1/24", "dev", "zfs0");
            server.exec("ip", "link", "set", "zfs0", "up");
            server.exec("ip", "route", "add", "default", "via", "10.88.0.2");
            server.exec("sysctl", "-q", "-w", "net.ipv4.ip_no_pmtu_disc=1");
            router.exec("ip", "addr", "add", "10.88.0.2/24", "dev", "zfr1");
            router.exec("ip", "link", "set", "zfr1", "up");
            router.exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
            multiQueueTap(router, "zkfr0", "10.88.1.1/24");
            ZStackAfPacketLoopsTest.run(script, server, "10.88.0.1", 7400, router, () -> {
                ZStackEventLoopGroup group = new ZStackEventLoopGroup(2, ZStackConfig.builder()
                        .device(ZStackDevices.kernelTap("zkfr0"))
                        .address(Ipv4Config.parse("10.88.1.2/24", "10.88.1.1")).build());
                // after the loops opened the TAP at 1,500 (their MSS): the router's side of it now takes 700
                router.exec("ip", "link", "set", "zkfr0", "mtu", "700");
                return group;
            }, group -> {
                long reassembled = 0;
                long failed = 0;
                for (ZStackEventLoop loop : group.loops()) {
                    io.zstack.ip.IpCounters ip = loop.submit(() -> loop.stack().ip().counters()).get(5,
                            TimeUnit.SECONDS);
                    reassembled += ip.ipReassembled;
                    failed += ip.ipReassemblyFailed + ip.ipReassemblyTimeouts + ip.ipFragmentsDropped;
                }
                System.out.println("datagrams reassembled: " + reassembled);
                assertTrue(reassembled > 100, "datagrams reassembled: " + reassembled);
                assertTrue(failed == 0, "reassemblies failed: " + failed);
            });
        }
    }

    private static void multiQueueTap(NetNamespace ns, String name, String kernelAddress) throws Exception {
        ns.exec("ip", "tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr", "multi_queue");
        ns.exec("ip", "addr", "add", kernelAddress, "dev", name);
        ns.exec("ip", "link", "set", name, "up");
    }
}
