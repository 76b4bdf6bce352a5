package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.zstack.buffer.JavaMbufPool;
import io.zstack.device.LoopbackDevice;
import io.zstack.device.NoLinkDevice;
import io.zstack.ip.ArpCache;
import io.zstack.ip.Ipv4Config;
import io.zstack.ip.Ipv4Layer;
import io.zstack.wire.MacAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The 4-tuple table on its own: lookups, growth, and removals inside probe chains. */
class ConnectionTableTest {
    private static final int LOCAL = 0x0a000001;
    private final JavaMbufPool pool = new JavaMbufPool("table", 64, 2176);
    /** A TCP layer over an IP layer with no link: connections need one, nothing is sent. */
    private final TcpLayer layer = new TcpLayer(new Ipv4Layer(new NoLinkDevice("nolink", pool,
            MacAddress.of(0x02_00_00_00_00_01L), false), new LoopbackDevice(pool), Ipv4Config.parse("10.0.0.1/24",
            null), ArpCache.withDefaults()), pool, TcpSettings.defaults(), new IsnGenerator(1, 2), 1, 0);
    private final ConnectionTable table = new ConnectionTable();

    @AfterEach
    void poolUntouched() {
        assertEquals(pool.capacity(), pool.available());
    }

    private TcpConnection connection(int localPort, int remoteAddress, int remotePort) {
        return new TcpConnection(layer, TcpSettings.defaults(), LOCAL, localPort, remoteAddress, remotePort);
    }

    private TcpTuple find(TcpConnection c) {
        return table.find(c.localAddress, c.localPort, c.remoteAddress, c.remotePort);
    }

    @Test
    void findsWhatWasAddedAndNothingElse() {
        TcpConnection a = connection(80, 0x0a000002, 40000);
        table.add(a);
        assertSame(a, find(a));
        assertEquals(1, table.size());
        // one field different each time: another connection
        assertNull(table.find(LOCAL, 80, 0x0a000002, 40001));
        assertNull(table.find(LOCAL, 81, 0x0a000002, 40000));
        assertNull(table.find(LOCAL, 80, 0x0a000003, 40000));
        assertNull(table.find(LOCAL + 1, 80, 0x0a000002, 40000));
    }

    /** 5000 connections grow the table from 1024 slots several times; every one is still found. */
    @Test
    void growingKeepsEveryConnection() {
        List<TcpConnection> all = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            TcpConnection c = connection(80, 0x0a000000 | (i >>> 8), 1024 + i);
            table.add(c);
            all.add(c);
        }
        assertEquals(5000, table.size());
        for (TcpConnection c : all) {
            assertSame(c, find(c));
        }
        assertEquals(new HashSet<>(all), new HashSet<>(Arrays.asList(table.toArray())));
    }

    /**
     * Connections whose hashes share a slot form one probe chain; removing one from the middle re-seats those after
     * it, so each is still found (no tombstones, no lost entries).
     */
    @Test
    void removingFromTheMiddleOfAProbeChainKeepsTheRestReachable() {
        int slotMask = 1023; // the table's first size: keep under half full so it does not grow
        int wanted = ConnectionTable.hash(LOCAL, 80, 0x0a000002, 1) & slotMask;
        List<TcpConnection> chain = new ArrayList<>();
        for (int port = 1; chain.size() < 6; port++) {
            if ((ConnectionTable.hash(LOCAL, 80, 0x0a000002, port) & slotMask) == wanted) {
                chain.add(connection(80, 0x0a000002, port));
            }
        }
        chain.forEach(table::add);
        table.remove(chain.get(2));
        table.remove(chain.get(0));
        assertEquals(4, table.size());
        assertNull(find(chain.get(2)));
        assertNull(find(chain.get(0)));
        for (TcpConnection c : List.of(chain.get(1), chain.get(3), chain.get(4), chain.get(5))) {
            assertSame(c, find(c));
        }
        table.remove(chain.get(2)); // not there any more: nothing happens
        assertEquals(4, table.size());
    }

    /**
     * The table remembers the connection it found last (a burst of segments mostly belongs to one): once removed, that
     * connection is not found any more, and a new one with the same 4-tuple (a TIME_WAIT taken over) is.
     */
    @Test
    void theLastConnectionFoundIsForgottenWhenRemoved() {
        TcpConnection a = connection(80, 0x0a000002, 40000);
        table.add(a);
        assertSame(a, find(a));
        assertSame(a, find(a));
        table.remove(a);
        assertNull(find(a));
        TcpConnection again = connection(80, 0x0a000002, 40000);
        table.add(again);
        assertSame(again, find(again));
    }

    /** Removal takes the very object given: another connection with the same 4-tuple is not removed. */
    @Test
    void removeTakesOnlyThatObject() {
        TcpConnection a = connection(80, 0x0a000002, 40000);
        table.add(a);
        table.remove(connection(80, 0x0a000002, 40000));
        assertSame(a, find(a));
        assertEquals(1, table.size());
    }

    /** Seeded random adds and removes, against a HashMap of the same tuples. */
    @Test
    void randomUseAgreesWithAMap() {
        SplittableRandom random = new SplittableRandom(3);
        Map<Long, TcpConnection> model = new HashMap<>();
        for (int step = 0; step < 30_000; step++) {
            // a small tuple space, so adds, removes and misses all happen often
            int port = 1 + random.nextInt(3000);
            int remote = 0x0a000002 + random.nextInt(2);
            long key = ((long) remote << 16) | port;
            TcpConnection present = model.get(key);
            if (present == null && random.nextInt(3) > 0) {
                TcpConnection c = connection(80, remote, port);
                table.add(c);
                model.put(key, c);
            } else if (present != null && random.nextBoolean()) {
                table.remove(present);
                model.remove(key);
            }
            assertSame(model.get(key), table.find(LOCAL, 80, remote, port), "step " + step);
        }
        assertEquals(model.size(), table.size());
        Set<TcpTuple> listed = new HashSet<>(Arrays.asList(table.toArray()));
        assertEquals(new HashSet<>(model.values()), listed);
        for (TcpConnection c : model.values()) {
            assertSame(c, find(c));
        }
    }
}
