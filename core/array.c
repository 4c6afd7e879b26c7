/*
 * array.c -- growable pool arrays. Growth copies into a new pool block; the
 * old storage is left to the pool (arrays are built at config time or grow
 * rarely).
 */
#include "array.h"

#include "pool.h"

#include <string.h>

bw_rc_t
bw_array_init(bw_array_t *a, bw_pool_t *pool, size_t n, size_t size)
{
    a->nelts = 0;
    a->size = size;
    a->nalloc = n ? n : 1;
    a->pool = pool;
    a->elts = bw_palloc(pool, a->nalloc * size);
    return a->elts ? BW_OK : BW_ERROR;
}

bw_array_t *
bw_array_create(bw_pool_t *pool, size_t n, size_t size)
{
    bw_array_t *a = bw_palloc(pool, sizeof(bw_array_t));
    if (a == NULL || bw_array_init(a, pool, n, size) != BW_OK) {
        return NULL;
    }
    return a;
}

void *
bw_array_push_n(bw_array_t *a, size_t n)
{
    if (a->nelts + n > a->nalloc) {
        size_t nalloc = 2 * (n >= a->nalloc ? n : a->nalloc);
        void *elts = bw_palloc(a->pool, nalloc * a->size);
        if (elts == NULL) {
            return NULL;
        }
        memcpy(elts, a->elts, a->nelts * a->size);
        a->elts = elts;
        a->nalloc = nalloc;
    }
    void *elt = (u_char *) a->elts + a->size * a->nelts;
    a->nelts += n;
    return elt;
}

void *
bw_array_push(bw_array_t *a)
{
    return bw_array_push_n(a, 1);
}
