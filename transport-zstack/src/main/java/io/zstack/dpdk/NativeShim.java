package io.zstack.dpdk;

import java.io.IOException;
import java.io.InputStream;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds and loads ZStack's native shim (native/zstack_shim.c), which travels inside the transport jar.
 *
 * <p>The library is copied to a temporary file, opened, and the file deleted at once (the mapping stays).
 * Loading fails when DPDK's runtime libraries are not installed: that becomes one
 * {@link DpdkUnavailableException} naming the package to install, remembered and thrown again on every
 * later attempt, so no {@link UnsatisfiedLinkError} or class-initialisation error reaches a user.
 * The system property {@code zstack.native.path} points at a shim built elsewhere (for development).
 */
public final class NativeShim {
    static final String RESOURCE = "/META-INF/native/libzstack_shim_x86_64.so";
    private static final Pattern MISSING_LIBRARY = Pattern.compile("(lib[\\w.+-]+\\.so[\\w.]*): cannot open shared object");

    private static final int RTLD_NOW = 2;

    private static SymbolLookup lookup;
    private static DpdkUnavailableException failure;

    private NativeShim() {
    }

    /** The shim's symbols (and, through its dependencies, DPDK's exported ones). */
    public static synchronized SymbolLookup lookup() {
        if (lookup != null) {
            return lookup;
        }
        if (failure == null) {
            try {
                lookup = load();
                return lookup;
            } catch (DpdkUnavailableException e) {
                failure = e;
            }
        }
        throw new DpdkUnavailableException(failure.getMessage(), failure.getCause());
    }

    private static SymbolLookup load() {
        if (!"amd64".equals(System.getProperty("os.arch")) && !"x86_64".equals(System.getProperty("os.arch"))
                || !System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            throw new DpdkUnavailableException("ZStack's native shim is built for Linux x86_64; this JVM runs on "
                    + System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        }
        Path library;
        String override = System.getProperty("zstack.native.path");
        boolean temporary = override == null;
        if (temporary) {
            library = extract();
        } else {
            library = Path.of(override);
        }
        try {
            return open(library);
        } finally {
            if (temporary) {
                try {
                    Files.deleteIfExists(library);
                } catch (IOException ignored) {
                    // a leftover file in the temporary directory is harmless
                }
            }
        }
    }

    /** Opens a shared library, turning the loader's failures into one clear exception. */
    static SymbolLookup open(Path library) {
        try {
            return SymbolLookup.libraryLookup(library, Arena.global());
        } catch (IllegalArgumentException e) {
            throw explainLoadFailure(e, loaderError(library));
        } catch (IllegalCallerException e) {
            throw new DpdkUnavailableException("Native access is not enabled for ZStack: start the JVM with "
                    + "--enable-native-access=ALL-UNNAMED (or the module that holds ZStack)", e);
        }
    }

    private static Path extract() {
        try (InputStream in = NativeShim.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new DpdkUnavailableException("ZStack's native shim " + RESOURCE + " is not on the class path: "
                        + "the transport jar was built without it (build it where libdpdk-dev is installed)");
            }
            Path file = Files.createTempFile("libzstack_shim", ".so");
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            return file;
        } catch (IOException e) {
            throw new DpdkUnavailableException("Cannot extract ZStack's native shim to the temporary directory ("
                    + System.getProperty("java.io.tmpdir") + "): " + e.getMessage(), e);
        }
    }

    /**
     * The JDK does not say why a library failed to load; ask the dynamic loader (dlopen + dlerror from libc)
     * so the user learns which library is missing.
     */
    private static String loaderError(Path library) {
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            MethodHandle dlopen = linker.downcallHandle(libc.find("dlopen").orElseThrow(),
                    FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
            MethodHandle dlerror = linker.downcallHandle(libc.find("dlerror").orElseThrow(),
                    FunctionDescriptor.of(ADDRESS));
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment handle = (MemorySegment) dlopen.invokeExact(arena.allocateFrom(library.toString()), RTLD_NOW);
                if (!MemorySegment.NULL.equals(handle)) {
                    return "the library loads when opened directly";
                }
                MemorySegment text = (MemorySegment) dlerror.invokeExact();
                return MemorySegment.NULL.equals(text) ? "no reason given" : text.reinterpret(4096).getString(0);
            }
        } catch (Throwable t) {
            return "no reason available (" + t + ")";
        }
    }

    static DpdkUnavailableException explainLoadFailure(Throwable e, String loaderMessage) {
        String message = e.getMessage() + ": " + loaderMessage;
        Matcher missing = MISSING_LIBRARY.matcher(message);
        if (missing.find()) {
            String lib = missing.group(1);
            String hint = lib.startsWith("librte_")
                    ? "DPDK is not installed: install its runtime package (Debian/Ubuntu: apt-get install dpdk; "
                      + "DPDK 22.11, ABI 23)"
                    : "a library the shim needs is missing";
            return new DpdkUnavailableException(hint + ". The dynamic loader could not find " + lib + ".", e);
        }
        return new DpdkUnavailableException("Cannot load ZStack's native shim: " + message, e);
    }
}
