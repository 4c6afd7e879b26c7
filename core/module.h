/*
 * module.h -- what a module declares: its directives, its configuration
 * structs and its process hooks.
 *
 * The build generates the ordered table bw_modules[] from
 * modules/modules.cmake; core/module.c numbers the modules at startup.
 * Order in that table is execution order (phases, filter chains).
 */
#ifndef BW_MODULE_H
#define BW_MODULE_H

#include "types.h"

typedef enum {
    BW_MODULE_CORE = 0, /* main-context directives, conf in cycle->conf[index] */
    BW_MODULE_EVENT,    /* events{} directives, conf in cycle->conf[index] */
    BW_MODULE_HTTP,     /* http{} directives, ctx is a bw_http_module_t */
} bw_module_type_t;

struct bw_module_s {
    const char           *name;       /* "limit_req": logs, -V, tests' has() */
    bw_module_type_t      type;
    const bw_directive_t *directives; /* ends with an all-zero row; may be NULL */

    /* Core and event modules: the struct kept in cycle->conf[index]. */
    void       *(*create_conf)(bw_cycle_t *cycle);
    /* Fills defaults after parsing; returns NULL or an error message. */
    const char *(*init_conf)(bw_cycle_t *cycle, void *conf);

    const void *ctx; /* type-specific hooks (bw_http_module_t for HTTP) */

    bw_rc_t (*init_cycle)(bw_cycle_t *cycle);  /* master, after parsing, before fork */
    bw_rc_t (*init_worker)(bw_cycle_t *cycle); /* each worker, after fork and setuid */
    void    (*exit_worker)(bw_cycle_t *cycle);
    void    (*exit_master)(bw_cycle_t *cycle);

    bw_uint_t index;     /* position in bw_modules[], set by bw_module_init() */
    bw_uint_t ctx_index; /* position among modules of the same type */
};

/* The generated table (modules.c): enabled modules in order, NULL-terminated. */
extern bw_module_t *bw_modules[];
extern const size_t bw_modules_n;
/* nginx-style `configure arguments:` for -V, from the enabled and disabled
 * modules ("--with-http_ssl_module ... --without-http_gzip_module"). */
extern const char bw_modules_configure_args[];

/* Numbers the modules; call once at startup. */
void bw_module_init(void);
/* The module named `name`, or NULL. */
bw_module_t *bw_module_find(const char *name);
/* Runs a hook over every module in order; stops at the first failure. */
bw_rc_t bw_module_init_cycle(bw_cycle_t *cycle);
bw_rc_t bw_module_init_worker(bw_cycle_t *cycle);
void bw_module_exit_worker(bw_cycle_t *cycle);
void bw_module_exit_master(bw_cycle_t *cycle);

#endif
