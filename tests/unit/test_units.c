/*
 * test_units.c -- sizes and time intervals in configuration values: good
 * and bad inputs, limits and overflow, checked against nginx's behaviour
 * (each row was also fed to nginx 1.22 `-t` where nginx has the same rule).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"

typedef struct {
    const char *text;
    int64_t     want; /* -1 invalid, -2 overflow (times) */
} bw_test_unit_case_t;

static void
test_size_values_and_errors(void **state)
{
    static const bw_test_unit_case_t cases[] = {
        {"0", 0},
        {"512", 512},
        {"10k", 10240},
        {"10K", 10240},
        {"1m", 1048576},
        {"1M", 1048576},
        {"2g", 2147483648LL},
        {"2G", 2147483648LL},
        {"007k", 7168},
        {"9223372036854775807", INT64_MAX},
        {"9007199254740991k", 9007199254740991LL * 1024},
        {"8796093022207m", 8796093022207LL * 1024 * 1024},
        {"8589934591g", 8589934591LL * 1024 * 1024 * 1024},
        {"", -1},
        {"k", -1},
        {"-1", -1},
        {"+1", -1},
        {"1 k", -1},
        {"1kb", -1},
        {"1.5m", -1},
        {"1t", -1},
        {" 1", -1},
        {"1k ", -1},
        {"9223372036854775808", -1},
        {"9007199254740992k", -1},
        {"8796093022208m", -1},
        {"8589934592g", -1},
        {"99999999999999999999999", -1},
    };

    for (size_t i = 0; i < bw_nelems(cases); i++) {
        bw_str_t s = {strlen(cases[i].text), (u_char *) cases[i].text};
        int64_t  got = bw_parse_size(&s);
        if (got != cases[i].want) {
            print_error("size \"%s\": want %lld, got %lld\n", cases[i].text,
                        (long long) cases[i].want, (long long) got);
            fail();
        }
        assert_int_equal(bw_parse_offset(&s), cases[i].want);
    }
}

static void
bw_test_time_cases(const bw_test_unit_case_t *cases, size_t n, bool is_sec)
{
    for (size_t i = 0; i < n; i++) {
        bw_str_t s = {strlen(cases[i].text), (u_char *) cases[i].text};
        int64_t  got = bw_parse_time(&s, is_sec);
        if (got != cases[i].want) {
            print_error("time \"%s\" (%s): want %lld, got %lld\n", cases[i].text,
                        is_sec ? "sec" : "msec", (long long) cases[i].want, (long long) got);
            fail();
        }
    }
}

static void
test_time_msec_values(void **state)
{
    static const bw_test_unit_case_t cases[] = {
        {"0", 0},
        {"75", 75000}, /* a bare number means seconds */
        {"500ms", 500},
        {"1s", 1000},
        {"1s500ms", 1500},
        {"2m", 120000},
        {"1h", 3600000},
        {"1h30m", 5400000},
        {"1h 30m", 5400000},
        {"1h  30m", 5400000},
        {"1h 30m ", 5400000},
        {"90m", 5400000},
        {"5400s", 5400000},
        {"1d", 86400000},
        {"1w", 604800000},
        {"1w1d1h1m1s1ms", 694861001},
        {"1m1ms", 60001},
        {"1h30", 3630000},    /* a trailing bare number: seconds */
        {"1s 5", 6000},
        {"1ms1", 1001},
        {"5 ", 5000},
        {" 5", 5000},
        {"1hm", 3600000},     /* nginx accepts a unit with no number: zero */
        {"9223372036854775", 9223372036854775000LL},
        {"2562047788015215", 2562047788015215000LL},
    };
    bw_test_time_cases(cases, bw_nelems(cases), false);
}

static void
test_time_msec_errors(void **state)
{
    static const bw_test_unit_case_t cases[] = {
        {"", -1},
        {" ", -1},
        {"h", -1},
        {"ms", -1},
        {"-1", -1},
        {"1x", -1},
        {"1.5s", -1},
        {"1M", -1},     /* months and years are refused for millisecond values */
        {"1y", -1},
        {"30m1h", -1},  /* units from the largest down */
        {"1s1m", -1},
        {"1ms 1s", -1},
        {"1d1d", -1},
        {"500mss", -1},
        {"1 h", -1},    /* a unit must follow its number directly */
        {"5 h", -1},
        {" 1h", -1},
        {"1 s", -1},
        {"1h 1 m", -1},
        {"1h\t30m", -1},
        {"9223372036854776", -2},
        {"99999999999999999999", -2},
        {"2562047788015216h", -2},
    };
    bw_test_time_cases(cases, bw_nelems(cases), false);
}

static void
test_time_sec_values_and_errors(void **state)
{
    static const bw_test_unit_case_t cases[] = {
        {"0", 0},
        {"30", 30},
        {"1s", 1},
        {"1m", 60},
        {"1h 30m", 5400},
        {"1d", 86400},
        {"1w", 604800},
        {"1M", 2592000},
        {"1y", 31536000},
        {"1y 1M", 34128000},
        {"1y1M1w1d1h1m1s", 34822861},
        {"9223372036854775807", INT64_MAX},
        {"292471208677y", 292471208677LL * 31536000},
        {"106751991167300d", 106751991167300LL * 86400},
        {"500ms", -1}, /* milliseconds are refused for second values */
        {"1s500ms", -1},
        {"1M1y", -1},
        {"", -1},
        {"9223372036854775808", -2},
        {"292471208678y", -2},
        {"292471208677y 1y", -1},
        {"292471208677y 6M", 292471208677LL * 31536000 + 6 * 2592000},
        {"292471208677y 7M", -2},
    };
    bw_test_time_cases(cases, bw_nelems(cases), true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_values_and_errors),
        cmocka_unit_test(test_time_msec_values),
        cmocka_unit_test(test_time_msec_errors),
        cmocka_unit_test(test_time_sec_values_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
