/*
 * conf_check.c -- configurations built from a printf format: start a server
 * with one, or run `-t` on one and check what the binary says about it.
 * These fail the running cmocka test themselves.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text of fmt with args, malloc'd; fails the test when out of memory. */
static char *bw_test_conf_vformat(const char *fmt, va_list args)
{
    char *conf = NULL;

    if (vasprintf(&conf, fmt, args) < 0) {
        fail_msg("no memory");
    }
    return conf;
}

bw_test_server_t *bw_test_server_start_fmt(const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    char *conf = bw_test_conf_vformat(fmt, args);
    va_end(args);

    bw_test_server_t *srv = bw_test_server_start(conf);
    free(conf);
    assert_non_null(srv);
    return srv;
}

/* bw_test_conf_test() with a va_list. */
static char *bw_test_conf_vtest(int *status, const char *fmt, va_list args)
{
    char *conf = bw_test_conf_vformat(fmt, args);
    char *out = NULL;

    bw_test_server_t *srv = bw_test_server_prepare(conf);
    free(conf);
    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, status, "-t"), 0);
    bw_test_server_stop(srv);
    assert_non_null(out);
    return out;
}

char *bw_test_conf_test(int *status, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    char *out = bw_test_conf_vtest(status, fmt, args);
    va_end(args);
    return out;
}

void bw_test_conf_expect_error(const char *message, const char *fmt, ...)
{
    va_list args;
    int     st;
    char    got[2048];

    va_start(args, fmt);
    char *out = bw_test_conf_vtest(&st, fmt, args);
    va_end(args);

    bool ok = st == 1 && strstr(out, message) != NULL;
    snprintf(got, sizeof(got), "%s", out);
    free(out);
    if (!ok) {
        fail_msg("expected exit 1 and \"%s\", got %d:\n%s", message, st, got);
    }
}

void
bw_test_conf_check_marked(const char *http, const char *message, char *failures, size_t size)
{
    char *conf = NULL, *out = NULL;
    int   st = -1;

    assert_true(asprintf(&conf, "http {\n%s\n}\n", http) > 0);
    bw_test_server_t *srv = bw_test_server_prepare(conf);
    free(conf);
    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t"), 0);

    char *text = bw_test_server_read_file(srv, "conf/bulwark.conf", NULL);
    char *mark = text ? strstr(text, "@@") : NULL;
    /* the line marked "@@", or for errors found when merging (no mark), the
     * line of the http block's closing brace, as nginx reports them */
    if (text != NULL && mark == NULL) {
        mark = strrchr(text, '}');
    }
    int line = 1;
    for (char *p = text; mark && p < mark; p++) {
        line += *p == '\n';
    }
    char want[1024];
    snprintf(want, sizeof(want), "%s in %s:%d", message, srv->conf_path, line);
    if (st != 1 || out == NULL || strstr(out, want) == NULL) {
        size_t n = strlen(failures);
        snprintf(failures + n, size - n, "%s\nwant exit 1 and \"%s\", got %d:\n%s\n", http,
                 want, st, out ? out : "");
    }
    free(text);
    free(out);
    bw_test_server_stop(srv);
}
