package io.zstack.tcp;

/**
 * Connections and TIME_WAITs by 4-tuple: open addressing with linear probing over parallel arrays, so a lookup per
 * received segment costs a hash and a few int compares and allocates nothing. Grows at 50% load; deletes re-seat the
 * probe chain (no tombstones).
 */
final class ConnectionTable {
    private TcpTuple[] slots = new TcpTuple[1024];
    private int size;
    /**
     * The connection the last successful {@link #find} returned: a burst of segments mostly belongs to one connection
     * (a bulk transfer, a request and its answer), and four compares beat the hash and the probe. Cleared by
     * {@link #remove}, so it only ever holds a connection that is in the table.
     */
    private TcpTuple last;

    static int hash(int localAddress, int localPort, int remoteAddress, int remotePort) {
        int h = remoteAddress * 0x9E3779B9 + (remotePort << 16 | localPort);
        h = (h ^ (h >>> 15)) * 0x85EBCA6B + localAddress;
        return h ^ (h >>> 13);
    }

    private static boolean matches(TcpTuple c, int localAddress, int localPort, int remoteAddress, int remotePort) {
        return c.remotePort == remotePort && c.localPort == localPort && c.remoteAddress == remoteAddress
                && c.localAddress == localAddress;
    }

    TcpTuple find(int localAddress, int localPort, int remoteAddress, int remotePort) {
        TcpTuple recent = last;
        if (recent != null && matches(recent, localAddress, localPort, remoteAddress, remotePort)) {
            return recent;
        }
        int mask = slots.length - 1;
        for (int i = hash(localAddress, localPort, remoteAddress, remotePort) & mask; ; i = (i + 1) & mask) {
            TcpTuple c = slots[i];
            if (c == null) {
                return null;
            }
            if (matches(c, localAddress, localPort, remoteAddress, remotePort)) {
                last = c;
                return c;
            }
        }
    }

    /** Adds a connection whose 4-tuple is not in the table. */
    void add(TcpTuple c) {
        if ((size + 1) * 2 > slots.length) {
            resize(slots.length * 2);
        }
        insert(slots, c);
        size++;
    }

    private static void insert(TcpTuple[] table, TcpTuple c) {
        int mask = table.length - 1;
        int i = hash(c.localAddress, c.localPort, c.remoteAddress, c.remotePort) & mask;
        while (table[i] != null) {
            i = (i + 1) & mask;
        }
        table[i] = c;
    }

    private void resize(int capacity) {
        TcpTuple[] old = slots;
        slots = new TcpTuple[capacity];
        for (TcpTuple c : old) {
            if (c != null) {
                insert(slots, c);
            }
        }
    }

    /** Removes this exact connection object; nothing happens if it is not there. */
    void remove(TcpTuple c) {
        int mask = slots.length - 1;
        int i = hash(c.localAddress, c.localPort, c.remoteAddress, c.remotePort) & mask;
        while (slots[i] != null && slots[i] != c) {
            i = (i + 1) & mask;
        }
        if (slots[i] == null) {
            return;
        }
        if (last == c) {
            last = null;
        }
        slots[i] = null;
        size--;
        for (int j = (i + 1) & mask; slots[j] != null; j = (j + 1) & mask) {
            TcpTuple moved = slots[j];
            slots[j] = null;
            insert(slots, moved);
        }
    }

    int size() {
        return size;
    }

    /** Every connection, for shutdown and diagnostics (a copy, safe to modify the table while iterating it). */
    TcpTuple[] toArray() {
        TcpTuple[] out = new TcpTuple[size];
        int n = 0;
        for (TcpTuple c : slots) {
            if (c != null) {
                out[n++] = c;
            }
        }
        return out;
    }
}
