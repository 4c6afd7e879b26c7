/*
 * buf.h -- buffers and chains: how bytes travel from a producer (a file, a
 * backend, a filter) to the socket without being copied.
 *
 * A buffer points at memory [pos, last) inside storage [start, end), or at a
 * file range [file_pos, file_last), or both (a file page already read into
 * memory). Bodies are chains of buffers; a chain link never owns its buffer.
 * Chain links come from a per-pool free list, so streaming code that keeps
 * allocating and releasing links does not grow the pool.
 */
#ifndef BW_BUF_H
#define BW_BUF_H

#include "str.h"

#include <sys/types.h>

/* An open file a buffer may point into (static files, cache bodies, temp files). */
typedef struct {
    int       fd;
    bw_str_t  name; /* for messages; NUL-terminated */
    bw_log_t *log;
} bw_file_t;

struct bw_buf_s {
    u_char     *pos;       /* first byte not yet consumed (memory) */
    u_char     *last;      /* one past the last byte of data (memory) */
    off_t       file_pos;  /* same for the file range */
    off_t       file_last;

    u_char     *start;     /* the storage, for buffers that may be refilled */
    u_char     *end;
    bw_file_t  *file;      /* for in_file buffers */
    const void *tag;       /* the producer, for free/busy recycling */
    bw_buf_t   *shadow;    /* the buffer this one was derived from, if any */

    unsigned temporary:1;     /* memory we may change */
    unsigned memory:1;        /* read-only memory (static strings, cache) */
    unsigned in_file:1;       /* the data is (also) the file range */
    unsigned flush:1;         /* send what is queued now */
    unsigned sync:1;          /* carries no data; a marker only */
    unsigned last_buf:1;      /* the last buffer of the whole response */
    unsigned last_in_chain:1; /* the last buffer of this (sub)chain */
    unsigned recycled:1;      /* its storage goes back to a free list when consumed */
};

struct bw_chain_s {
    bw_buf_t   *buf;
    bw_chain_t *next;
};

/* Returned by chain senders (bw_send_chain) on a fatal error. */
#define BW_CHAIN_ERROR ((bw_chain_t *) -1)

/* The buffer's data is in memory (possibly also in a file). */
#define bw_buf_in_memory(b) ((b)->temporary || (b)->memory)
/* The buffer's data is in memory only. */
#define bw_buf_in_memory_only(b) (bw_buf_in_memory(b) && !(b)->in_file)
/* A marker buffer that carries no data (flush, last_buf, sync). */
#define bw_buf_special(b) \
    (((b)->flush || (b)->last_buf || (b)->sync) && !bw_buf_in_memory(b) && !(b)->in_file)

/* Bytes left to send: memory bytes when in memory, else the file range. */
static inline off_t
bw_buf_size(const bw_buf_t *b)
{
    return bw_buf_in_memory(b) ? (off_t) (b->last - b->pos) : (b->file_last - b->file_pos);
}

/* A zeroed buffer header without storage. NULL on no memory. */
bw_buf_t *bw_buf_calloc(bw_pool_t *pool);
/* A temporary buffer with `size` bytes of storage, empty (pos = last = start). */
bw_buf_t *bw_buf_create_temp(bw_pool_t *pool, size_t size);

/* A chain link, from the pool's free list when possible. NULL on no memory. */
bw_chain_t *bw_chain_alloc_link(bw_pool_t *pool);
/* Returns a link to the pool's free list (the buffer is not touched). */
void bw_chain_free_link(bw_pool_t *pool, bw_chain_t *cl);
/* A link with a fresh temporary buffer of `size` bytes. NULL on no memory. */
bw_chain_t *bw_chain_create_temp(bw_pool_t *pool, size_t size);

/*
 * Appends links for every buffer of `in` to *chain (the buffers are shared,
 * not copied). BW_OK or BW_ERROR on no memory.
 */
bw_rc_t bw_chain_add_copy(bw_pool_t *pool, bw_chain_t **chain, const bw_chain_t *in);

/*
 * Marks `sent` bytes of `in` as consumed (advancing pos or file_pos) and
 * returns the first link with bytes left, skipping special buffers that
 * precede it; NULL when everything was consumed.
 */
bw_chain_t *bw_chain_update_sent(bw_chain_t *in, off_t sent);

/*
 * Recycling for streaming producers. bw_chain_get_free_buf() takes a link
 * (with its buffer) from *free, or allocates a link with an empty buffer
 * header. bw_chain_update_chains() appends *out to *busy, then moves every
 * fully consumed buffer at the head of *busy to *free when its tag is `tag`
 * (others' links go back to the pool). *out is emptied.
 */
bw_chain_t *bw_chain_get_free_buf(bw_pool_t *pool, bw_chain_t **free);
void bw_chain_update_chains(bw_pool_t *pool, bw_chain_t **free, bw_chain_t **busy,
                            bw_chain_t **out, const void *tag);

/* Total bytes (bw_buf_size) of a chain. */
off_t bw_chain_size(const bw_chain_t *cl);

#endif
