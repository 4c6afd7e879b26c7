/*
 * test_rewrite.c -- the rewrite module through the real binary: `return`
 * codes, bodies and redirects (444 closes), `rewrite` with captures and its
 * flags (last, break, redirect, permanent, no flag), argument handling,
 * server-level rewrites, the rewrite loop limit, `if` conditions (incl.
 * file tests against files in the prefix), `set`, `break`, the if{}
 * configuration switch, rewrite_log, and nginx's configuration errors.
 * Expected values were checked against nginx 1.22 with the same config.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bw_test_server_t *
bw_tr_start(const char *http_body)
{
    return bw_test_server_start_fmt("http {\n%s\n}\n", http_body);
}

/* GET `target` with Host: localhost; fills r (the caller frees it). */
static void
bw_tr_get(bw_test_server_t *srv, const char *target, bw_test_response_t *r)
{
    bw_test_http_request_host(srv->port, "GET", "localhost", target, NULL, r);
}

/* GET `target`, expecting `status` and, when body is not NULL, exactly `body`. */
static void
bw_tr_expect(bw_test_server_t *srv, const char *target, int status, const char *body)
{
    bw_test_expect_get(srv->port, "localhost", target, status, body);
}

/* GET `target`, expecting `status` and a Location header ending with `suffix`. */
static void
bw_tr_expect_location(bw_test_server_t *srv, const char *target, int status, const char *suffix)
{
    bw_test_response_t r;
    char               msg[1024] = "";
    bw_tr_get(srv, target, &r);
    const char *loc = bw_test_response_header(&r, "Location");
    if (r.status != status || loc == NULL || strlen(loc) < strlen(suffix)
        || strcmp(loc + strlen(loc) - strlen(suffix), suffix) != 0) {
        snprintf(msg, sizeof(msg), "GET %s: expected %d Location *%s, got %d %s", target, status,
                 suffix, r.status, loc ? loc : "(none)");
    }
    bw_test_response_free(&r);
    if (msg[0]) {
        fail_msg("%s", msg);
    }
}

static void
bw_tr_expect_conf_error(const char *http_body, const char *message)
{
    bw_test_conf_expect_error(message, "http {\n%s\n}\n", http_body);
}

/* ---- return ---- */

static void
test_return_text_with_variables(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location /t { return 200 \"uri=$uri args=$args status=$status\"; }\n"
        "  location /e { return 200; }\n"
        "}\n");
    bw_test_response_t r;

    bw_tr_get(srv, "/t/x?a=1", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "uri=/t/x args=a=1 status=200");
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), "28");
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "text/plain");
    bw_test_response_free(&r);
    bw_tr_expect(srv, "/e", 200, "");
    bw_test_server_stop(srv);
}

static void
test_return_error_code_uses_error_page_or_text(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location /plain { return 404; }\n"
        "  location /text { return 404 \"nf $uri\"; }\n"
        "  location /teapot { return 418 \"tea\"; }\n"
        "}\n");
    bw_test_response_t r;

    bw_tr_get(srv, "/plain", &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "<title>404 Not Found</title>"));
    bw_test_response_free(&r);
    bw_tr_expect(srv, "/text", 404, "nf /text");
    bw_tr_expect(srv, "/teapot", 418, "tea");
    bw_test_server_stop(srv);
}

static void
test_return_redirects_set_location(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location /p { return 301 /new$uri; }\n"
        "  location /u { return http://h.test/$arg_to; }\n"
        "  location /s { return 307 https://h.test/x; }\n"
        "  location /o { return 303 \"$scheme://o.test$request_uri\"; }\n"
        "}\n");

    bw_tr_expect_location(srv, "/p", 301, "/new/p");
    bw_tr_expect_location(srv, "/u?to=dest", 302, "http://h.test/dest");
    bw_tr_expect_location(srv, "/s", 307, "https://h.test/x");
    bw_tr_expect_location(srv, "/o?k=v", 303, "http://o.test/o?k=v");
    bw_test_server_stop(srv);
}

static void
test_return_444_closes_without_response(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location / { return 444; }\n"
        "}\n");
    int    fd = bw_test_connect(srv->port, bw_test_timeout(5000));
    size_t len = 0;
    bool   closed = false;

    assert_true(fd >= 0);
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    char *got = bw_test_recv_all(fd, &len, bw_test_timeout(5000), &closed);
    assert_true(closed);
    assert_int_equal(len, 0);
    free(got);
    close(fd);
    bw_test_server_stop(srv);
}

/* ---- rewrite ---- */

static const char *const bw_tr_rewrite_conf =
    "server { listen 127.0.0.1:%%PORT%%;\n"
    "  rewrite ^/s1(.*)$ /t$1;\n"
    "  rewrite ^/s2(.*)$ /t$1?;\n"
    "  rewrite ^/s3(.*)$ /t$1?n=1;\n"
    "  rewrite ^/s4(.*)$ /t$1?n=1?;\n"
    "  rewrite ^/r1(.*)$ /t$1 redirect;\n"
    "  rewrite ^/r2(.*)$ /t$1? permanent;\n"
    "  rewrite ^/r3(.*)$ http://x.test/t$1?n=$1;\n"
    "  rewrite ^/r4(.*)$ $scheme://x.test/t$1;\n"
    "  location /t { return 200 \"[$uri|$args|$1]\"; }\n"
    "  location /l { rewrite ^/l(.*) /t$1 last; return 200 nope; }\n"
    "  location /b { rewrite ^/b(.*) /t$1 break; return 200 \"[break $uri]\"; }\n"
    "  location /n { rewrite ^/n(.*) /t$1; return 200 \"[noflag $uri|$args]\"; }\n"
    "  location /loop { rewrite ^ /loop last; }\n"
    "}\n";

static void
test_rewrite_server_level_and_args(void **state)
{
    bw_test_server_t *srv = bw_tr_start(bw_tr_rewrite_conf);

    bw_tr_expect(srv, "/s1a?q=1", 200, "[/ta|q=1|]");     /* args kept */
    bw_tr_expect(srv, "/s2a?q=1", 200, "[/ta||]");        /* '?' drops them */
    bw_tr_expect(srv, "/s3a?q=1", 200, "[/ta|n=1&q=1|]"); /* new args first */
    bw_tr_expect(srv, "/s4a?q=1", 200, "[/ta|n=1|]");
    bw_tr_expect(srv, "/s3a", 200, "[/ta|n=1|]");
    bw_test_server_stop(srv);
}

static void
test_rewrite_redirect_flags_and_scheme(void **state)
{
    bw_test_server_t *srv = bw_tr_start(bw_tr_rewrite_conf);

    bw_tr_expect_location(srv, "/r1a?q=1", 302, "/ta?q=1");
    bw_tr_expect_location(srv, "/r2a?q=1", 301, "/ta");
    bw_tr_expect_location(srv, "/r3a%20b?q=1", 302, "http://x.test/ta%20b?n=a%20b&q=1");
    bw_tr_expect_location(srv, "/r4a", 302, "http://x.test/ta");
    /* captures of a quoted URI are escaped, then safe bytes up to '?' decoded */
    bw_tr_expect_location(srv, "/r1%20x+y%3F?q", 302, "/t%20x+y??q");
    bw_tr_expect_location(srv, "/r1x%25y", 302, "/tx%25y");
    bw_test_server_stop(srv);
}

static void
test_rewrite_last_break_and_no_flag(void **state)
{
    bw_test_server_t *srv = bw_tr_start(bw_tr_rewrite_conf);

    bw_tr_expect(srv, "/la?z=1", 200, "[/ta|z=1|a]"); /* captures survive the new search */
    bw_tr_expect(srv, "/ba", 404, NULL);              /* break: no more rewrite directives */
    bw_tr_expect(srv, "/na", 200, "[noflag /ta|]");   /* no flag: the next directive runs */
    bw_tr_expect(srv, "/s1%20x+y?q", 200, "[/t x+y|q|]");
    bw_test_server_stop(srv);
}

static void
test_rewrite_loop_ends_with_500(void **state)
{
    bw_test_server_t *srv = bw_tr_start(bw_tr_rewrite_conf);

    bw_tr_expect(srv, "/loop", 500, NULL);
    assert_true(bw_test_server_log_wait(srv, "rewrite or internal redirection cycle", 1,
                                        bw_test_timeout(3000)));
    bw_test_server_stop(srv);
}

static void
test_rewrite_captures_escaped_into_args(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  rewrite ^/s5(.*)$ /t?v=$1;\n"
        "  rewrite ^/s6(.*)$ /t$1?v=$1;\n"
        "  location /t { return 200 \"[$uri|$args]\"; }\n"
        "}\n");

    bw_tr_expect(srv, "/s5%20%26%2B%3D?q", 200, "[/t|v=%20%26%2B=&q]");
    bw_tr_expect(srv, "/s6a+b", 200, "[/ta+b|v=a%2Bb]");
    bw_tr_expect(srv, "/s6ab", 200, "[/tab|v=ab]");
    bw_test_server_stop(srv);
}

static void
test_rewrite_log_notices(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "rewrite_log on;\n"
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  rewrite ^/no$ /x;\n"
        "  rewrite ^/r(.*)$ /t$1?k=1;\n"
        "  location /t { return 200 ok; }\n"
        "}\n");

    bw_tr_expect(srv, "/rx", 200, "ok");
    assert_true(bw_test_server_log_wait(srv, "[notice]", 1, bw_test_timeout(3000)));
    assert_true(bw_test_server_log_wait(srv, "\"^/no$\" does not match \"/rx\"", 1,
                                        bw_test_timeout(3000)));
    assert_true(bw_test_server_log_wait(srv, "\"^/r(.*)$\" matches \"/rx\"", 1,
                                        bw_test_timeout(3000)));
    assert_true(bw_test_server_log_wait(srv, "rewritten data: \"/tx\", args: \"k=1\"", 1,
                                        bw_test_timeout(3000)));
    bw_test_server_stop(srv);
}

/* ---- if, set, break ---- */

static void
test_if_comparisons_and_regex_captures(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location /eq { if ($arg_a = yes) { return 200 eq; } return 200 ne; }\n"
        "  location /ne { if ($arg_a != yes) { return 200 ne; } return 200 eq; }\n"
        "  location /re { if ($uri ~ ^/re/(\\w+)/(?<tail>.*)$) { return 200 \"$1:$tail\"; }\n"
        "                 return 200 none; }\n"
        "  location /ci { if ($http_x_t ~* ^abc) { return 200 ci; } return 200 no; }\n"
        "  location /nm { if ($http_x_t !~ ^abc) { return 200 nomatch; } return 200 match; }\n"
        "  location /nci { if ($http_x_t !~* ^abc) { return 200 nomatch; } return 200 match; }\n"
        "  location /v { if ($arg_v) { return 200 true; } return 200 false; }\n"
        "}\n");
    bw_test_response_t r;

    bw_tr_expect(srv, "/eq?a=yes", 200, "eq");
    bw_tr_expect(srv, "/eq?a=no", 200, "ne");
    bw_tr_expect(srv, "/ne?a=no", 200, "ne");
    bw_tr_expect(srv, "/ne?a=yes", 200, "eq");
    bw_tr_expect(srv, "/re/abc/d/e", 200, "abc:d/e");
    bw_tr_expect(srv, "/re", 200, "none");
    assert_int_equal(bw_test_http_request(srv->port,
                                          "GET /ci HTTP/1.1\r\nHost: x\r\nX-T: ABCd\r\n"
                                          "Connection: close\r\n\r\n", &r), 0);
    assert_string_equal(r.body, "ci");
    bw_test_response_free(&r);
    assert_int_equal(bw_test_http_request(srv->port,
                                          "GET /nm HTTP/1.1\r\nHost: x\r\nX-T: ABCd\r\n"
                                          "Connection: close\r\n\r\n", &r), 0);
    assert_string_equal(r.body, "nomatch");
    bw_test_response_free(&r);
    assert_int_equal(bw_test_http_request(srv->port,
                                          "GET /nci HTTP/1.1\r\nHost: x\r\nX-T: ABCd\r\n"
                                          "Connection: close\r\n\r\n", &r), 0);
    assert_string_equal(r.body, "match");
    bw_test_response_free(&r);
    bw_tr_expect(srv, "/v?v=1", 200, "true");
    bw_tr_expect(srv, "/v?v=01", 200, "true");
    bw_tr_expect(srv, "/v?v=0", 200, "false");
    bw_tr_expect(srv, "/v?v=", 200, "false");
    bw_tr_expect(srv, "/v", 200, "false");
    bw_test_server_stop(srv);
}

static void
test_if_failed_regex_forgets_captures(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location ~ ^/f(.*) { if ($uri ~ nomatch(.)) { } return 200 \"[$1]\"; }\n"
        "  location /e { if ($uri ~ ^/e(.*)) { } if ($uri = zz) { } return 200 \"[$1]\"; }\n"
        "}\n");

    bw_tr_expect(srv, "/ff", 200, "[]");
    bw_tr_expect(srv, "/ee", 200, "[e]");
    bw_test_server_stop(srv);
}

static void
test_if_file_tests_in_prefix(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%; root %%PREFIX%%/html;\n"
        "  location / {\n"
        "    if (-f $request_filename) { return 200 file; }\n"
        "    if (-d $request_filename) { return 200 dir; }\n"
        "    return 200 none;\n"
        "  }\n"
        "  location /e/ { if (-e %%PREFIX%%/html$arg_p) { return 200 exists; } return 200 no; }\n"
        "  location /x/ { if (-x %%PREFIX%%/html$arg_p) { return 200 exec; } return 200 no; }\n"
        "  location /n/ { if (!-f %%PREFIX%%/html$arg_p) { return 200 notfile; } return 200 file; }\n"
        "  location /nd/ { if (!-d %%PREFIX%%/html$arg_p) { return 200 notdir; } return 200 dir; }\n"
        "  location /ne/ { if (!-e %%PREFIX%%/html$arg_p) { return 200 gone; } return 200 here; }\n"
        "  location /nx/ { if (!-x %%PREFIX%%/html$arg_p) { return 200 noexec; } return 200 exec; }\n"
        "}\n");

    assert_int_equal(bw_test_server_write_file(srv, "html/f.txt", "x"), 0);
    assert_int_equal(bw_test_server_write_file(srv, "html/d/inner.txt", "x"), 0);
    assert_int_equal(bw_test_server_write_file(srv, "html/run.sh", "#!/bin/sh\n"), 0);
    assert_int_equal(chmod(bw_test_server_path(srv, "html/run.sh"), 0755), 0);

    bw_tr_expect(srv, "/f.txt", 200, "file");
    bw_tr_expect(srv, "/d", 200, "dir");
    bw_tr_expect(srv, "/missing", 200, "none");
    bw_tr_expect(srv, "/e/?p=/f.txt", 200, "exists");
    bw_tr_expect(srv, "/e/?p=/d", 200, "exists");
    bw_tr_expect(srv, "/e/?p=/zz", 200, "no");
    bw_tr_expect(srv, "/x/?p=/run.sh", 200, "exec");
    bw_tr_expect(srv, "/x/?p=/f.txt", 200, "no");
    bw_tr_expect(srv, "/n/?p=/d", 200, "notfile");
    bw_tr_expect(srv, "/n/?p=/f.txt", 200, "file");
    bw_tr_expect(srv, "/nd/?p=/f.txt", 200, "notdir");
    bw_tr_expect(srv, "/nd/?p=/d", 200, "dir");
    bw_tr_expect(srv, "/ne/?p=/zz", 200, "gone");
    bw_tr_expect(srv, "/ne/?p=/f.txt", 200, "here");
    bw_tr_expect(srv, "/nx/?p=/f.txt", 200, "noexec");
    bw_tr_expect(srv, "/nx/?p=/run.sh", 200, "exec");
    bw_test_server_stop(srv);
}

static void
test_set_variables_and_builtin_setters(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  set $who server;\n"
        "  location /s { set $a \"x-$arg_v\"; set $b $a$a; return 200 \"$who|$a|$b\"; }\n"
        "  location /args { set $args \"new=1\"; return 200 \"$args|$arg_new|$is_args\"; }\n"
        "  location /u { return 200 \"[$never]\"; set $never 1; }\n"
        "}\n");

    bw_tr_expect(srv, "/s?v=1", 200, "server|x-1|x-1x-1");
    bw_tr_expect(srv, "/args?old=1", 200, "new=1|1|?");
    bw_tr_expect(srv, "/u", 200, "[]");
    assert_true(bw_test_server_log_wait(srv, "[warn]", 1, bw_test_timeout(3000)));
    assert_true(bw_test_server_log_wait(srv, "using uninitialized \"never\" variable", 1,
                                        bw_test_timeout(3000)));
    bw_test_server_stop(srv);
}

static void
test_break_stops_rewrite_directives(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location /b { set $x before; if ($arg_stop) { break; } set $x after; return 200 $x; }\n"
        "  location /c { return 200 c; }\n"
        "}\n");

    bw_tr_expect(srv, "/b", 200, "after");
    bw_tr_expect(srv, "/b?stop=1", 404, NULL); /* no return ran: static 404 */
    bw_test_server_stop(srv);
}

static void
test_if_block_switches_configuration(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  location /d { root /srv/a;\n"
        "    if ($arg_x) { root /srv/b; }\n"
        "    return 200 $document_root;\n"
        "  }\n"
        "}\n");

    bw_tr_expect(srv, "/d", 200, "/srv/a");
    bw_tr_expect(srv, "/d?x=1", 200, "/srv/b");
    bw_test_server_stop(srv);
}

static void
test_server_level_if_and_return(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  if ($request_method = POST) { return 405; }\n"
        "  if ($arg_deny) { return 403 \"denied\"; }\n"
        "  location / { return 200 in; }\n"
        "}\n");
    bw_test_response_t r;

    bw_tr_expect(srv, "/", 200, "in");
    bw_tr_expect(srv, "/?deny=1", 403, "denied");
    assert_int_equal(bw_test_http_request(srv->port,
                                          "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                          "Connection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 405);
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_return_code_goes_through_error_page(void **state)
{
    bw_test_server_t *srv = bw_tr_start(
        "server { listen 127.0.0.1:%%PORT%%;\n"
        "  error_page 404 /e; error_page 410 =200 /f;\n"
        "  location /a { return 404; }\n"
        "  location /c { return 410; }\n"
        "  location /g { set $x v; error_page 404 /h; return 404; }\n"
        "  location = /e { return 200 \"err $status $uri $request_uri\"; }\n"
        "  location = /f { return 200 \"f $status\"; }\n"
        "  location = /h { return 200 \"h $x\"; }\n"
        "}\n");

    bw_tr_expect(srv, "/a?q", 404, "err 404 /e /a?q");
    bw_tr_expect(srv, "/c", 200, "f 200");
    bw_tr_expect(srv, "/g", 404, "h v"); /* variables survive the internal redirect */
    bw_test_server_stop(srv);
}

/* ---- configuration errors ---- */

static void
test_config_errors_worded_as_nginx(void **state)
{
    static const struct {
        const char *location;
        const char *message;
    } rows[] = {
        { "if ($a) { }", "unknown \"a\" variable" },
        { "if $uri { }", "invalid condition \"$uri\"" },
        { "if ($uri == a) { }", "unexpected \"==\" in condition" },
        { "if ($uri = ) { }", "invalid condition \"$uri\"" },
        { "if (-q $uri) { }", "invalid condition \"-q\"" },
        { "if ( ) { }", "invalid condition \")\"" },
        { "if ($uri ~ \"(\") { }", "pcre2_compile() failed: missing closing parenthesis" },
        { "set foo bar;", "invalid variable name \"foo\"" },
        { "set $uri bar;", "the duplicate \"uri\" variable" },
        { "return abc;", "invalid return code \"abc\"" },
        { "return 1000;", "invalid return code \"1000\"" },
        { "return 200 \"${a\";", "the closing bracket in \"a\" variable is missing" },
        { "return 200 \"a$\";", "invalid variable name" },
        { "rewrite ^ /x foo;", "invalid parameter \"foo\"" },
        { "rewrite ^ \"\";", "empty replacement" },
        { "if ($uri) { if ($uri) { } }", "\"if\" directive is not allowed here" },
    };
    char conf[512];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(conf, sizeof(conf),
                 "server { listen 127.0.0.1:%%%%PORT%%%%; location / { %s } }", rows[i].location);
        bw_tr_expect_conf_error(conf, rows[i].message);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_return_text_with_variables),
        cmocka_unit_test(test_return_error_code_uses_error_page_or_text),
        cmocka_unit_test(test_return_redirects_set_location),
        cmocka_unit_test(test_return_444_closes_without_response),
        cmocka_unit_test(test_rewrite_server_level_and_args),
        cmocka_unit_test(test_rewrite_redirect_flags_and_scheme),
        cmocka_unit_test(test_rewrite_last_break_and_no_flag),
        cmocka_unit_test(test_rewrite_loop_ends_with_500),
        cmocka_unit_test(test_rewrite_captures_escaped_into_args),
        cmocka_unit_test(test_rewrite_log_notices),
        cmocka_unit_test(test_if_comparisons_and_regex_captures),
        cmocka_unit_test(test_if_failed_regex_forgets_captures),
        cmocka_unit_test(test_if_file_tests_in_prefix),
        cmocka_unit_test(test_set_variables_and_builtin_setters),
        cmocka_unit_test(test_break_stops_rewrite_directives),
        cmocka_unit_test(test_if_block_switches_configuration),
        cmocka_unit_test(test_server_level_if_and_return),
        cmocka_unit_test(test_return_code_goes_through_error_page),
        cmocka_unit_test(test_config_errors_worded_as_nginx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
