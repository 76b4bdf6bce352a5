package io.zstack.ip;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.NetDevice;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.testing.ArpFrames;
import io.zstack.wire.ArpPacket;
import io.zstack.wire.Ethernet;
import io.zstack.wire.MacAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The stacks of one device's queues share what ARP teaches any of them. Each stack here owns one "queue": its own
 * link to the peer, the same address and MAC as the others, as the queues of one NIC. The peer answers and asks
 * on queue 0 only, as a NIC steers every ARP frame (which RSS cannot hash) to one queue; TCP goes on queue 1. A third
 * stack, not sharing, shows what happens without it.
 */
class NeighbourSharingTest {
    private static final int OURS = 0x0a000001;
    private static final int PEER = 0x0a000002;
    private static final long OUR_MAC = 0x020000000001L;
    private static final long PEER_MAC = 0x020000000002L;

    private final VirtualClock clock = new VirtualClock();
    private final JavaMbufPool pool = new JavaMbufPool("neighbours", 4096);
    private final List<SimulatedLink> links = new ArrayList<>();
    private final List<IpHost> queues = new ArrayList<>();
    /** Queues 0 and 1 share neighbours; queue 2 is alone. */
    private IpHost q0;
    private IpHost q1;
    private IpHost alone;

    @BeforeEach
    void queues() {
        q0 = queue(0);
        q1 = queue(1);
        alone = queue(2);
        share(q0, q1, clock);
    }

    private IpHost queue(int index) {
        SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0).queueCapacity(256)
                .pool(pool).endA("q" + index, MacAddress.of(OUR_MAC), 1500)
                .endB("peer" + index, MacAddress.of(PEER_MAC), 1500).build();
        links.add(link);
        IpHost stack = new IpHost(link.a(), new Ipv4Config(OURS, 24, 0));
        queues.add(stack);
        return stack;
    }

    private static void share(IpHost a, IpHost b, VirtualClock clock) {
        a.ip().neighbourListener((address, mac) -> b.ip().learnNeighbour(address, mac, clock.now()));
        b.ip().neighbourListener((address, mac) -> a.ip().learnNeighbour(address, mac, clock.now()));
    }

    @AfterEach
    void close() {
        for (int i = 0; i < links.size(); i++) {
            drain(i);
            queues.get(i).close();
            links.get(i).close();
        }
        pool.close(); // refuses if an mbuf leaked
    }

    private void step() {
        for (int round = 0; round < 5; round++) {
            clock.advance(1_000_000);
            for (IpHost q : queues) {
                q.poll(clock.now());
            }
        }
    }

    /** Frames the peer received on one queue's link: [ethertype, ARP operation or TCP flags]. */
    private List<int[]> drain(int queue) {
        NetDevice peer = links.get(queue).b();
        List<int[]> frames = new ArrayList<>();
        MbufBurst burst = new MbufBurst(32);
        while (peer.receive(burst) > 0) {
            for (int i = 0; i < burst.size(); i++) {
                byte[] f = Mbuf.toByteArray(burst.get(i));
                pool.free(burst.get(i));
                int type = ((f[12] & 0xff) << 8) | (f[13] & 0xff);
                int detail = type == Ethernet.TYPE_ARP ? f[21] & 0xff : f[23] == 6 ? f[14 + 20 + 13] & 0x3f : -1;
                frames.add(new int[] {type, detail});
            }
            burst.clear();
        }
        return frames;
    }

    private void peerSendsArp(int queue, int operation) {
        MbufBurst burst = new MbufBurst(1);
        burst.add(ArpFrames.frame(pool, operation, PEER_MAC, PEER, OUR_MAC, OURS));
        links.get(queue).b().transmit(burst);
    }

    private static boolean has(List<int[]> frames, int type, int detail) {
        return frames.stream().anyMatch(f -> f[0] == type && (f[1] & detail) == detail);
    }

    private static final int SYN = 0x02;

    @Test
    void anArpReplyOnAnotherQueueResolvesTheConnectionThatAskedForIt() {
        q1.sendSyn(PEER, clock.now());
        alone.sendSyn(PEER, clock.now());
        step();
        assertTrue(has(drain(1), Ethernet.TYPE_ARP, ArpPacket.REQUEST), "queue 1 asks for the peer's MAC");
        assertTrue(has(drain(2), Ethernet.TYPE_ARP, ArpPacket.REQUEST));
        peerSendsArp(0, ArpPacket.REPLY); // the answer lands on queue 0
        step();
        assertTrue(has(drain(1), Ethernet.TYPE_IPV4, SYN), "queue 1's SYN leaves once queue 0 heard the reply");
        List<int[]> control = drain(2);
        assertFalse(has(control, Ethernet.TYPE_IPV4, SYN), "without sharing, the SYN waits on ARP");
        assertFalse(has(drain(0), Ethernet.TYPE_IPV4, SYN), "nothing of queue 1's connection on queue 0");
    }

    @Test
    void aRequestFromTheNeighbourTeachesEveryQueue() {
        peerSendsArp(0, ArpPacket.REQUEST); // who has OURS, tell PEER: on queue 0
        step();
        assertTrue(has(drain(0), Ethernet.TYPE_ARP, ArpPacket.REPLY), "queue 0 answers");
        assertTrue(q1.ip().arp().lookup(PEER) && q1.ip().arp().lastMac() == PEER_MAC, "queue 1 knows the peer");
        assertFalse(alone.ip().arp().lookup(PEER));
        q1.sendSyn(PEER, clock.now());
        step();
        List<int[]> sent = drain(1);
        assertTrue(has(sent, Ethernet.TYPE_IPV4, SYN), "queue 1 sends its SYN at once");
        assertFalse(has(sent, Ethernet.TYPE_ARP, ArpPacket.REQUEST), "without asking for the MAC");
    }
}
