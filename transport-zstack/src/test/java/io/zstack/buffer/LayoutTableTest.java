package io.zstack.buffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.dpdk.Dpdk;
import io.zstack.dpdk.LayoutTable;
import io.zstack.dpdk.LayoutMismatchException;
import io.zstack.dpdk.LayoutTable.Entry;
import io.zstack.dpdk.LayoutTable.Kind;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LayoutTableTest {

    @Test
    void shimTableDescribesAnMbufZStackCanUse() {
        LayoutTable table = LayoutTable.fromShim();
        MbufLayout layout = MbufLayout.of(table);
        assertEquals(128, layout.size, "struct rte_mbuf is two cache lines");
        assertEquals(0, layout.bufAddr);
        assertEquals(128, layout.headroom);
        assertEquals(7, layout.l3LenShift, "l3_len follows the 7-bit l2_len");
    }

    /** The built-in layout (used without DPDK) must be exactly what DPDK 22.11's compiler says. */
    @Test
    void builtInLayoutEqualsTheInstalledDpdk2211() {
        if (!Dpdk.version().startsWith("DPDK 22.11")) {
            throw new AssertionError("built-in layout is for DPDK 22.11; installed is " + Dpdk.version()
                    + ": add a built-in layout for it");
        }
        LayoutTable shim = LayoutTable.fromShim();
        for (Entry builtIn : MbufLayout.builtIn().entries()) {
            Entry actual = shim.entries().stream().filter(e -> e.name().equals(builtIn.name())).findFirst()
                    .orElseThrow(() -> new AssertionError("shim has no " + builtIn.name()));
            assertEquals(builtIn, actual, builtIn.name());
        }
    }

    @Test
    void aFieldOfAnotherWidthFailsLoudly() {
        LayoutMismatchException e = assertThrows(LayoutMismatchException.class,
                () -> MbufLayout.of(replace("mbuf.data_len", new Entry("mbuf.data_len", 40, 4, Kind.OFFSET))));
        assertTrue(e.getMessage().contains("mbuf.data_len is 4 bytes wide"), e.getMessage());
    }

    @Test
    void overlappingFieldsFailLoudly() {
        LayoutMismatchException e = assertThrows(LayoutMismatchException.class,
                () -> MbufLayout.of(replace("mbuf.pkt_len", new Entry("mbuf.pkt_len", 38, 4, Kind.OFFSET))));
        assertTrue(e.getMessage().contains("overlap"), e.getMessage());
    }

    @Test
    void aFieldOutsideTheStructFailsLoudly() {
        LayoutMismatchException e = assertThrows(LayoutMismatchException.class,
                () -> MbufLayout.of(replace("mbuf.priv_size", new Entry("mbuf.priv_size", 127, 2, Kind.OFFSET))));
        assertTrue(e.getMessage().contains("outside struct rte_mbuf"), e.getMessage());
    }

    @Test
    void aMissingFieldOrWrongBitfieldFailsLoudly() {
        assertThrows(LayoutMismatchException.class, () -> MbufLayout.of(replace("mbuf.next", null)));
        assertThrows(LayoutMismatchException.class, () -> MbufLayout.of(replace("mbuf.tx_offload.l3_len",
                new Entry("mbuf.tx_offload.l3_len", 7, 8, Kind.BITFIELD))));
    }

    private static LayoutTable replace(String name, Entry replacement) {
        List<Entry> rows = new ArrayList<>();
        for (Entry e : LayoutTable.fromShim().entries()) {
            if (!e.name().equals(name)) {
                rows.add(e);
            } else if (replacement != null) {
                rows.add(replacement);
            }
        }
        return LayoutTable.of("test table", rows);
    }
}
