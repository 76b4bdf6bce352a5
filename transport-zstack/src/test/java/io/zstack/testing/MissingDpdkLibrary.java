package io.zstack.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What a machine without DPDK looks like to the shim: a library linked against a librte_* that is not there. */
public final class MissingDpdkLibrary {
    private MissingDpdkLibrary() {
    }

    /**
     * Builds, in {@code dir}, a library that calls into {@code soname} (a librte_* name), then removes that one: the
     * returned library fails to load as the shim does where DPDK is not installed. Needs gcc, as the shim's build.
     */
    public static Path shimNeeding(Path dir, String soname) throws IOException {
        Path missing = dir.resolve(soname);
        Path missingSource = dir.resolve("missing.c");
        Files.writeString(missingSource, "int rte_zstack_missing(void){return 1;}\n");
        Command.check("gcc", "-shared", "-fPIC", "-o", missing.toString(), "-Wl,-soname," + soname,
                missingSource.toString());
        Path shim = dir.resolve("libshimlike.so");
        Path caller = dir.resolve("caller.c");
        Files.writeString(caller, "int rte_zstack_missing(void);\nint zs_call(void){return rte_zstack_missing();}\n");
        Command.check("gcc", "-shared", "-fPIC", "-o", shim.toString(), caller.toString(), missing.toString());
        Files.delete(missing);
        return shim;
    }
}
