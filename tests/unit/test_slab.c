/*
 * test_slab.c -- the shared-zone allocator: layout, every slot size, page
 * runs and their coalescing, exhaustion and recovery, detection of bad
 * frees, and several forked processes allocating in one zone at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "slab.h"
#include "support.h"

#define BW_TEST_ZONE_SIZE (1024 * 1024)

typedef struct {
    bw_slab_pool_t *pool;
    size_t          size;
    bw_open_file_t  log_file;
    bw_log_t        log;
} bw_test_zone_t;

static bw_slab_pool_t *
bw_test_pool_map(size_t size)
{
    void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(addr != MAP_FAILED);
    bw_slab_pool_t *pool = addr;
    pool->end = (u_char *) addr + size;
    bw_slab_init(pool);
    snprintf(pool->name, sizeof(pool->name), "test");
    return pool;
}

/* Maps a zone and points the slab log at a temp file the test can read. */
static int
bw_test_setup(void **state)
{
    bw_test_zone_t *z = calloc(1, sizeof(bw_test_zone_t));
    z->size = BW_TEST_ZONE_SIZE;
    z->pool = bw_test_pool_map(z->size);
    bw_test_log_capture(&z->log, &z->log_file);
    bw_slab_log = &z->log;
    *state = z;
    return 0;
}

static int
bw_test_teardown(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_log = NULL;
    munmap(z->pool, z->size);
    close(z->log_file.fd);
    free(z);
    return 0;
}

static size_t
bw_test_count(const char *haystack, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static size_t
bw_test_free_runs(bw_slab_pool_t *pool)
{
    size_t n = 0;
    for (bw_slab_page_t *p = pool->free.next; p != &pool->free; p = p->next) {
        n++;
    }
    return n;
}

/* The zone is as bw_slab_init left it: every page free in one run, no slot in use. */
static void
bw_test_assert_pristine(bw_slab_pool_t *pool)
{
    assert_int_equal(bw_slab_verify_locked(pool), BW_OK);
    assert_int_equal(pool->free_pages, pool->npages);
    assert_int_equal(bw_test_free_runs(pool), 1);
    assert_ptr_equal(pool->free.next, &pool->pages[0]);
    for (int c = 0; c < BW_SLAB_CLASSES; c++) {
        assert_int_equal(pool->stats[c].used, 0);
        assert_int_equal(pool->stats[c].total, 0);
    }
}

static void
test_slab_init_lays_out_pages_after_descriptors(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_pool_t *pool = z->pool;

    assert_ptr_equal(pool->start, (u_char *) pool);
    assert_ptr_equal(pool->end, (u_char *) pool + z->size);
    assert_int_equal((uintptr_t) pool->first % BW_SLAB_PAGE_SIZE, 0);
    assert_true((u_char *) (pool->pages + pool->npages) <= pool->first);
    assert_true(pool->first + pool->npages * BW_SLAB_PAGE_SIZE <= pool->end);
    /* header and 32-byte descriptors take the first 3 of the 256 pages of 1 MiB */
    assert_int_equal(sizeof(bw_slab_page_t), 32);
    assert_int_equal(pool->npages, z->size / BW_SLAB_PAGE_SIZE - 3);
    /* and one page more would not have fitted */
    size_t more = pool->npages + 1;
    assert_true(bw_align(sizeof(bw_slab_pool_t) + more * sizeof(bw_slab_page_t), BW_SLAB_PAGE_SIZE)
                    + more * BW_SLAB_PAGE_SIZE
                > z->size);
    assert_null(pool->data);
    assert_true(pool->log_nomem);
    assert_int_equal(bw_shmtx_owner(&pool->mutex), 0);
    bw_test_assert_pristine(pool);
}

static void
test_slab_size_class_rounds_up(void **state)
{
    static const struct {
        size_t size, class;
    } cases[] = {
        {0, 8},      {1, 8},       {7, 8},       {8, 8},       {9, 16},     {16, 16},
        {17, 32},    {33, 64},     {65, 128},    {200, 256},   {512, 512},  {513, 1024},
        {2047, 2048}, {2048, 2048}, {2049, 4096}, {4096, 4096}, {4097, 8192}, {12288, 12288},
    };
    for (size_t i = 0; i < bw_nelems(cases); i++) {
        assert_int_equal(bw_slab_size_class(cases[i].size), cases[i].class);
    }
}

/* Allocates `count` blocks of `size`, checks alignment and non-overlap, frees them. */
static void
bw_test_class_fill(bw_slab_pool_t *pool, size_t size, size_t count)
{
    size_t class = bw_slab_size_class(size);
    unsigned c = (unsigned) __builtin_ctzll(class) - BW_SLAB_MIN_SHIFT;
    u_char **blocks = calloc(count, sizeof(u_char *));

    for (size_t i = 0; i < count; i++) {
        blocks[i] = bw_slab_alloc(pool, size);
        assert_non_null(blocks[i]);
        assert_int_equal((uintptr_t) blocks[i] % class, 0);
        assert_true(blocks[i] >= pool->first);
        assert_true(blocks[i] + class <= pool->first + pool->npages * BW_SLAB_PAGE_SIZE);
        memset(blocks[i], (int) (i & 0xff), class);
        assert_int_equal(pool->stats[c].used, i + 1);
        assert_true(pool->stats[c].total >= i + 1);
    }
    assert_int_equal(bw_slab_verify_locked(pool), BW_OK);
    /* every block still holds its own pattern: no two overlap, no bitmap was overwritten */
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < class; j++) {
            assert_int_equal(blocks[i][j], (u_char) (i & 0xff));
        }
    }
    for (size_t i = 0; i < count; i++) {
        bw_slab_free(pool, blocks[i]);
        assert_int_equal(pool->stats[c].used, count - i - 1);
    }
    free(blocks);
}

static void
test_slab_every_slot_size_class(void **state)
{
    bw_test_zone_t *z = *state;

    for (unsigned shift = BW_SLAB_MIN_SHIFT; shift <= BW_SLAB_MAX_SHIFT; shift++) {
        size_t class = (size_t) 1 << shift;
        size_t per_page = BW_SLAB_PAGE_SIZE / class;
        /* fill a little over two pages' worth, with the largest and smallest size of the class */
        bw_test_class_fill(z->pool, class, 2 * per_page + 3);
        bw_test_class_fill(z->pool, class / 2 + 1, per_page + 1);
        bw_test_assert_pristine(z->pool);
    }
    assert_int_equal(bw_test_log_count(&z->log_file, "["), 0);
}

static void
test_slab_small_slot_pages_keep_their_bitmap_slots(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_pool_t *pool = z->pool;

    /* 8-byte slots: a page has 512, 8 of which hold the bitmap itself */
    u_char *p = bw_slab_alloc(pool, 8);
    assert_non_null(p);
    assert_int_equal((uintptr_t) p % BW_SLAB_PAGE_SIZE, 64);
    assert_int_equal(pool->stats[0].total, 512 - 8);
    /* 32-byte slots: one slot of bitmap; 64-byte slots: none */
    u_char *q = bw_slab_alloc(pool, 32);
    assert_int_equal((uintptr_t) q % BW_SLAB_PAGE_SIZE, 32);
    u_char *r = bw_slab_alloc(pool, 64);
    assert_int_equal((uintptr_t) r % BW_SLAB_PAGE_SIZE, 0);
    assert_int_equal(pool->stats[3].total, 64);

    bw_slab_free(pool, p);
    bw_slab_free(pool, q);
    bw_slab_free(pool, r);
    bw_test_assert_pristine(pool);
}

static void
test_slab_page_runs_coalesce_on_both_sides(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_pool_t *pool = z->pool;
    size_t run = 3 * BW_SLAB_PAGE_SIZE;

    u_char *a = bw_slab_alloc(pool, run);
    u_char *b = bw_slab_alloc(pool, run);
    u_char *c = bw_slab_alloc(pool, run);
    u_char *d = bw_slab_alloc(pool, run);
    assert_ptr_equal(a, pool->first);
    assert_ptr_equal(b, a + run);
    assert_ptr_equal(c, b + run);
    assert_ptr_equal(d, c + run);
    assert_int_equal((uintptr_t) a % BW_SLAB_PAGE_SIZE, 0);
    assert_int_equal(pool->free_pages, pool->npages - 12);
    assert_int_equal(bw_test_free_runs(pool), 1);

    /* free b then c: they merge (c merges left into b) into one 6-page hole */
    bw_slab_free(pool, b);
    assert_int_equal(bw_test_free_runs(pool), 2);
    bw_slab_free(pool, c);
    assert_int_equal(bw_test_free_runs(pool), 2);
    assert_int_equal(bw_slab_verify_locked(pool), BW_OK);

    /* a 6-page request fits exactly in that hole */
    u_char *bc = bw_slab_alloc(pool, 2 * run);
    assert_ptr_equal(bc, b);
    assert_int_equal(bw_test_free_runs(pool), 1);

    /* free a (left of bc), then d (right of bc), then bc: it merges both ways */
    bw_slab_free(pool, a);
    bw_slab_free(pool, d); /* d merges right into the tail run */
    assert_int_equal(bw_test_free_runs(pool), 2);
    assert_int_equal(bw_slab_verify_locked(pool), BW_OK);
    bw_slab_free(pool, bc);
    bw_test_assert_pristine(pool);
}

static void
test_slab_slot_pages_return_to_free_runs_when_empty(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_pool_t *pool = z->pool;

    u_char *small = bw_slab_alloc(pool, 100); /* takes page 0 for 128-byte slots */
    u_char *big = bw_slab_alloc(pool, 5000);  /* pages 1-2 */
    assert_ptr_equal(big, pool->first + BW_SLAB_PAGE_SIZE);
    assert_int_equal(pool->free_pages, pool->npages - 3);

    bw_slab_free(pool, small); /* page 0 free again, alone before the run */
    assert_int_equal(bw_test_free_runs(pool), 2);
    assert_int_equal(pool->stats[4].total, 0);
    bw_slab_free(pool, big); /* merges with page 0 and with the tail */
    bw_test_assert_pristine(pool);
}

static void
test_slab_exhaustion_returns_null_then_full_size_succeeds(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_pool_t *pool = z->pool;
    size_t max = pool->npages * 64; /* 64-byte slots: 64 a page, no bitmap slot */
    void **blocks = calloc(max + 1, sizeof(void *));
    size_t n = 0;

    while (n <= max && (blocks[n] = bw_slab_alloc(pool, 64)) != NULL) {
        n++;
    }
    assert_int_equal(n, max);
    assert_int_equal(pool->free_pages, 0);
    assert_null(bw_slab_alloc(pool, 8));
    assert_null(bw_slab_alloc(pool, 3000));
    assert_null(bw_slab_alloc(pool, BW_SLAB_PAGE_SIZE));
    assert_null(bw_slab_calloc(pool, 100));
    assert_true(pool->stats[3].fails >= 1);
    assert_true(pool->page_fails >= 1);
    assert_int_equal(bw_slab_verify_locked(pool), BW_OK);

    for (size_t i = 0; i < n; i += 2) { /* every other one first: pages stay in use */
        bw_slab_free(pool, blocks[i]);
    }
    assert_int_equal(pool->free_pages, 0);
    assert_null(bw_slab_alloc(pool, BW_SLAB_PAGE_SIZE));
    for (size_t i = 1; i < n; i += 2) {
        bw_slab_free(pool, blocks[i]);
    }
    bw_test_assert_pristine(pool);

    /* the whole zone as one block, and nothing more */
    size_t all = pool->npages * BW_SLAB_PAGE_SIZE;
    u_char *p = bw_slab_alloc(pool, all);
    assert_ptr_equal(p, pool->first);
    memset(p, 0xa5, all);
    assert_null(bw_slab_alloc(pool, 1));
    bw_slab_free(pool, p);
    assert_null(bw_slab_alloc(pool, all + 1));
    assert_null(bw_slab_alloc(pool, SIZE_MAX));
    assert_null(bw_slab_alloc(pool, SIZE_MAX - BW_SLAB_PAGE_SIZE / 2));
    bw_test_assert_pristine(pool);
    free(blocks);
}

static void
test_slab_exhaustion_is_logged_once_per_zone(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_pool_t *pool = z->pool;
    size_t all = pool->npages * BW_SLAB_PAGE_SIZE;

    assert_null(bw_slab_alloc(pool, all + 1));
    assert_null(bw_slab_alloc(pool, all + 1));
    void *p = bw_slab_alloc(pool, all);
    assert_null(bw_slab_alloc(pool, 16));
    bw_slab_free(pool, p);

    const char *log = bw_test_log_text(&z->log_file);
    assert_int_equal(bw_test_count(log, "[crit]"), 1);
    assert_non_null(strstr(log, "in shared memory zone \"test\""));

    /* an owner that logs exhaustion itself switches it off */
    bw_slab_pool_t *quiet = bw_test_pool_map(64 * 1024);
    quiet->log_nomem = false;
    assert_null(bw_slab_alloc(quiet, 1024 * 1024));
    assert_int_equal(quiet->page_fails, 1);
    assert_int_equal(bw_test_log_count(&z->log_file, "[crit]"), 1);
    munmap(quiet, 64 * 1024);
}

static void
test_slab_invalid_frees_are_logged_and_ignored(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_pool_t *pool = z->pool;
    u_char outside[16];

    u_char *tiny = bw_slab_alloc(pool, 8);   /* 8-byte slots: bitmap at the page start */
    u_char *slot = bw_slab_alloc(pool, 100);
    u_char *run = bw_slab_alloc(pool, 3 * BW_SLAB_PAGE_SIZE);
    u_char *keep = bw_slab_alloc(pool, 100);
    assert_non_null(tiny);
    assert_non_null(slot);
    assert_non_null(run);
    assert_non_null(keep);
    size_t free_pages = pool->free_pages, used = pool->stats[4].used;

    bw_slab_free(pool, slot);
    bw_slab_free(pool, slot);                        /* double free of a slot */
    bw_slab_free(pool, keep + 8);                    /* inside a slot */
    bw_slab_free(pool, run + BW_SLAB_PAGE_SIZE);     /* second page of a run */
    bw_slab_free(pool, run + 100);                   /* inside the first page of a run */
    bw_slab_free(pool, outside);                     /* not in the zone */
    bw_slab_free(pool, (u_char *) pool + 64);        /* the header */
    bw_slab_free(pool, pool->first + (pool->npages - 1) * BW_SLAB_PAGE_SIZE); /* a free page */
    bw_slab_free(pool, tiny - 64);                   /* the 8-byte page's bitmap */
    bw_slab_free(pool, NULL);                        /* allowed, silent */

    const char *log = bw_test_log_text(&z->log_file);
    assert_int_equal(bw_test_count(log, "[alert]"), 8);
    assert_int_equal(bw_test_count(log, "slot is already free"), 1);
    assert_int_equal(bw_test_count(log, "pointer into the middle of a slot"), 1);
    assert_int_equal(bw_test_count(log, "pointer into the middle of a page run"), 2);
    assert_int_equal(bw_test_count(log, "pointer outside of the zone's pages"), 2);
    assert_int_equal(bw_test_count(log, "page is already free"), 1);
    assert_int_equal(bw_test_count(log, "pointer to a page's slot bitmap"), 1);

    /* nothing changed but the one legitimate free */
    assert_int_equal(pool->free_pages, free_pages);
    assert_int_equal(pool->stats[4].used, used - 1);
    assert_int_equal(bw_slab_verify_locked(pool), BW_OK);

    bw_slab_free(pool, run);
    bw_slab_free(pool, run); /* double free of a run: its page is free now */
    assert_int_equal(bw_test_log_count(&z->log_file, "page is already free"), 2);
    bw_slab_free(pool, keep);
    bw_slab_free(pool, tiny);
    bw_test_assert_pristine(pool);
}

static void
test_slab_calloc_returns_zeroed_memory(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_pool_t *pool = z->pool;
    size_t sizes[] = {24, 1000, 9000};

    for (size_t i = 0; i < bw_nelems(sizes); i++) {
        u_char *p = bw_slab_alloc(pool, sizes[i]);
        memset(p, 0xff, sizes[i]);
        bw_slab_free(pool, p);
        u_char *q = bw_slab_calloc(pool, sizes[i]);
        assert_ptr_equal(q, p); /* the same block comes back */
        for (size_t j = 0; j < sizes[i]; j++) {
            assert_int_equal(q[j], 0);
        }
        bw_slab_free(pool, q);
    }
    bw_test_assert_pristine(pool);
}

static void
test_slab_locked_variants_need_the_caller_lock(void **state)
{
    bw_test_zone_t *z = *state;
    bw_slab_pool_t *pool = z->pool;

    bw_shmtx_lock(&pool->mutex);
    void *a = bw_slab_alloc_locked(pool, 40);
    void *b = bw_slab_calloc_locked(pool, 5000);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(bw_shmtx_owner(&pool->mutex), getpid());
    bw_slab_free_locked(pool, a);
    bw_slab_free_locked(pool, b);
    assert_true(bw_shmtx_unlock(&pool->mutex));
    bw_test_assert_pristine(pool);
}

static void
test_slab_tiny_regions(void **state)
{
    size_t min = bw_slab_pool_min_size();
    bw_slab_pool_t *pool = bw_test_pool_map(min);
    assert_int_equal(pool->npages, 1);
    pool->log_nomem = false;
    void *p = bw_slab_alloc(pool, BW_SLAB_PAGE_SIZE);
    assert_non_null(p);
    assert_null(bw_slab_alloc(pool, 8));
    bw_slab_free(pool, p);
    bw_test_assert_pristine(pool);
    munmap(pool, min);

    /* a region too small for any page: allocations fail, nothing breaks */
    pool = bw_test_pool_map(BW_SLAB_PAGE_SIZE);
    assert_int_equal(pool->npages, 0);
    pool->log_nomem = false;
    assert_null(bw_slab_alloc(pool, 8));
    assert_int_equal(bw_slab_verify_locked(pool), BW_OK);
    munmap(pool, BW_SLAB_PAGE_SIZE);
}

/* ---- many processes in one zone ---- */

#define BW_TEST_PROCS 8
#define BW_TEST_ITERS 50000
#define BW_TEST_LIVE  48

typedef struct {
    u_char *p;
    size_t  size;
    u_char  fill;
} bw_test_block_t;

static uint32_t
bw_test_random(uint64_t *rng)
{
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t) (*rng >> 33);
}

static size_t
bw_test_random_size(uint64_t *rng)
{
    uint32_t r = bw_test_random(rng);
    switch (r % 10) {
    case 0:
        return 2049 + r % (3 * BW_SLAB_PAGE_SIZE); /* page runs */
    case 1:
    case 2:
        return 257 + r % 1792; /* large slots */
    default:
        return 1 + r % 256; /* small slots */
    }
}

static bool
bw_test_block_intact(const bw_test_block_t *b)
{
    for (size_t i = 0; i < b->size; i++) {
        if (b->p[i] != (u_char) (b->fill + i)) {
            return false;
        }
    }
    return true;
}

/* One child's work; returns its exit status (0 ok, 1 corruption, 2 inconsistent slab). */
static int
bw_test_child_run(bw_slab_pool_t *pool, unsigned id)
{
    bw_test_block_t live[BW_TEST_LIVE];
    uint64_t rng = 0x1234567ULL * (id + 1);

    memset(live, 0, sizeof(live));
    for (unsigned it = 0; it < BW_TEST_ITERS; it++) {
        bw_test_block_t *b = &live[bw_test_random(&rng) % BW_TEST_LIVE];
        if (b->p) {
            if (!bw_test_block_intact(b)) {
                return 1;
            }
            bw_slab_free(pool, b->p);
            b->p = NULL;
            continue;
        }
        b->size = bw_test_random_size(&rng);
        b->p = (it & 1) ? bw_slab_alloc(pool, b->size) : bw_slab_calloc(pool, b->size);
        if (b->p == NULL) {
            continue; /* zone full right now: allowed */
        }
        b->fill = (u_char) (id * 31 + it);
        for (size_t i = 0; i < b->size; i++) {
            b->p[i] = (u_char) (b->fill + i);
        }
        if (it % 5000 == 0) {
            bw_shmtx_lock(&pool->mutex);
            bw_rc_t rc = bw_slab_verify_locked(pool);
            bw_shmtx_unlock(&pool->mutex);
            if (rc != BW_OK) {
                return 2;
            }
        }
    }
    for (unsigned i = 0; i < BW_TEST_LIVE; i++) {
        if (live[i].p) {
            if (!bw_test_block_intact(&live[i])) {
                return 1;
            }
            bw_slab_free(pool, live[i].p);
        }
    }
    return 0;
}

static void
test_slab_concurrent_processes_do_not_corrupt_each_other(void **state)
{
    bw_test_zone_t *z = *state;
    /* a zone small enough that the children also run into exhaustion now and then */
    size_t size = 256 * 1024;
    bw_slab_pool_t *pool = bw_test_pool_map(size);
    pool->log_nomem = false;
    pid_t pids[BW_TEST_PROCS];

    for (unsigned i = 0; i < BW_TEST_PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            _exit(bw_test_child_run(pool, i));
        }
    }
    for (unsigned i = 0; i < BW_TEST_PROCS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }

    assert_int_equal(bw_shmtx_owner(&pool->mutex), 0);
    bw_test_assert_pristine(pool);
    uint64_t reqs = pool->page_reqs;
    for (int c = 0; c < BW_SLAB_CLASSES; c++) {
        reqs += pool->stats[c].reqs;
    }
    assert_true(reqs >= BW_TEST_PROCS * BW_TEST_ITERS / 2);
    assert_int_equal(bw_test_log_count(&z->log_file, "["), 0);
    munmap(pool, size);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slab_init_lays_out_pages_after_descriptors,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test(test_slab_size_class_rounds_up),
        cmocka_unit_test_setup_teardown(test_slab_every_slot_size_class, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_slab_small_slot_pages_keep_their_bitmap_slots,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_slab_page_runs_coalesce_on_both_sides,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_slab_slot_pages_return_to_free_runs_when_empty,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_slab_exhaustion_returns_null_then_full_size_succeeds,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_slab_exhaustion_is_logged_once_per_zone,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_slab_invalid_frees_are_logged_and_ignored,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_slab_calloc_returns_zeroed_memory, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_slab_locked_variants_need_the_caller_lock,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test(test_slab_tiny_regions),
        cmocka_unit_test_setup_teardown(test_slab_concurrent_processes_do_not_corrupt_each_other,
                                        bw_test_setup, bw_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
