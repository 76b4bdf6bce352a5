package io.zstack.dpdk;

/** A DPDK call failed. Carries the positive errno value and DPDK's text for it. */
public final class DpdkException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int errno;

    public DpdkException(String operation, int errno) {
        super(operation + " failed: " + Errno.describe(errno) + " (errno " + errno + ")");
        this.errno = errno;
    }

    /** The positive errno value DPDK returned (for example 19 for ENODEV). */
    public int errno() {
        return errno;
    }

    /** Throws for a negative-errno return code, passes any other value through. */
    static int check(String operation, int rc) {
        if (rc < 0) {
            throw new DpdkException(operation, -rc);
        }
        return rc;
    }
}
