package io.zstack.ip;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The lock on a stack's devices and transmit queues ({@link Ipv4Layer#flushStalled}). It has two parties only: the
 * stack's own thread, which takes it around its input and output phases and again, nested, inside them (every frame
 * queued); and the event loop's stall watch, which only ever tries it, from another thread, for one flush. A
 * {@code ReentrantLock} made every acquire and release a fenced store, nested ones included, and a busy-polling loop
 * takes it twice per round; here a nested acquire is a counter, the outer one a CAS, and a release an ordered store.
 */
final class DeviceLock {
    private static final VarHandle HELD;

    static {
        try {
            HELD = MethodHandles.lookup().findVarHandle(DeviceLock.class, "held", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** 1 while the stack's thread or the stall watch holds the lock. */
    @SuppressWarnings("unused") // through HELD
    private volatile int held;
    /** The stack's thread: the only one that may {@link #lock}. */
    private final Thread owner;
    /** How deep the owner's holds are nested; only the owner touches it. */
    private int depth;

    DeviceLock(Thread owner) {
        this.owner = owner;
    }

    /** The stack's thread takes the lock, spinning while the stall watch holds it for its flush. */
    void lock() {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("the device lock is the stack thread's (" + owner.getName() + "), not "
                    + Thread.currentThread().getName() + "'s: another thread may only tryLock");
        }
        if (depth++ == 0) {
            while (!HELD.compareAndSet(this, 0, 1)) {
                Thread.onSpinWait();
            }
        }
    }

    /** Releases one of the stack thread's holds. */
    void unlock() {
        if (--depth == 0) {
            HELD.setRelease(this, 0);
        }
    }

    /** Another thread (the stall watch) takes the lock if it is free; it never waits. */
    boolean tryLock() {
        return HELD.compareAndSet(this, 0, 1);
    }

    /** Releases what {@link #tryLock} took. */
    void release() {
        HELD.setRelease(this, 0);
    }
}
