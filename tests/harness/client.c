/*
 * client.c -- the tests' HTTP client: raw TCP to 127.0.0.1 with bounded
 * waits, byte-exact sends, and connections that read one response at a time
 * out of a stream (keep-alive, pipelining) and tell when the server closed.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BW_TEST_RECV_CHUNK    65536
#define BW_TEST_KEEPALIVE_MS  100     /* how long a kept-alive connection is watched */
#define BW_TEST_MAX_INTERIM   16      /* 1xx responses skipped before the final one */

int bw_test_connect(int port, int timeout_ms)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    struct timeval     tv = { bw_test_timeout(BW_TEST_TIMEOUT_MS) / 1000, 0 };
    struct pollfd      pfd;
    int                fd, err = 0, flags;
    socklen_t          elen = sizeof(err);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
        pfd = (struct pollfd) { fd, POLLOUT, 0 };
        if (errno != EINPROGRESS || poll(&pfd, 1, timeout_ms) != 1
            || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1 || err != 0)
        {
            close(fd);
            return -1;
        }
    }
    flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    /* a server that stops reading must not hang a test in send() */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

int bw_test_send_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

/*
 * Waits up to timeout_ms for bytes and appends them to the connection's
 * buffer. 1 when bytes came, 0 at EOF (or reset), -1 on timeout.
 */
static int bw_test_conn_fill(bw_test_conn_t *c, int timeout_ms)
{
    struct pollfd pfd = { c->fd, POLLIN, 0 };
    ssize_t       n;

    if (c->eof) {
        return 0;
    }
    if (poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : 0) != 1) {
        return -1;
    }
    if (c->len + BW_TEST_RECV_CHUNK + 1 > c->cap) {
        size_t ncap = c->cap * 2 + BW_TEST_RECV_CHUNK + 1;
        char  *nb = realloc(c->buf, ncap);

        if (nb == NULL) {
            return -1;
        }
        c->buf = nb;
        c->cap = ncap;
    }
    do {
        n = recv(c->fd, c->buf + c->len, BW_TEST_RECV_CHUNK, 0);
    } while (n == -1 && errno == EINTR);
    if (n <= 0) {
        c->eof = true;
        return 0;
    }
    c->len += (size_t) n;
    c->buf[c->len] = '\0';
    return 1;
}

char *bw_test_recv_all(int fd, size_t *len, int timeout_ms, bool *closed)
{
    bw_test_conn_t c = { .fd = fd };
    int64_t        deadline = bw_test_now_ms() + timeout_ms;
    char          *out;

    while (!c.eof && bw_test_now_ms() < deadline) {
        bw_test_conn_fill(&c, (int) (deadline - bw_test_now_ms()));
    }
    out = c.buf != NULL ? c.buf : calloc(1, 1);
    if (len != NULL) {
        *len = c.len;
    }
    if (closed != NULL) {
        *closed = c.eof;
    }
    return out;
}

bw_test_conn_t *bw_test_conn_open(int port)
{
    bw_test_conn_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->port = port;
    c->fd = bw_test_connect(port, bw_test_timeout(BW_TEST_TIMEOUT_MS));
    if (c->fd == -1) {
        free(c);
        return NULL;
    }
    return c;
}

int bw_test_conn_send(bw_test_conn_t *c, const void *data, size_t len)
{
    return bw_test_send_all(c->fd, data, len);
}

int bw_test_conn_send_str(bw_test_conn_t *c, const char *data)
{
    return bw_test_send_all(c->fd, data, strlen(data));
}

/* Drops the first n buffered bytes. */
static void bw_test_conn_consume(bw_test_conn_t *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    if (c->buf != NULL) {
        c->buf[c->len] = '\0';
    }
}

int bw_test_conn_read_response_flags(bw_test_conn_t *c, bw_test_response_t *r, int flags,
                                     int timeout_ms)
{
    int64_t deadline = bw_test_now_ms() + timeout_ms;

    for (;;) {
        size_t consumed = 0;
        int    rc = bw_test_response_parse(c->buf != NULL ? c->buf : "", c->len, c->eof, flags,
                                           r, &consumed);

        if (rc == 1) {
            bw_test_conn_consume(c, consumed);
            r->closed = c->eof && c->len == 0;
            return 0;
        }
        if (rc == -1) {
            return -1;
        }
        if (bw_test_conn_fill(c, (int) (deadline - bw_test_now_ms())) == -1) {
            /* out of time: hand over a head with what part of the body came */
            if (bw_test_response_parse(c->buf != NULL ? c->buf : "", c->len, true, flags, r,
                                       &consumed) == 1)
            {
                bw_test_conn_consume(c, consumed);
                return 0;
            }
            return -1;
        }
    }
}

int bw_test_conn_read_response(bw_test_conn_t *c, bw_test_response_t *r)
{
    return bw_test_conn_read_response_flags(c, r, 0, bw_test_timeout(BW_TEST_TIMEOUT_MS));
}

bool bw_test_conn_wait_closed(bw_test_conn_t *c, int timeout_ms)
{
    int64_t deadline = bw_test_now_ms() + timeout_ms;

    while (!c->eof) {
        int left = (int) (deadline - bw_test_now_ms());

        if (left <= 0 || bw_test_conn_fill(c, left) == -1) {
            break;
        }
    }
    return c->eof;
}

void bw_test_conn_close(bw_test_conn_t *c)
{
    if (c == NULL) {
        return;
    }
    close(c->fd);
    free(c->buf);
    free(c);
}

/* True when the response announced or implied that the server will close. */
static bool bw_test_response_says_close(const bw_test_response_t *r)
{
    const char *conn = bw_test_response_header(r, "Connection");

    return r->close_delimited || !r->complete || (conn != NULL && strcasestr(conn, "close"))
           || strcmp(r->version, "HTTP/1.0") == 0;
}

int bw_test_http_request_len(int port, const void *raw, size_t len, bw_test_response_t *r)
{
    bw_test_conn_t *c = bw_test_conn_open(port);
    int             rc = -1;

    memset(r, 0, sizeof(*r));
    if (c == NULL) {
        return -1;
    }
    /* a failed send is not the end: the server may have answered and closed early */
    (void) bw_test_conn_send(c, raw, len);
    for (int i = 0; i < BW_TEST_MAX_INTERIM; i++) {
        rc = bw_test_conn_read_response(c, r);
        if (rc != 0 || r->status / 100 != 1 || r->status == 101) {
            break;
        }
        bw_test_response_free(r);
        rc = -1;
    }
    if (rc == 0 && !r->closed) {
        int wait = bw_test_response_says_close(r) ? bw_test_timeout(BW_TEST_TIMEOUT_MS)
                                                  : BW_TEST_KEEPALIVE_MS;

        r->closed = bw_test_conn_wait_closed(c, wait);
    }
    bw_test_conn_close(c);
    return rc;
}

int bw_test_http_request(int port, const char *raw, bw_test_response_t *r)
{
    return bw_test_http_request_len(port, raw, strlen(raw), r);
}

int bw_test_http_get(int port, const char *uri, bw_test_response_t *r)
{
    char req[4096];
    int  n = snprintf(req, sizeof(req),
                      "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", uri);

    if (n < 0 || (size_t) n >= sizeof(req)) {
        return -1;
    }
    return bw_test_http_request_len(port, req, (size_t) n, r);
}
