/*
 * test_proxy_faults.c -- what a backend receives is never ambiguous, and a
 * backend that dies does not cost a client a request while another peer is
 * healthy.
 *
 * Smuggling: every request whose framing a proxy and a backend could read
 * differently (RFC 9112 §6.3, §11.2) is refused by bulwark with 400/501 and
 * the origin's request counter does not move; a chunked body is re-framed
 * with a Content-Length so the origin sees exactly one request.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const bw_conf =
    "http {\n"
    "    access_log off;\n"
    "    upstream pool {\n"
    "        server 127.0.0.1:%%ORIGIN_PORT%%;\n"
    "        server 127.0.0.1:%%ORIGIN_PORT2%%;\n"
    "        keepalive 8;\n"
    "    }\n"
    "    server {\n"
    "        listen 127.0.0.1:%%PORT%%;\n"
    "        location / {\n"
    "            proxy_pass http://pool;\n"
    "            proxy_http_version 1.1;\n"
    "            proxy_set_header Connection \"\";\n"
    "        }\n"
    "    }\n"
    "}\n";

typedef struct {
    bw_test_origin_t *a, *b;
    int               pa, pb;
    bw_test_server_t *srv;
} bw_faults_t;

static int
bw_faults_setup(void **state)
{
    bw_faults_t *f = calloc(1, sizeof(*f));
    f->a = bw_test_origin_start(&f->pa, "-n", "a");
    f->b = bw_test_origin_start(&f->pb, "-n", "b");
    f->srv = bw_test_server_start(bw_conf);
    if (f->a == NULL || f->b == NULL || f->srv == NULL) {
        return -1;
    }
    *state = f;
    return 0;
}

static int
bw_faults_teardown(void **state)
{
    bw_faults_t *f = *state;
    bw_test_server_stop(f->srv);
    if (f->a) {
        bw_test_origin_stop(f->a);
    }
    if (f->b) {
        bw_test_origin_stop(f->b);
    }
    free(f);
    return 0;
}

static long
bw_faults_origin_requests(bw_faults_t *f)
{
    long ra = 0, rb = 0, conns;
    assert_int_equal(bw_test_origin_stats(f->pa, &ra, &conns), 0);
    assert_int_equal(bw_test_origin_stats(f->pb, &rb, &conns), 0);
    return ra + rb;
}

static void
test_ambiguous_framing_never_reaches_the_origin(void **state)
{
    bw_faults_t *f = *state;
    static const struct {
        const char *name;
        const char *raw;
        int         status;
    } rows[] = {
        {"CL and TE", "POST /?echo=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        {"two different CL", "POST /?echo=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
         "Content-Length: 5\r\n\r\nabcde", 400},
        {"CL list", "POST /?echo=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd", 400},
        {"TE not final chunked", "POST /?echo=1 HTTP/1.1\r\nHost: x\r\n"
         "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501},
        {"TE gzip", "POST /?echo=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"space before colon", "POST /?echo=1 HTTP/1.1\r\nHost: x\r\n"
         "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
        {"obs-fold", "GET /?echo=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400},
        {"bare CR", "GET /?echo=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\rX-B: 2\r\n\r\n", 400},
        {"bad chunk size", "POST /?echo=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         "\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
        {"chunk size overflow", "POST /?echo=1 HTTP/1.1\r\nHost: x\r\n"
         "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400},
        {"no Host on 1.1", "GET /?echo=1 HTTP/1.1\r\n\r\n", 400},
        {"two Hosts", "GET /?echo=1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        long before = bw_faults_origin_requests(f);
        bw_test_response_t r;
        assert_int_equal(bw_test_http_request(f->srv->port, rows[i].raw, &r), 0);
        if (r.status != rows[i].status || !r.closed) {
            fail_msg("%s: status %d (want %d), closed %d", rows[i].name, r.status,
                     rows[i].status, r.closed);
        }
        bw_test_response_free(&r);
        bw_test_sleep_ms(50);
        if (bw_faults_origin_requests(f) != before) {
            fail_msg("%s: the origin received a request", rows[i].name);
        }
    }
}

/* A chunked body carrying a second request: the origin gets one request with
 * a Content-Length body; the bytes after the last chunk are the client's next
 * request, which bulwark frames on its own. */
static void
test_chunked_body_is_reframed_and_trailing_request_is_separate(void **state)
{
    bw_faults_t *f = *state;
    const char *raw =
        "POST /first?echo=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n"
        "GET /second?echo=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    bw_test_conn_t *c = bw_test_conn_open(f->srv->port);
    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, raw), 0);

    bw_test_response_t r1, r2;
    assert_int_equal(bw_test_conn_read_response(c, &r1), 0);
    assert_int_equal(r1.status, 200);
    assert_non_null(strstr(r1.body, "POST /first?echo=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(r1.body, "Content-Length: 5\r\n"));
    assert_null(strstr(r1.body, "Transfer-Encoding"));
    assert_null(strstr(r1.body, "/second"));
    assert_non_null(strstr(r1.body, "\r\n\r\nhello"));

    assert_int_equal(bw_test_conn_read_response(c, &r2), 0);
    assert_int_equal(r2.status, 200);
    assert_non_null(strstr(r2.body, "GET /second?echo=1 HTTP/1.1\r\n"));
    bw_test_response_free(&r1);
    bw_test_response_free(&r2);
    bw_test_conn_close(c);
}

/* Kill one origin between requests: retryable requests move to the other
 * peer (refused connects and dead idle keep-alive connections are retried). */
static void
test_killed_origin_costs_no_request(void **state)
{
    bw_faults_t *f = *state;
    int ok = 0, from_b_after = 0;
    bw_test_server_allow(f->srv, "Connection refused");
    bw_test_server_allow(f->srv, "upstream prematurely closed");
    bw_test_server_allow(f->srv, "Connection reset");

    for (int i = 0; i < 200; i++) {
        if (i == 60) {
            kill(f->a->pid, SIGKILL);
            assert_true(bw_test_pid_wait_exit(f->a->pid, bw_test_timeout(5000)));
            free(f->a);
            f->a = NULL;
        }
        bw_test_response_t r;
        assert_int_equal(bw_test_http_get(f->srv->port, "/x", &r), 0);
        if (r.status == 200) {
            ok++;
        }
        const char *who = bw_test_response_header(&r, "X-Origin");
        if (i >= 60 && who && strcmp(who, "b") == 0) {
            from_b_after++;
        }
        bw_test_response_free(&r);
    }
    assert_int_equal(ok, 200);
    assert_int_equal(from_b_after, 140);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ambiguous_framing_never_reaches_the_origin,
                                        bw_faults_setup, bw_faults_teardown),
        cmocka_unit_test_setup_teardown(
            test_chunked_body_is_reframed_and_trailing_request_is_separate, bw_faults_setup,
            bw_faults_teardown),
        cmocka_unit_test_setup_teardown(test_killed_origin_costs_no_request, bw_faults_setup,
                                        bw_faults_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
