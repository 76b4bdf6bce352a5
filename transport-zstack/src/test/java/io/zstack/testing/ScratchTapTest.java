package io.zstack.testing;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.dpdk.PortConfig;
import org.junit.jupiter.api.Test;

class ScratchTapTest {
    @Test
    void scratch() throws Exception {
        try (TapNetwork net = TapNetwork.create("10.77.0.1", PortConfig.defaults())) {
            System.out.println(net.device + " " + net.device.port().info());
            System.out.println(net.namespace.exec("ip", "addr"));
            Thread pinger = Thread.ofPlatform().start(() -> System.out.println(net.namespace.execResult(10, "ping", "-c", "2", "-W", "1", "10.77.0.2").output()));
            MbufBurst b = new MbufBurst(32);
            long end = System.nanoTime() + 3_000_000_000L;
            int total = 0;
            while (System.nanoTime() < end) {
                int n = net.device.receive(b);
                for (int i = 0; i < n; i++) {
                    byte[] f = Mbuf.toByteArray(b.get(i));
                    System.out.println("frame " + f.length + " ethertype " + Integer.toHexString(((f[12] & 0xff) << 8) | (f[13] & 0xff)) + " olflags " + Long.toHexString(Mbuf.olFlags(b.get(i))));
                }
                total += n;
                net.pool.freeBulk(b, 0, n);
            }
            pinger.join();
            System.out.println("total " + total);
        }
    }
}
