/*
 * worker.c -- a worker process: drop privileges, pin to its CPU, run the
 * event loop, and stop gracefully (QUIT) or at once (TERM).
 */
#include "process.h"

#include "conf.h"
#include "event.h"
#include "module.h"
#include "pool.h"
#include "clock.h"

#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

int bw_worker_slot = -1;

static bw_event_t bw_worker_shutdown_ev;

/*
 * As nginx, workers see only TZ and what `env` names: "NAME" keeps the
 * master's value, "NAME=value" sets one.
 */
static void
bw_worker_set_env(bw_cycle_t *cycle)
{
    bw_core_conf_t *ccf = bw_core_conf(cycle);
    extern char **environ;
    size_t n = ccf->env.nelts + 2, k = 0;
    char **env = bw_palloc(cycle->pool, n * sizeof(char *));
    if (env == NULL) {
        return;
    }
    const char *tz = getenv("TZ");
    if (tz) {
        env[k++] = (char *) tz - 3; /* points at "TZ=" inside the old environ */
    }
    bw_str_t *vars = ccf->env.elts;
    for (size_t i = 0; i < ccf->env.nelts; i++) {
        char *var = bw_pstrz(cycle->pool, &vars[i]);
        if (var == NULL) {
            continue;
        }
        if (strchr(var, '=')) {
            env[k++] = var;
            continue;
        }
        const char *v = getenv(var);
        bw_str_t *kv = v ? bw_psprintf(cycle->pool, "%s=%s", var, v) : NULL;
        if (kv) {
            env[k++] = (char *) kv->data;
        }
    }
    env[k] = NULL;
    environ = env;
}

/* CPU mask for a worker: `auto` takes the slot-th allowed CPU; masks repeat the last. */
static bool
bw_worker_cpu_mask(bw_core_conf_t *ccf, int slot, cpu_set_t *set)
{
    CPU_ZERO(set);
    if (ccf->cpu_affinity_auto) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        int allowed[64], n = 0;
        for (int i = 0; i < 64 && i < ncpu; i++) {
            if (ccf->cpu_affinity_auto_mask & ((uint64_t) 1 << i)) {
                allowed[n++] = i;
            }
        }
        if (n == 0) {
            return false;
        }
        CPU_SET(allowed[slot % n], set);
        return true;
    }
    if (ccf->cpu_affinity == NULL || ccf->cpu_affinity->nelts == 0) {
        return false;
    }
    size_t i = (size_t) slot < ccf->cpu_affinity->nelts ? (size_t) slot
                                                        : ccf->cpu_affinity->nelts - 1;
    uint64_t mask = bw_array_at(ccf->cpu_affinity, uint64_t, i);
    for (int c = 0; c < 64; c++) {
        if (mask & ((uint64_t) 1 << c)) {
            CPU_SET(c, set);
        }
    }
    return true;
}

static void
bw_worker_init_process(bw_cycle_t *cycle, int slot)
{
    bw_core_conf_t *ccf = bw_core_conf(cycle);
    struct rlimit rl;
    cpu_set_t set;

    bw_worker_set_env(cycle);
    if (ccf->priority && setpriority(PRIO_PROCESS, 0, (int) ccf->priority) != 0) {
        bw_log_error(BW_LOG_ALERT, cycle->log, errno, "setpriority(%d) failed",
                     (int) ccf->priority);
    }
    if (ccf->rlimit_nofile != BW_CONF_UNSET) {
        rl.rlim_cur = rl.rlim_max = (rlim_t) ccf->rlimit_nofile;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            bw_log_error(BW_LOG_ALERT, cycle->log, errno,
                         "setrlimit(RLIMIT_NOFILE, %d) failed", (int) ccf->rlimit_nofile);
        }
    }
    if (ccf->rlimit_core != BW_CONF_UNSET) {
        rl.rlim_cur = rl.rlim_max = (rlim_t) ccf->rlimit_core;
        if (setrlimit(RLIMIT_CORE, &rl) != 0) {
            bw_log_error(BW_LOG_ALERT, cycle->log, errno, "setrlimit(RLIMIT_CORE, %d) failed",
                         (int) ccf->rlimit_core);
        }
    }
    if (geteuid() == 0 && ccf->user != (uid_t) -1 && ccf->user != 0) {
        char *name = bw_pstrz(cycle->pool, &ccf->username);
        if (setgid(ccf->group) != 0 || (name && initgroups(name, ccf->group) != 0)
            || setuid(ccf->user) != 0) {
            bw_log_error(BW_LOG_EMERG, cycle->log, errno, "setuid/setgid(%d, %d) failed",
                         (int) ccf->user, (int) ccf->group);
            exit(2);
        }
    }
    if (slot >= 0 && bw_worker_cpu_mask(ccf, slot, &set)) {
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            bw_log_error(BW_LOG_ALERT, cycle->log, errno, "sched_setaffinity() failed");
        } else {
            for (int c = 0; c < CPU_SETSIZE; c++) {
                if (CPU_ISSET(c, &set)) {
                    bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "sched_setaffinity(): using "
                                 "cpu #%d", c);
                }
            }
        }
    }
    if (ccf->working_directory.len
        && chdir((char *) ccf->working_directory.data) != 0) {
        bw_log_error(BW_LOG_ALERT, cycle->log, errno, "chdir(\"%s\") failed",
                     (char *) ccf->working_directory.data);
        exit(2);
    }
}

static void
bw_worker_exit(bw_cycle_t *cycle, int code)
{
    bw_module_exit_worker(cycle);
    bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "exit");
    exit(code);
}

static void
bw_worker_shutdown_timeout(bw_event_t *ev)
{
    bw_log_error(BW_LOG_NOTICE, bw_cycle->log, 0, "worker_shutdown_timeout expired: closing "
                 "%u connections", (unsigned) bw_connections_active(bw_cycle));
    bw_signals.terminate = 1;
}

static void
bw_worker_start_shutdown(bw_cycle_t *cycle)
{
    bw_core_conf_t *ccf = bw_core_conf(cycle);
    bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "gracefully shutting down");
    bw_listening_worker_stop(cycle);
    bw_connections_close_idle(cycle);
    if (ccf->shutdown_timeout > 0) {
        bw_worker_shutdown_ev.handler = bw_worker_shutdown_timeout;
        bw_worker_shutdown_ev.log = cycle->log;
        bw_event_add_timer(&bw_worker_shutdown_ev, ccf->shutdown_timeout);
    }
}

void
bw_worker_run(bw_cycle_t *cycle, int slot)
{
    bool exiting = false;

    bw_process_is_worker = true;
    bw_worker_slot = slot;
    /* Control signals stay blocked except while the loop sleeps (epoll_pwait
     * with an empty mask), so none can slip in between a check of the flags
     * and the next sleep. */
    static sigset_t none;
    sigset_t blocked;
    sigemptyset(&none);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGQUIT);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGUSR1);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGWINCH);
    sigaddset(&blocked, SIGUSR2);
    sigprocmask(SIG_SETMASK, &blocked, NULL);
    bw_event_wait_sigmask = &none;

    bw_worker_init_process(cycle, slot);
    /* A worker whose master was killed finishes its requests and exits
     * instead of serving on unsupervised. Set after the switch to the
     * worker user: a change of credentials clears it. */
    if (slot >= 0) { /* under a master (slot -1: master_process off) */
        prctl(PR_SET_PDEATHSIG, SIGQUIT);
        if (getppid() != bw_master_pid) {
            exit(0); /* the master died before we got here */
        }
    }
    if (bw_module_init_worker(cycle) != BW_OK) {
        /* Exit code 2: the master must not respawn a worker that cannot start. */
        exit(2);
    }
    for (;;) {
        if (exiting && bw_connections_active(cycle) == 0) {
            bw_worker_exit(cycle, 0);
        }
        bw_event_process(cycle);
        if (bw_signals.terminate) {
            bw_worker_exit(cycle, 0);
        }
        if (bw_signals.quit && !exiting) {
            exiting = true;
            bw_worker_start_shutdown(cycle);
        }
        if (bw_signals.reopen) {
            bw_signals.reopen = 0;
            bw_log_error(BW_LOG_NOTICE, cycle->log, 0, "reopening logs");
            bw_cycle_reopen_files(cycle, (uid_t) -1);
        }
    }
}
