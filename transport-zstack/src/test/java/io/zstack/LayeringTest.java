package io.zstack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The main code's layers, read from its sources: dpdk → buffer → wire → device → ip → tcp → stack → channel, each
 * package naming only its own layer and those before it, in imports and in fully qualified names alike ({@code util}
 * sits below them all). Comments are left out: a javadoc may point at the layer that uses a class.
 */
class LayeringTest {
    private static final Path MAIN = Path.of("src/main/java/io/zstack");
    /** Each top-level package's rank; sub-packages (tcp.cc) take their parent's. */
    private static final Map<String, Integer> RANK = Map.of("util", -1, "dpdk", 0, "buffer", 1, "wire", 2, "shm", 2,
            "device", 3, "ip", 4, "tcp", 5, "stack", 6, "channel", 7);
    /** For test code: the layers, and the tests' support package (namespaces, taps, memif links), usable by any. */
    private static final Map<String, Integer> TEST_RANK = withTesting();
    private static final Path TEST = Path.of("src/test/java/io/zstack");
    private static final Pattern REFERENCE = Pattern.compile("\\bio\\.zstack\\.([a-z]+)\\b");

    @Test
    void noMainCodeReachesUpTheLayers() throws IOException {
        List<String> violations = new ArrayList<>();
        TreeSet<String> packagesSeen = new TreeSet<>();
        try (Stream<Path> files = Files.walk(MAIN)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                String layer = MAIN.relativize(file).getName(0).toString();
                packagesSeen.add(layer);
                Integer rank = RANK.get(layer);
                if (rank == null) {
                    violations.add(file + ": package io.zstack." + layer + " has no place in the layering");
                    continue;
                }
                violations.addAll(upwardReferences(file, layer, rank, read(file), RANK));
            }
        }
        assertEquals(new TreeSet<>(RANK.keySet()), packagesSeen, "the layers this test knows are the packages");
        assertTrue(violations.isEmpty(), String.join("\n", violations));
    }

    /**
     * Tests of a layer use only that layer and those below it (and the tests' support package), so a layer's tests
     * pass or fail with the code they test, not with the layers built on it: the tcp tests run on {@code TcpHost}
     * (device, IPv4, TCP), the ip tests on {@code IpHost}, not on the stack.
     */
    @Test
    void noTestReachesUpTheLayers() throws IOException {
        List<String> violations = new ArrayList<>();
        try (Stream<Path> files = Files.walk(TEST)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                Path relative = TEST.relativize(file);
                if (relative.getNameCount() < 2 || relative.getName(0).toString().equals("testing")) {
                    continue; // this class, and the support package, which serves every layer's tests
                }
                String layer = relative.getName(0).toString();
                Integer rank = RANK.get(layer);
                if (rank == null) {
                    violations.add(file + ": tests of io.zstack." + layer + ", which has no place in the layering");
                    continue;
                }
                violations.addAll(upwardReferences(file, layer, rank, read(file), TEST_RANK));
            }
        }
        assertTrue(violations.isEmpty(), String.join("\n", violations));
    }

    private static Map<String, Integer> withTesting() {
        Map<String, Integer> ranks = new HashMap<>(RANK);
        ranks.put("testing", -1);
        return Map.copyOf(ranks);
    }

    @Test
    void findsAnUpwardImportAndAnUpwardQualifiedNameButNotOneInAComment() {
        String source = """
                package io.zstack.ip;
                import io.zstack.wire.Ethernet;
                import io.zstack.tcp.TcpLayer; // upward
                /** Used by {@link io.zstack.stack.NetStack}. */
                class X { Object s = "io.zstack.channel.in.a.string"; io.zstack.stack.NetStack n; /* io.zstack.tcp */ }
                """;
        List<String> found = upwardReferences(Path.of("X.java"), "ip", RANK.get("ip"), source, RANK);
        assertEquals(List.of("X.java:3: io.zstack.ip imports or names io.zstack.tcp",
                "X.java:5: io.zstack.ip imports or names io.zstack.stack"), found);
    }

    private static List<String> upwardReferences(Path file, String layer, int rank, String source,
                                                 Map<String, Integer> ranks) {
        List<String> violations = new ArrayList<>();
        String code = withoutCommentsAndStrings(source);
        Matcher m = REFERENCE.matcher(code);
        while (m.find()) {
            String target = m.group(1);
            Integer targetRank = ranks.get(target);
            if (targetRank == null || targetRank > rank) {
                int line = 1 + (int) code.substring(0, m.start()).chars().filter(c -> c == '\n').count();
                violations.add(file + ":" + line + ": io.zstack." + layer + " imports or names io.zstack." + target);
            }
        }
        return violations;
    }

    /** The source with comments, string and character literals blanked, line breaks kept (for line numbers). */
    static String withoutCommentsAndStrings(String s) {
        StringBuilder out = new StringBuilder(s.length());
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (s.startsWith("//", i)) {
                while (i < s.length() && s.charAt(i) != '\n') {
                    i++;
                }
            } else if (s.startsWith("/*", i)) {
                int end = s.indexOf("*/", i + 2);
                end = end < 0 ? s.length() : end + 2;
                blank(s, i, end, out);
                i = end;
            } else if (s.startsWith("\"\"\"", i)) {
                int end = s.indexOf("\"\"\"", i + 3);
                end = end < 0 ? s.length() : end + 3;
                blank(s, i, end, out);
                i = end;
            } else if (c == '"' || c == '\'') {
                int j = i + 1;
                while (j < s.length() && s.charAt(j) != c && s.charAt(j) != '\n') {
                    j += s.charAt(j) == '\\' ? 2 : 1;
                }
                int end = Math.min(s.length(), j + 1);
                blank(s, i, end, out);
                i = end;
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    private static void blank(String s, int from, int to, StringBuilder out) {
        for (int k = from; k < to; k++) {
            out.append(s.charAt(k) == '\n' ? '\n' : ' ');
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
