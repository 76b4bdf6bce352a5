package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.EventLoop;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The loop runs Netty's tasks itself, on the round's clock ({@code ZStackEventLoop.runRoundTasks}), and must keep
 * what Netty's {@code runAllTasks(timeout)} promises: scheduled tasks never early, a task flood bounded by the round's budget, and the graceful shutdown's quiet period.
 */
class ZStackLoopTasksTest {
    private ZStackEventLoopGroup group;
    private EventLoop loop;

    @BeforeEach
    void start() {
        group = new ZStackEventLoopGroup(1, ZStackConfig.builder().build());
        loop = group.next();
    }

    @AfterEach
    void stop() throws Exception {
        if (!group.isShuttingDown()) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void aScheduledTaskNeverRunsBeforeItsDelay() throws Exception {
        // the loop compares Netty's deadlines with its own round clock, through an offset between the two clocks:
        // a task must not look due before its time (were the offset wrong, every task here ran at once)
        int tasks = 100;
        CountDownLatch done = new CountDownLatch(tasks);
        AtomicLong earliest = new AtomicLong(Long.MAX_VALUE);
        for (int i = 0; i < tasks; i++) {
            long delay = 5_000_000L + 100_000L * (i % 50); // 5 to 9.9 ms
            loop.execute(() -> {
                long scheduledAt = System.nanoTime();
                loop.schedule(() -> {
                    earliest.accumulateAndGet(System.nanoTime() - scheduledAt - delay, Math::min);
                    done.countDown();
                }, delay, TimeUnit.NANOSECONDS);
            });
        }
        assertTrue(done.await(10, TimeUnit.SECONDS));
        assertTrue(earliest.get() >= 0, "a task ran " + -earliest.get() + " ns before its delay");
    }

    @Test
    void aTaskThatRequeuesItselfForeverDoesNotStarveScheduledTasks() throws Exception {
        // a queue that never empties: only the round's budget (checked on the real clock) ends the task phase,
        // and a scheduled task is picked up at the start of a round
        AtomicBoolean flood = new AtomicBoolean(true);
        Runnable requeue = new Runnable() {
            @Override
            public void run() {
                if (flood.get()) {
                    loop.execute(this);
                }
            }
        };
        CountDownLatch ran = new CountDownLatch(1);
        loop.execute(() -> {
            // from the loop itself, so it goes straight to the scheduled queue (one scheduled from another thread
            // passes through the task queue, and runs from there once its time has come)
            loop.schedule(ran::countDown, 1, TimeUnit.MILLISECONDS);
            loop.execute(requeue);
        });
        try {
            assertTrue(ran.await(10, TimeUnit.SECONDS), "the scheduled task never ran under the flood");
        } finally {
            flood.set(false);
        }
    }

    @Test
    void aGracefulShutdownWaitsItsQuietPeriodAfterTheLastTask() throws Exception {
        long quietNanos = TimeUnit.MILLISECONDS.toNanos(300);
        AtomicLong lastTaskAt = new AtomicLong();
        // tasks for a while, so the loop's last-execution time is refreshed from a running loop, not from its start
        for (int i = 0; i < 50; i++) {
            loop.submit(() -> lastTaskAt.set(System.nanoTime())).sync();
            Thread.sleep(2);
        }
        group.shutdownGracefully(quietNanos, 10_000_000_000L, TimeUnit.NANOSECONDS);
        assertTrue(group.awaitTermination(10, TimeUnit.SECONDS));
        long afterLastTask = System.nanoTime() - lastTaskAt.get();
        // the loop keeps its last-execution time to within a millisecond of the last task
        assertTrue(afterLastTask >= quietNanos - 1_000_000, "terminated " + afterLastTask / 1000
                + " µs after the last task, quiet period " + quietNanos / 1000 + " µs");
    }

    @Test
    void aShutdownSeenBeforeItsQuietPeriodIsWrittenWaitsForIt() throws Exception {
        // Netty's shutdownGracefully publishes the shutting-down state, then writes the quiet period and the timeout.
        // A caller preempted between the two left this busy-polling loop with the state and a timeout of 0, and the
        // loop ended at once (the test above, once in a full run: 2.8 ms after the last task, 300 ms quiet). The
        // interleaving, made deterministic: the state first, as Netty sets it, and the rest a while later
        long quietNanos = TimeUnit.MILLISECONDS.toNanos(200);
        loop.submit(() -> { }).sync(); // the loop runs
        Class<?> executor = io.netty.util.concurrent.SingleThreadEventExecutor.class;
        java.lang.reflect.Field state = executor.getDeclaredField("state");
        java.lang.reflect.Field quiet = executor.getDeclaredField("gracefulShutdownQuietPeriod");
        java.lang.reflect.Field timeout = executor.getDeclaredField("gracefulShutdownTimeout");
        state.setAccessible(true);
        quiet.setAccessible(true);
        timeout.setAccessible(true);
        state.setInt(loop, 3); // ST_SHUTTING_DOWN, as shutdownGracefully's compare-and-set leaves it
        assertTrue(loop.isShuttingDown());
        Thread.sleep(100); // the caller "preempted": nothing else written yet
        assertTrue(!loop.isTerminated(), "the loop ended on the shutting-down state alone, with a timeout of 0");
        AtomicLong lastTaskAt = new AtomicLong();
        loop.submit(() -> lastTaskAt.set(System.nanoTime())).sync(); // still serving: a shutting-down loop takes tasks
        quiet.setLong(loop, quietNanos); // the rest of shutdownGracefully
        timeout.setLong(loop, TimeUnit.SECONDS.toNanos(10));
        loop.shutdownGracefully(quietNanos, TimeUnit.SECONDS.toNanos(10), TimeUnit.NANOSECONDS); // Netty's returns at once
        assertTrue(loop.awaitTermination(10, TimeUnit.SECONDS));
        long afterLastTask = System.nanoTime() - lastTaskAt.get();
        assertTrue(afterLastTask >= quietNanos - 1_000_000, "terminated " + afterLastTask / 1000
                + " µs after the last task, quiet period " + quietNanos / 1000 + " µs");
    }
}
