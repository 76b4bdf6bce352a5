package io.zstack.example.httpecho;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.Channel;
import io.zstack.testing.Command;
import io.zstack.testing.NetNamespace;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * What a first-time user sees after the usual set-up mistakes: the server stops at once with one line that names
 * the problem (and what to do), exit code 1, and leaves no DPDK runtime directory behind.
 */
class HttpEchoSetupMistakesTest {
    /** The server's main in a JVM of its own, behind {@code prefix} (ip netns exec, setpriv...); at most a minute. */
    private static Command.Result runServer(List<String> prefix, String... args) {
        List<String> command = new ArrayList<>(prefix);
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(HttpEchoServer.class.getName());
        command.addAll(List.of(args));
        return Command.run(60, command); // a server that hangs instead of giving up fails here
    }

    /** The line the program printed about the failure. */
    private static String errorLine(Command.Result run) {
        return run.output().lines().filter(l -> l.startsWith("http-echo: ")).findFirst().orElse("");
    }

    /** A process that ended leaves no DPDK runtime directory (its EAL file prefix is zstack-PID). */
    private static void assertNoRuntimeDirectoryLeft(Command.Result run) {
        // with prefix programs (ip netns exec, setpriv) exec'ing in turn, the JVM keeps the process's pid
        assertFalse(Files.exists(Path.of("/var/run/dpdk/zstack-" + run.pid())), "runtime directory of " + run.pid());
    }

    @Test
    void aMissingInterfaceIsNamed() {
        Command.Result run = runServer(List.of(), "--transport", "zstack", "--vdev", "net_af_packet0,iface=zsnosuch0",
                "--address", "10.99.0.2/24");
        assertEquals(1, run.exitCode(), run.output());
        String line = errorLine(run);
        assertTrue(line.contains("zsnosuch0") && line.contains("does the interface exist"),
                "names the interface and the likely cause:\n" + run.output());
        assertFalse(run.output().contains("\tat "), "no stack trace:\n" + run.output());
        assertNoRuntimeDirectoryLeft(run);
    }

    @Test
    void withoutPrivilegesTheErrorSaysWhatIsNeeded() throws Exception {
        // root's uid with an empty capability bounding set: what a user without root (or a container without
        // NET_ADMIN) gets; in a namespace of its own, so a tap that should not appear could go nowhere
        try (NetNamespace ns = NetNamespace.create()) {
            Command.Result run = runServer(List.of("ip", "netns", "exec", ns.name(), "setpriv", "--bounding-set=-all",
                    "--inh-caps=-all", "--ambient-caps=-all"), "--transport", "zstack", "--tap", "zsperm0",
                    "--address", "10.99.0.2/24");
            assertEquals(1, run.exitCode(), run.output());
            String line = errorLine(run);
            assertTrue(line.contains("root") && line.contains("CAP_"), "says which privilege is missing:\n"
                    + run.output());
            assertNoRuntimeDirectoryLeft(run);
        }
    }

    @Test
    void aMalformedAddressIsReported() {
        Command.Result run = runServer(List.of(), "--transport", "zstack", "--address", "10.99.0.300/24");
        assertEquals(1, run.exitCode(), run.output());
        assertTrue(errorLine(run).contains("10.99.0.300"), run.output());
    }

    @Test
    void aPortAlreadyInUseIsABindException() throws Exception {
        HttpEchoServer.Transport transport = HttpEchoServer.Transport.of("zstack", 1);
        try {
            Channel first = HttpEchoServer.start(transport, new InetSocketAddress("127.0.0.1", 8081));
            BindException e = assertThrows(BindException.class,
                    () -> HttpEchoServer.start(transport, new InetSocketAddress("127.0.0.1", 8081)));
            assertTrue(e.getMessage().startsWith("Address already in use"), e.getMessage());
            first.close().sync();
        } finally {
            transport.group().shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }
}
