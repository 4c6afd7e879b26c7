/*
 * test_health_check.c -- active health checks through the real binary: a
 * stopped origin stops getting traffic after `fails` failed checks and
 * gets it again after `passes` passed ones once restarted; a backend whose
 * check URI answers 500 (a file toggles it) is taken out and put back; a
 * match block's status, header and body tests; every server unhealthy
 * gives 502 at once; two workers probe each server once per interval
 * together; and the configuration messages.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* GET uri on port: the status; the X-Origin letter (or the body's first letter) in *who. */
static int
bw_hc_get(int port, const char *uri, char *who)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(port, uri, &r), 0);
    const char *o = bw_test_response_header(&r, "X-Origin");
    *who = o ? o[0] : (r.body_len ? r.body[0] : '-');
    int status = r.status;
    bw_test_response_free(&r);
    return status;
}

/* The letters of n requests (all must be 200). */
static void
bw_hc_sequence(int port, const char *uri, char *seq, int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(bw_hc_get(port, uri, &seq[i]), 200);
    }
    seq[n] = '\0';
}

/* Requests served by origin `port` so far (probes included). */
static long
bw_hc_origin_requests(int port)
{
    long requests = -1, connections = -1;

    assert_int_equal(bw_test_origin_stats(port, &requests, &connections), 0);
    return requests;
}

/* Occurrences of needle in error.log before the first line holding marker (-1: no marker). */
static int
bw_hc_log_count_before(bw_test_server_t *srv, const char *needle, const char *marker)
{
    char *text = bw_test_server_read_file(srv, "logs/error.log", NULL);
    char *end = text ? strstr(text, marker) : NULL;
    int   n = 0;

    if (end == NULL) {
        free(text);
        return -1;
    }
    *end = '\0';
    for (char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    free(text);
    return n;
}

static void
test_health_check_stopped_peer_is_skipped_until_it_passes_again(void **state)
{
    int               pa, pb;
    bw_test_origin_t *a = bw_test_origin_start(&pa, "-n", "a");
    bw_test_origin_t *b = bw_test_origin_start(&pb, "-n", "b");
    char              bport[16], seq[16];

    assert_non_null(a);
    assert_non_null(b);
    snprintf(bport, sizeof(bport), "%d", pb);
    bw_test_server_t *srv = bw_test_server_start(
        "http {\n"
        "  upstream u { zone u 64k;\n"
        "    server 127.0.0.1:%%ORIGIN_PORT%%; server 127.0.0.1:%%BPORT%% max_fails=0;\n"
        "    health_check interval=200ms fails=2 passes=2; }\n"
        "  server { listen 127.0.0.1:%%PORT%%; location / { proxy_pass http://u; } }\n"
        "}\n",
        "BPORT", bport);
    assert_non_null(srv);

    bw_hc_sequence(srv->port, "/", seq, 4);
    assert_string_equal(seq, "abab");

    bw_test_origin_stop(b);
    assert_true(bw_test_server_log_wait(srv, "peer is unhealthy: connect() failed", 1,
                                        bw_test_timeout(3000)));
    /* two failed checks were needed: one was logged before the verdict */
    assert_int_equal(
        bw_hc_log_count_before(srv, "health check failed: connect() failed", "peer is unhealthy"),
        1);
    int refused = bw_test_server_log_count(srv, "while connecting to upstream, client:");
    bw_hc_sequence(srv->port, "/", seq, 10);
    assert_string_equal(seq, "aaaaaaaaaa");
    /* no client request was even tried on the unhealthy server */
    assert_int_equal(bw_test_server_log_count(srv, "while connecting to upstream, client:"),
                     refused);

    b = bw_test_origin_start(NULL, "-n", "b", "-p", bport);
    assert_non_null(b);
    assert_true(bw_test_server_log_wait(srv, "peer is healthy", 1, bw_test_timeout(3000)));
    /* both passes happened before the verdict */
    assert_true(bw_hc_origin_requests(pb) >= 2);
    bw_hc_sequence(srv->port, "/", seq, 4);
    assert_non_null(strchr(seq, 'a'));
    assert_non_null(strchr(seq, 'b'));

    bw_test_server_stop(srv);
    bw_test_origin_stop(a);
    bw_test_origin_stop(b);
}

static void
test_health_check_500_from_check_uri_takes_server_out_and_back(void **state)
{
    int               pa;
    bw_test_origin_t *a = bw_test_origin_start(&pa, "-n", "a");
    char              seq[16];

    assert_non_null(a);
    /* the second server is bulwark itself: /health answers 500 while html/sick exists */
    bw_test_server_t *srv = bw_test_server_start(
        "http {\n"
        "  upstream u { zone u 64k;\n"
        "    server 127.0.0.1:%%ORIGIN_PORT%%; server 127.0.0.1:%%PORT2%% max_fails=0;\n"
        "    health_check interval=150ms fails=3 uri=/health; }\n"
        "  server { listen 127.0.0.1:%%PORT%%; location / { proxy_pass http://u; } }\n"
        "  server { listen 127.0.0.1:%%PORT2%%;\n"
        "    location = /health { if (-f %%PREFIX%%/html/sick) { return 500; } return 200 ok; }\n"
        "    location / { return 200 \"self\\n\"; }\n"
        "  }\n"
        "}\n");
    assert_non_null(srv);

    bw_hc_sequence(srv->port, "/", seq, 4);
    assert_string_equal(seq, "asas");

    assert_int_equal(bw_test_server_write_file(srv, "html/sick", "1"), 0);
    assert_true(bw_test_server_log_wait(srv, "peer is unhealthy: status code is not 2xx or 3xx", 1,
                                        bw_test_timeout(3000)));
    assert_int_equal(
        bw_hc_log_count_before(srv, "health check failed: status code", "peer is unhealthy"), 2);
    bw_hc_sequence(srv->port, "/", seq, 8);
    assert_string_equal(seq, "aaaaaaaa");

    assert_int_equal(unlink(bw_test_server_path(srv, "html/sick")), 0);
    assert_true(bw_test_server_log_wait(srv, "peer is healthy", 1, bw_test_timeout(3000)));
    bw_hc_sequence(srv->port, "/", seq, 4);
    assert_non_null(strchr(seq, 's'));

    bw_test_server_stop(srv);
    bw_test_origin_stop(a);
}

static void
test_health_check_match_tests_status_header_and_body(void **state)
{
    bw_test_origin_t *a = bw_test_origin_start(NULL, "-n", "a");
    bw_test_origin_t *b = bw_test_origin_start(NULL, "-n", "b");
    bw_test_origin_t *c = bw_test_origin_start(NULL, "-n", "c");
    bw_test_origin_t *d = bw_test_origin_start(NULL, "-n", "d");

    assert_non_null(a && b && c && d);
    /* each group: a always passes; the second server fails one test of its match */
    bw_test_server_t *srv = bw_test_server_start(
        "http {\n"
        "  match st { status ! 500-599 404; }\n"
        "  match hd { status 200; header X-Origin ~ \"^[ab]$\"; header ! X-Broken; }\n"
        "  match bd { body ~ \"origin [a-c] request\"; body !~ maintenance; }\n"
        "  upstream st { zone m 64k; server 127.0.0.1:%%ORIGIN_PORT%%;\n"
        "    server 127.0.0.1:%%PORT2%% max_fails=0;\n"
        "    health_check interval=100ms match=st; }\n"
        "  upstream hd { zone m; server 127.0.0.1:%%ORIGIN_PORT%%;\n"
        "    server 127.0.0.1:%%ORIGIN_PORT3%% max_fails=0;\n"
        "    health_check interval=100ms match=hd; }\n"
        "  upstream bd { zone m; server 127.0.0.1:%%ORIGIN_PORT%%;\n"
        "    server 127.0.0.1:%%ORIGIN_PORT4%% max_fails=0;\n"
        "    health_check interval=100ms match=bd; }\n"
        "  server { listen 127.0.0.1:%%PORT%%;\n"
        "    location /st/ { proxy_pass http://st/; }\n"
        "    location /hd/ { proxy_pass http://hd/; }\n"
        "    location /bd/ { proxy_pass http://bd/; }\n"
        "  }\n"
        "  server { listen 127.0.0.1:%%PORT2%%; location / { return 404; } }\n"
        "}\n");
    char seq[16];

    assert_non_null(srv);
    assert_true(bw_test_server_log_wait(srv, "peer is unhealthy: status code does not match", 1,
                                        bw_test_timeout(3000)));
    assert_true(bw_test_server_log_wait(srv, "peer is unhealthy: header does not match", 1,
                                        bw_test_timeout(3000)));
    assert_true(bw_test_server_log_wait(srv, "peer is unhealthy: body does not match", 1,
                                        bw_test_timeout(3000)));
    assert_int_equal(bw_test_server_log_count(srv, "peer is unhealthy"), 3);
    /* the unhealthy ones: the 404 server, c (X-Origin c), d (body "origin d request") */
    assert_int_equal(bw_test_server_log_grep(srv, "unhealthy.*peer 127\\.0\\.0\\.1:[0-9]+ in "
                                                  "upstream \"st\""),
                     1);
    bw_hc_sequence(srv->port, "/st/", seq, 4);
    assert_string_equal(seq, "aaaa");
    bw_hc_sequence(srv->port, "/hd/", seq, 4);
    assert_string_equal(seq, "aaaa");
    bw_hc_sequence(srv->port, "/bd/", seq, 4);
    assert_string_equal(seq, "aaaa");

    bw_test_server_stop(srv);
    bw_test_origin_stop(a);
    bw_test_origin_stop(b);
    bw_test_origin_stop(c);
    bw_test_origin_stop(d);
}

/* Two checks on one group: a peer failing either one is unhealthy. */
static void
test_health_check_several_checks_any_failure_counts(void **state)
{
    bw_test_origin_t *a = bw_test_origin_start(NULL, "-n", "a");
    bw_test_origin_t *b = bw_test_origin_start(NULL, "-n", "b");

    assert_non_null(a && b);
    bw_test_server_t *srv = bw_test_server_start(
        "http {\n"
        "  match only_a { status 200; header X-Origin = a; }\n"
        "  upstream u { zone u 64k;\n"
        "    server 127.0.0.1:%%ORIGIN_PORT%%; server 127.0.0.1:%%ORIGIN_PORT2%% max_fails=0;\n"
        "    health_check interval=100ms;\n"
        "    health_check interval=100ms uri=/second match=only_a; }\n"
        "  server { listen 127.0.0.1:%%PORT%%; location / { proxy_pass http://u; } }\n"
        "}\n");
    char seq[16];

    assert_non_null(srv);
    assert_true(bw_test_server_log_wait(srv, "peer is unhealthy: header does not match", 1,
                                        bw_test_timeout(3000)));
    /* only b's second check fails: one peer unhealthy */
    bw_test_sleep_ms(300);
    assert_int_equal(bw_test_server_log_count(srv, "peer is unhealthy"), 1);
    bw_hc_sequence(srv->port, "/", seq, 4);
    assert_string_equal(seq, "aaaa");
    bw_test_server_stop(srv);
    bw_test_origin_stop(a);
    bw_test_origin_stop(b);
}

static void
test_health_check_all_unhealthy_is_502_at_once(void **state)
{
    bw_test_origin_t *a = bw_test_origin_start(NULL, "-n", "a");
    bw_test_origin_t *b = bw_test_origin_start(NULL, "-n", "b");

    assert_non_null(a && b);
    bw_test_server_t *srv = bw_test_server_start(
        "http {\n"
        "  upstream u { zone u 64k;\n"
        "    server 127.0.0.1:%%ORIGIN_PORT%%; server 127.0.0.1:%%ORIGIN_PORT2%%;\n"
        "    health_check interval=100ms uri=/?status=503; }\n"
        "  server { listen 127.0.0.1:%%PORT%%; location / { proxy_pass http://u; } }\n"
        "}\n");
    char who;

    assert_non_null(srv);
    assert_true(bw_test_server_log_wait(srv, "peer is unhealthy", 2, bw_test_timeout(3000)));
    for (int i = 0; i < 5; i++) {
        int64_t t0 = bw_test_now_ms();
        assert_int_equal(bw_hc_get(srv->port, "/", &who), 502);
        assert_true(bw_test_now_ms() - t0 < bw_test_timeout(500));
    }
    assert_true(bw_test_server_log_count(srv, "no live upstreams") >= 5);
    bw_test_server_stop(srv);
    bw_test_origin_stop(a);
    bw_test_origin_stop(b);
}

static void
test_health_check_two_workers_probe_each_peer_once_per_interval(void **state)
{
    int               pa;
    bw_test_origin_t *a = bw_test_origin_start(&pa, "-n", "a");

    assert_non_null(a);
    bw_test_server_t *srv = bw_test_server_start(
        "worker_processes 2;\n"
        "http {\n"
        "  upstream u { zone u 64k; server 127.0.0.1:%%ORIGIN_PORT%%;\n"
        "    health_check interval=250ms; }\n"
        "  server { listen 127.0.0.1:%%PORT%%; location / { proxy_pass http://u; } }\n"
        "}\n");

    assert_non_null(srv);
    assert_true(bw_test_server_wait_workers(srv, 2, bw_test_timeout(5000)));
    long    before = bw_hc_origin_requests(pa);
    int64_t t0 = bw_test_now_ms();
    bw_test_sleep_ms(2500);
    long    probes = bw_hc_origin_requests(pa) - before;
    int64_t ms = bw_test_now_ms() - t0;
    /* one probe per interval (give or take a tick), not one per worker */
    long expect = (long) (ms / 250);
    if (probes < expect * 6 / 10 || probes > expect + 2) {
        fail_msg("%ld probes in %ld ms at 250ms with two workers", probes, (long) ms);
    }
    bw_test_server_stop(srv);
    bw_test_origin_stop(a);
}

static void
test_health_check_timeout_fails_and_stop_does_not_wait_for_probes(void **state)
{
    bw_test_origin_t *a = bw_test_origin_start(NULL, "-n", "a");
    bw_test_origin_t *b = bw_test_origin_start(NULL, "-n", "b");

    assert_non_null(a && b);
    bw_test_server_t *srv = bw_test_server_start(
        "http {\n"
        "  upstream u { zone u 64k;\n"
        "    server 127.0.0.1:%%ORIGIN_PORT%%; server 127.0.0.1:%%ORIGIN_PORT2%%;\n"
        "    health_check interval=300ms timeout=200ms uri=/?delay=5000; }\n"
        "  server { listen 127.0.0.1:%%PORT%%; location / { proxy_pass http://u; } }\n"
        "}\n");

    assert_non_null(srv);
    assert_true(bw_test_server_log_wait(srv, "peer is unhealthy: upstream timed out (110:", 2,
                                        bw_test_timeout(3000)));
    /* reloads start over with fresh state and new probes, old workers leave */
    assert_true(bw_test_server_reload(srv, NULL));
    assert_true(bw_test_server_reload(srv, NULL));
    assert_true(bw_test_server_log_wait(srv, "peer is unhealthy: upstream timed out (110:", 6,
                                        bw_test_timeout(3000)));
    /* probes are in flight at any moment: a graceful stop must not wait for them */
    int64_t t0 = bw_test_now_ms();
    bw_test_server_stop(srv);
    assert_true(bw_test_now_ms() - t0 < bw_test_timeout(2000));
    bw_test_origin_stop(a);
    bw_test_origin_stop(b);
}

/* --------------------------------------------------------- configuration */

static void
test_health_check_config_messages(void **state)
{
    static const struct {
        const char *http; /* the reported line holds "# @@" */
        const char *message;
    } rows[] = {
        {"upstream u { server 127.0.0.1:1;\nhealth_check; # @@\n}",
         "health checks require upstream \"u\" to reside in shared memory (\"zone\")"},
        {"upstream u { zone u 64k; server 127.0.0.1:1;\nhealth_check match=nope; # @@\n}",
         "match \"nope\" not found"},
        {"upstream u { zone u 64k; server 127.0.0.1:1;\nhealth_check interval=x; # @@\n}",
         "invalid parameter \"interval=x\""},
        {"upstream u { zone u 64k; server 127.0.0.1:1;\nhealth_check fails=0; # @@\n}",
         "invalid parameter \"fails=0\""},
        {"upstream u { zone u 64k; server 127.0.0.1:1;\nhealth_check port=70000; # @@\n}",
         "invalid parameter \"port=70000\""},
        {"upstream u { zone u 64k; server 127.0.0.1:1;\nhealth_check foo; # @@\n}",
         "invalid parameter \"foo\""},
        {"upstream u { zone u 64k; server 127.0.0.1:1; health_check; health_check uri=/a;"
         " health_check uri=/b; health_check uri=/c;\nhealth_check uri=/d; # @@\n}",
         "too many health checks in upstream, at most 4"},
        {"server { location / {\nhealth_check; # @@\n} }",
         "\"health_check\" directive is not allowed here"},
        {"match m {\nstatus 99; # @@\n}", "invalid parameter \"99\""},
        {"match m {\nstatus 300-200; # @@\n}", "invalid parameter \"300-200\""},
        {"match m {\nstatus !; # @@\n}", "invalid number of arguments in \"status\" directive"},
        {"match m {\nheader X == y; # @@\n}", "invalid parameter \"==\""},
        {"match m {\nheader ? X; # @@\n}", "invalid parameter \"?\""},
        {"match m {\nbody = x; # @@\n}", "invalid parameter \"=\""},
        {"match m {\nbody ~ \"(\"; # @@\n}",
         "pcre2_compile() failed: missing closing parenthesis in \"(\""},
        {"match m {\nfoo bar; # @@\n}", "unknown directive \"foo\""},
        {"match m { status 200; }\nmatch m { # @@\n}", "duplicate match \"m\""},
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
        cmocka_unit_test(test_health_check_stopped_peer_is_skipped_until_it_passes_again),
        cmocka_unit_test(test_health_check_500_from_check_uri_takes_server_out_and_back),
        cmocka_unit_test(test_health_check_match_tests_status_header_and_body),
        cmocka_unit_test(test_health_check_several_checks_any_failure_counts),
        cmocka_unit_test(test_health_check_all_unhealthy_is_502_at_once),
        cmocka_unit_test(test_health_check_two_workers_probe_each_peer_once_per_interval),
        cmocka_unit_test(test_health_check_timeout_fails_and_stop_does_not_wait_for_probes),
        cmocka_unit_test(test_health_check_config_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
