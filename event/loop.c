/*
 * loop.c -- the per-worker event loop on Linux epoll.
 *
 * One turn of bw_event_process():
 *
 *   1. sleep in epoll_wait() until I/O or the nearest timer is due (no sleep
 *      at all when events were posted and are waiting to run);
 *   2. refresh the cached clock once (bw_time_update), so every handler of
 *      this turn sees the same time and none calls the kernel for it;
 *   3. dispatch the I/O events: mark the event ready (or at end of stream,
 *      or in error) and call its handler, read side before write side;
 *   4. fire expired timers;
 *   5. run posted events: work a handler deferred to the end of the turn.
 *
 * Connections are registered once, edge-triggered, for both directions: no
 * epoll_ctl() per state change, at the price of handlers that must read or
 * write until the kernel says EAGAIN and must tolerate spurious calls.
 * Listening sockets are the exception: level-triggered with EPOLLEXCLUSIVE,
 * so an accept the worker postpones is reported again on the next turn, and
 * a new connection wakes one sleeping worker rather than all of them.
 *
 * Stale events. A handler may close another connection whose event is
 * still waiting later in the same epoll_wait() batch, and the slot may even
 * be reused by a new connection (with the same fd number) before that entry
 * is reached. Each entry therefore carries, in its 64-bit user data, the
 * slot's index and the slot's generation (`instance`) at registration; a
 * slot's generation changes each time it is freed, so an entry whose
 * generation no longer matches is dropped.
 */
#include "event.h"

#include "conn.h"
#include "cycle.h"
#include "log.h"
#include "pool.h"
#include "clock.h"
#include "timer.h"

#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

const sigset_t *bw_event_wait_sigmask; /* NULL: the process's own mask */

/* epoll_wait() returns at most this many events per turn; the rest wait. */
#define BW_EVENT_LIST_MAX 512

bw_queue_t bw_event_posted;

static int                 bw_event_ep = -1;
static struct epoll_event *bw_event_list;
static int                 bw_event_nlist;
static bw_connection_t    *bw_event_conns; /* slot 0 of the connection array */

/* The user data of a connection's epoll entry: generation << 32 | slot. */
static inline uint64_t
bw_event_data_pack(bw_connection_t *c)
{
    return ((uint64_t) c->instance << 32) | (uint32_t) (c - bw_event_conns);
}

void
bw_event_empty_handler(bw_event_t *ev)
{
    (void) ev;
}

bw_rc_t
bw_event_loop_init(bw_cycle_t *cycle)
{
    bw_event_ep = epoll_create1(EPOLL_CLOEXEC);
    if (bw_event_ep == -1) {
        bw_log_error(BW_LOG_EMERG, cycle->log, errno, "epoll_create1() failed");
        return BW_ERROR;
    }
    /* One entry per connection up to a cap: a bigger list only moves work
     * from the next turn to this one. */
    bw_event_nlist = (int) bw_min(cycle->connection_n, (bw_uint_t) BW_EVENT_LIST_MAX);
    if (bw_event_nlist == 0) {
        bw_event_nlist = 1;
    }
    bw_event_list = bw_palloc(cycle->pool, sizeof(struct epoll_event) * bw_event_nlist);
    if (bw_event_list == NULL) {
        close(bw_event_ep);
        bw_event_ep = -1;
        return BW_ERROR;
    }
    bw_event_conns = cycle->connections;
    bw_queue_init(&bw_event_posted);
    bw_event_timer_init();
    bw_time_update();
    return BW_OK;
}

void
bw_event_loop_done(void)
{
    if (bw_event_ep != -1) {
        close(bw_event_ep);
    }
    bw_event_ep = -1;
    bw_event_list = NULL;
    bw_event_conns = NULL;
}

bw_rc_t
bw_event_conn_add(bw_connection_t *c)
{
    struct epoll_event ee;

    ee.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ee.data.u64 = bw_event_data_pack(c);
    if (epoll_ctl(bw_event_ep, EPOLL_CTL_ADD, c->fd, &ee) == -1) {
        bw_log_error(BW_LOG_CRIT, c->log, errno, "epoll_ctl(EPOLL_CTL_ADD, %d) failed", c->fd);
        return BW_ERROR;
    }
    c->read->active = 1;
    c->write->active = 1;
    c->read->closed = 0;
    c->write->closed = 0;
    return BW_OK;
}

bw_rc_t
bw_event_listen_add(bw_connection_t *c, bool exclusive)
{
    struct epoll_event ee;

    ee.events = EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0);
    ee.data.u64 = bw_event_data_pack(c);
    if (epoll_ctl(bw_event_ep, EPOLL_CTL_ADD, c->fd, &ee) == -1) {
        bw_log_error(BW_LOG_CRIT, c->log, errno, "epoll_ctl(EPOLL_CTL_ADD, %d) failed", c->fd);
        return BW_ERROR;
    }
    c->read->active = 1;
    c->read->closed = 0;
    return BW_OK;
}

bw_rc_t
bw_event_conn_del(bw_connection_t *c, bool closing)
{
    bw_rc_t rc = BW_OK;

    /*
     * close() drops an fd from every epoll set once no descriptor refers to
     * its open file any more; a socket shared with other processes (a
     * listening socket after fork) stays registered until deleted by hand.
     */
    if ((!closing || c->shared) && (c->read->active || c->write->active)) {
        if (epoll_ctl(bw_event_ep, EPOLL_CTL_DEL, c->fd, NULL) == -1) {
            bw_log_error(BW_LOG_CRIT, c->log, errno, "epoll_ctl(EPOLL_CTL_DEL, %d) failed",
                         c->fd);
            rc = BW_ERROR;
        }
    }
    c->read->active = 0;
    c->write->active = 0;
    return rc;
}

void
bw_event_post(bw_event_t *ev, bw_queue_t *queue)
{
    if (ev->posted) {
        return;
    }
    ev->posted = 1;
    bw_queue_insert_tail(queue, &ev->queue);
}

void
bw_event_delete_posted(bw_event_t *ev)
{
    if (!ev->posted) {
        return;
    }
    ev->posted = 0;
    bw_queue_remove(&ev->queue);
}

void
bw_event_process_posted(bw_queue_t *queue)
{
    while (!bw_queue_empty(queue)) {
        bw_event_t *ev = bw_queue_data(bw_queue_head(queue), bw_event_t, queue);
        bw_event_delete_posted(ev);
        ev->handler(ev);
    }
}

/* The connection an epoll entry belongs to, or NULL when the entry is stale. */
static bw_connection_t *
bw_event_conn_of(uint64_t data)
{
    bw_connection_t *c = &bw_event_conns[(uint32_t) data];
    if (c->fd == -1 || c->instance != (uint32_t) (data >> 32)) {
        return NULL;
    }
    return c;
}

/* Marks the events of one epoll entry and runs their handlers. */
static void
bw_event_dispatch(const struct epoll_event *ee)
{
    bw_connection_t *c = bw_event_conn_of(ee->data.u64);
    if (c == NULL) {
        return;
    }
    uint32_t revents = ee->events;

    /*
     * An error or hang-up is reported to both sides as readiness: the next
     * recv() or send() returns the error (or 0) and the handler deals with
     * it where it has the context to log it.
     */
    if (revents & (EPOLLERR | EPOLLHUP)) {
        revents |= EPOLLIN | EPOLLOUT;
    }
    if (revents & EPOLLRDHUP) {
        revents |= EPOLLIN; /* the read that follows returns what is left, then 0 */
    }

    bw_event_t *rev = c->read;
    if ((revents & EPOLLIN) && rev->active) {
        rev->ready = 1;
        if (revents & EPOLLRDHUP) {
            rev->pending_eof = 1;
        }
        rev->handler(rev);
    }

    /* The read handler may have closed the connection, or closed it and
     * reused the slot: check the generation again. */
    if (bw_event_conn_of(ee->data.u64) != c) {
        return;
    }
    bw_event_t *wev = c->write;
    if ((revents & EPOLLOUT) && wev->active) {
        wev->ready = 1;
        wev->handler(wev);
    }
}

void
bw_event_process(bw_cycle_t *cycle)
{
    int timeout = -1;

    if (!bw_queue_empty(&bw_event_posted)) {
        timeout = 0;
    } else {
        bw_msec_t nearest = bw_event_timer_nearest();
        if (nearest >= 0) {
            timeout = (int) bw_min(nearest, (bw_msec_t) INT32_MAX);
        }
    }

    /* With a wait mask set, signals blocked elsewhere are delivered only
     * while we sleep here: one that arrives while we work interrupts the
     * next wait instead of being noticed after the next unrelated event. */
    int n = epoll_pwait(bw_event_ep, bw_event_list, bw_event_nlist, timeout,
                        bw_event_wait_sigmask);
    int err = errno;
    bw_time_update();

    if (n == -1) {
        /* A signal woke us: the worker's loop looks at its flags next. */
        if (err != EINTR) {
            bw_log_error(BW_LOG_ALERT, cycle->log, err, "epoll_wait() failed");
        }
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        bw_event_dispatch(&bw_event_list[i]);
    }
    bw_event_expire_timers();
    bw_event_process_posted(&bw_event_posted);
}
