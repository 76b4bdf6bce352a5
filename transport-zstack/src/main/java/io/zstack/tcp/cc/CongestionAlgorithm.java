package io.zstack.tcp.cc;

/** The congestion controls a connection can use; CUBIC is the default, as in Linux. */
public enum CongestionAlgorithm {
    CUBIC,
    NEW_RENO;

    public CongestionControl create() {
        return this == CUBIC ? new Cubic() : new NewReno();
    }
}
