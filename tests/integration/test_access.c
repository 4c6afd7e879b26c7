/*
 * test_access.c -- allow/deny through the real binary: first match wins,
 * `all`, CIDR networks, IPv6 and unix: rules that do not concern an IPv4
 * client, inheritance from the enclosing level, limit_except, the 403 and
 * its "access forbidden by rule" error line, and nginx's configuration
 * messages (invalid parameter, low address bits warning). Expected values
 * were checked against nginx 1.22 with the same configuration.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every location serves a file of the same name from html/. */
#define BW_TA_CONF                                                    \
    "http {\n"                                                        \
    "  access_log off;\n"                                             \
    "  server {\n"                                                    \
    "    listen 127.0.0.1:%%PORT%%;\n"                                \
    "    server_name localhost;\n"                                    \
    "    root html;\n"                                                \
    "    location = /allow_first { allow 127.0.0.1; deny all; }\n"    \
    "    location = /deny_first { deny 127.0.0.1; allow all; }\n"     \
    "    location = /deny_all { deny all; }\n"                        \
    "    location = /other_net { allow 10.0.0.0/8; deny all; }\n"     \
    "    location = /no_match { deny 10.0.0.0/8; }\n"                 \
    "    location = /cidr_allow { allow 127.0.0.0/8; deny all; }\n"   \
    "    location = /cidr_deny { deny 127.0.0.0/31; allow all; }\n"   \
    "    location = /cidr_edge { deny 127.0.0.2/31; allow all; }\n"   \
    "    location = /v6_only { deny ::/0; deny ::1; }\n"              \
    "    location = /v6_then_all { allow ::/0; deny all; }\n"         \
    "    location = /unix_rule { deny unix:; }\n"                     \
    "    location = /mapped { allow ::ffff:127.0.0.1; deny all; }\n"  \
    "    location = /methods { limit_except GET { deny all; } }\n"    \
    "    location /sub/ {\n"                                          \
    "      deny all;\n"                                               \
    "      location = /sub/inherit { }\n"                             \
    "      location = /sub/own { allow all; }\n"                      \
    "    }\n"                                                         \
    "  }\n"                                                           \
    "  server {\n"                                                    \
    "    listen 127.0.0.1:%%PORT2%%;\n"                               \
    "    root html;\n"                                                \
    "    deny 127.0.0.1;\n"                                           \
    "    location = /inherit { }\n"                                   \
    "    location = /own { allow 127.0.0.1; }\n"                      \
    "  }\n"                                                           \
    "}\n"

static const char *const bw_ta_files[] = {
    "allow_first", "deny_first", "deny_all", "other_net", "no_match", "cidr_allow",
    "cidr_deny", "cidr_edge", "v6_only", "v6_then_all", "unix_rule", "mapped", "methods",
    "sub/inherit", "sub/own", "inherit", "own",
};

static bw_test_server_t *bw_ta_srv;

static int
bw_ta_setup(void **state)
{
    bw_ta_srv = bw_test_server_start_files(BW_TA_CONF, "html/", bw_ta_files,
                                           sizeof(bw_ta_files) / sizeof(bw_ta_files[0]), "ok\n");
    return bw_ta_srv != NULL ? 0 : -1;
}

static int
bw_ta_teardown(void **state)
{
    if (bw_ta_srv) {
        bw_test_server_stop(bw_ta_srv);
        bw_ta_srv = NULL;
    }
    return 0;
}

/* `method` `uri` on `port`; returns the status. */
static int
bw_ta_status(int port, const char *method, const char *uri)
{
    char req[512];

    snprintf(req, sizeof(req),
             "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
             method, uri);
    return bw_test_http_status(port, req);
}

static void
bw_ta_expect(const char *uri, int status)
{
    int got = bw_ta_status(bw_ta_srv->port, "GET", uri);
    if (got != status) {
        fail_msg("GET %s: expected %d, got %d", uri, status, got);
    }
}

static void
test_access_first_matching_rule_wins(void **state)
{
    bw_ta_expect("/allow_first", 200);
    bw_ta_expect("/deny_first", 403);
}

static void
test_access_deny_all_forbids_and_logs_the_client(void **state)
{
    int before = bw_test_server_log_count(bw_ta_srv, "access forbidden by rule");
    bw_ta_expect("/deny_all", 403);
    assert_true(bw_test_server_log_wait(bw_ta_srv, "access forbidden by rule", before + 1,
                                        bw_test_timeout(3000)));
    /* nginx's line: [error] ... *N access forbidden by rule, client: 127.0.0.1, server:
     * localhost, request: "GET /deny_all HTTP/1.1", host: "localhost" */
    assert_true(bw_test_server_log_grep(bw_ta_srv,
                                        "\\[error\\] [0-9]+#[0-9]+: \\*[0-9]+ access forbidden by "
                                        "rule, client: 127\\.0\\.0\\.1, server: localhost, "
                                        "request: \"GET /deny_all HTTP/1\\.1\", host: "
                                        "\"localhost\"$") >= 1);
}

static void
test_access_rules_of_other_networks_do_not_match(void **state)
{
    bw_ta_expect("/other_net", 403); /* falls through to deny all */
    bw_ta_expect("/no_match", 200);  /* no rule matched: allowed */
}

static void
test_access_cidr_networks_and_edges(void **state)
{
    bw_ta_expect("/cidr_allow", 200);
    bw_ta_expect("/cidr_deny", 403);  /* 127.0.0.0/31 holds .0 and .1 */
    bw_ta_expect("/cidr_edge", 200);  /* 127.0.0.2/31 holds .2 and .3 */
}

static void
test_access_ipv6_and_unix_rules_ignore_ipv4_clients(void **state)
{
    bw_ta_expect("/v6_only", 200);
    bw_ta_expect("/v6_then_all", 403);
    bw_ta_expect("/unix_rule", 200);
    /* an IPv4 client is not the IPv4-mapped IPv6 address */
    bw_ta_expect("/mapped", 403);
}

static void
test_access_limit_except_applies_to_other_methods(void **state)
{
    assert_int_equal(bw_ta_status(bw_ta_srv->port, "GET", "/methods"), 200);
    assert_int_equal(bw_ta_status(bw_ta_srv->port, "HEAD", "/methods"), 200);
    assert_int_equal(bw_ta_status(bw_ta_srv->port, "POST", "/methods"), 403);
    assert_int_equal(bw_ta_status(bw_ta_srv->port, "DELETE", "/methods"), 403);
}

static void
test_access_level_without_rules_inherits(void **state)
{
    bw_ta_expect("/sub/inherit", 403);
    bw_ta_expect("/sub/own", 200);
    assert_int_equal(bw_ta_status(bw_ta_srv->ports[2], "GET", "/inherit"), 403);
    assert_int_equal(bw_ta_status(bw_ta_srv->ports[2], "GET", "/own"), 200);
}

/* `bulwark -t` of an http{} body; returns the output (caller frees) and exit status. */
static char *
bw_ta_check_conf(const char *http_body, int *status)
{
    return bw_test_conf_test(status, "http { server { listen 127.0.0.1:%%%%PORT%%%%; %s } }\n",
                             http_body);
}

static void
test_access_conf_messages_match_nginx(void **state)
{
    int   status;
    char *out = bw_ta_check_conf("allow 10.0.0.1/8; deny ::1/64;", &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "[warn] low address bits of 10.0.0.1/8 are meaningless in "));
    assert_non_null(strstr(out, "[warn] low address bits of ::1/64 are meaningless in "));
    free(out);

    static const char *const bad[] = {"foo", "10.0.0.1/33", "ALL", "unix:/x", "10.0.0.256",
                                      "1::2::3", "localhost"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[128], want[128];
        snprintf(body, sizeof(body), "deny \"%s\";", bad[i]);
        snprintf(want, sizeof(want), "[emerg] invalid parameter \"%s\" in ", bad[i]);
        out = bw_ta_check_conf(body, &status);
        if (status != 1 || strstr(out, want) == NULL) {
            fail_msg("deny %s: status %d, output:\n%s", bad[i], status, out);
        }
        free(out);
    }
    out = bw_ta_check_conf("allow;", &status);
    assert_int_equal(status, 1);
    assert_non_null(strstr(out, "invalid number of arguments in \"allow\" directive"));
    free(out);
}

int
main(void)
{
    const struct CMUnitTest served[] = {
        cmocka_unit_test(test_access_first_matching_rule_wins),
        cmocka_unit_test(test_access_deny_all_forbids_and_logs_the_client),
        cmocka_unit_test(test_access_rules_of_other_networks_do_not_match),
        cmocka_unit_test(test_access_cidr_networks_and_edges),
        cmocka_unit_test(test_access_ipv6_and_unix_rules_ignore_ipv4_clients),
        cmocka_unit_test(test_access_limit_except_applies_to_other_methods),
        cmocka_unit_test(test_access_level_without_rules_inherits),
    };
    const struct CMUnitTest config[] = {
        cmocka_unit_test(test_access_conf_messages_match_nginx),
    };
    int failed = cmocka_run_group_tests_name("access_served", served, bw_ta_setup, bw_ta_teardown);
    return failed + cmocka_run_group_tests_name("access_config", config, NULL, NULL);
}
