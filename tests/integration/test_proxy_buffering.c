/*
 * test_proxy_buffering.c -- proxy_buffering through the real binary and
 * bw_origin: a slow client does not hold the upstream connection (the
 * response is read ahead and the connection goes back to the keep-alive
 * cache, seen through X-Origin-Conn), a response larger than proxy_buffers
 * spills into a temp file under proxy_temp_path (an open, unlinked file of
 * the worker, named with the configured levels) and arrives intact,
 * proxy_max_temp_file_size 0 still delivers everything, X-Accel-Buffering
 * and proxy_ignore_headers switch buffering per response, and trailers of a
 * chunked upstream response are dropped as nginx drops them.
 *
 * The slow client is a socket with a small receive buffer that reads
 * nothing past the head until the test says so; the server's sockets have a
 * fixed sndbuf, so that what the kernel holds stays far below the body
 * sizes and a few MB show the temp file at work.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BW_BUF_BIG   (1u << 20)
#define BW_BUF_HUGE  (3u << 20)

typedef struct {
    bw_test_origin_t *origin;
    int               origin_port;
    bw_test_server_t *srv;
} bw_buf_fx_t;

static bw_buf_fx_t bw_buf;

/* The slow client a test has open: a test that fails midway leaves it to
 * the per-test teardown, so its request does not hold the worker (and its
 * temp file) into the next test. */
static int   bw_buf_open_fd = -1;
static char *bw_buf_open_body;

static const char bw_buf_conf[] =
    "http {\n"
    "  log_format up '$uri|$upstream_addr|$status|$upstream_response_length';\n"
    "  access_log logs/up.log up;\n"
    "  upstream one { server 127.0.0.1:%%ORIGIN_PORT%%; keepalive 1; }\n"
    "  server {\n"
    "    listen 127.0.0.1:%%PORT%% sndbuf=32k;\n"
    "    proxy_http_version 1.1;\n"
    "    proxy_set_header Connection \"\";\n"
    "    location /ka/ { proxy_pass http://one; }\n"
    "    location /spill/ { proxy_buffers 4 4k; proxy_pass http://one; }\n"
    "    location /levels/ { proxy_buffers 4 4k; proxy_temp_path spool 1 2;"
    "                        proxy_pass http://one; }\n"
    "    location /sf/ { sendfile on; tcp_nopush on; proxy_buffers 4 4k;"
    "                    proxy_pass http://one; }\n"
    "    location /maxfile/ { proxy_max_temp_file_size 64k; proxy_buffers 4 4k;"
    "                         proxy_pass http://one; }\n"
    "    location /nofile/ { proxy_max_temp_file_size 0; proxy_buffers 4 4k;"
    "                        proxy_pass http://one; }\n"
    "    location /off/ { proxy_buffering off; proxy_pass http://one; }\n"
    "    location /tiny/ { proxy_buffers 3 1k; proxy_buffer_size 1k; proxy_busy_buffers_size 1k;"
    "                      proxy_pass http://one; }\n"
    "    location /ign/ { proxy_ignore_headers X-Accel-Buffering; proxy_buffers 4 4k;"
    "                     proxy_pass http://one; }\n"
    "  }\n"
    "}\n";

static int
bw_buf_setup(void **state)
{
    memset(&bw_buf, 0, sizeof(bw_buf));
    bw_buf.origin = bw_test_origin_start(&bw_buf.origin_port, "-n", "o1");
    if (bw_buf.origin == NULL) {
        return -1;
    }
    bw_buf.srv = bw_test_server_start(bw_buf_conf);
    if (bw_buf.srv == NULL) {
        bw_test_origin_stop(bw_buf.origin);
        return -1;
    }
    return 0;
}

static int
bw_buf_teardown(void **state)
{
    bw_test_server_stop(bw_buf.srv);
    bw_test_origin_stop(bw_buf.origin);
    return 0;
}

/* ------------------------------------------------------- the slow client */

typedef struct {
    int    fd;
    char   head[8192];
    size_t head_len;  /* bytes of the head, blank line included */
    char  *body;      /* bytes read after the head */
    size_t body_len;
} bw_buf_client_t;

/* Connects to port with a receive buffer of rcvbuf bytes and sends a GET for uri. */
static void
bw_buf_client_open_port(bw_buf_client_t *cl, int port, int rcvbuf, const char *uri)
{
    struct sockaddr_in sin;
    char               req[512];

    memset(cl, 0, sizeof(*cl));
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(cl->fd >= 0);
    assert_int_equal(setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bw_buf_open_fd = cl->fd;
    bw_buf_open_body = NULL;
    assert_int_equal(connect(cl->fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", uri);
    assert_int_equal(bw_test_send_all(cl->fd, req, strlen(req)), 0);
}

static void
bw_buf_client_open(bw_buf_client_t *cl, const char *uri)
{
    bw_buf_client_open_port(cl, bw_buf.srv->port, 4096, uri);
}

/* Reads up to want bytes into buf within timeout_ms; returns the count. */
static size_t
bw_buf_client_recv(bw_buf_client_t *cl, char *buf, size_t want, int timeout_ms)
{
    int64_t deadline = bw_test_now_ms() + timeout_ms;
    size_t  got = 0;

    while (got < want) {
        int left = (int) (deadline - bw_test_now_ms());
        struct pollfd pfd = {cl->fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, left) <= 0) {
            break;
        }
        ssize_t n = recv(cl->fd, buf + got, want - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t) n;
    }
    return got;
}

/* Reads byte by byte up to the end of the head (the body stays unread). */
static void
bw_buf_client_head(bw_buf_client_t *cl)
{
    int64_t deadline = bw_test_now_ms() + bw_test_timeout(5000);

    while (cl->head_len < sizeof(cl->head) - 1 && bw_test_now_ms() < deadline) {
        size_t n = bw_buf_client_recv(cl, cl->head + cl->head_len, 1, bw_test_timeout(5000));
        if (n == 0) {
            break;
        }
        cl->head_len++;
        cl->head[cl->head_len] = '\0';
        if (cl->head_len >= 4 && memcmp(cl->head + cl->head_len - 4, "\r\n\r\n", 4) == 0) {
            return;
        }
    }
    fail_msg("no response head: \"%s\"", cl->head);
}

/* The value of header name in the head (case as sent), or NULL. */
static const char *
bw_buf_client_header(bw_buf_client_t *cl, const char *name, char *out, size_t size)
{
    char pat[128];

    snprintf(pat, sizeof(pat), "\r\n%s: ", name);
    const char *p = strstr(cl->head, pat);
    if (p == NULL) {
        return NULL;
    }
    p += strlen(pat);
    size_t n = strcspn(p, "\r");
    n = n < size - 1 ? n : size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

/* Reads the rest of a body of len bytes and checks it is the origin's pattern. */
static void
bw_buf_client_body(bw_buf_client_t *cl, size_t len)
{
    cl->body = malloc(len);
    bw_buf_open_body = cl->body;
    assert_non_null(cl->body);
    cl->body_len = bw_buf_client_recv(cl, cl->body, len, bw_test_timeout(20000));
    assert_int_equal(cl->body_len, len);
    assert_true(bw_test_pattern_check(cl->body, cl->body_len, 0));
}

/*
 * As bw_buf_client_body, with reads of uneven sizes (100 B, 4 KiB, 64 KiB,
 * picked by a generator seeded with seed) and, when paced, a 10 ms pause
 * now and then and 20 us between reads.
 */
static void
bw_buf_client_body_uneven(bw_buf_client_t *cl, size_t len, unsigned seed, bool paced)
{
    static const size_t sizes[] = {100, 4096, 65536};
    int64_t             deadline = bw_test_now_ms() + bw_test_timeout(20000);

    cl->body = malloc(len);
    bw_buf_open_body = cl->body;
    assert_non_null(cl->body);
    while (cl->body_len < len && bw_test_now_ms() < deadline) {
        seed = seed * 1103515245u + 12345u;
        size_t want = sizes[(seed >> 16) % 3];
        want = want < len - cl->body_len ? want : len - cl->body_len;
        size_t n = bw_buf_client_recv(cl, cl->body + cl->body_len, want, bw_test_timeout(5000));
        if (n == 0) {
            break;
        }
        cl->body_len += n;
        if (!paced) {
            continue;
        }
        if ((seed >> 8) % 100 == 0) {
            bw_test_sleep_ms(10);
        } else {
            usleep(20);
        }
    }
    assert_int_equal(cl->body_len, len);
    assert_true(bw_test_pattern_check(cl->body, cl->body_len, 0));
}

static void
bw_buf_client_close(bw_buf_client_t *cl)
{
    close(cl->fd);
    free(cl->body);
    bw_buf_open_fd = -1;
    bw_buf_open_body = NULL;
}

/* Per test: closes the client a failed test left open. */
static int
bw_buf_test_teardown(void **state)
{
    if (bw_buf_open_fd >= 0) {
        close(bw_buf_open_fd);
        free(bw_buf_open_body);
        bw_buf_open_fd = -1;
        bw_buf_open_body = NULL;
    }
    return 0;
}

/* ------------------------------------------------------ worker's files */

/* Paths of the worker's open files whose target contains needle (count). */
static int
bw_buf_worker_files(const char *needle, char *first, size_t size)
{
    pid_t pids[4];
    int   n = bw_test_server_workers(bw_buf.srv, pids, 4), count = 0;

    for (int i = 0; i < n; i++) {
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pids[i]);
        DIR *d = opendir(dir);
        if (d == NULL) {
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char link[600], target[512];
            snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
            ssize_t len = readlink(link, target, sizeof(target) - 1);
            if (len <= 0) {
                continue;
            }
            target[len] = '\0';
            if (strstr(target, needle) != NULL) {
                if (count++ == 0 && first != NULL) {
                    snprintf(first, size, "%s", target);
                }
            }
        }
        closedir(d);
    }
    return count;
}

/* Size of the worker's open file whose target contains needle, or -1. */
static off_t
bw_buf_worker_file_size(const char *needle)
{
    pid_t pids[4];
    int   n = bw_test_server_workers(bw_buf.srv, pids, 4);

    for (int i = 0; i < n; i++) {
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pids[i]);
        DIR *d = opendir(dir);
        if (d == NULL) {
            continue;
        }
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            char link[600], target[512];
            struct stat st;
            snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
            ssize_t len = readlink(link, target, sizeof(target) - 1);
            if (len <= 0) {
                continue;
            }
            target[len] = '\0';
            if (strstr(target, needle) != NULL && stat(link, &st) == 0) {
                closedir(d);
                return st.st_size;
            }
        }
        closedir(d);
    }
    return -1;
}

/* Waits until the worker has (want true) or has not a file matching needle. */
static bool
bw_buf_wait_worker_file(const char *needle, bool want, char *first, size_t size)
{
    int64_t deadline = bw_test_now_ms() + bw_test_timeout(5000);

    do {
        if ((bw_buf_worker_files(needle, first, size) > 0) == want) {
            return true;
        }
        bw_test_sleep_ms(20);
    } while (bw_test_now_ms() < deadline);
    return false;
}

/* Entries of prefix/rel other than "." and ".." (-1 when it is missing). */
static int
bw_buf_dir_entries(const char *rel)
{
    DIR *d = opendir(bw_test_server_path(bw_buf.srv, rel));
    int  n = 0;

    if (d == NULL) {
        return -1;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------ tests */

static void
test_buffering_slow_client_releases_upstream_connection_early(void **state)
{
    bw_buf_client_t    a;
    char               conn_a[32], uri[64];
    bw_test_response_t r;
    bool               reused = false;

    snprintf(uri, sizeof(uri), "/ka/a?len=%u", BW_BUF_BIG);
    bw_buf_client_open(&a, uri);
    bw_buf_client_head(&a);
    assert_non_null(bw_buf_client_header(&a, "X-Origin-Conn", conn_a, sizeof(conn_a)));

    /* A reads nothing more: the proxy reads the response on into the temp
     * file; once the file stopped growing the whole body was read and A's
     * upstream connection must be back in the cache (keepalive 1). Probing
     * earlier would race: a probe's own new connection, released after
     * A's, would push A's out of the one-connection cache. */
    char want[600];
    snprintf(want, sizeof(want), "%s/", bw_test_server_path(bw_buf.srv, "proxy_temp"));
    off_t   last = -1;
    int     still = 0;
    int64_t deadline = bw_test_now_ms() + bw_test_timeout(10000);
    while (still < 5 && bw_test_now_ms() < deadline) {
        off_t size = bw_buf_worker_file_size(want);
        still = size > (off_t) BW_BUF_BIG / 2 && size == last ? still + 1 : 0;
        last = size;
        bw_test_sleep_ms(bw_test_timeout(50));
    }
    assert_int_equal(still, 5);
    deadline = bw_test_now_ms() + bw_test_timeout(5000);
    while (!reused && bw_test_now_ms() < deadline) {
        assert_int_equal(bw_test_http_get(bw_buf.srv->port, "/ka/b?len=10", &r), 0);
        assert_int_equal(r.status, 200);
        const char *conn_b = bw_test_response_header(&r, "X-Origin-Conn");
        reused = conn_b != NULL && strcmp(conn_b, conn_a) == 0;
        bw_test_response_free(&r);
        if (!reused) {
            bw_test_sleep_ms(100);
        }
    }
    assert_true(reused);

    /* the slow client still gets every byte */
    bw_buf_client_body(&a, BW_BUF_BIG);
    bw_buf_client_close(&a);
}

static void
test_buffering_spills_to_unlinked_temp_file_and_body_intact(void **state)
{
    bw_buf_client_t a;
    char            path[512], uri[64], want[600];
    int             before = bw_test_server_log_count(
        bw_buf.srv, "an upstream response is buffered to a temporary file");

    /* the master made the default directory under the prefix */
    assert_int_equal(bw_buf_dir_entries("proxy_temp"), 0);

    snprintf(uri, sizeof(uri), "/spill/a?len=%u", BW_BUF_HUGE);
    bw_buf_client_open(&a, uri);
    bw_buf_client_head(&a);

    /* during the transfer the worker holds the file, already unlinked */
    snprintf(want, sizeof(want), "%s/", bw_test_server_path(bw_buf.srv, "proxy_temp"));
    assert_true(bw_buf_wait_worker_file(want, true, path, sizeof(path)));
    assert_non_null(strstr(path, "(deleted)"));
    assert_int_equal(bw_buf_dir_entries("proxy_temp"), 0);
    assert_true(bw_test_server_log_wait(bw_buf.srv,
                                        "an upstream response is buffered to a temporary file",
                                        before + 1, bw_test_timeout(3000)));
    assert_true(bw_test_server_log_count(bw_buf.srv, "while reading upstream") > 0);

    bw_buf_client_body(&a, BW_BUF_HUGE);
    /* the request is over: the file is closed */
    assert_true(bw_buf_wait_worker_file(want, false, NULL, 0));
    bw_buf_client_close(&a);

    char line[128];
    snprintf(line, sizeof(line), "/spill/a|127.0.0.1:%d|200|%u", bw_buf.origin_port, BW_BUF_HUGE);
    assert_true(bw_test_server_file_wait(bw_buf.srv, "logs/up.log", line, 1,
                                         bw_test_timeout(3000)));
}

static void
test_buffering_temp_path_levels_name_the_file(void **state)
{
    bw_buf_client_t a;
    char            path[512], uri[64], want[600];

    snprintf(uri, sizeof(uri), "/levels/a?len=%u", BW_BUF_HUGE);
    bw_buf_client_open(&a, uri);
    bw_buf_client_head(&a);
    snprintf(want, sizeof(want), "%s/", bw_test_server_path(bw_buf.srv, "spool"));
    assert_true(bw_buf_wait_worker_file(want, true, path, sizeof(path)));

    /* spool/<last digit>/<two digits before it>/<ten digits> */
    const char *rest = path + strlen(want);
    char        digits[11] = "";
    assert_int_equal(strlen(rest), 1 + 1 + 2 + 1 + 10 + strlen(" (deleted)"));
    memcpy(digits, rest + 5, 10);
    assert_int_equal(rest[0], digits[9]);
    assert_memory_equal(rest + 2, digits + 7, 2);
    assert_int_equal(strspn(digits, "0123456789"), 10);

    bw_buf_client_body(&a, BW_BUF_HUGE);
    bw_buf_client_close(&a);
}

static void
test_buffering_temp_file_sent_with_sendfile(void **state)
{
    bw_buf_client_t a;
    char            uri[64], want[600];

    snprintf(uri, sizeof(uri), "/sf/a?len=%u", BW_BUF_HUGE);
    bw_buf_client_open(&a, uri);
    bw_buf_client_head(&a);
    snprintf(want, sizeof(want), "%s/", bw_test_server_path(bw_buf.srv, "proxy_temp"));
    assert_true(bw_buf_wait_worker_file(want, true, NULL, 0));
    bw_buf_client_body(&a, BW_BUF_HUGE);
    bw_buf_client_close(&a);
}

static void
test_buffering_temp_file_stops_at_max_temp_file_size(void **state)
{
    bw_buf_client_t a;
    char            uri[64], want[600];

    snprintf(uri, sizeof(uri), "/maxfile/a?len=%u", BW_BUF_HUGE);
    bw_buf_client_open(&a, uri);
    bw_buf_client_head(&a);
    snprintf(want, sizeof(want), "%s/", bw_test_server_path(bw_buf.srv, "proxy_temp"));
    assert_true(bw_buf_wait_worker_file(want, true, NULL, 0));

    /* the file grows to the limit and no further while the client waits */
    off_t size = -1;
    for (int i = 0; i < 25; i++) {
        off_t now = bw_buf_worker_file_size(want);
        size = now > size ? now : size;
        bw_test_sleep_ms(20);
    }
    assert_true(size > 0);
    assert_true(size <= 64 * 1024);
    bw_buf_client_body(&a, BW_BUF_HUGE);
    bw_buf_client_close(&a);
}

/*
 * A temp file that cannot be written (here: past RLIMIT_FSIZE, which the
 * server inherits; a full disk is the same) is logged and the response goes
 * on in memory only, intact, with a slow client: the peer is read again each
 * time the client drains some, never left waiting on a file that takes no
 * more.
 */
static void
test_buffering_temp_file_write_failure_falls_back_to_memory(void **state)
{
    struct rlimit     old, small;
    bw_buf_client_t   a;
    char              uri[64];
    bw_test_server_t *srv;

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 512 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    srv = bw_test_server_start(
        "http {\n"
        "  upstream one { server 127.0.0.1:%%ORIGIN_PORT%%; keepalive 1; }\n"
        "  server {\n"
        "    listen 127.0.0.1:%%PORT%% sndbuf=32k;\n"
        "    location / { proxy_buffers 4 4k; proxy_pass http://one; }\n"
        "  }\n"
        "}\n");
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_non_null(srv);

    /* the client drains unevenly while the file grows to its limit and
     * fails, then while the rest comes through memory only */
    for (unsigned i = 0; i < 6; i++) {
        snprintf(uri, sizeof(uri), "/full/%u?len=%u", i, BW_BUF_HUGE);
        bw_buf_client_open_port(&a, srv->port, 65536, uri);
        bw_buf_client_head(&a);
        bw_test_sleep_ms(50);
        bw_buf_client_body_uneven(&a, BW_BUF_HUGE, i, true);
        bw_buf_client_close(&a);
        assert_int_equal(bw_test_server_log_count(srv, "File too large"), (int) i + 1);
    }
    bw_test_server_stop(srv);
}

/*
 * With 1 KiB buffers the relay needs many rounds per event: a body whose
 * end was read in the last round of a turn must still be finished (it
 * was not, now and then: the last bytes never left, ~5 in 100 requests).
 */
static void
test_buffering_tiny_buffers_body_always_completes(void **state)
{
    bw_buf_client_t a;
    static char     all[65537 + 4096];

    /* a fast reader: 64 KiB recv() calls from the first byte on */
    for (int i = 0; i < 100; i++) {
        bw_buf_client_open(&a, "/tiny/a?len=65537");
        size_t      got = 0;
        const char *body = NULL;
        int64_t     deadline = bw_test_now_ms() + bw_test_timeout(5000);
        while (bw_test_now_ms() < deadline) {
            struct pollfd pfd = {a.fd, POLLIN, 0};
            if (poll(&pfd, 1, bw_test_timeout(2000)) <= 0) {
                break;
            }
            ssize_t n = recv(a.fd, all + got, sizeof(all) - got, 0);
            if (n <= 0) {
                break;
            }
            got += (size_t) n;
            body = memmem(all, got, "\r\n\r\n", 4);
            if (body != NULL && got - (size_t) (body + 4 - all) >= 65537) {
                break;
            }
        }
        assert_non_null(body);
        body += 4;
        assert_int_equal(got - (size_t) (body - all), 65537);
        assert_true(bw_test_pattern_check(body, 65537, 0));
        bw_buf_client_close(&a);
    }
}

static void
test_buffering_max_temp_file_size_zero_still_delivers_intact(void **state)
{
    bw_buf_client_t a;
    char            uri[64];
    int             before = bw_test_server_log_count(
        bw_buf.srv, "an upstream response is buffered to a temporary file");

    snprintf(uri, sizeof(uri), "/nofile/a?len=%u", BW_BUF_HUGE);
    bw_buf_client_open(&a, uri);
    bw_buf_client_head(&a);
    bw_test_sleep_ms(300);
    bw_buf_client_body(&a, BW_BUF_HUGE);
    bw_buf_client_close(&a);
    assert_int_equal(bw_test_server_log_count(
                         bw_buf.srv, "an upstream response is buffered to a temporary file"),
                     before);
}

/* Runs a slow client over uri (HUGE bytes); true when a temp file was used. */
static bool
bw_buf_used_temp_file(const char *uri)
{
    bw_buf_client_t a;
    const char     *msg = "an upstream response is buffered to a temporary file";
    int             before = bw_test_server_log_count(bw_buf.srv, msg);

    bw_buf_client_open(&a, uri);
    bw_buf_client_head(&a);
    bw_test_sleep_ms(300);
    bw_buf_client_body(&a, BW_BUF_HUGE);
    bw_buf_client_close(&a);
    return bw_test_server_log_count(bw_buf.srv, msg) > before;
}

static void
test_buffering_x_accel_buffering_switches_per_response(void **state)
{
    char uri[128];

    /* "no" streams at the client's pace: no temp file */
    snprintf(uri, sizeof(uri), "/spill/a?len=%u&header=X-Accel-Buffering:no", BW_BUF_HUGE);
    assert_false(bw_buf_used_temp_file(uri));
    /* "yes" buffers a location with proxy_buffering off */
    snprintf(uri, sizeof(uri), "/off/a?len=%u&header=X-Accel-Buffering:yes", BW_BUF_HUGE);
    assert_true(bw_buf_used_temp_file(uri));
    /* off stays off without the header */
    snprintf(uri, sizeof(uri), "/off/a?len=%u", BW_BUF_HUGE);
    assert_false(bw_buf_used_temp_file(uri));
    /* proxy_ignore_headers X-Accel-Buffering: the location's setting wins */
    snprintf(uri, sizeof(uri), "/ign/a?len=%u&header=X-Accel-Buffering:no", BW_BUF_HUGE);
    assert_true(bw_buf_used_temp_file(uri));
}

static void
test_buffering_chunked_response_intact_and_trailers_dropped(void **state)
{
    bw_test_response_t r;

    assert_int_equal(
        bw_test_http_get(bw_buf.srv->port,
                         "/spill/a?len=300000&chunked=1&chunk=777&trailer=X-T:1", &r),
        0);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    assert_true(r.complete);
    assert_int_equal(r.body_len, 300000);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    assert_int_equal(r.ntrailers, 0);
    bw_test_response_free(&r);

    /* unbuffered, too */
    assert_int_equal(
        bw_test_http_get(bw_buf.srv->port, "/off/a?len=5000&chunked=1&trailer=X-T:1", &r), 0);
    assert_int_equal(r.body_len, 5000);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    assert_int_equal(r.ntrailers, 0);
    bw_test_response_free(&r);
}

static void
test_buffering_off_streams_before_the_body_ends(void **state)
{
    bw_test_conn_t    *c = bw_test_conn_open(bw_buf.srv->port);
    bw_test_response_t r;

    /* the origin sends the head, then the body a second later: the head is
     * not held back waiting for it */
    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "GET /off/a?len=100&body_delay=1000 HTTP/1.1\r\n"
                                              "Host: localhost\r\n\r\n"),
                     0);
    int64_t t0 = bw_test_now_ms();
    while ((c->len == 0 || memmem(c->buf, c->len, "\r\n\r\n", 4) == NULL)
           && bw_test_now_ms() - t0 < bw_test_timeout(3000)) {
        bw_test_conn_wait_closed(c, 20);
    }
    assert_true(c->len > 0 && memmem(c->buf, c->len, "\r\n\r\n", 4) != NULL);
    assert_true(bw_test_now_ms() - t0 < 900);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.body_len, 100);
    bw_test_response_free(&r);
    bw_test_conn_close(c);
}

/* ---------------------------------------------------------- configuration */

static void
test_buffering_config_messages(void **state)
{
    static const struct {
        const char *http;
        const char *message;
    } rows[] = {
        {"server { location / {\nproxy_temp_path /tmp/x 1 2 2 1; # @@\n} }",
         "invalid number of arguments in \"proxy_temp_path\" directive"},
        {"server { location / { proxy_temp_path /tmp/x;\nproxy_temp_path /tmp/y; # @@\n} }",
         "\"proxy_temp_path\" directive is duplicate"},
        {"server { location / {\nproxy_buffers 1 4k;\n} }",
         "there must be at least 2 \"proxy_buffers\""},
        {"server { location / {\nproxy_busy_buffers_size 1k;\n} }",
         "\"proxy_busy_buffers_size\" must be equal to or greater than the maximum of the value "
         "of \"proxy_buffer_size\" and one of the \"proxy_buffers\""},
        {"server { location / {\nproxy_max_temp_file_size 1k;\n} }",
         "\"proxy_max_temp_file_size\" must be equal to zero to disable temporary files usage "
         "or must be equal to or greater than the maximum of the value of "
         "\"proxy_buffer_size\" and one of the \"proxy_buffers\""},
        {"server { location / {\nproxy_temp_file_write_size 1k;\n} }",
         "\"proxy_temp_file_write_size\" must be equal to or greater than the maximum of the "
         "value of \"proxy_buffer_size\" and one of the \"proxy_buffers\""},
        {"server { location / {\nproxy_ignore_headers Foo; # @@\n} }", "invalid value \"Foo\""},
        {"server { location / {\nproxy_buffering maybe; # @@\n} }",
         "invalid value \"maybe\" in \"proxy_buffering\" directive, it must be \"on\" or \"off\""},
    };
    char failures[16384] = "";

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bw_test_conf_check_marked(rows[i].http, rows[i].message, failures, sizeof(failures));
    }
    if (failures[0]) {
        fail_msg("%s", failures);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_buffering_slow_client_releases_upstream_connection_early, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_spills_to_unlinked_temp_file_and_body_intact, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_temp_path_levels_name_the_file, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_temp_file_sent_with_sendfile, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_temp_file_stops_at_max_temp_file_size, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_max_temp_file_size_zero_still_delivers_intact, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_x_accel_buffering_switches_per_response, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_chunked_response_intact_and_trailers_dropped, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_off_streams_before_the_body_ends, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_temp_file_write_failure_falls_back_to_memory, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_tiny_buffers_body_always_completes, bw_buf_test_teardown),
        cmocka_unit_test_teardown(test_buffering_config_messages, bw_buf_test_teardown),
    };
    return cmocka_run_group_tests(tests, bw_buf_setup, bw_buf_teardown);
}
