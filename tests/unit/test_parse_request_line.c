/*
 * test_parse_request_line.c -- the request-line parser against a table of
 * inputs: every target form, the split of path/args/exten, the URI flags,
 * versions, and every rejection with its status. Each row is parsed whole,
 * one byte at a time, in random splits, and with the buffer moved to a new
 * address (and rebased) before every call: all must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"
#include "support.h"

#define IN(s) .in = (s), .len = sizeof(s) - 1

typedef struct {
    const char *in;
    size_t      len;
    bw_rc_t     rc;
    /* expected on BW_OK; a NULL string means "absent" */
    unsigned    method;
    const char *method_name;
    unsigned    target;
    const char *schema, *host, *port;
    const char *uri, *path, *args, *exten;
    unsigned    flags;
    unsigned    version;
} bw_test_rl_row_t;

/* What a parse produced, as strings, so results from different buffers compare. */
typedef struct {
    bw_rc_t  rc;
    size_t   consumed;
    unsigned method, target, flags, version;
    char     method_name[32], schema[32], host[64], port[16];
    char     uri[160], path[160], args[160], exten[32], protocol[16], request[200];
} bw_test_rl_snap_t;

static uint64_t bw_test_rng = 0x2545f4914f6cdd1dULL;

static void
bw_test_str(char *dst, size_t size, const u_char *start, const u_char *end)
{
    if (start == NULL) {
        snprintf(dst, size, "<none>");
        return;
    }
    assert_non_null(end);
    assert_true(end >= start);
    snprintf(dst, size, "%.*s", (int) (end - start), (const char *) start);
}

static void
bw_test_rl_snap(bw_test_rl_snap_t *s, const bw_http_request_line_t *rl, bw_rc_t rc, size_t consumed)
{
    memset(s, 0, sizeof(*s));
    s->rc = rc;
    s->consumed = consumed;
    if (rc != BW_OK) {
        return;
    }
    s->method = rl->method;
    s->target = rl->target;
    s->flags = rl->flags;
    s->version = rl->http_version;
    bw_test_str(s->method_name, sizeof(s->method_name), rl->request_start, rl->method_end);
    bw_test_str(s->schema, sizeof(s->schema), rl->schema_start, rl->schema_end);
    bw_test_str(s->host, sizeof(s->host), rl->host_start, rl->host_end);
    bw_test_str(s->port, sizeof(s->port), rl->port_start, rl->port_end);
    bw_test_str(s->uri, sizeof(s->uri), rl->uri_start, rl->uri_end);
    bw_test_str(s->path, sizeof(s->path), rl->uri_start, rl->path_end);
    bw_test_str(s->args, sizeof(s->args), rl->args_start, rl->args_end);
    bw_test_str(s->exten, sizeof(s->exten), rl->exten_start, rl->exten_end);
    bw_test_str(s->protocol, sizeof(s->protocol), rl->protocol_start, rl->protocol_end);
    bw_test_str(s->request, sizeof(s->request), rl->request_start, rl->request_end);
}

/*
 * Feeds row->in in pieces: chunk(i) returns the size of the next piece
 * (0 = all the rest). When move is set, the whole buffer is copied to a
 * fresh allocation before every call and the state rebased.
 */
static void
bw_test_rl_feed(const bw_test_rl_row_t *row, size_t (*chunk)(void), bool move,
                bw_test_rl_snap_t *out)
{
    bw_http_request_line_t rl;
    u_char                *buf = malloc(row->len + 1);
    u_char                *pos = buf;
    size_t                 avail = 0;
    bw_rc_t                rc = BW_AGAIN;

    assert_non_null(buf);
    memcpy(buf, row->in, row->len);
    bw_http_request_line_init(&rl);

    while (rc == BW_AGAIN && avail < row->len) {
        size_t n = chunk != NULL ? chunk() : 0;
        if (n == 0 || n > row->len - avail) {
            n = row->len - avail;
        }
        avail += n;
        if (move) {
            u_char *nbuf = malloc(row->len + 1);
            assert_non_null(nbuf);
            memcpy(nbuf, buf, row->len);
            bw_http_request_line_rebase(&rl, buf, nbuf);
            pos = nbuf + (pos - buf);
            free(buf);
            buf = nbuf;
        }
        rc = bw_http_parse_request_line(&rl, &pos, buf + avail);
        if (rc == BW_AGAIN) {
            assert_ptr_equal(pos, buf + avail);
        }
    }
    bw_test_rl_snap(out, &rl, rc, (size_t) (pos - buf));
    free(buf);
}

static size_t
bw_test_chunk_one(void)
{
    return 1;
}

static size_t
bw_test_chunk_random(void)
{
    return 1 + bw_test_xorshift(&bw_test_rng) % 7;
}

static void
bw_test_rl_snap_equal(const bw_test_rl_snap_t *a, const bw_test_rl_snap_t *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->consumed, b->consumed);
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->target, b->target);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->version, b->version);
    assert_string_equal(a->method_name, b->method_name);
    assert_string_equal(a->schema, b->schema);
    assert_string_equal(a->host, b->host);
    assert_string_equal(a->port, b->port);
    assert_string_equal(a->uri, b->uri);
    assert_string_equal(a->path, b->path);
    assert_string_equal(a->args, b->args);
    assert_string_equal(a->exten, b->exten);
    assert_string_equal(a->protocol, b->protocol);
    assert_string_equal(a->request, b->request);
}

static void
bw_test_rl_expect_str(const bw_test_rl_row_t *row, const char *field, const char *got,
                      const char *want)
{
    want = want != NULL ? want : "<none>";
    if (strcmp(got, want) != 0) {
        fail_msg("row \"%.*s\": %s is \"%s\", expected \"%s\"", (int) row->len, row->in, field,
                 got, want);
    }
}

static void
bw_test_rl_expect_int(const bw_test_rl_row_t *row, const char *field, size_t got, size_t want)
{
    if (got != want) {
        fail_msg("row \"%.*s\": %s is %zu, expected %zu", (int) row->len, row->in, field, got,
                 want);
    }
}

/* Checks one row's whole parse against the table, then every split against it. */
static void
bw_test_rl_row(const bw_test_rl_row_t *row)
{
    bw_test_rl_snap_t whole, split;

    bw_test_rl_feed(row, NULL, false, &whole);
    if (whole.rc != row->rc) {
        fail_msg("row \"%.*s\": rc %d, expected %d", (int) row->len, row->in, whole.rc, row->rc);
    }

    if (row->rc == BW_OK) {
        const char *line = row->in + strspn(row->in, "\r\n"); /* skipped empty lines */
        char        request[200];
        snprintf(request, sizeof(request), "%.*s", (int) strcspn(line, "\r\n"), line);
        assert_string_equal(whole.request, request);
        bw_test_rl_expect_int(row, "consumed", whole.consumed, row->len);
        bw_test_rl_expect_int(row, "method", whole.method, row->method);
        bw_test_rl_expect_int(row, "target", whole.target, row->target);
        bw_test_rl_expect_int(row, "flags", whole.flags, row->flags);
        bw_test_rl_expect_int(row, "version", whole.version, row->version);
        bw_test_rl_expect_str(row, "method", whole.method_name, row->method_name);
        bw_test_rl_expect_str(row, "schema", whole.schema, row->schema);
        bw_test_rl_expect_str(row, "host", whole.host, row->host);
        bw_test_rl_expect_str(row, "port", whole.port, row->port);
        bw_test_rl_expect_str(row, "uri", whole.uri, row->uri);
        bw_test_rl_expect_str(row, "path", whole.path, row->path);
        bw_test_rl_expect_str(row, "args", whole.args, row->args);
        bw_test_rl_expect_str(row, "exten", whole.exten, row->exten);
    }

    bw_test_rl_feed(row, bw_test_chunk_one, false, &split);
    bw_test_rl_snap_equal(&split, &whole);
    for (int i = 0; i < 4; i++) {
        bw_test_rl_feed(row, bw_test_chunk_random, false, &split);
        bw_test_rl_snap_equal(&split, &whole);
    }
    bw_test_rl_feed(row, bw_test_chunk_one, true, &split);
    bw_test_rl_snap_equal(&split, &whole);
    bw_test_rl_feed(row, bw_test_chunk_random, true, &split);
    bw_test_rl_snap_equal(&split, &whole);
}

#define V11 BW_HTTP_VERSION_11
#define V10 BW_HTTP_VERSION_10
#define CPLX BW_HTTP_URI_COMPLEX
#define QUOT BW_HTTP_URI_QUOTED
#define PLUS BW_HTTP_URI_PLUS
#define EMPTY BW_HTTP_URI_EMPTY_PATH

static const bw_test_rl_row_t bw_test_rl_valid[] = {
    /* origin-form */
    {IN("GET / HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", 0, .uri = "/", .path = "/",
     .version = V11},
    {IN("GET / HTTP/1.0\n"), BW_OK, BW_HTTP_GET, "GET", 0, .uri = "/", .path = "/",
     .version = V10},
    {IN("HEAD /index.html HTTP/1.1\r\n"), BW_OK, BW_HTTP_HEAD, "HEAD", .uri = "/index.html",
     .path = "/index.html", .exten = "html", .version = V11},
    {IN("POST /a/b.tar.gz?x=1&y=2 HTTP/1.1\r\n"), BW_OK, BW_HTTP_POST, "POST",
     .uri = "/a/b.tar.gz?x=1&y=2", .path = "/a/b.tar.gz", .args = "x=1&y=2", .exten = "gz",
     .version = V11},
    {IN("GET /a.b/c HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a.b/c", .path = "/a.b/c",
     .version = V11},
    {IN("GET /a.? HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a.?", .path = "/a.",
     .args = "", .exten = "", .version = V11},
    {IN("GET /?a/b/../c?d%zz HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/?a/b/../c?d%zz",
     .path = "/", .args = "a/b/../c?d%zz", .version = V11},
    {IN("GET /a#frag?x HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a#frag?x", .path = "/a",
     .version = V11},
    {IN("GET /a?b#c HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a?b#c", .path = "/a",
     .args = "b", .version = V11},
    {IN("GET /a|b\"<>^`{}\\ HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a|b\"<>^`{}\\",
     .path = "/a|b\"<>^`{}\\", .version = V11},
    {IN("GET /\xc3\xa9t\xc3\xa9 HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET",
     .uri = "/\xc3\xa9t\xc3\xa9", .path = "/\xc3\xa9t\xc3\xa9", .version = V11},
    {IN("GET /.well-known/x HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/.well-known/x",
     .path = "/.well-known/x", .version = V11},
    {IN("GET /.htaccess HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/.htaccess",
     .path = "/.htaccess", .exten = "htaccess", .version = V11},
    {IN("GET /a/...b HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a/...b",
     .path = "/a/...b", .exten = "b", .version = V11},
    {IN("GET /..a HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/..a", .path = "/..a",
     .exten = "a", .version = V11},
    {IN("GET /a+b HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a+b", .path = "/a+b",
     .flags = PLUS, .version = V11},
    {IN("GET /a?b+c HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a?b+c", .path = "/a",
     .args = "b+c", .version = V11},
    {IN("GET /HTTP/1.1 HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/HTTP/1.1",
     .path = "/HTTP/1.1", .exten = "1", .version = V11},
    {IN("GET / HTTP/1.9\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/", .path = "/",
     .version = 1009},
    /* flags that ask for normalisation */
    {IN("GET /a%20b HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a%20b", .path = "/a%20b",
     .flags = CPLX | QUOT, .version = V11},
    {IN("GET //a HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "//a", .path = "//a",
     .flags = CPLX, .version = V11},
    {IN("GET /a/./b HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a/./b", .path = "/a/./b",
     .flags = CPLX, .version = V11},
    {IN("GET /a/../b HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a/../b",
     .path = "/a/../b", .flags = CPLX, .version = V11},
    {IN("GET /a/. HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a/.", .path = "/a/.",
     .exten = "", .flags = CPLX, .version = V11},
    {IN("GET /a/..?x HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a/..?x", .path = "/a/..",
     .args = "x", .exten = "", .flags = CPLX, .version = V11},
    {IN("GET /a/.#f HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a/.#f", .path = "/a/.",
     .exten = "", .flags = CPLX, .version = V11},
    {IN("GET /a/b. HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a/b.", .path = "/a/b.",
     .exten = "", .version = V11},
    /* absolute-form */
    {IN("GET http://example.com/x?y HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET",
     BW_HTTP_TARGET_ABSOLUTE, "http", "example.com", NULL, "/x?y", "/x", "y", .version = V11},
    {IN("GET HTTP://Ab.c:8080/x.js HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET",
     BW_HTTP_TARGET_ABSOLUTE, "HTTP", "Ab.c", "8080", "/x.js", "/x.js", .exten = "js",
     .version = V11},
    {IN("GET https://[::1]:443/p HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET",
     BW_HTTP_TARGET_ABSOLUTE, "https", "[::1]", "443", "/p", "/p", .version = V11},
    {IN("GET http://[fe80::1] HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", BW_HTTP_TARGET_ABSOLUTE,
     "http", "[fe80::1]", NULL, "", "", .flags = CPLX | EMPTY, .version = V11},
    {IN("GET http://a HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", BW_HTTP_TARGET_ABSOLUTE, "http",
     "a", NULL, "", "", .flags = CPLX | EMPTY, .version = V11},
    {IN("GET http://a?x HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", BW_HTTP_TARGET_ABSOLUTE,
     "http", "a", NULL, "?x", "", "x", .flags = CPLX | EMPTY, .version = V11},
    {IN("GET http://a:/x HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", BW_HTTP_TARGET_ABSOLUTE,
     "http", "a", "", "/x", "/x", .version = V11},
    {IN("GET http://a.b-c.:81 HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", BW_HTTP_TARGET_ABSOLUTE,
     "http", "a.b-c.", "81", "", "", .flags = CPLX | EMPTY, .version = V11},
    {IN("GET ftp+x.y-z://h/ HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", BW_HTTP_TARGET_ABSOLUTE,
     "ftp+x.y-z", "h", NULL, "/", "/", .version = V11},
    {IN("GET http://1.2.3.4//a HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", BW_HTTP_TARGET_ABSOLUTE,
     "http", "1.2.3.4", NULL, "//a", "//a", .flags = CPLX, .version = V11},
    /* asterisk- and authority-form */
    {IN("OPTIONS * HTTP/1.1\r\n"), BW_OK, BW_HTTP_OPTIONS, "OPTIONS", BW_HTTP_TARGET_ASTERISK,
     .uri = "*", .path = "*", .version = V11},
    {IN("CONNECT example.com:443 HTTP/1.1\r\n"), BW_OK, BW_HTTP_CONNECT, "CONNECT",
     BW_HTTP_TARGET_AUTHORITY, NULL, "example.com", "443", "example.com:443", "example.com:443",
     .version = V11},
    {IN("CONNECT [::1]:8443 HTTP/1.1\r\n"), BW_OK, BW_HTTP_CONNECT, "CONNECT",
     BW_HTTP_TARGET_AUTHORITY, NULL, "[::1]", "8443", "[::1]:8443", "[::1]:8443", .version = V11},
    {IN("CONNECT 10.0.0.1:1 HTTP/1.0\r\n"), BW_OK, BW_HTTP_CONNECT, "CONNECT",
     BW_HTTP_TARGET_AUTHORITY, NULL, "10.0.0.1", "1", "10.0.0.1:1", "10.0.0.1:1", .version = V10},
    /* every known method, and unknown ones */
    {IN("PUT /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_PUT, "PUT", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("DELETE /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_DELETE, "DELETE", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("MKCOL /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_MKCOL, "MKCOL", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("COPY /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_COPY, "COPY", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("MOVE /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_MOVE, "MOVE", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("OPTIONS /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_OPTIONS, "OPTIONS", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("PROPFIND /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_PROPFIND, "PROPFIND", .uri = "/x",
     .path = "/x", .version = V11},
    {IN("PROPPATCH /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_PROPPATCH, "PROPPATCH", .uri = "/x",
     .path = "/x", .version = V11},
    {IN("LOCK /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_LOCK, "LOCK", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("UNLOCK /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_UNLOCK, "UNLOCK", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("PATCH /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_PATCH, "PATCH", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("TRACE /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_TRACE, "TRACE", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("PURGE /x HTTP/1.1\r\n"), BW_OK, BW_HTTP_UNKNOWN, "PURGE", .uri = "/x", .path = "/x",
     .version = V11},
    {IN("M-SEARCH_X / HTTP/1.1\r\n"), BW_OK, BW_HTTP_UNKNOWN, "M-SEARCH_X", .uri = "/",
     .path = "/", .version = V11},
    {IN("GETS / HTTP/1.1\r\n"), BW_OK, BW_HTTP_UNKNOWN, "GETS", .uri = "/", .path = "/",
     .version = V11},
    /* empty lines before the request line are skipped (RFC 9112 §2.2) */
    {IN("\r\n\r\nGET / HTTP/1.1\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/", .path = "/",
     .version = V11},
    {IN("\nGET / HTTP/1.1\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/", .path = "/",
     .version = V11},
    /* HTTP/0.9 simple requests */
    {IN("GET /\r\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/", .path = "/", .version = 9},
    {IN("GET /a.txt?q\n"), BW_OK, BW_HTTP_GET, "GET", .uri = "/a.txt?q", .path = "/a.txt",
     .args = "q", .exten = "txt", .version = 9},
};

#define INV_M   BW_HTTP_PARSE_INVALID_METHOD
#define INV_R   BW_HTTP_PARSE_INVALID_REQUEST
#define INV_V   BW_HTTP_PARSE_INVALID_VERSION
#define INV_09  BW_HTTP_PARSE_INVALID_09_METHOD

static const bw_test_rl_row_t bw_test_rl_invalid[] = {
    /* method: [A-Z_-] only */
    {IN("get / HTTP/1.1\r\n"), INV_M},
    {IN("Get / HTTP/1.1\r\n"), INV_M},
    {IN("G(T / HTTP/1.1\r\n"), INV_M},
    {IN("GET\t/ HTTP/1.1\r\n"), INV_M},
    {IN(" GET / HTTP/1.1\r\n"), INV_M},
    {IN("1GET / HTTP/1.1\r\n"), INV_M},
    {IN("GE\0T / HTTP/1.1\r\n"), INV_M},
    {IN("\0GET / HTTP/1.1\r\n"), INV_M},
    {IN("GET\r\n"), INV_M},
    /* exactly one SP between parts */
    {IN("GET  / HTTP/1.1\r\n"), INV_R},
    {IN("GET /  HTTP/1.1\r\n"), INV_R},
    {IN("GET / HTTP/1.1 \r\n"), INV_R},
    {IN("GET /\tHTTP/1.1\r\n"), INV_R},
    {IN("GET / HTTP/1.1\tx\r\n"), INV_R},
    /* target characters */
    {IN("GET /a\x01 HTTP/1.1\r\n"), INV_R},
    {IN("GET /a\x7f HTTP/1.1\r\n"), INV_R},
    {IN("GET /a\0b HTTP/1.1\r\n"), INV_R},
    {IN("GET /a?b\x1f HTTP/1.1\r\n"), INV_R},
    {IN("GET /a#\x00 HTTP/1.1\r\n"), INV_R},
    {IN("GET /a b HTTP/1.1\r\n"), INV_R},
    {IN("GET a HTTP/1.1\r\n"), INV_R},
    {IN("GET a:80 HTTP/1.1\r\n"), INV_R},
    {IN("GET * HTTP/1.1\r\n"), INV_R},
    {IN("OPTIONS *x HTTP/1.1\r\n"), INV_R},
    {IN("GET ?a HTTP/1.1\r\n"), INV_R},
    {IN("GET %2F HTTP/1.1\r\n"), INV_R},
    /* absolute-form */
    {IN("GET http:/a/x HTTP/1.1\r\n"), INV_R},
    {IN("GET http:a HTTP/1.1\r\n"), INV_R},
    {IN("GET http:// HTTP/1.1\r\n"), INV_R},
    {IN("GET http:///x HTTP/1.1\r\n"), INV_R},
    {IN("GET http://u@a/ HTTP/1.1\r\n"), INV_R},
    {IN("GET http://a_b/ HTTP/1.1\r\n"), INV_R},
    {IN("GET http://a:8x/ HTTP/1.1\r\n"), INV_R},
    {IN("GET http://a:123456/ HTTP/1.1\r\n"), INV_R},
    {IN("GET http://[::1/ HTTP/1.1\r\n"), INV_R},
    {IN("GET http://[::1]x/ HTTP/1.1\r\n"), INV_R},
    {IN("GET http://[]/ HTTP/1.1\r\n"), INV_R},
    {IN("GET h$ttp://a/ HTTP/1.1\r\n"), INV_R},
    /* authority-form only for CONNECT, and CONNECT only with it */
    {IN("CONNECT / HTTP/1.1\r\n"), INV_R},
    {IN("CONNECT http://a/ HTTP/1.1\r\n"), INV_R},
    {IN("CONNECT a HTTP/1.1\r\n"), INV_R},
    {IN("CONNECT a: HTTP/1.1\r\n"), INV_R},
    {IN("CONNECT a:443/ HTTP/1.1\r\n"), INV_R},
    /* version */
    {IN("GET / HTTP/2.0\r\n"), INV_V},
    {IN("GET / HTTP/3.0\r\n"), INV_V},
    {IN("GET / HTTP/10.0\r\n"), INV_V},
    {IN("GET / HTTP/2.10\r\n"), INV_V},
    {IN("GET / HTTP/0.9\r\n"), INV_R},
    {IN("GET / HTTP/01.1\r\n"), INV_R},
    {IN("GET / HTTP/1.10\r\n"), INV_R},
    {IN("GET / HTTP/1.\r\n"), INV_R},
    {IN("GET / HTTP/1\r\n"), INV_R},
    {IN("GET / HTTP/\r\n"), INV_R},
    {IN("GET / http/1.1\r\n"), INV_R},
    {IN("GET / HTTPS/1.1\r\n"), INV_R},
    {IN("GET / HTTP/1.1x\r\n"), INV_R},
    {IN("GET / HTTP/100.1\r\n"), INV_R},
    {IN("GET / \r\n"), INV_R},
    /* line ends: bare CR */
    {IN("GET / HTTP/1.1\r\r\n"), INV_R},
    {IN("GET / HTTP/1.1\rX"), INV_R},
    {IN("\rGET / HTTP/1.1\r\n"), INV_R},
    {IN("GET /\rx"), INV_R},
    /* HTTP/0.9 is GET only */
    {IN("POST /\r\n"), INV_09},
    {IN("HEAD /\n"), INV_09},
};

static void
test_request_line_valid_forms(void **state)
{
    (void) state;
    for (size_t i = 0; i < bw_nelems(bw_test_rl_valid); i++) {
        bw_test_rl_row(&bw_test_rl_valid[i]);
    }
}

static void
test_request_line_rejections(void **state)
{
    (void) state;
    for (size_t i = 0; i < bw_nelems(bw_test_rl_invalid); i++) {
        bw_test_rl_row(&bw_test_rl_invalid[i]);
    }
}

/* nginx's answers: 505 for a major version above 1, 400 for the rest. */
static void
test_request_line_error_status_and_text(void **state)
{
    (void) state;
    assert_int_equal(bw_http_parse_error_status(INV_M), 400);
    assert_int_equal(bw_http_parse_error_status(INV_R), 400);
    assert_int_equal(bw_http_parse_error_status(INV_V), 505);
    assert_int_equal(bw_http_parse_error_status(INV_09), 400);
    assert_int_equal(bw_http_parse_error_status(BW_HTTP_PARSE_UNKNOWN_TE), 501);
    assert_int_equal(bw_http_parse_error_status(BW_HTTP_PARSE_INVALID_HEADER), 400);
    assert_int_equal(bw_http_parse_error_status(BW_HTTP_PARSE_INVALID_CHUNKED), 400);
    assert_int_equal(bw_http_parse_error_status(BW_HTTP_PARSE_INVALID_HOST), 400);
    assert_string_equal(bw_http_parse_error_text(INV_M), "client sent invalid method");
    assert_string_equal(bw_http_parse_error_text(INV_R), "client sent invalid request");
    assert_string_equal(bw_http_parse_error_text(INV_V), "client sent invalid version");
    assert_string_equal(bw_http_parse_error_text(INV_09),
                        "client sent invalid method in HTTP/0.9 request");
    assert_string_equal(bw_http_parse_error_text(BW_HTTP_PARSE_INVALID_HOST),
                        "client sent invalid host header");
}

/* The error position points at the offending byte (for the log line). */
static void
test_request_line_error_points_at_bad_byte(void **state)
{
    (void) state;
    static const struct {
        const char *in;
        size_t      at;
    } rows[] = {
        {"GET /a\x01 HTTP/1.1\r\n", 6},
        {"get / HTTP/1.1\r\n", 0},
        {"GET  / HTTP/1.1\r\n", 4},
        {"GET / HTTP/1.1\r\r\n", 15},
        {"GET / HTTP/2.0\r\n", 14},
    };
    for (size_t i = 0; i < bw_nelems(rows); i++) {
        bw_http_request_line_t rl;
        u_char                *buf = (u_char *) rows[i].in;
        u_char                *pos = buf;
        bw_http_request_line_init(&rl);
        assert_true(bw_http_parse_request_line(&rl, &pos, buf + strlen(rows[i].in)) > 0);
        assert_int_equal(pos - buf, rows[i].at);
    }
}

/* A pipelined request stays unconsumed; the same state parses it next. */
static void
test_request_line_pipelined_and_reused(void **state)
{
    (void) state;
    u_char                 buf[] = "GET /a?x HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.0\r\n";
    u_char                *last = buf + sizeof(buf) - 1;
    u_char                *pos = buf;
    bw_http_request_line_t rl;

    bw_http_request_line_init(&rl);
    assert_int_equal(bw_http_parse_request_line(&rl, &pos, last), BW_OK);
    assert_ptr_equal(pos, buf + 19);
    assert_int_equal(rl.method, BW_HTTP_GET);
    assert_non_null(rl.args_start);

    pos = (u_char *) strstr((char *) buf, "POST");
    assert_int_equal(bw_http_parse_request_line(&rl, &pos, last), BW_OK);
    assert_ptr_equal(pos, last);
    assert_int_equal(rl.method, BW_HTTP_POST);
    assert_int_equal(rl.http_version, BW_HTTP_VERSION_10);
    assert_null(rl.args_start); /* outputs of the previous line were reset */
    assert_null(rl.exten_start);
    assert_int_equal(rl.flags, 0);
}

/* Feeding nothing is harmless; a partial line reports BW_AGAIN and consumes all. */
static void
test_request_line_again_consumes_everything(void **state)
{
    (void) state;
    u_char                 buf[] = "GET /abc HTTP/1.";
    u_char                *pos = buf;
    bw_http_request_line_t rl;

    bw_http_request_line_init(&rl);
    assert_int_equal(bw_http_parse_request_line(&rl, &pos, buf), BW_AGAIN);
    assert_ptr_equal(pos, buf);
    assert_int_equal(bw_http_parse_request_line(&rl, &pos, buf + sizeof(buf) - 1), BW_AGAIN);
    assert_ptr_equal(pos, buf + sizeof(buf) - 1);
    assert_ptr_equal(rl.request_start, buf);
    assert_ptr_equal(rl.uri_end, buf + 8);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_line_valid_forms),
        cmocka_unit_test(test_request_line_rejections),
        cmocka_unit_test(test_request_line_error_status_and_text),
        cmocka_unit_test(test_request_line_error_points_at_bad_byte),
        cmocka_unit_test(test_request_line_pipelined_and_reused),
        cmocka_unit_test(test_request_line_again_consumes_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
