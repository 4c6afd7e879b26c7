/*
 * test_stub_status.c -- stub_status through the real binary: nginx's exact
 * text and headers, HEAD and 405, counts that move with each request,
 * reading and waiting connections, the $connections_* variables, the
 * directive at server level, totals kept across a reload, and counters
 * shared by two workers (idle connections held by either worker all show
 * up in one status page).
 * Expected text was checked against nginx 1.22.
 */
#include "harness.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BW_TS_CONF                                                                     \
    "worker_processes %%WORKERS%%;\n"                                                  \
    "http {\n"                                                                         \
    "  access_log off;\n"                                                              \
    "  server {\n"                                                                     \
    "    listen 127.0.0.1:%%PORT%% %%LISTEN_OPT%%;\n"                                  \
    "    location = /status { stub_status; }\n"                                        \
    "    location = /status_on { stub_status on; }\n"                                  \
    "    location = /vars { return 200 \"$connections_active $connections_reading "    \
    "$connections_writing $connections_waiting\\n\"; }\n"                             \
    "    location = /pid { return 200 \"$pid\"; }\n"                                   \
    "    location = /conn { return 200 \"$pid $connection\"; }\n"                      \
    "  }\n"                                                                            \
    "  server {\n"                                                                     \
    "    listen 127.0.0.1:%%PORT2%%;\n"                                                \
    "    stub_status;\n"                                                               \
    "    location = /elsewhere { return 204; }\n"                                      \
    "  }\n"                                                                            \
    "}\n"

typedef struct {
    unsigned long long active, accepts, handled, requests, reading, writing, waiting;
} bw_ts_counts_t;

static bw_test_server_t *
bw_ts_start(const char *workers)
{
    /* with two workers, reuseport lets the kernel spread connections over both */
    bw_test_server_t *srv = bw_test_server_start(BW_TS_CONF, "WORKERS", workers, "LISTEN_OPT",
                                                 strcmp(workers, "1") ? "reuseport" : "");
    assert_non_null(srv);
    return srv;
}

/* Parses a status page, failing the test unless it is exactly nginx's shape. */
static bw_ts_counts_t
bw_ts_parse(const char *body)
{
    bw_ts_counts_t c;
    regex_t        re;

    assert_int_equal(regcomp(&re,
                             "^Active connections: [0-9]+ \nserver accepts handled requests\n"
                             " [0-9]+ [0-9]+ [0-9]+ \nReading: [0-9]+ Writing: [0-9]+ "
                             "Waiting: [0-9]+ \n$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    int rc = regexec(&re, body, 0, NULL, 0);
    regfree(&re);
    if (rc != 0) {
        fail_msg("not a stub_status page: \"%s\"", body);
    }
    int n = sscanf(body,
                   "Active connections: %llu \nserver accepts handled requests\n %llu %llu %llu "
                   "\nReading: %llu Writing: %llu Waiting: %llu",
                   &c.active, &c.accepts, &c.handled, &c.requests, &c.reading, &c.writing,
                   &c.waiting);
    assert_int_equal(n, 7);
    return c;
}

static bw_ts_counts_t
bw_ts_fetch(int port, const char *uri)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_http_get(port, uri, &r), 0);
    assert_int_equal(r.status, 200);
    const char *ct = bw_test_response_header(&r, "Content-Type");
    const char *cl = bw_test_response_header(&r, "Content-Length");
    assert_non_null(ct);
    assert_string_equal(ct, "text/plain");
    assert_non_null(cl);
    assert_int_equal(atoi(cl), (int) r.body_len);
    bw_ts_counts_t c = bw_ts_parse(r.body);
    bw_test_response_free(&r);
    return c;
}

static void
test_stub_status_text_and_counts_move(void **state)
{
    bw_test_server_t *srv = bw_ts_start("1");

    /* the harness's start-up probe may still be closing */
    bw_ts_counts_t a;
    int64_t        deadline = bw_test_now_ms() + bw_test_timeout(3000);
    do {
        a = bw_ts_fetch(srv->port, "/status");
    } while (a.active != 1 && bw_test_now_ms() < deadline && (bw_test_sleep_ms(20), true));
    assert_int_equal(a.active, 1);
    assert_int_equal(a.reading, 0);
    assert_int_equal(a.writing, 1);
    assert_int_equal(a.waiting, 0);
    assert_true(a.requests >= 1);
    assert_true(a.accepts >= a.requests);
    assert_true(a.handled == a.accepts);

    bw_ts_counts_t b = bw_ts_fetch(srv->port, "/status_on");
    assert_int_equal(b.requests, a.requests + 1);
    assert_int_equal(b.accepts, a.accepts + 1);
    assert_int_equal(b.handled, a.handled + 1);
    assert_int_equal(b.active, 1);
    bw_test_server_stop(srv);
}

static void
test_stub_status_head_and_other_methods(void **state)
{
    bw_test_server_t  *srv = bw_ts_start("1");
    bw_test_conn_t    *c = bw_test_conn_open(srv->port);
    bw_test_response_t r;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "HEAD /status HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response_flags(c, &r, BW_TEST_RESP_HEAD,
                                                      bw_test_timeout(3000)), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    const char *cl = bw_test_response_header(&r, "Content-Length");
    assert_non_null(cl);
    assert_true(atoi(cl) > 90);
    bw_test_response_free(&r);
    bw_test_conn_close(c);

    assert_int_equal(bw_test_http_request(srv->port,
                                          "POST /status HTTP/1.1\r\nHost: x\r\n"
                                          "Content-Length: 0\r\nConnection: close\r\n\r\n",
                                          &r), 0);
    assert_int_equal(r.status, 405);
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_stub_status_counts_reading_and_waiting(void **state)
{
    bw_test_server_t  *srv = bw_ts_start("1");
    bw_test_conn_t    *idle = bw_test_conn_open(srv->port);
    bw_test_conn_t    *partial = bw_test_conn_open(srv->port);
    bw_test_response_t r;

    assert_non_null(idle);
    assert_non_null(partial);
    /* one keep-alive connection after a request, one in the middle of a head */
    assert_int_equal(bw_test_conn_send_str(idle, "GET /vars HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(idle, &r), 0);
    assert_int_equal(r.status, 200);
    bw_test_response_free(&r);
    assert_int_equal(bw_test_conn_send_str(partial, "GET /status HTTP/1.1\r\nHost"), 0);

    bw_ts_counts_t c = {0};
    int64_t        deadline = bw_test_now_ms() + bw_test_timeout(3000);
    do {
        bw_test_sleep_ms(20);
        c = bw_ts_fetch(srv->port, "/status");
    } while (c.reading != 1 && bw_test_now_ms() < deadline);
    assert_int_equal(c.active, 3);
    assert_int_equal(c.reading, 1);
    assert_int_equal(c.writing, 1);
    assert_int_equal(c.waiting, 1);

    assert_int_equal(bw_test_http_get(srv->port, "/vars", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "3 1 1 1\n");
    bw_test_response_free(&r);

    bw_test_conn_close(idle);
    bw_test_conn_close(partial);
    bw_test_server_stop(srv);
}

static void
test_stub_status_at_server_level(void **state)
{
    bw_test_server_t  *srv = bw_ts_start("1");
    bw_test_response_t r;

    bw_ts_fetch(srv->ports[2], "/anything");
    assert_int_equal(bw_test_http_get(srv->ports[2], "/elsewhere", &r), 0);
    assert_int_equal(r.status, 204);
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_stub_status_counts_survive_reload(void **state)
{
    bw_test_server_t *srv = bw_ts_start("1");

    bw_ts_counts_t a = bw_ts_fetch(srv->port, "/status");
    bw_ts_fetch(srv->port, "/status");
    assert_true(bw_test_server_reload(srv, NULL));
    bw_ts_counts_t b = bw_ts_fetch(srv->port, "/status");
    assert_true(b.requests >= a.requests + 2);
    assert_true(b.accepts >= a.accepts + 2);
    bw_test_server_stop(srv);
}

/*
 * Connection numbers ($connection, "*N" in error lines) come from one
 * counter of all the workers: fresh connections spread over two workers
 * never get the same number.
 */
static void
test_connection_numbers_unique_across_workers(void **state)
{
    bw_test_server_t *srv = bw_ts_start("2");
    long              numbers[64];
    char              pid_a[32] = "";
    bool              two = false;

    assert_true(bw_test_server_wait_workers(srv, 2, bw_test_timeout(5000)));
    for (int i = 0; i < 64; i++) {
        bw_test_response_t r;
        char               pid[32];
        assert_int_equal(bw_test_http_get(srv->port, "/conn", &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(sscanf(r.body, "%31s %ld", pid, &numbers[i]), 2);
        bw_test_response_free(&r);
        if (pid_a[0] == '\0') {
            snprintf(pid_a, sizeof(pid_a), "%s", pid);
        }
        two = two || strcmp(pid, pid_a) != 0;
        for (int j = 0; j < i; j++) {
            if (numbers[j] == numbers[i]) {
                fail_msg("connection number %ld given twice", numbers[i]);
            }
        }
    }
    bw_test_server_stop(srv);
    if (!two) {
        skip(); /* the kernel gave every connection to one worker: nothing to prove */
    }
}

#define BW_TS_MAX_CONNS 48

/*
 * Keeps opening keep-alive connections, each asking /pid, until both
 * workers hold at least one; then one status page must count all of them.
 */
static void
test_stub_status_counts_across_two_workers(void **state)
{
    bw_test_server_t *srv = bw_ts_start("2");
    bw_test_conn_t   *conns[BW_TS_MAX_CONNS];
    char              pid_a[32] = "", pid_b[32] = "";
    int               n = 0;

    assert_true(bw_test_server_wait_workers(srv, 2, bw_test_timeout(5000)));
    bw_ts_counts_t before = bw_ts_fetch(srv->port, "/status");
    while (n < BW_TS_MAX_CONNS && pid_b[0] == '\0') {
        bw_test_response_t r;
        conns[n] = bw_test_conn_open(srv->port);
        assert_non_null(conns[n]);
        assert_int_equal(bw_test_conn_send_str(conns[n], "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n"),
                         0);
        assert_int_equal(bw_test_conn_read_response(conns[n], &r), 0);
        assert_int_equal(r.status, 200);
        n++;
        if (pid_a[0] == '\0') {
            snprintf(pid_a, sizeof(pid_a), "%s", r.body);
        } else if (strcmp(pid_a, r.body) != 0) {
            snprintf(pid_b, sizeof(pid_b), "%s", r.body);
        }
        bw_test_response_free(&r);
    }
    if (pid_b[0] == '\0') {
        for (int i = 0; i < n; i++) {
            bw_test_conn_close(conns[i]);
        }
        bw_test_server_stop(srv);
        skip(); /* the kernel gave every connection to one worker: nothing to prove */
    }

    /* every idle connection is waiting, whichever worker holds it */
    bw_ts_counts_t c = {0};
    int64_t        deadline = bw_test_now_ms() + bw_test_timeout(3000);
    int            fetches = 0; /* each /status fetch is a request too */
    do {
        c = bw_ts_fetch(srv->port, "/status");
        fetches++;
    } while ((c.waiting != (unsigned long long) n || c.active != (unsigned long long) n + 1)
             && bw_test_now_ms() < deadline && (bw_test_sleep_ms(20), true));
    assert_int_equal(c.waiting, n);
    assert_int_equal(c.active, n + 1);
    assert_int_equal(c.writing, 1);
    assert_int_equal(c.requests, before.requests + n + fetches);
    assert_true(c.accepts >= before.accepts + n + 1);

    for (int i = 0; i < n; i++) {
        bw_test_conn_close(conns[i]);
    }
    deadline = bw_test_now_ms() + bw_test_timeout(3000);
    do {
        bw_test_sleep_ms(20);
        c = bw_ts_fetch(srv->port, "/status");
    } while (c.active != 1 && bw_test_now_ms() < deadline);
    assert_int_equal(c.active, 1);
    assert_int_equal(c.waiting, 0);
    bw_test_server_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stub_status_text_and_counts_move),
        cmocka_unit_test(test_stub_status_head_and_other_methods),
        cmocka_unit_test(test_stub_status_counts_reading_and_waiting),
        cmocka_unit_test(test_stub_status_at_server_level),
        cmocka_unit_test(test_stub_status_counts_survive_reload),
        cmocka_unit_test(test_stub_status_counts_across_two_workers),
        cmocka_unit_test(test_connection_numbers_unique_across_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
