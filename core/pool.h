/*
 * pool.h -- arenas freed all at once (cycle, connection, request lifetimes).
 *
 * Small allocations are bump-allocated from blocks and never freed one by one.
 * Allocations larger than the pool's small limit are tracked separately and
 * may be released early with bw_pfree(). Cleanup handlers run, last added
 * first, when the pool is destroyed or reset: they release what the pool does
 * not own (fds, library contexts).
 */
#ifndef BW_POOL_H
#define BW_POOL_H

#include "types.h"

typedef void (*bw_pool_cleanup_fn)(void *data);

typedef struct bw_pool_cleanup_s bw_pool_cleanup_t;
struct bw_pool_cleanup_s {
    bw_pool_cleanup_fn handler;
    void              *data;
    bw_pool_cleanup_t *next;
};

typedef struct bw_pool_large_s bw_pool_large_t;
struct bw_pool_large_s {
    bw_pool_large_t *next;
    void            *alloc;
};

typedef struct bw_pool_block_s bw_pool_block_t;
struct bw_pool_block_s {
    u_char          *last;   /* first free byte */
    u_char          *end;    /* one past the block */
    bw_pool_block_t *next;
    unsigned         failed; /* times a request did not fit here */
};

struct bw_pool_s {
    bw_pool_block_t    first;   /* must stay first: the pool header lives in it */
    bw_pool_block_t   *current; /* first block worth trying */
    size_t             max;     /* larger requests go to the large list */
    bw_pool_large_t   *large;
    bw_pool_cleanup_t *cleanup;
    bw_chain_t        *chain;   /* free chain links for reuse (core/buf.c) */
    bw_log_t          *log;
};

#define BW_POOL_DEFAULT_SIZE (16 * 1024)

/* Creates a pool whose first block is `size` bytes. NULL on no memory. */
bw_pool_t *bw_pool_create(size_t size, bw_log_t *log);
/* Runs cleanups, frees every block and large allocation. NULL is a no-op. */
void bw_pool_destroy(bw_pool_t *pool);
/* Runs cleanups and frees large allocations; keeps the blocks for reuse. */
void bw_pool_reset(bw_pool_t *pool);

/* Aligned allocation; NULL on no memory. */
void *bw_palloc(bw_pool_t *pool, size_t size);
/* Unaligned allocation (for byte strings). */
void *bw_pnalloc(bw_pool_t *pool, size_t size);
/* Aligned and zeroed. */
void *bw_pcalloc(bw_pool_t *pool, size_t size);
/* Releases a large allocation early; BW_DECLINED if p is not one. */
bw_rc_t bw_pfree(bw_pool_t *pool, void *p);

/*
 * Adds a cleanup with `size` bytes of pool memory for its data (0: none;
 * set ->data yourself). NULL on no memory.
 */
bw_pool_cleanup_t *bw_pool_cleanup_add(bw_pool_t *pool, size_t size);

#endif
