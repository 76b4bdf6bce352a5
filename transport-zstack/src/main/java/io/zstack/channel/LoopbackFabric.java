package io.zstack.channel;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.device.DeviceCapabilities;
import io.zstack.device.MpscFrameRing;
import io.zstack.device.NetDevice;
import io.zstack.stack.FlowSteering;
import io.zstack.wire.Ethernet;
import io.zstack.wire.Ipv4Packet;
import io.zstack.wire.MacAddress;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The loopback of a group's stacks, delivering as a multi-queue NIC's RSS would: a TCP frame goes to the stack its
 * flow hash picks ({@link ZStackFlows}), so the two ends of a loopback connection usually live on different loops
 * (a client on one loop reaches a server child on another), and a connection's own frames always reach the stack
 * that holds it. Frames cross threads by reference through lock-free rings; no byte is copied.
 *
 * <p>The same rings carry frames the shared device delivered to the wrong stack ({@link #steering}): each TCP frame
 * goes to the stack its flow hash picks, so a device that does not spread flows by that hash (af_packet's kernel
 * fanout) still reaches the stack that holds the connection.
 */
final class LoopbackFabric {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    /** Frames waiting for one stack; beyond this the sender keeps them (backpressure). */
    private static final int RING_FRAMES = 4096;

    private final Port[] ports;
    /** Ports not closed yet: the last to close frees what the others were sent while closing (see Port#close). */
    private final AtomicInteger open;
    private final AtomicInteger stopped = new AtomicInteger();

    LoopbackFabric(int stacks) {
        ports = new Port[stacks];
        open = new AtomicInteger(stacks);
    }

    /** A loop stopped; true for the group's last (after every other loop's last frame was sent). */
    boolean lastToStop() {
        return stopped.incrementAndGet() == ports.length;
    }

    int stacks() {
        return ports.length;
    }

    /** The loopback device of stack {@code index}; {@code wakeup} is run when a frame arrives from another stack. */
    synchronized NetDevice port(int index, MbufPool pool, Runnable wakeup) {
        Port port = new Port(index, pool, wakeup);
        ports[index] = port;
        return port;
    }

    /**
     * How stack {@code index} hands frames its device delivered to the stack that owns their flow. Call after
     * {@link #port} for every stack.
     */
    FlowSteering steering(int index) {
        Port own = ports[index];
        return new FlowSteering() {
            @Override
            public int ownerOf(long frame) {
                return route(frame, index);
            }

            @Override
            public int self() {
                return index;
            }

            @Override
            public boolean handOver(int owner, long frame) {
                Port target = ports[owner];
                if (target.closed) {
                    own.pool.free(frame); // its stack stopped: as a NIC queue nobody polls drops
                    return true;
                }
                if (!target.handedOver.offer(frame)) {
                    return false;
                }
                target.wakeup.run();
                return true;
            }

            @Override
            public int takeHandedOver(MbufBurst burst) {
                burst.clear();
                long frame;
                while (!burst.isFull() && (frame = own.handedOver.poll()) != 0) {
                    burst.add(frame); // as the device delivered it: its checksum flags are the device's
                }
                return burst.size();
            }
        };
    }

    /**
     * The stack a frame is for: by the flow hash for TCP, by the addresses alone for fragments, the sender itself for
     * everything else.
     */
    private int route(long frame, int sender) {
        int length = Mbuf.dataLen(frame);
        if (length < Ethernet.HEADER_LENGTH + Ipv4Packet.MIN_HEADER_LENGTH + 4) {
            return sender;
        }
        MemorySegment data = MemorySegment.ofAddress(Mbuf.dataAddress(frame)).reinterpret(length);
        if ((data.get(U16, 12) & 0xffff) != Ethernet.TYPE_IPV4) {
            return sender;
        }
        int ip = Ethernet.HEADER_LENGTH;
        int headerLength = (data.get(ValueLayout.JAVA_BYTE, ip) & 0x0f) * 4;
        int source = data.get(U32, ip + 12);
        int destination = data.get(U32, ip + 16);
        if ((data.get(U16, ip + 6) & 0x3fff) != 0) {
            // a fragment (MF or an offset): no ports to hash, and all of a datagram's must meet in one stack, which
            // hands the datagram on to its flow's once it is whole (NetStack.steerDeviceInput)
            int target = ZStackFlows.queueOf(source, 0, destination, 0, ports.length);
            return ports[target] != null ? target : sender;
        }
        if ((data.get(ValueLayout.JAVA_BYTE, ip + 9) & 0xff) != Ipv4Packet.PROTOCOL_TCP
                || length < ip + headerLength + 4) {
            return sender;
        }
        int sourcePort = data.get(U16, ip + headerLength) & 0xffff;
        int destinationPort = data.get(U16, ip + headerLength + 2) & 0xffff;
        int target = ZStackFlows.queueOf(source, sourcePort, destination, destinationPort, ports.length);
        return ports[target] != null ? target : sender;
    }

    private final class Port implements NetDevice {
        private final int index;
        private final MbufPool pool;
        private final Runnable wakeup;
        private final MpscFrameRing inbound = new MpscFrameRing(RING_FRAMES);
        /** Frames the shared device delivered to another stack, for this one's flows. */
        private final MpscFrameRing handedOver = new MpscFrameRing(RING_FRAMES);
        private final long rxFlags = Mbuf.LAYOUT.rxIpChecksumGood | Mbuf.LAYOUT.rxL4ChecksumGood;
        private final boolean[] woken;
        /** Its stack stopped: frames for it are freed, not queued. */
        private volatile boolean closed;

        Port(int index, MbufPool pool, Runnable wakeup) {
            this.index = index;
            this.pool = pool;
            this.wakeup = wakeup;
            this.woken = new boolean[ports.length];
        }

        @Override
        public String name() {
            return "lo" + index;
        }

        @Override
        public int receive(MbufBurst burst) {
            burst.clear();
            long frame;
            while (!burst.isFull() && (frame = inbound.poll()) != 0) {
                Mbuf.setOlFlags(frame, rxFlags); // as a checksum-verifying NIC would say: nothing can corrupt it
                burst.add(frame);
            }
            return burst.size();
        }

        @Override
        public int transmit(MbufBurst burst) {
            int n = 0;
            while (n < burst.size()) {
                long frame = burst.get(n);
                int target = route(frame, index);
                if (ports[target].closed) {
                    pool.free(frame); // that stack stopped (a RST this one sends while it closes): dropped
                    n++;
                    continue;
                }
                if (!ports[target].inbound.offer(frame)) {
                    break; // that stack is behind: the rest stay with the caller
                }
                if (target != index) {
                    woken[target] = true;
                }
                n++;
            }
            burst.removeFirst(n);
            for (int i = 0; i < woken.length; i++) {
                if (woken[i]) {
                    woken[i] = false;
                    ports[i].wakeup.run();
                }
            }
            return n;
        }

        @Override
        public DeviceCapabilities capabilities() {
            return DeviceCapabilities.RELIABLE_MEDIUM;
        }

        @Override
        public MacAddress macAddress() {
            return MacAddress.ZERO;
        }

        @Override
        public int mtu() {
            return 65535;
        }

        @Override
        public MbufPool pool() {
            return pool;
        }

        /**
         * Frees what waits. A stack that is still running may send here after that (its RSTs as it closes: a sender
         * that saw this port open just before): the last port to close, when no stack sends any more, frees those
         * from every port. Before, they stayed in the ring, and their mbufs never went home.
         */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            drain();
            if (open.decrementAndGet() == 0) {
                for (Port p : ports) {
                    if (p != null) {
                        p.drain();
                    }
                }
            }
        }

        private void drain() {
            long frame;
            while ((frame = inbound.poll()) != 0) {
                pool.free(frame); // frames may come from any stack's pool: the free follows each mbuf's own
            }
            while ((frame = handedOver.poll()) != 0) {
                pool.free(frame);
            }
        }
    }
}
