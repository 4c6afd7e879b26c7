/*
 * script.h -- complex values: strings with $variables and $1..$9 captures
 * ("$scheme://$host$uri"), compiled once at configuration time into a short
 * list of operations and evaluated per request in one allocation (a length
 * pass, then a copy pass).
 *
 * Syntax (nginx's): "$name" where name is [A-Za-z0-9_]+; "${name}" to
 * separate a name from following name characters; "$1".."$9" (one digit,
 * not braced) for the captures of the last regex match. A '$' not followed
 * by a name is an error.
 */
#ifndef BW_HTTP_SCRIPT_H
#define BW_HTTP_SCRIPT_H

#include "variables.h"

typedef enum {
    BW_HTTP_SCRIPT_LITERAL = 0, /* text */
    BW_HTTP_SCRIPT_VARIABLE,    /* index: indexed variable */
    BW_HTTP_SCRIPT_CAPTURE,     /* index: capture number 1..9 */
} bw_http_script_op_type_t;

typedef struct {
    bw_http_script_op_type_t type;
    bw_uint_t                index;
    bw_str_t                 text; /* literal bytes; the variable name for VARIABLE */
} bw_http_script_op_t;

typedef struct bw_http_complex_value_s {
    bw_str_t             value;    /* the text as written (the result when plain) */
    bw_http_script_op_t *ops;
    size_t               nops;
    bool                 plain;    /* no variable and no capture */
    bool                 captures; /* uses $1..$9 */
} bw_http_complex_value_t;

/* Evaluation flags. */
#define BW_HTTP_SCRIPT_ESCAPE_CAPTURES 0x01 /* escape captures as URI arguments */

/* ---- configuration time ---- */

/*
 * Compiles `text` (the bytes are kept, not copied: config strings live in the
 * cycle pool) into *cv, allocated in cf->pool. Variable names are resolved to
 * indexes (checked by init_vars later). Errors are reported with
 * bw_conf_error() as nginx words them: `invalid variable name`,
 * `the closing bracket in "name" variable is missing`. BW_OK or BW_ERROR.
 */
bw_rc_t bw_http_compile_complex_value(bw_conf_t *cf, const bw_str_t *text,
                                      bw_http_complex_value_t **cv);

/* Number of '$' in text: 0 means the text is a plain string. */
size_t bw_http_script_variables_count(const bw_str_t *text);

/* ---- request time ---- */

/*
 * Evaluates cv for r into *out: the text itself when plain, else a new
 * string in r->pool. NOCACHEABLE variables are computed afresh once per
 * call. Variables without a value and missing captures count as empty.
 * BW_OK, or BW_ERROR on no memory or a failed variable (logged).
 */
bw_rc_t bw_http_complex_value(bw_http_request_t *r, bw_http_complex_value_t *cv,
                              bw_str_t *out);

/* As bw_http_complex_value() with BW_HTTP_SCRIPT_* flags. */
bw_rc_t bw_http_complex_value_flags(bw_http_request_t *r, bw_http_complex_value_t *cv,
                                    unsigned flags, bw_str_t *out);

/*
 * Escapes [src, src+len) for use in URI arguments, as nginx escapes captures
 * that go into arguments: controls, space, '"', '#', '%', '&', '+', ';',
 * '<', '>', '?', '\\', '^', '`', '{', '|', '}' and bytes >= 0x7f become %XX.
 * Writes into dst when it is not NULL (room for the returned length).
 * Returns the escaped length.
 */
size_t bw_http_escape_args(u_char *dst, const u_char *src, size_t len);

#endif
