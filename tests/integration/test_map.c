/*
 * test_map.c -- the map module through the real binary: exact keys
 * (case-insensitive), `default`, regexes with positional and named
 * captures, `hostnames` masks and their priority, values with variables,
 * maps of maps, `volatile`, `include`, and nginx's configuration errors.
 * Expected values were checked against nginx 1.22 with the same config.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bw_test_server_t *
bw_tm_start(const char *http_body)
{
    return bw_test_server_start_fmt("http {\n%s\n}\n", http_body);
}

/* GET target with the given Host; expects 200 and exactly `body`. */
static void
bw_tm_expect(bw_test_server_t *srv, const char *target, const char *host, const char *body)
{
    bw_test_expect_get(srv->port, host, target, 200, body);
}

static void
bw_tm_expect_conf_error(const char *http_body, const char *message)
{
    bw_test_conf_expect_error(message, "http {\n%s\nserver { listen 127.0.0.1:%%%%PORT%%%%; }\n}\n",
                              http_body);
}

static void
test_map_exact_regex_and_default(void **state)
{
    bw_test_server_t *srv = bw_tm_start(
        "map $uri $m {\n"
        "  default def;\n"
        "  /Abc exact;\n"
        "  \\default escaped;\n"
        "  ~^/re/(?<nm>[a-z]+)/(\\d+) \"re:$nm:$1:$2:$uri\";\n"
        "  ~*^/CI ci;\n"
        "  ~^/AB(.*) \"cs$1\";\n"
        "}\n"
        "map $uri $chain { default \"via-$m\"; }\n"
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location / { return 200 \"[$m|$chain|$1]\"; }\n"
        "}\n");

    bw_tm_expect(srv, "/abc", "x", "[exact|via-exact|]");
    bw_tm_expect(srv, "/ABC", "x", "[exact|via-exact|]");
    bw_tm_expect(srv, "/re/foo/12", "x", "[re:foo:foo:12:/re/foo/12|via-re:foo:foo:12:/re/foo/12|foo]");
    bw_tm_expect(srv, "/ci/x", "x", "[ci|via-ci|]");
    bw_tm_expect(srv, "/ABx", "x", "[csx|via-csx|x]"); /* regexes see the original case */
    bw_tm_expect(srv, "/abd", "x", "[def|via-def|]");
    bw_test_server_stop(srv);
}

static void
test_map_hostnames_masks_and_priority(void **state)
{
    bw_test_server_t *srv = bw_tm_start(
        "map $host $h {\n"
        "  hostnames;\n"
        "  default none;\n"
        "  example.com ex;\n"
        "  *.example.com wild;\n"
        "  *.b.example.com deeper;\n"
        "  .example.org dot;\n"
        "  www.* suf;\n"
        "  www.example.* suf2;\n"
        "  ~^(?<sub>x+)\\.re\\.test$ \"re-$sub\";\n"
        "}\n"
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location / { return 200 $h; }\n"
        "}\n");

    bw_tm_expect(srv, "/", "example.com", "ex");
    bw_tm_expect(srv, "/", "WWW.Example.com", "wild"); /* a prefix mask beats a suffix mask */
    bw_tm_expect(srv, "/", "a.b.example.com", "deeper");
    bw_tm_expect(srv, "/", "a.c.example.com", "wild");
    bw_tm_expect(srv, "/", "example.org", "dot");
    bw_tm_expect(srv, "/", "x.example.org", "dot");
    bw_tm_expect(srv, "/", "www.foo.bar", "suf");
    bw_tm_expect(srv, "/", "www.example.net", "suf2");
    bw_tm_expect(srv, "/", "xxx.re.test", "re-xxx");
    bw_tm_expect(srv, "/", "a.com", "none");
    bw_test_server_stop(srv);
}

static void
test_map_source_is_a_complex_value(void **state)
{
    bw_test_server_t *srv = bw_tm_start(
        "map $arg_a$arg_b $c { ab both; \"\" empty; default other; }\n"
        "map $http_x $k { hostnames; ~^(Foo)\\.$ \"re:$1\"; foo dotstrip; default no; }\n"
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location / { return 200 \"$c|$k\"; }\n"
        "}\n");
    bw_test_response_t r;

    bw_tm_expect(srv, "/?a=a&b=b", "x", "both|no");
    bw_tm_expect(srv, "/", "x", "empty|no");
    bw_tm_expect(srv, "/?a=z", "x", "other|no");
    assert_int_equal(bw_test_http_request(srv->port,
                                          "GET / HTTP/1.1\r\nHost: x\r\nX: Foo.\r\n"
                                          "Connection: close\r\n\r\n", &r), 0);
    assert_string_equal(r.body, "empty|dotstrip"); /* the trailing dot goes before lookup */
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_map_volatile_follows_changes_in_a_request(void **state)
{
    bw_test_server_t *srv = bw_tm_start(
        "map $args $cached { default $args; }\n"
        "map $args $fresh { volatile; default $args; }\n"
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location / {\n"
        "    set $c1 $cached; set $f1 $fresh;\n"
        "    set $args changed;\n"
        "    return 200 \"$c1|$cached|$f1|$fresh\";\n"
        "  }\n"
        "}\n");

    bw_tm_expect(srv, "/?orig", "x", "orig|orig|orig|changed");
    bw_test_server_stop(srv);
}

static void
test_map_include_file(void **state)
{
    bw_test_server_t *srv = bw_test_server_prepare(
        "http {\n"
        "map $uri $m { default d; include map_entries.conf; }\n"
        "server { listen 127.0.0.1:%%PORT%%; location / { return 200 $m; } }\n"
        "}\n");
    assert_non_null(srv);
    assert_int_equal(bw_test_server_write_file(srv, "conf/map_entries.conf",
                                               "/one 1;\n/two 2;\n"), 0);
    assert_int_equal(bw_test_server_launch(srv), 0);
    bw_tm_expect(srv, "/one", "x", "1");
    bw_tm_expect(srv, "/two", "x", "2");
    bw_tm_expect(srv, "/three", "x", "d");
    bw_test_server_stop(srv);
}

static void
test_map_hash_directives_are_accepted(void **state)
{
    bw_test_server_t *srv = bw_tm_start(
        "map_hash_max_size 4096; map_hash_bucket_size 128;\n"
        "map $uri $m { /a a; }\n"
        "server { listen 127.0.0.1:%%PORT%%; location / { return 200 \"[$m]\"; } }\n");

    bw_tm_expect(srv, "/a", "x", "[a]");
    bw_tm_expect(srv, "/b", "x", "[]"); /* no default: empty */
    bw_test_server_stop(srv);
}

static void
test_map_config_errors_worded_as_nginx(void **state)
{
    bw_tm_expect_conf_error("map $uri $m { default a; default b; }",
                            "duplicate default map parameter");
    bw_tm_expect_conf_error("map $uri $m { a b; A c; }", "conflicting parameter \"a\"");
    bw_tm_expect_conf_error("map $uri $m { a b c; }", "invalid number of the map parameters");
    bw_tm_expect_conf_error("map $uri $m { default; }", "invalid number of the map parameters");
    bw_tm_expect_conf_error("map $uri $m { hostnames; *.a.com 1; .a.com 2; }",
                            "conflicting parameter \".a.com\"");
    bw_tm_expect_conf_error("map $uri $m { hostnames; a.*.com 1; }",
                            "invalid hostname or wildcard \"a.*.com\"");
    bw_tm_expect_conf_error("map $uri $m { hostnames; * 1; }",
                            "invalid hostname or wildcard \"*\"");
    bw_tm_expect_conf_error("map $uri $m { ~( 1; }",
                            "pcre2_compile() failed: missing closing parenthesis");
    bw_tm_expect_conf_error("map $uri m { }", "invalid variable name \"m\"");
    bw_tm_expect_conf_error("map $uri $uri { }", "the duplicate \"uri\" variable");
    bw_tm_expect_conf_error("map $uri $m { a $undefined; }", "unknown \"undefined\" variable");
    bw_tm_expect_conf_error("map $uri $m { include nofile; }", "nofile\" failed (2: No such file");
    bw_tm_expect_conf_error("map $uri { }", "invalid number of arguments in \"map\" directive");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_exact_regex_and_default),
        cmocka_unit_test(test_map_hostnames_masks_and_priority),
        cmocka_unit_test(test_map_source_is_a_complex_value),
        cmocka_unit_test(test_map_volatile_follows_changes_in_a_request),
        cmocka_unit_test(test_map_include_file),
        cmocka_unit_test(test_map_hash_directives_are_accepted),
        cmocka_unit_test(test_map_config_errors_worded_as_nginx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
