/*
 * test_cli.c -- the command line as an operator meets it: -t / -T / -q
 * messages in nginx's shape (golden text with file:line), -v / -V lines that
 * nginx-driving tools parse, -h, and -s without a running master.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const bw_good_conf =
    "http {\n"
    "    server {\n"
    "        listen 127.0.0.1:%%PORT%%;\n"
    "    }\n"
    "}\n";

/* Runs `bulwark -p prefix/ -c conf <flag>` on conf text; returns the output. */
static char *
bw_cli_run(bw_test_server_t **srv, const char *conf, const char *flag, int *status)
{
    char *out = NULL;
    *srv = bw_test_server_prepare(conf);
    assert_non_null(*srv);
    assert_int_equal(bw_test_server_run(*srv, &out, status, flag), 0);
    assert_non_null(out);
    return out;
}

static void
bw_cli_expect_line(const char *out, const char *line)
{
    if (strstr(out, line) == NULL) {
        fail_msg("expected line:\n  %s\nin output:\n%s", line, out);
    }
}

static void
test_t_good_config_says_syntax_ok_and_successful(void **state)
{
    bw_test_server_t *srv;
    int st;
    char *out = bw_cli_run(&srv, bw_good_conf, "-t", &st);
    char line[1024];

    assert_int_equal(st, 0);
    snprintf(line, sizeof(line), "bulwark: the configuration file %s syntax is ok\n",
             srv->conf_path);
    bw_cli_expect_line(out, line);
    snprintf(line, sizeof(line), "bulwark: configuration file %s test is successful\n",
             srv->conf_path);
    bw_cli_expect_line(out, line);
    free(out);
    bw_test_server_stop(srv);
}

static void
test_q_hides_success_lines(void **state)
{
    bw_test_server_t *srv;
    int st;
    char *out = NULL;
    srv = bw_test_server_prepare(bw_good_conf);
    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t", "-q"), 0);
    assert_int_equal(st, 0);
    assert_null(strstr(out, "syntax is ok"));
    free(out);
    bw_test_server_stop(srv);
}

static void
test_t_unknown_directive_golden_message_and_exit_1(void **state)
{
    bw_test_server_t *srv;
    int st;
    /* The preamble adds lines above the template: locate the typo by its own line. */
    char *out = bw_cli_run(&srv,
                           "http {\n"
                           "    server {\n"
                           "        lisen 127.0.0.1:%%PORT%%;\n"
                           "    }\n"
                           "}\n",
                           "-t", &st);
    char *conf = bw_test_server_read_file(srv, "conf/bulwark.conf", NULL);
    char *at = strstr(conf, "lisen");
    int line = 1;
    for (char *p = conf; p < at; p++) {
        line += *p == '\n';
    }
    char want[1024];

    assert_int_equal(st, 1);
    snprintf(want, sizeof(want), "bulwark: [emerg] unknown directive \"lisen\" in %s:%d\n",
             srv->conf_path, line);
    bw_cli_expect_line(out, want);
    snprintf(want, sizeof(want), "bulwark: configuration file %s test failed\n", srv->conf_path);
    bw_cli_expect_line(out, want);
    free(conf);
    free(out);
    bw_test_server_stop(srv);
}

static void
test_t_reports_every_error_in_one_run(void **state)
{
    bw_test_server_t *srv;
    int st;
    char *out = bw_cli_run(&srv,
                           "%%NO_PREAMBLE%%"
                           "worker_processes two;\n"           /* line 1 */
                           "events { worker_connections 64; }\n"
                           "bogus_one on;\n"                    /* line 3 */
                           "ssi on;\n"                          /* line 4: nginx has it */
                           "http {\n"
                           "    server {\n"
                           "        listen 127.0.0.1:%%PORT%%;\n"
                           "        sendfile maybe;\n"          /* line 8 */
                           "    }\n"
                           "}\n",
                           "-t", &st);
    char want[1024];

    assert_int_equal(st, 1);
    snprintf(want, sizeof(want), "[emerg] \"worker_processes\" directive invalid value in %s:1",
             srv->conf_path);
    bw_cli_expect_line(out, want);
    snprintf(want, sizeof(want), "[emerg] unknown directive \"bogus_one\" in %s:3",
             srv->conf_path);
    bw_cli_expect_line(out, want);
    snprintf(want, sizeof(want), "directive \"ssi\" is not supported by bulwark in %s:4",
             srv->conf_path);
    bw_cli_expect_line(out, want);
    snprintf(want, sizeof(want), "invalid value \"maybe\" in \"sendfile\" directive, it must be "
             "\"on\" or \"off\" in %s:8", srv->conf_path);
    bw_cli_expect_line(out, want);
    free(out);
    bw_test_server_stop(srv);
}

static void
test_t_missing_include_names_the_file(void **state)
{
    bw_test_server_t *srv;
    int st;
    char *out = bw_cli_run(&srv, "%%NO_PREAMBLE%%include nothere.conf;\n", "-t", &st);
    char want[1024];

    assert_int_equal(st, 1);
    snprintf(want, sizeof(want), "bulwark: [emerg] open() \"%s/conf/nothere.conf\" failed "
             "(2: No such file or directory) in %s:1", srv->prefix, srv->conf_path);
    bw_cli_expect_line(out, want);
    free(out);
    bw_test_server_stop(srv);
}

static void
test_T_dumps_every_included_file(void **state)
{
    bw_test_server_t *srv = bw_test_server_prepare("include extra/*.conf;\n");
    char *out = NULL;
    int st;
    char want[1024];

    assert_non_null(srv);
    assert_int_equal(bw_test_server_write_file(srv, "conf/extra/a.conf", "# file a\n"), 0);
    assert_int_equal(bw_test_server_write_file(srv, "conf/extra/b.conf", "# file b\n"), 0);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-T"), 0);
    assert_int_equal(st, 0);
    snprintf(want, sizeof(want), "# configuration file %s:\n", srv->conf_path);
    bw_cli_expect_line(out, want);
    snprintf(want, sizeof(want), "# configuration file %s/conf/extra/a.conf:\n# file a\n",
             srv->prefix);
    bw_cli_expect_line(out, want);
    snprintf(want, sizeof(want), "# configuration file %s/conf/extra/b.conf:\n# file b\n",
             srv->prefix);
    bw_cli_expect_line(out, want);
    assert_true(strstr(out, "extra/a.conf:") < strstr(out, "extra/b.conf:"));
    free(out);
    bw_test_server_stop(srv);
}

static void
test_t_reports_zone_never_given_a_size(void **state)
{
    bw_test_server_t *srv;
    int st;
    char *out = bw_cli_run(&srv,
                           "http {\n"
                           "    upstream u { zone nosize; server 127.0.0.1:1; }\n"
                           "    server { listen 127.0.0.1:%%PORT%%; }\n"
                           "}\n",
                           "-t", &st);
    assert_int_equal(st, 1);
    bw_cli_expect_line(out, "bulwark: [emerg] zero size shared memory zone \"nosize\"\n");
    free(out);
    bw_test_server_stop(srv);
}

static void
test_V_prints_nginx_style_lines(void **state)
{
    const char *argv[] = {bw_test_binary(), "-V", NULL};
    char *out = NULL;
    int st;

    assert_int_equal(bw_test_run(argv, &out, &st), 0);
    assert_int_equal(st, 0);
    bw_cli_expect_line(out, "bulwark version: bulwark/");
    bw_cli_expect_line(out, "\nnginx version: nginx/1.31.5\n");
    bw_cli_expect_line(out, "\nbuilt with OpenSSL 3.");
    bw_cli_expect_line(out, "\nTLS SNI support enabled\n");
    bw_cli_expect_line(out, "\nconfigure arguments: --prefix=");
    free(out);
}

static void
test_v_prints_versions_only(void **state)
{
    const char *argv[] = {bw_test_binary(), "-v", NULL};
    char *out = NULL;
    int st;

    assert_int_equal(bw_test_run(argv, &out, &st), 0);
    assert_int_equal(st, 0);
    bw_cli_expect_line(out, "nginx version: nginx/1.31.5\n");
    assert_null(strstr(out, "configure arguments"));
    free(out);
}

static void
test_h_prints_usage(void **state)
{
    const char *argv[] = {bw_test_binary(), "-h", NULL};
    char *out = NULL;
    int st;

    assert_int_equal(bw_test_run(argv, &out, &st), 0);
    assert_int_equal(st, 0);
    bw_cli_expect_line(out, "Usage: bulwark");
    bw_cli_expect_line(out, "-s signal     : send signal to a master process: stop, quit, "
                       "reopen, reload");
    free(out);
}

static void
test_bad_option_is_rejected(void **state)
{
    const char *argv[] = {bw_test_binary(), "-Z", NULL};
    const char *argv2[] = {bw_test_binary(), "-s", "explode", NULL};
    char *out = NULL;
    int st;

    assert_int_equal(bw_test_run(argv, &out, &st), 0);
    assert_int_equal(st, 1);
    bw_cli_expect_line(out, "bulwark: invalid option: \"Z\"");
    free(out);
    assert_int_equal(bw_test_run(argv2, &out, &st), 0);
    assert_int_equal(st, 1);
    bw_cli_expect_line(out, "bulwark: invalid option: \"-s explode\"");
    free(out);
}

static void
test_s_reload_without_master_names_the_pid_file(void **state)
{
    bw_test_server_t *srv = bw_test_server_prepare(bw_good_conf);
    char *out = NULL;
    int st;

    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-s", "reload"), 0);
    char want[1024];

    assert_int_equal(st, 1);
    snprintf(want, sizeof(want), "bulwark: [error] open() \"%s/logs/bulwark.pid\" failed "
             "(2: No such file or directory)", srv->prefix);
    bw_cli_expect_line(out, want);
    free(out);
    bw_test_server_stop(srv);
}

/*
 * Debian's stock nginx.conf (with sites-enabled/default and mime.types) must
 * get through -t or fail only on directives named as unsupported or modules
 * named as not built in — never as unknown typos.
 */
static void
test_t_debian_stock_config_names_what_it_cannot_take(void **state)
{
    if (access("/etc/nginx/nginx.conf", R_OK) != 0) {
        skip();
    }
    const char *argv[] = {bw_test_binary(), "-t", "-c", "/etc/nginx/nginx.conf", NULL};
    char *out = NULL;
    int st;

    assert_int_equal(bw_test_run(argv, &out, &st), 0);
    assert_null(strstr(out, "unknown directive"));
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "[emerg]") && !strstr(line, "is not supported by bulwark")
            && !strstr(line, "is not built into bulwark") && !strstr(line, "Permission denied")) {
            fail_msg("unexpected error for the stock config: %s", line);
        }
    }
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_t_good_config_says_syntax_ok_and_successful),
        cmocka_unit_test(test_q_hides_success_lines),
        cmocka_unit_test(test_t_unknown_directive_golden_message_and_exit_1),
        cmocka_unit_test(test_t_reports_every_error_in_one_run),
        cmocka_unit_test(test_t_missing_include_names_the_file),
        cmocka_unit_test(test_T_dumps_every_included_file),
        cmocka_unit_test(test_t_reports_zone_never_given_a_size),
        cmocka_unit_test(test_V_prints_nginx_style_lines),
        cmocka_unit_test(test_v_prints_versions_only),
        cmocka_unit_test(test_h_prints_usage),
        cmocka_unit_test(test_bad_option_is_rejected),
        cmocka_unit_test(test_s_reload_without_master_names_the_pid_file),
        cmocka_unit_test(test_t_debian_stock_config_names_what_it_cannot_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
