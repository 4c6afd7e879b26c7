/*
 * test_access_log.c -- the access log through the real binary: the default
 * `logs/access.log combined`, custom formats, several logs on one level,
 * inheritance and `off`, the three escapings and "-" for missing values,
 * `if=`, paths with variables, buffer= with flush=, flushing on reopen
 * (USR1) and on exit, writing to a new file after USR1 once the old one was
 * renamed, gzip, and nginx's configuration messages. Expected lines were
 * checked against nginx 1.22 with the same configuration.
 */
#include "harness.h"

#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BW_TL_CONF                                                                  \
    "http {\n"                                                                      \
    "  log_format short '$request_method $uri $status';\n"                          \
    "  log_format esc '[$http_x_test] [$http_x_missing]';\n"                        \
    "  log_format js escape=json '{\"t\":\"$http_x_test\",\"m\":\"$http_x_missing\"}';\n" \
    "  log_format raw escape=none '[$http_x_test] [$http_x_missing]';\n"            \
    "  access_log logs/http.log short;\n"                                           \
    "  server {\n"                                                                  \
    "    listen 127.0.0.1:%%PORT%%;\n"                                              \
    "    root html;\n"                                                              \
    "    location /both/ { access_log logs/one.log short; access_log logs/two.log short; }\n" \
    "    location /off/ { access_log off; }\n"                                      \
    "    location /inherit/ { }\n"                                                  \
    "    location /esc/ { access_log logs/esc.log esc; access_log logs/js.log js;\n" \
    "                     access_log logs/raw.log raw; }\n"                         \
    "    location /cond/ { access_log logs/cond.log short if=$arg_log; }\n"         \
    "    location /var/ { access_log vlogs/var_$arg_name.log short; }\n"             \
    "    location /buf/ { access_log logs/buf.log short buffer=32k flush=1s; }\n"   \
    "    location /hold/ { access_log logs/hold.log short buffer=32k; }\n"          \
    "    location /gz/ { access_log logs/gz.log.gz short gzip flush=1s; }\n"        \
    "  }\n"                                                                         \
    "}\n"

static const char *const bw_tl_dirs[] = {"both", "off", "inherit", "esc", "cond", "var",
                                         "buf", "hold", "gz"};

static bw_test_server_t *
bw_tl_start(const char *conf)
{
    bw_test_server_t *srv = bw_test_server_prepare(conf);
    assert_non_null(srv);
    for (size_t i = 0; i < sizeof(bw_tl_dirs) / sizeof(bw_tl_dirs[0]); i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "html/%s/x", bw_tl_dirs[i]);
        assert_int_equal(bw_test_server_write_file(srv, rel, "hello\n"), 0);
    }
    static const char *const extra[] = {"html/index.html", "html/inherit/sync",
                                        "html/inherit/before", "html/inherit/renamed",
                                        "html/inherit/after"};
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        assert_int_equal(bw_test_server_write_file(srv, extra[i], "hello\n"), 0);
    }
    /* workers may run as another user (nobody): they create the per-variable files */
    assert_int_equal(bw_test_server_write_file(srv, "vlogs/.keep", ""), 0);
    assert_int_equal(chmod(bw_test_server_path(srv, "vlogs"), 01777), 0);
    assert_int_equal(bw_test_server_launch(srv), 0);
    return srv;
}

/* Sends a request (target and extra header lines) and expects 200. */
static void
bw_tl_get(bw_test_server_t *srv, const char *target, const char *headers)
{
    char               req[1024];
    bw_test_response_t r;

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n",
             target, headers);
    assert_int_equal(bw_test_http_request(srv->port, req, &r), 0);
    if (r.status != 200) {
        fail_msg("GET %s: status %d", target, r.status);
    }
    bw_test_response_free(&r);
}

static void
bw_tl_wait(bw_test_server_t *srv, const char *rel, const char *needle)
{
    if (!bw_test_server_file_wait(srv, rel, needle, 1, bw_test_timeout(3000))) {
        char *text = bw_test_server_read_file(srv, rel, NULL);
        fail_msg("%s never got \"%s\"; it holds:\n%s", rel, needle, text ? text : "(missing)");
    }
}

static void
test_access_log_default_is_combined_in_logs_access_log(void **state)
{
    bw_test_server_t *srv = bw_test_server_prepare("http { server { listen 127.0.0.1:%%PORT%%;"
                                                   " root html; } }\n");
    assert_non_null(srv);
    assert_int_equal(bw_test_server_write_file(srv, "html/index.html", "hello\n"), 0);
    assert_int_equal(bw_test_server_launch(srv), 0);
    bw_tl_get(srv, "/index.html", "User-Agent: ua/1.0 (x)\r\n");
    bw_tl_wait(srv, "logs/access.log", "GET /index.html");

    char *text = bw_test_server_read_file(srv, "logs/access.log", NULL);
    assert_non_null(text);
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^127\\.0\\.0\\.1 - - \\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:"
                             "[0-9]{2}:[0-9]{2} [+-][0-9]{4}\\] \"GET /index\\.html HTTP/1\\.1\" "
                             "200 6 \"-\" \"ua/1\\.0 \\(x\\)\"$",
                             REG_EXTENDED | REG_NEWLINE | REG_NOSUB),
                     0);
    if (regexec(&re, text, 0, NULL, 0) != 0) {
        fail_msg("not a combined line:\n%s", text);
    }
    regfree(&re);
    free(text);
    bw_test_server_stop(srv);
}

static void
test_access_log_several_logs_inheritance_and_off(void **state)
{
    bw_test_server_t *srv = bw_tl_start(BW_TL_CONF);

    bw_tl_get(srv, "/both/x", "");
    bw_tl_wait(srv, "logs/one.log", "GET /both/x 200\n");
    bw_tl_wait(srv, "logs/two.log", "GET /both/x 200\n");
    bw_tl_get(srv, "/off/x", "");
    bw_tl_get(srv, "/inherit/x", "");
    bw_tl_wait(srv, "logs/http.log", "GET /inherit/x 200\n");
    /* requests are logged in order: /off/x would be there by now */
    assert_int_equal(bw_test_server_file_count(srv, "logs/http.log", "/off/"), 0);
    assert_int_equal(bw_test_server_file_count(srv, "logs/http.log", "/both/"), 0);
    assert_int_equal(bw_test_server_file_count(srv, "logs/one.log", "\n"), 1);
    bw_test_server_stop(srv);
}

static void
test_access_log_escaping_default_json_none(void **state)
{
    bw_test_server_t *srv = bw_tl_start(BW_TL_CONF);

    bw_tl_get(srv, "/esc/x", "X-Test: a\"b\\c\td\x80" "e\xff\r\n");
    bw_tl_wait(srv, "logs/esc.log", "\n");
    bw_tl_wait(srv, "logs/js.log", "\n");
    bw_tl_wait(srv, "logs/raw.log", "\n");
    char *esc = bw_test_server_read_file(srv, "logs/esc.log", NULL);
    char *js = bw_test_server_read_file(srv, "logs/js.log", NULL);
    char *raw = bw_test_server_read_file(srv, "logs/raw.log", NULL);
    assert_string_equal(esc, "[a\\x22b\\x5Cc\\x09d\\x80e\\xFF] [-]\n");
    assert_string_equal(js, "{\"t\":\"a\\\"b\\\\c\\td\x80" "e\xff\",\"m\":\"\"}\n");
    assert_string_equal(raw, "[a\"b\\c\td\x80" "e\xff] []\n");
    free(esc);
    free(js);
    free(raw);
    bw_test_server_stop(srv);
}

static void
test_access_log_if_condition(void **state)
{
    bw_test_server_t *srv = bw_tl_start(BW_TL_CONF);

    bw_tl_get(srv, "/cond/x?log=1", "");
    bw_tl_get(srv, "/cond/x?log=0", "");
    bw_tl_get(srv, "/cond/x", "");
    bw_tl_get(srv, "/cond/x?log=", "");
    bw_tl_get(srv, "/cond/x?log=yes", "");
    bw_tl_get(srv, "/inherit/sync", "");
    bw_tl_wait(srv, "logs/http.log", "/inherit/sync");
    assert_int_equal(bw_test_server_file_count(srv, "logs/cond.log", "GET /cond/x 200\n"), 2);
    bw_test_server_stop(srv);
}

static void
test_access_log_path_with_variables(void **state)
{
    bw_test_server_t *srv = bw_tl_start(BW_TL_CONF);

    bw_tl_get(srv, "/var/x?name=alpha", "");
    bw_tl_get(srv, "/var/x?name=beta", "");
    bw_tl_get(srv, "/var/x?name=alpha", "");
    bw_tl_wait(srv, "vlogs/var_alpha.log", "GET /var/x 200\n");
    bw_tl_wait(srv, "vlogs/var_beta.log", "GET /var/x 200\n");
    assert_true(bw_test_server_file_wait(srv, "vlogs/var_alpha.log", "GET", 2,
                                         bw_test_timeout(3000)));
    bw_test_server_stop(srv);
}

static void
test_access_log_buffer_is_flushed_by_timer(void **state)
{
    bw_test_server_t *srv = bw_tl_start(BW_TL_CONF);

    int64_t start = bw_test_now_ms();
    bw_tl_get(srv, "/buf/x", "");
    bw_tl_get(srv, "/buf/x", "");
    /* held in the buffer for about a second */
    if (bw_test_now_ms() - start < 500) {
        assert_int_equal(bw_test_server_file_count(srv, "logs/buf.log", "GET"), 0);
    }
    assert_true(bw_test_server_file_wait(srv, "logs/buf.log", "GET /buf/x 200\n", 2,
                                         bw_test_timeout(4000)));
    /* both records went out in one write, whole */
    assert_int_equal(bw_test_server_file_count(srv, "logs/buf.log", "\n"), 2);
    bw_test_server_stop(srv);
}

static void
test_access_log_buffer_is_flushed_on_reopen_and_exit(void **state)
{
    bw_test_server_t *srv = bw_tl_start(BW_TL_CONF);

    bw_tl_get(srv, "/hold/x", "");
    bw_tl_get(srv, "/inherit/sync", "");
    bw_tl_wait(srv, "logs/http.log", "/inherit/sync");
    assert_int_equal(bw_test_server_file_count(srv, "logs/hold.log", "GET"), 0);
    assert_int_equal(bw_test_server_signal(srv, SIGUSR1), 0);
    bw_tl_wait(srv, "logs/hold.log", "GET /hold/x 200\n");

    bw_tl_get(srv, "/hold/x", "");
    bw_test_sleep_ms(200);
    assert_int_equal(bw_test_server_file_count(srv, "logs/hold.log", "GET"), 1);
    pid_t master = bw_test_server_master_pid(srv);
    assert_int_equal(bw_test_server_signal(srv, SIGQUIT), 0);
    assert_true(bw_test_pid_wait_exit(master, bw_test_timeout(5000)));
    assert_int_equal(bw_test_server_file_count(srv, "logs/hold.log", "GET /hold/x 200\n"), 2);
    bw_test_server_stop(srv);
}

static void
test_access_log_usr1_reopens_after_rename(void **state)
{
    bw_test_server_t *srv = bw_tl_start(BW_TL_CONF);
    char              old_path[600];

    bw_tl_get(srv, "/inherit/before", "");
    bw_tl_wait(srv, "logs/http.log", "/inherit/before");
    snprintf(old_path, sizeof(old_path), "%s", bw_test_server_path(srv, "logs/http.log.1"));
    assert_int_equal(rename(bw_test_server_path(srv, "logs/http.log"), old_path), 0);
    bw_tl_get(srv, "/inherit/renamed", "");
    bw_tl_wait(srv, "logs/http.log.1", "/inherit/renamed");

    int reopened = bw_test_server_log_count(srv, "reopening logs");
    assert_int_equal(bw_test_server_signal(srv, SIGUSR1), 0);
    /* the master and the worker each say so */
    assert_true(bw_test_server_log_wait(srv, "reopening logs", reopened + 2,
                                        bw_test_timeout(3000)));
    bw_tl_get(srv, "/inherit/after", "");
    bw_tl_wait(srv, "logs/http.log", "/inherit/after");
    assert_int_equal(bw_test_server_file_count(srv, "logs/http.log", "/inherit/before"), 0);
    assert_int_equal(bw_test_server_file_count(srv, "logs/http.log.1", "/inherit/after"), 0);
    bw_test_server_stop(srv);
}

static void
test_access_log_gzip_members_decompress(void **state)
{
    bw_test_server_t *srv = bw_tl_start(BW_TL_CONF);
    char             *out = NULL;
    int               status = -1;
    bool              found = false;

    bw_tl_get(srv, "/gz/x", "");
    int64_t deadline = bw_test_now_ms() + bw_test_timeout(4000);
    while (!found && bw_test_now_ms() < deadline) {
        bw_test_sleep_ms(100);
        const char *argv[] = {"gzip", "-dc", bw_test_server_path(srv, "logs/gz.log.gz"), NULL};
        free(out);
        out = NULL;
        if (bw_test_run(argv, &out, &status) == 0 && status == 0 && out) {
            found = strcmp(out, "GET /gz/x 200\n") == 0;
        }
    }
    if (!found) {
        fail_msg("gzip -dc gave status %d: %s", status, out ? out : "");
    }
    free(out);
    bw_test_server_stop(srv);
}

/* `bulwark -t` with `directives` at http level: output (caller frees), status. */
static char *
bw_tl_check_conf(const char *directives, int *status)
{
    return bw_test_conf_test(status, "http { %s server { listen 127.0.0.1:%%%%PORT%%%%; } }\n",
                             directives);
}

static void
test_access_log_conf_messages_match_nginx(void **state)
{
    static const struct {
        const char *conf;
        const char *message; /* NULL: accepted */
    } cases[] = {
        {"log_format combined \"x\";", "duplicate \"log_format\" name \"combined\""},
        {"log_format a \"x\"; log_format a \"y\";", "duplicate \"log_format\" name \"a\""},
        {"log_format a escape=foo \"x\";", "unknown log format escaping \"foo\""},
        {"log_format a \"x $ y\";", "invalid parameter \"$ y\""},
        {"log_format a \"${}\";", "invalid parameter \"${}\""},
        {"log_format a \"${x\";", "the closing bracket in \"x\" variable is missing"},
        {"log_format a \"$nosuchvar\";", "unknown \"nosuchvar\" variable"},
        {"access_log logs/a.log nope;", "unknown log format \"nope\""},
        {"access_log logs/a.log combined buffer=abc;", "invalid buffer size \"abc\""},
        {"access_log logs/a.log combined buffer=0;", "invalid buffer size \"0\""},
        {"access_log logs/a.log combined buffer=;", "invalid buffer size \"\""},
        {"access_log logs/a.log combined buffer=1k flush=;", "invalid flush time \"\""},
        {"access_log logs/a.log combined flush=1s;",
         "no buffer is defined for access_log \"logs/a.log\""},
        {"access_log logs/a.log combined buffer=1k flush=0;", "invalid flush time \"0\""},
        {"access_log logs/a.log combined foo=1;", "invalid parameter \"foo=1\""},
        {"access_log off combined;", "invalid parameter \"combined\""},
        {"access_log logs/$host.log combined buffer=1k;",
         "buffered logs cannot have variables in name"},
        {"access_log logs/a.log combined buffer=1k; access_log logs/a.log combined buffer=2k;",
         "access_log \"logs/a.log\" already defined with conflicting parameters"},
        {"access_log logs/a.log combined gzip=10;", "invalid compression level \"10\""},
        {"open_log_file_cache foo;", "invalid \"open_log_file_cache\" parameter \"foo\""},
        {"open_log_file_cache max=1 valid=abc;",
         "invalid \"open_log_file_cache\" parameter \"valid=abc\""},
        {"open_log_file_cache inactive=20s;",
         "\"open_log_file_cache\" must have \"max\" parameter"},
        {"open_log_file_cache max=0;", "\"open_log_file_cache\" must have \"max\" parameter"},
        {"open_log_file_cache off; open_log_file_cache off;",
         "\"open_log_file_cache\" directive is duplicate"},
        {"access_log;", "invalid number of arguments in \"access_log\" directive"},
        {"log_format a;", "invalid number of arguments in \"log_format\" directive"},
        {"open_log_file_cache max=10 inactive=20s valid=1m min_uses=2;", NULL},
        {"open_log_file_cache off;", NULL},
        {"log_format a escape=json; access_log logs/a.log a if=;", NULL},
        {"log_format a \"x\" escape=json; access_log logs/a.log a buffer=1k flush=1s;", NULL},
        {"access_log logs/a.log combined buffer=1k; access_log logs/a.log combined;", NULL},
        {"access_log logs/a.log combined gzip=9 flush=5m;", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int   status = -1;
        char *out = bw_tl_check_conf(cases[i].conf, &status);
        bool  ok = cases[i].message ? status == 1 && strstr(out, cases[i].message) != NULL
                                    : status == 0 && strstr(out, "test is successful") != NULL;
        if (!ok) {
            fail_msg("%s\n  want: %s\n  status %d, output:\n%s", cases[i].conf,
                     cases[i].message ? cases[i].message : "success", status, out);
        }
        free(out);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_log_default_is_combined_in_logs_access_log),
        cmocka_unit_test(test_access_log_several_logs_inheritance_and_off),
        cmocka_unit_test(test_access_log_escaping_default_json_none),
        cmocka_unit_test(test_access_log_if_condition),
        cmocka_unit_test(test_access_log_path_with_variables),
        cmocka_unit_test(test_access_log_buffer_is_flushed_by_timer),
        cmocka_unit_test(test_access_log_buffer_is_flushed_on_reopen_and_exit),
        cmocka_unit_test(test_access_log_usr1_reopens_after_rename),
        cmocka_unit_test(test_access_log_gzip_members_decompress),
        cmocka_unit_test(test_access_log_conf_messages_match_nginx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
