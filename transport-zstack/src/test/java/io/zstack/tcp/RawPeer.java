package io.zstack.tcp;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.device.NetDevice;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.ip.Ipv4Config;
import io.zstack.testing.ArpFrames;
import io.zstack.wire.ArpPacket;
import io.zstack.wire.CheckResult;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Ipv4Packet;
import io.zstack.wire.MacAddress;
import io.zstack.wire.TcpHeader;
import io.zstack.wire.TcpOptions;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;

/**
 * A scripted peer for black-box tests of one stack (gVisor packetimpact style): the test builds raw TCP segments
 * with any flags, numbers and options, injects them on the stack's link, and inspects exactly what the stack sends
 * back. Time is virtual and moves only when the test says so.
 */
final class RawPeer implements AutoCloseable {
    static final int STACK = 0x0a000001;
    static final int PEER = 0x0a000002;
    static final long PEER_MAC = 0x020000000002L;
    static final long STACK_MAC = 0x020000000001L;

    /** A segment the stack sent, decoded. */
    record Sent(int sourcePort, int seq, int ack, int flags, int window, TcpOptionsSnapshot options, byte[] payload,
                int destinationPort) {
        boolean has(int flag) {
            return (flags & flag) != 0;
        }
    }

    record TcpOptionsSnapshot(int mss, int windowScale, boolean sackPermitted, boolean timestamp, int tsVal,
                              int tsEcr, int[] sackStart, int[] sackEnd) {
    }

    final VirtualClock clock = new VirtualClock();
    final JavaMbufPool stackPool;
    final JavaMbufPool peerPool = new JavaMbufPool("raw-peer", 4096);
    final SimulatedLink link;
    final TcpHost stack;
    /** The stack's device when it offloads (else null). */
    final SoftwareOffloadDevice stackDevice;
    /** The stack's device when it flags received frames' checksums (else null). */
    final ChecksumVerdictDevice verdictDevice;
    /** The stack's device when received frames reach it as chains (else null). */
    final ScatteringDevice scatteringDevice;
    private final MbufBurst burst = new MbufBurst(64);
    private final ArrayDeque<Sent> received = new ArrayDeque<>();

    RawPeer(TcpSettings settings) {
        this(settings, 4096);
    }

    /** A peer whose stack's pool holds {@code stackMbufs} mbufs (a small one: the stack runs short). */
    RawPeer(TcpSettings settings, int stackMbufs) {
        this(settings, stackMbufs, 0);
    }

    /**
     * As above; with {@code offloadChain} > 0 the stack's device does TSO and checksums in software
     * ({@link SoftwareOffloadDevice}, taking at most that many mbufs per frame), so the stack uses its offload paths.
     */
    RawPeer(TcpSettings settings, int stackMbufs, int offloadChain) {
        this(settings, stackMbufs, offloadChain, null, null);
    }

    /**
     * As above; with {@code verdicts} given, the stack's device flags every frame's checksums as a NIC does
     * ({@link ChecksumVerdictDevice}: seed, how rarely a verdict is left unknown); with {@code scatter} given, it hands
     * the stack each frame it receives as a chain of mbufs ({@link ScatteringDevice}: seed, how rarely a cut falls in
     * the headers).
     */
    RawPeer(TcpSettings settings, int stackMbufs, int offloadChain, long[] verdicts, long[] scatter) {
        stackPool = new JavaMbufPool("raw-stack", stackMbufs);
        link = SimulatedLink.builder(clock).latencyNanos(0).bitsPerSecond(0).queueCapacity(1024)
                .pools(stackPool, peerPool)
                .endA("stack", MacAddress.of(STACK_MAC), 1500)
                .endB("peer", MacAddress.of(PEER_MAC), 1500).build();
        stackDevice = offloadChain > 0 ? new SoftwareOffloadDevice(link.a(), offloadChain) : null;
        NetDevice device = stackDevice != null ? stackDevice : link.a();
        verdictDevice = verdicts != null ? new ChecksumVerdictDevice(device, verdicts[0], (int) verdicts[1]) : null;
        device = verdictDevice != null ? verdictDevice : device;
        scatteringDevice = scatter != null ? new ScatteringDevice(device, scatter[0], (int) scatter[1]) : null;
        stack = new TcpHost(scatteringDevice != null ? scatteringDevice : device, new Ipv4Config(STACK, 24, 0),
                settings, new IsnGenerator(1, 2), 7, 0);
        // teach the stack our MAC so its first segment needs no ARP round
        sendArpReply();
        poll();
        received.clear();
    }

    TcpLayer tcp() {
        return stack.tcp();
    }

    long now() {
        return clock.now();
    }

    /** Lets the stack run at the current time, collecting what it sends. */
    void poll() {
        stack.poll(clock.now());
        int n = link.b().receive(burst);
        for (int i = 0; i < n; i++) {
            decode(burst.get(i));
            peerPool.free(burst.get(i));
        }
        burst.clear();
    }

    /** Moves virtual time forward in 1 ms steps, polling each step. */
    void advance(long nanos) {
        long end = clock.now() + nanos;
        while (clock.now() < end) {
            clock.advance(Math.min(1_000_000L, end - clock.now()));
            poll();
        }
    }

    /** The next segment the stack sent, or null. */
    Sent next() {
        return received.poll();
    }

    int pending() {
        return received.size();
    }

    void drain() {
        received.clear();
    }

    /** Everything the stack sent that the test has not taken yet, in order. */
    java.util.List<Sent> takeAll() {
        java.util.List<Sent> all = new java.util.ArrayList<>(received);
        received.clear();
        return all;
    }

    private void decode(long frame) {
        MemorySegment data = Mbuf.data(frame);
        Ethernet eth = new Ethernet();
        if (eth.wrap(data, 0, (int) data.byteSize()) != CheckResult.OK) {
            return;
        }
        if (eth.etherType() == Ethernet.TYPE_ARP) {
            // the peer answers who-has for its address, as a host does: a stack whose entry went stale over a long
            // jump of time asks again, and would otherwise send nothing more
            ArpPacket arp = new ArpPacket();
            if (arp.wrap(data, Ethernet.HEADER_LENGTH, (int) data.byteSize() - Ethernet.HEADER_LENGTH) == CheckResult.OK
                    && arp.operation() == ArpPacket.REQUEST && arp.targetAddress() == PEER) {
                sendArpReply();
            }
            return;
        }
        if (eth.etherType() != Ethernet.TYPE_IPV4) {
            return; // others are not the test's business
        }
        byte[] bytes = Mbuf.toByteArray(frame);
        MemorySegment all = MemorySegment.ofArray(bytes);
        Ipv4Packet ip = new Ipv4Packet();
        if (ip.wrap(all, 14, bytes.length - 14) != CheckResult.OK || ip.protocol() != Ipv4Packet.PROTOCOL_TCP) {
            return;
        }
        if (!ip.checksumValid()) {
            throw new AssertionError("stack sent a bad IPv4 checksum");
        }
        int l4 = 14 + ip.headerLength();
        int l4Length = ip.totalLength() - ip.headerLength();
        long sum = Checksum.add(Checksum.pseudoHeader(ip.source(), ip.destination(), 6, l4Length), all, l4, l4Length);
        if (Checksum.fold(sum) != 0xffff) {
            throw new AssertionError("stack sent a bad TCP checksum");
        }
        TcpHeader tcp = new TcpHeader();
        if (tcp.wrap(all, l4, l4Length) != CheckResult.OK) {
            throw new AssertionError("stack sent a malformed TCP header");
        }
        TcpOptions o = new TcpOptions();
        if (tcp.parseOptions(o) != CheckResult.OK) {
            throw new AssertionError("stack sent malformed TCP options");
        }
        byte[] payload = java.util.Arrays.copyOfRange(bytes, l4 + tcp.headerLength(), 14 + ip.totalLength());
        if (TRACE) {
            System.out.println("TRACE " + clock.now() / 1_000_000 + " ms sent " + tcp.sourcePort() + ">"
                    + tcp.destinationPort() + " " + TcpFlags.toString(tcp.flags()) + " seq="
                    + Integer.toUnsignedString(tcp.seq()) + " ack=" + Integer.toUnsignedString(tcp.ack()) + " len="
                    + payload.length + " win=" + tcp.window());
        }
        received.add(new Sent(tcp.sourcePort(), tcp.seq(), tcp.ack(), tcp.flags(), tcp.window(),
                new TcpOptionsSnapshot(o.mss, o.windowScale, o.sackPermitted, o.hasTimestamp, o.tsVal, o.tsEcr,
                        java.util.Arrays.copyOf(o.sackStart, o.sackBlocks), java.util.Arrays.copyOf(o.sackEnd, o.sackBlocks)),
                payload, tcp.destinationPort()));
    }

    private void sendArpReply() {
        inject(ArpFrames.frame(peerPool, ArpPacket.REPLY, PEER_MAC, PEER, STACK_MAC, STACK));
    }

    /** Builder-ish description of a segment to inject. */
    static final class Segment {
        int sourcePort = 40000;
        int destinationPort;
        int seq;
        int ack;
        int flags;
        int window = 65535;
        int mss = -1;
        int windowScale = -1;
        boolean sackPermitted;
        boolean timestamp;
        int tsVal;
        int tsEcr;
        int[] sackStart = new int[0];
        int[] sackEnd = new int[0];
        byte[] payload = new byte[0];
        boolean corruptChecksum;
        /** When set, these bytes are the options, as they are (padded with zeros to a multiple of 4), not the above. */
        byte[] rawOptions;
        /** When not 0, the seed of random damage to the built frame's headers and length ({@link #mutate}). */
        long mutationSeed;
    }

    /** Builds and injects a segment from the peer to the stack, and lets the stack run. */
    void send(Segment s) {
        put(s);
        poll();
    }

    /**
     * Builds and injects a segment without letting the stack run: the segments put before the next {@link #poll}
     * reach it in one receive burst (where runs of one connection's segments are merged).
     */
    /** -Dzstack.rawpeer.trace=true prints every segment put and every one the stack sent (to replay a failure). */
    static final boolean TRACE = Boolean.getBoolean("zstack.rawpeer.trace");

    void put(Segment s) {
        if (TRACE) {
            System.out.println("TRACE " + clock.now() / 1_000_000 + " ms put " + s.sourcePort + ">" + s.destinationPort
                    + " " + TcpFlags.toString(s.flags) + " seq=" + Integer.toUnsignedString(s.seq) + " ack="
                    + Integer.toUnsignedString(s.ack) + " len=" + s.payload.length + " win=" + s.window
                    + " mss=" + s.mss
                    + " ws=" + s.windowScale + " ts=" + s.timestamp + " sack=" + s.sackStart.length + " rawOptions="
                    + (s.rawOptions != null) + " badChecksum=" + s.corruptChecksum);
        }
        long m = peerPool.alloc();
        Mbuf.setDataOff(m, 0);
        MemorySegment f = MemorySegment.ofAddress(Mbuf.bufAddr(m)).reinterpret(Mbuf.bufLen(m));
        int optionsLength;
        if (s.rawOptions != null) {
            optionsLength = (s.rawOptions.length + 3) & ~3;
            f.asSlice(14 + 20 + 20, optionsLength).fill((byte) 0);
            MemorySegment.copy(s.rawOptions, 0, f, java.lang.foreign.ValueLayout.JAVA_BYTE, 14 + 20 + 20,
                    s.rawOptions.length);
        } else {
            optionsLength = TcpHeader.writeOptions(f, 14 + 20 + 20, s.mss, s.windowScale, s.sackPermitted, s.timestamp,
                    s.tsVal, s.tsEcr, s.sackStart, s.sackEnd, s.sackStart.length);
        }
        int tcpLength = 20 + optionsLength + s.payload.length;
        MemorySegment.copy(s.payload, 0, f, java.lang.foreign.ValueLayout.JAVA_BYTE, 14 + 20 + 20 + optionsLength,
                s.payload.length);
        TcpHeader.write(f, 34, s.sourcePort, s.destinationPort, s.seq, s.ack, 20 + optionsLength, s.flags, s.window);
        int sum = Checksum.finish(Checksum.add(Checksum.pseudoHeader(PEER, STACK, 6, tcpLength), f, 34, tcpLength));
        Checksum.store(f, 34 + 16, s.corruptChecksum ? sum ^ 0x5555 : sum);
        Ipv4Packet.write(f, 14, 20 + tcpLength, 1, true, 64, 6, PEER, STACK, true);
        Ethernet.write(f, 0, STACK_MAC, PEER_MAC, Ethernet.TYPE_IPV4);
        int frameLength = 14 + 20 + tcpLength;
        if (s.mutationSeed != 0) {
            frameLength = mutate(f, frameLength, tcpLength, s.mutationSeed);
        }
        Mbuf.append(m, frameLength);
        inject(m);
    }

    /** Injects {@code frame} (Ethernet header first) exactly as given, and lets the stack run. */
    void sendFrame(byte[] frame) {
        long m = peerPool.alloc();
        long at = Mbuf.append(m, frame.length);
        MemorySegment.copy(frame, 0, Mbuf.MEMORY, java.lang.foreign.ValueLayout.JAVA_BYTE, at, frame.length);
        inject(m);
        poll();
    }

    /**
     * Overwrites a few bytes of the frame's headers (Ethernet, IPv4, TCP with its options) with random values, now
     * and then cuts or pads the frame, and mostly sums both checksums again so the damage gets past them to the
     * parsers behind. Returns the frame's new length.
     */
    private static int mutate(MemorySegment f, int frameLength, int tcpLength, long seed) {
        java.util.Random r = new java.util.Random(seed);
        int headers = frameLength - tcpLength + Math.min(tcpLength, 60);
        for (int i = 1 + r.nextInt(4); i > 0; i--) {
            f.set(java.lang.foreign.ValueLayout.JAVA_BYTE, r.nextInt(headers), (byte) r.nextInt(256));
        }
        int length = switch (r.nextInt(8)) {
            case 0 -> Math.max(1, frameLength - 1 - r.nextInt(frameLength - 1)); // cut short anywhere
            case 1 -> Math.min((int) f.byteSize(), frameLength + r.nextInt(64)); // trailing bytes (padding)
            default -> frameLength;
        };
        if (r.nextInt(4) != 0 && length >= 34) {
            int ipHeader = (f.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 14) & 0x0f) * 4;
            if (ipHeader >= 20 && 14 + ipHeader <= length) {
                Checksum.store(f, 14 + 10, 0);
                Checksum.store(f, 14 + 10, Checksum.finish(Checksum.add(0, f, 14, ipHeader)));
                int l4 = 14 + ipHeader;
                int l4Length = Math.min(length, frameLength) - l4;
                if (l4Length >= 20 && r.nextBoolean()) {
                    Checksum.store(f, l4 + 16, 0);
                    Checksum.store(f, l4 + 16, Checksum.finish(Checksum.add(
                            Checksum.pseudoHeader(PEER, STACK, 6, l4Length), f, l4, l4Length)));
                }
            }
        }
        return length;
    }

    /**
     * An ICMP destination-unreachable from the peer about a TCP segment the stack sent from {@code stackPort} to
     * {@code peerPort} with sequence {@code seq} (quoting its IPv4 header and first 8 TCP bytes, as routers do).
     */
    void sendIcmpUnreachable(int code, int nextHopMtu, int stackPort, int peerPort, int seq) {
        long m = peerPool.alloc();
        int icmpLength = 8 + 20 + 8;
        MemorySegment f = MemorySegment.ofAddress(Mbuf.append(m, 14 + 20 + icmpLength)).reinterpret(14 + 20 + icmpLength);
        long quoted = 14 + 20 + 8;
        Ipv4Packet.write(f, quoted, 20 + 40, 5, true, 64, 6, STACK, PEER, true);
        f.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), quoted + 20,
                (short) stackPort);
        f.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), quoted + 22,
                (short) peerPort);
        f.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), quoted + 24, seq);
        io.zstack.wire.Icmpv4Packet.write(f, 34, icmpLength, io.zstack.wire.Icmpv4Packet.DESTINATION_UNREACHABLE, code,
                nextHopMtu & 0xffff);
        Ipv4Packet.write(f, 14, 20 + icmpLength, 2, false, 64, Ipv4Packet.PROTOCOL_ICMP, PEER, STACK, true);
        Ethernet.write(f, 0, STACK_MAC, PEER_MAC, Ethernet.TYPE_IPV4);
        inject(m);
        poll();
    }

    private void inject(long m) {
        if (fragments != null && fragments.nextInt(4) == 0 && injectAsFragments(m)) {
            return;
        }
        MbufBurst one = new MbufBurst(1);
        one.add(m);
        link.b().transmit(one);
    }

    /** With a generator given ({@link #fragmentSome}), a quarter of the IPv4 packets the peer sends go as fragments. */
    private java.util.Random fragments;
    /** Packets sent as fragments. */
    long packetsFragmented;
    /** The IP identification of the next packet sent as fragments (the others all have 1). */
    private int nextFragmentedId = 2;

    /**
     * From now on a quarter of the whole IPv4 packets the peer sends (seeded by {@code seed}) go as 2 to 4 fragments
     * cut at random multiples of 8 bytes, in a random order, now and then one of them twice, as a router without DF
     * in the way and a reordering, duplicating path would deliver them.
     */
    void fragmentSome(long seed) {
        fragments = new java.util.Random(seed);
    }

    /** Sends the packet in {@code m} as fragments and frees it; false (nothing done) when it is not one to cut. */
    private boolean injectAsFragments(long m) {
        byte[] frame = Mbuf.toByteArray(m);
        if (frame.length < 34 || (frame[12] & 0xff) != 0x08 || frame[13] != 0) {
            return false;
        }
        int headerLength = (frame[14] & 0x0f) * 4;
        int total = (frame[16] & 0xff) << 8 | (frame[17] & 0xff);
        int field = (frame[20] & 0xff) << 8 | (frame[21] & 0xff);
        int payload = total - headerLength;
        if (headerLength < 20 || total < headerLength || 14 + total > frame.length || (field & 0x3fff) != 0
                || payload < 16) {
            return false; // damaged on purpose, already a fragment, or too short to cut
        }
        int identification = nextFragmentedId++; // each datagram its own, or their fragments would mix
        frame[18] = (byte) (identification >>> 8);
        frame[19] = (byte) identification;
        int pieces = Math.min(2 + fragments.nextInt(3), payload / 8);
        java.util.TreeSet<Integer> cuts = new java.util.TreeSet<>();
        while (cuts.size() < pieces - 1) {
            cuts.add(8 * (1 + fragments.nextInt((payload - 1) / 8)));
        }
        java.util.List<byte[]> out = new java.util.ArrayList<>();
        int from = 0;
        for (int cut : cuts) {
            out.add(fragmentOf(frame, headerLength, from, cut - from, true, field));
            from = cut;
        }
        out.add(fragmentOf(frame, headerLength, from, payload - from, false, field));
        java.util.Collections.shuffle(out, fragments);
        if (fragments.nextInt(8) == 0) {
            out.add(out.get(fragments.nextInt(out.size()))); // one of them twice
        }
        peerPool.free(m);
        for (byte[] f : out) {
            long piece = peerPool.alloc();
            MemorySegment.copy(f, 0, Mbuf.MEMORY, java.lang.foreign.ValueLayout.JAVA_BYTE, Mbuf.append(piece,
                    f.length), f.length);
            MbufBurst one = new MbufBurst(1);
            one.add(piece);
            link.b().transmit(one);
        }
        packetsFragmented++;
        return true;
    }

    /**
     * Bytes [offset, offset + length) of the IPv4 packet in {@code frame} (Ethernet header first, IPv4 header of
     * {@code headerLength}, flags field {@code field}) as a fragment frame: headers copied, DF cleared, MF as
     * {@code more}, the header's checksum summed again.
     */
    static byte[] fragmentOf(byte[] frame, int headerLength, int offset, int length, boolean more, int field) {
        int header = 14 + headerLength;
        byte[] f = new byte[header + length];
        System.arraycopy(frame, 0, f, 0, header);
        System.arraycopy(frame, header + offset, f, header, length);
        int total = headerLength + length;
        f[16] = (byte) (total >>> 8);
        f[17] = (byte) total;
        int flags = (field & ~Ipv4Packet.FLAG_DF) | (more ? Ipv4Packet.FLAG_MF : 0) | (offset / 8);
        f[20] = (byte) (flags >>> 8);
        f[21] = (byte) flags;
        MemorySegment s = MemorySegment.ofArray(f);
        Checksum.store(s, 24, 0);
        Checksum.store(s, 24, Checksum.finish(Checksum.add(0, s, 14, headerLength)));
        return f;
    }

    @Override
    public void close() {
        stack.close();
        link.close();
        stackPool.close();
        peerPool.close();
    }
}
