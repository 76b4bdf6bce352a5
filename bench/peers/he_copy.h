/*
 * The copying connection engine of the C peer servers (issue 14): bytes are read into a buffer per connection,
 * parsed with http_echo.h, and answered with one writev of the head and the body (copied by the socket layer).
 * Used by epoll_echo.c (kernel sockets) and by ff_echo.c's plain F-stack build (ff_read / ff_writev).
 *
 * The includer defines, before including this file:
 *   HE_READ(fd, buf, n)        read(2)-like
 *   HE_WRITEV(fd, iov, cnt)    writev(2)-like
 *   HE_CLOSE(fd)               close
 *   HE_WATCH(fd, writable)     (re)arm readiness: readable, plus writable when writable != 0
 */
#ifndef ZSBENCH_HE_COPY_H
#define ZSBENCH_HE_COPY_H

#include <errno.h>
#include <sys/uio.h>
#include "http_echo.h"

struct cconn {
    int fd;
    char *in;
    size_t cap, len, scanned, head;
    int have_req;
    struct he_req r;
    char *out; /* what a write could not take yet */
    size_t out_len, out_off;
    int closing; /* close once out is drained */
};

#define HE_PATTERN_LEN (1024 * 1024)
static char he_pattern[HE_PATTERN_LEN + 32];
static struct cconn **he_conns;
static int he_nconns;
static unsigned long he_served, he_closed_on_error;

static void he_copy_init(void)
{
    he_fill(he_pattern, 0, sizeof(he_pattern));
}

static struct cconn *he_conn_new(int fd)
{
    if (fd >= he_nconns) {
        int n = he_nconns ? he_nconns : 1024;
        while (n <= fd) {
            n *= 2;
        }
        he_conns = realloc(he_conns, n * sizeof(*he_conns));
        memset(he_conns + he_nconns, 0, (n - he_nconns) * sizeof(*he_conns));
        he_nconns = n;
    }
    struct cconn *c = calloc(1, sizeof(*c));
    c->fd = fd;
    c->cap = 4096;
    c->in = malloc(c->cap);
    he_conns[fd] = c;
    return c;
}

static void he_conn_close(struct cconn *c)
{
    HE_CLOSE(c->fd);
    he_conns[c->fd] = NULL;
    free(c->in);
    free(c->out);
    free(c);
}

/* Sends iov[0..cnt) now; what the socket does not take is kept in c->out. Returns -1 on a write error. */
static int he_send(struct cconn *c, struct iovec *iov, int cnt)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        total += iov[i].iov_len;
    }
    ssize_t w = 0;
    if (c->out_len == 0) {
        w = HE_WRITEV(c->fd, iov, cnt);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return -1;
            }
            w = 0;
        }
    }
    if ((size_t)w == total) {
        return 0;
    }
    /* keep the rest */
    size_t rest = total - w, skip = w;
    char *o = malloc(c->out_len - c->out_off + rest);
    size_t ol = c->out_len - c->out_off;
    memcpy(o, c->out + c->out_off, ol);
    for (int i = 0; i < cnt; i++) {
        size_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(o + ol, (char *)iov[i].iov_base + skip, l - skip);
        ol += l - skip;
        skip = 0;
    }
    free(c->out);
    c->out = o;
    c->out_len = ol;
    c->out_off = 0;
    HE_WATCH(c->fd, 1);
    return 0;
}

/* Drains c->out when the socket is writable. Returns -1 when the connection is to be closed. */
static int he_flush(struct cconn *c)
{
    while (c->out_off < c->out_len) {
        struct iovec v = { c->out + c->out_off, c->out_len - c->out_off };
        ssize_t w = HE_WRITEV(c->fd, &v, 1);
        if (w < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->out_off += w;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    HE_WATCH(c->fd, 0);
    return c->closing ? -1 : 0;
}

static int he_answer_text(struct cconn *c, int status, const char *text, int keep_alive)
{
    char h[320];
    size_t hl = he_head(h, status, "text/plain", (long)strlen(text), keep_alive, c->r.http10);
    struct iovec v[2] = { { h, hl }, { (void *)text, strlen(text) } };
    if (!keep_alive) {
        c->closing = 1;
    }
    return he_send(c, v, 2);
}

/* Answers every complete request in c->in. Returns -1 when the connection is to be closed now. */
static int he_process(struct cconn *c)
{
    for (;;) {
        if (c->closing) {
            return c->out_len ? 0 : -1;
        }
        if (!c->have_req) {
            size_t h = he_head_end(c->in, c->len, c->scanned);
            if (h == 0) {
                c->scanned = c->len;
                if (c->len > HE_MAX_HEAD) {
                    if (he_answer_text(c, 431, "request head too large\n", 0) < 0) {
                        return -1;
                    }
                    continue;
                }
                return 0;
            }
            c->head = h;
            if (he_parse(c->in, h, &c->r) < 0) {
                if (he_answer_text(c, c->r.status, c->r.text, 0) < 0) {
                    return -1;
                }
                continue;
            }
            c->have_req = 1;
            if (c->r.expect_continue && c->len < c->head + c->r.content_length) {
                struct iovec v = { (void *)HE_CONTINUE, sizeof(HE_CONTINUE) - 1 };
                if (he_send(c, &v, 1) < 0) {
                    return -1;
                }
            }
        }
        size_t need = c->head + c->r.content_length;
        if (c->len < need) {
            if (c->cap < need) {
                c->cap = need;
                c->in = realloc(c->in, c->cap);
            }
            return 0;
        }
        struct he_req *r = &c->r;
        char h[320];
        struct iovec v[80];
        int n = 1;
        if (r->kind == HE_TEXT) {
            size_t tl = strlen(r->text);
            v[0].iov_len = he_head(h, r->status, "text/plain", (long)tl, r->keep_alive, r->http10);
            v[1].iov_base = (void *)r->text;
            v[1].iov_len = tl;
            n = 2;
        } else if (r->kind == HE_SIZE) {
            v[0].iov_len = he_head(h, 200, "application/octet-stream", r->size, r->keep_alive, r->http10);
            long off = 0;
            while (off < r->size && n < 80) {
                size_t l = r->size - off > HE_PATTERN_LEN ? HE_PATTERN_LEN : (size_t)(r->size - off);
                v[n].iov_base = he_pattern + off % 26;
                v[n].iov_len = l;
                off += l;
                n++;
            }
        } else {
            v[0].iov_len = he_head(h, 200, r->ctype, r->content_length, r->keep_alive, r->http10);
            if (r->content_length > 0) {
                v[1].iov_base = c->in + c->head;
                v[1].iov_len = r->content_length;
                n = 2;
            }
        }
        v[0].iov_base = h;
        if (!r->keep_alive) {
            c->closing = 1;
        }
        if (he_send(c, v, n) < 0) {
            return -1;
        }
        he_served++;
        /* the next request (pipelined) moves to the front */
        memmove(c->in, c->in + need, c->len - need);
        c->len -= need;
        c->scanned = 0;
        c->have_req = 0;
    }
}

/* The connection is readable: reads what is there and answers. Returns -1 when it is to be closed. */
static int he_readable(struct cconn *c)
{
    for (;;) {
        if (c->len == c->cap) {
            c->cap *= 2;
            c->in = realloc(c->in, c->cap);
        }
        ssize_t n = HE_READ(c->fd, c->in + c->len, c->cap - c->len);
        if (n == 0) {
            return -1;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            he_closed_on_error++;
            return -1;
        }
        c->len += n;
        if (c->len < c->cap) {
            break;
        }
    }
    return he_process(c);
}

#endif
