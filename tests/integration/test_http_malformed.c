/*
 * test_http_malformed.c -- what the real binary answers to malformed and
 * borderline request heads, table-driven: raw bytes -> expected status and
 * whether the connection closes after the answer (where framing is in doubt
 * it must). Expected values are nginx 1.22's for the same bytes, checked
 * side by side, except the rows marked "stricter", where bulwark's parser
 * refuses on purpose what nginx tolerates (http/parse.h lists them).
 * Also: nginx's messages for a few of them in the error log, the exact 494
 * page, and HTTP/0.9 answers (no status line).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    const char *raw;      /* NUL-free rows */
    size_t      len;      /* 0: strlen(raw); else raw has NULs */
    int         status;
    bool        closed;
} bw_hm_case_t;

#define H "Host: a\r\n"
#define ROW(name, raw, status, closed) {name, raw, 0, status, closed}
#define ROWN(name, raw, status, closed) {name, raw, sizeof(raw) - 1, status, closed}

static const bw_hm_case_t bw_hm_cases[] = {
    ROW("http11 without host", "GET / HTTP/1.1\r\n\r\n", 400, true),
    ROW("duplicate host", "GET / HTTP/1.1\r\n" H "Host: b\r\n\r\n", 400, true),
    ROW("host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, true),
    ROW("host with dot dot", "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", 400, true),
    ROW("empty host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, true),
    ROW("host uppercase trailing dot port", "GET / HTTP/1.1\r\nHost: A.b.:80\r\n\r\n", 200, false),
    ROW("host ipv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 200, false),
    ROW("http/2.0 line", "GET / HTTP/2.0\r\n" H "\r\n", 505, true),
    ROW("http/3.0 line", "GET / HTTP/3.0\r\n" H "\r\n", 505, true),
    ROW("http/1.2 is 1.1", "GET / HTTP/1.2\r\n" H "\r\n", 200, false),
    ROW("http/1.0 closes", "GET / HTTP/1.0\r\n\r\n", 200, true),
    ROW("http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, false),
    ROW("connection close", "GET / HTTP/1.1\r\n" H "Connection: close\r\n\r\n", 200, true),
    ROW("lowercase method", "get / HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("bad method char", "G@T / HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("duplicate content-length", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
        "Content-Length: 5\r\n\r\nhello", 400, true),
    ROW("conflicting content-length", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
        "Content-Length: 6\r\n\r\nhello", 400, true),
    ROW("negative content-length", "POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400, true),
    ROW("non-numeric content-length", "POST / HTTP/1.1\r\n" H "Content-Length: abc\r\n\r\n", 400,
        true),
    ROW("content-length and chunked", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true),
    ROW("transfer-encoding gzip", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 501,
        true),
    ROW("transfer-encoding gzip chunked", "POST / HTTP/1.1\r\n" H
        "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, true),
    ROW("duplicate transfer-encoding", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true),
    ROW("chunked in http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400, true),
    ROW("obs-fold", "GET / HTTP/1.1\r\n" H "X: a\r\n b\r\n\r\n", 400, true),
    ROW("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, true),
    ROW("space inside name", "GET / HTTP/1.1\r\n" H "X-A b: 1\r\n\r\n", 400, true),
    ROW("underscore header ignored", "GET / HTTP/1.1\r\n" H "X_A: 1\r\n\r\n", 200, false),
    ROW("dot in name ignored", "GET / HTTP/1.1\r\n" H "X.A: 1\r\n\r\n", 200, false),
    ROW("bare cr in header", "GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n", 400, true),
    ROWN("nul in header value", "GET / HTTP/1.1\r\n" H "X: a\0b\r\n\r\n", 400, true),
    ROWN("nul in target", "GET /\0 HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("absolute-form target", "GET http://example.com/ HTTP/1.1\r\n" H "\r\n", 200, false),
    ROW("absolute-form bad host", "GET http://a..b/ HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("space in absolute target", "GET http://exa mple.com/ HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("options asterisk", "OPTIONS * HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("connect authority", "CONNECT a:443 HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("trace", "TRACE / HTTP/1.1\r\n" H "\r\n", 405, true),
    ROW("dot dot above root", "GET /../x HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("bad percent escape", "GET /%zz HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("bare lf line ends", "GET / HTTP/1.1\nHost: a\n\n", 200, false),
    ROW("empty line before request", "\r\nGET / HTTP/1.1\r\n" H "\r\n", 200, false),
    ROW("duplicate expect", "GET / HTTP/1.1\r\n" H "Expect: a\r\nExpect: b\r\n\r\n", 400, true),
    ROW("duplicate if-modified-since", "GET / HTTP/1.1\r\n" H "If-Modified-Since: a\r\n"
        "If-Modified-Since: b\r\n\r\n", 400, true),
    ROW("duplicate authorization", "GET / HTTP/1.1\r\n" H "Authorization: a\r\n"
        "Authorization: b\r\n\r\n", 400, true),
    ROW("repeated user-agent allowed", "GET / HTTP/1.1\r\n" H "User-Agent: a\r\n"
        "User-Agent: b\r\n\r\n", 200, false),
    ROW("body over client_max_body_size", "POST / HTTP/1.1\r\n" H
        "Content-Length: 2000000\r\n\r\nabc", 413, true /* after lingering_timeout */),
    /* stricter than nginx on purpose (parse.h) */
    ROW("stricter: two spaces", "GET  / HTTP/1.1\r\n" H "\r\n", 400, true),
    ROW("stricter: space after version", "GET / HTTP/1.1 \r\n" H "\r\n", 400, true),
    ROW("stricter: DEL in value", "GET / HTTP/1.1\r\n" H "X: \x7f\r\n\r\n", 400, true),
};

static bw_test_server_t *bw_hm_srv;

static int
bw_hm_setup(void **state)
{
    bw_hm_srv = bw_test_server_start(
        "http {\n"
        "  client_header_timeout 5s; lingering_timeout 1s;\n"
        "  server { listen 127.0.0.1:%%PORT%%; server_name localhost;\n"
        "    location / { return 200 \"ok\\n\"; }\n"
        "  }\n"
        "}\n");
    return bw_hm_srv ? 0 : -1;
}

static int
bw_hm_teardown(void **state)
{
    bw_test_server_stop(bw_hm_srv);
    return 0;
}

static void
test_malformed_table(void **state)
{
    int failures = 0;

    for (size_t i = 0; i < sizeof(bw_hm_cases) / sizeof(bw_hm_cases[0]); i++) {
        const bw_hm_case_t *c = &bw_hm_cases[i];
        size_t len = c->len ? c->len : strlen(c->raw);
        bw_test_response_t r;

        if (bw_test_http_request_len(bw_hm_srv->port, c->raw, len, &r) != 0) {
            print_error("%s: no response\n", c->name);
            failures++;
            continue;
        }
        if (r.status != c->status || r.closed != c->closed) {
            print_error("%s: expected %d%s, got %d%s\n", c->name, c->status,
                        c->closed ? " and close" : "", r.status, r.closed ? " and close" : "");
            failures++;
        }
        if (r.status >= 400 && bw_test_response_header(&r, "Connection")
            && strcmp(bw_test_response_header(&r, "Connection"), "close") != 0) {
            print_error("%s: an error answer keeps the connection\n", c->name);
            failures++;
        }
        bw_test_response_free(&r);
    }
    assert_int_equal(failures, 0);
}

static void
test_too_long_uri_is_414_and_closes(void **state)
{
    static char req[10000];
    bw_test_response_t r;

    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', 9000);
    size_t n = 9005 + (size_t) sprintf(req + 9005, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(bw_test_http_request_len(bw_hm_srv->port, req, n, &r), 0);
    assert_int_equal(r.status, 414);
    assert_string_equal(r.reason, "Request-URI Too Large");
    assert_true(r.closed);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_hm_srv, "client sent too long URI while reading "
                                        "client request line", 1, 5000));
}

static void
test_uri_filling_a_large_buffer_is_served(void **state)
{
    /* 8192-byte large buffers: a line of 8191 bytes with CRLF fits */
    char req[9000];
    bw_test_response_t r;
    size_t path = 8191 - 2 - strlen("GET / HTTP/1.1");

    memcpy(req, "GET /", 5);
    memset(req + 5, 'b', path);
    size_t n = 5 + path;
    n += (size_t) sprintf(req + n, " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_int_equal(bw_test_http_request_len(bw_hm_srv->port, req, n, &r), 0);
    assert_int_equal(r.status, 200);
    bw_test_response_free(&r);
}

static void
test_too_long_header_line_is_494_page_as_400(void **state)
{
    char *req = malloc(9000);
    bw_test_response_t r;

    size_t n = (size_t) sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(req + n, 'c', 8200);
    n += 8200;
    n += (size_t) sprintf(req + n, "\r\n\r\n");
    assert_int_equal(bw_test_http_request_len(bw_hm_srv->port, req, n, &r), 0);
    free(req);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.reason, "Bad Request");
    assert_true(r.closed);
    const char *server = bw_test_response_header(&r, "Server");
    assert_non_null(server);
    char want[512];
    snprintf(want, sizeof(want),
             "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n"
             "<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
             "<center>Request Header Or Cookie Too Large</center>\r\n"
             "<hr><center>%s</center>\r\n</body>\r\n</html>\r\n", server);
    assert_string_equal(r.body, want);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_hm_srv, "client sent too long header line: \"X-Big: "
                                        "cccc", 1, 5000));
}

static void
test_headers_beyond_all_large_buffers_are_400(void **state)
{
    /* four 8k buffers hold at most four 7000-byte lines; the fifth does not fit */
    size_t cap = 6 * 7100 + 100;
    char *req = malloc(cap);
    bw_test_response_t r;

    for (int lines = 4; lines <= 5; lines++) {
        size_t n = (size_t) sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n");
        for (int i = 0; i < lines; i++) {
            n += (size_t) sprintf(req + n, "X-%d: ", i);
            memset(req + n, 'd', 7000);
            n += 7000;
            n += (size_t) sprintf(req + n, "\r\n");
        }
        n += (size_t) sprintf(req + n, "\r\n");
        assert_int_equal(bw_test_http_request_len(bw_hm_srv->port, req, n, &r), 0);
        assert_int_equal(r.status, lines == 4 ? 200 : 400);
        assert_true(r.closed);
        bw_test_response_free(&r);
    }
    free(req);
}

static void
test_error_log_names_the_fault(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request(bw_hm_srv->port,
                                          "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", &r), 0);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_hm_srv, "client sent duplicate host header: \"Host: y\", "
                                        "previous value: \"Host: x\" while reading client request "
                                        "headers, client: 127.0.0.1, server: localhost, request: "
                                        "\"GET / HTTP/1.1\", host: \"x\"", 1, 5000));
    assert_int_equal(bw_test_http_request(bw_hm_srv->port,
                                          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br\r\n"
                                          "\r\n", &r), 0);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_hm_srv, "client sent unknown \"Transfer-Encoding\": "
                                        "\"br\"", 1, 5000));
    assert_int_equal(bw_test_http_request(bw_hm_srv->port, "GET / HTTP/2.0\r\n\r\n", &r), 0);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_hm_srv, "client sent invalid version while reading "
                                        "client request line", 1, 5000));
}

static void
test_http09_answers_without_head(void **state)
{
    int fd = bw_test_connect(bw_hm_srv->port, 5000);
    size_t len;
    bool closed;

    assert_true(fd >= 0);
    assert_int_equal(bw_test_send_all(fd, "GET /\r\n", 7), 0);
    char *out = bw_test_recv_all(fd, &len, 5000, &closed);
    close(fd);
    assert_string_equal(out, "ok\n");
    assert_true(closed);
    free(out);

    fd = bw_test_connect(bw_hm_srv->port, 5000);
    assert_int_equal(bw_test_send_all(fd, "POST /\r\n", 8), 0);
    out = bw_test_recv_all(fd, &len, 5000, &closed);
    close(fd);
    assert_true(strncmp(out, "<html>\r\n<head><title>400 Bad Request</title>", 44) == 0);
    assert_true(closed);
    free(out);
}

static void
test_underscores_and_invalid_header_switches(void **state)
{
    bw_test_server_t *srv = bw_test_server_start(
        "http {\n"
        "  server { listen 127.0.0.1:%%PORT%%; underscores_in_headers on;\n"
        "           ignore_invalid_headers off;\n"
        "    location / { return 200 \"[$http_x_a|$http_x_b]\"; }\n"
        "  }\n"
        "}\n");
    assert_non_null(srv);
    bw_test_response_t r;
    assert_int_equal(bw_test_http_request(srv->port, "GET / HTTP/1.1\r\nHost: a\r\nX_A: 1\r\n"
                                          "X-B: 2\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "[1|2]");
    bw_test_response_free(&r);
    /* a token character other than letters, digits, '-' and '_' is kept (nginx too) */
    assert_int_equal(bw_test_http_request(srv->port, "GET / HTTP/1.1\r\nHost: a\r\nX.A: 1\r\n"
                                          "Connection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    bw_test_response_free(&r);
    /* stricter than nginx: a name that is not a token is refused when not ignored */
    assert_int_equal(bw_test_http_request(srv->port, "GET / HTTP/1.1\r\nHost: a\r\nX@A: 1\r\n"
                                          "\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    assert_true(r.closed);
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_worker_survives_garbage_bursts(void **state)
{
    static const char *junk[] = {
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS hello */
        "\r\n\r\n\r\n\r\n", "GET", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    };
    for (int round = 0; round < 20; round++) {
        int fd = bw_test_connect(bw_hm_srv->port, 5000);
        assert_true(fd >= 0);
        const char *j = junk[round % 5];
        bw_test_send_all(fd, j, strlen(j));
        close(fd); /* mid-request */
    }
    bw_test_response_t r;
    assert_int_equal(bw_test_http_get(bw_hm_srv->port, "/", &r), 0);
    assert_int_equal(r.status, 200);
    bw_test_response_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_table),
        cmocka_unit_test(test_too_long_uri_is_414_and_closes),
        cmocka_unit_test(test_uri_filling_a_large_buffer_is_served),
        cmocka_unit_test(test_too_long_header_line_is_494_page_as_400),
        cmocka_unit_test(test_headers_beyond_all_large_buffers_are_400),
        cmocka_unit_test(test_error_log_names_the_fault),
        cmocka_unit_test(test_http09_answers_without_head),
        cmocka_unit_test(test_underscores_and_invalid_header_switches),
        cmocka_unit_test(test_worker_survives_garbage_bursts),
    };
    return cmocka_run_group_tests(tests, bw_hm_setup, bw_hm_teardown);
}
