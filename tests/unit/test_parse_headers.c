/*
 * test_parse_headers.c -- the header-line parser (one row per line: name,
 * value with OWS trimmed, flags, hash; every rejection), whole header blocks
 * fed whole, byte by byte, in random splits and with the buffer moved; the
 * ignore_invalid_headers / underscores_in_headers verdict; and the value
 * checks for Content-Length, Transfer-Encoding and Host.
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
#include "pool.h"
#include "support.h"

#define IN(s) .in = (s), .len = sizeof(s) - 1

#define INV  BW_HTTP_PARSE_INVALID_HEADER
#define UND  BW_HTTP_HEADER_UNDERSCORE
#define NAN_ BW_HTTP_HEADER_NONALNUM
#define NTOK BW_HTTP_HEADER_NOT_TOKEN

static uint64_t bw_test_rng = 0x853c49e6748fea9bULL;

/* ---- whole blocks: a list of parsed fields, then the final code ---- */

#define BW_TEST_MAX_FIELDS 16

typedef struct {
    char      name[64];
    char      value[128];
    unsigned  flags;
    bw_uint_t hash;
} bw_test_field_t;

typedef struct {
    bw_rc_t         rc;       /* BW_DONE or the error */
    size_t          consumed; /* offset of *pos after the last call */
    size_t          n;
    bw_test_field_t fields[BW_TEST_MAX_FIELDS];
} bw_test_block_t;

enum { BW_FEED_WHOLE, BW_FEED_ONE, BW_FEED_RANDOM };

/*
 * Parses a header block fed in pieces (whole, one byte, 1..9 bytes). When
 * move is set the buffer moves to a fresh allocation before every call.
 */
static void
bw_test_parse_block(const char *in, size_t len, int feed, bool move, bw_test_block_t *out)
{
    bw_http_header_line_t h;
    u_char               *buf = malloc(len + 1);
    u_char               *pos = buf;
    size_t                avail = 0;
    bw_rc_t               rc = BW_AGAIN;

    assert_non_null(buf);
    memcpy(buf, in, len);
    memset(&h, 0, sizeof(h));
    memset(out, 0, sizeof(*out));

    for (;;) {
        if (pos == buf + avail) {
            if (avail == len) {
                break;
            }
            size_t n = feed == BW_FEED_WHOLE ? len
                       : feed == BW_FEED_ONE ? 1
                                             : 1 + bw_test_xorshift(&bw_test_rng) % 9;
            avail = bw_min(len, avail + n);
        }
        if (move) {
            u_char *nbuf = malloc(len + 1);
            assert_non_null(nbuf);
            memcpy(nbuf, buf, len);
            bw_http_header_line_rebase(&h, buf, nbuf);
            pos = nbuf + (pos - buf);
            free(buf);
            buf = nbuf;
        }
        rc = bw_http_parse_header_line(&h, &pos, buf + avail);
        if (rc == BW_AGAIN) {
            assert_ptr_equal(pos, buf + avail);
            continue;
        }
        if (rc != BW_OK) {
            break;
        }
        assert_true(out->n < BW_TEST_MAX_FIELDS);
        bw_test_field_t *f = &out->fields[out->n++];
        snprintf(f->name, sizeof(f->name), "%.*s", (int) (h.name_end - h.name_start),
                 (char *) h.name_start);
        snprintf(f->value, sizeof(f->value), "%.*s", (int) (h.value_end - h.value_start),
                 (char *) h.value_start);
        f->flags = h.flags;
        f->hash = h.hash;
        assert_true(h.value_start >= h.name_end);
        assert_true(h.value_end >= h.value_start);
    }
    out->rc = rc;
    out->consumed = (size_t) (pos - buf);
    free(buf);
}

static void
bw_test_block_equal(const bw_test_block_t *a, const bw_test_block_t *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->consumed, b->consumed);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->fields[i].name, b->fields[i].name);
        assert_string_equal(a->fields[i].value, b->fields[i].value);
        assert_int_equal(a->fields[i].flags, b->fields[i].flags);
        assert_int_equal(a->fields[i].hash, b->fields[i].hash);
    }
}

/* Parses whole, then checks every other way of feeding gives the same. */
static void
bw_test_block_all_feeds(const char *in, size_t len, bw_test_block_t *whole)
{
    bw_test_block_t other;

    bw_test_parse_block(in, len, BW_FEED_WHOLE, false, whole);
    bw_test_parse_block(in, len, BW_FEED_ONE, false, &other);
    bw_test_block_equal(&other, whole);
    bw_test_parse_block(in, len, BW_FEED_ONE, true, &other);
    bw_test_block_equal(&other, whole);
    for (int i = 0; i < 4; i++) {
        bw_test_parse_block(in, len, BW_FEED_RANDOM, i & 1, &other);
        bw_test_block_equal(&other, whole);
    }
}

/* ---- one row per line: the line, then "\r\n" ends the block ---- */

typedef struct {
    const char *in;
    size_t      len;
    bw_rc_t     rc; /* of the first call: BW_OK, BW_DONE or an error */
    const char *name;
    const char *value;
    unsigned    flags;
} bw_test_hl_row_t;

static const bw_test_hl_row_t bw_test_hl_rows[] = {
    {IN("Host: example.com\r\n"), BW_OK, "Host", "example.com"},
    {IN("Host:example.com\r\n"), BW_OK, "Host", "example.com"},
    {IN("Host: example.com\n"), BW_OK, "Host", "example.com"},
    {IN("X-Foo:   b c  \t\r\n"), BW_OK, "X-Foo", "b c"},
    {IN("X-Foo: \t b\tc\r\n"), BW_OK, "X-Foo", "b\tc"},
    {IN("X-Empty:\r\n"), BW_OK, "X-Empty", ""},
    {IN("X-Empty:   \t \r\n"), BW_OK, "X-Empty", ""},
    {IN("X-Empty:\n"), BW_OK, "X-Empty", ""},
    {IN("x-lower-123: v\r\n"), BW_OK, "x-lower-123", "v"},
    {IN("CONTENT-LENGTH: 10\r\n"), BW_OK, "CONTENT-LENGTH", "10"},
    {IN("User-Agent: Mozilla/5.0 (X11; Linux) \"q\" \\ ~\r\n"), BW_OK, "User-Agent",
     "Mozilla/5.0 (X11; Linux) \"q\" \\ ~"},
    {IN("X-Utf8: caf\xc3\xa9 \xff\r\n"), BW_OK, "X-Utf8", "caf\xc3\xa9 \xff"},
    {IN("X-Colon: a:b: c\r\n"), BW_OK, "X-Colon", "a:b: c"},
    /* values longer than one 16-byte vector step */
    {IN("X-Long: 0123456789abcdef0123456789abcdef \t  \t\t    \r\n"), BW_OK, "X-Long",
     "0123456789abcdef0123456789abcdef"},
    {IN("X-Long: \t 0123456789abcdef\t0123456789abcdef\xff\x80 x\r\n"), BW_OK, "X-Long",
     "0123456789abcdef\t0123456789abcdef\xff\x80 x"},
    {IN("X-Long:                                     v\n"), BW_OK, "X-Long", "v"},
    /* names nginx calls invalid (flags), and names that are not tokens */
    {IN("X_Foo: 1\r\n"), BW_OK, "X_Foo", "1", UND},
    {IN("X.Foo: 1\r\n"), BW_OK, "X.Foo", "1", NAN_},
    {IN("X!#$%&'*+^`|~: 1\r\n"), BW_OK, "X!#$%&'*+^`|~", "1", NAN_},
    {IN("X@Foo: 1\r\n"), BW_OK, "X@Foo", "1", NAN_ | NTOK},
    {IN("X(Foo): 1\r\n"), BW_OK, "X(Foo)", "1", NAN_ | NTOK},
    {IN("X/Foo_Bar: 1\r\n"), BW_OK, "X/Foo_Bar", "1", NAN_ | NTOK | UND},
    {IN("X\xc3\xa9: 1\r\n"), BW_OK, "X\xc3\xa9", "1", NAN_ | NTOK},
    /* the end of the block */
    {IN("\r\n"), BW_DONE},
    {IN("\n"), BW_DONE},
    /* rejections (RFC 9112 §5 and bulwark's strictness) */
    {IN("X-Foo : b\r\n"), INV},
    {IN("X-Foo\t: b\r\n"), INV},
    {IN("X Foo: b\r\n"), INV},
    {IN(" X-Foo: b\r\n"), INV},
    {IN("\tX-Foo: b\r\n"), INV},
    {IN(": x\r\n"), INV},
    {IN("X-Foo\r\n"), INV},
    {IN("X-Foo\n"), INV},
    {IN("X-F\x01oo: b\r\n"), INV},
    {IN("X-F\x7foo: b\r\n"), INV},
    {IN("X-F\0oo: b\r\n"), INV},
    {IN("X-Foo: b\0c\r\n"), INV},
    {IN("X-Foo: \0\r\n"), INV},
    {IN("X-Foo: b\x01\r\n"), INV},
    {IN("X-Foo: \x1f b\r\n"), INV},
    {IN("X-Foo: b\x7f\r\n"), INV},
    {IN("X-Foo: b\rc\r\n"), INV},
    {IN("X-Foo: b\r\r\n"), INV},
    {IN("X-Foo: b \r \r\n"), INV},
    {IN("X-Foo:\r\r\n"), INV},
    {IN("X-Long: 0123456789abcdef0123456789ab\x01" "cdef\r\n"), INV},
    {IN("X-Long: 0123456789abcdef0123456789ab\x7f\r\n"), INV},
    {IN("X-Long: 0123456789abcdef0123456789abcdef\0\r\n"), INV},
    {IN("X-Long: 0123456789abcdef 0123456789abcdef\rX\r\n"), INV},
    {IN("\r\r\n"), INV},
    {IN("\rX"), INV},
};

static void
bw_test_hl_row(const bw_test_hl_row_t *row)
{
    bw_test_block_t whole;
    char            in[256];

    /* each row is followed by the end of the block, so OK rows end in DONE */
    assert_true(row->len + 2 < sizeof(in));
    memcpy(in, row->in, row->len);
    memcpy(in + row->len, "\r\n", 2);
    bw_test_block_all_feeds(in, row->len + 2, &whole);

    if (row->rc == BW_OK) {
        if (whole.rc != BW_DONE || whole.n != 1) {
            fail_msg("row \"%.*s\": rc %d with %zu fields", (int) row->len, row->in, whole.rc,
                     whole.n);
        }
        assert_int_equal(whole.consumed, row->len + 2);
        assert_string_equal(whole.fields[0].name, row->name);
        assert_string_equal(whole.fields[0].value, row->value);
        assert_int_equal(whole.fields[0].flags, row->flags);
        assert_int_equal(whole.fields[0].hash,
                         bw_http_parse_hash_lc((const u_char *) row->name, strlen(row->name)));
        return;
    }
    if (whole.rc != row->rc || whole.n != 0) {
        fail_msg("row \"%.*s\": rc %d with %zu fields, expected %d", (int) row->len, row->in,
                 whole.rc, whole.n, row->rc);
    }
    if (row->rc == BW_DONE) {
        assert_int_equal(whole.consumed, row->len);
    }
}

static void
test_header_line_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < bw_nelems(bw_test_hl_rows); i++) {
        bw_test_hl_row(&bw_test_hl_rows[i]);
    }
}

/* A real header block: every field, in order, then BW_DONE at the empty line. */
static void
test_header_block_parsed_in_any_split(void **state)
{
    (void) state;
    static const char in[] = "Host: example.com:8080\r\n"
                             "User-Agent: curl/8.0 \r\n"
                             "Accept: */*\n"
                             "X_Under: 1\r\n"
                             "Cookie: a=b; c=d\r\n"
                             "Content-Length: 0\r\n"
                             "\r\n"
                             "GET /next HTTP/1.1\r\n";
    bw_test_block_t whole;

    bw_test_block_all_feeds(in, sizeof(in) - 1, &whole);
    assert_int_equal(whole.rc, BW_DONE);
    assert_int_equal(whole.consumed, strstr(in, "GET /next") - in); /* pipelined bytes left */
    assert_int_equal(whole.n, 6);
    assert_string_equal(whole.fields[0].name, "Host");
    assert_string_equal(whole.fields[0].value, "example.com:8080");
    assert_string_equal(whole.fields[1].value, "curl/8.0");
    assert_string_equal(whole.fields[2].value, "*/*");
    assert_int_equal(whole.fields[3].flags, UND);
    assert_string_equal(whole.fields[4].value, "a=b; c=d");
    assert_string_equal(whole.fields[5].name, "Content-Length");
}

/* An error in the middle of a block stops at the bad line, however it is fed. */
static void
test_header_block_error_after_good_lines(void **state)
{
    (void) state;
    static const char in[] = "Host: a\r\nX-Ok: 1\r\n folded\r\n\r\n";
    bw_test_block_t   whole;

    bw_test_block_all_feeds(in, sizeof(in) - 1, &whole);
    assert_int_equal(whole.rc, INV);
    assert_int_equal(whole.n, 2);
    assert_int_equal(whole.consumed, strstr(in, " folded") - in); /* at the SP */
}

/* The hash computed while scanning equals the exported lowercase hash. */
static void
test_header_hash_matches_lowercase_hash(void **state)
{
    (void) state;
    static const char *names[] = {"Host", "HOST", "host", "Content-Length", "X-Forwarded-For",
                                  "x_under_score", "A", "If-Modified-Since", "X.Odd@Name"};
    for (size_t i = 0; i < bw_nelems(names); i++) {
        char            line[128];
        bw_test_block_t b;
        int             n = snprintf(line, sizeof(line), "%s: v\r\n\r\n", names[i]);

        bw_test_parse_block(line, (size_t) n, BW_FEED_ONE, false, &b);
        assert_int_equal(b.rc, BW_DONE);
        assert_int_equal(b.fields[0].hash,
                         bw_http_parse_hash_lc((const u_char *) names[i], strlen(names[i])));
    }
    assert_int_equal(bw_http_parse_hash_lc((const u_char *) "HoSt", 4),
                     bw_http_parse_hash_lc((const u_char *) "host", 4));
    assert_int_not_equal(bw_http_parse_hash_lc((const u_char *) "host", 4),
                         bw_http_parse_hash_lc((const u_char *) "hosu", 4));
    /* the documented step: h * 31 + c */
    assert_int_equal(bw_http_parse_hash_lc((const u_char *) "Ab", 2), ('a' * 31) + 'b');
}

/* ignore_invalid_headers / underscores_in_headers, as nginx applies them. */
static void
test_header_verdict_follows_nginx_directives(void **state)
{
    (void) state;
    static const struct {
        unsigned flags;
        bool     ignore, underscores;
        bw_rc_t  rc;
    } rows[] = {
        {0, true, false, BW_OK},
        {0, false, false, BW_OK},
        {UND, true, false, BW_DECLINED},
        {UND, true, true, BW_OK},
        {UND, false, false, BW_OK},
        {NAN_, true, true, BW_DECLINED},
        {NAN_, false, false, BW_OK},
        {NAN_ | NTOK, true, true, BW_DECLINED},
        {NAN_ | NTOK, false, true, INV},
        {NAN_ | NTOK | UND, false, false, INV},
    };
    for (size_t i = 0; i < bw_nelems(rows); i++) {
        bw_http_header_line_t h;
        memset(&h, 0, sizeof(h));
        h.flags = rows[i].flags;
        assert_int_equal(bw_http_header_line_verdict(&h, rows[i].ignore, rows[i].underscores),
                         rows[i].rc);
    }
}

/* ---- value checks ---- */

static void
test_content_length_values(void **state)
{
    (void) state;
    static const struct {
        const char *in;
        int64_t     n;
    } rows[] = {
        {"0", 0},
        {"10", 10},
        {"007", 7},
        {"9223372036854775807", INT64_MAX},
        {"9223372036854775808", -1},
        {"99999999999999999999", -1},
        {"", -1},
        {"+3", -1},
        {"-3", -1},
        {" 3", -1},
        {"3 ", -1},
        {"3,3", -1},
        {"0x10", -1},
        {"1e3", -1},
    };
    for (size_t i = 0; i < bw_nelems(rows); i++) {
        bw_str_t v = {strlen(rows[i].in), (u_char *) rows[i].in};
        assert_int_equal(bw_http_parse_content_length(&v), rows[i].n);
    }
}

static void
test_transfer_encoding_values(void **state)
{
    (void) state;
    static const struct {
        const char *in;
        bw_rc_t     rc;
    } rows[] = {
        {"chunked", BW_OK},
        {"Chunked", BW_OK},
        {"CHUNKED", BW_OK},
        {"gzip", BW_HTTP_PARSE_UNKNOWN_TE},
        {"identity", BW_HTTP_PARSE_UNKNOWN_TE},
        {"chunked, chunked", BW_HTTP_PARSE_UNKNOWN_TE},
        {"gzip, chunked", BW_HTTP_PARSE_UNKNOWN_TE},
        {"chunked;q=1", BW_HTTP_PARSE_UNKNOWN_TE},
        {"chunke", BW_HTTP_PARSE_UNKNOWN_TE},
        {"", BW_HTTP_PARSE_UNKNOWN_TE},
    };
    for (size_t i = 0; i < bw_nelems(rows); i++) {
        bw_str_t v = {strlen(rows[i].in), (u_char *) rows[i].in};
        assert_int_equal(bw_http_parse_transfer_encoding(&v), rows[i].rc);
    }
    assert_int_equal(bw_http_parse_error_status(BW_HTTP_PARSE_UNKNOWN_TE), 501);
}

static void
test_host_validation(void **state)
{
    (void) state;
    static const struct {
        const char *in;
        bw_rc_t     rc;
        const char *out;
    } rows[] = {
        {"example.com", BW_OK, "example.com"},
        {"Example.COM", BW_OK, "example.com"},
        {"example.com:8080", BW_OK, "example.com"},
        {"example.com.", BW_OK, "example.com"},
        {"A.B.:80", BW_OK, "a.b"},
        {"a:", BW_OK, "a"},
        {"[::1]", BW_OK, "[::1]"},
        {"[::1]:8080", BW_OK, "[::1]"},
        {"[FE80::A]:1", BW_OK, "[fe80::a]"},
        {"a_b.c", BW_OK, "a_b.c"},
        {"caf\xc3\xa9.fr", BW_OK, "caf\xc3\xa9.fr"},
        {"1.2.3.4", BW_OK, "1.2.3.4"},
        {"", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {".", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {":80", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"..", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a..b", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a.b..", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a/b", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a\\b", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a b", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a\tb", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a\x01", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a\x7f", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a:xyz", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a:80:90", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"[::1", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"[::1]x", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"[::g]", BW_HTTP_PARSE_INVALID_HOST, NULL},
        {"a[b]", BW_HTTP_PARSE_INVALID_HOST, NULL},
    };
    bw_pool_t *pool = bw_pool_create(4096, NULL);
    assert_non_null(pool);

    for (size_t i = 0; i < bw_nelems(rows); i++) {
        u_char   copy[64];
        size_t   n = strlen(rows[i].in);
        bw_str_t h = {n, (u_char *) rows[i].in};

        assert_int_equal(bw_http_validate_host(&h, pool), rows[i].rc);
        if (rows[i].rc != BW_OK) {
            continue;
        }
        assert_int_equal(h.len, strlen(rows[i].out));
        assert_memory_equal(h.data, rows[i].out, h.len);

        /* without a pool the input is lowercased in place */
        memcpy(copy, rows[i].in, n);
        h.data = copy;
        h.len = n;
        assert_int_equal(bw_http_validate_host(&h, NULL), BW_OK);
        assert_ptr_equal(h.data, copy);
        assert_memory_equal(h.data, rows[i].out, h.len);
    }

    /* the NUL byte, which strlen cannot carry */
    bw_str_t nul = {3, (u_char *) "a\0b"};
    assert_int_equal(bw_http_validate_host(&nul, pool), BW_HTTP_PARSE_INVALID_HOST);

    /* no uppercase: the result points into the input (no copy) */
    bw_str_t same = {10, (u_char *) "a.example:1"};
    same.len = 11;
    const u_char *orig = same.data;
    assert_int_equal(bw_http_validate_host(&same, pool), BW_OK);
    assert_ptr_equal(same.data, orig);
    assert_int_equal(same.len, 9);

    bw_pool_destroy(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_line_table),
        cmocka_unit_test(test_header_block_parsed_in_any_split),
        cmocka_unit_test(test_header_block_error_after_good_lines),
        cmocka_unit_test(test_header_hash_matches_lowercase_hash),
        cmocka_unit_test(test_header_verdict_follows_nginx_directives),
        cmocka_unit_test(test_content_length_values),
        cmocka_unit_test(test_transfer_encoding_values),
        cmocka_unit_test(test_host_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
