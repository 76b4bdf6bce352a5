package io.zstack.ip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import io.zstack.wire.Ipv4Packet;
import io.zstack.wire.MacAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A {@link Route} sends what the full path would, and gives way to it whenever the neighbour table has news: a new MAC
 * for the next hop, an entry gone stale (which must be asked again), an entry not resolved yet (the packet waits for
 * ARP), no route at all. Frames are read at the peer's end of a simulated link.
 */
class RouteTest {
    private static final int OURS = 0x0a000001;
    private static final int PEER = 0x0a000002;
    private static final long OUR_MAC = 0x020000000001L;
    private static final long PEER_MAC = 0x020000000002L;
    private static final long PEER_NEW_MAC = 0x020000000022L;
    /** ArpCache.withDefaults()' reachable time. */
    private static final long REACHABLE_NANOS = 30_000_000_000L;

    private final VirtualClock clock = new VirtualClock();
    private final JavaMbufPool pool = new JavaMbufPool("route", 1024);
    private final SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0)
            .queueCapacity(256).pool(pool).endA("us", MacAddress.of(OUR_MAC), 1500)
            .endB("peer", MacAddress.of(PEER_MAC), 1500).build();
    private final IpHost host = new IpHost(link.a(), new Ipv4Config(OURS, 24, 0));

    @AfterEach
    void close() {
        drain();
        host.close();
        link.close();
        pool.close(); // refuses if an mbuf leaked
    }

    /** Frames the peer received since the last call, as bytes. */
    /** Sends one SYN by {@code route}, lets the stack flush, and returns what reached the peer. */
    private List<byte[]> sendOneBy(Route route) {
        host.sendSyn(route, clock.now());
        host.poll(clock.now());
        return drain();
    }

    private List<byte[]> drain() {
        NetDevice peer = link.b();
        List<byte[]> frames = new ArrayList<>();
        MbufBurst burst = new MbufBurst(32);
        while (peer.receive(burst) > 0) {
            for (int i = 0; i < burst.size(); i++) {
                frames.add(Mbuf.toByteArray(burst.get(i)));
                pool.free(burst.get(i));
            }
            burst.clear();
        }
        return frames;
    }

    private void peerAnnounces(long mac) {
        MbufBurst burst = new MbufBurst(1);
        burst.add(ArpFrames.frame(pool, ArpPacket.REPLY, mac, PEER, OUR_MAC, OURS));
        link.b().transmit(burst);
        host.poll(clock.now());
    }

    private static int etherType(byte[] f) {
        return ((f[12] & 0xff) << 8) | (f[13] & 0xff);
    }

    private static long destinationMac(byte[] f) {
        long mac = 0;
        for (int i = 0; i < 6; i++) {
            mac = (mac << 8) | (f[i] & 0xff);
        }
        return mac;
    }

    private static boolean isArpRequest(byte[] f) {
        return etherType(f) == Ethernet.TYPE_ARP && (f[21] & 0xff) == ArpPacket.REQUEST;
    }

    /** The frame a route sends is the full path's, byte for byte but the IPv4 identification (and so its checksum). */
    @Test
    void aRouteSendsTheFrameTheFullPathSends() {
        peerAnnounces(PEER_MAC);
        Route route = host.ip().route(OURS, PEER, Ipv4Packet.PROTOCOL_TCP);
        host.sendSyn(PEER, clock.now());
        host.sendSyn(route, clock.now());
        host.sendSyn(route, clock.now()); // the second one by the route as worked out
        host.poll(clock.now());
        List<byte[]> frames = drain();
        assertEquals(3, frames.size());
        for (byte[] f : frames) {
            Arrays.fill(f, 14 + 4, 14 + 6, (byte) 0); // identification
            Arrays.fill(f, 14 + 10, 14 + 12, (byte) 0); // header checksum
        }
        assertArrayEquals(frames.get(0), frames.get(1));
        assertArrayEquals(frames.get(0), frames.get(2));
        assertEquals(PEER_MAC, destinationMac(frames.get(2)));
    }

    /** The neighbour says it moved (a new MAC): the next packet by the route goes to the new MAC. */
    @Test
    void aRouteFollowsTheNextHopsNewMac() {
        peerAnnounces(PEER_MAC);
        Route route = host.ip().route(OURS, PEER, Ipv4Packet.PROTOCOL_TCP);
        assertEquals(PEER_MAC, destinationMac(sendOneBy(route).get(0)));
        peerAnnounces(PEER_NEW_MAC);
        List<byte[]> frames = sendOneBy(route);
        assertEquals(1, frames.size());
        assertEquals(PEER_NEW_MAC, destinationMac(frames.get(0)));
    }

    /**
     * Past the reachable time the neighbour must be asked again (the full path marks it stale and sends a request
     * along with the packet): a route worked out while it was fresh does not skip that.
     */
    @Test
    void aRouteGivesWayWhenTheNextHopGoesStale() {
        peerAnnounces(PEER_MAC);
        Route route = host.ip().route(OURS, PEER, Ipv4Packet.PROTOCOL_TCP);
        assertEquals(1, sendOneBy(route).size());
        clock.advance(REACHABLE_NANOS);
        List<byte[]> frames = sendOneBy(route);
        assertEquals(2, frames.size(), "the packet and a request to confirm the neighbour");
        assertTrue(frames.stream().anyMatch(RouteTest::isArpRequest));
        assertTrue(frames.stream().anyMatch(f -> etherType(f) == Ethernet.TYPE_IPV4
                && destinationMac(f) == PEER_MAC));
    }

    /**
     * A transport's proof that the next hop answers (TCP's ACKs of new data) keeps it fresh: past the reachable time
     * since ARP confirmed it, the route still sends alone, with no request; once nothing has confirmed it for the
     * reachable time, it is asked again.
     */
    @Test
    void aTransportsConfirmationKeepsTheNextHopFresh() {
        peerAnnounces(PEER_MAC);
        Route route = host.ip().route(OURS, PEER, Ipv4Packet.PROTOCOL_TCP);
        assertEquals(1, sendOneBy(route).size());
        clock.advance(REACHABLE_NANOS / 2 + 1);
        host.ip().confirmNeighbour(route, clock.now());
        clock.advance(REACHABLE_NANOS / 2 + 1); // past ARP's own confirmation, not the transport's
        List<byte[]> frames = sendOneBy(route);
        assertEquals(1, frames.size(), "no request");
        assertEquals(PEER_MAC, destinationMac(frames.get(0)));
        clock.advance(REACHABLE_NANOS);
        frames = sendOneBy(route);
        assertEquals(2, frames.size(), "unconfirmed for the reachable time: the packet and a request");
        assertTrue(frames.stream().anyMatch(RouteTest::isArpRequest));
    }

    /** Before the next hop is resolved a packet by the route waits for ARP, as on the full path. */
    @Test
    void aRouteToAnUnresolvedNextHopWaitsForArp() {
        Route route = host.ip().route(OURS, PEER, Ipv4Packet.PROTOCOL_TCP);
        List<byte[]> asked = sendOneBy(route);
        assertEquals(1, asked.size());
        assertTrue(isArpRequest(asked.get(0)));
        peerAnnounces(PEER_MAC);
        List<byte[]> released = drain();
        assertEquals(1, released.size(), "the queued packet leaves with the reply");
        assertEquals(PEER_MAC, destinationMac(released.get(0)));
    }

    /** Our own address: the route is the loopback, no ARP (here no transport takes the packets: counted). */
    @Test
    void aRouteToOurOwnAddressGoesThroughTheLoopback() {
        Route route = host.ip().route(OURS, OURS, Ipv4Packet.PROTOCOL_TCP);
        host.sendSyn(route, clock.now());
        host.sendSyn(route, clock.now());
        host.poll(clock.now());
        assertEquals(0, drain().size());
        assertEquals(2, host.ip().counters().ipUnknownProtocol);
    }

    /** Off the subnet without a gateway there is no route: the packet is dropped and counted, not sent anywhere. */
    @Test
    void noRouteIsCountedAsOnTheFullPath() {
        Route route = host.ip().route(OURS, 0x0b000001, Ipv4Packet.PROTOCOL_TCP);
        assertTrue(!host.sendSyn(route, clock.now()));
        host.poll(clock.now());
        assertEquals(0, drain().size());
        assertEquals(1, host.ip().counters().noRoute);
    }
}
