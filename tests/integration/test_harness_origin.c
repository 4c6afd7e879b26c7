/*
 * test_harness_origin.c -- proves the test tools before other tests lean on
 * them: bw_origin's controls seen through the harness client (status, len,
 * chunked, echo byte for byte, abrupt closes, keep-alive, pipelining,
 * WebSocket), the response parser on canned bytes, config templates and the
 * log check, and the server lifecycle driven against the reference nginx
 * (skipped when /usr/sbin/nginx is absent), since bulwark itself is tested
 * by every other integration test.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BW_NGINX "/usr/sbin/nginx"
/* nginx's [alert] when not root: it opens its compiled-in log before the config */
#define BW_NGINX_NOT_ROOT "could not open error log file"

typedef struct {
    bw_test_origin_t *origin;
    int               port;
} bw_fixture_t;

static int bw_origin_setup(void **state)
{
    static bw_fixture_t fx;

    fx.origin = bw_test_origin_start(&fx.port, "-n", "self");
    if (fx.origin == NULL) {
        return -1;
    }
    *state = &fx;
    return 0;
}

static int bw_origin_teardown(void **state)
{
    bw_fixture_t *fx = *state;

    bw_test_origin_stop(fx->origin);
    return 0;
}

static int bw_port(void **state)
{
    return ((bw_fixture_t *) *state)->port;
}

/* ------------------------------------------------------------ the origin */

static void test_origin_status_arg_sets_status_and_names_origin(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_port(state), "/x?status=404", &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.reason, "Not Found");
    assert_string_equal(r.version, "HTTP/1.1");
    assert_string_equal(bw_test_response_header(&r, "x-origin"), "self");
    assert_true(r.complete);
    assert_true(r.closed);    /* the request said Connection: close */
    bw_test_response_free(&r);
}

static void test_origin_len_sends_exact_pattern_body(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_port(state), "/big?len=300001", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), "300001");
    assert_int_equal(r.body_len, 300001);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    assert_false(r.chunked);
    bw_test_response_free(&r);
}

static void test_origin_chunked_body_with_trailer_is_decoded(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_port(state),
                                      "/c?chunked=1&chunk=100&len=1050&trailer=X-Sum:abc", &r),
                     0);
    assert_true(r.chunked);
    assert_true(r.complete);
    assert_null(bw_test_response_header(&r, "Content-Length"));
    assert_int_equal(r.body_len, 1050);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    assert_non_null(strstr(r.raw + r.head_len, "64\r\n"));   /* 100-byte chunks on the wire */
    assert_non_null(strstr(r.raw + r.head_len, "\r\n32\r\n"));  /* and a last one of 50 */
    assert_string_equal(bw_test_response_trailer(&r, "x-sum"), "abc");
    bw_test_response_free(&r);
}

static void test_origin_echo_returns_request_byte_for_byte(void **state)
{
    /* odd spacing, case and a repeated header must come back untouched */
    const char req[] = "POST /e?echo=1 HTTP/1.1\r\n"
                       "Host: localhost\r\n"
                       "x-ODD:   spaced value  \r\n"
                       "X-Dup: 1\r\n"
                       "X-Dup: 2\r\n"
                       "Content-Length: 11\r\n"
                       "Connection: close\r\n"
                       "\r\n"
                       "hello\0world";
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request_len(bw_port(state), req, sizeof(req) - 1, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, sizeof(req) - 1);
    assert_memory_equal(r.body, req, sizeof(req) - 1);
    assert_string_equal(bw_test_response_header(&r, "X-Origin-Body-Length"), "11");
    bw_test_response_free(&r);
}

static void test_origin_echo_keeps_chunked_framing_and_echo_body_decodes(void **state)
{
    const char raw[] = "POST /e?echo=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                       "Connection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
    const char dec[] = "POST /e?echo=body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                       "Connection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request(bw_port(state), raw, &r), 0);
    assert_int_equal(r.body_len, strlen(raw));
    assert_memory_equal(r.body, raw, strlen(raw));
    bw_test_response_free(&r);

    assert_int_equal(bw_test_http_request(bw_port(state), dec, &r), 0);
    assert_string_equal(r.body, "hello world");
    assert_string_equal(bw_test_response_header(&r, "X-Origin-Body-Length"), "11");
    bw_test_response_free(&r);
}

static void test_origin_close_mid_leaves_client_with_short_body(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_port(state), "/m?len=10000&close_mid=1", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), "10000");
    assert_false(r.complete);
    assert_int_equal(r.body_len, 5000);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    assert_true(r.closed);
    bw_test_response_free(&r);
}

static void test_origin_close_delimited_body_ends_at_close(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request(bw_port(state),
                                          "GET /d?close=1&len=77 HTTP/1.1\r\nHost: a\r\n\r\n",
                                          &r),
                     0);
    assert_true(r.close_delimited);
    assert_true(r.complete);
    assert_int_equal(r.body_len, 77);
    assert_null(bw_test_response_header(&r, "Content-Length"));
    assert_null(bw_test_response_header(&r, "Transfer-Encoding"));
    assert_true(r.closed);
    bw_test_response_free(&r);
}

static void test_origin_keepalive_serves_two_requests_on_one_connection(void **state)
{
    bw_test_conn_t    *c = bw_test_conn_open(bw_port(state));
    bw_test_response_t a, b;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "GET /1?body=one HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &a), 0);
    assert_false(a.closed);
    assert_false(bw_test_conn_wait_closed(c, 100));
    assert_int_equal(bw_test_conn_send_str(c, "GET /2?body=two HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &b), 0);
    assert_string_equal(a.body, "one");
    assert_string_equal(b.body, "two");
    assert_string_equal(bw_test_response_header(&a, "X-Origin-Conn"),
                        bw_test_response_header(&b, "X-Origin-Conn"));
    assert_string_equal(bw_test_response_header(&a, "X-Origin-Request"), "1");
    assert_string_equal(bw_test_response_header(&b, "X-Origin-Request"), "2");
    bw_test_response_free(&a);
    bw_test_response_free(&b);
    bw_test_conn_close(c);
}

static void test_origin_pipelined_responses_come_back_in_order(void **state)
{
    bw_test_conn_t    *c = bw_test_conn_open(bw_port(state));
    bw_test_response_t r[3];

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "GET /a?body=A HTTP/1.1\r\nHost: a\r\n\r\n"
                                              "HEAD /b?len=9 HTTP/1.1\r\nHost: a\r\n\r\n"
                                              "GET /c?chunked=1&body=C HTTP/1.1\r\nHost: a\r\n"
                                              "Connection: close\r\n\r\n"),
                     0);
    assert_int_equal(bw_test_conn_read_response(c, &r[0]), 0);
    assert_int_equal(bw_test_conn_read_response_flags(c, &r[1], BW_TEST_RESP_HEAD,
                                                      bw_test_timeout(BW_TEST_TIMEOUT_MS)),
                     0);
    assert_int_equal(bw_test_conn_read_response(c, &r[2]), 0);
    assert_string_equal(r[0].body, "A");
    assert_string_equal(bw_test_response_header(&r[1], "Content-Length"), "9");
    assert_int_equal(r[1].body_len, 0);
    assert_string_equal(r[2].body, "C");
    assert_true(r[2].chunked);
    assert_true(bw_test_conn_wait_closed(c, bw_test_timeout(2000)));
    for (int i = 0; i < 3; i++) {
        bw_test_response_free(&r[i]);
    }
    bw_test_conn_close(c);
}

static void test_origin_delay_holds_back_the_headers(void **state)
{
    bw_test_response_t r;
    int64_t            t0 = bw_test_now_ms();

    assert_int_equal(bw_test_http_get(bw_port(state), "/slow?delay=300&body_delay=100", &r), 0);
    assert_true(bw_test_now_ms() - t0 >= 400);
    assert_int_equal(r.status, 200);
    bw_test_response_free(&r);
}

static void test_origin_headers_huge_header_and_control_header(void **state)
{
    const char req[] = "GET /h HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                       "X-Origin-Control: header=Cache-Control:max-age%3D60&huge_header=5000"
                       "&header=X-A:1&header=X-A:2&status=203\r\n\r\n";
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request(bw_port(state), req, &r), 0);
    assert_int_equal(r.status, 203);
    assert_string_equal(bw_test_response_header(&r, "Cache-Control"), "max-age=60");
    assert_int_equal(bw_test_response_header_count(&r, "X-A"), 2);
    assert_int_equal(strlen(bw_test_response_header(&r, "X-Huge")), 5000);
    bw_test_response_free(&r);
}

static void test_origin_cond_answers_304_to_matching_etag(void **state)
{
    const char req[] = "GET /v?cond=1&header=ETag:%22v1%22 HTTP/1.1\r\nHost: a\r\n"
                       "If-None-Match: \"v1\"\r\nConnection: close\r\n\r\n";
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request(bw_port(state), req, &r), 0);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(bw_test_response_header(&r, "ETag"), "\"v1\"");
    bw_test_response_free(&r);
}

static void test_origin_expect_continue_sends_interim_100(void **state)
{
    bw_test_conn_t    *c = bw_test_conn_open(bw_port(state));
    bw_test_response_t r;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "PUT /u?echo=body HTTP/1.1\r\nHost: a\r\n"
                                              "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
                     0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 100);
    bw_test_response_free(&r);
    assert_int_equal(bw_test_conn_send_str(c, "data"), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "data");
    bw_test_response_free(&r);
    bw_test_conn_close(c);
}

static void test_origin_malformed_request_gets_400_and_close(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request(bw_port(state), "GARBAGE\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    assert_true(r.closed);
    bw_test_response_free(&r);
}

static void test_origin_websocket_upgrade_then_echo(void **state)
{
    /* the handshake example of RFC 6455 section 1.3 */
    const char req[] = "GET /chat?ws=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n";
    /* masked text frame "Hello" (RFC 6455 section 5.7) */
    const unsigned char frame[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    bw_test_conn_t    *c = bw_test_conn_open(bw_port(state));
    bw_test_response_t r;
    int64_t            deadline = bw_test_now_ms() + bw_test_timeout(5000);

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, req), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 101);
    assert_string_equal(bw_test_response_header(&r, "Sec-WebSocket-Accept"),
                        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    bw_test_response_free(&r);
    assert_int_equal(bw_test_conn_send(c, frame, sizeof(frame)), 0);
    while (c->len < 7 && bw_test_now_ms() < deadline) {
        bw_test_conn_wait_closed(c, 50);    /* collects what arrives meanwhile */
    }
    assert_int_equal(c->len, 7);
    assert_memory_equal(c->buf, "\x81\x05Hello", 7);
    bw_test_conn_close(c);
}

static void test_origin_stats_count_requests_and_connections(void **state)
{
    long               req0 = -1, conn0 = -1, req1 = -1, conn1 = -1;
    bw_test_response_t r;

    assert_int_equal(bw_test_origin_stats(bw_port(state), &req0, &conn0), 0);
    assert_int_equal(bw_test_http_get(bw_port(state), "/", &r), 0);
    bw_test_response_free(&r);
    assert_int_equal(bw_test_origin_stats(bw_port(state), &req1, &conn1), 0);
    assert_int_equal(req1, req0 + 1);        /* the stats requests do not count */
    assert_int_equal(conn1, conn0 + 2);      /* but their connections do */
}

static void test_origin_refuse_flag_closes_before_any_response(void **state)
{
    int                port = 0;
    bw_test_origin_t  *o = bw_test_origin_start(&port, "-r");
    bw_test_response_t r;

    assert_non_null(o);
    assert_int_equal(bw_test_http_get(port, "/", &r), -1);
    bw_test_origin_stop(o);
}

static void test_curl_helper_captures_output_and_status(void **state)
{
    char  url[128], *out = NULL;
    int   st = -1;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/?body=via-curl", bw_port(state));
    assert_int_equal(bw_test_curl(&out, &st, "-s", "-i", url), 0);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "X-Origin: self"));
    assert_non_null(strstr(out, "\r\n\r\nvia-curl"));
    free(out);
}

/* -------------------------------------------------- the response parser */

static void test_parser_splits_pipelined_responses(void **state)
{
    const char data[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"
                        "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n"
                        "HTTP/1.0 200 OK\r\n\r\nrest";
    bw_test_response_t r;
    size_t             off = 0, used;

    assert_int_equal(bw_test_response_parse(data, sizeof(data) - 1, false, 0, &r, &used), 1);
    assert_string_equal(r.body, "ab");
    off += used;
    bw_test_response_free(&r);
    assert_int_equal(bw_test_response_parse(data + off, sizeof(data) - 1 - off, false, 0, &r,
                                            &used), 1);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    off += used;
    bw_test_response_free(&r);
    assert_int_equal(bw_test_response_parse(data + off, sizeof(data) - 1 - off, false, 0, &r,
                                            &used), 1);
    assert_string_equal(r.body, "z");
    off += used;
    bw_test_response_free(&r);
    /* close-delimited: needs the end of the stream */
    assert_int_equal(bw_test_response_parse(data + off, sizeof(data) - 1 - off, false, 0, &r,
                                            &used), 0);
    assert_int_equal(bw_test_response_parse(data + off, sizeof(data) - 1 - off, true, 0, &r,
                                            &used), 1);
    assert_true(r.close_delimited);
    assert_string_equal(r.body, "rest");
    bw_test_response_free(&r);
}

static void test_parser_waits_for_partial_and_flags_truncation(void **state)
{
    const char data[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345";
    const char chunk[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
    bw_test_response_t r;
    size_t             used;

    assert_int_equal(bw_test_response_parse(data, 20, false, 0, &r, &used), 0);
    assert_int_equal(bw_test_response_parse(data, sizeof(data) - 1, false, 0, &r, &used), 0);
    assert_int_equal(bw_test_response_parse(data, sizeof(data) - 1, true, 0, &r, &used), 1);
    assert_false(r.complete);
    assert_string_equal(r.body, "12345");
    bw_test_response_free(&r);
    assert_int_equal(bw_test_response_parse(chunk, sizeof(chunk) - 1, false, 0, &r, &used), 0);
    assert_int_equal(bw_test_response_parse(chunk, sizeof(chunk) - 1, true, 0, &r, &used), 1);
    assert_false(r.complete);
    bw_test_response_free(&r);
}

static void test_parser_rejects_garbage_and_honours_head(void **state)
{
    const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    bw_test_response_t r;
    size_t             used;

    assert_int_equal(bw_test_response_parse("<html>", 6, false, 0, &r, &used), -1);
    assert_int_equal(bw_test_response_parse("", 0, true, 0, &r, &used), -1);
    assert_int_equal(bw_test_response_parse(head, sizeof(head) - 1, false, BW_TEST_RESP_HEAD, &r,
                                            &used), 1);
    assert_int_equal(used, sizeof(head) - 1);
    assert_int_equal(r.body_len, 0);
    bw_test_response_free(&r);
}

/* ------------------------------------------------- templates and logs */

static void test_template_fills_ports_vars_origin_and_preamble(void **state)
{
    bw_test_server_t *srv = bw_test_server_prepare(
        "worker_processes 2;\n"
        "http { server { listen 127.0.0.1:%%PORT%%; listen 127.0.0.1:%%PORT2%%;\n"
        "  location / { proxy_pass http://127.0.0.1:%%ORIGIN_PORT%%; } # %%MINE%% 100%%\n"
        "  root %%PREFIX%%/html; } }\n",
        "MINE", "custom");
    char  want[512];
    char *conf;

    assert_non_null(srv);
    conf = bw_test_server_read_file(srv, "conf/bulwark.conf", NULL);
    assert_non_null(conf);
    assert_true(srv->port > 0 && srv->ports[2] > 0 && srv->port != srv->ports[2]);
    assert_int_equal(srv->ports[1], srv->port);
    snprintf(want, sizeof(want), "listen 127.0.0.1:%d;", srv->ports[2]);
    assert_non_null(strstr(conf, want));
    snprintf(want, sizeof(want), "proxy_pass http://127.0.0.1:%d;", bw_port(state));
    assert_non_null(strstr(conf, want));
    assert_non_null(strstr(conf, "# custom 100%%"));
    snprintf(want, sizeof(want), "root %s/html;", srv->prefix);
    assert_non_null(strstr(conf, want));
    assert_non_null(strstr(conf, "daemon off;\n"));
    assert_non_null(strstr(conf, "error_log logs/error.log info;\n"));
    assert_non_null(strstr(conf, "events { worker_connections 1024; }"));
    assert_null(strstr(conf, "worker_processes 1;"));   /* the template sets its own */
    assert_string_equal(srv->pid_path, bw_test_server_path(srv, "logs/bulwark.pid"));
    free(conf);
    bw_test_server_stop(srv);
}

static void test_template_no_preamble_and_unknown_placeholder(void **state)
{
    bw_test_server_t *srv = bw_test_server_prepare("%%NO_PREAMBLE%%events {}\n");
    char             *conf;
    char              prefix[256];
    struct stat       st;

    assert_non_null(srv);
    conf = bw_test_server_read_file(srv, "conf/bulwark.conf", NULL);
    assert_string_equal(conf, "events {}\n\n");
    assert_int_equal(srv->port, 0);
    free(conf);
    snprintf(prefix, sizeof(prefix), "%s", srv->prefix);
    bw_test_server_stop(srv);
    if (getenv("BW_TEST_LEAVE") == NULL) {
        assert_int_equal(stat(prefix, &st), -1);  /* the prefix is gone */
    }
    assert_null(bw_test_server_prepare("listen %%NO_SUCH_THING%%;"));
    assert_null(bw_test_server_prepare("listen %%ORIGIN_PORT9%%;"));
}

static void test_log_check_finds_alerts_unless_allowed(void **state)
{
    bw_test_server_t *srv = bw_test_server_prepare("events {}");
    char              msg[1024];

    assert_non_null(srv);
    assert_int_equal(bw_test_server_bad_lines(srv, msg, sizeof(msg)), 0);
    assert_int_equal(bw_test_server_write_file(srv, "logs/error.log",
                                               "2026/11/23 13:17:32 [notice] 1#1: fine\n"
                                               "2026/11/23 13:17:32 [alert] 1#1: worker process "
                                               "7 exited on signal 9\n"),
                     0);
    assert_int_equal(bw_test_server_write_file(srv, "logs/stderr.log",
                                               "x.c:1:2: runtime error: signed overflow\n"),
                     0);
    assert_int_equal(bw_test_server_bad_lines(srv, msg, sizeof(msg)), 2);
    assert_non_null(strstr(msg, "exited on signal 9"));
    assert_non_null(strstr(msg, "runtime error:"));
    bw_test_server_allow(srv, "exited on signal 9");
    assert_int_equal(bw_test_server_bad_lines(srv, msg, sizeof(msg)), 1);
    assert_int_equal(bw_test_server_log_count(srv, "[notice]"), 1);
    assert_int_equal(bw_test_server_log_grep(srv, "^[0-9/]+ [0-9:]+ \\[(alert|notice)\\]"), 2);
    assert_int_equal(bw_test_server_write_file(srv, "logs/stderr.log", ""), 0);
    bw_test_server_stop(srv);   /* only the allowed alert is left: must not fail */
}

static void test_run_captures_output_and_exit_code(void **state)
{
    const char *const ok[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    char             *out = NULL, *err = NULL;
    int               st = -1;

    assert_int_equal(bw_test_run(ok, &out, &st), 0);
    assert_int_equal(st, 3);
    assert_non_null(strstr(out, "out\n"));
    assert_non_null(strstr(out, "err\n"));
    free(out);
    assert_int_equal(bw_test_run_split(ok, &out, &err, &st), 0);
    assert_string_equal(out, "out\n");
    assert_string_equal(err, "err\n");
    free(out);
    free(err);
}

/* ------------------------------------ the server lifecycle, on nginx */

/* Points the harness at the reference nginx for one test; false to skip. */
static bool bw_use_nginx(void)
{
    if (access(BW_NGINX, X_OK) != 0) {
        return false;
    }
    setenv("BW_TEST_BINARY", BW_NGINX, 1);
    return true;
}

static void test_server_lifecycle_on_reference_nginx(void **state)
{
    const char *conf = "http {\n"
                       "  access_log logs/access.log;\n"
                       "  server { listen 127.0.0.1:%%PORT%%; root html;\n"
                       "    location /up/ { proxy_pass http://127.0.0.1:%%ORIGIN_PORT%%/; } }\n"
                       "}\n";
    bw_test_server_t  *srv;
    bw_test_response_t r;
    pid_t              w1[8], w2[8];
    char              *out = NULL;
    int                st;

    if (!bw_use_nginx()) {
        skip();
    }
    srv = bw_test_server_prepare(conf);
    unsetenv("BW_TEST_BINARY");
    assert_non_null(srv);
    bw_test_server_allow(srv, BW_NGINX_NOT_ROOT);
    assert_int_equal(bw_test_server_write_file(srv, "html/index.html", "static!\n"), 0);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t"), 0);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "syntax is ok"));
    free(out);
    assert_int_equal(bw_test_server_launch(srv), 0);

    assert_int_equal(bw_test_http_get(srv->port, "/", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "static!\n");
    bw_test_response_free(&r);
    /* what the proxy forwarded, as the origin saw it */
    assert_int_equal(bw_test_http_get(srv->port, "/up/x?echo=1", &r), 0);
    assert_string_equal(bw_test_response_header(&r, "X-Origin"), "self");
    assert_non_null(strstr(r.body, "GET /x?echo=1 HTTP/1.0\r\n"));
    assert_non_null(strstr(r.body, "\r\nConnection: close\r\n"));
    bw_test_response_free(&r);

    assert_true(bw_test_server_wait_workers(srv, 1, bw_test_timeout(5000)));
    assert_int_equal(bw_test_server_workers(srv, w1, 8), 1);
    assert_int_equal(bw_test_server_master_pid(srv), srv->pid);
    assert_true(bw_test_server_reload(srv, NULL));
    assert_true(bw_test_server_log_wait(srv, "reconfiguring", 1, bw_test_timeout(5000)));
    assert_true(bw_test_pid_wait_exit(w1[0], bw_test_timeout(5000)));
    assert_int_equal(bw_test_server_workers(srv, w2, 8), 1);
    assert_int_not_equal(w1[0], w2[0]);
    assert_true(bw_test_server_file_wait(srv, "logs/access.log", "GET /up/x?echo=1", 1,
                                         bw_test_timeout(5000)));
    assert_int_equal(bw_test_server_signal(srv, SIGUSR1), 0);
    assert_true(bw_test_server_log_wait_re(srv, "reopening logs", bw_test_timeout(5000)));
    bw_test_server_stop(srv);
}

static void test_server_start_reports_a_rejected_config(void **state)
{
    bw_test_server_t *srv;

    if (!bw_use_nginx()) {
        skip();
    }
    assert_null(bw_test_server_start("no_such_directive on;\n"));
    srv = bw_test_server_prepare("no_such_directive on;\n");
    unsetenv("BW_TEST_BINARY");
    assert_non_null(srv);
    bw_test_server_allow(srv, BW_NGINX_NOT_ROOT);
    assert_int_equal(bw_test_server_launch(srv), -1);
    assert_true(srv->launch_failed);
    assert_false(srv->running);
    assert_true(bw_test_server_file_count(srv, "logs/stderr.log",
                                          "unknown directive \"no_such_directive\"") == 1);
    bw_test_server_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_status_arg_sets_status_and_names_origin),
        cmocka_unit_test(test_origin_len_sends_exact_pattern_body),
        cmocka_unit_test(test_origin_chunked_body_with_trailer_is_decoded),
        cmocka_unit_test(test_origin_echo_returns_request_byte_for_byte),
        cmocka_unit_test(test_origin_echo_keeps_chunked_framing_and_echo_body_decodes),
        cmocka_unit_test(test_origin_close_mid_leaves_client_with_short_body),
        cmocka_unit_test(test_origin_close_delimited_body_ends_at_close),
        cmocka_unit_test(test_origin_keepalive_serves_two_requests_on_one_connection),
        cmocka_unit_test(test_origin_pipelined_responses_come_back_in_order),
        cmocka_unit_test(test_origin_delay_holds_back_the_headers),
        cmocka_unit_test(test_origin_headers_huge_header_and_control_header),
        cmocka_unit_test(test_origin_cond_answers_304_to_matching_etag),
        cmocka_unit_test(test_origin_expect_continue_sends_interim_100),
        cmocka_unit_test(test_origin_malformed_request_gets_400_and_close),
        cmocka_unit_test(test_origin_websocket_upgrade_then_echo),
        cmocka_unit_test(test_origin_stats_count_requests_and_connections),
        cmocka_unit_test(test_origin_refuse_flag_closes_before_any_response),
        cmocka_unit_test(test_curl_helper_captures_output_and_status),
        cmocka_unit_test(test_parser_splits_pipelined_responses),
        cmocka_unit_test(test_parser_waits_for_partial_and_flags_truncation),
        cmocka_unit_test(test_parser_rejects_garbage_and_honours_head),
        cmocka_unit_test(test_template_fills_ports_vars_origin_and_preamble),
        cmocka_unit_test(test_template_no_preamble_and_unknown_placeholder),
        cmocka_unit_test(test_log_check_finds_alerts_unless_allowed),
        cmocka_unit_test(test_run_captures_output_and_exit_code),
        cmocka_unit_test(test_server_lifecycle_on_reference_nginx),
        cmocka_unit_test(test_server_start_reports_a_rejected_config),
    };

    return cmocka_run_group_tests(tests, bw_origin_setup, bw_origin_teardown);
}
