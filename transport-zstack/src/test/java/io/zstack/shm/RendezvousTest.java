package io.zstack.shm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The rendezvous's security boundary: a directory open to others is refused, and a process of another user that
 * reaches the socket anyway (the directory's mode loosened behind our back) gets no answer and reaches no server; a
 * process of our own user sending the same bytes does.
 */
class RendezvousTest {
    private static final int LOCALHOST = 0x7f000001;
    private final Path dir = Path.of("/dev/shm", "zstack-rdv-" + ProcessHandle.current().pid() + "-" + System.nanoTime());

    @AfterEach
    void clean() throws IOException {
        if (Files.isDirectory(dir)) {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void aDirectoryOpenToOthersIsRefused() throws IOException {
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxrwxrwx")));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        IOException e = assertThrows(IOException.class, () -> Rendezvous.in(dir, false));
        assertTrue(e.getMessage().contains("open to others"), e.getMessage());
    }

    @Test
    void onlyOurUserReachesAServer() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        assumeTrue(Files.isExecutable(python) && Files.isExecutable(Path.of("/usr/sbin/runuser"))
                && "root".equals(System.getProperty("user.name")), "needs root, runuser and /usr/bin/python3");
        Rendezvous rendezvous = Rendezvous.in(dir, false);
        AtomicInteger accepts = new AtomicInteger();
        int port = 40_000 + (int) (ProcessHandle.current().pid() % 20_000);
        assertTrue(rendezvous.register(LOCALHOST, port, new int[] {LOCALHOST}, (request, region, control, replied) -> {
            accepts.incrementAndGet();
            return Rendezvous.Reply.REFUSED; // the region is released by the rendezvous
        }));
        try {
            // another user could not even reach the socket through the 0700 directory: loosen it, as a mistake would
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
            Path socket = dir.resolve("proc-" + ProcessHandle.current().pid() + ".sock");
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rwxrwxrwx"));
            SharedRegion region = SharedRegion.create(dir.resolve("region-1-1"), 256 * 1024, false);
            Files.setPosixFilePermissions(dir.resolve("region-1-1"), PosixFilePermissions.fromString("rw-rw-rw-"));
            try {
                assertEquals("closed without an answer", ask("nobody", socket, port));
                assertEquals(0, accepts.get(), "a process of another user reached the server");
                assertEquals("answer 1", ask("root", socket, port)); // REFUSED is 1: the server was asked
                assertEquals(1, accepts.get());
            } finally {
                region.release();
            }
        } finally {
            rendezvous.unregister(LOCALHOST, port);
        }
    }

    /** Sends a connect request for region-1-1 to {@code socket} as {@code user}; what came back. */
    private static String ask(String user, Path socket, int port) throws Exception {
        String script = String.join("\n",
                "import socket, struct, sys",
                "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
                "s.connect(sys.argv[1])",
                "name = b'region-1-1'",
                "try:",
                "    s.sendall(struct.pack('>iiiiih', 0x5a534b31, 0x7f000001, 50000, 0x7f000001, int(sys.argv[2]),"
                        + " len(name)) + name)",
                "    b = s.recv(1)",
                "except (ConnectionResetError, BrokenPipeError):",
                "    b = b''  # closed with our request unread",
                "print('answer %d' % b[0] if b else 'closed without an answer')");
        Process p = new ProcessBuilder("/usr/sbin/runuser", "-u", user, "--", "/usr/bin/python3", "-c", script,
                socket.toString(), Integer.toString(port)).redirectErrorStream(true).start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "python did not finish");
        List<String> lines = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        return lines.isEmpty() ? "" : lines.getLast();
    }
}
