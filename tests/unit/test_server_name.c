/*
 * test_server_name.c -- http/server_name.c: virtual server selection in
 * nginx's order (each row checked against /usr/sbin/nginx 1.22 with one
 * `return 200 Sn` server per name set), conflicts refused whole in config
 * order, and invalid wildcards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pool.h"
#include "regex.h"
#include "server_name.h"

static bw_pool_t *bw_test_pool;

static bw_http_core_srv_conf_t bw_test_srv[16];

static bw_rc_t
bw_test_add(bw_http_server_names_t *names, int server, const char *name)
{
    bw_http_server_name_t sn;

    memset(&sn, 0, sizeof(sn));
    sn.server = &bw_test_srv[server];
    if (name[0] == '~') {
        sn.name.data = (u_char *) name + 1;
        sn.name.len = strlen(name) - 1;
        bool caseless = false;
        for (size_t i = 0; i < sn.name.len; i++) {
            caseless = caseless || (sn.name.data[i] >= 'A' && sn.name.data[i] <= 'Z');
        }
        sn.regex = bw_regex_compile_pool(bw_test_pool, &sn.name, caseless, NULL);
        assert_non_null(sn.regex);
    } else {
        sn.name.data = (u_char *) name;
        sn.name.len = strlen(name);
    }
    return bw_http_server_names_add(names, &sn);
}

static bw_rc_t
bw_test_match(void *data, const bw_http_server_name_t *sn, const bw_str_t *host)
{
    return bw_regex_match(sn->regex, host) ? BW_OK : BW_DECLINED;
}

/* The index of the server chosen for host, or -1 when none matched. */
static int
bw_test_find(bw_http_server_names_t *names, const char *host)
{
    bw_str_t                 h = {strlen(host), (u_char *) host};
    bw_http_core_srv_conf_t *s = NULL;

    bw_rc_t rc = bw_http_server_names_find(names, &h, bw_test_match, NULL, &s, NULL);
    if (rc == BW_DECLINED) {
        return -1;
    }
    assert_int_equal(rc, BW_OK);
    return (int) (s - bw_test_srv);
}

static int
bw_test_setup(void **state)
{
    bw_test_pool = bw_pool_create(4096, NULL);
    return bw_test_pool ? 0 : -1;
}

static int
bw_test_teardown(void **state)
{
    bw_pool_destroy(bw_test_pool);
    return 0;
}

static void
test_server_name_lookup_order_matches_nginx(void **state)
{
    bw_http_server_names_t *n = bw_http_server_names_create(bw_test_pool);

    assert_non_null(n);
    assert_int_equal(bw_test_add(n, 1, "_"), BW_OK);
    assert_int_equal(bw_test_add(n, 2, "example.com"), BW_OK);
    assert_int_equal(bw_test_add(n, 2, "www.example.com"), BW_OK);
    assert_int_equal(bw_test_add(n, 3, "*.example.com"), BW_OK);
    assert_int_equal(bw_test_add(n, 4, "*.b.example.com"), BW_OK);
    assert_int_equal(bw_test_add(n, 5, "www.*"), BW_OK);
    assert_int_equal(bw_test_add(n, 6, "www.example.*"), BW_OK);
    assert_int_equal(bw_test_add(n, 7, "~^(?<sub>\\w+)\\.regex\\.net$"), BW_OK);
    assert_int_equal(bw_test_add(n, 8, "~^mail\\d+\\."), BW_OK);
    assert_int_equal(bw_test_add(n, 9, ".dot.org"), BW_OK);
    assert_int_equal(bw_test_add(n, 10, ""), BW_OK);
    assert_int_equal(bw_test_add(n, 11, "~^WWW"), BW_OK);

    static const struct {
        const char *host;
        int         server;
    } rows[] = {
        {"example.com", 2},       {"www.example.com", 2},   {"x.example.com", 3},
        {"a.b.example.com", 4},   {"b.example.com", 3},     {"www.example.org", 6},
        {"www.foo.org", 5},       {"x.regex.net", 7},       {"mail1.x", 8},
        {"dot.org", 9},           {"x.dot.org", 9},         {"unknown", -1},
        {"www.x.example.com", 3}, {"www.example.co.uk", 6}, {"www", 11},
        {"www2.zzz", 11},         {"", 10},                 {"_", 1},
        {"example.com.x", -1},    {"com", -1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int got = bw_test_find(n, rows[i].host);
        if (got != rows[i].server) {
            fail_msg("%s: expected S%d, got S%d", rows[i].host, rows[i].server, got);
        }
    }
}

static void
test_server_name_conflicts_are_refused_whole_in_config_order(void **state)
{
    bw_http_server_names_t *n = bw_http_server_names_create(bw_test_pool);

    assert_int_equal(bw_test_add(n, 1, "a.com"), BW_OK);
    assert_int_equal(bw_test_add(n, 2, ".a.com"), BW_BUSY); /* exact part taken */
    assert_int_equal(bw_test_add(n, 3, "*.b.com"), BW_OK);
    assert_int_equal(bw_test_add(n, 4, ".b.com"), BW_BUSY); /* wildcard part taken */
    assert_int_equal(bw_test_add(n, 5, ".c.com"), BW_OK);
    assert_int_equal(bw_test_add(n, 6, "*.c.com"), BW_BUSY);
    assert_int_equal(bw_test_add(n, 6, "c.com"), BW_BUSY);
    assert_int_equal(bw_test_add(n, 7, "m.*"), BW_OK);
    assert_int_equal(bw_test_add(n, 8, "m.*"), BW_BUSY);
    assert_int_equal(bw_test_add(n, 1, "a.com"), BW_BUSY); /* the same server twice too */
    assert_int_equal(bw_test_add(n, 9, "~a"), BW_OK);
    assert_int_equal(bw_test_add(n, 10, "~a"), BW_OK);   /* regexes never conflict */

    /* Refused names left nothing behind: b.com is not server 4's. */
    assert_int_equal(bw_test_find(n, "x.a.com"), 9);   /* only the regex ~a */
    assert_int_equal(bw_test_find(n, "b.com"), -1);
    assert_int_equal(bw_test_find(n, "x.b.com"), 3);
    assert_int_equal(bw_test_find(n, "c.com"), 5);
    assert_int_equal(bw_test_find(n, "x.c.com"), 5);
    assert_int_equal(bw_test_find(n, "m.x"), 7);
}

static void
test_server_name_invalid_wildcards_are_declined(void **state)
{
    static const char *const bad[] = {"www.*.com", "a..b", "a*", "*.a.*", "*..a.com", "a.*.*",
                                      "*.*", "*a.com"};
    static const char *const good[] = {"*.a.com.", ".*", "a.com.", "x-y.z", "_"};
    bw_http_server_names_t *n = bw_http_server_names_create(bw_test_pool);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (bw_test_add(n, 1, bad[i]) != BW_DECLINED) {
            fail_msg("%s accepted", bad[i]);
        }
    }
    assert_int_equal(bw_http_server_names_count(n), 0);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (bw_test_add(n, 1, good[i]) != BW_OK) {
            fail_msg("%s refused", good[i]);
        }
    }
}

static void
test_server_name_table_grows_past_many_names(void **state)
{
    bw_http_server_names_t *n = bw_http_server_names_create(bw_test_pool);
    char                    name[64];

    for (int i = 0; i < 2000; i++) {
        char *copy = bw_palloc(bw_test_pool, 64);
        snprintf(copy, 64, "host%d.example.net", i);
        assert_int_equal(bw_test_add(n, i % 16, copy), BW_OK);
    }
    assert_int_equal(bw_http_server_names_count(n), 2000);
    for (int i = 0; i < 2000; i += 7) {
        snprintf(name, sizeof(name), "host%d.example.net", i);
        assert_int_equal(bw_test_find(n, name), i % 16);
    }
    assert_int_equal(bw_test_find(n, "host2000.example.net"), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_name_lookup_order_matches_nginx,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(
            test_server_name_conflicts_are_refused_whole_in_config_order, bw_test_setup,
            bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_server_name_invalid_wildcards_are_declined,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_server_name_table_grows_past_many_names,
                                        bw_test_setup, bw_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
