/*
 * test_http_variables.c -- embedded variables through the real binary, echoed
 * with `return 200 "..."` for requests crafted byte by byte: request line
 * and URI normalisation, $host precedence, headers, cookies and arguments,
 * the connection and server addresses, keep-alive counters, $request_id,
 * files ($document_root, $request_filename, $realpath_root), the clock and
 * versions. Expected values were checked against nginx 1.22.
 */
#include "harness.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bw_test_server_t *
bw_tv_start(const char *location_body)
{
    char *conf = NULL;
    if (asprintf(&conf,
                 "http {\n"
                 "server { listen 127.0.0.1:%%%%PORT%%%%; server_name primary.test other.test;\n"
                 "  root %%%%PREFIX%%%%/html;\n"
                 "  location / { %s }\n"
                 "}\n"
                 "}\n",
                 location_body) < 0) {
        fail_msg("no memory");
    }
    bw_test_server_t *srv = bw_test_server_start(conf);
    free(conf);
    assert_non_null(srv);
    return srv;
}

/* Sends raw, expects 200; returns the body (the caller frees it). */
static char *
bw_tv_body(bw_test_server_t *srv, const char *raw)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_http_request(srv->port, raw, &r), 0);
    int   status = r.status;
    char *body = strdup(r.body ? r.body : "");
    bw_test_response_free(&r);
    if (status != 200) {
        free(body);
        fail_msg("expected 200, got %d for:\n%s", status, raw);
    }
    return body;
}

static void
bw_tv_expect(bw_test_server_t *srv, const char *raw, const char *expect)
{
    char  got[2048];
    char *body = bw_tv_body(srv, raw);
    snprintf(got, sizeof(got), "%s", body);
    free(body);
    if (strcmp(got, expect) != 0) {
        fail_msg("expected \"%s\", got \"%s\" for:\n%s", expect, got, raw);
    }
}

/* True when s matches the POSIX extended regex re entirely. */
static bool
bw_tv_matches(const char *s, const char *re)
{
    regex_t rx;
    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

static void
test_variables_request_line_and_normalised_uri(void **state)
{
    bw_test_server_t *srv = bw_tv_start(
        "return 200 \"$uri|$document_uri|$args|$query_string|$request_uri|$is_args|"
        "$request_method|$server_protocol|$request\";");

    bw_tv_expect(srv,
                 "GET /a%20b/./x/../%7e?q=%20+1 HTTP/1.0\r\n\r\n",
                 "/a b/~|/a b/~|q=%20+1|q=%20+1|/a%20b/./x/../%7e?q=%20+1|?|GET|HTTP/1.0|"
                 "GET /a%20b/./x/../%7e?q=%20+1 HTTP/1.0");
    bw_tv_expect(srv,
                 "GET /plain HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                 "/plain|/plain|||/plain||GET|HTTP/1.1|GET /plain HTTP/1.1");
    bw_test_server_stop(srv);
}

static void
test_variables_host_precedence(void **state)
{
    bw_test_server_t *srv = bw_tv_start("return 200 \"$host|$server_name|$http_host\";");

    bw_tv_expect(srv, "GET / HTTP/1.1\r\nHost: Other.TEST:99\r\nConnection: close\r\n\r\n",
                 "other.test|primary.test|Other.TEST:99");
    bw_tv_expect(srv, "GET / HTTP/1.0\r\n\r\n", "primary.test|primary.test|");
    bw_tv_expect(srv,
                 "GET http://Foo.Example:81/p?a HTTP/1.1\r\nHost: bar\r\nConnection: close\r\n\r\n",
                 "foo.example|primary.test|bar");
    bw_test_server_stop(srv);
}

static void
test_variables_headers_cookies_and_args(void **state)
{
    bw_test_server_t *srv = bw_tv_start(
        "return 200 \"[$http_x_custom|$http_user_agent|$cookie_a|$cookie_b|$cookie_c|"
        "$arg_a|$arg_b|$arg_c|$arg_none|$http_cookie]\";");

    bw_tv_expect(srv,
                 "GET /?b&a=1&A=2&c= HTTP/1.1\r\nHost: h\r\n"
                 "X-Custom: one\r\nUser-Agent: UA/1\r\n"
                 "Cookie: a=1, b=2 ;c = 3\r\nCookie: b=4; a=5\r\n"
                 "Connection: close\r\n\r\n",
                 "[one|UA/1|1, b=2 |2 |3|1|||"
                 "|a=1, b=2 ;c = 3; b=4; a=5]");
    bw_test_server_stop(srv);
}

static void
test_variables_connection_and_addresses(void **state)
{
    bw_test_server_t *srv = bw_tv_start(
        "return 200 \"$remote_addr|$server_addr|$server_port|$scheme|$https|"
        "$proxy_protocol_addr|$remote_port|$binary_remote_addr\";");
    bw_test_response_t r;
    char               expect[128];

    assert_int_equal(bw_test_http_request(srv->port,
                                          "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                                          &r), 0);
    assert_int_equal(r.status, 200);
    int n = snprintf(expect, sizeof(expect), "127.0.0.1|127.0.0.1|%d|http|||", srv->port);
    assert_true(r.body_len > (size_t) n + 5);
    assert_memory_equal(r.body, expect, (size_t) n);
    /* then the client port, '|', and the 4 bytes of 127.0.0.1 */
    const char *bar = memchr(r.body + n, '|', r.body_len - (size_t) n);
    assert_non_null(bar);
    assert_true(atoi(r.body + n) > 0);
    assert_int_equal(r.body + r.body_len - (bar + 1), 4);
    assert_memory_equal(bar + 1, "\x7f\x00\x00\x01", 4);
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_variables_keepalive_counters_and_request_id(void **state)
{
    bw_test_server_t *srv = bw_tv_start(
        "return 200 \"$connection|$connection_requests|$request_id|$pipe\";");
    bw_test_conn_t    *c = bw_test_conn_open(srv->port);
    bw_test_response_t r1, r2;
    char               conn1[32], id1[64], conn2[32], id2[64];
    int                n1, n2;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r1), 0);
    assert_int_equal(bw_test_conn_send_str(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r2), 0);
    assert_int_equal(sscanf(r1.body, "%31[^|]|%d|%63[^|]|", conn1, &n1, id1), 3);
    assert_int_equal(sscanf(r2.body, "%31[^|]|%d|%63[^|]|", conn2, &n2, id2), 3);
    assert_string_equal(conn1, conn2);
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 2);
    assert_true(bw_tv_matches(id1, "^[0-9a-f]{32}$"));
    assert_true(bw_tv_matches(id2, "^[0-9a-f]{32}$"));
    assert_string_not_equal(id1, id2);
    bw_test_response_free(&r1);
    bw_test_response_free(&r2);
    bw_test_conn_close(c);
    bw_test_server_stop(srv);
}

static void
test_variables_files(void **state)
{
    bw_test_server_t *srv = bw_tv_start(
        "return 200 \"$document_root|$request_filename|$realpath_root\";");
    char expect[1024];

    snprintf(expect, sizeof(expect), "%s/html|%s/html/sub/f.txt|", srv->prefix, srv->prefix);
    char *body = bw_tv_body(srv, "GET /sub/f.txt HTTP/1.0\r\n\r\n");
    /* realpath resolves a /tmp symlink if there is one: only its tail is certain */
    assert_memory_equal(body, expect, strlen(expect));
    assert_true(bw_tv_matches(body + strlen(expect), "^/.*/html$"));
    free(body);
    bw_test_server_stop(srv);
}

static void
test_variables_clock_process_and_versions(void **state)
{
    bw_test_server_t *srv = bw_tv_start(
        "return 200 \"$msec|$time_iso8601|$time_local|$pid|$nginx_version|$request_time|"
        "$status|$hostname\";");

    char *body = bw_tv_body(srv, "GET / HTTP/1.0\r\n\r\n");
    if (!bw_tv_matches(body,
                       "^[0-9]{10}\\.[0-9]{3}\\|"
                       "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}\\|"
                       "[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\\|"
                       "[0-9]+\\|[0-9]+\\.[0-9]+\\.[0-9]+\\|[0-9]+\\.[0-9]{3}\\|200\\|.+$")) {
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", body);
        free(body);
        fail_msg("unexpected: %s", copy);
    }
    free(body);
    bw_test_server_stop(srv);
}

static void
test_variables_request_body_headers(void **state)
{
    bw_test_server_t *srv = bw_tv_start(
        "return 200 \"[$content_length|$content_type|$request_length]\";");

    bw_tv_expect(srv,
                 "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/x\r\nContent-Length: 3\r\n"
                 "Connection: close\r\n\r\nabc",
                 "[3|text/x|88]"); /* the head: the body is not read yet */
    bw_tv_expect(srv, "GET / HTTP/1.0\r\n\r\n", "[||18]");
    bw_test_server_stop(srv);
}

static void
test_variables_versions(void **state)
{
    if (strstr(bw_test_binary(), "nginx") != NULL) {
        skip(); /* $bulwark_version is bulwark's own */
    }
    bw_test_server_t *srv = bw_tv_start("return 200 \"$nginx_version|$bulwark_version\";");
    char             *body = bw_tv_body(srv, "GET / HTTP/1.0\r\n\r\n");

    if (!bw_tv_matches(body, "^1\\.31\\.5\\|[0-9]+\\.[0-9]+\\.[0-9]+$")) {
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", body);
        free(body);
        fail_msg("unexpected: %s", copy);
    }
    free(body);
    bw_test_server_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variables_request_line_and_normalised_uri),
        cmocka_unit_test(test_variables_host_precedence),
        cmocka_unit_test(test_variables_headers_cookies_and_args),
        cmocka_unit_test(test_variables_connection_and_addresses),
        cmocka_unit_test(test_variables_keepalive_counters_and_request_id),
        cmocka_unit_test(test_variables_files),
        cmocka_unit_test(test_variables_clock_process_and_versions),
        cmocka_unit_test(test_variables_request_body_headers),
        cmocka_unit_test(test_variables_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
