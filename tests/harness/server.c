/*
 * server.c -- one bulwark instance per test: a fresh prefix, the rendered
 * config, launch and readiness, signals, reload, and a stop that fails the
 * test when the logs show a bulwark bug ([alert]) or a sanitizer report.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BW_TEST_MAX_TREE   64
#define BW_TEST_FAIL_MAX   4096
#define BW_TEST_FAIL_LINES 8

/* Lines that mean a bug, whatever the test did. */
static const char *const bw_test_server_bad[] = {
    "[alert]", "AddressSanitizer", "runtime error:", "LeakSanitizer",
};

/* Servers not yet stopped: a test that failed half-way leaves some behind. */
static bw_test_server_t *bw_test_server_live[64];

static void bw_test_server_kill_tree(bw_test_server_t *srv);
static void bw_test_server_destroy(bw_test_server_t *srv);

/* At exit: ends what failed tests left running and removes their prefixes. */
static void bw_test_server_cleanup_at_exit(void)
{
    for (size_t i = 0; i < sizeof(bw_test_server_live) / sizeof(bw_test_server_live[0]); i++) {
        bw_test_server_t *srv = bw_test_server_live[i];

        if (srv != NULL) {
            fprintf(stderr, "harness: ending %s left running in %s by a failed test\n",
                    srv->binary, srv->prefix);
            bw_test_server_kill_tree(srv);
            bw_test_server_destroy(srv);
        }
    }
}

static void bw_test_server_track(bw_test_server_t *srv, bool on)
{
    static bool registered;

    if (!registered) {
        atexit(bw_test_server_cleanup_at_exit);
        registered = true;
    }
    for (size_t i = 0; i < sizeof(bw_test_server_live) / sizeof(bw_test_server_live[0]); i++) {
        if (bw_test_server_live[i] == (on ? NULL : srv)) {
            bw_test_server_live[i] = on ? srv : NULL;
            return;
        }
    }
}

static bool bw_test_server_verbose(void)
{
    const char *env = getenv("BW_TEST_VERBOSE");

    return env != NULL && env[0] == '1';
}

static bool bw_test_server_leave(void)
{
    const char *env = getenv("BW_TEST_LEAVE");

    return env != NULL && env[0] == '1';
}

/* Copies the regular files of the source tree's conf/ (mime.types...). */
static void bw_test_server_seed_conf(bw_test_server_t *srv)
{
    char           dir[512];
    DIR           *d;
    struct dirent *de;

    snprintf(dir, sizeof(dir), "%s/conf", bw_test_source_dir());
    d = opendir(dir);
    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char   src[800], dst[300];
        size_t len;
        char  *data;

        if (de->d_name[0] == '.' || de->d_type != DT_REG) {
            continue;
        }
        snprintf(src, sizeof(src), "%s/%s", dir, de->d_name);
        data = bw_test_file_read(src, &len);
        if (data != NULL) {
            snprintf(dst, sizeof(dst), "conf/%s", de->d_name);
            bw_test_server_write_file_len(srv, dst, data, len);
            free(data);
        }
    }
    closedir(d);
}

/* mkdtemp + conf/ logs/ html/, all world-readable for unprivileged workers. */
static int bw_test_server_make_prefix(bw_test_server_t *srv)
{
    static const char *const dirs[] = { "conf", "logs", "html" };

    snprintf(srv->prefix, sizeof(srv->prefix), "/tmp/bwtest.XXXXXX");
    if (mkdtemp(srv->prefix) == NULL) {
        fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
        srv->prefix[0] = '\0';
        return -1;
    }
    chmod(srv->prefix, 0755);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (mkdir(bw_test_server_path(srv, dirs[i]), 0755) == -1) {
            return -1;
        }
    }
    snprintf(srv->conf_path, sizeof(srv->conf_path), "%s/conf/bulwark.conf", srv->prefix);
    bw_test_server_seed_conf(srv);
    return 0;
}

static int bw_test_server_rm_entry(const char *path, const struct stat *st, int flag,
                                   struct FTW *ftw)
{
    remove(path);
    return 0;
}

/* Frees srv and its prefix (kept with BW_TEST_LEAVE=1); processes must be gone. */
static void bw_test_server_destroy(bw_test_server_t *srv)
{
    bw_test_server_track(srv, false);
    for (int i = 0; i < BW_TEST_MAX_PORTS; i++) {
        if (srv->reserved_fd[i] >= 0) {
            close(srv->reserved_fd[i]);
        }
    }
    if (srv->prefix[0] != '\0') {
        if (bw_test_server_leave()) {
            fprintf(stderr, "harness: left prefix %s\n", srv->prefix);
        } else {
            nftw(srv->prefix, bw_test_server_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
    for (int i = 0; i < srv->nvars; i++) {
        free(srv->vars[i].name);
        free(srv->vars[i].value);
    }
    for (int i = 0; i < srv->nallow; i++) {
        free(srv->allow[i]);
    }
    free(srv->conf_template);
    free(srv);
}

static int bw_test_server_add_vars(bw_test_server_t *srv, va_list ap)
{
    for (const char *name = va_arg(ap, const char *); name != NULL;
         name = va_arg(ap, const char *))
    {
        const char *value = va_arg(ap, const char *);

        if (value == NULL || srv->nvars == BW_TEST_MAX_VARS) {
            fprintf(stderr, "harness: placeholder %s needs a value (or too many)\n", name);
            return -1;
        }
        srv->vars[srv->nvars].name = strdup(name);
        srv->vars[srv->nvars].value = strdup(value);
        srv->nvars++;
    }
    return 0;
}

static bw_test_server_t *bw_test_server_prepare_va(const char *conf_template, va_list ap)
{
    bw_test_server_t *srv = calloc(1, sizeof(*srv));

    if (srv == NULL) {
        return NULL;
    }
    bw_test_server_track(srv, true);
    srv->exit_status = -1;
    snprintf(srv->binary, sizeof(srv->binary), "%s", bw_test_binary());
    for (int i = 0; i < BW_TEST_MAX_PORTS; i++) {
        srv->reserved_fd[i] = -1;
    }
    if (bw_test_server_add_vars(srv, ap) == -1 || bw_test_server_make_prefix(srv) == -1
        || bw_test_server_write_conf(srv, conf_template) == -1)
    {
        bw_test_server_destroy(srv);
        return NULL;
    }
    return srv;
}

bw_test_server_t *bw_test_server_prepare_vars(const char *conf_template, ...)
{
    bw_test_server_t *srv;
    va_list           ap;

    va_start(ap, conf_template);
    srv = bw_test_server_prepare_va(conf_template, ap);
    va_end(ap);
    return srv;
}

int bw_test_server_write_conf(bw_test_server_t *srv, const char *conf_template)
{
    char *text;
    int   rc;

    if (conf_template != NULL && conf_template != srv->conf_template) {
        char *copy = strdup(conf_template);

        if (copy == NULL) {
            return -1;
        }
        free(srv->conf_template);
        srv->conf_template = copy;
    }
    if (srv->conf_template == NULL) {
        return -1;
    }
    text = bw_test_conf_render(srv, srv->conf_template);
    if (text == NULL) {
        return -1;
    }
    rc = bw_test_server_write_file(srv, "conf/bulwark.conf", text);
    free(text);
    return rc;
}

/* Closes the sockets that held the ports, right before the binary binds them. */
static void bw_test_server_release_ports(bw_test_server_t *srv)
{
    for (int i = 0; i < BW_TEST_MAX_PORTS; i++) {
        if (srv->reserved_fd[i] >= 0) {
            close(srv->reserved_fd[i]);
            srv->reserved_fd[i] = -1;
        }
    }
}

/* Reaps the forked master if it has exited; true when it has. */
static bool bw_test_server_reaped(bw_test_server_t *srv, int timeout_ms)
{
    int st;

    if (!srv->running) {
        return true;
    }
    if (!bw_test_proc_reap(srv->pid, &st, timeout_ms)) {
        return false;
    }
    srv->running = false;
    srv->exit_status = st;
    return true;
}

/* Up when the first port accepts and the pid file (when one is known) exists. */
static bool bw_test_server_ready(bw_test_server_t *srv)
{
    if (srv->pid_path[0] != '\0' && access(srv->pid_path, R_OK) != 0) {
        return false;
    }
    if (srv->port > 0) {
        int fd = bw_test_connect(srv->port, 100);

        if (fd == -1) {
            return false;
        }
        close(fd);
    }
    return true;
}

/* Every live process of the instance: the forked one, the master, their children. */
static int bw_test_server_tree(bw_test_server_t *srv, pid_t *pids, int max)
{
    int   n = 0;
    pid_t roots[2] = { srv->pid, bw_test_server_master_pid(srv) };

    for (int r = 0; r < 2; r++) {
        if (roots[r] <= 0 || (r == 1 && roots[1] == roots[0])) {
            continue;
        }
        if (n < max && bw_test_pid_alive(roots[r])) {
            pids[n++] = roots[r];
        }
        n += bw_test_children(roots[r], pids + n, max - n);
    }
    return n;
}

/* SIGKILL to every process of the instance (its process group too), then reap. */
static void bw_test_server_kill_tree(bw_test_server_t *srv)
{
    pid_t pids[BW_TEST_MAX_TREE];
    int   n = bw_test_server_tree(srv, pids, BW_TEST_MAX_TREE);

    for (int i = 0; i < n; i++) {
        bw_test_proc_kill(pids[i], SIGKILL);
    }
    bw_test_proc_kill_group(srv->pid, SIGKILL);   /* orphaned workers too */
    bw_test_server_reaped(srv, 5000);
    for (int i = 0; i < n; i++) {
        bw_test_proc_reap(pids[i], NULL, 5000);
    }
}

/* Prints a log file of a server that failed to start. */
static void bw_test_server_dump(bw_test_server_t *srv, const char *rel)
{
    char *text = bw_test_server_read_file(srv, rel, NULL);

    if (text != NULL && text[0] != '\0') {
        fprintf(stderr, "---- %s ----\n%s%s", rel, text,
                text[strlen(text) - 1] == '\n' ? "" : "\n");
    }
    free(text);
}

/* Says why a launch failed, with the logs that tell more. */
static void bw_test_server_launch_failed(bw_test_server_t *srv, const char *why)
{
    fprintf(stderr, "harness: %s %s (prefix %s)\n", srv->binary, why, srv->prefix);
    bw_test_server_dump(srv, "logs/stderr.log");
    bw_test_server_dump(srv, "logs/error.log");
    srv->launch_failed = true;
}

int bw_test_server_launch(bw_test_server_t *srv)
{
    char        pfx[300];
    const char *argv[] = { srv->binary, "-p", pfx, "-c", srv->conf_path, NULL };
    int         out;
    int64_t     deadline;

    snprintf(pfx, sizeof(pfx), "%s/", srv->prefix);
    out = open(bw_test_server_path(srv, "logs/stderr.log"),
               O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out == -1) {
        return -1;
    }
    bw_test_server_release_ports(srv);
    srv->pid = bw_test_proc_spawn(argv, -1, out, out);
    close(out);
    if (srv->pid == -1) {
        return -1;
    }
    srv->running = true;
    srv->launch_failed = false;
    if (bw_test_server_verbose()) {
        fprintf(stderr, "harness: started %s -p %s (pid %d, port %d)\n", srv->binary, pfx,
                (int) srv->pid, srv->port);
    }
    deadline = bw_test_now_ms() + bw_test_timeout(BW_TEST_TIMEOUT_MS);
    while (bw_test_now_ms() < deadline) {
        if (bw_test_server_reaped(srv, 0)) {
            bw_test_server_launch_failed(srv, "exited during startup");
            return -1;
        }
        if (bw_test_server_ready(srv)) {
            return 0;
        }
        bw_test_sleep_ms(10);
    }
    bw_test_server_kill_tree(srv);
    bw_test_server_launch_failed(srv, "did not come up in time");
    return -1;
}

bw_test_server_t *bw_test_server_start_vars(const char *conf_template, ...)
{
    bw_test_server_t *srv;
    va_list           ap;

    va_start(ap, conf_template);
    srv = bw_test_server_prepare_va(conf_template, ap);
    va_end(ap);
    if (srv == NULL) {
        return NULL;
    }
    if (bw_test_server_launch(srv) == 0) {
        return srv;
    }
    bw_test_server_dump(srv, "conf/bulwark.conf");
    bw_test_server_destroy(srv);
    return NULL;
}

void bw_test_server_allow(bw_test_server_t *srv, const char *text)
{
    if (srv->nallow < BW_TEST_MAX_ALLOW) {
        srv->allow[srv->nallow++] = strdup(text);
    }
}

/* True when line (len bytes) shows a bug and no allow-text excuses it. */
static bool bw_test_server_line_bad(bw_test_server_t *srv, const char *line, size_t len)
{
    bool bad = false;

    for (size_t i = 0; i < sizeof(bw_test_server_bad) / sizeof(bw_test_server_bad[0]); i++) {
        bad = bad || memmem(line, len, bw_test_server_bad[i], strlen(bw_test_server_bad[i]));
    }
    for (int i = 0; bad && i < srv->nallow; i++) {
        bad = memmem(line, len, srv->allow[i], strlen(srv->allow[i])) == NULL;
    }
    return bad;
}

/* Appends the bad lines of logs/rel to msg; returns how many there were. */
static int bw_test_server_scan(bw_test_server_t *srv, const char *rel, char *msg, size_t size)
{
    size_t      len;
    char       *text = bw_test_server_read_file(srv, rel, &len);
    const char *p, *end;
    int         bad = 0;

    for (p = text; p != NULL && p < text + len; p = end + 1) {
        end = memchr(p, '\n', len - (size_t) (p - text));
        end = end != NULL ? end : text + len;
        if (bw_test_server_line_bad(srv, p, (size_t) (end - p))) {
            size_t used = size > 0 ? strlen(msg) : 0;

            if (bad++ < BW_TEST_FAIL_LINES && used + 16 < size) {
                snprintf(msg + used, size - used, "\n  %s: %.*s", rel,
                         (int) (end - p > 300 ? 300 : end - p), p);
            }
        }
    }
    free(text);
    return bad;
}

int bw_test_server_bad_lines(bw_test_server_t *srv, char *msg, size_t size)
{
    DIR           *d = opendir(bw_test_server_path(srv, "logs"));
    struct dirent *de;
    int            bad = 0;

    if (size > 0) {
        msg[0] = '\0';
    }
    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        char rel[300];

        if (strcmp(de->d_name, "stderr.log") != 0 && strstr(de->d_name, "error") == NULL) {
            continue;
        }
        snprintf(rel, sizeof(rel), "logs/%s", de->d_name);
        bad += bw_test_server_scan(srv, rel, msg, size);
    }
    closedir(d);
    return bad;
}

/*
 * Copies error.log's [crit] and [emerg] lines (the first 20) to stderr: a
 * failing test's output then shows what the server met (a full disk, a
 * refused file) without the prefix kept.
 */
static void bw_test_server_print_crit(bw_test_server_t *srv)
{
    char *text = bw_test_file_read(bw_test_server_path(srv, "logs/error.log"), NULL);
    int   shown = 0;

    for (char *line = text, *next; line != NULL && *line != '\0' && shown < 20; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (strstr(line, "[crit]") != NULL || strstr(line, "[emerg]") != NULL) {
            fprintf(stderr, "harness: error.log: %s\n", line);
            shown++;
        }
    }
    free(text);
}

/* QUIT, bounded wait for every process of the instance, then KILL. */
static void bw_test_server_quit(bw_test_server_t *srv)
{
    pid_t   pids[BW_TEST_MAX_TREE];
    int     n = bw_test_server_tree(srv, pids, BW_TEST_MAX_TREE);
    int64_t deadline = bw_test_now_ms() + bw_test_timeout(BW_TEST_TIMEOUT_MS);
    bool    gone = false;

    bw_test_server_signal(srv, SIGQUIT);
    if (srv->running && srv->pid != bw_test_server_master_pid(srv)) {
        bw_test_proc_kill(srv->pid, SIGQUIT);
    }
    while (!gone && bw_test_now_ms() < deadline) {
        gone = bw_test_server_reaped(srv, 0);
        for (int i = 0; gone && i < n; i++) {
            gone = bw_test_proc_reap(pids[i], NULL, 0);
        }
        if (!gone) {
            bw_test_sleep_ms(10);
        }
    }
    if (!gone) {
        fprintf(stderr, "harness: %s did not stop on QUIT within %d ms: killing it\n",
                srv->binary, bw_test_timeout(BW_TEST_TIMEOUT_MS));
        for (int i = 0; i < n; i++) {
            bw_test_proc_kill(pids[i], SIGKILL);
        }
        bw_test_server_kill_tree(srv);
        for (int i = 0; i < n; i++) {
            bw_test_proc_reap(pids[i], NULL, 5000);
        }
    }
}

/* Describes a master that died by itself into msg. */
static void bw_test_server_check_exit(bw_test_server_t *srv, char *msg, size_t size)
{
    int    st = srv->exit_status;
    size_t used = strlen(msg);

    if (st == -1 || srv->launch_failed) {
        return;
    }
    if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL) {
        snprintf(msg + used, size - used, "\n  master died on signal %d", WTERMSIG(st));
    } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
        snprintf(msg + used, size - used, "\n  master exited with code %d", WEXITSTATUS(st));
    }
}

void bw_test_server_stop(bw_test_server_t *srv)
{
    static char msg[BW_TEST_FAIL_MAX];
    char        prefix[sizeof(srv->prefix)];
    int         bad;

    if (srv == NULL) {
        return;
    }
    if (srv->running || bw_test_pid_alive(bw_test_server_master_pid(srv))) {
        bw_test_server_quit(srv);
    }
    bad = bw_test_server_bad_lines(srv, msg, sizeof(msg));
    bw_test_server_check_exit(srv, msg, sizeof(msg));
    bw_test_server_print_crit(srv);
    if (bw_test_server_verbose()) {
        fprintf(stderr, "harness: stopped %s (prefix %s)\n", srv->binary, srv->prefix);
    }
    snprintf(prefix, sizeof(prefix), "%s", srv->prefix);
    bw_test_server_destroy(srv);
    if (msg[0] != '\0') {
        fail_msg("%d bad log lines (prefix %s):%s", bad, prefix, msg);
    }
}

pid_t bw_test_server_master_pid(bw_test_server_t *srv)
{
    char *text = srv->pid_path[0] != '\0' ? bw_test_file_read(srv->pid_path, NULL) : NULL;
    long  pid = text != NULL ? strtol(text, NULL, 10) : 0;

    free(text);
    return pid > 0 ? (pid_t) pid : srv->pid;
}

int bw_test_server_signal(bw_test_server_t *srv, int sig)
{
    return bw_test_proc_kill(bw_test_server_master_pid(srv), sig);
}

int bw_test_server_workers(bw_test_server_t *srv, pid_t *pids, int max)
{
    return bw_test_children(bw_test_server_master_pid(srv), pids, max);
}

bool bw_test_server_wait_workers(bw_test_server_t *srv, int n, int timeout_ms)
{
    int64_t deadline = bw_test_now_ms() + timeout_ms;
    pid_t   pids[BW_TEST_MAX_TREE];

    for (;;) {
        if (bw_test_server_workers(srv, pids, BW_TEST_MAX_TREE) >= n) {
            return true;
        }
        if (bw_test_now_ms() >= deadline) {
            return false;
        }
        bw_test_sleep_ms(10);
    }
}

/* True when pid is not among old[0..n). */
static bool bw_test_server_is_new(pid_t pid, const pid_t *old, int n)
{
    for (int i = 0; i < n; i++) {
        if (old[i] == pid) {
            return false;
        }
    }
    return true;
}

bool bw_test_server_reload(bw_test_server_t *srv, const char *conf_template)
{
    pid_t   old[BW_TEST_MAX_TREE], cur[BW_TEST_MAX_TREE];
    int     nold = bw_test_server_workers(srv, old, BW_TEST_MAX_TREE);
    int64_t deadline;

    if (conf_template != NULL && bw_test_server_write_conf(srv, conf_template) == -1) {
        return false;
    }
    bw_test_server_release_ports(srv);
    if (bw_test_server_signal(srv, SIGHUP) == -1) {
        return false;
    }
    deadline = bw_test_now_ms() + bw_test_timeout(BW_TEST_TIMEOUT_MS);
    while (bw_test_now_ms() < deadline) {
        int ncur = bw_test_server_workers(srv, cur, BW_TEST_MAX_TREE);

        for (int i = 0; i < ncur; i++) {
            if (bw_test_server_is_new(cur[i], old, nold)) {
                return true;
            }
        }
        bw_test_sleep_ms(10);
    }
    return false;
}

int bw_test_server_run_args(bw_test_server_t *srv, char **out, int *status, ...)
{
    const char *argv[64];
    char        pfx[300];
    int         n = 0;
    va_list     ap;

    snprintf(pfx, sizeof(pfx), "%s/", srv->prefix);
    argv[n++] = srv->binary;
    argv[n++] = "-p";
    argv[n++] = pfx;
    argv[n++] = "-c";
    argv[n++] = srv->conf_path;
    va_start(ap, status);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        if (n == 63) {
            va_end(ap);
            return -1;
        }
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    return bw_test_run(argv, out, status);
}
