/*
 * buf.c -- the growable byte buffers bw_origin reads into and writes from.
 */
#include "origin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes, first moving pending bytes to the front. */
static bool bw_origin_buf_reserve(bw_origin_buf_t *b, size_t n)
{
    size_t pending = b->end - b->start;

    if (b->start > 0 && b->end + n + 1 > b->cap) {
        memmove(b->data, b->data + b->start, pending);
        b->start = 0;
        b->end = pending;
    }
    if (b->end + n + 1 > b->cap) {
        size_t ncap = b->cap * 2 + n + 1;
        char  *nd = realloc(b->data, ncap);

        if (nd == NULL) {
            return false;
        }
        b->data = nd;
        b->cap = ncap;
    }
    return true;
}

bool bw_origin_buf_add(bw_origin_buf_t *b, const void *data, size_t len)
{
    if (!bw_origin_buf_reserve(b, len)) {
        return false;
    }
    if (len > 0) {
        memcpy(b->data + b->end, data, len);
    }
    b->end += len;
    b->data[b->end] = '\0';
    return true;
}

bool bw_origin_buf_addf(bw_origin_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !bw_origin_buf_reserve(b, (size_t) n)) {
        return false;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->end, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->end += (size_t) n;
    return true;
}

size_t bw_origin_buf_len(const bw_origin_buf_t *b)
{
    return b->end - b->start;
}

void bw_origin_buf_consume(bw_origin_buf_t *b, size_t n)
{
    b->start += n;
    if (b->start >= b->end) {
        b->start = 0;
        b->end = 0;
    }
}

void bw_origin_buf_free(bw_origin_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}
