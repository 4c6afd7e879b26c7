/*
 * process.h -- the master process (signals, workers, reload, binary upgrade)
 * and the worker process body.
 */
#ifndef BW_PROCESS_H
#define BW_PROCESS_H

#include "cycle.h"

#include <signal.h>

#define BW_MAX_PROCESSES 1024

/* Process-wide flags set by signal handlers; read by the loops. */
typedef struct {
    volatile sig_atomic_t quit;      /* QUIT: graceful stop */
    volatile sig_atomic_t terminate; /* TERM/INT: fast stop */
    volatile sig_atomic_t reconfigure;
    volatile sig_atomic_t reopen;
    volatile sig_atomic_t upgrade;   /* USR2 */
    volatile sig_atomic_t noaccept;  /* WINCH */
    volatile sig_atomic_t reap;      /* SIGCHLD */
    volatile sig_atomic_t alarm;
} bw_signals_t;

extern bw_signals_t bw_signals;
extern bool         bw_process_is_worker;
extern int          bw_worker_slot;
extern pid_t        bw_master_pid;   /* set by the master before it forks workers */  /* worker number (CPU, reuseport clone); -1 single */
extern char       **bw_argv;        /* the command line, for USR2 re-exec */
extern bw_cycle_params_t bw_process_params;

/* Installs the handlers for every signal the master and workers use. */
bw_rc_t bw_process_signals_init(void);
/* Maps "stop" / "quit" / "reopen" / "reload" to a signal number, or -1. */
int bw_process_signal_number(const char *name);
/* -s: sends `name` to the master whose pid file the cycle names; 0 or 1. */
int bw_process_signal_send(bw_cycle_t *cycle, const char *name);

/* Runs the master until it exits; returns the exit status. */
int bw_master_run(bw_cycle_t *cycle);
/* master_process off: runs one worker body in this process. */
int bw_single_run(bw_cycle_t *cycle);
/* The worker body: never returns. `slot` picks CPU affinity. */
void bw_worker_run(bw_cycle_t *cycle, int slot) __attribute__((noreturn));

/* Pid file helpers: write the current pid, or remove the file. */
bw_rc_t bw_process_pid_write(bw_cycle_t *cycle, const bw_str_t *path);
void bw_process_pid_delete(const bw_str_t *path);

#endif
