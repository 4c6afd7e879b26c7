/*
 * array.h -- growable arrays in pool memory, and an intrusive queue.
 */
#ifndef BW_ARRAY_H
#define BW_ARRAY_H

#include "types.h"

typedef struct {
    void      *elts;
    size_t     nelts;
    size_t     size;   /* bytes per element */
    size_t     nalloc;
    bw_pool_t *pool;
} bw_array_t;

/* Creates an array of n preallocated elements of `size` bytes. NULL on no memory. */
bw_array_t *bw_array_create(bw_pool_t *pool, size_t n, size_t size);
/* Initialises an array in place. BW_OK or BW_ERROR. */
bw_rc_t bw_array_init(bw_array_t *a, bw_pool_t *pool, size_t n, size_t size);
/* Appends one uninitialised element (growing by doubling). NULL on no memory. */
void *bw_array_push(bw_array_t *a);
/* Appends n uninitialised elements. NULL on no memory. */
void *bw_array_push_n(bw_array_t *a, size_t n);

#define bw_array_at(a, type, i) (((type *) (a)->elts)[i])

#endif
