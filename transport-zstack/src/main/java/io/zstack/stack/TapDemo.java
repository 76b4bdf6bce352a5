package io.zstack.stack;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.device.DpdkPortDevice;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import io.zstack.ip.Ipv4Config;

/**
 * Runs a stack on a DPDK tap port, answering ARP and ping, until the time limit or SIGTERM; prints its counters
 * at the end. Run it inside a network namespace (demo.sh does):
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp ... io.zstack.stack.TapDemo --iface zstap0 --address 10.77.0.2/24 --seconds 30
 * </pre>
 */
public final class TapDemo {
    private TapDemo() {
    }

    public static void main(String[] args) throws Exception {
        String iface = "zstap0";
        String address = "10.77.0.2/24";
        long seconds = 30;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--iface" -> iface = args[++i];
                case "--address" -> address = args[++i];
                case "--seconds" -> seconds = Long.parseLong(args[++i]);
                default -> {
                    System.err.println("usage: TapDemo [--iface NAME] [--address A.B.C.D/N] [--seconds N]");
                    System.exit(2);
                }
            }
        }
        Ipv4Config config = Ipv4Config.parse(address, null);
        DpdkMbufPool pool = DpdkMbufPool.create("demo", 4095, 256, 2176);
        NetStack stack = new NetStack(DpdkPortDevice.open(Vdevs.tap(0, iface), PortConfig.defaults(), pool), config);
        Thread main = Thread.currentThread();
        stopRequested = false;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopRequested = true;
            try {
                main.join(5000);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }));
        System.out.println("zstack: " + stack.device() + " serving " + config + " on tap " + iface);
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        stack.start(System.nanoTime());
        while (!stopRequested && System.nanoTime() < deadline) {
            if (stack.poll(System.nanoTime()) == 0) {
                Thread.onSpinWait();
            }
        }
        System.out.println("zstack: " + stack.ip().counters());
        stack.close();
        pool.close();
    }

    private static volatile boolean stopRequested;
}
