/*
 * test_str.c -- counted-string helpers: number parsing and the printf-free
 * number writers used on hot paths (ETag, Content-Length).
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "str.h"

static void
test_u64_put_writes_decimal_without_padding(void **state)
{
    static const struct {
        uint64_t    v;
        const char *text;
    } rows[] = {
        {0, "0"}, {7, "7"}, {10, "10"}, {1048576, "1048576"},
        {UINT64_MAX, "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        u_char buf[32];
        u_char *end = bw_u64_put(buf, rows[i].v);
        *end = '\0';
        assert_string_equal((char *) buf, rows[i].text);
    }
}

static void
test_x64_put_writes_lowercase_hex(void **state)
{
    static const struct {
        uint64_t    v;
        const char *text;
    } rows[] = {
        {0, "0"}, {0x24, "24"}, {0x6553f100, "6553f100"}, {UINT64_MAX, "ffffffffffffffff"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        u_char buf[32];
        u_char *end = bw_x64_put(buf, rows[i].v);
        *end = '\0';
        assert_string_equal((char *) buf, rows[i].text);
    }
}

static void
test_atoi_and_hextoi_round_trip_the_writers(void **state)
{
    u_char buf[32];
    u_char *end = bw_u64_put(buf, 123456789012345ULL);
    assert_int_equal(bw_atoi(buf, (size_t) (end - buf)), 123456789012345LL);
    end = bw_x64_put(buf, 0xdeadbeefULL);
    assert_int_equal(bw_hextoi(buf, (size_t) (end - buf)), 0xdeadbeefLL);
    assert_int_equal(bw_atoi((u_char *) "99999999999999999999", 20), -1);
    assert_int_equal(bw_atoi((u_char *) "12a", 3), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64_put_writes_decimal_without_padding),
        cmocka_unit_test(test_x64_put_writes_lowercase_hex),
        cmocka_unit_test(test_atoi_and_hextoi_round_trip_the_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
