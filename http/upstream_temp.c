/*
 * upstream_temp.c -- temp files of upstream responses: the temp path
 * directive (proxy_temp_path path [level1 [level2 [level3]]]) and its
 * default under the prefix, both registered with the cycle so the master
 * creates the directory and gives it to the worker user; and the temp file
 * a buffered response spills into. As nginx does with such files, it is
 * unlinked as soon as it is open: it lives as long as its descriptor.
 */
#include "upstream_internal.h"

#include "cycle.h"
#include "pool.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Digits of a temp file's number (its name). */
#define BW_UPSTREAM_TEMP_DIGITS 10

/* ---- configuration ---- */

/* Registers a directory for creation at start (once per path). */
static bw_rc_t
bw_upstream_temp_add_path(bw_cycle_t *cycle, const bw_str_t *path)
{
    bw_str_t *p = cycle->paths.elts;

    for (size_t i = 0; p && i < cycle->paths.nelts; i++) {
        if (bw_str_eq(&p[i], path)) {
            return BW_OK;
        }
    }
    bw_str_t *slot = bw_array_push(&cycle->paths);
    if (slot == NULL) {
        return BW_ERROR;
    }
    *slot = *path;
    return BW_OK;
}

/* A temp path named `name` (made absolute, registered), levels unset. */
static bw_upstream_temp_path_t *
bw_upstream_temp_path_create(bw_conf_t *cf, const bw_str_t *name)
{
    bw_upstream_temp_path_t *tp = bw_pcalloc(cf->pool, sizeof(*tp));

    if (tp == NULL) {
        return NULL;
    }
    tp->name = *name;
    while (tp->name.len > 1 && tp->name.data[tp->name.len - 1] == '/') {
        tp->name.len--;
    }
    if (bw_conf_full_name(cf->cycle, &tp->name, false) != BW_OK
        || bw_upstream_temp_add_path(cf->cycle, &tp->name) != BW_OK) {
        return NULL;
    }
    return tp;
}

const char *
bw_upstream_set_temp_path(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_upstream_temp_path_t **field = (bw_upstream_temp_path_t **) ((char *) conf + d->offset);
    bw_str_t                 *value = cf->args->elts;
    size_t                    digits = 0;

    if (*field != BW_CONF_UNSET_PTR) {
        return "is duplicate";
    }
    bw_upstream_temp_path_t *tp = bw_upstream_temp_path_create(cf, &value[1]);
    if (tp == NULL) {
        return BW_CONF_ERROR;
    }
    for (size_t i = 2; i < cf->args->nelts; i++) {
        int64_t level = bw_atoi(value[i].data, value[i].len);
        if (level <= 0 || (digits += (size_t) level) > BW_UPSTREAM_TEMP_DIGITS) {
            return "invalid value";
        }
        tp->level[i - 2] = (size_t) level;
    }
    *field = tp;
    return BW_CONF_OK;
}

const char *
bw_upstream_temp_path_merge(bw_conf_t *cf, bw_upstream_conf_t *conf,
                            const bw_upstream_conf_t *prev, const char *default_name)
{
    if (conf->temp_path != BW_CONF_UNSET_PTR) {
        return BW_CONF_OK;
    }
    if (prev->temp_path != BW_CONF_UNSET_PTR) {
        conf->temp_path = prev->temp_path;
        return BW_CONF_OK;
    }
    bw_str_t name = {strlen(default_name), (u_char *) default_name};
    conf->temp_path = bw_upstream_temp_path_create(cf, &name);
    return conf->temp_path ? BW_CONF_OK : BW_CONF_ERROR;
}

/* ---- temp files ---- */

typedef struct {
    int fd;
} bw_upstream_temp_t;

static void
bw_upstream_temp_cleanup(void *data)
{
    bw_upstream_temp_t *t = data;

    if (t->fd != -1) {
        close(t->fd);
    }
}

/*
 * "path/L1/L2/0000001234" for number n: each level directory is named by
 * the digits before the previous level's (the last ones first), as nginx
 * names them.
 */
static size_t
bw_upstream_temp_name(char *buf, size_t size, const bw_upstream_temp_path_t *path, uint32_t n)
{
    char   digits[BW_UPSTREAM_TEMP_DIGITS + 1];
    size_t len, end = BW_UPSTREAM_TEMP_DIGITS;

    snprintf(digits, sizeof(digits), "%010u", (unsigned) (n % 1000000000u));
    len = (size_t) snprintf(buf, size, "%.*s", BW_STR_ARG(path->name));
    for (size_t i = 0; i < 3 && path->level[i]; i++) {
        end -= path->level[i];
        len += (size_t) snprintf(buf + len, size - len, "/%.*s", (int) path->level[i],
                                 digits + end);
    }
    len += (size_t) snprintf(buf + len, size - len, "/%s", digits);
    return len;
}

/* Creates the level directories of `name` (up to its last '/'), as the
 * worker's user; the master made the top one. */
static void
bw_upstream_temp_mkdirs(char *name, size_t top)
{
    for (char *p = name + top + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            (void) mkdir(name, 0700);
            *p = '/';
        }
    }
}

bw_rc_t
bw_upstream_temp_open(bw_http_request_t *r, const bw_upstream_temp_path_t *path, bw_file_t *file,
                      const char *warn)
{
    static uint32_t    seq;
    bw_log_t          *log = r->connection->log;
    size_t             size = path->name.len + BW_UPSTREAM_TEMP_DIGITS + 16;
    char              *name = bw_pnalloc(r->pool, size);
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(r->pool, sizeof(bw_upstream_temp_t));
    bool               made = path->level[0] == 0;
    int                fd = -1;

    if (name == NULL || cln == NULL) {
        return BW_ERROR;
    }
    if (seq == 0) {
        seq = (uint32_t) getpid() * 1000u;
    }
    for (int tries = 0; tries < 100 && fd == -1; tries++) {
        bw_upstream_temp_name(name, size, path, ++seq);
        fd = open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        if (fd != -1 || errno == EEXIST) {
            continue;
        }
        if (errno != ENOENT || made) {
            bw_log_error(BW_LOG_CRIT, log, errno, "open() \"%s\" failed", name);
            return BW_ERROR;
        }
        bw_upstream_temp_mkdirs(name, path->name.len);
        made = true;
        seq--; /* the same name again, now that its directories exist */
    }
    if (fd == -1) {
        bw_log_error(BW_LOG_CRIT, log, EEXIST, "open() \"%s\" failed", name);
        return BW_ERROR;
    }
    if (unlink(name) == -1) {
        bw_log_error(BW_LOG_CRIT, log, errno, "unlink() \"%s\" failed", name);
    }
    bw_upstream_temp_t *t = cln->data;
    t->fd = fd;
    cln->handler = bw_upstream_temp_cleanup;

    file->fd = fd;
    file->name.data = (u_char *) name;
    file->name.len = strlen(name);
    file->log = log;
    if (warn != NULL) {
        bw_log_error(BW_LOG_WARN, log, 0, "%s %s", warn, name);
    }
    return BW_OK;
}
