/*
 * upstream_rr.c -- smooth weighted round-robin over a group's peers, with
 * failure accounting (max_fails / fail_timeout), backup, down and
 * max_conns. See upstream_rr.h for the rules.
 */
#include "upstream_rr.h"

#include "clock.h"
#include "log.h"
#include "pool.h"

#define BW_UPSTREAM_RR_BITS (8 * sizeof(uintptr_t))

/* ---- configuration time ---- */

/* Counts the addresses of the servers of one kind, their live ones and weights. */
static void
bw_upstream_rr_count(const bw_upstream_server_t *servers, size_t n, bool backup,
                     bw_uint_t *number, bw_uint_t *tries, bw_uint_t *weight)
{
    *number = *tries = *weight = 0;
    for (size_t i = 0; i < n; i++) {
        if (servers[i].backup != backup) {
            continue;
        }
        *number += servers[i].naddrs;
        *weight += servers[i].naddrs * servers[i].weight;
        if (!servers[i].down) {
            *tries += servers[i].naddrs;
        }
    }
}

bw_upstream_rr_peers_t *
bw_upstream_rr_peers_create(bw_pool_t *pool, bw_str_t *name, const bw_upstream_server_t *servers,
                            size_t n, bool backup, bool *failed)
{
    bw_uint_t number, tries, weight;

    *failed = false;
    bw_upstream_rr_count(servers, n, backup, &number, &tries, &weight);
    if (number == 0) {
        return NULL;
    }

    bw_upstream_rr_peers_t *peers = bw_pcalloc(pool, sizeof(*peers));
    bw_upstream_rr_peer_t  *peer = bw_pcalloc(pool, number * sizeof(*peer));
    if (peers == NULL || peer == NULL) {
        *failed = true;
        return NULL;
    }
    peers->number = number;
    peers->tries = tries;
    peers->total_weight = weight;
    peers->weighted = weight != number;
    peers->single = number == 1;
    peers->name = name;

    bw_upstream_rr_peer_t **link = &peers->peer;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const bw_upstream_server_t *s = &servers[i];
        if (s->backup != backup) {
            continue;
        }
        for (size_t j = 0; j < s->naddrs; j++, k++) {
            bw_upstream_rr_peer_t *p = &peer[k];
            p->sockaddr = s->addrs[j].sockaddr;
            p->socklen = s->addrs[j].socklen;
            p->name = s->addrs[j].name;
            p->server = s->name;
            p->weight = (bw_int_t) s->weight;
            p->effective_weight = (bw_int_t) s->weight;
            p->current_weight = 0;
            p->max_conns = s->max_conns;
            p->max_fails = s->max_fails;
            p->fail_timeout = s->fail_timeout;
            p->down = s->down;
            *link = p;
            link = &p->next;
        }
    }
    return peers;
}

bw_rc_t
bw_upstream_rr_init(bw_conf_t *cf, bw_upstream_srv_conf_t *us)
{
    bool failed;

    if (us->servers == NULL || us->servers->nelts == 0) {
        return BW_ERROR;
    }
    const bw_upstream_server_t *servers = us->servers->elts;
    size_t n = us->servers->nelts;

    bw_upstream_rr_peers_t *peers =
        bw_upstream_rr_peers_create(cf->pool, &us->host, servers, n, false, &failed);
    if (failed) {
        return BW_ERROR;
    }
    bw_upstream_rr_peers_t *backup =
        bw_upstream_rr_peers_create(cf->pool, &us->host, servers, n, true, &failed);
    if (failed) {
        return BW_ERROR;
    }
    if (peers == NULL) {
        /* only backup servers: nginx refuses this at the block's end */
        return BW_ERROR;
    }
    if (backup != NULL) {
        peers->single = false;
        peers->next = backup;
    }
    us->peer.data = peers;
    us->peer.init = bw_upstream_rr_init_peer;
    return BW_OK;
}

/* ---- request time ---- */

bw_rc_t
bw_upstream_rr_data_init(bw_pool_t *pool, bw_upstream_rr_peers_t *peers,
                         bw_upstream_rr_peer_data_t *rrp, bw_upstream_peer_conn_t *pc)
{
    bw_uint_t n = peers->number;

    if (peers->next != NULL && peers->next->number > n) {
        n = peers->next->number;
    }
    rrp->peers = peers;
    rrp->current = NULL;
    rrp->data = 0;
    if (n <= BW_UPSTREAM_RR_BITS) {
        rrp->tried = &rrp->data;
    } else {
        size_t words = (n + BW_UPSTREAM_RR_BITS - 1) / BW_UPSTREAM_RR_BITS;
        rrp->tried = bw_pcalloc(pool, words * sizeof(uintptr_t));
        if (rrp->tried == NULL) {
            return BW_ERROR;
        }
    }

    pc->get = bw_upstream_rr_get;
    pc->free = bw_upstream_rr_free;
    pc->data = rrp;
    pc->tries = peers->tries + (peers->next ? peers->next->tries : 0);
    return BW_OK;
}

bw_rc_t
bw_upstream_rr_init_peer(bw_http_request_t *r, bw_upstream_peer_conn_t *pc,
                         bw_upstream_srv_conf_t *us)
{
    bw_upstream_rr_peer_data_t *rrp = bw_pcalloc(r->pool, sizeof(*rrp));

    if (rrp == NULL) {
        return BW_ERROR;
    }
    return bw_upstream_rr_data_init(r->pool, us->peer.data, rrp, pc);
}

bool
bw_upstream_rr_is_tried(const bw_upstream_rr_peer_data_t *rrp, bw_uint_t i)
{
    return (rrp->tried[i / BW_UPSTREAM_RR_BITS] & ((uintptr_t) 1 << (i % BW_UPSTREAM_RR_BITS)))
           != 0;
}

void
bw_upstream_rr_set_tried(bw_upstream_rr_peer_data_t *rrp, bw_uint_t i)
{
    rrp->tried[i / BW_UPSTREAM_RR_BITS] |= (uintptr_t) 1 << (i % BW_UPSTREAM_RR_BITS);
}

bool
bw_upstream_rr_peer_eligible(const bw_upstream_rr_peer_t *p, time_t now)
{
    if (p->down || p->hc_down) {
        return false;
    }
    if (p->max_fails && p->fails >= p->max_fails && now - p->checked <= p->fail_timeout) {
        return false;
    }
    if (p->max_conns && p->conns >= p->max_conns) {
        return false;
    }
    return true;
}

bool
bw_upstream_rr_use_backup(bw_upstream_rr_peer_data_t *rrp)
{
    bw_upstream_rr_peers_t *backup = rrp->peers->next;

    if (backup == NULL) {
        return false;
    }
    size_t words = (bw_max(rrp->peers->number, backup->number) + BW_UPSTREAM_RR_BITS - 1)
                   / BW_UPSTREAM_RR_BITS;
    memset(rrp->tried, 0, words * sizeof(uintptr_t));
    rrp->peers = backup;
    return true;
}

void
bw_upstream_rr_peer_take(bw_upstream_peer_conn_t *pc, bw_upstream_rr_peer_data_t *rrp,
                         bw_upstream_rr_peer_t *peer, bw_uint_t i)
{
    time_t now = bw_time.sec;

    bw_upstream_rr_set_tried(rrp, i);
    if (now - peer->checked > peer->fail_timeout) {
        peer->checked = now;
    }
    rrp->current = peer;
    peer->conns++;
    pc->sockaddr = peer->sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &peer->name;
}

/* The smooth weighted pick among the untried eligible peers; NULL if none. */
static bw_upstream_rr_peer_t *
bw_upstream_rr_pick(bw_upstream_rr_peer_data_t *rrp, bw_uint_t *index)
{
    time_t                 now = bw_time.sec;
    bw_upstream_rr_peer_t *best = NULL;
    bw_int_t               total = 0;
    bw_uint_t              i = 0, best_i = 0;

    for (bw_upstream_rr_peer_t *p = rrp->peers->peer; p; p = p->next, i++) {
        if (bw_upstream_rr_is_tried(rrp, i) || !bw_upstream_rr_peer_eligible(p, now)) {
            continue;
        }
        p->current_weight += p->effective_weight;
        total += p->effective_weight;
        if (p->effective_weight < p->weight) {
            p->effective_weight++;
        }
        if (best == NULL || p->current_weight > best->current_weight) {
            best = p;
            best_i = i;
        }
    }
    if (best == NULL) {
        return NULL;
    }
    best->current_weight -= total;
    *index = best_i;
    return best;
}

/* Picks from the current list: the only peer of a single group, else the
 * weighted pick. */
static bw_upstream_rr_peer_t *
bw_upstream_rr_get_from(bw_upstream_rr_peer_data_t *rrp, bw_uint_t *index)
{
    bw_upstream_rr_peers_t *peers = rrp->peers;

    if (!peers->single) {
        return bw_upstream_rr_pick(rrp, index);
    }
    bw_upstream_rr_peer_t *p = peers->peer;
    /* no tried check: pc->tries bounds the attempts (a retry after a
     * stale keep-alive connection reuses the same peer) */
    if (p->down || p->hc_down || (p->max_conns && p->conns >= p->max_conns)) {
        return NULL;
    }
    *index = 0;
    return p;
}

bw_rc_t
bw_upstream_rr_get_locked(bw_upstream_peer_conn_t *pc, void *data)
{
    bw_upstream_rr_peer_data_t *rrp = data;
    bw_upstream_rr_peer_t      *peer;
    bw_uint_t                   i = 0;

    pc->cached = 0;
    pc->connection = NULL;

    peer = bw_upstream_rr_get_from(rrp, &i);
    if (peer == NULL && bw_upstream_rr_use_backup(rrp)) {
        /* the primary peers are exhausted: go on with the backup ones */
        peer = bw_upstream_rr_get_from(rrp, &i);
    }
    if (peer == NULL) {
        pc->name = rrp->peers->name;
        return BW_BUSY;
    }
    bw_upstream_rr_peer_take(pc, rrp, peer, i);
    return BW_OK;
}

bw_rc_t
bw_upstream_rr_get(bw_upstream_peer_conn_t *pc, void *data)
{
    bw_upstream_rr_peer_data_t *rrp = data;
    bw_upstream_rr_peers_t     *peers = rrp->peers;

    bw_upstream_rr_peers_lock(peers);
    bw_rc_t rc = bw_upstream_rr_get_locked(pc, data);
    bw_upstream_rr_peers_unlock(peers);
    return rc;
}

/* The outcome of an attempt on `peer`: its connection count, failures and
 * effective weight. Lock held for shared peers. */
static void
bw_upstream_rr_account_locked(const bw_upstream_rr_peers_t *peers, bw_upstream_rr_peer_t *peer,
                              bw_log_t *log, unsigned state)
{
    if (peer->conns > 0) {
        peer->conns--;
    }
    if (peers->single) {
        return;
    }

    time_t now = bw_time.sec;
    if (state & BW_UPSTREAM_PEER_FAILED) {
        peer->fails++;
        peer->accessed = now;
        peer->checked = now;
        if (peer->max_fails) {
            peer->effective_weight -= peer->weight / (bw_int_t) peer->max_fails;
            if (peer->fails >= peer->max_fails && log != NULL) {
                bw_log_error(BW_LOG_WARN, log, 0, "upstream server temporarily disabled");
            }
        }
        if (peer->effective_weight < 0) {
            peer->effective_weight = 0;
        }
    } else if (peer->accessed < peer->checked) {
        /* the probe after fail_timeout succeeded: the peer is live again */
        peer->fails = 0;
    }
}

void
bw_upstream_rr_free(bw_upstream_peer_conn_t *pc, void *data, unsigned state)
{
    bw_upstream_rr_peer_data_t *rrp = data;
    bw_upstream_rr_peer_t      *peer = rrp->current;

    if (peer == NULL) {
        return;
    }
    rrp->current = NULL;
    bw_upstream_rr_peers_lock(rrp->peers);
    bw_upstream_rr_account_locked(rrp->peers, peer, pc->log, state);
    bw_upstream_rr_peers_unlock(rrp->peers);

    if (rrp->peers->single) {
        /* the only server is never marked failed, and there is no other */
        pc->tries = 0;
        return;
    }
    if (pc->tries > 0) {
        pc->tries--;
    }
}

/* ---- sharing through a zone ---- */

/* One list (primary or backup) copied into the zone; NULL when full. */
static bw_upstream_rr_peers_t *
bw_upstream_rr_peers_copy(bw_slab_pool_t *shpool, const bw_upstream_rr_peers_t *peers)
{
    bw_upstream_rr_peers_t *sp = bw_slab_alloc(shpool, sizeof(*sp));
    bw_upstream_rr_peer_t  *peer = bw_slab_alloc(shpool, peers->number * sizeof(*peer));

    if (sp == NULL || peer == NULL) {
        bw_slab_free(shpool, sp);
        bw_slab_free(shpool, peer);
        return NULL;
    }
    *sp = *peers;
    sp->shpool = shpool;
    sp->next = NULL;
    sp->peer = peer;

    bw_uint_t i = 0;
    for (const bw_upstream_rr_peer_t *p = peers->peer; p && i < peers->number; p = p->next, i++) {
        peer[i] = *p;
        peer[i].next = i + 1 < peers->number ? &peer[i + 1] : NULL;
    }
    return sp;
}

bw_upstream_rr_peers_t *
bw_upstream_rr_peers_share(bw_slab_pool_t *shpool, const bw_upstream_rr_peers_t *peers)
{
    bw_upstream_rr_peers_t *primary = bw_upstream_rr_peers_copy(shpool, peers);

    if (primary == NULL) {
        return NULL;
    }
    if (peers->next != NULL) {
        primary->next = bw_upstream_rr_peers_copy(shpool, peers->next);
        if (primary->next == NULL) {
            return NULL;
        }
    }
    return primary;
}

bw_upstream_srv_conf_t *
bw_upstream_rr_group_create(bw_pool_t *pool, const bw_str_t *host, const bw_str_t *name,
                            bw_upstream_addr_t *addrs, size_t naddrs)
{
    bw_upstream_srv_conf_t *us = bw_pcalloc(pool, sizeof(*us));
    bw_upstream_server_t   *s = bw_pcalloc(pool, sizeof(*s));
    bool                    failed;

    if (us == NULL || s == NULL) {
        return NULL;
    }
    us->host = *host;
    s->name = *name;
    s->addrs = addrs;
    s->naddrs = naddrs;
    s->weight = 1;
    s->max_fails = 1;
    s->fail_timeout = 10;
    us->peer.data = bw_upstream_rr_peers_create(pool, &us->host, s, 1, false, &failed);
    if (us->peer.data == NULL) {
        return NULL;
    }
    us->peer.init = bw_upstream_rr_init_peer;
    return us;
}
