/*
 * test_range_parse.c -- the Range header parser of the range filter
 * (bw_http_range_parse): one table row per byte-range set, with the answer
 * nginx gives for it (206 ranges, 416, or the whole body).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pool.h"
#include "range.h"

#define BW_T_MAX_RANGES 4

typedef struct {
    const char *spec;    /* after "bytes=" */
    off_t       length;  /* of the body */
    size_t      max;     /* max_ranges (SIZE_MAX: unlimited) */
    bw_int_t    rc;
    size_t      n;       /* ranges expected when rc is BW_OK */
    off_t       ranges[BW_T_MAX_RANGES][2]; /* start, end (exclusive) */
} bw_t_range_case_t;

static const bw_t_range_case_t bw_t_range_cases[] = {
    /* single ranges */
    {"0-4", 36, SIZE_MAX, BW_OK, 1, {{0, 5}}},
    {"5-5", 36, SIZE_MAX, BW_OK, 1, {{5, 6}}},
    {"30-", 36, SIZE_MAX, BW_OK, 1, {{30, 36}}},
    {"0-", 36, SIZE_MAX, BW_OK, 1, {{0, 36}}},
    {"-5", 36, SIZE_MAX, BW_OK, 1, {{31, 36}}},
    {"-100", 36, SIZE_MAX, BW_OK, 1, {{0, 36}}},
    {"0-100", 36, SIZE_MAX, BW_OK, 1, {{0, 36}}},
    {"35-99", 36, SIZE_MAX, BW_OK, 1, {{35, 36}}},
    /* spaces around numbers, dashes and commas are allowed */
    {" 1 - 2 , 3-4", 36, SIZE_MAX, BW_OK, 2, {{1, 3}, {3, 5}}},
    {"30 - ,3-4", 36, SIZE_MAX, BW_OK, 2, {{30, 36}, {3, 5}}},
    /* several ranges keep the order asked */
    {"0-2,5-7", 36, SIZE_MAX, BW_OK, 2, {{0, 3}, {5, 8}}},
    {"5-7,0-2", 36, SIZE_MAX, BW_OK, 2, {{5, 8}, {0, 3}}},
    {"0-0,-1", 36, SIZE_MAX, BW_OK, 2, {{0, 1}, {35, 36}}},
    /* an unsatisfiable range among satisfiable ones is dropped */
    {"0-0,-0", 36, SIZE_MAX, BW_OK, 1, {{0, 1}}},
    {"40-50,0-1", 36, SIZE_MAX, BW_OK, 1, {{0, 2}}},
    /* nothing satisfiable or bad syntax: 416 */
    {"40-50", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"36-", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"-0", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"3-2", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"abc", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"1-2,", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"1-2, ,3-4", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"1-2x", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"1", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"-", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"99999999999999999999-", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    {"0-99999999999999999999", 36, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
    /* the whole body instead: overlapping ranges adding up to more than it,
     * more ranges than max_ranges, a range from 0 of an empty body */
    {"0-4,2-6,1-30", 36, SIZE_MAX, BW_DECLINED, 0, {{0}}},
    {"0-1,3-4", 36, 1, BW_DECLINED, 0, {{0}}},
    {"0-1,3-4,6-7", 36, 2, BW_DECLINED, 0, {{0}}},
    {"0-1", 36, 1, BW_OK, 1, {{0, 2}}},
    {"0-1,3-4", 36, 2, BW_OK, 2, {{0, 2}, {3, 5}}},
    {"0-0", 0, SIZE_MAX, BW_DECLINED, 0, {{0}}},
    {"0-", 0, SIZE_MAX, BW_DECLINED, 0, {{0}}},
    {"-5", 0, SIZE_MAX, BW_DECLINED, 0, {{0}}},
    {"1-2", 0, SIZE_MAX, BW_HTTP_RANGE_NOT_SATISFIABLE, 0, {{0}}},
};

static void
bw_t_range_case_run(const bw_t_range_case_t *c)
{
    bw_pool_t *pool = bw_pool_create(1024, NULL);
    bw_array_t ranges;
    bw_str_t spec = {strlen(c->spec), (u_char *) c->spec};

    assert_non_null(pool);
    assert_int_equal(bw_array_init(&ranges, pool, 1, sizeof(bw_http_range_t)), BW_OK);

    bw_int_t rc = bw_http_range_parse(&spec, c->length, c->max, &ranges);
    if (rc != c->rc) {
        fail_msg("\"%s\" of %lld bytes: rc %ld, expected %ld", c->spec, (long long) c->length,
                 (long) rc, (long) c->rc);
    }
    if (c->rc == BW_OK) {
        assert_int_equal(ranges.nelts, c->n);
        bw_http_range_t *r = ranges.elts;
        for (size_t i = 0; i < c->n; i++) {
            assert_int_equal(r[i].start, c->ranges[i][0]);
            assert_int_equal(r[i].end, c->ranges[i][1]);
        }
    }
    bw_pool_destroy(pool);
}

static void
test_range_parse_answers_as_nginx_does(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(bw_t_range_cases) / sizeof(bw_t_range_cases[0]); i++) {
        bw_t_range_case_run(&bw_t_range_cases[i]);
    }
}

static void
test_range_parse_ignores_bytes_after_spec_length(void **state)
{
    (void) state;
    /* The spec is a counted string: what follows its length is not read. */
    const char text[] = "0-4,9-9";
    bw_str_t spec = {3, (u_char *) text};
    bw_pool_t *pool = bw_pool_create(1024, NULL);
    bw_array_t ranges;

    assert_non_null(pool);
    assert_int_equal(bw_array_init(&ranges, pool, 1, sizeof(bw_http_range_t)), BW_OK);
    assert_int_equal(bw_http_range_parse(&spec, 36, SIZE_MAX, &ranges), BW_OK);
    assert_int_equal(ranges.nelts, 1);
    assert_int_equal(((bw_http_range_t *) ranges.elts)[0].end, 5);
    bw_pool_destroy(pool);
}

static void
test_range_parse_huge_body_suffix(void **state)
{
    (void) state;
    bw_pool_t *pool = bw_pool_create(1024, NULL);
    bw_array_t ranges;
    bw_str_t spec = bw_string("-10");
    off_t length = (off_t) 1 << 40;

    assert_non_null(pool);
    assert_int_equal(bw_array_init(&ranges, pool, 1, sizeof(bw_http_range_t)), BW_OK);
    assert_int_equal(bw_http_range_parse(&spec, length, SIZE_MAX, &ranges), BW_OK);
    assert_int_equal(((bw_http_range_t *) ranges.elts)[0].start, length - 10);
    assert_int_equal(((bw_http_range_t *) ranges.elts)[0].end, length);
    bw_pool_destroy(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_parse_answers_as_nginx_does),
        cmocka_unit_test(test_range_parse_ignores_bytes_after_spec_length),
        cmocka_unit_test(test_range_parse_huge_body_suffix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
