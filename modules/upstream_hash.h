/*
 * upstream_hash.h -- the key-based balancers of upstream groups:
 * `hash key [consistent]` (module upstream_hash) and `ip_hash` (module
 * upstream_ip_hash), both in modules/upstream_hash.c.
 *
 * hash key: the peer is found from the key's hash over the primary peers'
 * weights, with the formula of the Cache::Memcached Perl library, as nginx
 * documents: h = ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_H, where
 * REHASH (the attempt number as decimal text) is omitted the first time;
 * the peer is the one whose weight range holds h % total_weight. A peer
 * that is down, failed, full (max_conns) or already tried makes it hash
 * again; after 20 such attempts, or for an empty key, round-robin picks.
 *
 * hash key consistent: a ketama ring (Cache::Memcached::Fast with
 * ketama_points 160): each `server` gets 160 points per weight unit, point
 * j being crc32(host "\0" port prev) where prev is point j-1 as 4 bytes,
 * little-endian (0 for the first). The key's crc32 picks the first point
 * at or after it; an unusable server moves on to the next point (20 times
 * at most, then round-robin). Adding or removing a server only remaps the
 * keys of the ring segments it gains or loses: about 1/n of them.
 *
 * ip_hash: the key is the first three octets of the client's IPv4 address
 * (the whole IPv6 address; none for other families), hashed with
 * h = (h * 113 + byte) % 6271 from h = 89, and re-hashed the same way on
 * an unusable peer; after 20 attempts round-robin picks.
 *
 * None of them uses backup servers (a `server ... backup` after the
 * directive is refused as nginx does; one before it is ignored).
 */
#ifndef BW_UPSTREAM_HASH_H
#define BW_UPSTREAM_HASH_H

#include "upstream_rr.h"

/* Points per weight unit on the consistent-hash ring. */
#define BW_UPSTREAM_CHASH_POINTS 160
/* Unusable picks before falling back to round-robin. */
#define BW_UPSTREAM_HASH_TRIES   20

/* One point of the ring: its hash and the index of its server's first peer. */
typedef struct {
    uint32_t  hash;
    bw_uint_t peer;
} bw_upstream_chash_point_t;

/* The ring, sorted by hash, without duplicate hashes. */
typedef struct {
    bw_upstream_chash_point_t *point;
    bw_uint_t                  number;
} bw_upstream_chash_points_t;

/* Per-request state of `hash` (plain or consistent). */
typedef struct {
    bw_upstream_rr_peer_data_t        rrp;
    const bw_upstream_chash_points_t *points; /* NULL: plain hash */
    bw_str_t                          key;
    uint32_t                          hash;   /* plain: running sum; consistent: point */
    bw_uint_t                         rehash; /* plain: attempts hashed so far */
    bw_uint_t                         tries;  /* unusable picks so far */
} bw_upstream_hash_peer_data_t;

/* Per-request state of `ip_hash`. */
typedef struct {
    bw_upstream_rr_peer_data_t rrp;
    u_char                     addr[16];
    size_t                     addrlen;
    uint32_t                   hash;
    bw_uint_t                  tries;
} bw_upstream_ip_hash_peer_data_t;

/*
 * Builds the ring of the primary peers (one entry per run of peers that
 * come from the same `server`). NULL on no memory.
 */
bw_upstream_chash_points_t *bw_upstream_chash_points_create(bw_pool_t *pool,
                                                            const bw_upstream_rr_peers_t *peers);

/* Index of the first point whose hash is >= hash (points->number when none). */
bw_uint_t bw_upstream_chash_find(const bw_upstream_chash_points_t *points, uint32_t hash);

/*
 * Per-request init without a request (tests; the module's init calls it):
 * fills hp for `key` (kept by reference) and sets pc->get/free/data/tries.
 * points NULL selects the plain hash. BW_OK or BW_ERROR.
 */
bw_rc_t bw_upstream_hash_data_init(bw_pool_t *pool, bw_upstream_rr_peers_t *peers,
                                   const bw_upstream_chash_points_t *points,
                                   const bw_str_t *key, bw_upstream_hash_peer_data_t *hp,
                                   bw_upstream_peer_conn_t *pc);

/* As bw_upstream_hash_data_init for ip_hash with the client address sa. */
bw_rc_t bw_upstream_ip_hash_data_init(bw_pool_t *pool, bw_upstream_rr_peers_t *peers,
                                      const struct sockaddr *sa,
                                      bw_upstream_ip_hash_peer_data_t *hp,
                                      bw_upstream_peer_conn_t *pc);

#endif
