/*
 * core_files.c -- files and types: root and alias, try_files (directive and
 * precontent handler), the types{} table and default_type, and the two
 * request helpers the file-serving modules use: bw_http_map_uri_to_path()
 * and bw_http_set_content_type().
 */
#include "core_internal.h"

#include "cycle.h"
#include "pool.h"
#include "script.h"

#include <stdlib.h>
#include <sys/stat.h>

/* ---- root / alias ---- */

static bool
bw_http_core_has(const bw_str_t *s, const char *needle)
{
    return memmem(s->data, s->len, needle, strlen(needle)) != NULL;
}

/* root path | alias path (d->offset is 1 for alias). */
const char *
bw_http_core_root(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = cf->args->elts;
    bool                     alias = d->offset == 1;

    if (clcf->root.data) {
        if (clcf->alias == alias) {
            return "is duplicate";
        }
        bw_conf_error(cf, "\"%s\" directive is duplicate, \"%s\" directive was specified earlier",
                      d->name, clcf->alias ? "alias" : "root");
        return BW_CONF_ERROR;
    }
    if (clcf->named && alias) {
        bw_conf_error(cf, "the \"alias\" directive cannot be used inside the named location");
        return BW_CONF_ERROR;
    }
    static const char *const forbidden[] = {"$document_root", "$realpath_root"};
    for (size_t i = 0; i < bw_nelems(forbidden); i++) {
        if (bw_http_core_has(&value[1], forbidden[i])) {
            bw_conf_error(cf, "the %s variable cannot be used in the \"%s\" directive",
                          forbidden[i], d->name);
            return BW_CONF_ERROR;
        }
    }
    clcf->alias = alias;
    clcf->alias_len = alias ? (bw_int_t) clcf->name.len : 0;
    clcf->root = value[1];
    if (!alias && clcf->root.len > 0 && clcf->root.data[clcf->root.len - 1] == '/') {
        clcf->root.len--;
    }
    /* A root starting with a variable is made absolute per request instead. */
    if (clcf->root.len == 0 || clcf->root.data[0] != '$') {
        if (bw_conf_full_name(cf->cycle, &clcf->root, false) != BW_OK) {
            return BW_CONF_ERROR;
        }
    }
    bool whole = alias && clcf->regex != NULL;
    if (whole) {
        clcf->alias_len = BW_HTTP_ALIAS_WHOLE; /* the captures build the whole path */
    }
    if (whole || bw_http_script_variables_count(&clcf->root) > 0) {
        bw_http_complex_value_t *cv;
        if (bw_http_compile_complex_value(cf, &clcf->root, &cv) != BW_OK) {
            return BW_CONF_ERROR;
        }
        clcf->root_values = cv;
    }
    return BW_CONF_OK;
}

/* ---- types ---- */

static int
bw_http_core_keyval_cmp(const void *one, const void *two)
{
    const bw_keyval_t *a = one, *b = two;
    size_t             n = bw_min(a->key.len, b->key.len);
    int                rc = n ? memcmp(a->key.data, b->key.data, n) : 0;

    return rc ? rc : (a->key.len < b->key.len ? -1 : (a->key.len > b->key.len ? 1 : 0));
}

/* The sorted lookup table of a types{} block. */
static bw_http_types_t *
bw_http_core_types_build(bw_pool_t *pool, bw_array_t *keys)
{
    bw_http_types_t *t = bw_palloc(pool, sizeof(bw_http_types_t));
    bw_keyval_t     *elts = bw_palloc(pool, (keys->nelts + 1) * sizeof(bw_keyval_t));

    if (t == NULL || elts == NULL) {
        return NULL;
    }
    memcpy(elts, keys->elts, keys->nelts * sizeof(bw_keyval_t));
    qsort(elts, keys->nelts, sizeof(bw_keyval_t), bw_http_core_keyval_cmp);
    t->elts = elts;
    t->nelts = keys->nelts;
    return t;
}

/* nginx's built-in table when no level has types{} (sorted). */
static bw_keyval_t bw_http_core_default_types_elts[] = {
    {bw_string("gif"), bw_string("image/gif")},
    {bw_string("html"), bw_string("text/html")},
    {bw_string("jpg"), bw_string("image/jpeg")},
};
static bw_http_types_t bw_http_core_default_types = {bw_http_core_default_types_elts, 3};

static const char *
bw_http_core_merge_types(bw_conf_t *cf, bw_http_core_loc_conf_t *prev,
                         bw_http_core_loc_conf_t *conf)
{
    /* The http{} level is never merged itself: build its table when a child needs it. */
    if (prev->types == NULL && prev->types_keys) {
        prev->types = bw_http_core_types_build(cf->pool, prev->types_keys);
        if (prev->types == NULL) {
            return BW_CONF_ERROR;
        }
    }
    if (conf->types_keys) {
        conf->types = bw_http_core_types_build(cf->pool, conf->types_keys);
        if (conf->types == NULL) {
            return BW_CONF_ERROR;
        }
    } else {
        conf->types = prev->types ? prev->types : &bw_http_core_default_types;
    }
    bw_conf_merge_str(conf->default_type, prev->default_type, "text/plain");
    return BW_CONF_OK;
}

/* Registers a temp directory for creation at start (once per path). */
static bw_rc_t
bw_http_core_add_path(bw_cycle_t *cycle, const bw_str_t *path)
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

const char *
bw_http_core_merge_files(bw_conf_t *cf, bw_http_core_loc_conf_t *prev,
                         bw_http_core_loc_conf_t *conf)
{
    if (conf->root.data == NULL) {
        conf->alias = prev->alias;
        conf->alias_len = prev->alias_len;
        conf->root = prev->root;
        conf->root_values = prev->root_values;
        if (prev->root.data == NULL) {
            bw_str_set(&conf->root, "html");
            if (bw_conf_full_name(cf->cycle, &conf->root, false) != BW_OK) {
                return BW_CONF_ERROR;
            }
        }
    }
    if (conf->client_body_temp_path.data == NULL) {
        conf->client_body_temp_path = prev->client_body_temp_path;
        if (conf->client_body_temp_path.data == NULL) {
            bw_str_set(&conf->client_body_temp_path, "client_body_temp");
            if (bw_conf_full_name(cf->cycle, &conf->client_body_temp_path, false) != BW_OK
                || bw_http_core_add_path(cf->cycle, &conf->client_body_temp_path) != BW_OK) {
                return BW_CONF_ERROR;
            }
        }
    }
    return bw_http_core_merge_types(cf, prev, conf);
}

/* client_body_temp_path path [level1 [level2 [level3]]] */
const char *
bw_http_core_client_body_temp_path(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = cf->args->elts;

    if (clcf->client_body_temp_path.data) {
        return "is duplicate";
    }
    for (size_t i = 2; i < cf->args->nelts; i++) {
        int64_t level = bw_atoi(value[i].data, value[i].len);
        if (level < 1 || level > 2) {
            return "invalid value";
        }
    }
    clcf->client_body_temp_path = value[1];
    if (bw_conf_full_name(cf->cycle, &clcf->client_body_temp_path, false) != BW_OK
        || bw_http_core_add_path(cf->cycle, &clcf->client_body_temp_path) != BW_OK) {
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

bw_rc_t
bw_http_set_content_type(bw_http_request_t *r)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    const bw_http_types_t   *types = clcf->types;
    u_char                   low[64];

    if (r->headers_out.content_type.len) {
        return BW_OK;
    }
    if (types && r->exten.len && r->exten.len <= sizeof(low)) {
        bw_strlow(low, r->exten.data, r->exten.len);
        bw_keyval_t key = {{r->exten.len, low}, bw_null_string};
        bw_keyval_t *kv = bsearch(&key, types->elts, types->nelts, sizeof(bw_keyval_t),
                                  bw_http_core_keyval_cmp);
        if (kv) {
            r->headers_out.content_type = kv->value;
            r->headers_out.content_type_len = kv->value.len;
            return BW_OK;
        }
    }
    r->headers_out.content_type = clcf->default_type;
    r->headers_out.content_type_len = clcf->default_type.len;
    return BW_OK;
}

void
bw_http_core_set_exten(bw_http_request_t *r)
{
    bw_str_null(&r->exten);
    for (size_t i = r->uri.len; i > 1; i--) {
        u_char c = r->uri.data[i - 1];
        if (c == '.' && r->uri.data[i - 2] != '/') {
            r->exten.data = r->uri.data + i;
            r->exten.len = r->uri.len - i;
            return;
        }
        if (c == '/') {
            return;
        }
    }
}

/* ---- mapping URIs to files ---- */

/* The document root of the request's location: root or alias, evaluated. */
static bw_rc_t
bw_http_core_doc_root(bw_http_request_t *r, bw_http_core_loc_conf_t *clcf, bw_str_t *root)
{
    if (clcf->root_values == NULL) {
        *root = clcf->root;
        return BW_OK;
    }
    if (bw_http_complex_value(r, clcf->root_values, root) != BW_OK) {
        return BW_ERROR;
    }
    if (root->len && root->data[0] == '/') {
        return BW_OK;
    }
    bw_str_t *full = bw_psprintf(r->pool, "%.*s%.*s", BW_STR_ARG(bw_cycle->prefix),
                                 BW_STR_ARG(*root));
    if (full == NULL) {
        return BW_ERROR;
    }
    *root = *full;
    return BW_OK;
}

/* The part of r->uri that follows the root (all of it unless alias). */
static bw_rc_t
bw_http_core_uri_tail(bw_http_request_t *r, bw_http_core_loc_conf_t *clcf, bw_str_t *tail)
{
    *tail = r->uri;
    if (!clcf->alias) {
        return BW_OK;
    }
    if (!r->valid_location) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                     "\"alias\" cannot be used in location \"%.*s\" where URI was rewritten",
                     BW_STR_ARG(clcf->name));
        return BW_ERROR;
    }
    if (clcf->alias_len == BW_HTTP_ALIAS_WHOLE) {
        if (!r->add_uri_to_alias) {
            tail->len = 0;
        }
        return BW_OK;
    }
    size_t skip = bw_min((size_t) clcf->alias_len, r->uri.len);
    tail->data += skip;
    tail->len -= skip;
    return BW_OK;
}

int
bw_http_stat(bw_http_request_t *r, const char *path, struct stat *st)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);

    if (clcf->open_file_cache == NULL) {
        return stat(path, st);
    }
    bw_open_file_info_t of = {
        .valid = (bw_msec_t) clcf->open_file_cache_valid * 1000,
        .min_uses = clcf->open_file_cache_min_uses,
        .errors = clcf->open_file_cache_errors != 0,
        .test_only = true,
    };
    bw_str_t p = {strlen(path), (u_char *) path};
    bw_rc_t  rc = bw_open_cached_file(clcf->open_file_cache, &p, &of, r->pool,
                                      r->connection->log);
    if (rc == BW_OK) {
        *st = of.st;
        return 0;
    }
    errno = rc == BW_ERROR ? ENOMEM : of.err;
    return -1;
}

u_char *
bw_http_map_uri_to_path(bw_http_request_t *r, bw_str_t *path, size_t *root_len, size_t reserved)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_str_t                 root, tail;

    if (bw_http_core_uri_tail(r, clcf, &tail) != BW_OK
        || bw_http_core_doc_root(r, clcf, &root) != BW_OK) {
        return NULL;
    }
    u_char *p = bw_pnalloc(r->pool, root.len + tail.len + 1 + reserved);
    if (p == NULL) {
        return NULL;
    }
    if (root.len) {
        memcpy(p, root.data, root.len);
    }
    if (tail.len) {
        memcpy(p + root.len, tail.data, tail.len);
    }
    path->data = p;
    path->len = root.len + tail.len;
    p[path->len] = '\0';
    *root_len = root.len;
    return p + path->len;
}

/* ---- try_files ---- */

const char *
bw_http_core_try_files(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = cf->args->elts;
    size_t                   n = cf->args->nelts - 1;

    if (clcf->try_files) {
        return "is duplicate";
    }
    bw_array_t *tfs = bw_array_create(cf->pool, n, sizeof(bw_http_try_file_t));
    if (tfs == NULL) {
        return BW_CONF_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        bw_http_try_file_t *tf = bw_array_push(tfs);
        memset(tf, 0, sizeof(*tf));
        tf->name = value[i + 1];
        tf->last = i == n - 1;
        if (!tf->last && tf->name.len > 0 && tf->name.data[tf->name.len - 1] == '/') {
            tf->test_dir = true;
            tf->name.len--;
        }
        if (tf->last && tf->name.len && tf->name.data[0] == '=') {
            int64_t code = bw_atoi(tf->name.data + 1, tf->name.len - 1);
            if (code < 0 || code > 999) {
                bw_conf_error(cf, "invalid code \"%.*s\"", BW_STR_ARG(tf->name));
                return BW_CONF_ERROR;
            }
            tf->code = (bw_int_t) code;
            continue;
        }
        if (bw_http_script_variables_count(&tf->name) > 0) {
            bw_http_complex_value_t *cv;
            if (bw_http_compile_complex_value(cf, &tf->name, &cv) != BW_OK) {
                return BW_CONF_ERROR;
            }
            tf->value = cv;
        }
    }
    clcf->try_files = tfs;
    return BW_CONF_OK;
}

/* The fallback: =code, @named or an internal redirect to a URI[?args]. */
static bw_int_t
bw_http_core_try_files_last(bw_http_request_t *r, const bw_http_try_file_t *tf,
                            const bw_str_t *name)
{
    if (tf->code) {
        return tf->code;
    }
    if (name->len && name->data[0] == '@') {
        (void) bw_http_named_location(r, name);
    } else {
        bw_str_t uri = *name, args = bw_null_string;
        const u_char *q = memchr(name->data, '?', name->len);
        if (q) {
            uri.len = (size_t) (q - name->data);
            args.data = (u_char *) q + 1;
            args.len = name->len - uri.len - 1;
        }
        (void) bw_http_internal_redirect(r, &uri, q ? &args : NULL);
    }
    bw_http_finalize_request(r, BW_DONE);
    return BW_DONE;
}

/* Builds root + name (an alias location's own prefix dropped from name). */
static bw_rc_t
bw_http_core_try_path(bw_http_request_t *r, bw_http_core_loc_conf_t *clcf, bw_str_t *name,
                      bw_str_t *path, size_t *root_len)
{
    bw_str_t root;

    if (bw_http_core_doc_root(r, clcf, &root) != BW_OK) {
        return BW_ERROR;
    }
    if (clcf->alias && clcf->alias_len > 0 && name->len >= (size_t) clcf->alias_len
        && memcmp(name->data, r->uri.data, bw_min((size_t) clcf->alias_len, r->uri.len)) == 0) {
        name->data += clcf->alias_len;
        name->len -= (size_t) clcf->alias_len;
    }
    path->data = bw_pnalloc(r->pool, root.len + name->len + 1);
    if (path->data == NULL) {
        return BW_ERROR;
    }
    if (root.len) {
        memcpy(path->data, root.data, root.len);
    }
    if (name->len) {
        memcpy(path->data + root.len, name->data, name->len);
    }
    path->len = root.len + name->len;
    path->data[path->len] = '\0';
    *root_len = root.len;
    return BW_OK;
}

/* The file was found: the request goes on with it as its URI. */
static void
bw_http_core_try_files_found(bw_http_request_t *r, bw_http_core_loc_conf_t *clcf,
                             const bw_str_t *name, bool test_dir)
{
    if (!clcf->alias) {
        r->uri = *name;
    } else if (clcf->alias_len == BW_HTTP_ALIAS_WHOLE) {
        if (!test_dir) {
            r->uri = *name;
            r->add_uri_to_alias = 1;
        }
    } else {
        size_t  prefix = bw_min((size_t) clcf->alias_len, r->uri.len);
        u_char *p = bw_pnalloc(r->pool, prefix + name->len);
        if (p == NULL) {
            return; /* keep the old URI: the content phase will answer for it */
        }
        memcpy(p, r->uri.data, prefix);
        if (name->len) {
            memcpy(p + prefix, name->data, name->len);
        }
        r->uri.data = p;
        r->uri.len = prefix + name->len;
    }
    bw_http_core_set_exten(r);
}

bw_int_t
bw_http_core_try_files_handler(bw_http_request_t *r)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    struct stat              st;

    if (clcf->try_files == NULL) {
        return BW_DECLINED;
    }
    bw_http_try_file_t *tf = clcf->try_files->elts;
    for (size_t i = 0; i < clcf->try_files->nelts; i++) {
        bw_str_t name = tf[i].name, path;
        size_t   root_len;

        if (tf[i].value && bw_http_complex_value(r, tf[i].value, &name) != BW_OK) {
            return BW_ERROR;
        }
        if (tf[i].last) {
            return bw_http_core_try_files_last(r, &tf[i], &name);
        }
        if (bw_http_core_try_path(r, clcf, &name, &path, &root_len) != BW_OK) {
            return BW_ERROR;
        }
        if (bw_http_stat(r, (char *) path.data, &st) != 0) {
            if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG) {
                bw_log_error(BW_LOG_CRIT, r->connection->log, errno, "stat() \"%s\" failed",
                             (char *) path.data);
            }
            continue;
        }
        if ((bool) S_ISDIR(st.st_mode) != tf[i].test_dir) {
            continue;
        }
        bw_str_t found = {path.len - root_len, path.data + root_len};
        bw_http_core_try_files_found(r, clcf, &found, tf[i].test_dir);
        return BW_DECLINED;
    }
    return BW_DECLINED;
}
