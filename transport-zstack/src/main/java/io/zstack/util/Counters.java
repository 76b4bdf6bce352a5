package io.zstack.util;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A layer's counters: plain public {@code long} fields written by the stack's thread only (no atomics on the fast
 * path), read by name for display, JMX and tests. Readers on other threads see values that may lag, never torn ones
 * (64-bit HotSpot writes longs whole).
 */
public abstract class Counters {
    private final String prefix;

    protected Counters(String prefix) {
        this.prefix = prefix;
    }

    /** Every counter by name, in declaration order. */
    public Map<String, Long> snapshot() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Field f : getClass().getDeclaredFields()) {
            if (f.getType() == long.class && !Modifier.isStatic(f.getModifiers())) {
                try {
                    f.setAccessible(true); // a package-private counters class (in-process) is read from here too
                    out.put(f.getName(), f.getLong(this));
                } catch (IllegalAccessException e) {
                    throw new AssertionError(e);
                }
            }
        }
        return out;
    }

    /** The non-zero counters, {@code netstat -s} style on one line. */
    @Override
    public String toString() {
        StringBuilder s = new StringBuilder(prefix).append(':');
        snapshot().forEach((k, v) -> {
            if (v != 0) {
                s.append(' ').append(k).append('=').append(v);
            }
        });
        return s.toString();
    }
}
