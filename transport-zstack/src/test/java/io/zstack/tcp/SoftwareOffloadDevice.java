package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.device.DeviceCapabilities;
import io.zstack.device.ForwardingNetDevice;
import io.zstack.device.NetDevice;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Does in software what a NIC with TSO and checksum offload does, so a stack on a simulated link takes its offload
 * paths: it reports both offloads (and a limit on the mbufs per frame), and on transmit cuts each TSO frame into
 * segments of the frame's tso_segsz (sequence numbers, IPv4 lengths and identifications stepped, FIN and PSH on the
 * last segment only, CWR on the first) and fills every IPv4 and TCP checksum the frame asked for. The frames it
 * passes on are new ones; the stack's go back to their pool.
 */
final class SoftwareOffloadDevice extends ForwardingNetDevice {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final DeviceCapabilities capabilities;
    private final MbufBurst out = new MbufBurst(1024);

    /** {@code maxChain}: the most mbufs per frame the stack may hand over, 0 for no limit. */
    SoftwareOffloadDevice(NetDevice inner, int maxChain) {
        super(inner);
        this.capabilities = new DeviceCapabilities(false, true, true, true, true, DeviceCapabilities.MAX_TSO_BYTES,
                true, maxChain);
    }

    @Override
    public DeviceCapabilities capabilities() {
        return capabilities;
    }

    @Override
    public int transmit(MbufBurst burst) {
        MbufPool pool = inner.pool();
        for (int i = 0; i < burst.size(); i++) {
            long frame = burst.get(i);
            if (capabilities.maxChain() > 0 && Mbuf.nbSegs(frame) > capabilities.maxChain()) {
                throw new AssertionError(Mbuf.nbSegs(frame) + " mbufs in a frame, over the device's "
                        + capabilities.maxChain());
            }
            long flags = Mbuf.olFlags(frame);
            int segmentSize = (flags & Mbuf.LAYOUT.txTcpSegmentation) != 0 ? Mbuf.tsoSegmentSize(frame) : 0;
            boolean ipSum = (flags & Mbuf.LAYOUT.txIpChecksum) != 0;
            boolean tcpSum = (flags & Mbuf.LAYOUT.txTcpChecksum) != 0 || segmentSize > 0;
            if (!ipSum && !tcpSum) {
                pass(frame);
                continue;
            }
            byte[] bytes = Mbuf.toByteArray(frame);
            pool.free(frame);
            int ip = Ethernet.HEADER_LENGTH;
            int tcp = ip + (bytes[ip] & 0x0f) * 4;
            int headers = tcpSum ? tcp + ((bytes[tcp + 12] & 0xf0) >>> 2) : bytes.length;
            int payload = bytes.length - headers;
            int pieces = segmentSize > 0 ? Math.max(1, (payload + segmentSize - 1) / segmentSize) : 1;
            MemorySegment whole = MemorySegment.ofArray(bytes);
            int seq = tcpSum ? whole.get(U32, tcp + 4) : 0;
            int id = whole.get(U16, ip + 4) & 0xffff;
            int tcpFlags = tcpSum ? bytes[tcp + 13] & 0xff : 0;
            for (int p = 0; p < pieces; p++) {
                int from = headers + (segmentSize > 0 ? p * segmentSize : 0);
                int length = segmentSize > 0 ? Math.min(segmentSize, bytes.length - from) : payload;
                byte[] piece = new byte[headers + length];
                System.arraycopy(bytes, 0, piece, 0, headers);
                System.arraycopy(bytes, from, piece, headers, length);
                MemorySegment s = MemorySegment.ofArray(piece);
                if (segmentSize > 0) {
                    s.set(U16, ip + 2, (short) (piece.length - ip));
                    s.set(U16, ip + 4, (short) (id + p));
                    s.set(U32, tcp + 4, seq + p * segmentSize);
                    int f = tcpFlags;
                    if (p > 0) {
                        f &= ~TcpFlags.CWR;
                    }
                    if (p < pieces - 1) {
                        f &= ~(TcpFlags.FIN | TcpFlags.PSH);
                    }
                    piece[tcp + 13] = (byte) f;
                }
                if (ipSum || segmentSize > 0) {
                    s.set(U16, ip + 10, (short) 0);
                    s.set(U16, ip + 10, (short) Checksum.finish(Checksum.add(0, s, ip, tcp - ip)));
                }
                if (tcpSum) {
                    int l4 = piece.length - tcp;
                    s.set(U16, tcp + 16, (short) 0);
                    long pseudo = Checksum.pseudoHeader(s.get(U32, ip + 12), s.get(U32, ip + 16), 6, l4);
                    s.set(U16, tcp + 16, (short) Checksum.finish(Checksum.add(pseudo, s, tcp, l4)));
                }
                long m = pool.alloc();
                if (m == 0) {
                    continue; // as a NIC out of descriptors: the segment is lost, TCP resends it
                }
                long at = Mbuf.append(m, piece.length);
                MemorySegment.copy(piece, 0, Mbuf.MEMORY, ValueLayout.JAVA_BYTE, at, piece.length);
                pass(m);
            }
        }
        int n = burst.size();
        burst.clear();
        inner.transmit(out); // a simulated link takes every frame (and empties the burst)
        return n;
    }

    /** Queues {@code frame} for the inner device, handing it what is queued first when the queue is full. */
    private void pass(long frame) {
        if (out.isFull()) {
            inner.transmit(out);
        }
        out.add(frame);
    }
}
