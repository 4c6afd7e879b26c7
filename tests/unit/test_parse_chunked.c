/*
 * test_parse_chunked.c -- the chunked decoder against a table of bodies:
 * sizes (case, leading zeros, overflow), extensions, trailers, line ends,
 * every rejection. Each row is decoded whole, one byte at a time, in random
 * splits, and with every call given a fresh copy of only the unconsumed
 * bytes (as a caller that recycles its buffers would): the decoded body,
 * result and consumed length must agree.
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
#define INV   BW_HTTP_PARSE_INVALID_CHUNKED

static uint64_t bw_test_rng = 0xda942042e4dd58b5ULL;

typedef struct {
    const char *in;
    size_t      len;
    bw_rc_t     rc;       /* BW_DONE, BW_AGAIN (input ends early) or INV */
    const char *body;     /* decoded bytes (for DONE and AGAIN rows) */
    int64_t     total;    /* sum of announced sizes (for DONE and AGAIN rows) */
    size_t      consumed; /* 0: the whole input (for DONE rows) */
    size_t      body_len; /* 0: strlen(body) */
} bw_test_ch_row_t;

typedef struct {
    bw_rc_t rc;
    size_t  consumed;
    int64_t total;
    size_t  body_len;
    u_char  body[256];
} bw_test_ch_result_t;

enum { BW_FEED_WHOLE, BW_FEED_ONE, BW_FEED_RANDOM };

/*
 * Decodes in[0..len) fed in pieces. With fresh set, each call sees a new
 * allocation holding only the bytes not consumed yet, freed right after.
 */
static void
bw_test_ch_decode(const char *in, size_t len, int feed, bool fresh, bw_test_ch_result_t *out)
{
    bw_http_chunked_t ctx;
    size_t            done = 0;  /* bytes consumed */
    size_t            avail = 0; /* bytes arrived */
    bw_rc_t           rc = BW_AGAIN;

    memset(&ctx, 0, sizeof(ctx));
    memset(out, 0, sizeof(*out));

    for (;;) {
        if (done == avail && avail == len && rc == BW_AGAIN) {
            break; /* (after BW_OK, one more call must say BW_AGAIN) */
        }
        if (done == avail && avail < len) {
            size_t n = feed == BW_FEED_WHOLE ? len
                       : feed == BW_FEED_ONE ? 1
                                             : 1 + bw_test_xorshift(&bw_test_rng) % 11;
            avail = bw_min(len, avail + n);
        }
        size_t  n = avail - done;
        u_char *buf = fresh ? malloc(n + 1) : (u_char *) in + done;
        assert_non_null(buf);
        if (fresh) {
            memcpy(buf, in + done, n);
        }
        u_char *pos = buf;

        rc = bw_http_parse_chunked(&ctx, &pos, buf + n);
        assert_true(pos >= buf && pos <= buf + n);
        done += (size_t) (pos - buf);
        if (rc == BW_OK) {
            assert_true(ctx.data_len > 0);
            assert_ptr_equal(ctx.data + ctx.data_len, pos);
            assert_true(out->body_len + ctx.data_len <= sizeof(out->body));
            memcpy(out->body + out->body_len, ctx.data, ctx.data_len);
            out->body_len += ctx.data_len;
        } else if (rc == BW_AGAIN) {
            assert_ptr_equal(pos, buf + n);
        }
        if (fresh) {
            free(buf);
        }
        if (rc != BW_OK && rc != BW_AGAIN) {
            break;
        }
    }
    out->rc = rc;
    out->consumed = done;
    out->total = ctx.total;
}

static void
bw_test_ch_equal(const bw_test_ch_result_t *a, const bw_test_ch_result_t *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->consumed, b->consumed);
    assert_int_equal(a->total, b->total);
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
}

static void
bw_test_ch_row(const bw_test_ch_row_t *row)
{
    bw_test_ch_result_t whole, other;

    bw_test_ch_decode(row->in, row->len, BW_FEED_WHOLE, false, &whole);
    if (whole.rc != row->rc) {
        fail_msg("row \"%.*s\": rc %d, expected %d", (int) bw_min(row->len, 60), row->in,
                 whole.rc, row->rc);
    }
    if (row->rc != INV) {
        const char *body = row->body != NULL ? row->body : "";
        assert_int_equal(whole.body_len, row->body_len ? row->body_len : strlen(body));
        assert_memory_equal(whole.body, body, whole.body_len);
        assert_int_equal(whole.total, row->total);
    }
    if (row->rc == BW_DONE) {
        assert_int_equal(whole.consumed, row->consumed ? row->consumed : row->len);
    }

    bw_test_ch_decode(row->in, row->len, BW_FEED_ONE, false, &other);
    bw_test_ch_equal(&other, &whole);
    bw_test_ch_decode(row->in, row->len, BW_FEED_ONE, true, &other);
    bw_test_ch_equal(&other, &whole);
    for (int i = 0; i < 4; i++) {
        bw_test_ch_decode(row->in, row->len, BW_FEED_RANDOM, i & 1, &other);
        bw_test_ch_equal(&other, &whole);
    }
}

static const bw_test_ch_row_t bw_test_ch_rows[] = {
    {IN("0\r\n\r\n"), BW_DONE, "", 0},
    {IN("0\n\n"), BW_DONE, "", 0},
    {IN("3\r\nabc\r\n0\r\n\r\n"), BW_DONE, "abc", 3},
    {IN("3\nabc\n0\n\n"), BW_DONE, "abc", 3},
    {IN("1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n"), BW_DONE, "abcdef", 6},
    {IN("A\r\n0123456789\r\n0\r\n\r\n"), BW_DONE, "0123456789", 10},
    {IN("a\r\n0123456789\r\n0\r\n\r\n"), BW_DONE, "0123456789", 10},
    {IN("1F\r\n0123456789012345678901234567890\r\n0\r\n\r\n"), BW_DONE,
     "0123456789012345678901234567890", 31},
    {IN("0003\r\nabc\r\n00\r\n\r\n"), BW_DONE, "abc", 3},
    {IN("0000000000000000000000000003\r\nabc\r\n0\r\n\r\n"), BW_DONE, "abc", 3},
    {IN("3\r\n\r\n\r\r\n0\r\n\r\n"), BW_DONE, "\r\n\r", 3}, /* data is opaque */
    {IN("3\r\n\0\0\0\r\n0\r\n\r\n"), BW_DONE, "\0\0\0", 3, 0, 3},
    /* extensions (RFC 9112 §7.1.1) */
    {IN("3;foo=bar\r\nabc\r\n0\r\n\r\n"), BW_DONE, "abc", 3},
    {IN("3;foo\r\nabc\r\n0;last\r\n\r\n"), BW_DONE, "abc", 3},
    {IN("3 ; a = \"x y\\\"z;\" ;b\r\nabc\r\n0\r\n\r\n"), BW_DONE, "abc", 3},
    {IN("3;a=\"\"\r\nabc\r\n0\r\n\r\n"), BW_DONE, "abc", 3},
    {IN("3\t;x=y\r\nabc\r\n0\r\n\r\n"), BW_DONE, "abc", 3},
    {IN("3 \r\nabc\r\n0\r\n\r\n"), BW_DONE, "abc", 3},
    /* trailers are checked and dropped */
    {IN("3\r\nabc\r\n0\r\nX-T: 1\r\nY: two words\r\n\r\n"), BW_DONE, "abc", 3},
    {IN("0\r\nX-T: 1\n\n"), BW_DONE, "", 0},
    /* what follows the body stays unconsumed */
    {IN("0\r\n\r\nGET / HTTP/1.1\r\n"), BW_DONE, "", 0, 5},
    {IN("2\r\nab\r\n0\r\n\r\n0\r\n\r\n"), BW_DONE, "ab", 2, 12},
    /* incomplete bodies */
    {IN(""), BW_AGAIN, "", 0},
    {IN("5\r\nab"), BW_AGAIN, "ab", 5},
    {IN("5\r\nabcde"), BW_AGAIN, "abcde", 5},
    {IN("5\r\nabcde\r\n"), BW_AGAIN, "abcde", 5},
    {IN("0\r\n"), BW_AGAIN, "", 0},
    {IN("0\r\nX: 1\r\n"), BW_AGAIN, "", 0},
    {IN("7fffffffffffffff\r\n"), BW_AGAIN, "", INT64_MAX},
    {IN("3;a=\"b"), BW_AGAIN, "", 0},
    /* bad sizes */
    {IN("\r\n3\r\nabc\r\n0\r\n\r\n"), INV},
    {IN("x\r\n"), INV},
    {IN("-3\r\nabc\r\n"), INV},
    {IN("+3\r\nabc\r\n"), INV},
    {IN("0x3\r\nabc\r\n"), INV},
    {IN("3 4\r\nabc\r\n"), INV},
    {IN(" 3\r\nabc\r\n"), INV},
    {IN("3g\r\nabc\r\n"), INV},
    {IN("8000000000000000\r\n"), INV},
    {IN("ffffffffffffffff\r\n"), INV},
    {IN("ffffffffffffffffff\r\n"), INV},
    {IN("10000000000000000\r\n"), INV},
    /* bad line ends and missing CRLF after the data */
    {IN("3\rX"), INV},
    {IN("3\r\r\n"), INV},
    {IN("3\r\nabcX\r\n0\r\n\r\n"), INV},
    {IN("3\r\nabc\r0\r\n\r\n"), INV},
    {IN("3\r\nabc0\r\n\r\n"), INV},
    {IN("3\r\nabcd\r\n0\r\n\r\n"), INV},
    {IN("0\r\n\r0"), INV},
    /* bad extensions */
    {IN("3;\x01\r\nabc\r\n"), INV},
    {IN("3;a@b\r\nabc\r\n"), INV},
    {IN("3;a=\"x\r\n\"\r\nabc\r\n"), INV},
    {IN("3;a=\"x\\\x01\"\r\nabc\r\n"), INV},
    {IN("3;a=\"\x7f\"\r\nabc\r\n"), INV},
    {IN("3;a\0\r\nabc\r\n"), INV},
    /* bad trailers */
    {IN("3\r\nabc\r\n0\r\nX-T 1\r\n\r\n"), INV},
    {IN("0\r\nX-T : 1\r\n\r\n"), INV},
    {IN("0\r\nX: 1\r\n folded\r\n\r\n"), INV},
    {IN("0\r\nX: a\x01\r\n\r\n"), INV},
    {IN("0\r\n: v\r\n\r\n"), INV},
};

static void
test_chunked_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < bw_nelems(bw_test_ch_rows); i++) {
        bw_test_ch_row(&bw_test_ch_rows[i]);
    }
}

/* A size line longer than BW_HTTP_CHUNK_LINE_MAX is refused, however fed. */
static void
test_chunked_size_line_limit(void **state)
{
    (void) state;
    size_t              n = BW_HTTP_CHUNK_LINE_MAX + 16;
    char               *in = malloc(n + 16);
    bw_test_ch_result_t whole, one;

    assert_non_null(in);
    memcpy(in, "3;", 2);
    memset(in + 2, 'a', n - 2);
    memcpy(in + n, "\r\nabc\r\n0\r\n\r\n", 12);
    bw_test_ch_decode(in, n + 12, BW_FEED_WHOLE, false, &whole);
    assert_int_equal(whole.rc, INV);
    assert_int_equal(whole.consumed, BW_HTTP_CHUNK_LINE_MAX);
    bw_test_ch_decode(in, n + 12, BW_FEED_ONE, true, &one);
    bw_test_ch_equal(&one, &whole);

    /* just under the limit is fine */
    size_t m = BW_HTTP_CHUNK_LINE_MAX - 2; /* the CRLF counts too */
    memcpy(in, "3;", 2);
    memset(in + 2, 'a', m - 2);
    memcpy(in + m, "\r\nabc\r\n0\r\n\r\n", 12);
    bw_test_ch_decode(in, m + 12, BW_FEED_WHOLE, false, &whole);
    assert_int_equal(whole.rc, BW_DONE);
    assert_int_equal(whole.body_len, 3);
    free(in);
}

/* Trailers beyond BW_HTTP_CHUNK_TRAILER_MAX bytes are refused. */
static void
test_chunked_trailer_limit(void **state)
{
    (void) state;
    size_t              n = BW_HTTP_CHUNK_TRAILER_MAX + 64;
    char               *in = malloc(n + 16);
    bw_test_ch_result_t whole, rnd;

    assert_non_null(in);
    memcpy(in, "0\r\nX: ", 6);
    memset(in + 6, 'v', n - 6);
    memcpy(in + n, "\r\n\r\n", 4);
    bw_test_ch_decode(in, n + 4, BW_FEED_WHOLE, false, &whole);
    assert_int_equal(whole.rc, INV);
    bw_test_ch_decode(in, n + 4, BW_FEED_RANDOM, true, &rnd);
    assert_int_equal(rnd.rc, INV);
    free(in);
}

/* The sum of announced sizes may not overflow either. */
static void
test_chunked_total_overflow(void **state)
{
    (void) state;
    bw_http_chunked_t ctx;
    u_char            in[] = "2\r\nab\r\n";
    u_char           *pos = in;

    memset(&ctx, 0, sizeof(ctx));
    ctx.total = INT64_MAX - 1;
    assert_int_equal(bw_http_parse_chunked(&ctx, &pos, in + sizeof(in) - 1), INV);
    assert_int_equal(bw_http_parse_error_status(INV), 400);
    assert_string_equal(bw_http_parse_error_text(INV), "client sent invalid chunked body");

    memset(&ctx, 0, sizeof(ctx));
    ctx.total = INT64_MAX - 2;
    pos = in;
    assert_int_equal(bw_http_parse_chunked(&ctx, &pos, in + sizeof(in) - 1), BW_OK);
    assert_int_equal(ctx.total, INT64_MAX);
}

/* total and remaining tell the caller about a chunk before its data arrives. */
static void
test_chunked_announces_size_before_data(void **state)
{
    (void) state;
    bw_http_chunked_t ctx;
    u_char            in[] = "100\r\nxy";
    u_char           *pos = in;

    memset(&ctx, 0, sizeof(ctx));
    assert_int_equal(bw_http_parse_chunked(&ctx, &pos, in + 5), BW_AGAIN);
    assert_int_equal(ctx.total, 256);
    assert_int_equal(ctx.remaining, 256);
    assert_int_equal(bw_http_parse_chunked(&ctx, &pos, in + 7), BW_OK);
    assert_ptr_equal(ctx.data, in + 5);
    assert_int_equal(ctx.data_len, 2);
    assert_int_equal(ctx.remaining, 254);
    assert_ptr_equal(pos, in + 7);
    assert_int_equal(bw_http_parse_chunked(&ctx, &pos, in + 7), BW_AGAIN);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_table),
        cmocka_unit_test(test_chunked_size_line_limit),
        cmocka_unit_test(test_chunked_trailer_limit),
        cmocka_unit_test(test_chunked_total_overflow),
        cmocka_unit_test(test_chunked_announces_size_before_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
