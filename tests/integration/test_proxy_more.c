/*
 * test_proxy_more.c -- more of proxy_* through the real binary and
 * bw_origin: proxy_request_buffering off (the peer is reached before the
 * body ends; Content-Length kept; a chunked body re-chunked to an HTTP/1.1
 * peer, buffered for HTTP/1.0; limits; no retry once the body went out),
 * proxy_set_body, proxy_cookie_domain and proxy_cookie_path (text and
 * regex rules, off), proxy_ignore_headers with X-Accel-Redirect (URI,
 * named location, unsafe URI) and X-Accel-Limit-Rate, and
 * proxy_next_upstream_timeout. Expected values were taken from nginx 1.22
 * run with the same configuration.
 */
#include "harness.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    bw_test_origin_t *origin;
    int               origin_port;
    int               hole;      /* listens, never accepts: requests go unanswered */
    bw_test_server_t *srv;
} bw_more_fx_t;

static bw_more_fx_t bw_more;

#define OP "127.0.0.1:%%ORIGIN_PORT%%"
#define HP "127.0.0.1:%%HOLE%%"

static const char bw_more_conf[] =
    "http {\n"
    "  log_format lr '$uri|$limit_rate|$upstream_addr|$status';\n"
    "  access_log logs/lr.log lr;\n"
    "  client_body_buffer_size 8k;\n"
    "  upstream retry_on { server " HP " max_fails=0; server " OP "; }\n"
    "  upstream retry_off { server " HP " max_fails=0; server " OP "; }\n"
    "  upstream slow_short { server " OP " max_fails=0; server " OP " max_fails=0; }\n"
    "  upstream slow_long { server " OP " max_fails=0; server " OP " max_fails=0; }\n"
    "  proxy_cookie_domain localhost example.org;\n"
    "  proxy_cookie_domain ~^\\.?(a)\\.b$ x.$1;\n"
    "  proxy_cookie_path /two/ /;\n"
    "  proxy_cookie_path ~*^/USER/([^/]+) /u/$1;\n"
    "  server {\n"
    "    listen 127.0.0.1:%%PORT%%;\n"
    "    location / { proxy_pass http://" OP "; }\n"
    "    location /nocookie/ { proxy_cookie_domain off; proxy_cookie_path off;"
    "                          proxy_pass http://" OP "; }\n"
    "    location /rb-on/ { proxy_pass http://" OP "; }\n"
    "    location /rb-off/ { proxy_request_buffering off; proxy_pass http://" OP "; }\n"
    "    location /rb-off11/ { proxy_request_buffering off; proxy_http_version 1.1;"
    "                          proxy_pass http://" OP "; }\n"
    "    location /rb-small/ { proxy_request_buffering off; proxy_http_version 1.1;"
    "                          client_max_body_size 10; proxy_pass http://" OP "; }\n"
    "    location /rb-body/ { proxy_request_buffering off; proxy_set_body \"set:$uri\";"
    "                         proxy_pass http://" OP "; }\n"
    "    location /retry-on/ { proxy_read_timeout 300ms; proxy_pass http://retry_on; }\n"
    "    location /retry-off/ { proxy_read_timeout 300ms; proxy_request_buffering off;"
    "                           proxy_pass http://retry_off; }\n"
    "    location /ign/ { proxy_ignore_headers X-Accel-Redirect X-Accel-Limit-Rate;"
    "                     proxy_pass http://" OP "; }\n"
    "    location /internal/ { internal; return 200 \"internal $uri $args $request_method\\n\"; }\n"
    "    location @named { return 200 \"named $uri\\n\"; }\n"
    "    location /internal-up/ { internal;"
    "      return 200 \"up $upstream_addr|$upstream_status|$upstream_http_x_origin\\n\"; }\n"
    "    location /internal-px/ { internal; proxy_pass http://" OP ";"
    "      add_header X-Up \"$upstream_addr|$upstream_status\"; }\n"
    "    location /nut-short/ { proxy_read_timeout 500ms; proxy_next_upstream_timeout 300ms;"
    "                           proxy_pass http://slow_short; }\n"
    "    location /nut-long/ { proxy_read_timeout 500ms; proxy_next_upstream_timeout 5s;"
    "                          proxy_pass http://slow_long; }\n"
    "  }\n"
    "}\n";

static int
bw_more_setup(void **state)
{
    char hole[16];

    memset(&bw_more, 0, sizeof(bw_more));
    bw_more.origin = bw_test_origin_start(&bw_more.origin_port, "-n", "o1");
    int port = bw_test_free_port(&bw_more.hole);
    if (bw_more.origin == NULL || port < 0 || listen(bw_more.hole, 16) != 0) {
        return -1;
    }
    snprintf(hole, sizeof(hole), "%d", port);
    bw_more.srv = bw_test_server_start(bw_more_conf, "HOLE", hole);
    if (bw_more.srv == NULL) {
        bw_test_origin_stop(bw_more.origin);
        return -1;
    }
    bw_test_server_allow(bw_more.srv, "upstream timed out");
    return 0;
}

static int
bw_more_teardown(void **state)
{
    bw_test_server_stop(bw_more.srv);
    bw_test_origin_stop(bw_more.origin);
    close(bw_more.hole);
    return 0;
}

/* Connections the origin accepted (its stats request included). */
static long
bw_more_origin_conns(void)
{
    long conns = -1;

    assert_int_equal(bw_test_origin_stats(bw_more.origin_port, NULL, &conns), 0);
    return conns;
}

/* Whether the origin accepted a connection other than our stats requests
 * within timeout_ms after `before` was read. */
static bool
bw_more_origin_connected(long before, int timeout_ms)
{
    int64_t deadline = bw_test_now_ms() + timeout_ms;
    long    seen = before;

    do {
        long now = bw_more_origin_conns();
        if (now - seen > 1) {
            return true;
        }
        seen = now;
        bw_test_sleep_ms(50);
    } while (bw_test_now_ms() < deadline);
    return false;
}

/* -------------------------------------------------- request buffering */

/* Sends a POST with a body of n pattern bytes in two parts; reports whether
 * the origin was reached between them; checks the echoed body. */
static bool
bw_more_post_in_two_parts(const char *location, size_t n)
{
    char              *body = malloc(n);
    char               head[256];
    bw_test_conn_t    *c = bw_test_conn_open(bw_more.srv->port);
    bw_test_response_t r;

    assert_non_null(body);
    assert_non_null(c);
    for (size_t i = 0; i < n; i++) {
        body[i] = bw_test_pattern_byte(i);
    }
    snprintf(head, sizeof(head),
             "POST %s?echo=body HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n",
             location, n);
    long before = bw_more_origin_conns();
    assert_int_equal(bw_test_conn_send_str(c, head), 0);
    assert_int_equal(bw_test_conn_send(c, body, 1000), 0);
    bool early = bw_more_origin_connected(before, bw_test_timeout(600));
    assert_int_equal(bw_test_conn_send(c, body + 1000, n - 1000), 0);

    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    char len[32];
    snprintf(len, sizeof(len), "%zu", n);
    assert_string_equal(bw_test_response_header(&r, "X-Origin-Body-Length"), len);
    assert_int_equal(r.body_len, n);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);
    bw_test_conn_close(c);
    free(body);
    return early;
}

static void
test_request_buffering_off_reaches_peer_before_body_ends(void **state)
{
    /* on: the body is read whole first; off: it streams, larger than
     * client_body_buffer_size, and arrives intact with its length */
    assert_false(bw_more_post_in_two_parts("/rb-on/a", 200000));
    assert_true(bw_more_post_in_two_parts("/rb-off/a", 200000));
}

/* The raw request the origin received (echo=1) for raw sent in two parts. */
static void
bw_more_echo_two_parts(const char *first, const char *second, bw_test_response_t *r)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_more.srv->port);

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, first), 0);
    bw_test_sleep_ms(150);
    assert_int_equal(bw_test_conn_send_str(c, second), 0);
    assert_int_equal(bw_test_conn_read_response(c, r), 0);
    bw_test_conn_close(c);
}

static void
test_request_buffering_off_chunked_body_rechunked_for_http11(void **state)
{
    bw_test_response_t r;
    char               want[256];

    bw_more_echo_two_parts("POST /rb-off11/a?echo=1 HTTP/1.1\r\nHost: localhost\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                           "6\r\n world\r\n0\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "X-Origin-Body-Length"), "11");
    snprintf(want, sizeof(want),
             "POST /rb-off11/a?echo=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
             "Transfer-Encoding: chunked\r\n\r\n",
             bw_more.origin_port);
    assert_true(r.body_len > strlen(want));
    if (memcmp(r.body, want, strlen(want)) != 0) {
        fail_msg("origin received:\n%.*s", (int) r.body_len, r.body);
    }
    const char *framing = r.body + strlen(want);
    size_t      flen = r.body_len - strlen(want);
    /* one chunk per read: both parts in one, or each in its own */
    if (!(flen == 26 && memcmp(framing, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 26) == 0)
        && !(flen == 21 && memcmp(framing, "b\r\nhello world\r\n0\r\n\r\n", 21) == 0)) {
        fail_msg("framing:\n%.*s", (int) flen, framing);
    }
    bw_test_response_free(&r);
}

/* Unbuffered too, a client that waits for "100 Continue" gets it, then its body goes through. */
static void
test_request_buffering_off_answers_100_continue(void **state)
{
    int                fd = bw_test_connect(bw_more.srv->port, 5000);
    const char        *req = "PUT /rb-off/a?echo=body HTTP/1.1\r\nHost: a\r\n"
                             "Expect: 100-continue\r\nContent-Length: 5\r\n"
                             "Connection: close\r\n\r\n";
    char               buf[64] = {0};
    struct pollfd      pfd = {fd, POLLIN, 0};
    bw_test_response_t r;
    size_t             len, used;
    bool               closed;

    assert_true(fd >= 0);
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    assert_int_equal(poll(&pfd, 1, bw_test_timeout(5000)), 1);
    assert_int_equal(recv(fd, buf, 25, 0), 25);
    assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_int_equal(bw_test_send_all(fd, "hello", 5), 0);
    char *out = bw_test_recv_all(fd, &len, bw_test_timeout(5000), &closed);
    close(fd);
    assert_int_equal(bw_test_response_parse(out, len, true, 0, &r, &used), 1);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "hello", 5);
    bw_test_response_free(&r);
    free(out);
}

static void
test_request_buffering_off_chunked_body_buffered_for_http10(void **state)
{
    bw_test_response_t r;
    char               want[256];

    bw_more_echo_two_parts("POST /rb-off/a?echo=1 HTTP/1.1\r\nHost: localhost\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                           "6\r\n world\r\n0\r\n\r\n", &r);
    snprintf(want, sizeof(want),
             "POST /rb-off/a?echo=1 HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
             "Content-Length: 11\r\n\r\nhello world",
             bw_more.origin_port);
    assert_int_equal(r.body_len, strlen(want));
    assert_memory_equal(r.body, want, r.body_len);
    bw_test_response_free(&r);
}

static void
test_request_buffering_off_limits_and_set_body(void **state)
{
    bw_test_response_t r;

    /* a declared length over client_max_body_size: 413 at once */
    assert_int_equal(bw_test_http_request(bw_more.srv->port,
                                          "POST /rb-small/a HTTP/1.1\r\nHost: h\r\n"
                                          "Content-Length: 20\r\nConnection: close\r\n\r\n"
                                          "01234567890123456789",
                                          &r),
                     0);
    assert_int_equal(r.status, 413);
    bw_test_response_free(&r);

    /* a chunked body growing past it while it streams */
    assert_int_equal(bw_test_http_request(bw_more.srv->port,
                                          "POST /rb-small/a HTTP/1.1\r\nHost: h\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\n"
                                          "6\r\nhello \r\n14\r\n01234567890123456789\r\n"
                                          "0\r\n\r\n",
                                          &r),
                     0);
    assert_int_equal(r.status, 413);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_more.srv,
                                        "client intended to send too large chunked body: 6+20 "
                                        "bytes",
                                        1, bw_test_timeout(3000)));

    /* proxy_set_body replaces the body: nothing streams */
    assert_int_equal(bw_test_http_request(bw_more.srv->port,
                                          "POST /rb-body/a?echo=body HTTP/1.1\r\nHost: h\r\n"
                                          "Content-Length: 3\r\nConnection: close\r\n\r\nabc",
                                          &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, strlen("set:/rb-body/a"));
    assert_memory_equal(r.body, "set:/rb-body/a", r.body_len);
    bw_test_response_free(&r);
}

static void
test_request_buffering_off_not_retried_after_body_sent(void **state)
{
    bw_test_response_t r;
    const char        *req = "PUT %s HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                             "Connection: close\r\n\r\nhello";
    char               raw[256];

    /* the first peer never answers: a buffered body is sent again to the
     * next one after the read timeout, a streamed one cannot be */
    snprintf(raw, sizeof(raw), req, "/retry-on/a?echo=body");
    assert_int_equal(bw_test_http_request(bw_more.srv->port, raw, &r), 0);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "hello", 5);
    bw_test_response_free(&r);

    snprintf(raw, sizeof(raw), req, "/retry-off/a?echo=body");
    assert_int_equal(bw_test_http_request(bw_more.srv->port, raw, &r), 0);
    assert_int_equal(r.status, 504);
    bw_test_response_free(&r);
}

/* ------------------------------------------------------------- cookies */

static void
test_cookie_domain_and_path_rewritten_as_nginx(void **state)
{
    static const struct {
        const char *uri;   /* Set-Cookie as the origin sends it (%-encoded) */
        const char *want;
    } rows[] = {
        {"/c?header=Set-Cookie:a=b;%20Domain=.LocalHost;path=/two/x",
         "a=b; Domain=.example.org; path=/x"},
        {"/c?header=Set-Cookie:a=b;%20domain=localhost.com;%20path=/TWO/x",
         "a=b; domain=localhost.com; path=/TWO/x"},
        {"/c?header=Set-Cookie:a=b;path=/user/bob/z;domain=a.b", "a=b; path=/u/bob; domain=x.a"},
        {"/c?header=Set-Cookie:a=b;%20%20path=/two/;%20%20secure", "a=b; path=/; secure"},
        {"/c?header=Set-Cookie:a=b", "a=b"},
        {"/c?header=Set-Cookie:path=/two/;%20x=1", "path=/two/; x=1"},
        {"/c?header=Set-Cookie:a=b;%20domain=.a.b", "a=b; domain=x.a"},
        {"/c?header=Set-Cookie:a=b;path=/nomatch;%20%20secure", "a=b;path=/nomatch;  secure"},
        {"/c?header=Set-Cookie:a=b;%20path;%20domain=", "a=b; path; domain="},
        {"/c?header=Set-Cookie:a=b%20;%20PATH%20=%20/two/q%20;%20x", "a=b; PATH=/q; x"},
        {"/c?header=Set-Cookie:%20a%20=%20b%20;path=/two/", "a=b; path=/"},
        {"/c?header=Set-Cookie:a=b;path=%22/two/%22", "a=b;path=\"/two/\""},
        {"/nocookie/c?header=Set-Cookie:a=b;%20path=/two/x;domain=localhost",
         "a=b; path=/two/x;domain=localhost"},
    };
    char failures[4096] = "";

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bw_test_response_t r;
        assert_int_equal(bw_test_http_get(bw_more.srv->port, rows[i].uri, &r), 0);
        const char *got = bw_test_response_header(&r, "Set-Cookie");
        if (got == NULL || strcmp(got, rows[i].want) != 0) {
            size_t n = strlen(failures);
            snprintf(failures + n, sizeof(failures) - n, "%s: got \"%s\", want \"%s\"\n",
                     rows[i].uri, got ? got : "(none)", rows[i].want);
        }
        bw_test_response_free(&r);
    }
    if (failures[0]) {
        fail_msg("%s", failures);
    }
}

static void
test_cookie_every_set_cookie_rewritten(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_more.srv->port,
                                      "/c?header=Set-Cookie:a=1;%20path=/two/a"
                                      "&header=Set-Cookie:b=2;%20domain=localhost",
                                      &r),
                     0);
    assert_int_equal(bw_test_response_header_count(&r, "Set-Cookie"), 2);
    bool one = false, two = false;
    for (size_t i = 0; i < r.nheaders; i++) {
        if (strcasecmp(r.headers[i].name, "Set-Cookie") != 0) {
            continue;
        }
        one = one || strcmp(r.headers[i].value, "a=1; path=/a") == 0;
        two = two || strcmp(r.headers[i].value, "b=2; domain=example.org") == 0;
    }
    assert_true(one);
    assert_true(two);
    bw_test_response_free(&r);
}

/* -------------------------------------------------------------- X-Accel */

static void
test_x_accel_redirect_internal_redirect_as_nginx(void **state)
{
    bw_test_response_t r;

    /* kept: Content-Type and Set-Cookie; dropped: the rest and the body */
    assert_int_equal(bw_test_http_get(bw_more.srv->port,
                                      "/x?header=X-Accel-Redirect:/internal/p%3Fq=1"
                                      "&header=Set-Cookie:s=1&header=X-Other:o"
                                      "&header=Content-Type:text/zz&body=origbody",
                                      &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "text/zz");
    assert_string_equal(bw_test_response_header(&r, "Set-Cookie"), "s=1");
    assert_null(bw_test_response_header(&r, "X-Other"));
    assert_null(bw_test_response_header(&r, "X-Origin"));
    assert_int_equal(r.body_len, strlen("internal /internal/p q=1 GET\n"));
    assert_memory_equal(r.body, "internal /internal/p q=1 GET\n", r.body_len);
    bw_test_response_free(&r);

    /* a POST becomes a GET; the URI is decoded */
    assert_int_equal(bw_test_http_request(bw_more.srv->port,
                                          "POST /x?header=X-Accel-Redirect:/internal/a%2520b"
                                          " HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                                          "Connection: close\r\n\r\nabc",
                                          &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "internal /internal/a b  GET\n", r.body_len);
    bw_test_response_free(&r);

    /* a named location */
    assert_int_equal(bw_test_http_get(bw_more.srv->port, "/x?header=X-Accel-Redirect:@named", &r),
                     0);
    assert_int_equal(r.body_len, strlen("named /x\n"));
    assert_memory_equal(r.body, "named /x\n", r.body_len);
    bw_test_response_free(&r);

    /* an unsafe URI: 404 */
    assert_int_equal(
        bw_test_http_get(bw_more.srv->port, "/x?header=X-Accel-Redirect:/internal/../x", &r), 0);
    assert_int_equal(r.status, 404);
    bw_test_response_free(&r);

    /* the upstream's record survives the redirect, as in nginx: $upstream_*
     * after it, and " : " before the attempts of a second upstream */
    char want[128];
    assert_int_equal(bw_test_http_get(bw_more.srv->port,
                                      "/x?header=X-Accel-Redirect:/internal-up/a&status=201", &r),
                     0);
    snprintf(want, sizeof(want), "up 127.0.0.1:%d|201|o1\n", bw_more.origin_port);
    assert_int_equal(r.body_len, strlen(want));
    assert_memory_equal(r.body, want, r.body_len);
    bw_test_response_free(&r);
    assert_int_equal(bw_test_http_get(bw_more.srv->port,
                                      "/x?header=X-Accel-Redirect:/internal-px/b", &r),
                     0);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want), "127.0.0.1:%d : 127.0.0.1:%d|200 : 200", bw_more.origin_port,
             bw_more.origin_port);
    assert_string_equal(bw_test_response_header(&r, "X-Up"), want);
    bw_test_response_free(&r);

    /* ignored: the upstream's response passes */
    assert_int_equal(bw_test_http_get(bw_more.srv->port,
                                      "/ign/x?header=X-Accel-Redirect:/internal/p&body=orig", &r),
                     0);
    assert_int_equal(r.body_len, 4);
    assert_memory_equal(r.body, "orig", 4);
    assert_string_equal(bw_test_response_header(&r, "X-Origin"), "o1");
    assert_null(bw_test_response_header(&r, "X-Accel-Redirect"));
    bw_test_response_free(&r);
}

static void
test_x_accel_limit_rate_sets_limit_rate(void **state)
{
    bw_test_response_t r;

    assert_int_equal(
        bw_test_http_get(bw_more.srv->port, "/lr/a?header=X-Accel-Limit-Rate:20000&len=10", &r),
        0);
    assert_int_equal(r.status, 200);
    assert_null(bw_test_response_header(&r, "X-Accel-Limit-Rate"));
    bw_test_response_free(&r);
    assert_true(bw_test_server_file_wait(bw_more.srv, "logs/lr.log", "/lr/a|20000|", 1,
                                         bw_test_timeout(3000)));

    assert_int_equal(
        bw_test_http_get(bw_more.srv->port, "/ign/lr?header=X-Accel-Limit-Rate:20000&len=10", &r),
        0);
    bw_test_response_free(&r);
    assert_true(bw_test_server_file_wait(bw_more.srv, "logs/lr.log", "/ign/lr|0|", 1,
                                         bw_test_timeout(3000)));
}

/* ------------------------------------------------ next upstream timeout */

static void
test_next_upstream_timeout_bounds_retries(void **state)
{
    bw_test_response_t r;
    char               one[64], two[128];

    snprintf(one, sizeof(one), "/nut-short/a|0|127.0.0.1:%d|504", bw_more.origin_port);
    snprintf(two, sizeof(two), "/nut-long/a|0|127.0.0.1:%d, 127.0.0.1:%d|504",
             bw_more.origin_port, bw_more.origin_port);

    /* 500ms read timeout, 300ms to retry in: the first timeout ends it */
    assert_int_equal(bw_test_http_get(bw_more.srv->port, "/nut-short/a?delay=2000", &r), 0);
    assert_int_equal(r.status, 504);
    bw_test_response_free(&r);
    assert_true(bw_test_server_file_wait(bw_more.srv, "logs/lr.log", one, 1,
                                         bw_test_timeout(3000)));

    /* 5s to retry in: the second server is tried too */
    assert_int_equal(bw_test_http_get(bw_more.srv->port, "/nut-long/a?delay=2000", &r), 0);
    assert_int_equal(r.status, 504);
    bw_test_response_free(&r);
    assert_true(bw_test_server_file_wait(bw_more.srv, "logs/lr.log", two, 1,
                                         bw_test_timeout(3000)));
}

/* ---------------------------------------------------------- configuration */

static void
test_more_config_messages(void **state)
{
    static const struct {
        const char *http;
        const char *message;
    } rows[] = {
        {"server { location / {\nproxy_cookie_domain foo; # @@\n} }",
         "invalid parameter \"foo\""},
        {"server { location / { proxy_cookie_domain off;\nproxy_cookie_domain a b; # @@\n} }",
         "\"proxy_cookie_domain\" directive is duplicate"},
        {"server { location / { proxy_cookie_path a b;\nproxy_cookie_path off; # @@\n} }",
         "\"proxy_cookie_path\" directive is duplicate"},
        {"server { location / {\nproxy_cookie_path ~(x /a; # @@\n} }",
         "pcre2_compile() failed: missing closing parenthesis in \"(x\""},
        {"server { location / {\nproxy_ignore_headers X-Accel-Redirect Bad; # @@\n} }",
         "invalid value \"Bad\""},
        {"server { location / {\nproxy_request_buffering 1; # @@\n} }",
         "invalid value \"1\" in \"proxy_request_buffering\" directive, it must be \"on\" or "
         "\"off\""},
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
        cmocka_unit_test(test_request_buffering_off_reaches_peer_before_body_ends),
        cmocka_unit_test(test_request_buffering_off_chunked_body_rechunked_for_http11),
        cmocka_unit_test(test_request_buffering_off_answers_100_continue),
        cmocka_unit_test(test_request_buffering_off_chunked_body_buffered_for_http10),
        cmocka_unit_test(test_request_buffering_off_limits_and_set_body),
        cmocka_unit_test(test_request_buffering_off_not_retried_after_body_sent),
        cmocka_unit_test(test_cookie_domain_and_path_rewritten_as_nginx),
        cmocka_unit_test(test_cookie_every_set_cookie_rewritten),
        cmocka_unit_test(test_x_accel_redirect_internal_redirect_as_nginx),
        cmocka_unit_test(test_x_accel_limit_rate_sets_limit_rate),
        cmocka_unit_test(test_next_upstream_timeout_bounds_retries),
        cmocka_unit_test(test_more_config_messages),
    };
    return cmocka_run_group_tests(tests, bw_more_setup, bw_more_teardown);
}
