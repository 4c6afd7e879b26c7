/*
 * core_module.c -- main-context directives: processes, users, limits, pid,
 * env, error_log, load_module and the other top-level settings.
 */
#include "conf.h"
#include "cycle.h"
#include "log_conf.h"
#include "module.h"
#include "pool.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *bw_core_conf_create(bw_cycle_t *cycle);
static const char *bw_core_conf_init(bw_cycle_t *cycle, void *conf);
static const char *bw_core_set_worker_processes(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_core_set_cpu_affinity(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_core_set_user(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_core_set_env(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_core_set_error_log(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_core_set_load_module(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_core_set_rlimit(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_core_set_priority(bw_conf_t *cf, const bw_directive_t *d, void *conf);

#define BW_CORE_OFF(field) offsetof(bw_core_conf_t, field)
#define BW_MAIN (BW_CTX_MAIN)

static const bw_directive_t bw_core_directives[] = {
    {"daemon", BW_MAIN, BW_ARGS_FLAG, BW_CONF_MAIN, bw_conf_set_flag, BW_CORE_OFF(daemon), NULL},
    {"master_process", BW_MAIN, BW_ARGS_FLAG, BW_CONF_MAIN, bw_conf_set_flag,
     BW_CORE_OFF(master), NULL},
    {"worker_processes", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_core_set_worker_processes, 0,
     NULL},
    {"worker_cpu_affinity", BW_MAIN, BW_ARGS_1MORE, BW_CONF_MAIN, bw_core_set_cpu_affinity, 0,
     NULL},
    {"worker_rlimit_nofile", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_core_set_rlimit,
     BW_CORE_OFF(rlimit_nofile), NULL},
    {"worker_rlimit_core", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_core_set_rlimit,
     BW_CORE_OFF(rlimit_core), NULL},
    {"worker_priority", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_core_set_priority, 0, NULL},
    {"worker_shutdown_timeout", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_msec,
     BW_CORE_OFF(shutdown_timeout), NULL},
    {"timer_resolution", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_msec,
     BW_CORE_OFF(timer_resolution), NULL},
    {"pid", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_str, BW_CORE_OFF(pid), NULL},
    {"lock_file", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_noop, 0, NULL},
    {"working_directory", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_str,
     BW_CORE_OFF(working_directory), NULL},
    {"user", BW_MAIN, BW_ARGS_TAKE12, BW_CONF_MAIN, bw_core_set_user, 0, NULL},
    {"env", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_core_set_env, 0, NULL},
    {"pcre_jit", BW_MAIN, BW_ARGS_FLAG, BW_CONF_MAIN, bw_conf_set_flag, BW_CORE_OFF(pcre_jit),
     NULL},
    {"error_log", BW_MAIN, BW_ARGS_TAKE12, BW_CONF_MAIN, bw_core_set_error_log, 0, NULL},
    {"load_module", BW_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_core_set_load_module, 0, NULL},
    {"thread_pool", BW_MAIN, BW_ARGS_1MORE, BW_CONF_MAIN, bw_conf_set_noop, 0, NULL},
    BW_DIRECTIVES_END,
};

bw_module_t bw_core_module = {
    .name = "core",
    .type = BW_MODULE_CORE,
    .directives = bw_core_directives,
    .create_conf = bw_core_conf_create,
    .init_conf = bw_core_conf_init,
};

static void *
bw_core_conf_create(bw_cycle_t *cycle)
{
    bw_core_conf_t *ccf = bw_pcalloc(cycle->pool, sizeof(bw_core_conf_t));
    if (ccf == NULL) {
        return NULL;
    }
    ccf->daemon = BW_CONF_UNSET;
    ccf->master = BW_CONF_UNSET;
    ccf->worker_processes = BW_CONF_UNSET;
    ccf->rlimit_nofile = BW_CONF_UNSET;
    ccf->rlimit_core = BW_CONF_UNSET;
    ccf->priority = 0;
    ccf->shutdown_timeout = BW_CONF_UNSET_MSEC;
    ccf->timer_resolution = BW_CONF_UNSET_MSEC;
    ccf->pcre_jit = BW_CONF_UNSET;
    ccf->user = (uid_t) -1;
    ccf->group = (gid_t) -1;
    if (bw_array_init(&ccf->env, cycle->pool, 4, sizeof(bw_str_t)) != BW_OK) {
        return NULL;
    }
    return ccf;
}

static const char *
bw_core_conf_init(bw_cycle_t *cycle, void *conf)
{
    bw_core_conf_t *ccf = conf;

    bw_conf_merge_value(ccf->daemon, BW_CONF_UNSET, 1);
    bw_conf_merge_value(ccf->master, BW_CONF_UNSET, 1);
    bw_conf_merge_value(ccf->worker_processes, BW_CONF_UNSET, 1);
    bw_conf_merge_value(ccf->pcre_jit, BW_CONF_UNSET, 0);
    bw_conf_merge_msec(ccf->shutdown_timeout, BW_CONF_UNSET_MSEC, 0);
    bw_conf_merge_msec(ccf->timer_resolution, BW_CONF_UNSET_MSEC, 0);

    if (ccf->pid.data == NULL) {
        bw_str_set(&ccf->pid, "logs/bulwark.pid");
    }
    if (bw_conf_full_name(cycle, &ccf->pid, false) != BW_OK) {
        return "no memory";
    }
    bw_str_t *old = bw_psprintf(cycle->pool, "%.*s.oldbin", BW_STR_ARG(ccf->pid));
    if (old == NULL) {
        return "no memory";
    }
    ccf->oldpid = *old;

    if (ccf->working_directory.data
        && bw_conf_full_name(cycle, &ccf->working_directory, false) != BW_OK) {
        return "no memory";
    }
    /* As nginx: `user` defaults to nobody, and matters only for a root master. */
    if (ccf->user == (uid_t) -1 && geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        struct group *gr = getgrnam("nogroup");
        if (gr == NULL) {
            gr = getgrnam("nobody");
        }
        if (pw == NULL || gr == NULL) {
            return "getpwnam(\"nobody\") failed";
        }
        bw_str_set(&ccf->username, "nobody");
        ccf->user = pw->pw_uid;
        ccf->group = gr->gr_gid;
    }
    return NULL;
}

static const char *
bw_core_set_worker_processes(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_core_conf_t *ccf = conf;
    bw_str_t *v = &bw_array_at(cf->args, bw_str_t, 1);

    if (ccf->worker_processes != BW_CONF_UNSET) {
        return "is duplicate";
    }
    if (bw_str_eq_lit(v, "auto")) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        ccf->worker_processes = n > 0 ? n : 1;
        return BW_CONF_OK;
    }
    int64_t n = bw_atoi(v->data, v->len);
    if (n <= 0 || n > 1024) {
        return "invalid value";
    }
    ccf->worker_processes = (bw_int_t) n;
    return BW_CONF_OK;
}

/* "0101" (highest CPU first, as nginx) → a mask; false if not binary or too wide. */
static bool
bw_core_parse_cpu_mask(const bw_str_t *s, uint64_t *mask)
{
    if (s->len == 0 || s->len > 64) {
        return false;
    }
    *mask = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (s->data[i] != '0' && s->data[i] != '1') {
            return false;
        }
        *mask = (*mask << 1) | (uint64_t) (s->data[i] - '0');
    }
    return true;
}

static const char *
bw_core_set_cpu_affinity(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_core_conf_t *ccf = conf;
    bw_str_t *args = cf->args->elts;
    size_t i = 1;
    uint64_t mask;

    if (ccf->cpu_affinity || ccf->cpu_affinity_auto) {
        return "is duplicate";
    }
    if (bw_str_eq_lit(&args[1], "auto")) {
        if (cf->args->nelts > 3) {
            return "invalid number of arguments"; /* auto [mask] */
        }
        ccf->cpu_affinity_auto = true;
        ccf->cpu_affinity_auto_mask = UINT64_MAX;
        if (cf->args->nelts == 3) {
            if (!bw_core_parse_cpu_mask(&args[2], &mask)) {
                bw_conf_error(cf, "invalid character \"%.*s\" in \"worker_cpu_affinity\"",
                              BW_STR_ARG(args[2]));
                return BW_CONF_ERROR;
            }
            ccf->cpu_affinity_auto_mask = mask;
        }
        return BW_CONF_OK;
    }
    ccf->cpu_affinity = bw_array_create(cf->pool, cf->args->nelts, sizeof(uint64_t));
    if (ccf->cpu_affinity == NULL) {
        return BW_CONF_ERROR;
    }
    for (; i < cf->args->nelts; i++) {
        if (!bw_core_parse_cpu_mask(&args[i], &mask)) {
            bw_conf_error(cf, "invalid character \"%.*s\" in \"worker_cpu_affinity\"",
                          BW_STR_ARG(args[i]));
            return BW_CONF_ERROR;
        }
        *(uint64_t *) bw_array_push(ccf->cpu_affinity) = mask;
    }
    return BW_CONF_OK;
}

static const char *
bw_core_set_user(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_core_conf_t *ccf = conf;
    bw_str_t *args = cf->args->elts;

    if (ccf->user != (uid_t) -1) {
        return "is duplicate";
    }
    if (geteuid() != 0) {
        bw_conf_log(cf, BW_LOG_WARN,
                    0, "the \"user\" directive makes sense only if the master process runs "
                    "with super-user privileges, ignored");
        return BW_CONF_OK;
    }
    char *user = bw_pstrz(cf->temp_pool, &args[1]);
    char *group = bw_pstrz(cf->temp_pool, cf->args->nelts == 3 ? &args[2] : &args[1]);
    if (user == NULL || group == NULL) {
        return BW_CONF_ERROR;
    }
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        bw_conf_error(cf, "getpwnam(\"%s\") failed", user);
        return BW_CONF_ERROR;
    }
    struct group *gr = getgrnam(group);
    if (gr == NULL) {
        bw_conf_error(cf, "getgrnam(\"%s\") failed", group);
        return BW_CONF_ERROR;
    }
    ccf->username = args[1];
    ccf->user = pw->pw_uid;
    ccf->group = gr->gr_gid;
    return BW_CONF_OK;
}

static const char *
bw_core_set_env(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_core_conf_t *ccf = conf;
    bw_str_t *e = bw_array_push(&ccf->env);
    if (e == NULL) {
        return BW_CONF_ERROR;
    }
    *e = bw_array_at(cf->args, bw_str_t, 1);
    return BW_CONF_OK;
}

static const char *
bw_core_set_rlimit(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_int_t *field = (bw_int_t *) ((u_char *) conf + d->offset);
    bw_str_t *v = &bw_array_at(cf->args, bw_str_t, 1);

    if (*field != BW_CONF_UNSET) {
        return "is duplicate";
    }
    int64_t n = d->offset == BW_CORE_OFF(rlimit_core) ? bw_parse_size(v) : bw_atoi(v->data, v->len);
    if (n < 0) {
        return "invalid value";
    }
    *field = (bw_int_t) n;
    return BW_CONF_OK;
}

static const char *
bw_core_set_priority(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_core_conf_t *ccf = conf;
    bw_str_t *v = &bw_array_at(cf->args, bw_str_t, 1);
    bool neg = v->len && v->data[0] == '-';
    size_t skip = (v->len && (v->data[0] == '-' || v->data[0] == '+')) ? 1 : 0;
    int64_t n = bw_atoi(v->data + skip, v->len - skip);

    if (n < 0 || n > 20) {
        return "invalid number";
    }
    ccf->priority = (bw_int_t) (neg ? -n : n);
    return BW_CONF_OK;
}

/*
 * error_log file [level]: several per context add targets, the first in
 * cycle->new_log itself. bw_log_target_parse() reads the arguments.
 */
static const char *
bw_core_set_error_log(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_log_t *head = &cf->cycle->new_log;

    if (head->file == NULL) {
        return bw_log_target_parse(cf, head) == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
    }
    bw_log_t *log = bw_pcalloc(cf->pool, sizeof(bw_log_t)); /* a further target */
    if (log == NULL || bw_log_target_parse(cf, log) != BW_OK) {
        return BW_CONF_ERROR;
    }
    bw_log_target_append(head, log);
    return BW_CONF_OK;
}

/*
 * load_module: bulwark has no dynamic modules. A line naming a module that
 * is built in (Debian's brotli, for one) is accepted; any other names it.
 */
static const char *
bw_core_set_load_module(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    static const struct {
        const char *file;   /* basename as Debian ships it */
        const char *module; /* bulwark module providing it */
    } builtin[] = {
        {"ngx_http_brotli_filter_module.so", "brotli"},
        {"ngx_http_brotli_static_module.so", "brotli"},
        {"ngx_stream_module.so", NULL},
    };
    bw_str_t *path = &bw_array_at(cf->args, bw_str_t, 1);
    const u_char *base = path->data + path->len;
    while (base > path->data && base[-1] != '/') {
        base--;
    }
    size_t blen = (size_t) (path->data + path->len - base);

    for (size_t i = 0; i < bw_nelems(builtin); i++) {
        if (strlen(builtin[i].file) == blen && memcmp(builtin[i].file, base, blen) == 0
            && builtin[i].module && bw_module_find(builtin[i].module)) {
            return BW_CONF_OK;
        }
    }
    bw_conf_error(cf, "module \"%.*s\" is not built into bulwark (load_module accepts only "
                  "modules bulwark has built in)", BW_STR_ARG(*path));
    return BW_CONF_ERROR;
}
