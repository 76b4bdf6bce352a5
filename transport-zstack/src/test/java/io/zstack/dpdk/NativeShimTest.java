package io.zstack.dpdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.testing.MissingDpdkLibrary;
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
        Path shimLike = MissingDpdkLibrary.shimNeeding(dir, "librte_zstackmissing.so.23");

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
