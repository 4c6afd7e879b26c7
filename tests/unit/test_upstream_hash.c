/*
 * test_upstream_hash.c -- the key-based balancers: `hash key`, `hash key
 * consistent` (ketama ring) and `ip_hash`. The sequences marked "nginx"
 * were recorded from /usr/sbin/nginx with the same servers and keys, so
 * a group moved from nginx keeps its key-to-server mapping. The ring's
 * promise is tested directly: adding or removing a server remaps only
 * about 1/n of the keys, and only to or from that server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "clock.h"
#include "pool.h"
#include "upstream_hash.h"

#define BW_TEST_HASH_MAX 8

typedef struct {
    bw_pool_t            *pool;
    bw_str_t              name;
    bw_upstream_server_t  servers[BW_TEST_HASH_MAX];
    bw_upstream_addr_t    addrs[BW_TEST_HASH_MAX];
    struct sockaddr_in    sin[BW_TEST_HASH_MAX];
    char                  text[BW_TEST_HASH_MAX][32];
    size_t                n;
} bw_test_hash_t;

static bw_test_hash_t bw_test_hash;

/* The origins of the nginx recordings, reported as a, b, c. */
static const char *const bw_test_hash_nginx_names[] = {"127.0.0.1:31001", "127.0.0.1:31002",
                                                       "127.0.0.1:31003"};

/* Adds server `name` ("host:port") with `weight`; its letter is 'a' + its position. */
static bw_upstream_server_t *
bw_test_hash_server(const char *name, bw_uint_t weight)
{
    bw_test_hash_t       *t = &bw_test_hash;
    size_t                i = t->n++;
    bw_upstream_server_t *s = &t->servers[i];

    assert_true(i < BW_TEST_HASH_MAX);
    snprintf(t->text[i], sizeof(t->text[i]), "%s", name);
    memset(s, 0, sizeof(*s));
    s->name.data = (u_char *) t->text[i];
    s->name.len = strlen(t->text[i]);
    s->weight = weight;
    s->max_fails = 1;
    s->fail_timeout = 10;
    s->naddrs = 1;
    s->addrs = &t->addrs[i];
    t->sin[i].sin_family = AF_INET;
    t->sin[i].sin_port = htons((uint16_t) (2000 + i));
    t->sin[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    t->addrs[i].sockaddr = (struct sockaddr *) &t->sin[i];
    t->addrs[i].socklen = sizeof(t->sin[i]);
    t->addrs[i].name = s->name;
    return s;
}

/* The three servers of the nginx recordings, with weights wa, wb, wc. */
static void
bw_test_hash_nginx_servers(bw_uint_t wa, bw_uint_t wb, bw_uint_t wc)
{
    bw_test_hash_server(bw_test_hash_nginx_names[0], wa);
    bw_test_hash_server(bw_test_hash_nginx_names[1], wb);
    bw_test_hash_server(bw_test_hash_nginx_names[2], wc);
}

static bw_upstream_rr_peers_t *
bw_test_hash_build(void)
{
    bool failed;
    bw_upstream_rr_peers_t *peers = bw_upstream_rr_peers_create(
        bw_test_hash.pool, &bw_test_hash.name, bw_test_hash.servers, bw_test_hash.n, false,
        &failed);

    assert_false(failed);
    assert_non_null(peers);
    return peers;
}

static int
bw_test_hash_setup(void **state)
{
    memset(&bw_test_hash, 0, sizeof(bw_test_hash));
    bw_test_hash.pool = bw_pool_create(4096, NULL);
    bw_str_set(&bw_test_hash.name, "grp");
    bw_time.sec = 1000000;
    return bw_test_hash.pool ? 0 : -1;
}

static int
bw_test_hash_teardown(void **state)
{
    bw_pool_destroy(bw_test_hash.pool);
    return 0;
}

/* The index of the peer named like pc's pick, as a letter ('-' when busy). */
static char
bw_test_hash_letter(const bw_upstream_peer_conn_t *pc)
{
    for (size_t i = 0; i < bw_test_hash.n; i++) {
        if (bw_str_eq(pc->name, &bw_test_hash.servers[i].name)) {
            return (char) ('a' + i);
        }
    }
    return '?';
}

/* One hash request for key (points NULL: plain hash): the letter picked. */
static char
bw_test_hash_request(bw_upstream_rr_peers_t *peers, const bw_upstream_chash_points_t *points,
                     const char *key)
{
    bw_upstream_hash_peer_data_t hp;
    bw_upstream_peer_conn_t      pc;
    bw_str_t                     k = {strlen(key), (u_char *) key};

    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_hash_data_init(bw_test_hash.pool, peers, points, &k, &hp, &pc),
                     BW_OK);
    if (pc.get(&pc, pc.data) != BW_OK) {
        return '-';
    }
    char c = bw_test_hash_letter(&pc);
    pc.free(&pc, pc.data, 0);
    return c;
}

/* One ip_hash request from address text (IPv4 or IPv6). */
static char
bw_test_ip_hash_request(bw_upstream_rr_peers_t *peers, const char *addr)
{
    bw_upstream_ip_hash_peer_data_t hp;
    bw_upstream_peer_conn_t         pc;
    struct sockaddr_in              sin;
    struct sockaddr_in6             sin6;
    struct sockaddr                *sa;

    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));
    if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sa = (struct sockaddr *) &sin;
    } else {
        assert_int_equal(inet_pton(AF_INET6, addr, &sin6.sin6_addr), 1);
        sin6.sin6_family = AF_INET6;
        sa = (struct sockaddr *) &sin6;
    }
    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_ip_hash_data_init(bw_test_hash.pool, peers, sa, &hp, &pc),
                     BW_OK);
    if (pc.get(&pc, pc.data) != BW_OK) {
        return '-';
    }
    char c = bw_test_hash_letter(&pc);
    pc.free(&pc, pc.data, 0);
    return c;
}

/* The letters for keys "key0".."key<n-1>". */
static void
bw_test_hash_sequence(bw_upstream_rr_peers_t *peers, const bw_upstream_chash_points_t *points,
                      char *seq, int n)
{
    char key[32];

    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        seq[i] = bw_test_hash_request(peers, points, key);
    }
    seq[n] = '\0';
}

/* ------------------------------------------------------------ hash key */

static void
test_upstream_hash_matches_nginx_sequence(void **state)
{
    char seq[64];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_test_hash_sequence(bw_test_hash_build(), NULL, seq, 40);
    /* nginx */
    assert_string_equal(seq, "cbabccbaabbbbcbababbbacbbcaacaccacbaccbb");
}

static void
test_upstream_hash_weighted_matches_nginx_sequence(void **state)
{
    char seq[64];

    bw_test_hash_nginx_servers(3, 1, 2);
    bw_test_hash_sequence(bw_test_hash_build(), NULL, seq, 40);
    /* nginx */
    assert_string_equal(seq, "ccbcaccbaacaccaaaaacaaccccababacacaacaac");
}

static void
test_upstream_hash_down_server_rehashes_like_nginx(void **state)
{
    char seq[64];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_test_hash.servers[1].down = true;
    bw_test_hash_sequence(bw_test_hash_build(), NULL, seq, 40);
    /* nginx, with the second server down */
    assert_string_equal(seq, "ccaaccaaaaaacccaaaacaaccccaacaccaccaccca");
}

static void
test_upstream_hash_same_key_same_server(void **state)
{
    bw_test_hash_nginx_servers(1, 1, 1);
    bw_upstream_rr_peers_t *peers = bw_test_hash_build();
    char                    first = bw_test_hash_request(peers, NULL, "/some/uri?x=1");

    for (int i = 0; i < 50; i++) {
        assert_int_equal(bw_test_hash_request(peers, NULL, "/some/uri?x=1"), first);
    }
}

static void
test_upstream_hash_spreads_keys_evenly(void **state)
{
    int  count[3] = {0, 0, 0};
    char key[32];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_upstream_rr_peers_t *peers = bw_test_hash_build();
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "/item/%d", i);
        count[bw_test_hash_request(peers, NULL, key) - 'a']++;
    }
    for (int i = 0; i < 3; i++) {
        assert_in_range(count[i], 850, 1150);
    }
}

static void
test_upstream_hash_all_down_is_busy(void **state)
{
    bw_test_hash_nginx_servers(1, 1, 1);
    for (int i = 0; i < 3; i++) {
        bw_test_hash.servers[i].down = true;
    }
    assert_int_equal(bw_test_hash_request(bw_test_hash_build(), NULL, "k"), '-');
}

static void
test_upstream_hash_empty_key_falls_back_to_round_robin(void **state)
{
    char seq[8];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_upstream_rr_peers_t *peers = bw_test_hash_build();
    for (int i = 0; i < 6; i++) {
        seq[i] = bw_test_hash_request(peers, NULL, "");
    }
    seq[6] = '\0';
    assert_string_equal(seq, "abcabc");
}

static void
test_upstream_hash_falls_back_to_round_robin_after_20_tries(void **state)
{
    bw_upstream_hash_peer_data_t hp;
    bw_upstream_peer_conn_t      pc;
    bw_str_t                     key = bw_string("some-key");

    /* the down server holds nearly all the weight: rehashing keeps landing on it */
    bw_test_hash_server("10.0.0.1:80", 1000)->down = true;
    bw_test_hash_server("10.0.0.2:80", 1);
    bw_upstream_rr_peers_t *peers = bw_test_hash_build();
    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_hash_data_init(bw_test_hash.pool, peers, NULL, &key, &hp, &pc),
                     BW_OK);
    assert_int_equal(pc.get(&pc, pc.data), BW_OK);
    assert_int_equal(bw_test_hash_letter(&pc), 'b');
    assert_int_equal(hp.tries, BW_UPSTREAM_HASH_TRIES + 1);
    assert_int_equal(hp.rehash, BW_UPSTREAM_HASH_TRIES + 1);
    pc.free(&pc, pc.data, 0);
}

/* ------------------------------------------------------ hash consistent */

static void
test_upstream_chash_ring_has_160_points_per_weight(void **state)
{
    bw_test_hash_nginx_servers(1, 2, 1);
    bw_upstream_chash_points_t *points =
        bw_upstream_chash_points_create(bw_test_hash.pool, bw_test_hash_build());

    assert_non_null(points);
    /* crc32 collisions among 640 points are possible but rare: allow a few */
    assert_in_range(points->number, 636, 640);
    for (bw_uint_t i = 1; i < points->number; i++) {
        assert_true(points->point[i - 1].hash < points->point[i].hash);
    }
    assert_int_equal(bw_upstream_chash_find(points, 0), 0);
    assert_int_equal(bw_upstream_chash_find(points, points->point[5].hash), 5);
    assert_int_equal(bw_upstream_chash_find(points, points->point[5].hash + 1), 6);
    assert_int_equal(bw_upstream_chash_find(points, UINT32_MAX),
                     points->point[points->number - 1].hash == UINT32_MAX ? points->number - 1
                                                                          : points->number);
}

static void
test_upstream_chash_matches_nginx_sequence(void **state)
{
    char seq[64];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_upstream_rr_peers_t     *peers = bw_test_hash_build();
    bw_upstream_chash_points_t *points = bw_upstream_chash_points_create(bw_test_hash.pool, peers);

    bw_test_hash_sequence(peers, points, seq, 40);
    /* nginx */
    assert_string_equal(seq, "aaababcbabbbbcaacbaccbaaccccaababacbbcbc");
}

static void
test_upstream_chash_weighted_matches_nginx_sequence(void **state)
{
    char seq[64];

    bw_test_hash_nginx_servers(3, 1, 2);
    bw_upstream_rr_peers_t     *peers = bw_test_hash_build();
    bw_upstream_chash_points_t *points = bw_upstream_chash_points_create(bw_test_hash.pool, peers);

    bw_test_hash_sequence(peers, points, seq, 40);
    /* nginx */
    assert_string_equal(seq, "aaaaabcbcbbbbaaaabacacaaccccaaacbccabcac");
}

static void
test_upstream_chash_down_server_moves_only_its_keys_like_nginx(void **state)
{
    char seq[64];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_test_hash.servers[1].down = true;
    bw_upstream_rr_peers_t     *peers = bw_test_hash_build();
    bw_upstream_chash_points_t *points = bw_upstream_chash_points_create(bw_test_hash.pool, peers);

    bw_test_hash_sequence(peers, points, seq, 40);
    /* nginx, with the second server down */
    assert_string_equal(seq, "aaacacccaaaaacaacaacccaaccccaacaaacaaccc");
}

#define BW_TEST_CHASH_KEYS 20000

/* The letters of BW_TEST_CHASH_KEYS keys over servers 10.0.0.1..n:80 (weights 1). */
static void
bw_test_chash_map(size_t n, char *out)
{
    char name[32], key[32];

    bw_test_hash.n = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "10.0.0.%zu:80", i + 1);
        bw_test_hash_server(name, 1);
    }
    bw_upstream_rr_peers_t     *peers = bw_test_hash_build();
    bw_upstream_chash_points_t *points = bw_upstream_chash_points_create(bw_test_hash.pool, peers);
    assert_non_null(points);
    for (int k = 0; k < BW_TEST_CHASH_KEYS; k++) {
        snprintf(key, sizeof(key), "/object/%d", k);
        out[k] = bw_test_hash_request(peers, points, key);
    }
}

static void
test_upstream_chash_adding_a_server_remaps_about_1_over_n(void **state)
{
    static char before[BW_TEST_CHASH_KEYS], after[BW_TEST_CHASH_KEYS];
    int         moved = 0;

    bw_test_chash_map(4, before);
    bw_test_chash_map(5, after);
    for (int k = 0; k < BW_TEST_CHASH_KEYS; k++) {
        if (before[k] != after[k]) {
            /* a key only ever moves to the new server */
            assert_int_equal(after[k], 'e');
            moved++;
        }
    }
    /* 1/5 of the keys, within a tolerance for the ring's unevenness */
    assert_in_range(moved, BW_TEST_CHASH_KEYS / 5 - BW_TEST_CHASH_KEYS / 16,
                    BW_TEST_CHASH_KEYS / 5 + BW_TEST_CHASH_KEYS / 16);
}

static void
test_upstream_chash_removing_a_server_remaps_only_its_keys(void **state)
{
    static char before[BW_TEST_CHASH_KEYS], after[BW_TEST_CHASH_KEYS];
    int         moved = 0, owned = 0;

    bw_test_chash_map(5, before);
    bw_test_chash_map(4, after);
    for (int k = 0; k < BW_TEST_CHASH_KEYS; k++) {
        owned += before[k] == 'e';
        if (before[k] != after[k]) {
            assert_int_equal(before[k], 'e');
            moved++;
        }
    }
    assert_int_equal(moved, owned);
    assert_in_range(moved, BW_TEST_CHASH_KEYS / 5 - BW_TEST_CHASH_KEYS / 16,
                    BW_TEST_CHASH_KEYS / 5 + BW_TEST_CHASH_KEYS / 16);
}

static void
test_upstream_chash_spreads_keys_evenly(void **state)
{
    static char map[BW_TEST_CHASH_KEYS];
    int         count[4] = {0, 0, 0, 0};

    bw_test_chash_map(4, map);
    for (int k = 0; k < BW_TEST_CHASH_KEYS; k++) {
        count[map[k] - 'a']++;
    }
    for (int i = 0; i < 4; i++) {
        assert_in_range(count[i], BW_TEST_CHASH_KEYS / 4 - BW_TEST_CHASH_KEYS / 12,
                        BW_TEST_CHASH_KEYS / 4 + BW_TEST_CHASH_KEYS / 12);
    }
}

static void
test_upstream_chash_failed_server_keys_move_to_next_point(void **state)
{
    static char before[BW_TEST_CHASH_KEYS];

    bw_test_chash_map(4, before);
    bw_test_hash.n = 0;
    char name[32], key[32];
    for (size_t i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "10.0.0.%zu:80", i + 1);
        bw_test_hash_server(name, 1);
    }
    bw_upstream_rr_peers_t     *peers = bw_test_hash_build();
    bw_upstream_chash_points_t *points = bw_upstream_chash_points_create(bw_test_hash.pool, peers);
    /* b failed max_fails times just now: unusable for fail_timeout */
    peers->peer[1].fails = 1;
    peers->peer[1].checked = bw_time.sec;
    for (int k = 0; k < 2000; k++) {
        snprintf(key, sizeof(key), "/object/%d", k);
        char c = bw_test_hash_request(peers, points, key);
        assert_int_not_equal(c, 'b');
        if (before[k] != 'b') {
            assert_int_equal(c, before[k]);
        }
    }
}

/* -------------------------------------------------------------- ip_hash */

static void
test_ip_hash_uses_first_three_octets(void **state)
{
    char addr[32];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_upstream_rr_peers_t *peers = bw_test_hash_build();
    for (int net = 0; net < 20; net++) {
        snprintf(addr, sizeof(addr), "198.51.%d.1", net);
        char first = bw_test_ip_hash_request(peers, addr);
        for (int host = 2; host < 255; host += 23) {
            snprintf(addr, sizeof(addr), "198.51.%d.%d", net, host);
            assert_int_equal(bw_test_ip_hash_request(peers, addr), first);
        }
    }
}

/* The letters of ip_hash for addresses fmt % k, k = 0..n-1. */
static void
bw_test_ip_hash_sequence(bw_upstream_rr_peers_t *peers, const char *fmt, int mul, char *seq,
                         int n)
{
    char addr[64];

    for (int k = 0; k < n; k++) {
        snprintf(addr, sizeof(addr), fmt, k, k * mul % 256);
        seq[k] = bw_test_ip_hash_request(peers, addr);
    }
    seq[n] = '\0';
}

static void
test_ip_hash_matches_nginx_sequences(void **state)
{
    char seq[64];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_upstream_rr_peers_t *peers = bw_test_hash_build();
    /* nginx: 192.168.k.1, 10.k.(7k % 256).9, 2001:db8::k */
    bw_test_ip_hash_sequence(peers, "192.168.%d.%d", 0, seq, 40);
    assert_string_equal(seq, "abcabcabcabcabcabcabcabcabcabcabcabcabca");
    bw_test_ip_hash_sequence(peers, "10.%d.%d.9", 7, seq, 40);
    assert_string_equal(seq, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaccccccbbb");
    bw_test_ip_hash_sequence(peers, "2001:db8::%d", 0, seq, 20);
    assert_string_equal(seq, "bcabcabcabcabcabcabc");
}

static void
test_ip_hash_weighted_matches_nginx_sequences(void **state)
{
    char seq[64];

    bw_test_hash_nginx_servers(3, 1, 2);
    bw_upstream_rr_peers_t *peers = bw_test_hash_build();
    /* nginx */
    bw_test_ip_hash_sequence(peers, "192.168.%d.%d", 0, seq, 40);
    assert_string_equal(seq, "bccaaabccaaabccaaabccaaabccaaabccaaabcca");
    bw_test_ip_hash_sequence(peers, "10.%d.%d.9", 7, seq, 40);
    assert_string_equal(seq, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbaaaaaaccc");
}

static void
test_ip_hash_down_server_rehashes_like_nginx(void **state)
{
    char seq[64];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_test_hash.servers[1].down = true;
    bw_test_ip_hash_sequence(bw_test_hash_build(), "192.168.%d.%d", 0, seq, 40);
    /* nginx, with the second server down */
    assert_string_equal(seq, "accaacaacaccaacaacaacaacaccaccaccaccaaca");
}

static void
test_ip_hash_falls_back_to_round_robin_after_20_tries(void **state)
{
    bw_upstream_ip_hash_peer_data_t hp;
    bw_upstream_peer_conn_t         pc;
    struct sockaddr_in              sin;

    bw_test_hash_server("10.0.0.1:80", 1000)->down = true;
    bw_test_hash_server("10.0.0.2:80", 1);
    bw_upstream_rr_peers_t *peers = bw_test_hash_build();
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, "203.0.113.9", &sin.sin_addr), 1);
    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_ip_hash_data_init(bw_test_hash.pool, peers,
                                                   (struct sockaddr *) &sin, &hp, &pc),
                     BW_OK);
    assert_int_equal(pc.get(&pc, pc.data), BW_OK);
    assert_int_equal(bw_test_hash_letter(&pc), 'b');
    assert_int_equal(hp.tries, BW_UPSTREAM_HASH_TRIES + 1);
    pc.free(&pc, pc.data, 0);
}

static void
test_ip_hash_only_live_server_gets_everything(void **state)
{
    char addr[32];

    bw_test_hash_nginx_servers(1, 1, 1);
    bw_test_hash.servers[0].down = true;
    bw_test_hash.servers[2].down = true;
    bw_upstream_rr_peers_t *peers = bw_test_hash_build();
    for (int k = 0; k < 50; k++) {
        snprintf(addr, sizeof(addr), "203.0.%d.7", k);
        assert_int_equal(bw_test_ip_hash_request(peers, addr), 'b');
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, bw_test_hash_setup, bw_test_hash_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_upstream_hash_matches_nginx_sequence),
        T(test_upstream_hash_weighted_matches_nginx_sequence),
        T(test_upstream_hash_down_server_rehashes_like_nginx),
        T(test_upstream_hash_same_key_same_server),
        T(test_upstream_hash_spreads_keys_evenly),
        T(test_upstream_hash_all_down_is_busy),
        T(test_upstream_hash_empty_key_falls_back_to_round_robin),
        T(test_upstream_hash_falls_back_to_round_robin_after_20_tries),
        T(test_upstream_chash_ring_has_160_points_per_weight),
        T(test_upstream_chash_matches_nginx_sequence),
        T(test_upstream_chash_weighted_matches_nginx_sequence),
        T(test_upstream_chash_down_server_moves_only_its_keys_like_nginx),
        T(test_upstream_chash_adding_a_server_remaps_about_1_over_n),
        T(test_upstream_chash_removing_a_server_remaps_only_its_keys),
        T(test_upstream_chash_spreads_keys_evenly),
        T(test_upstream_chash_failed_server_keys_move_to_next_point),
        T(test_ip_hash_uses_first_three_octets),
        T(test_ip_hash_matches_nginx_sequences),
        T(test_ip_hash_weighted_matches_nginx_sequences),
        T(test_ip_hash_down_server_rehashes_like_nginx),
        T(test_ip_hash_falls_back_to_round_robin_after_20_tries),
        T(test_ip_hash_only_live_server_gets_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
