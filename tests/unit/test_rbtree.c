/*
 * test_rbtree.c -- the red-black tree under random insert/delete, with the
 * invariants (root black, no red-red, equal black height, order, parent
 * links) checked after every operation; duplicates; wrapping timer keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbtree.h"
#include "support.h"

typedef struct {
    bw_rbtree_node_t node; /* first: a node pointer is a test_node pointer */
    unsigned         seq;  /* insertion order, to check duplicates stay stable */
    bool             in_tree;
    const char      *name; /* for the custom insert function */
} bw_test_node_t;

typedef struct {
    bw_rbtree_t      tree;
    bw_rbtree_node_t sentinel;
    bool             timer; /* compare keys by signed distance */
} bw_test_tree_t;

static uint64_t bw_test_rng = 0x9e3779b97f4a7c15ULL;

static int
bw_test_key_cmp(const bw_test_tree_t *t, bw_rbtree_key_t a, bw_rbtree_key_t b)
{
    if (t->timer) {
        bw_rbtree_key_int_t d = (bw_rbtree_key_int_t) (a - b);
        return d < 0 ? -1 : d > 0;
    }
    return a < b ? -1 : a > b;
}

/*
 * Checks the subtree at n; returns its black height (sentinel counts 1).
 * Fails the test on any violated invariant. Counts nodes into *count.
 */
static int
bw_test_subtree_check(bw_test_tree_t *t, bw_rbtree_node_t *n, size_t *count)
{
    bw_rbtree_node_t *s = &t->sentinel;

    if (n == s) {
        return 1;
    }
    (*count)++;
    assert_true(*count < 1000000); /* a cycle would loop forever */
    if (n->color == 1) {
        assert_int_equal(n->left->color, 0);
        assert_int_equal(n->right->color, 0);
    }
    if (n->left != s) {
        assert_ptr_equal(n->left->parent, n);
        assert_true(bw_test_key_cmp(t, n->left->key, n->key) <= 0);
    }
    if (n->right != s) {
        assert_ptr_equal(n->right->parent, n);
        assert_true(bw_test_key_cmp(t, n->right->key, n->key) >= 0);
    }
    int lh = bw_test_subtree_check(t, n->left, count);
    int rh = bw_test_subtree_check(t, n->right, count);
    assert_int_equal(lh, rh);
    return lh + (n->color == 0);
}

/* Checks every invariant and that the tree holds exactly `expected` nodes. */
static void
bw_test_tree_check(bw_test_tree_t *t, size_t expected)
{
    size_t count = 0;

    assert_int_equal(t->sentinel.color, 0);
    if (t->tree.root != &t->sentinel) {
        assert_int_equal(t->tree.root->color, 0);
        assert_null(t->tree.root->parent);
    }
    bw_test_subtree_check(t, t->tree.root, &count);
    assert_int_equal(count, expected);

    /* in-order walk with min/next visits every node in key order */
    size_t walked = 0;
    if (t->tree.root != &t->sentinel) {
        bw_rbtree_node_t *prev = NULL;
        for (bw_rbtree_node_t *n = bw_rbtree_min(t->tree.root, &t->sentinel); n;
             n = bw_rbtree_next(&t->tree, n)) {
            if (prev) {
                assert_true(bw_test_key_cmp(t, prev->key, n->key) <= 0);
            }
            prev = n;
            walked++;
            assert_true(walked <= expected);
        }
    }
    assert_int_equal(walked, expected);
}

static void
bw_test_tree_init(bw_test_tree_t *t, bool timer)
{
    t->timer = timer;
    bw_rbtree_init(&t->tree, &t->sentinel,
                   timer ? bw_rbtree_insert_timer_value : bw_rbtree_insert_value);
}

static void
test_rbtree_init_is_empty(void **state)
{
    bw_test_tree_t t;
    bw_test_tree_init(&t, false);
    assert_true(bw_rbtree_empty(&t.tree));
    bw_test_tree_check(&t, 0);

    bw_test_node_t a = {.node.key = 5};
    bw_rbtree_insert(&t.tree, &a.node);
    assert_false(bw_rbtree_empty(&t.tree));
    assert_ptr_equal(t.tree.root, &a.node);
    assert_null(bw_rbtree_next(&t.tree, &a.node));
    bw_rbtree_delete(&t.tree, &a.node);
    assert_true(bw_rbtree_empty(&t.tree));
}

#define BW_TEST_NODES 3000

static void
bw_test_random_ops(bool timer, bw_rbtree_key_t base, uint32_t key_range)
{
    static bw_test_node_t nodes[BW_TEST_NODES];
    bw_test_tree_t t;
    size_t in = 0;

    memset(nodes, 0, sizeof(nodes));
    bw_test_tree_init(&t, timer);

    /* phase 1: insert every node (random keys, many duplicates) */
    for (size_t i = 0; i < BW_TEST_NODES; i++) {
        nodes[i].node.key = base + bw_test_xorshift(&bw_test_rng) % key_range;
        bw_rbtree_insert(&t.tree, &nodes[i].node);
        nodes[i].in_tree = true;
        bw_test_tree_check(&t, ++in);
    }
    /* phase 2: random mix of deletes and re-inserts */
    for (size_t op = 0; op < 2 * BW_TEST_NODES; op++) {
        bw_test_node_t *n = &nodes[bw_test_xorshift(&bw_test_rng) % BW_TEST_NODES];
        if (n->in_tree) {
            bw_rbtree_delete(&t.tree, &n->node);
            n->in_tree = false;
            in--;
        } else {
            n->node.key = base + bw_test_xorshift(&bw_test_rng) % key_range;
            bw_rbtree_insert(&t.tree, &n->node);
            n->in_tree = true;
            in++;
        }
        bw_test_tree_check(&t, in);
    }
    /* phase 3: delete the rest in random order */
    static unsigned perm[BW_TEST_NODES];
    for (unsigned i = 0; i < BW_TEST_NODES; i++) {
        perm[i] = i;
    }
    for (unsigned i = BW_TEST_NODES - 1; i > 0; i--) {
        unsigned j = bw_test_xorshift(&bw_test_rng) % (i + 1), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (size_t i = 0; i < BW_TEST_NODES; i++) {
        bw_test_node_t *n = &nodes[perm[i]];
        if (n->in_tree) {
            bw_rbtree_delete(&t.tree, &n->node);
            n->in_tree = false;
            bw_test_tree_check(&t, --in);
        }
    }
    assert_int_equal(in, 0);
    assert_true(bw_rbtree_empty(&t.tree));
}

static void
test_rbtree_random_insert_delete_keeps_invariants(void **state)
{
    bw_test_random_ops(false, 0, 1000000);
}

static void
test_rbtree_random_with_many_duplicates_keeps_invariants(void **state)
{
    bw_test_random_ops(false, 0, 50);
}

static void
test_rbtree_random_timer_keys_across_wrap_keep_invariants(void **state)
{
    /* keys span the wrap of the key type; the timer insert orders them by distance */
    bw_test_random_ops(true, (bw_rbtree_key_t) -500000, 1000000);
}

static void
test_rbtree_duplicates_iterate_in_insertion_order(void **state)
{
    bw_test_node_t nodes[200];
    bw_test_tree_t t;

    bw_test_tree_init(&t, false);
    memset(nodes, 0, sizeof(nodes));
    for (unsigned i = 0; i < 200; i++) {
        nodes[i].node.key = i % 4; /* 50 nodes per key */
        nodes[i].seq = i;
        bw_rbtree_insert(&t.tree, &nodes[i].node);
    }
    bw_test_tree_check(&t, 200);

    bw_rbtree_node_t *n = bw_rbtree_min(t.tree.root, &t.sentinel);
    bw_test_node_t *prev = NULL;
    for (size_t count = 0; n; n = bw_rbtree_next(&t.tree, n), count++) {
        bw_test_node_t *tn = (bw_test_node_t *) n;
        if (prev && prev->node.key == n->key) {
            assert_true(prev->seq < tn->seq);
        }
        prev = tn;
        assert_true(count < 200);
    }
}

static void
test_rbtree_timer_keys_order_across_wraparound(void **state)
{
    bw_test_node_t nodes[16], plain_nodes[16];
    bw_test_tree_t t, plain;
    bw_rbtree_key_t base = (bw_rbtree_key_t) -8; /* 8 keys before the wrap, 8 after */
    unsigned order[16] = {9, 3, 15, 0, 12, 7, 1, 14, 4, 10, 6, 13, 2, 8, 11, 5};

    bw_test_tree_init(&t, true);
    bw_test_tree_init(&plain, false);
    memset(nodes, 0, sizeof(nodes));
    memset(plain_nodes, 0, sizeof(plain_nodes));
    for (unsigned i = 0; i < 16; i++) {
        nodes[order[i]].node.key = base + order[i];
        nodes[order[i]].seq = order[i];
        bw_rbtree_insert(&t.tree, &nodes[order[i]].node);
        plain_nodes[order[i]].node.key = base + order[i];
        plain_nodes[order[i]].seq = order[i];
        bw_rbtree_insert(&plain.tree, &plain_nodes[order[i]].node);
    }
    bw_test_tree_check(&t, 16);
    bw_test_tree_check(&plain, 16);

    /* timer order: the earliest deadline (just before the wrap) comes first */
    bw_rbtree_node_t *n = bw_rbtree_min(t.tree.root, &t.sentinel);
    assert_int_equal(n->key, base);
    for (unsigned i = 0; i < 16; i++, n = bw_rbtree_next(&t.tree, n)) {
        assert_non_null(n);
        assert_int_equal(((bw_test_node_t *) n)->seq, i);
    }
    assert_null(n);

    /* plain order puts the wrapped (numerically small) keys first: the contrast */
    n = bw_rbtree_min(plain.tree.root, &plain.sentinel);
    assert_int_equal(n->key, 0);
    assert_int_equal(((bw_test_node_t *) n)->seq, 8);
}

static void
test_rbtree_ascending_insert_stays_logarithmic(void **state)
{
    static bw_test_node_t nodes[4096];
    bw_test_tree_t t;

    bw_test_tree_init(&t, false);
    memset(nodes, 0, sizeof(nodes));
    for (unsigned i = 0; i < 4096; i++) {
        nodes[i].node.key = i;
        bw_rbtree_insert(&t.tree, &nodes[i].node);
    }
    bw_test_tree_check(&t, 4096);

    /* deepest leaf: at most 2 * log2(n + 1) = 24 levels */
    unsigned max_depth = 0;
    for (unsigned i = 0; i < 4096; i++) {
        unsigned d = 0;
        for (bw_rbtree_node_t *n = &nodes[i].node; n; n = n->parent) {
            d++;
        }
        max_depth = bw_max(max_depth, d);
    }
    assert_true(max_depth <= 24);
    assert_int_equal(bw_rbtree_min(t.tree.root, &t.sentinel)->key, 0);
}

static void
test_rbtree_delete_root_repeatedly_until_empty(void **state)
{
    static bw_test_node_t nodes[1000];
    bw_test_tree_t t;

    bw_test_tree_init(&t, false);
    memset(nodes, 0, sizeof(nodes));
    for (unsigned i = 0; i < 1000; i++) {
        nodes[i].node.key = bw_test_xorshift(&bw_test_rng) % 5000;
        bw_rbtree_insert(&t.tree, &nodes[i].node);
    }
    for (size_t left = 1000; left > 0; left--) {
        bw_rbtree_node_t *root = t.tree.root;
        bw_rbtree_delete(&t.tree, root);
        assert_null(root->parent);
        assert_null(root->left);
        bw_test_tree_check(&t, left - 1);
    }
    assert_true(bw_rbtree_empty(&t.tree));
}

static void
test_rbtree_delete_min_in_order_like_timer_expiry(void **state)
{
    static bw_test_node_t nodes[2000];
    bw_test_tree_t t;

    bw_test_tree_init(&t, true);
    memset(nodes, 0, sizeof(nodes));
    for (unsigned i = 0; i < 2000; i++) {
        nodes[i].node.key = (bw_rbtree_key_t) -1000 + bw_test_xorshift(&bw_test_rng) % 2000;
        bw_rbtree_insert(&t.tree, &nodes[i].node);
    }
    bw_rbtree_key_t last = (bw_rbtree_key_t) -1000;
    for (size_t left = 2000; left > 0; left--) {
        bw_rbtree_node_t *min = bw_rbtree_min(t.tree.root, &t.sentinel);
        assert_true((bw_rbtree_key_int_t) (min->key - last) >= 0);
        last = min->key;
        bw_rbtree_delete(&t.tree, min);
        if (left % 97 == 0) {
            bw_test_tree_check(&t, left - 1);
        }
    }
    assert_true(bw_rbtree_empty(&t.tree));
}

/* Custom order: by key, then by name (as a zone index hashes then compares strings). */
static void
bw_test_insert_by_name(bw_rbtree_node_t *temp, bw_rbtree_node_t *node, bw_rbtree_node_t *sentinel)
{
    for (;;) {
        bw_test_node_t *a = (bw_test_node_t *) node, *b = (bw_test_node_t *) temp;
        bool left = node->key != temp->key ? node->key < temp->key : strcmp(a->name, b->name) < 0;
        bw_rbtree_node_t **link = left ? &temp->left : &temp->right;
        if (*link == sentinel) {
            bw_rbtree_link(temp, link, node, sentinel);
            return;
        }
        temp = *link;
    }
}

static void
test_rbtree_custom_insert_function_orders_ties(void **state)
{
    const char *names[] = {"delta", "alpha", "echo", "charlie", "bravo"};
    bw_test_node_t nodes[5];
    bw_rbtree_node_t sentinel;
    bw_rbtree_t tree;

    bw_rbtree_init(&tree, &sentinel, bw_test_insert_by_name);
    memset(nodes, 0, sizeof(nodes));
    for (int i = 0; i < 5; i++) {
        nodes[i].node.key = 7;
        nodes[i].name = names[i];
        bw_rbtree_insert(&tree, &nodes[i].node);
    }
    const char *expect[] = {"alpha", "bravo", "charlie", "delta", "echo"};
    bw_rbtree_node_t *n = bw_rbtree_min(tree.root, &sentinel);
    for (int i = 0; i < 5; i++, n = bw_rbtree_next(&tree, n)) {
        assert_non_null(n);
        assert_string_equal(((bw_test_node_t *) n)->name, expect[i]);
    }
    assert_null(n);
}

static void
test_rbtree_spare_data_byte_survives_rebalancing(void **state)
{
    static bw_test_node_t nodes[500];
    bw_test_tree_t t;

    bw_test_tree_init(&t, false);
    memset(nodes, 0, sizeof(nodes));
    for (unsigned i = 0; i < 500; i++) {
        nodes[i].node.key = bw_test_xorshift(&bw_test_rng) % 100;
        bw_rbtree_insert(&t.tree, &nodes[i].node);
        nodes[i].node.data = (u_char) i;
    }
    for (unsigned i = 0; i < 500; i += 2) {
        bw_rbtree_delete(&t.tree, &nodes[i].node);
    }
    bw_test_tree_check(&t, 250);
    for (unsigned i = 1; i < 500; i += 2) {
        assert_int_equal(nodes[i].node.data, (u_char) i);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rbtree_init_is_empty),
        cmocka_unit_test(test_rbtree_random_insert_delete_keeps_invariants),
        cmocka_unit_test(test_rbtree_random_with_many_duplicates_keeps_invariants),
        cmocka_unit_test(test_rbtree_random_timer_keys_across_wrap_keep_invariants),
        cmocka_unit_test(test_rbtree_duplicates_iterate_in_insertion_order),
        cmocka_unit_test(test_rbtree_timer_keys_order_across_wraparound),
        cmocka_unit_test(test_rbtree_ascending_insert_stays_logarithmic),
        cmocka_unit_test(test_rbtree_delete_root_repeatedly_until_empty),
        cmocka_unit_test(test_rbtree_delete_min_in_order_like_timer_expiry),
        cmocka_unit_test(test_rbtree_custom_insert_function_orders_ties),
        cmocka_unit_test(test_rbtree_spare_data_byte_survives_rebalancing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
