package io.zstack.channel;

import java.util.Map;

/**
 * A {@link ZStackEventLoopGroup}'s statistics over JMX, registered as
 * {@code io.zstack:type=ZStackEventLoopGroup,name=group-N} while the group runs (jconsole, jmxterm, or any JMX
 * client). Every read asks each loop on its own thread, so the figures of one loop are consistent with each other.
 */
public interface ZStackStatisticsMXBean {
    /** {@link ZStackEventLoopGroup#describe()}: counters, pool use, device statistics and connections per loop. */
    String getDescription();

    /**
     * The IP ({@code ip.*}) and TCP ({@code tcp.*}) counters and the loops' time ({@code loop.*}) summed over the
     * loops, netstat -s style; {@code loop.longestRoundNanos} is the longest of any loop.
     */
    Map<String, Long> getCounters();

    /** TCP connections of all loops, listeners excluded, TIME_WAIT included. */
    int getConnections();

    /** Free mbufs in the loops' device pools (large-buffer pools excluded). */
    long getFreeMbufs();

    /** Size of the loops' device pools. */
    long getMbufs();
}
