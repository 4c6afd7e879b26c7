/*
 * test_shm.c -- shared memory zones: declaration rules and nginx's messages,
 * mapping with a slab pool, sharing with forked children, reuse of a zone
 * across a simulated reload, unwinding on failure, and force-release of a
 * zone lock held by a killed worker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "array.h"
#include "pool.h"
#include "shm.h"
#include "support.h"

static int bw_test_tag_a, bw_test_tag_b; /* owner identities */

typedef struct {
    bw_cycle_t     cycle;
    bw_open_file_t log_file;
    bw_log_t       log;
} bw_test_cycle_t;

/* A cycle with a pool, an empty zone list and a log the test can read. */
static bw_test_cycle_t *
bw_test_cycle_create(void)
{
    bw_test_cycle_t *tc = calloc(1, sizeof(bw_test_cycle_t));
    tc->cycle.pool = bw_pool_create(BW_POOL_DEFAULT_SIZE, NULL);
    assert_non_null(tc->cycle.pool);
    bw_test_log_capture(&tc->log, &tc->log_file);
    tc->cycle.log = &tc->log;
    return tc;
}

static void
bw_test_cycle_destroy(bw_test_cycle_t *tc)
{
    bw_shm_zones_destroy(&tc->cycle);
    bw_pool_destroy(tc->cycle.pool);
    close(tc->log_file.fd);
    free(tc);
}

static bw_shm_zone_t *
bw_test_declare(bw_test_cycle_t *tc, const char *name, size_t size, void *tag, char *err)
{
    bw_str_t s = {strlen(name), (u_char *) name};
    err[0] = '\0';
    return bw_shm_zone_declare(&tc->cycle, &s, size, tag, err, BW_SHM_ERR_LEN);
}

/* True while addr is mapped in this process. */
static bool
bw_test_mapped(void *addr)
{
    return msync(addr, BW_SLAB_PAGE_SIZE, MS_ASYNC) == 0;
}

/* ---- an owner, as a module would write it ---- */

typedef struct {
    uint64_t counter;
    char     label[16];
} bw_test_root_t;

typedef struct {
    bw_test_root_t *root;       /* in the zone */
    void           *old_seen;   /* what init got as old_data */
    int             init_calls;
    bool            fail_init;
} bw_test_ctx_t;

static bw_rc_t
bw_test_zone_init(bw_shm_zone_t *zone, void *old_data)
{
    bw_test_ctx_t *ctx = zone->data, *old = old_data;
    bw_slab_pool_t *pool = bw_shm_zone_pool(zone);

    ctx->init_calls++;
    ctx->old_seen = old_data;
    if (ctx->fail_init) {
        return BW_ERROR;
    }
    if (old) {
        ctx->root = old->root; /* adopt the previous cycle's state */
        return pool->data == ctx->root ? BW_OK : BW_ERROR;
    }
    ctx->root = bw_slab_calloc(pool, sizeof(bw_test_root_t));
    if (ctx->root == NULL) {
        return BW_ERROR;
    }
    pool->data = ctx->root;
    return BW_OK;
}

static bw_shm_zone_t *
bw_test_zone(bw_test_cycle_t *tc, const char *name, size_t size, void *tag, bw_test_ctx_t *ctx)
{
    char err[BW_SHM_ERR_LEN];
    bw_shm_zone_t *zone = bw_test_declare(tc, name, size, tag, err);
    assert_non_null(zone);
    zone->init = bw_test_zone_init;
    zone->data = ctx;
    return zone;
}

/* ---- declaration ---- */

static void
test_shm_zone_declare_appends_and_finds(void **state)
{
    bw_test_cycle_t *tc = bw_test_cycle_create();
    char err[BW_SHM_ERR_LEN];
    char name[] = "one";

    assert_null(tc->cycle.shared_memory.elts);
    bw_shm_zone_t *one = bw_test_declare(tc, name, 1024 * 1024, &bw_test_tag_a, err);
    assert_non_null(one);
    assert_int_equal(one->size, 1024 * 1024);
    assert_ptr_equal(one->tag, &bw_test_tag_a);
    assert_null(one->addr);
    assert_false(one->noreuse);
    name[0] = 'X'; /* the zone keeps its own copy of the name */
    assert_string_equal((char *) one->name.data, "one");

    bw_shm_zone_t *two = bw_test_declare(tc, "two", 64 * 1024, &bw_test_tag_b, err);
    assert_non_null(two);
    assert_int_equal(tc->cycle.shared_memory.nelts, 2);

    bw_str_t s = bw_string("two");
    assert_ptr_equal(bw_shm_zone_find(&tc->cycle, &s), two);
    bw_str_t missing = bw_string("three");
    assert_null(bw_shm_zone_find(&tc->cycle, &missing));
    bw_str_t upper = bw_string("ONE");
    assert_null(bw_shm_zone_find(&tc->cycle, &upper)); /* names are case-sensitive */
    bw_test_cycle_destroy(tc);
}

static void
test_shm_zone_reference_then_declaration_share_one_zone(void **state)
{
    bw_test_cycle_t *tc = bw_test_cycle_create();
    char err[BW_SHM_ERR_LEN];

    /* `limit_req zone=one` may come before `limit_req_zone ... zone=one:1m` */
    bw_shm_zone_t *ref = bw_test_declare(tc, "one", 0, &bw_test_tag_a, err);
    assert_non_null(ref);
    assert_int_equal(ref->size, 0);
    bw_shm_zone_t *decl = bw_test_declare(tc, "one", 1024 * 1024, &bw_test_tag_a, err);
    assert_ptr_equal(decl, ref);
    assert_int_equal(decl->size, 1024 * 1024);
    bw_shm_zone_t *again = bw_test_declare(tc, "one", 0, &bw_test_tag_a, err);
    assert_ptr_equal(again, ref);
    assert_int_equal(again->size, 1024 * 1024);
    /* the same size declared twice is accepted too */
    assert_ptr_equal(bw_test_declare(tc, "one", 1024 * 1024, &bw_test_tag_a, err), ref);
    assert_int_equal(tc->cycle.shared_memory.nelts, 1);
    bw_test_cycle_destroy(tc);
}

static void
test_shm_zone_declared_for_another_owner_is_an_error(void **state)
{
    bw_test_cycle_t *tc = bw_test_cycle_create();
    char err[BW_SHM_ERR_LEN];

    assert_non_null(bw_test_declare(tc, "one", 1024 * 1024, &bw_test_tag_a, err));
    assert_null(bw_test_declare(tc, "one", 1024 * 1024, &bw_test_tag_b, err));
    assert_string_equal(err,
                        "the shared memory zone \"one\" is already declared for a different use");
    assert_null(bw_test_declare(tc, "one", 0, &bw_test_tag_b, err));
    assert_string_equal(err,
                        "the shared memory zone \"one\" is already declared for a different use");
    assert_int_equal(tc->cycle.shared_memory.nelts, 1);
    bw_test_cycle_destroy(tc);
}

static void
test_shm_zone_conflicting_size_is_an_error(void **state)
{
    bw_test_cycle_t *tc = bw_test_cycle_create();
    char err[BW_SHM_ERR_LEN];

    assert_non_null(bw_test_declare(tc, "one", 1048576, &bw_test_tag_a, err));
    assert_null(bw_test_declare(tc, "one", 2097152, &bw_test_tag_a, err));
    assert_string_equal(err, "the size 2097152 of shared memory zone \"one\" conflicts with "
                             "already declared size 1048576");
    bw_test_cycle_destroy(tc);
}

static void
test_shm_zone_smaller_than_eight_pages_is_too_small(void **state)
{
    bw_test_cycle_t *tc = bw_test_cycle_create();
    char err[BW_SHM_ERR_LEN];

    assert_null(bw_test_declare(tc, "two", 31 * 1024, &bw_test_tag_a, err));
    assert_string_equal(err, "zone \"two\" is too small");
    assert_null(tc->cycle.shared_memory.elts);
    assert_non_null(bw_test_declare(tc, "two", 32 * 1024, &bw_test_tag_a, err));
    assert_int_equal(BW_SHM_ZONE_MIN_SIZE, 32 * 1024);
    bw_test_cycle_destroy(tc);
}

static void
test_shm_zone_only_referenced_is_zero_size_error(void **state)
{
    bw_test_cycle_t *tc = bw_test_cycle_create();
    char err[BW_SHM_ERR_LEN];
    bw_test_ctx_t ctx = {0};

    bw_shm_zone_t *one = bw_test_zone(tc, "one", 64 * 1024, &bw_test_tag_a, &ctx);
    assert_non_null(bw_test_declare(tc, "two", 0, &bw_test_tag_a, err));
    assert_non_null(bw_test_declare(tc, "three", 0, &bw_test_tag_b, err));

    assert_int_equal(bw_shm_zones_check(&tc->cycle), BW_ERROR);
    assert_int_equal(bw_shm_zones_create(&tc->cycle, NULL), BW_ERROR);
    const char *log = bw_test_log_text(&tc->log_file);
    assert_non_null(strstr(log, "[emerg]"));
    assert_non_null(strstr(log, "zero size shared memory zone \"two\""));
    assert_non_null(strstr(log, "zero size shared memory zone \"three\""));
    /* nothing was mapped or initialised */
    assert_int_equal(ctx.init_calls, 0);
    assert_null(one->addr);
    bw_test_cycle_destroy(tc);
}

static void
test_shm_zone_pointers_stay_valid_as_more_are_declared(void **state)
{
    bw_test_cycle_t *tc = bw_test_cycle_create();
    bw_test_ctx_t ctx[40];
    bw_shm_zone_t *zones[40];
    char name[16];

    /* set up the way the cycle does, for an element size of its choosing */
    assert_int_equal(bw_array_init(&tc->cycle.shared_memory, tc->cycle.pool, 8,
                                   sizeof(bw_shm_zone_t)),
                     BW_OK);
    memset(ctx, 0, sizeof(ctx));
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "z%d", i);
        zones[i] = bw_test_zone(tc, name, BW_SHM_ZONE_MIN_SIZE, &bw_test_tag_a, &ctx[i]);
    }
    assert_int_equal(tc->cycle.shared_memory.nelts, 40);
    assert_int_equal(bw_shm_zones_create(&tc->cycle, NULL), BW_OK);

    /* the pointers handed out first still name the zones that were mapped */
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "z%d", i);
        bw_str_t s = {strlen(name), (u_char *) name};
        assert_ptr_equal(bw_shm_zone_find(&tc->cycle, &s), zones[i]);
        assert_non_null(zones[i]->addr);
        assert_int_equal(ctx[i].init_calls, 1);
        assert_string_equal(bw_shm_zone_pool(zones[i])->name, name);
    }
    bw_test_cycle_destroy(tc);
}

/* ---- mapping ---- */

static void
test_shm_zones_create_maps_initialises_and_shares_with_children(void **state)
{
    bw_test_cycle_t *tc = bw_test_cycle_create();
    bw_test_ctx_t ctx = {0};
    bw_shm_zone_t *zone = bw_test_zone(tc, "one", 256 * 1024, &bw_test_tag_a, &ctx);

    assert_int_equal(bw_shm_zones_create(&tc->cycle, NULL), BW_OK);
    assert_non_null(zone->addr);
    assert_int_equal((uintptr_t) zone->addr % BW_SLAB_PAGE_SIZE, 0);
    bw_slab_pool_t *pool = bw_shm_zone_pool(zone);
    assert_ptr_equal(pool->start, zone->addr);
    assert_ptr_equal(pool->end, zone->addr + 256 * 1024);
    assert_string_equal(pool->name, "one");
    assert_int_equal(ctx.init_calls, 1);
    assert_null(ctx.old_seen);
    assert_non_null(ctx.root);
    assert_ptr_equal(pool->data, ctx.root);
    assert_int_equal(bw_slab_verify_locked(pool), BW_OK);

    /* a forked child writes through the zone; the parent sees it */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bw_test_root_t *root = bw_shm_zone_pool(zone)->data;
        char *s = bw_slab_alloc(bw_shm_zone_pool(zone), 100);
        if (s == NULL) {
            _exit(1);
        }
        strcpy(s, "from the child");
        root->counter = (uint64_t) (uintptr_t) s; /* a pointer valid in every process */
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *s = (char *) (uintptr_t) ctx.root->counter;
    assert_string_equal(s, "from the child");
    bw_slab_free(pool, s);

    u_char *addr = zone->addr;
    bw_test_cycle_destroy(tc);
    assert_false(bw_test_mapped(addr));
}

static void
test_shm_zone_reused_across_reload_when_unchanged(void **state)
{
    bw_test_cycle_t *old = bw_test_cycle_create(), *new = bw_test_cycle_create();
    bw_test_ctx_t a1 = {0}, b1 = {0}, c1 = {0}, d1 = {0}, e1 = {0};
    bw_test_ctx_t a2 = {0}, b2 = {0}, c2 = {0}, d2 = {0}, f2 = {0};

    bw_shm_zone_t *oa = bw_test_zone(old, "same", 64 * 1024, &bw_test_tag_a, &a1);
    bw_shm_zone_t *ob = bw_test_zone(old, "resized", 64 * 1024, &bw_test_tag_a, &b1);
    bw_shm_zone_t *oc = bw_test_zone(old, "retagged", 64 * 1024, &bw_test_tag_a, &c1);
    bw_shm_zone_t *od = bw_test_zone(old, "noreuse", 64 * 1024, &bw_test_tag_a, &d1);
    bw_shm_zone_t *oe = bw_test_zone(old, "dropped", 64 * 1024, &bw_test_tag_a, &e1);
    assert_int_equal(bw_shm_zones_create(&old->cycle, NULL), BW_OK);
    a1.root->counter = 42;
    b1.root->counter = 7;
    u_char *oa_addr = oa->addr, *ob_addr = ob->addr, *oc_addr = oc->addr;
    u_char *od_addr = od->addr, *oe_addr = oe->addr;

    /* the reloaded configuration */
    bw_shm_zone_t *na = bw_test_zone(new, "same", 64 * 1024, &bw_test_tag_a, &a2);
    bw_shm_zone_t *nb = bw_test_zone(new, "resized", 128 * 1024, &bw_test_tag_a, &b2);
    bw_shm_zone_t *nc = bw_test_zone(new, "retagged", 64 * 1024, &bw_test_tag_b, &c2);
    bw_shm_zone_t *nd = bw_test_zone(new, "noreuse", 64 * 1024, &bw_test_tag_a, &d2);
    bw_shm_zone_t *nf = bw_test_zone(new, "added", 64 * 1024, &bw_test_tag_a, &f2);
    nd->noreuse = true;
    assert_int_equal(bw_shm_zones_create(&new->cycle, &old->cycle), BW_OK);

    /* same name, size and owner: same mapping, old data adopted */
    assert_ptr_equal(na->addr, oa_addr);
    assert_ptr_equal(a2.old_seen, &a1);
    assert_ptr_equal(a2.root, a1.root);
    assert_int_equal(a2.root->counter, 42);
    /* anything changed: a fresh, empty zone */
    assert_ptr_not_equal(nb->addr, ob_addr);
    assert_null(b2.old_seen);
    assert_int_equal(b2.root->counter, 0);
    assert_int_equal(bw_shm_zone_pool(nb)->end - nb->addr, 128 * 1024);
    assert_ptr_not_equal(nc->addr, oc_addr);
    assert_null(c2.old_seen);
    assert_ptr_not_equal(nd->addr, od_addr);
    assert_null(d2.old_seen);
    assert_non_null(nf->addr);
    assert_null(f2.old_seen);

    /* commit: the old cycle's unused zones go away, the adopted one stays */
    bw_shm_zones_release_unused(&old->cycle, &new->cycle);
    assert_true(bw_test_mapped(oa_addr));
    assert_int_equal(a2.root->counter, 42);
    assert_false(bw_test_mapped(ob_addr));
    assert_false(bw_test_mapped(oc_addr));
    assert_false(bw_test_mapped(od_addr));
    assert_false(bw_test_mapped(oe_addr));
    assert_null(oa->addr); /* handed over: the old cycle no longer owns it */
    assert_ptr_equal(bw_slab_log, new->cycle.log);

    /* destroying the old cycle now leaves the new one's zones alone */
    bw_test_cycle_destroy(old);
    assert_true(bw_test_mapped(na->addr));
    a2.root->counter++;
    assert_int_equal(bw_slab_verify_locked(bw_shm_zone_pool(na)), BW_OK);

    u_char *na_addr = na->addr;
    bw_test_cycle_destroy(new);
    assert_false(bw_test_mapped(na_addr));
}

static void
test_shm_failed_reload_keeps_the_old_zones(void **state)
{
    bw_test_cycle_t *old = bw_test_cycle_create(), *new = bw_test_cycle_create();
    bw_test_ctx_t a1 = {0}, a2 = {0}, b2 = {0}, c2 = {0};

    bw_shm_zone_t *oa = bw_test_zone(old, "same", 64 * 1024, &bw_test_tag_a, &a1);
    assert_int_equal(bw_shm_zones_create(&old->cycle, NULL), BW_OK);
    a1.root->counter = 5;

    bw_shm_zone_t *na = bw_test_zone(new, "same", 64 * 1024, &bw_test_tag_a, &a2);
    bw_shm_zone_t *nb = bw_test_zone(new, "fresh", 64 * 1024, &bw_test_tag_a, &b2);
    bw_shm_zone_t *nc = bw_test_zone(new, "broken", 64 * 1024, &bw_test_tag_a, &c2);
    c2.fail_init = true;
    assert_int_equal(bw_shm_zones_create(&new->cycle, &old->cycle), BW_ERROR);

    /* the new cycle holds no mapping; the adopted one is still the old cycle's */
    assert_int_equal(c2.init_calls, 1);
    assert_null(na->addr);
    assert_null(nb->addr);
    assert_null(nc->addr);
    assert_non_null(oa->addr);
    assert_int_equal(a1.root->counter, 5);

    /* rolling back is harmless after that */
    bw_shm_zones_release_unused(&new->cycle, &old->cycle);
    assert_true(bw_test_mapped(oa->addr));
    assert_ptr_equal(bw_slab_log, old->cycle.log);
    bw_test_cycle_destroy(new);
    assert_true(bw_test_mapped(oa->addr));
    assert_int_equal(a1.root->counter, 5);
    bw_test_cycle_destroy(old);
}

static void
test_shm_rollback_after_commit_failure_elsewhere(void **state)
{
    bw_test_cycle_t *old = bw_test_cycle_create(), *new = bw_test_cycle_create();
    bw_test_ctx_t a1 = {0}, a2 = {0}, b2 = {0};

    bw_shm_zone_t *oa = bw_test_zone(old, "same", 64 * 1024, &bw_test_tag_a, &a1);
    assert_int_equal(bw_shm_zones_create(&old->cycle, NULL), BW_OK);
    bw_test_zone(new, "same", 64 * 1024, &bw_test_tag_a, &a2);
    bw_shm_zone_t *nb = bw_test_zone(new, "fresh", 64 * 1024, &bw_test_tag_a, &b2);
    assert_int_equal(bw_shm_zones_create(&new->cycle, &old->cycle), BW_OK);
    u_char *nb_addr = nb->addr;

    /* zones were created but a later stage of the reload failed: roll back */
    bw_shm_zones_release_unused(&new->cycle, &old->cycle);
    assert_false(bw_test_mapped(nb_addr));
    assert_true(bw_test_mapped(oa->addr));
    bw_test_cycle_destroy(new);
    assert_true(bw_test_mapped(oa->addr));
    bw_test_cycle_destroy(old);
}

static void
test_shm_zones_force_unlock_releases_dead_workers_lock(void **state)
{
    bw_test_cycle_t *tc = bw_test_cycle_create();
    bw_test_ctx_t a = {0}, b = {0};
    int ready[2];

    bw_shm_zone_t *held = bw_test_zone(tc, "held", 64 * 1024, &bw_test_tag_a, &a);
    bw_shm_zone_t *idle = bw_test_zone(tc, "idle", 64 * 1024, &bw_test_tag_a, &b);
    assert_int_equal(bw_shm_zones_create(&tc->cycle, NULL), BW_OK);

    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bw_shmtx_lock(&bw_shm_zone_pool(held)->mutex);
        (void) !write(ready[1], "x", 1);
        for (;;) {
            pause();
        }
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);

    assert_int_equal(bw_shmtx_owner(&bw_shm_zone_pool(held)->mutex), pid);
    assert_int_equal(bw_shmtx_owner(&bw_shm_zone_pool(idle)->mutex), 0);
    assert_int_equal(bw_shm_zones_force_unlock(&tc->cycle, pid + 1), 0);
    assert_int_equal(bw_shm_zones_force_unlock(&tc->cycle, pid), 1);
    char expect[128];
    snprintf(expect, sizeof(expect), "[alert] %d#%d: shared memory zone \"held\" was locked by %d",
             (int) getpid(), (int) getpid(), (int) pid);
    assert_non_null(strstr(bw_test_log_text(&tc->log_file), expect));
    assert_null(strstr(bw_test_log_text(&tc->log_file), "\"idle\""));

    /* the zone is usable again */
    void *p = bw_slab_alloc(bw_shm_zone_pool(held), 64);
    assert_non_null(p);
    bw_slab_free(bw_shm_zone_pool(held), p);
    assert_int_equal(bw_shm_zones_force_unlock(&tc->cycle, pid), 0);
    close(ready[0]);
    close(ready[1]);
    bw_test_cycle_destroy(tc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shm_zone_declare_appends_and_finds),
        cmocka_unit_test(test_shm_zone_reference_then_declaration_share_one_zone),
        cmocka_unit_test(test_shm_zone_declared_for_another_owner_is_an_error),
        cmocka_unit_test(test_shm_zone_conflicting_size_is_an_error),
        cmocka_unit_test(test_shm_zone_smaller_than_eight_pages_is_too_small),
        cmocka_unit_test(test_shm_zone_only_referenced_is_zero_size_error),
        cmocka_unit_test(test_shm_zone_pointers_stay_valid_as_more_are_declared),
        cmocka_unit_test(test_shm_zones_create_maps_initialises_and_shares_with_children),
        cmocka_unit_test(test_shm_zone_reused_across_reload_when_unchanged),
        cmocka_unit_test(test_shm_failed_reload_keeps_the_old_zones),
        cmocka_unit_test(test_shm_rollback_after_commit_failure_elsewhere),
        cmocka_unit_test(test_shm_zones_force_unlock_releases_dead_workers_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
