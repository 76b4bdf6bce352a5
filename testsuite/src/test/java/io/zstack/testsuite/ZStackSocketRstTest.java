package io.zstack.testsuite;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.socket.SocketRstTest;

import java.io.IOException;
import java.net.SocketAddress;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Netty's {@link SocketRstTest} on the transport behind {@link ZStackTransport}, over IPv4 loopback. */
public class ZStackSocketRstTest extends SocketRstTest {

    @Override
    protected List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.INSTANCE.socket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return ZStackSocketTestPermutation.newSocketAddress();
    }

    /**
     * Netty only looks at the message when the default locale is US or UK (kernel and JDK messages may be
     * localised) and then accepts "reset" or "closed". The transport under test reports a received RST itself, in
     * English whatever the locale, and "closed" would not tell an abortive close from an orderly one: so for its
     * channels the exception must say "reset". (The base test already checked that it is an IOException.)
     */
    @Override
    protected void assertRstOnCloseException(IOException cause, Channel clientChannel) {
        if (!ZStackTransport.isTransportChannel(clientChannel)) {
            super.assertRstOnCloseException(cause, clientChannel);
            return;
        }
        String message = cause.getMessage();
        assertNotNull(message, "an RST must be reported with a message, got " + cause);
        assertTrue(message.toLowerCase(Locale.ROOT).contains("reset"),
                "an RST must be reported as a reset, got [" + cause.getClass().getName() + ": " + message + "]");
    }
}
