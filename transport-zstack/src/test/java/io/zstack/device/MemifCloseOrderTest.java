package io.zstack.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.buffer.DpdkMbufPool;
import io.zstack.buffer.MbufBurst;
import io.zstack.dpdk.PortConfig;
import io.zstack.dpdk.Vdevs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Both ends of a memif link live in this process and are closed in every order: client first, server first, both
 * at once from two threads, while a thread per end keeps polling and sending until its own end closes. DPDK's
 * interrupt thread tears down the end whose peer left at the same moment; before closes ran on that thread this
 * crashed the JVM in EAL's heap (both freed the same regions) within a few rounds. Every round checks that frames
 * crossed and that every mbuf came home.
 */
class MemifCloseOrderTest {
    private static final int ROUNDS_PER_ORDER = 15;

    enum Order { CLIENT_FIRST, SERVER_FIRST, AT_ONCE, AT_ONCE_REVERSED }

    @Test
    void pairsCloseInEveryOrderWhilePolled() throws Exception {
        Path dir = Files.createTempDirectory("zstack-memif-close");
        try (DpdkMbufPool serverPool = DpdkMbufPool.create("mco-srv", 4095, 0, 2176);
             DpdkMbufPool clientPool = DpdkMbufPool.create("mco-cli", 4095, 0, 2176)) {
            int round = 0;
            for (int i = 0; i < ROUNDS_PER_ORDER; i++) {
                for (Order order : Order.values()) {
                    String socket = dir.resolve("memif-" + round + ".sock").toString();
                    round(order, 20 + 2 * (round % 40), socket, serverPool, clientPool);
                    assertEquals(serverPool.capacity(), serverPool.available(), order + ": server pool leaked");
                    assertEquals(clientPool.capacity(), clientPool.available(), order + ": client pool leaked");
                    Files.deleteIfExists(Path.of(socket));
                    round++;
                }
            }
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    private static void round(Order order, int index, String socket, DpdkMbufPool serverPool,
                              DpdkMbufPool clientPool) throws Exception {
        DpdkPortDevice server = DpdkPortDevice.open(Vdevs.memifServer(index, socket), PortConfig.defaults(), serverPool);
        DpdkPortDevice client = DpdkPortDevice.open(Vdevs.memifClient(index + 1, socket), PortConfig.defaults(),
                clientPool);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!(server.port().info().linkUp() && client.port().info().linkUp())) {
            assertTrue(System.nanoTime() < deadline, order + ": memif link did not come up in 10 s");
            Thread.sleep(1);
        }
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Poller serverPoller = new Poller(server, failure);
        Poller clientPoller = new Poller(client, failure);
        serverPoller.start();
        clientPoller.start();
        serverPoller.awaitTraffic();
        clientPoller.awaitTraffic();
        switch (order) {
            case CLIENT_FIRST -> {
                clientPoller.closeDevice();
                serverPoller.closeDevice();
            }
            case SERVER_FIRST -> {
                serverPoller.closeDevice();
                clientPoller.closeDevice();
            }
            case AT_ONCE, AT_ONCE_REVERSED -> {
                CountDownLatch go = new CountDownLatch(1);
                List<Thread> closers = new ArrayList<>();
                for (Poller p : order == Order.AT_ONCE ? List.of(clientPoller, serverPoller)
                        : List.of(serverPoller, clientPoller)) {
                    closers.add(Thread.ofPlatform().start(() -> {
                        try {
                            go.await();
                            p.closeDevice();
                        } catch (Throwable t) {
                            failure.compareAndSet(null, t);
                        }
                    }));
                }
                go.countDown();
                for (Thread t : closers) {
                    t.join();
                }
            }
        }
        serverPoller.finish();
        clientPoller.finish();
        if (failure.get() != null) {
            throw new AssertionError(order + " failed", failure.get());
        }
        assertTrue(serverPoller.received > 0 && clientPoller.received > 0, order + ": no frames crossed");
    }

    /**
     * Polls and sends on one end until that end is closed; the close comes from another thread while this one is
     * still inside the loop, as a group closing another group's port would do.
     */
    private static final class Poller {
        private final DpdkPortDevice device;
        private final AtomicReference<Throwable> failure;
        private final AtomicBoolean closeRequested = new AtomicBoolean();
        private final CountDownLatch trafficSeen = new CountDownLatch(1);
        private volatile boolean closed;
        private Thread thread;
        long received;

        Poller(DpdkPortDevice device, AtomicReference<Throwable> failure) {
            this.device = device;
            this.failure = failure;
        }

        void start() {
            thread = Thread.ofPlatform().name("poll-" + device.name()).start(this::run);
        }

        private void run() {
            MbufBurst rx = new MbufBurst(32);
            MbufBurst tx = new MbufBurst(8);
            try {
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (!closed && System.nanoTime() < deadline) {
                    int n = device.receive(rx);
                    if (n > 0) {
                        received += n;
                        trafficSeen.countDown();
                    }
                    device.pool().freeBulk(rx, 0, n);
                    rx.clear();
                    while (!tx.isFull()) {
                        long m = device.pool().alloc();
                        if (m == 0) {
                            break;
                        }
                        io.zstack.buffer.Mbuf.append(m, 64);
                        tx.add(m);
                    }
                    device.transmit(tx);
                }
                // what a paused or closed port did not take is ours
                device.pool().freeBulk(tx, 0, tx.size());
                tx.clear();
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            }
        }

        void awaitTraffic() throws InterruptedException {
            assertTrue(trafficSeen.await(10, java.util.concurrent.TimeUnit.SECONDS), device + " received nothing");
        }

        /** Closes the device while its poller may still be in a burst; the poller stops once it sees the close. */
        void closeDevice() {
            if (closeRequested.compareAndSet(false, true)) {
                device.close();
                closed = true;
            }
        }

        void finish() throws InterruptedException {
            thread.join();
        }
    }
}
