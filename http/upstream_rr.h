/*
 * upstream_rr.h -- the default balancer of upstream groups: smooth weighted
 * round-robin, as nginx distributes requests.
 *
 * Each pick adds every eligible peer's effective weight to its current
 * weight, takes the peer with the highest current weight (the first one on
 * a tie) and subtracts the sum of the effective weights from it. Weights
 * 5, 1, 1 thus give a a b a c a a: spread out, not bursts.
 *
 * A peer is not eligible while it is `down`, while it already served this
 * request, while max_conns connections of this worker use it, or after
 * max_fails failures within fail_timeout (for fail_timeout since the last
 * failure: then one request probes it, and a success makes it live again).
 * A failure also lowers its effective weight by weight/max_fails; each pick
 * raises it back by one. A group of one peer never marks it failed. Backup
 * peers are tried only when no primary peer is eligible.
 *
 * State lives in each worker's copy of the configuration (no shared zone).
 */
#ifndef BW_HTTP_UPSTREAM_RR_H
#define BW_HTTP_UPSTREAM_RR_H

#include "upstream.h"

typedef struct bw_upstream_rr_peer_s  bw_upstream_rr_peer_t;
typedef struct bw_upstream_rr_peers_s bw_upstream_rr_peers_t;

struct bw_upstream_rr_peer_s {
    struct sockaddr       *sockaddr;
    socklen_t              socklen;
    bw_str_t               name;     /* "127.0.0.1:8080" */
    bw_str_t               server;   /* the `server` argument it came from */

    bw_int_t               current_weight;
    bw_int_t               effective_weight;
    bw_int_t               weight;

    bw_uint_t              conns;    /* connections of this worker in use */
    bw_uint_t              max_conns;
    bw_uint_t              fails;
    time_t                 accessed; /* last failure */
    time_t                 checked;  /* last time it was picked after fail_timeout */
    bw_uint_t              max_fails;
    time_t                 fail_timeout;
    bool                   down;

    bw_upstream_rr_peer_t *next;
};

struct bw_upstream_rr_peers_s {
    bw_uint_t               number;       /* peers in the list */
    bw_uint_t               tries;        /* peers not `down` */
    bw_uint_t               total_weight;
    bool                    single;       /* one peer and no backup */
    bool                    weighted;     /* some weight differs from 1 */
    bw_str_t               *name;         /* the group's name */
    bw_upstream_rr_peers_t *next;         /* the backup peers, or NULL */
    bw_upstream_rr_peer_t  *peer;
};

/* Per-request state: the peers being tried and which ones were. */
typedef struct {
    bw_upstream_rr_peers_t *peers;
    bw_upstream_rr_peer_t  *current;
    uintptr_t              *tried;   /* bitmap over max(primary, backup) peers */
    uintptr_t               data;    /* inline bitmap for small groups */
} bw_upstream_rr_peer_data_t;

/*
 * Builds the peer list of the primary (backup false) or backup servers of
 * `servers[0..n)`: one peer per address, in order. NULL when there is none
 * of that kind, or on no memory (*failed then set).
 */
bw_upstream_rr_peers_t *bw_upstream_rr_peers_create(bw_pool_t *pool, bw_str_t *name,
                                                    const bw_upstream_server_t *servers,
                                                    size_t n, bool backup, bool *failed);

/*
 * The group's init_upstream: builds us->peer.data (primary peers with the
 * backup list chained) from us->servers and sets us->peer.init.
 * BW_OK, or BW_ERROR on no memory or a group without servers.
 */
bw_rc_t bw_upstream_rr_init(bw_conf_t *cf, bw_upstream_srv_conf_t *us);

/* The group's per-request init: pc get/free/data/tries for request r. */
bw_rc_t bw_upstream_rr_init_peer(bw_http_request_t *r, bw_upstream_peer_conn_t *pc,
                                 bw_upstream_srv_conf_t *us);

/*
 * Per-request init without a request (tests, other balancers): fills rrp
 * from pool and sets pc->get/free/data and pc->tries (live primary peers
 * plus live backup peers). BW_OK or BW_ERROR.
 */
bw_rc_t bw_upstream_rr_data_init(bw_pool_t *pool, bw_upstream_rr_peers_t *peers,
                                 bw_upstream_rr_peer_data_t *rrp,
                                 bw_upstream_peer_conn_t *pc);

/* Balancer get(): BW_OK with pc->sockaddr/socklen/name set, or BW_BUSY. */
bw_rc_t bw_upstream_rr_get(bw_upstream_peer_conn_t *pc, void *data);
/* Balancer free(): accounts the attempt's outcome and decrements pc->tries. */
void bw_upstream_rr_free(bw_upstream_peer_conn_t *pc, void *data, unsigned state);

#endif
