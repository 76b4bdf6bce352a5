package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zstack.wire.Ipv4Packet;
import org.junit.jupiter.api.Test;

/** The RSS hash against the verification vectors of Microsoft's RSS specification (IPv4 with TCP ports). */
class ZStackFlowsTest {
    private static int hash(String source, int sourcePort, String destination, int destinationPort) {
        return ZStackFlows.toeplitz(Ipv4Packet.parseAddress(source), Ipv4Packet.parseAddress(destination),
                sourcePort, destinationPort);
    }

    @Test
    void toeplitzMatchesTheSpecificationVectors() {
        assertEquals(0x51ccc178, hash("66.9.149.187", 2794, "161.142.100.80", 1766));
        assertEquals(0xc626b0ea, hash("199.92.111.2", 14230, "65.69.140.83", 4739));
        assertEquals(0x5c2b394a, hash("24.19.198.95", 12898, "12.22.207.184", 38024));
        assertEquals(0xafc7327f, hash("38.27.205.30", 48228, "209.142.163.6", 2217));
        assertEquals(0x10e828a2, hash("153.39.163.191", 44251, "202.188.127.2", 1303));
    }

    @Test
    void aFlowMapsToOneQueueOfMany() {
        int remote = Ipv4Packet.parseAddress("10.0.0.1");
        int local = Ipv4Packet.parseAddress("10.0.0.2");
        int[] perQueue = new int[4];
        for (int port = 32768; port < 32768 + 4000; port++) {
            perQueue[ZStackFlows.queueOf(remote, 80, local, port, 4)]++;
        }
        for (int n : perQueue) {
            assertEquals(1000, n, 250, "ephemeral ports spread over the queues");
        }
    }
}
