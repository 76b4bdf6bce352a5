package io.zstack.ip;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.device.DeviceCapabilities;
import io.zstack.device.NetDevice;
import io.zstack.wire.ArpPacket;
import io.zstack.wire.CheckResult;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Icmpv4Packet;
import io.zstack.wire.Ipv4Packet;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Ethernet, ARP, IPv4 and ICMP for one interface plus the stack's loopback.
 *
 * <p>Input: every received frame is checked layer by layer (a malformed one is a counted drop, never an
 * exception), ARP is answered and learnt from, ICMP echo is answered in place (the request's mbuf becomes the
 * reply), and packets for a transport are handed up with their data pointing at the transport header.
 * Fragments are reassembled ({@link Reassembly}); of what this stack sends only an echo reply larger than the MTU
 * (to a reassembled request) goes in fragments: TCP sets DF and sizes its segments to the MTU.
 *
 * <p>Output: transports hand a chain whose data starts at their header; this layer prepends IPv4 and Ethernet
 * headers into the headroom, fills or offloads checksums, routes (loopback for our own and 127/8 addresses,
 * the connected subnet, or the gateway), resolves the next hop through {@link ArpCache}, and queues the frame for
 * the device's next burst.
 */
public final class Ipv4Layer {
    /** The transport protocols above (TCP, later UDP) receive through this. */
    public interface Transport {
        /**
         * A packet for this transport: {@code packet}'s data starts at the transport header and holds exactly
         * {@code length} bytes (padding trimmed). The transport owns the packet. {@code checksumVerified} means the
         * device already checked the L4 checksum.
         */
        void receive(int source, int destination, long packet, int length, boolean checksumVerified, long nowNanos);

        /**
         * An ICMP destination-unreachable (or fragmentation-needed, with {@code nextHopMtu}) about a packet we sent:
         * {@code original} holds its IPv4 header and at least 8 bytes of transport header, read-only.
         */
        default void unreachable(int code, int nextHopMtu, MemorySegment original, long offset, int length) {
        }
    }

    private static final int TTL = 64;
    private static final long LOOPBACK_NET = 0x7f000000L;

    private final NetDevice device;
    private final NetDevice loopback;
    private final Ipv4Config config;
    private final MbufPool pool;
    private final long mac;
    private final ArpCache arp;
    private final IpCounters counters = new IpCounters();
    private final Transport[] transports = new Transport[256];
    private final MbufBurst deviceQueue;
    private final MbufBurst loopbackQueue;
    private final Ethernet ethernet = new Ethernet();
    private final ArpPacket arpView = new ArpPacket();
    private final Ipv4Packet ipView = new Ipv4Packet();
    private final Icmpv4Packet icmpView = new Icmpv4Packet();
    private final ArpCache.PendingSink sendResolved = this::sendResolved;
    private NeighbourListener neighbourListener;
    private final ArpCache.RetryHandler arpRetry = new ArpCache.RetryHandler() {
        @Override
        public void request(int address) {
            sendArp(ArpPacket.REQUEST, 0xffff_ffff_ffffL, address);
        }

        @Override
        public void failed(int address) {
            // queued packets were freed by the cache; transports notice through their own timers
        }
    };
    private int nextIdentification;
    private long lastArpPoll;
    private final Reassembly reassembly;
    /** Fragments are taken only while more than this many mbufs are free (an eighth of the pool). */
    private final int fragmentReserve;
    private ReassembledSteering reassembledSteering;
    /** Answers a datagram given up on with ICMP time exceeded (RFC 1122 §3.3.2), nowNanos the upkeep's. */
    private final Reassembly.TimeoutSink timedOut = this::reassemblyTimeExceeded;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /**
     * @param device   the interface (a DPDK port queue, a simulated link end, ...)
     * @param loopback the in-stack loopback; it must share the device's pool
     * @param config   the interface's address, subnet and gateway
     */
    public Ipv4Layer(NetDevice device, NetDevice loopback, Ipv4Config config, ArpCache arp) {
        this.device = device;
        this.loopback = loopback;
        this.config = config;
        this.pool = device.pool();
        this.mac = device.macAddress().toLong();
        this.arp = arp;
        this.deviceQueue = new MbufBurst(64);
        this.loopbackQueue = new MbufBurst(256);
        this.reassembly = new Reassembly(pool, counters);
        this.fragmentReserve = Math.max(32, pool.capacity() / 8);
    }

    public void register(int protocol, Transport transport) {
        transports[protocol] = transport;
    }

    public IpCounters counters() {
        return counters;
    }

    public Ipv4Config config() {
        return config;
    }

    public ArpCache arp() {
        return arp;
    }

    /** Told of every neighbour an ARP packet for us taught this stack (its sender's address and MAC). */
    public interface NeighbourListener {
        void learned(int address, long mac);
    }

    /**
     * Who to tell when this stack learns a neighbour from ARP. The stacks of one device's queues need it: a NIC
     * cannot hash ARP, so every ARP frame lands on one queue, and the other queues' stacks would never learn a MAC
     * (their connections would wait on ARP forever). Sharing what one learns lets every stack resolve.
     */
    public void neighbourListener(NeighbourListener listener) {
        this.neighbourListener = listener;
    }

    /**
     * A neighbour another stack of the same device learned: recorded as if its ARP packet had arrived here, and the
     * packets waiting for it go out.
     */
    public void learnNeighbour(int address, long mac, long nowNanos) {
        if (address != 0 && address != config.address()) {
            arp.confirm(address, mac, nowNanos, true, pool, sendResolved);
        }
    }

    /** True when packets to this address stay inside the stack (our own address, 127/8). */
    public boolean isLocal(int address) {
        return address == config.address() || (address & 0xff000000L) == LOOPBACK_NET;
    }

    /** Largest transport segment (header included) a packet to {@code destination} can carry in one frame. */
    public int maxTransportPayload(int destination) {
        return (isLocal(destination) ? loopback.mtu() : device.mtu()) - Ipv4Packet.MIN_HEADER_LENGTH;
    }

    /** What the device on the route to {@code destination} does for us. */
    public DeviceCapabilities capabilitiesFor(int destination) {
        return isLocal(destination) ? loopback.capabilities() : device.capabilities();
    }

    /** The source address to use towards {@code destination}. */
    public int sourceFor(int destination) {
        return (destination & 0xff000000L) == LOOPBACK_NET ? destination : config.address();
    }

    /** Says who we are on the link (gratuitous ARP, RFC 5227 announcement). */
    public void announce() {
        sendArp(ArpPacket.REQUEST, 0xffff_ffff_ffffL, config.address());
    }

    // ======================================================================================== input

    /** Processes one received frame from {@code from}; takes ownership. */
    public void input(NetDevice from, long frame, long nowNanos) {
        counters.framesReceived++;
        // headers must sit in the first segment; a chain (the loopback's) carries payload in the others
        int length = Mbuf.dataLen(frame);
        long base = Mbuf.dataAddress(frame);
        if (ethernet.wrap(Mbuf.MEMORY, base, length) != CheckResult.OK) {
            counters.frameTooShort++;
            pool.free(frame);
            return;
        }
        long destinationMac = ethernet.destination();
        if (from != loopback && destinationMac != mac && destinationMac != 0xffff_ffff_ffffL) {
            counters.notOurMac++;
            pool.free(frame);
            return;
        }
        switch (ethernet.etherType()) {
            case Ethernet.TYPE_ARP -> arpInput(from, frame, Mbuf.data(frame), length, nowNanos);
            case Ethernet.TYPE_IPV4 -> ipInput(from, frame, base, nowNanos);
            default -> {
                counters.otherEtherType++;
                pool.free(frame);
            }
        }
    }

    private void arpInput(NetDevice from, long frame, MemorySegment memory, int length, long nowNanos) {
        CheckResult check = arpView.wrap(memory, Ethernet.HEADER_LENGTH, length - Ethernet.HEADER_LENGTH);
        if (check != CheckResult.OK) {
            counters.arpMalformed++;
            pool.free(frame);
            return;
        }
        int sender = arpView.senderAddress();
        long senderMac = arpView.senderMac();
        boolean forUs = arpView.targetAddress() == config.address();
        if (arpView.operation() == ArpPacket.REQUEST) {
            counters.arpRequestsReceived++;
        } else {
            counters.arpRepliesReceived++;
        }
        if (sender != 0 && sender != config.address()) {
            // RFC 826: update a known sender; add it only when the packet is for us
            arp.confirm(sender, senderMac, nowNanos, forUs, pool, sendResolved);
            if (forUs && from != loopback && neighbourListener != null) {
                neighbourListener.learned(sender, senderMac);
            }
        }
        if (!forUs || arpView.operation() != ArpPacket.REQUEST || from == loopback) {
            if (!forUs) {
                counters.arpNotForUs++;
            }
            pool.free(frame);
            return;
        }
        // answer in place: the request's mbuf becomes the reply. The packet lies in the first mbuf (wrap checked); a
        // chain's further mbufs hold only the frame's padding, and sent back they would count against the device's
        // limit of mbufs per frame
        if (Mbuf.nbSegs(frame) > 1) {
            frame = Mbuf.trimTo(pool, frame, length);
        }
        Ethernet.write(memory, 0, senderMac, mac, Ethernet.TYPE_ARP);
        ArpPacket.write(memory, Ethernet.HEADER_LENGTH, ArpPacket.REPLY, mac, config.address(), senderMac, sender);
        resetForTransmit(frame);
        counters.arpRepliesSent++;
        enqueue(device, frame);
    }

    /** {@code base}: the frame's first byte, an absolute address (the IPv4 header must lie in the first segment). */
    private void ipInput(NetDevice from, long frame, long base, long nowNanos) {
        int firstSegment = Mbuf.dataLen(frame) - Ethernet.HEADER_LENGTH;
        // the view reads through all of memory, so the first segment's bounds are checked here, before and after
        CheckResult check = firstSegment < Ipv4Packet.MIN_HEADER_LENGTH ? CheckResult.TOO_SHORT
                : ipView.wrap(Mbuf.MEMORY, base + Ethernet.HEADER_LENGTH, Mbuf.pktLen(frame) - Ethernet.HEADER_LENGTH);
        if (check == CheckResult.OK && ipView.headerLength() > firstSegment) {
            check = CheckResult.BAD_HEADER_LENGTH;
        }
        if (check != CheckResult.OK) {
            switch (check) {
                case BAD_VERSION -> counters.ipBadVersion++;
                case BAD_HEADER_LENGTH -> counters.ipBadHeaderLength++;
                case BAD_TOTAL_LENGTH -> counters.ipBadTotalLength++;
                default -> counters.ipTooShort++;
            }
            pool.free(frame);
            return;
        }
        counters.packetsReceived++;
        long flags = Mbuf.olFlags(frame);
        long ipChecksum = flags & Mbuf.LAYOUT.rxIpChecksumMask;
        if (ipChecksum == Mbuf.LAYOUT.rxIpChecksumBad
                || (ipChecksum != Mbuf.LAYOUT.rxIpChecksumGood && !ipView.checksumValid())) {
            counters.ipBadChecksum++;
            pool.free(frame);
            return;
        }
        int destination = ipView.destination();
        if (destination != config.address() && !isLocal(destination) && destination != config.broadcast()
                && destination != -1) {
            counters.ipNotForUs++;
            pool.free(frame);
            return;
        }
        if (ipView.isFragment()) {
            if (!pool.hasAvailable(fragmentReserve)) {
                counters.ipFragmentsDropped++; // the last mbufs are for what frees others: ACKs, whole segments
                pool.free(frame);
                return;
            }
            frame = reassembly.offer(frame, ipView, nowNanos);
            if (frame == 0 || (reassembledSteering != null && reassembledSteering.handedElsewhere(frame))) {
                return; // held until the rest arrives, dropped and counted, or its flow is another stack's
            }
            // the whole datagram, in the first fragment's frame with its header rewritten
            ipView.wrap(Mbuf.MEMORY, Mbuf.dataAddress(frame) + Ethernet.HEADER_LENGTH,
                    Mbuf.pktLen(frame) - Ethernet.HEADER_LENGTH);
            flags = Mbuf.olFlags(frame);
        }
        int headerLength = ipView.headerLength();
        int totalLength = ipView.totalLength();
        int protocol = ipView.protocol();
        int source = ipView.source();
        if (totalLength == headerLength) {
            // nothing for a transport: trimming a padded frame to its (empty) payload would leave no mbuf to hand on
            counters.ipNoTransportBytes++;
            pool.free(frame);
            return;
        }
        if (protocol == Ipv4Packet.PROTOCOL_ICMP) {
            icmpInput(from, frame, Mbuf.data(frame), headerLength, totalLength, nowNanos);
            return;
        }
        Transport transport = transports[protocol];
        if (transport == null) {
            counters.ipUnknownProtocol++;
            pool.free(frame);
            return;
        }
        // strip Ethernet + IP headers and any Ethernet padding: the transport sees exactly its bytes
        int l4Length = totalLength - headerLength;
        Mbuf.adj(frame, Ethernet.HEADER_LENGTH + headerLength);
        int excess = Mbuf.pktLen(frame) - l4Length;
        if (excess > 0) {
            frame = Mbuf.trimTo(pool, frame, l4Length);
        }
        long l4Checksum = flags & Mbuf.LAYOUT.rxL4ChecksumMask;
        boolean trusted = l4Checksum == Mbuf.LAYOUT.rxL4ChecksumGood;
        // NONE: verified, the field not the sum (receive coalescing's merged segments); a bad verdict is summed again
        boolean verified = trusted || l4Checksum == Mbuf.LAYOUT.rxL4ChecksumNone;
        counters.packetsDelivered++;
        if (trusted) {
            counters.rxChecksumTrusted++;
        } else {
            counters.rxChecksumSoftware++;
        }
        transport.receive(source, destination, frame, l4Length, verified, nowNanos);
    }

    private void icmpInput(NetDevice from, long frame, MemorySegment memory, int headerLength, int totalLength,
                           long nowNanos) {
        counters.icmpReceived++;
        long icmpOffset = Ethernet.HEADER_LENGTH + headerLength;
        int icmpLength = totalLength - headerLength;
        // a message larger than an mbuf (a jumbo ping) arrives as a chain: its header must be in the first mbuf, the
        // view covers what is there, and the checksum is summed over the whole chain
        int inFirst = (int) Math.min(icmpLength, memory.byteSize() - icmpOffset);
        if (inFirst < Icmpv4Packet.HEADER_LENGTH || icmpView.wrap(memory, icmpOffset, inFirst) != CheckResult.OK) {
            counters.icmpMalformed++;
            pool.free(frame);
            return;
        }
        // (the IPv4 view checked that the chain holds the whole message)
        if (!(inFirst == icmpLength ? icmpView.checksumValid()
                : Checksum.fold(Checksum.addChain(0, frame, (int) icmpOffset, icmpLength)) == 0xffff)) {
            counters.icmpBadChecksum++;
            pool.free(frame);
            return;
        }
        switch (icmpView.type()) {
            case Icmpv4Packet.ECHO_REQUEST -> {
                if (ipView.destination() != config.address() && !isLocal(ipView.destination())) {
                    pool.free(frame); // no replies to broadcast pings (RFC 1122 §3.2.2.6 allows silence)
                    return;
                }
                echoReply(from, frame, headerLength, totalLength);
            }
            case Icmpv4Packet.DESTINATION_UNREACHABLE -> {
                counters.icmpUnreachableReceived++;
                long embedded = icmpView.embeddedOffset();
                int embeddedLength = inFirst - Icmpv4Packet.HEADER_LENGTH;
                // the quoted datagram is cut short by design: trust only its header and first 8 transport bytes
                if (embeddedLength >= Ipv4Packet.MIN_HEADER_LENGTH + 8) {
                    int quotedHeader = (memory.get(JAVA_BYTE, embedded) & 0x0f) * 4;
                    Transport t = transports[memory.get(JAVA_BYTE, embedded + 9) & 0xff];
                    if (t != null && quotedHeader >= Ipv4Packet.MIN_HEADER_LENGTH && embeddedLength >= quotedHeader + 8) {
                        t.unreachable(icmpView.code(), icmpView.nextHopMtu(), memory, embedded, embeddedLength);
                    }
                }
                pool.free(frame);
            }
            default -> pool.free(frame);
        }
    }

    /**
     * Turns the request's own mbufs into the reply: swap addresses, change the type, fix both checksums. The ICMP
     * message stays where it is, whatever its length or number of mbufs (its checksum is updated, not summed again);
     * request options are not echoed, the new header is written just in front of the message.
     */
    private void echoReply(NetDevice from, long frame, int headerLength, int totalLength) {
        // exactly the IP packet goes back: drop Ethernet padding, in whichever mbufs it lies (the headers stay in the
        // first, which is kept)
        int frameLength = Ethernet.HEADER_LENGTH + totalLength;
        if (Mbuf.pktLen(frame) > frameLength) {
            frame = Mbuf.trimTo(pool, frame, frameLength);
        }
        NetDevice out = from == loopback ? loopback : device;
        int limit = out.capabilities().maxChain();
        if (limit > 0 && Mbuf.nbSegs(frame) > limit) {
            counters.icmpEchoChainTooLong++;
            pool.free(frame);
            return;
        }
        int requestSource = ipView.source();
        int requestDestination = ipView.destination();
        long requestSourceMac = ethernet.source();
        long sourceMac = from == loopback ? 0 : mac;
        icmpView.toEchoReply();
        int optionBytes = headerLength - Ipv4Packet.MIN_HEADER_LENGTH;
        int replyLength = totalLength - optionBytes;
        long base = optionBytes > 0 ? Mbuf.adj(frame, optionBytes) : Mbuf.dataAddress(frame);
        if (replyLength > out.mtu()) {
            // a request put back together from fragments: the reply goes in fragments too, as Linux's does
            fragmentEchoReply(out, frame, replyLength, requestSourceMac, sourceMac, requestDestination,
                    requestSource);
            return;
        }
        Ethernet.write(Mbuf.MEMORY, base, requestSourceMac, sourceMac, Ethernet.TYPE_IPV4);
        Ipv4Packet.write(Mbuf.MEMORY, base + Ethernet.HEADER_LENGTH, replyLength, nextIdentification++, false, TTL,
                Ipv4Packet.PROTOCOL_ICMP, requestDestination, requestSource, true);
        resetForTransmit(frame);
        counters.icmpEchoRepliesSent++;
        counters.packetsSent++;
        enqueue(out, frame);
    }

    /**
     * Sends the echo reply in {@code frame} (Ethernet and IPv4 header room, then the ICMP message of
     * {@code replyLength} - 20 bytes, its checksum already right) as fragments no larger than {@code out}'s MTU or one
     * mbuf, each a copy in an mbuf of its own, and frees {@code frame}. Only echo replies are ever fragmented here.
     */
    private void fragmentEchoReply(NetDevice out, long frame, int replyLength, long destinationMac, long sourceMac,
                                   int source, int destination) {
        int message = replyLength - Ipv4Packet.MIN_HEADER_LENGTH;
        int room = pool.dataRoom() - pool.headroom() - Ethernet.HEADER_LENGTH - Ipv4Packet.MIN_HEADER_LENGTH;
        int piece = Math.min(out.mtu() - Ipv4Packet.MIN_HEADER_LENGTH, room) & ~7;
        int identification = nextIdentification++;
        for (int offset = 0; offset < message; offset += piece) {
            int length = Math.min(piece, message - offset);
            long m = pool.alloc();
            if (m == 0) {
                counters.noMbufs++;
                break;
            }
            long at = Mbuf.append(m, Ethernet.HEADER_LENGTH + Ipv4Packet.MIN_HEADER_LENGTH + length);
            Ethernet.write(Mbuf.MEMORY, at, destinationMac, sourceMac, Ethernet.TYPE_IPV4);
            long ip = at + Ethernet.HEADER_LENGTH;
            boolean more = offset + length < message;
            Ipv4Packet.write(Mbuf.MEMORY, ip, Ipv4Packet.MIN_HEADER_LENGTH + length, identification,
                    (more ? Ipv4Packet.FLAG_MF : 0) | offset / 8, TTL, Ipv4Packet.PROTOCOL_ICMP, source, destination,
                    true);
            Mbuf.copyOut(frame, Ethernet.HEADER_LENGTH + Ipv4Packet.MIN_HEADER_LENGTH + offset, Mbuf.MEMORY,
                    ip + Ipv4Packet.MIN_HEADER_LENGTH, length);
            counters.packetsSent++;
            counters.fragmentsSent++;
            enqueue(out, m);
        }
        counters.icmpEchoRepliesSent++;
        pool.free(frame);
    }

    /** A received mbuf about to be sent again: forget receive-side flags. */
    private static void resetForTransmit(long frame) {
        Mbuf.setOlFlags(frame, 0);
        Mbuf.setTxOffload(frame, 0);
        Mbuf.setPacketType(frame, 0);
    }

    // ======================================================================================== output

    /**
     * Sends a transport packet. {@code packet}'s data starts at the transport header (its checksum field at
     * {@code checksumOffset} from there, 0 in it); this prepends IPv4 and Ethernet headers, fills or offloads
     * the IPv4 and transport checksums, and queues the frame. Takes ownership; returns false (packet freed) when
     * there is no route or no room.
     */
    public boolean send(int source, int destination, int protocol, long packet, int checksumOffset,
                        int transportHeaderLength, long nowNanos) {
        boolean local = isLocal(destination);
        NetDevice out = local ? loopback : device;
        int nextHop = destination;
        if (!local && !config.onLink(destination)) {
            if (config.gateway() == 0) {
                counters.noRoute++;
                pool.free(packet);
                return false;
            }
            nextHop = config.gateway();
        }
        int l4Length = Mbuf.pktLen(packet);
        if (Mbuf.headroom(packet) < Ethernet.HEADER_LENGTH + Ipv4Packet.MIN_HEADER_LENGTH) {
            counters.noMbufs++; // transports allocate with headroom; reaching this is a bug, not a crash
            pool.free(packet);
            return false;
        }
        DeviceCapabilities caps = out.capabilities();
        long olFlags = transportChecksum(packet, protocol, checksumOffset,
                caps.txTcpChecksum() && protocol == Ipv4Packet.PROTOCOL_TCP, caps.txChecksumAnyChain(),
                protocol == Ipv4Packet.PROTOCOL_ICMP ? 0 : Checksum.pseudoHeader(source, destination, protocol,
                        l4Length)); // ICMP's checksum has no pseudo-header
        long ipAddress = Mbuf.prepend(packet, Ipv4Packet.MIN_HEADER_LENGTH);
        boolean offloadIp = caps.txIpv4Checksum();
        Ipv4Packet.write(Mbuf.MEMORY, ipAddress, Ipv4Packet.MIN_HEADER_LENGTH + l4Length, nextIdentification++, true, TTL, protocol,
                source, destination, !offloadIp);
        if (offloadIp) {
            olFlags |= Mbuf.LAYOUT.txIpChecksum | Mbuf.LAYOUT.txIpv4;
        }
        long ethAddress = Mbuf.prepend(packet, Ethernet.HEADER_LENGTH);
        Mbuf.setOlFlags(packet, olFlags);
        Mbuf.setTxOffload(packet, Ethernet.HEADER_LENGTH, Ipv4Packet.MIN_HEADER_LENGTH, transportHeaderLength, 0);
        counters.packetsSent++;
        if (local) {
            Ethernet.write(Mbuf.MEMORY, ethAddress, 0, 0, Ethernet.TYPE_IPV4);
            enqueue(loopback, packet);
            return true;
        }
        switch (arp.resolve(nextHop, packet, pool, nowNanos)) {
            case KNOWN -> sendResolved(packet, arp.lastMac());
            case KNOWN_REQUEST -> {
                sendResolved(packet, arp.lastMac());
                sendArp(ArpPacket.REQUEST, arp.lastMac(), nextHop);
            }
            case QUEUED_REQUEST -> sendArp(ArpPacket.REQUEST, 0xffff_ffff_ffffL, nextHop);
            case QUEUED -> {
            }
            case DROPPED -> counters.arpQueueDrops++;
        }
        return true;
    }

    /**
     * Fills the transport checksum of {@code packet} (data at its header, field at {@code checksumOffset}): offloaded
     * when {@code offload} (the pseudo-header sum in the field, as NICs expect) unless the chain's shape forbids it,
     * else summed here. Returns the ol_flags the offload needs (0 without).
     */
    private long transportChecksum(long packet, int protocol, int checksumOffset, boolean offload, boolean anyChain,
                                   long pseudo) {
        long l4 = Mbuf.dataAddress(packet);
        if (offload && (anyChain || !hasOddInnerSegment(packet))) {
            Checksum.store(Mbuf.MEMORY, l4 + checksumOffset, Checksum.fold(pseudo));
            counters.txChecksumOffloaded++;
            return Mbuf.LAYOUT.txTcpChecksum | Mbuf.LAYOUT.txIpv4;
        }
        counters.txChecksumSoftware++;
        int value = Checksum.finish(Checksum.addChain(pseudo, packet, 0, Mbuf.pktLen(packet)));
        if (protocol == Ipv4Packet.PROTOCOL_UDP && value == 0) {
            value = 0xffff;
        }
        Checksum.store(Mbuf.MEMORY, l4 + checksumOffset, value);
        return 0;
    }

    /** A route for packets from {@code source} to {@code destination}, worked out at its first use. */
    public Route route(int source, int destination, int protocol) {
        return new Route(source, destination, protocol);
    }

    /**
     * {@link #send(int, int, int, long, int, int, long)} by a {@link Route}: while the route holds (the ARP table
     * unchanged since it was worked out, the next hop still fresh) the packet skips routing, the neighbour lookup and
     * the capability queries, and its IPv4 and Ethernet headers go in at once; otherwise the route is worked out again,
     * and if the next hop is not resolved and fresh the packet takes the full path, which queues it and asks ARP.
     */
    public boolean send(Route route, long packet, int checksumOffset, int transportHeaderLength, long nowNanos) {
        return send(route, packet, checksumOffset, transportHeaderLength, 0, nowNanos);
    }

    /**
     * The largest TCP segment {@code route}'s device cuts into MSS-sized ones itself (TSO) as of now, 0 when it does
     * not (or the route is not usable now: the packet would take the full path, which sends no TSO segment). A
     * transport asks before it builds one for {@link #send(Route, long, int, int, int, long)}.
     */
    public int tsoBytes(Route route, long nowNanos) {
        return route.usable(arp.version(), nowNanos) || resolve(route, nowNanos) ? route.tsoBytes : 0;
    }

    /**
     * True when the route's device sums a chain wrong if an inner mbuf has an odd length
     * ({@code txChecksumAnyChain} false): a TSO segment must then be a chain of even-length pieces, since its
     * checksums are the device's alone. Valid after {@link #tsoBytes} said TSO may be used.
     */
    public boolean tsoNeedsEvenPieces(Route route) {
        return !route.offloadAnyChain;
    }

    /** The most mbufs a frame's chain may have on the route's device (0: no limit). Valid after {@link #tsoBytes}. */
    public int chainLimit(Route route) {
        return route.chain;
    }

    /**
     * As {@link #send(Route, long, int, int, long)}; with {@code tsoSegmentSize} > 0 the packet is a TCP segment for
     * the device to cut into segments of that many payload bytes each (TSO: {@link #tsoBytes} said it may). Should
     * the route have become unusable since, the packet is freed and counted ({@code tsoUnroutable}), false.
     */
    public boolean send(Route route, long packet, int checksumOffset, int transportHeaderLength, int tsoSegmentSize,
                        long nowNanos) {
        if (!route.usable(arp.version(), nowNanos) && !resolve(route, nowNanos)) {
            if (tsoSegmentSize > 0) {
                counters.tsoUnroutable++;
                pool.free(packet);
                return false;
            }
            return send(route.source, route.destination, route.protocol, packet, checksumOffset, transportHeaderLength,
                    nowNanos);
        }
        int l4Length = Mbuf.pktLen(packet);
        if (Mbuf.headroom(packet) < Ethernet.HEADER_LENGTH + Ipv4Packet.MIN_HEADER_LENGTH) {
            counters.noMbufs++; // as in the full path: transports allocate with headroom
            pool.free(packet);
            return false;
        }
        int protocol = route.protocol;
        long olFlags = transportChecksum(packet, protocol, checksumOffset, route.offloadTransportChecksum,
                route.offloadAnyChain,
                Checksum.pseudoHeader(route.source, route.destination, protocol, l4Length));
        boolean offloadIp = route.offloadIpChecksum;
        long ethAddress = Mbuf.prepend(packet, Ethernet.HEADER_LENGTH + Ipv4Packet.MIN_HEADER_LENGTH);
        Ipv4Packet.write(Mbuf.MEMORY, ethAddress + Ethernet.HEADER_LENGTH, Ipv4Packet.MIN_HEADER_LENGTH + l4Length,
                nextIdentification++, true, TTL, protocol, route.source, route.destination, !offloadIp);
        if (offloadIp) {
            olFlags |= Mbuf.LAYOUT.txIpChecksum | Mbuf.LAYOUT.txIpv4;
        }
        Ethernet.write(Mbuf.MEMORY, ethAddress, route.destinationMac, route.sourceMac, Ethernet.TYPE_IPV4);
        if (tsoSegmentSize > 0) {
            olFlags |= Mbuf.LAYOUT.txTcpSegmentation;
            counters.tsoPacketsSent++;
        }
        Mbuf.setOlFlags(packet, olFlags);
        Mbuf.setTxOffload(packet, Ethernet.HEADER_LENGTH, Ipv4Packet.MIN_HEADER_LENGTH, transportHeaderLength,
                tsoSegmentSize);
        counters.packetsSent++;
        enqueue(route.out, packet);
        return true;
    }

    /**
     * The transport using {@code route} has proof that the next hop got its packets (TCP: an ACK of new data), so the
     * next hop stays fresh without asking ARP, as Linux's neighbour confirmation does: a busy connection would
     * otherwise see its next hop go stale every reachable time (30 s), send a request and take the full path until
     * the reply (which the JIT also paid for: the first time, the hot send path was recompiled in the middle of a
     * benchmark window). Done at most once per half reachable time per route: it is called for most ACKs.
     */
    public void confirmNeighbour(Route route, long nowNanos) {
        if (route.local || route.arpVersion != arp.version()
                || nowNanos - route.confirmedAt < route.reachableNanos / 2) {
            return; // inside the stack, to be worked out again anyway, or confirmed lately
        }
        if (arp.confirmReachable(route.nextHop, route.destinationMac, nowNanos)) {
            route.confirmedAt = nowNanos;
        }
    }

    /**
     * Works {@code route} out again: the device, and for a device route the next hop's MAC, which must be resolved and
     * fresh ({@link ArpCache#reachable}). False (the route unusable) otherwise: no route, or ARP has work to do.
     */
    private boolean resolve(Route route, long nowNanos) {
        route.arpVersion = -1;
        int destination = route.destination;
        boolean local = isLocal(destination);
        if (local) {
            route.out = loopback;
            route.destinationMac = 0;
            route.sourceMac = 0;
        } else {
            int nextHop = destination;
            if (!config.onLink(destination)) {
                if (config.gateway() == 0) {
                    return false;
                }
                nextHop = config.gateway();
            }
            if (!arp.reachable(nextHop, nowNanos)) {
                return false;
            }
            route.out = device;
            route.nextHop = nextHop;
            route.destinationMac = arp.lastMac();
            route.sourceMac = mac;
            route.confirmedAt = arp.lastConfirmedAt();
            route.reachableNanos = arp.reachableNanos();
        }
        DeviceCapabilities caps = route.out.capabilities();
        route.local = local;
        route.offloadTransportChecksum = caps.txTcpChecksum() && route.protocol == Ipv4Packet.PROTOCOL_TCP;
        route.offloadIpChecksum = caps.txIpv4Checksum();
        // TSO leaves the checksum of every segment to the device: only with the transport checksum offloaded too, and
        // a segment of several MSS is a chain of the send queue's mbufs (of even-length pieces where the device's sum
        // needs them: tsoNeedsEvenPieces)
        route.offloadAnyChain = caps.txChecksumAnyChain();
        route.tsoBytes = caps.tcpSegmentation() && route.offloadTransportChecksum && caps.multiSegment()
                ? caps.maxTsoBytes() : 0;
        route.chain = caps.maxChain();
        route.arpVersion = arp.version();
        return true;
    }

    /**
     * True when a segment other than the last has an odd length. DPDK 22.11's net_tap sums such chains segment by
     * segment without realigning the bytes after an odd piece, so its offloaded checksum is wrong and the peer drops
     * the packet (seen as a retransmission the kernel never acknowledges); those packets are summed here instead.
     */
    private static boolean hasOddInnerSegment(long packet) {
        for (long seg = packet; Mbuf.next(seg) != 0; seg = Mbuf.next(seg)) {
            if ((Mbuf.dataLen(seg) & 1) != 0) {
                return true;
            }
        }
        return false;
    }

    /** Fills the Ethernet header of a frame whose next hop's MAC is now known, and queues it. */
    private void sendResolved(long frame, long destinationMac) {
        Ethernet.write(Mbuf.MEMORY, Mbuf.dataAddress(frame), destinationMac, mac, Ethernet.TYPE_IPV4);
        enqueue(device, frame);
    }

    private void sendArp(int operation, long destinationMac, int target) {
        long frame = pool.alloc();
        if (frame == 0) {
            counters.noMbufs++;
            return;
        }
        long address = Mbuf.append(frame, Ethernet.HEADER_LENGTH + ArpPacket.LENGTH);
        MemorySegment memory = MemorySegment.ofAddress(address).reinterpret(Ethernet.HEADER_LENGTH + ArpPacket.LENGTH);
        Ethernet.write(memory, 0, destinationMac, mac, Ethernet.TYPE_ARP);
        ArpPacket.write(memory, Ethernet.HEADER_LENGTH, operation, mac, config.address(),
                operation == ArpPacket.REQUEST ? 0 : destinationMac, target);
        if (operation == ArpPacket.REQUEST) {
            counters.arpRequestsSent++;
        }
        enqueue(device, frame);
    }

    private void enqueue(NetDevice out, long frame) {
        MbufBurst queue = out == loopback ? loopbackQueue : deviceQueue;
        lockDevices();
        try {
            if (queue.isFull()) {
                out.transmit(queue);
                if (queue.isFull()) {
                    counters.txQueueFull++;
                    pool.free(frame);
                    return;
                }
            }
            queue.add(frame);
            counters.framesSent++;
        } finally {
            unlockDevices();
        }
    }

    /**
     * Held by whoever touches the devices or the transmit queues: the stack's thread always (uncontended, a CAS), and
     * {@link #flushStalled} from another thread when the stack's thread has not come back to its loop for long (a
     * handler that blocks its event loop after a write must not hold that write back, as a kernel would have sent it).
     * Made by {@link #shareWithStallWatch}, on the stack's thread.
     */
    private DeviceLock deviceLock;

    /** Set once another thread may call {@link #flushStalled}: only then do device and queue accesses lock. */
    private volatile boolean sharedWithStallWatch;
    /** Plain copy of {@link #sharedWithStallWatch} for this stack's own thread. */
    private boolean locking;

    /**
     * Called on the stack's thread before another thread may call {@link #flushStalled}: from then on every device and
     * transmit-queue access takes the lock (uncontended: a CAS, or a re-entry under the loop's round lock). A stack
     * nobody else flushes (a simulation, a benchmark) never locks.
     */
    public void shareWithStallWatch() {
        deviceLock = new DeviceLock(Thread.currentThread());
        locking = true;
        sharedWithStallWatch = true; // publishes deviceLock to the stall watch
    }

    /**
     * Takes the device lock when another thread may flush (see {@link #shareWithStallWatch}); only the stack's thread
     * may call it (another thread gets an IllegalStateException), and it may nest.
     */
    public void lockDevices() {
        if (locking) {
            deviceLock.lock();
        }
    }

    public void unlockDevices() {
        if (locking) {
            deviceLock.unlock();
        }
    }

    // ======================================================================================== housekeeping

    /** ARP retries and expiry, reassembly timeouts; cheap enough to call every poll, it works once per millisecond. */
    public void poll(long nowNanos) {
        if (nowNanos - lastArpPoll >= 1_000_000L) {
            lastArpPoll = nowNanos;
            arp.poll(nowNanos, pool, arpRetry);
            reassembly.expire(nowNanos, timedOut);
        }
    }

    /**
     * Where a reassembled datagram goes when several stacks share the device: the fragments of one datagram all reach
     * one stack (they carry no ports to steer by), and the datagram then belongs to the stack of its flow.
     */
    public interface ReassembledSteering {
        /** True when {@code frame} was handed to (or, failing that, freed for) another stack. */
        boolean handedElsewhere(long frame);
    }

    /** See {@link ReassembledSteering}; null (the default) keeps every reassembled datagram here. */
    public void reassembledSteering(ReassembledSteering steering) {
        this.reassembledSteering = steering;
    }

    /**
     * RFC 1122 §3.3.2: a datagram that timed out with its first fragment here is answered with ICMP time exceeded
     * (fragment reassembly time exceeded), quoting that fragment's IP header and first 8 bytes of data.
     */
    private void reassemblyTimeExceeded(long firstFragment, int headerLength, long nowNanos) {
        long ip = Mbuf.dataAddress(firstFragment) + Ethernet.HEADER_LENGTH;
        int source = Mbuf.MEMORY.get(U32, ip + 12);
        int destination = Mbuf.MEMORY.get(U32, ip + 16);
        int quoted = Math.min(headerLength + 8, Mbuf.dataLen(firstFragment) - Ethernet.HEADER_LENGTH);
        boolean icmpError = (Mbuf.MEMORY.get(JAVA_BYTE, ip + 9) & 0xff) == Ipv4Packet.PROTOCOL_ICMP
                && quoted > headerLength && isIcmpError(Mbuf.MEMORY.get(JAVA_BYTE, ip + headerLength) & 0xff);
        // RFC 1122 §3.2.2: never an error about an error, nor about a datagram to a broadcast address, nor to a source
        // that is not one host
        if (icmpError || (destination != config.address() && !isLocal(destination)) || source == 0 || source == -1
                || source == config.broadcast() || (source >>> 28) >= 0xe) {
            return;
        }
        long m = pool.alloc();
        if (m == 0) {
            counters.noMbufs++;
            return;
        }
        long at = Mbuf.append(m, Icmpv4Packet.HEADER_LENGTH + quoted);
        Mbuf.MEMORY.set(U32, at, Icmpv4Packet.TIME_EXCEEDED << 24 | 1 << 16); // code 1: reassembly; checksum 0
        Mbuf.MEMORY.set(U32, at + 4, 0);
        MemorySegment.copy(Mbuf.MEMORY, ip, Mbuf.MEMORY, at + Icmpv4Packet.HEADER_LENGTH, quoted);
        counters.icmpTimeExceededSent++;
        send(config.address(), source, Ipv4Packet.PROTOCOL_ICMP, m, 2, Icmpv4Packet.HEADER_LENGTH, nowNanos);
    }

    /** ICMP types that report an error (destination unreachable, source quench, redirect, time exceeded, parameter). */
    private static boolean isIcmpError(int type) {
        return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    }

    /** Fragments waiting for the rest of their datagram. */
    public int fragmentsHeld() {
        return reassembly.held();
    }

    /**
     * Hands queued frames to the devices, one burst each: the stack calls it once per loop round, so every write of a
     * round shares one tx_burst. Frames a full device refuses stay queued for the next flush.
     */
    public void flush() {
        lockDevices();
        try {
            if (deviceQueue.size() > 0) {
                device.transmit(deviceQueue);
            }
            if (loopbackQueue.size() > 0) {
                loopback.transmit(loopbackQueue);
            }
        } finally {
            unlockDevices();
        }
    }

    /** Hands the frames queued for the loopback to it (delivered to the stacks in their next input). */
    public void flushLoopback() {
        lockDevices();
        try {
            if (loopbackQueue.size() > 0) {
                loopback.transmit(loopbackQueue);
            }
        } finally {
            unlockDevices();
        }
    }

    /**
     * Called from another thread when the stack's thread has been away from its loop for long with frames queued
     * (the event loop's stall watch): flushes them if the stack's thread is not inside the devices or queues right
     * now. Returns the number of frames handed over. After {@link #clear} it does nothing.
     */
    public int flushStalled() {
        if (!sharedWithStallWatch || !deviceLock.tryLock()) {
            return 0;
        }
        try {
            int before = deviceQueue.size() + loopbackQueue.size();
            if (before == 0 || cleared) {
                return 0;
            }
            if (deviceQueue.size() > 0) {
                device.transmit(deviceQueue);
            }
            if (loopbackQueue.size() > 0) {
                loopback.transmit(loopbackQueue);
            }
            int sent = before - deviceQueue.size() - loopbackQueue.size();
            counters.stalledFlushFrames += sent;
            return sent;
        } finally {
            deviceLock.release();
        }
    }

    /** Frames waiting in our transmit queues. */
    public int queuedFrames() {
        return deviceQueue.size() + loopbackQueue.size();
    }

    /** Frees everything queued (stack shutdown). */
    public void clear() {
        lockDevices();
        try {
            cleared = true;
            pool.freeBulk(deviceQueue, 0, deviceQueue.size());
            deviceQueue.clear();
            pool.freeBulk(loopbackQueue, 0, loopbackQueue.size());
            loopbackQueue.clear();
        } finally {
            unlockDevices();
        }
        arp.clear(pool);
        reassembly.clear();
    }

    private boolean cleared;
}
