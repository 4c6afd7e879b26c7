/*
 * rbtree.h -- intrusive red-black tree (timers, shared-zone indexes).
 *
 * Nodes embed bw_rbtree_node_t. Equal keys are allowed. A tree has a
 * caller-provided sentinel node (black, shared by all leaves) and an insert
 * function that places a node by key; bw_rbtree_insert_value() orders by
 * `key` alone, bw_rbtree_insert_timer_value() orders by key with wraparound
 * comparison, and callers may supply their own (e.g. hash then string).
 * All operations are O(log n). The tree never allocates.
 */
#ifndef BW_RBTREE_H
#define BW_RBTREE_H

#include "types.h"

typedef bw_uint_t bw_rbtree_key_t;
typedef bw_int_t  bw_rbtree_key_int_t;

typedef struct bw_rbtree_node_s bw_rbtree_node_t;
struct bw_rbtree_node_s {
    bw_rbtree_key_t   key;
    bw_rbtree_node_t *left;
    bw_rbtree_node_t *right;
    bw_rbtree_node_t *parent;
    u_char            color; /* 1 red, 0 black */
    u_char            data;  /* one spare byte for the owner */
};

typedef struct bw_rbtree_s bw_rbtree_t;

/* Places `node` below `root` by key (no rebalancing); `sentinel` marks leaves. */
typedef void (*bw_rbtree_insert_fn)(bw_rbtree_node_t *root, bw_rbtree_node_t *node,
                                    bw_rbtree_node_t *sentinel);

struct bw_rbtree_s {
    bw_rbtree_node_t   *root;
    bw_rbtree_node_t   *sentinel;
    bw_rbtree_insert_fn insert;
};

/* Initialises an empty tree; `sentinel` must outlive the tree. */
void bw_rbtree_init(bw_rbtree_t *tree, bw_rbtree_node_t *sentinel, bw_rbtree_insert_fn insert);
void bw_rbtree_insert(bw_rbtree_t *tree, bw_rbtree_node_t *node);
void bw_rbtree_delete(bw_rbtree_t *tree, bw_rbtree_node_t *node);
/* Smallest node of the subtree at `node`; `node` must not be the sentinel. */
bw_rbtree_node_t *bw_rbtree_min(bw_rbtree_node_t *node, bw_rbtree_node_t *sentinel);
/* In-order successor, or NULL at the end. */
bw_rbtree_node_t *bw_rbtree_next(bw_rbtree_t *tree, bw_rbtree_node_t *node);

void bw_rbtree_insert_value(bw_rbtree_node_t *root, bw_rbtree_node_t *node,
                            bw_rbtree_node_t *sentinel);
/* Orders by (bw_rbtree_key_int_t)(a - b) so millisecond keys may wrap. */
void bw_rbtree_insert_timer_value(bw_rbtree_node_t *root, bw_rbtree_node_t *node,
                                  bw_rbtree_node_t *sentinel);

/*
 * For insert functions: hangs `node` at *link below `parent` as a red leaf.
 * A custom insert function walks down from root, then calls this once.
 */
void bw_rbtree_link(bw_rbtree_node_t *parent, bw_rbtree_node_t **link, bw_rbtree_node_t *node,
                    bw_rbtree_node_t *sentinel);

#define bw_rbtree_empty(tree) ((tree)->root == (tree)->sentinel)
#define bw_rbtree_sentinel_init(n) ((n)->color = 0)

#endif
