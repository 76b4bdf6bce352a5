/*
 * A minimal C HTTP echo server on the kernel's sockets (epoll, one thread, non-blocking, level-triggered), with the
 * behaviour of example-http-echo (see http_echo.h): the kernel baseline of the benchmark written in C (issue 14).
 *
 *   epoll-echo [--bind ADDR] [--port PORT]      (default 0.0.0.0:8080)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int ep;

#define HE_READ(fd, buf, n) read(fd, buf, n)
#define HE_WRITEV(fd, iov, cnt) writev(fd, iov, cnt)
#define HE_CLOSE(fd) close(fd)
#define HE_WATCH(fd, writable) ep_watch(fd, writable, EPOLL_CTL_MOD)

static void ep_watch(int fd, int writable, int op)
{
    struct epoll_event e = { .events = EPOLLIN | (writable ? EPOLLOUT : 0), .data.fd = fd };
    epoll_ctl(ep, op, fd, &e);
}

#include "he_copy.h"

static volatile sig_atomic_t stop;

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

int main(int argc, char **argv)
{
    const char *bind_addr = "0.0.0.0";
    int port = 8080;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
            bind_addr = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: epoll-echo [--bind ADDR] [--port PORT]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    he_copy_init();

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (inet_pton(AF_INET, bind_addr, &a.sin_addr) != 1 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(ls, 4096) < 0) {
        perror("epoll-echo: bind/listen");
        return 1;
    }
    ep = epoll_create1(0);
    ep_watch(ls, 0, EPOLL_CTL_ADD);
    printf("epoll-echo: listening at %s:%d\n", bind_addr, port);
    fflush(stdout);

    struct epoll_event ev[512];
    while (!stop) {
        int n = epoll_wait(ep, ev, 512, 500);
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            if (fd == ls) {
                for (;;) {
                    int cfd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (cfd < 0) {
                        break;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    he_conn_new(cfd);
                    ep_watch(cfd, 0, EPOLL_CTL_ADD);
                }
                continue;
            }
            struct cconn *c = fd < he_nconns ? he_conns[fd] : NULL;
            if (c == NULL) {
                continue;
            }
            int rc = 0;
            if (ev[i].events & EPOLLOUT) {
                rc = he_flush(c);
            }
            if (rc == 0 && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                rc = he_readable(c);
            }
            if (rc < 0) {
                he_conn_close(c);
            }
        }
    }
    printf("epoll-echo: stopped, %lu responses\n", he_served);
    return 0;
}
