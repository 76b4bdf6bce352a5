package io.zstack.device;

import io.zstack.buffer.Mbuf;
import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.wire.MacAddress;

/**
 * The in-stack loopback: frames transmitted are queued, unchanged and uncopied, and handed back in order by
 * {@link #receive}. The queue is bounded; when it is full, {@link #transmit} takes fewer frames and the rest stay
 * with the caller (backpressure, never a silent drop).
 *
 * <p>Nothing can corrupt a frame here, so it reports {@link DeviceCapabilities#RELIABLE_MEDIUM}: the stack
 * leaves checksums unfilled, and received frames carry DPDK's "IP and L4 checksum good" rx flags.
 */
public final class LoopbackDevice implements NetDevice {
    /** Default queue capacity in frames. */
    public static final int DEFAULT_CAPACITY = 1024;
    /** Default MTU: the largest IPv4 packet, as on Linux's lo. */
    public static final int DEFAULT_MTU = 65535;

    private final String name;
    private final MbufPool pool;
    private final int mtu;
    private final MbufRing queue;
    private final long rxFlags = Mbuf.LAYOUT.rxIpChecksumGood | Mbuf.LAYOUT.rxL4ChecksumGood;
    private boolean closed;

    /**
     * @param name     device name
     * @param pool     the pool frames are built in (and freed to when the device closes with frames queued)
     * @param capacity most frames queued between transmit and receive
     * @param mtu      largest IP packet the stack should send on it
     */
    public LoopbackDevice(String name, MbufPool pool, int capacity, int mtu) {
        if (mtu <= 0) {
            throw new IllegalArgumentException("mtu: " + mtu);
        }
        this.name = name;
        this.pool = pool;
        this.mtu = mtu;
        this.queue = new MbufRing(capacity);
    }

    /** A loopback named "lo" with {@link #DEFAULT_CAPACITY} and {@link #DEFAULT_MTU}. */
    public LoopbackDevice(MbufPool pool) {
        this("lo", pool, DEFAULT_CAPACITY, DEFAULT_MTU);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int receive(MbufBurst burst) {
        checkOpen();
        int n = queue.drainTo(burst);
        for (int i = 0; i < n; i++) {
            // what a checksum-verifying NIC would say; tx requests in ol_flags mean nothing on receive
            Mbuf.setOlFlags(burst.get(i), rxFlags);
        }
        return n;
    }

    @Override
    public int transmit(MbufBurst burst) {
        checkOpen();
        int n = 0;
        while (n < burst.size() && queue.add(burst.get(n), 0)) {
            n++;
        }
        burst.removeFirst(n);
        return n;
    }

    /** Frames waiting to be received. */
    public int queued() {
        return queue.size();
    }

    /** Most frames the queue holds. */
    public int capacity() {
        return queue.limit();
    }

    @Override
    public DeviceCapabilities capabilities() {
        return DeviceCapabilities.RELIABLE_MEDIUM;
    }

    /** All zeros, as Linux's lo. */
    @Override
    public MacAddress macAddress() {
        return MacAddress.ZERO;
    }

    @Override
    public int mtu() {
        return mtu;
    }

    @Override
    public MbufPool pool() {
        return pool;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(name + " is closed");
        }
    }

    /** Frees the frames still queued. Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            queue.freeAll(pool);
        }
    }

    @Override
    public String toString() {
        return "LoopbackDevice(" + name + ", " + queue.size() + "/" + queue.limit() + " queued)";
    }
}
