/*
 * test_reload_under_load.c -- graceful reload and binary upgrade while wrk
 * hammers the server (bounded: a few seconds, 127.0.0.1 only): not one
 * request may fail, be refused or reset.
 *
 * wrk sends "Connection: close" so every request is a new connection: that
 * exercises the accept path through the handover. (With keep-alive, a client
 * that reuses a connection at the instant the server closes it idle sees a
 * reset that no server can prevent; RFC 9112 §9.3.1 lets clients retry.)
 */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const bw_conf =
    "worker_processes 2;\n"
    "http {\n"
    "    access_log off;\n"
    "    server {\n"
    "        listen 127.0.0.1:%%PORT%%;\n"
    "        root html;\n"
    "    }\n"
    "}\n";

/* Starts wrk for `seconds` against the server; its output goes to prefix/logs/wrk.out. */
static pid_t
bw_load_start(bw_test_server_t *srv, int seconds)
{
    char url[64], dur[16];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/index.html", srv->port);
    snprintf(dur, sizeof(dur), "%ds", seconds);
    const char *argv[] = {"wrk", "-t1", "-c8", "-d", dur, "-H", "Connection: close", url, NULL};
    int out = open(bw_test_server_path(srv, "logs/wrk.out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(out >= 0);
    pid_t pid = bw_test_proc_spawn(argv, -1, out, out);
    close(out);
    assert_true(pid > 0);
    return pid;
}

/* Waits for wrk, then asserts it saw requests and no error of any kind. */
static void
bw_load_check(bw_test_server_t *srv, pid_t wrk)
{
    int status;
    assert_true(bw_test_proc_reap(wrk, &status, bw_test_timeout(30000)));
    char *out = bw_test_server_read_file(srv, "logs/wrk.out", NULL);
    assert_non_null(out);
    if (strstr(out, "Socket errors") || strstr(out, "Non-2xx")) {
        fail_msg("wrk saw failures during the handover:\n%s", out);
    }
    char *reqs = strstr(out, " requests in ");
    assert_non_null(reqs);
    while (reqs > out && reqs[-1] != ' ' && reqs[-1] != '\n') {
        reqs--;
    }
    assert_true(atol(reqs) > 100);
    free(out);
}

static bw_test_server_t *
bw_load_server(void)
{
    if (access("/usr/bin/wrk", X_OK) != 0) {
        return NULL;
    }
    bw_test_server_t *srv = bw_test_server_prepare(bw_conf);
    assert_non_null(srv);
    assert_int_equal(bw_test_server_write_file(srv, "html/index.html", "steady\n"), 0);
    assert_int_equal(bw_test_server_launch(srv), 0);
    assert_true(bw_test_server_wait_workers(srv, 2, bw_test_timeout(5000)));
    return srv;
}

static void
test_reloads_under_load_fail_no_request(void **state)
{
    bw_test_server_t *srv = bw_load_server();
    if (srv == NULL) {
        skip();
    }
    pid_t wrk = bw_load_start(srv, 4);
    for (int i = 0; i < 3; i++) {
        bw_test_sleep_ms(800);
        assert_true(bw_test_server_reload(srv, NULL));
    }
    bw_load_check(srv, wrk);
    bw_test_server_stop(srv);
}

static void
test_binary_upgrade_under_load_fails_no_request(void **state)
{
    bw_test_server_t *srv = bw_load_server();
    if (srv == NULL) {
        skip();
    }
    pid_t old = srv->pid;
    pid_t wrk = bw_load_start(srv, 4);

    bw_test_sleep_ms(700);
    assert_int_equal(kill(old, SIGUSR2), 0);
    assert_true(bw_test_server_log_wait(srv, "start new binary process", 1,
                                        bw_test_timeout(5000)));
    bw_test_sleep_ms(700);
    assert_int_equal(kill(old, SIGWINCH), 0);
    bw_test_sleep_ms(700);
    assert_int_equal(kill(old, SIGQUIT), 0);
    assert_true(bw_test_pid_wait_exit(old, bw_test_timeout(5000)));

    bw_load_check(srv, wrk);
    bw_test_server_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reloads_under_load_fail_no_request),
        cmocka_unit_test(test_binary_upgrade_under_load_fails_no_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
