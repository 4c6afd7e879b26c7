/*
 * slab.c -- page and slot allocator for one shared-memory zone.
 *
 * Layout of a zone (addresses grow to the right):
 *
 *   start                                                               end
 *   | bw_slab_pool_t | descriptors[npages] | pad | page 0 | page 1 | ... |
 *                                                ^ first, 4 KiB aligned
 *
 * Page i lives at first + i * 4 KiB and is described by pages[i]:
 *
 *   FREE, FREE_MORE  a free run of n pages: its first page is FREE, holds n
 *                    and is on the pool->free list; the others are FREE_MORE.
 *                    The last page's `prev` points back at the first, so a
 *                    run freed right after it merges in O(1).
 *   RUN, RUN_MORE    an allocated run: the first page is RUN with n, the
 *                    others RUN_MORE (a pointer into them is not a block).
 *   SLOTS            a page cut into 2^shift-byte slots. The bitmap of used
 *                    slots is the descriptor's `map` when the page has at
 *                    most 64 slots (64 bytes and up); for 8, 16 and 32-byte
 *                    slots it takes the first bytes of the page itself, and
 *                    the slots it covers stay marked used ("reserved").
 *                    A page with a free slot is on partial[class]; a page
 *                    whose last slot is freed goes back to the free runs.
 *
 * Page allocation is first fit over the free runs, splitting off the rest;
 * freeing merges with free neighbours on both sides, so a zone whose blocks
 * were all freed is one free run again. Descriptors sit outside the pages so
 * that bookkeeping never shares a cache line with user data of a large run
 * and a stray write into user memory cannot corrupt the free lists.
 */
#include "slab.h"

#include <string.h>

#define BW_SLAB_MAP_BITS 64

bw_log_t *bw_slab_log;

static void
bw_slab_list_init(bw_slab_page_t *head)
{
    head->next = head;
    head->prev = head;
}

static void
bw_slab_list_insert(bw_slab_page_t *head, bw_slab_page_t *page)
{
    page->next = head->next;
    page->prev = head;
    head->next->prev = page;
    head->next = page;
}

static void
bw_slab_list_remove(bw_slab_page_t *page)
{
    page->prev->next = page->next;
    page->next->prev = page->prev;
    page->next = NULL;
    page->prev = NULL;
}

static u_char *
bw_slab_page_addr(const bw_slab_pool_t *pool, const bw_slab_page_t *page)
{
    return pool->first + ((size_t) (page - pool->pages) << BW_SLAB_PAGE_SHIFT);
}

static size_t
bw_slab_slots_count(unsigned shift)
{
    return BW_SLAB_PAGE_SIZE >> shift;
}

/* Slots at the start of a page that hold its in-page bitmap (0 when `map` is used). */
static size_t
bw_slab_slots_reserved(unsigned shift)
{
    size_t nslots = bw_slab_slots_count(shift);
    if (nslots <= BW_SLAB_MAP_BITS) {
        return 0;
    }
    size_t bytes = nslots / 8;
    return (bytes + ((size_t) 1 << shift) - 1) >> shift;
}

/* The used-slot bitmap of a SLOTS page and its length in 64-bit words. */
static uint64_t *
bw_slab_slots_map(const bw_slab_pool_t *pool, bw_slab_page_t *page, size_t *words)
{
    size_t nslots = bw_slab_slots_count(page->shift);
    if (nslots <= BW_SLAB_MAP_BITS) {
        *words = 1;
        return &page->map;
    }
    *words = nslots / BW_SLAB_MAP_BITS;
    return (uint64_t *) bw_slab_page_addr(pool, page);
}

static unsigned
bw_slab_size_shift(size_t size)
{
    if (size <= BW_SLAB_MIN_SIZE) {
        return BW_SLAB_MIN_SHIFT;
    }
    return (unsigned) (64 - __builtin_clzll((unsigned long long) (size - 1)));
}

size_t
bw_slab_size_class(size_t size)
{
    if (size <= BW_SLAB_MAX_SIZE) {
        return (size_t) 1 << bw_slab_size_shift(size);
    }
    return (size + BW_SLAB_PAGE_SIZE - 1) & ~(BW_SLAB_PAGE_SIZE - 1);
}

size_t
bw_slab_pool_min_size(void)
{
    size_t head = bw_align(sizeof(bw_slab_pool_t), BW_ALIGNMENT) + sizeof(bw_slab_page_t);
    return bw_align(head, BW_SLAB_PAGE_SIZE) + BW_SLAB_PAGE_SIZE;
}

/* Makes `page` the first page of a free run of n pages whose other pages are FREE_MORE. */
static void
bw_slab_run_mark_free(bw_slab_pool_t *pool, bw_slab_page_t *page, size_t n)
{
    page->kind = BW_SLAB_PAGE_FREE;
    page->shift = 0;
    page->map = 0;
    page->n = (uint32_t) n;
    if (n > 1) {
        page[n - 1].prev = page;
    }
    bw_slab_list_insert(&pool->free, page);
}

void
bw_slab_init(bw_slab_pool_t *pool)
{
    u_char *end = pool->end;
    u_char *start = (u_char *) pool;

    memset(pool, 0, sizeof(bw_slab_pool_t));
    pool->start = start;
    pool->end = end;
    bw_shmtx_init(&pool->mutex);
    pool->log_nomem = true;
    bw_slab_list_init(&pool->free);
    for (int c = 0; c < BW_SLAB_CLASSES; c++) {
        bw_slab_list_init(&pool->partial[c]);
    }

    u_char *desc = start + bw_align(sizeof(bw_slab_pool_t), BW_ALIGNMENT);
    size_t room = end > desc ? (size_t) (end - desc) : 0;
    size_t n = room / (BW_SLAB_PAGE_SIZE + sizeof(bw_slab_page_t));
    u_char *first = bw_align_ptr(desc + n * sizeof(bw_slab_page_t), BW_SLAB_PAGE_SIZE);
    while (n > 0 && first + n * BW_SLAB_PAGE_SIZE > end) {
        n--;
        first = bw_align_ptr(desc + n * sizeof(bw_slab_page_t), BW_SLAB_PAGE_SIZE);
    }

    pool->pages = (bw_slab_page_t *) desc;
    pool->first = first;
    pool->npages = n;
    pool->free_pages = n;
    if (n == 0) {
        return;
    }
    memset(desc, 0, n * sizeof(bw_slab_page_t));
    for (size_t i = 1; i < n; i++) {
        pool->pages[i].kind = BW_SLAB_PAGE_FREE_MORE;
    }
    bw_slab_run_mark_free(pool, pool->pages, n);
}

/* Takes n contiguous pages (first fit) and marks them an allocated run; NULL if none. */
static bw_slab_page_t *
bw_slab_pages_take(bw_slab_pool_t *pool, size_t n)
{
    for (bw_slab_page_t *run = pool->free.next; run != &pool->free; run = run->next) {
        if (run->n < n) {
            continue;
        }
        size_t rest = run->n - n;
        bw_slab_list_remove(run);
        if (rest) {
            bw_slab_run_mark_free(pool, run + n, rest);
        }
        run->kind = BW_SLAB_PAGE_RUN;
        run->n = (uint32_t) n;
        for (size_t i = 1; i < n; i++) {
            run[i].kind = BW_SLAB_PAGE_RUN_MORE;
            run[i].prev = NULL;
        }
        pool->free_pages -= n;
        return run;
    }
    return NULL;
}

/* Returns a run of n pages starting at `page`, merging with free runs on either side. */
static void
bw_slab_pages_put(bw_slab_pool_t *pool, bw_slab_page_t *page, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        page[i].kind = BW_SLAB_PAGE_FREE_MORE;
    }
    pool->free_pages += n;

    bw_slab_page_t *right = page + n;
    if (right < pool->pages + pool->npages && right->kind == BW_SLAB_PAGE_FREE) {
        bw_slab_list_remove(right);
        right->kind = BW_SLAB_PAGE_FREE_MORE;
        n += right->n;
    }

    if (page > pool->pages) {
        bw_slab_page_t *left = page - 1, *head = NULL;
        if (left->kind == BW_SLAB_PAGE_FREE) {
            head = left;
        } else if (left->kind == BW_SLAB_PAGE_FREE_MORE) {
            head = left->prev; /* left is the last page of its run */
        }
        if (head) {
            bw_slab_list_remove(head);
            page->kind = BW_SLAB_PAGE_FREE_MORE;
            n += head->n;
            page = head;
        }
    }

    bw_slab_run_mark_free(pool, page, n);
}

/* Turns a freshly taken page into a page of 2^shift slots on the partial list. */
static void
bw_slab_slots_init(bw_slab_pool_t *pool, bw_slab_page_t *page, unsigned shift)
{
    size_t nslots = bw_slab_slots_count(shift), reserved = bw_slab_slots_reserved(shift);
    size_t words;

    page->kind = BW_SLAB_PAGE_SLOTS;
    page->shift = (uint16_t) shift;
    page->n = (uint32_t) reserved;

    uint64_t *map = bw_slab_slots_map(pool, page, &words);
    memset(map, 0, words * sizeof(uint64_t));
    if (nslots < BW_SLAB_MAP_BITS) {
        map[0] = ~(uint64_t) 0 << nslots; /* bits past the last slot never free */
    }
    for (size_t i = 0; i < reserved; i++) {
        map[i / BW_SLAB_MAP_BITS] |= (uint64_t) 1 << (i % BW_SLAB_MAP_BITS);
    }

    pool->stats[shift - BW_SLAB_MIN_SHIFT].total += nslots - reserved;
    bw_slab_list_insert(&pool->partial[shift - BW_SLAB_MIN_SHIFT], page);
}

static void *
bw_slab_slot_alloc(bw_slab_pool_t *pool, unsigned shift)
{
    bw_slab_page_t *head = &pool->partial[shift - BW_SLAB_MIN_SHIFT];
    bw_slab_stat_t *stat = &pool->stats[shift - BW_SLAB_MIN_SHIFT];
    size_t words, w;

    stat->reqs++;
    bw_slab_page_t *page = head->next;
    if (page == head) {
        page = bw_slab_pages_take(pool, 1);
        if (page == NULL) {
            stat->fails++;
            return NULL;
        }
        bw_slab_slots_init(pool, page, shift);
    }

    uint64_t *map = bw_slab_slots_map(pool, page, &words);
    for (w = 0; w < words && map[w] == ~(uint64_t) 0; w++) {
        /* a page on the partial list has a clear bit */
    }
    unsigned bit = (unsigned) __builtin_ctzll(~map[w]);
    map[w] |= (uint64_t) 1 << bit;

    page->n++;
    stat->used++;
    if (page->n == bw_slab_slots_count(shift)) {
        bw_slab_list_remove(page);
    }
    return bw_slab_page_addr(pool, page) + ((w * BW_SLAB_MAP_BITS + bit) << shift);
}

static void
bw_slab_nomem(bw_slab_pool_t *pool, size_t size)
{
    if (!pool->log_nomem || pool->nomem_logged) {
        return;
    }
    pool->nomem_logged = true;
    bw_log_error(BW_LOG_CRIT, bw_slab_log, 0,
                 "could not allocate %zu bytes in shared memory zone \"%s\": zone is full",
                 size, pool->name);
}

void *
bw_slab_alloc_locked(bw_slab_pool_t *pool, size_t size)
{
    void *p;

    if (size <= BW_SLAB_MAX_SIZE) {
        p = bw_slab_slot_alloc(pool, bw_slab_size_shift(size));
    } else {
        pool->page_reqs++;
        bw_slab_page_t *run = NULL;
        if (size <= pool->npages * BW_SLAB_PAGE_SIZE) {
            run = bw_slab_pages_take(pool, bw_slab_size_class(size) >> BW_SLAB_PAGE_SHIFT);
        }
        if (run == NULL) {
            pool->page_fails++;
        }
        p = run ? bw_slab_page_addr(pool, run) : NULL;
    }

    if (p == NULL) {
        bw_slab_nomem(pool, size);
    }
    return p;
}

void *
bw_slab_alloc(bw_slab_pool_t *pool, size_t size)
{
    bw_shmtx_lock(&pool->mutex);
    void *p = bw_slab_alloc_locked(pool, size);
    bw_shmtx_unlock(&pool->mutex);
    return p;
}

void *
bw_slab_calloc_locked(bw_slab_pool_t *pool, size_t size)
{
    void *p = bw_slab_alloc_locked(pool, size);
    if (p) {
        memset(p, 0, size);
    }
    return p;
}

void *
bw_slab_calloc(bw_slab_pool_t *pool, size_t size)
{
    bw_shmtx_lock(&pool->mutex);
    void *p = bw_slab_calloc_locked(pool, size);
    bw_shmtx_unlock(&pool->mutex);
    return p;
}

static void
bw_slab_free_error(bw_slab_pool_t *pool, void *p, const char *why)
{
    bw_log_error(BW_LOG_ALERT, bw_slab_log, 0, "bw_slab_free(%p): %s in shared memory zone \"%s\"",
                 p, why, pool->name);
}

static void
bw_slab_slot_free(bw_slab_pool_t *pool, bw_slab_page_t *page, u_char *p)
{
    unsigned shift = page->shift;
    size_t nslots = bw_slab_slots_count(shift), reserved = bw_slab_slots_reserved(shift);
    size_t offset = (size_t) (p - bw_slab_page_addr(pool, page)), words;

    if (offset & (((size_t) 1 << shift) - 1)) {
        bw_slab_free_error(pool, p, "pointer into the middle of a slot");
        return;
    }
    size_t slot = offset >> shift;
    if (slot < reserved) {
        bw_slab_free_error(pool, p, "pointer to a page's slot bitmap");
        return;
    }
    uint64_t *map = bw_slab_slots_map(pool, page, &words);
    uint64_t bit = (uint64_t) 1 << (slot % BW_SLAB_MAP_BITS);
    if (!(map[slot / BW_SLAB_MAP_BITS] & bit)) {
        bw_slab_free_error(pool, p, "slot is already free");
        return;
    }

    map[slot / BW_SLAB_MAP_BITS] &= ~bit;
    bw_slab_stat_t *stat = &pool->stats[shift - BW_SLAB_MIN_SHIFT];
    stat->used--;
    if (page->n == nslots) {
        bw_slab_list_insert(&pool->partial[shift - BW_SLAB_MIN_SHIFT], page);
    }
    page->n--;
    if (page->n == reserved) {
        bw_slab_list_remove(page);
        stat->total -= nslots - reserved;
        bw_slab_pages_put(pool, page, 1);
    }
}

void
bw_slab_free_locked(bw_slab_pool_t *pool, void *ptr)
{
    u_char *p = ptr;

    if (p == NULL) {
        return;
    }
    if (p < pool->first || p >= pool->first + pool->npages * BW_SLAB_PAGE_SIZE) {
        bw_slab_free_error(pool, p, "pointer outside of the zone's pages");
        return;
    }

    bw_slab_page_t *page = &pool->pages[(size_t) (p - pool->first) >> BW_SLAB_PAGE_SHIFT];
    switch (page->kind) {
    case BW_SLAB_PAGE_SLOTS:
        bw_slab_slot_free(pool, page, p);
        return;
    case BW_SLAB_PAGE_RUN:
        if (p != bw_slab_page_addr(pool, page)) {
            bw_slab_free_error(pool, p, "pointer into the middle of a page run");
            return;
        }
        bw_slab_pages_put(pool, page, page->n);
        return;
    case BW_SLAB_PAGE_RUN_MORE:
        bw_slab_free_error(pool, p, "pointer into the middle of a page run");
        return;
    default:
        bw_slab_free_error(pool, p, "page is already free");
        return;
    }
}

void
bw_slab_free(bw_slab_pool_t *pool, void *p)
{
    bw_shmtx_lock(&pool->mutex);
    bw_slab_free_locked(pool, p);
    bw_shmtx_unlock(&pool->mutex);
}

/* ---- consistency check (tests, debugging) ---- */

static bw_rc_t
bw_slab_verify_fail(bw_slab_pool_t *pool, size_t i, const char *what)
{
    bw_log_error(BW_LOG_ALERT, bw_slab_log, 0, "slab check of zone \"%s\": page %zu: %s",
                 pool->name, i, what);
    return BW_ERROR;
}

/* Checks one SLOTS page: bitmap agrees with its count; adds its slots to `stats`. */
static bw_rc_t
bw_slab_verify_slots(bw_slab_pool_t *pool, size_t i, bw_slab_stat_t *stats, size_t *partial)
{
    bw_slab_page_t *page = &pool->pages[i];
    size_t words;

    if (page->shift < BW_SLAB_MIN_SHIFT || page->shift > BW_SLAB_MAX_SHIFT) {
        return bw_slab_verify_fail(pool, i, "bad slot shift");
    }
    size_t nslots = bw_slab_slots_count(page->shift);
    size_t reserved = bw_slab_slots_reserved(page->shift);
    uint64_t *map = bw_slab_slots_map(pool, page, &words);
    size_t bits = 0;
    for (size_t w = 0; w < words; w++) {
        bits += (size_t) __builtin_popcountll(map[w]);
    }
    if (nslots < BW_SLAB_MAP_BITS) {
        if ((map[0] >> nslots) != (~(uint64_t) 0 >> nslots)) {
            return bw_slab_verify_fail(pool, i, "bits past the last slot are clear");
        }
        bits -= BW_SLAB_MAP_BITS - nslots;
    }
    for (size_t s = 0; s < reserved; s++) {
        if (!(map[s / BW_SLAB_MAP_BITS] & ((uint64_t) 1 << (s % BW_SLAB_MAP_BITS)))) {
            return bw_slab_verify_fail(pool, i, "bitmap slot marked free");
        }
    }
    if (bits != page->n || page->n <= reserved || page->n > nslots) {
        return bw_slab_verify_fail(pool, i, "slot count disagrees with bitmap");
    }
    bw_slab_stat_t *st = &stats[page->shift - BW_SLAB_MIN_SHIFT];
    st->used += page->n - reserved;
    st->total += nslots - reserved;
    if (page->n < nslots) {
        partial[page->shift - BW_SLAB_MIN_SHIFT]++;
    }
    return BW_OK;
}

/* Walks the descriptors in address order; counts free pages and runs. */
static bw_rc_t
bw_slab_verify_pages(bw_slab_pool_t *pool, bw_slab_stat_t *stats, size_t *partial,
                     size_t *free_runs)
{
    size_t free_pages = 0, i = 0;
    bool prev_free = false;

    while (i < pool->npages) {
        bw_slab_page_t *page = &pool->pages[i];
        uint16_t more;

        switch (page->kind) {
        case BW_SLAB_PAGE_FREE:
            if (prev_free) {
                return bw_slab_verify_fail(pool, i, "adjacent free runs not merged");
            }
            if (page->n > 1 && page[page->n - 1].prev != page) {
                return bw_slab_verify_fail(pool, i, "free run's last page does not point back");
            }
            prev_free = true;
            free_pages += page->n;
            (*free_runs)++;
            more = BW_SLAB_PAGE_FREE_MORE;
            break;
        case BW_SLAB_PAGE_RUN:
            prev_free = false;
            more = BW_SLAB_PAGE_RUN_MORE;
            break;
        case BW_SLAB_PAGE_SLOTS:
            prev_free = false;
            if (bw_slab_verify_slots(pool, i, stats, partial) != BW_OK) {
                return BW_ERROR;
            }
            i++;
            continue;
        default:
            return bw_slab_verify_fail(pool, i, "page is not the start of anything");
        }

        if (page->n == 0 || page->n > pool->npages - i) {
            return bw_slab_verify_fail(pool, i, "run length out of range");
        }
        for (size_t j = 1; j < page->n; j++) {
            if (page[j].kind != more) {
                return bw_slab_verify_fail(pool, i + j, "run page of the wrong kind");
            }
        }
        i += page->n;
    }

    if (free_pages != pool->free_pages) {
        return bw_slab_verify_fail(pool, i, "free page count is wrong");
    }
    return BW_OK;
}

/* Counts a list's members, checking links and kind; SIZE_MAX when broken. */
static size_t
bw_slab_verify_list(bw_slab_pool_t *pool, bw_slab_page_t *head, uint16_t kind, unsigned shift)
{
    size_t n = 0;

    for (bw_slab_page_t *p = head->next; p != head; p = p->next) {
        if (n++ > pool->npages || p->next->prev != p || p->kind != kind) {
            return SIZE_MAX;
        }
        if (kind == BW_SLAB_PAGE_SLOTS
            && (p->shift != shift || p->n >= bw_slab_slots_count(shift))) {
            return SIZE_MAX;
        }
    }
    return n;
}

bw_rc_t
bw_slab_verify_locked(bw_slab_pool_t *pool)
{
    bw_slab_stat_t stats[BW_SLAB_CLASSES];
    size_t partial[BW_SLAB_CLASSES], free_runs = 0;

    memset(stats, 0, sizeof(stats));
    memset(partial, 0, sizeof(partial));

    if (bw_slab_verify_pages(pool, stats, partial, &free_runs) != BW_OK) {
        return BW_ERROR;
    }
    if (bw_slab_verify_list(pool, &pool->free, BW_SLAB_PAGE_FREE, 0) != free_runs) {
        return bw_slab_verify_fail(pool, 0, "free-run list disagrees with the pages");
    }
    for (int c = 0; c < BW_SLAB_CLASSES; c++) {
        unsigned shift = (unsigned) c + BW_SLAB_MIN_SHIFT;
        if (bw_slab_verify_list(pool, &pool->partial[c], BW_SLAB_PAGE_SLOTS, shift)
            != partial[c]) {
            return bw_slab_verify_fail(pool, 0, "partial list disagrees with the pages");
        }
        if (stats[c].used != pool->stats[c].used || stats[c].total != pool->stats[c].total) {
            return bw_slab_verify_fail(pool, 0, "slot statistics disagree with the pages");
        }
    }
    return BW_OK;
}
