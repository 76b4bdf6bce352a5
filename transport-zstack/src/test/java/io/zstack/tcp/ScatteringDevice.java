package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import io.zstack.wire.Ethernet;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;

/**
 * Hands the stack every frame it receives as a chain of mbufs cut at random places, as a NIC receiving into buffers
 * smaller than the frame does, and as the kernel TAP's reads into posted mbufs do with the peer's large segments:
 * every layer then meets payloads that cross mbuf boundaries, pieces of odd lengths and the IPv4 padding in a piece
 * of its own. Mostly the first piece holds every header, as a NIC's first buffer does; now and then
 * ({@code headersSplitOneIn}) the cut falls inside the headers too, which the stack must drop and count, not misread.
 * A frame the pool has no mbufs to cut up goes on whole.
 */
final class ScatteringDevice extends ForwardingNetDevice {
    private final Random random;
    private final int headersSplitOneIn;
    private long framesScattered;
    private long headersSplit;

    ScatteringDevice(NetDevice inner, long seed, int headersSplitOneIn) {
        super(inner);
        this.random = new Random(seed);
        this.headersSplitOneIn = headersSplitOneIn;
    }

    @Override
    public int receive(MbufBurst burst) {
        int n = inner.receive(burst);
        for (int i = 0; i < n; i++) {
            burst.set(i, scatter(burst.get(i)));
        }
        return n;
    }

    /** Frames handed on as chains, and of those, how many had a cut inside their headers. */
    long framesScattered() {
        return framesScattered;
    }

    long headersSplit() {
        return headersSplit;
    }

    private long scatter(long frame) {
        byte[] bytes = Mbuf.toByteArray(frame);
        if (bytes.length < 2) {
            return frame;
        }
        boolean splitHeaders = random.nextInt(headersSplitOneIn) == 0;
        int headers = Math.min(bytes.length, headersLength(bytes));
        int first = splitHeaders || headers >= bytes.length
                ? 1 + random.nextInt(bytes.length - 1)
                : headers + random.nextInt(bytes.length - headers);
        // up to six more cuts after the first piece, anywhere: pieces of one byte, odd lengths, the padding alone
        int[] cuts = new int[random.nextInt(7)];
        for (int i = 0; i < cuts.length; i++) {
            cuts[i] = first + random.nextInt(bytes.length - first + 1);
        }
        Arrays.sort(cuts);
        MbufPool pool = inner.pool();
        long head = 0;
        long last = 0;
        int segments = 0;
        int from = 0;
        for (int c = -1; c <= cuts.length; c++) {
            int to = c < 0 ? first : c < cuts.length ? cuts[c] : bytes.length;
            if (to <= from) {
                continue; // two cuts at one place: no empty piece (a NIC fills each buffer it chains)
            }
            long m = pool.alloc();
            if (m == 0) {
                if (head != 0) {
                    pool.free(head);
                }
                return frame; // no mbufs to cut it up with: it goes on as it came
            }
            long at = Mbuf.append(m, to - from);
            for (int k = from; k < to; k++) {
                Mbuf.MEMORY.set(ValueLayout.JAVA_BYTE, at + (k - from), bytes[k]);
            }
            if (head == 0) {
                head = m;
            } else {
                Mbuf.setNext(last, m);
                Mbuf.setNbSegs(head, Mbuf.nbSegs(head) + 1);
                Mbuf.setPktLen(head, Mbuf.pktLen(head) + (to - from));
            }
            last = m;
            segments++;
            from = to;
        }
        Mbuf.setOlFlags(head, Mbuf.olFlags(frame)); // the device's checksum verdicts, if any
        pool.free(frame);
        if (segments > 1) {
            framesScattered++;
            if (first < headers) {
                headersSplit++;
            }
        }
        return head;
    }

    /** Ethernet, IPv4 and TCP headers' length as the frame's own fields give them (Ethernet's alone otherwise). */
    private static int headersLength(byte[] f) {
        int ip = Ethernet.HEADER_LENGTH;
        if (f.length < ip + 20 || ((f[12] & 0xff) << 8 | (f[13] & 0xff)) != Ethernet.TYPE_IPV4) {
            return ip;
        }
        int transport = ip + (f[ip] & 0x0f) * 4;
        if ((f[ip + 9] & 0xff) != 6 || f.length < transport + 13) {
            return transport;
        }
        return transport + ((f[transport + 12] & 0xf0) >>> 2);
    }
}
