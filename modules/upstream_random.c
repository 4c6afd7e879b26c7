/*
 * upstream_random.c -- the upstream_random module: `random [two
 * [least_conn]]` in an upstream{} block.
 *
 * `random` passes each request to a peer drawn at random with a
 * probability proportional to its weight. `random two` draws two distinct
 * peers and takes the one with fewer active connections per unit of weight
 * (least_conn, the only method and the default); on a tie the second one.
 * A drawn peer that is down, failed, full or already tried is drawn again;
 * after 20 such draws in a request, round-robin picks. Backup servers are
 * not supported, as in nginx.
 *
 * Each worker draws from its own generator (seeded from its pid and the
 * clock), so workers do not repeat each other's sequence.
 */
#include "clock.h"
#include "conf.h"
#include "log.h"
#include "pool.h"
#include "shmtx.h"
#include "upstream_rr.h"

#include <unistd.h>

extern bw_module_t bw_upstream_random_module;

#define BW_UPSTREAM_RANDOM_TRIES 20

/* The `random` directive of one group, in us->srv_conf[module.index]. */
typedef struct {
    bool      two;
    uint64_t *ranges; /* ranges[i]: total weight of primary peers 0..i */
} bw_upstream_random_srv_conf_t;

/* Per request. */
typedef struct {
    bw_upstream_rr_peer_data_t     rrp;
    bw_upstream_random_srv_conf_t *conf;
    bw_uint_t                      tries; /* unusable draws so far */
} bw_upstream_random_peer_data_t;

static const char *bw_upstream_random_set(bw_conf_t *cf, const bw_directive_t *d, void *conf);

static const bw_directive_t bw_upstream_random_directives[] = {
    {"random", BW_CTX_UPS, BW_ARGS_NOARGS | BW_ARGS_TAKE12, BW_CONF_NONE, bw_upstream_random_set,
     0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_upstream_random_module_ctx = {0};

bw_module_t bw_upstream_random_module = {
    .name = "upstream_random",
    .type = BW_MODULE_HTTP,
    .directives = bw_upstream_random_directives,
    .ctx = &bw_upstream_random_module_ctx,
};

/* ---- drawing ---- */

static uint64_t bw_upstream_random_state;
static pid_t    bw_upstream_random_pid;

/* The next number of this process's xorshift64* generator. */
static uint64_t
bw_upstream_random_next(void)
{
    pid_t pid = bw_shmtx_pid();

    if (bw_upstream_random_pid != pid || bw_upstream_random_state == 0) {
        bw_upstream_random_pid = pid;
        bw_upstream_random_state = ((uint64_t) pid << 32) ^ (uint64_t) bw_time.monotonic
                                   ^ ((uint64_t) bw_time.sec * 0x9e3779b97f4a7c15ULL);
        if (bw_upstream_random_state == 0) {
            bw_upstream_random_state = 0x2545f4914f6cdd1dULL;
        }
    }
    uint64_t x = bw_upstream_random_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    bw_upstream_random_state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* A peer index drawn in proportion to the weights. */
static bw_uint_t
bw_upstream_random_draw(const bw_upstream_random_peer_data_t *rp)
{
    const bw_upstream_rr_peers_t *peers = rp->rrp.peers;
    const uint64_t               *ranges = rp->conf->ranges;
    uint64_t                      x = (bw_upstream_random_next() >> 11) % peers->total_weight;
    bw_uint_t                     lo = 0, hi = peers->number - 1;

    while (lo < hi) {
        bw_uint_t mid = lo + (hi - lo) / 2;
        if (ranges[mid] <= x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* A usable untried peer other than `other` (index, or -1); false after too many draws. */
static bool
bw_upstream_random_usable(bw_upstream_random_peer_data_t *rp, bw_int_t other, bw_uint_t *index)
{
    time_t now = bw_time.sec;

    for (;;) {
        bw_uint_t i = bw_upstream_random_draw(rp);
        if ((bw_int_t) i != other && !bw_upstream_rr_is_tried(&rp->rrp, i)
            && bw_upstream_rr_peer_eligible(&rp->rrp.peers->peer[i], now)) {
            *index = i;
            return true;
        }
        if (++rp->tries > BW_UPSTREAM_RANDOM_TRIES) {
            return false;
        }
    }
}

static bw_rc_t
bw_upstream_random_get(bw_upstream_peer_conn_t *pc, void *data)
{
    bw_upstream_random_peer_data_t *rp = data;
    bw_upstream_rr_peers_t         *peers = rp->rrp.peers;
    bw_uint_t                       i = 0, j = 0;
    bw_rc_t                         rc;

    bw_upstream_rr_peers_lock(peers);
    if (rp->tries > BW_UPSTREAM_RANDOM_TRIES || peers->number < 2
        || !bw_upstream_random_usable(rp, -1, &i)
        || (rp->conf->two && !bw_upstream_random_usable(rp, (bw_int_t) i, &j))) {
        rc = bw_upstream_rr_get_locked(pc, &rp->rrp);
        bw_upstream_rr_peers_unlock(peers);
        return rc;
    }
    if (rp->conf->two) {
        const bw_upstream_rr_peer_t *a = &peers->peer[i], *b = &peers->peer[j];
        /* least_conn between the two: the second one unless the first has less */
        if ((uint64_t) b->conns * (uint64_t) a->weight
            > (uint64_t) a->conns * (uint64_t) b->weight) {
            j = i;
        }
        i = j;
    }
    pc->cached = 0;
    pc->connection = NULL;
    bw_upstream_rr_peer_take(pc, &rp->rrp, &peers->peer[i], i);
    bw_upstream_rr_peers_unlock(peers);
    return BW_OK;
}

static bw_rc_t
bw_upstream_random_init_peer(bw_http_request_t *r, bw_upstream_peer_conn_t *pc,
                             bw_upstream_srv_conf_t *us)
{
    bw_upstream_random_peer_data_t *rp = bw_pcalloc(r->pool, sizeof(*rp));

    if (rp == NULL || bw_upstream_rr_data_init(r->pool, us->peer.data, &rp->rrp, pc) != BW_OK) {
        return BW_ERROR;
    }
    rp->conf = us->srv_conf[bw_upstream_random_module.index];
    pc->get = bw_upstream_random_get;
    pc->data = rp;
    return BW_OK;
}

/* ---- configuration ---- */

static bw_rc_t
bw_upstream_random_init(bw_conf_t *cf, bw_upstream_srv_conf_t *us)
{
    bw_upstream_random_srv_conf_t *rcf = us->srv_conf[bw_upstream_random_module.index];

    if (bw_upstream_rr_init(cf, us) != BW_OK) {
        return BW_ERROR;
    }
    bw_upstream_rr_peers_t *peers = us->peer.data;
    rcf->ranges = bw_palloc(cf->pool, peers->number * sizeof(uint64_t));
    if (rcf->ranges == NULL) {
        return BW_ERROR;
    }
    uint64_t  total = 0;
    bw_uint_t i = 0;
    for (bw_upstream_rr_peer_t *p = peers->peer; p; p = p->next, i++) {
        total += (uint64_t) p->weight;
        rcf->ranges[i] = total;
    }
    us->peer.init = bw_upstream_random_init_peer;
    return BW_OK;
}

static const char *
bw_upstream_random_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_upstream_srv_conf_t        *us = cf->ctx->srv_conf[bw_upstream_module.index];
    bw_str_t                      *value = cf->args->elts;
    bw_upstream_random_srv_conf_t *rcf = bw_pcalloc(cf->pool, sizeof(*rcf));

    if (rcf == NULL) {
        return BW_CONF_ERROR;
    }
    for (size_t k = 1; k < cf->args->nelts; k++) {
        if (k == 1 && bw_str_eq_lit(&value[k], "two")) {
            rcf->two = true;
        } else if (k == 2 && bw_str_eq_lit(&value[k], "least_conn")) {
            /* the only method of `two`, and its default */
        } else {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(value[k]));
            return BW_CONF_ERROR;
        }
    }
    if (us->peer.init_upstream != NULL) {
        bw_conf_log(cf, BW_LOG_WARN, 0, "load balancing method redefined");
    }
    us->peer.init_upstream = bw_upstream_random_init;
    us->flags = BW_UPSTREAM_CREATE | BW_UPSTREAM_WEIGHT | BW_UPSTREAM_MAX_CONNS
                | BW_UPSTREAM_MAX_FAILS | BW_UPSTREAM_FAIL_TIMEOUT | BW_UPSTREAM_DOWN;
    cf->ctx->srv_conf[bw_upstream_random_module.index] = rcf;
    return BW_CONF_OK;
}
