package io.zstack.channel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The lines {@code KIND id details} one process's {@link StreamEnd}s (and {@link CrossProcessPeer}) report, awaited by
 * kind and id in any order: a line that does not match waits for the call that asks for it.
 */
final class EventLog implements Consumer<String> {
    private static final long TIMEOUT_SECONDS = 30;
    private final String name;
    private final List<String> all = new ArrayList<>();
    private final List<String> unread = new ArrayList<>();

    EventLog(String name) {
        this.name = name;
    }

    @Override
    public synchronized void accept(String line) {
        all.add(line);
        unread.add(line);
        notifyAll();
    }

    /** The details of the first unread line of {@code kind} (and {@code id}, unless null), which is consumed. */
    synchronized String await(String kind, Object id) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS);
        while (true) {
            String details = take(kind, id);
            if (details != null) {
                return details;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("no " + kind + (id == null ? "" : " " + id) + " from " + name + " in "
                        + TIMEOUT_SECONDS + " s; it said:\n" + String.join("\n", all));
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
    }

    /** {@link #await} split at spaces. */
    String[] awaitFields(String kind, Object id) throws InterruptedException {
        return await(kind, id).split(" ");
    }

    /** Fails if a line of {@code kind} and {@code id} is unread or comes within {@code millis}. */
    synchronized void assertNone(String kind, Object id, long millis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (true) {
            for (String line : unread) {
                if (matches(line, kind, id)) {
                    throw new AssertionError(name + " said " + line + " within " + millis + " ms");
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return;
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
    }

    private String take(String kind, Object id) {
        for (int i = 0; i < unread.size(); i++) {
            String line = unread.get(i);
            if (matches(line, kind, id)) {
                unread.remove(i);
                String prefix = id == null ? kind : kind + " " + id;
                return line.substring(prefix.length()).trim();
            }
        }
        return null;
    }

    private static boolean matches(String line, String kind, Object id) {
        String prefix = id == null ? kind : kind + " " + id;
        return line.equals(prefix) || line.startsWith(prefix + " ");
    }
}
