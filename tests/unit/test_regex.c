/*
 * test_regex.c -- core/regex.c: compile errors worded as nginx words them,
 * caseless matching, capture offsets, named groups, and match results.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pool.h"
#include "regex.h"

static bw_str_t
bw_test_str(const char *s)
{
    bw_str_t v = {strlen(s), (u_char *) s};
    return v;
}

static bw_regex_t *
bw_test_compile(bw_pool_t *pool, const char *pattern, bool caseless, char *err, size_t size)
{
    bw_str_t    p = bw_test_str(pattern);
    bw_str_t    e;
    bw_regex_t *re = bw_regex_compile_pool(pool, &p, caseless, &e);

    if (err) {
        snprintf(err, size, "%.*s", (int) e.len, e.data ? (char *) e.data : "");
    }
    return re;
}

static void
test_regex_compile_errors_match_nginx_wording(void **state)
{
    static const struct {
        const char *pattern;
        const char *message;
    } rows[] = {
        {"(", "pcre2_compile() failed: missing closing parenthesis in \"(\""},
        {"a)b", "pcre2_compile() failed: unmatched closing parenthesis in \"a)b\" at \")b\""},
        {"a[b", "pcre2_compile() failed: missing terminating ] for character class in \"a[b\""},
        {"a{2,1}", "pcre2_compile() failed: numbers out of order in {} quantifier in \"a{2,1}\""
                   " at \"}\""},
        {"*a", "pcre2_compile() failed: quantifier does not follow a repeatable item in \"*a\""
               " at \"*a\""},
        {"(?<n>a)(?<n>b)", "pcre2_compile() failed: two named subpatterns have the same name "
                           "(PCRE2_DUPNAMES not set) in \"(?<n>a)(?<n>b)\" at \"b)\""},
    };
    bw_pool_t *pool = bw_pool_create(4096, NULL);
    char       err[512];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_null(bw_test_compile(pool, rows[i].pattern, false, err, sizeof(err)));
        assert_string_equal(err, rows[i].message);
    }
    bw_pool_destroy(pool);
}

static void
test_regex_caseless_matches_either_case(void **state)
{
    bw_pool_t  *pool = bw_pool_create(4096, NULL);
    bw_regex_t *cs = bw_test_compile(pool, "\\.JPG$", false, NULL, 0);
    bw_regex_t *ci = bw_test_compile(pool, "\\.JPG$", true, NULL, 0);
    bw_str_t    lower = bw_test_str("/a/b.jpg");

    assert_non_null(cs);
    assert_non_null(ci);
    assert_false(bw_regex_match(cs, &lower));
    assert_true(bw_regex_match(ci, &lower));
    assert_int_equal(bw_regex_exec(cs, &lower, NULL, 0), BW_REGEX_NO_MATCH);
    bw_pool_destroy(pool);
}

static void
test_regex_exec_fills_capture_offsets(void **state)
{
    bw_pool_t  *pool = bw_pool_create(4096, NULL);
    bw_regex_t *re = bw_test_compile(pool, "^/users/(\\w+)(/x)?/(\\d+)$", false, NULL, 0);
    bw_str_t    s = bw_test_str("/users/bob/42");
    size_t      ov[8];

    assert_non_null(re);
    assert_int_equal(bw_regex_captures(re), 3);
    assert_int_equal(bw_regex_exec(re, &s, ov, 4), 4);
    assert_int_equal(ov[0], 0);
    assert_int_equal(ov[1], s.len);
    assert_int_equal(ov[2], 7);
    assert_int_equal(ov[3], 10);
    assert_int_equal(ov[4], (size_t) -1); /* (/x)? did not take part */
    assert_int_equal(ov[6], 11);
    assert_int_equal(ov[7], 13);

    /* Fewer pairs than groups: capped, no overflow of the caller's array. */
    assert_int_equal(bw_regex_exec(re, &s, ov, 1), 1);
    assert_int_equal(ov[1], s.len);
    bw_pool_destroy(pool);
}

static void
test_regex_named_groups_in_group_order(void **state)
{
    bw_pool_t  *pool = bw_pool_create(4096, NULL);
    bw_regex_t *re = bw_test_compile(pool, "^(?<zone>\\w+)\\.(?P<app>\\w+)\\.example$", true,
                                     NULL, 0);
    bw_str_t    zone = bw_test_str("zone"), app = bw_test_str("app"), none = bw_test_str("x");

    assert_non_null(re);
    assert_int_equal(bw_regex_names_count(re), 2);
    assert_string_equal((char *) bw_regex_names(re)[0].name.data, "zone");
    assert_int_equal(bw_regex_names(re)[0].index, 1);
    assert_string_equal((char *) bw_regex_names(re)[1].name.data, "app");
    assert_int_equal(bw_regex_names(re)[1].index, 2);
    assert_int_equal(bw_regex_name_index(re, &app), 2);
    assert_int_equal(bw_regex_name_index(re, &zone), 1);
    assert_int_equal(bw_regex_name_index(re, &none), -1);
    bw_pool_destroy(pool);
}

static void
test_regex_match_data_grows_for_many_groups(void **state)
{
    bw_pool_t  *pool = bw_pool_create(4096, NULL);
    bw_regex_t *small = bw_test_compile(pool, "(a)", false, NULL, 0);
    bw_regex_t *big = bw_test_compile(pool, "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)", false,
                                      NULL, 0);
    bw_str_t    s1 = bw_test_str("a"), s2 = bw_test_str("abcdefghijkl");
    size_t      ov[26];

    assert_int_equal(bw_regex_exec(small, &s1, ov, 13), 2);
    assert_int_equal(bw_regex_exec(big, &s2, ov, 13), 13);
    assert_int_equal(ov[24], 11);
    assert_int_equal(ov[25], 12);
    assert_int_equal(bw_regex_exec(small, &s1, ov, 13), 2);
    bw_regex_match_data_free();
    bw_pool_destroy(pool);
}

static void
test_regex_empty_subject_and_empty_pattern(void **state)
{
    bw_pool_t  *pool = bw_pool_create(4096, NULL);
    bw_regex_t *any = bw_test_compile(pool, "", false, NULL, 0);
    bw_regex_t *slash = bw_test_compile(pool, "^/$", false, NULL, 0);
    bw_str_t    empty = {0, NULL};

    assert_non_null(any);
    assert_true(bw_regex_match(any, &empty));
    assert_false(bw_regex_match(slash, &empty));
    bw_pool_destroy(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regex_compile_errors_match_nginx_wording),
        cmocka_unit_test(test_regex_caseless_matches_either_case),
        cmocka_unit_test(test_regex_exec_fills_capture_offsets),
        cmocka_unit_test(test_regex_named_groups_in_group_order),
        cmocka_unit_test(test_regex_match_data_grows_for_many_groups),
        cmocka_unit_test(test_regex_empty_subject_and_empty_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
