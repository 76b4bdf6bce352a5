package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.zstack.buffer.Mbuf;
import io.zstack.tcp.cc.CongestionAlgorithm;
import io.zstack.wire.ArpPacket;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Icmpv4Packet;
import io.zstack.wire.Ipv4Packet;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * A hostile peer, seeded: it opens connections with options of any value (an MSS of 0 or 65535, a window scale of
 * 20, SYN cookies or not), then sends segments whose every field is drawn either near what the connection expects or
 * from anywhere: sequence and acknowledgement numbers, flags in any combination, windows, timestamps, SACK blocks,
 * options as random bytes, payloads of any length, other ports, bad checksums, bursts that receive coalescing
 * merges, and (a quarter of the seeds) headers with random bytes overwritten and their checksums summed again, frames
 * cut short or padded; also ICMP errors quoting the connection, echo requests, ARP of any content, frames of any
 * ether type. Meanwhile the application writes, reads, half-closes, closes and aborts, and time jumps over every
 * timer (retransmission, persist, keepalive, TIME_WAIT).
 *
 * <p>Whatever comes, the stack must not throw; must send only well-formed segments ({@link RawPeer} checks every
 * checksum and option it receives); every byte it sends must be the byte its application wrote at that place of the
 * stream; every byte its application reads must be the byte the peer sent at that sequence number (the peer numbers
 * its bytes by sequence number, hostile segments included; not checked on the seeds that damage headers, whose
 * segments may carry anything legitimately); and every mbuf must be back in its pool once the stack is closed
 * ({@link RawPeer#close} refuses a pool with one missing).
 *
 * <p>The peer answers ARP, so the stack keeps talking across long jumps of time. A fifth of the seeds give the stack
 * a pool of a few dozen mbufs, a third have it open the connections, a third give it a device that does TSO and
 * checksums ({@link SoftwareOffloadDevice}, 2 to 64 mbufs per frame), and a quarter have the peer send a quarter of
 * its packets as IPv4 fragments in any order ({@link RawPeer#fragmentSome}). {@code -Dzstack.fuzz.seeds=N} runs more seeds,
 * {@code -Dzstack.fuzz.first=S} starts at seed S, {@code -Dzstack.rawpeer.trace=true} prints every segment.
 */
class TcpFuzzTest {
    private static final int SEEDS = Integer.getInteger("zstack.fuzz.seeds", 1000);
    private static final int FIRST_SEED = Integer.getInteger("zstack.fuzz.first", 0);
    private static final int STEPS = Integer.getInteger("zstack.fuzz.steps", 500);
    private static final int PORT = 80;
    private static final int PEER_PORT = 40000;

    @Test
    void aHostilePeerNeverMakesTheStackThrowLeakOrSendOrDeliverAWrongByte() {
        Map<String, Long> totals = new TreeMap<>();
        for (int seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
            try {
                new Run(seed, totals).run();
            } catch (Throwable t) {
                fail("seed " + seed + " (-Dzstack.fuzz.first=" + seed + " -Dzstack.fuzz.seeds=1 replays it): " + t, t);
            }
        }
        if (SEEDS < 100) {
            return; // a replay of a few seeds: the coverage below is a whole run's
        }
        // the peer reached what it is meant to reach, or the seeds above proved little
        for (String reached : new String[] {"passiveOpens", "bytesReceivedInOrder", "outOfOrderSegments",
                "resetsReceived", "challengeAcks", "pawsRejected", "outOfWindow", "ackUnsent", "checksumErrors",
                "malformed", "synCookiesRejected", "dsacksReceived", "retransmittedSegments", "timeouts",
                "windowProbes", "tailLossProbes", "timeWaits", "icmpReceived",
                "ip.arpMalformed", "ip.icmpEchoRepliesSent", "ip.otherEtherType", "segmentsOffloaded", "chainsCut",
                "peer.bytesStackSentChecked", "peer.framesScattered", "peer.headersSplit",
                "peer.checksumVerdicts", "peer.badChecksumVerdicts", "ip.rxChecksumTrusted",
                "peer.bytesApplicationReadChecked", "peer.packetsFragmented", "ip.ipReassembled",
                "ip.ipFragmentDuplicates"}) {
            assertTrue(totals.getOrDefault(reached, 0L) > 0, reached + " never happened: " + totals);
        }
    }

    /** One seed's connection: the peer's view of both sequence spaces, as far as it follows them. */
    private static final class Run {
        private final Random r;
        private final Map<String, Long> totals;
        private final RawPeer peer;
        private final TcpListener listener;
        private final List<TcpConnection> accepted = new ArrayList<>();
        /** Bytes each connection's application has written: byte k of every stream is {@link #streamByte}(k). */
        private final Map<TcpConnection, Long> written = new HashMap<>();
        private long payloadBytesChecked;
        /** Bytes each connection's application has read, all checked against {@link #peerByte}. */
        private final Map<TcpConnection, Long> read = new HashMap<>();
        private long payloadBytesRead;
        private final TcpSettings settings;
        /** The stack opens the connections (and gets the hostile SYN-ACKs), rather than accepting them on PORT. */
        private final boolean active;
        /**
         * A quarter of the seeds also overwrite random header bytes and sum the checksums again: a segment can then
         * carry any number or any bytes legitimately, so those seeds do not check what the application reads.
         */
        private final boolean damagesHeaders;
        /** The stack's port of the connection the peer follows: PORT, or the one its last active open took. */
        private int stackPort = PORT;
        private final boolean timestamps;
        private int peerNext;
        private int stackNext;
        private int peerTs = 1000;

        Run(long seed, Map<String, Long> totals) {
            this.totals = totals;
            r = new Random(seed);
            CongestionAlgorithm[] algorithms = CongestionAlgorithm.values();
            TcpSettings settings = TcpSettings.builder()
                    .sack(r.nextBoolean()).timestamps(r.nextBoolean()).windowScaling(r.nextBoolean())
                    .congestionControl(algorithms[r.nextInt(algorithms.length)])
                    .keepAlive(r.nextBoolean())
                    .receiveBufferBytes(1 << (12 + r.nextInt(7)))
                    .sendBufferBytes(1 << (12 + r.nextInt(7)))
                    .synCookies(r.nextBoolean())
                    .build();
            // a third of the seeds offload TSO and checksums to a device that takes chains of up to 2-64 mbufs; now
            // and then a pool so small that the stack runs short of mbufs (it drops data, keeps taking ACKs)
            int offloadChain = r.nextInt(3) == 0 ? 2 + r.nextInt(63) : 0;
            // a third of the seeds receive every frame as a chain of mbufs cut anywhere (mostly after the headers),
            // and half have the device flag every frame's checksums as a NIC does (the stack trusts the flags): drawn
            // from a generator of their own, so the seeds' segments stay what they were before these were added
            Random deviceDraw = new Random(seed ^ 0x5ca7_7e4L);
            long[] scatter = deviceDraw.nextInt(3) == 0 ? new long[] {deviceDraw.nextLong(), 8} : null;
            long[] verdicts = deviceDraw.nextBoolean() ? new long[] {deviceDraw.nextLong(), 6} : null;
            peer = new RawPeer(settings, r.nextInt(5) == 0 ? 48 + r.nextInt(200) : 4096, offloadChain, verdicts,
                    scatter);
            // a quarter of the seeds send a quarter of their packets as fragments, in any order (a generator of their
            // own again; SplittableRandom, since java.util.Random's first draws of neighbouring seeds hardly differ)
            java.util.SplittableRandom fragmentDraw = new java.util.SplittableRandom(seed ^ 0xf4a9_3e17L);
            if (fragmentDraw.nextInt(4) == 0) {
                peer.fragmentSome(fragmentDraw.nextLong());
            }
            listener = peer.tcp().listen(0, PORT, settings);
            this.settings = settings;
            active = r.nextInt(3) == 0;
            damagesHeaders = r.nextInt(4) == 0;
            timestamps = r.nextBoolean();
            peerNext = r.nextInt();
        }

        void run() {
            try {
                handshake();
                for (int step = 0; step < STEPS; step++) {
                    observe();
                    int action = r.nextInt(20);
                    if (action < 10) {
                        peer.send(hostileSegment());
                    } else if (action < 12) {
                        // a burst: the stack's receive coalescing merges runs of consecutive segments
                        int burst = 2 + r.nextInt(12);
                        for (int i = 0; i < burst; i++) {
                            RawPeer.Segment s = r.nextInt(3) == 0 ? hostileSegment() : nextInOrder();
                            peer.put(s);
                        }
                        peer.poll();
                    } else if (action == 12 && r.nextBoolean()) {
                        peer.sendFrame(otherFrame());
                    } else if (action < 14) {
                        write();
                    } else if (action < 16) {
                        readAll();
                    } else if (action < 18) {
                        advanceTime();
                    } else {
                        lifecycle();
                    }
                    accept();
                }
                // wind down: the application closes, the peer acknowledges what it can, the timers run out
                for (TcpConnection c : accepted) {
                    c.close(peer.now());
                }
                for (int i = 0; i < 20; i++) {
                    observe();
                    peer.send(segment(TcpFlags.ACK, peerNext, stackNext, new byte[0]));
                    readAll();
                    peer.clock.advance(30_000_000_000L);
                    peer.poll();
                }
                readAll();
            } catch (RuntimeException | AssertionError e) {
                if (RawPeer.TRACE) {
                    for (TcpConnection c : accepted) {
                        System.out.println("TRACE " + c.describe(peer.now()));
                    }
                }
                throw e;
            } finally {
                peer.tcp().counters().snapshot().forEach((k, v) -> totals.merge(k, v, Long::sum));
                peer.stack.ip().counters().snapshot().forEach((k, v) -> totals.merge("ip." + k, v, Long::sum));
                totals.merge("peer.bytesStackSentChecked", payloadBytesChecked, Long::sum);
                totals.merge("peer.bytesApplicationReadChecked", payloadBytesRead, Long::sum);
                if (peer.verdictDevice != null) {
                    totals.merge("peer.checksumVerdicts", peer.verdictDevice.verdicts(), Long::sum);
                    totals.merge("peer.badChecksumVerdicts", peer.verdictDevice.badVerdicts(), Long::sum);
                }
                totals.merge("peer.packetsFragmented", peer.packetsFragmented, Long::sum);
                if (peer.scatteringDevice != null) {
                    totals.merge("peer.framesScattered", peer.scatteringDevice.framesScattered(), Long::sum);
                    totals.merge("peer.headersSplit", peer.scatteringDevice.headersSplit(), Long::sum);
                }
                peer.close(); // throws if an mbuf did not come home
            }
        }

        private void handshake() {
            if (active) {
                activeOpen();
                return;
            }
            RawPeer.Segment syn = segment(TcpFlags.SYN, peerNext, 0, new byte[0]);
            drawSynOptions(syn);
            peer.send(syn);
            peerNext++;
            observe();
            if (r.nextInt(10) != 0) {
                peer.send(segment(TcpFlags.ACK, peerNext, stackNext, new byte[0]));
            }
        }

        /** The stack connects to the peer, which answers with a SYN-ACK of any options (or something else). */
        private void activeOpen() {
            TcpConnection c = peer.tcp().connect(0, 0, RawPeer.PEER, PEER_PORT, settings, null, peer.now());
            accepted.add(c);
            stackPort = c.localPort();
            peer.poll();
            observe();
            int flags = r.nextInt(8) == 0 ? r.nextInt(256) : TcpFlags.SYN | TcpFlags.ACK;
            RawPeer.Segment synAck = segment(flags, peerNext, r.nextInt(8) == 0 ? r.nextInt() : stackNext,
                    new byte[0]);
            drawSynOptions(synAck);
            if (r.nextInt(6) == 0) {
                synAck.rawOptions = rawOptions();
            }
            peer.send(synAck);
            peerNext++;
            observe();
        }

        /** The options of a SYN or SYN-ACK of ours, any value: no MSS or one of 0 to 65,535, a window scale up to 20. */
        private void drawSynOptions(RawPeer.Segment syn) {
            int[] msses = {-1, 0, 1, 64, 88, 536, 1460, 9000, 65535};
            syn.mss = msses[r.nextInt(msses.length)];
            syn.windowScale = r.nextInt(4) == 0 ? -1 : r.nextInt(21);
            syn.sackPermitted = r.nextBoolean();
        }

        /** Follows the stack's sequence space from what it sent, and ours from what it acknowledged. */
        private void observe() {
            for (RawPeer.Sent s : peer.takeAll()) {
                if (s.sourcePort() != stackPort) {
                    continue;
                }
                checkPayload(s);
                int end = s.seq() + s.payload().length + (s.has(TcpFlags.SYN) ? 1 : 0) + (s.has(TcpFlags.FIN) ? 1 : 0);
                if (s.has(TcpFlags.SYN) || SeqNum.gt(end, stackNext)) {
                    stackNext = end;
                }
                if (s.has(TcpFlags.ACK) && r.nextInt(4) != 0) {
                    peerNext = s.ack(); // mostly in step with the stack; now and then on our own count
                }
            }
        }

        /**
         * Whatever the peer did, every byte the stack sends (first sent, resent, probed, cut for SACK or a small
         * window) is the byte its application wrote at that position of the stream.
         */
        private void checkPayload(RawPeer.Sent s) {
            byte[] payload = s.payload();
            if (payload.length == 0) {
                return;
            }
            // the connection that sent it: the latest one on these ports (an older one cannot live beside it). Its
            // ISS comes from the stack, not from a SYN seen on the wire: a SYN-ACK can be lost and the handshake end
            // anyway (in a simultaneous open the peer may learn the ISS from an ACK)
            TcpConnection sender = null;
            for (int i = accepted.size() - 1; i >= 0 && sender == null; i--) {
                TcpConnection c = accepted.get(i);
                if (c.localPort() == s.sourcePort() && c.remotePort() == s.destinationPort()) {
                    sender = c;
                }
            }
            if (sender == null) {
                throw new AssertionError("data to port " + s.destinationPort() + " from a connection the application"
                        + " never had");
            }
            int iss = sender.sender().iss;
            long offset = Integer.toUnsignedLong(s.seq() - iss - 1);
            for (int i = 0; i < payload.length; i++) {
                if (payload[i] != streamByte(offset + i)) {
                    throw new AssertionError("byte " + (offset + i) + " of the stream to port " + s.destinationPort()
                            + " sent as " + payload[i] + ", written as " + streamByte(offset + i) + " (segment seq "
                            + Integer.toUnsignedString(s.seq()) + ", " + payload.length + " bytes)");
                }
            }
            payloadBytesChecked += payload.length;
        }

        private static byte streamByte(long k) {
            return (byte) (k * 131 + (k >>> 8) * 7 + 3);
        }

        /**
         * What the peer sends at sequence number {@code seq}, whatever the segment: a function of the number alone,
         * so however the stack takes, drops, trims, reorders or merges what it is sent, every byte its application
         * reads must be the one the peer numbered for that place ({@link #readAll} checks).
         */
        private static byte peerByte(int seq) {
            return (byte) (seq * 151 + (seq >>> 8) * 11 + (seq >>> 16) * 5 + 1);
        }

        private static byte[] peerPayload(int firstSeq, int length) {
            byte[] payload = new byte[length];
            for (int i = 0; i < length; i++) {
                payload[i] = peerByte(firstSeq + i);
            }
            return payload;
        }

        private RawPeer.Segment segment(int flags, int seq, int ack, byte[] payload) {
            RawPeer.Segment s = new RawPeer.Segment();
            s.sourcePort = PEER_PORT;
            s.destinationPort = stackPort;
            s.flags = flags;
            s.seq = seq;
            s.ack = ack;
            s.payload = payload;
            s.timestamp = timestamps;
            peerTs += r.nextInt(3);
            s.tsVal = peerTs;
            return s;
        }

        private RawPeer.Segment hostileSegment() {
            int flags = r.nextInt(4) == 0 ? r.nextInt(256)
                    : TcpFlags.ACK | pick(4, TcpFlags.PSH) | pick(25, TcpFlags.FIN) | pick(40, TcpFlags.RST)
                            | pick(40, TcpFlags.SYN) | pick(40, TcpFlags.URG);
            int seq = switch (r.nextInt(6)) {
                case 0, 1, 2 -> peerNext;
                case 3 -> peerNext + r.nextInt(1 << (1 + r.nextInt(20)));
                case 4 -> peerNext - r.nextInt(1 << (1 + r.nextInt(20)));
                default -> r.nextInt();
            };
            int ack = switch (r.nextInt(6)) {
                case 0, 1, 2 -> stackNext;
                case 3 -> stackNext - r.nextInt(1 << (1 + r.nextInt(20)));
                case 4 -> stackNext + r.nextInt(1 << (1 + r.nextInt(16)));
                default -> r.nextInt();
            };
            int length = r.nextInt(3) == 0 ? 0 : 1 + r.nextInt(r.nextBoolean() ? 64 : 1400);
            RawPeer.Segment s = segment(flags, seq, ack, peerPayload(seq + ((flags & TcpFlags.SYN) != 0 ? 1 : 0),
                    length));
            s.sourcePort = r.nextInt(12) == 0 ? PEER_PORT + 1 + r.nextInt(3) : PEER_PORT;
            s.destinationPort = r.nextInt(20) == 0 ? r.nextInt(65536) : stackPort;
            s.window = switch (r.nextInt(4)) {
                case 0 -> 0;
                case 1 -> r.nextInt(65536);
                default -> 65535;
            };
            if (r.nextInt(8) == 0) {
                s.tsVal = r.nextInt(); // from the past or the far future
            }
            s.tsEcr = r.nextInt(3) == 0 ? r.nextInt() : 0;
            if (r.nextInt(3) == 0) {
                int blocks = 1 + r.nextInt(4);
                s.sackStart = new int[blocks];
                s.sackEnd = new int[blocks];
                for (int b = 0; b < blocks; b++) {
                    int start = r.nextInt(4) == 0 ? r.nextInt() : stackNext - r.nextInt(1 << (1 + r.nextInt(18)));
                    s.sackStart[b] = start;
                    s.sackEnd[b] = r.nextInt(4) == 0 ? r.nextInt() : start + r.nextInt(1 << (1 + r.nextInt(16)));
                }
            }
            if (r.nextInt(6) == 0) {
                s.rawOptions = rawOptions();
            }
            if (r.nextInt(30) == 0) {
                s.corruptChecksum = true;
            }
            if (damagesHeaders && r.nextInt(4) == 0) {
                s.mutationSeed = r.nextLong() | 1;
            }
            return s;
        }

        /**
         * A frame that is not a TCP segment: an ICMP error quoting the stack's connection (fragmentation needed with
         * any next-hop MTU, or another code), an echo request, an ARP packet of any content, or bytes of any ether
         * type and length; now and then with random bytes overwritten.
         */
        private byte[] otherFrame() {
            byte[] frame;
            MemorySegment f;
            switch (r.nextInt(4)) {
                case 0 -> {
                    int quoted = 20 + 8 + r.nextInt(3) * 12;
                    int icmpLength = 8 + quoted;
                    frame = new byte[14 + 20 + icmpLength];
                    f = MemorySegment.ofArray(frame);
                    Ipv4Packet.write(f, 14 + 28, 20 + 40, 9, true, 64, Ipv4Packet.PROTOCOL_TCP, RawPeer.STACK,
                            RawPeer.PEER, true);
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(frame, 14 + 28 + 20, 8);
                    b.putShort((short) stackPort).putShort((short) PEER_PORT)
                            .putInt(stackNext - r.nextInt(1 << (1 + r.nextInt(16))));
                    int code = r.nextInt(3) == 0 ? r.nextInt(16) : Icmpv4Packet.CODE_FRAGMENTATION_NEEDED;
                    int[] mtus = {0, 1, 67, 68, 100, 296, 576, 1000, 1280, 1500, 9000, 65535};
                    int mtu = r.nextInt(4) == 0 ? r.nextInt(65536) : mtus[r.nextInt(mtus.length)];
                    Icmpv4Packet.write(f, 14 + 20, icmpLength, Icmpv4Packet.DESTINATION_UNREACHABLE, code,
                            mtu & 0xffff);
                    Ipv4Packet.write(f, 14, 20 + icmpLength, 8, false, 64, Ipv4Packet.PROTOCOL_ICMP, RawPeer.PEER,
                            RawPeer.STACK, true);
                }
                case 1 -> {
                    int icmpLength = 8 + r.nextInt(r.nextBoolean() ? 64 : 1400);
                    frame = new byte[14 + 20 + icmpLength];
                    f = MemorySegment.ofArray(frame);
                    Icmpv4Packet.write(f, 14 + 20, icmpLength, Icmpv4Packet.ECHO_REQUEST, r.nextInt(3), r.nextInt());
                    int destination = r.nextInt(4) == 0 ? -1 : RawPeer.STACK;
                    Ipv4Packet.write(f, 14, 20 + icmpLength, 8, false, 64, Ipv4Packet.PROTOCOL_ICMP, RawPeer.PEER,
                            destination, true);
                }
                case 2 -> {
                    frame = new byte[14 + ArpPacket.LENGTH + r.nextInt(20)];
                    f = MemorySegment.ofArray(frame);
                    int[] addresses = {RawPeer.PEER, RawPeer.STACK, 0, -1, r.nextInt()};
                    ArpPacket.write(f, 14, r.nextInt(4) == 0 ? r.nextInt(65536) : 1 + r.nextInt(2),
                            r.nextBoolean() ? RawPeer.PEER_MAC : r.nextLong() & 0xffff_ffff_ffffL,
                            addresses[r.nextInt(addresses.length)], r.nextLong() & 0xffff_ffff_ffffL,
                            addresses[r.nextInt(addresses.length)]);
                    Ethernet.write(f, 0, r.nextBoolean() ? RawPeer.STACK_MAC : 0xffff_ffff_ffffL, RawPeer.PEER_MAC,
                            Ethernet.TYPE_ARP);
                    return damage(frame);
                }
                default -> {
                    frame = new byte[1 + r.nextInt(r.nextBoolean() ? 40 : 1514)];
                    r.nextBytes(frame);
                    if (frame.length >= 14) {
                        f = MemorySegment.ofArray(frame);
                        int[] types = {Ethernet.TYPE_IPV4, Ethernet.TYPE_ARP, 0x86dd, 0x8100, r.nextInt(65536)};
                        Ethernet.write(f, 0, RawPeer.STACK_MAC, RawPeer.PEER_MAC, types[r.nextInt(types.length)]);
                    }
                    return frame;
                }
            }
            Ethernet.write(f, 0, RawPeer.STACK_MAC, RawPeer.PEER_MAC, Ethernet.TYPE_IPV4);
            return damage(frame);
        }

        /** Now and then overwrites a few random bytes of {@code frame} (checksums not summed again). */
        private byte[] damage(byte[] frame) {
            if (r.nextInt(4) == 0) {
                for (int i = 1 + r.nextInt(3); i > 0; i--) {
                    frame[r.nextInt(frame.length)] = (byte) r.nextInt(256);
                }
            }
            return frame;
        }

        /** The peer's next data segment in order, as a well-behaved sender's run of them. */
        private RawPeer.Segment nextInOrder() {
            int length = 1 + r.nextInt(r.nextInt(4) == 0 ? 64 : 1400);
            RawPeer.Segment s = segment(TcpFlags.ACK | pick(3, TcpFlags.PSH), peerNext, stackNext,
                    peerPayload(peerNext, length));
            peerNext += length;
            return s;
        }

        /** Option bytes of any shape: known kinds with any length, unknown kinds, lengths of 0, 1 or past the end. */
        private byte[] rawOptions() {
            byte[] o = new byte[r.nextInt(41)];
            int i = 0;
            int[] kinds = {0, 1, 2, 3, 4, 5, 8, 19, 28, 30, 34, 253, 254, 255};
            while (i < o.length) {
                o[i++] = (byte) (r.nextInt(5) == 0 ? r.nextInt(256) : kinds[r.nextInt(kinds.length)]);
                if (i < o.length) {
                    int[] lengths = {0, 1, 2, 3, 4, 6, 8, 10, 18, 26, 34, 40, 255};
                    o[i++] = (byte) (r.nextInt(3) == 0 ? r.nextInt(256) : lengths[r.nextInt(lengths.length)]);
                }
                int body = Math.min(o.length - i, r.nextInt(11));
                for (int b = 0; b < body; b++) {
                    o[i++] = (byte) r.nextInt(256);
                }
            }
            return o;
        }

        private int pick(int oneIn, int flag) {
            return r.nextInt(oneIn) == 0 ? flag : 0;
        }

        private void write() {
            for (TcpConnection c : accepted) {
                if (!c.isActive() || c.isOutputShutdown()) {
                    continue;
                }
                int length = 1 + r.nextInt(r.nextBoolean() ? 100 : 1900);
                long m = peer.stackPool.alloc();
                if (m == 0) {
                    return; // the pool is low: that is the stack's business to survive, not the test's to force
                }
                Mbuf.setDataOff(m, Mbuf.HEADROOM + 64);
                length = Math.min(length, Mbuf.tailroom(m));
                long at = Mbuf.append(m, length);
                long offset = written.getOrDefault(c, 0L);
                for (int i = 0; i < length; i++) {
                    Mbuf.MEMORY.set(ValueLayout.JAVA_BYTE, at + i, streamByte(offset + i));
                }
                if (c.write(m, peer.now())) {
                    written.put(c, offset + length);
                } else {
                    peer.stackPool.free(m);
                }
            }
            peer.poll();
        }

        private void readAll() {
            for (TcpConnection c : accepted) {
                long chain;
                while ((chain = c.read(peer.now())) != 0) {
                    byte[] bytes = Mbuf.toByteArray(chain);
                    peer.stackPool.free(chain);
                    long offset = read.getOrDefault(c, 0L);
                    int first = c.receiver().irs + 1 + (int) offset;
                    for (int i = 0; i < bytes.length && !damagesHeaders; i++) {
                        if (bytes[i] != peerByte(first + i)) {
                            throw new AssertionError("the application read " + bytes[i] + " at byte " + (offset + i)
                                    + " of the stream from port " + c.remotePort() + ", sent as "
                                    + peerByte(first + i));
                        }
                    }
                    read.put(c, offset + bytes.length);
                    payloadBytesRead += damagesHeaders ? 0 : bytes.length;
                }
            }
            peer.poll();
        }

        private void advanceTime() {
            long nanos = switch (r.nextInt(4)) {
                case 0 -> r.nextInt(1_000_000);
                case 1 -> r.nextInt(300) * 1_000_000L;
                case 2 -> r.nextInt(10_000) * 1_000_000L;
                default -> r.nextInt(200) * 1_000_000_000L; // keepalive, TIME_WAIT, give-up timers
            };
            peer.clock.advance(nanos);
            peer.poll();
        }

        private void lifecycle() {
            TcpConnection c = accepted.isEmpty() ? null : accepted.get(r.nextInt(accepted.size()));
            switch (r.nextInt(5)) {
                case 0 -> {
                    if (c != null) {
                        c.shutdownOutput(peer.now());
                    }
                }
                case 1 -> {
                    if (c != null) {
                        c.close(peer.now());
                    }
                }
                case 2 -> {
                    if (c != null) {
                        c.abort(peer.now());
                    }
                }
                default -> {
                    // a new connection attempt on our port (after a reset or close, or on top of the live one)
                    peerNext = r.nextInt();
                    handshake();
                }
            }
            peer.poll();
        }

        private void accept() {
            TcpConnection c;
            while ((c = listener.accept()) != null) {
                accepted.add(c);
            }
        }
    }
}
