/*
 * regex.h -- compiled regular expressions (PCRE2, JIT when the library
 * supports it) for `location ~`, `server_name ~`, rewrite, map and the WAF.
 *
 * Patterns are compiled at configuration time into the configuration pool
 * (the compiled code is released by a pool cleanup). Matching uses one
 * match-data block per process, grown to the largest capture count seen,
 * so a match allocates nothing; the captured offsets are copied into the
 * caller's array. Nothing here knows HTTP: the request-level helper that
 * stores captures for $1..$9 and named-capture variables is
 * bw_regex_exec_request() (http/variables.c).
 */
#ifndef BW_REGEX_H
#define BW_REGEX_H

#include "str.h"

/* A named capture group: (?<name>...) or (?P<name>...). */
typedef struct {
    bw_str_t name;  /* points into pool memory, NUL-terminated */
    int      index; /* the group's number (1-based) */
} bw_regex_name_t;

typedef struct bw_regex_s bw_regex_t;

struct bw_regex_s {
    void            *code;     /* pcre2_code * */
    bw_str_t         pattern;  /* as written (pool copy, NUL-terminated) */
    int              captures; /* number of capture groups (0: none) */
    bw_uint_t        nnames;
    bw_regex_name_t *names;    /* nnames entries, in group-number order */
    bool             caseless;
    bool             jit;      /* JIT-compiled */
};

/* Result of bw_regex_exec() when the subject does not match (PCRE2's). */
#define BW_REGEX_NO_MATCH (-1)

/*
 * Compiles `pattern` (caseless: PCRE2_CASELESS) into `pool`. On failure
 * returns NULL and, when err is not NULL, sets *err to nginx's message
 * (pool memory):
 *   pcre2_compile() failed: <reason> in "<pattern>"[ at "<rest>"]
 * where the " at" part is present when the error offset falls inside the
 * pattern. A NULL return with err->len == 0 means no memory.
 */
bw_regex_t *bw_regex_compile_pool(bw_pool_t *pool, const bw_str_t *pattern, bool caseless,
                                  bw_str_t *err);

/*
 * As bw_regex_compile_pool() in the configuration pool, reporting failures
 * with bw_conf_error() (so with "in file:line"). NULL after reporting.
 */
bw_regex_t *bw_regex_compile(bw_conf_t *cf, const bw_str_t *pattern, bool caseless);

/*
 * Matches `s` against `re`. `ovector` receives up to `ovec_pairs` pairs of
 * byte offsets (start, end) into s: pair 0 is the whole match, pair i is
 * group i ((size_t) -1 in both for a group that did not participate).
 * ovector may be NULL when ovec_pairs is 0.
 *
 * Returns:
 *   > 0                 a match; the number of pairs that are meaningful
 *                       (highest participating group + 1), capped at
 *                       ovec_pairs when that is smaller (and at least 1)
 *   BW_REGEX_NO_MATCH   (-1) no match
 *   < -1                a PCRE2 error code (resource limits, no memory)
 */
int bw_regex_exec(const bw_regex_t *re, const bw_str_t *s, size_t *ovector, int ovec_pairs);

/* True when `s` matches (a convenience over bw_regex_exec without captures). */
bool bw_regex_match(const bw_regex_t *re, const bw_str_t *s);

/* Accessors: the number of capture groups and the named ones. */
static inline int
bw_regex_captures(const bw_regex_t *re)
{
    return re->captures;
}

static inline bw_uint_t
bw_regex_names_count(const bw_regex_t *re)
{
    return re->nnames;
}

static inline const bw_regex_name_t *
bw_regex_names(const bw_regex_t *re)
{
    return re->names;
}

/* The group number of the named capture `name`, or -1. */
int bw_regex_name_index(const bw_regex_t *re, const bw_str_t *name);

/* Frees this process's match data (tests and exiting workers; optional). */
void bw_regex_match_data_free(void);

#endif
