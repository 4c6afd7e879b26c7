/*
 * slab.h -- the allocator inside one shared-memory zone.
 *
 * A zone is one contiguous MAP_SHARED mapping made before fork, so every
 * pointer into it is valid, at the same address, in every process. The
 * bw_slab_pool_t header sits at the start of the mapping; the rest is carved
 * into 4 KiB pages. Requests of up to half a page get a power-of-two slot
 * (8 bytes at least, aligned to its size) in a page shared with same-sized
 * slots; larger requests get a run of whole pages (page-aligned). Freed
 * runs coalesce with free neighbours. See slab.c for the layout.
 *
 * Locking: bw_slab_alloc/calloc/free take pool->mutex themselves; the
 * *_locked variants are for a caller that already holds it (to allocate and
 * link a node in one critical section). Nothing here ever blocks otherwise.
 */
#ifndef BW_SLAB_H
#define BW_SLAB_H

#include "log.h"
#include "shmtx.h"

#define BW_SLAB_PAGE_SHIFT 12
#define BW_SLAB_PAGE_SIZE  ((size_t) 1 << BW_SLAB_PAGE_SHIFT)
#define BW_SLAB_MIN_SHIFT  3  /* smallest slot: 8 bytes */
#define BW_SLAB_MAX_SHIFT  11 /* largest slot: 2 KiB; anything bigger takes pages */
#define BW_SLAB_MIN_SIZE   ((size_t) 1 << BW_SLAB_MIN_SHIFT)
#define BW_SLAB_MAX_SIZE   ((size_t) 1 << BW_SLAB_MAX_SHIFT)
#define BW_SLAB_CLASSES    (BW_SLAB_MAX_SHIFT - BW_SLAB_MIN_SHIFT + 1)
#define BW_SLAB_NAME_LEN   64

/* What a page descriptor describes (bw_slab_page_t.kind). */
typedef enum {
    BW_SLAB_PAGE_FREE = 1,  /* first page of a free run (listed in pool->free) */
    BW_SLAB_PAGE_FREE_MORE, /* a later page of a free run */
    BW_SLAB_PAGE_RUN,       /* first page of an allocated run */
    BW_SLAB_PAGE_RUN_MORE,  /* a later page of an allocated run */
    BW_SLAB_PAGE_SLOTS,     /* a page cut into equal slots */
} bw_slab_page_kind_t;

typedef struct bw_slab_page_s bw_slab_page_t;

/* One per page of the zone, in an array before the pages themselves. */
struct bw_slab_page_s {
    uint64_t        map;   /* SLOTS with <= 64 slots: bit i set = slot i in use */
    uint16_t        kind;  /* bw_slab_page_kind_t */
    uint16_t        shift; /* SLOTS: log2 of the slot size */
    uint32_t        n;     /* FREE, RUN: pages in the run; SLOTS: slots in use incl. reserved */
    bw_slab_page_t *next;  /* FREE: free-run list; SLOTS: list of pages with a free slot */
    bw_slab_page_t *prev;  /* same lists; last page of a free run: its first page */
};

/* Usage of one slot size, for metrics (read under the lock). */
typedef struct {
    size_t   used;  /* slots handed out */
    size_t   total; /* slots in the pages this size currently owns */
    uint64_t reqs;  /* allocations asked for */
    uint64_t fails; /* allocations refused: no page left */
} bw_slab_stat_t;

struct bw_slab_pool_s {
    bw_shmtx_t      mutex;
    u_char         *start; /* the mapping: this header */
    u_char         *end;   /* one past the mapping: set by the creator before bw_slab_init */
    void           *data;  /* the zone owner's root struct, kept across reloads */

    bw_slab_page_t *pages; /* descriptors, one per page */
    u_char         *first; /* page 0 (4 KiB aligned) */
    size_t          npages;
    size_t          free_pages;

    bw_slab_page_t  free;                      /* list head: free runs */
    bw_slab_page_t  partial[BW_SLAB_CLASSES];  /* list heads: slot pages with a free slot */
    bw_slab_stat_t  stats[BW_SLAB_CLASSES];    /* index: shift - BW_SLAB_MIN_SHIFT */
    uint64_t        page_reqs;                 /* run allocations asked for */
    uint64_t        page_fails;                /* run allocations refused */

    bool            log_nomem;    /* log the first exhaustion (default true) */
    bool            nomem_logged; /* it has been logged: once per zone */
    char            name[BW_SLAB_NAME_LEN]; /* zone name for messages, NUL-terminated */
};

/*
 * Where this process logs slab errors (exhaustion, invalid free). NULL means
 * stderr. Shared memory cannot hold a per-process pointer, so this is
 * process state: bw_shm_zones_create() sets it at startup and
 * bw_shm_zones_release_unused() when a reloaded cycle is committed.
 */
extern bw_log_t *bw_slab_log;

/*
 * Lays out a fresh region: `pool` is its start and pool->end must be set to
 * one past its end (the region must be at least a few pages; see
 * bw_slab_pool_min_size). Everything else in the header is (re)initialised;
 * data is NULL and name empty afterwards. Not for a region in use.
 */
void bw_slab_init(bw_slab_pool_t *pool);

/* Smallest region bw_slab_init accepts (header, descriptors and one page). */
size_t bw_slab_pool_min_size(void);

/*
 * Allocates `size` bytes (0 counts as 1): 8-byte aligned, size-aligned up to
 * 2 KiB, page-aligned above. NULL when the zone has no room; the first such
 * failure per zone is logged at crit if pool->log_nomem.
 */
void *bw_slab_alloc(bw_slab_pool_t *pool, size_t size);
void *bw_slab_alloc_locked(bw_slab_pool_t *pool, size_t size);

/* As bw_slab_alloc, zero-filled. */
void *bw_slab_calloc(bw_slab_pool_t *pool, size_t size);
void *bw_slab_calloc_locked(bw_slab_pool_t *pool, size_t size);

/*
 * Returns a block to the zone. A pointer that was not handed out by this
 * pool, points inside a block, or was already freed is logged at alert and
 * ignored (detected whenever the descriptors can tell). NULL is a no-op.
 */
void bw_slab_free(bw_slab_pool_t *pool, void *p);
void bw_slab_free_locked(bw_slab_pool_t *pool, void *p);

/* Bytes a request of `size` really takes (slot size or whole pages). */
size_t bw_slab_size_class(size_t size);

/*
 * Checks every internal invariant (descriptors, free runs, lists, bitmaps,
 * counters); for tests and debugging. BW_OK, or BW_ERROR with the first
 * problem logged at alert. Caller holds the lock.
 */
bw_rc_t bw_slab_verify_locked(bw_slab_pool_t *pool);

#endif
