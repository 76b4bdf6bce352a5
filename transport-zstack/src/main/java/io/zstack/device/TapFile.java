package io.zstack.device;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

/**
 * A queue of a Linux TAP interface opened through {@code /dev/net/tun} with virtio-net headers
 * ({@code IFF_VNET_HDR}): the libc calls and the tun ioctls, nothing else. Every frame read or written is preceded by
 * a {@value #VNET_HEADER_LENGTH}-byte {@code struct virtio_net_hdr}, which carries what the kernel and we may leave
 * undone: a checksum to fill ({@link #NEEDS_CSUM}) and a large TCP segment to cut ({@link #GSO_TCPV4}). With
 * {@link #setOffloads} the kernel hands such frames over unsegmented and unsummed, as it does to a NIC that offers TSO.
 *
 * <p>Not thread-safe: the call-state buffer that receives errno is the file's own.
 */
final class TapFile implements AutoCloseable {
    static final int VNET_HEADER_LENGTH = 10;
    /** virtio_net_hdr.flags: the checksum at csum_start + csum_offset holds only the pseudo-header sum. */
    static final int NEEDS_CSUM = 1;
    /** virtio_net_hdr.flags: the checksums were verified. */
    static final int DATA_VALID = 2;
    static final int GSO_NONE = 0;
    static final int GSO_TCPV4 = 1;

    static final int EAGAIN = 11;
    static final int EPERM = 1;
    static final int EBUSY = 16;
    static final int EINVAL = 22;
    static final int ENOENT = 2;

    private static final int O_RDWR = 2;
    private static final int O_NONBLOCK = 0x800;
    private static final int O_CLOEXEC = 0x80000;
    private static final long TUNSETIFF = 0x400454caL;
    private static final long TUNSETOFFLOAD = 0x400454d0L;
    private static final long TUNSETSTEERINGEBPF = 0x800454e0L;
    /** bpf(2)'s number: x86_64 and arm64 (where ZStack runs); elsewhere no steering program is tried. */
    private static final long SYS_BPF = switch (System.getProperty("os.arch")) {
        case "amd64", "x86_64" -> 321;
        case "aarch64" -> 280;
        default -> -1;
    };
    private static final int BPF_PROG_LOAD = 5;
    private static final int BPF_PROG_TYPE_SOCKET_FILTER = 1;
    private static final int BPF_ATTR_SIZE = 128;
    /** r0 = 0; exit: the queue a steering program picks for every frame. */
    private static final long[] QUEUE_ZERO_PROGRAM = {0x00000000_000000b7L, 0x00000000_00000095L};
    private static final int IFF_TAP = 0x0002;
    private static final int IFF_NO_PI = 0x1000;
    private static final int IFF_MULTI_QUEUE = 0x0100;
    private static final int IFF_VNET_HDR = 0x4000;
    private static final int TUN_F_CSUM = 0x01;
    private static final int TUN_F_TSO4 = 0x02;
    private static final int IFNAMSIZ = 16;
    private static final int IFREQ_SIZE = 40;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle OPEN = libc("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle IOCTL_POINTER = libc("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL_VALUE = libc("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle READV = libc("readv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG,
            JAVA_INT));
    private static final MethodHandle WRITE = libc("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG,
            JAVA_LONG));
    private static final MethodHandle WRITEV = libc("writev", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG,
            JAVA_INT));
    // glibc's syscall(2) reads each argument after the number as a long
    private static final MethodHandle SYSCALL_POINTER = libc("syscall",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG),
            Linker.Option.firstVariadicArg(1));
    private static final MethodHandle CLOSE = LINKER.downcallHandle(LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private final Arena arena = Arena.ofShared();
    private final MemorySegment callState = arena.allocate(CALL_STATE);
    private final String iface;
    private int fd;

    private static MethodHandle libc(String name, FunctionDescriptor descriptor, Linker.Option... extra) {
        Linker.Option[] options = new Linker.Option[extra.length + 1];
        options[0] = Linker.Option.captureCallState("errno");
        System.arraycopy(extra, 0, options, 1, extra.length);
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), descriptor, options);
    }

    /**
     * Attaches a new queue to the TAP interface {@code iface} in this process's network namespace, creating it (down,
     * without an address) when it does not exist. {@code multiQueue} must be the same for every queue of an interface
     * and for the interface itself when it was made beforehand ({@code ip tuntap add ... multi_queue}).
     */
    TapFile(String iface, boolean multiQueue) {
        byte[] name = iface.getBytes(StandardCharsets.US_ASCII);
        if (name.length == 0 || name.length >= IFNAMSIZ) {
            throw new IllegalArgumentException("interface name \"" + iface + "\": 1 to 15 characters");
        }
        this.iface = iface;
        try {
            MemorySegment path = arena.allocateFrom("/dev/net/tun");
            fd = (int) OPEN.invokeExact(callState, path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0) {
                int e = errno();
                arena.close();
                throw new IllegalStateException("cannot open /dev/net/tun for " + iface + ": " + describe(e)
                        + " (the kernel needs CONFIG_TUN, and the process access to the file)");
            }
            MemorySegment ifreq = arena.allocate(IFREQ_SIZE);
            MemorySegment.copy(MemorySegment.ofArray(name), 0, ifreq, 0, name.length);
            ifreq.set(JAVA_SHORT, IFNAMSIZ, (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
                    | (multiQueue ? IFF_MULTI_QUEUE : 0)));
            if ((int) IOCTL_POINTER.invokeExact(callState, fd, TUNSETIFF, ifreq) < 0) {
                int e = errno();
                close();
                throw new IllegalStateException("cannot attach to TAP interface " + iface + ": " + describe(e)
                        + switch (e) {
                            case EPERM -> " (CAP_NET_ADMIN is needed, or the interface belongs to another user)";
                            case EBUSY -> " (another process holds its only queue)";
                            case EINVAL -> " (it exists with other flags: not a TAP, or "
                                    + (multiQueue ? "not " : "") + "multi-queue)";
                            default -> "";
                        });
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    String iface() {
        return iface;
    }

    /**
     * Lets the kernel hand over frames whose TCP checksum is not filled ({@link #NEEDS_CSUM}) and IPv4 TCP segments
     * of up to 64 KB ({@link #GSO_TCPV4}), and take both from us. False when the kernel refuses.
     */
    boolean setOffloads() {
        try {
            return (int) IOCTL_VALUE.invokeExact(callState, fd, TUNSETOFFLOAD, (long) (TUN_F_CSUM | TUN_F_TSO4)) == 0;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Makes the kernel put every frame it sends through this interface on queue 0 with a steering program
     * ({@code TUNSETSTEERINGEBPF}, a two-instruction socket filter returning 0) instead of choosing the queue itself.
     * Without one, a single-queue TAP computes a flow hash of every frame its host sends (flow dissection and
     * siphash in {@code tun_net_xmit}, whenever any interface of the host has RPS on), only to look it up in a flow
     * table that a single queue never fills: 3.6 % of the CPU of a kernel client sending to a ZStack server here.
     * For a single-queue interface only: on a multi-queue one the kernel's choice is what spreads flows over the
     * queues. False when the kernel refuses (no BPF, not privileged), which changes nothing but that cost.
     */
    boolean steerToQueueZero() {
        if (SYS_BPF < 0) {
            return false;
        }
        try (Arena local = Arena.ofConfined()) {
            MemorySegment insns = local.allocate(JAVA_LONG, QUEUE_ZERO_PROGRAM.length);
            for (int i = 0; i < QUEUE_ZERO_PROGRAM.length; i++) {
                insns.setAtIndex(JAVA_LONG, i, QUEUE_ZERO_PROGRAM[i]);
            }
            MemorySegment license = local.allocateFrom("GPL");
            MemorySegment attr = local.allocate(BPF_ATTR_SIZE, 8); // zeroed, as the kernel wants unused fields
            attr.set(JAVA_INT, 0, BPF_PROG_TYPE_SOCKET_FILTER);
            attr.set(JAVA_INT, 4, QUEUE_ZERO_PROGRAM.length);
            attr.set(JAVA_LONG, 8, insns.address());
            attr.set(JAVA_LONG, 16, license.address());
            int program = (int) (long) SYSCALL_POINTER.invokeExact(callState, SYS_BPF, (long) BPF_PROG_LOAD, attr,
                    (long) BPF_ATTR_SIZE);
            if (program < 0) {
                return false;
            }
            boolean attached = setSteering(program);
            int ignored = (int) CLOSE.invokeExact(program); // the interface holds its own reference
            return attached;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Takes the steering program off the interface again, so that the kernel chooses queues itself for whoever opens
     * it next (an interface made beforehand outlives this file). False when the kernel refuses.
     */
    boolean clearSteering() {
        return setSteering(-1);
    }

    /** {@code TUNSETSTEERINGEBPF} with program {@code programFd} (-1: none): false when the kernel refuses. */
    private boolean setSteering(int programFd) {
        try (Arena local = Arena.ofConfined()) {
            return (int) IOCTL_POINTER.invokeExact(callState, fd, TUNSETSTEERINGEBPF, local.allocateFrom(JAVA_INT,
                    programFd)) == 0;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** readv(2) into {@code iovecs} iovec structs at {@code iov}: bytes read, or -errno. */
    long readv(long iov, int iovecs) {
        try {
            long n = (long) READV.invokeExact(callState, fd, iov, iovecs);
            return n >= 0 ? n : -errno();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** write(2) of one frame: bytes written, or -errno. */
    long write(long address, long length) {
        try {
            long n = (long) WRITE.invokeExact(callState, fd, address, length);
            return n >= 0 ? n : -errno();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** writev(2) of one frame in {@code iovecs} pieces: bytes written, or -errno. */
    long writev(long iov, int iovecs) {
        try {
            long n = (long) WRITEV.invokeExact(callState, fd, iov, iovecs);
            return n >= 0 ? n : -errno();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private int errno() {
        return (int) ERRNO.get(callState, 0L);
    }

    static String describe(int errno) {
        return switch (errno) {
            case EPERM -> "EPERM";
            case ENOENT -> "ENOENT";
            case EBUSY -> "EBUSY";
            case EINVAL -> "EINVAL";
            case EAGAIN -> "EAGAIN";
            case 5 -> "EIO";
            case 13 -> "EACCES";
            case 19 -> "ENODEV";
            default -> "errno " + errno;
        };
    }

    private void closeQuietly() {
        if (fd >= 0) {
            try {
                int ignored = (int) CLOSE.invokeExact(fd);
            } catch (Throwable ignored) {
                // closing is best effort
            }
            fd = -1;
        }
    }

    @Override
    public void close() {
        if (fd >= 0) {
            closeQuietly();
            arena.close();
        }
    }
}
