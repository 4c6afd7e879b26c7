/*
 * str.h -- counted strings (pointer + length) and small byte helpers.
 *
 * bw_str_t never owns its bytes and is not NUL-terminated unless a function
 * says so. Print one with printf("%.*s", BW_STR_ARG(s)).
 */
#ifndef BW_STR_H
#define BW_STR_H

#include "types.h"

#include <string.h>

typedef struct {
    size_t  len;
    u_char *data;
} bw_str_t;

/* A key/value pair of strings, e.g. a header or an `env` entry. */
typedef struct {
    bw_str_t key;
    bw_str_t value;
} bw_keyval_t;

#define bw_string(s)    { sizeof(s) - 1, (u_char *) (s) }
#define bw_null_string  { 0, NULL }
#define bw_str_set(str, text) \
    do { (str)->len = sizeof(text) - 1; (str)->data = (u_char *) (text); } while (0)
#define bw_str_null(str) do { (str)->len = 0; (str)->data = NULL; } while (0)

#define BW_STR_ARG(s) (int) (s).len, (const char *) (s).data

#define bw_tolower(c) (u_char) (((c) >= 'A' && (c) <= 'Z') ? ((c) | 0x20) : (c))
#define bw_toupper(c) (u_char) (((c) >= 'a' && (c) <= 'z') ? ((c) & ~0x20) : (c))

/* True when s equals the C string literal lit, case-sensitively. */
#define bw_str_eq_lit(s, lit) \
    ((s)->len == sizeof(lit) - 1 && memcmp((s)->data, lit, sizeof(lit) - 1) == 0)

bool bw_str_eq(const bw_str_t *a, const bw_str_t *b);
bool bw_str_caseeq(const bw_str_t *a, const bw_str_t *b);
/* FNV-1a of [p, p+n): the hash of bulwark's tables (names, paths, session ids). */
uint32_t bw_hash_fnv1a(const u_char *p, size_t n);
int  bw_strncasecmp(const u_char *a, const u_char *b, size_t n);
void bw_strlow(u_char *dst, const u_char *src, size_t n);

/* Copies s into pool memory with a terminating NUL (not counted in len). */
bw_str_t *bw_pstrdup(bw_pool_t *pool, const bw_str_t *s);
/* As bw_pstrdup but fills *dst; returns BW_OK or BW_ERROR on no memory. */
bw_rc_t bw_pstrcopy(bw_pool_t *pool, bw_str_t *dst, const bw_str_t *src);
/* A NUL-terminated pool copy of s, for system calls. NULL on no memory. */
char *bw_pstrz(bw_pool_t *pool, const bw_str_t *s);
/* printf into pool memory; the result is NUL-terminated. */
bw_str_t *bw_psprintf(bw_pool_t *pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Parses an unsigned decimal integer from all of [p, p+n). Returns -1 when
 * the bytes are not all digits or the value overflows int64_t.
 */
int64_t bw_atoi(const u_char *p, size_t n);
/* Same for hexadecimal digits. */
int64_t bw_hextoi(const u_char *p, size_t n);

/*
 * Writes v in decimal (bw_u64_put) or lowercase hex without leading zeros
 * (bw_x64_put) at p, which has room for 20 (resp. 16) bytes; returns the end.
 * For hot paths where printf's parsing of a format is wasted work.
 */
u_char *bw_u64_put(u_char *p, uint64_t v);
u_char *bw_x64_put(u_char *p, uint64_t v);

#endif
