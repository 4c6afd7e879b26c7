/*
 * test_conf_setters.c -- the stock directive setters called directly: the
 * values they store, unset and duplicate handling, bounds, and nginx's
 * messages (with the file:line the parser would be at).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "pool.h"
#include "support.h"

/* ---- fixture ---- */

typedef struct {
    bw_int_t    flag;
    bw_int_t    num;
    size_t      size;
    off_t       off;
    bw_msec_t   msec;
    time_t      sec;
    bw_str_t    str;
    bw_array_t *strs;
    bw_array_t *kvs;
    bw_uint_t   level;
    bw_uint_t   mask;
} bw_test_conf_t;

typedef struct {
    bw_pool_t     *pool;
    bw_conf_t      cf;
    bw_conf_file_t file;
    bw_test_conf_t conf;
    const char    *err; /* stderr of the last bw_test_set() */
} bw_test_fx_t;

static int
bw_test_setup(void **state)
{
    bw_test_fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->pool = bw_pool_create(BW_POOL_DEFAULT_SIZE, NULL);
    assert_non_null(fx->pool);
    bw_str_set(&fx->file.name, "t.conf");
    fx->file.line = 7;
    fx->cf.pool = fx->pool;
    fx->cf.file = &fx->file;
    fx->cf.args = bw_array_create(fx->pool, 8, sizeof(bw_str_t));
    assert_non_null(fx->cf.args);

    bw_test_conf_t *c = &fx->conf;
    c->flag = c->num = BW_CONF_UNSET;
    c->size = BW_CONF_UNSET_SIZE;
    c->off = (off_t) BW_CONF_UNSET;
    c->msec = BW_CONF_UNSET_MSEC;
    c->sec = (time_t) BW_CONF_UNSET;
    c->strs = BW_CONF_UNSET_PTR;
    c->kvs = NULL;
    c->level = BW_CONF_UNSET_UINT;
    c->mask = 0;
    *state = fx;
    return 0;
}

static int
bw_test_teardown(void **state)
{
    bw_test_fx_t *fx = *state;
    bw_pool_destroy(fx->pool);
    free(fx);
    return 0;
}

/* Calls d's setter with arguments (NULL-terminated) as a parsed statement would. */
static const char *
bw_test_set(bw_test_fx_t *fx, const bw_directive_t *d, ...)
{
    va_list     ap;
    const char *a;

    fx->cf.args->nelts = 0;
    bw_str_t *name = bw_array_push(fx->cf.args);
    name->data = (u_char *) d->name;
    name->len = strlen(d->name);
    va_start(ap, d);
    while ((a = va_arg(ap, const char *)) != NULL) {
        bw_str_t *s = bw_array_push(fx->cf.args);
        s->data = (u_char *) a;
        s->len = strlen(a);
    }
    va_end(ap);

    bw_test_stderr_begin();
    const char *rv = d->set(&fx->cf, d, &fx->conf);
    fx->err = bw_test_stderr_end();
    return rv;
}

#define BW_TEST_OFF(f) offsetof(bw_test_conf_t, f)

static const bw_conf_bounds_t bw_test_bounds_1_9 = {1, 9};
static const bw_conf_bounds_t bw_test_bounds_min_5 = {5, -1};
static const bw_conf_bounds_t bw_test_bounds_1k_1m = {1024, 1048576};
static const bw_conf_bounds_t bw_test_bounds_1s_1h = {1000, 3600000};
static const bw_conf_enum_t   bw_test_levels[] = {{"low", 1}, {"high", 2}, {NULL, 0}};
static const bw_conf_enum_t   bw_test_bits[] = {{"a", 0x1}, {"b", 0x2}, {"TLSv1.3", 0x4},
                                                {NULL, 0}};

static const bw_directive_t bw_test_flag = {"t_flag", BW_CTX_MAIN, BW_ARGS_FLAG, BW_CONF_MAIN,
                                            bw_conf_set_flag, BW_TEST_OFF(flag), NULL};
static const bw_directive_t bw_test_num = {"t_num", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                           bw_conf_set_num, BW_TEST_OFF(num), NULL};
static const bw_directive_t bw_test_num_1_9 = {"t_num", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                               bw_conf_set_num, BW_TEST_OFF(num),
                                               &bw_test_bounds_1_9};
static const bw_directive_t bw_test_num_min_5 = {"t_num", BW_CTX_MAIN, BW_ARGS_TAKE1,
                                                 BW_CONF_MAIN, bw_conf_set_num, BW_TEST_OFF(num),
                                                 &bw_test_bounds_min_5};
static const bw_directive_t bw_test_size = {"t_size", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                            bw_conf_set_size, BW_TEST_OFF(size), NULL};
static const bw_directive_t bw_test_size_b = {"t_size", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                              bw_conf_set_size, BW_TEST_OFF(size),
                                              &bw_test_bounds_1k_1m};
static const bw_directive_t bw_test_off = {"t_off", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                           bw_conf_set_off, BW_TEST_OFF(off), NULL};
static const bw_directive_t bw_test_msec = {"t_msec", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                            bw_conf_set_msec, BW_TEST_OFF(msec), NULL};
static const bw_directive_t bw_test_msec_b = {"t_msec", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                              bw_conf_set_msec, BW_TEST_OFF(msec),
                                              &bw_test_bounds_1s_1h};
static const bw_directive_t bw_test_sec = {"t_sec", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                           bw_conf_set_sec, BW_TEST_OFF(sec), NULL};
static const bw_directive_t bw_test_str = {"t_str", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                           bw_conf_set_str, BW_TEST_OFF(str), NULL};
static const bw_directive_t bw_test_strs = {"t_strs", BW_CTX_MAIN, BW_ARGS_1MORE, BW_CONF_MAIN,
                                            bw_conf_set_str_array, BW_TEST_OFF(strs), NULL};
static const bw_directive_t bw_test_kv = {"t_kv", BW_CTX_MAIN, BW_ARGS_TAKE2, BW_CONF_MAIN,
                                          bw_conf_set_keyval, BW_TEST_OFF(kvs), NULL};
static const bw_directive_t bw_test_enum = {"t_enum", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN,
                                            bw_conf_set_enum, BW_TEST_OFF(level), bw_test_levels};
static const bw_directive_t bw_test_mask = {"t_mask", BW_CTX_MAIN, BW_ARGS_1MORE, BW_CONF_MAIN,
                                            bw_conf_set_bitmask, BW_TEST_OFF(mask), bw_test_bits};
static const bw_directive_t bw_test_noop = {"t_noop", BW_CTX_MAIN, BW_ARGS_ANY, BW_CONF_MAIN,
                                            bw_conf_set_noop, 0, NULL};

#define BW_TEST_EMERG(msg) "bulwark: [emerg] " msg " in t.conf:7\n"

/* ---- flag ---- */

static void
test_setter_flag_on_off_any_case(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_flag, "ON", NULL));
    assert_int_equal(fx->conf.flag, 1);
    fx->conf.flag = BW_CONF_UNSET;
    assert_null(bw_test_set(fx, &bw_test_flag, "off", NULL));
    assert_int_equal(fx->conf.flag, 0);
    assert_string_equal(bw_test_set(fx, &bw_test_flag, "on", NULL), "is duplicate");
    assert_int_equal(fx->conf.flag, 0);
    assert_string_equal(fx->err, "");
}

static void
test_setter_flag_invalid_value_message(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_ptr_equal(bw_test_set(fx, &bw_test_flag, "yes", NULL), BW_CONF_ERROR);
    assert_string_equal(fx->err, BW_TEST_EMERG("invalid value \"yes\" in \"t_flag\" directive, "
                                               "it must be \"on\" or \"off\""));
    assert_int_equal(fx->cf.errors, 1);
    assert_int_equal(fx->conf.flag, BW_CONF_UNSET);
}

/* ---- numbers ---- */

static void
test_setter_num_values_and_errors(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_num, "42", NULL));
    assert_int_equal(fx->conf.num, 42);
    assert_string_equal(bw_test_set(fx, &bw_test_num, "43", NULL), "is duplicate");
    assert_int_equal(fx->conf.num, 42);

    static const char *const bad[] = {"x", "", "-1", "1k", "4.2", "99999999999999999999"};
    for (size_t i = 0; i < bw_nelems(bad); i++) {
        fx->conf.num = BW_CONF_UNSET;
        assert_string_equal(bw_test_set(fx, &bw_test_num, bad[i], NULL), "invalid number");
    }
    assert_string_equal(fx->err, "");
}

static void
test_setter_num_bounds_messages(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_num_1_9, "9", NULL));
    fx->conf.num = BW_CONF_UNSET;
    assert_ptr_equal(bw_test_set(fx, &bw_test_num_1_9, "10", NULL), BW_CONF_ERROR);
    assert_string_equal(fx->err, BW_TEST_EMERG("value must be between 1 and 9"));
    fx->conf.num = BW_CONF_UNSET;
    assert_ptr_equal(bw_test_set(fx, &bw_test_num_1_9, "0", NULL), BW_CONF_ERROR);
    fx->conf.num = BW_CONF_UNSET;
    assert_null(bw_test_set(fx, &bw_test_num_min_5, "5000000", NULL));
    fx->conf.num = BW_CONF_UNSET;
    assert_ptr_equal(bw_test_set(fx, &bw_test_num_min_5, "4", NULL), BW_CONF_ERROR);
    assert_string_equal(fx->err, BW_TEST_EMERG("value must be equal to or greater than 5"));
    assert_int_equal(fx->cf.errors, 3);
}

/* ---- sizes and offsets ---- */

static void
test_setter_size_and_off(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_size, "16k", NULL));
    assert_int_equal(fx->conf.size, 16384);
    assert_string_equal(bw_test_set(fx, &bw_test_size, "1m", NULL), "is duplicate");
    fx->conf.size = BW_CONF_UNSET_SIZE;
    assert_string_equal(bw_test_set(fx, &bw_test_size, "1x", NULL), "invalid value");

    fx->conf.size = BW_CONF_UNSET_SIZE;
    assert_ptr_equal(bw_test_set(fx, &bw_test_size_b, "2m", NULL), BW_CONF_ERROR);
    assert_string_equal(fx->err, BW_TEST_EMERG("value must be between 1024 and 1048576"));

    assert_null(bw_test_set(fx, &bw_test_off, "3g", NULL));
    assert_int_equal(fx->conf.off, (off_t) 3 << 30);
    assert_string_equal(bw_test_set(fx, &bw_test_off, "1", NULL), "is duplicate");
    fx->conf.off = (off_t) BW_CONF_UNSET;
    assert_string_equal(bw_test_set(fx, &bw_test_off, "-5", NULL), "invalid value");
}

/* ---- times ---- */

static void
test_setter_msec_and_sec(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_msec, "75", NULL));
    assert_int_equal(fx->conf.msec, 75000);
    assert_string_equal(bw_test_set(fx, &bw_test_msec, "1s", NULL), "is duplicate");
    fx->conf.msec = BW_CONF_UNSET_MSEC;
    assert_null(bw_test_set(fx, &bw_test_msec, "1h 30m", NULL));
    assert_int_equal(fx->conf.msec, 5400000);
    fx->conf.msec = BW_CONF_UNSET_MSEC;
    assert_string_equal(bw_test_set(fx, &bw_test_msec, "1y", NULL), "invalid value");
    fx->conf.msec = BW_CONF_UNSET_MSEC;
    assert_ptr_equal(bw_test_set(fx, &bw_test_msec_b, "500ms", NULL), BW_CONF_ERROR);
    assert_string_equal(fx->err, BW_TEST_EMERG("value must be between 1000 and 3600000"));

    assert_null(bw_test_set(fx, &bw_test_sec, "1y", NULL));
    assert_int_equal(fx->conf.sec, 31536000);
    assert_string_equal(bw_test_set(fx, &bw_test_sec, "1", NULL), "is duplicate");
    fx->conf.sec = (time_t) BW_CONF_UNSET;
    assert_string_equal(bw_test_set(fx, &bw_test_sec, "500ms", NULL), "invalid value");
}

/* ---- strings ---- */

static void
test_setter_str_and_duplicate(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_str, "/var/run/x.pid", NULL));
    assert_true(bw_str_eq_lit(&fx->conf.str, "/var/run/x.pid"));
    assert_string_equal(bw_test_set(fx, &bw_test_str, "/other", NULL), "is duplicate");
    assert_true(bw_str_eq_lit(&fx->conf.str, "/var/run/x.pid"));
}

static void
test_setter_str_array_appends_every_argument(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_strs, "a", NULL));
    assert_null(bw_test_set(fx, &bw_test_strs, "b", "c", NULL));
    assert_non_null(fx->conf.strs);
    assert_ptr_not_equal(fx->conf.strs, BW_CONF_UNSET_PTR);
    assert_int_equal(fx->conf.strs->nelts, 3);
    bw_str_t *s = fx->conf.strs->elts;
    assert_true(bw_str_eq_lit(&s[0], "a"));
    assert_true(bw_str_eq_lit(&s[1], "b"));
    assert_true(bw_str_eq_lit(&s[2], "c"));
}

static void
test_setter_keyval_pairs(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_kv, "X-A", "1", NULL));
    assert_null(bw_test_set(fx, &bw_test_kv, "X-B", "$host", NULL));
    assert_int_equal(fx->conf.kvs->nelts, 2);
    bw_keyval_t *kv = fx->conf.kvs->elts;
    assert_true(bw_str_eq_lit(&kv[0].key, "X-A"));
    assert_true(bw_str_eq_lit(&kv[0].value, "1"));
    assert_true(bw_str_eq_lit(&kv[1].key, "X-B"));
    assert_true(bw_str_eq_lit(&kv[1].value, "$host"));
}

/* ---- enum and bitmask ---- */

static void
test_setter_enum(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_enum, "HIGH", NULL));
    assert_int_equal(fx->conf.level, 2);
    assert_string_equal(bw_test_set(fx, &bw_test_enum, "low", NULL), "is duplicate");
    fx->conf.level = BW_CONF_UNSET_UINT;
    assert_ptr_equal(bw_test_set(fx, &bw_test_enum, "mid", NULL), BW_CONF_ERROR);
    assert_string_equal(fx->err, BW_TEST_EMERG("invalid value \"mid\""));
    assert_int_equal(fx->conf.level, BW_CONF_UNSET_UINT);
}

static void
test_setter_bitmask(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_mask, "a", "tlsv1.3", NULL));
    assert_int_equal(fx->conf.mask, 0x5);
    assert_string_equal(fx->err, "");
    assert_null(bw_test_set(fx, &bw_test_mask, "b", "A", NULL)); /* a second line ORs */
    assert_int_equal(fx->conf.mask, 0x7);
    assert_string_equal(fx->err, "bulwark: [warn] duplicate value \"A\" in t.conf:7\n");
    assert_int_equal(fx->cf.errors, 0);
    assert_ptr_equal(bw_test_set(fx, &bw_test_mask, "b", "c", NULL), BW_CONF_ERROR);
    assert_string_equal(fx->err, "bulwark: [warn] duplicate value \"b\" in t.conf:7\n"
                                 BW_TEST_EMERG("invalid value \"c\""));
    assert_int_equal(fx->cf.errors, 1);
}

static void
test_setter_noop_accepts_anything(void **state)
{
    bw_test_fx_t *fx = *state;

    assert_null(bw_test_set(fx, &bw_test_noop, NULL));
    assert_null(bw_test_set(fx, &bw_test_noop, "x", "y", NULL));
    assert_string_equal(fx->err, "");
}

#define BW_TEST(f) cmocka_unit_test_setup_teardown(f, bw_test_setup, bw_test_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BW_TEST(test_setter_flag_on_off_any_case),
        BW_TEST(test_setter_flag_invalid_value_message),
        BW_TEST(test_setter_num_values_and_errors),
        BW_TEST(test_setter_num_bounds_messages),
        BW_TEST(test_setter_size_and_off),
        BW_TEST(test_setter_msec_and_sec),
        BW_TEST(test_setter_str_and_duplicate),
        BW_TEST(test_setter_str_array_appends_every_argument),
        BW_TEST(test_setter_keyval_pairs),
        BW_TEST(test_setter_enum),
        BW_TEST(test_setter_bitmask),
        BW_TEST(test_setter_noop_accepts_anything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
