package io.zstack.testsuite.inprocess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.zstack.channel.ZStackEventLoopGroup;
import io.zstack.channel.ZStackSocketChannel;
import io.zstack.testsuite.ZStackSocketTestPermutation;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * That the third permutation is what it claims: its connections have no TCP state on either end and are listed as
 * in-process by the connection dump, while the first permutation's are TCP connections of the stack.
 */
class InProcessPathTest {

    @Test
    void inProcessPermutationSkipsTcp() throws Exception {
        Ends ends = connect(ZStackSocketTestPermutation.inProcess());
        try {
            assertTrue(ends.client.isInProcess(), "the client took TCP");
            assertTrue(ends.child.isInProcess(), "the accepted child took TCP");
            String dump = ((ZStackEventLoopGroup) ZStackSocketTestPermutation.inProcess().group()).describe()
                    .get(10, TimeUnit.SECONDS);
            String clientLine = "in-process ESTABLISHED " + address(ends.client.localAddress()) + " -> "
                    + address(ends.client.remoteAddress());
            assertTrue(dump.contains(clientLine), dump);
            assertEquals(ends.client.localAddress(), ends.child.remoteAddress());
            assertEquals(ends.client.remoteAddress(), ends.child.localAddress());
        } finally {
            ends.close();
        }
    }

    @Test
    void loopbackPermutationTakesTcp() throws Exception {
        Ends ends = connect(ZStackSocketTestPermutation.INSTANCE);
        try {
            assertFalse(ends.client.isInProcess(), "the client took the in-process path");
            String dump = ((ZStackEventLoopGroup) ZStackSocketTestPermutation.INSTANCE.group()).describe()
                    .get(10, TimeUnit.SECONDS);
            String clientPort = ":" + ends.client.localAddress().getPort() + " ";
            assertTrue(dump.lines().anyMatch(l -> l.contains(clientPort) && l.contains("ESTABLISHED")
                    && !l.contains("in-process")), "no TCP connection from " + clientPort + " in " + dump);
        } finally {
            ends.close();
        }
    }

    private static String address(java.net.InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    private record Ends(Channel server, ZStackSocketChannel client, ZStackSocketChannel child) {
        void close() throws InterruptedException {
            client.close().sync();
            child.close().sync();
            server.close().sync();
        }
    }

    private static Ends connect(ZStackSocketTestPermutation permutation) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Channel server = permutation.newServerBootstrap().childHandler(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                accepted.complete(ctx.channel());
            }
        }).bind(ZStackSocketTestPermutation.newSocketAddress()).sync().channel();
        Channel client = permutation.newClientBootstrap().handler(new ChannelInboundHandlerAdapter())
                .connect(server.localAddress()).sync().channel();
        Channel child = accepted.get(10, TimeUnit.SECONDS);
        assertNotNull(child);
        return new Ends(server, (ZStackSocketChannel) client, (ZStackSocketChannel) child);
    }
}
