package io.zstack.dpdk;

/** Text for errno values, from DPDK when it is loaded, else a short built-in list. */
final class Errno {
    private Errno() {
    }

    static String describe(int errno) {
        try {
            return Dpdk.strerror(errno);
        } catch (RuntimeException ignored) {
            // DPDK does not load here: the built-in names
        }
        return switch (errno) {
            case 1 -> "Operation not permitted";
            case 2 -> "No such file or directory";
            case 12 -> "Cannot allocate memory";
            case 13 -> "Permission denied";
            case 16 -> "Device or resource busy";
            case 17 -> "File exists";
            case 19 -> "No such device";
            case 22 -> "Invalid argument";
            case 28 -> "No space left on device";
            case 95 -> "Operation not supported";
            case 114 -> "Operation already in progress";
            default -> "error " + errno;
        };
    }
}
