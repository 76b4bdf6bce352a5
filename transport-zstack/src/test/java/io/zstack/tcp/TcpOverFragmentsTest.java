package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.ip.IpCounters;
import io.zstack.ip.Ipv4Config;
import io.zstack.wire.Ethernet;
import io.zstack.wire.MacAddress;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A TCP stream whose every data segment is cut into IPv4 fragments on the way (as a router with a smaller MTU cuts
 * the segments of a peer that does not set DF), half of them delivered last fragment first: the receiving stack puts
 * each segment back together and reads every byte of the stream as sent.
 */
class TcpOverFragmentsTest {
    private static final int A = 0x0a000001;
    private static final int B = 0x0a000002;
    private static final long BYTES = 2 * 1024 * 1024;

    @Test
    void aStreamCutIntoFragmentsArrivesWhole() {
        VirtualClock clock = new VirtualClock();
        JavaMbufPool poolA = new JavaMbufPool("frag-a", 8192);
        JavaMbufPool poolB = new JavaMbufPool("frag-b", 8192);
        SimulatedLink link = SimulatedLink.builder(clock).latencyNanos(100_000).bitsPerSecond(0).queueCapacity(4096)
                .pools(poolA, poolB).endA("a", MacAddress.of(0x020000000001L), 1500)
                .endB("b", MacAddress.of(0x020000000002L), 1500).build();
        FragmentingDevice fragmenting = new FragmentingDevice(link.a(), 504);
        TcpSettings settings = TcpSettings.defaults();
        TcpHost a = new TcpHost(fragmenting, new Ipv4Config(A, 24, 0), settings, new IsnGenerator(5, 1), 5, 0);
        TcpHost b = new TcpHost(link.b(), new Ipv4Config(B, 24, 0), settings, new IsnGenerator(5, 2), 6, 0);
        try {
            TcpListener listener = b.tcp().listen(B, 7000, settings);
            TcpConnection client = a.tcp().connect(0, 0, B, 7000, settings, null, clock.now());
            TcpConnection server = null;
            SplittableRandom sizes = new SplittableRandom(5);
            long written = 0;
            long read = 0;
            for (int step = 0; step < 2_000_000 && read < BYTES; step++) {
                a.poll(clock.now());
                b.poll(clock.now());
                if (server == null) {
                    server = listener.accept();
                }
                if (client.state() == TcpState.ESTABLISHED) {
                    written = TcpSimulation.writeStream(client, poolA, 5, written, BYTES, sizes, clock.now());
                }
                if (server != null) {
                    read = TcpSimulation.readStream(server, poolB, 5, read, clock.now());
                }
                clock.advance(20_000);
            }
            IpCounters ip = b.ip().counters();
            assertEquals(BYTES, read, ip.toString());
            // full segments of 1,448 bytes (1,480 with the TCP header) went as three fragments each
            assertTrue(fragmenting.fragmented > 1000, "segments fragmented: " + fragmenting.fragmented);
            assertEquals(fragmenting.fragmented, ip.ipReassembled, ip.toString());
            assertEquals(0, ip.ipReassemblyFailed + ip.ipReassemblyTimeouts + ip.ipFragmentsDropped, ip.toString());
        } finally {
            a.close();
            b.close();
            link.close();
            poolA.close(); // refuses if an mbuf leaked
            poolB.close();
        }
    }

    /**
     * Cuts every IPv4 packet it sends whose payload is over {@code fragmentPayload} bytes into fragments of that
     * many (a multiple of 8), copies in new mbufs; every other packet's fragments go last one first.
     */
    static final class FragmentingDevice extends ForwardingNetDevice {
        private final int fragmentPayload;
        private final MbufBurst out = new MbufBurst(512);
        long fragmented;

        FragmentingDevice(NetDevice inner, int fragmentPayload) {
            super(inner);
            this.fragmentPayload = fragmentPayload;
        }

        @Override
        public int transmit(MbufBurst burst) {
            int n = burst.size();
            out.clear();
            for (int i = 0; i < n; i++) {
                long frame = burst.get(i);
                byte[] bytes = Mbuf.toByteArray(frame);
                int headerLength = (bytes[Ethernet.HEADER_LENGTH] & 0x0f) * 4;
                int payload = bytes.length - Ethernet.HEADER_LENGTH - headerLength;
                boolean ipv4 = ((bytes[12] & 0xff) << 8 | (bytes[13] & 0xff)) == Ethernet.TYPE_IPV4;
                if (!ipv4 || payload <= fragmentPayload || out.size() + payload / fragmentPayload + 1 > out.capacity()) {
                    out.add(frame);
                    continue;
                }
                inner.pool().free(frame);
                fragmented++;
                int first = out.size();
                for (int offset = 0; offset < payload; offset += fragmentPayload) {
                    int length = Math.min(fragmentPayload, payload - offset);
                    out.add(fragment(bytes, headerLength, offset, length, offset + length < payload));
                }
                if ((fragmented & 1) == 0) {
                    for (int lo = first, hi = out.size() - 1; lo < hi; lo++, hi--) {
                        long t = out.get(lo);
                        out.set(lo, out.get(hi));
                        out.set(hi, t);
                    }
                }
            }
            burst.clear();
            int sent = inner.transmit(out);
            for (int i = sent; i < out.size(); i++) {
                inner.pool().free(out.get(i)); // the link's queue was full: lost, as on a wire
            }
            out.clear();
            return n;
        }

        private long fragment(byte[] packet, int headerLength, int offset, int length, boolean more) {
            int field = (packet[Ethernet.HEADER_LENGTH + 6] & 0xff) << 8 | (packet[Ethernet.HEADER_LENGTH + 7] & 0xff);
            byte[] f = RawPeer.fragmentOf(packet, headerLength, offset, length, more, field);
            long m = inner.pool().alloc();
            MemorySegment.copy(f, 0, Mbuf.MEMORY, ValueLayout.JAVA_BYTE, Mbuf.append(m, f.length), f.length);
            return m;
        }
    }
}
