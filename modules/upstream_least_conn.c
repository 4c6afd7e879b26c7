/*
 * upstream_least_conn.c -- the upstream_least_conn module: `least_conn` in
 * an upstream{} block passes each request to the peer with the fewest
 * active connections relative to its weight (conns / weight); peers that
 * tie are taken in turn by the smooth weighted round-robin. Backup peers
 * are used, the same way, once no primary peer is usable.
 *
 * Connections are counted per worker, or across all workers when the group
 * has a `zone`. Failure accounting and release are round-robin's.
 */
#include "clock.h"
#include "conf.h"
#include "log.h"
#include "pool.h"
#include "upstream_rr.h"

extern bw_module_t bw_upstream_least_conn_module;

static const char *bw_upstream_least_conn_set(bw_conf_t *cf, const bw_directive_t *d,
                                              void *conf);

static const bw_directive_t bw_upstream_least_conn_directives[] = {
    {"least_conn", BW_CTX_UPS, BW_ARGS_NOARGS, BW_CONF_NONE, bw_upstream_least_conn_set, 0,
     NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_upstream_least_conn_module_ctx = {0};

bw_module_t bw_upstream_least_conn_module = {
    .name = "upstream_least_conn",
    .type = BW_MODULE_HTTP,
    .directives = bw_upstream_least_conn_directives,
    .ctx = &bw_upstream_least_conn_module_ctx,
};

/* True when a has fewer connections per unit of weight than b. */
static bool
bw_upstream_least_conn_less(const bw_upstream_rr_peer_t *a, const bw_upstream_rr_peer_t *b)
{
    return (uint64_t) a->conns * (uint64_t) b->weight < (uint64_t) b->conns * (uint64_t) a->weight;
}

static bool
bw_upstream_least_conn_same(const bw_upstream_rr_peer_t *a, const bw_upstream_rr_peer_t *b)
{
    return (uint64_t) a->conns * (uint64_t) b->weight == (uint64_t) b->conns * (uint64_t) a->weight;
}

/*
 * The pick from rrp's current list: the usable untried peer with the least
 * conns/weight; among several such, the smooth weighted round-robin one.
 * NULL when no peer is usable.
 */
static bw_upstream_rr_peer_t *
bw_upstream_least_conn_pick(bw_upstream_rr_peer_data_t *rrp, bw_uint_t *index)
{
    bw_upstream_rr_peers_t *peers = rrp->peers;
    bw_upstream_rr_peer_t  *best = NULL;
    bw_uint_t               i = 0, best_i = 0, many = 0;
    time_t                  now = bw_time.sec;

    for (bw_upstream_rr_peer_t *p = peers->peer; p; p = p->next, i++) {
        if (bw_upstream_rr_is_tried(rrp, i) || !bw_upstream_rr_peer_eligible(p, now)) {
            continue;
        }
        if (best == NULL || bw_upstream_least_conn_less(p, best)) {
            best = p;
            best_i = i;
            many = 0;
        } else if (bw_upstream_least_conn_same(p, best)) {
            many++;
        }
    }
    if (best == NULL || many == 0) {
        *index = best_i;
        return best;
    }

    /* several peers share the least load: weighted round-robin among them */
    bw_upstream_rr_peer_t *least = best, *pick = NULL;
    bw_int_t               total = 0;
    i = 0;
    for (bw_upstream_rr_peer_t *p = peers->peer; p; p = p->next, i++) {
        if (bw_upstream_rr_is_tried(rrp, i) || !bw_upstream_rr_peer_eligible(p, now)
            || !bw_upstream_least_conn_same(p, least)) {
            continue;
        }
        p->current_weight += p->effective_weight;
        total += p->effective_weight;
        if (p->effective_weight < p->weight) {
            p->effective_weight++;
        }
        if (pick == NULL || p->current_weight > pick->current_weight) {
            pick = p;
            best_i = i;
        }
    }
    pick->current_weight -= total;
    *index = best_i;
    return pick;
}

static bw_rc_t
bw_upstream_least_conn_get(bw_upstream_peer_conn_t *pc, void *data)
{
    bw_upstream_rr_peer_data_t *rrp = data;
    bw_upstream_rr_peers_t     *locked = rrp->peers;
    bw_rc_t                     rc = BW_OK;
    bw_uint_t                   i = 0;

    bw_upstream_rr_peers_lock(locked);
    if (rrp->peers->single) {
        rc = bw_upstream_rr_get_locked(pc, rrp);
        bw_upstream_rr_peers_unlock(locked);
        return rc;
    }
    pc->cached = 0;
    pc->connection = NULL;

    bw_upstream_rr_peer_t *peer = bw_upstream_least_conn_pick(rrp, &i);
    if (peer == NULL && bw_upstream_rr_use_backup(rrp)) {
        peer = bw_upstream_least_conn_pick(rrp, &i);
    }
    if (peer == NULL) {
        pc->name = rrp->peers->name;
        rc = BW_BUSY;
    } else {
        bw_upstream_rr_peer_take(pc, rrp, peer, i);
    }
    bw_upstream_rr_peers_unlock(locked);
    return rc;
}

static bw_rc_t
bw_upstream_least_conn_init_peer(bw_http_request_t *r, bw_upstream_peer_conn_t *pc,
                                 bw_upstream_srv_conf_t *us)
{
    if (bw_upstream_rr_init_peer(r, pc, us) != BW_OK) {
        return BW_ERROR;
    }
    pc->get = bw_upstream_least_conn_get;
    return BW_OK;
}

/* ---- configuration ---- */

static bw_rc_t
bw_upstream_least_conn_init(bw_conf_t *cf, bw_upstream_srv_conf_t *us)
{
    if (bw_upstream_rr_init(cf, us) != BW_OK) {
        return BW_ERROR;
    }
    us->peer.init = bw_upstream_least_conn_init_peer;
    return BW_OK;
}

static const char *
bw_upstream_least_conn_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_upstream_srv_conf_t *us = cf->ctx->srv_conf[bw_upstream_module.index];

    if (us->peer.init_upstream != NULL) {
        bw_conf_log(cf, BW_LOG_WARN, 0, "load balancing method redefined");
    }
    us->peer.init_upstream = bw_upstream_least_conn_init;
    us->flags = BW_UPSTREAM_CREATE | BW_UPSTREAM_WEIGHT | BW_UPSTREAM_MAX_CONNS
                | BW_UPSTREAM_MAX_FAILS | BW_UPSTREAM_FAIL_TIMEOUT | BW_UPSTREAM_DOWN
                | BW_UPSTREAM_BACKUP;
    return BW_CONF_OK;
}
