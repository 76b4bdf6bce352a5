package io.zstack.device;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.wire.Ethernet;
import io.zstack.wire.MacAddress;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A TAP interface this process opens itself ({@code /dev/net/tun}, no DPDK), with virtio-net headers and the tun
 * driver's offloads on: the kernel's side of the interface advertises TSO and checksum offload, so the kernel TCP
 * talking to us sends each of its large segments (up to 64 KB) as one frame with its TCP checksum left to the
 * "hardware", and it takes frames from us whose TCP checksum we left to it. A peer on the kernel then pays for its
 * large messages once per segment it writes, as it does towards a NIC with TSO, where a veth with an XDP program
 * cuts them into MTU frames on the sender's CPU and runs the program for each.
 *
 * <p>Receive: one {@code readv} per frame into mbufs posted beforehand ({@link #rxSlots} of them, enough for a 64 KB
 * frame and its header), so a frame lands in mbufs without a copy of ours; the mbufs it filled are chained and
 * replaced. A frame whose header says its checksum is unfilled or already verified is marked L4-checksum good (the
 * kernel made it on this host); any other is verified by the stack. Transmit: one {@code write} (or {@code writev}
 * for a chain) per frame, the header in the mbuf's headroom, asking the kernel to fill the TCP checksum when the
 * stack left it to the device.
 *
 * <p>Each receive attempt is a system call, also when nothing is waiting (an {@code EAGAIN}): a busy-polling loop on
 * this device spends its idle time in the kernel. Single-threaded, like every device.
 */
public final class KernelTapDevice implements NetDevice {
    /** The largest frame the kernel hands over: a 64 KB IPv4 packet and its Ethernet header. */
    static final int MAX_FRAME = 65535 + Ethernet.HEADER_LENGTH;
    private static final int IOVEC = 16;
    /** Pieces of a frame to send in one writev: a longer chain is dropped and counted. */
    private static final int MAX_TX_SEGMENTS = 64;

    private final TapFile file;
    private final MbufPool pool;
    private final boolean ownsPool;
    private final MacAddress mac;
    private final int mtu;
    private final boolean offloads;
    /** Whether the kernel puts the frames it sends on queue 0 by our steering program (see TapFile). */
    private final boolean steered;
    private final DeviceCapabilities capabilities;
    private final Arena arena = Arena.ofShared();
    /** Bytes of a frame each posted mbuf takes (the first one's virtio-net header goes in front, in the headroom). */
    private final int slotCapacity;
    private final int rxSlots;
    /** The mbufs posted for the next read, slot by slot; 0 where the pool had none left. */
    private final long[] posted;
    private final long rxIov;
    private final long txIov;
    private int unposted;
    private boolean closed;

    private long framesReceived;
    private long largeFramesReceived;
    private long checksumsTrusted;
    private long receiveCalls;
    private long rxTooShort;
    private long rxNoMbufs;
    private long rxErrors;
    private int lastRxErrno;
    private long framesSent;
    private long tsoFramesSent;
    private long txErrors;
    private int lastTxErrno;
    private long txTooManySegments;

    /**
     * A queue of TAP interface {@code iface} (see {@link TapFile#TapFile}): frames received go into mbufs of
     * {@code pool}, whose buffers must hold at least 256 bytes past the headroom; {@code mac} is this end's address,
     * {@code mtu} the largest packet it sends (the kernel end's MTU, 1500 unless set otherwise).
     */
    public KernelTapDevice(String iface, boolean multiQueue, MbufPool pool, boolean ownsPool, MacAddress mac,
                           int mtu) {
        int headroom = pool.headroom();
        if (headroom < TapFile.VNET_HEADER_LENGTH || pool.dataRoom() - headroom < 256) {
            throw new IllegalArgumentException("pool " + pool.name() + ": headroom " + headroom + ", data room "
                    + pool.dataRoom() + " (a frame's header goes in the headroom)");
        }
        this.file = new TapFile(iface, multiQueue);
        this.pool = pool;
        this.ownsPool = ownsPool;
        this.mac = mac;
        this.mtu = mtu;
        this.offloads = file.setOffloads();
        // a single queue needs no choosing: spares the host a flow hash of every frame it sends us
        this.steered = !multiQueue && file.steerToQueueZero();
        // the kernel fills what we leave (TCP checksums) and cuts what we send whole (TSO); the IPv4 header's checksum
        // is ours, 20 bytes
        this.capabilities = new DeviceCapabilities(false, false, offloads, offloads, true,
                offloads ? DeviceCapabilities.MAX_TSO_BYTES : 0, true, MAX_TX_SEGMENTS);
        this.slotCapacity = pool.dataRoom() - headroom;
        this.rxSlots = (MAX_FRAME + slotCapacity - 1) / slotCapacity;
        this.posted = new long[rxSlots];
        this.rxIov = arena.allocate((long) IOVEC * rxSlots, 8).address();
        this.txIov = arena.allocate((long) IOVEC * MAX_TX_SEGMENTS, 8).address();
        this.unposted = rxSlots;
        post();
    }

    /**
     * The MTU of interface {@code iface} as this process's network namespace sees it, or {@code fallback} when it
     * cannot be read (not created yet).
     */
    public static int interfaceMtu(String iface, int fallback) {
        try {
            return Integer.parseInt(Files.readString(Path.of("/sys/class/net", iface, "mtu")).trim());
        } catch (Exception e) {
            return fallback;
        }
    }

    /** Posts a fresh mbuf in every empty slot; false while the pool cannot fill them all. */
    private boolean post() {
        int headroom = pool.headroom();
        for (int i = 0; i < rxSlots && unposted > 0; i++) {
            if (posted[i] != 0) {
                continue;
            }
            long m = pool.alloc();
            if (m == 0) {
                return false;
            }
            posted[i] = m;
            unposted--;
            long at = rxIov + (long) i * IOVEC;
            if (i == 0) {
                // the header lands in the headroom, the frame at the mbuf's data offset
                Mbuf.MEMORY.set(JAVA_LONG, at, Mbuf.bufAddr(m) + headroom - TapFile.VNET_HEADER_LENGTH);
                Mbuf.MEMORY.set(JAVA_LONG, at + 8, slotCapacity + TapFile.VNET_HEADER_LENGTH);
            } else {
                Mbuf.MEMORY.set(JAVA_LONG, at, Mbuf.bufAddr(m) + headroom);
                Mbuf.MEMORY.set(JAVA_LONG, at + 8, slotCapacity);
            }
        }
        return unposted == 0;
    }

    @Override
    public String name() {
        return "tap:" + file.iface();
    }

    @Override
    public int receive(MbufBurst burst) {
        burst.clear();
        int capacity = burst.capacity();
        while (burst.size() < capacity) {
            if (unposted > 0 && !post()) {
                rxNoMbufs++; // the kernel keeps the frames queued until mbufs are back
                break;
            }
            receiveCalls++;
            long n = file.readv(rxIov, rxSlots);
            if (n < 0) {
                if (n != -TapFile.EAGAIN) {
                    rxErrors++;
                    lastRxErrno = (int) -n;
                }
                break;
            }
            long frame = takeFrame((int) n);
            if (frame != 0) {
                burst.add(frame);
            }
        }
        return burst.size();
    }

    /** Chains the posted mbufs a read of {@code n} bytes filled into a frame, and empties their slots. */
    private long takeFrame(int n) {
        int frameLength = n - TapFile.VNET_HEADER_LENGTH;
        if (frameLength < Ethernet.HEADER_LENGTH) {
            rxTooShort++; // the mbufs stay posted
            return 0;
        }
        long head = posted[0];
        long header = Mbuf.dataAddress(head) - TapFile.VNET_HEADER_LENGTH;
        int flags = Mbuf.MEMORY.get(JAVA_BYTE, header) & 0xff;
        int gsoType = Mbuf.MEMORY.get(JAVA_BYTE, header + 1) & 0xff;
        int first = Math.min(frameLength, slotCapacity);
        Mbuf.setDataLen(head, first);
        Mbuf.setPktLen(head, frameLength);
        long last = head;
        int left = frameLength - first;
        int used = 1;
        while (left > 0) {
            long m = posted[used++];
            int len = Math.min(left, slotCapacity);
            Mbuf.setDataLen(m, len);
            Mbuf.setNext(last, m);
            last = m;
            left -= len;
        }
        Mbuf.setNbSegs(head, used);
        for (int i = 0; i < used; i++) {
            posted[i] = 0;
        }
        unposted += used;
        if ((flags & (TapFile.NEEDS_CSUM | TapFile.DATA_VALID)) != 0) {
            // made or checked by the kernel on this host: NEEDS_CSUM's field holds only the pseudo-header sum, which
            // a NIC would have completed on its way out and nobody checks on the way in
            Mbuf.setOlFlags(head, Mbuf.LAYOUT.rxL4ChecksumGood);
            checksumsTrusted++;
        }
        if (gsoType != TapFile.GSO_NONE) {
            largeFramesReceived++;
        }
        framesReceived++;
        return head;
    }

    @Override
    public int transmit(MbufBurst burst) {
        int taken = 0;
        int size = burst.size();
        while (taken < size) {
            long frame = burst.get(taken);
            long m = frame;
            // where the kernel is to fill the TCP checksum (0: nowhere), read before a header goes in front
            int checksumStart = checksumLeftToKernel(m);
            boolean tso = checksumStart != 0 && (Mbuf.olFlags(m) & Mbuf.LAYOUT.txTcpSegmentation) != 0;
            int headersLength = checksumStart + Mbuf.transportHeaderLength(m);
            int segmentSize = Mbuf.tsoSegmentSize(m);
            long header = Mbuf.prepend(m, TapFile.VNET_HEADER_LENGTH);
            if (header == 0) {
                // every frame the stack builds has headroom; one from elsewhere goes with a header of its own
                long withHeader = pool.alloc();
                if (withHeader == 0) {
                    break; // stays the caller's, to try again
                }
                Mbuf.append(withHeader, TapFile.VNET_HEADER_LENGTH);
                Mbuf.setPktLen(withHeader, TapFile.VNET_HEADER_LENGTH + Mbuf.pktLen(m));
                Mbuf.setNbSegs(withHeader, 1 + Mbuf.nbSegs(m));
                Mbuf.setNext(withHeader, m);
                m = withHeader;
                header = Mbuf.dataAddress(m);
            }
            writeHeader(header, checksumStart, tso ? headersLength : 0, tso ? segmentSize : 0);
            if (tso) {
                tsoFramesSent++;
            }
            long n;
            int segments = Mbuf.nbSegs(m);
            if (segments == 1) {
                n = file.write(header, Mbuf.dataLen(m));
            } else if (segments <= MAX_TX_SEGMENTS) {
                int k = 0;
                for (long seg = m; seg != 0; seg = Mbuf.next(seg), k++) {
                    long at = txIov + (long) k * IOVEC;
                    Mbuf.MEMORY.set(JAVA_LONG, at, Mbuf.dataAddress(seg));
                    Mbuf.MEMORY.set(JAVA_LONG, at + 8, Mbuf.dataLen(seg));
                }
                n = file.writev(txIov, k);
            } else {
                txTooManySegments++;
                n = 0;
            }
            if (n == -TapFile.EAGAIN) {
                // not taken: the caller's again, as it was
                if (m != frame) {
                    pool.freeSegment(m); // the header mbuf of our own, not the frame behind it
                } else {
                    Mbuf.adj(m, TapFile.VNET_HEADER_LENGTH);
                }
                break;
            }
            if (n < 0) {
                txErrors++; // EIO while the interface is down, EINVAL for a frame the kernel refuses
                lastTxErrno = (int) -n;
            } else if (n > 0) {
                framesSent++;
            }
            pool.free(m);
            taken++;
        }
        burst.removeFirst(taken);
        return taken;
    }

    /**
     * Where the TCP checksum to fill starts (the TCP header's offset in the frame) when the stack left it to the
     * device, else 0: the header lengths the stack put in tx_offload for the device, as a NIC reads them. The stack
     * builds every frame with its Ethernet, IPv4 and TCP headers in the first segment.
     */
    private int checksumLeftToKernel(long m) {
        if (!offloads || (Mbuf.olFlags(m) & Mbuf.LAYOUT.txTcpChecksum) == 0) {
            return 0;
        }
        int start = Mbuf.transportHeaderOffset(m);
        return Mbuf.dataLen(m) >= start + Mbuf.transportHeaderLength(m) ? start : 0;
    }

    /**
     * A frame's virtio-net header: the TCP checksum from {@code checksumStart} on (0: none) left to the kernel, and
     * for a TSO frame ({@code segmentSize} > 0) its headers' length and segment size, by which the kernel cuts it
     * (or it delivers it whole to its own TCP).
     */
    private static void writeHeader(long header, int checksumStart, int headersLength, int segmentSize) {
        Mbuf.MEMORY.set(JAVA_BYTE, header, (byte) (checksumStart != 0 ? TapFile.NEEDS_CSUM : 0));
        Mbuf.MEMORY.set(JAVA_BYTE, header + 1, (byte) (segmentSize > 0 ? TapFile.GSO_TCPV4 : TapFile.GSO_NONE));
        Mbuf.MEMORY.set(JAVA_SHORT_UNALIGNED, header + 2, (short) headersLength);
        Mbuf.MEMORY.set(JAVA_SHORT_UNALIGNED, header + 4, (short) segmentSize);
        Mbuf.MEMORY.set(JAVA_SHORT_UNALIGNED, header + 6, (short) checksumStart);
        Mbuf.MEMORY.set(JAVA_SHORT_UNALIGNED, header + 8, (short) (checksumStart != 0 ? 16 : 0)); // TCP's field
    }

    @Override
    public DeviceCapabilities capabilities() {
        return capabilities;
    }

    /** Whether the kernel took the offloads ({@code TUNSETOFFLOAD}): large frames in, checksums left to it out. */
    public boolean offloads() {
        return offloads;
    }

    @Override
    public MacAddress macAddress() {
        return mac;
    }

    @Override
    public int mtu() {
        return mtu;
    }

    @Override
    public MbufPool pool() {
        return pool;
    }

    /**
     * Whether the kernel sends every frame to this (single) queue by our steering program, without computing a flow
     * hash per frame to choose one; false on a multi-queue interface, or where the kernel refused the program.
     */
    public boolean steersToQueueZero() {
        return steered;
    }

    /** Frames received so far. */
    public long framesReceived() {
        return framesReceived;
    }

    /** Frames received as one segment the kernel did not cut (a TSO frame, larger than the MTU). */
    public long largeFramesReceived() {
        return largeFramesReceived;
    }

    /** Frames whose TCP checksum was taken as good on the kernel's word. */
    public long checksumsTrusted() {
        return checksumsTrusted;
    }

    /** Frames handed to the kernel as TSO frames (its virtio-net header asks for them to be cut by their MSS). */
    public long tsoFramesSent() {
        return tsoFramesSent;
    }

    /** Frames the kernel refused (or this device could not hand over): errors, not counted as sent. */
    public long transmitErrors() {
        return txErrors + txTooManySegments;
    }

    @Override
    public String statistics() {
        return "frames_received=" + framesReceived + " large_frames_received=" + largeFramesReceived
                + " checksums_trusted=" + checksumsTrusted + " receive_calls=" + receiveCalls + " rx_too_short="
                + rxTooShort + " rx_no_mbufs=" + rxNoMbufs + " rx_errors=" + rxErrors
                + (rxErrors > 0 ? " (last " + TapFile.describe(lastRxErrno) + ")" : "") + " frames_sent=" + framesSent
                + " tso_frames_sent=" + tsoFramesSent + " tx_errors=" + txErrors
                + (txErrors > 0 ? " (last " + TapFile.describe(lastTxErrno) + ")" : "")
                + " tx_too_many_segments=" + txTooManySegments + " offloads=" + offloads + " steering="
                + (steered ? "queue0" : "kernel");
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int i = 0; i < rxSlots; i++) {
            if (posted[i] != 0) {
                pool.free(posted[i]);
                posted[i] = 0;
            }
        }
        if (steered) {
            file.clearSteering(); // the interface may outlive us: its next user gets the kernel's choice back
        }
        file.close();
        arena.close();
        if (ownsPool && pool.available() == pool.capacity()) {
            pool.close();
        }
    }
}
