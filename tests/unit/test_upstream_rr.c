/*
 * test_upstream_rr.c -- the round-robin balancer: nginx's smooth weighted
 * sequence, down and backup servers, max_fails/fail_timeout, max_conns,
 * the single-server rule and the per-request tried set.
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
#include "upstream_rr.h"

#define BW_TEST_RR_MAX 8

typedef struct {
    bw_pool_t            *pool;
    bw_str_t              name;
    bw_upstream_server_t  servers[BW_TEST_RR_MAX];
    bw_upstream_addr_t    addrs[BW_TEST_RR_MAX][2];
    struct sockaddr_in    sin[BW_TEST_RR_MAX][2];
    size_t                n;
    bw_upstream_rr_peers_t *peers;
} bw_test_rr_t;

static bw_test_rr_t bw_test_rr;

/* Adds a server named `name` with `naddrs` addresses (ports 1000+i*10+j). */
static bw_upstream_server_t *
bw_test_rr_server(const char *name, bw_uint_t weight, size_t naddrs)
{
    bw_test_rr_t *t = &bw_test_rr;
    size_t        i = t->n++;
    bw_upstream_server_t *s = &t->servers[i];

    memset(s, 0, sizeof(*s));
    s->name.data = (u_char *) name;
    s->name.len = strlen(name);
    s->weight = weight;
    s->max_fails = 1;
    s->fail_timeout = 10;
    s->naddrs = naddrs;
    s->addrs = t->addrs[i];
    for (size_t j = 0; j < naddrs; j++) {
        struct sockaddr_in *sin = &t->sin[i][j];
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t) (1000 + i * 10 + j));
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        t->addrs[i][j].sockaddr = (struct sockaddr *) sin;
        t->addrs[i][j].socklen = sizeof(*sin);
        /* the peer name is the server name (plus the address index when several) */
        t->addrs[i][j].name = s->name;
    }
    return s;
}

/* Builds the group (primary + backup) from the servers added so far. */
static bw_upstream_rr_peers_t *
bw_test_rr_build(void)
{
    bw_test_rr_t *t = &bw_test_rr;
    bool          failed;

    t->peers = bw_upstream_rr_peers_create(t->pool, &t->name, t->servers, t->n, false, &failed);
    assert_false(failed);
    assert_non_null(t->peers);
    bw_upstream_rr_peers_t *backup =
        bw_upstream_rr_peers_create(t->pool, &t->name, t->servers, t->n, true, &failed);
    assert_false(failed);
    if (backup != NULL) {
        t->peers->single = false;
        t->peers->next = backup;
    }
    return t->peers;
}

static int
bw_test_rr_setup(void **state)
{
    memset(&bw_test_rr, 0, sizeof(bw_test_rr));
    bw_test_rr.pool = bw_pool_create(4096, NULL);
    bw_str_set(&bw_test_rr.name, "grp");
    bw_time.sec = 1000000;
    return bw_test_rr.pool ? 0 : -1;
}

static int
bw_test_rr_teardown(void **state)
{
    bw_pool_destroy(bw_test_rr.pool);
    return 0;
}

/* One request: picks a peer, returns its name's first letter ('-' when busy),
 * then frees it with `state`. */
static char
bw_test_rr_request(unsigned state)
{
    bw_upstream_rr_peer_data_t rrp;
    bw_upstream_peer_conn_t    pc;

    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_rr_data_init(bw_test_rr.pool, bw_test_rr.peers, &rrp, &pc),
                     BW_OK);
    if (pc.get(&pc, pc.data) != BW_OK) {
        return '-';
    }
    char c = (char) pc.name->data[0];
    pc.free(&pc, pc.data, state);
    return c;
}

/* The letters of n consecutive successful requests. */
static void
bw_test_rr_sequence(char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = bw_test_rr_request(0);
    }
    out[n] = '\0';
}

static void
test_upstream_rr_weights_5_1_1_give_nginx_sequence(void **state)
{
    char seq[15];

    bw_test_rr_server("a", 5, 1);
    bw_test_rr_server("b", 1, 1);
    bw_test_rr_server("c", 1, 1);
    bw_test_rr_build();
    bw_test_rr_sequence(seq, 14);
    assert_string_equal(seq, "aabacaaaabacaa");
}

static void
test_upstream_rr_equal_weights_rotate(void **state)
{
    char seq[10];

    bw_test_rr_server("a", 1, 1);
    bw_test_rr_server("b", 1, 1);
    bw_test_rr_server("c", 1, 1);
    assert_false(bw_test_rr_build()->weighted);
    bw_test_rr_sequence(seq, 9);
    assert_string_equal(seq, "abcabcabc");
}

static void
test_upstream_rr_weights_2_1_spread(void **state)
{
    char seq[7];

    bw_test_rr_server("a", 2, 1);
    bw_test_rr_server("b", 1, 1);
    assert_true(bw_test_rr_build()->weighted);
    bw_test_rr_sequence(seq, 6);
    assert_string_equal(seq, "abaaba");
}

static void
test_upstream_rr_down_server_never_picked(void **state)
{
    char seq[7];

    bw_test_rr_server("a", 1, 1);
    bw_test_rr_server("b", 1, 1)->down = true;
    bw_test_rr_server("c", 1, 1);
    bw_upstream_rr_peers_t *peers = bw_test_rr_build();
    assert_int_equal(peers->number, 3);
    assert_int_equal(peers->tries, 2);
    bw_test_rr_sequence(seq, 6);
    assert_string_equal(seq, "acacac");
}

static void
test_upstream_rr_all_down_is_busy_with_group_name(void **state)
{
    bw_upstream_rr_peer_data_t rrp;
    bw_upstream_peer_conn_t    pc;

    bw_test_rr_server("a", 1, 1)->down = true;
    bw_test_rr_server("b", 1, 1)->down = true;
    bw_test_rr_build();
    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_rr_data_init(bw_test_rr.pool, bw_test_rr.peers, &rrp, &pc),
                     BW_OK);
    assert_int_equal(pc.tries, 0);
    assert_int_equal(pc.get(&pc, pc.data), BW_BUSY);
    assert_non_null(pc.name);
    assert_true(bw_str_eq_lit(pc.name, "grp"));
}

static void
test_upstream_rr_request_tries_each_peer_once(void **state)
{
    bw_upstream_rr_peer_data_t rrp;
    bw_upstream_peer_conn_t    pc;
    char                       seen[4] = "";

    bw_test_rr_server("a", 1, 1);
    bw_test_rr_server("b", 1, 1);
    bw_test_rr_server("c", 1, 1);
    bw_test_rr_build();
    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_rr_data_init(bw_test_rr.pool, bw_test_rr.peers, &rrp, &pc),
                     BW_OK);
    assert_int_equal(pc.tries, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pc.get(&pc, pc.data), BW_OK);
        seen[i] = (char) pc.name->data[0];
        pc.free(&pc, pc.data, BW_UPSTREAM_PEER_FAILED);
    }
    assert_int_equal(pc.tries, 0);
    assert_int_equal(pc.get(&pc, pc.data), BW_BUSY);
    /* every peer exactly once, in some order */
    assert_non_null(strchr(seen, 'a'));
    assert_non_null(strchr(seen, 'b'));
    assert_non_null(strchr(seen, 'c'));
}

static void
test_upstream_rr_failed_peer_skipped_until_fail_timeout(void **state)
{
    char seq[5];

    bw_test_rr_server("a", 1, 1);
    bw_test_rr_server("b", 1, 1);
    bw_test_rr_build();

    assert_int_equal(bw_test_rr_request(BW_UPSTREAM_PEER_FAILED), 'a');
    bw_test_rr_sequence(seq, 4);
    assert_string_equal(seq, "bbbb");

    /* within fail_timeout (10 s) still skipped; after it, a probes again */
    bw_time.sec += 10;
    assert_int_equal(bw_test_rr_request(0), 'b');
    bw_time.sec += 1;
    bw_test_rr_sequence(seq, 4);
    assert_non_null(strchr(seq, 'a'));
    /* the successful probe made it live: it is picked regularly again */
    assert_int_equal(bw_test_rr.peers->peer->fails, 0);
}

static void
test_upstream_rr_failed_probe_disables_again(void **state)
{
    bw_test_rr_server("a", 1, 1);
    bw_test_rr_server("b", 1, 1);
    bw_test_rr_build();
    bw_upstream_rr_peer_t *pa = bw_test_rr.peers->peer;

    assert_int_equal(bw_test_rr_request(BW_UPSTREAM_PEER_FAILED), 'a');
    bw_time.sec += 11;
    /* requests succeed on b; the probe of a (once its fail_timeout passed) fails */
    int probes = 0;
    for (int i = 0; i < 6; i++) {
        bw_upstream_rr_peer_data_t rrp;
        bw_upstream_peer_conn_t    pc;
        memset(&pc, 0, sizeof(pc));
        assert_int_equal(bw_upstream_rr_data_init(bw_test_rr.pool, bw_test_rr.peers, &rrp, &pc),
                         BW_OK);
        assert_int_equal(pc.get(&pc, pc.data), BW_OK);
        bool is_a = pc.name->data[0] == 'a';
        probes += is_a;
        pc.free(&pc, pc.data, is_a ? BW_UPSTREAM_PEER_FAILED : 0);
    }
    /* one probe only: the failure disabled it for another fail_timeout */
    assert_int_equal(probes, 1);
    assert_int_equal(pa->fails, 2);
}

static void
test_upstream_rr_max_fails_counts_failures(void **state)
{
    bw_upstream_server_t *a = bw_test_rr_server("a", 1, 1);
    bw_test_rr_server("b", 1, 1);
    a->max_fails = 3;
    bw_test_rr_build();
    bw_upstream_rr_peer_t *pa = bw_test_rr.peers->peer;

    int failures = 0;
    for (int i = 0; i < 20 && failures < 2; i++) {
        if (bw_test_rr_request(BW_UPSTREAM_PEER_FAILED) == 'a') {
            failures++;
        }
    }
    assert_int_equal(pa->fails, 2);
    /* two failures of three allowed: a is still picked */
    int picked = 0;
    for (int i = 0; i < 4; i++) {
        picked += bw_test_rr_request(0) == 'a';
    }
    assert_true(picked > 0);
}

static void
test_upstream_rr_max_fails_zero_never_disables(void **state)
{
    char seq[5];

    bw_test_rr_server("a", 1, 1)->max_fails = 0;
    bw_test_rr_server("b", 1, 1);
    bw_test_rr_build();
    assert_int_equal(bw_test_rr_request(BW_UPSTREAM_PEER_FAILED), 'a');
    bw_test_rr_sequence(seq, 4);
    assert_string_equal(seq, "baba");
}

static void
test_upstream_rr_failure_lowers_effective_weight(void **state)
{
    bw_upstream_server_t *a = bw_test_rr_server("a", 4, 1);
    bw_test_rr_server("b", 1, 1);
    a->max_fails = 2;
    bw_test_rr_build();
    bw_upstream_rr_peer_t *pa = bw_test_rr.peers->peer;

    assert_int_equal(bw_test_rr_request(BW_UPSTREAM_PEER_FAILED), 'a');
    /* weight / max_fails = 2 taken off */
    assert_int_equal(pa->effective_weight, 2);
    /* each pick that considers it gives one back */
    bw_test_rr_request(0);
    assert_int_equal(pa->effective_weight, 3);
}

static void
test_upstream_rr_backup_used_only_when_primary_unavailable(void **state)
{
    char seq[5];

    bw_test_rr_server("a", 1, 1);
    bw_test_rr_server("z", 1, 1)->backup = true;
    bw_upstream_rr_peers_t *peers = bw_test_rr_build();
    assert_false(peers->single);
    assert_non_null(peers->next);

    bw_test_rr_sequence(seq, 4);
    assert_string_equal(seq, "aaaa");

    /* a failure within one request moves on to the backup */
    bw_upstream_rr_peer_data_t rrp;
    bw_upstream_peer_conn_t    pc;
    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_rr_data_init(bw_test_rr.pool, peers, &rrp, &pc), BW_OK);
    assert_int_equal(pc.tries, 2);
    assert_int_equal(pc.get(&pc, pc.data), BW_OK);
    assert_int_equal(pc.name->data[0], 'a');
    pc.free(&pc, pc.data, BW_UPSTREAM_PEER_FAILED);
    assert_int_equal(pc.tries, 1);
    assert_int_equal(pc.get(&pc, pc.data), BW_OK);
    assert_int_equal(pc.name->data[0], 'z');
    pc.free(&pc, pc.data, 0);

    /* a is failed now: new requests go to the backup */
    bw_test_rr_sequence(seq, 3);
    assert_string_equal(seq, "zzz");
}

static void
test_upstream_rr_backup_when_primary_down(void **state)
{
    char seq[4];

    bw_test_rr_server("a", 1, 1)->down = true;
    bw_test_rr_server("y", 1, 1)->backup = true;
    bw_test_rr_server("z", 1, 1)->backup = true;
    bw_test_rr_build();
    bw_test_rr_sequence(seq, 3);
    assert_string_equal(seq, "yzy");
}

static void
test_upstream_rr_single_peer_never_fails(void **state)
{
    char seq[4];

    bw_test_rr_server("a", 1, 1);
    bw_upstream_rr_peers_t *peers = bw_test_rr_build();
    assert_true(peers->single);

    bw_upstream_rr_peer_data_t rrp;
    bw_upstream_peer_conn_t    pc;
    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_rr_data_init(bw_test_rr.pool, peers, &rrp, &pc), BW_OK);
    assert_int_equal(pc.tries, 1);
    assert_int_equal(pc.get(&pc, pc.data), BW_OK);
    pc.free(&pc, pc.data, BW_UPSTREAM_PEER_FAILED);
    assert_int_equal(pc.tries, 0);
    assert_int_equal(peers->peer->fails, 0);

    bw_test_rr_sequence(seq, 3);
    assert_string_equal(seq, "aaa");
}

static void
test_upstream_rr_max_conns_skips_busy_peer(void **state)
{
    bw_upstream_rr_peer_data_t rrp1, rrp2;
    bw_upstream_peer_conn_t    pc1, pc2;

    bw_test_rr_server("a", 1, 1)->max_conns = 1;
    bw_test_rr_server("b", 1, 1)->max_conns = 1;
    bw_upstream_rr_peers_t *peers = bw_test_rr_build();

    memset(&pc1, 0, sizeof(pc1));
    memset(&pc2, 0, sizeof(pc2));
    assert_int_equal(bw_upstream_rr_data_init(bw_test_rr.pool, peers, &rrp1, &pc1), BW_OK);
    assert_int_equal(bw_upstream_rr_data_init(bw_test_rr.pool, peers, &rrp2, &pc2), BW_OK);
    assert_int_equal(pc1.get(&pc1, pc1.data), BW_OK);
    assert_int_equal(pc2.get(&pc2, pc2.data), BW_OK);
    /* both in use: a third request finds nobody */
    assert_int_equal(bw_test_rr_request(0), '-');
    assert_int_not_equal(pc1.name->data[0], pc2.name->data[0]);
    pc1.free(&pc1, pc1.data, 0);
    assert_int_not_equal(bw_test_rr_request(0), '-');
    pc2.free(&pc2, pc2.data, 0);
    assert_int_equal(peers->peer->conns, 0);
    assert_int_equal(peers->peer->next->conns, 0);
}

static void
test_upstream_rr_server_with_several_addresses_gives_several_peers(void **state)
{
    bw_test_rr_server("m", 2, 2);
    bw_test_rr_server("n", 1, 1);
    bw_upstream_rr_peers_t *peers = bw_test_rr_build();

    assert_int_equal(peers->number, 3);
    assert_int_equal(peers->tries, 3);
    assert_int_equal(peers->total_weight, 5);
    assert_int_equal(peers->peer->weight, 2);
    assert_int_equal(peers->peer->next->weight, 2);
    assert_ptr_not_equal(peers->peer->sockaddr, peers->peer->next->sockaddr);
}

static void
test_upstream_rr_many_peers_use_allocated_bitmap(void **state)
{
    bw_upstream_rr_peer_data_t rrp;
    bw_upstream_peer_conn_t    pc;
    bw_upstream_server_t       big;
    bw_upstream_addr_t        *addrs;
    struct sockaddr_in         sin;
    bool                       failed;
    const size_t               n = 100;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    memset(&big, 0, sizeof(big));
    bw_str_set(&big.name, "many");
    big.weight = 1;
    big.max_fails = 1;
    big.fail_timeout = 10;
    addrs = bw_pcalloc(bw_test_rr.pool, n * sizeof(*addrs));
    assert_non_null(addrs);
    for (size_t i = 0; i < n; i++) {
        addrs[i].sockaddr = (struct sockaddr *) &sin;
        addrs[i].socklen = sizeof(sin);
        addrs[i].name = big.name;
    }
    big.addrs = addrs;
    big.naddrs = n;
    bw_upstream_rr_peers_t *peers =
        bw_upstream_rr_peers_create(bw_test_rr.pool, &bw_test_rr.name, &big, 1, false, &failed);
    assert_non_null(peers);

    memset(&pc, 0, sizeof(pc));
    assert_int_equal(bw_upstream_rr_data_init(bw_test_rr.pool, peers, &rrp, &pc), BW_OK);
    assert_ptr_not_equal(rrp.tried, &rrp.data);
    size_t got = 0;
    while (pc.get(&pc, pc.data) == BW_OK && got < n + 5) {
        got++;
        pc.free(&pc, pc.data, BW_UPSTREAM_PEER_FAILED);
    }
    assert_int_equal(got, n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, bw_test_rr_setup, bw_test_rr_teardown)
        T(test_upstream_rr_weights_5_1_1_give_nginx_sequence),
        T(test_upstream_rr_equal_weights_rotate),
        T(test_upstream_rr_weights_2_1_spread),
        T(test_upstream_rr_down_server_never_picked),
        T(test_upstream_rr_all_down_is_busy_with_group_name),
        T(test_upstream_rr_request_tries_each_peer_once),
        T(test_upstream_rr_failed_peer_skipped_until_fail_timeout),
        T(test_upstream_rr_failed_probe_disables_again),
        T(test_upstream_rr_max_fails_counts_failures),
        T(test_upstream_rr_max_fails_zero_never_disables),
        T(test_upstream_rr_failure_lowers_effective_weight),
        T(test_upstream_rr_backup_used_only_when_primary_unavailable),
        T(test_upstream_rr_backup_when_primary_down),
        T(test_upstream_rr_single_peer_never_fails),
        T(test_upstream_rr_max_conns_skips_busy_peer),
        T(test_upstream_rr_server_with_several_addresses_gives_several_peers),
        T(test_upstream_rr_many_peers_use_allocated_bitmap),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
