/*
 * HTTP echo server on F-stack's socket API with the behaviour of example-http-echo (see http_echo.h), written for
 * the ZStack benchmark harness (issue 14). One process, one lcore, busy-polling (F-stack's ff_run loop).
 *
 *   {zstack,fstack}-echo [--port PORT] --conf CONFIG.ini [F-stack's other options]
 *
 * Two builds of this file:
 *   -DZS_ZERO_COPY (bin/zstack-echo, linked with Z-stack's libfstack): the paper's z_read / z_write. A read hands
 *     over the received mbufs; the body is echoed in the very DPDK mbufs it arrived in (the request's bytes in front
 *     of it are overwritten by the response head when there is room), each mbuf written with z_write, which Z-stack
 *     sends by prepending the frame headers into the mbuf's headroom. GET /size/N is written straight into mbufs
 *     from a pool of this process. Mbufs that carry nothing to send back are freed as soon as they are parsed.
 *   default (bin/fstack-echo, plain F-stack): ff_read into a buffer, ff_writev of head and body (the stack copies).
 *
 * Limits of Z-stack's zero-copy path that shape the first build (see bench/peers/README.md): a segment is sent
 * without a copy only when it carries exactly one whole mbuf, so every mbuf written holds at most one segment
 * (1448 bytes) and the socket has TCP_NODELAY (each z_write goes out as its own segment); a z_write that does not
 * fit in the send buffer fails and frees the mbuf, so the send buffer is made large (the benchmark keeps one
 * request in flight per connection).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "ff_api.h"
#include "ff_config.h"
#include "ff_epoll.h"

static int ep;
static volatile sig_atomic_t stop;

static void ep_watch(int fd, int writable, int op)
{
    struct epoll_event e = { .events = EPOLLIN | (writable ? EPOLLOUT : 0), .data.fd = fd };
    ff_epoll_ctl(ep, op, fd, &e);
}

#ifndef ZS_ZERO_COPY
/* ---------------------------------------------------------------- plain F-stack: the copying engine */
#define HE_READ(fd, buf, n) ff_read(fd, buf, n)
#define HE_WRITEV(fd, iov, cnt) ff_writev(fd, iov, cnt)
#define HE_CLOSE(fd) ff_close(fd)
#define HE_WATCH(fd, writable) ep_watch(fd, writable, EPOLL_CTL_MOD)
#include "he_copy.h"

static void conn_accepted(int fd)
{
    he_conn_new(fd);
}

static void conn_event(int fd, uint32_t events)
{
    struct cconn *c = fd < he_nconns ? he_conns[fd] : NULL;
    if (c == NULL) {
        return;
    }
    int rc = 0;
    if (events & EPOLLOUT) {
        rc = he_flush(c);
    }
    if (rc == 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        rc = he_readable(c);
    }
    if (rc < 0) {
        he_conn_close(c);
    }
}

static const char *build_name = "fstack-echo (F-stack, ff_read/ff_writev, copying)";
static void init_build(void)
{
    he_copy_init();
}
#else
/* ---------------------------------------------------------------- Z-stack: mbufs exchanged */
#include "ff_veth.h"
#include "http_echo.h"

#define ZC_CHUNK 1448   /* payload of one full segment (MSS 1460 less the timestamp option) */
#define ZC_MIN_ROOM 72  /* headroom an mbuf must keep for Z-stack to prepend Ethernet + IPv4 + TCP (66 bytes) */
#define ZC_READ_ALL (1 << 24)

struct seg {
    struct rte_mbuf *m;
    char *p;
    uint32_t len;
};

struct zconn {
    int fd;
    struct seg *q; /* received bytes not consumed yet, in order; each mbuf owned by this connection */
    int qn, qcap;
    long qbytes;
    char head[HE_MAX_HEAD + 8];
    size_t hlen, head_total;
    int have_req, continued, closing;
    struct he_req r;
};

static struct rte_mempool *tx_pool;
static struct zconn **conns;
static int nconns;
static unsigned long served, copied_pieces, write_failures;
/* mbufs written whose frame headers Z-stack prepended in place during the write (its zero-copy send), and the others
 * (sent later, e.g. held by the window, or copied by its fallback path) */
static unsigned long sent_in_place, sent_otherwise;

static void q_push(struct zconn *c, struct rte_mbuf *m, char *p, uint32_t len)
{
    if (c->qn > 0) {
        struct seg *l = &c->q[c->qn - 1];
        if (l->m == m && l->p + l->len == p) {
            l->len += len;
            c->qbytes += len;
            return;
        }
    }
    if (c->qn == c->qcap) {
        c->qcap = c->qcap ? c->qcap * 2 : 16;
        c->q = realloc(c->q, c->qcap * sizeof(*c->q));
    }
    c->q[c->qn++] = (struct seg){ m, p, len };
    c->qbytes += len;
}

static void q_pop_front(struct zconn *c, int k)
{
    memmove(c->q, c->q + k, (c->qn - k) * sizeof(*c->q));
    c->qn -= k;
}

/* Wraps mbuf m (data p, len bytes, one segment at most) in a BSD mbuf and hands it to Z-stack. */
static int zc_send(struct zconn *c, struct rte_mbuf *m, char *p, uint32_t len)
{
    rte_pktmbuf_reset(m);
    m->data_off = (uint16_t)(p - (char *)m->buf_addr);
    m->data_len = (uint16_t)len;
    m->pkt_len = len;
    /* ff_mbuf_get links the new BSD mbuf behind `prev` (its m_next is the first field of struct mbuf) and, in this
     * F-stack version, returns nothing: take it from there. */
    void *prev[8] = { 0 };
    ff_mbuf_get(prev, m, p, (uint16_t)len);
    if (prev[0] == NULL) {
        rte_pktmbuf_free(m);
        return -1;
    }
    uint16_t off = m->data_off;
    if (z_write(c->fd, prev[0], len) < 0) { /* sosend frees the mbuf (and with it m) on failure */
        write_failures++;
        return -1;
    }
    /* still ours to look at: the stack holds it until the peer acknowledges, which no poll has delivered yet */
    if (m->data_off < off) {
        sent_in_place++;
    } else {
        sent_otherwise++;
    }
    return 0;
}

/* Sends bytes from ordinary memory: written into fresh mbufs of this process's pool (one segment each). */
static int zc_send_bytes(struct zconn *c, const char *a, size_t al, const char *b, size_t bl)
{
    while (al + bl > 0) {
        struct rte_mbuf *m = rte_pktmbuf_alloc(tx_pool);
        if (m == NULL) {
            return -1;
        }
        char *d = rte_pktmbuf_mtod(m, char *);
        size_t n = 0;
        size_t x = al < ZC_CHUNK ? al : ZC_CHUNK;
        memcpy(d, a, x);
        a += x, al -= x, n += x;
        x = bl < ZC_CHUNK - n ? bl : ZC_CHUNK - n;
        memcpy(d + n, b, x);
        b += x, bl -= x, n += x;
        if (zc_send(c, m, d, n) < 0) {
            return -1;
        }
    }
    return 0;
}

/* GET /size/N: head and N pattern bytes, written straight into fresh mbufs. */
static int zc_send_size(struct zconn *c, const char *h, size_t hl, long size)
{
    long off = 0;
    int first = 1;
    while (first || off < size) {
        struct rte_mbuf *m = rte_pktmbuf_alloc(tx_pool);
        if (m == NULL) {
            return -1;
        }
        char *d = rte_pktmbuf_mtod(m, char *);
        size_t n = 0;
        if (first) {
            memcpy(d, h, hl);
            n = hl;
            first = 0;
        }
        size_t x = size - off < (long)(ZC_CHUNK - n) ? (size_t)(size - off) : ZC_CHUNK - n;
        he_fill(d + n, off, x);
        off += x;
        n += x;
        if (zc_send(c, m, d, n) < 0) {
            return -1;
        }
    }
    return 0;
}

static void zconn_close(struct zconn *c)
{
    for (int i = 0; i < c->qn; i++) {
        rte_pktmbuf_free(c->q[i].m);
    }
    ff_close(c->fd);
    conns[c->fd] = NULL;
    free(c->q);
    free(c);
}

/* Answers with a text body and marks the connection for closing (requests that cannot be served). */
static int zc_text(struct zconn *c, int status, const char *text, int keep_alive)
{
    char h[320];
    size_t hl = he_head(h, status, "text/plain", (long)strlen(text), keep_alive, c->r.http10);
    if (!keep_alive) {
        c->closing = 1;
    }
    return zc_send_bytes(c, h, hl, text, strlen(text));
}

/* Echoes the body: the first content_length bytes of the queue. */
static int zc_echo(struct zconn *c)
{
    struct he_req *r = &c->r;
    char h[320];
    size_t hl = he_head(h, 200, r->ctype, r->content_length, r->keep_alive, r->http10);
    long left = r->content_length;
    int k = 0; /* queue entries sent by reference */
    while (k < c->qn && left >= c->q[k].len) {
        left -= c->q[k].len;
        k++;
    }
    /* the head goes in front of the first piece, over the request bytes already parsed, when there is room */
    int head_sent = 0;
    if (k > 0) {
        struct seg *s = &c->q[0];
        if (s->p - hl - (char *)s->m->buf_addr >= ZC_MIN_ROOM && s->len + hl <= ZC_CHUNK) {
            s->p -= hl;
            memcpy(s->p, h, hl);
            s->len += hl;
            c->qbytes += hl;
            head_sent = 1;
        }
    }
    if (!head_sent && zc_send_bytes(c, h, hl, NULL, 0) < 0) {
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < k; i++) {
        struct seg s = c->q[i];
        c->qbytes -= s.len;
        if (rc == 0) {
            if (s.len <= ZC_CHUNK) {
                rc = zc_send(c, s.m, s.p, s.len);
            } else { /* never from a NIC frame; copy rather than send a bad frame */
                copied_pieces++;
                rc = zc_send_bytes(c, s.p, s.len, NULL, 0);
                rte_pktmbuf_free(s.m);
            }
        } else {
            rte_pktmbuf_free(s.m);
        }
    }
    q_pop_front(c, k);
    if (rc == 0 && left > 0) {
        /* the rest of the body shares its mbuf with the next (pipelined) request: copy that part */
        struct seg *s = &c->q[0];
        copied_pieces++;
        rc = zc_send_bytes(c, s->p, left, NULL, 0);
        s->p += left;
        s->len -= left;
        c->qbytes -= left;
    }
    return rc;
}

/* Answers every complete request in the queue. Returns -1 when the connection is to be closed. */
static int zc_process(struct zconn *c)
{
    for (;;) {
        if (c->closing) {
            return -1;
        }
        if (!c->have_req) {
            /* copy head bytes (not the body) into the parse buffer, freeing mbufs that held only head bytes */
            while (c->qn > 0 && c->head_total == 0) {
                struct seg *s = &c->q[0];
                size_t room = HE_MAX_HEAD + 4 - c->hlen;
                size_t n = s->len < room ? s->len : room;
                size_t from = c->hlen;
                memcpy(c->head + c->hlen, s->p, n);
                c->hlen += n;
                size_t end = he_head_end(c->head, c->hlen, from);
                if (end == 0 && c->hlen > HE_MAX_HEAD) {
                    return zc_text(c, 431, "request head too large\n", 0) < 0 ? -1 : -1;
                }
                size_t used = end ? end - from : n;
                s->p += used;
                s->len -= used;
                c->qbytes -= used;
                if (s->len == 0) {
                    rte_pktmbuf_free(s->m);
                    q_pop_front(c, 1);
                }
                c->head_total = end;
            }
            if (c->head_total == 0) {
                return 0;
            }
            if (he_parse(c->head, c->head_total, &c->r) < 0) {
                zc_text(c, c->r.status, c->r.text, 0);
                return -1;
            }
            c->have_req = 1;
            c->continued = 0;
        }
        struct he_req *r = &c->r;
        if (c->qbytes < r->content_length) {
            if (r->expect_continue && !c->continued) {
                c->continued = 1;
                if (zc_send_bytes(c, HE_CONTINUE, sizeof(HE_CONTINUE) - 1, NULL, 0) < 0) {
                    return -1;
                }
            }
            return 0;
        }
        int rc;
        if (r->kind == HE_ECHO) {
            rc = zc_echo(c);
        } else {
            /* the request has no body to send back: drop its body bytes, free what is consumed */
            long left = r->content_length;
            while (left > 0) {
                struct seg *s = &c->q[0];
                long x = left < s->len ? left : s->len;
                s->p += x;
                s->len -= x;
                c->qbytes -= x;
                left -= x;
                if (s->len == 0) {
                    rte_pktmbuf_free(s->m);
                    q_pop_front(c, 1);
                }
            }
            if (r->kind == HE_TEXT) {
                rc = zc_text(c, r->status, r->text, r->keep_alive);
            } else {
                char h[320];
                size_t hl = he_head(h, 200, "application/octet-stream", r->size, r->keep_alive, r->http10);
                rc = zc_send_size(c, h, hl, r->size);
            }
        }
        if (rc < 0) {
            return -1;
        }
        served++;
        if (!r->keep_alive) {
            c->closing = 1;
        }
        c->have_req = 0;
        c->hlen = 0;
        c->head_total = 0;
    }
}

static void conn_accepted(int fd)
{
    if (fd >= nconns) {
        int n = nconns ? nconns : 1024;
        while (n <= fd) {
            n *= 2;
        }
        conns = realloc(conns, n * sizeof(*conns));
        memset(conns + nconns, 0, (n - nconns) * sizeof(*conns));
        nconns = n;
    }
    struct zconn *c = calloc(1, sizeof(*c));
    c->fd = fd;
    conns[fd] = c;
    int big = 4 * 1024 * 1024;
    ff_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
}

static void conn_event(int fd, uint32_t events)
{
    struct zconn *c = fd < nconns ? conns[fd] : NULL;
    if (c == NULL) {
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        return;
    }
    void *mb = NULL;
    ssize_t n = z_read(fd, &mb, ZC_READ_ALL);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        if (mb != NULL && n < 0) {
            mb = NULL;
        }
        zconn_close(c);
        return;
    }
    if (n < 0) {
        return;
    }
    /* take the DPDK mbufs out of the BSD mbufs the read handed over (those are freed, the DPDK ones kept) */
    void *b = mb;
    while (b != NULL) {
        void *cur = b, *data;
        unsigned len;
        ff_next_mbuf(&b, &data, &len);
        struct rte_mbuf *m = ff_rte_frm_extcl(cur);
        if (len == 0) {
            continue;
        }
        if (m != NULL) {
            ff_mbuf_detach_rte(cur);
            q_push(c, m, data, len);
        } else {
            /* bytes the stack holds in its own memory: copied into mbufs of this process */
            const char *d = data;
            while (len > 0) {
                struct rte_mbuf *x = rte_pktmbuf_alloc(tx_pool);
                if (x == NULL) {
                    break;
                }
                unsigned l = len < ZC_CHUNK ? len : ZC_CHUNK;
                memcpy(rte_pktmbuf_mtod(x, char *), d, l);
                q_push(c, x, rte_pktmbuf_mtod(x, char *), l);
                d += l;
                len -= l;
                copied_pieces++;
            }
        }
    }
    if (mb != NULL) {
        ff_mbuf_free(mb);
    }
    if (zc_process(c) < 0) {
        zconn_close(c);
    }
}

static const char *build_name = "zstack-echo (Z-stack, z_read/z_write, mbufs exchanged)";
static void init_build(void)
{
    tx_pool = rte_pktmbuf_pool_create("zsecho_tx", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
    if (tx_pool == NULL) {
        fprintf(stderr, "zstack-echo: cannot create its mbuf pool\n");
        exit(1);
    }
}
#endif

/* ---------------------------------------------------------------- common: listener and loop */
static int listener;

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

static int loop(void *arg)
{
    (void)arg;
    if (stop) {
        /* close the port properly: af_xdp detaches its XDP program from the interface */
        uint16_t port;
        RTE_ETH_FOREACH_DEV(port) {
            rte_eth_dev_stop(port);
            rte_eth_dev_close(port);
        }
#ifdef ZS_ZERO_COPY
        printf("stopped: %lu responses, %lu pieces copied, %lu failed writes; mbufs sent with headers prepended in "
               "place (Z-stack's zero copy) %lu, otherwise %lu\n", served, copied_pieces, write_failures, sent_in_place,
               sent_otherwise);
#else
        printf("stopped: %lu responses\n", he_served);
#endif
        fflush(stdout);
        exit(0);
    }
    struct epoll_event ev[512];
    int n = ff_epoll_wait(ep, ev, 512, 0);
    for (int i = 0; i < n; i++) {
        int fd = ev[i].data.fd;
        if (fd == listener) {
            for (;;) {
                int cfd = ff_accept(listener, NULL, NULL);
                if (cfd < 0) {
                    break;
                }
                int one = 1;
                ff_ioctl(cfd, FIONBIO, &one);
                ff_setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                conn_accepted(cfd);
                ep_watch(cfd, 0, EPOLL_CTL_ADD);
            }
        } else {
            conn_event(fd, ev[i].events);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int port = 8080;
    /* our own options first; the rest goes to ff_init (--conf, --proc-type, --proc-id) */
    char *fargv[64];
    int fargc = 0;
    fargv[fargc++] = argv[0];
    for (int i = 1; i < argc && fargc < 63; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fargv[fargc++] = argv[i];
        }
    }
    fargv[fargc] = NULL;
    if (ff_init(fargc, fargv) < 0) {
        fprintf(stderr, "ff_init failed\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    init_build();

    listener = ff_socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) {
        fprintf(stderr, "ff_socket failed: %s\n", strerror(errno));
        return 1;
    }
    int one = 1;
    ff_ioctl(listener, FIONBIO, &one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
    if (ff_bind(listener, (struct linux_sockaddr *)&a, sizeof(a)) < 0 || ff_listen(listener, 4096) < 0) {
        fprintf(stderr, "ff_bind/ff_listen failed: %s\n", strerror(errno));
        return 1;
    }
    ep = ff_epoll_create(1);
    ep_watch(listener, 0, EPOLL_CTL_ADD);
    printf("%s: listening at port %d\n", build_name, port);
    fflush(stdout);
    ff_run(loop, NULL);
    return 0;
}
