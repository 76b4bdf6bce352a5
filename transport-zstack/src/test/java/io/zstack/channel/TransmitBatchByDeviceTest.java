package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zstack.ip.Ipv4Config;
import io.zstack.testing.NetNamespace;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * How long a loop holds its writes to share a transmit call follows the device it polls, unless the configuration
 * says: af_xdp and af_packet end every transmit burst in a {@code sendto} (on a veth it also runs the peer's receive
 * and interrupts the peer's CPU), so their loops wait up to {@link ZStackConfig#KERNEL_TRANSMIT_BATCH_NANOS}; a tap
 * (a write per frame whatever the burst) and memif (no system call) keep {@link ZStackConfig#DEFAULT_TRANSMIT_BATCH_NANOS}.
 * Real ports, as the group opens them.
 */
class TransmitBatchByDeviceTest {
    @Test
    void loopsOnAfXdpAndAfPacketHoldWritesForTheKernelWindowAndATapDoesNot() throws Exception {
        try (NetNamespace ns = NetNamespace.create()) {
            // two veths: tb0 for af_xdp, tb2 for af_packet (each end up, as the PMDs need)
            ns.exec("ip", "link", "add", "tb0", "type", "veth", "peer", "name", "tb1");
            ns.exec("ip", "link", "add", "tb2", "type", "veth", "peer", "name", "tb3");
            for (String end : List.of("tb0", "tb1", "tb2", "tb3")) {
                ns.exec("ip", "link", "set", end, "up");
            }
            assertEquals(ZStackConfig.KERNEL_TRANSMIT_BATCH_NANOS, windowOf(ns, ZStackDevices.afXdp("tb0"), b -> b));
            assertEquals(ZStackConfig.KERNEL_TRANSMIT_BATCH_NANOS, windowOf(ns, ZStackDevices.afPacket("tb2"), b -> b));
            assertEquals(5_000, windowOf(ns, ZStackDevices.afPacket("tb2"), b -> b.transmitBatch(5_000)),
                    "a window the configuration sets wins over the device's");
            assertEquals(ZStackConfig.DEFAULT_TRANSMIT_BATCH_NANOS, windowOf(ns, ZStackDevices.tap("tbtap"), b -> b));
        }
    }

    @Test
    void loopsOnMemifKeepTheShortWindow() throws Exception {
        MemifRecordingPair pair = new MemifRecordingPair("tbmemif", 45, 45, b -> b);
        pair.run(() -> {
            assertEquals(ZStackConfig.DEFAULT_TRANSMIT_BATCH_NANOS,
                    ((ZStackEventLoop) pair.serverGroup.next()).transmitBatchNanos(), "memif server");
            assertEquals(ZStackConfig.DEFAULT_TRANSMIT_BATCH_NANOS,
                    ((ZStackEventLoop) pair.clientGroup.next()).transmitBatchNanos(), "memif client");
        });
    }

    /** The transmit window of a one-loop group over {@code device}, opened in {@code ns}. */
    private static long windowOf(NetNamespace ns, ZStackConfig.DeviceFactory device,
                                 UnaryOperator<ZStackConfig.Builder> config) throws Exception {
        // the port's sockets open in the namespace of the thread that builds the group
        ZStackEventLoopGroup group = ns.call(() -> new ZStackEventLoopGroup(1, config.apply(ZStackConfig.builder()
                .device(device).address(Ipv4Config.parse("10.84.0.2/24", null))).build()));
        try {
            return ((ZStackEventLoop) group.next()).transmitBatchNanos();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }
}
