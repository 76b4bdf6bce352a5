package io.zstack.channel;

import io.netty.channel.AbstractChannel;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;

/**
 * What ZStack's server and socket channels share: they live on a {@link ZStackEventLoop}, whose stack holds their
 * TCP state, and every stack call happens on that loop's thread.
 */
abstract class AbstractZStackChannel extends AbstractChannel {
    protected volatile boolean open = true;
    protected volatile boolean active;

    AbstractZStackChannel(Channel parent) {
        super(parent);
    }

    ZStackEventLoop zstackLoop() {
        return (ZStackEventLoop) eventLoop();
    }

    /** AUTO_READ was turned off: a read asked for earlier no longer counts. */
    abstract void clearReadPending();

    @Override
    protected boolean isCompatible(EventLoop loop) {
        return loop instanceof ZStackEventLoop;
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public boolean isActive() {
        return active;
    }

    @Override
    protected void doRegister() throws Exception {
        zstackLoop().channels.add(this);
    }

    @Override
    protected void doDeregister() throws Exception {
        zstackLoop().channels.remove(this);
    }

    /** Runs {@code task} on this channel's loop: now if already there, else as a task. */
    void onLoop(Runnable task) {
        if (!isRegistered()) {
            return;
        }
        EventLoop loop = eventLoop();
        if (loop.inEventLoop()) {
            task.run();
        } else {
            loop.execute(task);
        }
    }
}
