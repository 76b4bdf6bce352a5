package io.zstack.dpdk;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Struct offsets, field widths, flag values and bitfield positions as the native shim's compiler saw them in
 * the installed DPDK headers ({@code zs_layout} in native/zstack_shim.c). Lookups name the width the Java
 * accessor will use, and fail with {@link LayoutMismatchException} when the installed DPDK disagrees.
 */
public final class LayoutTable {
    /** What an entry's value means. */
    public enum Kind {
        /** value is a byte offset, width a size in bytes */
        OFFSET,
        /** value is a constant (flag bit, size, limit), width is 0 */
        CONSTANT,
        /** value is the bit shift inside a 64-bit word, width the number of bits */
        BITFIELD
    }

    /** One row of the table. */
    public record Entry(String name, long value, int width, Kind kind) {
    }

    private final Map<String, Entry> entries;
    private final String source;

    private LayoutTable(Map<String, Entry> entries, String source) {
        this.entries = entries;
        this.source = source;
    }

    /** A table made of the given entries (a built-in default, or a test's deliberately wrong one). */
    public static LayoutTable of(String source, Collection<Entry> rows) {
        Map<String, Entry> map = new LinkedHashMap<>();
        for (Entry e : rows) {
            map.put(e.name(), e);
        }
        return new LayoutTable(map, source);
    }

    /** The table the shim computed against the installed DPDK. */
    public static LayoutTable fromShim() {
        Dpdk.requireShim();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment countOut = arena.allocate(JAVA_INT);
            MemorySegment base = Shim.layout(countOut);
            int count = countOut.get(JAVA_INT, 0);
            int stride = Shim.layoutEntrySize();
            // struct zs_layout_entry { const char *name; int64_t value; int32_t width; int32_t kind; }
            MemorySegment table = base.reinterpret((long) count * stride);
            Map<String, Entry> map = new LinkedHashMap<>();
            Kind[] kinds = Kind.values();
            for (int i = 0; i < count; i++) {
                long at = (long) i * stride;
                String name = table.get(ADDRESS, at).reinterpret(Integer.MAX_VALUE).getString(0);
                long value = table.get(JAVA_LONG, at + 8);
                int width = table.get(JAVA_INT, at + 16);
                int kind = table.get(JAVA_INT, at + 20);
                if (kind < 0 || kind >= kinds.length) {
                    throw new LayoutMismatchException("layout entry " + name + " has unknown kind " + kind);
                }
                map.put(name, new Entry(name, value, width, kinds[kind]));
            }
            return new LayoutTable(map, "DPDK " + Dpdk.version() + " (native shim)");
        }
    }

    /** Where the table came from, for messages. */
    public String source() {
        return source;
    }

    public Collection<Entry> entries() {
        return entries.values();
    }

    private Entry require(String name, Kind kind) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new LayoutMismatchException(source + ": layout table has no entry " + name);
        }
        if (e.kind() != kind) {
            throw new LayoutMismatchException(source + ": " + name + " is a " + e.kind() + ", expected a " + kind);
        }
        return e;
    }

    /** Byte offset of a field that Java reads or writes with {@code width} bytes. */
    public int offset(String name, int width) {
        Entry e = require(name, Kind.OFFSET);
        if (e.width() != width) {
            throw new LayoutMismatchException(source + ": " + name + " is " + e.width()
                    + " bytes wide, ZStack accesses it as " + width + " bytes");
        }
        if (e.value() < 0 || e.value() > Integer.MAX_VALUE) {
            throw new LayoutMismatchException(source + ": " + name + " has impossible offset " + e.value());
        }
        return (int) e.value();
    }

    public long constant(String name) {
        return require(name, Kind.CONSTANT).value();
    }

    /** Bit shift of a bitfield inside its 64-bit word, checking its width in bits. */
    public int bitShift(String name, int bits) {
        Entry e = require(name, Kind.BITFIELD);
        if (e.width() != bits || e.value() < 0 || e.value() + bits > 64) {
            throw new LayoutMismatchException(source + ": bitfield " + name + " is " + e.width() + " bits at "
                    + e.value() + ", ZStack expects " + bits + " bits inside 64");
        }
        return (int) e.value();
    }
}
