package io.zstack.testsuite.crossprocess;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.AbstractSocketShutdownOutputByPeerTest;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;

/**
 * Netty's shutdown-output-by-peer test with its peer in another JVM, over the cross-process path. Netty keeps this
 * test's peer abstract ({@link AbstractSocketShutdownOutputByPeerTest}: connect, write a byte, shut the output down,
 * close), so the peer can honestly be a client channel of another process ({@link TwoProcessPeer}, one for the class,
 * a connection per test) while the server, its handler and every assertion stay Netty's, in this JVM, on the
 * permutation's server group. The only Netty socket test that can be split so without rewriting it; see README.
 */
public class TwoProcessSocketShutdownOutputByPeerTest
        extends AbstractSocketShutdownOutputByPeerTest<TwoProcessSocketShutdownOutputByPeerTest.RemoteSocket> {
    private static Peer peer;

    /** A connection of the peer process: its id there, once connected. */
    public static final class RemoteSocket {
        private String id;
    }

    @Override
    protected List<BootstrapFactory<ServerBootstrap>> newFactories() {
        return CrossProcessPermutation.INSTANCE.serverSocket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return CrossProcessPermutation.newSocketAddress();
    }

    @Override
    protected RemoteSocket newSocket() {
        return new RemoteSocket();
    }

    @Override
    protected void connect(RemoteSocket socket, SocketAddress address) throws IOException {
        socket.id = peer().call("connect " + ((InetSocketAddress) address).getPort());
    }

    @Override
    protected void write(RemoteSocket socket, int data) throws IOException {
        peer().call("write " + socket.id + " " + data);
    }

    @Override
    protected void shutdownOutput(RemoteSocket socket) throws IOException {
        peer().call("shutdown-output " + socket.id);
    }

    @Override
    protected void close(RemoteSocket socket) throws IOException {
        if (socket.id != null) {
            peer().call("close " + socket.id);
        }
    }

    private static synchronized Peer peer() throws IOException {
        if (peer == null) {
            peer = new Peer(CrossProcessPermutation.INSTANCE.rendezvous());
        }
        return peer;
    }

    @AfterAll
    static synchronized void stopPeer() throws InterruptedException {
        if (peer != null) {
            peer.stop();
            peer = null;
        }
    }

    /**
     * The {@link TwoProcessPeer} JVM, launched from this JVM's class path; one command, one answer line (the peer
     * bounds each operation by 30 s, so the answer comes, or the end of its output if it died).
     */
    private static final class Peer {
        private final Process process;
        private final Writer commands;
        private final BufferedReader answers;

        Peer(Path rendezvous) throws IOException {
            process = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                    "-Djava.net.preferIPv4Stack=true", "-Xmx128m", "-cp", System.getProperty("java.class.path"),
                    TwoProcessPeer.class.getName(), rendezvous.toString())
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            answers = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        }

        /** Sends {@code command}; returns what follows OK, or throws the peer's error as an IOException. */
        synchronized String call(String command) throws IOException {
            commands.write(command + "\n");
            commands.flush();
            String answer;
            while ((answer = answers.readLine()) != null && !answer.startsWith("OK") && !answer.startsWith("ERR ")) {
                System.err.println("peer: " + answer); // its log (Netty logs to stdout): not an answer
            }
            if (answer == null || !answer.startsWith("OK")) {
                throw new IOException("the peer process: " + command + ": "
                        + (answer == null ? "it ended" : answer));
            }
            return answer.substring(2).trim();
        }

        void stop() throws InterruptedException {
            try {
                commands.close(); // the peer closes its channels and its group, and exits
            } catch (IOException e) {
                // it is gone already
            }
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
