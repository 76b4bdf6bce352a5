package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.zstack.testing.Command;
import io.zstack.testing.MissingDpdkLibrary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ZStack}'s availability trio. The unavailable cases are produced for real, each in a JVM of its own (the
 * answer is computed once per JVM): a shim path that does not exist, a shim that needs a DPDK library which is not
 * there, native access denied, and a JDK older than 25.
 */
class ZStackAvailabilityTest {
    /** Compiled and run by the forked JVM's source launcher, so a JDK older than ours can run it too. */
    private static final String PROBE = """
            public class Probe {
                public static void main(String[] args) {
                    System.out.println("available=" + io.zstack.channel.ZStack.isAvailable());
                    Throwable cause = io.zstack.channel.ZStack.unavailabilityCause();
                    System.out.println("cause=" + (cause == null ? "none" : cause.getClass().getName() + ": "
                            + cause.getMessage()));
                    try {
                        io.zstack.channel.ZStack.ensureAvailability();
                        System.out.println("ensured");
                    } catch (UnsatisfiedLinkError e) {
                        System.out.println("ensure threw " + e.getMessage() + " caused by the same: "
                                + (e.getCause() == cause));
                    }
                }
            }
            """;

    @TempDir
    Path dir;

    @Test
    void availableInThisJvm() {
        assertNull(ZStack.unavailabilityCause());
        assertTrue(ZStack.isAvailable());
        assertDoesNotThrow(ZStack::ensureAvailability);
    }

    @Test
    void aForkedJvmLikeThisOneAgrees() throws IOException {
        assertEquals(List.of("available=true", "cause=none", "ensured"),
                probe(currentJava(), List.of("--enable-native-access=ALL-UNNAMED")));
    }

    @Test
    void aShimThatCannotBeOpenedIsTheCause() throws IOException {
        List<String> lines = probe(currentJava(), List.of("--enable-native-access=ALL-UNNAMED",
                "-Dzstack.native.path=" + dir.resolve("missing.so")));
        assertUnavailable(lines, "io.zstack.dpdk.DpdkUnavailableException: Cannot load ZStack's native shim");
    }

    /** A machine without DPDK: the shim loads, but the librte_* it was linked against is not there. */
    @Test
    void missingDpdkLibrariesAreTheCauseAndNameThePackage() throws IOException {
        Path shim = MissingDpdkLibrary.shimNeeding(dir, "librte_zstackabsent.so.23");
        List<String> lines = probe(currentJava(),
                List.of("--enable-native-access=ALL-UNNAMED", "-Dzstack.native.path=" + shim));
        assertUnavailable(lines, "io.zstack.dpdk.DpdkUnavailableException: DPDK is not installed: install its runtime"
                + " package (Debian/Ubuntu: apt-get install dpdk");
        assertTrue(lines.get(1).contains("librte_zstackabsent.so.23"), lines.get(1));
    }

    @Test
    void nativeAccessDeniedIsTheCause() throws IOException {
        List<String> lines = probe(currentJava(), List.of("--illegal-native-access=deny"));
        assertUnavailable(lines, "io.zstack.dpdk.DpdkUnavailableException: Native access is not enabled for ZStack:"
                + " start the JVM with --enable-native-access=ALL-UNNAMED");
    }

    /** The class is built for Java 8: an older JVM loads it and hears why not, instead of a class version error. */
    @Test
    void aJdkOlderThan25IsTheCause() throws IOException {
        Optional<Path> old = olderJava();
        assumeTrue(old.isPresent(), "no JDK older than 25 under /usr/lib/jvm");
        List<String> lines = probe(old.get(), List.of());
        assertUnavailable(lines, "java.lang.UnsupportedOperationException: ZStack needs Java 25 or later");
    }

    private static void assertUnavailable(List<String> lines, String causeStart) {
        assertEquals("available=false", lines.get(0), String.join("\n", lines));
        assertTrue(lines.get(1).startsWith("cause=" + causeStart), lines.get(1));
        assertTrue(lines.get(2).startsWith("ensure threw the ZStack transport cannot run in this JVM: "), lines.get(2));
        assertTrue(lines.get(2).endsWith("caused by the same: true"), lines.get(2));
    }

    /** Runs the probe in a new JVM with {@code flags} and ZStack's classes; returns its output lines. */
    private List<String> probe(Path java, List<String> flags) throws IOException {
        Path source = dir.resolve("Probe.java");
        Files.writeString(source, PROBE);
        List<String> command = new ArrayList<>();
        command.add(java.toString());
        command.addAll(flags);
        command.addAll(List.of("-cp", Path.of("target/classes").toAbsolutePath().toString(), source.toString()));
        Command.Result result = Command.run(60, command);
        assertEquals(0, result.exitCode(), String.join(" ", command) + "\n" + result.output());
        // the probe's answer, without what the JVM itself may print (a warning about native access)
        return result.output().lines()
                .filter(l -> l.startsWith("available=") || l.startsWith("cause=") || l.startsWith("ensure")).toList();
    }

    private static Path currentJava() {
        return Path.of(System.getProperty("java.home"), "bin", "java");
    }

    /** A JDK under /usr/lib/jvm whose release file says it is older than 25 (Debian's Maven brings 17). */
    private static Optional<Path> olderJava() throws IOException {
        Path jvms = Path.of("/usr/lib/jvm");
        if (!Files.isDirectory(jvms)) {
            return Optional.empty();
        }
        try (Stream<Path> homes = Files.list(jvms)) {
            for (Path home : homes.sorted().toList()) {
                Path release = home.resolve("release");
                Path java = home.resolve("bin/java");
                if (Files.isRegularFile(release) && Files.isExecutable(java)) {
                    for (String line : Files.readAllLines(release)) {
                        if (line.startsWith("JAVA_VERSION=\"")) {
                            String version = line.substring("JAVA_VERSION=\"".length());
                            int feature = Integer.parseInt(version.split("[.\"]")[0].equals("1")
                                    ? version.split("[.\"]")[1] : version.split("[.\"]")[0]);
                            if (feature < 25 && feature >= 11) { // the source launcher needs 11
                                return Optional.of(java);
                            }
                        }
                    }
                }
            }
        }
        return Optional.empty();
    }
}
