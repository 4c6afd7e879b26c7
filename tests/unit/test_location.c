/*
 * test_location.c -- http/location.c: the location search as nginx 1.22
 * answers it (each table row below was checked against /usr/sbin/nginx with
 * `return 200 <tag>` locations): exact beats everything, longest prefix,
 * "^~" stops the regex pass of its own level only, regexes in config order,
 * nested locations searched first, auto_redirect, duplicates, named
 * locations, and prefixes nested in regex locations being ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "location.h"
#include "pool.h"
#include "regex.h"

static bw_pool_t *bw_test_pool;

/* Builds a location from "=/x", "^~/x", "~re", "~*re", "@n" or "/x" and adds it. */
static bw_http_core_loc_conf_t *
bw_test_loc(bw_http_core_loc_conf_t *parent, const char *spec)
{
    bw_http_core_loc_conf_t *c = bw_pcalloc(bw_test_pool, sizeof(*c));
    const char              *name = spec;

    assert_non_null(c);
    if (strncmp(spec, "^~", 2) == 0) {
        c->noregex = true;
        name = spec + 2;
    } else if (spec[0] == '=') {
        c->exact_match = true;
        name = spec + 1;
    } else if (strncmp(spec, "~*", 2) == 0) {
        c->regex_caseless = true;
        name = spec + 2;
    } else if (spec[0] == '~') {
        name = spec + 1;
    } else if (spec[0] == '@') {
        c->named = true;
    }
    c->name.len = strlen(name);
    c->name.data = (u_char *) name;
    if (spec[0] == '~') {
        c->regex = bw_regex_compile_pool(bw_test_pool, &c->name, c->regex_caseless, NULL);
        assert_non_null(c->regex);
    }
    assert_int_equal(bw_http_location_add(bw_test_pool, parent, c), BW_OK);
    return c;
}

static bw_rc_t
bw_test_match(void *data, bw_http_core_loc_conf_t *clcf, const bw_str_t *uri)
{
    int *calls = data;
    (*calls)++;
    return bw_regex_match(clcf->regex, uri) ? BW_OK : BW_DECLINED;
}

/* Finds uri below srv; returns the chosen location's spec tag (its name). */
static const char *
bw_test_find(bw_http_core_loc_conf_t *srv, const char *uri, bw_rc_t *rc)
{
    static char              out[128];
    bw_http_core_loc_conf_t *c = srv;
    bw_str_t                 u = {strlen(uri), (u_char *) uri};
    int                      calls = 0;

    *rc = bw_http_location_find(&c, &u, bw_test_match, &calls);
    if (c == srv) {
        return "(server)";
    }
    snprintf(out, sizeof(out), "%s%s%.*s", c->exact_match ? "=" : (c->noregex ? "^~" : ""),
             c->regex ? (c->regex_caseless ? "~*" : "~") : "", (int) c->name.len,
             (char *) c->name.data);
    return out;
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

static bw_http_core_loc_conf_t *
bw_test_server(void)
{
    bw_http_core_loc_conf_t *srv = bw_pcalloc(bw_test_pool, sizeof(*srv));
    assert_non_null(srv);
    return srv;
}

static void
bw_test_build(bw_http_core_loc_conf_t *srv, bw_array_t *named)
{
    bw_http_core_loc_conf_t *dup = NULL;
    assert_int_equal(bw_http_location_tree_init(bw_test_pool, srv, named, &dup), BW_OK);
    assert_null(dup);
}

static void
test_location_order_matches_nginx(void **state)
{
    bw_http_core_loc_conf_t *srv = bw_test_server();

    bw_test_loc(srv, "=/");
    bw_test_loc(srv, "/");
    bw_test_loc(srv, "/documents/");
    bw_test_loc(srv, "^~/images/");
    bw_test_loc(srv, "~*\\.(gif|jpg|jpeg)$");
    bw_http_core_loc_conf_t *a = bw_test_loc(srv, "/a/");
    bw_http_core_loc_conf_t *b = bw_test_loc(a, "/a/b/");
    bw_test_loc(b, "~\\.x$");
    bw_test_loc(a, "~\\.y$");
    bw_test_loc(a, "^~/a/n/");
    bw_test_loc(srv, "~\\.(x|y|z)$");
    bw_test_loc(srv, "=/e");
    bw_test_loc(srv, "/e/");
    bw_test_loc(srv, "/ep");
    bw_http_core_loc_conf_t *r = bw_test_loc(srv, "~/r/");
    bw_test_loc(r, "~\\.q$");
    bw_test_loc(r, "/r/x");
    bw_test_build(srv, NULL);

    static const struct {
        const char *uri;
        const char *loc;
    } rows[] = {
        {"/", "=/"},
        {"/index.html", "/"},
        {"/documents/document.html", "/documents/"},
        {"/images/1.gif", "^~/images/"},
        {"/documents/1.jpg", "~*\\.(gif|jpg|jpeg)$"},
        {"/DOCUMENTS/1.JPG", "~*\\.(gif|jpg|jpeg)$"},
        {"/IMAGES/1.GIF", "~*\\.(gif|jpg|jpeg)$"}, /* prefixes are case-sensitive */
        {"/a/b/c.x", "~\\.x$"},                    /* the deepest level's regex first */
        {"/a/b/c.y", "~\\.y$"},                    /* then the enclosing level's */
        {"/a/b/c.z", "~\\.(x|y|z)$"},              /* then the server's */
        {"/a/b/c", "/a/b/"},
        {"/a/c.x", "~\\.(x|y|z)$"},
        {"/q.x", "~\\.(x|y|z)$"},
        {"/a/n/q.x", "~\\.(x|y|z)$"}, /* a nested ^~ only stops its own level's regexes */
        {"/a/n/q", "^~/a/n/"},
        {"/e", "=/e"},
        {"/e/", "/e/"},
        {"/ep", "/ep"},
        {"/epx", "/ep"},
        {"/e/x", "/e/"},
        {"/r/a.q", "~\\.q$"},
        {"/r/a", "~/r/"},
        {"/r/x", "~/r/"}, /* a prefix nested in a regex location is never chosen */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bw_rc_t rc;
        const char *got = bw_test_find(srv, rows[i].uri, &rc);
        if (strcmp(got, rows[i].loc) != 0) {
            fail_msg("%s: expected %s, got %s", rows[i].uri, rows[i].loc, got);
        }
        assert_int_equal(rc, BW_OK);
    }
}

static void
test_location_exact_beats_longer_prefix_and_regex(void **state)
{
    bw_http_core_loc_conf_t *srv = bw_test_server();
    bw_rc_t                  rc;

    bw_test_loc(srv, "~.");
    bw_test_loc(srv, "/a");
    bw_test_loc(srv, "=/a");
    bw_test_loc(srv, "/ab");
    bw_test_build(srv, NULL);

    assert_string_equal(bw_test_find(srv, "/a", &rc), "=/a");
    assert_string_equal(bw_test_find(srv, "/abc", &rc), "~.");
    assert_string_equal(bw_test_find(srv, "", &rc), "(server)");
}

static void
test_location_longest_prefix_among_many(void **state)
{
    bw_http_core_loc_conf_t *srv = bw_test_server();
    static const char *const names[] = {"/", "/a", "/a/b", "/a/b/c", "/a/bz", "/a/c", "/b",
                                        "/a/b/c/d/e", "/ab", "/a/b/", "=/a/b/c/d"};
    bw_rc_t rc;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        bw_test_loc(srv, names[i]);
    }
    bw_test_build(srv, NULL);

    assert_string_equal(bw_test_find(srv, "/a/b/c/d", &rc), "=/a/b/c/d");
    assert_string_equal(bw_test_find(srv, "/a/b/c/d/x", &rc), "/a/b/c");
    assert_string_equal(bw_test_find(srv, "/a/b/c/d/e/f", &rc), "/a/b/c/d/e");
    assert_string_equal(bw_test_find(srv, "/a/by", &rc), "/a/b");
    assert_string_equal(bw_test_find(srv, "/a/bzz", &rc), "/a/bz");
    assert_string_equal(bw_test_find(srv, "/a/b/x", &rc), "/a/b/");
    assert_string_equal(bw_test_find(srv, "/a/a", &rc), "/a");
    assert_string_equal(bw_test_find(srv, "/abc", &rc), "/ab");
    assert_string_equal(bw_test_find(srv, "/c", &rc), "/");
    assert_string_equal(bw_test_find(srv, "/", &rc), "/");
}

static void
test_location_empty_server_selects_server_conf(void **state)
{
    bw_http_core_loc_conf_t *srv = bw_test_server();
    bw_rc_t                  rc;

    bw_test_build(srv, NULL);
    assert_string_equal(bw_test_find(srv, "/x", &rc), "(server)");
    assert_int_equal(rc, BW_OK);

    bw_test_loc(srv, "/only/");
    bw_test_build(srv, NULL);
    assert_string_equal(bw_test_find(srv, "/x", &rc), "(server)");
}

static void
test_location_auto_redirect_asks_for_slash(void **state)
{
    bw_http_core_loc_conf_t *srv = bw_test_server();
    bw_rc_t                  rc;

    bw_test_loc(srv, "/");
    bw_test_loc(srv, "/dir/")->auto_redirect = true;
    bw_test_loc(srv, "/d2/")->auto_redirect = true;
    bw_test_loc(srv, "=/d2");
    bw_test_loc(srv, "/d3");
    bw_test_loc(srv, "/d3/")->auto_redirect = true;
    bw_test_loc(srv, "/plain/");
    bw_test_build(srv, NULL);

    assert_string_equal(bw_test_find(srv, "/dir", &rc), "/dir/");
    assert_int_equal(rc, BW_DONE);
    assert_string_equal(bw_test_find(srv, "/dir/", &rc), "/dir/");
    assert_int_equal(rc, BW_OK);
    assert_string_equal(bw_test_find(srv, "/d2", &rc), "=/d2");
    assert_int_equal(rc, BW_OK);
    assert_string_equal(bw_test_find(srv, "/d3", &rc), "/d3");
    assert_int_equal(rc, BW_OK);
    assert_string_equal(bw_test_find(srv, "/plain", &rc), "/");
    assert_int_equal(rc, BW_OK);
    assert_string_equal(bw_test_find(srv, "/di", &rc), "/");
    assert_int_equal(rc, BW_OK);
}

static void
test_location_duplicates_are_reported_with_the_later_one(void **state)
{
    static const char *const pairs[][2] = {
        {"/a", "/a"}, {"/a", "^~/a"}, {"=/a", "=/a"}, {"^~/a", "/a"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        bw_http_core_loc_conf_t *srv = bw_test_server();
        bw_http_core_loc_conf_t *dup = NULL;

        bw_test_loc(srv, "/z");
        bw_test_loc(srv, pairs[i][0]);
        bw_test_loc(srv, "=/b");
        bw_http_core_loc_conf_t *second = bw_test_loc(srv, pairs[i][1]);
        assert_int_equal(bw_http_location_tree_init(bw_test_pool, srv, NULL, &dup), BW_DECLINED);
        assert_ptr_equal(dup, second);
    }

    /* "= /a" and "/a" share a name but not a kind; regexes may repeat. */
    bw_http_core_loc_conf_t *srv = bw_test_server();
    bw_test_loc(srv, "=/a");
    bw_test_loc(srv, "/a");
    bw_test_loc(srv, "~x");
    bw_test_loc(srv, "~x");
    bw_test_build(srv, NULL);

    /* A duplicate in a nested level is found too. */
    srv = bw_test_server();
    bw_http_core_loc_conf_t *x = bw_test_loc(srv, "/x");
    bw_test_loc(x, "/x/y");
    bw_http_core_loc_conf_t *second = bw_test_loc(x, "/x/y");
    bw_http_core_loc_conf_t *dup = NULL;
    assert_int_equal(bw_http_location_tree_init(bw_test_pool, srv, NULL, &dup), BW_DECLINED);
    assert_ptr_equal(dup, second);
}

static void
test_location_named_are_collected_not_matched(void **state)
{
    bw_http_core_loc_conf_t *srv = bw_test_server();
    bw_http_core_srv_conf_t  cscf;
    bw_rc_t                  rc;

    memset(&cscf, 0, sizeof(cscf));
    assert_int_equal(bw_array_init(&cscf.named_locations, bw_test_pool, 2, sizeof(void *)),
                     BW_OK);
    bw_http_core_loc_conf_t *fb = bw_test_loc(srv, "@fallback");
    bw_test_loc(srv, "@other");
    bw_http_core_loc_conf_t *noname = bw_test_loc(srv, "/if");
    noname->noname = true; /* an if{} conf shares its location's name but is never matched */
    bw_test_build(srv, &cscf.named_locations);

    assert_int_equal(cscf.named_locations.nelts, 2);
    bw_str_t name = {9, (u_char *) "@fallback"}, none = {3, (u_char *) "@no"};
    assert_ptr_equal(bw_http_location_find_named(&cscf, &name), fb);
    assert_null(bw_http_location_find_named(&cscf, &none));
    assert_string_equal(bw_test_find(srv, "@fallback", &rc), "(server)");
    assert_string_equal(bw_test_find(srv, "/if", &rc), "(server)");
}

static bw_rc_t
bw_test_match_error(void *data, bw_http_core_loc_conf_t *clcf, const bw_str_t *uri)
{
    return BW_ERROR;
}

static void
test_location_regex_error_aborts_search(void **state)
{
    bw_http_core_loc_conf_t *srv = bw_test_server();

    bw_test_loc(srv, "/");
    bw_test_loc(srv, "~a");
    bw_test_build(srv, NULL);

    bw_http_core_loc_conf_t *c = srv;
    bw_str_t                 u = {2, (u_char *) "/a"};
    assert_int_equal(bw_http_location_find(&c, &u, bw_test_match_error, NULL), BW_ERROR);
}

static void
test_location_regexes_tried_in_config_order_and_stop_at_first(void **state)
{
    bw_http_core_loc_conf_t *srv = bw_test_server();
    bw_http_core_loc_conf_t *c;
    bw_str_t                 u = {8, (u_char *) "/pic.png"};
    int                      calls = 0;

    bw_test_loc(srv, "~\\.txt$");
    bw_test_loc(srv, "~\\.png$");
    bw_test_loc(srv, "~^/pic");
    bw_test_build(srv, NULL);

    c = srv;
    assert_int_equal(bw_http_location_find(&c, &u, bw_test_match, &calls), BW_OK);
    assert_string_equal((char *) c->name.data, "\\.png$");
    assert_int_equal(calls, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_location_order_matches_nginx, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_location_exact_beats_longer_prefix_and_regex,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_location_longest_prefix_among_many, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_location_empty_server_selects_server_conf,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_location_auto_redirect_asks_for_slash,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_location_duplicates_are_reported_with_the_later_one,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_location_named_are_collected_not_matched,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_location_regex_error_aborts_search, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(
            test_location_regexes_tried_in_config_order_and_stop_at_first, bw_test_setup,
            bw_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
