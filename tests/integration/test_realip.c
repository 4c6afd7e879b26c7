/*
 * test_realip.c -- the realip module through the real binary: X-Real-IP
 * (the default) with and without a port, X-Forwarded-For taken from the
 * right, recursive search skipping trusted proxies, several header lines,
 * a custom header, untrusted peers left alone, the effect on $remote_addr
 * in the access log and on allow/deny (403 naming the real client), the
 * original address in $realip_remote_addr/$realip_remote_port, and the
 * peer restored for the next keep-alive request. Expected addresses were
 * checked against nginx 1.22 with the same configuration.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Port 1: trusted 127.0.0.1, X-Forwarded-For, not recursive.
 * Port 2: same, recursive, 10.0.0.0/8 trusted too.
 * Port 3: default header (X-Real-IP), trusted 127.0.0.1.
 * Port 4: only 10.0.0.0/8 trusted: the test client is not a trusted proxy.
 * Port 5: a custom header; /loc has its own settings (applied before access).
 */
#define BW_TR_CONF                                                              \
    "http {\n"                                                                  \
    "  log_format ip '$uri $remote_addr $remote_port $realip_remote_addr "      \
    "$realip_remote_port';\n"                                                   \
    "  access_log logs/ip.log ip;\n"                                            \
    "  root html;\n"                                                            \
    "  server {\n"                                                              \
    "    listen 127.0.0.1:%%PORT%%;\n"                                          \
    "    server_name localhost;\n"                                              \
    "    set_real_ip_from 127.0.0.1;\n"                                         \
    "    set_real_ip_from 10.0.0.0/8;\n"                                        \
    "    real_ip_header X-Forwarded-For;\n"                                     \
    "    location = /guarded { deny 203.0.113.7; }\n"                           \
    "  }\n"                                                                     \
    "  server {\n"                                                              \
    "    listen 127.0.0.1:%%PORT2%%;\n"                                         \
    "    set_real_ip_from 127.0.0.0/8;\n"                                       \
    "    set_real_ip_from 10.0.0.0/8;\n"                                        \
    "    real_ip_header X-Forwarded-For;\n"                                     \
    "    real_ip_recursive on;\n"                                               \
    "    location = /guarded { allow 203.0.113.0/24; deny all; }\n"             \
    "  }\n"                                                                     \
    "  server {\n"                                                              \
    "    listen 127.0.0.1:%%PORT3%%;\n"                                         \
    "    set_real_ip_from 127.0.0.1;\n"                                         \
    "  }\n"                                                                     \
    "  server {\n"                                                              \
    "    listen 127.0.0.1:%%PORT4%%;\n"                                         \
    "    set_real_ip_from 10.0.0.0/8;\n"                                        \
    "    real_ip_header X-Forwarded-For;\n"                                     \
    "  }\n"                                                                     \
    "  server {\n"                                                              \
    "    listen 127.0.0.1:%%PORT5%%;\n"                                         \
    "    set_real_ip_from 127.0.0.1;\n"                                         \
    "    real_ip_header X-Client;\n"                                            \
    "    location = /loc {\n"                                                   \
    "      set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;\n"        \
    "      deny 203.0.113.7;\n"                                                  \
    "    }\n"                                                                   \
    "  }\n"                                                                     \
    "}\n"

static bw_test_server_t *bw_tr_srv;

static int
bw_tr_setup(void **state)
{
    static const char *const files[] = {"html/a", "html/b", "html/c", "html/d", "html/e",
                                        "html/f", "html/g", "html/guarded", "html/ka1",
                                        "html/ka2", "html/h", "html/i", "html/j", "html/k",
                                        "html/loc"};
    bw_tr_srv = bw_test_server_start_files(BW_TR_CONF, "", files,
                                           sizeof(files) / sizeof(files[0]), "ok\n");
    return bw_tr_srv != NULL ? 0 : -1;
}

static int
bw_tr_teardown(void **state)
{
    if (bw_tr_srv) {
        bw_test_server_stop(bw_tr_srv);
        bw_tr_srv = NULL;
    }
    return 0;
}

/* GET uri on port (1-based slot) with extra header lines; returns the status. */
static int
bw_tr_get(int slot, const char *uri, const char *headers)
{
    char req[1024];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n",
             uri, headers);
    return bw_test_http_status(bw_tr_srv->ports[slot], req);
}

/*
 * Waits for the access log line of `uri` and checks its addresses: the
 * line is "uri remote_addr remote_port realip_remote_addr realip_remote_port";
 * want_port NULL means any number, "" means the field is empty.
 */
static void
bw_tr_expect_line(const char *uri, const char *addr, const char *want_port)
{
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s %s ", uri, addr);
    assert_true(bw_test_server_file_wait(bw_tr_srv, "logs/ip.log", prefix, 1,
                                         bw_test_timeout(3000)));
    char *text = bw_test_server_read_file(bw_tr_srv, "logs/ip.log", NULL);
    assert_non_null(text);
    char *line = strstr(text, prefix);
    assert_non_null(line);
    char *end = strchr(line, '\n');
    assert_non_null(end);
    *end = '\0';

    char port[32] = "", orig[64] = "", orig_port[32] = "";
    const char *rest = line + strlen(prefix);
    /* remote_port may be empty: "uri addr  127.0.0.1 5555" */
    if (*rest == ' ') {
        sscanf(rest, " %63s %31s", orig, orig_port);
    } else {
        sscanf(rest, "%31s %63s %31s", port, orig, orig_port);
    }
    if (want_port && strcmp(port, want_port) != 0) {
        fail_msg("%s: remote_port \"%s\", want \"%s\" (line: %s)", uri, port, want_port, line);
    }
    if (strcmp(orig, "127.0.0.1") != 0 || atoi(orig_port) <= 0) {
        fail_msg("%s: realip_remote_addr/port \"%s\" \"%s\" (line: %s)", uri, orig, orig_port,
                 line);
    }
    free(text);
}

static void
test_realip_forwarded_for_takes_the_last_address(void **state)
{
    assert_int_equal(bw_tr_get(1, "/a", "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n"), 200);
    bw_tr_expect_line("/a", "10.0.0.1", NULL);
}

static void
test_realip_recursive_skips_trusted_proxies(void **state)
{
    assert_int_equal(bw_tr_get(2, "/b", "X-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.0.0.1,"
                                         " 10.0.0.2\r\n"), 200);
    bw_tr_expect_line("/b", "203.0.113.7", NULL);
    /* every address trusted: the leftmost one */
    assert_int_equal(bw_tr_get(2, "/c", "X-Forwarded-For: 10.1.1.1, 10.0.0.1\r\n"), 200);
    bw_tr_expect_line("/c", "10.1.1.1", NULL);
    /* a bad token stops the search: the last good address is used */
    assert_int_equal(bw_tr_get(2, "/d", "X-Forwarded-For: 198.51.100.1, bogus, 10.0.0.3\r\n"),
                     200);
    bw_tr_expect_line("/d", "10.0.0.3", NULL);
}

static void
test_realip_several_forwarded_for_lines(void **state)
{
    /* recursive: the lines read as one list, right to left */
    assert_int_equal(bw_tr_get(2, "/e", "X-Forwarded-For: 203.0.113.9\r\n"
                                        "X-Forwarded-For: 10.0.0.3, 10.0.0.4\r\n"), 200);
    bw_tr_expect_line("/e", "203.0.113.9", NULL);
    /* not recursive: only the last line counts */
    assert_int_equal(bw_tr_get(1, "/f", "X-Forwarded-For: 203.0.113.9\r\n"
                                        "X-Forwarded-For: ,\r\n"), 200);
    bw_tr_expect_line("/f", "127.0.0.1", NULL);
}

/* nginx prints $remote_port only for ports 1..65535: none in the header, none shown */
static void
test_realip_remote_port_empty_without_port(void **state)
{
    assert_int_equal(bw_tr_get(3, "/k", "X-Real-IP: 198.51.100.3\r\n"), 200);
    bw_tr_expect_line("/k", "198.51.100.3", "");
}

static void
test_realip_x_real_ip_default_with_port(void **state)
{
    assert_int_equal(bw_tr_get(3, "/g", "X-Real-IP: 198.51.100.2:8080\r\n"), 200);
    bw_tr_expect_line("/g", "198.51.100.2", "8080");
    assert_int_equal(bw_tr_get(3, "/h", "X-Real-IP: [2001:db8::5]:443\r\n"), 200);
    bw_tr_expect_line("/h", "2001:db8::5", "443");
}

static void
test_realip_untrusted_peer_is_not_replaced(void **state)
{
    assert_int_equal(bw_tr_get(4, "/i", "X-Forwarded-For: 203.0.113.7\r\n"), 200);
    bw_tr_expect_line("/i", "127.0.0.1", NULL);
}

static void
test_realip_custom_header_first_line(void **state)
{
    assert_int_equal(bw_tr_get(5, "/j", "X-Client: 192.0.2.44\r\nX-Client: 192.0.2.45\r\n"),
                     200);
    bw_tr_expect_line("/j", "192.0.2.44", NULL);
}

static void
test_realip_address_feeds_allow_deny(void **state)
{
    int before = bw_test_server_log_count(bw_tr_srv, "access forbidden by rule");
    assert_int_equal(bw_tr_get(1, "/guarded", "X-Forwarded-For: 203.0.113.7\r\n"), 403);
    assert_true(bw_test_server_log_wait(bw_tr_srv, "access forbidden by rule, client: 203.0.113.7",
                                        1, bw_test_timeout(3000)));
    assert_int_equal(bw_test_server_log_count(bw_tr_srv, "access forbidden by rule"), before + 1);
    assert_int_equal(bw_tr_get(1, "/guarded", "X-Forwarded-For: 203.0.113.8\r\n"), 200);
    assert_int_equal(bw_tr_get(1, "/guarded", ""), 200);
    /* recursive server: allowed only when the real client is in 203.0.113.0/24 */
    assert_int_equal(bw_tr_get(2, "/guarded", "X-Forwarded-For: 203.0.113.50, 10.0.0.1\r\n"), 200);
    assert_int_equal(bw_tr_get(2, "/guarded", "X-Forwarded-For: 198.51.100.1, 10.0.0.1\r\n"), 403);
    assert_int_equal(bw_tr_get(2, "/guarded", ""), 403);
}

static void
test_realip_location_settings_apply_before_access(void **state)
{
    assert_int_equal(bw_tr_get(5, "/loc", "X-Forwarded-For: 203.0.113.7\r\n"), 403);
    assert_int_equal(bw_tr_get(5, "/loc", "X-Forwarded-For: 203.0.113.8\r\n"), 200);
    bw_tr_expect_line("/loc", "203.0.113.8", NULL);
}

static void
test_realip_keepalive_request_sees_the_peer_again(void **state)
{
    bw_test_conn_t    *c = bw_test_conn_open(bw_tr_srv->ports[1]);
    bw_test_response_t r;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "GET /ka1 HTTP/1.1\r\nHost: localhost\r\n"
                                              "X-Forwarded-For: 203.0.113.77\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    bw_test_response_free(&r);
    assert_int_equal(bw_test_conn_send_str(c, "GET /ka2 HTTP/1.1\r\nHost: localhost\r\n"
                                              "Connection: close\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    bw_test_response_free(&r);
    bw_test_conn_close(c);
    bw_tr_expect_line("/ka1", "203.0.113.77", NULL);
    bw_tr_expect_line("/ka2", "127.0.0.1", NULL);
}

/* `bulwark -t` of an http{} body: output (caller frees) and exit status. */
static char *
bw_tr_check_conf(const char *http_body, int *status)
{
    return bw_test_conf_test(status, "http { server { listen 127.0.0.1:%%%%PORT%%%%; %s } }\n",
                             http_body);
}

static void
test_realip_conf_messages_match_nginx(void **state)
{
    int   status;
    char *out = bw_tr_check_conf("set_real_ip_from 192.168.1.1/16; set_real_ip_from unix:;"
                                 " set_real_ip_from localhost;", &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "[warn] low address bits of 192.168.1.1/16 are meaningless in "));
    free(out);

    out = bw_tr_check_conf("real_ip_header X-Real-IP; real_ip_header X-Forwarded-For;", &status);
    assert_int_equal(status, 1);
    assert_non_null(strstr(out, "\"real_ip_header\" directive is duplicate in "));
    free(out);

    out = bw_tr_check_conf("real_ip_recursive maybe;", &status);
    assert_int_equal(status, 1);
    free(out);

    out = bw_tr_check_conf("real_ip_header proxy_protocol;", &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "not supported"));
    free(out);
}

int
main(void)
{
    const struct CMUnitTest served[] = {
        cmocka_unit_test(test_realip_forwarded_for_takes_the_last_address),
        cmocka_unit_test(test_realip_recursive_skips_trusted_proxies),
        cmocka_unit_test(test_realip_several_forwarded_for_lines),
        cmocka_unit_test(test_realip_x_real_ip_default_with_port),
        cmocka_unit_test(test_realip_remote_port_empty_without_port),
        cmocka_unit_test(test_realip_untrusted_peer_is_not_replaced),
        cmocka_unit_test(test_realip_custom_header_first_line),
        cmocka_unit_test(test_realip_address_feeds_allow_deny),
        cmocka_unit_test(test_realip_location_settings_apply_before_access),
        cmocka_unit_test(test_realip_keepalive_request_sees_the_peer_again),
    };
    const struct CMUnitTest config[] = {
        cmocka_unit_test(test_realip_conf_messages_match_nginx),
    };
    int failed = cmocka_run_group_tests_name("realip_served", served, bw_tr_setup, bw_tr_teardown);
    return failed + cmocka_run_group_tests_name("realip_config", config, NULL, NULL);
}
