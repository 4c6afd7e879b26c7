/*
 * test_differential.c -- the reference nginx (/usr/sbin/nginx) and bulwark
 * run the same configuration side by side, and the same raw requests
 * (well-formed, malformed, redirects, error pages, keep-alive and framing
 * cases) go to both. For each one the status line, whether the connection
 * closed, the framing and key headers must agree, and the body must be
 * nginx's with its signature ("nginx/1.22.1") replaced by bulwark's.
 * Skipped when /usr/sbin/nginx is not installed. The few requests where
 * bulwark's parser is stricter on purpose (http/parse.h) are listed apart
 * and checked to differ exactly as documented.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BW_DF_NGINX "/usr/sbin/nginx"

static const char bw_df_conf[] =
    "user root;\n"
    "http {\n"
    "  access_log logs/access.log;\n"
    "  client_body_temp_path %%PREFIX%%/client_body_temp;\n"
    "  root %%PREFIX%%/html;\n"
    "  lingering_timeout 1s;\n"
    "  server { listen 127.0.0.1:%%PORT%%; server_name localhost;\n"
    "    location / { }\n"
    "    location /t { return 200 \"hi\\n\"; }\n"
    "    location /k { keepalive_timeout 30s 25s; return 204; }\n"
    "    location /ep/ { error_page 404 /404.html; }\n"
    "    location /ep2/ { error_page 404 =200 /404.html; }\n"
    "    location /ep3/ { error_page 404 @named; }\n"
    "    location @named { return 200 \"named\\n\"; }\n"
    "    location /ep4/ { error_page 404 http://example.com/x; }\n"
    "    location /ep5/ { error_page 404 = /r201; }\n"
    "    location /ep6/ { error_page 404 /missing.html; }\n"
    "    location /r201 { return 201 \"r\\n\"; }\n"
    "    location /r301 { return 301 /x; }\n"
    "    location /r301np { port_in_redirect off; return 301 /x; }\n"
    "    location /r401 { return 401; }\n"
    "    location /r407 { return 407; }\n"
    "    location /r418 { return 418; }\n"
    "    location /r497 { return 497; }\n"
    "    location /r503 { return 503; }\n"
    "    location /small { client_max_body_size 10; return 200 \"small\\n\"; }\n"
    "    location /tok { server_tokens off; return 404; }\n"
    "  }\n"
    "}\n";

typedef struct {
    const char *raw;
    bool        body; /* compare bodies (false where they hold dates or ports) */
} bw_df_case_t;

#define H "Host: a\r\n"
#define C "Connection: close\r\n"

static const bw_df_case_t bw_df_cases[] = {
    {"GET / HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /index.html HTTP/1.1\r\n" H "\r\n", true},
    {"HEAD /index.html HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /missing HTTP/1.1\r\n" H "\r\n", true},
    {"GET /t HTTP/1.0\r\n\r\n", true},
    {"GET /t HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
    {"GET /t HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /k HTTP/1.1\r\n" H "\r\n", true},
    {"GET /ep/x HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /ep2/x HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /ep3/x HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /ep4/x HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /ep5/x HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /ep6/x HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /r301 HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /r301np HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /r401 HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /r407 HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /r418 HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /r497 HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /r503 HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /tok HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /dir HTTP/1.1\r\n" H C "\r\n", false},
    {"GET /t HTTP/1.1\r\n\r\n", true},
    {"GET /t HTTP/1.1\r\n" H "Host: b\r\n\r\n", true},
    {"GET /t HTTP/1.1\r\nHost: a/b\r\n\r\n", true},
    {"GET /t HTTP/1.1\r\nHost: a..b\r\n\r\n", true},
    {"GET /t HTTP/2.0\r\n" H "\r\n", true},
    {"GET /t HTTP/1.2\r\n" H C "\r\n", true},
    {"get /t HTTP/1.1\r\n" H "\r\n", true},
    {"POST /t HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", true},
    {"POST /t HTTP/1.1\r\n" H "Content-Length: abc\r\n\r\n", true},
    {"POST /t HTTP/1.1\r\n" H "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
    {"POST /t HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", true},
    {"POST /t HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
    {"POST /t HTTP/1.1\r\n" H "Content-Length: 3\r\n" C "\r\nabc", true},
    {"POST /t HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n" C "\r\n3\r\nabc\r\n0\r\n\r\n", true},
    {"POST /small HTTP/1.1\r\n" H "Content-Length: 100\r\n\r\nabc", true},
    {"GET /t HTTP/1.1\r\n" H "X: a\r\n b\r\n\r\n", true},
    {"GET /t HTTP/1.1\r\nHost : a\r\n\r\n", true},
    {"GET /t HTTP/1.1\r\n" H "X_A: 1\r\n" C "\r\n", true},
    {"GET /t HTTP/1.1\r\n" H "If-Match: a\r\nIf-Match: b\r\n\r\n", true},
    {"GET http://example.com/t HTTP/1.1\r\n" H C "\r\n", true},
    {"OPTIONS * HTTP/1.1\r\n" H "\r\n", true},
    {"CONNECT a:443 HTTP/1.1\r\n" H "\r\n", true},
    {"TRACE /t HTTP/1.1\r\n" H "\r\n", true},
    {"GET /../x HTTP/1.1\r\n" H "\r\n", true},
    {"GET /t HTTP/1.1\nHost: a\n" C "\n", true},
    {"GET /missing HTTP/1.1\r\n" H "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0)\r\n" C "\r\n",
     true},
    {"HEAD /missing HTTP/1.1\r\n" H C "\r\n", true},
    {"HEAD /r301 HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /t HTTP/1.1\r\n" H "Connection: keep-alive, Upgrade\r\nUpgrade: foo\r\n\r\n", true},
    {"POST /t HTTP/1.1\r\n" H "Expect: 100-continue\r\nContent-Length: 2\r\n" C "\r\nok", true},
    {"GET /t?a=1&b=%41 HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /%74 HTTP/1.1\r\n" H C "\r\n", true},
    {"GET //t HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /./t HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /x/../t HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /t HTTP/1.1\r\nHost: A.B.:80\r\n" C "\r\n", true},
    {"GET /t HTTP/1.1\r\n" H "Content-Length: 0\r\n" C "\r\n", true},
    {"DELETE /t HTTP/1.1\r\n" H C "\r\n", true},
    {"GET /t HTTP/1.1\r\n" H "X: " "a\tb" "\r\n" C "\r\n", true},
};

/* Requests nginx tolerates and bulwark refuses on purpose (parse.h). */
static const char *bw_df_stricter[] = {
    "GET  /t HTTP/1.1\r\n" H C "\r\n",
    "GET /t HTTP/1.1\r\n" H "X: \x7f\r\n" C "\r\n",
    "GET /t HTTP/1.1\r\nHost: a:b\r\n" C "\r\n",
};

static bw_test_server_t *bw_df_ngx, *bw_df_bw;

static bw_test_server_t *
bw_df_start(const char *binary)
{
    if (binary) {
        setenv("BW_TEST_BINARY", binary, 1);
    }
    bw_test_server_t *srv = bw_test_server_prepare(bw_df_conf);
    if (binary) {
        unsetenv("BW_TEST_BINARY");
    }
    if (srv == NULL) {
        return NULL;
    }
    bw_test_server_allow(srv, "could not open error log file");
    bw_test_server_allow(srv, "the \"user\" directive makes sense only");
    if (bw_test_server_write_file(srv, "html/index.html", "<p>index</p>\n") != 0
        || bw_test_server_write_file(srv, "html/404.html", "custom 404\n") != 0
        || bw_test_server_write_file(srv, "html/dir/f.txt", "f\n") != 0
        || bw_test_server_launch(srv) != 0) {
        bw_test_server_stop(srv);
        return NULL;
    }
    return srv;
}

static int
bw_df_setup(void **state)
{
    if (access(BW_DF_NGINX, X_OK) != 0) {
        return 0;
    }
    bw_df_ngx = bw_df_start(BW_DF_NGINX);
    bw_df_bw = bw_df_start(NULL);
    return bw_df_ngx && bw_df_bw ? 0 : -1;
}

static int
bw_df_teardown(void **state)
{
    if (bw_df_ngx) {
        bw_test_server_stop(bw_df_ngx);
    }
    if (bw_df_bw) {
        bw_test_server_stop(bw_df_bw);
    }
    return 0;
}

/* `s` with every `from` replaced by `to` (malloc'd). */
static char *
bw_df_replace(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = s; (p = strstr(p, from)) != NULL; p += fl) {
        n++;
    }
    char *out = malloc(strlen(s) + n * tl + 1), *o = out;
    for (const char *p = s;;) {
        const char *q = strstr(p, from);
        if (q == NULL) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t) (q - p));
        o += q - p;
        memcpy(o, to, tl);
        o += tl;
        p = q + fl;
    }
    return out;
}

/* A header's value with the server's own port replaced by "PORT" (malloc'd). */
static char *
bw_df_header(const bw_test_response_t *r, const char *name, int port)
{
    const char *v = bw_test_response_header(r, name);
    if (v == NULL) {
        return strdup("(none)");
    }
    char p[16];
    snprintf(p, sizeof(p), ":%d", port);
    return bw_df_replace(v, p, ":PORT");
}

static int bw_df_answered; /* requests both servers answered */

/* Compares one request's answers; returns the number of differences (printed). */
static int
bw_df_compare(const char *raw, bool body)
{
    bw_test_response_t a, b;
    int diffs = 0;

    if (bw_test_http_request(bw_df_ngx->port, raw, &a) != 0) {
        a.status = -1;
    }
    if (bw_test_http_request(bw_df_bw->port, raw, &b) != 0) {
        b.status = -1;
    }
    if (a.status == -1 || b.status == -1) {
        bool same = a.status == b.status;
        if (!same) {
            print_error("%s: one side gave no answer (nginx %d, bulwark %d)\n", raw, a.status,
                        b.status);
        }
        if (a.status != -1) {
            bw_test_response_free(&a);
        }
        if (b.status != -1) {
            bw_test_response_free(&b);
        }
        return same ? 0 : 1;
    }
    bw_df_answered++;
    if (a.status != b.status || strcmp(a.reason, b.reason) != 0 || a.closed != b.closed) {
        print_error("%s: nginx %d %s%s, bulwark %d %s%s\n", raw, a.status, a.reason,
                    a.closed ? " (closed)" : "", b.status, b.reason, b.closed ? " (closed)" : "");
        diffs++;
    }
    static const char *names[] = {"Content-Type", "Transfer-Encoding", "Connection", "Keep-Alive",
                                  "Location", "Accept-Ranges"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *va = bw_df_header(&a, names[i], bw_df_ngx->port);
        char *vb = bw_df_header(&b, names[i], bw_df_bw->port);
        if (strcmp(va, vb) != 0) {
            print_error("%s: %s: nginx \"%s\", bulwark \"%s\"\n", raw, names[i], va, vb);
            diffs++;
        }
        free(va);
        free(vb);
    }
    if ((bw_test_response_header(&a, "Content-Length") == NULL)
        != (bw_test_response_header(&b, "Content-Length") == NULL)) {
        print_error("%s: Content-Length present on one side only\n", raw);
        diffs++;
    }
    if (body && a.body && b.body) {
        const char *sig = bw_test_response_header(&b, "Server");
        const char *nsig = bw_test_response_header(&a, "Server");
        char *want = bw_df_replace(a.body, nsig ? nsig : "nginx", sig ? sig : "bulwark");
        if (strcmp(want, b.body) != 0) {
            print_error("%s: bodies differ:\n%s\n---\n%s\n", raw, want, b.body);
            diffs++;
        }
        free(want);
    }
    bw_test_response_free(&a);
    bw_test_response_free(&b);
    return diffs;
}

static void
test_same_answers_as_nginx(void **state)
{
    if (bw_df_ngx == NULL) {
        skip();
    }
    int diffs = 0;
    for (size_t i = 0; i < sizeof(bw_df_cases) / sizeof(bw_df_cases[0]); i++) {
        diffs += bw_df_compare(bw_df_cases[i].raw, bw_df_cases[i].body);
    }
    assert_int_equal(diffs, 0);
    assert_int_equal(bw_df_answered, (int) (sizeof(bw_df_cases) / sizeof(bw_df_cases[0])));
}

static void
test_stricter_rows_differ_as_documented(void **state)
{
    if (bw_df_ngx == NULL) {
        skip();
    }
    for (size_t i = 0; i < sizeof(bw_df_stricter) / sizeof(bw_df_stricter[0]); i++) {
        bw_test_response_t a, b;
        assert_int_equal(bw_test_http_request(bw_df_ngx->port, bw_df_stricter[i], &a), 0);
        assert_int_equal(bw_test_http_request(bw_df_bw->port, bw_df_stricter[i], &b), 0);
        assert_int_equal(a.status, 200);
        assert_int_equal(b.status, 400);
        assert_true(b.closed);
        bw_test_response_free(&a);
        bw_test_response_free(&b);
    }
}

static void
test_pipelined_stream_same_as_nginx(void **state)
{
    if (bw_df_ngx == NULL) {
        skip();
    }
    const char *stream = "GET /t HTTP/1.1\r\n" H "\r\n"
                         "POST /t HTTP/1.1\r\n" H "Content-Length: 3\r\n\r\nabc"
                         "GET /missing HTTP/1.1\r\n" H "\r\n"
                         "HEAD /t HTTP/1.1\r\n" H "\r\n"
                         "POST /t HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
                         "2\r\nab\r\n0\r\n\r\n"
                         "GET /r301 HTTP/1.1\r\n" H "\r\n"
                         "GET /t HTTP/1.1\r\n" H C "\r\n";
    int statuses[2][8];
    int counts[2];
    for (int side = 0; side < 2; side++) {
        bw_test_conn_t *c = bw_test_conn_open(side == 0 ? bw_df_ngx->port : bw_df_bw->port);
        assert_int_equal(bw_test_conn_send_str(c, stream), 0);
        counts[side] = 0;
        for (int i = 0; i < 8; i++) {
            bw_test_response_t r;
            if (bw_test_conn_read_response_flags(c, &r, i == 3 ? BW_TEST_RESP_HEAD : 0, 3000)
                != 0) {
                break;
            }
            statuses[side][counts[side]++] = r.status;
            bw_test_response_free(&r);
        }
        assert_true(bw_test_conn_wait_closed(c, 3000));
        bw_test_conn_close(c);
    }
    assert_int_equal(counts[0], 7);
    assert_int_equal(counts[1], counts[0]);
    assert_memory_equal(statuses[0], statuses[1], sizeof(int) * (size_t) counts[0]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_answers_as_nginx),
        cmocka_unit_test(test_stricter_rows_differ_as_documented),
        cmocka_unit_test(test_pipelined_stream_same_as_nginx),
    };
    return cmocka_run_group_tests(tests, bw_df_setup, bw_df_teardown);
}
