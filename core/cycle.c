/*
 * cycle.c -- building, committing and retiring a configuration cycle.
 *
 * bw_cycle_create() runs the stages in order; each stage either succeeds or
 * makes the whole creation fail with the old cycle untouched.
 */
#include "cycle.h"

#include "conf.h"
#include "listen.h"
#include "module.h"
#include "pool.h"
#include "shm.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

bw_cycle_t *bw_cycle;
bw_array_t *bw_cycle_dumped;

static bw_rc_t bw_cycle_init_paths(bw_cycle_t *cycle, const bw_cycle_params_t *params);
static bw_rc_t bw_cycle_create_confs(bw_cycle_t *cycle);
static bw_rc_t bw_cycle_parse(bw_cycle_t *cycle, const bw_cycle_params_t *params);
static bw_rc_t bw_cycle_init_confs(bw_cycle_t *cycle);
static bw_rc_t bw_cycle_open_files(bw_cycle_t *cycle);
static bw_rc_t bw_cycle_create_paths(bw_cycle_t *cycle);

/* An emerg message: "bulwark: [emerg] ..." on stderr at start, the error log on reload. */
static void __attribute__((format(printf, 3, 4)))
bw_cycle_error(bw_cycle_t *cycle, int err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bw_log_stderr(BW_LOG_EMERG, err, "%s", msg);
    if (cycle->log != &bw_log_stderr_log) {
        bw_log_error(BW_LOG_EMERG, cycle->log, err, "%s", msg);
    }
}

bw_cycle_t *
bw_cycle_create(const bw_cycle_params_t *params, bw_cycle_t *old)
{
    bw_pool_t *pool = bw_pool_create(BW_POOL_DEFAULT_SIZE, old ? old->log : NULL);
    if (pool == NULL) {
        bw_log_stderr(BW_LOG_EMERG, 0, "no memory for a new cycle");
        return NULL;
    }
    bw_cycle_t *cycle = bw_pcalloc(pool, sizeof(bw_cycle_t));
    if (cycle == NULL) {
        bw_pool_destroy(pool);
        return NULL;
    }
    cycle->pool = pool;
    cycle->old_cycle = old;
    cycle->test = params->test;
    cycle->log = old ? old->log : &bw_log_stderr_log;

    if (bw_array_init(&cycle->listening, pool, 8, sizeof(bw_listening_t)) != BW_OK
        || bw_array_init(&cycle->shared_memory, pool, 8, sizeof(bw_shm_zone_t *)) != BW_OK
        || bw_array_init(&cycle->open_files, pool, 8, sizeof(bw_open_file_t *)) != BW_OK
        || bw_array_init(&cycle->paths, pool, 4, sizeof(bw_str_t)) != BW_OK
        || bw_cycle_init_paths(cycle, params) != BW_OK
        || bw_cycle_create_confs(cycle) != BW_OK
        || bw_cycle_parse(cycle, params) != BW_OK
        || bw_cycle_init_confs(cycle) != BW_OK
        || bw_cycle_open_files(cycle) != BW_OK) {
        goto failed;
    }
    if (params->test) {
        /* -t reports what starting would: a zone referenced but never sized, too. */
        if (bw_shm_zones_check(cycle) != BW_OK) {
            goto failed;
        }
        return cycle;
    }
    if (bw_cycle_create_paths(cycle) != BW_OK || bw_shm_zones_create(cycle, old) != BW_OK) {
        goto failed;
    }
    if (bw_listening_open(cycle) != BW_OK) {
        bw_shm_zones_release_unused(cycle, old);
        goto failed;
    }
    if (bw_module_init_cycle(cycle) != BW_OK) {
        /* Undo what this cycle opened; the old cycle keeps its own sockets and zones. */
        bw_listening_close_new(cycle);
        bw_shm_zones_release_unused(cycle, old);
        goto failed;
    }
    cycle->old_cycle = NULL;
    return cycle;

failed:
    cycle->old_cycle = NULL;
    bw_cycle_destroy(cycle);
    return NULL;
}

/* Copies a string into the cycle pool, appending '/' when `dir` and missing. */
static bw_rc_t
bw_cycle_copy(bw_cycle_t *cycle, bw_str_t *dst, const bw_str_t *src, bool dir)
{
    bool add = dir && (src->len == 0 || src->data[src->len - 1] != '/');
    u_char *p = bw_pnalloc(cycle->pool, src->len + 2);
    if (p == NULL) {
        return BW_ERROR;
    }
    if (src->len) {
        memcpy(p, src->data, src->len);
    }
    dst->len = src->len;
    if (add) {
        p[dst->len++] = '/';
    }
    p[dst->len] = '\0';
    dst->data = p;
    return BW_OK;
}

static bw_rc_t
bw_cycle_init_paths(bw_cycle_t *cycle, const bw_cycle_params_t *params)
{
    char host[256];

    if (bw_cycle_copy(cycle, &cycle->prefix, &params->prefix, true) != BW_OK
        || bw_cycle_copy(cycle, &cycle->conf_param, &params->conf_param, false) != BW_OK
        || bw_cycle_copy(cycle, &cycle->error_log, &params->error_log, false) != BW_OK
        || bw_cycle_copy(cycle, &cycle->conf_file, &params->conf_file, false) != BW_OK
        || bw_conf_full_name(cycle, &cycle->conf_file, false) != BW_OK) {
        return BW_ERROR;
    }
    /* The conf prefix is the directory of the main file. */
    cycle->conf_prefix = cycle->conf_file;
    while (cycle->conf_prefix.len && cycle->conf_prefix.data[cycle->conf_prefix.len - 1] != '/') {
        cycle->conf_prefix.len--;
    }
    if (gethostname(host, sizeof(host)) != 0) {
        strcpy(host, "localhost");
    }
    host[sizeof(host) - 1] = '\0';
    bw_str_t h = {strlen(host), (u_char *) host};
    return bw_cycle_copy(cycle, &cycle->hostname, &h, false);
}

static bw_rc_t
bw_cycle_create_confs(bw_cycle_t *cycle)
{
    cycle->conf = bw_pcalloc(cycle->pool, (bw_modules_n + 1) * sizeof(void *));
    if (cycle->conf == NULL) {
        return BW_ERROR;
    }
    cycle->new_log.level = BW_LOG_ERR;
    for (size_t i = 0; bw_modules[i]; i++) {
        bw_module_t *m = bw_modules[i];
        if (m->create_conf == NULL || m->type == BW_MODULE_HTTP) {
            continue;
        }
        cycle->conf[m->index] = m->create_conf(cycle);
        if (cycle->conf[m->index] == NULL) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

static bw_rc_t
bw_cycle_parse(bw_cycle_t *cycle, const bw_cycle_params_t *params)
{
    bw_conf_t cf;
    bw_conf_ctx_t ctx = {cycle->conf, NULL, NULL};
    bw_rc_t rc = BW_OK;

    memset(&cf, 0, sizeof(cf));
    cf.temp_pool = bw_pool_create(BW_POOL_DEFAULT_SIZE, NULL);
    cf.args = bw_array_create(cycle->pool, BW_CONF_MAX_ARGS, sizeof(bw_str_t));
    if (cf.temp_pool == NULL || cf.args == NULL) {
        bw_pool_destroy(cf.temp_pool);
        return BW_ERROR;
    }
    cf.cycle = cycle;
    cf.pool = cycle->pool;
    cf.log = cycle->log; /* on reload, the running error log: the operator reads it there */
    cf.ctx = &ctx;
    cf.ctx_type = BW_CTX_MAIN;
    cf.dump = params->dump;
    if (cf.dump) {
        cf.dumped = bw_array_create(cycle->pool, 8, sizeof(bw_conf_file_t));
        bw_cycle_dumped = cf.dumped;
    }

    if (cycle->conf_param.len && bw_conf_parse_string(&cf, &cycle->conf_param) != BW_OK) {
        rc = BW_ERROR;
    }
    if (bw_conf_parse(&cf, &cycle->conf_file) != BW_OK) {
        rc = BW_ERROR;
    }
    bw_pool_destroy(cf.temp_pool);
    return rc;
}

static bw_rc_t
bw_cycle_init_confs(bw_cycle_t *cycle)
{
    for (size_t i = 0; bw_modules[i]; i++) {
        bw_module_t *m = bw_modules[i];
        if (m->init_conf == NULL || m->type == BW_MODULE_HTTP) {
            continue;
        }
        const char *msg = m->init_conf(cycle, cycle->conf[m->index]);
        if (msg != NULL) {
            bw_cycle_error(cycle, 0, "%s", msg);
            return BW_ERROR;
        }
    }
    /* No error_log in the main context: the default file (or -e). */
    if (cycle->new_log.file == NULL) {
        bw_str_t def = bw_string("logs/error.log");
        const bw_str_t *name = cycle->error_log.len ? &cycle->error_log : &def;
        if (bw_str_eq_lit(name, "stderr")) {
            cycle->new_log.file = &bw_log_stderr_file;
        } else {
            cycle->new_log.file = bw_cycle_open_file(cycle, name);
            if (cycle->new_log.file == NULL) {
                return BW_ERROR;
            }
        }
    }
    return BW_OK;
}

bw_open_file_t *
bw_cycle_open_file(bw_cycle_t *cycle, const bw_str_t *name)
{
    bw_str_t full = *name;
    if (bw_conf_full_name(cycle, &full, false) != BW_OK) {
        return NULL;
    }
    bw_open_file_t **files = cycle->open_files.elts;
    for (size_t i = 0; i < cycle->open_files.nelts; i++) {
        if (bw_str_eq(&files[i]->name, &full)) {
            return files[i];
        }
    }
    bw_open_file_t *f = bw_pcalloc(cycle->pool, sizeof(bw_open_file_t));
    bw_open_file_t **slot = bw_array_push(&cycle->open_files);
    if (f == NULL || slot == NULL) {
        return NULL;
    }
    f->fd = -1;
    f->name = full;
    *slot = f;
    return f;
}

static int
bw_cycle_open_one(bw_open_file_t *f)
{
    return open((char *) f->name.data, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static bw_rc_t
bw_cycle_open_files(bw_cycle_t *cycle)
{
    bw_open_file_t **files = cycle->open_files.elts;
    for (size_t i = 0; i < cycle->open_files.nelts; i++) {
        files[i]->fd = bw_cycle_open_one(files[i]);
        if (files[i]->fd < 0) {
            bw_cycle_error(cycle, errno, "open() \"%s\" failed", (char *) files[i]->name.data);
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/*
 * Temp directories (client_body_temp, proxy_temp ...) are made by the
 * master, which may be root, and handed to the worker user, who writes
 * into them after setuid.
 */
static bw_rc_t
bw_cycle_create_paths(bw_cycle_t *cycle)
{
    bw_core_conf_t *ccf = bw_core_conf(cycle);
    bw_str_t *paths = cycle->paths.elts;

    for (size_t i = 0; i < cycle->paths.nelts; i++) {
        const char *path = (char *) paths[i].data;
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            bw_cycle_error(cycle, errno, "mkdir() \"%s\" failed", path);
            return BW_ERROR;
        }
        if (geteuid() == 0 && ccf->user != (uid_t) -1
            && chown(path, ccf->user, (gid_t) -1) != 0) {
            bw_cycle_error(cycle, errno, "chown(\"%s\", %d) failed", path, (int) ccf->user);
            return BW_ERROR;
        }
    }
    return BW_OK;
}

void
bw_cycle_reopen_files(bw_cycle_t *cycle, uid_t user)
{
    bw_open_file_t **files = cycle->open_files.elts;
    for (size_t i = 0; i < cycle->open_files.nelts; i++) {
        bw_open_file_t *f = files[i];
        if (f->flush) {
            f->flush(f);
        }
        int fd = bw_cycle_open_one(f);
        if (fd < 0) {
            bw_log_error(BW_LOG_EMERG, cycle->log, errno, "open() \"%s\" failed",
                         (char *) f->name.data);
            continue;
        }
        if (user != (uid_t) -1 && fchown(fd, user, (gid_t) -1) != 0) {
            bw_log_error(BW_LOG_EMERG, cycle->log, errno, "chown(\"%s\", %d) failed",
                         (char *) f->name.data, (int) user);
        }
        /* dup2 keeps the descriptor number, so every holder sees the new file. */
        if (dup2(fd, f->fd) < 0) {
            bw_log_error(BW_LOG_EMERG, cycle->log, errno, "dup2() for \"%s\" failed",
                         (char *) f->name.data);
        }
        close(fd);
    }
}

void
bw_cycle_retire(bw_cycle_t *old, bw_cycle_t *cycle)
{
    bw_listening_close_unused(old, cycle);
    bw_shm_zones_release_unused(old, cycle);
    bw_cycle_destroy(old);
}

void
bw_cycle_destroy(bw_cycle_t *cycle)
{
    if (cycle == NULL) {
        return;
    }
    bw_open_file_t **files = cycle->open_files.elts;
    for (size_t i = 0; files && i < cycle->open_files.nelts; i++) {
        if (files[i]->fd > 2) {
            close(files[i]->fd);
        }
    }
    if (bw_cycle_dumped && bw_cycle_dumped->pool == cycle->pool) {
        bw_cycle_dumped = NULL;
    }
    bw_pool_destroy(cycle->pool);
}
