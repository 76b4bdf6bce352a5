package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.channel.EventLoop;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A loop that parks while idle does so with a 1 µs timer slack: with Linux's default 50 µs a 50 µs park lasted
 * 112-124 µs here, and a frame arriving during it waits that long. Read from the kernel's own view of the thread
 * ({@code /proc/TID/timerslack_ns}).
 */
class ZStackIdleParkTest {

    /** The kernel shows timerslack_ns at /proc/TID only (not under task/): find this thread's id first. */
    private static long slackOfThisThread() throws Exception {
        Path self = Files.readSymbolicLink(Path.of("/proc/thread-self")); // "PID/task/TID"
        String tid = self.getFileName().toString();
        return Long.parseLong(Files.readString(Path.of("/proc", tid, "timerslack_ns")).trim());
    }

    private static long onLoop(ZStackEventLoopGroup group) throws Exception {
        EventLoop loop = group.next();
        return loop.submit((Callable<Long>) ZStackIdleParkTest::slackOfThisThread).get(10, TimeUnit.SECONDS);
    }

    @Test
    void aLoopThatParksWhenIdleHasAOneMicrosecondTimerSlack() throws Exception {
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().build());
        try {
            assertEquals(ZStackEventLoop.IDLE_TIMER_SLACK_NANOS, onLoop(group));
            assertEquals(1_000, ZStackEventLoop.IDLE_TIMER_SLACK_NANOS);
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void aLoopThatNeverParksKeepsTheSlackItsThreadStartedWith() throws Exception {
        // what a thread started here gets (Linux: inherited from the thread that starts it)
        CompletableFuture<Long> plain = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                plain.complete(slackOfThisThread());
            } catch (Exception e) {
                plain.completeExceptionally(e);
            }
        });
        t.start();
        ZStackEventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder().idleBackoff(1000, 0).build());
        try {
            assertEquals(plain.get(10, TimeUnit.SECONDS), onLoop(group));
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
