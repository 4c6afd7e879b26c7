/*
 * access.c -- the access module: `allow` and `deny` rules on the client
 * address, checked in the access phase in the order written; the first
 * rule that matches decides. A level without rules inherits its parent's.
 *
 * The client address is the connection's, as the realip module may have
 * replaced it for this request. As nginx does, an IPv4-mapped IPv6 client
 * (::ffff:a.b.c.d) is checked as the IPv4 address it carries whenever the
 * level has an IPv4 rule (or `all`), otherwise against the IPv6 rules.
 * Whether a denial ends the request or another access module may still
 * admit it (`satisfy any`) is the phase engine's business; this module only
 * logs "access forbidden by rule" when `satisfy all` is in force.
 */
#include "cidr.h"
#include "core_module.h"
#include "pool.h"

#include <string.h>

/* One rule; a cidr of family AF_UNSPEC stands for `all`. */
typedef struct {
    bw_cidr_t cidr;
    bool      deny;
} bw_access_rule_t;

typedef struct {
    bw_array_t *rules;    /* bw_access_rule_t in config order; NULL: none at this level */
    bool        has_inet; /* an IPv4 rule or `all` is among them */
} bw_access_loc_conf_t;

static bw_int_t bw_access_handler(bw_http_request_t *r);
static const char *bw_access_set_rule(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static void *bw_access_create_loc(bw_conf_t *cf);
static const char *bw_access_merge_loc(bw_conf_t *cf, void *prev, void *conf);

#define BW_ACCESS_WHERE (BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC | BW_CTX_LMT)

static const bw_directive_t bw_access_directives[] = {
    {"allow", BW_ACCESS_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC, bw_access_set_rule, 0, NULL},
    {"deny", BW_ACCESS_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC, bw_access_set_rule, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_phase_hook_t bw_access_phases[] = {
    {BW_HTTP_ACCESS_PHASE, bw_access_handler},
    {0, NULL},
};

static const bw_http_module_t bw_access_module_ctx = {
    .create_loc = bw_access_create_loc,
    .merge_loc = bw_access_merge_loc,
    .phases = bw_access_phases,
};

bw_module_t bw_access_module = {
    .name = "access",
    .type = BW_MODULE_HTTP,
    .directives = bw_access_directives,
    .ctx = &bw_access_module_ctx,
};

/* ---- request time ---- */

static const bw_access_rule_t *
bw_access_rule_find(const bw_access_loc_conf_t *alcf, const struct sockaddr *sa)
{
    struct sockaddr_in sin;
    uint32_t           v4;

    if (alcf->has_inet && bw_cidr_sockaddr_v4mapped(sa, &v4)) {
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = v4;
        sa = (const struct sockaddr *) &sin;
    }
    const bw_access_rule_t *rule = alcf->rules->elts;
    for (size_t i = 0; i < alcf->rules->nelts; i++) {
        if (rule[i].cidr.family == AF_UNSPEC || bw_cidr_match(&rule[i].cidr, sa)) {
            return &rule[i];
        }
    }
    return NULL;
}

/* DECLINED: no rule matched; OK: allowed; 403: denied. */
static bw_int_t
bw_access_handler(bw_http_request_t *r)
{
    bw_access_loc_conf_t *alcf = bw_http_get_loc_conf(r, bw_access_module);

    if (alcf->rules == NULL || r->connection->sockaddr == NULL) {
        return BW_DECLINED;
    }
    const bw_access_rule_t *rule = bw_access_rule_find(alcf, r->connection->sockaddr);
    if (rule == NULL) {
        return BW_DECLINED;
    }
    if (!rule->deny) {
        return BW_OK;
    }
    if (bw_http_core_loc(r)->satisfy == 0) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "access forbidden by rule");
    }
    return 403;
}

/* ---- configuration ---- */

static const char *
bw_access_set_rule(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_access_loc_conf_t *alcf = conf;
    bw_str_t             *arg = &((bw_str_t *) cf->args->elts)[1];
    bw_access_rule_t      rule;

    memset(&rule, 0, sizeof(rule));
    rule.deny = d->name[0] == 'd';
    if (!bw_str_eq_lit(arg, "all")) {
        bw_rc_t rc = bw_cidr_parse(arg, &rule.cidr);
        if (rc == BW_ERROR) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(*arg));
            return BW_CONF_ERROR;
        }
        if (rc == BW_DONE) {
            bw_conf_log(cf, BW_LOG_WARN, 0, "low address bits of %.*s are meaningless",
                        BW_STR_ARG(*arg));
        }
    }
    if (alcf->rules == NULL) {
        alcf->rules = bw_array_create(cf->pool, 4, sizeof(bw_access_rule_t));
    }
    bw_access_rule_t *slot = alcf->rules ? bw_array_push(alcf->rules) : NULL;
    if (slot == NULL) {
        return BW_CONF_ERROR;
    }
    *slot = rule;
    if (rule.cidr.family == AF_INET || rule.cidr.family == AF_UNSPEC) {
        alcf->has_inet = true;
    }
    return BW_CONF_OK;
}

static void *
bw_access_create_loc(bw_conf_t *cf)
{
    return bw_pcalloc(cf->pool, sizeof(bw_access_loc_conf_t));
}

static const char *
bw_access_merge_loc(bw_conf_t *cf, void *prev, void *conf)
{
    bw_access_loc_conf_t *parent = prev, *alcf = conf;

    if (alcf->rules == NULL) {
        alcf->rules = parent->rules;
        alcf->has_inet = parent->has_inet;
    }
    return BW_CONF_OK;
}
