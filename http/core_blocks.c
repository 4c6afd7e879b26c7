/*
 * core_blocks.c -- the block directives of the http core: server{},
 * location{}, limit_except{}, types{}, and the location-like configuration
 * the rewrite module's if{} blocks get (core_module.h).
 *
 * Each block creates the configuration structs of every HTTP module for its
 * level, parses its body with cf->ctx pointing at them, and records itself
 * where http.c will merge it (cmcf->servers, or the enclosing location's
 * children in location.h's tree).
 */
#include "core_internal.h"

#include "location.h"
#include "pool.h"
#include "variables.h"

#include <strings.h>

/* Creates every HTTP module's server (when `srv`) and location confs in ctx. */
static bw_rc_t
bw_http_core_confs_create(bw_conf_t *cf, bw_conf_ctx_t *ctx, bool srv)
{
    if (srv) {
        ctx->srv_conf = bw_pcalloc(cf->pool, (bw_modules_n + 1) * sizeof(void *));
        if (ctx->srv_conf == NULL) {
            return BW_ERROR;
        }
    }
    ctx->loc_conf = bw_pcalloc(cf->pool, (bw_modules_n + 1) * sizeof(void *));
    if (ctx->loc_conf == NULL) {
        return BW_ERROR;
    }
    for (size_t i = 0; bw_modules[i]; i++) {
        const bw_module_t      *m = bw_modules[i];
        const bw_http_module_t *h = m->ctx;

        if (m->type != BW_MODULE_HTTP || h == NULL) {
            continue;
        }
        if (srv && h->create_srv) {
            ctx->srv_conf[m->index] = h->create_srv(cf);
            if (ctx->srv_conf[m->index] == NULL) {
                return BW_ERROR;
            }
        }
        if (h->create_loc) {
            ctx->loc_conf[m->index] = h->create_loc(cf);
            if (ctx->loc_conf[m->index] == NULL) {
                return BW_ERROR;
            }
        }
    }
    return BW_OK;
}

/* A new ctx below cf->ctx with fresh location confs (and server confs when `srv`). */
static bw_conf_ctx_t *
bw_http_core_ctx_create(bw_conf_t *cf, bool srv)
{
    bw_conf_ctx_t *ctx = bw_pcalloc(cf->pool, sizeof(bw_conf_ctx_t));

    if (ctx == NULL) {
        return NULL;
    }
    ctx->main_conf = cf->ctx->main_conf;
    ctx->srv_conf = cf->ctx->srv_conf;
    if (bw_http_core_confs_create(cf, ctx, srv) != BW_OK) {
        return NULL;
    }
    return ctx;
}

const char *
bw_http_core_block_parse(bw_conf_t *cf, bw_conf_ctx_t *ctx, uint32_t ctx_type)
{
    bw_conf_ctx_t *saved = cf->ctx;
    uint32_t       saved_type = cf->ctx_type;

    cf->ctx = ctx;
    cf->ctx_type = ctx_type;
    bw_rc_t rc = bw_conf_parse(cf, NULL);
    cf->ctx = saved;
    cf->ctx_type = saved_type;
    return rc == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}

/* ---- server ---- */

const char *
bw_http_core_server(bw_conf_t *cf, const bw_directive_t *d, void *dummy)
{
    bw_conf_ctx_t *ctx = bw_http_core_ctx_create(cf, true);
    if (ctx == NULL) {
        return BW_CONF_ERROR;
    }
    bw_http_core_main_conf_t *cmcf = ctx->main_conf[bw_http_core_module.index];
    bw_http_core_srv_conf_t  *cscf = ctx->srv_conf[bw_http_core_module.index];
    bw_http_core_loc_conf_t  *clcf = ctx->loc_conf[bw_http_core_module.index];

    cscf->ctx = ctx;
    clcf->loc_conf = ctx->loc_conf;
    clcf->server = cscf;

    bw_http_core_srv_conf_t **slot = bw_array_push(&cmcf->servers);
    if (slot == NULL) {
        return BW_CONF_ERROR;
    }
    *slot = cscf;

    const char *rv = bw_http_core_block_parse(cf, ctx, BW_CTX_SRV);
    if (rv == BW_CONF_OK && !cscf->listen_set
        && bw_http_core_listen_default(cf, cscf) != BW_OK) {
        return BW_CONF_ERROR;
    }
    return rv;
}

/* ---- location ---- */

/* Reads "[= | ^~ | ~ | ~*] uri" or "@name" into clcf (name, flags, regex). */
static const char *
bw_http_core_location_name(bw_conf_t *cf, bw_http_core_loc_conf_t *clcf)
{
    bw_str_t *value = cf->args->elts;
    bw_str_t  name;
    int       regex = 0; /* 1: "~", 2: "~*" */

    if (cf->args->nelts == 3) {
        bw_str_t *mod = &value[1];

        name = value[2];
        if (bw_str_eq_lit(mod, "=")) {
            clcf->exact_match = true;
        } else if (bw_str_eq_lit(mod, "^~")) {
            clcf->noregex = true;
        } else if (bw_str_eq_lit(mod, "~")) {
            regex = 1;
        } else if (bw_str_eq_lit(mod, "~*")) {
            regex = 2;
        } else {
            bw_conf_error(cf, "invalid location modifier \"%.*s\"", BW_STR_ARG(*mod));
            return BW_CONF_ERROR;
        }
    } else {
        /* The modifier may be glued to the URI: "=/x", "^~/x", "~\.php$", "~*\.jpg$". */
        name = value[1];
        const u_char *p = name.data;
        if (name.len >= 1 && p[0] == '=') {
            clcf->exact_match = true;
            name.data++, name.len--;
        } else if (name.len >= 2 && p[0] == '^' && p[1] == '~') {
            clcf->noregex = true;
            name.data += 2, name.len -= 2;
        } else if (name.len >= 1 && p[0] == '~') {
            regex = (name.len >= 2 && p[1] == '*') ? 2 : 1;
            name.data += regex, name.len -= (size_t) regex;
        } else if (name.len >= 1 && p[0] == '@') {
            clcf->named = true;
        }
    }
    clcf->name = name;
    if (regex) {
        clcf->regex_caseless = regex == 2;
        clcf->regex = bw_http_regex_compile(cf, &name, clcf->regex_caseless);
        if (clcf->regex == NULL) {
            return BW_CONF_ERROR;
        }
    }
    return BW_CONF_OK;
}

/* nginx's restrictions on nesting; NULL when clcf may live inside pclcf. */
static const char *
bw_http_core_location_nesting(bw_conf_t *cf, bw_http_core_loc_conf_t *pclcf,
                              bw_http_core_loc_conf_t *clcf)
{
    if (pclcf->name.data == NULL) {
        return BW_CONF_OK; /* directly in a server */
    }
    if (pclcf->exact_match) {
        bw_conf_error(cf, "location \"%.*s\" cannot be inside the exact location \"%.*s\"",
                      BW_STR_ARG(clcf->name), BW_STR_ARG(pclcf->name));
        return BW_CONF_ERROR;
    }
    if (pclcf->named) {
        bw_conf_error(cf, "location \"%.*s\" cannot be inside the named location \"%.*s\"",
                      BW_STR_ARG(clcf->name), BW_STR_ARG(pclcf->name));
        return BW_CONF_ERROR;
    }
    if (clcf->named) {
        bw_conf_error(cf, "named location \"%.*s\" can be on the server level only",
                      BW_STR_ARG(clcf->name));
        return BW_CONF_ERROR;
    }
    /* A nested prefix must extend its parent's name (even a regex parent's text). */
    if (clcf->regex == NULL
        && (clcf->name.len < pclcf->name.len
            || memcmp(clcf->name.data, pclcf->name.data, pclcf->name.len) != 0)) {
        bw_conf_error(cf, "location \"%.*s\" is outside location \"%.*s\"",
                      BW_STR_ARG(clcf->name), BW_STR_ARG(pclcf->name));
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

const char *
bw_http_core_location(bw_conf_t *cf, const bw_directive_t *d, void *dummy)
{
    bw_http_core_loc_conf_t *pclcf = cf->ctx->loc_conf[bw_http_core_module.index];
    bw_conf_ctx_t           *ctx = bw_http_core_ctx_create(cf, false);

    if (ctx == NULL) {
        return BW_CONF_ERROR;
    }
    bw_http_core_loc_conf_t *clcf = ctx->loc_conf[bw_http_core_module.index];
    clcf->loc_conf = ctx->loc_conf;
    clcf->server = pclcf->server;
    clcf->line = cf->file->line;
    if (bw_pstrcopy(cf->pool, &clcf->file_name, &cf->file->name) != BW_OK) {
        return BW_CONF_ERROR;
    }
    if (bw_http_core_location_name(cf, clcf) != BW_CONF_OK
        || bw_http_core_location_nesting(cf, pclcf, clcf) != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    if (bw_http_location_add(cf->pool, pclcf, clcf) != BW_OK) {
        return BW_CONF_ERROR;
    }
    return bw_http_core_block_parse(cf, ctx, BW_CTX_LOC);
}

/* ---- limit_except ---- */

static const struct {
    const char *name;
    bw_uint_t   mask;
} bw_http_core_methods[] = {
    {"GET", BW_HTTP_GET | BW_HTTP_HEAD},
    {"HEAD", BW_HTTP_HEAD},
    {"POST", BW_HTTP_POST},
    {"PUT", BW_HTTP_PUT},
    {"DELETE", BW_HTTP_DELETE},
    {"MKCOL", BW_HTTP_MKCOL},
    {"COPY", BW_HTTP_COPY},
    {"MOVE", BW_HTTP_MOVE},
    {"OPTIONS", BW_HTTP_OPTIONS},
    {"PROPFIND", BW_HTTP_PROPFIND},
    {"PROPPATCH", BW_HTTP_PROPPATCH},
    {"LOCK", BW_HTTP_LOCK},
    {"UNLOCK", BW_HTTP_UNLOCK},
    {"PATCH", BW_HTTP_PATCH},
};

/*
 * limit_except METHOD... { allow/deny/auth... }: a request whose method is
 * not listed gets the block's configuration (the access module's rules
 * apply); GET allows HEAD too. clcf->limit_except keeps the allowed mask.
 */
const char *
bw_http_core_limit_except(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *pclcf = conf;
    bw_str_t                *value = cf->args->elts;
    bw_uint_t                allowed = 0;

    if (pclcf->limit_except) {
        return "is duplicate";
    }
    for (size_t i = 1; i < cf->args->nelts; i++) {
        size_t m = 0;
        while (m < bw_nelems(bw_http_core_methods)
               && !(strlen(bw_http_core_methods[m].name) == value[i].len
                    && strncasecmp(bw_http_core_methods[m].name, (char *) value[i].data,
                                   value[i].len) == 0)) {
            m++;
        }
        if (m == bw_nelems(bw_http_core_methods)) {
            bw_conf_error(cf, "invalid method \"%.*s\"", BW_STR_ARG(value[i]));
            return BW_CONF_ERROR;
        }
        allowed |= bw_http_core_methods[m].mask;
    }

    bw_conf_ctx_t *ctx = bw_http_core_ctx_create(cf, false);
    if (ctx == NULL) {
        return BW_CONF_ERROR;
    }
    bw_http_core_loc_conf_t *clcf = ctx->loc_conf[bw_http_core_module.index];
    clcf->loc_conf = ctx->loc_conf;
    clcf->name = pclcf->name;
    clcf->noname = true;
    clcf->lmt_excpt = true;
    clcf->server = pclcf->server;
    pclcf->limit_except = allowed;
    pclcf->limit_except_loc_conf = ctx->loc_conf;
    if (bw_http_location_add(cf->pool, pclcf, clcf) != BW_OK) {
        return BW_CONF_ERROR;
    }
    return bw_http_core_block_parse(cf, ctx, BW_CTX_LMT);
}

/* ---- if (for the rewrite module) ---- */

bw_conf_ctx_t *
bw_http_core_if_ctx_create(bw_conf_t *cf)
{
    bw_http_core_loc_conf_t *pclcf = cf->ctx->loc_conf[bw_http_core_module.index];
    bw_conf_ctx_t           *ctx = bw_http_core_ctx_create(cf, false);

    if (ctx == NULL) {
        return NULL;
    }
    bw_http_core_loc_conf_t *clcf = ctx->loc_conf[bw_http_core_module.index];
    clcf->loc_conf = ctx->loc_conf;
    clcf->name = pclcf->name;
    clcf->noname = true;
    clcf->server = pclcf->server;
    if (bw_http_location_add(cf->pool, pclcf, clcf) != BW_OK) {
        return NULL;
    }
    return ctx;
}

const char *
bw_http_core_if_block(bw_conf_t *cf, void ***loc_conf)
{
    uint32_t type = (cf->ctx_type & BW_CTX_SRV) ? BW_CTX_SIF : BW_CTX_LIF;

    *loc_conf = NULL;
    bw_conf_ctx_t *ctx = bw_http_core_if_ctx_create(cf);
    if (ctx == NULL) {
        return BW_CONF_ERROR;
    }
    *loc_conf = ctx->loc_conf;
    return bw_http_core_block_parse(cf, ctx, type);
}

/* ---- types ---- */

/* One "type ext ext...;" statement of a types{} block (or an include). */
static const char *
bw_http_core_type(bw_conf_t *cf, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = cf->args->elts;

    if (bw_str_eq_lit(&value[0], "include")) {
        if (cf->args->nelts != 2) {
            bw_conf_error(cf, "invalid number of arguments in \"include\" directive");
            return BW_CONF_ERROR;
        }
        return bw_conf_core_directives[0].set(cf, &bw_conf_core_directives[0], NULL);
    }
    bw_str_t type = value[0];
    for (size_t i = 1; i < cf->args->nelts; i++) {
        bw_str_t     ext = value[i];
        bw_keyval_t *kv = clcf->types_keys->elts;
        size_t       n = 0;

        bw_strlow(ext.data, ext.data, ext.len); /* args are ours to change */
        while (n < clcf->types_keys->nelts && !bw_str_eq(&kv[n].key, &ext)) {
            n++;
        }
        if (n < clcf->types_keys->nelts) {
            bw_conf_log(cf, BW_LOG_WARN, 0,
                        "duplicate extension \"%.*s\", content type: \"%.*s\", "
                        "previous content type: \"%.*s\"",
                        BW_STR_ARG(ext), BW_STR_ARG(type), BW_STR_ARG(kv[n].value));
            kv[n].value = type;
            continue;
        }
        kv = bw_array_push(clcf->types_keys);
        if (kv == NULL) {
            return BW_CONF_ERROR;
        }
        kv->key = ext;
        kv->value = type;
    }
    return BW_CONF_OK;
}

const char *
bw_http_core_types(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;

    if (clcf->types_keys == NULL) {
        clcf->types_keys = bw_array_create(cf->pool, 64, sizeof(bw_keyval_t));
        if (clcf->types_keys == NULL) {
            return BW_CONF_ERROR;
        }
    }
    bw_conf_handler_fn saved = cf->handler;
    void              *saved_conf = cf->handler_conf;

    cf->handler = bw_http_core_type;
    cf->handler_conf = clcf;
    bw_rc_t rc = bw_conf_parse(cf, NULL);
    cf->handler = saved;
    cf->handler_conf = saved_conf;
    return rc == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}
