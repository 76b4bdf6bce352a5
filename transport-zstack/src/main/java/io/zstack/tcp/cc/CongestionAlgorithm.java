package io.zstack.tcp.cc;

/** The congestion controls a connection can use; CUBIC is the default, as in Linux. */
public enum CongestionAlgorithm {
    CUBIC,
    NEW_RENO,
    /** Model-based (bandwidth and min RTT), paced; does not read random loss as congestion. */
    BBR;

    public CongestionControl create() {
        return switch (this) {
            case CUBIC -> new Cubic();
            case NEW_RENO -> new NewReno();
            case BBR -> new Bbr();
        };
    }
}
