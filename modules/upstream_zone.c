/*
 * upstream_zone.c -- the upstream_zone module: `zone name [size]` in an
 * upstream{} block puts the group's peers (weights, failures, active
 * connections, health-check state) into a shared memory zone so that all
 * workers balance over the same state. See upstream_zone.h.
 *
 * Several groups may name the same zone; one of them must give its size
 * (`zone x;` alone is nginx's "zero size shared memory zone"). The zone is
 * filled when it is mapped, in the master before the workers fork: each
 * group's round-robin lists are copied into it and the group's
 * us->peer.data is pointed at the copy.
 */
#include "upstream_zone.h"

#include "conf.h"
#include "log.h"
#include "pool.h"
#include "upstream_rr.h"

extern bw_module_t bw_upstream_zone_module;

/* zone->data: the groups that named the zone. */
typedef struct {
    bw_array_t groups; /* bw_upstream_srv_conf_t * */
} bw_upstream_zone_ctx_t;

static const char *bw_upstream_zone_set(bw_conf_t *cf, const bw_directive_t *d, void *conf);

static const bw_directive_t bw_upstream_zone_directives[] = {
    {"zone", BW_CTX_UPS, BW_ARGS_TAKE12, BW_CONF_NONE, bw_upstream_zone_set, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_upstream_zone_module_ctx = {0};

bw_module_t bw_upstream_zone_module = {
    .name = "upstream_zone",
    .type = BW_MODULE_HTTP,
    .directives = bw_upstream_zone_directives,
    .ctx = &bw_upstream_zone_module_ctx,
};

/* Zone init (master, after mapping): moves every group's peers into the zone. */
static bw_rc_t
bw_upstream_zone_init(bw_shm_zone_t *zone, void *old_data)
{
    bw_upstream_zone_ctx_t  *ctx = zone->data;
    bw_slab_pool_t          *shpool = bw_shm_zone_pool(zone);
    bw_upstream_srv_conf_t **groups = ctx->groups.elts;
    bw_rc_t                  rc = BW_OK;

    shpool->log_nomem = false; /* reported below, in the upstream's words */
    for (size_t i = 0; i < ctx->groups.nelts; i++) {
        bw_upstream_srv_conf_t      *us = groups[i];
        bw_upstream_zone_srv_conf_t *zcf = us->srv_conf[bw_upstream_zone_module.index];
        bw_upstream_rr_peers_t      *peers = us->peer.data;
        if (zcf->zone != zone || peers == NULL || peers->shpool != NULL) {
            continue; /* a later `zone` of the block named another one, or done */
        }
        bw_upstream_rr_peers_t *shared = bw_upstream_rr_peers_share(shpool, peers);
        if (shared == NULL) {
            bw_log_error(BW_LOG_CRIT, bw_slab_log, 0,
                         "bw_slab_alloc() failed: no memory in upstream zone \"%.*s\"",
                         BW_STR_ARG(zone->name));
            rc = BW_ERROR;
            break;
        }
        us->peer.data = shared;
    }
    shpool->log_nomem = true;
    return rc;
}

static const char *
bw_upstream_zone_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_upstream_srv_conf_t *us = cf->ctx->srv_conf[bw_upstream_module.index];
    bw_str_t               *value = cf->args->elts;
    size_t                  size = 0;

    if (cf->args->nelts == 3) {
        int64_t n = bw_parse_size(&value[2]);
        if (n < 0) {
            bw_conf_error(cf, "invalid zone size \"%.*s\"", BW_STR_ARG(value[2]));
            return BW_CONF_ERROR;
        }
        if ((size_t) n < BW_SHM_ZONE_MIN_SIZE) {
            bw_conf_error(cf, "zone \"%.*s\" is too small", BW_STR_ARG(value[1]));
            return BW_CONF_ERROR;
        }
        size = (size_t) n;
    }
    bw_shm_zone_t *zone = bw_shm_zone_add(cf, &value[1], size, &bw_upstream_zone_module);
    if (zone == NULL) {
        return BW_CONF_ERROR;
    }
    if (zone->data == NULL) {
        bw_upstream_zone_ctx_t *ctx = bw_pcalloc(cf->pool, sizeof(*ctx));
        if (ctx == NULL || bw_array_init(&ctx->groups, cf->pool, 2, sizeof(void *)) != BW_OK) {
            return BW_CONF_ERROR;
        }
        zone->data = ctx;
        zone->init = bw_upstream_zone_init;
        zone->noreuse = true; /* a reload starts from the new configuration's peers */
    }
    bw_upstream_zone_ctx_t *ctx = zone->data;
    bw_upstream_srv_conf_t **slot = bw_array_push(&ctx->groups);
    bw_upstream_zone_srv_conf_t *zcf = bw_pcalloc(cf->pool, sizeof(*zcf));
    if (slot == NULL || zcf == NULL) {
        return BW_CONF_ERROR;
    }
    *slot = us;
    zcf->zone = zone;
    cf->ctx->srv_conf[bw_upstream_zone_module.index] = zcf;
    return BW_CONF_OK;
}
