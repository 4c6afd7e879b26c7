/*
 * test_resolver.c -- `resolver` and `resolver_timeout` through the real
 * binary: proxy_pass with a host name in a variable is resolved at request
 * time by the DNS server of the harness (tests/harness/dns.c) and proxied
 * to bw_origin; answers are cached for their TTL or valid=, "host not
 * found" briefly; NXDOMAIN, SERVFAIL, REFUSED and silence end in 502 with
 * nginx's "could not be resolved (N: text)" line; a CNAME is followed;
 * names are case-insensitive; a client that leaves during a lookup costs
 * nothing; and `resolver` lines are checked as nginx checks them.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    bw_test_origin_t *origin;
    int               origin_port;
    bw_test_dns_t    *dns;
    int               dns_port;
    bw_test_server_t *srv;
} bw_rs_fx_t;

static bw_rs_fx_t bw_rs;

/* Server 1: TTLs; server 2 (PORT2): valid=30s, ipv6=off; server 3 (PORT3): no resolver. */
static const char bw_rs_conf[] =
    "http {\n"
    "  log_format up '$arg_h|$upstream_addr|$upstream_status|$status';\n"
    "  access_log logs/up.log up;\n"
    "  resolver_timeout 600ms;\n"
    "  server {\n"
    "    listen 127.0.0.1:%%PORT%%;\n"
    "    resolver 127.0.0.1:%%DNS%%;\n"
    "    location / { proxy_pass http://$arg_h:%%ORIGIN_PORT%%; }\n"
    "    location /slow/ { resolver_timeout 5s; proxy_pass http://$arg_h:%%ORIGIN_PORT%%; }\n"
    "  }\n"
    "  server {\n"
    "    listen 127.0.0.1:%%PORT2%%;\n"
    "    resolver 127.0.0.1:%%DNS%% valid=30s ipv6=off;\n"
    "    location / { proxy_pass http://$arg_h:%%ORIGIN_PORT%%; }\n"
    "  }\n"
    "  server {\n"
    "    listen 127.0.0.1:%%PORT3%%;\n"
    "    location / { proxy_pass http://$arg_h:%%ORIGIN_PORT%%; }\n"
    "  }\n"
    "}\n";

static int
bw_rs_setup(void **state)
{
    char dns[16];

    memset(&bw_rs, 0, sizeof(bw_rs));
    bw_rs.origin = bw_test_origin_start(&bw_rs.origin_port, "-n", "o1");
    bw_rs.dns = bw_test_dns_start(&bw_rs.dns_port);
    if (bw_rs.origin == NULL || bw_rs.dns == NULL) {
        return -1;
    }
    snprintf(dns, sizeof(dns), "%d", bw_rs.dns_port);
    bw_rs.srv = bw_test_server_start(bw_rs_conf, "DNS", dns);
    return bw_rs.srv != NULL ? 0 : -1;
}

static int
bw_rs_teardown(void **state)
{
    bw_test_server_stop(bw_rs.srv);
    bw_test_dns_stop(bw_rs.dns);
    bw_test_origin_stop(bw_rs.origin);
    return 0;
}

/* GET /?h=host on port; returns the status, the X-Origin header checked when 200. */
static int
bw_rs_get(int port, const char *path, const char *host)
{
    bw_test_response_t r;
    char               target[256];

    snprintf(target, sizeof(target), "%s?h=%s", path, host);
    assert_int_equal(bw_test_http_get(port, target, &r), 0);
    int status = r.status;
    if (status == 200) {
        const char *o = bw_test_response_header(&r, "X-Origin");
        assert_non_null(o);
        assert_string_equal(o, "o1");
    }
    bw_test_response_free(&r);
    return status;
}

/* Waits for the access log line "host|127.0.0.1:ORIGIN|200|200". */
static void
bw_rs_expect_logged_ok(const char *host)
{
    char line[256];

    snprintf(line, sizeof(line), "%s|127.0.0.1:%d|200|200", host, bw_rs.origin_port);
    assert_true(bw_test_server_file_wait(bw_rs.srv, "logs/up.log", line, 1,
                                         bw_test_timeout(3000)));
}

static void
test_resolver_name_resolved_and_proxied(void **state)
{
    assert_int_equal(bw_test_dns_add(bw_rs.dns, "app.test", "127.0.0.1", 300), 0);

    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "app.test"), 200);
    bw_rs_expect_logged_ok("app.test");
    /* A and AAAA were both asked (ipv6 on by default) */
    assert_int_equal(bw_test_dns_queries(bw_rs.dns, "app.test", 1), 1);
    assert_int_equal(bw_test_dns_queries(bw_rs.dns, "app.test", 28), 1);

    /* cached for the TTL: no new query; case and a trailing dot do not matter */
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "app.test"), 200);
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "APP.Test."), 200);
    assert_int_equal(bw_test_dns_queries(bw_rs.dns, "app.test", 0), 2);
}

static void
test_resolver_ttl_expiry_and_valid_override(void **state)
{
    assert_int_equal(bw_test_dns_add(bw_rs.dns, "short.test", "127.0.0.1", 1), 0);

    /* server 1 keeps the answer for its TTL of 1 s */
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "short.test"), 200);
    assert_int_equal(bw_test_dns_queries(bw_rs.dns, "short.test", 1), 1);
    bw_test_sleep_ms(1300);
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "short.test"), 200);
    assert_int_equal(bw_test_dns_queries(bw_rs.dns, "short.test", 1), 2);

    /* server 2: valid=30s wins over the TTL; ipv6=off asks no AAAA */
    assert_int_equal(bw_rs_get(bw_rs.srv->ports[2], "/", "short.test"), 200);
    assert_int_equal(bw_test_dns_queries(bw_rs.dns, "short.test", 1), 3);
    bw_test_sleep_ms(1300);
    assert_int_equal(bw_rs_get(bw_rs.srv->ports[2], "/", "short.test"), 200);
    assert_int_equal(bw_test_dns_queries(bw_rs.dns, "short.test", 1), 3);
    assert_int_equal(bw_test_dns_queries(bw_rs.dns, "short.test", 28), 2);
}

static void
test_resolver_cname_followed(void **state)
{
    assert_int_equal(bw_test_dns_add(bw_rs.dns, "real.test", "127.0.0.1", 300), 0);
    assert_int_equal(bw_test_dns_cname(bw_rs.dns, "alias.test", "real.test", 300), 0);

    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "alias.test"), 200);
    bw_rs_expect_logged_ok("alias.test");
}

static void
test_resolver_failures_are_502_with_nginx_lines(void **state)
{
    static const struct {
        const char        *name;
        bw_test_dns_mode_t mode;
        const char        *line;
    } rows[] = {
        {"gone.test", BW_TEST_DNS_NXDOMAIN, "gone.test could not be resolved (3: Host not found)"},
        {"broken.test", BW_TEST_DNS_SERVFAIL,
         "broken.test could not be resolved (2: Server failure)"},
        {"closed.test", BW_TEST_DNS_REFUSED,
         "closed.test could not be resolved (5: Operation refused)"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(bw_test_dns_add(bw_rs.dns, rows[i].name, "127.0.0.1", 300), 0);
        assert_int_equal(bw_test_dns_mode(bw_rs.dns, rows[i].name, rows[i].mode), 0);
        assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", rows[i].name), 502);
        assert_true(bw_test_server_log_wait(bw_rs.srv, rows[i].line, 1, bw_test_timeout(3000)));
    }
    /* an unknown name, and one no query can carry */
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "nobody.test"), 502);
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "a..b"), 502);
    assert_true(bw_test_server_log_wait(bw_rs.srv, "a..b could not be resolved (1: Format error)",
                                        1, bw_test_timeout(3000)));

    /* "host not found" is kept a while: the name now exists, the answer is still 502 */
    assert_int_equal(bw_test_dns_mode(bw_rs.dns, "gone.test", BW_TEST_DNS_ANSWER), 0);
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "gone.test"), 502);
    /* a server failure is not kept */
    assert_int_equal(bw_test_dns_mode(bw_rs.dns, "broken.test", BW_TEST_DNS_ANSWER), 0);
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "broken.test"), 200);

    /* without a resolver */
    assert_int_equal(bw_rs_get(bw_rs.srv->ports[3], "/", "app3.test"), 502);
    assert_true(bw_test_server_log_wait(bw_rs.srv, "no resolver defined to resolve app3.test", 1,
                                        bw_test_timeout(3000)));
}

static void
test_resolver_timeout_is_502_after_resolver_timeout(void **state)
{
    assert_int_equal(bw_test_dns_mode(bw_rs.dns, "mute.test", BW_TEST_DNS_SILENT), 0);

    int64_t t0 = bw_test_now_ms();
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "mute.test"), 502);
    int64_t took = bw_test_now_ms() - t0;
    assert_true(took >= 500);
    assert_true(took < bw_test_timeout(3000));
    assert_true(bw_test_server_log_wait(bw_rs.srv,
                                        "mute.test could not be resolved (110: Operation timed out)",
                                        1, bw_test_timeout(3000)));
    assert_true(bw_test_dns_queries(bw_rs.dns, "mute.test", 1) >= 1);
}

/* A client that goes away while its name is being looked up: the lookup is
 * dropped, the worker goes on serving and shuts down without waiting. */
static void
test_resolver_client_gone_during_lookup(void **state)
{
    assert_int_equal(bw_test_dns_mode(bw_rs.dns, "hang.test", BW_TEST_DNS_SILENT), 0);

    for (int i = 0; i < 5; i++) {
        int  fd = bw_test_connect(bw_rs.srv->port, 3000);
        char req[128];
        assert_true(fd >= 0);
        snprintf(req, sizeof(req), "GET /slow/?h=hang.test HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
        bw_test_sleep_ms(50);
        close(fd);
    }
    assert_true(bw_test_server_log_wait(bw_rs.srv, "client prematurely closed connection", 5,
                                        bw_test_timeout(3000)));
    assert_true(bw_test_dns_queries(bw_rs.dns, "hang.test", 1) >= 1);
    /* still serving */
    assert_int_equal(bw_test_dns_add(bw_rs.dns, "after.test", "127.0.0.1", 300), 0);
    assert_int_equal(bw_rs_get(bw_rs.srv->port, "/", "after.test"), 200);
}

static void
test_resolver_config_messages(void **state)
{
    static const struct {
        const char *http;
        const char *message;
    } rows[] = {
        {"server { location / {\nresolver 127.0.0.1:99999; # @@\n} }",
         "invalid port in resolver \"127.0.0.1:99999\""},
        {"server {\nresolver 127.0.0.1 valid=abc; # @@\n}", "invalid parameter: valid=abc"},
        {"\nresolver 127.0.0.1 ipv4=off ipv6=off; # @@\n",
         "\"ipv4\" and \"ipv6\" cannot both be \"off\""},
        {"\nresolver 127.0.0.1 foo=bar; # @@\n", "host not found in resolver \"foo=bar\""},
        {"\nresolver [::1; # @@\n", "invalid host in resolver \"[::1\""},
        {"resolver 127.0.0.1;\nresolver 127.0.0.2; # @@\n", "\"resolver\" directive is duplicate"},
        {"\nresolver_timeout 5x; # @@\n", "\"resolver_timeout\" directive invalid value"},
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
        cmocka_unit_test(test_resolver_name_resolved_and_proxied),
        cmocka_unit_test(test_resolver_ttl_expiry_and_valid_override),
        cmocka_unit_test(test_resolver_cname_followed),
        cmocka_unit_test(test_resolver_failures_are_502_with_nginx_lines),
        cmocka_unit_test(test_resolver_timeout_is_502_after_resolver_timeout),
        cmocka_unit_test(test_resolver_client_gone_during_lookup),
        cmocka_unit_test(test_resolver_config_messages),
    };
    return cmocka_run_group_tests(tests, bw_rs_setup, bw_rs_teardown);
}
