/*
 * test_proxy.c -- proxy_pass through the real binary to bw_origin: what the
 * origin receives (request line, default and configured headers, hop-by-hop
 * headers dropped, bodies), nginx's URI replacement rules, responses relayed
 * (status, headers hidden or passed, Content-Length, chunked and
 * close-delimited bodies, HEAD), proxy_redirect, and failures (502 on a
 * refused connection or a broken head, 504 on a slow origin, a body cut
 * short closes the client), plus the proxy configuration messages.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    bw_test_origin_t *origin;
    int               origin_port;
    bw_test_server_t *srv;
    int               dead_port;
} bw_proxy_fx_t;

static bw_proxy_fx_t bw_fx;

#define OP "%%ORIGIN_PORT%%"

static const char bw_proxy_conf[] =
    "http {\n"
    "  log_format up '$upstream_addr|$upstream_status|$status|$upstream_http_x_origin';\n"
    "  access_log logs/up.log up;\n"
    "  client_body_buffer_size 8k;\n"
    "  server {\n"
    "    listen 127.0.0.1:%%PORT%%;\n"
    "    location / { proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /noslash { proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /rep/ { proxy_pass http://127.0.0.1:" OP "/new/; }\n"
    "    location /rep2/ { proxy_pass http://127.0.0.1:" OP "/; }\n"
    "    location /rep3 { proxy_pass http://127.0.0.1:" OP "/x; }\n"
    "    location = /exact { proxy_pass http://127.0.0.1:" OP "/target; }\n"
    "    location ~ ^/re/ { proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /rw/ { rewrite ^/rw/(.*)$ /changed/$1 break;"
    "                    proxy_pass http://127.0.0.1:" OP "/base/; }\n"
    "    location /rwn/ { rewrite ^/rwn/(.*)$ /other/$1 break;"
    "                     proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /set/ {\n"
    "      proxy_set_header X-A 1;\n"
    "      proxy_set_header X-Empty \"\";\n"
    "      proxy_set_header Host $host;\n"
    "      proxy_set_header User-Agent \"\";\n"
    "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
    "      proxy_pass http://127.0.0.1:" OP ";\n"
    "    }\n"
    "    location /v11/ { proxy_http_version 1.1; proxy_method PUT;"
    "                     proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /nohdr/ { proxy_pass_request_headers off; proxy_pass_request_body off;"
    "                       proxy_set_header Content-Length \"\";"
    "                       proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /hide/ { proxy_hide_header X-Foo; proxy_pass_header Server;"
    "                      proxy_pass_header X-Pad; proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /refused/ { proxy_pass http://127.0.0.1:%%DEAD%%; }\n"
    "    location /slow/ { proxy_read_timeout 1s; proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /small/ { proxy_buffer_size 1k; proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /one/ { proxy_pass http://127.0.0.1:" OP "/two/; }\n"
    "    location /redir-off/ { proxy_redirect off; proxy_pass http://127.0.0.1:" OP "/two/; }\n"
    "    location /redir-rule/ { proxy_redirect http://a.example/ /z/;"
    "                            proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /var/ { set $backend 127.0.0.1:" OP "; proxy_pass http://$backend; }\n"
    "    location /varuri/ { set $backend 127.0.0.1:" OP ";"
    "                        proxy_pass http://$backend/fixed$is_args$args; }\n"
    "    location /nores/ { proxy_pass http://$host; }\n"
    "    location /ws/ { proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade;\n"
    "                    proxy_set_header Connection upgrade; proxy_read_timeout 2s;\n"
    "                    proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location /icpt/ { proxy_intercept_errors on; error_page 404 /caught;"
    "                      proxy_pass http://127.0.0.1:" OP "; }\n"
    "    location = /caught { return 200 \"caught\\n\"; }\n"
    "  }\n"
    "}\n";

static int
bw_proxy_setup(void **state)
{
    char dead[16];

    memset(&bw_fx, 0, sizeof(bw_fx));
    bw_fx.origin = bw_test_origin_start(&bw_fx.origin_port, "-n", "o1");
    if (bw_fx.origin == NULL) {
        return -1;
    }
    bw_fx.dead_port = bw_test_free_port(NULL);
    snprintf(dead, sizeof(dead), "%d", bw_fx.dead_port);
    bw_fx.srv = bw_test_server_start(bw_proxy_conf, "DEAD", dead);
    if (bw_fx.srv == NULL) {
        bw_test_origin_stop(bw_fx.origin);
        return -1;
    }
    bw_test_server_allow(bw_fx.srv, "no resolver defined");
    return 0;
}

static int
bw_proxy_teardown(void **state)
{
    bw_test_server_stop(bw_fx.srv);
    bw_test_origin_stop(bw_fx.origin);
    return 0;
}

/* A malloc'd string with "OP" replaced by the origin's port. */
static char *
bw_proxy_expand(const char *fmt)
{
    char  port[16];
    char *out = malloc(strlen(fmt) * 2 + 64);
    char *o = out;

    snprintf(port, sizeof(port), "%d", bw_fx.origin_port);
    for (const char *p = fmt; *p;) {
        if (strncmp(p, "@OP@", 4) == 0) {
            o = stpcpy(o, port);
            p += 4;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Sends raw; the origin echoes what it received: checks it equals `want`. */
static void
bw_proxy_expect_echo(const char *raw, const char *want_fmt)
{
    bw_test_response_t r;
    char              *want = bw_proxy_expand(want_fmt);

    assert_int_equal(bw_test_http_request(bw_fx.srv->port, raw, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.complete);
    if (r.body_len != strlen(want) || memcmp(r.body, want, r.body_len) != 0) {
        fail_msg("origin received:\n%.*s\nexpected:\n%s", (int) r.body_len, r.body, want);
    }
    free(want);
    bw_test_response_free(&r);
}

/* The request line the origin received for GET `uri`. */
static char *
bw_proxy_request_line(const char *uri)
{
    char               raw[1024];
    bw_test_response_t r;

    snprintf(raw, sizeof(raw),
             "GET %s HTTP/1.1\r\nHost: localhost\r\nX-Origin-Control: echo=1\r\n"
             "Connection: close\r\n\r\n",
             uri);
    assert_int_equal(bw_test_http_request(bw_fx.srv->port, raw, &r), 0);
    assert_int_equal(r.status, 200);
    char *eol = memchr(r.body, '\r', r.body_len);
    assert_non_null(eol);
    char *line = strndup(r.body, (size_t) (eol - r.body));
    bw_test_response_free(&r);
    return line;
}

/* ------------------------------------------------------------ requests */

static void
test_proxy_default_headers_and_hop_by_hop_dropped(void **state)
{
    bw_proxy_expect_echo("GET /x?echo=1 HTTP/1.1\r\n"
                         "Host: localhost\r\n"
                         "Connection: keep-alive, close\r\n"
                         "Keep-Alive: 5\r\n"
                         "TE: trailers\r\n"
                         "Upgrade: foo\r\n"
                         "X-B: 2\r\n"
                         "Proxy-Connection: x\r\n"
                         "\r\n",
                         "GET /x?echo=1 HTTP/1.0\r\n"
                         "Host: 127.0.0.1:@OP@\r\n"
                         "Connection: close\r\n"
                         "X-B: 2\r\n"
                         "Proxy-Connection: x\r\n"
                         "\r\n");
}

static void
test_proxy_set_header_first_and_empty_value_removes(void **state)
{
    bw_proxy_expect_echo("GET /set/?echo=1 HTTP/1.1\r\n"
                         "Host: Localhost\r\n"
                         "User-Agent: ua\r\n"
                         "X-Empty: z\r\n"
                         "X-Forwarded-For: 10.0.0.1\r\n"
                         "X-C: 3\r\n"
                         "Connection: close\r\n"
                         "\r\n",
                         "GET /set/?echo=1 HTTP/1.0\r\n"
                         "X-A: 1\r\n"
                         "Host: localhost\r\n"
                         "X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"
                         "Connection: close\r\n"
                         "X-C: 3\r\n"
                         "\r\n");
}

static void
test_proxy_http_version_and_method_settings(void **state)
{
    bw_proxy_expect_echo("GET /v11/a?echo=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                         "PUT /v11/a?echo=1 HTTP/1.1\r\n"
                         "Host: 127.0.0.1:@OP@\r\n"
                         "Connection: close\r\n"
                         "\r\n");
}

static void
test_proxy_content_length_body_forwarded(void **state)
{
    bw_proxy_expect_echo("POST /x?echo=1 HTTP/1.1\r\n"
                         "Host: localhost\r\n"
                         "Content-Type: text/plain\r\n"
                         "Content-Length: 11\r\n"
                         "Connection: close\r\n"
                         "\r\n"
                         "hello world",
                         "POST /x?echo=1 HTTP/1.0\r\n"
                         "Host: 127.0.0.1:@OP@\r\n"
                         "Connection: close\r\n"
                         "Content-Length: 11\r\n"
                         "Content-Type: text/plain\r\n"
                         "\r\n"
                         "hello world");
}

static void
test_proxy_chunked_request_body_sent_with_length(void **state)
{
    bw_proxy_expect_echo("POST /x?echo=1 HTTP/1.1\r\n"
                         "Host: localhost\r\n"
                         "Transfer-Encoding: chunked\r\n"
                         "Connection: close\r\n"
                         "\r\n"
                         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                         "POST /x?echo=1 HTTP/1.0\r\n"
                         "Host: 127.0.0.1:@OP@\r\n"
                         "Connection: close\r\n"
                         "Content-Length: 11\r\n"
                         "\r\n"
                         "hello world");
}

static void
test_proxy_empty_post_sends_zero_length(void **state)
{
    bw_proxy_expect_echo("POST /x?echo=1 HTTP/1.1\r\n"
                         "Host: localhost\r\n"
                         "Content-Length: 0\r\n"
                         "Connection: close\r\n"
                         "\r\n",
                         "POST /x?echo=1 HTTP/1.0\r\n"
                         "Host: 127.0.0.1:@OP@\r\n"
                         "Connection: close\r\n"
                         "Content-Length: 0\r\n"
                         "\r\n");
}

static void
test_proxy_large_body_spilled_to_file_forwarded_intact(void **state)
{
    const size_t n = 200000;
    char        *req = malloc(n + 256);
    int          head = snprintf(req, 256,
                                 "POST /big?echo=body HTTP/1.1\r\nHost: localhost\r\n"
                                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                 n);
    for (size_t i = 0; i < n; i++) {
        req[head + i] = bw_test_pattern_byte(i);
    }
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request_len(bw_fx.srv->port, req, (size_t) head + n, &r), 0);
    free(req);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "X-Origin-Body-Length"), "200000");
    assert_int_equal(r.body_len, n);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);
}

static void
test_proxy_pass_request_headers_and_body_off(void **state)
{
    bw_proxy_expect_echo("POST /nohdr/?echo=1 HTTP/1.1\r\n"
                         "Host: localhost\r\n"
                         "X-Secret: s\r\n"
                         "Content-Length: 3\r\n"
                         "Connection: close\r\n"
                         "\r\n"
                         "abc",
                         "POST /nohdr/?echo=1 HTTP/1.0\r\n"
                         "Host: 127.0.0.1:@OP@\r\n"
                         "Connection: close\r\n"
                         "\r\n");
}

/* ------------------------------------------------------ URI replacement */

static void
test_proxy_uri_replacement_table(void **state)
{
    static const struct {
        const char *uri;
        const char *line;
    } rows[] = {
        /* no URI part: the request target exactly as the client sent it */
        {"/noslash/a%20b?x=1", "GET /noslash/a%20b?x=1 HTTP/1.0"},
        {"/noslash/./a/../b", "GET /noslash/./a/../b HTTP/1.0"},
        /* URI part: the normalised URI with the location prefix replaced */
        {"/rep/a/b?x=1", "GET /new/a/b?x=1 HTTP/1.0"},
        {"/rep/a%20b", "GET /new/a%20b HTTP/1.0"},
        {"/rep/%41%2F", "GET /new/A/ HTTP/1.0"},
        {"/rep/a/../c", "GET /new/c HTTP/1.0"},
        {"/rep/%7Efoo", "GET /new/~foo HTTP/1.0"},
        {"/rep/a+b", "GET /new/a+b HTTP/1.0"},
        {"/rep/%3F%23x", "GET /new/%3F%23x HTTP/1.0"},
        {"/rep/%C3%A9", "GET /new/%C3%A9 HTTP/1.0"},
        {"/rep2/zz", "GET /zz HTTP/1.0"},
        {"/rep3/y", "GET /x/y HTTP/1.0"},
        {"/rep3abc", "GET /xabc HTTP/1.0"},
        {"/exact?a=b", "GET /target?a=b HTTP/1.0"},
        /* regex location: no URI part allowed; the target passes as sent */
        {"/re/a%2Fb?q", "GET /re/a%2Fb?q HTTP/1.0"},
        /* rewrite ... break: the changed URI, whole, escaped again */
        {"/rw/x%20y?k=v", "GET /changed/x%20y?k=v HTTP/1.0"},
        {"/rwn/x%20y?k=v", "GET /other/x%20y?k=v HTTP/1.0"},
        /* variables: the evaluated URI as it is */
        {"/var/p?q=1", "GET /var/p?q=1 HTTP/1.0"},
        {"/varuri/p?q=1", "GET /fixed?q=1 HTTP/1.0"},
    };
    char failures[4096] = "";

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *line = bw_proxy_request_line(rows[i].uri);
        if (strcmp(line, rows[i].line) != 0) {
            size_t n = strlen(failures);
            snprintf(failures + n, sizeof(failures) - n, "%s: got \"%s\", want \"%s\"\n",
                     rows[i].uri, line, rows[i].line);
        }
        free(line);
    }
    if (failures[0]) {
        fail_msg("%s", failures);
    }
}

/* ------------------------------------------------------------ responses */

static void
test_proxy_status_and_reason_passed_through(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/x?status=404&body=nope", &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.reason, "Not Found");
    assert_int_equal(r.body_len, 4);
    assert_memory_equal(r.body, "nope", 4);
    assert_string_equal(bw_test_response_header(&r, "X-Origin"), "o1");
    bw_test_response_free(&r);

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/x?status=503", &r), 0);
    assert_int_equal(r.status, 503);
    bw_test_response_free(&r);

    /* a proxied prefix location ending with '/' redirects its bare name */
    char want[128];
    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/rep2?a=1", &r), 0);
    assert_int_equal(r.status, 301);
    snprintf(want, sizeof(want), "http://localhost:%d/rep2/?a=1", bw_fx.srv->port);
    assert_string_equal(bw_test_response_header(&r, "Location"), want);
    bw_test_response_free(&r);
}

static void
test_proxy_hidden_headers_and_own_server_date(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_fx.srv->port,
                                      "/x?header=Server:orig&header=X-Pad:p&header=X-Foo:f"
                                      "&header=X-Accel-Buffering:no&header=Date:yesterday",
                                      &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_not_equal(bw_test_response_header(&r, "Server"), "orig");
    assert_int_equal(bw_test_response_header_count(&r, "Server"), 1);
    assert_int_equal(bw_test_response_header_count(&r, "Date"), 1);
    assert_string_not_equal(bw_test_response_header(&r, "Date"), "yesterday");
    assert_null(bw_test_response_header(&r, "X-Pad"));
    assert_null(bw_test_response_header(&r, "X-Accel-Buffering"));
    assert_string_equal(bw_test_response_header(&r, "X-Foo"), "f");
    bw_test_response_free(&r);

    /* proxy_pass_header / proxy_hide_header */
    assert_int_equal(bw_test_http_get(bw_fx.srv->port,
                                      "/hide/?header=Server:orig&header=X-Pad:p&header=X-Foo:f", &r),
                     0);
    assert_string_equal(bw_test_response_header(&r, "Server"), "orig");
    assert_int_equal(bw_test_response_header_count(&r, "Server"), 1);
    assert_string_equal(bw_test_response_header(&r, "X-Pad"), "p");
    assert_null(bw_test_response_header(&r, "X-Foo"));
    bw_test_response_free(&r);
}

static void
test_proxy_content_length_body_relayed(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/x?len=3000001", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), "3000001");
    assert_int_equal(r.body_len, 3000001);
    assert_true(r.complete);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);
}

static void
test_proxy_chunked_body_relayed_intact(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/x?chunked=1&chunk=777&len=250000", &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    assert_true(r.complete);
    assert_null(bw_test_response_header(&r, "Content-Length"));
    assert_int_equal(r.body_len, 250000);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);
}

static void
test_proxy_close_delimited_body_relayed_chunked(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/x?close=1&len=120000", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    assert_true(r.complete);
    assert_int_equal(r.body_len, 120000);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);

    /* an HTTP/1.0 client gets it close-delimited */
    assert_int_equal(bw_test_http_request(bw_fx.srv->port,
                                          "GET /x?close=1&len=5000 HTTP/1.0\r\n\r\n", &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_false(r.chunked);
    assert_true(r.close_delimited);
    assert_int_equal(r.body_len, 5000);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);
}

static void
test_proxy_head_request_gets_length_without_body(void **state)
{
    bw_test_conn_t    *c = bw_test_conn_open(bw_fx.srv->port);
    bw_test_response_t r;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "HEAD /x?len=1234 HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    assert_int_equal(bw_test_conn_read_response_flags(c, &r, BW_TEST_RESP_HEAD,
                                                      bw_test_timeout(5000)),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), "1234");
    assert_int_equal(r.body_len, 0);
    bw_test_response_free(&r);

    /* the client connection is still good for the next request */
    assert_int_equal(bw_test_conn_send_str(c, "GET /x?body=again HTTP/1.1\r\nHost: h\r\n\r\n"),
                     0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "again", 5);
    bw_test_response_free(&r);
    bw_test_conn_close(c);
}

static void
test_proxy_client_keepalive_across_proxied_requests(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_fx.srv->port);

    assert_non_null(c);
    for (int i = 0; i < 3; i++) {
        bw_test_response_t r;
        assert_int_equal(bw_test_conn_send_str(c, "GET /x?chunked=1&len=3000 HTTP/1.1\r\n"
                                                  "Host: h\r\n\r\n"),
                         0);
        assert_int_equal(bw_test_conn_read_response(c, &r), 0);
        assert_int_equal(r.status, 200);
        assert_true(r.complete);
        assert_int_equal(r.body_len, 3000);
        assert_false(r.closed);
        bw_test_response_free(&r);
    }
    bw_test_conn_close(c);
}

static void
test_proxy_redirect_default_rewrites_location(void **state)
{
    char               uri[256];
    char               want[256];
    bw_test_response_t r;

    snprintf(uri, sizeof(uri),
             "/one/a?status=302&header=Location:http://127.0.0.1:%d/two/x"
             "&header=Refresh:5;%%20url=http://127.0.0.1:%d/two/y",
             bw_fx.origin_port, bw_fx.origin_port);
    assert_int_equal(bw_test_http_get(bw_fx.srv->port, uri, &r), 0);
    assert_int_equal(r.status, 302);
    snprintf(want, sizeof(want), "http://localhost:%d/one/x", bw_fx.srv->port);
    assert_string_equal(bw_test_response_header(&r, "Location"), want);
    assert_string_equal(bw_test_response_header(&r, "Refresh"), "5; url=/one/y");
    bw_test_response_free(&r);

    /* off: untouched */
    snprintf(uri, sizeof(uri), "/redir-off/a?status=302&header=Location:http://127.0.0.1:%d/two/x",
             bw_fx.origin_port);
    assert_int_equal(bw_test_http_get(bw_fx.srv->port, uri, &r), 0);
    snprintf(want, sizeof(want), "http://127.0.0.1:%d/two/x", bw_fx.origin_port);
    assert_string_equal(bw_test_response_header(&r, "Location"), want);
    bw_test_response_free(&r);

    /* an explicit rule; a relative Location stays relative */
    assert_int_equal(bw_test_http_get(bw_fx.srv->port,
                                      "/redir-rule/?status=301&header=Location:http://a.example/q",
                                      &r),
                     0);
    snprintf(want, sizeof(want), "http://localhost:%d/z/q", bw_fx.srv->port);
    assert_string_equal(bw_test_response_header(&r, "Location"), want);
    bw_test_response_free(&r);
    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/x?status=302&header=Location:/rel", &r),
                     0);
    assert_string_equal(bw_test_response_header(&r, "Location"), "/rel");
    bw_test_response_free(&r);
}

static void
test_proxy_upstream_variables_logged(void **state)
{
    bw_test_response_t r;
    char               want[128];

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/logged?status=201", &r), 0);
    assert_int_equal(r.status, 201);
    bw_test_response_free(&r);
    snprintf(want, sizeof(want), "127.0.0.1:%d|201|201|o1", bw_fx.origin_port);
    assert_true(bw_test_server_file_wait(bw_fx.srv, "logs/up.log", want, 1,
                                         bw_test_timeout(3000)));
}

/* ------------------------------------------------------------- failures */

static void
test_proxy_refused_is_502_and_logged(void **state)
{
    bw_test_response_t r;
    char               want[128];

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/refused/", &r), 0);
    assert_int_equal(r.status, 502);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(
        bw_fx.srv, "connect() failed (111: Connection refused) while connecting to upstream", 1,
        bw_test_timeout(3000)));
    /* nginx's context: ..., request: "...", upstream: "http://addr/uri", host: "..." */
    snprintf(want, sizeof(want), "request: \"GET /refused/ HTTP/1.1\", upstream: "
             "\"http://127.0.0.1:%d/", bw_fx.dead_port);
    assert_true(bw_test_server_log_count(bw_fx.srv, want) >= 1);
    snprintf(want, sizeof(want), "127.0.0.1:%d|502|502|", bw_fx.dead_port);
    assert_true(bw_test_server_file_wait(bw_fx.srv, "logs/up.log", want, 1,
                                         bw_test_timeout(3000)));
}

static void
test_proxy_slow_origin_is_504_after_read_timeout(void **state)
{
    bw_test_response_t r;
    int64_t            t0 = bw_test_now_ms();

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/slow/?delay=2500", &r), 0);
    int64_t took = bw_test_now_ms() - t0;
    assert_int_equal(r.status, 504);
    bw_test_response_free(&r);
    assert_true(took >= 900);
    assert_true(took < bw_test_timeout(2400));
    assert_true(bw_test_server_log_wait(bw_fx.srv,
                                        "upstream timed out (110: Connection timed out) while "
                                        "reading response header from upstream",
                                        1, bw_test_timeout(3000)));
}

static void
test_proxy_origin_closing_mid_body_cuts_client(void **state)
{
    bw_test_response_t r;
    int                before = bw_test_server_log_count(
        bw_fx.srv, "upstream prematurely closed connection while reading upstream");

    assert_int_equal(bw_test_http_request(bw_fx.srv->port,
                                          "GET /x?close_mid=1&len=100000 HTTP/1.1\r\n"
                                          "Host: h\r\n\r\n",
                                          &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), "100000");
    assert_false(r.complete);
    assert_true(r.closed);
    assert_true(r.body_len < 100000);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(
        bw_fx.srv, "upstream prematurely closed connection while reading upstream", before + 1,
        bw_test_timeout(3000)));
}

static void
test_proxy_invalid_header_is_502(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/x?header=Bad%20Header:x", &r), 0);
    assert_int_equal(r.status, 502);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_fx.srv,
                                        "upstream sent invalid header: \"Bad\\x20...\" while "
                                        "reading response header from upstream",
                                        1, bw_test_timeout(3000)));
}

static void
test_proxy_too_big_header_is_502(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/small/?huge_header=2000", &r), 0);
    assert_int_equal(r.status, 502);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(
        bw_fx.srv, "upstream sent too big header while reading response header from upstream", 1,
        bw_test_timeout(3000)));

    /* the same head fits the default 4k buffer */
    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/x?huge_header=2000", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(strlen(bw_test_response_header(&r, "X-Huge")), 2000);
    bw_test_response_free(&r);
}

static void
test_proxy_variable_host_without_resolver_is_502(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/nores/", &r), 0);
    assert_int_equal(r.status, 502);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_fx.srv, "no resolver defined to resolve localhost", 1,
                                        bw_test_timeout(3000)));
}

static void
test_proxy_intercept_errors_uses_error_page(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/icpt/?status=404&body=origin", &r), 0);
    assert_int_equal(r.body_len, 7);
    assert_memory_equal(r.body, "caught\n", 7);
    assert_null(bw_test_response_header(&r, "X-Origin"));
    bw_test_response_free(&r);

    /* no error_page for 500: the origin's response passes */
    assert_int_equal(bw_test_http_get(bw_fx.srv->port, "/icpt/?status=500&body=origin", &r), 0);
    assert_int_equal(r.status, 500);
    assert_int_equal(r.body_len, 6);
    assert_memory_equal(r.body, "origin", 6);
    bw_test_response_free(&r);
}

static void
test_proxy_websocket_upgrade_tunnels_frames(void **state)
{
    const char req[] = "GET /ws/?ws=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n";
    /* masked text frame "Hello" (RFC 6455 section 5.7) */
    const unsigned char frame[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    bw_test_conn_t    *c = bw_test_conn_open(bw_fx.srv->port);
    bw_test_response_t r;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, req), 0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 101);
    assert_string_equal(bw_test_response_header(&r, "Sec-WebSocket-Accept"),
                        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_string_equal(bw_test_response_header(&r, "Upgrade"), "websocket");
    assert_string_equal(bw_test_response_header(&r, "Connection"), "upgrade");
    assert_null(bw_test_response_header(&r, "Transfer-Encoding"));
    bw_test_response_free(&r);

    for (int round = 0; round < 2; round++) {
        int64_t deadline = bw_test_now_ms() + bw_test_timeout(5000);
        assert_int_equal(bw_test_conn_send(c, frame, sizeof(frame)), 0);
        while (c->len < 7 && bw_test_now_ms() < deadline) {
            bw_test_conn_wait_closed(c, 50);
        }
        assert_int_equal(c->len, 7);
        assert_memory_equal(c->buf, "\x81\x05Hello", 7);
        c->len = 0;
    }
    /* the client leaving ends the tunnel; the proxy logs the 101 */
    bw_test_conn_close(c);
}

/* --------------------------------------------------------- configuration */

#define BW_PROXY_URI_PART                                                                  \
    "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside " \
    "named location, or inside \"if\" statement, or inside \"limit_except\" block"

static void
test_proxy_config_messages(void **state)
{
    static const struct {
        const char *http;
        const char *message;
    } rows[] = {
        {"server { location ~ /x {\nproxy_pass http://127.0.0.1:1/a; # @@\n} }",
         BW_PROXY_URI_PART},
        {"server { location @n {\nproxy_pass http://127.0.0.1:1/a; # @@\n} }",
         BW_PROXY_URI_PART},
        {"server { location / { if ($args) {\nproxy_pass http://127.0.0.1:1/a; # @@\n} } }",
         BW_PROXY_URI_PART},
        {"server { location / {\nproxy_pass 127.0.0.1:1; # @@\n} }", "invalid URL prefix"},
        {"server { location / {\nproxy_pass http://; # @@\n} }", "no host in upstream \"\""},
        {"server { location / {\nproxy_pass http://127.0.0.1:99999; # @@\n} }",
         "invalid port in upstream \"127.0.0.1:99999\""},
        {"server { location / {\nproxy_pass http://127.0.0.1:0; # @@\n} }",
         "invalid port in upstream \"127.0.0.1:0\""},
        {"server { location / { proxy_pass http://127.0.0.1:1;\n"
         "proxy_pass http://127.0.0.1:2; # @@\n} }",
         "\"proxy_pass\" directive is duplicate"},
        {"server { location / {\nproxy_pass http://nonexistent.invalid; # @@\n}\n}",
         "host not found in upstream \"nonexistent.invalid\""},
        {"server { location / {\nproxy_next_upstream foo; # @@\n} }", "invalid value \"foo\""},
        {"server { location / {\nproxy_http_version 2.0; # @@\n} }", "invalid value \"2.0\""},
        {"server { location / {\nproxy_redirect default; # @@\nproxy_pass http://127.0.0.1:1; } }",
         "\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive"},
        {"server { location / { proxy_pass http://$host;\nproxy_redirect default; # @@\n} }",
         "\"proxy_redirect default\" cannot be used with \"proxy_pass\" directive with "
         "variables"},
        {"server { location / { proxy_redirect off;\nproxy_redirect / /x; # @@\n"
         "proxy_pass http://127.0.0.1:1; } }",
         "\"proxy_redirect\" directive is duplicate"},
        {"server { location / {\nproxy_redirect foo; # @@\n} }", "invalid parameter \"foo\""},
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
        cmocka_unit_test(test_proxy_default_headers_and_hop_by_hop_dropped),
        cmocka_unit_test(test_proxy_set_header_first_and_empty_value_removes),
        cmocka_unit_test(test_proxy_http_version_and_method_settings),
        cmocka_unit_test(test_proxy_content_length_body_forwarded),
        cmocka_unit_test(test_proxy_chunked_request_body_sent_with_length),
        cmocka_unit_test(test_proxy_empty_post_sends_zero_length),
        cmocka_unit_test(test_proxy_large_body_spilled_to_file_forwarded_intact),
        cmocka_unit_test(test_proxy_pass_request_headers_and_body_off),
        cmocka_unit_test(test_proxy_uri_replacement_table),
        cmocka_unit_test(test_proxy_status_and_reason_passed_through),
        cmocka_unit_test(test_proxy_hidden_headers_and_own_server_date),
        cmocka_unit_test(test_proxy_content_length_body_relayed),
        cmocka_unit_test(test_proxy_chunked_body_relayed_intact),
        cmocka_unit_test(test_proxy_close_delimited_body_relayed_chunked),
        cmocka_unit_test(test_proxy_head_request_gets_length_without_body),
        cmocka_unit_test(test_proxy_client_keepalive_across_proxied_requests),
        cmocka_unit_test(test_proxy_redirect_default_rewrites_location),
        cmocka_unit_test(test_proxy_upstream_variables_logged),
        cmocka_unit_test(test_proxy_refused_is_502_and_logged),
        cmocka_unit_test(test_proxy_slow_origin_is_504_after_read_timeout),
        cmocka_unit_test(test_proxy_origin_closing_mid_body_cuts_client),
        cmocka_unit_test(test_proxy_invalid_header_is_502),
        cmocka_unit_test(test_proxy_too_big_header_is_502),
        cmocka_unit_test(test_proxy_variable_host_without_resolver_is_502),
        cmocka_unit_test(test_proxy_intercept_errors_uses_error_page),
        cmocka_unit_test(test_proxy_websocket_upgrade_tunnels_frames),
        cmocka_unit_test(test_proxy_config_messages),
    };
    return cmocka_run_group_tests(tests, bw_proxy_setup, bw_proxy_teardown);
}
