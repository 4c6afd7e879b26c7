/*
 * realip.c -- the realip module: when a request comes from a trusted
 * address (`set_real_ip_from`), the client address (and port) of the
 * request become those sent in a header (`real_ip_header`): X-Real-IP by
 * default, X-Forwarded-For, or any named field. With `real_ip_recursive on`
 * the chosen address is the rightmost one that is not itself trusted.
 *
 * The change is made on the connection (sockaddr, socklen, addr_text) so
 * that $remote_addr, allow/deny, logs and the error log's "client:" all see
 * it, and a cleanup on the request pool puts the original back when the
 * request ends (keep-alive requests start from the real peer again).
 * $realip_remote_addr / $realip_remote_port keep the original peer.
 *
 * The handler runs in the post-read phase (server-level settings) and again
 * in the pre-access phase (a location's own settings); the first one that
 * changes the address wins. `real_ip_header proxy_protocol` is accepted,
 * but bulwark does not read PROXY protocol headers yet: it changes nothing.
 */
#include "cidr.h"
#include "core_module.h"
#include "pool.h"
#include "variables.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    BW_REALIP_X_REAL_IP = 0,
    BW_REALIP_X_FORWARDED_FOR,
    BW_REALIP_HEADER,         /* any other field, by name */
    BW_REALIP_PROXY_PROTOCOL, /* accepted; not available yet */
} bw_realip_type_t;

typedef struct {
    bw_array_t *from;      /* bw_cidr_t; NULL: none at this level */
    bw_uint_t   type;      /* bw_realip_type_t; BW_CONF_UNSET_UINT until set */
    bw_str_t    header;    /* the field name for BW_REALIP_HEADER */
    bw_int_t    recursive; /* flag */
} bw_realip_loc_conf_t;

/* What the request replaced: the connection's original peer (pool cleanup data). */
typedef struct {
    bw_connection_t *connection;
    struct sockaddr *sockaddr;
    socklen_t        socklen;
    bw_str_t         addr_text;
} bw_realip_ctx_t;

static bw_int_t bw_realip_handler(bw_http_request_t *r);
static bw_rc_t bw_realip_add_variables(bw_conf_t *cf);
static const char *bw_realip_set_from(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_realip_set_header(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static void *bw_realip_create_loc(bw_conf_t *cf);
static const char *bw_realip_merge_loc(bw_conf_t *cf, void *prev, void *conf);

#define BW_REALIP_WHERE (BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC)

static const bw_directive_t bw_realip_directives[] = {
    {"set_real_ip_from", BW_REALIP_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC, bw_realip_set_from, 0,
     NULL},
    {"real_ip_header", BW_REALIP_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC, bw_realip_set_header, 0,
     NULL},
    {"real_ip_recursive", BW_REALIP_WHERE, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     offsetof(bw_realip_loc_conf_t, recursive), NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_phase_hook_t bw_realip_phases[] = {
    {BW_HTTP_POST_READ_PHASE, bw_realip_handler},
    {BW_HTTP_PREACCESS_PHASE, bw_realip_handler},
    {0, NULL},
};

static const bw_http_module_t bw_realip_module_ctx = {
    .preconfiguration = bw_realip_add_variables,
    .create_loc = bw_realip_create_loc,
    .merge_loc = bw_realip_merge_loc,
    .phases = bw_realip_phases,
};

bw_module_t bw_realip_module = {
    .name = "realip",
    .type = BW_MODULE_HTTP,
    .directives = bw_realip_directives,
    .ctx = &bw_realip_module_ctx,
};

/* ---- request time ---- */

static void
bw_realip_cleanup(void *data)
{
    bw_realip_ctx_t *ctx = data;
    bw_connection_t *c = ctx->connection;

    c->sockaddr = ctx->sockaddr;
    c->socklen = ctx->socklen;
    c->addr_text = ctx->addr_text;
}

/*
 * The request's saved original peer, or NULL when the address was not
 * changed. An internal redirect may clear r->ctx, so the pool cleanup that
 * holds the same data is the authority.
 */
static bw_realip_ctx_t *
bw_realip_ctx_find(bw_http_request_t *r)
{
    bw_realip_ctx_t *ctx = r->ctx ? bw_http_get_ctx(r, bw_realip_module) : NULL;
    if (ctx) {
        return ctx;
    }
    for (bw_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == bw_realip_cleanup) {
            ctx = cln->data;
            if (r->ctx) {
                bw_http_set_ctx(r, ctx, bw_realip_module);
            }
            return ctx;
        }
    }
    return NULL;
}

/* Makes `ss` the request's client address; the cleanup restores the original. */
static bw_int_t
bw_realip_addr_set(bw_http_request_t *r, const struct sockaddr_storage *ss, socklen_t socklen)
{
    bw_connection_t *c = r->connection;
    u_char           text[BW_SOCKADDR_STRLEN];
    size_t           len = bw_sockaddr_text((const struct sockaddr *) ss, socklen, text,
                                            sizeof(text), false);
    struct sockaddr *sa = bw_palloc(r->pool, socklen);
    u_char          *p = bw_pnalloc(r->pool, len + 1);
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(r->pool, sizeof(bw_realip_ctx_t));

    if (len == 0 || sa == NULL || p == NULL || cln == NULL) {
        return BW_ERROR;
    }
    memcpy(sa, ss, socklen);
    memcpy(p, text, len + 1);

    bw_realip_ctx_t *ctx = cln->data;
    ctx->connection = c;
    ctx->sockaddr = c->sockaddr;
    ctx->socklen = c->socklen;
    ctx->addr_text = c->addr_text;
    cln->handler = bw_realip_cleanup;
    if (r->ctx) {
        bw_http_set_ctx(r, ctx, bw_realip_module);
    }
    c->sockaddr = sa;
    c->socklen = socklen;
    c->addr_text.data = p;
    c->addr_text.len = len;
    return BW_DECLINED;
}

/*
 * The last address of [start, *end): skips trailing separators (',' and
 * ' '), returns the token and moves *end to its start. False when only
 * separators are left.
 */
static bool
bw_realip_token_last(const u_char *start, const u_char **end, bw_str_t *token)
{
    const u_char *last = *end, *p;

    while (last > start && (last[-1] == ',' || last[-1] == ' ')) {
        last--;
    }
    if (last == start) {
        return false;
    }
    p = last;
    while (p > start && p[-1] != ',' && p[-1] != ' ') {
        p--;
    }
    token->data = (u_char *) p;
    token->len = (size_t) (last - p);
    *end = p;
    return true;
}

/* The header values to read addresses from, in received order; returns how many. */
static size_t
bw_realip_values(bw_http_request_t *r, const bw_realip_loc_conf_t *rlcf,
                 const bw_str_t **values, size_t max)
{
    size_t n = 0;

    switch (rlcf->type) {
    case BW_REALIP_X_REAL_IP:
        if (r->headers_in.x_real_ip) {
            values[n++] = &r->headers_in.x_real_ip->value;
        }
        break;
    case BW_REALIP_X_FORWARDED_FOR:
        for (bw_http_header_t *h = r->headers_in.x_forwarded_for; h && n < max; h = h->next) {
            values[n++] = &h->value;
        }
        break;
    case BW_REALIP_HEADER: {
        bw_http_header_t *h = bw_http_find_header_in(r, &rlcf->header);
        if (h) {
            values[n++] = &h->value;
        }
        break;
    }
    default:
        break;
    }
    return n;
}

#define BW_REALIP_VALUES_MAX 64

/*
 * Scans the addresses of the header values right to left: the last one
 * wins, or with `recursive` the first (from the right) that is not
 * trusted; when every one is trusted, the leftmost. A token that is not an
 * address stops the scan: the last good one is used, if there was one.
 */
static bw_int_t
bw_realip_handler(bw_http_request_t *r)
{
    bw_realip_loc_conf_t   *rlcf = bw_http_get_loc_conf(r, bw_realip_module);
    bw_connection_t        *c = r->connection;
    const bw_str_t         *values[BW_REALIP_VALUES_MAX];
    struct sockaddr_storage ss, token_ss;
    socklen_t               socklen = 0, token_len;
    bool                    found = false;

    if (rlcf->from == NULL || c->sockaddr == NULL || bw_realip_ctx_find(r) != NULL
        || !bw_cidr_match_any(rlcf->from->elts, rlcf->from->nelts, c->sockaddr)) {
        return BW_DECLINED;
    }
    size_t n = bw_realip_values(r, rlcf, values, BW_REALIP_VALUES_MAX);
    if (n && !rlcf->recursive) {
        values[0] = values[n - 1]; /* only the last field counts */
        n = 1;
    }
    for (size_t i = n; i-- > 0;) {
        const u_char *end = values[i]->data + values[i]->len;
        bw_str_t      token;
        while (bw_realip_token_last(values[i]->data, &end, &token)) {
            if (!bw_cidr_sockaddr_parse(token.data, token.len, &token_ss, &token_len)) {
                goto done;
            }
            ss = token_ss;
            socklen = token_len;
            found = true;
            if (!rlcf->recursive
                || !bw_cidr_match_any(rlcf->from->elts, rlcf->from->nelts,
                                      (struct sockaddr *) &ss)) {
                goto done;
            }
        }
        if (!rlcf->recursive) {
            break;
        }
    }
done:
    return found ? bw_realip_addr_set(r, &ss, socklen) : BW_DECLINED;
}

/* ---- variables ---- */

static bw_rc_t
bw_realip_var_addr(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_realip_ctx_t *ctx = bw_realip_ctx_find(r);
    const bw_str_t  *text = ctx ? &ctx->addr_text : &r->connection->addr_text;

    v->data = text->data;
    v->len = text->len;
    return BW_OK;
}

static bw_rc_t
bw_realip_var_port(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_realip_ctx_t       *ctx = bw_realip_ctx_find(r);
    const struct sockaddr *sa = ctx ? ctx->sockaddr : r->connection->sockaddr;
    unsigned               port = 0;

    if (sa && sa->sa_family == AF_INET) {
        port = ntohs(((const struct sockaddr_in *) sa)->sin_port);
    } else if (sa && sa->sa_family == AF_INET6) {
        port = ntohs(((const struct sockaddr_in6 *) sa)->sin6_port);
    }
    v->data = bw_pnalloc(r->pool, sizeof("65535"));
    if (v->data == NULL) {
        return BW_ERROR;
    }
    v->len = port ? (size_t) snprintf((char *) v->data, sizeof("65535"), "%u", port) : 0;
    return BW_OK;
}

static const bw_http_variable_def_t bw_realip_variables[] = {
    {"realip_remote_addr", bw_realip_var_addr, NULL, 0, 0},
    {"realip_remote_port", bw_realip_var_port, NULL, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

static bw_rc_t
bw_realip_add_variables(bw_conf_t *cf)
{
    return bw_http_add_variables(cf, bw_realip_variables);
}

/* ---- configuration ---- */

static bw_cidr_t *
bw_realip_from_push(bw_conf_t *cf, bw_realip_loc_conf_t *rlcf)
{
    if (rlcf->from == NULL) {
        rlcf->from = bw_array_create(cf->pool, 4, sizeof(bw_cidr_t));
        if (rlcf->from == NULL) {
            return NULL;
        }
    }
    return bw_array_push(rlcf->from);
}

/* A host name: every address it resolves to is trusted (as nginx does). */
static const char *
bw_realip_set_from_host(bw_conf_t *cf, bw_realip_loc_conf_t *rlcf, const bw_str_t *arg)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;

    if (getaddrinfo((const char *) arg->data, NULL, &hints, &res) != 0) {
        bw_conf_error(cf, "host not found in set_real_ip_from \"%.*s\"", BW_STR_ARG(*arg));
        return BW_CONF_ERROR;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        bw_cidr_t cidr;
        if (bw_cidr_from_sockaddr(ai->ai_addr, &cidr) != BW_OK) {
            continue;
        }
        bw_cidr_t *slot = bw_realip_from_push(cf, rlcf);
        if (slot == NULL) {
            freeaddrinfo(res);
            return BW_CONF_ERROR;
        }
        *slot = cidr;
    }
    freeaddrinfo(res);
    return BW_CONF_OK;
}

static const char *
bw_realip_set_from(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_realip_loc_conf_t *rlcf = conf;
    bw_str_t             *arg = &((bw_str_t *) cf->args->elts)[1];
    bw_cidr_t             cidr;

    bw_rc_t rc = bw_cidr_parse(arg, &cidr);
    if (rc == BW_ERROR) {
        return bw_realip_set_from_host(cf, rlcf, arg);
    }
    if (rc == BW_DONE) {
        bw_conf_log(cf, BW_LOG_WARN, 0, "low address bits of %.*s are meaningless",
                    BW_STR_ARG(*arg));
    }
    bw_cidr_t *slot = bw_realip_from_push(cf, rlcf);
    if (slot == NULL) {
        return BW_CONF_ERROR;
    }
    *slot = cidr;
    return BW_CONF_OK;
}

static const char *
bw_realip_set_header(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_realip_loc_conf_t *rlcf = conf;
    bw_str_t             *arg = &((bw_str_t *) cf->args->elts)[1];

    if (rlcf->type != BW_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    /* Names compare exactly, as nginx does: "x-forwarded-for" is just a field. */
    if (bw_str_eq_lit(arg, "X-Real-IP")) {
        rlcf->type = BW_REALIP_X_REAL_IP;
    } else if (bw_str_eq_lit(arg, "X-Forwarded-For")) {
        rlcf->type = BW_REALIP_X_FORWARDED_FOR;
    } else if (bw_str_eq_lit(arg, "proxy_protocol")) {
        rlcf->type = BW_REALIP_PROXY_PROTOCOL;
        bw_conf_log(cf, BW_LOG_WARN, 0, "\"real_ip_header proxy_protocol\" is not supported "
                    "yet: the client address will not be changed");
    } else {
        rlcf->type = BW_REALIP_HEADER;
        rlcf->header = *arg;
    }
    return BW_CONF_OK;
}

static void *
bw_realip_create_loc(bw_conf_t *cf)
{
    bw_realip_loc_conf_t *rlcf = bw_pcalloc(cf->pool, sizeof(bw_realip_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }
    rlcf->type = BW_CONF_UNSET_UINT;
    rlcf->recursive = BW_CONF_UNSET;
    return rlcf;
}

static const char *
bw_realip_merge_loc(bw_conf_t *cf, void *prev, void *conf)
{
    bw_realip_loc_conf_t *parent = prev, *rlcf = conf;

    if (rlcf->from == NULL) {
        rlcf->from = parent->from;
    }
    if (rlcf->type == BW_CONF_UNSET_UINT) {
        rlcf->type = parent->type == BW_CONF_UNSET_UINT ? BW_REALIP_X_REAL_IP : parent->type;
        rlcf->header = parent->header;
    }
    bw_conf_merge_value(rlcf->recursive, parent->recursive, 0);
    return BW_CONF_OK;
}
