package io.zstack.device;

import io.zstack.buffer.MbufBurst;
import io.zstack.buffer.MbufPool;
import io.zstack.wire.MacAddress;

/**
 * A device that passes everything to another one: the base of wrappers (a capture, fault injection, a shared port's
 * queue) that override only what they change. Closing it closes the inner device.
 */
public abstract class ForwardingNetDevice implements NetDevice {
    protected final NetDevice inner;

    protected ForwardingNetDevice(NetDevice inner) {
        if (inner == null) {
            throw new NullPointerException("inner");
        }
        this.inner = inner;
    }

    /** The wrapped device. */
    public NetDevice inner() {
        return inner;
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public int receive(MbufBurst burst) {
        return inner.receive(burst);
    }

    @Override
    public int transmit(MbufBurst burst) {
        return inner.transmit(burst);
    }

    @Override
    public DeviceCapabilities capabilities() {
        return inner.capabilities();
    }

    @Override
    public boolean transmitCallEntersKernel() {
        return inner.transmitCallEntersKernel();
    }

    @Override
    public MacAddress macAddress() {
        return inner.macAddress();
    }

    @Override
    public int mtu() {
        return inner.mtu();
    }

    @Override
    public MbufPool pool() {
        return inner.pool();
    }

    @Override
    public String statistics() {
        return inner.statistics();
    }

    @Override
    public int mbufsKeptAfterClose() {
        return inner.mbufsKeptAfterClose();
    }

    @Override
    public void close() {
        inner.close();
    }
}
