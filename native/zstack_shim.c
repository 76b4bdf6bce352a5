/*
 * ZStack's native shim over DPDK.
 *
 * DPDK's fast path (rx/tx burst, mbuf alloc/free, refcounts, attach) is static inline in its headers, so
 * Java cannot call it through the FFM linker. This file exports thin, non-inline wrappers for exactly those
 * functions, plus a layout table (struct offsets, field widths, flag values, bitfield positions) computed by
 * the compiler against the DPDK actually installed. The Java side takes every offset from that table.
 *
 * Rules: no allocation, no locking, no callbacks into Java on the fast path. Errors come back as negative errno
 * values. Port teardown (at the end of this file) is the exception: it allocates, waits and runs on DPDK's
 * interrupt thread, because that is the only way to keep it from racing the PMDs' own interrupt handlers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <xdp/xsk.h>

#include <rte_alarm.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>
#include <rte_version.h>

#define ZS_SHIM_ABI 2

/* ---- layout table ---------------------------------------------------------------------------------- */

enum zs_kind { ZS_OFFSET = 0, ZS_CONSTANT = 1, ZS_BITFIELD = 2 };

struct zs_layout_entry {
    const char *name;
    int64_t value;  /* byte offset, constant value, or bit shift */
    int32_t width;  /* field size in bytes, 0 for constants, bit count for bitfields */
    int32_t kind;
};

/* What the shim reports about a port; flat so Java reads it through the table like any DPDK struct. */
struct zs_port_info {
    uint64_t rx_offload_capa;
    uint64_t tx_offload_capa;
    uint64_t flow_type_rss_offloads;
    uint32_t max_rx_queues;
    uint32_t max_tx_queues;
    uint32_t min_mtu;
    uint32_t max_mtu;
    uint32_t max_rx_pktlen;
    uint32_t if_index;
    uint32_t link_speed;
    uint16_t mtu;
    uint8_t link_up;
    uint8_t link_full_duplex;
    int32_t socket_id;
    uint8_t mac[6];
    char driver_name[64];
    char device_name[64];
};

struct zs_port_stats {
    uint64_t ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf;
};

#define OFF(S, F, NAME) { NAME, (int64_t) offsetof(struct S, F), (int32_t) sizeof(((struct S *) 0)->F), ZS_OFFSET }
#define SIZE(S, NAME) { NAME, (int64_t) sizeof(struct S), 0, ZS_CONSTANT }
#define CONST(V, NAME) { NAME, (int64_t) (V), 0, ZS_CONSTANT }
#define BITS(NAME) { NAME, -1, 0, ZS_BITFIELD } /* filled in by zs_fill_bitfields */

static struct zs_layout_entry zs_layout_table[] = {
    SIZE(rte_mbuf, "mbuf.sizeof"),
    OFF(rte_mbuf, buf_addr, "mbuf.buf_addr"),
    OFF(rte_mbuf, buf_iova, "mbuf.buf_iova"),
    OFF(rte_mbuf, data_off, "mbuf.data_off"),
    OFF(rte_mbuf, refcnt, "mbuf.refcnt"),
    OFF(rte_mbuf, nb_segs, "mbuf.nb_segs"),
    OFF(rte_mbuf, port, "mbuf.port"),
    OFF(rte_mbuf, ol_flags, "mbuf.ol_flags"),
    OFF(rte_mbuf, packet_type, "mbuf.packet_type"),
    OFF(rte_mbuf, pkt_len, "mbuf.pkt_len"),
    OFF(rte_mbuf, data_len, "mbuf.data_len"),
    OFF(rte_mbuf, vlan_tci, "mbuf.vlan_tci"),
    OFF(rte_mbuf, hash.rss, "mbuf.hash_rss"),
    OFF(rte_mbuf, buf_len, "mbuf.buf_len"),
    OFF(rte_mbuf, pool, "mbuf.pool"),
    OFF(rte_mbuf, next, "mbuf.next"),
    OFF(rte_mbuf, tx_offload, "mbuf.tx_offload"),
    OFF(rte_mbuf, priv_size, "mbuf.priv_size"),
    BITS("mbuf.tx_offload.l2_len"),
    BITS("mbuf.tx_offload.l3_len"),
    BITS("mbuf.tx_offload.l4_len"),
    BITS("mbuf.tx_offload.tso_segsz"),
    CONST(RTE_PKTMBUF_HEADROOM, "mbuf.headroom"),
    CONST(RTE_MBUF_DEFAULT_BUF_SIZE, "mbuf.default_buf_size"),
    CONST(RTE_MBUF_MAX_NB_SEGS, "mbuf.max_nb_segs"),

    CONST(RTE_MBUF_F_RX_RSS_HASH, "ol.rx_rss_hash"),
    CONST(RTE_MBUF_F_RX_IP_CKSUM_MASK, "ol.rx_ip_cksum_mask"),
    CONST(RTE_MBUF_F_RX_IP_CKSUM_GOOD, "ol.rx_ip_cksum_good"),
    CONST(RTE_MBUF_F_RX_IP_CKSUM_BAD, "ol.rx_ip_cksum_bad"),
    CONST(RTE_MBUF_F_RX_L4_CKSUM_MASK, "ol.rx_l4_cksum_mask"),
    CONST(RTE_MBUF_F_RX_L4_CKSUM_GOOD, "ol.rx_l4_cksum_good"),
    CONST(RTE_MBUF_F_RX_L4_CKSUM_BAD, "ol.rx_l4_cksum_bad"),
    CONST(RTE_MBUF_F_TX_IPV4, "ol.tx_ipv4"),
    CONST(RTE_MBUF_F_TX_IP_CKSUM, "ol.tx_ip_cksum"),
    CONST(RTE_MBUF_F_TX_TCP_CKSUM, "ol.tx_tcp_cksum"),
    CONST(RTE_MBUF_F_TX_TCP_SEG, "ol.tx_tcp_seg"),
    CONST(RTE_MBUF_F_INDIRECT, "ol.indirect"),
    CONST(RTE_MBUF_F_EXTERNAL, "ol.external"),

    CONST(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM, "rxcapa.ipv4_cksum"),
    CONST(RTE_ETH_RX_OFFLOAD_TCP_CKSUM, "rxcapa.tcp_cksum"),
    CONST(RTE_ETH_RX_OFFLOAD_RSS_HASH, "rxcapa.rss_hash"),
    CONST(RTE_ETH_RX_OFFLOAD_SCATTER, "rxcapa.scatter"),
    CONST(RTE_ETH_TX_OFFLOAD_IPV4_CKSUM, "txcapa.ipv4_cksum"),
    CONST(RTE_ETH_TX_OFFLOAD_TCP_CKSUM, "txcapa.tcp_cksum"),
    CONST(RTE_ETH_TX_OFFLOAD_TCP_TSO, "txcapa.tcp_tso"),
    CONST(RTE_ETH_TX_OFFLOAD_MULTI_SEGS, "txcapa.multi_segs"),
    CONST(RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE, "txcapa.mbuf_fast_free"),
    CONST(RTE_ETH_RSS_IPV4, "rss.ipv4"),
    CONST(RTE_ETH_RSS_NONFRAG_IPV4_TCP, "rss.nonfrag_ipv4_tcp"),
    CONST(RTE_ETH_RSS_IP, "rss.ip"),
    CONST(RTE_ETH_RSS_TCP, "rss.tcp"),

    SIZE(zs_port_info, "port_info.sizeof"),
    OFF(zs_port_info, rx_offload_capa, "port_info.rx_offload_capa"),
    OFF(zs_port_info, tx_offload_capa, "port_info.tx_offload_capa"),
    OFF(zs_port_info, flow_type_rss_offloads, "port_info.flow_type_rss_offloads"),
    OFF(zs_port_info, max_rx_queues, "port_info.max_rx_queues"),
    OFF(zs_port_info, max_tx_queues, "port_info.max_tx_queues"),
    OFF(zs_port_info, min_mtu, "port_info.min_mtu"),
    OFF(zs_port_info, max_mtu, "port_info.max_mtu"),
    OFF(zs_port_info, max_rx_pktlen, "port_info.max_rx_pktlen"),
    OFF(zs_port_info, if_index, "port_info.if_index"),
    OFF(zs_port_info, link_speed, "port_info.link_speed"),
    OFF(zs_port_info, mtu, "port_info.mtu"),
    OFF(zs_port_info, link_up, "port_info.link_up"),
    OFF(zs_port_info, link_full_duplex, "port_info.link_full_duplex"),
    OFF(zs_port_info, socket_id, "port_info.socket_id"),
    OFF(zs_port_info, mac, "port_info.mac"),
    OFF(zs_port_info, driver_name, "port_info.driver_name"),
    OFF(zs_port_info, device_name, "port_info.device_name"),

    SIZE(zs_port_stats, "port_stats.sizeof"),
    OFF(zs_port_stats, ipackets, "port_stats.ipackets"),
    OFF(zs_port_stats, opackets, "port_stats.opackets"),
    OFF(zs_port_stats, ibytes, "port_stats.ibytes"),
    OFF(zs_port_stats, obytes, "port_stats.obytes"),
    OFF(zs_port_stats, imissed, "port_stats.imissed"),
    OFF(zs_port_stats, ierrors, "port_stats.ierrors"),
    OFF(zs_port_stats, oerrors, "port_stats.oerrors"),
    OFF(zs_port_stats, rx_nombuf, "port_stats.rx_nombuf"),

    CONST(RTE_MAX_ETHPORTS, "eth.max_ports"),
    CONST(RTE_MAX_LCORE, "lcore.max"),
    CONST(LCORE_ID_ANY, "lcore.id_any"),
    CONST(ZS_SHIM_ABI, "shim.abi"),
};

/* Bitfields have no offsetof: set all bits of one field in a zeroed union and find where they landed. */
#define BITFIELD_POSITION(FIELD, ENTRY)                                                                     \
    do {                                                                                                    \
        struct rte_mbuf m;                                                                                  \
        memset(&m, 0, sizeof m);                                                                            \
        m.FIELD = 0;                                                                                        \
        m.FIELD--; /* unsigned wrap: all ones, whatever the width */                                          \
        uint64_t v = m.tx_offload;                                                                          \
        (ENTRY)->value = v ? __builtin_ctzll(v) : -1;                                                       \
        (ENTRY)->width = __builtin_popcountll(v);                                                           \
    } while (0)

static void zs_fill_bitfields(void) {
    for (size_t i = 0; i < sizeof zs_layout_table / sizeof zs_layout_table[0]; i++) {
        struct zs_layout_entry *e = &zs_layout_table[i];
        if (e->kind != ZS_BITFIELD) continue;
        if (!strcmp(e->name, "mbuf.tx_offload.l2_len")) BITFIELD_POSITION(l2_len, e);
        else if (!strcmp(e->name, "mbuf.tx_offload.l3_len")) BITFIELD_POSITION(l3_len, e);
        else if (!strcmp(e->name, "mbuf.tx_offload.l4_len")) BITFIELD_POSITION(l4_len, e);
        else if (!strcmp(e->name, "mbuf.tx_offload.tso_segsz")) BITFIELD_POSITION(tso_segsz, e);
    }
}

const struct zs_layout_entry *zs_layout(int32_t *count) {
    zs_fill_bitfields();
    *count = (int32_t) (sizeof zs_layout_table / sizeof zs_layout_table[0]);
    return zs_layout_table;
}

int32_t zs_layout_entry_size(void) { return (int32_t) sizeof(struct zs_layout_entry); }

const char *zs_dpdk_version(void) { return rte_version(); }

/* ---- EAL ------------------------------------------------------------------------------------------- */

/*
 * rte_eal_init pins the calling thread to the main lcore's CPU set, and every thread that thread creates
 * afterwards inherits the pinning. In a JVM that would put every later thread on one core, so unless the
 * caller asks to keep it, the caller's affinity is restored once EAL is up.
 */
int32_t zs_eal_init(int32_t argc, char **argv, int32_t keep_affinity) {
    cpu_set_t saved;
    int have_saved = pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) == 0;
    int rc = rte_eal_init(argc, argv);
    int err = rc < 0 ? rte_errno : 0;
    if (!keep_affinity && have_saved) pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return rc < 0 ? -(err ? err : EINVAL) : rc;
}

int32_t zs_errno(void) { return rte_errno; }
uint32_t zs_lcore_id(void) { return rte_lcore_id(); }

int32_t zs_thread_register(void) { return rte_thread_register() == 0 ? (int32_t) rte_lcore_id() : -rte_errno; }
static void flush_lcore_cache(struct rte_mempool *mp, void *arg) {
    struct rte_mempool_cache *cache = rte_mempool_default_cache(mp, *(unsigned int *) arg);
    if (cache != NULL) rte_mempool_cache_flush(cache, mp);
}

/* Returns what the thread's mempool caches hold to their pools first: a cache whose lcore nobody holds would keep
 * its mbufs out of use until another thread happens to get the same lcore id. */
void zs_thread_unregister(void) {
    unsigned int lcore = rte_lcore_id();
    if (lcore != LCORE_ID_ANY) rte_mempool_walk(flush_lcore_cache, &lcore);
    rte_thread_unregister();
}

/* ---- mempool and mbuf ------------------------------------------------------------------------------ */

struct rte_mempool *zs_pktmbuf_pool_create(const char *name, uint32_t n, uint32_t cache, uint16_t data_room,
                                           int32_t socket, int32_t *err) {
    struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, 0, data_room, socket);
    *err = mp ? 0 : -rte_errno;
    return mp;
}

/*
 * A pktmbuf pool whose objects lie back to back at one stride in a single memory chunk, as net_af_xdp's zero-copy
 * umem assumes: it registers [first object's page, + count * object size) with the kernel. rte_pktmbuf_pool_create
 * keeps each object inside one page when pages are 4 KiB (--no-huge), so 2.4 KiB mbufs sit one per page and a
 * third of them fall past that range; the kernel then drops their fill and tx descriptors, those mbufs never come
 * back, and the port goes silent. Objects may cross page boundaries here, fine for af_xdp (the kernel copies by
 * virtual address) but not for a NIC doing DMA by physical address: use it only for af_xdp ports.
 */
struct rte_mempool *zs_pktmbuf_pool_create_packed(const char *name, uint32_t n, uint32_t cache, uint16_t data_room,
                                                  int32_t socket, int32_t *err) {
    struct rte_pktmbuf_pool_private priv = { .mbuf_data_room_size = data_room, .mbuf_priv_size = 0 };
    struct rte_mempool *mp = rte_mempool_create_empty(name, n, sizeof(struct rte_mbuf) + data_room, cache,
                                                      sizeof(priv), socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
    if (mp == NULL) {
        *err = -rte_errno;
        return NULL;
    }
    int ret = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
    if (ret == 0) {
        rte_pktmbuf_pool_init(mp, &priv);
        ret = rte_mempool_populate_default(mp);
        ret = ret < 0 ? ret : mp->nb_mem_chunks == 1 ? 0 : -ENOMEM; /* one chunk, or the umem cannot cover it */
    }
    if (ret != 0) {
        rte_mempool_free(mp);
        *err = ret;
        return NULL;
    }
    rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
    *err = 0;
    return mp;
}

void zs_mempool_free(struct rte_mempool *mp) { rte_mempool_free(mp); }
uint32_t zs_mempool_avail(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }
/* Free objects in the pool's own ring (its ops' count), no per-lcore cache included. */
uint32_t zs_mempool_ring_count(const struct rte_mempool *mp) { return rte_mempool_get_ops(mp->ops_index)->get_count(mp); }
/*
 * Whether at least n objects are free, as rte_mempool_avail_count(mp) >= n, but asking the pool's own ring first: the
 * count also sums every per-lcore cache, all RTE_MAX_LCORE (128) of them, 128 cache lines 2 KB apart, and TCP asks at
 * every receive burst (1.4 % of a 64 B echo server's cycles). The caches are summed only when the ring alone has
 * fewer than n.
 */
int32_t zs_mempool_has_free(const struct rte_mempool *mp, uint32_t n) {
    if (zs_mempool_ring_count(mp) >= n) {
        return 1;
    }
    return rte_mempool_avail_count(mp) >= n;
}
uint32_t zs_mempool_in_use(const struct rte_mempool *mp) { return rte_mempool_in_use_count(mp); }
uint32_t zs_mempool_size(const struct rte_mempool *mp) { return mp->size; }
uint16_t zs_pktmbuf_data_room(struct rte_mempool *mp) { return rte_pktmbuf_data_room_size(mp); }

struct rte_mbuf *zs_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }
int32_t zs_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, uint32_t n) {
    return rte_pktmbuf_alloc_bulk(mp, mbufs, n);
}
void zs_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
void zs_pktmbuf_free_seg(struct rte_mbuf *m) { rte_pktmbuf_free_seg(m); }
void zs_pktmbuf_free_bulk(struct rte_mbuf **mbufs, uint32_t n) { rte_pktmbuf_free_bulk(mbufs, n); }
uint16_t zs_mbuf_refcnt_read(const struct rte_mbuf *m) { return rte_mbuf_refcnt_read(m); }
uint16_t zs_mbuf_refcnt_update(struct rte_mbuf *m, int16_t v) { return rte_mbuf_refcnt_update(m, v); }
void zs_mbuf_refcnt_set(struct rte_mbuf *m, uint16_t v) { rte_mbuf_refcnt_set(m, v); }
int32_t zs_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail) { return rte_pktmbuf_chain(head, tail); }
void zs_pktmbuf_attach(struct rte_mbuf *mi, struct rte_mbuf *m) { rte_pktmbuf_attach(mi, m); }
void zs_pktmbuf_detach(struct rte_mbuf *m) { rte_pktmbuf_detach(m); }
struct rte_mbuf *zs_pktmbuf_clone(struct rte_mbuf *md, struct rte_mempool *mp) { return rte_pktmbuf_clone(md, mp); }
/* Native reference versions of the pure-arithmetic helpers, used by tests to check the Java versions. */
char *zs_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *zs_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
char *zs_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
int32_t zs_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
void *zs_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }

/* ---- ethdev ---------------------------------------------------------------------------------------- */

/* Hot-plugs a device from a devargs string ("net_tap0,iface=zs0") and returns its first port id. */
int32_t zs_dev_probe(const char *devargs, const char *name) {
    int rc = rte_dev_probe(devargs);
    if (rc < 0) return rc;
    uint16_t port;
    rc = rte_eth_dev_get_port_by_name(name, &port);
    return rc < 0 ? rc : (int32_t) port;
}

int32_t zs_port_by_name(const char *name) {
    uint16_t port;
    int rc = rte_eth_dev_get_port_by_name(name, &port);
    return rc < 0 ? rc : (int32_t) port;
}

uint16_t zs_port_count(void) { return rte_eth_dev_count_avail(); }

int32_t zs_port_info(uint16_t port, struct zs_port_info *out) {
    struct rte_eth_dev_info info;
    memset(out, 0, sizeof *out);
    int rc = rte_eth_dev_info_get(port, &info);
    if (rc < 0) return rc;
    out->rx_offload_capa = info.rx_offload_capa;
    out->tx_offload_capa = info.tx_offload_capa;
    out->flow_type_rss_offloads = info.flow_type_rss_offloads;
    out->max_rx_queues = info.max_rx_queues;
    out->max_tx_queues = info.max_tx_queues;
    out->min_mtu = info.min_mtu;
    out->max_mtu = info.max_mtu;
    out->max_rx_pktlen = info.max_rx_pktlen;
    out->if_index = info.if_index;
    out->socket_id = rte_eth_dev_socket_id(port);
    uint16_t mtu = 0;
    if (rte_eth_dev_get_mtu(port, &mtu) == 0) out->mtu = mtu;
    struct rte_eth_link link;
    memset(&link, 0, sizeof link);
    if (rte_eth_link_get_nowait(port, &link) == 0) {
        out->link_speed = link.link_speed;
        out->link_up = link.link_status;
        out->link_full_duplex = link.link_duplex;
    }
    struct rte_ether_addr mac;
    if (rte_eth_macaddr_get(port, &mac) == 0) memcpy(out->mac, mac.addr_bytes, 6);
    if (info.driver_name) strncpy(out->driver_name, info.driver_name, sizeof out->driver_name - 1);
    rte_eth_dev_get_name_by_port(port, out->device_name);
    return 0;
}

/*
 * Configures queues and offloads in one call, so that rte_eth_conf (large, version-dependent) never has to be
 * laid out in Java. Offload masks are taken as given: the Java side intersects them with the capabilities.
 */
int32_t zs_port_configure(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq, uint16_t nb_rxd, uint16_t nb_txd,
                          uint64_t rx_offloads, uint64_t tx_offloads, uint64_t rss_hf, uint16_t mtu,
                          struct rte_mempool *mp) {
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    conf.rxmode.offloads = rx_offloads;
    conf.txmode.offloads = tx_offloads;
    if (rss_hf && nb_rxq > 1) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    }
    if (mtu) conf.rxmode.mtu = mtu;
    int rc = rte_eth_dev_configure(port, nb_rxq, nb_txq, &conf);
    if (rc < 0) return rc;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    if (rc < 0) return rc;
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0) socket = SOCKET_ID_ANY;
    for (uint16_t q = 0; q < nb_rxq; q++) {
        struct rte_eth_rxconf rxconf;
        struct rte_eth_dev_info info;
        rc = rte_eth_dev_info_get(port, &info);
        if (rc < 0) return rc;
        rxconf = info.default_rxconf;
        rxconf.offloads = rx_offloads;
        rc = rte_eth_rx_queue_setup(port, q, nb_rxd, socket, &rxconf, mp);
        if (rc < 0) return rc;
    }
    for (uint16_t q = 0; q < nb_txq; q++) {
        struct rte_eth_txconf txconf;
        struct rte_eth_dev_info info;
        rc = rte_eth_dev_info_get(port, &info);
        if (rc < 0) return rc;
        txconf = info.default_txconf;
        txconf.offloads = tx_offloads;
        rc = rte_eth_tx_queue_setup(port, q, nb_txd, socket, &txconf);
        if (rc < 0) return rc;
    }
    return 0;
}

int32_t zs_port_start(uint16_t port) { return rte_eth_dev_start(port); }
int32_t zs_port_promiscuous(uint16_t port, int32_t on) {
    return on ? rte_eth_promiscuous_enable(port) : rte_eth_promiscuous_disable(port);
}
int32_t zs_port_set_mtu(uint16_t port, uint16_t mtu) { return rte_eth_dev_set_mtu(port, mtu); }

int32_t zs_port_stats(uint16_t port, struct zs_port_stats *out) {
    struct rte_eth_stats s;
    int rc = rte_eth_stats_get(port, &s);
    if (rc < 0) return rc;
    out->ipackets = s.ipackets;
    out->opackets = s.opackets;
    out->ibytes = s.ibytes;
    out->obytes = s.obytes;
    out->imissed = s.imissed;
    out->ierrors = s.ierrors;
    out->oerrors = s.oerrors;
    out->rx_nombuf = s.rx_nombuf;
    return 0;
}

int32_t zs_port_stats_reset(uint16_t port) { return rte_eth_stats_reset(port); }

uint16_t zs_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t n) {
    return rte_eth_rx_burst(port, queue, mbufs, n);
}

uint16_t zs_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t n) {
    return rte_eth_tx_burst(port, queue, mbufs, n);
}

uint16_t zs_tx_prepare(uint16_t port, uint16_t queue, struct rte_mbuf **mbufs, uint16_t n) {
    return rte_eth_tx_prepare(port, queue, mbufs, n);
}

int32_t zs_shim_abi(void) { return ZS_SHIM_ABI; }

/* ---- what a process holds: for tests that open and close ports repeatedly ---------------------------------- */

static void zs_count_pool(struct rte_mempool *mp, void *arg) { (void) mp; (*(int32_t *) arg)++; }

/* Mempools that exist in this process. */
int32_t zs_mempool_count(void) {
    int32_t count = 0;
    rte_mempool_walk(zs_count_pool, &count);
    return count;
}

/* Bytes of EAL's heap allocated now, summed over sockets (mempools, rings, PMD state). */
int64_t zs_heap_allocated_bytes(void) {
    int64_t total = 0;
    for (unsigned socket = 0; socket < RTE_MAX_NUMA_NODES; socket++) {
        struct rte_malloc_socket_stats stats;
        if (rte_malloc_get_socket_stats((int) socket, &stats) == 0) total += (int64_t) stats.heap_allocsz_bytes;
    }
    return total;
}

/* ---- port teardown ---------------------------------------------------------------------------------- */

/*
 * DPDK's interrupt thread runs the PMDs' own handlers: memif's tears a port down when its peer disconnects. Closing
 * or stopping a memif port from another thread at that moment frees the same regions twice (a crash in EAL's heap,
 * or "EAL: Error: Invalid memory"). So stops and closes run on that thread too, as an EAL alarm, one after another
 * with the handlers, and the caller waits. The job also enters the network namespace the port was opened in: the
 * af_packet and af_xdp PMDs and the interface restore below name the interface by name or index, and those mean
 * another interface (or none) in another namespace.
 */

enum zs_job_kind { ZS_JOB_STOP = 0, ZS_JOB_CLOSE = 1, ZS_JOB_SYNC = 2 };

struct zs_port_job {
    int kind;
    uint16_t port;
    int netns_fd;                /* -1: stay in the interrupt thread's namespace */
    char ifname[IF_NAMESIZE];    /* "" when the port has no kernel interface */
    uint32_t flags_to_clear;     /* interface flags this process turned on (IFF_PROMISC, IFF_ALLMULTI) */
    uint32_t xdp_prog_before;    /* the interface's XDP program id when the port was opened (0: none) */
    int32_t rc;
    int32_t restore_rc;
    sem_t done;
};

/* Clears the flags in mask that are set now. Only bits this process set are passed, so others' settings stay. */
static int zs_if_clear_flags(const char *ifname, uint32_t mask) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    int rc = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        rc = errno == ENODEV ? 0 : -errno; /* the interface is gone: nothing to restore */
    } else if (ifr.ifr_flags & mask) {
        ifr.ifr_flags &= ~mask;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) rc = -errno;
    }
    close(s);
    return rc;
}

/*
 * Detaches the XDP program now on the interface if it is not the one found there at open. libxdp attaches through a
 * bpf link that lives until the process exits, so the link is looked up by program id and detached; a program
 * attached through netlink is replaced by nothing, only if it is still that very program.
 */
static int zs_if_detach_new_xdp(const char *ifname, uint32_t prog_before) {
    int ifindex = (int) if_nametoindex(ifname);
    if (ifindex == 0) return 0;
    LIBBPF_OPTS(bpf_xdp_query_opts, query);
    int rc = bpf_xdp_query(ifindex, 0, &query);
    if (rc < 0) return rc;
    uint32_t now = query.prog_id;
    if (now == 0 || now == prog_before) return 0;
    uint32_t id = 0;
    while (bpf_link_get_next_id(id, &id) == 0) {
        int fd = bpf_link_get_fd_by_id(id);
        if (fd < 0) continue;
        struct bpf_link_info info;
        uint32_t len = sizeof info;
        memset(&info, 0, sizeof info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_XDP
            && info.prog_id == now && (int) info.xdp.ifindex == ifindex) {
            rc = bpf_link_detach(fd);
            close(fd);
            return rc;
        }
        close(fd);
    }
    int prog_fd = bpf_prog_get_fd_by_id(now);
    if (prog_fd < 0) return prog_fd;
    uint32_t mode = query.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE
                  : query.attach_mode == XDP_ATTACHED_HW ? XDP_FLAGS_HW_MODE : XDP_FLAGS_DRV_MODE;
    LIBBPF_OPTS(bpf_xdp_attach_opts, replace, .old_prog_fd = prog_fd);
    rc = bpf_xdp_detach(ifindex, XDP_FLAGS_REPLACE | mode, &replace);
    close(prog_fd);
    return rc;
}

/* Stops and closes the port, then removes its device (vdevs are freed; the PMD's threads and fds go). */
static int32_t zs_port_close_now(uint16_t port) {
    struct rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(port, &info);
    if (rc < 0) return rc;
    struct rte_device *dev = info.device;
    rte_eth_dev_stop(port);
    rc = rte_eth_dev_close(port);
    if (rc < 0) return rc;
    return dev ? rte_dev_remove(dev) : 0;
}

/* After a close: frees what net_af_xdp 22.11 leaks (see zs_af_xdp_capture_umems, at the end). */
struct zs_leaked_umem { void *info; struct xsk_umem *umem; int fd; ino_t inode; };
#define ZS_MAX_UMEMS 16
static int zs_af_xdp_capture_umems(uint16_t port, struct zs_leaked_umem *out);
static void zs_af_xdp_free_leaked_umems(struct zs_leaked_umem *umems, int count);

static void zs_port_job_run(void *arg) {
    struct zs_port_job *job = arg;
    int home = -1;
    job->rc = 0;
    job->restore_rc = 0;
    if (job->netns_fd >= 0) {
        home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (home < 0 || setns(job->netns_fd, CLONE_NEWNET) != 0) {
            job->rc = -errno;
            if (home >= 0) close(home);
            sem_post(&job->done);
            return;
        }
    }
    switch (job->kind) {
    case ZS_JOB_STOP:
        job->rc = rte_eth_dev_stop(job->port);
        break;
    case ZS_JOB_CLOSE: {
        struct zs_leaked_umem umems[ZS_MAX_UMEMS];
        int count = zs_af_xdp_capture_umems(job->port, umems);
        job->rc = zs_port_close_now(job->port);
        zs_af_xdp_free_leaked_umems(umems, count);
        if (job->ifname[0] != 0) {
            int rc = job->flags_to_clear ? zs_if_clear_flags(job->ifname, job->flags_to_clear) : 0;
            int xdp = zs_if_detach_new_xdp(job->ifname, job->xdp_prog_before);
            job->restore_rc = rc < 0 ? rc : xdp;
        }
        break;
    }
    default:
        break; /* ZS_JOB_SYNC: running at all means every handler queued before it has finished */
    }
    if (home >= 0) {
        if (setns(home, CLONE_NEWNET) != 0 && job->restore_rc == 0) job->restore_rc = -errno;
        close(home);
    }
    sem_post(&job->done);
}

/* Runs a job on the interrupt thread and waits for it (directly if the caller is that thread or no alarm can be set). */
static void zs_port_job_submit(struct zs_port_job *job) {
    sem_init(&job->done, 0, 0);
    if (rte_thread_is_intr() || rte_eal_alarm_set(1, zs_port_job_run, job) != 0) {
        zs_port_job_run(job);
    }
    while (sem_wait(&job->done) != 0 && errno == EINTR) {
    }
    sem_destroy(&job->done);
}

/*
 * Stops, closes and removes the port on the interrupt thread, inside the namespace netns_fd names (or -1), then gives
 * the interface back as it was found: flags_to_clear turned off, an XDP program other than xdp_prog_before detached.
 * Returns the close's result; *restore_rc the restore's (0, or a negative errno).
 */
int32_t zs_port_close_safely(uint16_t port, int32_t netns_fd, const char *ifname, uint32_t flags_to_clear,
                             uint32_t xdp_prog_before, int32_t *restore_rc) {
    struct zs_port_job *job = calloc(1, sizeof *job);
    if (job == NULL) return -ENOMEM;
    job->kind = ZS_JOB_CLOSE;
    job->port = port;
    job->netns_fd = netns_fd;
    if (ifname) snprintf(job->ifname, sizeof job->ifname, "%s", ifname);
    job->flags_to_clear = flags_to_clear;
    job->xdp_prog_before = xdp_prog_before;
    zs_port_job_submit(job);
    int32_t rc = job->rc;
    if (restore_rc) *restore_rc = job->restore_rc;
    free(job);
    return rc;
}

/* rte_eth_dev_stop on the interrupt thread (see above). */
int32_t zs_port_stop_safely(uint16_t port, int32_t netns_fd) {
    struct zs_port_job *job = calloc(1, sizeof *job);
    if (job == NULL) return -ENOMEM;
    job->kind = ZS_JOB_STOP;
    job->port = port;
    job->netns_fd = netns_fd;
    zs_port_job_submit(job);
    int32_t rc = job->rc;
    free(job);
    return rc;
}

/* Returns once every interrupt handler already running or queued (a memif peer's disconnect) has finished. */
int32_t zs_interrupt_thread_sync(void) {
    struct zs_port_job *job = calloc(1, sizeof *job);
    if (job == NULL) return -ENOMEM;
    job->kind = ZS_JOB_SYNC;
    job->netns_fd = -1;
    zs_port_job_submit(job);
    free(job);
    return 0;
}

/* The calling thread's network namespace, as a file descriptor to pass to the calls above; close it with zs_fd_close. */
int32_t zs_netns_open(void) {
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void zs_fd_close(int32_t fd) {
    if (fd >= 0) close(fd);
}

/*
 * The interface's flags and XDP program id, in the calling thread's namespace: what a port must give back at close.
 * Returns 0, or -ENODEV when there is no such interface.
 */
int32_t zs_if_state(const char *ifname, uint32_t *flags, uint32_t *xdp_prog) {
    int ifindex = (int) if_nametoindex(ifname);
    if (ifindex == 0) return -ENODEV;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ? -errno : 0;
    close(s);
    if (rc < 0) return rc;
    *flags = (uint16_t) ifr.ifr_flags;
    LIBBPF_OPTS(bpf_xdp_query_opts, query);
    *xdp_prog = bpf_xdp_query(ifindex, 0, &query) == 0 ? query.prog_id : 0;
    return 0;
}

/*
 * net_af_xdp (DPDK 22.11) keeps the mbufs of its umem in the kernel's rings and forgets them at close. What it holds
 * is exact from its own ring indices, which only it writes: fill entries it produced that it has not yet taken back
 * from the rx ring, and transmit descriptors it produced whose completions it has not yet taken. Its queue structs
 * are private to the PMD; this mirrors their heads (22.11) and checks the mirror against the port and pool it must
 * point to. Read it while nobody polls the port. Returns the count, or -ENOTSUP if the layout does not match.
 */
struct zs_af_xdp_rx_head {
    struct xsk_ring_cons rx;
    void *umem;
    void *xsk;
    struct rte_mempool *mb_pool;
    uint16_t port;
    uint64_t stats[3];
    struct xsk_ring_prod fq;
    struct xsk_ring_cons cq;
    void *pair;
};

struct zs_af_xdp_tx_head {
    struct xsk_ring_prod tx;
    void *umem;
    uint64_t stats[3];
    struct zs_af_xdp_rx_head *pair;
};

int32_t zs_af_xdp_mbufs_held(uint16_t port, struct rte_mempool *mp) {
    struct rte_eth_dev_info info;
    if (rte_eth_dev_info_get(port, &info) != 0 || info.driver_name == NULL
        || strcmp(info.driver_name, "net_af_xdp") != 0 || port >= RTE_MAX_ETHPORTS) {
        return -ENOTSUP;
    }
    struct rte_eth_fp_ops *ops = &rte_eth_fp_ops[port];
    int64_t held = 0;
    for (uint16_t q = 0; q < info.nb_rx_queues; q++) {
        struct zs_af_xdp_rx_head *rxq = ops->rxq.data ? ops->rxq.data[q] : NULL;
        struct zs_af_xdp_tx_head *txq = ops->txq.data && q < info.nb_tx_queues ? ops->txq.data[q] : NULL;
        if (rxq == NULL || rxq->port != port || rxq->mb_pool != mp || rxq->fq.producer == NULL
            || rxq->rx.consumer == NULL || (txq != NULL && txq->pair != rxq)) {
            return -ENOTSUP;
        }
        held += (uint32_t) (__atomic_load_n(rxq->fq.producer, __ATOMIC_ACQUIRE)
                            - __atomic_load_n(rxq->rx.consumer, __ATOMIC_ACQUIRE));
        if (txq != NULL && txq->tx.producer != NULL && rxq->cq.consumer != NULL) {
            held += (uint32_t) (__atomic_load_n(txq->tx.producer, __ATOMIC_ACQUIRE)
                                - __atomic_load_n(rxq->cq.consumer, __ATOMIC_ACQUIRE));
        }
    }
    return (int32_t) held;
}

/*
 * net_af_xdp 22.11 never destroys its umem at close (it tests the decremented reference count minus one against
 * zero), so the umem's socket stays open and bound to the interface queue: the next port on that queue fails with
 * EBUSY, and the umem's kernel rings and state are lost. Before the close this notes each umem and its socket; after
 * it, a socket that is still the same open file means the PMD leaked it, and the umem is deleted as the PMD meant to.
 * A PMD that destroyed it closed that descriptor, so nothing is touched twice.
 */
struct zs_af_xdp_umem_head {
    struct xsk_umem *umem;
    void *buf_ring;
    const void *mz;
    struct rte_mempool *mb_pool;
};

static int zs_af_xdp_capture_umems(uint16_t port, struct zs_leaked_umem *out) {
    struct rte_eth_dev_info info;
    if (rte_eth_dev_info_get(port, &info) != 0 || info.driver_name == NULL
        || strcmp(info.driver_name, "net_af_xdp") != 0 || port >= RTE_MAX_ETHPORTS) {
        return 0;
    }
    struct rte_eth_fp_ops *ops = &rte_eth_fp_ops[port];
    int count = 0;
    for (uint16_t q = 0; q < info.nb_rx_queues && count < ZS_MAX_UMEMS && ops->rxq.data; q++) {
        struct zs_af_xdp_rx_head *rxq = ops->rxq.data[q];
        if (rxq == NULL || rxq->port != port || rxq->umem == NULL) continue;
        struct zs_af_xdp_umem_head *head = rxq->umem;
        if (head->umem == NULL || head->mb_pool != rxq->mb_pool) continue; /* not the layout this mirrors */
        int seen = 0;
        for (int i = 0; i < count; i++) seen |= out[i].info == head;
        if (seen) continue;
        struct stat st;
        int fd = xsk_umem__fd(head->umem);
        if (fd < 0 || fstat(fd, &st) != 0) continue;
        out[count++] = (struct zs_leaked_umem) { head, head->umem, fd, st.st_ino };
    }
    return count;
}

static void zs_af_xdp_free_leaked_umems(struct zs_leaked_umem *umems, int count) {
    for (int i = 0; i < count; i++) {
        struct stat st;
        if (fstat(umems[i].fd, &st) != 0 || st.st_ino != umems[i].inode) continue; /* the PMD closed it */
        if (xsk_umem__delete(umems[i].umem) == 0) rte_free(umems[i].info);
    }
}
