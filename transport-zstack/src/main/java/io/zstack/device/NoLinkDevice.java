package io.zstack.device;

import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.wire.MacAddress;

/**
 * A device with no link: nothing is ever received and every frame sent is freed and counted. A stack on it serves
 * only its in-stack loopback (127/8 and its own address), which is what a transport needs to run server and client
 * in one process without DPDK or a NIC.
 */
public final class NoLinkDevice implements NetDevice {
    private final String name;
    private final MbufPool pool;
    private final MacAddress mac;
    private final boolean ownsPool;
    private long framesDropped;

    /** A device over {@code pool}; with {@code ownsPool} closing the device closes the pool too. */
    public NoLinkDevice(String name, MbufPool pool, MacAddress mac, boolean ownsPool) {
        this.name = name;
        this.pool = pool;
        this.mac = mac;
        this.ownsPool = ownsPool;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int receive(MbufBurst burst) {
        burst.clear();
        return 0;
    }

    @Override
    public int transmit(MbufBurst burst) {
        int n = burst.size();
        for (int i = 0; i < n; i++) {
            pool.free(burst.get(i));
        }
        burst.clear();
        framesDropped += n;
        return n;
    }

    /** Frames sent into the void so far (e.g. ARP requests for an address that can never answer). */
    public long framesDropped() {
        return framesDropped;
    }

    @Override
    public DeviceCapabilities capabilities() {
        return DeviceCapabilities.NONE;
    }

    @Override
    public MacAddress macAddress() {
        return mac;
    }

    @Override
    public int mtu() {
        return 1500;
    }

    @Override
    public MbufPool pool() {
        return pool;
    }

    @Override
    public void close() {
        // a pool with mbufs still out (buffers the application holds) stays open: freeing it would pull memory
        // from under them
        if (ownsPool && pool.available() == pool.capacity()) {
            pool.close();
        }
    }
}
