/*
 * timer.c -- event timers in a red-black tree keyed by monotonic deadline.
 *
 * Keys are compared with wraparound (bw_rbtree_insert_timer_value), so the
 * tree stays ordered even if the millisecond counter were to wrap.
 */
#include "timer.h"

#include "log.h"
#include "clock.h"

static bw_rbtree_t      bw_event_timer_tree;
static bw_rbtree_node_t bw_event_timer_sentinel;
static bw_uint_t        bw_event_timer_n;

/* Signed distance from a to b in ms; positive when b is later. */
static inline bw_rbtree_key_int_t
bw_event_timer_diff(bw_rbtree_key_t a, bw_rbtree_key_t b)
{
    return (bw_rbtree_key_int_t) (b - a);
}

void
bw_event_timer_init(void)
{
    bw_rbtree_init(&bw_event_timer_tree, &bw_event_timer_sentinel, bw_rbtree_insert_timer_value);
    bw_event_timer_n = 0;
}

void
bw_event_add_timer(bw_event_t *ev, bw_msec_t ms)
{
    bw_rbtree_key_t key = (bw_rbtree_key_t) (bw_time.monotonic + ms);

    if (ev->timer_set) {
        bw_rbtree_key_int_t diff = bw_event_timer_diff(ev->timer.key, key);
        if (diff > -BW_TIMER_LAZY_DELAY && diff < BW_TIMER_LAZY_DELAY) {
            return;
        }
        bw_event_del_timer(ev);
    }
    ev->timer.key = key;
    bw_rbtree_insert(&bw_event_timer_tree, &ev->timer);
    ev->timer_set = 1;
    bw_event_timer_n++;
}

void
bw_event_del_timer(bw_event_t *ev)
{
    if (!ev->timer_set) {
        return;
    }
    bw_rbtree_delete(&bw_event_timer_tree, &ev->timer);
    ev->timer.left = NULL;
    ev->timer.right = NULL;
    ev->timer.parent = NULL;
    ev->timer_set = 0;
    bw_event_timer_n--;
}

bw_msec_t
bw_event_timer_nearest(void)
{
    if (bw_rbtree_empty(&bw_event_timer_tree)) {
        return -1;
    }
    bw_rbtree_node_t *min = bw_rbtree_min(bw_event_timer_tree.root, bw_event_timer_tree.sentinel);
    bw_rbtree_key_int_t left = bw_event_timer_diff((bw_rbtree_key_t) bw_time.monotonic, min->key);
    return left > 0 ? (bw_msec_t) left : 0;
}

void
bw_event_expire_timers(void)
{
    bw_rbtree_key_t now = (bw_rbtree_key_t) bw_time.monotonic;

    /* Re-read the minimum each time: a handler may add or delete timers. */
    while (!bw_rbtree_empty(&bw_event_timer_tree)) {
        bw_rbtree_node_t *min =
            bw_rbtree_min(bw_event_timer_tree.root, bw_event_timer_tree.sentinel);
        if (bw_event_timer_diff(now, min->key) > 0) {
            return;
        }
        bw_event_t *ev = (bw_event_t *) ((u_char *) min - offsetof(bw_event_t, timer));
        bw_event_del_timer(ev);
        ev->timedout = 1;
        ev->handler(ev);
    }
}

/* An in-order walk is fine here: it runs only while a worker shuts down. */
bool
bw_event_timer_no_timers_left(void)
{
    if (bw_rbtree_empty(&bw_event_timer_tree)) {
        return true;
    }
    bw_rbtree_node_t *n = bw_rbtree_min(bw_event_timer_tree.root, bw_event_timer_tree.sentinel);
    for (; n; n = bw_rbtree_next(&bw_event_timer_tree, n)) {
        bw_event_t *ev = (bw_event_t *) ((u_char *) n - offsetof(bw_event_t, timer));
        if (!ev->cancelable) {
            return false;
        }
    }
    return true;
}

bw_uint_t
bw_event_timer_count(void)
{
    return bw_event_timer_n;
}
