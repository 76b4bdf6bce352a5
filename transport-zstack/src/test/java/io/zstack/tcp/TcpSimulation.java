package io.zstack.tcp;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.buffer.Mbuf;
import io.zstack.device.FaultConfig;
import io.zstack.device.FaultInjectingDevice;
import io.zstack.device.NetDevice;
import io.zstack.device.SimulatedLink;
import io.zstack.device.VirtualClock;
import io.zstack.ip.Ipv4Config;
import io.zstack.wire.MacAddress;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * Two complete stacks (IPv4 + TCP) joined by a simulated link under a virtual clock, optionally through fault
 * injectors; everything is seeded, so a failing run replays exactly. {@link #run} steps both stacks and the clock.
 */
final class TcpSimulation implements AutoCloseable {
    static final int A = 0x0a000001;
    static final int B = 0x0a000002;
    private static final long STEP_NANOS = 20_000;

    final VirtualClock clock = new VirtualClock();
    final JavaMbufPool poolA;
    final JavaMbufPool poolB;
    final SimulatedLink link;
    final TcpHost a;
    final TcpHost b;

    TcpSimulation(long seed, FaultConfig faults, TcpSettings settings) {
        this(seed, faults, settings, 500_000);
    }

    /** As above, with {@code latencyNanos} of one-way delay on the link. */
    TcpSimulation(long seed, FaultConfig faults, TcpSettings settings, long latencyNanos) {
        this(seed, faults, settings, latencyNanos, 1_000_000_000L);
    }

    /** As above, the link carrying {@code bitsPerSecond} (0: no limit, a burst sent arrives as one burst). */
    TcpSimulation(long seed, FaultConfig faults, TcpSettings settings, long latencyNanos, long bitsPerSecond) {
        poolA = new JavaMbufPool("sim-a", 8192);
        poolB = new JavaMbufPool("sim-b", 8192);
        link = SimulatedLink.builder(clock).latencyNanos(latencyNanos).bitsPerSecond(bitsPerSecond).queueCapacity(4096)
                .pools(poolA, poolB)
                .endA("a", MacAddress.of(0x020000000001L), 1500)
                .endB("b", MacAddress.of(0x020000000002L), 1500)
                .build();
        NetDevice devA = link.a();
        NetDevice devB = link.b();
        if (faults != FaultConfig.NONE) {
            devA = withOtherFaults(corrupting(devA, faults, seed * 31 + 3, clock), faults, seed * 31 + 1, clock);
            devB = withOtherFaults(corrupting(devB, faults, seed * 31 + 4, clock), faults, seed * 31 + 2, clock);
        }
        a = new TcpHost(devA, new Ipv4Config(A, 24, 0), settings, new IsnGenerator(seed, 1), seed, 0);
        b = new TcpHost(devB, new Ipv4Config(B, 24, 0), settings, new IsnGenerator(seed, 2), seed + 1, 0);
    }

    /**
     * Corruption goes on each end's transmit path only, the other faults on both: a frame crosses two injectors (its
     * sender's transmit, its receiver's receive), and when both flipped a bit, at the same place of two 16-bit words
     * in opposite directions, the Internet checksum (RFC 1071) cannot tell, which is why a real link has a CRC under
     * it. A sweep of 300 seeds met two such frames, and TCP rightly delivered their bytes as sent. Returns
     * {@code device} behind an injector that corrupts what it transmits ({@code device} itself without corruption).
     */
    private static NetDevice corrupting(NetDevice device, FaultConfig faults, long seed, VirtualClock clock) {
        return faults.corrupt() == 0 ? device : new FaultInjectingDevice(device, FaultConfig.builder().seed(seed)
                .direction(FaultConfig.Direction.TRANSMIT).corrupt(faults.corrupt()).build(), clock);
    }

    /** {@code device} behind an injector of every fault of {@code faults} but corruption, on both paths. */
    private static NetDevice withOtherFaults(NetDevice device, FaultConfig faults, long seed, VirtualClock clock) {
        return new FaultInjectingDevice(device, faults.toBuilder().corrupt(0).seed(seed).build(), clock);
    }

    long now() {
        return clock.now();
    }

    /** One step: both stacks poll, then time moves on. */
    void step() {
        a.poll(clock.now());
        b.poll(clock.now());
        clock.advance(STEP_NANOS);
    }

    /** Steps until {@code done} holds or {@code maxNanos} of virtual time pass; returns whether it held. */
    boolean run(java.util.function.BooleanSupplier done, long maxNanos) {
        long end = clock.now() + maxNanos;
        while (clock.now() < end) {
            if (done.getAsBoolean()) {
                return true;
            }
            step();
        }
        return done.getAsBoolean();
    }

    /**
     * Connects a to b (port 7000) and steps until the client is ESTABLISHED and b accepted, or {@code maxNanos}
     * pass: returns {client, server}, the server null if none was accepted.
     */
    TcpConnection[] establish(TcpSettings settings, long maxNanos) {
        return establish(b.tcp().listen(B, 7000, settings), settings, maxNanos);
    }

    /** As above, to a listener already made. */
    TcpConnection[] establish(TcpListener listener, TcpSettings settings, long maxNanos) {
        TcpConnection client = a.tcp().connect(0, 0, B, listener.localPort(), settings, null, now());
        TcpConnection[] pair = {client, null};
        run(() -> {
            if (pair[1] == null) {
                pair[1] = listener.accept();
            }
            return pair[1] != null && client.state() == TcpState.ESTABLISHED;
        }, maxNanos);
        return pair;
    }

    /** A deterministic byte stream: byte i of stream {@code seed}. */
    static byte streamByte(long seed, long i) {
        long x = (i + seed * 0x9E3779B97F4A7C15L) * 0xBF58476D1CE4E5B9L;
        x ^= x >>> 31;
        return (byte) x;
    }

    /** Writes the next bytes of a stream into the connection while it accepts them; returns bytes written. */
    static long writeStream(TcpConnection c, JavaMbufPool pool, long seed, long from, long total,
                            SplittableRandom sizes, long now) {
        long written = from;
        while (written < total && c.sendSpace() > 0) {
            int len = (int) Math.min(total - written, 1 + sizes.nextInt(1800));
            long m = pool.alloc();
            if (m == 0) {
                break;
            }
            Mbuf.setDataOff(m, Mbuf.HEADROOM + 64); // as an application allocator would: room for every header
            long at = Mbuf.append(m, len);
            MemorySegment data = MemorySegment.ofAddress(at).reinterpret(len);
            for (int i = 0; i < len; i++) {
                data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, streamByte(seed, written + i));
            }
            if (!c.write(m, now)) {
                pool.free(m);
                break;
            }
            written += len;
        }
        return written;
    }

    /** Reads what is ready and checks each byte against the stream; returns the new count read. */
    static long readStream(TcpConnection c, JavaMbufPool pool, long seed, long from, long now) {
        long read = from;
        long chain;
        while ((chain = c.read(now)) != 0) {
            for (long seg = chain; seg != 0; seg = Mbuf.next(seg)) {
                MemorySegment data = Mbuf.data(seg);
                for (int i = 0; i < data.byteSize(); i++) {
                    byte got = data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i);
                    if (got != streamByte(seed, read)) {
                        pool.free(chain);
                        throw new AssertionError("byte " + read + " of stream " + seed + " differs");
                    }
                    read++;
                }
            }
            pool.free(chain);
        }
        return read;
    }

    @Override
    public void close() {
        a.close();
        b.close();
        link.close();
        poolA.close();
        poolB.close();
    }
}
