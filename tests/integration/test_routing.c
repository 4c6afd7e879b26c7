/*
 * test_routing.c -- request routing through the real binary: location
 * selection (exact, ^~, longest prefix, regexes in order, nesting, case),
 * regex captures, virtual servers by name and by listening address, the
 * default server, internal locations, the rewrite cycle limit, the body
 * size check, limit_except, try_files fallbacks, error_page targets, types
 * with default_type, and the content phase without a handler.
 *
 * Every expectation was checked against nginx 1.22 with the same config
 * (run with BW_TEST_BINARY=/usr/sbin/nginx to repeat that).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bw_test_server_t *
bw_rt_start(const char *http_body)
{
    return bw_test_server_start_fmt("http {\naccess_log off;\n%s\n}\n", http_body);
}

/* Sends `method target` with Host `host` (NULL: HTTP/1.0 without Host). */
static void
bw_rt_request(bw_test_server_t *srv, const char *method, const char *host, const char *target,
              const char *extra, bw_test_response_t *r)
{
    bw_test_http_request_host(srv->port, method, host, target, extra, r);
}

/* Expects `status` and, when body is not NULL, exactly `body`. */
static void
bw_rt_expect_host(bw_test_server_t *srv, const char *host, const char *target, int status,
                  const char *body)
{
    bw_test_expect_get(srv->port, host, target, status, body);
}

static void
bw_rt_expect(bw_test_server_t *srv, const char *target, int status, const char *body)
{
    bw_rt_expect_host(srv, "localhost", target, status, body);
}

/* True when the module's source file is in the tree (the build then has it). */
static bool
bw_rt_has_module(const char *source)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", bw_test_source_dir(), source);
    return access(path, F_OK) == 0 || getenv("BW_TEST_BINARY") != NULL;
}

/* ---- locations ---- */

static void
test_routing_location_order_matches_nginx(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location = / { return 200 A; }\n"
        "  location / { return 200 B; }\n"
        "  location /documents/ { return 200 C; }\n"
        "  location ^~ /images/ { return 200 D; }\n"
        "  location ~* \\.(gif|jpg|jpeg)$ { return 200 E; }\n"
        "  location /a/ {\n"
        "    location /a/b/ { location ~ \\.x$ { return 200 H; } return 200 G; }\n"
        "    location ~ \\.y$ { return 200 I; }\n"
        "    location ^~ /a/n/ { return 200 N; }\n"
        "    return 200 F;\n"
        "  }\n"
        "  location ~ \\.(x|y|z)$ { return 200 J; }\n"
        "  location = /e { return 200 EX; }\n"
        "  location /e/ { return 200 EP; }\n"
        "  location /ep { return 200 EPP; }\n"
        "  location ~ /r/ { location ~ \\.q$ { return 200 RQ; } location /r/x { return 200 RX; }\n"
        "                   return 200 R; }\n"
        "}\n");
    static const char *const rows[][2] = {
        {"/", "A"},
        {"/index.html", "B"},
        {"/documents/document.html", "C"},
        {"/images/1.gif", "D"},
        {"/documents/1.jpg", "E"},
        {"/IMAGES/1.GIF", "E"},
        {"/a/b/c.x", "H"},
        {"/a/b/c.y", "I"},
        {"/a/b/c.z", "J"},
        {"/a/b/c", "G"},
        {"/a/c.x", "J"},
        {"/a/n/q.x", "J"},
        {"/a/n/q", "N"},
        {"/a/", "F"},
        {"/e", "EX"},
        {"/e/", "EP"},
        {"/epx", "EPP"},
        {"/r/a.q", "RQ"},
        {"/r/x", "R"},
        {"/e%2F", "EP"}, /* matching is on the decoded URI */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bw_rt_expect(srv, rows[i][0], 200, rows[i][1]);
    }
    bw_test_server_stop(srv);
}

static void
test_routing_regex_captures_in_location_and_server_name(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%; server_name other; return 200 other; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name ~^(?<sub>\\w+)\\.example\\.com$;\n"
        "  location ~ ^/cap/(?<word>[a-z]+)/(\\d+)$ { return 200 \"$sub:$word:$2\"; }\n"
        "  location / { return 200 \"host-$sub\"; }\n"
        "}\n");

    bw_rt_expect_host(srv, "www.example.com", "/cap/abc/42", 200, "www:abc:42");
    bw_rt_expect_host(srv, "Mail.Example.com", "/x", 200, "host-mail");
    bw_rt_expect_host(srv, "example.com", "/x", 200, "other");
    bw_test_server_stop(srv);
}

static void
test_routing_internal_location_is_404_from_outside(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location /i { internal; location /i/n { return 200 nested; } return 200 in; }\n"
        "  location /go { rewrite ^ /i last; }\n"
        "}\n");

    bw_rt_expect(srv, "/i", 404, NULL);
    bw_rt_expect(srv, "/i/n", 404, NULL); /* internal is inherited */
    bw_rt_expect(srv, "/go", 200, "in");
    bw_test_server_stop(srv);
}

static void
test_routing_rewrite_cycle_gives_500_and_logs(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location /loop { rewrite ^ /loop2 last; }\n"
        "  location /loop2 { rewrite ^ /loop last; }\n"
        "}\n");

    bw_rt_expect(srv, "/loop", 500, NULL);
    assert_true(bw_test_server_log_wait(
        srv, "rewrite or internal redirection cycle while processing \"/loop", 1, 5000));
    bw_test_server_stop(srv);
}

static void
test_routing_body_over_client_max_body_size_is_413(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%; client_max_body_size 1k;\n"
        "  location / { return 200 ok; }\n"
        "  location /big { client_max_body_size 0; return 200 big; }\n"
        "}\n");
    bw_test_response_t r;
    char               body[2100];

    memset(body, 'x', 2000);
    body[2000] = '\0';

    char req[4096];
    snprintf(req, sizeof(req),
             "POST /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             "Content-Length: 2000\r\n\r\n%s", body);
    assert_int_equal(bw_test_http_request(srv->port, req, &r), 0);
    assert_int_equal(r.status, 413);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(srv, "client intended to send too large body: 2000 bytes",
                                        1, 5000));

    snprintf(req, sizeof(req),
             "POST /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             "Content-Length: 2000\r\n\r\n%s", body);
    assert_int_equal(bw_test_http_request(srv->port, req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "big");
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_routing_limit_except_switches_configuration(void **state)
{
    if (!bw_rt_has_module("modules/access.c")) {
        print_message("skipped: deny/allow need the access module, not built\n");
        skip();
    }
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location /le { limit_except GET { deny all; } return 200 ok; }\n"
        "}\n");
    bw_test_response_t r;

    bw_rt_expect(srv, "/le", 200, "ok");
    bw_rt_request(srv, "HEAD", "localhost", "/le", NULL, &r); /* GET allows HEAD */
    assert_int_equal(r.status, 200);
    bw_test_response_free(&r);
    bw_rt_request(srv, "DELETE", "localhost", "/le", NULL, &r);
    assert_int_equal(r.status, 403);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(srv, "access forbidden by rule", 1, 5000));
    bw_test_server_stop(srv);
}

/* ---- virtual servers ---- */

static void
test_routing_server_name_lookup_order(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%; server_name _; return 200 S1; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name example.com www.example.com;"
        " return 200 S2; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name *.example.com; return 200 S3; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name *.b.example.com; return 200 S4; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name www.*; return 200 S5; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name www.example.*; return 200 S6; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name ~^mail\\d+\\.; return 200 S8; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name .dot.org; return 200 $server_name; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name \"\"; return 200 S10; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name ~^WWW; return 200 S11; }\n");
    static const char *const rows[][2] = {
        {"example.com", "S2"},         {"WWW.EXAMPLE.COM", "S2"},   {"x.example.com", "S3"},
        {"a.b.example.com", "S4"},     {"b.example.com", "S3"},     {"www.example.org", "S6"},
        {"www.foo.org", "S5"},         {"mail1.x", "S8"},           {"dot.org", "dot.org"},
        {"x.dot.org", "dot.org"},      {"unknown", "S1"},           {"www.x.example.com", "S3"},
        {"www.example.co.uk", "S6"},   {"www", "S11"},              {"example.com:8080", "S2"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bw_rt_expect_host(srv, rows[i][0], "/", 200, rows[i][1]);
    }
    bw_rt_expect_host(srv, NULL, "/", 200, "S10"); /* no Host: the "" name */
    assert_int_equal(bw_test_server_log_count(srv, "conflicting server name"), 0);
    bw_test_server_stop(srv);
}

static void
test_routing_default_server_and_conflicts(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%; server_name a.com; return 200 first; }\n"
        "server { listen 127.0.0.1:%%PORT%% default_server; server_name .a.com; return 200 dflt; }\n"
        "server { listen 127.0.0.1:%%PORT2%%; return 200 only; }\n");

    /* ".a.com" conflicts with "a.com" and is dropped whole; the default takes the rest. */
    bw_rt_expect_host(srv, "a.com", "/", 200, "first");
    bw_rt_expect_host(srv, "x.a.com", "/", 200, "dflt");
    bw_rt_expect_host(srv, NULL, "/", 200, "dflt");
    /* Reported while the configuration is read: on stderr or in the error log. */
    const char *warn = "conflicting server name \".a.com\" on 127.0.0.1:";
    assert_true(bw_test_server_log_count(srv, warn)
                    + bw_test_server_file_count(srv, "logs/stderr.log", warn) >= 1);

    bw_test_response_t r;
    char               req[256];
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a.com\r\nConnection: close\r\n\r\n");
    assert_int_equal(bw_test_http_request(srv->ports[2], req, &r), 0);
    assert_string_equal(r.body, "only");
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_routing_specific_address_has_its_own_servers(void **state)
{
    /* *:P and 127.0.0.1:P: one wildcard socket, two address tables; a request
     * to 127.0.0.1 only sees the servers listening on 127.0.0.1:P. */
    bw_test_server_t *srv = bw_rt_start(
        "server { listen %%PORT%%; server_name a; return 200 A; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name b; return 200 B; }\n"
        "server { listen 127.0.0.1:%%PORT%%; server_name c; return 200 C; }\n");

    bw_rt_expect_host(srv, "a", "/", 200, "B");
    bw_rt_expect_host(srv, "c", "/", 200, "C");
    bw_test_server_stop(srv);
}

/* ---- try_files, error_page, content ---- */

static void
test_routing_try_files_fallbacks(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%; root %%PREFIX%%/html;\n"
        "  location /code { try_files /none $uri/ =418; }\n"
        "  location /named { try_files /none @fb; }\n"
        "  location /uri { try_files /none /target?x=1; }\n"
        "  location = /target { return 200 \"target $args\"; }\n"
        "  location @fb { return 200 \"named $uri\"; }\n"
        "  location /loop { try_files /none /loop; }\n"
        "}\n");

    bw_rt_expect(srv, "/code", 418, NULL);
    bw_rt_expect(srv, "/named/x", 200, "named /named/x");
    bw_rt_expect(srv, "/uri", 200, "target x=1");
    bw_rt_expect(srv, "/loop", 500, NULL);
    bw_test_server_stop(srv);
}

static void
test_routing_try_files_serves_existing_file(void **state)
{
    if (!bw_rt_has_module("modules/static.c")) {
        print_message("skipped: serving the file found needs the static module, not built\n");
        skip();
    }
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%; root %%PREFIX%%/html;\n"
        "  location / { try_files $uri $uri/ /fallback.txt =404; }\n"
        "  location /al/ { alias %%PREFIX%%/html/sub/; try_files $uri =404; }\n"
        "}\n");
    assert_int_equal(bw_test_server_write_file(srv, "html/f.txt", "file"), 0);
    assert_int_equal(bw_test_server_write_file(srv, "html/fallback.txt", "fallback"), 0);
    assert_int_equal(bw_test_server_write_file(srv, "html/sub/a.txt", "aliased"), 0);

    bw_rt_expect(srv, "/f.txt", 200, "file");
    bw_rt_expect(srv, "/missing", 200, "fallback");
    bw_rt_expect(srv, "/al/a.txt", 200, "aliased");
    bw_rt_expect(srv, "/al/none.txt", 404, NULL);
    bw_test_server_stop(srv);
}

static void
test_routing_error_page_targets(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  error_page 404 /err;\n"
        "  location = /err { return 200 \"err $uri\"; }\n"
        "  location /x { return 404; }\n"
        "  location /y { error_page 404 =200 @fb; return 404; }\n"
        "  location /z { error_page 500 /nothing; return 404; }\n"
        "  location @fb { return 200 named; }\n"
        "}\n");
    bw_test_response_t r;

    bw_rt_request(srv, "GET", "localhost", "/x", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "err /err");
    bw_test_response_free(&r);
    bw_rt_expect(srv, "/y", 200, "named");
    /* error_page of its own level hides the server's: the plain 404 page. */
    bw_rt_request(srv, "GET", "localhost", "/z", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "<title>404 Not Found</title>"));
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_routing_types_and_default_type(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%; default_type app/x;\n"
        "  types { text/html html; image/png png; }\n"
        "  location / { return 200 x; }\n"
        "  location /n { types { } default_type nn/x; return 200 n; }\n"
        "}\n");
    static const char *const rows[][2] = {
        {"/a.html", "text/html"}, {"/a.PNG", "image/png"}, {"/a.xyz", "app/x"},
        {"/a", "app/x"},          {"/n.html", "nn/x"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bw_test_response_t r;
        bw_rt_request(srv, "GET", "localhost", rows[i][0], NULL, &r);
        const char *ct = bw_test_response_header(&r, "Content-Type");
        if (r.status != 200 || ct == NULL || strcmp(ct, rows[i][1]) != 0) {
            fail_msg("%s: expected %s, got %d %s", rows[i][0], rows[i][1], r.status,
                     ct ? ct : "(none)");
        }
        bw_test_response_free(&r);
    }
    bw_test_server_stop(srv);
}

static void
test_routing_no_content_handler_403_for_dir_404_else(void **state)
{
    bw_test_server_t *srv = bw_rt_start(
        "server { listen 127.0.0.1:%%PORT%%; root %%PREFIX%%/html; }\n");
    assert_int_equal(bw_test_server_write_file(srv, "html/d/keep", "x"), 0);

    bw_rt_expect(srv, "/d/", 403, NULL);
    bw_rt_expect(srv, "/missing.txt", 404, NULL);
    assert_true(bw_test_server_log_wait(srv, "directory index of \"", 1, 5000));
    bw_test_server_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_location_order_matches_nginx),
        cmocka_unit_test(test_routing_regex_captures_in_location_and_server_name),
        cmocka_unit_test(test_routing_internal_location_is_404_from_outside),
        cmocka_unit_test(test_routing_rewrite_cycle_gives_500_and_logs),
        cmocka_unit_test(test_routing_body_over_client_max_body_size_is_413),
        cmocka_unit_test(test_routing_limit_except_switches_configuration),
        cmocka_unit_test(test_routing_server_name_lookup_order),
        cmocka_unit_test(test_routing_default_server_and_conflicts),
        cmocka_unit_test(test_routing_specific_address_has_its_own_servers),
        cmocka_unit_test(test_routing_try_files_fallbacks),
        cmocka_unit_test(test_routing_try_files_serves_existing_file),
        cmocka_unit_test(test_routing_error_page_targets),
        cmocka_unit_test(test_routing_types_and_default_type),
        cmocka_unit_test(test_routing_no_content_handler_403_for_dir_404_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
