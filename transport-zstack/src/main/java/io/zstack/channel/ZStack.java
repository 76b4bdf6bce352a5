package io.zstack.channel;

import java.lang.reflect.InvocationTargetException;

/**
 * Whether the ZStack transport can run its DPDK data path in this JVM, as Netty's {@code Epoll} says for epoll:
 *
 * <pre>
 * EventLoopGroup group = ZStack.isAvailable() ? new ZStackEventLoopGroup(n, config) : new NioEventLoopGroup(n);
 * </pre>
 *
 * It needs Java 25 or later (java.lang.foreign), Linux on x86_64, native access not denied
 * ({@code --enable-native-access=ALL-UNNAMED}, or the module that holds ZStack), DPDK's runtime libraries
 * (Debian/Ubuntu: {@code apt-get install dpdk}) and the native shim built into this jar. The answer is computed once.
 * It does not start DPDK's EAL: what a device needs beyond that (root or CAP_NET_ADMIN for tap, af_packet and af_xdp
 * ports, access to a NIC) is reported when the group opens the device. A loopback-only group
 * ({@link ZStackConfig#loopback()}) needs Java 25 alone.
 *
 * <p>This class is compiled for Java 8, so that a JVM too old for the rest of ZStack can load it and get that
 * answer instead of an {@link UnsupportedClassVersionError}; it names no other ZStack class until the JDK is known
 * to be recent enough.
 */
public final class ZStack {
    /** The first Java release with the final java.lang.foreign API and Linker.Option.critical that ZStack uses. */
    private static final int REQUIRED_JAVA = 25;
    private static final Throwable UNAVAILABILITY_CAUSE = cause();

    private ZStack() {
    }

    /** True when the transport, DPDK devices included, can run in this JVM. */
    public static boolean isAvailable() {
        return UNAVAILABILITY_CAUSE == null;
    }

    /**
     * Throws an {@link UnsatisfiedLinkError} whose cause says why the transport cannot run here, as
     * {@code Epoll.ensureAvailability()} does; returns when it can.
     */
    public static void ensureAvailability() {
        if (UNAVAILABILITY_CAUSE != null) {
            throw (Error) new UnsatisfiedLinkError("the ZStack transport cannot run in this JVM: "
                    + UNAVAILABILITY_CAUSE.getMessage()).initCause(UNAVAILABILITY_CAUSE);
        }
    }

    /** Why the transport cannot run here, or null when it can. */
    public static Throwable unavailabilityCause() {
        return UNAVAILABILITY_CAUSE;
    }

    private static Throwable cause() {
        String version = System.getProperty("java.specification.version", "0");
        int feature;
        try {
            // "1.8" up to Java 8, "9", "17", "25" after
            feature = Integer.parseInt(version.startsWith("1.") ? version.substring(2) : version);
        } catch (NumberFormatException e) {
            feature = 0;
        }
        if (feature < REQUIRED_JAVA) {
            return new UnsupportedOperationException("ZStack needs Java " + REQUIRED_JAVA + " or later "
                    + "(java.lang.foreign); this JVM is Java " + version + " (" + System.getProperty("java.home")
                    + ")");
        }
        try {
            // the JDK is recent enough to load the rest of ZStack; named reflectively, as this class is built for 8
            return (Throwable) Class.forName("io.zstack.dpdk.Dpdk").getMethod("unavailabilityCause").invoke(null);
        } catch (InvocationTargetException e) {
            return e.getCause();
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            return e;
        }
    }
}
