package io.zstack.testsuite;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.testsuite.transport.AbstractSingleThreadEventLoopTest;

/**
 * Netty's event loop contract tests (registration, channel iteration, graceful shutdown before and after start,
 * scheduling and cancelling tasks) on the event loop of the transport behind {@link ZStackTransport}.
 */
public class ZStackEventLoopTest extends AbstractSingleThreadEventLoopTest {

    @Override
    protected boolean supportsChannelIteration() {
        return ZStackTransport.supportsChannelIteration();
    }

    /** One loop: every test works on {@code group.next()}, and a new group is made per test. */
    @Override
    protected EventLoopGroup newEventLoopGroup() {
        return ZStackTransport.newGroup(1, "testsuite-eventloop");
    }

    @Override
    protected Channel newChannel() {
        return ZStackTransport.newClientChannel();
    }

    @Override
    protected Class<? extends ServerChannel> serverChannelClass() {
        return ZStackTransport.serverChannelClass();
    }
}
