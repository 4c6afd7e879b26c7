/*
 * timer.h -- event timers: one red-black tree per worker keyed by the
 * monotonic deadline (bw_time.monotonic + timeout, in ms). Insert, delete
 * and finding the nearest deadline are O(log n).
 */
#ifndef BW_TIMER_H
#define BW_TIMER_H

#include "event.h"

/*
 * A re-armed timer whose new deadline is within this many ms of the old one
 * keeps the old one: re-arming a timeout on every read is common, and the
 * rbtree delete+insert it saves costs more than a deadline a few ms early.
 */
#define BW_TIMER_LAZY_DELAY 10

/* Empties the tree (per process; bw_event_loop_init calls it). */
void bw_event_timer_init(void);

/*
 * Arms ev's timer to fire `ms` from the cached time (bw_time.monotonic);
 * an armed timer is moved, except by less than BW_TIMER_LAZY_DELAY.
 */
void bw_event_add_timer(bw_event_t *ev, bw_msec_t ms);
/* Disarms ev's timer; no-op when not armed. */
void bw_event_del_timer(bw_event_t *ev);

/* Milliseconds until the nearest deadline (0 if past), or -1 with no timer. */
bw_msec_t bw_event_timer_nearest(void);
/*
 * Fires every timer whose deadline is not after the cached time, earliest
 * first: unlinks it, sets `timedout` and calls its handler. A handler may
 * arm or disarm timers, including its own.
 */
void bw_event_expire_timers(void);

/* True when no armed timer is left except cancelable ones (graceful exit). */
bool bw_event_timer_no_timers_left(void);
/* Number of armed timers (tests, debug). */
bw_uint_t bw_event_timer_count(void);

#endif
