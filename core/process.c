/*
 * process.c -- the master process: signals, spawning and respawning
 * workers, reload (HUP), log reopening (USR1), graceful and fast stop
 * (QUIT, TERM/INT), stopping workers (WINCH) and binary upgrade (USR2),
 * following nginx's protocol so its init scripts work unchanged.
 *
 * The master runs no event loop: it sleeps in sigsuspend() with every
 * signal it handles blocked in between, so no signal is lost.
 */
#include "process.h"

#include "listen.h"
#include "module.h"
#include "pool.h"
#include "shm.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    pid_t    pid;        /* 0: free slot */
    int      slot;       /* worker number: CPU affinity and reuseport clone */
    unsigned generation; /* cycle generation the worker runs */
    bool     exiting;    /* told to stop: do not respawn */
} bw_process_t;

bw_signals_t      bw_signals;
bool              bw_process_is_worker;
char            **bw_argv;
bw_cycle_params_t bw_process_params;
pid_t             bw_master_pid;

static bw_process_t bw_processes[BW_MAX_PROCESSES];
static unsigned     bw_generation;
static pid_t        bw_new_binary;     /* child master started by USR2 */
static bool         bw_noaccepting;    /* workers stopped by WINCH */
static bool         bw_inherited;      /* started by an old master's USR2 */
static bool         bw_pid_renamed;    /* our pid file is now *.oldbin */
static const int    bw_master_sigs[] = {SIGCHLD, SIGALRM, SIGINT, SIGHUP, SIGUSR1,
                                        SIGWINCH, SIGTERM, SIGQUIT, SIGUSR2};

/* ---- signals ---- */

static void
bw_process_signal_handler(int signo)
{
    int saved = errno;
    switch (signo) {
    case SIGQUIT: bw_signals.quit = 1; break;
    case SIGTERM:
    case SIGINT: bw_signals.terminate = 1; break;
    case SIGHUP: bw_signals.reconfigure = 1; break;
    case SIGUSR1: bw_signals.reopen = 1; break;
    case SIGUSR2: bw_signals.upgrade = 1; break;
    case SIGWINCH: bw_signals.noaccept = 1; break;
    case SIGCHLD: bw_signals.reap = 1; break;
    case SIGALRM: bw_signals.alarm = 1; break;
    }
    errno = saved;
}

bw_rc_t
bw_process_signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = bw_process_signal_handler;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < bw_nelems(bw_master_sigs); i++) {
        if (sigaction(bw_master_sigs[i], &sa, NULL) != 0) {
            return BW_ERROR;
        }
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGSYS, &sa, NULL);
    /* a file over RLIMIT_FSIZE fails its write with EFBIG (logged, the
     * request falls back) instead of killing the process */
    sigaction(SIGXFSZ, &sa, NULL);
    return BW_OK;
}

int
bw_process_signal_number(const char *name)
{
    static const struct {
        const char *name;
        int         signo;
    } map[] = {{"stop", SIGTERM}, {"quit", SIGQUIT}, {"reopen", SIGUSR1}, {"reload", SIGHUP}};
    for (size_t i = 0; i < bw_nelems(map); i++) {
        if (strcmp(map[i].name, name) == 0) {
            return map[i].signo;
        }
    }
    return -1;
}

int
bw_process_signal_send(bw_cycle_t *cycle, const char *name)
{
    const char *path = (char *) bw_core_conf(cycle)->pid.data;
    char buf[32];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        bw_log_stderr(BW_LOG_ERR, errno, "open() \"%s\" failed", path);
        return 1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        bw_log_stderr(BW_LOG_ERR, errno, "read() \"%s\" failed", path);
        return 1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) {
        n--;
    }
    buf[n] = '\0';
    int64_t pid = bw_atoi((u_char *) buf, (size_t) n);
    if (pid <= 0) {
        bw_log_stderr(BW_LOG_ERR, 0, "invalid PID number \"%s\" in \"%s\"", buf, path);
        return 1;
    }
    int signo = bw_process_signal_number(name);
    if (kill((pid_t) pid, signo) != 0) {
        bw_log_stderr(BW_LOG_ERR, errno, "kill(%d, %d) failed", (int) pid, signo);
        return 1;
    }
    return 0;
}

/* ---- pid file ---- */

bw_rc_t
bw_process_pid_write(bw_cycle_t *cycle, const bw_str_t *path)
{
    char buf[32];
    int fd = open((char *) path->data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        bw_log_error(BW_LOG_EMERG, cycle->log, errno, "open() \"%s\" failed",
                     (char *) path->data);
        return BW_ERROR;
    }
    int len = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
    ssize_t n = write(fd, buf, (size_t) len);
    close(fd);
    if (n != len) {
        bw_log_error(BW_LOG_EMERG, cycle->log, errno, "write() to \"%s\" failed",
                     (char *) path->data);
        return BW_ERROR;
    }
    return BW_OK;
}

void
bw_process_pid_delete(const bw_str_t *path)
{
    unlink((char *) path->data);
}

/* ---- workers ---- */

static bw_process_t *
bw_master_spawn(bw_cycle_t *cycle, int slot)
{
    bw_process_t *p = NULL;
    for (int i = 0; i < BW_MAX_PROCESSES; i++) {
        if (bw_processes[i].pid == 0) {
            p = &bw_processes[i];
            break;
        }
    }
    if (p == NULL) {
        bw_log_error(BW_LOG_ALERT, cycle->log, 0, "no more than %d processes can be spawned",
                     BW_MAX_PROCESSES);
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        bw_log_error(BW_LOG_ALERT, cycle->log, errno, "fork() failed while spawning "
                     "\"worker process\"");
        return NULL;
    }
    if (pid == 0) {
        bw_worker_run(cycle, slot);
    }
    bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "start worker process %d", (int) pid);
    p->pid = pid;
    p->slot = slot;
    p->generation = bw_generation;
    p->exiting = false;
    return p;
}

static void
bw_master_start_workers(bw_cycle_t *cycle)
{
    bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "start worker processes");
    int n = (int) bw_core_conf(cycle)->worker_processes;
    for (int i = 0; i < n; i++) {
        bw_master_spawn(cycle, i);
    }
}

/* Signals every worker (of any generation when `all`, else older ones). */
static void
bw_master_signal_workers(bw_cycle_t *cycle, int signo, bool all)
{
    for (int i = 0; i < BW_MAX_PROCESSES; i++) {
        bw_process_t *p = &bw_processes[i];
        if (p->pid == 0 || (!all && p->generation == bw_generation)) {
            continue;
        }
        if (signo == SIGQUIT || signo == SIGTERM || signo == SIGINT || signo == SIGKILL) {
            p->exiting = true;
        }
        if (kill(p->pid, signo) != 0 && errno != ESRCH) {
            bw_log_error(BW_LOG_ALERT, cycle->log, errno, "kill(%d, %d) failed", (int) p->pid,
                         signo);
        }
    }
}

static int
bw_master_live_workers(void)
{
    int n = 0;
    for (int i = 0; i < BW_MAX_PROCESSES; i++) {
        n += bw_processes[i].pid != 0;
    }
    return n;
}

static void
bw_master_restore_pid(bw_cycle_t *cycle)
{
    bw_core_conf_t *ccf = bw_core_conf(cycle);
    bw_pid_renamed = false;
    if (rename((char *) ccf->oldpid.data, (char *) ccf->pid.data) != 0) {
        bw_log_error(BW_LOG_ALERT, cycle->log, errno, "rename() %s back to %s failed after "
                     "the new binary process \"%s\" exited", (char *) ccf->oldpid.data,
                     (char *) ccf->pid.data, bw_argv[0]);
    }
}

/* Collects exited children; respawns workers that died without being told to. */
static void
bw_master_reap(bw_cycle_t *cycle, bool stopping)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == bw_new_binary) {
            bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "new binary process %d exited with "
                         "code %d", (int) pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            bw_new_binary = 0;
            bw_master_restore_pid(cycle);
            continue;
        }
        bw_process_t *p = NULL;
        for (int i = 0; i < BW_MAX_PROCESSES; i++) {
            if (bw_processes[i].pid == pid) {
                p = &bw_processes[i];
                break;
            }
        }
        if (p == NULL) {
            continue;
        }
        bool crashed = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
        if (WIFSIGNALED(status)) {
            /* A fault is a bulwark bug (alert); a kill from outside is not (crit). */
            int sig = WTERMSIG(status);
            bool fault = sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT || sig == SIGILL
                         || sig == SIGFPE;
            bw_log_error(fault ? BW_LOG_ALERT : BW_LOG_CRIT, cycle->log, 0,
                         "worker process %d exited on signal %d%s",
                         (int) pid, WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
        } else {
            bw_log_error(crashed ? BW_LOG_ALERT : BW_LOG_NOTICE, cycle->log, 0,
                         "worker process %d exited with code %d", (int) pid,
                         WEXITSTATUS(status));
        }
        /* Exit code 2: the worker could not start; respawning would only loop. */
        bool fatal = WIFEXITED(status) && WEXITSTATUS(status) == 2;
        if (fatal) {
            bw_log_error(BW_LOG_ALERT, cycle->log, 0, "worker process %d exited with fatal "
                         "code 2 and cannot be respawned", (int) pid);
        }
        if (crashed) {
            /* A worker that died holding a zone lock must not block the others. */
            bw_shm_zones_force_unlock(cycle, pid);
        }
        int slot = p->slot;
        bool respawn = crashed && !fatal && !p->exiting && !stopping && p->generation == bw_generation
                       && !bw_noaccepting;
        p->pid = 0;
        if (respawn) {
            bw_master_spawn(cycle, slot);
        }
    }
}

/* ---- reload and upgrade ---- */

static bw_cycle_t *
bw_master_reload(bw_cycle_t *cycle)
{
    bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "reconfiguring");
    bw_cycle_t *next = bw_cycle_create(&bw_process_params, cycle);
    if (next == NULL) {
        bw_log_error(BW_LOG_EMERG, cycle->log, 0, "reload of \"%s\" failed: still running "
                     "the previous configuration", (char *) cycle->conf_file.data);
        return cycle;
    }
    next->log = &next->new_log;
    bw_core_conf_t *oldc = bw_core_conf(cycle), *newc = bw_core_conf(next);
    if (!bw_str_eq(&oldc->pid, &newc->pid)) {
        bw_process_pid_write(next, &newc->pid);
        bw_process_pid_delete(&oldc->pid);
    }
    bw_generation++;
    bw_cycle = next; /* new workers must run the new cycle */
    bw_master_start_workers(next);
    bw_master_signal_workers(next, SIGQUIT, false);
    bw_cycle_retire(cycle, next);
    return next;
}

/* Builds the environment of the new binary: ours plus the socket list. */
static char **
bw_master_exec_env(bw_cycle_t *cycle)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n]) {
        n++;
    }
    char **env = bw_palloc(cycle->pool, (n + 2) * sizeof(char *));
    const char *sockets = bw_listening_env(cycle);
    if (env == NULL || sockets == NULL) {
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "BULWARK=", 8) != 0) {
            env[k++] = environ[i];
        }
    }
    env[k++] = (char *) sockets;
    env[k] = NULL;
    return env;
}

static void
bw_master_upgrade(bw_cycle_t *cycle)
{
    bw_core_conf_t *ccf = bw_core_conf(cycle);

    if (bw_new_binary || bw_inherited) {
        bw_log_error(BW_LOG_WARN, cycle->log, 0,
                     "the changing binary signal is ignored: you should shutdown or terminate "
                     "before either old or new binary's process");
        return;
    }
    char **env = bw_master_exec_env(cycle);
    if (env == NULL) {
        return;
    }
    if (rename((char *) ccf->pid.data, (char *) ccf->oldpid.data) != 0) {
        bw_log_error(BW_LOG_ALERT, cycle->log, errno, "rename() %s to %s failed before "
                     "executing new binary process \"%s\"", (char *) ccf->pid.data,
                     (char *) ccf->oldpid.data, bw_argv[0]);
        return;
    }
    bw_pid_renamed = true;
    bw_listening_prepare_exec(cycle);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(bw_argv[0], bw_argv, env);
        bw_log_error(BW_LOG_ALERT, cycle->log, errno, "execve() failed while executing new "
                     "binary process \"%s\"", bw_argv[0]);
        _exit(2);
    }
    if (pid < 0) {
        bw_log_error(BW_LOG_ALERT, cycle->log, errno, "fork() failed while executing new binary");
        bw_master_restore_pid(cycle);
        return;
    }
    bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "start new binary process %d", (int) pid);
    bw_new_binary = pid;
}

/* ---- the master ---- */

static bw_rc_t
bw_master_daemonize(bw_cycle_t *cycle)
{
    pid_t pid = fork();
    if (pid < 0) {
        bw_log_error(BW_LOG_EMERG, cycle->log, errno, "fork() failed");
        return BW_ERROR;
    }
    if (pid > 0) {
        _exit(0);
    }
    if (setsid() < 0) {
        bw_log_error(BW_LOG_EMERG, cycle->log, errno, "setsid() failed");
        return BW_ERROR;
    }
    umask(0);
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) {
        return BW_ERROR;
    }
    dup2(fd, 0);
    dup2(fd, 1);
    if (cycle->log->file && cycle->log->file->fd > 2) {
        dup2(cycle->log->file->fd, 2);
    }
    if (fd > 2) {
        close(fd);
    }
    return BW_OK;
}

static void
bw_master_exit(bw_cycle_t *cycle, int code)
{
    bw_core_conf_t *ccf = bw_core_conf(cycle);
    bw_process_pid_delete(bw_pid_renamed ? &ccf->oldpid : &ccf->pid);
    bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "exit");
    bw_module_exit_master(cycle);
    bw_shm_zones_destroy(cycle);
    bw_cycle_destroy(cycle);
    exit(code);
}

/* Arms SIGALRM after `ms`: the master re-checks its stop escalation then. */
static void
bw_master_alarm(int ms)
{
    struct itimerval it;
    memset(&it, 0, sizeof(it));
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_usec = (ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &it, NULL);
}

int
bw_master_run(bw_cycle_t *cycle)
{
    bw_core_conf_t *ccf = bw_core_conf(cycle);
    sigset_t set, none;
    int term_delay = 0;
    bool stopping = false;

    cycle->log = &cycle->new_log;
    bw_inherited = getenv("BULWARK") != NULL;
    if (ccf->daemon && !bw_inherited && bw_master_daemonize(cycle) != BW_OK) {
        return 1;
    }
    bw_master_pid = getpid();
    if (bw_process_signals_init() != BW_OK) {
        bw_log_error(BW_LOG_EMERG, cycle->log, errno, "sigaction() failed");
        return 1;
    }
    sigemptyset(&set);
    for (size_t i = 0; i < bw_nelems(bw_master_sigs); i++) {
        sigaddset(&set, bw_master_sigs[i]);
    }
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigemptyset(&none);

    if (bw_process_pid_write(cycle, &ccf->pid) != BW_OK) {
        return 1;
    }
    bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "bulwark/%s", BW_VERSION);
    bw_master_start_workers(cycle);

    for (;;) {
        sigsuspend(&none);
        bw_time_update();

        if (bw_signals.reap) {
            bw_signals.reap = 0;
            bw_master_reap(cycle, stopping);
            if (stopping && bw_master_live_workers() == 0) {
                bw_master_exit(cycle, 0);
            }
        }
        if (bw_signals.terminate) {
            if (!stopping || term_delay == 0) {
                bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "signal %d (SIGTERM) received, "
                             "exiting", SIGTERM);
                stopping = true;
                term_delay = 50;
                bw_master_signal_workers(cycle, SIGTERM, true);
                bw_master_alarm(term_delay);
            } else if (bw_signals.alarm) {
                bw_signals.alarm = 0;
                term_delay *= 2;
                bw_master_signal_workers(cycle, term_delay > 1000 ? SIGKILL : SIGTERM, true);
                bw_master_alarm(term_delay);
            }
            if (bw_master_live_workers() == 0) {
                bw_master_exit(cycle, 0);
            }
            continue;
        }
        if (bw_signals.quit) {
            bw_signals.quit = 0;
            bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "signal %d (SIGQUIT) received, "
                         "shutting down", SIGQUIT);
            stopping = true;
            bw_master_signal_workers(cycle, SIGQUIT, true);
            bw_listening_close_all(cycle);
            if (bw_master_live_workers() == 0) {
                bw_master_exit(cycle, 0);
            }
            continue;
        }
        if (stopping) {
            continue;
        }
        if (bw_signals.reconfigure) {
            bw_signals.reconfigure = 0;
            if (bw_noaccepting) {
                /* HUP after WINCH: bring workers back with the current config. */
                bw_noaccepting = false;
                bw_generation++;
                bw_master_start_workers(cycle);
            } else {
                cycle = bw_master_reload(cycle);
                ccf = bw_core_conf(cycle);
            }
        }
        if (bw_signals.reopen) {
            bw_signals.reopen = 0;
            bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "reopening logs");
            bw_cycle_reopen_files(cycle, geteuid() == 0 ? ccf->user : (uid_t) -1);
            bw_master_signal_workers(cycle, SIGUSR1, true);
        }
        if (bw_signals.upgrade) {
            bw_signals.upgrade = 0;
            bw_master_upgrade(cycle);
        }
        if (bw_signals.noaccept && !ccf->daemon && isatty(STDIN_FILENO)) {
            /* A terminal sends WINCH on every resize: a foreground master ignores it. */
            bw_signals.noaccept = 0;
        }
        if (bw_signals.noaccept) {
            bw_signals.noaccept = 0;
            bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "gracefully shutting down workers");
            bw_noaccepting = true;
            bw_master_signal_workers(cycle, SIGQUIT, true);
        }
    }
}

int
bw_single_run(bw_cycle_t *cycle)
{
    cycle->log = &cycle->new_log;
    if (bw_core_conf(cycle)->daemon && bw_master_daemonize(cycle) != BW_OK) {
        return 1;
    }
    if (bw_process_signals_init() != BW_OK) {
        return 1;
    }
    if (bw_process_pid_write(cycle, &bw_core_conf(cycle)->pid) != BW_OK) {
        return 1;
    }
    bw_worker_run(cycle, -1);
}
