package io.zstack.dpdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.testing.Command;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeShimTest {

    @Test
    void shimLoadsAndReportsTheInstalledDpdk() {
        assertNull(Dpdk.unavailabilityCause());
        assertTrue(Dpdk.version().startsWith("DPDK "), Dpdk.version());
        assertEquals(Dpdk.SHIM_ABI, Shim.shimAbi());
    }

    /**
     * A library that needs a DPDK library which is not installed, as the shim does on a machine without DPDK:
     * the loader's failure becomes one exception that says which package to install.
     */
    @Test
    void missingDpdkLibraryIsReportedWithThePackageToInstall(@TempDir Path dir) throws Exception {
        Path fakeDpdk = dir.resolve("librte_zstackmissing.so.23");
        Path src = dir.resolve("uses_dpdk.c");
        Files.writeString(src, "int rte_zstack_missing(void){return 1;}\n");
        Command.check("gcc", "-shared", "-fPIC", "-o", fakeDpdk.toString(), "-Wl,-soname,librte_zstackmissing.so.23",
                src.toString());
        Path shimLike = dir.resolve("libshimlike.so");
        Path caller = dir.resolve("caller.c");
        Files.writeString(caller, "int rte_zstack_missing(void);\nint zs_call(void){return rte_zstack_missing();}\n");
        Command.check("gcc", "-shared", "-fPIC", "-o", shimLike.toString(), caller.toString(), fakeDpdk.toString());
        Files.delete(fakeDpdk);

        DpdkUnavailableException e = assertThrows(DpdkUnavailableException.class, () -> NativeShim.open(shimLike));
        assertTrue(e.getMessage().contains("apt-get install dpdk"), e.getMessage());
        assertTrue(e.getMessage().contains("librte_zstackmissing.so.23"), e.getMessage());
    }

    @Test
    void aLibraryThatIsNotThereIsAClearError(@TempDir Path dir) {
        DpdkUnavailableException e = assertThrows(DpdkUnavailableException.class,
                () -> NativeShim.open(dir.resolve("nothing.so")));
        assertTrue(e.getMessage().startsWith("Cannot load ZStack's native shim"), e.getMessage());
    }
}
