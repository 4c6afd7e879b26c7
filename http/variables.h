/*
 * variables.h -- $variables: the registry built while the configuration is
 * parsed, lazy evaluation with a per-request cache, and regex captures.
 *
 * At config time modules declare variables by name (bw_http_add_variable)
 * and ask for the index of the ones they read (bw_http_get_variable_index).
 * After the http{} block is parsed, bw_http_variables_init_vars() binds every
 * index to its variable (or to a prefix family such as $http_*), and reports
 * `unknown "name" variable` for the rest. Names are case-insensitive.
 *
 * At run time a value is computed on first use and kept in r->variables[index]
 * for the rest of the request, unless the variable is NOCACHEABLE, in which
 * case bw_http_get_flushed_variable() computes it again. r->variables is an
 * array of bw_http_variables_count() values; it may be left NULL by the
 * request code, in which case it is allocated on first use.
 *
 * Regex captures: bw_regex_exec_request() runs a regex for a request and, on
 * a match, records $0..$N (numbered captures, read by scripts) and sets the
 * variables named after the regex's named groups. Regexes whose named groups
 * must become variables are compiled with bw_http_regex_compile().
 */
#ifndef BW_HTTP_VARIABLES_H
#define BW_HTTP_VARIABLES_H

#include "core_module.h"

/* A computed value. data is pool memory of the request or points into it. */
typedef struct {
    u_char  *data;
    size_t   len;
    unsigned valid:1;        /* computed and cached for this request */
    unsigned not_found:1;    /* the variable has no value (empty when printed) */
    unsigned no_cacheable:1; /* recomputed by bw_http_get_flushed_variable() */
} bw_http_variable_value_t;

typedef struct bw_http_variable_s bw_http_variable_t;

/*
 * Computes a value: fills v->data / v->len, or sets v->not_found. The caller
 * has cleared *v and sets the cache bits afterwards. BW_OK, or BW_ERROR on no
 * memory (the value is then "not found").
 */
typedef bw_rc_t (*bw_http_variable_get_fn)(bw_http_request_t *r, bw_http_variable_value_t *v,
                                           uintptr_t data);
/* Stores a value into the request (`set $args ...`, `set $limit_rate ...`). */
typedef void (*bw_http_variable_set_fn)(bw_http_request_t *r, bw_http_variable_value_t *v,
                                        uintptr_t data);

#define BW_HTTP_VAR_CHANGEABLE  0x01 /* `set` and later declarations may redefine it */
#define BW_HTTP_VAR_NOCACHEABLE 0x02 /* its value may change during the request */
#define BW_HTTP_VAR_INDEXED     0x04 /* has an index (set by init_vars) */
#define BW_HTTP_VAR_NOHASH      0x08 /* not reachable by name at run time */
#define BW_HTTP_VAR_WEAK        0x10 /* a declaration that a later one may override */
#define BW_HTTP_VAR_PREFIX      0x20 /* a family: the name is a prefix ($http_...) */

struct bw_http_variable_s {
    bw_str_t                name;  /* lowercase, without '$'; for PREFIX the prefix */
    bw_http_variable_get_fn get;   /* NULL until a module defines it */
    bw_http_variable_set_fn set;
    uintptr_t               data;  /* for get/set; prefix families get a bw_str_t * suffix */
    unsigned                flags;
    bw_uint_t               index; /* valid when INDEXED */
};

/* A row of a module's table of variables to declare (ends with a NULL name). */
typedef struct {
    const char             *name;
    bw_http_variable_get_fn get;
    bw_http_variable_set_fn set;
    uintptr_t               data;
    unsigned                flags;
} bw_http_variable_def_t;

/* The standard variables (variables_core.c), declared by add_core_vars. */
extern const bw_http_variable_def_t bw_http_core_variables[];

/* Registers every variable of a table ending with a NULL name (a module's
 * preconfiguration hook). BW_OK or BW_ERROR. */
bw_rc_t bw_http_add_variables(bw_conf_t *cf, const bw_http_variable_def_t *defs);

/*
 * Numbered captures of the last regex match of a request (r->regex_captures).
 * Capture n is [ovector[2n], ovector[2n+1]) of subject; r->ncaptures is the
 * number of pairs set (0: none, as after a failed rewrite or if match).
 */
#define BW_HTTP_CAPTURES_MAX 32
typedef struct {
    bw_str_t subject;
    size_t   ovector[2 * BW_HTTP_CAPTURES_MAX];
} bw_http_captures_t;

/* ---- configuration time ---- */

/*
 * Registers the standard variables ($uri, $host, $http_*, ...). Called by
 * the http{} block before its body is parsed. BW_OK or BW_ERROR.
 */
bw_rc_t bw_http_variables_add_core_vars(bw_conf_t *cf);

/*
 * Binds every index handed out by bw_http_get_variable_index() to its
 * variable or prefix family, reports `unknown "name" variable` for the rest,
 * and builds the run-time name lookup. Called once after the http{} body.
 */
bw_rc_t bw_http_variables_init_vars(bw_conf_t *cf);

/*
 * Declares a variable (name without '$'). A second declaration of the same
 * name returns the existing variable when it is CHANGEABLE, else reports
 * `the duplicate "name" variable` and returns NULL. With BW_HTTP_VAR_PREFIX,
 * declares a family matched by prefix at init_vars and at run time.
 * The caller fills ->get / ->set / ->data.
 */
bw_http_variable_t *bw_http_add_variable(bw_conf_t *cf, const bw_str_t *name, unsigned flags);

/*
 * The index of variable `name` (without '$'), reserving one when the name is
 * not known yet (init_vars checks it later). -1 after reporting
 * `invalid variable name` for an empty name, or on no memory.
 */
bw_int_t bw_http_get_variable_index(bw_conf_t *cf, const bw_str_t *name);

/* True when name (without '$') is a valid variable name: [A-Za-z0-9_]+. */
bool bw_http_variable_name_valid(const bw_str_t *name);

/*
 * Compiles a regex (core/regex.h) and declares a CHANGEABLE variable for each
 * named group, so that `(?<name>...)` is readable as $name after a match.
 * Use it for every regex of the http configuration whose matches are run
 * with bw_regex_exec_request(). NULL after reporting.
 */
bw_regex_t *bw_http_regex_compile(bw_conf_t *cf, const bw_str_t *pattern, bool caseless);

/* Number of indexed variables of the last configuration (for r->variables). */
size_t bw_http_variables_count(void);

/* ---- request time ---- */

/* The cached value of indexed variable `index`, computed on first use; NULL on error. */
bw_http_variable_value_t *bw_http_get_indexed_variable(bw_http_request_t *r, bw_uint_t index);
/* As above, but a NOCACHEABLE value is computed again. */
bw_http_variable_value_t *bw_http_get_flushed_variable(bw_http_request_t *r, bw_uint_t index);

/*
 * Stores `value` (kept by reference: request memory) as the cached value of
 * indexed variable `index` for the rest of the request (`set`, named
 * captures). BW_OK, or BW_ERROR on no memory or a bad index.
 */
bw_rc_t bw_http_set_indexed_variable(bw_http_request_t *r, bw_uint_t index,
                                     const bw_str_t *value);

/* The hash bw_http_get_variable() expects: of the lowercased name. */
bw_uint_t bw_http_variable_hash(const u_char *name, size_t len);

/*
 * A variable by name (lowercase, without '$'), for names chosen at run time
 * (SSI, log formats built late). hash is bw_http_variable_hash(name).
 * Unknown names are tried against the prefix families, then give a
 * not_found value. NULL on no memory.
 */
bw_http_variable_value_t *bw_http_get_variable(bw_http_request_t *r, const bw_str_t *name,
                                               bw_uint_t hash);

/*
 * Runs `re` on subject for request r. On a match records the numbered
 * captures (subject must stay valid for the request: pool memory or request
 * data) and sets the named-capture variables; returns BW_OK. BW_DECLINED
 * when it does not match (captures are left as they were); BW_ERROR on a
 * matching error (logged) or no memory.
 */
bw_rc_t bw_regex_exec_request(bw_http_request_t *r, bw_regex_t *re, const bw_str_t *subject);

/*
 * Capture n ($n) of the last match as a string; false when there is none
 * (the value is then empty).
 */
bool bw_http_capture(bw_http_request_t *r, bw_uint_t n, bw_str_t *out);

#endif
