package io.zstack.dpdk;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * Every downcall into native/zstack_shim.c, in one place, in jextract's style: one static final handle and
 * one static method per C function.
 *
 * <p>Pointers to mbufs and mempools are passed as {@code long} (same register class as a pointer on LP64),
 * so the hot path allocates no {@link MemorySegment}. Calls that never block and never call back into Java
 * are linked with {@code Linker.Option.critical(false)}, which skips the thread-state transition
 * (measured ~5 ns instead of ~11 ns per call). Only {@link NativeShim} decides whether this class may be
 * initialised: callers go through {@link Dpdk#shim()} first, so a missing DPDK is reported clearly.
 */
final class Shim {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LOOKUP = NativeShim.lookup();
    private static final Linker.Option CRITICAL = Linker.Option.critical(false);

    private Shim() {
    }

    private static MethodHandle handle(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        MemorySegment symbol = LOOKUP.find(name)
                .orElseThrow(() -> new DpdkUnavailableException("ZStack's native shim has no symbol " + name
                        + ": the shim and the transport jar come from different builds"));
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    private static AssertionError unreachable(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new AssertionError("native call failed", t);
    }

    // ---- layout and version

    private static final MethodHandle LAYOUT = handle("zs_layout", FunctionDescriptor.of(ADDRESS, ADDRESS));
    private static final MethodHandle LAYOUT_ENTRY_SIZE = handle("zs_layout_entry_size", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle DPDK_VERSION = handle("zs_dpdk_version", FunctionDescriptor.of(ADDRESS));
    private static final MethodHandle SHIM_ABI = handle("zs_shim_abi", FunctionDescriptor.of(JAVA_INT));

    static MemorySegment layout(MemorySegment count) {
        try {
            return (MemorySegment) LAYOUT.invokeExact(count);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int layoutEntrySize() {
        try {
            return (int) LAYOUT_ENTRY_SIZE.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static MemorySegment dpdkVersion() {
        try {
            return (MemorySegment) DPDK_VERSION.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int shimAbi() {
        try {
            return (int) SHIM_ABI.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    // ---- EAL and threads

    private static final MethodHandle EAL_INIT = handle("zs_eal_init", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle ERRNO = handle("zs_errno", FunctionDescriptor.of(JAVA_INT), CRITICAL);
    private static final MethodHandle STRERROR = handle("rte_strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle LCORE_ID = handle("zs_lcore_id", FunctionDescriptor.of(JAVA_INT), CRITICAL);
    private static final MethodHandle THREAD_REGISTER = handle("zs_thread_register", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle THREAD_UNREGISTER = handle("zs_thread_unregister", FunctionDescriptor.ofVoid());

    static int ealInit(int argc, MemorySegment argv, int keepAffinity) {
        try {
            return (int) EAL_INIT.invokeExact(argc, argv, keepAffinity);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int errno() {
        try {
            return (int) ERRNO.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static MemorySegment strerror(int errno) {
        try {
            return (MemorySegment) STRERROR.invokeExact(errno);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int lcoreId() {
        try {
            return (int) LCORE_ID.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int threadRegister() {
        try {
            return (int) THREAD_REGISTER.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static void threadUnregister() {
        try {
            THREAD_UNREGISTER.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    // ---- EAL's memory (exported by librte_eal itself, found through the shim's dependencies)

    private static final MethodHandle HAS_HUGEPAGES = handle("rte_eal_has_hugepages", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle SINGLE_FILE_SEGMENTS = handle("rte_mcfg_get_single_file_segments",
            FunctionDescriptor.of(JAVA_BOOLEAN));

    static int hasHugepages() {
        try {
            return (int) HAS_HUGEPAGES.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static boolean singleFileSegments() {
        try {
            return (boolean) SINGLE_FILE_SEGMENTS.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    // ---- mempool

    private static final MethodHandle POOL_CREATE = handle("zs_pktmbuf_pool_create",
            FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT, JAVA_SHORT, JAVA_INT, ADDRESS));
    private static final MethodHandle POOL_CREATE_PACKED = handle("zs_pktmbuf_pool_create_packed",
            FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT, JAVA_SHORT, JAVA_INT, ADDRESS));
    private static final MethodHandle POOL_FREE = handle("zs_mempool_free", FunctionDescriptor.ofVoid(JAVA_LONG));
    private static final MethodHandle POOL_AVAIL = handle("zs_mempool_avail", FunctionDescriptor.of(JAVA_INT, JAVA_LONG), CRITICAL);
    private static final MethodHandle POOL_HAS_FREE = handle("zs_mempool_has_free",
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT), CRITICAL);
    private static final MethodHandle POOL_IN_USE = handle("zs_mempool_in_use", FunctionDescriptor.of(JAVA_INT, JAVA_LONG), CRITICAL);
    private static final MethodHandle POOL_RING_COUNT = handle("zs_mempool_ring_count", FunctionDescriptor.of(JAVA_INT, JAVA_LONG), CRITICAL);
    private static final MethodHandle POOL_SIZE = handle("zs_mempool_size", FunctionDescriptor.of(JAVA_INT, JAVA_LONG), CRITICAL);
    private static final MethodHandle POOL_DATA_ROOM = handle("zs_pktmbuf_data_room", FunctionDescriptor.of(JAVA_SHORT, JAVA_LONG), CRITICAL);

    static long poolCreate(MemorySegment name, int n, int cache, short dataRoom, int socket, MemorySegment err) {
        try {
            return (long) POOL_CREATE.invokeExact(name, n, cache, dataRoom, socket, err);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static long poolCreatePacked(MemorySegment name, int n, int cache, short dataRoom, int socket,
                                 MemorySegment err) {
        try {
            return (long) POOL_CREATE_PACKED.invokeExact(name, n, cache, dataRoom, socket, err);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static void poolFree(long pool) {
        try {
            POOL_FREE.invokeExact(pool);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int poolAvailable(long pool) {
        try {
            return (int) POOL_AVAIL.invokeExact(pool);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static boolean poolHasFree(long pool, int n) {
        try {
            return (int) POOL_HAS_FREE.invokeExact(pool, n) != 0;
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int poolInUse(long pool) {
        try {
            return (int) POOL_IN_USE.invokeExact(pool);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int poolRingCount(long pool) {
        try {
            return (int) POOL_RING_COUNT.invokeExact(pool);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int poolSize(long pool) {
        try {
            return (int) POOL_SIZE.invokeExact(pool);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int poolDataRoom(long pool) {
        try {
            return Short.toUnsignedInt((short) POOL_DATA_ROOM.invokeExact(pool));
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    // ---- mbuf

    private static final MethodHandle ALLOC = handle("zs_pktmbuf_alloc", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG), CRITICAL);
    private static final MethodHandle ALLOC_BULK = handle("zs_pktmbuf_alloc_bulk",
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT), CRITICAL);
    private static final MethodHandle FREE = handle("zs_pktmbuf_free", FunctionDescriptor.ofVoid(JAVA_LONG), CRITICAL);
    private static final MethodHandle FREE_SEG = handle("zs_pktmbuf_free_seg", FunctionDescriptor.ofVoid(JAVA_LONG), CRITICAL);
    private static final MethodHandle FREE_BULK = handle("zs_pktmbuf_free_bulk", FunctionDescriptor.ofVoid(JAVA_LONG, JAVA_INT), CRITICAL);
    private static final MethodHandle REFCNT_READ = handle("zs_mbuf_refcnt_read", FunctionDescriptor.of(JAVA_SHORT, JAVA_LONG), CRITICAL);
    private static final MethodHandle REFCNT_UPDATE = handle("zs_mbuf_refcnt_update",
            FunctionDescriptor.of(JAVA_SHORT, JAVA_LONG, JAVA_SHORT), CRITICAL);
    private static final MethodHandle REFCNT_SET = handle("zs_mbuf_refcnt_set", FunctionDescriptor.ofVoid(JAVA_LONG, JAVA_SHORT), CRITICAL);
    private static final MethodHandle CHAIN = handle("zs_pktmbuf_chain", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG), CRITICAL);
    private static final MethodHandle ATTACH = handle("zs_pktmbuf_attach", FunctionDescriptor.ofVoid(JAVA_LONG, JAVA_LONG), CRITICAL);
    private static final MethodHandle DETACH = handle("zs_pktmbuf_detach", FunctionDescriptor.ofVoid(JAVA_LONG), CRITICAL);
    private static final MethodHandle CLONE = handle("zs_pktmbuf_clone", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG), CRITICAL);
    private static final MethodHandle PREPEND = handle("zs_pktmbuf_prepend", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_SHORT));
    private static final MethodHandle APPEND = handle("zs_pktmbuf_append", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_SHORT));
    private static final MethodHandle ADJ = handle("zs_pktmbuf_adj", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_SHORT));
    private static final MethodHandle TRIM = handle("zs_pktmbuf_trim", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_SHORT));
    private static final MethodHandle MTOD = handle("zs_pktmbuf_mtod", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG));

    static long alloc(long pool) {
        try {
            return (long) ALLOC.invokeExact(pool);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int allocBulk(long pool, long array, int n) {
        try {
            return (int) ALLOC_BULK.invokeExact(pool, array, n);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static void free(long m) {
        try {
            FREE.invokeExact(m);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static void freeSegment(long m) {
        try {
            FREE_SEG.invokeExact(m);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static void freeBulk(long array, int n) {
        try {
            FREE_BULK.invokeExact(array, n);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int refcntRead(long m) {
        try {
            return Short.toUnsignedInt((short) REFCNT_READ.invokeExact(m));
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int refcntUpdate(long m, short delta) {
        try {
            return Short.toUnsignedInt((short) REFCNT_UPDATE.invokeExact(m, delta));
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static void refcntSet(long m, short value) {
        try {
            REFCNT_SET.invokeExact(m, value);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int chain(long head, long tail) {
        try {
            return (int) CHAIN.invokeExact(head, tail);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static void attach(long indirect, long direct) {
        try {
            ATTACH.invokeExact(indirect, direct);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static void detach(long m) {
        try {
            DETACH.invokeExact(m);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static long cloneMbuf(long m, long pool) {
        try {
            return (long) CLONE.invokeExact(m, pool);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static long prepend(long m, short len) {
        try {
            return (long) PREPEND.invokeExact(m, len);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static long append(long m, short len) {
        try {
            return (long) APPEND.invokeExact(m, len);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static long adj(long m, short len) {
        try {
            return (long) ADJ.invokeExact(m, len);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int trim(long m, short len) {
        try {
            return (int) TRIM.invokeExact(m, len);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static long mtod(long m) {
        try {
            return (long) MTOD.invokeExact(m);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    // ---- ethdev

    private static final MethodHandle DEV_PROBE = handle("zs_dev_probe", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle PORT_BY_NAME = handle("zs_port_by_name", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle PORT_COUNT = handle("zs_port_count", FunctionDescriptor.of(JAVA_SHORT));
    private static final MethodHandle PORT_INFO = handle("zs_port_info", FunctionDescriptor.of(JAVA_INT, JAVA_SHORT, ADDRESS));
    private static final MethodHandle PORT_CONFIGURE = handle("zs_port_configure", FunctionDescriptor.of(JAVA_INT,
            JAVA_SHORT, JAVA_SHORT, JAVA_SHORT, JAVA_SHORT, JAVA_SHORT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_SHORT, JAVA_LONG));
    private static final MethodHandle PORT_START = handle("zs_port_start", FunctionDescriptor.of(JAVA_INT, JAVA_SHORT));
    private static final MethodHandle PORT_PROMISCUOUS = handle("zs_port_promiscuous", FunctionDescriptor.of(JAVA_INT, JAVA_SHORT, JAVA_INT));
    private static final MethodHandle PORT_SET_MTU = handle("zs_port_set_mtu", FunctionDescriptor.of(JAVA_INT, JAVA_SHORT, JAVA_SHORT));
    private static final MethodHandle PORT_STATS = handle("zs_port_stats", FunctionDescriptor.of(JAVA_INT, JAVA_SHORT, ADDRESS));
    private static final MethodHandle PORT_STATS_RESET = handle("zs_port_stats_reset", FunctionDescriptor.of(JAVA_INT, JAVA_SHORT));
    private static final MethodHandle RX_BURST = handle("zs_rx_burst",
            FunctionDescriptor.of(JAVA_SHORT, JAVA_SHORT, JAVA_SHORT, JAVA_LONG, JAVA_SHORT), CRITICAL);
    private static final MethodHandle TX_BURST = handle("zs_tx_burst",
            FunctionDescriptor.of(JAVA_SHORT, JAVA_SHORT, JAVA_SHORT, JAVA_LONG, JAVA_SHORT), CRITICAL);
    private static final MethodHandle TX_PREPARE = handle("zs_tx_prepare",
            FunctionDescriptor.of(JAVA_SHORT, JAVA_SHORT, JAVA_SHORT, JAVA_LONG, JAVA_SHORT), CRITICAL);

    static int devProbe(MemorySegment devargs, MemorySegment name) {
        try {
            return (int) DEV_PROBE.invokeExact(devargs, name);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }


    static int portByName(MemorySegment name) {
        try {
            return (int) PORT_BY_NAME.invokeExact(name);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int portCount() {
        try {
            return Short.toUnsignedInt((short) PORT_COUNT.invokeExact());
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int portInfo(short port, MemorySegment out) {
        try {
            return (int) PORT_INFO.invokeExact(port, out);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int portConfigure(short port, short rxQueues, short txQueues, short rxDescriptors, short txDescriptors,
                             long rxOffloads, long txOffloads, long rssHashFunctions, short mtu, long pool) {
        try {
            return (int) PORT_CONFIGURE.invokeExact(port, rxQueues, txQueues, rxDescriptors, txDescriptors,
                    rxOffloads, txOffloads, rssHashFunctions, mtu, pool);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int portStart(short port) {
        try {
            return (int) PORT_START.invokeExact(port);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }


    static int portPromiscuous(short port, int on) {
        try {
            return (int) PORT_PROMISCUOUS.invokeExact(port, on);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int portSetMtu(short port, short mtu) {
        try {
            return (int) PORT_SET_MTU.invokeExact(port, mtu);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int portStats(short port, MemorySegment out) {
        try {
            return (int) PORT_STATS.invokeExact(port, out);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int portStatsReset(short port) {
        try {
            return (int) PORT_STATS_RESET.invokeExact(port);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int rxBurst(short port, short queue, long array, short n) {
        try {
            return Short.toUnsignedInt((short) RX_BURST.invokeExact(port, queue, array, n));
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int txBurst(short port, short queue, long array, short n) {
        try {
            return Short.toUnsignedInt((short) TX_BURST.invokeExact(port, queue, array, n));
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int txPrepare(short port, short queue, long array, short n) {
        try {
            return Short.toUnsignedInt((short) TX_PREPARE.invokeExact(port, queue, array, n));
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    // ---- port teardown (on DPDK's interrupt thread, in the port's network namespace; see the shim)

    private static final MethodHandle PORT_CLOSE_SAFELY = handle("zs_port_close_safely",
            FunctionDescriptor.of(JAVA_INT, JAVA_SHORT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle PORT_STOP_SAFELY = handle("zs_port_stop_safely",
            FunctionDescriptor.of(JAVA_INT, JAVA_SHORT, JAVA_INT));
    private static final MethodHandle INTERRUPT_THREAD_SYNC = handle("zs_interrupt_thread_sync",
            FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle NETNS_OPEN = handle("zs_netns_open", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle FD_CLOSE = handle("zs_fd_close", FunctionDescriptor.ofVoid(JAVA_INT));
    private static final MethodHandle IF_STATE = handle("zs_if_state",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle AF_XDP_MBUFS_HELD = handle("zs_af_xdp_mbufs_held",
            FunctionDescriptor.of(JAVA_INT, JAVA_SHORT, JAVA_LONG));

    static int portCloseSafely(short port, int netnsFd, MemorySegment ifname, int flagsToClear, int xdpProgBefore,
                               MemorySegment restoreRc) {
        try {
            return (int) PORT_CLOSE_SAFELY.invokeExact(port, netnsFd, ifname, flagsToClear, xdpProgBefore, restoreRc);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int portStopSafely(short port, int netnsFd) {
        try {
            return (int) PORT_STOP_SAFELY.invokeExact(port, netnsFd);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int interruptThreadSync() {
        try {
            return (int) INTERRUPT_THREAD_SYNC.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int netnsOpen() {
        try {
            return (int) NETNS_OPEN.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static void fdClose(int fd) {
        try {
            FD_CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int ifState(MemorySegment ifname, MemorySegment flags, MemorySegment xdpProg) {
        try {
            return (int) IF_STATE.invokeExact(ifname, flags, xdpProg);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static int afXdpMbufsHeld(short port, long pool) {
        try {
            return (int) AF_XDP_MBUFS_HELD.invokeExact(port, pool);
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    private static final MethodHandle MEMPOOL_COUNT = handle("zs_mempool_count", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle HEAP_ALLOCATED = handle("zs_heap_allocated_bytes", FunctionDescriptor.of(JAVA_LONG));

    static int mempoolCount() {
        try {
            return (int) MEMPOOL_COUNT.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }

    static long heapAllocatedBytes() {
        try {
            return (long) HEAP_ALLOCATED.invokeExact();
        } catch (Throwable t) {
            throw unreachable(t);
        }
    }
}
