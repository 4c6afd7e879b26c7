/*
 * test_http_keepalive.c -- a connection's life through the real binary:
 * keep-alive by version and Connection header, pipelined requests answered
 * strictly in order (also when the next head arrives split across packets
 * or follows a body), keepalive_requests, keepalive_timeout (0 disables it),
 * keepalive_time, the idle timeouts (client_header_timeout before and
 * during a head: nginx closes without an answer), send_timeout with
 * reset_timedout_connection (the client sees a reset), and the memory an
 * idle keep-alive connection keeps (the request pool and buffers released).
 */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BW_KA_BIG (16 * 1024 * 1024)

static bw_test_server_t *bw_ka_srv;

static const char bw_ka_conf[] =
    "events { worker_connections 1200; }\n"
    "worker_rlimit_nofile 4096;\n"
    "http {\n"
    "  root %%PREFIX%%/html;\n"
    "  client_header_timeout 1s;\n"
    "  keepalive_timeout 2s;\n"
    "  server { listen 127.0.0.1:%%PORT%%; server_name localhost;\n"
    "    location / { }\n"
    "    location /t { return 200 \"t=$arg_i\\n\"; }\n"
    "    location /k3 { keepalive_requests 3; return 200 \"k3\\n\"; }\n"
    "    location /k0 { keepalive_timeout 0; return 200 \"k0\\n\"; }\n"
    "    location /kt { keepalive_time 1s; return 200 \"kt\\n\"; }\n"
    "    location /status { stub_status; }\n"
    "    location /slow/ { alias %%PREFIX%%/html/; send_timeout 1s;\n"
    "                      reset_timedout_connection on; }\n"
    "  }\n"
    "}\n";

static int
bw_ka_setup(void **state)
{
    bw_ka_srv = bw_test_server_prepare(bw_ka_conf);
    if (bw_ka_srv == NULL) {
        return -1;
    }
    char *big = malloc(BW_KA_BIG);
    for (size_t i = 0; i < BW_KA_BIG; i++) {
        big[i] = bw_test_pattern_byte(i);
    }
    int rc = bw_test_server_write_file_len(bw_ka_srv, "html/big.bin", big, BW_KA_BIG);
    free(big);
    if (rc != 0 || bw_test_server_write_file(bw_ka_srv, "html/small.txt", "small\n") != 0
        || bw_test_server_launch(bw_ka_srv) != 0) {
        return -1;
    }
    return 0;
}

static int
bw_ka_teardown(void **state)
{
    bw_test_server_stop(bw_ka_srv);
    return 0;
}

static void
bw_ka_read(bw_test_conn_t *c, int status, const char *body, bool closed)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    if (r.status != status || (body && strcmp(r.body, body) != 0)) {
        fail_msg("expected %d \"%s\", got %d \"%s\"", status, body ? body : "*", r.status,
                 r.body ? r.body : "");
    }
    bw_test_response_free(&r);
    if (closed) {
        assert_true(bw_test_conn_wait_closed(c, 3000));
    }
}

/* ---- keep-alive and pipelining ---- */

static void
test_keepalive_serves_many_requests_on_one_connection(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    assert_non_null(c);
    for (int i = 0; i < 20; i++) {
        char req[128], body[32];
        snprintf(req, sizeof(req), "GET /t?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
        snprintf(body, sizeof(body), "t=%d\n", i);
        assert_int_equal(bw_test_conn_send_str(c, req), 0);
        bw_ka_read(c, 200, body, false);
    }
    assert_int_equal(bw_test_conn_send_str(c, "GET /t?i=x HTTP/1.1\r\nHost: a\r\n"
                                              "Connection: close\r\n\r\n"), 0);
    bw_ka_read(c, 200, "t=x\n", true);
    bw_test_conn_close(c);
}

static void
test_http10_keepalive_only_when_asked(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    bw_test_response_t r;
    assert_int_equal(bw_test_conn_send_str(c, "GET /t?i=1 HTTP/1.0\r\nConnection: keep-alive\r\n"
                                              "\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_string_equal(bw_test_response_header(&r, "Connection"), "keep-alive");
    bw_test_response_free(&r);
    assert_int_equal(bw_test_conn_send_str(c, "GET /t?i=2 HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_string_equal(bw_test_response_header(&r, "Connection"), "close");
    assert_string_equal(r.body, "t=2\n");
    bw_test_response_free(&r);
    assert_true(bw_test_conn_wait_closed(c, 3000));
    bw_test_conn_close(c);
}

static void
test_pipelined_requests_answered_in_order(void **state)
{
    char all[8192];
    size_t n = 0;
    for (int i = 0; i < 30; i++) {
        if (i == 10) {
            n += (size_t) sprintf(all + n, "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
        } else if (i == 20) {
            n += (size_t) sprintf(all + n, "HEAD /small.txt HTTP/1.1\r\nHost: a\r\n\r\n");
        } else if (i == 25) {
            n += (size_t) sprintf(all + n, "POST /t?i=%d HTTP/1.1\r\nHost: a\r\n"
                                  "Content-Length: 7\r\n\r\nbody%03d", i, i);
        } else if (i == 27) {
            n += (size_t) sprintf(all + n, "POST /t?i=%d HTTP/1.1\r\nHost: a\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", i);
        } else {
            n += (size_t) sprintf(all + n, "GET /t?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
        }
    }
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    assert_int_equal(bw_test_conn_send(c, all, n), 0);
    for (int i = 0; i < 30; i++) {
        bw_test_response_t r;
        int flags = i == 20 ? BW_TEST_RESP_HEAD : 0;
        assert_int_equal(bw_test_conn_read_response_flags(c, &r, flags, 10000), 0);
        assert_int_equal(r.status, 200);
        if (i == 10) {
            assert_int_equal(r.body_len, BW_KA_BIG);
            assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
        } else if (i == 20) {
            assert_string_equal(bw_test_response_header(&r, "Content-Length"), "6");
        } else {
            char body[32];
            snprintf(body, sizeof(body), "t=%d\n", i);
            assert_string_equal(r.body, body);
        }
        bw_test_response_free(&r);
    }
    bw_test_conn_close(c);
}

static void
test_pipelined_head_split_across_packets(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    const char *parts[] = {"GET /t?i=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /t?i=2 HT",
                           "TP/1.1\r\nHo", "st: a\r\n", "\r\n"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(bw_test_conn_send_str(c, parts[i]), 0);
        bw_test_sleep_ms(50);
    }
    bw_ka_read(c, 200, "t=1\n", false);
    bw_ka_read(c, 200, "t=2\n", false);
    bw_test_conn_close(c);
}

static void
test_pipelined_request_after_a_large_head(void **state)
{
    /* the first head needs a large buffer; the second starts inside it */
    char *req = malloc(20000);
    size_t n = (size_t) sprintf(req, "GET /t?i=1 HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    memset(req + n, 'p', 3000);
    n += 3000;
    n += (size_t) sprintf(req + n, "\r\n\r\nGET /t?i=2 HTTP/1.1\r\nHost: a\r\n\r\n");
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    assert_int_equal(bw_test_conn_send(c, req, n), 0);
    free(req);
    bw_ka_read(c, 200, "t=1\n", false);
    bw_ka_read(c, 200, "t=2\n", false);
    bw_test_conn_close(c);
}

static void
test_keepalive_requests_limit_closes_after_the_last(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    bw_test_response_t r;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(bw_test_conn_send_str(c, "GET /k3 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
        assert_int_equal(bw_test_conn_read_response(c, &r), 0);
        assert_string_equal(bw_test_response_header(&r, "Connection"),
                            i < 3 ? "keep-alive" : "close");
        bw_test_response_free(&r);
    }
    assert_true(bw_test_conn_wait_closed(c, 3000));
    bw_test_conn_close(c);
}

static void
test_keepalive_timeout_zero_disables_keepalive(void **state)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_http_request(bw_ka_srv->port, "GET /k0 HTTP/1.1\r\nHost: a\r\n\r\n",
                                          &r), 0);
    assert_string_equal(bw_test_response_header(&r, "Connection"), "close");
    assert_true(r.closed);
    bw_test_response_free(&r);
}

static void
test_keepalive_time_ends_an_old_connection(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    bw_test_response_t r;
    assert_int_equal(bw_test_conn_send_str(c, "GET /kt HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_string_equal(bw_test_response_header(&r, "Connection"), "keep-alive");
    bw_test_response_free(&r);
    bw_test_sleep_ms(1300);
    assert_int_equal(bw_test_conn_send_str(c, "GET /kt HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_string_equal(bw_test_response_header(&r, "Connection"), "close");
    bw_test_response_free(&r);
    assert_true(bw_test_conn_wait_closed(c, 3000));
    bw_test_conn_close(c);
}

static void
test_stub_status_counts_reading_writing_waiting(void **state)
{
    bw_test_conn_t *idle[3], *reading;
    bw_test_response_t r;

    for (int i = 0; i < 3; i++) { /* three idle keep-alive connections */
        idle[i] = bw_test_conn_open(bw_ka_srv->port);
        assert_int_equal(bw_test_conn_send_str(idle[i], "GET /t?i=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
                         0);
        assert_int_equal(bw_test_conn_read_response(idle[i], &r), 0);
        bw_test_response_free(&r);
    }
    reading = bw_test_conn_open(bw_ka_srv->port); /* one head half sent */
    assert_int_equal(bw_test_conn_send_str(reading, "GET /t HTTP/1.1\r\n"), 0);
    bw_test_sleep_ms(100);
    assert_int_equal(bw_test_http_get(bw_ka_srv->port, "/status", &r), 0);
    assert_int_equal(r.status, 200);
    /* the status request itself is the one writing */
    if (strstr(r.body, "Reading: 1 Writing: 1 Waiting: 3 ") == NULL) {
        fail_msg("unexpected stub_status:\n%s", r.body);
    }
    assert_non_null(strstr(r.body, "Active connections: 5 "));
    bw_test_response_free(&r);
    for (int i = 0; i < 3; i++) {
        bw_test_conn_close(idle[i]);
    }
    bw_test_conn_close(reading);
}

/* ---- timeouts ---- */

static void
test_keepalive_timeout_closes_idle_connection(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    assert_int_equal(bw_test_conn_send_str(c, "GET /t?i=1 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    bw_ka_read(c, 200, "t=1\n", false);
    int64_t t0 = bw_test_now_ms();
    assert_false(bw_test_conn_wait_closed(c, 1000)); /* still open after 1s */
    assert_true(bw_test_conn_wait_closed(c, 3000));
    int64_t waited = bw_test_now_ms() - t0;
    assert_true(waited >= 1800 && waited < 3500);
    bw_test_conn_close(c);
}

static void
test_client_header_timeout_closes_without_answer(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    assert_int_equal(bw_test_conn_send_str(c, "GET /t?i=1 HTTP/1.1\r\nHost: slow\r\n"), 0);
    int64_t t0 = bw_test_now_ms();
    assert_true(bw_test_conn_wait_closed(c, 3000));
    assert_true(bw_test_now_ms() - t0 < 2500);
    assert_int_equal(c->len, 0); /* nginx sends no 408 */
    bw_test_conn_close(c);
    assert_true(bw_test_server_log_wait(bw_ka_srv, "client timed out (110: Connection timed out) "
                                        "while reading client request headers", 1, 3000));
    assert_true(bw_test_server_file_wait(bw_ka_srv, "logs/access.log",
                                         "\"GET /t?i=1 HTTP/1.1\" 408 0", 1, 3000));
}

static void
test_silent_connection_times_out_while_waiting(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_ka_srv->port);
    assert_true(bw_test_conn_wait_closed(c, 3000));
    bw_test_conn_close(c);
    assert_true(bw_test_server_log_wait(bw_ka_srv, "client timed out (110: Connection timed out) "
                                        "while waiting for request, client: 127.0.0.1, server: "
                                        "127.0.0.1:", 1, 3000));
}

static void
test_send_timeout_resets_stalled_client(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(bw_ka_srv->port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    assert_int_equal(connect(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    const char *req = "GET /slow/big.bin HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    /* never read: the server's writes stall, send_timeout (1s) fires */
    assert_true(bw_test_server_log_wait(bw_ka_srv, "client timed out (110: Connection timed out)"
                                        ", client: 127.0.0.1, server: localhost, request: \"GET "
                                        "/slow/big.bin HTTP/1.1\"", 1, 5000));
    /* reset_timedout_connection: the connection ends with a reset, not a FIN */
    char buf[65536];
    int err = 0;
    for (int i = 0; i < 2000 && err == 0; i++) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 5000) != 1) {
            break;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            err = errno;
        } else if (n == 0) {
            break;
        }
    }
    close(fd);
    assert_int_equal(err, ECONNRESET);
}

/* ---- memory ---- */

/* True when the binary under test was built with AddressSanitizer (its
 * allocator keeps freed memory in quarantine: RSS says nothing then). */
static bool
bw_ka_sanitized(void)
{
    size_t len;
    char *bin = bw_test_file_read(bw_test_binary(), &len);
    bool asan = bin && memmem(bin, len, "__asan_init", 11) != NULL;
    free(bin);
    return asan;
}

static void
test_idle_keepalive_connections_hold_little_memory(void **state)
{
    enum { N = 500 };
    static bw_test_conn_t *conns[N];
    if (bw_ka_sanitized()) {
        skip();
    }
    pid_t workers[4];
    assert_true(bw_test_server_workers(bw_ka_srv, workers, 4) >= 1);

    /* warm up the allocator with one round first */
    for (int round = 0; round < 2; round++) {
        long before = bw_test_proc_rss_kb(workers[0]);
        for (int i = 0; i < N; i++) {
            conns[i] = bw_test_conn_open(bw_ka_srv->port);
            assert_non_null(conns[i]);
            /* a request with a large head: it needs a large buffer and a full request pool */
            char req[6000];
            size_t n = (size_t) sprintf(req, "GET /t?i=%d HTTP/1.1\r\nHost: a\r\nX-Pad: ", i);
            memset(req + n, 'm', 4000);
            n += 4000;
            n += (size_t) sprintf(req + n, "\r\n\r\n");
            assert_int_equal(bw_test_conn_send(conns[i], req, n), 0);
        }
        for (int i = 0; i < N; i++) {
            bw_test_response_t r;
            assert_int_equal(bw_test_conn_read_response(conns[i], &r), 0);
            assert_int_equal(r.status, 200);
            bw_test_response_free(&r);
        }
        bw_test_sleep_ms(200);
        long after = bw_test_proc_rss_kb(workers[0]);
        long per_conn = (after - before) * 1024 / N;
        print_message("round %d: worker RSS %ld -> %ld KiB, %ld bytes per idle connection\n",
                      round, before, after, per_conn);
        /* a request pool (4k) plus a large buffer (8k) kept per connection would be 12k+;
         * what stays is the connection pool's first block (connection_pool_size, 512) */
        assert_true(per_conn < 2048);
        for (int i = 0; i < N; i++) {
            bw_test_conn_close(conns[i]);
        }
        bw_test_sleep_ms(300);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_serves_many_requests_on_one_connection),
        cmocka_unit_test(test_http10_keepalive_only_when_asked),
        cmocka_unit_test(test_pipelined_requests_answered_in_order),
        cmocka_unit_test(test_pipelined_head_split_across_packets),
        cmocka_unit_test(test_pipelined_request_after_a_large_head),
        cmocka_unit_test(test_keepalive_requests_limit_closes_after_the_last),
        cmocka_unit_test(test_keepalive_timeout_zero_disables_keepalive),
        cmocka_unit_test(test_keepalive_time_ends_an_old_connection),
        cmocka_unit_test(test_stub_status_counts_reading_writing_waiting),
        cmocka_unit_test(test_keepalive_timeout_closes_idle_connection),
        cmocka_unit_test(test_client_header_timeout_closes_without_answer),
        cmocka_unit_test(test_silent_connection_times_out_while_waiting),
        cmocka_unit_test(test_send_timeout_resets_stalled_client),
        cmocka_unit_test(test_idle_keepalive_connections_hold_little_memory),
    };
    return cmocka_run_group_tests(tests, bw_ka_setup, bw_ka_teardown);
}
