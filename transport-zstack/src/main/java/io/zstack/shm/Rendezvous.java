package io.zstack.shm;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntPredicate;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/**
 * How ZStack processes of one node find each other: a directory (by default {@code /dev/shm/zstack-<user>}, mode 0700,
 * or 0770 when shared with the group) holding
 * <ul>
 *   <li>{@code proc-<pid>.sock}: each serving process's Unix domain socket, where connectors ask for a connection;</li>
 *   <li>{@code tcp-<address>-<port>}: one entry per listening server (address 0.0.0.0 for a wildcard bind): the
 *       serving pid and its addresses, created atomically (a hard link) so one process serves a port;</li>
 *   <li>{@code region-<pid>-<n>}: a connection's {@link SharedRegion} between its creation and the acceptor's map.</li>
 * </ul>
 *
 * <p>The security boundary is the node's user (or group) identity, enforced twice: the directory's mode keeps other
 * users from reaching the sockets and region files at all, and each side of a rendezvous checks its peer's
 * credentials as the kernel reports them on the Unix socket (SO_PEERCRED: uid and gid of the process that connected
 * or listened, which it cannot forge): the same user, or the same group when group sharing is configured. A process
 * that passes can read and write the connection's region, which is why it must be trusted as the user is.
 *
 * <p>The Unix socket of an accepted rendezvous stays open as the connection's liveness signal: when either process
 * dies (SIGKILL included) the kernel closes it, and the survivor's {@link #watch} sees the end.
 */
public final class Rendezvous {
    private static final int MAGIC = 0x5a534b31; // "ZSK1"
    private static final int MAX_NAME = 64;
    private static final long HANDSHAKE_TIMEOUT_MILLIS = 5_000;
    private static final Map<Path, Rendezvous> OPEN = new ConcurrentHashMap<>();
    private static final ScheduledExecutorService TIMER = Executors
            .newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "zstack-rendezvous-timer");
                t.setDaemon(true);
                return t;
            });

    /** What a connect asks for: the connector's address and port, the address and port it connected to. */
    public record Request(int clientAddress, int clientPort, int targetAddress, int targetPort) {
    }

    /** The acceptor's answer. */
    public enum Reply { ACCEPTED, REFUSED, BUSY }

    /** A serving process's side: a new connection to one of its servers. Runs on a virtual thread. */
    public interface Acceptor {
        /**
         * {@code region} is mapped for the acceptor (its reference now the acceptor's if ACCEPTED), {@code control}
         * the connection's liveness socket (to keep if ACCEPTED; closed by the caller otherwise). An accepted
         * connection must not close {@code control} before {@code replied} completes (the answer is written on it);
         * it completes exceptionally if the answer could not be written (the connector is gone).
         */
        Reply accept(Request request, SharedRegion region, SocketChannel control,
                     CompletionStage<Void> replied);
    }

    /** A connect's result: ACCEPTED with the region and liveness socket, or why not (both then null). */
    public record Connected(Reply reply, SharedRegion region, SocketChannel control) {
    }

    private final Path dir;
    private final boolean groupShared;
    private final long pid = ProcessHandle.current().pid();
    private final Path socketFile;
    private final AtomicLong regions = new AtomicLong();
    /** This process's servers by (address, port): who accepts what arrives on the socket. */
    private final Map<Long, Acceptor> acceptors = new ConcurrentHashMap<>();
    private final UserPrincipal user;
    private final GroupPrincipal group;
    private ServerSocketChannel listening;

    private Rendezvous(Path dir, boolean groupShared) throws IOException {
        this.dir = dir;
        this.groupShared = groupShared;
        this.socketFile = dir.resolve("proc-" + pid + ".sock");
        Set<PosixFilePermission> mode = PosixFilePermissions.fromString(groupShared ? "rwxrwx---" : "rwx------");
        try {
            Files.createDirectories(dir.getParent());
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(mode));
            Files.setPosixFilePermissions(dir, mode); // the umask may have taken group bits away
        } catch (FileAlreadyExistsException e) {
            // another process made it: checked below like any existing one
        }
        Path probe = Files.createTempFile(dir, "probe-", "");
        PosixFileAttributes mine;
        try {
            mine = Files.readAttributes(probe, PosixFileAttributes.class);
        } finally {
            Files.deleteIfExists(probe);
        }
        this.user = mine.owner();
        this.group = mine.group();
        PosixFileAttributes d = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!d.isDirectory() || !d.owner().equals(user) && !(groupShared && d.group().equals(group))) {
            throw new IOException("rendezvous directory " + dir + " is not ours (owner " + d.owner() + ")");
        }
        for (PosixFilePermission p : d.permissions()) {
            if (p.name().startsWith("OTHERS") || !groupShared && p.name().startsWith("GROUP")) {
                throw new IOException("rendezvous directory " + dir + " is open to others: "
                        + PosixFilePermissions.toString(d.permissions()));
            }
        }
        sweepDeadProcesses();
    }

    /** The rendezvous in {@code dir} for this process (one per directory), created on first use. */
    public static Rendezvous in(Path dir, boolean groupShared) throws IOException {
        Path key = dir.toAbsolutePath().normalize();
        Rendezvous r;
        try {
            r = OPEN.computeIfAbsent(key, k -> {
                try {
                    return new Rendezvous(k, groupShared);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        if (r.groupShared != groupShared) {
            throw new IOException("rendezvous directory " + dir + " is used both with and without group sharing");
        }
        return r;
    }

    /** The default directory: {@code /dev/shm/zstack-<user>}. */
    public static Path defaultDirectory() {
        return Path.of("/dev/shm", "zstack-" + System.getProperty("user.name"));
    }

    public Path directory() {
        return dir;
    }

    private static long key(int address, int port) {
        return (long) address << 16 | port;
    }

    private Path entry(int address, int port) {
        return dir.resolve("tcp-" + dotted(address) + "-" + port);
    }

    private static String dotted(int a) {
        return (a >>> 24) + "." + (a >>> 16 & 0xff) + "." + (a >>> 8 & 0xff) + "." + (a & 0xff);
    }

    // ============================================================================================== serving side

    /**
     * Publishes a server of this process at {@code address}:{@code port} (0: every address of {@code hostAddresses}
     * and 127/8). False when another live process serves that address and port (first come, first served).
     */
    public synchronized boolean register(int address, int port, int[] hostAddresses, Acceptor acceptor)
            throws IOException {
        startListening();
        Path entry = entry(address, port);
        StringBuilder content = new StringBuilder().append(pid).append('\n');
        for (int a : hostAddresses) {
            content.append(dotted(a)).append('\n');
        }
        Path temp = Files.createTempFile(dir, "entry-" + pid + "-", "");
        try {
            Files.writeString(temp, content);
            for (int attempt = 0; attempt < 2; attempt++) {
                try {
                    Files.createLink(entry, temp); // atomic: it exists complete, or not at all
                    acceptors.put(key(address, port), acceptor);
                    return true;
                } catch (FileAlreadyExistsException e) {
                    Entry other = readEntry(entry);
                    if (other != null && other.pid == pid) {
                        acceptors.put(key(address, port), acceptor); // ours, left by an earlier server
                        return true;
                    }
                    if (other != null && ProcessHandle.of(other.pid).map(ProcessHandle::isAlive).orElse(false)) {
                        return false;
                    }
                    Files.deleteIfExists(entry); // its process is gone: the entry is stale
                }
            }
            return false;
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    public synchronized void unregister(int address, int port) {
        if (acceptors.remove(key(address, port)) != null) {
            Path entry = entry(address, port);
            Entry e = readEntry(entry);
            if (e != null && e.pid == pid) {
                try {
                    Files.deleteIfExists(entry);
                } catch (IOException ignored) {
                    // a later register or sweep replaces it: its pid is gone then
                }
            }
        }
        if (acceptors.isEmpty()) {
            stopListening();
        }
    }

    private void startListening() throws IOException {
        if (listening != null) {
            return;
        }
        Files.deleteIfExists(socketFile);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socketFile));
        listening = server;
        Thread.ofPlatform().daemon().name("zstack-rendezvous-" + pid).start(() -> acceptLoop(server));
    }

    private void stopListening() {
        ServerSocketChannel server = listening;
        listening = null;
        if (server != null) {
            try {
                server.close();
                Files.deleteIfExists(socketFile);
            } catch (IOException ignored) {
                // closing: nothing to do about it
            }
        }
    }

    private void acceptLoop(ServerSocketChannel server) {
        while (server.isOpen()) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            Thread.ofVirtual().name("zstack-rendezvous-accept").start(() -> serve(ch));
        }
    }

    private void serve(SocketChannel ch) {
        ScheduledFuture<?> deadline = TIMER.schedule(() -> closeQuietly(ch), HANDSHAKE_TIMEOUT_MILLIS,
                TimeUnit.MILLISECONDS);
        boolean kept = false;
        try {
            if (!trusted(ch)) {
                return; // another user: closed without a word
            }
            ByteBuffer head = ByteBuffer.allocate(22);
            readFully(ch, head);
            head.flip();
            int nameLength = head.getShort(20);
            if (head.getInt() != MAGIC || nameLength <= 0 || nameLength > MAX_NAME) {
                return;
            }
            Request request = new Request(head.getInt(), head.getInt(), head.getInt(), head.getInt());
            ByteBuffer nameBytes = ByteBuffer.allocate(nameLength);
            readFully(ch, nameBytes);
            String name = new String(nameBytes.array(), StandardCharsets.US_ASCII);
            if (!name.matches("region-[0-9]+-[0-9]+")) {
                return; // never a path outside the directory
            }
            Acceptor acceptor = acceptors.get(key(request.targetAddress(), request.targetPort()));
            if (acceptor == null) {
                acceptor = acceptors.get(key(0, request.targetPort()));
            }
            Reply reply = Reply.REFUSED;
            SharedRegion region = null;
            CompletableFuture<Void> replied = new CompletableFuture<>();
            if (acceptor != null) {
                region = SharedRegion.open(dir.resolve(name));
                reply = acceptor.accept(request, region, ch, replied);
            }
            if (reply != Reply.ACCEPTED && region != null) {
                region.release();
            }
            deadline.cancel(false);
            kept = reply == Reply.ACCEPTED; // from here on the accepted end closes the socket
            try {
                ch.write(ByteBuffer.wrap(new byte[] {(byte) reply.ordinal()}));
                replied.complete(null);
            } catch (IOException e) {
                replied.completeExceptionally(e);
            }
        } catch (IOException | RuntimeException e) {
            // a connector that went away or sent nonsense: it hears nothing; an accepted end sees the socket close
        } finally {
            deadline.cancel(false);
            if (!kept) {
                closeQuietly(ch);
            }
        }
    }

    /** The peer runs as our user, or in our group when group sharing is on (SO_PEERCRED, from the kernel). */
    private boolean trusted(SocketChannel ch) throws IOException {
        UnixDomainPrincipal peer = ch.getOption(ExtendedSocketOptions.SO_PEERCRED);
        return peer.user().equals(user) || groupShared && peer.group().equals(group);
    }

    private static void readFully(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                throw new IOException("rendezvous closed early");
            }
        }
    }

    private static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    // ============================================================================================== connecting side

    private record Entry(long pid, int[] addresses) {
    }

    private static Entry readEntry(Path entry) {
        try {
            String[] lines = Files.readString(entry).split("\n");
            int[] addresses = new int[lines.length - 1];
            for (int i = 1; i < lines.length; i++) {
                String[] p = lines[i].split("\\.");
                addresses[i - 1] = Integer.parseInt(p[0]) << 24 | Integer.parseInt(p[1]) << 16
                        | Integer.parseInt(p[2]) << 8 | Integer.parseInt(p[3]);
            }
            return new Entry(Long.parseLong(lines[0]), addresses);
        } catch (IOException | RuntimeException e) {
            return null; // absent or not ours to understand: nobody serves there
        }
    }

    /**
     * The pid of the process serving {@code address}:{@code port} on this node, or -1: a server bound to that address,
     * or a wildcard server when the address is 127/8 or one of its process's addresses. {@code skip} leaves out a
     * server the caller reaches otherwise (its own host's).
     */
    public long servingPid(int address, int port) {
        Entry e = readEntry(entry(address, port));
        if (e != null) {
            return e.pid;
        }
        e = readEntry(entry(0, port));
        if (e == null) {
            return -1;
        }
        if (address >>> 24 == 127) {
            return e.pid;
        }
        for (int a : e.addresses) {
            if (a == address) {
                return e.pid;
            }
        }
        return -1;
    }

    /**
     * Asks process {@code pid} for a connection: creates a region with rings of {@code capacity} bytes, hands it over
     * on the process's socket, waits up to {@code timeoutMillis} for the answer. Null when that process is not there
     * any more (its stale entries are removed): nobody local serves the port.
     */
    public Connected connect(long pid, Request request, long capacity, long timeoutMillis) throws IOException {
        Path target = dir.resolve("proc-" + pid + ".sock");
        SocketChannel ch;
        try {
            ch = SocketChannel.open(UnixDomainSocketAddress.of(target));
        } catch (ConnectException | NoSuchFileException e) {
            if (!ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                sweepDeadProcesses();
            }
            return null;
        }
        String name = "region-" + this.pid + "-" + regions.incrementAndGet();
        Path file = dir.resolve(name);
        SharedRegion region = null;
        boolean accepted = false;
        try {
            if (!trusted(ch)) {
                throw new IOException("rendezvous socket " + target + " belongs to another user");
            }
            region = SharedRegion.create(file, capacity, groupShared);
            ByteBuffer msg = ByteBuffer.allocate(22 + name.length());
            msg.putInt(MAGIC).putInt(request.clientAddress()).putInt(request.clientPort())
                    .putInt(request.targetAddress()).putInt(request.targetPort()).putShort((short) name.length())
                    .put(name.getBytes(StandardCharsets.US_ASCII)).flip();
            while (msg.hasRemaining()) {
                ch.write(msg);
            }
            Reply reply = awaitReply(ch, timeoutMillis, target);
            accepted = reply == Reply.ACCEPTED;
            return accepted ? new Connected(reply, region, ch) : new Connected(reply, null, null);
        } finally {
            Files.deleteIfExists(file); // both map it now (or the connect failed): the file has done its job
            if (!accepted) {
                if (region != null) {
                    region.release();
                }
                closeQuietly(ch);
            }
        }
    }

    private static Reply awaitReply(SocketChannel ch, long timeoutMillis, Path target) throws IOException {
        ScheduledFuture<?> deadline = TIMER.schedule(() -> closeQuietly(ch), timeoutMillis, TimeUnit.MILLISECONDS);
        try {
            ByteBuffer b = ByteBuffer.allocate(1);
            if (ch.read(b) < 1) {
                return Reply.REFUSED; // the acceptor closed without an answer: nobody serves there
            }
            int r = b.get(0);
            if (r < 0 || r >= Reply.values().length) {
                throw new IOException("bad rendezvous reply " + r + " from " + target);
            }
            return Reply.values()[r];
        } catch (AsynchronousCloseException e) {
            throw new SocketTimeoutException("no rendezvous reply from " + target + " in " + timeoutMillis
                    + " ms");
        } finally {
            deadline.cancel(false);
        }
    }

    /**
     * Calls {@code closed} (once, on a virtual thread) when the peer's end of {@code control} closes: it closed its
     * connection, or its process died; or when this process closes {@code control} itself.
     */
    public static void watch(SocketChannel control, Runnable closed) {
        Thread.ofVirtual().name("zstack-shm-watch").start(() -> {
            ByteBuffer b = ByteBuffer.allocate(16);
            try {
                while (control.read(b.clear()) >= 0) {
                    // the peer never writes after the handshake; anything is ignored
                }
            } catch (IOException e) {
                // closed here, or reset
            } finally {
                closed.run();
            }
        });
    }

    /** Removes the sockets, entries and unclaimed regions of processes that are gone. */
    private void sweepDeadProcesses() {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String n = f.getFileName().toString();
                long owner = -1;
                if (n.startsWith("proc-") && n.endsWith(".sock")) {
                    owner = parsePid(n.substring(5, n.length() - 5));
                } else if (n.startsWith("region-") || n.startsWith("entry-")) {
                    String[] p = n.split("-");
                    owner = p.length >= 2 ? parsePid(p[1]) : -1;
                } else if (n.startsWith("tcp-")) {
                    Entry e = readEntry(f);
                    owner = e == null ? -1 : e.pid;
                }
                if (owner > 0 && owner != pid && !ProcessHandle.of(owner).map(ProcessHandle::isAlive).orElse(false)) {
                    Files.deleteIfExists(f);
                }
            }
        } catch (IOException e) {
            // best effort: a stale file only costs a failed connect, which sweeps again
        }
    }

    private static long parsePid(String s) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** For tests: how many servers this process publishes here. */
    public int registered() {
        return acceptors.size();
    }
}
