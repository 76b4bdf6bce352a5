package io.zstack.tcp;

/**
 * What the connection table holds under a 4-tuple: a {@link TcpConnection}, or the {@link TimeWait} a closed one
 * left behind.
 */
abstract class TcpTuple {
    final int localAddress;
    final int localPort;
    final int remoteAddress;
    final int remotePort;

    TcpTuple(int localAddress, int localPort, int remoteAddress, int remotePort) {
        this.localAddress = localAddress;
        this.localPort = localPort;
        this.remoteAddress = remoteAddress;
        this.remotePort = remotePort;
    }
}
