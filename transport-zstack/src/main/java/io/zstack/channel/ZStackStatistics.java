package io.zstack.channel;

import io.netty.util.concurrent.Future;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.zstack.buffer.MbufPool;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/** The JMX view of one group; registered by the group, unregistered when it terminates. */
final class ZStackStatistics implements ZStackStatisticsMXBean {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ZStackStatistics.class);
    private static final AtomicInteger GROUPS = new AtomicInteger();
    private static final long TIMEOUT_SECONDS = 5;

    private final ZStackEventLoopGroup group;

    private ZStackStatistics(ZStackEventLoopGroup group) {
        this.group = group;
    }

    /** Registers the group's statistics; a JMX failure is logged, never fatal to the group. */
    static void register(ZStackEventLoopGroup group) {
        ObjectName name;
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        try {
            name = new ObjectName("io.zstack:type=ZStackEventLoopGroup,name=group-" + GROUPS.incrementAndGet());
            server.registerMBean(new ZStackStatistics(group), name);
        } catch (JMException | RuntimeException e) {
            logger.warn("ZStack statistics are not available over JMX", e);
            return;
        }
        group.terminationFuture().addListener(f -> {
            try {
                server.unregisterMBean(name);
            } catch (JMException e) {
                logger.debug("unregistering {}", name, e);
            }
        });
    }

    @Override
    public String getDescription() {
        return await(group.describe());
    }

    @Override
    public Map<String, Long> getCounters() {
        List<Future<Map<String, Long>>> answers = new ArrayList<>();
        for (ZStackEventLoop loop : group.loops()) {
            answers.add(loop.counters());
        }
        Map<String, Long> sum = new LinkedHashMap<>();
        for (Future<Map<String, Long>> a : answers) {
            // a maximum over loops is the largest one; every other figure is a count or a time, which add up
            await(a).forEach((k, v) -> sum.merge(k, v, LoopUtilisation.isMaximum(k) ? Math::max : Long::sum));
        }
        return sum;
    }

    @Override
    public int getConnections() {
        return (int) perLoop(loop -> new LoopFigures(loop.stack().tcp().connectionCount(), 0, 0))
                .stream().mapToLong(f -> f.connections).sum();
    }

    @Override
    public long getFreeMbufs() {
        return perLoop(loop -> pool(loop)).stream().mapToLong(f -> f.freeMbufs).sum();
    }

    @Override
    public long getMbufs() {
        return perLoop(loop -> pool(loop)).stream().mapToLong(f -> f.mbufs).sum();
    }

    private static LoopFigures pool(ZStackEventLoop loop) {
        MbufPool pool = loop.pool();
        return new LoopFigures(0, pool.available(), pool.capacity());
    }

    private record LoopFigures(long connections, long freeMbufs, long mbufs) {
    }

    /** Runs {@code read} on every loop's thread and collects the answers. */
    private List<LoopFigures> perLoop(Function<ZStackEventLoop, LoopFigures> read) {
        List<Future<LoopFigures>> answers = new ArrayList<>();
        for (ZStackEventLoop loop : group.loops()) {
            answers.add(loop.submit(() -> read.apply(loop)));
        }
        List<LoopFigures> figures = new ArrayList<>();
        for (Future<LoopFigures> a : answers) {
            figures.add(await(a));
        }
        return figures;
    }

    private static <T> T await(Future<T> future) {
        if (!future.awaitUninterruptibly(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            throw new IllegalStateException("a ZStack event loop did not answer within " + TIMEOUT_SECONDS + " s");
        }
        if (!future.isSuccess()) {
            throw new IllegalStateException("reading ZStack statistics failed: " + future.cause(), future.cause());
        }
        return future.getNow();
    }
}
