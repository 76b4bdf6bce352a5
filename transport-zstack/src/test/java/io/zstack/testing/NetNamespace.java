package io.zstack.testing;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A network namespace a test creates for itself and deletes when closed (the network rule: test traffic stays
 * inside namespaces the test made). Commands run inside it with {@code ip netns exec}; Java code runs inside it
 * on a fresh thread that has joined it with setns(2), which moves only that thread. DPDK devices probed on such a
 * thread (a tap) are created inside the namespace.
 */
public final class NetNamespace implements AutoCloseable {
    private static final AtomicInteger COUNTER = new AtomicInteger();
    private static final int CLONE_NEWNET = 0x40000000;
    private static final int O_RDONLY = 0;

    private final String name;

    private NetNamespace(String name) {
        this.name = name;
    }

    /** Creates a namespace named zst-PID-N with its loopback up. Needs root. */
    public static NetNamespace create() {
        requireRoot();
        String name = "zst-" + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet();
        Command.check("ip", "netns", "add", name);
        NetNamespace ns = new NetNamespace(name);
        ns.exec("ip", "link", "set", "lo", "up");
        return ns;
    }

    public static void requireRoot() {
        String user = Command.check("id", "-u").trim();
        if (!"0".equals(user)) {
            throw new IllegalStateException("this test needs root (network namespaces, tap devices, DPDK); "
                    + "run the test command as root, as .ci/run does");
        }
    }

    public String name() {
        return name;
    }

    /** Runs a command inside the namespace and returns its output; fails on a non-zero exit. */
    public String exec(String... command) {
        return execResult(60, command).requireSuccess(prefixed(command)).output();
    }

    public Command.Result execResult(long timeoutSeconds, String... command) {
        return Command.run(timeoutSeconds, prefixed(command));
    }

    private List<String> prefixed(String... command) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(List.of(command));
        return full;
    }

    /** Runs {@code task} on a new platform thread that has joined this namespace, and returns its result. */
    public <T> T call(Callable<T> task) throws Exception {
        Object[] result = new Object[1];
        Exception[] failure = new Exception[1];
        Thread t = Thread.ofPlatform().name("in-" + name).start(() -> {
            try {
                enterCurrentThread();
                result[0] = task.call();
            } catch (Exception e) {
                failure[0] = e;
            }
        });
        t.join();
        if (failure[0] != null) {
            throw failure[0];
        }
        @SuppressWarnings("unchecked")
        T value = (T) result[0];
        return value;
    }

    /** Moves the calling thread into this namespace (setns on /var/run/netns/NAME). */
    public void enterCurrentThread() {
        Linker linker = Linker.nativeLinker();
        MethodHandle open = linker.downcallHandle(linker.defaultLookup().find("open").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        MethodHandle setns = linker.downcallHandle(linker.defaultLookup().find("setns").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        MethodHandle close = linker.downcallHandle(linker.defaultLookup().find("close").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        try (Arena arena = Arena.ofConfined()) {
            int fd = (int) open.invokeExact(arena.allocateFrom("/var/run/netns/" + name), O_RDONLY);
            if (fd < 0) {
                throw new IllegalStateException("cannot open /var/run/netns/" + name);
            }
            int rc = (int) setns.invokeExact(fd, CLONE_NEWNET);
            int ignored = (int) close.invokeExact(fd);
            if (rc != 0) {
                throw new IllegalStateException("setns into " + name + " failed");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Deletes the namespace; interfaces inside it (taps, veth ends) go with it. */
    @Override
    public void close() {
        Command.run(30, List.of("ip", "netns", "del", name));
    }
}
