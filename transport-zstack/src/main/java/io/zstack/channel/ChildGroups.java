package io.zstack.channel;

import io.netty.channel.ChannelHandler;
import io.netty.channel.EventLoopGroup;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import java.lang.reflect.Field;
import java.util.Map;

/**
 * Which group a server's children will be registered in, so the server listens on that group's stacks: a connection
 * cannot leave the stack that accepted it, so it must be accepted where its channel will live.
 *
 * <p>{@code ServerBootstrap} keeps the child group in the handler it adds to the server's pipeline before binding
 * (its {@code ServerBootstrapAcceptor}, which registers every accepted child there) and offers no public way to read
 * it from the channel; this reads that handler's field. Without that handler (a server channel set up by hand) the
 * children are taken to live in the server's own group.
 */
final class ChildGroups {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ChildGroups.class);
    private static final String ACCEPTOR = "io.netty.bootstrap.ServerBootstrap$ServerBootstrapAcceptor";

    private ChildGroups() {
    }

    /** The ZStack group {@code server}'s children go to; a clear error if that group is not a ZStack one. */
    static ZStackEventLoopGroup of(ZStackServerSocketChannel server) {
        EventLoopGroup named = named(server);
        EventLoopGroup children = named != null ? named : server.eventLoop().parent();
        if (children instanceof ZStackEventLoopGroup group) {
            return group;
        }
        throw new IllegalStateException("the children of a ZStack server live on the stacks of a ZStackEventLoopGroup"
                + " (their TCP state is there), but the ServerBootstrap's child group is a "
                + children.getClass().getName());
    }

    private static EventLoopGroup named(ZStackServerSocketChannel server) {
        for (Map.Entry<String, ChannelHandler> entry : server.pipeline()) {
            ChannelHandler handler = entry.getValue();
            if (handler.getClass().getName().equals(ACCEPTOR)) {
                try {
                    Field field = handler.getClass().getDeclaredField("childGroup");
                    field.setAccessible(true);
                    return (EventLoopGroup) field.get(handler);
                } catch (ReflectiveOperationException | RuntimeException e) {
                    // a Netty whose acceptor no longer has this field: say so, and fall back to the server's group
                    logger.warn("cannot read the child group of {} ({}); {} listens in its own group", handler, e,
                            server);
                    return null;
                }
            }
        }
        return null;
    }
}
