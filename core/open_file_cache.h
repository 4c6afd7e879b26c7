/*
 * open_file_cache.h -- open files kept open between requests
 * (open_file_cache, open_file_cache_valid, open_file_cache_min_uses,
 * open_file_cache_errors).
 *
 * A cache is made per `open_file_cache` directive at configuration time
 * and filled per worker. An entry holds a file's descriptor and stat once
 * it was asked for min_uses times within `inactive`; it is checked against
 * the file system (stat: inode, size, mtime) when older than `valid`, and
 * dropped when not asked for during `inactive` or when the cache holds
 * `max` entries (least recently used first). With errors on, a failed
 * open is kept for `valid` too. A descriptor in use by a request stays
 * open until that request ends, whatever happens to its entry.
 */
#ifndef BW_OPEN_FILE_CACHE_H
#define BW_OPEN_FILE_CACHE_H

#include "log.h"
#include "pool.h"
#include "str.h"
#include "types.h"

#include <sys/stat.h>

typedef struct bw_open_file_cache_s bw_open_file_cache_t;

/* One open through the cache: settings in, result out. */
typedef struct {
    bw_msec_t   valid;    /* open_file_cache_valid */
    bw_uint_t   min_uses; /* open_file_cache_min_uses */
    bool        errors;   /* open_file_cache_errors */
    bool        test_only; /* only stat: no descriptor wanted (try_files, index, if -f) */

    int         fd;       /* the open file; -1 on failure */
    struct stat st;
    int         err;      /* errno of the failure */
    const char *failed;   /* "open()" or "fstat()" */
} bw_open_file_info_t;

/* A cache of at most max entries dropped after inactive ms unused. NULL on no memory. */
bw_open_file_cache_t *bw_open_file_cache_create(bw_pool_t *pool, bw_uint_t max,
                                                bw_msec_t inactive);

/*
 * Opens path (NUL-terminated) read-only and stats it, through cache when
 * not NULL. The descriptor stays open until pool is destroyed (a cleanup
 * closes it or gives it back to the cache). With of->test_only the file
 * is only stat()ed (unless the cache holds it open) and of->fd may be -1.
 * BW_OK; BW_DECLINED with of->err and of->failed set; BW_ERROR on no memory.
 */
bw_rc_t bw_open_cached_file(bw_open_file_cache_t *cache, const bw_str_t *path,
                            bw_open_file_info_t *of, bw_pool_t *pool, bw_log_t *log);

#endif
