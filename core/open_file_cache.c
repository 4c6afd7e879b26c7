/*
 * open_file_cache.c -- open files kept open between requests (see
 * open_file_cache.h). Entries sit in a hash table by path and in an LRU
 * queue; a dropped entry whose descriptor a request still uses leaves both
 * and is freed when the last such request ends.
 */
#include "open_file_cache.h"

#include "clock.h"
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BW_OFC_BUCKETS 1024

typedef struct {
    bw_queue_t  bucket_link;
    bw_queue_t  lru_link;
    u_char     *name;
    size_t      len;
    uint32_t    hash;
    int         fd;        /* -1: none held (too few uses yet, or an error entry) */
    bool        has_st;    /* st is known (a stat, or an open file) */
    struct stat st;
    int         err;       /* a kept failure (open_file_cache_errors) */
    const char *failed;
    bw_uint_t   uses;      /* asked for since the entry was made */
    bw_uint_t   refs;      /* requests using fd */
    bw_msec_t   checked;   /* monotonic: opened or last validated */
    bw_msec_t   accessed;
    bool        dropped;   /* out of the cache: freed when refs reach 0 */
} bw_ofc_entry_t;

struct bw_open_file_cache_s {
    bw_uint_t   max;
    bw_msec_t   inactive;
    bw_queue_t *buckets;   /* per worker, made on first use */
    bw_queue_t  lru;       /* most recently used first */
    bw_uint_t   n;
};

/* What a request's pool cleanup gives back: a cached entry or its own fd. */
typedef struct {
    bw_ofc_entry_t *entry;
    int             fd;
    const u_char   *name;  /* the request's copy of the path, for messages */
    bw_log_t       *log;
} bw_ofc_hold_t;

bw_open_file_cache_t *
bw_open_file_cache_create(bw_pool_t *pool, bw_uint_t max, bw_msec_t inactive)
{
    bw_open_file_cache_t *cache = bw_pcalloc(pool, sizeof(*cache));

    if (cache != NULL) {
        cache->max = max;
        cache->inactive = inactive;
    }
    return cache;
}

static bool
bw_ofc_ready(bw_open_file_cache_t *cache)
{
    if (cache->buckets != NULL) {
        return true;
    }
    cache->buckets = malloc(BW_OFC_BUCKETS * sizeof(bw_queue_t));
    if (cache->buckets == NULL) {
        return false;
    }
    for (size_t i = 0; i < BW_OFC_BUCKETS; i++) {
        bw_queue_init(&cache->buckets[i]);
    }
    bw_queue_init(&cache->lru);
    return true;
}

static void
bw_ofc_close(int fd, const u_char *name, bw_log_t *log)
{
    if (fd != -1 && close(fd) == -1) {
        bw_log_error(BW_LOG_ALERT, log, errno, "close() \"%s\" failed", (const char *) name);
    }
}

static void
bw_ofc_entry_free(bw_ofc_entry_t *e, bw_log_t *log)
{
    bw_ofc_close(e->fd, e->name, log);
    free(e->name);
    free(e);
}

/* Takes e out of the cache; freed now, or by the last request using its fd. */
static void
bw_ofc_drop(bw_open_file_cache_t *cache, bw_ofc_entry_t *e, bw_log_t *log)
{
    bw_queue_remove(&e->bucket_link);
    bw_queue_remove(&e->lru_link);
    cache->n--;
    e->dropped = true;
    if (e->refs == 0) {
        bw_ofc_entry_free(e, log);
    }
}

/* Drops entries unused for `inactive` from the LRU end (a few per call). */
static void
bw_ofc_expire(bw_open_file_cache_t *cache, bw_log_t *log)
{
    bw_msec_t now = bw_time.monotonic;
    int       n = 0;

    while (!bw_queue_empty(&cache->lru) && n++ < 8) {
        bw_ofc_entry_t *e = bw_queue_data(bw_queue_last(&cache->lru), bw_ofc_entry_t, lru_link);
        if (now - e->accessed < (bw_msec_t) cache->inactive) {
            return;
        }
        bw_ofc_drop(cache, e, log);
    }
}

static bw_ofc_entry_t *
bw_ofc_find(bw_open_file_cache_t *cache, const bw_str_t *path, uint32_t hash)
{
    bw_queue_t *b = &cache->buckets[hash % BW_OFC_BUCKETS];

    for (bw_queue_t *q = bw_queue_head(b); q != b; q = bw_queue_next(q)) {
        bw_ofc_entry_t *e = bw_queue_data(q, bw_ofc_entry_t, bucket_link);
        if (e->hash == hash && e->len == path->len && memcmp(e->name, path->data, e->len) == 0) {
            return e;
        }
    }
    return NULL;
}

static bw_ofc_entry_t *
bw_ofc_add(bw_open_file_cache_t *cache, const bw_str_t *path, uint32_t hash, bw_log_t *log)
{
    if (cache->n >= cache->max && !bw_queue_empty(&cache->lru)) {
        bw_ofc_drop(cache, bw_queue_data(bw_queue_last(&cache->lru), bw_ofc_entry_t, lru_link),
                    log);
    }
    bw_ofc_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->name = malloc(path->len + 1)) == NULL) {
        free(e);
        return NULL;
    }
    memcpy(e->name, path->data, path->len);
    e->name[path->len] = '\0';
    e->len = path->len;
    e->hash = hash;
    e->fd = -1;
    bw_queue_insert_tail(&cache->buckets[hash % BW_OFC_BUCKETS], &e->bucket_link);
    bw_queue_insert_head(&cache->lru, &e->lru_link);
    cache->n++;
    return e;
}

/* open() and fstat() of path (only stat() with test_only): BW_OK with of->fd
 * and of->st, or BW_DECLINED. */
static bw_rc_t
bw_ofc_open(const bw_str_t *path, bw_open_file_info_t *of)
{
    if (of->test_only) {
        of->fd = -1;
        if (stat((const char *) path->data, &of->st) == -1) {
            of->err = errno;
            of->failed = "stat()";
            return BW_DECLINED;
        }
        return BW_OK;
    }
    of->fd = open((const char *) path->data, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (of->fd == -1) {
        of->err = errno;
        of->failed = "open()";
        return BW_DECLINED;
    }
    if (fstat(of->fd, &of->st) == -1) {
        of->err = errno;
        of->failed = "fstat()";
        close(of->fd);
        of->fd = -1;
        return BW_DECLINED;
    }
    return BW_OK;
}

static void
bw_ofc_release(void *data)
{
    bw_ofc_hold_t *h = data;

    if (h->entry == NULL) {
        bw_ofc_close(h->fd, h->name, h->log);
        return;
    }
    if (--h->entry->refs == 0 && h->entry->dropped) {
        bw_ofc_entry_free(h->entry, h->log);
    }
}

/* True when the file at e's path is still the one e holds open. */
static bool
bw_ofc_same_file(const bw_ofc_entry_t *e)
{
    struct stat st;

    return stat((const char *) e->name, &st) == 0 && st.st_ino == e->st.st_ino
           && st.st_dev == e->st.st_dev && st.st_size == e->st.st_size
           && st.st_mtim.tv_sec == e->st.st_mtim.tv_sec
           && st.st_mtim.tv_nsec == e->st.st_mtim.tv_nsec;
}

bw_rc_t
bw_open_cached_file(bw_open_file_cache_t *cache, const bw_str_t *path, bw_open_file_info_t *of,
                    bw_pool_t *pool, bw_log_t *log)
{
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(pool, sizeof(bw_ofc_hold_t));

    of->fd = -1;
    if (cln == NULL) {
        return BW_ERROR;
    }
    bw_ofc_hold_t *hold = cln->data;
    hold->entry = NULL;
    hold->fd = -1;
    hold->name = path->data;
    hold->log = log;
    cln->handler = bw_ofc_release;

    if (cache == NULL || !bw_ofc_ready(cache)) {
        bw_rc_t rc = bw_ofc_open(path, of);
        hold->fd = of->fd;
        return rc;
    }
    bw_msec_t now = bw_time.monotonic;
    uint32_t  hash = bw_hash_fnv1a(path->data, path->len);

    bw_ofc_expire(cache, log);
    bw_ofc_entry_t *e = bw_ofc_find(cache, path, hash);
    if (e != NULL && now - e->checked >= of->valid
        && (e->err != 0 || (e->fd == -1 && e->has_st) || (e->fd != -1 && !bw_ofc_same_file(e)))) {
        bw_ofc_drop(cache, e, log); /* stale: open afresh */
        e = NULL;
    }
    if (e != NULL) {
        e->accessed = now;
        e->uses++;
        bw_queue_remove(&e->lru_link);
        bw_queue_insert_head(&cache->lru, &e->lru_link);
        if (e->err != 0) {
            of->err = e->err;
            of->failed = e->failed;
            return BW_DECLINED;
        }
        if (e->fd != -1) {
            if (now - e->checked >= of->valid) {
                e->checked = now; /* validated: the same file */
            }
            e->refs++;
            hold->entry = e;
            of->fd = e->fd;
            of->st = e->st;
            return BW_OK;
        }
        if (e->has_st && of->test_only) {
            of->st = e->st; /* a stat kept within valid */
            return BW_OK;
        }
    }

    bw_rc_t rc = bw_ofc_open(path, of);
    if (e == NULL) {
        e = bw_ofc_add(cache, path, hash, log);
        if (e == NULL) {
            hold->fd = of->fd; /* uncached */
            return rc;
        }
        e->accessed = now;
        e->uses = 1;
    }
    e->checked = now;
    if (rc != BW_OK) {
        if (of->errors) {
            e->err = of->err;
            e->failed = of->failed;
        } else {
            bw_ofc_drop(cache, e, log);
        }
        return rc;
    }
    e->st = of->st;
    e->has_st = true;
    if (of->fd == -1 || e->uses < of->min_uses) {
        hold->fd = of->fd; /* a stat only, or not asked for often enough yet: the request's */
        return BW_OK;
    }
    e->fd = of->fd;
    e->refs++;
    hold->entry = e;
    return BW_OK;
}
