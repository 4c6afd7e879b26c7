/*
 * test_timer.c -- event timers: ordering, deletion, re-arming, expiry on a
 * fake clock and on the real one, and a 10k insert/delete run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "event.h"
#include "clock.h"
#include "timer.h"

#define BW_TEST_FIRED_MAX 16

static bw_event_t *bw_test_fired[BW_TEST_FIRED_MAX];
static int         bw_test_fired_n;

static void
bw_test_record_handler(bw_event_t *ev)
{
    if (bw_test_fired_n < BW_TEST_FIRED_MAX) {
        bw_test_fired[bw_test_fired_n] = ev;
    }
    bw_test_fired_n++;
}

static void
bw_test_event_init(bw_event_t *ev, bw_event_handler_fn handler)
{
    memset(ev, 0, sizeof(*ev));
    ev->handler = handler;
}

static int
bw_test_setup(void **state)
{
    (void) state;
    bw_event_timer_init();
    bw_time.monotonic = 1000000;
    bw_test_fired_n = 0;
    return 0;
}

static void
test_timer_nearest_is_minus_one_without_timers(void **state)
{
    (void) state;
    assert_int_equal(bw_event_timer_nearest(), -1);
    assert_int_equal(bw_event_timer_count(), 0);
}

static void
test_timer_fires_in_deadline_order(void **state)
{
    bw_event_t a, b, c;
    (void) state;

    bw_test_event_init(&a, bw_test_record_handler);
    bw_test_event_init(&b, bw_test_record_handler);
    bw_test_event_init(&c, bw_test_record_handler);
    bw_event_add_timer(&a, 300);
    bw_event_add_timer(&b, 100);
    bw_event_add_timer(&c, 200);
    assert_int_equal(bw_event_timer_nearest(), 100);

    bw_time.monotonic += 300;
    bw_event_expire_timers();
    assert_int_equal(bw_test_fired_n, 3);
    assert_ptr_equal(bw_test_fired[0], &b);
    assert_ptr_equal(bw_test_fired[1], &c);
    assert_ptr_equal(bw_test_fired[2], &a);
    assert_true(a.timedout && b.timedout && c.timedout);
    assert_false(a.timer_set || b.timer_set || c.timer_set);
    assert_int_equal(bw_event_timer_count(), 0);
}

static void
test_timer_does_not_fire_before_deadline(void **state)
{
    bw_event_t ev;
    (void) state;

    bw_test_event_init(&ev, bw_test_record_handler);
    bw_event_add_timer(&ev, 50);
    bw_time.monotonic += 49;
    bw_event_expire_timers();
    assert_int_equal(bw_test_fired_n, 0);
    assert_int_equal(bw_event_timer_nearest(), 1);

    bw_time.monotonic += 1;
    bw_event_expire_timers();
    assert_int_equal(bw_test_fired_n, 1);
    assert_true(ev.timedout);
}

static void
test_timer_deleted_never_fires(void **state)
{
    bw_event_t a, b;
    (void) state;

    bw_test_event_init(&a, bw_test_record_handler);
    bw_test_event_init(&b, bw_test_record_handler);
    bw_event_add_timer(&a, 10);
    bw_event_add_timer(&b, 20);
    bw_event_del_timer(&a);
    bw_event_del_timer(&a); /* a second delete is a no-op */
    assert_false(a.timer_set);
    assert_int_equal(bw_event_timer_count(), 1);

    bw_time.monotonic += 100;
    bw_event_expire_timers();
    assert_int_equal(bw_test_fired_n, 1);
    assert_ptr_equal(bw_test_fired[0], &b);
    assert_false(a.timedout);
}

static void
test_timer_readd_moves_deadline(void **state)
{
    bw_event_t ev;
    (void) state;

    bw_test_event_init(&ev, bw_test_record_handler);
    bw_event_add_timer(&ev, 10);
    bw_event_add_timer(&ev, 100);
    assert_int_equal(bw_event_timer_count(), 1);
    assert_int_equal(bw_event_timer_nearest(), 100);

    bw_time.monotonic += 50;
    bw_event_expire_timers();
    assert_int_equal(bw_test_fired_n, 0);
    bw_time.monotonic += 50;
    bw_event_expire_timers();
    assert_int_equal(bw_test_fired_n, 1);
}

static void
test_timer_readd_within_lazy_delay_keeps_deadline(void **state)
{
    bw_event_t ev;
    (void) state;

    bw_test_event_init(&ev, bw_test_record_handler);
    bw_event_add_timer(&ev, 1000);
    bw_rbtree_key_t key = ev.timer.key;
    bw_time.monotonic += BW_TIMER_LAZY_DELAY - 1;
    bw_event_add_timer(&ev, 1000);
    assert_int_equal(ev.timer.key, key);

    bw_time.monotonic += 1;
    bw_event_add_timer(&ev, 1000);
    assert_int_equal(ev.timer.key, key + BW_TIMER_LAZY_DELAY);
}

static bw_uint_t bw_test_rearms;

static void
bw_test_rearm_handler(bw_event_t *ev)
{
    bw_test_rearms++;
    ev->timedout = 0;
    bw_event_add_timer(ev, 10);
}

static void
test_timer_handler_may_rearm_itself(void **state)
{
    bw_event_t ev;
    (void) state;

    bw_test_rearms = 0;
    bw_test_event_init(&ev, bw_test_rearm_handler);
    bw_event_add_timer(&ev, 10);
    bw_time.monotonic += 10;
    bw_event_expire_timers();
    assert_int_equal(bw_test_rearms, 1);
    assert_true(ev.timer_set);
    assert_int_equal(bw_event_timer_nearest(), 10);
    bw_event_del_timer(&ev);
}

static void
test_timer_cancelable_timers_do_not_count_as_left(void **state)
{
    bw_event_t a, b;
    (void) state;

    bw_test_event_init(&a, bw_test_record_handler);
    bw_test_event_init(&b, bw_test_record_handler);
    assert_true(bw_event_timer_no_timers_left());
    a.cancelable = 1;
    bw_event_add_timer(&a, 10);
    assert_true(bw_event_timer_no_timers_left());
    bw_event_add_timer(&b, 20);
    assert_false(bw_event_timer_no_timers_left());
    bw_event_del_timer(&b);
    assert_true(bw_event_timer_no_timers_left());
    bw_event_del_timer(&a);
}

#define BW_TEST_MANY 10000

static bw_msec_t bw_test_last_deadline;
static bool      bw_test_order_ok;

static void
bw_test_order_handler(bw_event_t *ev)
{
    bw_msec_t deadline = (bw_msec_t) (uintptr_t) ev->data;
    if (deadline < bw_test_last_deadline) {
        bw_test_order_ok = false;
    }
    bw_test_last_deadline = deadline;
    bw_test_fired_n++;
}

static void
test_timer_10k_insert_delete_expire(void **state)
{
    (void) state;
    bw_event_t *evs = calloc(BW_TEST_MANY, sizeof(bw_event_t));
    assert_non_null(evs);
    uint32_t seed = 12345;

    for (int i = 0; i < BW_TEST_MANY; i++) {
        seed = seed * 1103515245 + 12345;
        bw_msec_t ms = (seed >> 8) % 60000;
        evs[i].handler = bw_test_order_handler;
        evs[i].data = (void *) (uintptr_t) (bw_time.monotonic + ms);
        bw_event_add_timer(&evs[i], ms);
    }
    assert_int_equal(bw_event_timer_count(), BW_TEST_MANY);
    for (int i = 0; i < BW_TEST_MANY; i += 2) {
        bw_event_del_timer(&evs[i]);
    }
    assert_int_equal(bw_event_timer_count(), BW_TEST_MANY / 2);

    bw_test_last_deadline = 0;
    bw_test_order_ok = true;
    bw_time.monotonic += 60000;
    bw_event_expire_timers();
    assert_int_equal(bw_test_fired_n, BW_TEST_MANY / 2);
    assert_true(bw_test_order_ok);
    assert_int_equal(bw_event_timer_count(), 0);
    for (int i = 0; i < BW_TEST_MANY; i++) {
        assert_int_equal(evs[i].timedout, i % 2);
    }
    free(evs);
}

static void
test_timer_fires_on_the_real_clock(void **state)
{
    bw_event_t ev;
    (void) state;

    bw_time_update();
    bw_msec_t start = bw_time.monotonic;
    bw_test_event_init(&ev, bw_test_record_handler);
    bw_event_add_timer(&ev, 20);
    for (int i = 0; i < 200 && bw_test_fired_n == 0; i++) {
        usleep(1000);
        bw_time_update();
        bw_event_expire_timers();
    }
    assert_int_equal(bw_test_fired_n, 1);
    assert_true(bw_time.monotonic - start >= 20);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_timer_nearest_is_minus_one_without_timers, bw_test_setup),
        cmocka_unit_test_setup(test_timer_fires_in_deadline_order, bw_test_setup),
        cmocka_unit_test_setup(test_timer_does_not_fire_before_deadline, bw_test_setup),
        cmocka_unit_test_setup(test_timer_deleted_never_fires, bw_test_setup),
        cmocka_unit_test_setup(test_timer_readd_moves_deadline, bw_test_setup),
        cmocka_unit_test_setup(test_timer_readd_within_lazy_delay_keeps_deadline, bw_test_setup),
        cmocka_unit_test_setup(test_timer_handler_may_rearm_itself, bw_test_setup),
        cmocka_unit_test_setup(test_timer_cancelable_timers_do_not_count_as_left, bw_test_setup),
        cmocka_unit_test_setup(test_timer_10k_insert_delete_expire, bw_test_setup),
        cmocka_unit_test_setup(test_timer_fires_on_the_real_clock, bw_test_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
