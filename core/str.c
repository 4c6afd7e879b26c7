/*
 * str.c -- counted-string comparisons, copies and number parsing.
 */
#include "str.h"

#include "pool.h"

#include <stdarg.h>
#include <stdio.h>

bool
bw_str_eq(const bw_str_t *a, const bw_str_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

uint32_t
bw_hash_fnv1a(const u_char *p, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

bool
bw_str_caseeq(const bw_str_t *a, const bw_str_t *b)
{
    return a->len == b->len && bw_strncasecmp(a->data, b->data, a->len) == 0;
}

int
bw_strncasecmp(const u_char *a, const u_char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        u_char ca = bw_tolower(a[i]);
        u_char cb = bw_tolower(b[i]);
        if (ca != cb) {
            return ca - cb;
        }
    }
    return 0;
}

void
bw_strlow(u_char *dst, const u_char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = bw_tolower(src[i]);
    }
}

bw_rc_t
bw_pstrcopy(bw_pool_t *pool, bw_str_t *dst, const bw_str_t *src)
{
    u_char *p = bw_pnalloc(pool, src->len + 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    if (src->len) {
        memcpy(p, src->data, src->len);
    }
    p[src->len] = '\0';
    dst->data = p;
    dst->len = src->len;
    return BW_OK;
}

bw_str_t *
bw_pstrdup(bw_pool_t *pool, const bw_str_t *s)
{
    bw_str_t *d = bw_palloc(pool, sizeof(bw_str_t));
    if (d == NULL || bw_pstrcopy(pool, d, s) != BW_OK) {
        return NULL;
    }
    return d;
}

char *
bw_pstrz(bw_pool_t *pool, const bw_str_t *s)
{
    bw_str_t d;
    if (bw_pstrcopy(pool, &d, s) != BW_OK) {
        return NULL;
    }
    return (char *) d.data;
}

bw_str_t *
bw_psprintf(bw_pool_t *pool, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }
    bw_str_t *s = bw_palloc(pool, sizeof(bw_str_t));
    u_char *p = bw_pnalloc(pool, (size_t) n + 1);
    if (s == NULL || p == NULL) {
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf((char *) p, (size_t) n + 1, fmt, ap);
    va_end(ap);
    s->data = p;
    s->len = (size_t) n;
    return s;
}

int64_t
bw_atoi(const u_char *p, size_t n)
{
    if (n == 0) {
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        int d = p[i] - '0';
        if (v > (INT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    return v;
}

int64_t
bw_hextoi(const u_char *p, size_t n)
{
    if (n == 0) {
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        u_char c = bw_tolower(p[i]);
        int d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else {
            return -1;
        }
        if (v > (INT64_MAX - d) / 16) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* Digits of v in base `base` at p, most significant first. */
static u_char *
bw_str_put_base(u_char *p, uint64_t v, unsigned base)
{
    static const char digits[] = "0123456789abcdef";
    u_char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (u_char) digits[v % base];
        v /= base;
    } while (v);
    while (n) {
        *p++ = tmp[--n];
    }
    return p;
}

u_char *
bw_u64_put(u_char *p, uint64_t v)
{
    return bw_str_put_base(p, v, 10);
}

u_char *
bw_x64_put(u_char *p, uint64_t v)
{
    return bw_str_put_base(p, v, 16);
}
