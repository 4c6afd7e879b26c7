/*
 * test_process.c -- the master/worker process model driven through the
 * real binary: start and stop, CPU pinning seen in /proc, reload (good and
 * broken), respawn after SIGKILL, graceful quit waiting for an in-flight
 * request, WINCH, log reopening, and USR2 binary upgrade (good and failing).
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BW_CONF_TWO_WORKERS                                   \
    "worker_processes 2;\n"                                   \
    "worker_cpu_affinity %%AFFINITY%%;\n"                     \
    "http {\n"                                                \
    "    server {\n"                                          \
    "        listen 127.0.0.1:%%PORT%%;\n"                    \
    "        root html;\n"                                    \
    "    }\n"                                                 \
    "}\n"

static bw_test_server_t *
bw_proc_start(const char *affinity)
{
    bw_test_server_t *srv = bw_test_server_prepare(BW_CONF_TWO_WORKERS, "AFFINITY", affinity);
    assert_non_null(srv);
    assert_int_equal(bw_test_server_write_file(srv, "html/index.html", "hello\n"), 0);
    assert_int_equal(bw_test_server_launch(srv), 0);
    assert_true(bw_test_server_wait_workers(srv, 2, bw_test_timeout(15000)));
    return srv;
}

static void
bw_proc_expect_serving(bw_test_server_t *srv)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_http_get(srv->port, "/index.html", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello\n");
    bw_test_response_free(&r);
}

/* The CPUs a process may run on, as a bit mask, from /proc/<pid>/status. */
static unsigned long
bw_proc_cpus_allowed(pid_t pid)
{
    char path[64], *text, *p;
    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    text = bw_test_file_read(path, NULL);
    assert_non_null(text);
    p = strstr(text, "Cpus_allowed:");
    assert_non_null(p);
    unsigned long mask = strtoul(p + strlen("Cpus_allowed:"), NULL, 16);
    free(text);
    return mask;
}

static void
test_start_serves_and_quit_removes_pid_file(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t master = bw_test_server_master_pid(srv);
    assert_int_equal(master, srv->pid);
    bw_proc_expect_serving(srv);
    assert_true(bw_test_server_log_count(srv, "start worker process") >= 2);

    char pidfile[600];
    snprintf(pidfile, sizeof(pidfile), "%s", bw_test_server_path(srv, "logs/bulwark.pid"));
    assert_int_equal(bw_test_server_signal(srv, SIGQUIT), 0);
    assert_true(bw_test_pid_wait_exit(master, bw_test_timeout(15000)));
    assert_int_not_equal(access(pidfile, F_OK), 0);
    bw_test_server_stop(srv);
}

static void
test_workers_are_pinned_one_cpu_each(void **state)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        skip();
    }
    bw_test_server_t *srv = bw_proc_start("01 10");
    pid_t w[4];
    assert_int_equal(bw_test_server_workers(srv, w, 4), 2);
    /* A worker counts as a child from fork; it pins itself a moment later. */
    assert_true(bw_test_server_log_wait(srv, "sched_setaffinity(): using cpu", 2,
                                        bw_test_timeout(15000)));
    unsigned long a = bw_proc_cpus_allowed(w[0]), b = bw_proc_cpus_allowed(w[1]);
    assert_true((a == 1 && b == 2) || (a == 2 && b == 1));
    /* The master itself is not pinned by the directive. */
    assert_true(bw_proc_cpus_allowed(srv->pid) != 1 || a == 0);
    bw_test_server_stop(srv);
}

static void
test_affinity_auto_pins_each_worker_to_its_own_cpu(void **state)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        skip();
    }
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t w[4];
    assert_int_equal(bw_test_server_workers(srv, w, 4), 2);
    /* A worker counts as a child from fork; it pins itself a moment later. */
    assert_true(bw_test_server_log_wait(srv, "sched_setaffinity(): using cpu", 2,
                                        bw_test_timeout(15000)));
    unsigned long a = bw_proc_cpus_allowed(w[0]), b = bw_proc_cpus_allowed(w[1]);
    assert_int_equal(__builtin_popcountl(a), 1);
    assert_int_equal(__builtin_popcountl(b), 1);
    assert_int_not_equal(a, b);
    bw_test_server_stop(srv);
}

static void
test_killed_worker_is_respawned_and_logged(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t w[4], after[4];
    assert_int_equal(bw_test_server_workers(srv, w, 4), 2);
    bw_test_server_allow(srv, "exited on signal 9");

    assert_int_equal(kill(w[0], SIGKILL), 0);
    assert_true(bw_test_pid_wait_exit(w[0], bw_test_timeout(15000)));
    assert_true(bw_test_server_log_wait(srv, "exited on signal 9", 1, bw_test_timeout(15000)));
    assert_true(bw_test_server_log_wait(srv, "start worker process", 3, bw_test_timeout(15000)));
    assert_true(bw_test_server_wait_workers(srv, 2, bw_test_timeout(15000)));
    assert_int_equal(bw_test_server_workers(srv, after, 4), 2);
    assert_true(after[0] != w[0] && after[1] != w[0]);
    bw_proc_expect_serving(srv);
    bw_test_server_stop(srv);
}

/* Workers whose master was killed leave by themselves (they run as the
 * worker user when the suite runs as root: the parent-death signal must
 * survive that switch). */
static void
test_workers_leave_when_the_master_is_killed(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t             w[4];

    assert_int_equal(bw_test_server_workers(srv, w, 4), 2);
    assert_int_equal(kill(bw_test_server_master_pid(srv), SIGKILL), 0);
    assert_true(bw_test_pid_wait_exit(w[0], bw_test_timeout(5000)));
    assert_true(bw_test_pid_wait_exit(w[1], bw_test_timeout(5000)));
    bw_test_server_stop(srv);
}

static void
test_reload_with_broken_config_keeps_old_workers_serving(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t before[4], after[4];
    assert_int_equal(bw_test_server_workers(srv, before, 4), 2);

    char *good = bw_test_server_read_file(srv, "conf/bulwark.conf", NULL);
    assert_non_null(good);
    assert_int_equal(bw_test_server_write_file(srv, "conf/bulwark.conf",
                                               "worker_processes 2;\nhttp { server { lisen 1; } }\n"),
                     0);
    assert_int_equal(bw_test_server_signal(srv, SIGHUP), 0);
    assert_true(bw_test_server_log_wait(srv, "unknown directive \"lisen\"", 1,
                                        bw_test_timeout(15000)));
    assert_true(bw_test_server_log_wait(srv, "still running the previous configuration", 1,
                                        bw_test_timeout(15000)));
    bw_proc_expect_serving(srv);
    assert_int_equal(bw_test_server_workers(srv, after, 4), 2);
    assert_true((after[0] == before[0] && after[1] == before[1])
                || (after[0] == before[1] && after[1] == before[0]));
    assert_int_equal(bw_test_server_write_file(srv, "conf/bulwark.conf", good), 0);
    free(good);
    bw_test_server_stop(srv);
}

static void
test_reload_replaces_workers_and_applies_new_config(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t before[4];
    assert_int_equal(bw_test_server_workers(srv, before, 4), 2);
    assert_int_equal(bw_test_server_write_file(srv, "html2/index.html", "second\n"), 0);

    assert_true(bw_test_server_reload(srv,
                                      "worker_processes 2;\n"
                                      "http { server { listen 127.0.0.1:%%PORT%%; root html2; } }\n"));
    assert_true(bw_test_pid_wait_exit(before[0], bw_test_timeout(15000)));
    assert_true(bw_test_pid_wait_exit(before[1], bw_test_timeout(15000)));
    bw_test_response_t r;
    assert_int_equal(bw_test_http_get(srv->port, "/index.html", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "second\n");
    bw_test_response_free(&r);
    bw_test_server_stop(srv);
}

static void
test_quit_waits_for_in_flight_request(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t master = srv->pid;
    bw_test_conn_t *c = bw_test_conn_open(srv->port);
    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "GET /index.html HTTP/1.1\r\nHost: x\r\n"), 0);
    bw_test_sleep_ms(100);

    assert_int_equal(bw_test_server_signal(srv, SIGQUIT), 0);
    bw_test_sleep_ms(500);
    assert_true(bw_test_pid_alive(master));
    assert_int_equal(bw_test_conn_send_str(c, "\r\n"), 0);
    bw_test_response_t r;
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello\n");
    bw_test_response_free(&r);
    bw_test_conn_close(c);
    assert_true(bw_test_pid_wait_exit(master, bw_test_timeout(15000)));
    bw_test_server_stop(srv);
}

static void
test_usr1_reopens_the_error_log(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    char log[600], moved[620];
    snprintf(log, sizeof(log), "%s", bw_test_server_path(srv, "logs/error.log"));
    snprintf(moved, sizeof(moved), "%s.1", log);
    assert_int_equal(rename(log, moved), 0);
    assert_int_equal(bw_test_server_signal(srv, SIGUSR1), 0);
    /* "reopening logs" is written just before the reopen: into the moved file. */
    int64_t end = bw_test_now_ms() + bw_test_timeout(15000);
    while (access(log, F_OK) != 0 && bw_test_now_ms() < end) {
        bw_test_sleep_ms(20);
    }
    assert_int_equal(access(log, F_OK), 0);
    bw_test_sleep_ms(200); /* the workers reopen after the master */
    assert_true(bw_test_file_count(moved, "reopening logs") >= 1);
    /* A later error lands in the new file, written by a worker. */
    bw_test_response_t r;
    assert_int_equal(bw_test_http_get(srv->port, "/missing.html", &r), 0);
    assert_int_equal(r.status, 404);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(srv, "missing.html", 1, bw_test_timeout(15000)));
    assert_int_equal(bw_test_file_count(moved, "missing.html"), 0);
    bw_test_server_stop(srv);
}

static void
test_winch_stops_workers_and_hup_brings_them_back(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t w[4];
    assert_int_equal(bw_test_server_signal(srv, SIGWINCH), 0);
    int64_t end = bw_test_now_ms() + bw_test_timeout(15000);
    while (bw_test_server_workers(srv, w, 4) > 0 && bw_test_now_ms() < end) {
        bw_test_sleep_ms(20);
    }
    assert_int_equal(bw_test_server_workers(srv, w, 4), 0);
    assert_true(bw_test_pid_alive(srv->pid));
    assert_int_equal(bw_test_server_signal(srv, SIGHUP), 0);
    assert_true(bw_test_server_wait_workers(srv, 2, bw_test_timeout(15000)));
    bw_proc_expect_serving(srv);
    bw_test_server_stop(srv);
}

static pid_t
bw_proc_read_pid(bw_test_server_t *srv, const char *rel)
{
    char *text = bw_test_server_read_file(srv, rel, NULL);
    if (text == NULL) {
        return 0;
    }
    pid_t pid = (pid_t) atoi(text);
    free(text);
    return pid;
}

static void
test_usr2_upgrade_then_winch_and_quit_old_master(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t old = srv->pid, old_workers[4];
    assert_int_equal(bw_test_server_workers(srv, old_workers, 4), 2);

    assert_int_equal(kill(old, SIGUSR2), 0);
    int64_t end = bw_test_now_ms() + bw_test_timeout(15000);
    pid_t fresh = 0;
    while (bw_test_now_ms() < end) {
        fresh = bw_proc_read_pid(srv, "logs/bulwark.pid");
        if (fresh && fresh != old && bw_proc_read_pid(srv, "logs/bulwark.pid.oldbin") == old) {
            break;
        }
        bw_test_sleep_ms(20);
    }
    assert_int_equal(bw_proc_read_pid(srv, "logs/bulwark.pid.oldbin"), old);
    assert_true(fresh != 0 && fresh != old);
    pid_t w[4];
    end = bw_test_now_ms() + bw_test_timeout(15000);
    while (bw_test_children(fresh, w, 4) < 2 && bw_test_now_ms() < end) {
        bw_test_sleep_ms(20);
    }
    assert_int_equal(bw_test_children(fresh, w, 4), 2);
    bw_proc_expect_serving(srv);

    /* Old workers drain, then the old master goes; the new one serves alone. */
    assert_int_equal(kill(old, SIGWINCH), 0);
    assert_true(bw_test_pid_wait_exit(old_workers[0], bw_test_timeout(15000)));
    assert_true(bw_test_pid_wait_exit(old_workers[1], bw_test_timeout(15000)));
    bw_proc_expect_serving(srv);
    assert_int_equal(kill(old, SIGQUIT), 0);
    assert_true(bw_test_pid_wait_exit(old, bw_test_timeout(15000)));
    assert_int_equal(access(bw_test_server_path(srv, "logs/bulwark.pid.oldbin"), F_OK), -1);
    bw_proc_expect_serving(srv);
    bw_test_server_stop(srv); /* stops the master named by the pid file: the new one */
}

static void
test_usr2_with_failing_new_binary_keeps_old_master(void **state)
{
    bw_test_server_t *srv = bw_proc_start("auto");
    pid_t old = srv->pid;
    /* The re-executed binary reads this broken config and exits. */
    assert_int_equal(bw_test_server_write_file(srv, "conf/bulwark.conf", "bogus;\n"), 0);
    assert_int_equal(kill(old, SIGUSR2), 0);
    assert_true(bw_test_server_log_wait(srv, "new binary process", 2, bw_test_timeout(15000)));
    int64_t end = bw_test_now_ms() + bw_test_timeout(15000);
    while (access(bw_test_server_path(srv, "logs/bulwark.pid.oldbin"), F_OK) == 0
           && bw_test_now_ms() < end) {
        bw_test_sleep_ms(20);
    }
    assert_int_equal(bw_proc_read_pid(srv, "logs/bulwark.pid"), old);
    bw_proc_expect_serving(srv);
    bw_test_server_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_serves_and_quit_removes_pid_file),
        cmocka_unit_test(test_workers_are_pinned_one_cpu_each),
        cmocka_unit_test(test_affinity_auto_pins_each_worker_to_its_own_cpu),
        cmocka_unit_test(test_killed_worker_is_respawned_and_logged),
        cmocka_unit_test(test_workers_leave_when_the_master_is_killed),
        cmocka_unit_test(test_reload_with_broken_config_keeps_old_workers_serving),
        cmocka_unit_test(test_reload_replaces_workers_and_applies_new_config),
        cmocka_unit_test(test_quit_waits_for_in_flight_request),
        cmocka_unit_test(test_usr1_reopens_the_error_log),
        cmocka_unit_test(test_winch_stops_workers_and_hup_brings_them_back),
        cmocka_unit_test(test_usr2_upgrade_then_winch_and_quit_old_master),
        cmocka_unit_test(test_usr2_with_failing_new_binary_keeps_old_master),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
