/*
 * test_upstream.c -- upstream{} groups through the real binary and three
 * bw_origin processes named a, b and c: round-robin order (X-Origin),
 * weights, backup and down servers, no live upstreams, failures moving to
 * the next server (connect errors, http_503, non_idempotent, tries),
 * max_fails keeping a dead server out, keep-alive connections reused
 * (X-Origin-Conn), and the group configuration messages.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bw_test_origin_t *o[3];
    int               port[3];
    bw_test_server_t *srv;
    int               dead[3];
} bw_up_fx_t;

static bw_up_fx_t bw_up;

#define A "127.0.0.1:%%ORIGIN_PORT%%"
#define B "127.0.0.1:%%ORIGIN_PORT2%%"
#define C "127.0.0.1:%%ORIGIN_PORT3%%"

static const char bw_up_conf[] =
    "http {\n"
    "  log_format up '$uri $upstream_addr|$upstream_status|$status';\n"
    "  access_log logs/up.log up;\n"
    "  upstream rr { server " A "; server " B "; server " C "; }\n"
    "  upstream w { server " A " weight=5; server " B "; server " C "; }\n"
    "  upstream bk { server 127.0.0.1:%%DEAD1%%; server " C " backup; }\n"
    "  upstream dn { server " A " down; server " B "; }\n"
    "  upstream alldown { server " A " down; server " B " down; }\n"
    "  upstream flaky { server 127.0.0.1:%%DEAD2%%; server " B "; }\n"
    "  upstream tries { server 127.0.0.1:%%DEAD3%%; server " B "; }\n"
    "  upstream n503 { server 127.0.0.1:%%PORT2%%; server " A "; }\n"
    "  upstream n503b { server 127.0.0.1:%%PORT2%%; server " A "; }\n"
    "  upstream n503c { server 127.0.0.1:%%PORT2%%; server " A "; }\n"
    "  upstream n503d { server 127.0.0.1:%%PORT2%%; server " A "; }\n"
    "  server {\n"
    "    listen 127.0.0.1:%%PORT%%;\n"
    "    location /rr/ { proxy_pass http://rr; }\n"
    "    location /w/ { proxy_pass http://w; }\n"
    "    location /bk/ { proxy_pass http://bk; }\n"
    "    location /dn/ { proxy_pass http://dn; }\n"
    "    location /alldown/ { proxy_pass http://alldown; }\n"
    "    location /flaky/ { proxy_pass http://flaky; }\n"
    "    location /tries/ { proxy_next_upstream_tries 1; proxy_pass http://tries; }\n"
    "    location /n503/ { proxy_next_upstream error timeout http_503; proxy_pass http://n503; }\n"
    "    location /n503b/ { proxy_pass http://n503b; }\n"
    "    location /n503c/ { proxy_next_upstream error timeout http_503;"
    "                       proxy_pass http://n503c; }\n"
    "    location /n503d/ { proxy_next_upstream error timeout http_503 non_idempotent;"
    "                       proxy_pass http://n503d; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT2%%; location / { return 503 \"busy\\n\"; } }\n"
    "}\n";

static int
bw_up_setup(void **state)
{
    static const char *names[3] = {"a", "b", "c"};
    char               dead[3][16];

    memset(&bw_up, 0, sizeof(bw_up));
    for (int i = 0; i < 3; i++) {
        bw_up.o[i] = bw_test_origin_start(&bw_up.port[i], "-n", names[i]);
        if (bw_up.o[i] == NULL) {
            return -1;
        }
        bw_up.dead[i] = bw_test_free_port(NULL);
        snprintf(dead[i], sizeof(dead[i]), "%d", bw_up.dead[i]);
    }
    bw_up.srv = bw_test_server_start(bw_up_conf, "DEAD1", dead[0], "DEAD2", dead[1], "DEAD3",
                                     dead[2]);
    return bw_up.srv ? 0 : -1;
}

static int
bw_up_teardown(void **state)
{
    bw_test_server_stop(bw_up.srv);
    for (int i = 0; i < 3; i++) {
        bw_test_origin_stop(bw_up.o[i]);
    }
    return 0;
}

/* GET uri on the main server: the status, and the X-Origin letter in *who ('-' if none). */
static int
bw_up_get(const char *uri, char *who)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_up.srv->port, uri, &r), 0);
    const char *o = bw_test_response_header(&r, "X-Origin");
    *who = o ? o[0] : '-';
    int status = r.status;
    bw_test_response_free(&r);
    return status;
}

/* The X-Origin letters of n GET requests for uri (all must be 200). */
static void
bw_up_sequence(const char *uri, char *seq, int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(bw_up_get(uri, &seq[i]), 200);
    }
    seq[n] = '\0';
}

static void
test_upstream_round_robin_rotates_over_three_origins(void **state)
{
    char seq[16];

    bw_up_sequence("/rr/", seq, 9);
    assert_string_equal(seq, "abcabcabc");
}

static void
test_upstream_weights_5_1_1_follow_nginx_order(void **state)
{
    char seq[16];

    bw_up_sequence("/w/", seq, 14);
    assert_string_equal(seq, "aabacaaaabacaa");
}

static void
test_upstream_backup_takes_over_when_primary_fails(void **state)
{
    char seq[8];
    char want[128];

    bw_up_sequence("/bk/", seq, 4);
    assert_string_equal(seq, "cccc");
    /* the first request tried the dead primary, then the backup */
    snprintf(want, sizeof(want), "/bk/ 127.0.0.1:%d, 127.0.0.1:%d|502, 200|200", bw_up.dead[0],
             bw_up.port[2]);
    assert_true(bw_test_server_file_wait(bw_up.srv, "logs/up.log", want, 1,
                                         bw_test_timeout(3000)));
}

static void
test_upstream_down_server_gets_nothing(void **state)
{
    char seq[8];

    bw_up_sequence("/dn/", seq, 5);
    assert_string_equal(seq, "bbbbb");
}

static void
test_upstream_all_down_is_502_no_live_upstreams(void **state)
{
    char    who;
    int64_t t0 = bw_test_now_ms();

    assert_int_equal(bw_up_get("/alldown/", &who), 502);
    assert_true(bw_test_now_ms() - t0 < bw_test_timeout(1000));
    assert_true(bw_test_server_log_wait(bw_up.srv,
                                        "no live upstreams while connecting to upstream", 1,
                                        bw_test_timeout(3000)));
    assert_true(bw_test_server_file_wait(bw_up.srv, "logs/up.log", "/alldown/ alldown|502|502",
                                         1, bw_test_timeout(3000)));
}

static void
test_upstream_failed_server_skipped_within_fail_timeout(void **state)
{
    char seq[8];
    char refused[128];

    bw_up_sequence("/flaky/", seq, 5);
    assert_string_equal(seq, "bbbbb");
    /* one connect error only: max_fails=1 keeps the dead server out for 10s */
    snprintf(refused, sizeof(refused), "connect() failed (111: Connection refused) while "
             "connecting to upstream, client: 127.0.0.1, server: , request: \"GET /flaky/ ");
    assert_int_equal(bw_test_server_log_count(bw_up.srv, refused), 1);
    assert_true(bw_test_server_log_count(bw_up.srv, "upstream server temporarily disabled "
                                                    "while connecting to upstream")
                >= 1);
}

static void
test_upstream_next_upstream_tries_limits_attempts(void **state)
{
    char who;

    assert_int_equal(bw_up_get("/tries/", &who), 502);
    assert_int_equal(bw_up_get("/tries/", &who), 200);
    assert_int_equal(who, 'b');
}

static void
test_upstream_http_503_moves_to_next_server(void **state)
{
    char seq[8];
    char want[128];

    bw_up_sequence("/n503/", seq, 4);
    assert_string_equal(seq, "aaaa");
    snprintf(want, sizeof(want), "/n503/ 127.0.0.1:%d, 127.0.0.1:%d|503, 200|200",
             bw_up.srv->ports[2], bw_up.port[0]);
    assert_true(bw_test_server_file_wait(bw_up.srv, "logs/up.log", want, 1,
                                         bw_test_timeout(3000)));
}

static void
test_upstream_503_passed_without_http_503(void **state)
{
    char who;
    int  s1 = bw_up_get("/n503b/", &who);
    int  s2 = bw_up_get("/n503b/", &who);

    /* 503 is not a failure by default: the response is the client's */
    assert_int_equal(s1, 503);
    assert_int_equal(s2, 200);
}

static void
test_upstream_post_not_retried_unless_non_idempotent(void **state)
{
    bw_test_response_t r;
    const char         post[] = "POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                                "Connection: close\r\n\r\nhi";
    char               raw[256];

    snprintf(raw, sizeof(raw), post, "/n503c/");
    assert_int_equal(bw_test_http_request(bw_up.srv->port, raw, &r), 0);
    assert_int_equal(r.status, 503);
    bw_test_response_free(&r);

    snprintf(raw, sizeof(raw), post, "/n503d/");
    assert_int_equal(bw_test_http_request(bw_up.srv->port, raw, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "X-Origin"), "a");
    assert_string_equal(bw_test_response_header(&r, "X-Origin-Body-Length"), "2");
    bw_test_response_free(&r);
}

/* ------------------------------------------------------------ keep-alive */

/* True when the binary knows the keepalive directive of upstream{}. */
static bool
bw_up_has_keepalive(void)
{
    char *out = NULL;
    int   st = -1;
    bw_test_server_t *srv =
        bw_test_server_prepare("http { upstream k { server 127.0.0.1:1; keepalive 2; } }\n");

    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t"), 0);
    bool ok = st == 0;
    free(out);
    bw_test_server_stop(srv);
    return ok;
}

/* The X-Origin-Conn values of n requests on fresh client connections. */
static void
bw_up_conns(int port, const char *uri, long *conn, int n)
{
    for (int i = 0; i < n; i++) {
        bw_test_response_t r;
        assert_int_equal(bw_test_http_get(port, uri, &r), 0);
        assert_int_equal(r.status, 200);
        assert_true(r.complete);
        conn[i] = atol(bw_test_response_header(&r, "X-Origin-Conn"));
        bw_test_response_free(&r);
    }
}

static void
test_upstream_keepalive_reuses_connections(void **state)
{
    if (!bw_up_has_keepalive()) {
        skip();
    }
    bw_test_server_t *srv = bw_test_server_start(
        "http {\n"
        "  upstream ka { server 127.0.0.1:%%ORIGIN_PORT%%; keepalive 4; }\n"
        "  upstream noka { server 127.0.0.1:%%ORIGIN_PORT%%; }\n"
        "  server { listen 127.0.0.1:%%PORT%%;\n"
        "    proxy_http_version 1.1; proxy_set_header Connection \"\";\n"
        "    location /ka/ { proxy_pass http://ka; }\n"
        "    location /noka/ { proxy_pass http://noka; }\n"
        "    location /close/ { proxy_set_header Connection close; proxy_pass http://ka; }\n"
        "  }\n"
        "}\n");
    long conn[6];

    assert_non_null(srv);
    /* Content-Length and chunked responses both leave the connection reusable */
    bw_up_conns(srv->port, "/ka/?len=100", conn, 3);
    bw_up_conns(srv->port, "/ka/?chunked=1&len=5000", conn + 3, 3);
    for (int i = 1; i < 6; i++) {
        assert_int_equal(conn[i], conn[0]);
    }
    /* without keepalive every request opens a connection */
    bw_up_conns(srv->port, "/noka/?len=10", conn, 3);
    assert_int_not_equal(conn[0], conn[1]);
    assert_int_not_equal(conn[1], conn[2]);
    /* a response the upstream closes is not kept */
    bw_up_conns(srv->port, "/close/?len=10", conn, 2);
    assert_int_not_equal(conn[0], conn[1]);
    bw_test_server_stop(srv);
}

static void
test_upstream_keepalive_survives_origin_closing_idle(void **state)
{
    if (!bw_up_has_keepalive()) {
        skip();
    }
    int               port;
    bw_test_origin_t *o = bw_test_origin_start(&port, "-n", "k", "-k", "200");
    char              conf[1024];

    assert_non_null(o);
    snprintf(conf, sizeof(conf),
             "http {\n"
             "  upstream ka { server 127.0.0.1:%d; keepalive 4; }\n"
             "  server { listen 127.0.0.1:%%%%PORT%%%%;\n"
             "    proxy_http_version 1.1; proxy_set_header Connection \"\";\n"
             "    location / { proxy_pass http://ka; }\n"
             "  }\n"
             "}\n",
             port);
    bw_test_server_t *srv = bw_test_server_start(conf);
    long              conn[2];

    assert_non_null(srv);
    bw_up_conns(srv->port, "/?len=10", conn, 1);
    bw_test_sleep_ms(500); /* the origin closes the idle connection */
    bw_up_conns(srv->port, "/?len=10", conn + 1, 1);
    assert_int_not_equal(conn[0], conn[1]);
    bw_test_server_stop(srv);
    bw_test_origin_stop(o);
}

/* --------------------------------------------------------- configuration */

static void
test_upstream_config_messages(void **state)
{
    static const struct {
        const char *http; /* the reported line holds "# @@" */
        const char *message;
    } rows[] = {
        {"upstream u {\nserver 127.0.0.1:1 weight=0; # @@\n}", "invalid parameter \"weight=0\""},
        {"upstream u {\nserver 127.0.0.1:1 foo=1; # @@\n}", "invalid parameter \"foo=1\""},
        {"upstream u {\nserver 127.0.0.1:1 max_fails=x; # @@\n}",
         "invalid parameter \"max_fails=x\""},
        {"upstream u {\nserver 127.0.0.1:1 fail_timeout=x; # @@\n}",
         "invalid parameter \"fail_timeout=x\""},
        {"upstream u {\nserver 127.0.0.1:1 max_conns=a; # @@\n}",
         "invalid parameter \"max_conns=a\""},
        {"upstream u {\nserver http://127.0.0.1:1; # @@\n}",
         "invalid host in upstream \"http://127.0.0.1:1\""},
        {"upstream u {\nserver 127.0.0.1:1/x; # @@\n}", "invalid host in upstream \"127.0.0.1:1/x\""},
        {"upstream u {\nserver 127.0.0.1:70000; # @@\n}",
         "invalid port in upstream \"127.0.0.1:70000\""},
        {"upstream u {\nserver nonexistent.invalid; # @@\n}",
         "host not found in upstream \"nonexistent.invalid\""},
        {"upstream u { server 127.0.0.1:1; }\nupstream u { # @@\nserver 127.0.0.1:2; }",
         "duplicate upstream \"u\""},
        {"upstream u {\n} # @@", "no servers are inside upstream"},
        {"upstream u { # @@\nserver 127.0.0.1:1 backup; }", "no servers in upstream \"u\""},
        {"upstream u { server 127.0.0.1; }\nserver { location / {\n"
         "proxy_pass http://u:80; # @@\n} }",
         "upstream \"u\" may not have port 80"},
        {"server { location / {\nproxy_pass http://u:81; # @@\n} }\n"
         "upstream u { server 127.0.0.1; }",
         "upstream \"u\" may not have port 81"},
        {"server { location / {\nproxy_pass http://u; # @@\n} }", "host not found in upstream \"u\""},
        {"server { location / {\nserver 127.0.0.1; # @@\n} }",
         "\"server\" directive is not allowed here"},
    };
    char failures[16384] = "";

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bw_test_conf_check_marked(rows[i].http, rows[i].message, failures, sizeof(failures));
    }
    if (bw_up_has_keepalive()) {
        bw_test_conf_check_marked("upstream u { server 127.0.0.1;\nkeepalive 0; # @@\n}",
                         "invalid value \"0\" in \"keepalive\" directive", failures,
                         sizeof(failures));
    }
    if (failures[0]) {
        fail_msg("%s", failures);
    }
}

static void
test_upstream_config_accepts_nginx_forms(void **state)
{
    char *out = NULL;
    int   st = -1;
    bw_test_server_t *srv = bw_test_server_prepare(
        "http {\n"
        "  upstream u {\n"
        "    server 127.0.0.1:1 weight=2 max_fails=0 fail_timeout=0 max_conns=0 down;\n"
        "    server localhost:81 backup;\n"
        "    server 127.0.0.1 max_fails=3 fail_timeout=30s;\n"
        "  }\n"
        "  server { location / { proxy_pass http://u; }\n"
        "           location /a { proxy_pass http://localhost:8080/x; }\n"
        "           location /b { proxy_pass http://u/; } }\n"
        "}\n");

    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t"), 0);
    if (st != 0) {
        fail_msg("%s", out);
    }
    free(out);
    bw_test_server_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_round_robin_rotates_over_three_origins),
        cmocka_unit_test(test_upstream_weights_5_1_1_follow_nginx_order),
        cmocka_unit_test(test_upstream_backup_takes_over_when_primary_fails),
        cmocka_unit_test(test_upstream_down_server_gets_nothing),
        cmocka_unit_test(test_upstream_all_down_is_502_no_live_upstreams),
        cmocka_unit_test(test_upstream_failed_server_skipped_within_fail_timeout),
        cmocka_unit_test(test_upstream_next_upstream_tries_limits_attempts),
        cmocka_unit_test(test_upstream_http_503_moves_to_next_server),
        cmocka_unit_test(test_upstream_503_passed_without_http_503),
        cmocka_unit_test(test_upstream_post_not_retried_unless_non_idempotent),
        cmocka_unit_test(test_upstream_keepalive_reuses_connections),
        cmocka_unit_test(test_upstream_keepalive_survives_origin_closing_idle),
        cmocka_unit_test(test_upstream_config_messages),
        cmocka_unit_test(test_upstream_config_accepts_nginx_forms),
    };
    return cmocka_run_group_tests(tests, bw_up_setup, bw_up_teardown);
}
