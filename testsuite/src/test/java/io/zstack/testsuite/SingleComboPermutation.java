package io.zstack.testsuite;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.socket.InternetProtocolFamily;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.SocketTestPermutation;
import java.util.List;

/**
 * A permutation of one combination: a server bootstrap on one group and a client bootstrap on another (or the same),
 * with the given channel classes; no fast-open variant, no datagrams. Netty's {@link SocketTestPermutation} crosses
 * NIO and OIO; every permutation of this module is this single combination over different groups (the loopback, a
 * memif link, the in-process path, the cross-process path).
 */
public abstract class SingleComboPermutation extends SocketTestPermutation {
    private final EventLoopGroup serverGroup;
    private final EventLoopGroup clientGroup;
    private final Class<? extends ServerChannel> serverChannel;
    private final Class<? extends Channel> clientChannel;

    protected SingleComboPermutation(EventLoopGroup serverGroup, EventLoopGroup clientGroup,
                                     Class<? extends ServerChannel> serverChannel,
                                     Class<? extends Channel> clientChannel) {
        this.serverGroup = serverGroup;
        this.clientGroup = clientGroup;
        this.serverChannel = serverChannel;
        this.clientChannel = clientChannel;
    }

    @Override
    public List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> socket() {
        return combo(serverSocket(), clientSocket());
    }

    /** No TCP Fast Open variant: the same single combination as {@link #socket()}. */
    @Override
    public List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> socketWithFastOpen() {
        return socket();
    }

    @Override
    public List<BootstrapFactory<ServerBootstrap>> serverSocket() {
        return List.of(this::newServerBootstrap);
    }

    @Override
    public List<BootstrapFactory<Bootstrap>> clientSocket() {
        return List.of(this::newClientBootstrap);
    }

    @Override
    public List<BootstrapFactory<Bootstrap>> clientSocketWithFastOpen() {
        return clientSocket();
    }

    /** The transport is TCP only; no datagram test is wired up. */
    @Override
    public List<BootstrapComboFactory<Bootstrap, Bootstrap>> datagram(InternetProtocolFamily family) {
        throw new UnsupportedOperationException(ZStackTransport.NAME + ": no datagram channels");
    }

    /** The transport is TCP only; no datagram test is wired up. */
    @Override
    public List<BootstrapFactory<Bootstrap>> datagramSocket() {
        throw new UnsupportedOperationException(ZStackTransport.NAME + ": no datagram channels");
    }

    /** A server bootstrap on the server group with the server channel class; no address, handler or option. */
    public ServerBootstrap newServerBootstrap() {
        return new ServerBootstrap().group(serverGroup).channel(serverChannel);
    }

    /** A client bootstrap on the client group with the client channel class; no handler or option. */
    public Bootstrap newClientBootstrap() {
        return new Bootstrap().group(clientGroup).channel(clientChannel);
    }
}
