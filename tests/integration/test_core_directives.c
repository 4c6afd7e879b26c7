/*
 * test_core_directives.c -- configuration messages of the http core
 * (http{}, server{}, location{}, listen, server_name, root/alias,
 * try_files, error_page, types{}, limit_except and the other directives)
 * as `-t` prints them: golden text with the file and line, exit code 1 for
 * errors, 0 with the warning for warnings. Rows marked nginx-identical were
 * compared with nginx 1.22's output for the same file (run with
 * BW_TEST_BINARY=/usr/sbin/nginx to repeat it); the others are bulwark's own
 * wording for what it does not support.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *http;    /* the http{} body; the marked line contains "@@" in a comment */
    const char *message; /* "[emerg] ..." without " in file:line"; NULL: no message */
    bool        located; /* the message ends with " in file:line" (the @@ line) */
    bool        bulwark; /* bulwark's own wording: skipped when testing nginx itself */
} bw_cd_row_t;

/* Runs -t on the row's config; checks the message, its location and the exit code. */
static void
bw_cd_check(const bw_cd_row_t *row)
{
    char *conf = NULL, *out = NULL;
    int   st;

    if (row->bulwark && getenv("BW_TEST_BINARY") && strstr(getenv("BW_TEST_BINARY"), "nginx")) {
        return;
    }
    assert_true(asprintf(&conf, "http {\n%s\n}\n", row->http) > 0);
    bw_test_server_t *srv = bw_test_server_prepare(conf);
    free(conf);
    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t"), 0);

    char *text = bw_test_server_read_file(srv, "conf/bulwark.conf", NULL);
    char *mark = strstr(text, "@@");
    int   line = 1;
    for (char *p = text; mark && p < mark; p++) {
        line += *p == '\n';
    }
    char want[1024], failure[4096] = "";
    if (row->message == NULL) {
        if (st != 0 || strstr(out, "[emerg]") || strstr(out, "[warn]")) {
            snprintf(failure, sizeof(failure), "%s\nexpected a clean test, got %d:\n%s", row->http,
                     st, out);
        }
    } else {
        if (row->located) {
            snprintf(want, sizeof(want), "%s in %s:%d\n", row->message, srv->conf_path, line);
        } else {
            snprintf(want, sizeof(want), "%s\n", row->message);
        }
        bool emerg = strncmp(row->message, "[emerg]", 7) == 0;
        /* nginx puts "pid#tid: " after the level: compare around it. */
        const char *msg = strchr(want, ']') + 2;
        char        level[16];
        snprintf(level, sizeof(level), "%.*s", (int) (msg - want - 1), want);
        const char *at = strstr(out, level);
        if (at == NULL || strstr(at, msg) == NULL || st != (emerg ? 1 : 0)) {
            snprintf(failure, sizeof(failure), "%s\nexpected exit %d and:\n%sgot %d:\n%s",
                     row->http, emerg, want, st, out);
        }
    }
    free(text);
    free(out);
    bw_test_server_stop(srv);
    if (failure[0]) {
        fail_msg("%s", failure);
    }
}

static void
bw_cd_run(const bw_cd_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bw_cd_check(&rows[i]);
    }
}

#define BW_CD_RUN(rows) bw_cd_run(rows, sizeof(rows) / sizeof(rows[0]))

static void
test_core_blocks_and_locations(void **state)
{
    static const bw_cd_row_t rows[] = {
        {"} http { # @@", "[emerg] \"http\" directive is duplicate", true, false},
        {"server { location ~ \\.php { location /x {} } # @@\n}",
         "[emerg] location \"/x\" is outside location \"\\.php\"", true, false},
        {"server { location /a { location /b {} } # @@\n}",
         "[emerg] location \"/b\" is outside location \"/a\"", true, false},
        {"server { location = /a { location /a/b {} } # @@\n}",
         "[emerg] location \"/a/b\" cannot be inside the exact location \"/a\"", true, false},
        {"server { location @a { location /a/b {} } # @@\n}",
         "[emerg] location \"/a/b\" cannot be inside the named location \"@a\"", true, false},
        {"server { location /a { location @b {} } # @@\n}",
         "[emerg] named location \"@b\" can be on the server level only", true, false},
        {"server {\n location /a { }\n location /b { }\n location /a { # @@\n }\n}",
         "[emerg] duplicate location \"/a\"", true, false},
        {"server { location = /a { } location /a {} location ^~ /a {} } # @@",
         "[emerg] duplicate location \"/a\"", true, false},
        {"server { location ~ /a { location ~ /b {} } location = {} location @ {} }", NULL,
         false, false},
        {"server { location =/a {} location ^~/b {} location ~/c {} location ~*/d {} }", NULL,
         false, false},
        {"server { location x /a {} } # @@", "[emerg] invalid location modifier \"x\"", true,
         false},
        {"server { location = /a /b {} } # @@",
         "[emerg] invalid number of arguments in \"location\" directive", true, false},
        {"server { location ~* ( {} } # @@",
         "[emerg] pcre2_compile() failed: missing closing parenthesis in \"(\"", true, false},
        {"server { location ~ a)b {} } # @@",
         "[emerg] pcre2_compile() failed: unmatched closing parenthesis in \"a)b\" at \")b\"",
         true, false},
        {"server { internal; } # @@", "[emerg] \"internal\" directive is not allowed here", true,
         false},
        {"server { location / { internal; internal; } } # @@",
         "[emerg] \"internal\" directive is duplicate", true, false},
        {"server { location / { limit_except FOO { } } } # @@",
         "[emerg] invalid method \"FOO\"", true, false},
        {"server { location / { limit_except GET { } limit_except POST {} } } # @@",
         "[emerg] \"limit_except\" directive is duplicate", true, false},
        {"server { location / { limit_except GET { root /x; } } } # @@",
         "[emerg] \"root\" directive is not allowed here", true, false},
        {"server { location / { if ($uri) { location /x {} } } } # @@",
         "[emerg] \"location\" directive is not allowed here", true, false},
    };
    BW_CD_RUN(rows);
}

static void
test_core_listen_messages(void **state)
{
    static const bw_cd_row_t rows[] = {
        {"server { listen 127.0.0.1:8001; listen 127.0.0.1:8001; } # @@",
         "[emerg] a duplicate listen 127.0.0.1:8001", true, false},
        {"server { listen 8001 backlog=10; } server { listen 8001 backlog=20; } # @@",
         "[emerg] duplicate listen options for 0.0.0.0:8001", true, false},
        {"server { listen 8001 default; } server { listen *:8001 default_server; } # @@",
         "[emerg] a duplicate default server for 0.0.0.0:8001", true, false},
        {"server { listen 8001 foo; } # @@", "[emerg] invalid parameter \"foo\"", true, false},
        {"server { listen 8001 backlog=0; } # @@", "[emerg] invalid backlog \"backlog=0\"", true,
         false},
        {"server { listen 8001 rcvbuf=x; } # @@", "[emerg] invalid rcvbuf \"rcvbuf=x\"", true,
         false},
        {"server { listen 8001 ipv6only=oz; } # @@", "[emerg] invalid ipv6only flags \"oz\"",
         true, false},
        {"server { listen 8001 so_keepalive=1x::; } # @@",
         "[emerg] invalid so_keepalive value: \"1x::\"", true, false},
        {"server { listen 99999; } # @@",
         "[emerg] invalid port in \"99999\" of the \"listen\" directive", true, false},
        {"server { listen 1.2.3.4:abc; } # @@",
         "[emerg] invalid port in \"1.2.3.4:abc\" of the \"listen\" directive", true, false},
        {"server { listen no-such-host.invalid; } # @@",
         "[emerg] host not found in \"no-such-host.invalid\" of the \"listen\" directive", true,
         false},
        {"server { listen [::1; } # @@",
         "[emerg] invalid host in \"[::1\" of the \"listen\" directive", true, false},
        {"server { listen 127.0.0.1:8001 default_server reuseport backlog=64 rcvbuf=8k sndbuf=8k"
         " so_keepalive=30m::10 deferred fastopen=5 http2 proxy_protocol; }",
         NULL, false, false},
        {"server { listen unix:/tmp/bw.sock; } # @@",
         "[emerg] unix domain sockets are not supported by bulwark: \"unix:/tmp/bw.sock\" of the "
         "\"listen\" directive", true, true},
    };
    BW_CD_RUN(rows);
}

/* nginx logs accept_filter at emerg on Linux, yet the configuration passes. */
static void
test_core_listen_accept_filter_is_logged_not_fatal(void **state)
{
    char *out = NULL;
    int   st;
    bw_test_server_t *srv = bw_test_server_prepare(
        "http { server { listen 127.0.0.1:8001 accept_filter=x; } }\n");

    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t"), 0);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "[emerg]"));
    assert_non_null(strstr(out, "accept filters \"accept_filter=x\" are not supported on this "
                                "platform, ignored in "));
    free(out);
    bw_test_server_stop(srv);
}

static void
test_core_server_name_messages(void **state)
{
    static const bw_cd_row_t rows[] = {
        {"server { server_name \"*x.com\"; } # @@", "[emerg] server name \"*x.com\" is invalid",
         true, false},
        {"server { server_name \".\"; } # @@", "[emerg] server name \".\" is invalid", true,
         false},
        {"server { server_name \"~\"; } # @@", "[emerg] empty regex in server name \"~\"", true,
         false},
        {"server { listen 8001; server_name a/b; } # @@",
         "[warn] server name \"a/b\" has suspicious symbols", true, false},
        {"server { listen 8001; server_name www.*.com; } server { listen 8001; server_name x; }",
         "[emerg] invalid server name or wildcard \"www.*.com\" on 0.0.0.0:8001", false, false},
        {"server { listen 8001; server_name a.com; } server { listen 8001; server_name .a.com; }",
         "[warn] conflicting server name \".a.com\" on 0.0.0.0:8001, ignored", false, false},
        /* a single server on an address needs no names: nothing is checked */
        {"server { listen 8001; server_name www.*.com a.com a.com; }", NULL, false, false},
    };
    BW_CD_RUN(rows);
}

static void
test_core_files_and_pages_messages(void **state)
{
    static const bw_cd_row_t rows[] = {
        {"root /a; root /b; # @@", "[emerg] \"root\" directive is duplicate", true, false},
        {"server { location / { alias /a; root /b; } } # @@",
         "[emerg] \"root\" directive is duplicate, \"alias\" directive was specified earlier",
         true, false},
        {"server { location @a { alias /a; } } # @@",
         "[emerg] the \"alias\" directive cannot be used inside the named location", true,
         false},
        {"server { location / { root /a/$document_root; } } # @@",
         "[emerg] the $document_root variable cannot be used in the \"root\" directive", true,
         false},
        {"server { location / { try_files a; } } # @@",
         "[emerg] invalid number of arguments in \"try_files\" directive", true, false},
        {"server { location / { try_files a =1000; } } # @@", "[emerg] invalid code \"=1000\"",
         true, false},
        {"server { location / { try_files a b; try_files c d; } } # @@",
         "[emerg] \"try_files\" directive is duplicate", true, false},
        {"error_page 299 /x; # @@", "[emerg] value \"299\" must be between 300 and 599", true,
         false},
        {"error_page 499 /x; # @@", "[emerg] invalid value \"499\"", true, false},
        {"error_page 404 =abc /x; # @@", "[emerg] invalid value \"=abc\"", true, false},
        {"error_page 404 = /x y; # @@", "[emerg] invalid value \"=\"", true, false},
        {"error_page 404 =200 @x; error_page 500 502 = /x?a=b; error_page 494 /y;", NULL, false,
         false},
        {"types { text/html html; text/plain html; } # @@",
         "[warn] duplicate extension \"html\", content type: \"text/plain\", "
         "previous content type: \"text/html\"", true, false},
        {"types { text/html html } # @@", "[emerg] unexpected \"}\"", true, false},
        {"root /x/$nonexistent; # @@", "[emerg] unknown \"nonexistent\" variable", false, false},
    };
    BW_CD_RUN(rows);
}

static void
test_core_other_directive_messages(void **state)
{
    static const bw_cd_row_t rows[] = {
        {"keepalive_timeout abc; # @@", "[emerg] \"keepalive_timeout\" directive invalid value",
         true, false},
        {"keepalive_timeout 10; keepalive_timeout 20; # @@",
         "[emerg] \"keepalive_timeout\" directive is duplicate", true, false},
        {"keepalive_disable foo; # @@", "[emerg] invalid value \"foo\"", true, false},
        {"lingering_close maybe; # @@", "[emerg] invalid value \"maybe\"", true, false},
        {"server_tokens foo; # @@", "[emerg] invalid value \"foo\"", true, false},
        {"satisfy some; # @@", "[emerg] invalid value \"some\"", true, false},
        {"max_ranges -1; # @@", "[emerg] \"max_ranges\" directive invalid number", true, false},
        {"client_max_body_size abc; # @@",
         "[emerg] \"client_max_body_size\" directive invalid value", true, false},
        {"sendfile maybe; # @@",
         "[emerg] invalid value \"maybe\" in \"sendfile\" directive, it must be \"on\" or \"off\"",
         true, false},
        {"large_client_header_buffers 0 8k; # @@",
         "[emerg] \"large_client_header_buffers\" directive invalid value", true, false},
        {"connection_pool_size 1; # @@", "[emerg] the pool size must be no less than 112", true,
         false},
        {"open_file_cache foo; # @@", "[emerg] invalid \"open_file_cache\" parameter \"foo\"",
         true, false},
        {"disable_symlinks foo; # @@", "[emerg] invalid parameter \"foo\"", true, false},
        {"directio abc; # @@", "[emerg] \"directio\" directive invalid value", true, false},
        {"keepalive_timeout 10 20; keepalive_disable msie6 safari; lingering_close always;"
         " server_tokens build; if_modified_since before; satisfy any; max_ranges 2;"
         " client_body_temp_path body_temp 1 2; resolver 127.0.0.1 valid=30s; resolver_timeout 5s;"
         " output_buffers 2 32k; read_ahead 1k; aio off; directio off; open_file_cache off;"
         " disable_symlinks off; variables_hash_max_size 2048; server_names_hash_bucket_size 128;"
         " types_hash_max_size 4096; chunked_transfer_encoding off; etag off; log_subrequest on;"
         " reset_timedout_connection on; limit_rate 10k; limit_rate_after 1m;",
         NULL, false, false},
        {"send_lowat 1k; # @@", "[warn] \"send_lowat\" is not supported, ignored", true,
         false},
        {"disable_symlinks on; # @@", "[emerg] \"disable_symlinks on\" is not supported by bulwark",
         true, true},
        {"open_file_cache max=1000 inactive=20s; open_file_cache_valid 30s;"
         " open_file_cache_min_uses 2; open_file_cache_errors on;"
         " server { open_file_cache max=10; location / { open_file_cache off; } }",
         NULL, false, false},
        {"open_file_cache max=10;\nopen_file_cache off; # @@",
         "[emerg] \"open_file_cache\" directive is duplicate", true, false},
        {"open_file_cache inactive=20s; # @@",
         "[emerg] \"open_file_cache\" must have the \"max\" parameter", true, false},
        {"aio threads; # @@", "[warn] \"aio\" is not supported by bulwark, ignored", true, true},
        {"error_log syslog:server=127.0.0.1; # @@",
         "[emerg] syslog error_log targets are not supported by bulwark", true, true},
    };
    BW_CD_RUN(rows);
}

static void
test_core_unsupported_feature_warned_once(void **state)
{
    char *out = NULL;
    int   st;
    bw_test_server_t *srv = bw_test_server_prepare(
        "http { aio threads; server { aio threads;"
        " location / { aio threads; } } }\n");

    assert_non_null(srv);
    if (getenv("BW_TEST_BINARY") && strstr(getenv("BW_TEST_BINARY"), "nginx")) {
        bw_test_server_stop(srv);
        print_message("skipped: bulwark's own warning, nginx has none\n");
        skip();
    }
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t"), 0);
    assert_int_equal(st, 0);
    char *first = strstr(out, "aio\" is not supported");
    assert_non_null(first);
    assert_null(strstr(first + 1, "aio\" is not supported"));
    free(out);
    bw_test_server_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_blocks_and_locations),
        cmocka_unit_test(test_core_listen_messages),
        cmocka_unit_test(test_core_listen_accept_filter_is_logged_not_fatal),
        cmocka_unit_test(test_core_server_name_messages),
        cmocka_unit_test(test_core_files_and_pages_messages),
        cmocka_unit_test(test_core_other_directive_messages),
        cmocka_unit_test(test_core_unsupported_feature_warned_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
