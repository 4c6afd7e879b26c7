/*
 * upstream_hash.c -- two balancers that map a key to a peer: the
 * upstream_hash module (`hash key [consistent]`) and the upstream_ip_hash
 * module (`ip_hash`). The algorithms and their nginx-compatible formulas
 * are described in upstream_hash.h.
 *
 * Both keep round-robin's peer list in us->peer.data (so a `zone` can
 * share it) and its free(); the consistent-hash ring refers to peers by
 * index and lives in the hash module's per-group conf.
 */
#include "upstream_hash.h"

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "pool.h"
#include "script.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

extern bw_module_t bw_upstream_hash_module;
extern bw_module_t bw_upstream_ip_hash_module;

/* The `hash` directive of one group, in us->srv_conf[bw_upstream_hash_module.index]. */
typedef struct {
    bw_http_complex_value_t    *key;
    bool                        consistent;
    bw_upstream_chash_points_t *points; /* consistent: built at init_upstream */
} bw_upstream_hash_srv_conf_t;

/* What hash and ip_hash accept on `server` lines: no backup. */
#define BW_UPSTREAM_HASH_FLAGS                                                                \
    (BW_UPSTREAM_CREATE | BW_UPSTREAM_WEIGHT | BW_UPSTREAM_MAX_CONNS | BW_UPSTREAM_MAX_FAILS \
     | BW_UPSTREAM_FAIL_TIMEOUT | BW_UPSTREAM_DOWN)

static const char *bw_upstream_hash_set(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_upstream_ip_hash_set(bw_conf_t *cf, const bw_directive_t *d, void *conf);

static const bw_directive_t bw_upstream_hash_directives[] = {
    {"hash", BW_CTX_UPS, BW_ARGS_TAKE12, BW_CONF_NONE, bw_upstream_hash_set, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_directive_t bw_upstream_ip_hash_directives[] = {
    {"ip_hash", BW_CTX_UPS, BW_ARGS_NOARGS, BW_CONF_NONE, bw_upstream_ip_hash_set, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_upstream_hash_module_ctx = {0};

bw_module_t bw_upstream_hash_module = {
    .name = "upstream_hash",
    .type = BW_MODULE_HTTP,
    .directives = bw_upstream_hash_directives,
    .ctx = &bw_upstream_hash_module_ctx,
};

bw_module_t bw_upstream_ip_hash_module = {
    .name = "upstream_ip_hash",
    .type = BW_MODULE_HTTP,
    .directives = bw_upstream_ip_hash_directives,
    .ctx = &bw_upstream_hash_module_ctx,
};

/* ---- shared by the three methods ---- */

/* The peer whose weight range holds w (w < total_weight), and its index. */
static bw_upstream_rr_peer_t *
bw_upstream_hash_peer_at(const bw_upstream_rr_peers_t *peers, uint32_t w, bw_uint_t *index)
{
    bw_upstream_rr_peer_t *peer = peers->peer;
    bw_uint_t              i = 0;

    while (peer->next != NULL && w >= (uint32_t) peer->weight) {
        w -= (uint32_t) peer->weight;
        peer = peer->next;
        i++;
    }
    *index = i;
    return peer;
}

/* Round-robin for the rest of the request; the lock is held and released here. */
static bw_rc_t
bw_upstream_hash_fallback(bw_upstream_peer_conn_t *pc, bw_upstream_rr_peer_data_t *rrp,
                          const bw_upstream_rr_peers_t *locked)
{
    bw_rc_t rc = bw_upstream_rr_get_locked(pc, rrp);

    bw_upstream_rr_peers_unlock(locked);
    return rc;
}

/* ---- hash key ---- */

/* The next Cache::Memcached hash of the key: ((crc32([REHASH] KEY) >> 16) & 0x7fff). */
static uint32_t
bw_upstream_hash_step(const bw_str_t *key, bw_uint_t rehash)
{
    uLong crc = crc32(0L, Z_NULL, 0);

    if (rehash > 0) {
        char buf[32];
        int  n = snprintf(buf, sizeof(buf), "%lu", (unsigned long) rehash);
        crc = crc32(crc, (const Bytef *) buf, (uInt) n);
    }
    crc = crc32(crc, key->data, (uInt) key->len);
    return (uint32_t) ((crc >> 16) & 0x7fff);
}

static bw_rc_t
bw_upstream_hash_get(bw_upstream_peer_conn_t *pc, void *data)
{
    bw_upstream_hash_peer_data_t *hp = data;
    bw_upstream_rr_peers_t       *peers = hp->rrp.peers;
    time_t                        now = bw_time.sec;

    bw_upstream_rr_peers_lock(peers);
    if (hp->tries > BW_UPSTREAM_HASH_TRIES || peers->number < 2 || hp->key.len == 0) {
        return bw_upstream_hash_fallback(pc, &hp->rrp, peers);
    }
    pc->cached = 0;
    pc->connection = NULL;
    for (;;) {
        bw_uint_t i;
        hp->hash += bw_upstream_hash_step(&hp->key, hp->rehash);
        hp->rehash++;
        bw_upstream_rr_peer_t *peer =
            bw_upstream_hash_peer_at(peers, hp->hash % peers->total_weight, &i);
        if (!bw_upstream_rr_is_tried(&hp->rrp, i) && bw_upstream_rr_peer_eligible(peer, now)) {
            bw_upstream_rr_peer_take(pc, &hp->rrp, peer, i);
            break;
        }
        if (++hp->tries > BW_UPSTREAM_HASH_TRIES) {
            return bw_upstream_hash_fallback(pc, &hp->rrp, peers);
        }
    }
    bw_upstream_rr_peers_unlock(peers);
    return BW_OK;
}

/* ---- hash key consistent ---- */

/* The smooth weighted pick among the usable peers of the server whose first
 * peer is `first` (several when its name resolved to several addresses). */
static bw_upstream_rr_peer_t *
bw_upstream_chash_pick(bw_upstream_hash_peer_data_t *hp, bw_uint_t first, bw_uint_t *index)
{
    bw_upstream_rr_peers_t *peers = hp->rrp.peers;
    const bw_str_t         *server = &peers->peer[first].server;
    bw_upstream_rr_peer_t  *best = NULL;
    bw_int_t                total = 0;
    time_t                  now = bw_time.sec;

    for (bw_uint_t i = first; i < peers->number && bw_str_eq(&peers->peer[i].server, server);
         i++) {
        bw_upstream_rr_peer_t *p = &peers->peer[i];
        if (bw_upstream_rr_is_tried(&hp->rrp, i) || !bw_upstream_rr_peer_eligible(p, now)) {
            continue;
        }
        p->current_weight += p->effective_weight;
        total += p->effective_weight;
        if (p->effective_weight < p->weight) {
            p->effective_weight++;
        }
        if (best == NULL || p->current_weight > best->current_weight) {
            best = p;
            *index = i;
        }
    }
    if (best != NULL) {
        best->current_weight -= total;
    }
    return best;
}

static bw_rc_t
bw_upstream_chash_get(bw_upstream_peer_conn_t *pc, void *data)
{
    bw_upstream_hash_peer_data_t     *hp = data;
    bw_upstream_rr_peers_t           *peers = hp->rrp.peers;
    const bw_upstream_chash_points_t *points = hp->points;

    bw_upstream_rr_peers_lock(peers);
    if (hp->tries > BW_UPSTREAM_HASH_TRIES || peers->number < 2 || hp->key.len == 0
        || points->number == 0) {
        return bw_upstream_hash_fallback(pc, &hp->rrp, peers);
    }
    pc->cached = 0;
    pc->connection = NULL;
    for (;;) {
        bw_uint_t              i = 0;
        bw_upstream_rr_peer_t *peer =
            bw_upstream_chash_pick(hp, points->point[hp->hash % points->number].peer, &i);
        if (peer != NULL) {
            bw_upstream_rr_peer_take(pc, &hp->rrp, peer, i);
            break;
        }
        hp->hash++;
        if (++hp->tries > BW_UPSTREAM_HASH_TRIES) {
            return bw_upstream_hash_fallback(pc, &hp->rrp, peers);
        }
    }
    bw_upstream_rr_peers_unlock(peers);
    return BW_OK;
}

static int
bw_upstream_chash_cmp(const void *a, const void *b)
{
    const bw_upstream_chash_point_t *pa = a, *pb = b;

    if (pa->hash != pb->hash) {
        return pa->hash < pb->hash ? -1 : 1;
    }
    return pa->peer < pb->peer ? -1 : (pa->peer > pb->peer);
}

/* crc32 state of "host\0port" for a server name ("host:port", "unix:/path"). */
static uLong
bw_upstream_chash_base(const bw_str_t *server)
{
    const u_char *host = server->data, *port = NULL;
    size_t        host_len = server->len, port_len = 0;

    if (server->len >= 5 && bw_strncasecmp(server->data, (const u_char *) "unix:", 5) == 0) {
        host += 5;
        host_len -= 5;
    } else {
        for (size_t j = server->len; j > 0; j--) {
            if (server->data[j - 1] == ':') {
                host_len = j - 1;
                port = server->data + j;
                port_len = server->len - j;
                break;
            }
        }
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, host, (uInt) host_len);
    crc = crc32(crc, (const Bytef *) "", 1);
    return port ? crc32(crc, port, (uInt) port_len) : crc;
}

/* Appends the weight * 160 points of the server whose first peer is `first`. */
static void
bw_upstream_chash_server_points(bw_upstream_chash_points_t *points,
                                const bw_upstream_rr_peer_t *peer, bw_uint_t first)
{
    uLong    base = bw_upstream_chash_base(&peer->server);
    uint32_t prev = 0;
    size_t   n = (size_t) peer->weight * BW_UPSTREAM_CHASH_POINTS;

    for (size_t j = 0; j < n; j++) {
        u_char le[4] = {(u_char) prev, (u_char) (prev >> 8), (u_char) (prev >> 16),
                        (u_char) (prev >> 24)};
        uint32_t hash = (uint32_t) crc32(base, le, 4);
        points->point[points->number].hash = hash;
        points->point[points->number].peer = first;
        points->number++;
        prev = hash;
    }
}

/* True when peer i starts a new `server` (its name differs from peer i-1's). */
static bool
bw_upstream_chash_server_start(const bw_upstream_rr_peers_t *peers, bw_uint_t i)
{
    return i == 0 || !bw_str_eq(&peers->peer[i].server, &peers->peer[i - 1].server);
}

bw_upstream_chash_points_t *
bw_upstream_chash_points_create(bw_pool_t *pool, const bw_upstream_rr_peers_t *peers)
{
    size_t n = 0;

    for (bw_uint_t i = 0; i < peers->number; i++) {
        if (bw_upstream_chash_server_start(peers, i)) {
            n += (size_t) peers->peer[i].weight * BW_UPSTREAM_CHASH_POINTS;
        }
    }
    bw_upstream_chash_points_t *points = bw_pcalloc(pool, sizeof(*points));
    if (points == NULL) {
        return NULL;
    }
    points->point = bw_palloc(pool, (n ? n : 1) * sizeof(bw_upstream_chash_point_t));
    if (points->point == NULL) {
        return NULL;
    }
    for (bw_uint_t i = 0; i < peers->number; i++) {
        if (bw_upstream_chash_server_start(peers, i)) {
            bw_upstream_chash_server_points(points, &peers->peer[i], i);
        }
    }
    qsort(points->point, points->number, sizeof(bw_upstream_chash_point_t),
          bw_upstream_chash_cmp);

    /* equal hashes: the first one (the lowest peer index) owns the point */
    bw_uint_t kept = points->number ? 1 : 0;
    for (bw_uint_t j = 1; j < points->number; j++) {
        if (points->point[j].hash != points->point[kept - 1].hash) {
            points->point[kept++] = points->point[j];
        }
    }
    points->number = kept;
    return points;
}

bw_uint_t
bw_upstream_chash_find(const bw_upstream_chash_points_t *points, uint32_t hash)
{
    bw_uint_t lo = 0, hi = points->number;

    while (lo < hi) {
        bw_uint_t mid = lo + (hi - lo) / 2;
        if (points->point[mid].hash < hash) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bw_rc_t
bw_upstream_hash_data_init(bw_pool_t *pool, bw_upstream_rr_peers_t *peers,
                           const bw_upstream_chash_points_t *points, const bw_str_t *key,
                           bw_upstream_hash_peer_data_t *hp, bw_upstream_peer_conn_t *pc)
{
    if (bw_upstream_rr_data_init(pool, peers, &hp->rrp, pc) != BW_OK) {
        return BW_ERROR;
    }
    hp->points = points;
    hp->key = *key;
    hp->hash = 0;
    hp->rehash = 0;
    hp->tries = 0;
    pc->data = hp;
    if (points != NULL) {
        uint32_t crc = (uint32_t) crc32(crc32(0L, Z_NULL, 0), key->data, (uInt) key->len);
        hp->hash = (uint32_t) bw_upstream_chash_find(points, crc);
        pc->get = bw_upstream_chash_get;
    } else {
        pc->get = bw_upstream_hash_get;
    }
    return BW_OK;
}

/* ---- ip_hash ---- */

static bw_rc_t
bw_upstream_ip_hash_get(bw_upstream_peer_conn_t *pc, void *data)
{
    bw_upstream_ip_hash_peer_data_t *hp = data;
    bw_upstream_rr_peers_t          *peers = hp->rrp.peers;
    time_t                           now = bw_time.sec;
    uint32_t                         hash = hp->hash;

    bw_upstream_rr_peers_lock(peers);
    if (hp->tries > BW_UPSTREAM_HASH_TRIES || peers->number < 2) {
        return bw_upstream_hash_fallback(pc, &hp->rrp, peers);
    }
    pc->cached = 0;
    pc->connection = NULL;
    for (;;) {
        bw_uint_t i;
        for (size_t k = 0; k < hp->addrlen; k++) {
            hash = (hash * 113 + hp->addr[k]) % 6271;
        }
        bw_upstream_rr_peer_t *peer =
            bw_upstream_hash_peer_at(peers, hash % peers->total_weight, &i);
        if (!bw_upstream_rr_is_tried(&hp->rrp, i) && bw_upstream_rr_peer_eligible(peer, now)) {
            bw_upstream_rr_peer_take(pc, &hp->rrp, peer, i);
            break;
        }
        if (++hp->tries > BW_UPSTREAM_HASH_TRIES) {
            return bw_upstream_hash_fallback(pc, &hp->rrp, peers);
        }
    }
    hp->hash = hash;
    bw_upstream_rr_peers_unlock(peers);
    return BW_OK;
}

bw_rc_t
bw_upstream_ip_hash_data_init(bw_pool_t *pool, bw_upstream_rr_peers_t *peers,
                              const struct sockaddr *sa, bw_upstream_ip_hash_peer_data_t *hp,
                              bw_upstream_peer_conn_t *pc)
{
    if (bw_upstream_rr_data_init(pool, peers, &hp->rrp, pc) != BW_OK) {
        return BW_ERROR;
    }
    memset(hp->addr, 0, sizeof(hp->addr));
    hp->addrlen = 3; /* other families hash as 0.0.0 */
    if (sa != NULL && sa->sa_family == AF_INET) {
        memcpy(hp->addr, &((const struct sockaddr_in *) sa)->sin_addr, 3);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        memcpy(hp->addr, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
        hp->addrlen = 16;
    }
    hp->hash = 89;
    hp->tries = 0;
    pc->get = bw_upstream_ip_hash_get;
    pc->data = hp;
    return BW_OK;
}

/* ---- request time: the groups' init ---- */

static bw_rc_t
bw_upstream_hash_init_peer(bw_http_request_t *r, bw_upstream_peer_conn_t *pc,
                           bw_upstream_srv_conf_t *us)
{
    bw_upstream_hash_srv_conf_t  *hcf = us->srv_conf[bw_upstream_hash_module.index];
    bw_upstream_hash_peer_data_t *hp = bw_pcalloc(r->pool, sizeof(*hp));
    bw_str_t                      key;

    if (hp == NULL || bw_http_complex_value(r, hcf->key, &key) != BW_OK) {
        return BW_ERROR;
    }
    return bw_upstream_hash_data_init(r->pool, us->peer.data,
                                      hcf->consistent ? hcf->points : NULL, &key, hp, pc);
}

static bw_rc_t
bw_upstream_ip_hash_init_peer(bw_http_request_t *r, bw_upstream_peer_conn_t *pc,
                              bw_upstream_srv_conf_t *us)
{
    bw_upstream_ip_hash_peer_data_t *hp = bw_pcalloc(r->pool, sizeof(*hp));

    if (hp == NULL) {
        return BW_ERROR;
    }
    return bw_upstream_ip_hash_data_init(r->pool, us->peer.data, r->connection->sockaddr, hp,
                                         pc);
}

/* ---- configuration ---- */

static bw_rc_t
bw_upstream_hash_init(bw_conf_t *cf, bw_upstream_srv_conf_t *us)
{
    bw_upstream_hash_srv_conf_t *hcf = us->srv_conf[bw_upstream_hash_module.index];

    if (bw_upstream_rr_init(cf, us) != BW_OK) {
        return BW_ERROR;
    }
    if (hcf->consistent) {
        hcf->points = bw_upstream_chash_points_create(cf->pool, us->peer.data);
        if (hcf->points == NULL) {
            return BW_ERROR;
        }
    }
    us->peer.init = bw_upstream_hash_init_peer;
    return BW_OK;
}

static bw_rc_t
bw_upstream_ip_hash_init(bw_conf_t *cf, bw_upstream_srv_conf_t *us)
{
    if (bw_upstream_rr_init(cf, us) != BW_OK) {
        return BW_ERROR;
    }
    us->peer.init = bw_upstream_ip_hash_init_peer;
    return BW_OK;
}

/* Makes init_upstream the group's method, warning when it replaces another. */
static bw_upstream_srv_conf_t *
bw_upstream_hash_method(bw_conf_t *cf, bw_rc_t (*init_upstream)(bw_conf_t *,
                                                                bw_upstream_srv_conf_t *))
{
    bw_upstream_srv_conf_t *us = cf->ctx->srv_conf[bw_upstream_module.index];

    if (us->peer.init_upstream != NULL) {
        bw_conf_log(cf, BW_LOG_WARN, 0, "load balancing method redefined");
    }
    us->peer.init_upstream = init_upstream;
    us->flags = BW_UPSTREAM_HASH_FLAGS;
    return us;
}

static const char *
bw_upstream_hash_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_str_t                    *value = cf->args->elts;
    bw_upstream_hash_srv_conf_t *hcf = bw_pcalloc(cf->pool, sizeof(*hcf));

    if (hcf == NULL) {
        return BW_CONF_ERROR;
    }
    if (bw_http_compile_complex_value(cf, &value[1], &hcf->key) != BW_OK) {
        return BW_CONF_ERROR;
    }
    if (cf->args->nelts == 3) {
        if (!bw_str_eq_lit(&value[2], "consistent")) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(value[2]));
            return BW_CONF_ERROR;
        }
        hcf->consistent = true;
    }
    bw_upstream_hash_method(cf, bw_upstream_hash_init);
    cf->ctx->srv_conf[bw_upstream_hash_module.index] = hcf;
    return BW_CONF_OK;
}

static const char *
bw_upstream_ip_hash_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_upstream_hash_method(cf, bw_upstream_ip_hash_init);
    return BW_CONF_OK;
}
