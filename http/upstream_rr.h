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
 * State lives in each worker's copy of the configuration, unless the group
 * has a `zone` (modules/upstream_zone.c): then the peer lists are copied
 * into that shared zone once it is mapped (bw_upstream_rr_peers_share), so
 * every worker sees the same weights, failures, connection counts and
 * health-check verdicts, and the balancers take the zone's lock around
 * each pick and release (bw_upstream_rr_peers_lock).
 *
 * Other balancers (hash, ip_hash, least_conn, random) build on this file:
 * they keep us->peer.data as the rr peer list (the zone replaces it), refer
 * to peers by their index in the list (peers->peer is an array of `number`
 * peers, linked in order), and use the helpers at the end of this header.
 */
#ifndef BW_HTTP_UPSTREAM_RR_H
#define BW_HTTP_UPSTREAM_RR_H

#include "slab.h"
#include "upstream.h"

typedef struct bw_upstream_rr_peer_s  bw_upstream_rr_peer_t;
typedef struct bw_upstream_rr_peers_s bw_upstream_rr_peers_t;

/* health_check lines one group may have. */
#define BW_UPSTREAM_HC_MAX 4

/* A peer's state for one health_check of its group (in the zone). */
typedef struct {
    bool      down;    /* failed this check */
    bw_uint_t fails;   /* consecutive failed checks */
    bw_uint_t passes;  /* consecutive passed checks */
    bw_msec_t next;    /* CLOCK_MONOTONIC ms: the next check is due */
    bw_msec_t until;   /* a check in flight is given up after this */
    pid_t     owner;   /* the worker checking it now; 0 when none */
} bw_upstream_hc_state_t;

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

    /* Active health checks (modules/health_check.c); only with a zone. */
    bool                   hc_down;   /* failed one of its checks: not eligible */
    bw_upstream_hc_state_t hc[BW_UPSTREAM_HC_MAX]; /* per health_check of the group */
};

struct bw_upstream_rr_peers_s {
    bw_uint_t               number;       /* peers in the list */
    bw_uint_t               tries;        /* peers not `down` */
    bw_uint_t               total_weight;
    bool                    single;       /* one peer and no backup */
    bool                    weighted;     /* some weight differs from 1 */
    bw_str_t               *name;         /* the group's name */
    bw_upstream_rr_peers_t *next;         /* the backup peers, or NULL */
    bw_upstream_rr_peer_t  *peer;         /* array of `number`, linked in order */
    bw_slab_pool_t         *shpool;       /* the zone holding this list, or NULL */
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
 * A one-server group in pool for addresses found at request time
 * (proxy_pass with variables): round robin over addrs[0..naddrs), server
 * name `name`, as an upstream{} block with that one `server` line would
 * be. NULL on no memory.
 */
bw_upstream_srv_conf_t *bw_upstream_rr_group_create(bw_pool_t *pool, const bw_str_t *host,
                                                    const bw_str_t *name,
                                                    bw_upstream_addr_t *addrs, size_t naddrs);

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

/* ---- for other balancers and the zone ---- */

/* As bw_upstream_rr_get, with the peers' lock already held (a balancer
 * falling back to round-robin). */
bw_rc_t bw_upstream_rr_get_locked(bw_upstream_peer_conn_t *pc, void *data);

/* Takes / releases the zone lock of a shared list; no-op for a private one. */
static inline void
bw_upstream_rr_peers_lock(const bw_upstream_rr_peers_t *peers)
{
    if (peers->shpool != NULL) {
        bw_shmtx_lock(&peers->shpool->mutex);
    }
}

static inline void
bw_upstream_rr_peers_unlock(const bw_upstream_rr_peers_t *peers)
{
    if (peers->shpool != NULL) {
        bw_shmtx_unlock(&peers->shpool->mutex);
    }
}

/*
 * Whether peer p may take a request at `now` (wall-clock seconds): not
 * down, not failed by its health checks, not within fail_timeout after
 * max_fails failures, and below max_conns. Lock held for shared peers.
 */
bool bw_upstream_rr_peer_eligible(const bw_upstream_rr_peer_t *p, time_t now);

/* The tried set of a request: peer `i` of the current list. */
bool bw_upstream_rr_is_tried(const bw_upstream_rr_peer_data_t *rrp, bw_uint_t i);
void bw_upstream_rr_set_tried(bw_upstream_rr_peer_data_t *rrp, bw_uint_t i);

/*
 * Switches rrp to the backup list with an empty tried set. False (nothing
 * changed) when the group has no backup or rrp already uses it.
 */
bool bw_upstream_rr_use_backup(bw_upstream_rr_peer_data_t *rrp);

/*
 * Hands `peer` (index i of rrp's current list) to the attempt: marks it
 * tried, counts the connection, starts a probe period after fail_timeout,
 * and fills pc->sockaddr/socklen/name. Lock held for shared peers.
 */
void bw_upstream_rr_peer_take(bw_upstream_peer_conn_t *pc, bw_upstream_rr_peer_data_t *rrp,
                              bw_upstream_rr_peer_t *peer, bw_uint_t i);

/*
 * Copies a group's peer lists (primary and backup) into the zone `shpool`
 * (zone initialisation, before fork): the peers keep pointing at the
 * configuration's names and addresses, which every worker shares. Returns
 * the shared primary list, or NULL when the zone has no room.
 */
bw_upstream_rr_peers_t *bw_upstream_rr_peers_share(bw_slab_pool_t *shpool,
                                                   const bw_upstream_rr_peers_t *peers);

#endif
