/*
 * The HTTP exchange of example-http-echo (HttpEchoHandler), shared by the C peer servers of the benchmark
 * (bench/peers/epoll_echo.c, bench/peers/ff_echo.c). Written for the ZStack benchmark harness (issue 14).
 *
 *   GET /size/N     200, N bytes, byte i = 'a' + i % 26, content-type application/octet-stream
 *   GET /stats      404, text (statistics exist on the zstack transport only)
 *   anything else   200, the request body echoed back, content-type from the request (else application/octet-stream)
 *   keep-alive      as the request asks (HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "keep-alive");
 *                   when closing, "connection: close" and the connection is closed after the response
 *   Expect: 100-continue is answered "HTTP/1.1 100 Continue" before the body, as Netty's aggregator does.
 *   Not supported (answered 501 and closed): chunked request bodies. Heads over 16 KiB: 431 and closed.
 */
#ifndef ZSBENCH_HTTP_ECHO_H
#define ZSBENCH_HTTP_ECHO_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HE_MAX_SIZE (64L * 1024 * 1024) /* largest GET /size/N and largest body accepted, as HttpEchoHandler */
#define HE_MAX_HEAD 16384

enum he_kind { HE_ECHO, HE_SIZE, HE_TEXT };

struct he_req {
    enum he_kind kind;
    long content_length; /* request body bytes still part of this request */
    long size;           /* HE_SIZE: response body bytes */
    int keep_alive;
    int http10;
    int expect_continue;
    int status;          /* HE_TEXT: the status of the text answer */
    const char *text;    /* HE_TEXT: body */
    char ctype[128];     /* HE_ECHO: content-type to answer with */
};

/* Finds the end of the head ("\r\n\r\n") in buf[0..len); returns the head length including it, or 0. */
static inline size_t he_head_end(const char *buf, size_t len, size_t from)
{
    size_t i = from >= 3 ? from - 3 : 0;
    for (; i + 3 < len; i++) {
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
            return i + 4;
        }
    }
    return 0;
}

static inline int he_token_has(const char *v, size_t n, const char *tok)
{
    size_t t = strlen(tok);
    for (size_t i = 0; i + t <= n; i++) {
        if (strncasecmp(v + i, tok, t) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Parses a complete head (as found by he_head_end). Returns 0, or -1 when the request cannot be served (r->status
 * and r->text then say what to answer before closing). */
static inline int he_parse(const char *h, size_t len, struct he_req *r)
{
    memset(r, 0, sizeof(*r));
    r->keep_alive = 1;
    const char *end = h + len;
    const char *eol = memchr(h, '\n', len);
    if (eol == NULL) {
        goto bad;
    }
    /* request line: METHOD SP URI SP VERSION */
    const char *sp1 = memchr(h, ' ', eol - h);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', eol - sp1 - 1) : NULL;
    if (sp1 == NULL || sp2 == NULL) {
        goto bad;
    }
    int get = (sp1 - h == 3 && memcmp(h, "GET", 3) == 0);
    const char *uri = sp1 + 1;
    size_t urilen = sp2 - uri;
    if (strncmp(sp2 + 1, "HTTP/1.0", 8) == 0) {
        r->http10 = 1;
        r->keep_alive = 0;
    }
    r->kind = HE_ECHO;
    if (get && urilen == 6 && memcmp(uri, "/stats", 6) == 0) {
        r->kind = HE_TEXT;
        r->status = 404;
        r->text = "statistics exist on the zstack transport only\n";
    } else if (get && urilen >= 6 && memcmp(uri, "/size/", 6) == 0) {
        long n = 0;
        size_t i = 6;
        int ok = urilen > 6 && urilen - 6 <= 10;
        for (; ok && i < urilen; i++) {
            if (uri[i] < '0' || uri[i] > '9') {
                ok = 0;
            } else {
                n = n * 10 + (uri[i] - '0');
            }
        }
        if (!ok || n > HE_MAX_SIZE) {
            r->kind = HE_TEXT;
            r->status = 400;
            r->text = "size must be 0..67108864\n";
        } else {
            r->kind = HE_SIZE;
            r->size = n;
        }
    }
    /* header lines */
    for (const char *l = eol + 1; l < end;) {
        const char *le = memchr(l, '\n', end - l);
        if (le == NULL) {
            break;
        }
        size_t ll = le - l;
        if (ll > 0 && l[ll - 1] == '\r') {
            ll--;
        }
        const char *colon = memchr(l, ':', ll);
        if (colon != NULL) {
            size_t nl = colon - l;
            const char *v = colon + 1;
            while (v < l + ll && (*v == ' ' || *v == '\t')) {
                v++;
            }
            size_t vl = l + ll - v;
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) {
                vl--;
            }
            if (nl == 14 && strncasecmp(l, "content-length", 14) == 0) {
                long n = 0;
                if (vl == 0 || vl > 12) {
                    goto bad;
                }
                for (size_t i = 0; i < vl; i++) {
                    if (v[i] < '0' || v[i] > '9') {
                        goto bad;
                    }
                    n = n * 10 + (v[i] - '0');
                }
                if (n > HE_MAX_SIZE) {
                    r->status = 413;
                    r->text = "request body too large\n";
                    return -1;
                }
                r->content_length = n;
            } else if (nl == 10 && strncasecmp(l, "connection", 10) == 0) {
                if (he_token_has(v, vl, "close")) {
                    r->keep_alive = 0;
                } else if (he_token_has(v, vl, "keep-alive")) {
                    r->keep_alive = 1;
                }
            } else if (nl == 12 && strncasecmp(l, "content-type", 12) == 0) {
                if (vl < sizeof(r->ctype)) {
                    memcpy(r->ctype, v, vl);
                    r->ctype[vl] = 0;
                }
            } else if (nl == 6 && strncasecmp(l, "expect", 6) == 0) {
                if (he_token_has(v, vl, "100-continue")) {
                    r->expect_continue = 1;
                }
            } else if (nl == 17 && strncasecmp(l, "transfer-encoding", 17) == 0) {
                r->status = 501;
                r->text = "chunked request bodies are not supported by this peer\n";
                return -1;
            }
        }
        l = le + 1;
    }
    if (r->ctype[0] == 0) {
        strcpy(r->ctype, "application/octet-stream");
    }
    return 0;
bad:
    r->status = 400;
    r->text = "bad request\n";
    return -1;
}

static inline const char *he_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 413: return "Request Entity Too Large";
    case 431: return "Request Header Fields Too Large";
    default: return "Not Implemented";
    }
}

/* Writes the response head into out (at least 300 bytes); returns its length. body_len: bytes that follow. */
static inline size_t he_head(char *out, int status, const char *ctype, long body_len, int keep_alive, int http10)
{
    const char *conn = !keep_alive ? "connection: close\r\n" : http10 ? "connection: keep-alive\r\n" : "";
    return (size_t)sprintf(out, "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %ld\r\n%s\r\n", status,
                           he_reason(status), ctype, body_len, conn);
}

static const char HE_CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* GET /size/N's body bytes from offset off: byte i is 'a' + i % 26. */
static inline void he_fill(char *dst, long off, size_t n)
{
    int c = (int)(off % 26);
    for (size_t i = 0; i < n; i++) {
        dst[i] = (char)('a' + c);
        if (++c == 26) {
            c = 0;
        }
    }
}

#endif
