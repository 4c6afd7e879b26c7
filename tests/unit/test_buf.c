/*
 * test_buf.c -- buffers and chains: sizes, link reuse through the pool's
 * free list, consuming sent bytes, and free/busy recycling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "pool.h"

static bw_pool_t *bw_test_pool;

static int
bw_test_setup(void **state)
{
    (void) state;
    bw_test_pool = bw_pool_create(4096, NULL);
    return bw_test_pool ? 0 : -1;
}

static int
bw_test_teardown(void **state)
{
    (void) state;
    bw_pool_destroy(bw_test_pool);
    return 0;
}

/* A temporary buffer holding `text`. */
static bw_buf_t *
bw_test_mem(const char *text)
{
    size_t len = strlen(text);
    bw_buf_t *b = bw_buf_create_temp(bw_test_pool, len);
    assert_non_null(b);
    memcpy(b->last, text, len);
    b->last += len;
    return b;
}

static bw_chain_t *
bw_test_link(bw_buf_t *b, bw_chain_t *next)
{
    bw_chain_t *cl = bw_chain_alloc_link(bw_test_pool);
    assert_non_null(cl);
    cl->buf = b;
    cl->next = next;
    return cl;
}

static void
test_buf_create_temp_is_empty_with_storage(void **state)
{
    (void) state;
    bw_buf_t *b = bw_buf_create_temp(bw_test_pool, 100);
    assert_non_null(b);
    assert_true(b->temporary);
    assert_ptr_equal(b->pos, b->start);
    assert_ptr_equal(b->last, b->start);
    assert_int_equal(b->end - b->start, 100);
    assert_int_equal(bw_buf_size(b), 0);
    assert_false(bw_buf_special(b));
}

static void
test_buf_size_of_memory_and_file_buffers(void **state)
{
    (void) state;
    bw_buf_t *m = bw_test_mem("hello");
    assert_int_equal(bw_buf_size(m), 5);

    bw_buf_t *f = bw_buf_calloc(bw_test_pool);
    f->in_file = 1;
    f->file_pos = 10;
    f->file_last = 110;
    assert_int_equal(bw_buf_size(f), 100);
    assert_false(bw_buf_in_memory(f));

    bw_buf_t *last = bw_buf_calloc(bw_test_pool);
    last->last_buf = 1;
    assert_true(bw_buf_special(last));
    assert_int_equal(bw_buf_size(last), 0);
}

static void
test_chain_free_link_is_reused(void **state)
{
    (void) state;
    bw_chain_t *a = bw_chain_alloc_link(bw_test_pool);
    assert_non_null(a);
    bw_chain_free_link(bw_test_pool, a);
    bw_chain_t *b = bw_chain_alloc_link(bw_test_pool);
    assert_ptr_equal(a, b);
    assert_null(b->next);
    assert_null(b->buf);
    bw_chain_t *c = bw_chain_alloc_link(bw_test_pool);
    assert_ptr_not_equal(b, c);
}

static void
test_chain_update_sent_consumes_across_links(void **state)
{
    (void) state;
    bw_buf_t *a = bw_test_mem("abc"), *b = bw_test_mem("defg");
    bw_chain_t *in = bw_test_link(a, bw_test_link(b, NULL));

    bw_chain_t *rest = bw_chain_update_sent(in, 5);
    assert_ptr_equal(rest, in->next);
    assert_int_equal(bw_buf_size(a), 0);
    assert_int_equal(bw_buf_size(b), 2);
    assert_memory_equal(b->pos, "fg", 2);

    assert_null(bw_chain_update_sent(rest, 2));
    assert_int_equal(bw_buf_size(b), 0);
}

static void
test_chain_update_sent_advances_file_buffers(void **state)
{
    (void) state;
    bw_buf_t *f = bw_buf_calloc(bw_test_pool);
    f->in_file = 1;
    f->file_pos = 0;
    f->file_last = 1000;
    bw_chain_t *in = bw_test_link(f, NULL);
    assert_ptr_equal(bw_chain_update_sent(in, 400), in);
    assert_int_equal(f->file_pos, 400);
    assert_null(bw_chain_update_sent(in, 600));
    assert_int_equal(f->file_pos, 1000);
}

static void
test_chain_update_sent_skips_markers(void **state)
{
    (void) state;
    bw_buf_t *flush = bw_buf_calloc(bw_test_pool), *data = bw_test_mem("xy");
    bw_buf_t *last = bw_buf_calloc(bw_test_pool);
    flush->flush = 1;
    last->last_buf = 1;
    bw_chain_t *in = bw_test_link(flush, bw_test_link(data, bw_test_link(last, NULL)));

    /* Nothing sent: the first link with data, past the leading marker. */
    assert_ptr_equal(bw_chain_update_sent(in, 0), in->next);
    /* Everything sent: trailing markers need no more sending. */
    assert_null(bw_chain_update_sent(in, 2));
}

static void
test_chain_add_copy_shares_buffers(void **state)
{
    (void) state;
    bw_buf_t *a = bw_test_mem("a"), *b = bw_test_mem("b");
    bw_chain_t *src = bw_test_link(a, bw_test_link(b, NULL));
    bw_chain_t *dst = bw_test_link(bw_test_mem("z"), NULL);

    assert_int_equal(bw_chain_add_copy(bw_test_pool, &dst, src), BW_OK);
    assert_non_null(dst->next);
    assert_ptr_equal(dst->next->buf, a);
    assert_ptr_equal(dst->next->next->buf, b);
    assert_ptr_not_equal(dst->next, src);
    assert_null(dst->next->next->next);
    assert_int_equal(bw_chain_size(dst), 3);
}

static void
test_chain_update_chains_recycles_consumed_own_buffers(void **state)
{
    (void) state;
    static const int tag, other;
    bw_chain_t *free = NULL, *busy = NULL;

    bw_buf_t *mine = bw_test_mem("done"), *theirs = bw_test_mem("x"), *pending = bw_test_mem("p");
    mine->tag = &tag;
    theirs->tag = &other;
    pending->tag = &tag;
    mine->pos = mine->last;     /* consumed */
    theirs->pos = theirs->last; /* consumed */
    bw_chain_t *theirs_link = bw_test_link(theirs, bw_test_link(pending, NULL));
    bw_chain_t *out = bw_test_link(mine, theirs_link);

    bw_chain_update_chains(bw_test_pool, &free, &busy, &out, &tag);
    assert_null(out);
    /* Own consumed buffer: on the free list, reset to its whole storage. */
    assert_non_null(free);
    assert_ptr_equal(free->buf, mine);
    assert_null(free->next);
    assert_ptr_equal(mine->pos, mine->start);
    assert_ptr_equal(mine->last, mine->start);
    /* Someone else's consumed buffer: its link went back to the pool. */
    assert_ptr_equal(bw_test_pool->chain, theirs_link);
    /* Still in flight: stays busy. */
    assert_non_null(busy);
    assert_ptr_equal(busy->buf, pending);

    bw_chain_t *cl = bw_chain_get_free_buf(bw_test_pool, &free);
    assert_ptr_equal(cl->buf, mine);
    assert_null(free);
    cl = bw_chain_get_free_buf(bw_test_pool, &free);
    assert_non_null(cl);
    assert_non_null(cl->buf);
    assert_int_equal(bw_buf_size(cl->buf), 0);
}

static void
test_chain_create_temp_has_buffer(void **state)
{
    (void) state;
    bw_chain_t *cl = bw_chain_create_temp(bw_test_pool, 64);
    assert_non_null(cl);
    assert_non_null(cl->buf);
    assert_int_equal(cl->buf->end - cl->buf->start, 64);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_buf_create_temp_is_empty_with_storage, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_buf_size_of_memory_and_file_buffers, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_chain_free_link_is_reused, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_chain_update_sent_consumes_across_links,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_chain_update_sent_advances_file_buffers,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_chain_update_sent_skips_markers, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_chain_add_copy_shares_buffers, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_chain_update_chains_recycles_consumed_own_buffers,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_chain_create_temp_has_buffer, bw_test_setup,
                                        bw_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
