/*
 * conf.h -- the configuration language: directive tables, the parser's
 * state, stock setters and merge helpers.
 *
 * A directive is one row in a module's table. The dispatcher (conf.c)
 * checks the context and argument count, finds the conf struct the row's
 * `level` names, and calls the setter, which reads cf->args.
 *
 * Setter contract: return BW_CONF_OK (NULL) on success; BW_CONF_ERROR when
 * the setter already reported with bw_conf_error(); or a message fragment
 * such as "is duplicate", which the dispatcher prints as nginx does:
 *   [emerg] "worker_connections" directive is duplicate in /etc/x.conf:12
 * Errors accumulate: after a failed statement, parsing goes on with the next
 * (a failed block directive that did not parse its body gets the body
 * skipped), so one run reports every problem; the parse as a whole fails.
 *
 * Block directives parse their own body: the setter sets up cf->ctx and
 * cf->ctx_type for the block, calls bw_conf_parse(cf, NULL), and restores
 * them. A block whose statements are not directives (types{}, map{}) sets
 * cf->handler instead: every statement in it is passed to the handler.
 * A block setter reads cf->args before parsing its body (the body's
 * statements overwrite them).
 *
 * Arguments in cf->args are NUL-terminated (the NUL is not counted in len)
 * and live in the cycle pool: a setter may keep the bw_str_t as it is.
 */
#ifndef BW_CONF_H
#define BW_CONF_H

#include "array.h"
#include "log.h"
#include "str.h"

#define BW_CONF_MAX_ARGS 8

/* Contexts (bw_directive_t.where and bw_conf_t.ctx_type). */
#define BW_CTX_MAIN   0x0001 /* top level of the main file or an include at top level */
#define BW_CTX_EVENTS 0x0002
#define BW_CTX_HTTP   0x0004
#define BW_CTX_SRV    0x0008
#define BW_CTX_LOC    0x0010
#define BW_CTX_UPS    0x0020
#define BW_CTX_SIF    0x0040 /* if{} in server */
#define BW_CTX_LIF    0x0080 /* if{} in location */
#define BW_CTX_LMT    0x0100 /* limit_except{} */
#define BW_CTX_ANY    0x0fff

/* Argument counts, not counting the directive name (bw_directive_t.args). */
#define BW_ARGS_NOARGS 0x00001
#define BW_ARGS_TAKE1  0x00002
#define BW_ARGS_TAKE2  0x00004
#define BW_ARGS_TAKE3  0x00008
#define BW_ARGS_TAKE4  0x00010
#define BW_ARGS_TAKE5  0x00020
#define BW_ARGS_TAKE6  0x00040
#define BW_ARGS_TAKE7  0x00080
#define BW_ARGS_TAKE12  (BW_ARGS_TAKE1 | BW_ARGS_TAKE2)
#define BW_ARGS_TAKE13  (BW_ARGS_TAKE1 | BW_ARGS_TAKE3)
#define BW_ARGS_TAKE23  (BW_ARGS_TAKE2 | BW_ARGS_TAKE3)
#define BW_ARGS_TAKE123 (BW_ARGS_TAKE1 | BW_ARGS_TAKE2 | BW_ARGS_TAKE3)
#define BW_ARGS_TAKE1234 (BW_ARGS_TAKE123 | BW_ARGS_TAKE4)
#define BW_ARGS_BLOCK  0x00100 /* ends with '{' instead of ';' */
#define BW_ARGS_FLAG   0x00200 /* exactly one argument: on|off */
#define BW_ARGS_ANY    0x00400 /* any number, including none */
#define BW_ARGS_1MORE  0x00800
#define BW_ARGS_2MORE  0x01000

/* Which conf struct a directive's setter receives. */
typedef enum {
    BW_CONF_MAIN = 0, /* cf->ctx->main_conf[index]: cycle->conf outside http{} */
    BW_CONF_SRV,      /* cf->ctx->srv_conf[index] */
    BW_CONF_LOC,      /* cf->ctx->loc_conf[index] */
    BW_CONF_NONE,     /* NULL: the setter finds what it needs itself */
} bw_conf_level_t;

#define BW_CONF_OK    ((const char *) NULL)
#define BW_CONF_ERROR ((const char *) -1)

typedef const char *(*bw_conf_set_fn)(bw_conf_t *cf, const bw_directive_t *d, void *conf);

struct bw_directive_s {
    const char     *name; /* nginx's spelling */
    uint32_t        where;
    uint32_t        args;
    bw_conf_level_t level;
    bw_conf_set_fn  set;
    size_t          offset; /* field for stock setters */
    const void     *post;   /* stock setters: bounds, enum table, ...; or NULL */
};

#define BW_DIRECTIVES_END { NULL, 0, 0, 0, NULL, 0, NULL }

/* The configuration structs visible in the current block, by module index. */
typedef struct {
    void **main_conf;
    void **srv_conf;
    void **loc_conf;
} bw_conf_ctx_t;

/* One file being read (the main file, an include, or -g text). */
typedef struct bw_conf_file_s {
    bw_str_t  name;  /* as shown in messages; NUL-terminated */
    u_char   *start; /* whole file content */
    u_char   *pos;
    u_char   *end;
    bw_uint_t line;
    bw_uint_t depth;        /* include nesting: 0 for the main file */
    bool      command_line; /* -g text: no '{', messages say "in command line" */
    bool      failed;       /* a lexical error: the rest of this file is not read */
} bw_conf_file_t;

/* Handles one statement of a block whose content is not directives. */
typedef const char *(*bw_conf_handler_fn)(bw_conf_t *cf, void *conf);

struct bw_conf_s {
    bw_cycle_t         *cycle;
    bw_pool_t          *pool;      /* the cycle's pool: results live here */
    bw_pool_t          *temp_pool; /* freed after parsing */
    bw_log_t           *log;
    bw_conf_file_t     *file;
    bw_array_t         *args;      /* bw_str_t: args[0] is the directive name */
    bw_conf_ctx_t      *ctx;
    uint32_t            ctx_type;  /* BW_CTX_* of the current block */
    const bw_module_t  *module;    /* module whose directive is being set */
    bw_conf_handler_fn  handler;
    void               *handler_conf;
    bw_uint_t           errors;    /* errors reported so far */
    bw_uint_t           blocks;    /* block bodies entered so far (recovery) */
    bool                dump;      /* -T: keep every file read, in order */
    bw_array_t         *dumped;    /* bw_conf_file_t copies when dump (content as read,
                                      each file once, in the order first read) */
    bw_module_t       **modules;   /* tables the dispatcher scans; NULL: bw_modules */
};

/* Always-present directives scanned before every module's: `include`. */
extern const bw_directive_t bw_conf_core_directives[];

/*
 * Parses a whole file (filename != NULL; relative names are taken from the
 * cycle's conf prefix) or the rest of the current block (NULL).
 * Returns BW_OK, or BW_ERROR when any error was reported during the call
 * (cf->errors grew) or the file could not be read. cf->args is created on
 * first use; the file content is read into cf->pool and stays there.
 */
bw_rc_t bw_conf_parse(bw_conf_t *cf, const bw_str_t *filename);
/* Parses directives from a string (-g), named "command line" in messages. */
bw_rc_t bw_conf_parse_string(bw_conf_t *cf, const bw_str_t *text);

/*
 * Reports "[level] message[ (errno: text)] in file:line" on stderr (and on
 * cf->log when that is a real log). Levels emerg..error count as errors
 * (cf->errors++); warn and below do not.
 */
void bw_conf_log(bw_conf_t *cf, unsigned level, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define bw_conf_error(cf, ...) bw_conf_log(cf, BW_LOG_EMERG, 0, __VA_ARGS__)

/*
 * Makes `name` absolute against the cycle's prefix (conf_prefix false) or
 * conf prefix (true), in cycle-pool memory, NUL-terminated.
 */
bw_rc_t bw_conf_full_name(bw_cycle_t *cycle, bw_str_t *name, bool conf_prefix);

/*
 * True when `name` is the name of an nginx directive (core, http, mail,
 * stream, NGINX Plus and common third-party modules). The dispatcher asks
 * only for names no module of bulwark knows, to say "not supported" rather
 * than "unknown".
 */
bool bw_conf_is_nginx_directive(const bw_str_t *name);
/* The sorted name list behind bw_conf_is_nginx_directive (for tests). */
extern const char *const bw_conf_nginx_directives[];
extern const size_t      bw_conf_nginx_directives_n;

/* ---- units (units.c): the only parser of sizes and times ---- */

/* "512", "10k", "1m", "2g" (k/K m/M g/G: powers of 1024) → bytes;
 * -1 when invalid or overflowing int64_t. */
int64_t bw_parse_size(const bw_str_t *s);
/* As bw_parse_size but for off_t-sized values (also accepts nothing more). */
#define bw_parse_offset(s) bw_parse_size(s)
/*
 * "500ms", "30s", "1h30m", "1h 30m", "2d", "1w", "1M", "1y" → milliseconds
 * (is_sec false) or seconds (is_sec true). Units y M(30 days) w d h m s ms,
 * each at most once, from the largest down, optionally separated by spaces
 * after a unit. A number without a unit means seconds in both modes (so
 * "75" is 75000 ms), and may only come last. As in nginx, "ms" is invalid
 * when is_sec, and "y" and "M" are invalid when not (millisecond values).
 * -1 when invalid, -2 on overflow of int64_t.
 */
int64_t bw_parse_time(const bw_str_t *s, bool is_sec);

/* ---- stock setters (conf_setters.c) ---- */

#define BW_CONF_UNSET       -1
#define BW_CONF_UNSET_UINT  ((bw_uint_t) -1)
#define BW_CONF_UNSET_PTR   ((void *) -1)
#define BW_CONF_UNSET_SIZE  ((size_t) -1)
#define BW_CONF_UNSET_MSEC  ((bw_msec_t) -1)

typedef struct {
    int64_t low;
    int64_t high; /* -1: no upper bound */
} bw_conf_bounds_t; /* post for num/size/off/msec/sec setters: inclusive range, checked
                       after parsing (msec in ms); out of range: "value must be between
                       L and H" (nginx's wording) */

typedef struct {
    const char *name;
    bw_uint_t   value;
} bw_conf_enum_t;   /* post for enum and bitmask setters: table ends with {NULL, 0} */

/* Fields: flag → bw_int_t (0/1), num → bw_int_t, size → size_t, off → off_t,
 * msec → bw_msec_t, sec → time_t, str → bw_str_t, str_array → bw_array_t *
 * of bw_str_t, keyval → bw_array_t * of bw_keyval_t, enum → bw_uint_t,
 * bitmask → bw_uint_t (OR of values). Each refuses a second occurrence in
 * the same block with "is duplicate" (arrays append instead; bitmask ORs).
 * Unset values: BW_CONF_UNSET (flag, num, off, sec), BW_CONF_UNSET_SIZE,
 * BW_CONF_UNSET_MSEC, BW_CONF_UNSET_UINT (enum), data == NULL (str),
 * NULL or BW_CONF_UNSET_PTR (arrays, created in cf->pool), 0 (bitmask).
 * str_array appends every argument; flag, enum and bitmask compare names
 * case-insensitively. */
const char *bw_conf_set_flag(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_num(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_size(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_off(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_msec(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_sec(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_str(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_str_array(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_keyval(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_enum(bw_conf_t *cf, const bw_directive_t *d, void *conf);
const char *bw_conf_set_bitmask(bw_conf_t *cf, const bw_directive_t *d, void *conf);
/* Accepts and ignores the directive (nginx compatibility no-ops). */
const char *bw_conf_set_noop(bw_conf_t *cf, const bw_directive_t *d, void *conf);

/* Merge helpers for create/merge functions: child inherits parent or default. */
#define bw_conf_merge_value(conf, prev, def) \
    do { if ((conf) == BW_CONF_UNSET) (conf) = ((prev) == BW_CONF_UNSET) ? (def) : (prev); } while (0)
#define bw_conf_merge_uint(conf, prev, def) \
    do { if ((conf) == BW_CONF_UNSET_UINT) (conf) = ((prev) == BW_CONF_UNSET_UINT) ? (def) : (prev); } while (0)
#define bw_conf_merge_msec(conf, prev, def) \
    do { if ((conf) == BW_CONF_UNSET_MSEC) (conf) = ((prev) == BW_CONF_UNSET_MSEC) ? (def) : (prev); } while (0)
#define bw_conf_merge_size(conf, prev, def) \
    do { if ((conf) == BW_CONF_UNSET_SIZE) (conf) = ((prev) == BW_CONF_UNSET_SIZE) ? (def) : (prev); } while (0)
#define bw_conf_merge_ptr(conf, prev, def) \
    do { if ((conf) == BW_CONF_UNSET_PTR) (conf) = ((prev) == BW_CONF_UNSET_PTR) ? (def) : (prev); } while (0)
#define bw_conf_merge_str(conf, prev, def) \
    do { if ((conf).data == NULL) { if ((prev).data) (conf) = (prev); \
         else { (conf).len = sizeof(def) - 1; (conf).data = (u_char *) (def); } } } while (0)

#endif
