/*
 * buf.c -- buffer and chain-link allocation, the per-pool link free list,
 * and the bookkeeping senders and streaming filters share.
 */
#include "buf.h"

#include "pool.h"

bw_buf_t *
bw_buf_calloc(bw_pool_t *pool)
{
    return bw_pcalloc(pool, sizeof(bw_buf_t));
}

bw_buf_t *
bw_buf_create_temp(bw_pool_t *pool, size_t size)
{
    bw_buf_t *b = bw_buf_calloc(pool);
    if (b == NULL) {
        return NULL;
    }
    b->start = bw_pnalloc(pool, size ? size : 1);
    if (b->start == NULL) {
        return NULL;
    }
    b->pos = b->start;
    b->last = b->start;
    b->end = b->start + size;
    b->temporary = 1;
    return b;
}

bw_chain_t *
bw_chain_alloc_link(bw_pool_t *pool)
{
    bw_chain_t *cl = pool->chain;
    if (cl) {
        pool->chain = cl->next;
        cl->next = NULL;
        return cl;
    }
    cl = bw_palloc(pool, sizeof(bw_chain_t));
    if (cl) {
        cl->buf = NULL;
        cl->next = NULL;
    }
    return cl;
}

void
bw_chain_free_link(bw_pool_t *pool, bw_chain_t *cl)
{
    cl->buf = NULL;
    cl->next = pool->chain;
    pool->chain = cl;
}

bw_chain_t *
bw_chain_create_temp(bw_pool_t *pool, size_t size)
{
    bw_chain_t *cl = bw_chain_alloc_link(pool);
    if (cl == NULL) {
        return NULL;
    }
    cl->buf = bw_buf_create_temp(pool, size);
    if (cl->buf == NULL) {
        bw_chain_free_link(pool, cl);
        return NULL;
    }
    return cl;
}

bw_rc_t
bw_chain_add_copy(bw_pool_t *pool, bw_chain_t **chain, const bw_chain_t *in)
{
    bw_chain_t **ll = chain;
    while (*ll) {
        ll = &(*ll)->next;
    }
    for (; in; in = in->next) {
        bw_chain_t *cl = bw_chain_alloc_link(pool);
        if (cl == NULL) {
            return BW_ERROR;
        }
        cl->buf = in->buf;
        *ll = cl;
        ll = &cl->next;
    }
    return BW_OK;
}

bw_chain_t *
bw_chain_update_sent(bw_chain_t *in, off_t sent)
{
    for (; in; in = in->next) {
        bw_buf_t *b = in->buf;
        if (bw_buf_special(b)) {
            continue;
        }
        off_t size = bw_buf_size(b);
        if (sent == 0 && size > 0) {
            return in;
        }
        off_t step = sent < size ? sent : size;
        /* A buffer both in memory and in a file advances in both views. */
        if (bw_buf_in_memory(b)) {
            b->pos += step;
        }
        if (b->in_file) {
            b->file_pos += step;
        }
        sent -= step;
        if (step < size) {
            return in;
        }
    }
    return NULL;
}

bw_chain_t *
bw_chain_get_free_buf(bw_pool_t *pool, bw_chain_t **free)
{
    if (*free) {
        bw_chain_t *cl = *free;
        *free = cl->next;
        cl->next = NULL;
        return cl;
    }
    bw_chain_t *cl = bw_chain_alloc_link(pool);
    if (cl == NULL) {
        return NULL;
    }
    cl->buf = bw_buf_calloc(pool);
    if (cl->buf == NULL) {
        bw_chain_free_link(pool, cl);
        return NULL;
    }
    return cl;
}

void
bw_chain_update_chains(bw_pool_t *pool, bw_chain_t **free, bw_chain_t **busy,
                       bw_chain_t **out, const void *tag)
{
    if (*out) {
        bw_chain_t **ll = busy;
        while (*ll) {
            ll = &(*ll)->next;
        }
        *ll = *out;
        *out = NULL;
    }
    while (*busy) {
        bw_chain_t *cl = *busy;
        bw_buf_t *b = cl->buf;
        /* Buffers are consumed in order: stop at the first one still in flight. */
        if (bw_buf_size(b) != 0) {
            break;
        }
        *busy = cl->next;
        if (b->tag != tag) {
            bw_chain_free_link(pool, cl);
            continue;
        }
        b->pos = b->start;
        b->last = b->start;
        b->file_pos = 0;
        b->file_last = 0;
        b->flush = 0;
        b->last_buf = 0;
        b->last_in_chain = 0;
        b->sync = 0;
        cl->next = *free;
        *free = cl;
    }
}

off_t
bw_chain_size(const bw_chain_t *cl)
{
    off_t size = 0;
    for (; cl; cl = cl->next) {
        if (!bw_buf_special(cl->buf)) {
            size += bw_buf_size(cl->buf);
        }
    }
    return size;
}
