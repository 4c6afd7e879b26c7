/*
 * http.c -- the `http` module: the http{} block.
 *
 * In order, as nginx: create every HTTP module's main, server and location
 * confs for the http{} level; register variables (preconfiguration); parse
 * the body; initialise main confs and merge each server and each location
 * down from its parent, module by module; build the location lookup tables
 * (reporting duplicate locations); build the phase engine; run the modules'
 * postconfiguration; bind variables; build the listen addresses and their
 * sockets; wire the filter chains.
 */
#include "core_internal.h"

#include "cycle.h"
#include "location.h"
#include "pool.h"
#include "variables.h"

static const char *bw_http_block(bw_conf_t *cf, const bw_directive_t *d, void *conf);

static const bw_directive_t bw_http_directives[] = {
    {"http", BW_CTX_MAIN, BW_ARGS_BLOCK | BW_ARGS_NOARGS, BW_CONF_NONE, bw_http_block, 0, NULL},
    BW_DIRECTIVES_END,
};

bw_module_t bw_http_module = {
    .name = "http",
    .type = BW_MODULE_CORE,
    .directives = bw_http_directives,
};

/* The HTTP module record behind bw_modules[i], or NULL for other types. */
static const bw_http_module_t *
bw_http_module_ctx(size_t i)
{
    return bw_modules[i]->type == BW_MODULE_HTTP ? bw_modules[i]->ctx : NULL;
}

/* Reports a merge/init message that is not BW_CONF_ERROR. */
static bw_rc_t
bw_http_conf_result(bw_conf_t *cf, const char *rv)
{
    if (rv == BW_CONF_OK) {
        return BW_OK;
    }
    if (rv != BW_CONF_ERROR) {
        bw_conf_error(cf, "%s", rv);
    }
    return BW_ERROR;
}

static bw_rc_t
bw_http_confs_create(bw_conf_t *cf, bw_conf_ctx_t *ctx)
{
    size_t size = (bw_modules_n + 1) * sizeof(void *);

    ctx->main_conf = bw_pcalloc(cf->pool, size);
    ctx->srv_conf = bw_pcalloc(cf->pool, size);
    ctx->loc_conf = bw_pcalloc(cf->pool, size);
    if (ctx->main_conf == NULL || ctx->srv_conf == NULL || ctx->loc_conf == NULL) {
        return BW_ERROR;
    }
    for (size_t i = 0; bw_modules[i]; i++) {
        const bw_http_module_t *h = bw_http_module_ctx(i);
        bw_uint_t               mi = bw_modules[i]->index;

        if (h == NULL) {
            continue;
        }
        if ((h->create_main && (ctx->main_conf[mi] = h->create_main(cf)) == NULL)
            || (h->create_srv && (ctx->srv_conf[mi] = h->create_srv(cf)) == NULL)
            || (h->create_loc && (ctx->loc_conf[mi] = h->create_loc(cf)) == NULL)) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

static bw_rc_t
bw_http_preconfiguration(bw_conf_t *cf)
{
    if (bw_http_variables_add_core_vars(cf) != BW_OK) {
        return BW_ERROR;
    }
    for (size_t i = 0; bw_modules[i]; i++) {
        const bw_http_module_t *h = bw_http_module_ctx(i);
        if (h && h->preconfiguration && h->preconfiguration(cf) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/* Merges module `mi`'s confs of every location below pclcf, depth first. */
static bw_rc_t
bw_http_merge_locations(bw_conf_t *cf, const bw_http_module_t *h, bw_uint_t mi,
                        bw_http_core_loc_conf_t *pclcf)
{
    bw_http_location_tree_t *tree = pclcf->locations;

    if (tree == NULL) {
        return BW_OK;
    }
    bw_http_core_loc_conf_t **child = tree->children.elts;
    for (size_t i = 0; i < tree->children.nelts; i++) {
        cf->ctx->loc_conf = child[i]->loc_conf;
        if (bw_http_conf_result(cf, h->merge_loc(cf, pclcf->loc_conf[mi],
                                                 child[i]->loc_conf[mi])) != BW_OK
            || bw_http_merge_locations(cf, h, mi, child[i]) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/* Module `i`: init its main conf, merge it into each server and location. */
static bw_rc_t
bw_http_merge_module(bw_conf_t *cf, bw_conf_ctx_t *http, size_t i)
{
    const bw_http_module_t   *h = bw_http_module_ctx(i);
    bw_uint_t                 mi = bw_modules[i]->index;
    bw_http_core_main_conf_t *cmcf = http->main_conf[bw_http_core_module.index];
    bw_conf_ctx_t             ctx = *http;

    if (h->init_main && bw_http_conf_result(cf, h->init_main(cf, http->main_conf[mi])) != BW_OK) {
        return BW_ERROR;
    }
    bw_http_core_srv_conf_t **server = cmcf->servers.elts;
    for (size_t s = 0; s < cmcf->servers.nelts; s++) {
        ctx.srv_conf = server[s]->ctx->srv_conf;
        ctx.loc_conf = server[s]->ctx->loc_conf;
        cf->ctx = &ctx;
        if (h->merge_srv
            && bw_http_conf_result(cf, h->merge_srv(cf, http->srv_conf[mi], ctx.srv_conf[mi]))
                   != BW_OK) {
            return BW_ERROR;
        }
        if (h->merge_loc) {
            bw_http_core_loc_conf_t *clcf = ctx.loc_conf[bw_http_core_module.index];
            if (bw_http_conf_result(cf, h->merge_loc(cf, http->loc_conf[mi], ctx.loc_conf[mi]))
                    != BW_OK
                || bw_http_merge_locations(cf, h, mi, clcf) != BW_OK) {
                return BW_ERROR;
            }
        }
    }
    return BW_OK;
}

/* Reports "duplicate location" at the later location's own file and line. */
static void
bw_http_duplicate_location(bw_conf_t *cf, const bw_http_core_loc_conf_t *dup)
{
    bw_conf_file_t  file;
    bw_conf_file_t *saved = cf->file;

    memset(&file, 0, sizeof(file));
    file.name = dup->file_name;
    file.line = dup->line;
    cf->file = &file;
    bw_conf_error(cf, "duplicate location \"%.*s\"", BW_STR_ARG(dup->name));
    cf->file = saved;
}

static bw_rc_t
bw_http_locations_init(bw_conf_t *cf, bw_http_core_main_conf_t *cmcf)
{
    bw_http_core_srv_conf_t **server = cmcf->servers.elts;

    for (size_t s = 0; s < cmcf->servers.nelts; s++) {
        bw_http_core_loc_conf_t *clcf = server[s]->ctx->loc_conf[bw_http_core_module.index];
        bw_http_core_loc_conf_t *dup = NULL;

        bw_rc_t rc = bw_http_location_tree_init(cf->pool, clcf, &server[s]->named_locations,
                                                &dup);
        if (rc == BW_DECLINED) {
            bw_http_duplicate_location(cf, dup);
        }
        if (rc != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

static bw_rc_t
bw_http_postconfiguration(bw_conf_t *cf)
{
    for (size_t i = 0; bw_modules[i]; i++) {
        const bw_http_module_t *h = bw_http_module_ctx(i);
        if (h && h->postconfiguration && h->postconfiguration(cf) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/* Everything after the body was parsed; cf->ctx is the http{} ctx. */
static bw_rc_t
bw_http_block_init(bw_conf_t *cf, bw_conf_ctx_t *ctx)
{
    bw_http_core_main_conf_t *cmcf = ctx->main_conf[bw_http_core_module.index];

    for (size_t i = 0; bw_modules[i]; i++) {
        if (bw_http_module_ctx(i) && bw_http_merge_module(cf, ctx, i) != BW_OK) {
            return BW_ERROR;
        }
    }
    cf->ctx = ctx;
    if (bw_http_locations_init(cf, cmcf) != BW_OK || bw_http_phases_init(cf, cmcf) != BW_OK
        || bw_http_postconfiguration(cf) != BW_OK || bw_http_variables_init_vars(cf) != BW_OK
        || bw_http_ports_init(cf, cmcf) != BW_OK || bw_http_filters_init() != BW_OK) {
        return BW_ERROR;
    }
    return BW_OK;
}

static const char *
bw_http_block(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_conf_ctx_t *saved = cf->ctx;
    uint32_t       saved_type = cf->ctx_type;

    if (cf->cycle->conf[bw_http_module.index]) {
        return "is duplicate";
    }
    bw_conf_ctx_t *ctx = bw_pcalloc(cf->pool, sizeof(bw_conf_ctx_t));
    if (ctx == NULL || bw_http_confs_create(cf, ctx) != BW_OK) {
        return BW_CONF_ERROR;
    }
    cf->cycle->conf[bw_http_module.index] = ctx;

    cf->ctx = ctx;
    cf->ctx_type = BW_CTX_HTTP;
    bw_rc_t rc = bw_http_preconfiguration(cf);
    if (rc == BW_OK) {
        rc = bw_conf_parse(cf, NULL);
    }
    if (rc == BW_OK) {
        rc = bw_http_block_init(cf, ctx);
    }
    cf->ctx = saved;
    cf->ctx_type = saved_type;
    return rc == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}
