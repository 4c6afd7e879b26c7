/*
 * test_log_escape.c -- how the access log escapes variable values
 * (modules/access_log.c, bw_access_log_escape): nginx's default \xXX form,
 * JSON escaping and none. The expected strings are what nginx 1.22 wrote
 * for the same header bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "access_log.h"

/* Escapes src (len bytes) in mode and checks the length pass against the copy pass. */
static char *
bw_test_escape(const char *src, size_t len, bw_access_log_escape_t mode)
{
    size_t n = bw_access_log_escape(NULL, (const u_char *) src, len, mode);
    char  *dst = test_malloc(n + 2);

    dst[n] = '\0';
    dst[n + 1] = '#'; /* guard: the copy pass must not write past n */
    size_t m = bw_access_log_escape((u_char *) dst, (const u_char *) src, len, mode);
    assert_int_equal(m, n);
    assert_int_equal(dst[n], '\0');
    assert_int_equal(dst[n + 1], '#');
    return dst;
}

static void
bw_test_escape_expect(const char *src, size_t len, bw_access_log_escape_t mode, const char *want)
{
    char *got = bw_test_escape(src, len, mode);
    assert_string_equal(got, want);
    test_free(got);
}

/* The header value nginx 1.22 logged in the reference run. */
static const char bw_test_sample[] = "a\"b\\c\td\x01" "e\x7f" "f\x80g\xffh\x1fi\x08j\x0ck";

static void
test_log_escape_default_uses_uppercase_hex(void **state)
{
    bw_test_escape_expect(bw_test_sample, sizeof(bw_test_sample) - 1,
                          BW_ACCESS_LOG_ESCAPE_DEFAULT,
                          "a\\x22b\\x5Cc\\x09d\\x01e\\x7Ff\\x80g\\xFFh\\x1Fi\\x08j\\x0Ck");
}

static void
test_log_escape_default_keeps_printable_ascii(void **state)
{
    char all[0x7f - 0x20 + 1];
    size_t n = 0;
    for (int c = 0x20; c < 0x7f; c++) {
        if (c != '"' && c != '\\') {
            all[n++] = (char) c;
        }
    }
    all[n] = '\0';
    bw_test_escape_expect(all, n, BW_ACCESS_LOG_ESCAPE_DEFAULT, all);
}

static void
test_log_escape_default_escapes_nul_and_newline(void **state)
{
    bw_test_escape_expect("\0\n\r", 3, BW_ACCESS_LOG_ESCAPE_DEFAULT, "\\x00\\x0A\\x0D");
}

static void
test_log_escape_json_short_and_unicode_forms(void **state)
{
    bw_test_escape_expect(bw_test_sample, sizeof(bw_test_sample) - 1, BW_ACCESS_LOG_ESCAPE_JSON,
                          "a\\\"b\\\\c\\td\\u0001e\x7f" "f\x80g\xffh\\u001Fi\\bj\\fk");
    bw_test_escape_expect("\n\r\0", 3, BW_ACCESS_LOG_ESCAPE_JSON, "\\n\\r\\u0000");
}

static void
test_log_escape_none_copies_bytes(void **state)
{
    bw_test_escape_expect(bw_test_sample, sizeof(bw_test_sample) - 1, BW_ACCESS_LOG_ESCAPE_NONE,
                          bw_test_sample);
}

static void
test_log_escape_empty_value(void **state)
{
    assert_int_equal(bw_access_log_escape(NULL, (const u_char *) "", 0,
                                          BW_ACCESS_LOG_ESCAPE_DEFAULT), 0);
    assert_int_equal(bw_access_log_escape(NULL, (const u_char *) "", 0,
                                          BW_ACCESS_LOG_ESCAPE_JSON), 0);
    assert_int_equal(bw_access_log_escape(NULL, NULL, 0, BW_ACCESS_LOG_ESCAPE_NONE), 0);
}

static void
test_log_escape_missing_value_is_dash_only_by_default(void **state)
{
    assert_int_equal(bw_access_log_missing_len(BW_ACCESS_LOG_ESCAPE_DEFAULT), 1);
    assert_int_equal(bw_access_log_missing_len(BW_ACCESS_LOG_ESCAPE_JSON), 0);
    assert_int_equal(bw_access_log_missing_len(BW_ACCESS_LOG_ESCAPE_NONE), 0);
}

static void
test_log_escape_lengths_for_every_byte(void **state)
{
    for (int c = 0; c < 256; c++) {
        u_char b = (u_char) c;
        size_t d = bw_access_log_escape(NULL, &b, 1, BW_ACCESS_LOG_ESCAPE_DEFAULT);
        size_t j = bw_access_log_escape(NULL, &b, 1, BW_ACCESS_LOG_ESCAPE_JSON);
        size_t want_d = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? 4 : 1;
        size_t want_j = (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t'
                         || c == '\b' || c == '\f') ? 2 : c < 0x20 ? 6 : 1;
        if (d != want_d || j != want_j) {
            fail_msg("byte 0x%02x: default %zu (want %zu), json %zu (want %zu)", c, d, want_d,
                     j, want_j);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_escape_default_uses_uppercase_hex),
        cmocka_unit_test(test_log_escape_default_keeps_printable_ascii),
        cmocka_unit_test(test_log_escape_default_escapes_nul_and_newline),
        cmocka_unit_test(test_log_escape_json_short_and_unicode_forms),
        cmocka_unit_test(test_log_escape_none_copies_bytes),
        cmocka_unit_test(test_log_escape_empty_value),
        cmocka_unit_test(test_log_escape_missing_value_is_dash_only_by_default),
        cmocka_unit_test(test_log_escape_lengths_for_every_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
