package io.zstack.tcp;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufPool;
import io.zstack.device.DeviceCapabilities;
import io.zstack.ip.Ipv4Layer;
import io.zstack.ip.Route;
import io.zstack.wire.CheckResult;
import io.zstack.wire.Checksum;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Icmpv4Packet;
import io.zstack.wire.Ipv4Packet;
import io.zstack.wire.TcpHeader;
import io.zstack.wire.TcpOptions;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.IntPredicate;
import java.util.function.ObjLongConsumer;

/**
 * TCP for one stack instance: demultiplexes segments to connections (4-tuple table) and listeners, answers what
 * has no socket with RST (RFC 9293 §3.10.7.1), runs the SYN backlog and SYN cookies, builds every outgoing
 * segment (headers in place in front of the payload when the send queue's rule allows, else a header mbuf before
 * the payload by reference; see {@link #transmit}), and drives
 * the connections' timers from one timer wheel.
 */
public final class TcpLayer implements Ipv4Layer.Transport {
    private static final ValueLayout.OfShort BIG_ENDIAN_U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt BIG_ENDIAN_U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int EPHEMERAL_FIRST = 32768;
    private static final int EPHEMERAL_LAST = 60999;

    private final Ipv4Layer ip;
    private final MbufPool pool;
    private final TcpSettings defaults;
    private final TcpCounters counters = new TcpCounters();
    private final ConnectionTable connections = new ConnectionTable();
    private final Map<Long, TcpListener> listeners = new HashMap<>();
    private final TimerWheel<TcpConnection> timers;
    /** When each {@link TimeWait} ends (its own wheel: a TIME_WAIT is no connection). */
    private final TimerWheel<TimeWait> timeWaitTimers;
    private final ObjLongConsumer<TimeWait> timeWaitOver = (tw, nowNanos) -> endTimeWait(tw);
    /** Connections whose pacer holds a segment (BBR's pacing). */
    private final PacedConnections pacedConnections = new PacedConnections();
    /** Connections owing the ACK of full segments received this round ({@link #oweAck}). */
    private TcpConnection[] acksOwed = new TcpConnection[8];
    private int acksOwedCount;
    private final IsnGenerator isns;
    private final SynCookies cookies;
    private final SplittableRandom random;
    private final TcpHeader header = new TcpHeader();
    private final TcpOptions options = new TcpOptions();
    private final InboundSegment segment = new InboundSegment();
    private final int[] sackStarts = new int[4];
    private final int[] sackEnds = new int[4];
    private int nextEphemeral;
    /** Free mbufs below which received data is dropped (see {@link #checkMemory}). */
    private final int memoryReserve;
    private boolean memoryTight;

    public TcpLayer(Ipv4Layer ip, MbufPool pool, TcpSettings defaults, IsnGenerator isns, long seed, long nowNanos) {
        this.ip = ip;
        this.pool = pool;
        this.defaults = defaults;
        this.isns = isns;
        this.cookies = new SynCookies(isns);
        this.random = new SplittableRandom(seed);
        this.timers = new TimerWheel<>(nowNanos);
        this.timeWaitTimers = new TimerWheel<>(nowNanos);
        this.memoryReserve = Math.max(32, pool.capacity() / 16);
        this.nextEphemeral = EPHEMERAL_FIRST + random.nextInt(EPHEMERAL_LAST - EPHEMERAL_FIRST + 1);
        ip.register(Ipv4Packet.PROTOCOL_TCP, this);
    }

    public TcpCounters counters() {
        return counters;
    }

    /** The settings new sockets start from. */
    public TcpSettings defaults() {
        return defaults;
    }

    MbufPool pool() {
        return pool;
    }

    /**
     * Looks at the pool after a receive burst. When fewer than 1/16 of its mbufs are free, connections drop the data
     * of the segments they receive (counted, the peers send it again) and keep only what the headers say: the last
     * mbufs must stay free for ACKs, which are what frees sent data. With none left the device could receive no
     * frame at all, and connections whose readers wait on their own writes would never drain.
     */
    public void checkMemory() {
        memoryTight = !pool.hasAvailable(memoryReserve);
    }

    boolean memoryTight() {
        return memoryTight;
    }

    TimerWheel<TcpConnection> timers() {
        return timers;
    }

    int randomInt() {
        return random.nextInt();
    }

    int timestampOffset(int localAddress, int localPort, int remoteAddress, int remotePort) {
        return isns.timestampOffset(localAddress, localPort, remoteAddress, remotePort);
    }

    int isn(int localAddress, int localPort, int remoteAddress, int remotePort, long nowNanos) {
        return isns.isn(localAddress, localPort, remoteAddress, remotePort, nowNanos);
    }

    /** A route for a connection's segments (see {@link Route}). */
    Route route(int localAddress, int remoteAddress) {
        return ip.route(localAddress, remoteAddress, Ipv4Packet.PROTOCOL_TCP);
    }

    /** An ACK of new data on {@code c}: its next hop answers (see {@link Ipv4Layer#confirmNeighbour}). */
    void confirmNeighbour(TcpConnection c, long nowNanos) {
        ip.confirmNeighbour(c.route, nowNanos);
    }

    /** The MSS we announce to a peer: the route's MTU less IPv4 and TCP headers. */
    int mssFor(int remoteAddress) {
        int mss = ip.maxTransportPayload(remoteAddress) - TcpHeader.MIN_HEADER_LENGTH;
        DeviceCapabilities caps = ip.capabilitiesFor(remoteAddress);
        if (!caps.multiSegment()) {
            // every segment must fit one mbuf with its headers
            mss = Math.min(mss, pool.dataRoom() - Mbuf.HEADROOM - TcpHeader.MAX_HEADER_LENGTH);
        }
        return Math.min(mss, 65495);
    }

    public int connectionCount() {
        return connections.size();
    }

    // ======================================================================================== user calls

    /**
     * Listens on {@code port} ({@code address} 0 for every local address). Throws IllegalStateException if the
     * port is taken (the socket layer reports that as "Address already in use").
     */
    public TcpListener listen(int address, int port, TcpSettings settings) {
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("port " + port);
        }
        long key = listenerKey(address, port);
        if (listeners.containsKey(key) || (address != 0 && listeners.containsKey(listenerKey(0, port)))) {
            throw new IllegalStateException("address in use: port " + port);
        }
        TcpListener l = new TcpListener(this, address, port, settings);
        listeners.put(key, l);
        return l;
    }

    /** Picks a free ephemeral port for a listener bound to port 0. */
    public int ephemeralListenPort(int address) {
        for (int tries = 0; tries <= EPHEMERAL_LAST - EPHEMERAL_FIRST; tries++) {
            int port = nextPort();
            if (!listeners.containsKey(listenerKey(address, port)) && !listeners.containsKey(listenerKey(0, port))) {
                return port;
            }
        }
        throw new IllegalStateException("no free ephemeral port");
    }

    private int nextPort() {
        int port = nextEphemeral++;
        if (nextEphemeral > EPHEMERAL_LAST) {
            nextEphemeral = EPHEMERAL_FIRST;
        }
        return port;
    }

    private static long listenerKey(int address, int port) {
        return (Integer.toUnsignedLong(address) << 16) | port;
    }

    void unlisten(TcpListener l) {
        listeners.remove(listenerKey(l.localAddress, l.localPort), l);
    }

    /**
     * Opens a connection (sends SYN). {@code localPort} 0 picks an ephemeral port whose 4-tuple is free and, when
     * {@code portFilter} is given, that it accepts (multi-queue stacks keep flows on their own queue).
     */
    public TcpConnection connect(int localAddress, int localPort, int remoteAddress, int remotePort,
                                 TcpSettings settings, IntPredicate portFilter, long nowNanos) {
        int source = localAddress != 0 ? localAddress : ip.sourceFor(remoteAddress);
        int port = localPort;
        if (port == 0) {
            for (int tries = 0; tries <= EPHEMERAL_LAST - EPHEMERAL_FIRST; tries++) {
                int candidate = nextPort();
                if (connections.find(source, candidate, remoteAddress, remotePort) == null
                        && !listeners.containsKey(listenerKey(0, candidate))
                        && (portFilter == null || portFilter.test(candidate))) {
                    port = candidate;
                    break;
                }
            }
            if (port == 0) {
                throw new IllegalStateException("no free ephemeral port towards " + Ipv4Packet.addressText(remoteAddress));
            }
        } else if (connections.find(source, port, remoteAddress, remotePort) != null) {
            throw new IllegalStateException("address in use: " + Ipv4Packet.addressText(source) + ":" + port);
        }
        TcpConnection c = new TcpConnection(this, settings, source, port, remoteAddress, remotePort);
        connections.add(c);
        counters.activeOpens++;
        c.setup().connect(nowNanos);
        return c;
    }

    /** Connections of this layer in TIME_WAIT (see {@link TcpSettings#maxTimeWaits}). */
    int timeWaitCount;

    void remove(TcpConnection c) {
        connections.remove(c);
    }

    /** {@code c} entered TIME_WAIT: {@code successor} holds its tuple until {@code expiryNanos} ({@link TimeWait}). */
    void replaceByTimeWait(TcpConnection c, TimeWait successor, long expiryNanos) {
        connections.remove(c);
        connections.add(successor);
        timeWaitCount++;
        timeWaitTimers.schedule(successor.expiry, expiryNanos);
    }

    /** Whether the tuple {@code c} had is in TIME_WAIT here (a {@link TimeWait} holds it since c closed). */
    public boolean inTimeWait(TcpConnection c) {
        return connections.find(c.localAddress, c.localPort, c.remoteAddress, c.remotePort) instanceof TimeWait;
    }

    /** A segment {@code tw} answers restarted its 2 MSL. */
    void restartTimeWait(TimeWait tw, long nowNanos) {
        timeWaitTimers.schedule(tw.expiry, nowNanos + tw.lifetimeNanos);
    }

    /** The tuple leaves TIME_WAIT: 2 MSL passed, a RST ended it, or a new incarnation takes it. */
    void endTimeWait(TimeWait tw) {
        timeWaitTimers.cancel(tw.expiry);
        connections.remove(tw);
        timeWaitCount--;
    }

    /** The ACK a TIME_WAIT answers with: our FIN's successor and the peer's FIN acknowledged, timestamps as before. */
    void sendTimeWaitAck(TimeWait tw, long nowNanos) {
        sendBare(tw.localAddress, tw.localPort, tw.remoteAddress, tw.remotePort, tw.sndNxt, tw.rcvNxt, TcpFlags.ACK,
                tw.windowField, -1, tw.timestampsOn, tw.tsNow(nowNanos), tw.tsRecent, nowNanos);
    }

    /** One line per connection ({@link TcpConnection#describe}), like {@code ss -ti}, for diagnostics. */
    public String describeConnections(long nowNanos) {
        StringBuilder sb = new StringBuilder();
        int timeWaits = 0;
        for (TcpTuple t : connections.toArray()) {
            if (t instanceof TcpConnection c) {
                sb.append(c.describe(nowNanos)).append('\n');
            } else {
                timeWaits++; // a server closing first holds thousands: counted, not listed (they hold no data)
            }
        }
        if (timeWaits > 0) {
            sb.append(timeWaits).append(" in TIME_WAIT\n");
        }
        return sb.toString();
    }

    /** Sends the ACKs owed this round, runs due timers, and lets paced connections send what has come due. */
    public void poll(long nowNanos) {
        sendOwedAcks(nowNanos);
        timers.advance(nowNanos, TcpConnection::timersDue);
        timeWaitTimers.advance(nowNanos, timeWaitOver);
        pacedConnections.release(nowNanos);
    }

    /** {@code c} received full segments that call for an ACK: it goes at this round's {@link #poll}. */
    void oweAck(TcpConnection c) {
        if (c.receiver.ackOwed) {
            return;
        }
        c.receiver.ackOwed = true;
        if (acksOwedCount == acksOwed.length) {
            acksOwed = Arrays.copyOf(acksOwed, acksOwedCount * 2);
        }
        acksOwed[acksOwedCount++] = c;
    }

    /**
     * The owed ACKs that no segment of ours carried meanwhile (the application's answer, a window update). Reads the
     * count at every step: an ACK to our own address is delivered at once and may owe another.
     */
    private void sendOwedAcks(long nowNanos) {
        for (int i = 0; i < acksOwedCount; i++) {
            TcpConnection c = acksOwed[i];
            acksOwed[i] = null;
            c.receiver.ackOwed = false;
            if (c.state != TcpState.CLOSED && c.receiver.segmentsUnacked > 0) {
                c.receiver.ackNow = true;
                c.output(nowNanos);
            }
        }
        acksOwedCount = 0;
    }

    PacedConnections pacedConnections() {
        return pacedConnections;
    }

    /** Resets every connection and frees everything (stack shutdown). */
    public void abortAll(long nowNanos) {
        for (TcpTuple t : connections.toArray()) {
            if (t instanceof TcpConnection c) {
                c.abort(nowNanos);
            } else {
                endTimeWait((TimeWait) t);
            }
        }
        for (TcpListener l : listeners.values().toArray(new TcpListener[0])) {
            l.close(nowNanos);
        }
    }

    // ======================================================================================== input

    @Override
    public void receive(int source, int destination, long packet, int length, boolean checksumVerified,
                        long nowNanos) {
        counters.segmentsReceived++;
        // the header must lie in the first segment (a loopback chain carries payload in the others)
        if (header.wrap(Mbuf.MEMORY, Mbuf.dataAddress(packet), Math.min(length, Mbuf.dataLen(packet)))
                != CheckResult.OK) {
            counters.malformed++;
            pool.free(packet);
            return;
        }
        if (!checksumVerified && !checksumValid(source, destination, packet, length)) {
            counters.checksumErrors++;
            pool.free(packet);
            return;
        }
        if (header.parseOptions(options) != CheckResult.OK) {
            counters.malformed++;
            pool.free(packet);
            return;
        }
        InboundSegment seg = segment;
        seg.sourceAddress = source;
        seg.destinationAddress = destination;
        seg.sourcePort = header.sourcePort();
        seg.destinationPort = header.destinationPort();
        seg.seq = header.seq();
        seg.ack = header.ack();
        seg.flags = header.flags();
        seg.window = header.window();
        seg.mss = options.mss;
        seg.windowScale = options.windowScale;
        seg.sackPermitted = options.sackPermitted;
        seg.hasTimestamp = options.hasTimestamp;
        seg.tsVal = options.tsVal;
        seg.tsEcr = options.tsEcr;
        seg.sackBlocks = options.sackBlocks;
        for (int i = 0; i < options.sackBlocks; i++) {
            seg.sackStart[i] = options.sackStart[i];
            seg.sackEnd[i] = options.sackEnd[i];
        }
        int headerLength = header.headerLength();
        seg.payloadLength = length - headerLength;
        if (seg.payloadLength > 0) {
            seg.payload = Mbuf.trimFront(pool, packet, headerLength);
        } else {
            pool.free(packet);
            seg.payload = 0;
        }
        if (seg.sourcePort == 0 || seg.destinationPort == 0) {
            counters.malformed++;
            freePayload(seg);
            return;
        }
        dispatch(seg, nowNanos);
    }

    private boolean checksumValid(int source, int destination, long packet, int length) {
        long pseudo = Checksum.pseudoHeader(source, destination, Ipv4Packet.PROTOCOL_TCP, length);
        return Checksum.fold(Checksum.addChain(pseudo, packet, 0, length)) == 0xffff;
    }

    private void freePayload(InboundSegment seg) {
        if (seg.payload != 0) {
            pool.free(seg.payload);
            seg.payload = 0;
        }
    }

    private void dispatch(InboundSegment seg, long nowNanos) {
        TcpTuple t = connections.find(seg.destinationAddress, seg.destinationPort, seg.sourceAddress,
                seg.sourcePort);
        if (t instanceof TcpConnection c) {
            c.input(seg, nowNanos);
            return;
        }
        if (t != null) {
            TimeWait tw = (TimeWait) t;
            if (!seg.has(TcpFlags.SYN) || seg.has(TcpFlags.ACK) || seg.has(TcpFlags.RST)
                    || !tw.startsNewIncarnation(seg)) {
                tw.input(this, seg, nowNanos);
                freePayload(seg);
                return;
            }
            endTimeWait(tw); // a new incarnation: the listener takes the SYN
            counters.timeWaitReused++;
        }
        TcpListener l = listeners.get(listenerKey(seg.destinationAddress, seg.destinationPort));
        if (l == null) {
            l = listeners.get(listenerKey(0, seg.destinationPort));
        }
        if (l == null) {
            counters.noSocket++;
            replyReset(seg);
            freePayload(seg);
            return;
        }
        listenInput(l, seg, nowNanos);
        freePayload(seg);
    }

    /** RFC 9293 §3.10.7.2: a segment for a listener. */
    private void listenInput(TcpListener l, InboundSegment seg, long nowNanos) {
        if (seg.has(TcpFlags.RST)) {
            return;
        }
        if (seg.has(TcpFlags.ACK)) {
            if (!seg.has(TcpFlags.SYN) && l.settings.synCookies()) {
                int mss = cookies.check(seg.destinationAddress, seg.destinationPort, seg.sourceAddress,
                        seg.sourcePort, seg.seq - 1, seg.ack - 1, nowNanos);
                if (mss > 0) {
                    acceptCookie(l, seg, mss, nowNanos);
                    return;
                }
                counters.synCookiesRejected++;
            }
            replyReset(seg);
            return;
        }
        if (!seg.has(TcpFlags.SYN)) {
            return;
        }
        if (l.acceptQueueFull()) {
            counters.listenOverflows++;
            return; // the client retries its SYN; by then the application may have accepted
        }
        if (l.synBacklogFull()) {
            if (l.settings.synCookies()) {
                sendCookieSynAck(seg, nowNanos);
            } else {
                counters.synBacklogDrops++;
            }
            return;
        }
        TcpConnection c = new TcpConnection(this, l.settings, seg.destinationAddress, seg.destinationPort,
                seg.sourceAddress, seg.sourcePort);
        c.createdBy(l);
        l.halfOpen++;
        connections.add(c);
        counters.passiveOpens++;
        // data in a SYN is not kept (RFC 9293 allows either); the peer sends it again after the handshake
        c.setup().acceptSyn(seg, nowNanos);
    }

    private void acceptCookie(TcpListener l, InboundSegment seg, int mss, long nowNanos) {
        TcpConnection c = new TcpConnection(this, l.settings, seg.destinationAddress, seg.destinationPort,
                seg.sourceAddress, seg.sourcePort);
        c.setup().acceptCookie(seg, seg.ack - 1, mss, nowNanos);
        if (!l.enqueueEstablished(c)) {
            return; // accept queue full: the ACK is dropped, the client retransmits
        }
        c.createdBy(l);
        connections.add(c);
        counters.synCookiesAccepted++;
        counters.passiveOpens++;
        if (seg.payloadLength > 0 || seg.has(TcpFlags.FIN)) {
            c.input(seg, nowNanos);
        }
    }

    private void sendCookieSynAck(InboundSegment seg, long nowNanos) {
        int mss = Math.min(seg.mss > 0 ? seg.mss : 536, mssFor(seg.sourceAddress));
        int cookie = cookies.make(seg.destinationAddress, seg.destinationPort, seg.sourceAddress, seg.sourcePort,
                seg.seq, mss, nowNanos);
        counters.synCookiesSent++;
        sendBare(seg.destinationAddress, seg.destinationPort, seg.sourceAddress, seg.sourcePort, cookie, seg.seq + 1,
                TcpFlags.SYN | TcpFlags.ACK, Math.min(defaults.receiveBufferBytes(), 65535),
                SynCookies.MSS_TABLE[SynCookies.mssIndex(mss)], nowNanos);
    }

    /** RST for a segment that has no connection (RFC 9293 §3.10.7.1). */
    private void replyReset(InboundSegment seg) {
        if (seg.has(TcpFlags.RST)) {
            return;
        }
        if (seg.has(TcpFlags.ACK)) {
            sendBare(seg.destinationAddress, seg.destinationPort, seg.sourceAddress, seg.sourcePort, seg.ack, 0,
                    TcpFlags.RST, 0, -1, 0);
        } else {
            sendBare(seg.destinationAddress, seg.destinationPort, seg.sourceAddress, seg.sourcePort, 0,
                    seg.seq + seg.sequenceLength(), TcpFlags.RST | TcpFlags.ACK, 0, -1, 0);
        }
    }

    /**
     * ICMP about a segment we sent (RFC 5461, RFC 5927): the quoted TCP sequence number must lie in the connection's
     * unacknowledged range, else the message is forged or stale and ignored. Port or protocol unreachable aborts a
     * connection still in SYN_SENT (as Linux reports ECONNREFUSED); fragmentation-needed lowers the MSS (RFC 1191);
     * other errors on established connections are soft and ignored, as RFC 5461 recommends.
     */
    @Override
    public void unreachable(int code, int nextHopMtu, MemorySegment original, long offset, int length) {
        int ipHeader = (original.get(ValueLayout.JAVA_BYTE, offset) & 0x0f) * 4;
        Ipv4Packet quoted = new Ipv4Packet();
        if (quoted.wrap(original, offset, Math.max(length, ipHeader)) == CheckResult.TOO_SHORT) {
            return;
        }
        long tcp = offset + ipHeader;
        // only 8 bytes of the TCP header are quoted for sure: ports and sequence number
        int sourcePort = Short.toUnsignedInt(original.get(BIG_ENDIAN_U16, tcp));
        int destinationPort = Short.toUnsignedInt(original.get(BIG_ENDIAN_U16, tcp + 2));
        int seq = original.get(BIG_ENDIAN_U32, tcp + 4);
        if (!(connections.find(quoted.source(), sourcePort, quoted.destination(), destinationPort)
                instanceof TcpConnection c) || !c.isUnacknowledged(seq)) {
            counters.icmpIgnored++;
            return;
        }
        counters.icmpReceived++;
        if (code == Icmpv4Packet.CODE_FRAGMENTATION_NEEDED) {
            c.sender().pathMtuChanged(nextHopMtu);
        } else if (c.state() == TcpState.SYN_SENT && (code == Icmpv4Packet.CODE_PORT_UNREACHABLE
                || code == Icmpv4Packet.CODE_PROTOCOL_UNREACHABLE)) {
            c.destroy(TcpError.REFUSED);
        } else if (c.state() == TcpState.SYN_SENT) {
            c.softError(TcpError.UNREACHABLE); // reported if the connect then times out
        }
    }

    // ======================================================================================== output

    /** RST on behalf of a connection. */
    void sendReset(TcpConnection c, int seq, int ack, boolean withAck) {
        sendBare(c.localAddress(), c.localPort(), c.remoteAddress(), c.remotePort(), seq, withAck ? ack : 0,
                TcpFlags.RST | (withAck ? TcpFlags.ACK : 0), 0, -1, 0);
    }

    /** A segment with no payload and no connection behind it (RST, cookie SYN-ACK). */
    private void sendBare(int source, int sourcePort, int destination, int destinationPort, int seq, int ack,
                          int flags, int window, int mss, long nowNanos) {
        sendBare(source, sourcePort, destination, destinationPort, seq, ack, flags, window, mss, false, 0, 0,
                nowNanos);
    }

    /** {@link #sendBare}, with the timestamp option when {@code timestamps} (a TIME_WAIT's ACK). */
    private void sendBare(int source, int sourcePort, int destination, int destinationPort, int seq, int ack,
                          int flags, int window, int mss, boolean timestamps, int tsVal, int tsEcr, long nowNanos) {
        long m = allocHeader();
        if (m == 0) {
            return;
        }
        int optionsLength = TcpHeader.optionsLength(mss > 0, false, false, timestamps, 0);
        long address = Mbuf.append(m, TcpHeader.MIN_HEADER_LENGTH + optionsLength);
        MemorySegment h = MemorySegment.ofAddress(address).reinterpret(TcpHeader.MIN_HEADER_LENGTH + optionsLength);
        if (optionsLength > 0) {
            TcpHeader.writeOptions(h, TcpHeader.MIN_HEADER_LENGTH, mss > 0 ? mss : -1, -1, false, timestamps, tsVal,
                    tsEcr, null, null, 0);
        }
        TcpHeader.write(h, 0, sourcePort, destinationPort, seq, ack, TcpHeader.MIN_HEADER_LENGTH + optionsLength,
                flags, window);
        if ((flags & TcpFlags.RST) != 0) {
            counters.resetsSent++;
        }
        counters.segmentsSent++;
        ip.send(source, destination, Ipv4Packet.PROTOCOL_TCP, m, 16, TcpHeader.MIN_HEADER_LENGTH + optionsLength,
                nowNanos);
    }

    private long allocHeader() {
        long m = pool.alloc();
        if (m == 0) {
            counters.noMbufs++;
        }
        return m;
    }

    /** Room an in-place segment needs in front of its payload: Ethernet, IPv4 and the largest TCP header. */
    static final int HEADER_ROOM = Ethernet.HEADER_LENGTH + Ipv4Packet.MIN_HEADER_LENGTH + TcpHeader.MAX_HEADER_LENGTH;

    /**
     * Builds and sends one segment of connection {@code c}. A data segment goes, when {@link SendQueue#inPlace}'s
     * rule allows (a first transmission of an {@code alloc()}ed or echoed buffer, cut at its start), as the queued
     * mbuf itself with every header written into its headroom: one mbuf per segment, nothing allocated. Otherwise (a
     * retransmission while the first copy may still be in a transmit ring, a segment cut from the middle of a buffer,
     * a view of someone else's buffer, no payload) the header goes into a new mbuf, followed by bytes
     * [offset, offset + length) of the send queue by reference (or copied, if the route's device cannot send chains).
     * Returns false when out of mbufs (the segment is then lost, and retransmission covers it).
     */
    boolean transmit(TcpConnection c, int flags, int seq, long offset, int length, long nowNanos) {
        boolean syn = (flags & TcpFlags.SYN) != 0;
        boolean multiSegment = ip.capabilitiesFor(c.remoteAddress()).multiSegment();
        TcpReceiver receiver = c.receiver();
        SendQueue sendQueue = c.sender().sendQueue();
        long m = 0;
        boolean inPlace = false;
        if (length > 0 && !syn) {
            m = sendQueue.inPlace(offset, length, HEADER_ROOM, multiSegment);
            inPlace = m != 0;
        }
        if (!inPlace) {
            m = allocHeader();
            if (m == 0) {
                return false;
            }
        }
        boolean synAck = syn && (flags & TcpFlags.ACK) != 0;
        int tsVal = c.tsNow(nowNanos);
        boolean timestamps = c.timestampsOn();
        int blocks = 0;
        int optionsLength;
        if (syn) {
            optionsLength = TcpHeader.optionsLength(receiver.receiveMss() >= 0, c.synOffersWindowScale(synAck),
                    c.synOffersSack(synAck), c.synOffersTimestamps(synAck), 0);
        } else {
            // SACK blocks never push a segment past the MSS the peer allows (effectiveMss sized the payload for them)
            int sackRoom = c.sender().sendMss() - length;
            int maxBlocks = Math.min(timestamps ? 3 : 4, sackRoom >= 12 ? (sackRoom - 4) / 8 : 0);
            blocks = receiver.sackBlocks(sackStarts, sackEnds, maxBlocks);
            optionsLength = TcpHeader.optionsLength(false, false, false, timestamps, blocks);
        }
        int headerLength = TcpHeader.MIN_HEADER_LENGTH + optionsLength;
        // in place: the header goes in front of the payload; else it is the header mbuf's data
        long base = inPlace ? Mbuf.prepend(m, headerLength) : Mbuf.append(m, headerLength);
        MemorySegment room = Mbuf.MEMORY;
        if (syn) {
            TcpHeader.writeOptions(room, base + TcpHeader.MIN_HEADER_LENGTH, receiver.receiveMss(),
                    c.synOffersWindowScale(synAck) ? receiver.receiveWindowShift() : -1, c.synOffersSack(synAck),
                    c.synOffersTimestamps(synAck), tsVal, synAck ? receiver.timestampToEcho() : 0, null, null, 0);
        } else {
            TcpHeader.writeOptions(room, base + TcpHeader.MIN_HEADER_LENGTH, -1, -1, false,
                    timestamps, tsVal, receiver.timestampToEcho(), sackStarts, sackEnds, blocks);
        }
        boolean ack = (flags & TcpFlags.ACK) != 0;
        TcpHeader.write(room, base, c.localPort(), c.remotePort(), seq, ack ? receiver.receiveNext() : 0, headerLength,
                flags, receiver.advertise(syn));
        if (length > 0 && !inPlace) {
            if (multiSegment) {
                long payload = sendQueue.slice(offset, length);
                if (payload == 0) {
                    counters.noMbufs++;
                    pool.free(m);
                    return false;
                }
                Mbuf.chain(m, payload);
                counters.segmentsWithHeaderMbuf++;
            } else {
                long at = Mbuf.append(m, length);
                if (at == 0) {
                    pool.free(m);
                    throw new IllegalStateException("segment of " + length + " bytes does not fit one mbuf");
                }
                // into the whole address space at the mbuf's address: a segment made per copy was the stack's one
                // allocation per sent segment (2 % of an 8 KB echo server's allocation, JFR)
                sendQueue.copyOut(offset, length, Mbuf.MEMORY, at);
                counters.segmentsCopied++;
            }
        } else if (inPlace) {
            counters.segmentsInPlace++;
        }
        counters.segmentsSent++;
        if ((flags & TcpFlags.RST) != 0) {
            counters.resetsSent++;
        }
        // longer than a segment: TSO (TcpSender.sendData asked tsoBytes), the device cuts it into sendMss pieces
        int tsoSegmentSize = length > c.sender().sendMss() ? c.sender().sendMss() : 0;
        if (tsoSegmentSize > 0) {
            counters.segmentsOffloaded++;
        }
        return ip.send(c.route, m, 16, headerLength, tsoSegmentSize, nowNanos);
    }

    /** The largest segment {@code c}'s device cuts up itself (TSO) as of now, 0 without. */
    int tsoBytes(TcpConnection c, long nowNanos) {
        return ip.tsoBytes(c.route, nowNanos);
    }

    /** True when {@code c}'s device takes a TSO segment only as a chain of even-length inner mbufs. */
    boolean tsoNeedsEvenPieces(TcpConnection c) {
        return ip.tsoNeedsEvenPieces(c.route);
    }

    /** The most mbufs a frame's chain may have on {@code c}'s device, 0: no limit. */
    int chainLimit(TcpConnection c) {
        return ip.chainLimit(c.route);
    }
}
