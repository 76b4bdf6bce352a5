package io.zstack.dpdk;

/**
 * DPDK, or ZStack's native shim over it, cannot be used in this process. The message says what to install
 * or change; the cause, when there is one, is what the dynamic loader or DPDK reported.
 */
public final class DpdkUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DpdkUnavailableException(String message) {
        super(message);
    }

    public DpdkUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
