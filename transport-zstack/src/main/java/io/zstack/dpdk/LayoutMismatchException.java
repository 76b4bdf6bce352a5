package io.zstack.dpdk;

/**
 * The struct layout the Java side expects disagrees with the DPDK installed (missing field, other width,
 * overlapping or out-of-struct offset, or a live mbuf read differently by Java and by DPDK). Carrying on would
 * corrupt memory, so this is thrown at start-up and never caught inside ZStack.
 */
public final class LayoutMismatchException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public LayoutMismatchException(String message) {
        super(message);
    }
}
