/*
 * test_parse_uri.c -- path normalisation (percent-decoding, "." and ".."
 * segments, merge_slashes, the extension) against a table checked with
 * nginx's answers, both into a separate buffer and in place; the
 * request-line flags that decide whether normalisation is needed; and the
 * unsafe-URI check used for rewrites and X-Accel-Redirect.
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

#define INV BW_HTTP_PARSE_INVALID_REQUEST

/* merge: 1 on, 0 off, 2 both give the same answer */
typedef struct {
    const char *in;
    int         merge;
    bw_rc_t     rc;
    const char *out;
    const char *exten; /* NULL: none */
} bw_test_uri_row_t;

static const bw_test_uri_row_t bw_test_uri_rows[] = {
    {"/", 2, BW_OK, "/", NULL},
    {"", 2, BW_OK, "/", NULL},
    {"/a/b", 2, BW_OK, "/a/b", NULL},
    /* dot segments */
    {"/a/./b", 2, BW_OK, "/a/b", NULL},
    {"/a/../b", 2, BW_OK, "/b", NULL},
    {"/./a", 2, BW_OK, "/a", NULL},
    {"/.", 2, BW_OK, "/", NULL},
    {"/a/.", 2, BW_OK, "/a/", NULL},
    {"/a/..", 2, BW_OK, "/", NULL},
    {"/a/b/..", 2, BW_OK, "/a/", NULL},
    {"/a/b/../../", 2, BW_OK, "/", NULL},
    {"/a/./../b/.", 2, BW_OK, "/b/", NULL},
    {"/a/.../..", 2, BW_OK, "/a/", NULL},
    {"/a/.b", 2, BW_OK, "/a/.b", "b"},
    {"/a./b", 2, BW_OK, "/a./b", NULL},
    {"/..a", 2, BW_OK, "/..a", "a"},
    {"/a/...", 2, BW_OK, "/a/...", ""},
    {"/..", 2, INV, NULL, NULL},
    {"/../a", 2, INV, NULL, NULL},
    {"/a/../..", 2, INV, NULL, NULL},
    {"/a/b/../../..", 2, INV, NULL, NULL},
    {"/.//..", 1, INV, NULL, NULL},
    /* percent-decoding, decoded dots and slashes count as such */
    {"/%41", 2, BW_OK, "/A", NULL},
    {"/%41%42", 2, BW_OK, "/AB", NULL},
    {"/%2e", 2, BW_OK, "/", NULL},
    {"/%2e%2e/", 2, INV, NULL, NULL},
    {"/.%2e/", 2, INV, NULL, NULL},
    {"/a/.%2E", 2, BW_OK, "/", NULL},
    {"/a/b/%2e%2e/c", 2, BW_OK, "/a/c", NULL},
    {"/a%2Fb", 2, BW_OK, "/a/b", NULL},
    {"/a%2fb%2F", 2, BW_OK, "/a/b/", NULL},
    {"/a%2F%2e%2e", 2, BW_OK, "/", NULL},
    {"/a%2F..%2Fb", 2, BW_OK, "/b", NULL},
    {"/a/%2e%2e%2f%2e%2e%2f%2e%2e", 2, INV, NULL, NULL},
    {"/%2F%2Fa", 1, BW_OK, "/a", NULL},
    {"/%2F%2Fa", 0, BW_OK, "///a", NULL},
    {"/a%3Fb", 2, BW_OK, "/a?b", NULL},
    {"/a%23b", 2, BW_OK, "/a#b", NULL},
    {"/a%252e", 2, BW_OK, "/a%2e", NULL},
    {"/a%20b", 2, BW_OK, "/a b", NULL},
    {"/a+b%20c", 2, BW_OK, "/a+b c", NULL},
    {"/a%01b", 2, BW_OK, "/a\x01" "b", NULL},
    {"/%5C..", 2, BW_OK, "/\\..", ""},
    {"/%c3%a9", 2, BW_OK, "/\xc3\xa9", NULL},
    {"/%zz", 2, INV, NULL, NULL},
    {"/%2", 2, INV, NULL, NULL},
    {"/a%", 2, INV, NULL, NULL},
    {"/%0", 2, INV, NULL, NULL},
    {"/%g0", 2, INV, NULL, NULL},
    {"/%00", 2, INV, NULL, NULL},
    {"/a%00b", 2, INV, NULL, NULL},
    /* merge_slashes */
    {"//a///b", 1, BW_OK, "/a/b", NULL},
    {"//a///b", 0, BW_OK, "//a///b", NULL},
    {"/a//", 1, BW_OK, "/a/", NULL},
    {"/a//", 0, BW_OK, "/a//", NULL},
    {"/a//..", 1, BW_OK, "/", NULL},
    {"/a//..", 0, BW_OK, "/a/", NULL},
    {"//a/..", 1, BW_OK, "/", NULL},
    {"//a/..", 0, BW_OK, "//", NULL},
    {"/a/b//../c", 1, BW_OK, "/a/c", NULL},
    {"/a/b//../c", 0, BW_OK, "/a/b/c", NULL},
    {"//..", 1, INV, NULL, NULL},
    {"//..", 0, BW_OK, "/", NULL},
    /* the extension of the last segment */
    {"/a.php", 2, BW_OK, "/a.php", "php"},
    {"/a%2ephp", 2, BW_OK, "/a.php", "php"},
    {"/a.b/c.tar.gz", 2, BW_OK, "/a.b/c.tar.gz", "gz"},
    {"/a.b/c", 2, BW_OK, "/a.b/c", NULL},
    {"/x/./y.HTML", 2, BW_OK, "/x/y.HTML", "HTML"},
    {"/x.js/.", 2, BW_OK, "/x.js/", NULL},
    /* not a path */
    {"a", 2, INV, NULL, NULL},
    {"%2F", 2, INV, NULL, NULL},
};

static void
bw_test_uri_check(const bw_test_uri_row_t *row, bool merge, bool in_place)
{
    size_t   n = strlen(row->in);
    u_char  *src = malloc(n + 1);
    u_char  *dst = in_place ? src : malloc(n + 1);
    bw_str_t path = {n, src};
    bw_str_t uri = bw_null_string, exten = bw_null_string;

    assert_non_null(src);
    assert_non_null(dst);
    memcpy(src, row->in, n);
    bw_rc_t rc = bw_http_parse_complex_uri(&path, dst, merge, &uri, &exten);
    if (rc != row->rc) {
        fail_msg("\"%s\" (merge %d): rc %d, expected %d", row->in, merge, rc, row->rc);
    }
    if (rc == BW_OK) {
        if (uri.len != strlen(row->out) || memcmp(uri.data, row->out, uri.len) != 0) {
            fail_msg("\"%s\" (merge %d): \"%.*s\", expected \"%s\"", row->in, merge,
                     BW_STR_ARG(uri), row->out);
        }
        assert_ptr_equal(uri.data, dst);
        if (row->exten == NULL) {
            assert_int_equal(exten.len, 0);
        } else {
            assert_int_equal(exten.len, strlen(row->exten));
            assert_memory_equal(exten.data, row->exten, exten.len);
            assert_ptr_equal(exten.data + exten.len, uri.data + uri.len);
        }
    }
    if (!in_place) {
        free(dst);
    }
    free(src);
}

static void
test_complex_uri_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < bw_nelems(bw_test_uri_rows); i++) {
        const bw_test_uri_row_t *row = &bw_test_uri_rows[i];
        for (int merge = 0; merge <= 1; merge++) {
            if (row->merge != 2 && row->merge != merge) {
                continue;
            }
            bw_test_uri_check(row, merge, false);
            bw_test_uri_check(row, merge, true);
        }
    }
}

/*
 * The request-line flags send exactly the paths that change (or fail) to the
 * normaliser: a path without COMPLEX normalises to itself.
 */
static void
test_complex_flag_predicts_normalisation(void **state)
{
    (void) state;
    static const char *paths[] = {
        "/",        "/a/b",  "/a/./b", "/a/../b", "//a", "/a/.",  "/a/..",   "/.",    "/..",
        "/.a",      "/a.",   "/a..b",  "/...",    "/%41", "/a+b", "/a/b/",  "/a/.b/", "/x.y/z.w",
        "/.well-known/acme", "/a/..b/c", "/a%2f",   "/./",  "/../",  "/a/b/..c",
    };
    for (size_t i = 0; i < bw_nelems(paths); i++) {
        char                   line[128];
        int                    n = snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\n", paths[i]);
        u_char                *pos = (u_char *) line;
        bw_http_request_line_t rl;

        bw_http_request_line_init(&rl);
        assert_int_equal(bw_http_parse_request_line(&rl, &pos, (u_char *) line + n), BW_OK);

        bw_str_t path = {strlen(paths[i]), (u_char *) paths[i]};
        u_char   dst[128];
        bw_str_t uri, exten;
        bw_rc_t  rc = bw_http_parse_complex_uri(&path, dst, true, &uri, &exten);
        bool     same = rc == BW_OK && bw_str_eq(&uri, &path);

        if (same == !!(rl.flags & BW_HTTP_URI_COMPLEX)) {
            fail_msg("\"%s\": complex flag %d but normalisation %s", paths[i],
                     !!(rl.flags & BW_HTTP_URI_COMPLEX), same ? "keeps it" : "changes it");
        }
        if (same) {
            /* and the parser's exten then equals the normaliser's */
            size_t el = rl.exten_start ? (size_t) (rl.exten_end - rl.exten_start) : 0;
            assert_int_equal(el, exten.len);
            assert_true(el == 0 || memcmp(rl.exten_start, exten.data, el) == 0);
        }
    }
}

static void
test_unsafe_uri(void **state)
{
    (void) state;
    static const struct {
        const char *in;
        bw_rc_t     rc;
        const char *uri, *args;
        bool        quoted;
    } rows[] = {
        {"/a/b", BW_OK, "/a/b", NULL, false},
        {"/a/b?x=1&y", BW_OK, "/a/b", "x=1&y", false},
        {"/a?", BW_OK, "/a", "", false},
        {"/a%20b", BW_OK, "/a%20b", NULL, true},
        {"/a?x=../..", BW_OK, "/a", "x=../..", false},
        {"/a/.b/..c/...", BW_OK, "/a/.b/..c/...", NULL, false},
        {"/", BW_OK, "/", NULL, false},
        {"", BW_ERROR, NULL, NULL, false},
        {"a/b", BW_ERROR, NULL, NULL, false},
        {"/a/../b", BW_ERROR, NULL, NULL, false},
        {"/a/./b", BW_ERROR, NULL, NULL, false},
        {"/..", BW_ERROR, NULL, NULL, false},
        {"/a/..", BW_ERROR, NULL, NULL, false},
        {"/a/.", BW_ERROR, NULL, NULL, false},
        {"/a/..?x", BW_ERROR, NULL, NULL, false},
        {"/a/%2e%2e/b", BW_ERROR, NULL, NULL, false},
        {"/a/.%2E", BW_ERROR, NULL, NULL, false},
        {"/a%2f..", BW_ERROR, NULL, NULL, false},
        {"/a%00", BW_ERROR, NULL, NULL, false},
        {"/a%0a", BW_ERROR, NULL, NULL, false},
        {"/a\x01", BW_ERROR, NULL, NULL, false},
        {"/a\x7f", BW_ERROR, NULL, NULL, false},
        {"/a%zz", BW_ERROR, NULL, NULL, false},
        {"/a%2", BW_ERROR, NULL, NULL, false},
    };
    for (size_t i = 0; i < bw_nelems(rows); i++) {
        bw_str_t uri = {strlen(rows[i].in), (u_char *) rows[i].in};
        bw_str_t args;
        bool     quoted = !rows[i].quoted;
        bw_rc_t  rc = bw_http_parse_unsafe_uri(&uri, &args, &quoted);

        if (rc != rows[i].rc) {
            fail_msg("\"%s\": rc %d, expected %d", rows[i].in, rc, rows[i].rc);
        }
        if (rc != BW_OK) {
            continue;
        }
        assert_int_equal(uri.len, strlen(rows[i].uri));
        assert_memory_equal(uri.data, rows[i].uri, uri.len);
        assert_int_equal(quoted, rows[i].quoted);
        if (rows[i].args == NULL) {
            assert_null(args.data);
            assert_int_equal(args.len, 0);
        } else {
            assert_int_equal(args.len, strlen(rows[i].args));
            assert_memory_equal(args.data, rows[i].args, args.len);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complex_uri_table),
        cmocka_unit_test(test_complex_flag_predicts_normalisation),
        cmocka_unit_test(test_unsafe_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
