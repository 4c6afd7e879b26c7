/*
 * pool.c -- arena allocator: bump allocation in blocks, a list of large
 * allocations, and cleanup handlers.
 */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

#define BW_POOL_MAX_SMALL 4095 /* about one page: larger goes to malloc */

static void *bw_pool_alloc_large(bw_pool_t *pool, size_t size);
static void *bw_pool_alloc_block(bw_pool_t *pool, size_t size);

bw_pool_t *
bw_pool_create(size_t size, bw_log_t *log)
{
    if (size < sizeof(bw_pool_t) + 64) {
        size = sizeof(bw_pool_t) + 64;
    }
    bw_pool_t *p = malloc(size);
    if (p == NULL) {
        return NULL;
    }
    p->first.last = (u_char *) p + sizeof(bw_pool_t);
    p->first.end = (u_char *) p + size;
    p->first.next = NULL;
    p->first.failed = 0;
    p->current = &p->first;
    size_t avail = size - sizeof(bw_pool_t);
    p->max = avail < BW_POOL_MAX_SMALL ? avail : BW_POOL_MAX_SMALL;
    p->large = NULL;
    p->cleanup = NULL;
    p->chain = NULL;
    p->log = log;
    return p;
}

static void
bw_pool_run_cleanups(bw_pool_t *pool)
{
    for (bw_pool_cleanup_t *c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }
    pool->cleanup = NULL;
}

static void
bw_pool_free_large(bw_pool_t *pool)
{
    for (bw_pool_large_t *l = pool->large; l; l = l->next) {
        free(l->alloc);
    }
    pool->large = NULL;
}

void
bw_pool_destroy(bw_pool_t *pool)
{
    if (pool == NULL) {
        return;
    }
    bw_pool_run_cleanups(pool);
    bw_pool_free_large(pool);
    bw_pool_block_t *b = pool->first.next;
    while (b) {
        bw_pool_block_t *next = b->next;
        free(b);
        b = next;
    }
    free(pool);
}

void
bw_pool_reset(bw_pool_t *pool)
{
    bw_pool_run_cleanups(pool);
    bw_pool_free_large(pool);
    pool->first.last = (u_char *) pool + sizeof(bw_pool_t);
    pool->first.failed = 0;
    for (bw_pool_block_t *b = pool->first.next; b; b = b->next) {
        b->last = (u_char *) b + sizeof(bw_pool_block_t);
        b->failed = 0;
    }
    pool->current = &pool->first;
    pool->chain = NULL;
}

static void *
bw_pool_alloc_small(bw_pool_t *pool, size_t size, bool align)
{
    for (bw_pool_block_t *b = pool->current; b; b = b->next) {
        u_char *m = align ? bw_align_ptr(b->last, BW_ALIGNMENT) : b->last;
        if (m <= b->end && (size_t) (b->end - m) >= size) {
            b->last = m + size;
            return m;
        }
    }
    return bw_pool_alloc_block(pool, size);
}

/* Adds a block as large as the first one; blocks that keep failing are skipped. */
static void *
bw_pool_alloc_block(bw_pool_t *pool, size_t size)
{
    size_t bsize = (size_t) (pool->first.end - (u_char *) pool);
    bw_pool_block_t *nb = malloc(bsize);
    if (nb == NULL) {
        return NULL;
    }
    nb->end = (u_char *) nb + bsize;
    nb->next = NULL;
    nb->failed = 0;
    u_char *m = bw_align_ptr((u_char *) nb + sizeof(bw_pool_block_t), BW_ALIGNMENT);
    nb->last = m + size;

    bw_pool_block_t *b = pool->current;
    for (; b->next; b = b->next) {
        if (b->failed++ > 4) {
            pool->current = b->next;
        }
    }
    b->next = nb;
    return m;
}

static void *
bw_pool_alloc_large(bw_pool_t *pool, size_t size)
{
    void *m = malloc(size);
    if (m == NULL) {
        return NULL;
    }
    bw_pool_large_t *l = bw_pool_alloc_small(pool, sizeof(bw_pool_large_t), true);
    if (l == NULL) {
        free(m);
        return NULL;
    }
    l->alloc = m;
    l->next = pool->large;
    pool->large = l;
    return m;
}

void *
bw_palloc(bw_pool_t *pool, size_t size)
{
    if (size <= pool->max) {
        return bw_pool_alloc_small(pool, size, true);
    }
    return bw_pool_alloc_large(pool, size);
}

void *
bw_pnalloc(bw_pool_t *pool, size_t size)
{
    if (size <= pool->max) {
        return bw_pool_alloc_small(pool, size, false);
    }
    return bw_pool_alloc_large(pool, size);
}

void *
bw_pcalloc(bw_pool_t *pool, size_t size)
{
    void *p = bw_palloc(pool, size);
    if (p) {
        memset(p, 0, size);
    }
    return p;
}

bw_rc_t
bw_pfree(bw_pool_t *pool, void *p)
{
    for (bw_pool_large_t *l = pool->large; l; l = l->next) {
        if (l->alloc == p) {
            free(l->alloc);
            l->alloc = NULL;
            return BW_OK;
        }
    }
    return BW_DECLINED;
}

bw_pool_cleanup_t *
bw_pool_cleanup_add(bw_pool_t *pool, size_t size)
{
    bw_pool_cleanup_t *c = bw_palloc(pool, sizeof(bw_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }
    c->data = NULL;
    if (size) {
        c->data = bw_palloc(pool, size);
        if (c->data == NULL) {
            return NULL;
        }
    }
    c->handler = NULL;
    c->next = pool->cleanup;
    pool->cleanup = c;
    return c;
}
