/*
 * rbtree.c -- intrusive red-black tree with a shared black sentinel.
 *
 * The tree keeps the classic invariants: the root is black, a red node has
 * black children, and every path from a node down to the sentinel crosses
 * the same number of black nodes; so the height stays below 2 log2(n + 1).
 * Placement by key is delegated to tree->insert; this file only rebalances.
 * The root's parent is NULL; the sentinel's parent is scratch space that
 * deletion uses while fixing up.
 */
#include "rbtree.h"

#define BW_RBTREE_RED   1
#define BW_RBTREE_BLACK 0

#define bw_rbtree_is_red(n)   ((n)->color == BW_RBTREE_RED)
#define bw_rbtree_is_black(n) ((n)->color == BW_RBTREE_BLACK)

void
bw_rbtree_init(bw_rbtree_t *tree, bw_rbtree_node_t *sentinel, bw_rbtree_insert_fn insert)
{
    bw_rbtree_sentinel_init(sentinel);
    sentinel->left = sentinel;
    sentinel->right = sentinel;
    sentinel->parent = NULL;
    tree->root = sentinel;
    tree->sentinel = sentinel;
    tree->insert = insert;
}

/* Makes `child` take `old`'s place under old's parent (or as the root). */
static void
bw_rbtree_node_replace(bw_rbtree_t *tree, bw_rbtree_node_t *old, bw_rbtree_node_t *child)
{
    bw_rbtree_node_t *parent = old->parent;

    if (old == tree->root) {
        tree->root = child;
    } else if (old == parent->left) {
        parent->left = child;
    } else {
        parent->right = child;
    }
    child->parent = parent;
}

/* Rotates left around x: x's right child y takes x's place, x becomes y's left. */
static void
bw_rbtree_node_rotate_left(bw_rbtree_t *tree, bw_rbtree_node_t *x)
{
    bw_rbtree_node_t *y = x->right;

    x->right = y->left;
    if (y->left != tree->sentinel) {
        y->left->parent = x;
    }
    bw_rbtree_node_replace(tree, x, y);
    y->left = x;
    x->parent = y;
}

/* Mirror of bw_rbtree_node_rotate_left. */
static void
bw_rbtree_node_rotate_right(bw_rbtree_t *tree, bw_rbtree_node_t *x)
{
    bw_rbtree_node_t *y = x->left;

    x->left = y->right;
    if (y->right != tree->sentinel) {
        y->right->parent = x;
    }
    bw_rbtree_node_replace(tree, x, y);
    y->right = x;
    x->parent = y;
}

void
bw_rbtree_insert(bw_rbtree_t *tree, bw_rbtree_node_t *node)
{
    bw_rbtree_node_t *sentinel = tree->sentinel;

    if (tree->root == sentinel) {
        node->parent = NULL;
        node->left = sentinel;
        node->right = sentinel;
        node->color = BW_RBTREE_BLACK;
        tree->root = node;
        return;
    }

    tree->insert(tree->root, node, sentinel);
    node->color = BW_RBTREE_RED;

    /* node is red; repair any red parent by recolouring or rotating upwards */
    while (node != tree->root && bw_rbtree_is_red(node->parent)) {
        bw_rbtree_node_t *parent = node->parent;
        bw_rbtree_node_t *grand = parent->parent; /* exists: a red node is never the root */

        if (parent == grand->left) {
            bw_rbtree_node_t *uncle = grand->right;
            if (bw_rbtree_is_red(uncle)) {
                parent->color = BW_RBTREE_BLACK;
                uncle->color = BW_RBTREE_BLACK;
                grand->color = BW_RBTREE_RED;
                node = grand;
                continue;
            }
            if (node == parent->right) {
                node = parent;
                bw_rbtree_node_rotate_left(tree, node);
                parent = node->parent;
            }
            parent->color = BW_RBTREE_BLACK;
            grand->color = BW_RBTREE_RED;
            bw_rbtree_node_rotate_right(tree, grand);
        } else {
            bw_rbtree_node_t *uncle = grand->left;
            if (bw_rbtree_is_red(uncle)) {
                parent->color = BW_RBTREE_BLACK;
                uncle->color = BW_RBTREE_BLACK;
                grand->color = BW_RBTREE_RED;
                node = grand;
                continue;
            }
            if (node == parent->left) {
                node = parent;
                bw_rbtree_node_rotate_right(tree, node);
                parent = node->parent;
            }
            parent->color = BW_RBTREE_BLACK;
            grand->color = BW_RBTREE_RED;
            bw_rbtree_node_rotate_left(tree, grand);
        }
    }

    tree->root->color = BW_RBTREE_BLACK;
}

void
bw_rbtree_link(bw_rbtree_node_t *parent, bw_rbtree_node_t **link, bw_rbtree_node_t *node,
                    bw_rbtree_node_t *sentinel)
{
    *link = node;
    node->parent = parent;
    node->left = sentinel;
    node->right = sentinel;
    node->color = BW_RBTREE_RED;
}

void
bw_rbtree_insert_value(bw_rbtree_node_t *root, bw_rbtree_node_t *node,
                       bw_rbtree_node_t *sentinel)
{
    bw_rbtree_node_t *temp = root;

    /* equal keys go right, so duplicates keep their insertion order */
    for (;;) {
        bw_rbtree_node_t **link = node->key < temp->key ? &temp->left : &temp->right;
        if (*link == sentinel) {
            bw_rbtree_link(temp, link, node, sentinel);
            return;
        }
        temp = *link;
    }
}

void
bw_rbtree_insert_timer_value(bw_rbtree_node_t *root, bw_rbtree_node_t *node,
                             bw_rbtree_node_t *sentinel)
{
    bw_rbtree_node_t *temp = root;

    for (;;) {
        /* keys are compared by signed distance so a counter that wrapped still sorts after */
        bw_rbtree_key_int_t diff = (bw_rbtree_key_int_t) (node->key - temp->key);
        bw_rbtree_node_t **link = diff < 0 ? &temp->left : &temp->right;
        if (*link == sentinel) {
            bw_rbtree_link(temp, link, node, sentinel);
            return;
        }
        temp = *link;
    }
}

/*
 * Restores the black height after a black node was removed above x: x carries
 * an "extra black" that is pushed up or absorbed by rotations and recolouring.
 */
static void
bw_rbtree_delete_fixup(bw_rbtree_t *tree, bw_rbtree_node_t *x)
{
    while (x != tree->root && bw_rbtree_is_black(x)) {
        bw_rbtree_node_t *parent = x->parent;

        if (x == parent->left) {
            bw_rbtree_node_t *w = parent->right;
            if (bw_rbtree_is_red(w)) {
                w->color = BW_RBTREE_BLACK;
                parent->color = BW_RBTREE_RED;
                bw_rbtree_node_rotate_left(tree, parent);
                w = parent->right;
            }
            if (bw_rbtree_is_black(w->left) && bw_rbtree_is_black(w->right)) {
                w->color = BW_RBTREE_RED;
                x = parent;
                continue;
            }
            if (bw_rbtree_is_black(w->right)) {
                w->left->color = BW_RBTREE_BLACK;
                w->color = BW_RBTREE_RED;
                bw_rbtree_node_rotate_right(tree, w);
                w = parent->right;
            }
            w->color = parent->color;
            parent->color = BW_RBTREE_BLACK;
            w->right->color = BW_RBTREE_BLACK;
            bw_rbtree_node_rotate_left(tree, parent);
            x = tree->root;
        } else {
            bw_rbtree_node_t *w = parent->left;
            if (bw_rbtree_is_red(w)) {
                w->color = BW_RBTREE_BLACK;
                parent->color = BW_RBTREE_RED;
                bw_rbtree_node_rotate_right(tree, parent);
                w = parent->left;
            }
            if (bw_rbtree_is_black(w->left) && bw_rbtree_is_black(w->right)) {
                w->color = BW_RBTREE_RED;
                x = parent;
                continue;
            }
            if (bw_rbtree_is_black(w->left)) {
                w->right->color = BW_RBTREE_BLACK;
                w->color = BW_RBTREE_RED;
                bw_rbtree_node_rotate_left(tree, w);
                w = parent->left;
            }
            w->color = parent->color;
            parent->color = BW_RBTREE_BLACK;
            w->left->color = BW_RBTREE_BLACK;
            bw_rbtree_node_rotate_right(tree, parent);
            x = tree->root;
        }
    }

    x->color = BW_RBTREE_BLACK;
}

void
bw_rbtree_delete(bw_rbtree_t *tree, bw_rbtree_node_t *node)
{
    bw_rbtree_node_t *sentinel = tree->sentinel;
    bw_rbtree_node_t *x;
    u_char removed_color;

    if (node->left == sentinel) {
        x = node->right;
        removed_color = node->color;
        bw_rbtree_node_replace(tree, node, x);
    } else if (node->right == sentinel) {
        x = node->left;
        removed_color = node->color;
        bw_rbtree_node_replace(tree, node, x);
    } else {
        /* two children: the successor y (no left child) moves into node's place */
        bw_rbtree_node_t *y = bw_rbtree_min(node->right, sentinel);
        removed_color = y->color;
        x = y->right;
        if (y->parent == node) {
            x->parent = y; /* also when x is the sentinel: the fixup walks up from it */
        } else {
            bw_rbtree_node_replace(tree, y, x);
            y->right = node->right;
            y->right->parent = y;
        }
        bw_rbtree_node_replace(tree, node, y);
        y->left = node->left;
        y->left->parent = y;
        y->color = node->color;
    }

    if (tree->root == sentinel) {
        sentinel->parent = NULL;
    } else if (removed_color == BW_RBTREE_BLACK) {
        bw_rbtree_delete_fixup(tree, x);
    }

    if (tree->root != sentinel) {
        tree->root->parent = NULL;
    }
    sentinel->color = BW_RBTREE_BLACK;

    node->left = NULL;
    node->right = NULL;
    node->parent = NULL;
    node->key = 0;
}

bw_rbtree_node_t *
bw_rbtree_min(bw_rbtree_node_t *node, bw_rbtree_node_t *sentinel)
{
    while (node->left != sentinel) {
        node = node->left;
    }
    return node;
}

bw_rbtree_node_t *
bw_rbtree_next(bw_rbtree_t *tree, bw_rbtree_node_t *node)
{
    bw_rbtree_node_t *sentinel = tree->sentinel;

    if (node->right != sentinel) {
        return bw_rbtree_min(node->right, sentinel);
    }

    /* climb until we arrive from a left subtree */
    for (;;) {
        bw_rbtree_node_t *parent = node->parent;
        if (parent == NULL) {
            return NULL;
        }
        if (node == parent->left) {
            return parent;
        }
        node = parent;
    }
}
