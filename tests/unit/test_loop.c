/*
 * test_loop.c -- the epoll loop and connection slots over socketpairs:
 * edge-triggered dispatch, end of stream, stale events of connections
 * closed earlier in the same batch, posted events, timers bounding the
 * wait, slot exhaustion, idle reclaim and graceful-shutdown helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"
#include "cycle.h"
#include "event.h"
#include "io.h"
#include "pool.h"
#include "support.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BW_TEST_SLOTS 8

static bw_cycle_t     bw_test_cycle;
static bw_open_file_t bw_test_log_file;
static bw_log_t       bw_test_log;

static int
bw_test_setup(void **state)
{
    (void) state;
    memset(&bw_test_cycle, 0, sizeof(bw_test_cycle));
    bw_test_log_capture(&bw_test_log, &bw_test_log_file);
    bw_test_cycle.log = &bw_test_log;
    bw_test_cycle.pool = bw_pool_create(4096, &bw_test_log);
    if (bw_test_cycle.pool == NULL || bw_test_log_file.fd == -1
        || bw_connections_init(&bw_test_cycle, BW_TEST_SLOTS) != BW_OK
        || bw_event_loop_init(&bw_test_cycle) != BW_OK) {
        return -1;
    }
    return 0;
}

static int
bw_test_teardown(void **state)
{
    (void) state;
    for (bw_uint_t i = 0; i < bw_test_cycle.connection_n; i++) {
        if (bw_test_cycle.connections[i].fd != -1) {
            bw_connection_close(&bw_test_cycle.connections[i]);
        }
    }
    bw_event_loop_done();
    bw_pool_destroy(bw_test_cycle.pool);
    close(bw_test_log_file.fd);
    return 0;
}

/* A connection on one end of a new socketpair; *peer gets the other end. */
static bw_connection_t *
bw_test_conn(int *peer, bw_event_handler_fn read_handler)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    bw_connection_t *c = bw_connection_get(&bw_test_cycle, sv[0], &bw_test_log);
    assert_non_null(c);
    if (read_handler) {
        c->read->handler = read_handler;
    }
    assert_int_equal(bw_event_conn_add(c), BW_OK);
    *peer = sv[1];
    return c;
}

/* Runs loop turns, each bounded by a 50 ms timer, until *flag or 20 turns. */
static void
bw_test_run_until(const int *flag)
{
    bw_event_t guard = {.handler = bw_event_empty_handler};
    for (int i = 0; i < 20 && !*flag; i++) {
        bw_event_add_timer(&guard, 50);
        bw_event_process(&bw_test_cycle);
    }
    bw_event_del_timer(&guard);
}

/* One loop turn that cannot block for more than `ms`. */
static void
bw_test_turn(bw_msec_t ms)
{
    bw_event_t guard = {.handler = bw_event_empty_handler};
    bw_event_add_timer(&guard, ms);
    bw_event_process(&bw_test_cycle);
    bw_event_del_timer(&guard);
}

static int  bw_test_reads;
static char bw_test_data[256];
static int  bw_test_data_len;

/* Reads until the socket would block, as an edge-triggered handler must. */
static void
bw_test_drain_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    bw_test_reads++;
    while (ev->ready) {
        ssize_t n = c->recv(c, (u_char *) bw_test_data + bw_test_data_len,
                            sizeof(bw_test_data) - 1 - bw_test_data_len);
        if (n <= 0) {
            break;
        }
        bw_test_data_len += (int) n;
    }
}

static void
test_loop_dispatches_read_once_per_edge(void **state)
{
    (void) state;
    int peer;
    bw_test_reads = 0;
    bw_test_data_len = 0;
    bw_connection_t *c = bw_test_conn(&peer, bw_test_drain_handler);

    assert_int_equal(write(peer, "hello", 5), 5);
    bw_test_run_until(&bw_test_reads);
    assert_int_equal(bw_test_reads, 1);
    assert_int_equal(bw_test_data_len, 5);
    assert_memory_equal(bw_test_data, "hello", 5);
    assert_false(c->read->ready);

    /* No new data, no new edge: the handler is not called again. */
    bw_test_turn(20);
    assert_int_equal(bw_test_reads, 1);

    assert_int_equal(write(peer, " world", 6), 6);
    int before = bw_test_reads;
    for (int i = 0; i < 20 && bw_test_reads == before; i++) {
        bw_test_turn(50);
    }
    assert_int_equal(bw_test_reads, 2);
    assert_int_equal(bw_test_data_len, 11);
    close(peer);
}

static int bw_test_writes;

static void
bw_test_write_handler(bw_event_t *ev)
{
    if (ev->ready) {
        bw_test_writes++;
    }
}

static void
test_loop_reports_writable_after_add(void **state)
{
    (void) state;
    int peer;
    bw_test_writes = 0;
    bw_connection_t *c = bw_test_conn(&peer, NULL);
    c->write->handler = bw_test_write_handler;

    bw_test_run_until(&bw_test_writes);
    assert_int_equal(bw_test_writes, 1);
    assert_true(c->write->ready);
    assert_int_equal(c->send(c, (const u_char *) "x", 1), 1);
    assert_int_equal(c->sent, 1);
    close(peer);
}

static int bw_test_eofs;

static void
bw_test_eof_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    u_char buf[16];
    if (c->recv(c, buf, sizeof(buf)) == 0) {
        bw_test_eofs++;
    }
}

static void
test_loop_peer_close_reads_as_eof(void **state)
{
    (void) state;
    int peer;
    bw_test_eofs = 0;
    bw_connection_t *c = bw_test_conn(&peer, bw_test_eof_handler);

    close(peer);
    bw_test_run_until(&bw_test_eofs);
    assert_int_equal(bw_test_eofs, 1);
    assert_true(c->read->eof);
    assert_true(c->read->pending_eof);
    assert_false(c->read->ready);
}

/* Two connections whose handlers each close the other one. */
static bw_connection_t *bw_test_pair[2];
static bool             bw_test_pair_called[2];
static bool             bw_test_pair_closed;
static bw_connection_t *bw_test_reused;
static int              bw_test_reused_calls;

static void
bw_test_reused_handler(bw_event_t *ev)
{
    (void) ev;
    bw_test_reused_calls++;
}

static void
bw_test_close_other_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    int me = c == bw_test_pair[0] ? 0 : 1;
    bw_test_pair_called[me] = true;
    if (!bw_test_pair_closed) {
        bw_test_pair_closed = true;
        bw_connection_close(bw_test_pair[1 - me]);
    }
}

/* As above, and the freed slot is immediately taken by a new connection. */
static void
bw_test_close_and_reuse_handler(bw_event_t *ev)
{
    bw_test_close_other_handler(ev);
    if (bw_test_reused == NULL) {
        int peer;
        bw_test_reused = bw_test_conn(&peer, bw_test_reused_handler);
        bw_test_reused->write->handler = bw_test_reused_handler;
        /* Make its next read edge certain; it must still wait for its own event. */
        assert_int_equal(write(peer, "z", 1), 1);
        close(peer);
    }
}

static void
bw_test_stale_pair(bw_event_handler_fn handler)
{
    int peers[2];
    bw_test_pair_called[0] = bw_test_pair_called[1] = false;
    bw_test_pair_closed = false;
    bw_test_reused = NULL;
    bw_test_reused_calls = 0;
    for (int i = 0; i < 2; i++) {
        bw_test_pair[i] = bw_test_conn(&peers[i], handler);
        bw_test_pair[i]->write->handler = handler;
    }
    /* Both become readable (and are writable) before the loop waits. */
    assert_int_equal(write(peers[0], "a", 1), 1);
    assert_int_equal(write(peers[1], "b", 1), 1);
    bw_test_turn(50);
    close(peers[0]);
    close(peers[1]);
}

static void
test_loop_skips_events_of_connection_closed_in_same_batch(void **state)
{
    (void) state;
    bw_test_stale_pair(bw_test_close_other_handler);
    /* Whichever ran first closed the other: its pending events were dropped. */
    assert_int_equal(bw_test_pair_called[0] + bw_test_pair_called[1], 1);
    int open = (bw_test_pair[0]->fd != -1) + (bw_test_pair[1]->fd != -1);
    assert_int_equal(open, 1);
}

static void
test_loop_stale_event_not_delivered_to_reused_slot(void **state)
{
    (void) state;
    bw_test_stale_pair(bw_test_close_and_reuse_handler);
    assert_int_equal(bw_test_pair_called[0] + bw_test_pair_called[1], 1);
    assert_non_null(bw_test_reused);
    /* The new connection took the closed one's slot (the free list is LIFO)... */
    assert_true(bw_test_reused == bw_test_pair[0] || bw_test_reused == bw_test_pair[1]);
    /* ...and the old occupant's queued events were not handed to it. */
    assert_int_equal(bw_test_reused_calls, 0);

    /* Its own events come on the next turn. */
    bw_test_turn(50);
    assert_true(bw_test_reused_calls > 0);
}

static int bw_test_order[4];
static int bw_test_order_n;

static void
bw_test_posted_handler(bw_event_t *ev)
{
    bw_test_order[bw_test_order_n++] = (int) (intptr_t) ev->data;
}

static bw_event_t bw_test_posted_ev;

static void
bw_test_posting_handler(bw_event_t *ev)
{
    bw_test_drain_handler(ev);
    bw_test_order[bw_test_order_n++] = 1;
    bw_event_post(&bw_test_posted_ev, &bw_event_posted);
    bw_event_post(&bw_test_posted_ev, &bw_event_posted); /* once only */
}

static void
test_loop_posted_events_run_after_io_in_same_turn(void **state)
{
    (void) state;
    int peer;
    bw_test_order_n = 0;
    bw_test_reads = 0;
    bw_test_data_len = 0;
    memset(&bw_test_posted_ev, 0, sizeof(bw_test_posted_ev));
    bw_test_posted_ev.handler = bw_test_posted_handler;
    bw_test_posted_ev.data = (void *) (intptr_t) 2;
    bw_test_conn(&peer, bw_test_posting_handler);

    assert_int_equal(write(peer, "p", 1), 1);
    bw_test_run_until(&bw_test_reads);
    assert_int_equal(bw_test_order_n, 2);
    assert_int_equal(bw_test_order[0], 1);
    assert_int_equal(bw_test_order[1], 2);
    assert_false(bw_test_posted_ev.posted);
    assert_true(bw_queue_empty(&bw_event_posted));
    close(peer);
}

static void
test_loop_does_not_sleep_with_posted_events(void **state)
{
    (void) state;
    bw_event_t ev = {.handler = bw_test_posted_handler, .data = (void *) (intptr_t) 7};
    bw_event_t far = {.handler = bw_event_empty_handler};
    bw_test_order_n = 0;

    bw_event_add_timer(&far, 5000);
    bw_event_post(&ev, &bw_event_posted);
    bw_time_update();
    bw_msec_t start = bw_time.monotonic;
    bw_event_process(&bw_test_cycle);
    assert_true(bw_time.monotonic - start < 1000);
    assert_int_equal(bw_test_order_n, 1);
    assert_int_equal(bw_test_order[0], 7);
    bw_event_del_timer(&far);
}

static int bw_test_timeouts;

static void
bw_test_timeout_handler(bw_event_t *ev)
{
    if (ev->timedout) {
        bw_test_timeouts++;
    }
}

static void
test_loop_wait_is_bounded_by_nearest_timer(void **state)
{
    (void) state;
    bw_event_t ev = {.handler = bw_test_timeout_handler};
    bw_test_timeouts = 0;

    bw_time_update();
    bw_msec_t start = bw_time.monotonic;
    bw_event_add_timer(&ev, 30);
    for (int i = 0; i < 10 && bw_test_timeouts == 0; i++) {
        bw_event_process(&bw_test_cycle);
    }
    assert_int_equal(bw_test_timeouts, 1);
    assert_true(bw_time.monotonic - start >= 30);
    assert_true(bw_time.monotonic - start < 1000);
}

static void
test_conn_close_disarms_timers_and_posted(void **state)
{
    (void) state;
    int peer;
    bw_connection_t *c = bw_test_conn(&peer, NULL);
    bw_event_add_timer(c->read, 1000);
    bw_event_add_timer(c->write, 1000);
    bw_event_post(c->read, &bw_event_posted);
    bw_uint_t timers = bw_event_timer_count();
    bw_uint_t free_before = bw_test_cycle.free_connection_n;

    bw_connection_close(c);
    assert_int_equal(c->fd, -1);
    assert_false(c->read->timer_set || c->write->timer_set);
    assert_false(c->read->posted);
    assert_true(bw_queue_empty(&bw_event_posted));
    assert_int_equal(bw_event_timer_count(), timers - 2);
    assert_int_equal(bw_test_cycle.free_connection_n, free_before + 1);
    close(peer);
}

static void
test_conn_numbers_increase(void **state)
{
    (void) state;
    int p1, p2;
    bw_connection_t *a = bw_test_conn(&p1, NULL);
    bw_connection_t *b = bw_test_conn(&p2, NULL);
    assert_true(b->number > a->number);
    assert_ptr_equal(a->recv, bw_recv);
    assert_ptr_equal(a->send_chain, bw_send_chain);
    close(p1);
    close(p2);
}

static void
test_conn_exhaustion_returns_null_and_logs(void **state)
{
    (void) state;
    int peers[BW_TEST_SLOTS];
    for (int i = 0; i < BW_TEST_SLOTS; i++) {
        bw_test_conn(&peers[i], NULL);
    }
    assert_int_equal(bw_test_cycle.free_connection_n, 0);
    assert_int_equal(bw_connections_active(&bw_test_cycle), BW_TEST_SLOTS);

    int fd = dup(peers[0]);
    assert_null(bw_connection_get(&bw_test_cycle, fd, &bw_test_log));
    assert_true(bw_test_log_has(&bw_test_log_file, "[crit]"));
    assert_true(bw_test_log_has(&bw_test_log_file, "8 worker_connections are not enough"));
    close(fd);
    for (int i = 0; i < BW_TEST_SLOTS; i++) {
        close(peers[i]);
    }
}

static int              bw_test_reclaimed;
static bw_connection_t *bw_test_first_reclaimed;

/* An idle keep-alive owner: closes the connection when asked to. */
static void
bw_test_idle_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    if (c->close) {
        if (bw_test_reclaimed++ == 0) {
            bw_test_first_reclaimed = c;
        }
        bw_connection_close(c);
    }
}

static void
test_conn_exhaustion_reclaims_oldest_reusable(void **state)
{
    (void) state;
    int peers[BW_TEST_SLOTS];
    bw_connection_t *conns[BW_TEST_SLOTS];
    bw_test_reclaimed = 0;
    for (int i = 0; i < BW_TEST_SLOTS; i++) {
        conns[i] = bw_test_conn(&peers[i], bw_test_idle_handler);
    }
    bw_connection_reusable(conns[2], true); /* oldest idle */
    bw_connection_reusable(conns[5], true);

    int fd = dup(peers[0]);
    bw_connection_t *c = bw_connection_get(&bw_test_cycle, fd, &bw_test_log);
    assert_non_null(c);
    assert_int_equal(bw_test_reclaimed, 2);
    assert_true(bw_test_log_has(&bw_test_log_file, "[warn]"));
    assert_true(bw_test_log_has(&bw_test_log_file,
                                "8 worker_connections are not enough, reusing connections"));
    /* The oldest reusable went first; the new connection has one of their slots. */
    assert_ptr_equal(bw_test_first_reclaimed, conns[2]);
    assert_true(c == conns[2] || c == conns[5]);
    assert_int_equal(c->fd, fd);
    assert_false(c->reusable);
    for (int i = 0; i < BW_TEST_SLOTS; i++) {
        close(peers[i]);
    }
}

static void
test_conn_reusable_off_leaves_queue(void **state)
{
    (void) state;
    int peers[BW_TEST_SLOTS];
    bw_connection_t *conns[BW_TEST_SLOTS];
    bw_test_reclaimed = 0;
    for (int i = 0; i < BW_TEST_SLOTS; i++) {
        conns[i] = bw_test_conn(&peers[i], bw_test_idle_handler);
    }
    bw_connection_reusable(conns[1], true);
    bw_connection_reusable(conns[1], false);
    int fd = dup(peers[0]);
    assert_null(bw_connection_get(&bw_test_cycle, fd, &bw_test_log));
    assert_int_equal(bw_test_reclaimed, 0);
    close(fd);
    for (int i = 0; i < BW_TEST_SLOTS; i++) {
        close(peers[i]);
    }
}

/* Shutdown closes keep-alive connections between requests; a fresh or
 * half-read one (reusable for slot reclaim, not idle) gets its request served. */
static void
test_conn_close_idle_closes_only_keepalive_idle(void **state)
{
    (void) state;
    int p1, p2, p3;
    bw_test_reclaimed = 0;
    bw_connection_t *idle = bw_test_conn(&p1, bw_test_idle_handler);
    bw_connection_t *reusable = bw_test_conn(&p2, bw_test_idle_handler);
    bw_connection_t *busy = bw_test_conn(&p3, bw_test_idle_handler);
    idle->idle = 1;
    bw_connection_reusable(reusable, true);
    assert_int_equal(bw_connections_active(&bw_test_cycle), 3);

    bw_connections_close_idle(&bw_test_cycle);
    assert_int_equal(bw_test_reclaimed, 1);
    assert_int_equal(idle->fd, -1);
    assert_int_not_equal(reusable->fd, -1);
    assert_int_not_equal(busy->fd, -1);
    assert_int_equal(bw_connections_active(&bw_test_cycle), 2);
    bw_connection_reusable(reusable, false);
    bw_connection_close(reusable);
    bw_connection_close(busy);
    close(p1);
    close(p2);
    close(p3);
}

int
main(void)
{
#define BW_T(f) cmocka_unit_test_setup_teardown(f, bw_test_setup, bw_test_teardown)
    const struct CMUnitTest tests[] = {
        BW_T(test_loop_dispatches_read_once_per_edge),
        BW_T(test_loop_reports_writable_after_add),
        BW_T(test_loop_peer_close_reads_as_eof),
        BW_T(test_loop_skips_events_of_connection_closed_in_same_batch),
        BW_T(test_loop_stale_event_not_delivered_to_reused_slot),
        BW_T(test_loop_posted_events_run_after_io_in_same_turn),
        BW_T(test_loop_does_not_sleep_with_posted_events),
        BW_T(test_loop_wait_is_bounded_by_nearest_timer),
        BW_T(test_conn_close_disarms_timers_and_posted),
        BW_T(test_conn_numbers_increase),
        BW_T(test_conn_exhaustion_returns_null_and_logs),
        BW_T(test_conn_exhaustion_reclaims_oldest_reusable),
        BW_T(test_conn_reusable_off_leaves_queue),
        BW_T(test_conn_close_idle_closes_only_keepalive_idle),
    };
#undef BW_T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
