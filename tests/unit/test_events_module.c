/*
 * test_events_module.c -- the events{} block through the real config
 * parser: defaults, each directive, and nginx's error messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "conf.h"
#include "cycle.h"
#include "event.h"
#include "module.h"
#include "pool.h"
#include "support.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static bw_open_file_t bw_test_log_file;
static bw_log_t       bw_test_log;
static bw_cycle_t     bw_test_cycle;
static char           bw_test_path[64];

static int
bw_test_setup(void **state)
{
    (void) state;
    bw_module_init();
    memset(&bw_test_cycle, 0, sizeof(bw_test_cycle));
    bw_test_log_capture(&bw_test_log, &bw_test_log_file);
    bw_test_cycle.log = &bw_test_log;
    bw_test_cycle.pool = bw_pool_create(4096, &bw_test_log);
    bw_test_cycle.conf = bw_pcalloc(bw_test_cycle.pool, (bw_modules_n + 1) * sizeof(void *));
    for (size_t i = 0; bw_modules[i]; i++) {
        bw_module_t *m = bw_modules[i];
        if (m->create_conf && m->type != BW_MODULE_HTTP) {
            bw_test_cycle.conf[m->index] = m->create_conf(&bw_test_cycle);
        }
    }
    snprintf(bw_test_path, sizeof(bw_test_path), "/tmp/bw_test_events_%d.conf", (int) getpid());
    return bw_test_cycle.conf[bw_events_module.index] ? 0 : -1;
}

static int
bw_test_teardown(void **state)
{
    (void) state;
    unlink(bw_test_path);
    bw_pool_destroy(bw_test_cycle.pool);
    close(bw_test_log_file.fd);
    return 0;
}

/* Parses `text` as a whole config file; BW_OK or BW_ERROR. */
static bw_rc_t
bw_test_parse(const char *text)
{
    FILE *f = fopen(bw_test_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);

    bw_conf_t cf;
    bw_conf_ctx_t ctx = {bw_test_cycle.conf, NULL, NULL};
    memset(&cf, 0, sizeof(cf));
    cf.cycle = &bw_test_cycle;
    cf.pool = bw_test_cycle.pool;
    cf.temp_pool = bw_pool_create(4096, &bw_test_log);
    cf.args = bw_array_create(bw_test_cycle.pool, BW_CONF_MAX_ARGS, sizeof(bw_str_t));
    cf.log = &bw_test_log;
    cf.ctx = &ctx;
    cf.ctx_type = BW_CTX_MAIN;
    bw_str_t name = {strlen(bw_test_path), (u_char *) bw_test_path};
    bw_rc_t rc = bw_conf_parse(&cf, &name);
    bw_pool_destroy(cf.temp_pool);
    return rc;
}

static bw_event_conf_t *
bw_test_ecf(void)
{
    return bw_event_get_conf(&bw_test_cycle);
}

static const char *
bw_test_init_conf(void)
{
    return bw_events_module.init_conf(&bw_test_cycle, bw_test_ecf());
}

static void
test_events_empty_block_gives_nginx_defaults(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("events { }\n"), BW_OK);
    assert_null(bw_test_init_conf());
    bw_event_conf_t *ecf = bw_test_ecf();
    assert_int_equal(ecf->connections, 512);
    assert_int_equal(ecf->multi_accept, 0);
    assert_int_equal(ecf->accept_mutex, 0);
    assert_int_equal(ecf->accept_mutex_delay, 500);
}

static void
test_events_directives_set_their_fields(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("events {\n"
                                   "    worker_connections 1024;\n"
                                   "    use epoll;\n"
                                   "    multi_accept on;\n"
                                   "    accept_mutex on;\n"
                                   "    accept_mutex_delay 100ms;\n"
                                   "    debug_connection 127.0.0.1;\n"
                                   "    debug_connection ::1;\n"
                                   "    debug_connection 10.0.0.0/8;\n"
                                   "    debug_connection unix:;\n"
                                   "    worker_aio_requests 32;\n"
                                   "}\n"),
                     BW_OK);
    assert_null(bw_test_init_conf());
    bw_event_conf_t *ecf = bw_test_ecf();
    assert_int_equal(ecf->connections, 1024);
    assert_int_equal(ecf->multi_accept, 1);
    assert_int_equal(ecf->accept_mutex, 1);
    assert_int_equal(ecf->accept_mutex_delay, 100);
}

static void
test_events_missing_block_is_reported(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("\n"), BW_OK);
    assert_string_equal(bw_test_init_conf(), "no \"events\" section in configuration");
}

static void
test_events_duplicate_block_is_reported(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("events { }\nevents { }\n"), BW_ERROR);
    assert_true(bw_test_log_has(&bw_test_log_file, "\"events\" directive is duplicate in "));
    assert_true(bw_test_log_has(&bw_test_log_file, ".conf:2"));
}

static void
test_events_duplicate_worker_connections_is_reported(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("events { worker_connections 10; worker_connections 20; }\n"),
                     BW_ERROR);
    assert_true(bw_test_log_has(&bw_test_log_file,
                                "\"worker_connections\" directive is duplicate in "));
}

static void
test_events_invalid_worker_connections_is_reported(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("events { worker_connections abc; }\n"), BW_ERROR);
    assert_true(bw_test_log_has(&bw_test_log_file, "[emerg]"));
    assert_true(bw_test_log_has(&bw_test_log_file, "invalid number \"abc\" in "));
}

static void
test_events_unknown_event_type_is_reported(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("events { use kqueue; }\n"), BW_ERROR);
    assert_true(bw_test_log_has(&bw_test_log_file, "invalid event type \"kqueue\" in "));
}

static void
test_events_bad_debug_connection_is_reported(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("events { debug_connection 1.2.3.4/40; }\n"), BW_ERROR);
    assert_true(bw_test_log_has(&bw_test_log_file,
                                "host not found in debug_connection \"1.2.3.4/40\" in "));
}

static void
test_events_debug_connection_low_bits_warn(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("events { debug_connection 10.0.0.1/8; }\n"), BW_OK);
    assert_true(bw_test_log_has(&bw_test_log_file, "[warn]"));
    assert_true(bw_test_log_has(&bw_test_log_file,
                                "low address bits of 10.0.0.1/8 are meaningless"));
}

static void
test_events_directive_outside_block_is_not_allowed(void **state)
{
    (void) state;
    assert_int_equal(bw_test_parse("events { }\nworker_connections 5;\n"), BW_ERROR);
    assert_true(bw_test_log_has(&bw_test_log_file,
                                "\"worker_connections\" directive is not allowed here in "));
}

static void
test_events_too_few_connections_for_listeners(void **state)
{
    (void) state;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(8080)};
    assert_non_null(bw_listening_add(&bw_test_cycle, (struct sockaddr *) &sin, sizeof(sin)));
    assert_int_equal(bw_test_parse("events { worker_connections 1; }\n"), BW_OK);
    assert_string_equal(bw_test_init_conf(),
                        "1 worker_connections are not enough for 1 listening sockets");
}

int
main(void)
{
#define BW_T(f) cmocka_unit_test_setup_teardown(f, bw_test_setup, bw_test_teardown)
    const struct CMUnitTest tests[] = {
        BW_T(test_events_empty_block_gives_nginx_defaults),
        BW_T(test_events_directives_set_their_fields),
        BW_T(test_events_missing_block_is_reported),
        BW_T(test_events_duplicate_block_is_reported),
        BW_T(test_events_duplicate_worker_connections_is_reported),
        BW_T(test_events_invalid_worker_connections_is_reported),
        BW_T(test_events_unknown_event_type_is_reported),
        BW_T(test_events_bad_debug_connection_is_reported),
        BW_T(test_events_debug_connection_low_bits_warn),
        BW_T(test_events_directive_outside_block_is_not_allowed),
        BW_T(test_events_too_few_connections_for_listeners),
    };
#undef BW_T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
