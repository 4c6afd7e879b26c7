/*
 * origin.c -- bw_origin, the controllable HTTP/1.1 backend of the tests.
 *
 *   bw_origin -p PORT [-n NAME] [-k IDLE_MS] [-r] [-v]
 *
 * Listens on 127.0.0.1:PORT (0: any free port). The port is always printed
 * on stdout as the first line. One process, one epoll loop, any number of
 * keep-alive connections and pipelined requests; exits with 0 on SIGTERM or
 * SIGINT.
 *   -n NAME     reported as "X-Origin: NAME" on every response (default "origin")
 *   -k IDLE_MS  close connections idle between requests for that long
 *   -r          refuse: close every accepted connection at once
 *   -v          log each request line to stderr
 *
 * Request bodies are read (Content-Length or chunked, which wins when both are
 * given); "Expect: 100-continue" gets an interim 100. The response is shaped by
 * query arguments, or by "X-Origin-Control: a=1&b=2" headers (same syntax,
 * applied after the query; use them when the URI is rewritten on the way).
 * Values are %XX-decoded; '+' stays '+'. Unknown arguments are ignored.
 *   status=N         response status (default 200)
 *   delay=MS         wait before sending the headers
 *   body_delay=MS    wait between the headers and the body
 *   chunk_delay=MS   wait before each further body piece (each chunk when chunked)
 *   len=N            body of N bytes of the pattern 'a' + offset % 26
 *   body=TEXT        this body
 *   chunked=1        Transfer-Encoding: chunked; chunk=N bytes per chunk (1024)
 *   trailer=Name:V   a trailer field after the last chunk (repeatable)
 *   close=1          no length: the body ends when the connection closes
 *   close_mid=1      declare the full length, send half the body, close
 *   header=Name:V    add the response header "Name: V" (repeatable)
 *   huge_header=N    add "X-Huge: " followed by N bytes of 'h'
 *   echo=1           body = the request head and body exactly as received
 *                    (framing included): what a proxy forwarded, byte for byte
 *   echo=body        body = the decoded request body
 *   cond=1           304 when If-None-Match equals the ETag given by header=,
 *                    or If-Modified-Since equals its Last-Modified
 *   ws=1             accept a WebSocket Upgrade (101, Sec-WebSocket-Accept) and
 *                    echo every frame; ping gets pong; close is echoed, then close
 * Without len=, body= or echo=, the body is "origin NAME request N\n", N counting
 * every request the process answered, so each response differs.
 *
 * Every response carries "X-Origin: NAME", "X-Origin-Conn: <connection number>"
 * and "X-Origin-Request: <request number on that connection>" (to see
 * load balancing and upstream keep-alive), plus "X-Origin-Body-Length: N" when
 * the request had a body. HEAD gets the headers of GET; 1xx, 204 and 304 no
 * body. Malformed requests get 400 and a close.
 * "GET /__origin/stats" answers "requests N\nconnections N\nactive N\n"
 * (not counting itself).
 */
#include "origin.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BW_ORIGIN_MAX_EVENTS 256
#define BW_ORIGIN_LINGER_MS  1000
#define BW_ORIGIN_READ_CHUNK 65536

bw_origin_t bw_origin;

static int                   bw_origin_epfd = -1;
static int                   bw_origin_lfd = -1;
static volatile sig_atomic_t bw_origin_quit;

int64_t bw_origin_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void bw_origin_signal_handle(int sig)
{
    bw_origin_quit = 1;
}

void bw_origin_conn_watch(bw_origin_conn_t *c)
{
    struct epoll_event ev = { 0 };
    uint32_t           want = 0;

    if (c->state == BW_ORIGIN_READ || c->state == BW_ORIGIN_WS
        || c->state == BW_ORIGIN_LINGER)
    {
        want |= EPOLLIN | EPOLLRDHUP;
    }
    if (bw_origin_buf_len(&c->out) > 0) {
        want |= EPOLLOUT;
    }
    if (c->state == BW_ORIGIN_READ && bw_origin.idle_ms > 0 && c->timer_at == 0) {
        c->timer_at = bw_origin_now_ms() + bw_origin.idle_ms;
    }
    if (want == c->events) {
        return;
    }
    ev.events = want;
    ev.data.ptr = c;
    epoll_ctl(bw_origin_epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = want;
}

void bw_origin_conn_close(bw_origin_conn_t *c)
{
    if (c->closed) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        bw_origin.conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    close(c->fd);
    c->closed = true;
    c->prev = bw_origin.dead;   /* c->next still leads on through the live list */
    bw_origin.dead = c;
    bw_origin.active--;
}

/* Frees the connections closed during the last batch of events. */
static void bw_origin_conns_free_dead(void)
{
    while (bw_origin.dead != NULL) {
        bw_origin_conn_t *c = bw_origin.dead;

        bw_origin.dead = c->prev;
        bw_origin_request_reset(&c->req);
        free(c->src_owned);
        bw_origin_buf_free(&c->in);
        bw_origin_buf_free(&c->out);
        free(c);
    }
}

void bw_origin_conn_linger(bw_origin_conn_t *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = BW_ORIGIN_LINGER;
    c->timer_at = bw_origin_now_ms() + BW_ORIGIN_LINGER_MS;
    bw_origin_conn_watch(c);
}

static void bw_origin_accept(void)
{
    for (;;) {
        int                fd = accept4(bw_origin_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
        bw_origin_conn_t  *c;
        int                one = 1;

        if (fd == -1) {
            return;
        }
        bw_origin.connections++;
        if (bw_origin.refuse || (c = calloc(1, sizeof(*c))) == NULL) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->id = bw_origin.connections;
        c->events = ev.events;
        c->next = bw_origin.conns;
        if (c->next != NULL) {
            c->next->prev = c;
        }
        bw_origin.conns = c;
        bw_origin.active++;
        ev.data.ptr = c;
        epoll_ctl(bw_origin_epfd, EPOLL_CTL_ADD, fd, &ev);
        bw_origin_conn_watch(c);
    }
}

/* Reads what the socket has into c->in (discarded while lingering). */
static void bw_origin_conn_read(bw_origin_conn_t *c)
{
    char    buf[BW_ORIGIN_READ_CHUNK];
    ssize_t n = read(c->fd, buf, sizeof(buf));

    if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        c->peer_eof = true;
        return;
    }
    if (c->state == BW_ORIGIN_LINGER) {
        return;
    }
    if (!bw_origin_buf_add(&c->in, buf, (size_t) n)) {
        bw_origin_conn_close(c);
        return;
    }
    if (c->state == BW_ORIGIN_READ && bw_origin.idle_ms > 0) {
        c->timer_at = bw_origin_now_ms() + bw_origin.idle_ms;
    }
}

static void bw_origin_conn_event(bw_origin_conn_t *c, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        bw_origin_conn_close(c);
        return;
    }
    if (events & EPOLLOUT) {
        if (c->state == BW_ORIGIN_WRITE) {
            bw_origin_response_write(c);
        } else if (bw_origin_response_flush(c) == -1) {
            bw_origin_conn_close(c);
        }
    }
    if (!c->closed && (events & (EPOLLIN | EPOLLRDHUP))) {
        bw_origin_conn_read(c);
    }
    if (!c->closed && c->state == BW_ORIGIN_READ) {
        bw_origin_request_input(c);
    } else if (!c->closed && c->state == BW_ORIGIN_WS) {
        bw_origin_ws_input(c);
    }
    if (c->closed) {
        return;
    }
    if (c->peer_eof && (c->state == BW_ORIGIN_READ || c->state == BW_ORIGIN_WS
                        || c->state == BW_ORIGIN_LINGER))
    {
        bw_origin_conn_close(c);
        return;
    }
    bw_origin_conn_watch(c);
}

static void bw_origin_timer_fire(bw_origin_conn_t *c)
{
    c->timer_at = 0;
    switch (c->state) {
    case BW_ORIGIN_DELAY:
        bw_origin_response_send(c);
        break;
    case BW_ORIGIN_PAUSE:
        c->paused = true;
        c->state = BW_ORIGIN_WRITE;
        bw_origin_response_write(c);
        break;
    case BW_ORIGIN_READ:
    case BW_ORIGIN_LINGER:
        bw_origin_conn_close(c);
        break;
    default:
        break;
    }
}

/* Fires due timers; returns ms until the next one (-1: none). */
static int bw_origin_timers_run(void)
{
    int64_t           now = bw_origin_now_ms(), next = -1;
    bw_origin_conn_t *c, *after;

    for (c = bw_origin.conns; c != NULL; c = after) {
        after = c->next;   /* firing may close c, never another connection */
        if (c->timer_at != 0 && c->timer_at <= now) {
            bw_origin_timer_fire(c);
        }
    }
    bw_origin_conns_free_dead();
    for (c = bw_origin.conns; c != NULL; c = c->next) {
        if (c->timer_at != 0 && (next == -1 || c->timer_at - now < next)) {
            next = c->timer_at - now;
        }
    }
    return (int) next;
}

static int bw_origin_listen(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    socklen_t          slen = sizeof(sin);
    int                one = 1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bw_origin_lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (bw_origin_lfd == -1
        || setsockopt(bw_origin_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1
        || bind(bw_origin_lfd, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || listen(bw_origin_lfd, 4096) == -1
        || getsockname(bw_origin_lfd, (struct sockaddr *) &sin, &slen) == -1)
    {
        perror("bw_origin: listen");
        return -1;
    }
    return ntohs(sin.sin_port);
}

static int bw_origin_usage(void)
{
    fprintf(stderr, "usage: bw_origin -p PORT [-n NAME] [-k IDLE_MS] [-r] [-v]\n");
    return 2;
}

/* SIGTERM/SIGINT stay blocked except inside epoll_pwait, so none is lost. */
static void bw_origin_signals_init(sigset_t *wait_mask)
{
    struct sigaction sa = { .sa_handler = bw_origin_signal_handle };
    sigset_t         block;
    struct rlimit    rl;

    signal(SIGPIPE, SIG_IGN);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void bw_origin_loop(const sigset_t *wait_mask)
{
    struct epoll_event evs[BW_ORIGIN_MAX_EVENTS];
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };

    epoll_ctl(bw_origin_epfd, EPOLL_CTL_ADD, bw_origin_lfd, &lev);
    while (!bw_origin_quit) {
        int timeout = bw_origin_timers_run();
        int n = epoll_pwait(bw_origin_epfd, evs, BW_ORIGIN_MAX_EVENTS, timeout, wait_mask);

        for (int i = 0; i < n; i++) {
            bw_origin_conn_t *c = evs[i].data.ptr;

            if (c == NULL) {
                bw_origin_accept();
            } else if (!c->closed) {
                bw_origin_conn_event(c, evs[i].events);
            }
        }
        bw_origin_conns_free_dead();
    }
}

int main(int argc, char **argv)
{
    int      opt, port = -1;
    sigset_t wait_mask;

    bw_origin.name = "origin";
    while ((opt = getopt(argc, argv, "p:n:k:rv")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': bw_origin.name = optarg; break;
        case 'k': bw_origin.idle_ms = atoi(optarg); break;
        case 'r': bw_origin.refuse = true; break;
        case 'v': bw_origin.verbose = true; break;
        default: return bw_origin_usage();
        }
    }
    if (port < 0 || port > 65535) {
        return bw_origin_usage();
    }
    bw_origin_signals_init(&wait_mask);
    port = bw_origin_listen(port);
    bw_origin_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (port < 0 || bw_origin_epfd == -1) {
        return 1;
    }
    printf("%d\n", port);
    fflush(stdout);
    bw_origin_loop(&wait_mask);
    while (bw_origin.conns != NULL) {
        bw_origin_conn_close(bw_origin.conns);
    }
    bw_origin_conns_free_dead();
    close(bw_origin_lfd);
    close(bw_origin_epfd);
    return 0;
}
