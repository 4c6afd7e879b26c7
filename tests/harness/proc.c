/*
 * proc.c -- the harness's process tools: where the binaries are, the clock,
 * free ports, running a program with its output captured, and finding,
 * watching and reaping the processes a test started.
 *
 * The test process makes itself a child subreaper before its first spawn, so
 * workers and upgraded masters that outlive their parent are re-parented to
 * it: they can be reaped and never leak past the test. Every child leads its
 * own process group (its workers join it) and gets SIGKILL when the test
 * process dies.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BW_TEST_BINARY
#define BW_TEST_BINARY "bulwark"
#endif
#ifndef BW_TEST_ORIGIN
#define BW_TEST_ORIGIN "bw_origin"
#endif
#ifndef BW_TEST_SOURCE_DIR
#define BW_TEST_SOURCE_DIR "."
#endif

#define BW_TEST_PROC_MAX_DEPTH 64   /* ppid hops checked by bw_test_pid_is_ours() */
#define BW_TEST_PROC_MAX_GROUP 64   /* members of a group bw_test_proc_kill_group() reaps */

const char *bw_test_binary(void)
{
    const char *env = getenv("BW_TEST_BINARY");

    return (env != NULL && env[0] != '\0') ? env : BW_TEST_BINARY;
}

const char *bw_test_origin_binary(void)
{
    const char *env = getenv("BW_TEST_ORIGIN");

    return (env != NULL && env[0] != '\0') ? env : BW_TEST_ORIGIN;
}

const char *bw_test_source_dir(void)
{
    return BW_TEST_SOURCE_DIR;
}

int64_t bw_test_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bw_test_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int bw_test_timeout(int ms)
{
    const char *env = getenv("BW_TEST_TIMEOUT_SCALE");
    int         scale = env != NULL ? atoi(env) : 1;

    return scale > 1 ? ms * scale : ms;
}

int bw_test_free_port(int *fd)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t          slen = sizeof(sin);
    int                s;

    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s == -1) {
        return -1;
    }
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || getsockname(s, (struct sockaddr *) &sin, &slen) == -1)
    {
        close(s);
        return -1;
    }
    if (fd != NULL) {
        *fd = s;
    } else {
        close(s);
    }
    return ntohs(sin.sin_port);
}

/* In the forked child: wire fds 0-2, drop every other descriptor, exec. */
static void bw_test_proc_child_exec(const char *const argv[], int in, int out, int err)
{
    int null = open("/dev/null", O_RDWR);
    int fds[3] = { in, out, err };

    for (int i = 0; i < 3; i++) {
        int src = fds[i] >= 0 ? fds[i] : null;

        if (src >= 0 && src != i) {
            dup2(src, i);
        }
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setpgid(0, 0);          /* its own group: the harness can end all it forks */
    signal(SIGPIPE, SIG_DFL);
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == -1) {
        for (int fd = 3; fd < 65536; fd++) {
            close(fd);
        }
    }
    execvp(argv[0], (char *const *) argv);
    dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t bw_test_proc_spawn(const char *const argv[], int in, int out, int err)
{
    static bool subreaper;
    pid_t       pid;

    if (!subreaper) {
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        signal(SIGPIPE, SIG_IGN);
        subreaper = true;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        bw_test_proc_child_exec(argv, in, out, err);
    }
    return pid;
}

/* Appends what fd has to *buf; returns false at EOF or error. */
static bool bw_test_proc_drain(int fd, char **buf, size_t *len, size_t *cap)
{
    char    chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));

    if (n <= 0) {
        return n == -1 && errno == EINTR;
    }
    if (*len + (size_t) n + 1 > *cap) {
        size_t ncap = (*cap ? *cap * 2 : 8192) + (size_t) n;
        char  *nbuf = realloc(*buf, ncap);

        if (nbuf == NULL) {
            return false;
        }
        *buf = nbuf;
        *cap = ncap;
    }
    memcpy(*buf + *len, chunk, (size_t) n);
    *len += (size_t) n;
    (*buf)[*len] = '\0';
    return true;
}

/* Collects pipes p[0] (and p[1] when >= 0) until both close or the deadline. */
static bool bw_test_proc_collect(int p0, int p1, char **b0, char **b1, int64_t deadline)
{
    size_t        len[2] = { 0, 0 }, cap[2] = { 0, 0 };
    char         *bufs[2] = { NULL, NULL };
    struct pollfd pfd[2] = { { p0, POLLIN, 0 }, { p1, POLLIN, 0 } };
    int           open_n = p1 >= 0 ? 2 : 1;

    while (open_n > 0 && bw_test_now_ms() < deadline) {
        int left = (int) (deadline - bw_test_now_ms());

        if (poll(pfd, 2, left > 0 ? left : 0) <= 0) {
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd >= 0 && pfd[i].revents != 0
                && !bw_test_proc_drain(pfd[i].fd, &bufs[i], &len[i], &cap[i]))
            {
                pfd[i].fd = -1;
                open_n--;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        if (bufs[i] == NULL) {
            bufs[i] = calloc(1, 1);
        }
    }
    *b0 = bufs[0];
    if (b1 != NULL) {
        *b1 = bufs[1];
    } else {
        free(bufs[1]);
    }
    return open_n == 0;
}

/* Exit code as a shell reports it: code, or 128 + signal. */
static int bw_test_proc_exit_code(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

int bw_test_run_split(const char *const argv[], char **out, char **err, int *status)
{
    int     po[2], pe[2] = { -1, -1 };
    bool    split = (err != NULL);
    char   *bo = NULL, *be = NULL;
    pid_t   pid;
    bool    done;
    int     st = -1;
    int64_t deadline = bw_test_now_ms() + bw_test_timeout(BW_TEST_TIMEOUT_MS);

    if (pipe2(po, O_CLOEXEC) == -1 || (split && pipe2(pe, O_CLOEXEC) == -1)) {
        return -1;
    }
    pid = bw_test_proc_spawn(argv, -1, po[1], split ? pe[1] : po[1]);
    close(po[1]);
    if (split) {
        close(pe[1]);
    }
    if (pid == -1) {
        close(po[0]);
        if (split) {
            close(pe[0]);
        }
        return -1;
    }
    done = bw_test_proc_collect(po[0], split ? pe[0] : -1, &bo, split ? &be : NULL, deadline);
    close(po[0]);
    if (split) {
        close(pe[0]);
    }
    if (!done || !bw_test_proc_reap(pid, &st, (int) (deadline - bw_test_now_ms()) + 1)) {
        fprintf(stderr, "harness: %s timed out\n", argv[0]);
        kill(pid, SIGKILL);
        bw_test_proc_reap(pid, &st, 5000);
        done = false;
    }
    if (status != NULL) {
        *status = bw_test_proc_exit_code(st);
    }
    if (out != NULL) {
        *out = bo;
    } else {
        free(bo);
    }
    if (err != NULL) {
        *err = be;
    }
    return done ? 0 : -1;
}

int bw_test_run(const char *const argv[], char **out, int *status)
{
    return bw_test_run_split(argv, out, NULL, status);
}

char *bw_test_sh_in(const char *dir, int *status, const char *fmt, ...)
{
    char    cmd[4096];
    int     n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", dir);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof(cmd) - (size_t) n, fmt, ap);
    va_end(ap);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    char       *out = NULL;
    int         st = -1;
    if (bw_test_run(argv, &out, &st) != 0) {
        st = -1;
    }
    if (status) {
        *status = st;
    }
    return out ? out : strdup("");
}

int bw_test_curl_args(char **out, int *status, ...)
{
    const char *argv[64];
    int         n = 0;
    va_list     ap;

    argv[n++] = "curl";
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

/* Reads state, ppid and process group from /proc/pid/stat; false when pid is gone. */
static bool bw_test_proc_stat_full(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp)
{
    char    path[64], buf[512];
    char   *close_paren;
    int     fd, p, g;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return false;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return false;
    }
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: parse after the last ')' */
    close_paren = strrchr(buf, ')');
    if (close_paren == NULL || sscanf(close_paren + 1, " %c %d %d", state, &p, &g) != 3) {
        return false;
    }
    *ppid = p;
    if (pgrp != NULL) {
        *pgrp = g;
    }
    return true;
}

static bool bw_test_proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    return bw_test_proc_stat_full(pid, state, ppid, NULL);
}

int bw_test_proc_kill_group(pid_t pgid, int sig)
{
    DIR           *dir = opendir("/proc");
    struct dirent *de;
    pid_t          hit[BW_TEST_PROC_MAX_GROUP];
    int            n = 0;

    if (dir == NULL || pgid <= 1) {
        if (dir != NULL) {
            closedir(dir);
        }
        return 0;
    }
    while ((de = readdir(dir)) != NULL) {
        char  state;
        pid_t pid = (pid_t) atoi(de->d_name), ppid, pgrp;

        if (n < BW_TEST_PROC_MAX_GROUP && pid > 0
            && bw_test_proc_stat_full(pid, &state, &ppid, &pgrp) && pgrp == pgid
            && state != 'Z' && bw_test_proc_kill(pid, sig) == 0)
        {
            hit[n++] = pid;
        }
    }
    closedir(dir);
    for (int i = 0; sig == SIGKILL && i < n; i++) {
        bw_test_proc_reap(hit[i], NULL, 2000);   /* orphans are our children: no zombies */
    }
    return n;
}

int bw_test_children(pid_t parent, pid_t *pids, int max)
{
    DIR           *dir = opendir("/proc");
    struct dirent *de;
    int            n = 0;

    if (dir == NULL) {
        return 0;
    }
    while ((de = readdir(dir)) != NULL && n < max) {
        char  state;
        pid_t pid = (pid_t) atoi(de->d_name), ppid;

        if (pid > 0 && bw_test_proc_stat(pid, &state, &ppid) && ppid == parent
            && state != 'Z' && state != 'X')
        {
            pids[n++] = pid;
        }
    }
    closedir(dir);
    return n;
}

bool bw_test_pid_alive(pid_t pid)
{
    char  state;
    pid_t ppid;

    return pid > 0 && bw_test_proc_stat(pid, &state, &ppid) && state != 'Z' && state != 'X';
}

bool bw_test_pid_is_ours(pid_t pid)
{
    pid_t self = getpid();
    char  state;

    for (int i = 0; i < BW_TEST_PROC_MAX_DEPTH && pid > 1; i++) {
        pid_t ppid;

        if (!bw_test_proc_stat(pid, &state, &ppid)) {
            return false;
        }
        if (ppid == self) {
            return true;
        }
        pid = ppid;
    }
    return false;
}

int bw_test_proc_kill(pid_t pid, int sig)
{
    if (pid <= 0 || !bw_test_pid_is_ours(pid)) {
        return -1;
    }
    return kill(pid, sig);
}

bool bw_test_proc_reap(pid_t pid, int *status, int timeout_ms)
{
    int64_t deadline = bw_test_now_ms() + timeout_ms;

    if (status != NULL) {
        *status = -1;
    }
    for (;;) {
        int   st;
        pid_t r = waitpid(pid, &st, WNOHANG);

        if (r == pid) {
            if (status != NULL) {
                *status = st;
            }
            return true;
        }
        if (r == -1 && errno != EINTR && !bw_test_pid_alive(pid)) {
            return true;    /* not our child, and gone (or a zombie of another parent) */
        }
        if (bw_test_now_ms() >= deadline) {
            return false;
        }
        bw_test_sleep_ms(5);
    }
}

bool bw_test_pid_wait_exit(pid_t pid, int timeout_ms)
{
    return bw_test_proc_reap(pid, NULL, timeout_ms);
}

int bw_test_proc_title(pid_t pid, char *buf, size_t size)
{
    char    path[64];
    int     fd;
    ssize_t n;

    if (size == 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -1;
    }
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0) {
        return -1;
    }
    while (n > 0 && buf[n - 1] == '\0') {
        n--;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\0') {
            buf[i] = ' ';
        }
    }
    buf[n] = '\0';
    return 0;
}

long bw_test_proc_rss_kb(pid_t pid)
{
    char   path[64];
    char  *text, *line;
    long   kb = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    text = bw_test_file_read(path, NULL);
    if (text == NULL) {
        return -1;
    }
    line = strstr(text, "\nVmRSS:");
    if (line != NULL) {
        kb = strtol(line + 7, NULL, 10);
    }
    free(text);
    return kb;
}

char *bw_test_file_read(const char *path, size_t *len)
{
    int    fd = open(path, O_RDONLY | O_CLOEXEC);
    char  *buf = NULL;
    size_t n = 0, cap = 0;

    if (fd == -1) {
        return NULL;
    }
    while (bw_test_proc_drain(fd, &buf, &n, &cap)) {
    }
    close(fd);
    if (buf == NULL) {
        buf = calloc(1, 1);
    }
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

int bw_test_file_count(const char *path, const char *needle)
{
    size_t      len, nlen = strlen(needle);
    char       *text = bw_test_file_read(path, &len);
    const char *p;
    int         count = 0;

    if (text == NULL || nlen == 0) {
        free(text);
        return 0;
    }
    for (p = text; (p = memmem(p, len - (size_t) (p - text), needle, nlen)) != NULL; p += nlen) {
        count++;
    }
    free(text);
    return count;
}
