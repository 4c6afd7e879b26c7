/*
 * index.c -- index files for directory URIs (module `index`, content
 * phase): `index file ...;` (default index.html) tries each name in order
 * under the directory the URI ends in, and redirects internally to the
 * first that exists, keeping the arguments. Names may hold variables; a
 * name starting with '/' (only sensible last) is redirected to as it is.
 *
 * When no name exists the module declines, so autoindex may list the
 * directory; the phase engine answers 403 "directory index ... is
 * forbidden" when nobody does. A directory that does not exist gives 404
 * ("... is not found"), one that may not be read 403 ("... is forbidden").
 */
#include "core_module.h"
#include "script.h"
#include "pool.h"

#include <errno.h>
#include <sys/stat.h>

typedef struct {
    bw_str_t                 name;  /* as written */
    bw_http_complex_value_t *value; /* when the name holds variables */
} bw_index_t;

typedef struct {
    bw_array_t *indices; /* bw_index_t; NULL: none at this level */
} bw_index_loc_conf_t;

static bw_int_t bw_index_handler(bw_http_request_t *r);
static const char *bw_index_set(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static void *bw_index_create_loc(bw_conf_t *cf);
static const char *bw_index_merge_loc(bw_conf_t *cf, void *prev, void *conf);

static const bw_directive_t bw_index_directives[] = {
    {"index", BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC, BW_ARGS_1MORE, BW_CONF_LOC, bw_index_set, 0,
     NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_phase_hook_t bw_index_phases[] = {
    {BW_HTTP_CONTENT_PHASE, bw_index_handler},
    {0, NULL},
};

static const bw_http_module_t bw_index_module_ctx = {
    .create_loc = bw_index_create_loc,
    .merge_loc = bw_index_merge_loc,
    .phases = bw_index_phases,
};

bw_module_t bw_index_module = {
    .name = "index",
    .type = BW_MODULE_HTTP,
    .directives = bw_index_directives,
    .ctx = &bw_index_module_ctx,
};

/* ------------------------------------------------------- request time */

/* A failed index file or directory: 403 when forbidden, else 404. */
static bw_int_t
bw_index_error(bw_http_request_t *r, const u_char *file, int err)
{
    if (err == EACCES) {
        bw_log_error(BW_LOG_ERR, r->connection->log, err, "\"%s\" is forbidden",
                     (const char *) file);
        return 403;
    }
    if (bw_http_core_loc(r)->log_not_found) {
        bw_log_error(BW_LOG_ERR, r->connection->log, err, "\"%s\" is not found",
                     (const char *) file);
    }
    return 404;
}

/*
 * After an index name was not found: is the directory there at all? `path`
 * is the index file's path, `dir_len` the length of the directory part
 * (with its trailing slash). BW_OK to go on with the next name, or a status.
 */
static bw_int_t
bw_index_dir_test(bw_http_request_t *r, u_char *path, size_t dir_len)
{
    struct stat st;

    if (dir_len > 1 && path[dir_len - 1] == '/') {
        dir_len--;
    }
    u_char saved = path[dir_len];
    path[dir_len] = '\0';
    int rc = bw_http_stat(r, (const char *) path, &st);
    int err = errno;
    bool is_dir = rc == 0 && S_ISDIR(st.st_mode);
    if (rc == -1 && err != ENOENT && err != EACCES) {
        bw_log_error(BW_LOG_CRIT, r->connection->log, err, "stat() \"%s\" failed",
                     (const char *) path);
    } else if (rc == 0 && !is_dir) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "\"%s\" is not a directory",
                     (const char *) path);
    }
    path[dir_len] = saved;

    if (rc == -1) {
        if (err == ENOENT) {
            return bw_index_error(r, path, err);
        }
        return err == EACCES ? BW_OK : 500; /* searching it is allowed: the name failed */
    }
    return is_dir ? BW_OK : 500;
}

/* Redirects to the directory URI followed by `name`. */
static bw_int_t
bw_index_redirect(bw_http_request_t *r, const bw_str_t *name)
{
    bw_str_t uri;

    uri.len = r->uri.len + name->len;
    uri.data = bw_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return 500;
    }
    memcpy(uri.data, r->uri.data, r->uri.len);
    memcpy(uri.data + r->uri.len, name->data, name->len);
    return bw_http_internal_redirect(r, &uri, &r->args);
}

/*
 * Tries one index name. BW_DECLINED: it does not exist (try the next);
 * else what the handler returns (a redirect's BW_DONE or a status).
 */
static bw_int_t
bw_index_try(bw_http_request_t *r, const bw_str_t *name, bool *dir_tested)
{
    bw_str_t path;
    size_t root;
    struct stat st;

    if (name->len && name->data[0] == '/') {
        return bw_http_internal_redirect(r, name, &r->args);
    }
    u_char *last = bw_http_map_uri_to_path(r, &path, &root, name->len);
    if (last == NULL) {
        return 500;
    }
    size_t dir_len = path.len;
    memcpy(last, name->data, name->len);
    last[name->len] = '\0';
    path.len += name->len;

    if (bw_http_stat(r, (const char *) path.data, &st) == 0) {
        return bw_index_redirect(r, name);
    }
    int err = errno;
    if (err == ENOTDIR || err == ENAMETOOLONG || err == EACCES) {
        return bw_index_error(r, path.data, err);
    }
    if (!*dir_tested) {
        bw_int_t rc = bw_index_dir_test(r, path.data, dir_len);
        if (rc != BW_OK) {
            return rc;
        }
        *dir_tested = true;
    }
    if (err == ENOENT) {
        return BW_DECLINED;
    }
    bw_log_error(BW_LOG_CRIT, r->connection->log, err, "stat() \"%s\" failed",
                 (const char *) path.data);
    return 500;
}

static bw_int_t
bw_index_handler(bw_http_request_t *r)
{
    bw_index_loc_conf_t *ilcf = bw_http_get_loc_conf(r, bw_index_module);
    bool dir_tested = false;

    if (r->uri.len == 0 || r->uri.data[r->uri.len - 1] != '/') {
        return BW_DECLINED;
    }
    if (!(r->method & (BW_HTTP_GET | BW_HTTP_HEAD | BW_HTTP_POST))) {
        return BW_DECLINED;
    }
    const bw_index_t *index = ilcf->indices->elts;
    for (size_t i = 0; i < ilcf->indices->nelts; i++) {
        bw_str_t name = index[i].name;
        if (index[i].value && bw_http_complex_value(r, index[i].value, &name) != BW_OK) {
            return 500;
        }
        bw_int_t rc = bw_index_try(r, &name, &dir_tested);
        if (rc != BW_DECLINED) {
            return rc;
        }
    }
    return BW_DECLINED;
}

/* ---------------------------------------------------- configuration */

static const char *
bw_index_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_index_loc_conf_t *ilcf = conf;
    bw_str_t *value = cf->args->elts;

    if (ilcf->indices == NULL) {
        ilcf->indices = bw_array_create(cf->pool, 2, sizeof(bw_index_t));
        if (ilcf->indices == NULL) {
            return BW_CONF_ERROR;
        }
    }
    for (size_t i = 1; i < cf->args->nelts; i++) {
        if (value[i].len && value[i].data[0] == '/' && i != cf->args->nelts - 1) {
            bw_conf_log(cf, BW_LOG_WARN, 0,
                        "only the last index in \"index\" directive should be absolute");
        }
        if (value[i].len == 0) {
            bw_conf_error(cf, "index \"%.*s\" in \"index\" directive is invalid",
                          BW_STR_ARG(value[1]));
            return BW_CONF_ERROR;
        }
        bw_index_t *index = bw_array_push(ilcf->indices);
        if (index == NULL) {
            return BW_CONF_ERROR;
        }
        index->name = value[i];
        index->value = NULL;
        if (bw_http_script_variables_count(&value[i]) > 0
            && bw_http_compile_complex_value(cf, &value[i], &index->value) != BW_OK) {
            return BW_CONF_ERROR;
        }
    }
    return BW_CONF_OK;
}

static void *
bw_index_create_loc(bw_conf_t *cf)
{
    return bw_pcalloc(cf->pool, sizeof(bw_index_loc_conf_t));
}

static const char *
bw_index_merge_loc(bw_conf_t *cf, void *prev, void *child)
{
    bw_index_loc_conf_t *parent = prev, *conf = child;

    if (conf->indices == NULL) {
        conf->indices = parent->indices;
    }
    if (conf->indices == NULL) {
        conf->indices = bw_array_create(cf->pool, 1, sizeof(bw_index_t));
        bw_index_t *index = conf->indices ? bw_array_push(conf->indices) : NULL;
        if (index == NULL) {
            return BW_CONF_ERROR;
        }
        bw_str_set(&index->name, "index.html");
        index->value = NULL;
    }
    return BW_CONF_OK;
}
