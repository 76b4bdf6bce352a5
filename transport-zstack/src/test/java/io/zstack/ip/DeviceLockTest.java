package io.zstack.ip;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The stack thread's device lock against the stall watch's tries from another thread. */
class DeviceLockTest {
    private final DeviceLock lock = new DeviceLock(Thread.currentThread());

    private boolean triedFromAnotherThread() throws Exception {
        return CompletableFuture.supplyAsync(() -> {
            boolean got = lock.tryLock();
            if (got) {
                lock.release();
            }
            return got;
        }).get(5, TimeUnit.SECONDS);
    }

    @Test
    void nestedHoldsKeepTheOtherThreadOutUntilTheOutermostRelease() throws Exception {
        lock.lock();
        lock.lock(); // nested, as a frame queued inside the loop's output phase
        assertFalse(triedFromAnotherThread());
        lock.unlock();
        assertFalse(triedFromAnotherThread(), "still held by the outer hold");
        lock.unlock();
        assertTrue(triedFromAnotherThread());
    }

    @Test
    void theStackThreadWaitsWhileTheOtherThreadFlushes() throws Exception {
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch letGo = new CountDownLatch(1);
        AtomicBoolean released = new AtomicBoolean();
        Thread watch = Thread.ofPlatform().start(() -> {
            assertTrue(lock.tryLock());
            held.countDown();
            try {
                letGo.await();
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            released.set(true);
            lock.release();
        });
        held.await();
        letGo.countDown();
        lock.lock();
        assertTrue(released.get(), "the stack thread got the lock only after the other thread released it");
        lock.unlock();
        watch.join();
    }

    @Test
    void onlyTheStackThreadMayTakeItWaiting() {
        CompletableFuture<Void> other = CompletableFuture.runAsync(lock::lock);
        Exception e = assertThrows(Exception.class, () -> other.get(5, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof IllegalStateException, e.toString());
    }
}
