/*
 * cycle.h -- one loaded configuration and everything opened for it:
 * module confs, pools, log files, listening sockets and shared zones.
 *
 * Reload builds a new cycle beside the old one (bw_cycle_create), taking
 * over listening sockets and zones whose identity did not change; on any
 * failure the new cycle is destroyed and the old one keeps running.
 */
#ifndef BW_CYCLE_H
#define BW_CYCLE_H

#include "array.h"
#include "log.h"
#include "str.h"

/* Main-context settings owned by the core module (core/core_module.c). */
typedef struct {
    bw_int_t    daemon;          /* flag */
    bw_int_t    master;          /* master_process flag */
    bw_int_t    worker_processes;
    bw_array_t *cpu_affinity;    /* uint64_t masks; NULL: none */
    bool        cpu_affinity_auto;
    uint64_t    cpu_affinity_auto_mask;
    bw_int_t    rlimit_nofile;
    bw_int_t    rlimit_core;
    bw_int_t    priority;
    bw_msec_t   shutdown_timeout;
    bw_msec_t   timer_resolution;
    bw_str_t    pid;             /* absolute path, NUL-terminated */
    bw_str_t    oldpid;          /* pid + ".oldbin" */
    bw_str_t    working_directory;
    bw_str_t    username;        /* `user` (empty: unchanged) */
    uid_t       user;
    gid_t       group;
    bw_array_t  env;             /* bw_str_t: "NAME" or "NAME=value" */
    bw_int_t    pcre_jit;
} bw_core_conf_t;

struct bw_cycle_s {
    void          **conf;          /* per-module conf, by module index */
    bw_pool_t      *pool;
    bw_log_t       *log;           /* error_log of the main context */
    bw_log_t        new_log;       /* storage for log (first target) */
    bw_cycle_t     *old_cycle;     /* the running cycle during a reload, else NULL */

    bw_str_t        prefix;        /* -p, ends with '/' */
    bw_str_t        conf_prefix;   /* directory of the main conf file, ends with '/' */
    bw_str_t        conf_file;     /* absolute */
    bw_str_t        conf_param;    /* -g text */
    bw_str_t        error_log;     /* -e, or the built-in default */
    bw_str_t        hostname;

    bw_array_t      listening;     /* bw_listening_t */
    bw_array_t      shared_memory; /* bw_shm_zone_t * */
    bw_array_t      open_files;    /* bw_open_file_t *: reopened on USR1 */
    bw_array_t      paths;         /* bw_str_t: temp dirs to create at start */

    bw_connection_t *connections;  /* per worker: preallocated array */
    bw_uint_t        connection_n;
    bw_connection_t *free_connections;
    bw_uint_t        free_connection_n;

    bool            test;          /* -t / -T: parse only */
};

extern bw_cycle_t *bw_cycle;        /* the running cycle (per process) */
extern bw_module_t bw_core_module;  /* core/core_module.c */

/* The core module's conf of a cycle. */
#define bw_core_conf(cycle) ((bw_core_conf_t *) (cycle)->conf[bw_core_module.index])

/* The conf a core or event module keeps in the cycle. */
#define bw_cycle_module_conf(cycle, m) ((cycle)->conf[(m).index])

/* What the command line gives a cycle. */
typedef struct {
    bw_str_t prefix;     /* -p (ends with '/') */
    bw_str_t conf_file;  /* -c, absolute or relative to prefix */
    bw_str_t conf_param; /* -g */
    bw_str_t error_log;  /* -e */
    bool     test;       /* -t / -T: parse and check only */
    bool     dump;       /* -T: keep the text of every file read */
} bw_cycle_params_t;

/*
 * Builds a cycle in named stages: pool, module confs, parse (-g text, then
 * the file), module init_conf, open files; unless testing, shared zones,
 * listening sockets and module init_cycle hooks. `old` is the running cycle
 * on reload (its sockets and zones are taken over), NULL at start. Reports
 * every problem through the log/stderr; returns NULL on failure, leaving
 * `old` untouched.
 */
bw_cycle_t *bw_cycle_create(const bw_cycle_params_t *params, bw_cycle_t *old);
/* After a successful reload: releases what the new cycle did not take over
 * (sockets, zones) and destroys the old cycle. */
void bw_cycle_retire(bw_cycle_t *old, bw_cycle_t *cycle);
/* Closes everything and frees the pool. */
void bw_cycle_destroy(bw_cycle_t *cycle);
/* USR1: reopens every registered log file (in the master as the owner, so
 * workers can write after setuid). */
void bw_cycle_reopen_files(bw_cycle_t *cycle, uid_t user);
/* The files read while parsing (-T): bw_conf_file_t, in order. */
extern bw_array_t *bw_cycle_dumped;

/* Opens (or reuses from old_cycle) a file for appending; NULL on no memory.
 * The file is opened by bw_cycle_open_files() once parsing succeeded. */
bw_open_file_t *bw_cycle_open_file(bw_cycle_t *cycle, const bw_str_t *name);

#endif
