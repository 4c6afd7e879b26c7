/*
 * test_script.c -- http/script.c: compiling complex values (nginx's syntax
 * and error messages) and evaluating them for a hand-built request:
 * literals, variables, ${name}, $1..$9 captures, escaping of captures, one
 * evaluation per operation, and URI-argument escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core_module.h"
#include "pool.h"
#include "regex.h"
#include "request.h"
#include "script.h"
#include "variables.h"

#include "http_conf.h"

typedef struct {
    bw_test_http_conf_t      hc;
    bw_log_t                 log;
    bw_connection_t          c;
    bw_http_request_t        r;
} bw_ts_t;

static int
bw_ts_setup(void **state)
{
    bw_ts_t *t = calloc(1, sizeof(bw_ts_t));
    assert_non_null(t);
    bw_test_http_conf_init(&t->hc);
    assert_int_equal(bw_http_variables_add_core_vars(&t->hc.cf), BW_OK);

    t->log = bw_log_stderr_log;
    t->c.log = &t->log;
    t->c.fd = -1;
    t->c.addr_text = bw_test_cstr("127.0.0.1");
    t->r.pool = t->hc.pool;
    t->r.connection = &t->c;
    t->r.main = &t->r;
    t->r.main_conf = t->hc.main_conf;
    t->r.srv_conf = t->hc.srv_conf;
    t->r.loc_conf = t->hc.loc_conf;
    t->r.uri = bw_test_cstr("/dir/file.txt");
    t->r.args = bw_test_cstr("a=1");
    assert_int_equal(bw_array_init(&t->r.headers_in.headers, t->hc.pool, 4,
                                   sizeof(bw_http_header_t)), BW_OK);
    *state = t;
    return 0;
}

static int
bw_ts_teardown(void **state)
{
    bw_ts_t *t = *state;
    bw_pool_destroy(t->hc.pool);
    free(t);
    return 0;
}

static bw_http_complex_value_t *
bw_ts_compile(bw_ts_t *t, const char *text)
{
    bw_str_t                 s = bw_test_cstr(text);
    bw_http_complex_value_t *cv = NULL;
    assert_int_equal(bw_http_compile_complex_value(&t->hc.cf, &s, &cv), BW_OK);
    assert_non_null(cv);
    return cv;
}

/* Evaluates cv with flags into a static NUL-terminated buffer. */
static const char *
bw_ts_eval(bw_ts_t *t, bw_http_complex_value_t *cv, unsigned flags)
{
    static char buf[2048];
    bw_str_t    out;
    assert_int_equal(bw_http_complex_value_flags(&t->r, cv, flags, &out), BW_OK);
    assert_true(out.len < sizeof(buf));
    memcpy(buf, out.data, out.len);
    buf[out.len] = '\0';
    return buf;
}

static void
bw_ts_match(bw_ts_t *t, const char *pattern, const char *subject)
{
    bw_str_t    p = bw_test_cstr(pattern), subj = bw_test_cstr(subject);
    bw_str_t   *s = bw_pstrdup(t->hc.pool, &subj);
    bw_regex_t *re = bw_http_regex_compile(&t->hc.cf, &p, false);
    assert_non_null(re);
    assert_non_null(s);
    assert_int_equal(bw_regex_exec_request(&t->r, re, s), BW_OK);
}

/* Compiles text expecting failure; returns what was reported on stderr. */
static const char *
bw_ts_compile_error(bw_ts_t *t, const char *text)
{
    bw_str_t                 s = bw_test_cstr(text);
    bw_http_complex_value_t *cv = NULL;

    bw_test_stderr_begin();
    bw_rc_t     rc = bw_http_compile_complex_value(&t->hc.cf, &s, &cv);
    const char *out = bw_test_stderr_end();
    assert_int_equal(rc, BW_ERROR);
    return out;
}

/* ---- compiling ---- */

static void
test_script_plain_text_is_returned_as_is(void **state)
{
    bw_ts_t                 *t = *state;
    bw_http_complex_value_t *cv = bw_ts_compile(t, "just text");
    bw_str_t                 out;

    assert_true(cv->plain);
    assert_int_equal(cv->nops, 0);
    assert_int_equal(bw_http_complex_value(&t->r, cv, &out), BW_OK);
    assert_ptr_equal(out.data, cv->value.data);
    assert_int_equal(out.len, 9);
}

static void
test_script_compile_splits_literals_variables_and_captures(void **state)
{
    bw_ts_t                 *t = *state;
    bw_http_complex_value_t *cv = bw_ts_compile(t, "a$uri-${args}b$1");

    assert_false(cv->plain);
    assert_true(cv->captures);
    assert_int_equal(cv->nops, 6);
    assert_int_equal(cv->ops[0].type, BW_HTTP_SCRIPT_LITERAL);
    assert_int_equal(cv->ops[1].type, BW_HTTP_SCRIPT_VARIABLE);
    assert_int_equal(cv->ops[2].type, BW_HTTP_SCRIPT_LITERAL);
    assert_int_equal(cv->ops[3].type, BW_HTTP_SCRIPT_VARIABLE);
    assert_int_equal(cv->ops[4].type, BW_HTTP_SCRIPT_LITERAL);
    assert_int_equal(cv->ops[5].type, BW_HTTP_SCRIPT_CAPTURE);
    assert_int_equal(cv->ops[5].index, 1);
}

static void
test_script_compile_errors_are_worded_as_nginx(void **state)
{
    static const struct {
        const char *text;
        const char *message;
    } rows[] = {
        { "a$", "[emerg] invalid variable name\n" },
        { "$-", "[emerg] invalid variable name\n" },
        { "a$ b", "[emerg] invalid variable name\n" },
        { "${", "[emerg] invalid variable name\n" },
        { "${}x", "[emerg] invalid variable name\n" },
        { "${uri", "[emerg] the closing bracket in \"uri\" variable is missing\n" },
        { "${ uri}", "[emerg] the closing bracket in \"\" variable is missing\n" },
        { "${ur i}", "[emerg] the closing bracket in \"ur\" variable is missing\n" },
    };
    bw_ts_t *t = *state;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *out = bw_ts_compile_error(t, rows[i].text);
        if (strstr(out, rows[i].message) == NULL) {
            fail_msg("\"%s\": expected %s got %s", rows[i].text, rows[i].message, out);
        }
    }
}

static void
test_script_dollar_zero_and_braced_digit_are_variable_names(void **state)
{
    bw_ts_t *t = *state;

    bw_http_complex_value_t *cv = bw_ts_compile(t, "$0${2}");
    assert_int_equal(cv->ops[0].type, BW_HTTP_SCRIPT_VARIABLE);
    assert_int_equal(cv->ops[1].type, BW_HTTP_SCRIPT_VARIABLE);
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_ERROR); /* unknown "0" */
}

static void
test_script_variables_count_counts_dollars(void **state)
{
    bw_str_t a = bw_test_cstr("no vars"), b = bw_test_cstr("$a$b${c}");
    assert_int_equal(bw_http_script_variables_count(&a), 0);
    assert_int_equal(bw_http_script_variables_count(&b), 3);
}

/* ---- evaluating ---- */

static void
test_script_evaluates_variables_and_literals(void **state)
{
    bw_ts_t                 *t = *state;
    bw_http_complex_value_t *cv = bw_ts_compile(t, "[$uri|$args|${uri}x|$is_args|$arg_none]");

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_string_equal(bw_ts_eval(t, cv, 0), "[/dir/file.txt|a=1|/dir/file.txtx|?|]");
}

static void
test_script_captures_single_digit_and_missing_empty(void **state)
{
    bw_ts_t                 *t = *state;
    bw_http_complex_value_t *cv = bw_ts_compile(t, "$1-$2-$9-$10");

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_string_equal(bw_ts_eval(t, cv, 0), "---0"); /* no match yet */
    bw_ts_match(t, "^/(\\w+)/(\\w+)", "/dir/file.txt");
    assert_string_equal(bw_ts_eval(t, cv, 0), "dir-file--dir0");
}

static void
test_script_escape_flag_escapes_captures_only(void **state)
{
    bw_ts_t                 *t = *state;
    bw_http_complex_value_t *cv = bw_ts_compile(t, "v= $1&");

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    bw_ts_match(t, "^/(.*)$", "/a b&c+d");
    assert_string_equal(bw_ts_eval(t, cv, 0), "v= a b&c+d&");
    assert_string_equal(bw_ts_eval(t, cv, BW_HTTP_SCRIPT_ESCAPE_CAPTURES), "v= a%20b%26c%2Bd&");
}

static void
test_script_long_values_use_the_pool(void **state)
{
    bw_ts_t *t = *state;
    char     text[512] = "", expect[1024] = "";

    for (int i = 0; i < 20; i++) {
        strcat(text, "$args,");
        strcat(expect, "a=1,");
    }
    bw_http_complex_value_t *cv = bw_ts_compile(t, text);
    assert_true(cv->nops > 16);
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_string_equal(bw_ts_eval(t, cv, 0), expect);
}

static int bw_ts_ticks;

static bw_rc_t
bw_ts_tick(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    char *buf = bw_pnalloc(r->pool, 16);
    int   n = snprintf(buf, 16, "t%d", ++bw_ts_ticks);
    v->data = (u_char *) buf;
    v->len = (size_t) n;
    return BW_OK;
}

static void
test_script_nocacheable_variable_is_read_once_per_evaluation(void **state)
{
    bw_ts_t *t = *state;
    bw_str_t name = bw_test_cstr("tick");
    bw_http_variable_t *v = bw_http_add_variable(&t->hc.cf, &name, BW_HTTP_VAR_NOCACHEABLE);
    assert_non_null(v);
    v->get = bw_ts_tick;
    bw_http_complex_value_t *cv = bw_ts_compile(t, "$tick/$tick");

    bw_ts_ticks = 0;
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_string_equal(bw_ts_eval(t, cv, 0), "t1/t1");
    assert_string_equal(bw_ts_eval(t, cv, 0), "t2/t2");
}

static bw_regex_t *bw_ts_side_re;

/* A variable whose evaluation runs a regex (as a map does): it changes $1. */
static bw_rc_t
bw_ts_side(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_str_t  subj = bw_test_cstr("/longer-capture");
    bw_str_t *s = bw_pstrdup(r->pool, &subj);
    if (s == NULL || bw_regex_exec_request(r, bw_ts_side_re, s) != BW_OK) {
        return BW_ERROR;
    }
    v->data = (u_char *) "X";
    v->len = 1;
    return BW_OK;
}

static void
test_script_side_effects_cannot_desynchronise_the_passes(void **state)
{
    bw_ts_t *t = *state;
    bw_str_t name = bw_test_cstr("side"), pattern = bw_test_cstr("^/(.*)$");
    bw_http_variable_t *v = bw_http_add_variable(&t->hc.cf, &name, BW_HTTP_VAR_NOCACHEABLE);
    assert_non_null(v);
    v->get = bw_ts_side;
    bw_ts_side_re = bw_http_regex_compile(&t->hc.cf, &pattern, false);
    assert_non_null(bw_ts_side_re);
    bw_http_complex_value_t *cv = bw_ts_compile(t, "$1:$side:$1");

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    bw_ts_match(t, "^/(\\w)", "/a");
    assert_string_equal(bw_ts_eval(t, cv, 0), "a:X:longer-capture");
}

static void
test_script_escape_args_table_matches_nginx(void **state)
{
    /* What nginx turns captures into inside arguments (checked against nginx 1.22). */
    static const char in[] = " &+=#\"!$x%>^`{|}[]'()*,/:@?~;\\<\x7f\xc3\xa9\t";
    static const char expect[] =
        "%20%26%2B=%23%22!$x%25%3E%5E%60%7B%7C%7D[]'()*,/:@%3F~%3B%5C%3C%7F%C3%A9%09";
    u_char buf[256];

    size_t n = bw_http_escape_args(NULL, (const u_char *) in, sizeof(in) - 1);
    assert_int_equal(n, sizeof(expect) - 1);
    assert_int_equal(bw_http_escape_args(buf, (const u_char *) in, sizeof(in) - 1), n);
    assert_memory_equal(buf, expect, n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, bw_ts_setup, bw_ts_teardown)
        T(test_script_plain_text_is_returned_as_is),
        T(test_script_compile_splits_literals_variables_and_captures),
        T(test_script_compile_errors_are_worded_as_nginx),
        T(test_script_dollar_zero_and_braced_digit_are_variable_names),
        T(test_script_variables_count_counts_dollars),
        T(test_script_evaluates_variables_and_literals),
        T(test_script_captures_single_digit_and_missing_empty),
        T(test_script_escape_flag_escapes_captures_only),
        T(test_script_long_values_use_the_pool),
        T(test_script_nocacheable_variable_is_read_once_per_evaluation),
        T(test_script_side_effects_cannot_desynchronise_the_passes),
        T(test_script_escape_args_table_matches_nginx),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
