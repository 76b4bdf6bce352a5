package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@link CrossProcessPeer} JVM, launched from the test class path: commands go to its stdin, its lines (events of
 * its {@link StreamEnd}s and answers to commands) come into an {@link EventLog}.
 */
final class PeerProcess {
    final Process process;
    final EventLog log;
    private final Writer commands;

    PeerProcess(Path rendezvous) throws IOException {
        process = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), CrossProcessPeer.class.getName(), rendezvous.toString()))
                .redirectErrorStream(true).start();
        log = new EventLog("peer " + process.pid());
        commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    log.accept(line);
                }
            } catch (IOException e) {
                // the process ended
            }
            log.accept("EXITED");
        });
    }

    /** Sends one command (see {@link CrossProcessPeer}). */
    void send(String command) throws IOException {
        commands.write(command + "\n");
        commands.flush();
    }

    String await(String kind, Object id) throws InterruptedException {
        return log.await(kind, id);
    }

    String[] awaitFields(String kind, Object id) throws InterruptedException {
        return log.awaitFields(kind, id);
    }

    /** Starts a server ({@code listen} options) and returns its port. */
    int listen(String options) throws Exception {
        send("listen " + options);
        return Integer.parseInt(await("LISTENING", null));
    }

    /** Ends the peer by closing its stdin (it closes its channels and its group), or by SIGKILL after 10 s. */
    void stop() throws Exception {
        if (process.isAlive()) {
            process.getOutputStream().close();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    /** SIGKILL: nothing of the peer's runs any more, its region mappings and sockets go with it. */
    void kill() throws Exception {
        process.destroyForcibly();
        assertTrue(process.waitFor(10, TimeUnit.SECONDS));
    }
}
