package io.zstack.shm;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The memory one cross-process connection lives in: a file both processes map (on /dev/shm, a tmpfs: plain shared
 * pages, no disk), holding a header and two {@link ChunkRing}s, one per direction. The connecting process creates and
 * maps it, the accepting process maps it and unlinks the file, so from then on the pages belong to the two mappings
 * only and the kernel frees them when the last one goes, a process killed by SIGKILL included.
 *
 * <p>Each process unmaps its mapping when its last user lets go ({@link #retain}/{@link #release}): the connection's
 * end, and every received buffer still viewing the rings. Unmapping earlier would leave such a buffer pointing at
 * nothing.
 */
public final class SharedRegion {
    private static final long MAGIC = 0x5a53_544b_5348_4d31L; // "ZSTKSHM1"
    private static final int PAGE = 4096;
    private static final long MAGIC_AT = 0;
    private static final long CAPACITY_AT = 8;

    private final Arena arena;
    private final MemorySegment segment;
    private final ChunkRing toAcceptor;
    private final ChunkRing toConnector;
    private final AtomicInteger users = new AtomicInteger(1);

    private SharedRegion(Arena arena, MemorySegment segment, long capacity) {
        this.arena = arena;
        this.segment = segment;
        long ring = ringSpan(capacity);
        this.toAcceptor = ChunkRing.at(segment.asSlice(PAGE, ring), capacity);
        this.toConnector = ChunkRing.at(segment.asSlice(PAGE + ring, ring), capacity);
    }

    private static long ringSpan(long capacity) {
        return (ChunkRing.footprint(capacity) + PAGE - 1) / PAGE * PAGE;
    }

    /** The file size of a region whose rings hold {@code capacity} bytes each. */
    public static long size(long capacity) {
        return PAGE + 2 * ringSpan(capacity);
    }

    /**
     * Creates {@code file} (owner read/write, and group read/write when {@code groupShared}), sized and mapped, with
     * two empty rings of {@code capacity} bytes. The file must not exist.
     */
    public static SharedRegion create(Path file, long capacity, boolean groupShared) throws IOException {
        Set<PosixFilePermission> mode = PosixFilePermissions.fromString(groupShared ? "rw-rw----" : "rw-------");
        Files.createFile(file, PosixFilePermissions.asFileAttribute(mode));
        Files.setPosixFilePermissions(file, mode); // the umask may have taken group bits away
        try {
            SharedRegion region = map(file, size(capacity), capacity);
            region.segment.set(ValueLayout.JAVA_LONG, CAPACITY_AT, capacity);
            region.segment.set(ValueLayout.JAVA_LONG, MAGIC_AT, MAGIC); // the tmpfs pages start zeroed: empty rings
            return region;
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(file);
            throw e;
        }
    }

    /** Maps a region another process created; checks its header against its size. */
    public static SharedRegion open(Path file) throws IOException {
        long fileSize = Files.size(file);
        if (fileSize < PAGE) {
            throw new IOException("not a ZStack region (" + fileSize + " bytes): " + file);
        }
        long capacity;
        try (Arena header = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment first = ch.map(FileChannel.MapMode.READ_ONLY, 0, PAGE, header);
            capacity = first.get(ValueLayout.JAVA_LONG, CAPACITY_AT);
            if (first.get(ValueLayout.JAVA_LONG, MAGIC_AT) != MAGIC || capacity < 4 * ChunkRing.CHUNK
                    || capacity > 1L << 30 || Long.bitCount(capacity) != 1 || size(capacity) != fileSize) {
                throw new IOException("not a ZStack region (bad header or size): " + file);
            }
        }
        return map(file, fileSize, capacity);
    }

    private static SharedRegion map(Path file, long size, long capacity) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            if (ch.size() < size) {
                ch.write(ByteBuffer.wrap(new byte[1]), size - 1); // a new file: sized, its pages still zero
            }
            MemorySegment segment = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            return new SharedRegion(arena, segment, capacity);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** The connector writes into it, the acceptor reads from it. */
    public ChunkRing toAcceptor() {
        return toAcceptor;
    }

    /** The acceptor writes into it, the connector reads from it. */
    public ChunkRing toConnector() {
        return toConnector;
    }

    public long capacity() {
        return toAcceptor.capacity();
    }

    /** One more user (a buffer viewing the rings); false if the region is already unmapped. */
    public boolean retain() {
        for (;;) {
            int n = users.get();
            if (n <= 0) {
                return false;
            }
            if (users.compareAndSet(n, n + 1)) {
                return true;
            }
        }
    }

    /** A user is done; the last one unmaps the region in this process. */
    public void release() {
        int left = users.decrementAndGet();
        if (left == 0) {
            arena.close();
        } else if (left < 0) {
            throw new IllegalStateException("region released more often than retained");
        }
    }

    /** Whether this process still maps the region (for tests: no leak). */
    public boolean isMapped() {
        return users.get() > 0;
    }
}
