package io.zstack.channel;

import io.zstack.tcp.cc.CongestionAlgorithm;

/**
 * The congestion controls a ZStack connection can use ({@link ZStackChannelOption#CONGESTION_CONTROL},
 * {@link ZStackTcpDefaults.Builder#congestionControl}); CUBIC is the default, as in Linux.
 */
public enum ZStackCongestionControl {
    /** CUBIC (RFC 9438). */
    CUBIC(CongestionAlgorithm.CUBIC),
    /** NewReno (RFC 6582, RFC 5681). */
    NEW_RENO(CongestionAlgorithm.NEW_RENO),
    /**
     * BBR (version 1: a model of the path's bandwidth and round-trip time, paced sending; random loss does not shrink
     * its window). Not the default: it wins on lossy paths and loses on some others (bench/README.md, loss section).
     */
    BBR(CongestionAlgorithm.BBR);

    private final CongestionAlgorithm algorithm;

    ZStackCongestionControl(CongestionAlgorithm algorithm) {
        this.algorithm = algorithm;
    }

    CongestionAlgorithm algorithm() {
        return algorithm;
    }

    static ZStackCongestionControl of(CongestionAlgorithm algorithm) {
        for (ZStackCongestionControl c : values()) {
            if (c.algorithm == algorithm) {
                return c;
            }
        }
        throw new IllegalStateException("no public name for congestion control " + algorithm);
    }
}
