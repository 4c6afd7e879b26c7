/*
 * test_log_conf.c -- the error_log directive's arguments (core/log_conf.c),
 * shared by the main and http levels: the default and named levels, nginx's
 * debug_* levels, duplicates, the stderr and file targets, the refused
 * syslog: and memory: targets (with nginx's wording, "in file:line"), and
 * the list a level's further targets make.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cycle.h"
#include "log_conf.h"
#include "pool.h"
#include "support.h"

typedef struct {
    bw_cycle_t     cycle;
    bw_conf_t      cf;
    bw_conf_file_t file;
} bw_test_fx_t;

static int
bw_test_setup(void **state)
{
    bw_test_fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->cycle.pool = bw_pool_create(BW_POOL_DEFAULT_SIZE, NULL);
    assert_non_null(fx->cycle.pool);
    bw_str_set(&fx->cycle.prefix, "/prefix/");
    assert_int_equal(bw_array_init(&fx->cycle.open_files, fx->cycle.pool, 4,
                                   sizeof(bw_open_file_t *)), BW_OK);
    bw_str_set(&fx->file.name, "t.conf");
    fx->file.line = 3;
    fx->cf.cycle = &fx->cycle;
    fx->cf.pool = fx->cycle.pool;
    fx->cf.file = &fx->file;
    fx->cf.args = bw_array_create(fx->cycle.pool, 8, sizeof(bw_str_t));
    assert_non_null(fx->cf.args);
    *state = fx;
    return 0;
}

static int
bw_test_teardown(void **state)
{
    bw_test_fx_t *fx = *state;
    bw_pool_destroy(fx->cycle.pool);
    free(fx);
    return 0;
}

/*
 * Parses "error_log <args...>" (NULL-terminated) into log; the stderr
 * output goes to *err when err is not NULL.
 */
static bw_rc_t
bw_test_parse(bw_test_fx_t *fx, bw_log_t *log, const char **err, ...)
{
    va_list     ap;
    const char *a;

    fx->cf.args->nelts = 0;
    *(bw_str_t *) bw_array_push(fx->cf.args) = bw_test_cstr("error_log");
    va_start(ap, err);
    while ((a = va_arg(ap, const char *)) != NULL) {
        *(bw_str_t *) bw_array_push(fx->cf.args) = bw_test_cstr(a);
    }
    va_end(ap);
    bw_test_stderr_begin();
    bw_rc_t     rc = bw_log_target_parse(&fx->cf, log);
    const char *out = bw_test_stderr_end();
    if (err != NULL) {
        *err = out;
    }
    return rc;
}

static void
test_log_conf_file_target_defaults_to_error_level(void **state)
{
    bw_test_fx_t *fx = *state;
    bw_log_t      log = {0};

    assert_int_equal(bw_test_parse(fx, &log, NULL, "logs/e.log", NULL), BW_OK);
    assert_int_equal(log.level, BW_LOG_ERR);
    assert_non_null(log.file);
    assert_string_equal((char *) log.file->name.data, "/prefix/logs/e.log");
    assert_int_equal(fx->cycle.open_files.nelts, 1);
}

static void
test_log_conf_same_file_is_opened_once(void **state)
{
    bw_test_fx_t *fx = *state;
    bw_log_t      a = {0}, b = {0};

    assert_int_equal(bw_test_parse(fx, &a, NULL, "/var/e.log", "warn", NULL), BW_OK);
    assert_int_equal(bw_test_parse(fx, &b, NULL, "/var/e.log", "info", NULL), BW_OK);
    assert_ptr_equal(a.file, b.file);
    assert_int_equal(a.level, BW_LOG_WARN);
    assert_int_equal(b.level, BW_LOG_INFO);
    assert_int_equal(fx->cycle.open_files.nelts, 1);
}

static void
test_log_conf_stderr_is_fd_2(void **state)
{
    bw_test_fx_t *fx = *state;
    bw_log_t      log = {0};

    assert_int_equal(bw_test_parse(fx, &log, NULL, "stderr", "notice", NULL), BW_OK);
    assert_ptr_equal(log.file, &bw_log_stderr_file);
    assert_int_equal(log.level, BW_LOG_NOTICE);
    assert_int_equal(fx->cycle.open_files.nelts, 0);
}

static void
test_log_conf_debug_levels_mean_debug(void **state)
{
    bw_test_fx_t *fx = *state;
    bw_log_t      log = {0};

    assert_int_equal(bw_test_parse(fx, &log, NULL, "stderr", "debug_http", NULL), BW_OK);
    assert_int_equal(log.level, BW_LOG_DEBUG);
    assert_int_equal(bw_test_parse(fx, &log, NULL, "stderr", "info", "debug_core", NULL), BW_OK);
    assert_int_equal(log.level, BW_LOG_DEBUG);
}

static void
test_log_conf_bad_levels_are_refused_as_nginx(void **state)
{
    bw_test_fx_t *fx = *state;
    bw_log_t      log = {0};
    const char   *err;

    assert_int_equal(bw_test_parse(fx, &log, &err, "stderr", "loud", NULL), BW_ERROR);
    assert_non_null(strstr(err, "[emerg] invalid log level \"loud\" in t.conf:3"));
    assert_int_equal(bw_test_parse(fx, &log, &err, "stderr", "warn", "info", NULL), BW_ERROR);
    assert_non_null(strstr(err, "[emerg] duplicate log level \"info\" in t.conf:3"));
    assert_null(log.file); /* untouched on error */
    assert_int_equal(log.level, 0);
}

static void
test_log_conf_syslog_and_memory_are_not_supported(void **state)
{
    bw_test_fx_t *fx = *state;
    bw_log_t      log = {0};
    const char   *err;

    assert_int_equal(bw_test_parse(fx, &log, &err, "syslog:server=127.0.0.1", NULL), BW_ERROR);
    assert_non_null(strstr(err, "[emerg] syslog error_log targets are not supported by bulwark in "
                                "t.conf:3"));
    assert_int_equal(bw_test_parse(fx, &log, &err, "memory:1m", "debug", NULL), BW_ERROR);
    assert_non_null(strstr(err, "[emerg] memory error_log targets are not supported by bulwark"));
    /* the level is judged first, as nginx does for a syslog target */
    assert_int_equal(bw_test_parse(fx, &log, &err, "syslog:server=127.0.0.1", "bogus", NULL),
                     BW_ERROR);
    assert_non_null(strstr(err, "invalid log level \"bogus\""));
    assert_null(log.file);
}

static void
test_log_conf_further_targets_are_appended_in_order(void **state)
{
    bw_log_t head = {0}, second = {0}, third = {0};

    bw_log_target_append(&head, &second);
    bw_log_target_append(&head, &third);
    assert_ptr_equal(head.next, &second);
    assert_ptr_equal(second.next, &third);
    assert_null(third.next);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_conf_file_target_defaults_to_error_level,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_log_conf_same_file_is_opened_once, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_log_conf_stderr_is_fd_2, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_log_conf_debug_levels_mean_debug, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_log_conf_bad_levels_are_refused_as_nginx,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_log_conf_syslog_and_memory_are_not_supported,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test(test_log_conf_further_targets_are_appended_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
