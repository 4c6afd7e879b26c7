/*
 * rewrite.c -- the rewrite module: `rewrite`, `return`, `set`, `if`,
 * `break`, `rewrite_log` and `uninitialized_variable_warn`.
 *
 * The directives of one level (a server, or a location) are compiled into
 * one list of operations that a small interpreter runs in the server-rewrite
 * phase (server level) or the rewrite phase (location level). The body of an
 * `if` is compiled into the same list, after an IF operation that jumps past
 * it when the condition is false. An `if` in a location also gets its own
 * configuration of every module, inherited from the location (it is recorded
 * as a nameless child location, so the http core merges it); when the
 * condition holds, the request switches to it, as nginx does.
 */
#include "conf.h"
#include "core_module.h"
#include "pool.h"
#include "regex.h"
#include "request.h"
#include "script.h"
#include "variables.h"

#include <errno.h>
#include <sys/stat.h>

extern bw_module_t bw_rewrite_module;

typedef enum {
    BW_REWRITE_OP_REGEX = 0, /* rewrite regex replacement [flag] */
    BW_REWRITE_OP_RETURN,
    BW_REWRITE_OP_SET,
    BW_REWRITE_OP_IF,
    BW_REWRITE_OP_BREAK,
} bw_rewrite_op_kind_t;

typedef enum {
    BW_REWRITE_FLAG_NONE = 0,
    BW_REWRITE_FLAG_LAST,
    BW_REWRITE_FLAG_BREAK,
} bw_rewrite_flag_t;

typedef struct {
    bw_regex_t              *regex;
    bw_http_complex_value_t *uri;    /* the replacement up to its first '?' */
    bw_http_complex_value_t *args;   /* after the '?', or NULL when there is none */
    bw_uint_t                status; /* 301/302 for a redirect, else 0 */
    bw_rewrite_flag_t        flag;
    bool                     add_args; /* the replacement did not end with '?' */
} bw_rewrite_regex_t;

typedef enum {
    BW_REWRITE_COND_VAR = 0, /* ($var) */
    BW_REWRITE_COND_EQ,      /* ($var = value), negated for != */
    BW_REWRITE_COND_REGEX,   /* ($var ~ re), ~*, negated for !~ and !~* */
    BW_REWRITE_COND_FILE,    /* (-f path) -f -d -e -x, negated for !-f ... */
} bw_rewrite_cond_kind_t;

typedef struct {
    bw_rewrite_cond_kind_t   kind;
    bool                     negate;
    u_char                   test;  /* FILE: 'f', 'd', 'e' or 'x' */
    bw_uint_t                index; /* the variable tested */
    bw_http_complex_value_t *value; /* EQ operand, FILE path */
    bw_regex_t              *regex;
} bw_rewrite_cond_t;

typedef struct {
    bw_rewrite_op_kind_t kind;
    union {
        bw_rewrite_regex_t rewrite;
        struct {
            bw_uint_t                status;
            bw_http_complex_value_t *text; /* body or redirect URL; NULL: none */
        } ret;
        struct {
            bw_http_variable_t      *var;
            bw_uint_t                index;
            bw_http_complex_value_t *value;
        } set;
        struct {
            bw_rewrite_cond_t cond;
            size_t            next;     /* first operation after the block */
            void            **loc_conf; /* the if{} configuration; NULL at server level */
        } cond;
    } u;
} bw_rewrite_op_t;

typedef struct {
    bw_array_t *ops;          /* bw_rewrite_op_t; NULL: no directive at this level.
                                 An if{} conf shares its enclosing level's list. */
    bw_int_t    log;          /* rewrite_log */
    bw_int_t    uninit_warn;  /* uninitialized_variable_warn */
} bw_rewrite_loc_conf_t;

/* What running one rewrite operation tells the interpreter. */
#define BW_REWRITE_NEXT 0  /* go on with the next operation */
#define BW_REWRITE_STOP 1  /* stop the list (last, break): the phase goes on */

/* ---- helpers ---- */

static bw_rewrite_loc_conf_t *
bw_rewrite_conf(bw_http_request_t *r)
{
    return bw_http_get_loc_conf(r, bw_rewrite_module);
}

/* Sets r->exten from the last segment of r->uri. */
static void
bw_rewrite_set_exten(bw_http_request_t *r)
{
    r->exten.len = 0;
    r->exten.data = NULL;
    for (size_t i = r->uri.len; i > 0; i--) {
        u_char c = r->uri.data[i - 1];
        if (c == '/') {
            return;
        }
        if (c == '.') {
            r->exten.data = r->uri.data + i;
            r->exten.len = r->uri.len - i;
            return;
        }
    }
}

static int
bw_rewrite_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = bw_tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/*
 * Decodes %XX in a redirect target in place, as nginx does before sending
 * it: only bytes between '%' and DEL (exclusive) are decoded, and nothing
 * after the first '?' (literal or decoded).
 */
static void
bw_rewrite_unescape_redirect(bw_str_t *s)
{
    u_char *src = s->data, *dst = s->data, *end = s->data + s->len;

    while (src < end) {
        u_char c = *src;
        if (c == '%' && end - src >= 3 && bw_rewrite_hex(src[1]) >= 0
            && bw_rewrite_hex(src[2]) >= 0) {
            u_char d = (u_char) (bw_rewrite_hex(src[1]) * 16 + bw_rewrite_hex(src[2]));
            if (d > '%' && d < 0x7f) {
                c = d;
                src += 2;
            }
        }
        *dst++ = c;
        src++;
        if (c == '?') {
            break;
        }
    }
    if (src < end) {
        memmove(dst, src, (size_t) (end - src));
        dst += end - src;
    }
    s->len = (size_t) (dst - s->data);
}

/* "a" + sep + "b" in the request pool. */
static bw_rc_t
bw_rewrite_join(bw_http_request_t *r, const bw_str_t *a, u_char sep, const bw_str_t *b,
                bw_str_t *out)
{
    u_char *p = bw_pnalloc(r->pool, a->len + 1 + b->len);
    if (p == NULL) {
        return BW_ERROR;
    }
    if (a->len) {
        memcpy(p, a->data, a->len);
    }
    p[a->len] = sep;
    if (b->len) {
        memcpy(p + a->len + 1, b->data, b->len);
    }
    out->data = p;
    out->len = a->len + 1 + b->len;
    return BW_OK;
}

/* Replaces the Location header of the response. */
static bw_rc_t
bw_rewrite_set_location(bw_http_request_t *r, const bw_str_t *value)
{
    static const bw_str_t key = bw_string("Location");

    if (r->headers_out.location != NULL) {
        r->headers_out.location->hash = 0;
        r->headers_out.location = NULL;
    }
    bw_http_header_t *h = bw_http_add_header_out(r, &key, value);
    if (h == NULL) {
        return BW_ERROR;
    }
    r->headers_out.location = h;
    return BW_OK;
}

/* ---- rewrite ---- */

/* Runs the regex of `rewrite` or `if` on subject, logging the result when asked. */
static bw_rc_t
bw_rewrite_match(bw_http_request_t *r, bw_rewrite_loc_conf_t *rlcf, bw_regex_t *re,
                 const bw_str_t *subject)
{
    bw_rc_t rc = bw_regex_exec_request(r, re, subject);

    if (rc == BW_DECLINED) {
        r->ncaptures = 0; /* nginx forgets the previous captures after a failed test */
    }
    if (rlcf->log && rc != BW_ERROR) {
        bw_log_error(BW_LOG_NOTICE, r->connection->log, 0, "\"%.*s\" %s \"%.*s\"",
                     BW_STR_ARG(re->pattern), rc == BW_OK ? "matches" : "does not match",
                     BW_STR_ARG(*subject));
    }
    return rc;
}

/* The redirect of a matching `rewrite`: sets Location, returns 301/302. */
static bw_int_t
bw_rewrite_redirect(bw_http_request_t *r, bw_rewrite_loc_conf_t *rlcf,
                    const bw_rewrite_regex_t *rw)
{
    unsigned flags = (r->quoted_uri || r->plus_in_uri) ? BW_HTTP_SCRIPT_ESCAPE_CAPTURES : 0;
    bw_str_t url, args;

    if (bw_http_complex_value_flags(r, rw->uri, flags, &url) != BW_OK) {
        return BW_ERROR;
    }
    if (rw->args != NULL) {
        if (bw_http_complex_value_flags(r, rw->args, flags, &args) != BW_OK
            || bw_rewrite_join(r, &url, '?', &args, &url) != BW_OK) {
            return BW_ERROR;
        }
    } else if (rw->uri->plain) {
        /* unescaping works in place: never on configuration memory */
        bw_str_t copy;
        if (bw_pstrcopy(r->pool, &copy, &url) != BW_OK) {
            return BW_ERROR;
        }
        url = copy;
    }
    bw_rewrite_unescape_redirect(&url);
    if (rw->add_args && r->args.len
        && bw_rewrite_join(r, &url, rw->args ? '&' : '?', &r->args, &url) != BW_OK) {
        return BW_ERROR;
    }
    if (rlcf->log) {
        bw_log_error(BW_LOG_NOTICE, r->connection->log, 0, "rewritten redirect: \"%.*s\"",
                     BW_STR_ARG(url));
    }
    if (bw_rewrite_set_location(r, &url) != BW_OK) {
        return BW_ERROR;
    }
    return (bw_int_t) rw->status;
}

/* The new URI and arguments of a matching internal `rewrite`. */
static bw_int_t
bw_rewrite_internal(bw_http_request_t *r, bw_rewrite_loc_conf_t *rlcf,
                    const bw_rewrite_regex_t *rw)
{
    unsigned flags = (r->quoted_uri || r->plus_in_uri) ? BW_HTTP_SCRIPT_ESCAPE_CAPTURES : 0;
    bw_str_t uri, args = r->args;

    if (bw_http_complex_value(r, rw->uri, &uri) != BW_OK) {
        return BW_ERROR;
    }
    if (rw->args != NULL) {
        if (bw_http_complex_value_flags(r, rw->args, flags, &args) != BW_OK) {
            return BW_ERROR;
        }
        if (rw->add_args && r->args.len
            && bw_rewrite_join(r, &args, '&', &r->args, &args) != BW_OK) {
            return BW_ERROR;
        }
    } else if (!rw->add_args) {
        args.len = 0;
    }
    if (rlcf->log) {
        bw_log_error(BW_LOG_NOTICE, r->connection->log, 0,
                     "rewritten data: \"%.*s\", args: \"%.*s\"", BW_STR_ARG(uri),
                     BW_STR_ARG(args));
    }
    if (uri.len == 0) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "the rewritten URI has a zero length");
        return 500;
    }
    r->uri = uri;
    r->args = args;
    r->internal = 1;
    bw_rewrite_set_exten(r);
    if (rw->flag == BW_REWRITE_FLAG_BREAK) {
        r->valid_location = 0;
        r->uri_changed = 0;
        return BW_REWRITE_STOP;
    }
    r->uri_changed = 1;
    return rw->flag == BW_REWRITE_FLAG_LAST ? BW_REWRITE_STOP : BW_REWRITE_NEXT;
}

static bw_int_t
bw_rewrite_run_regex(bw_http_request_t *r, bw_rewrite_loc_conf_t *rlcf,
                     const bw_rewrite_regex_t *rw)
{
    bw_str_t subject = r->uri;
    bw_rc_t  rc = bw_rewrite_match(r, rlcf, rw->regex, &subject);

    if (rc == BW_DECLINED) {
        return BW_REWRITE_NEXT;
    }
    if (rc != BW_OK) {
        return BW_ERROR;
    }
    if (rw->status) {
        return bw_rewrite_redirect(r, rlcf, rw);
    }
    return bw_rewrite_internal(r, rlcf, rw);
}

/* ---- return ---- */

static bool
bw_rewrite_is_redirect(bw_uint_t status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Sends `status` with `text` as the body (nginx's send_response). */
static bw_int_t
bw_rewrite_send_response(bw_http_request_t *r, bw_uint_t status, bw_http_complex_value_t *text)
{
    bw_str_t    body = { 0, NULL };
    bw_buf_t   *b;
    bw_chain_t *out;

    if (bw_http_discard_request_body(r) != BW_OK) {
        r->keepalive = 0;
    }
    r->headers_out.status = status;
    if (text != NULL && bw_http_complex_value(r, text, &body) != BW_OK) {
        return BW_ERROR;
    }
    if (bw_http_set_content_type(r) != BW_OK) {
        return BW_ERROR;
    }
    r->headers_out.content_length_n = (off_t) body.len;
    b = bw_buf_calloc(r->pool);
    out = bw_chain_alloc_link(r->pool);
    if (b == NULL || out == NULL) {
        return BW_ERROR;
    }
    b->pos = body.data;
    b->last = body.data + body.len;
    b->memory = body.len ? 1 : 0;
    b->last_buf = r == r->main ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->last_buf || b->memory) ? 0 : 1;
    out->buf = b;
    out->next = NULL;

    bw_rc_t rc = bw_http_send_header(r);
    if (rc == BW_ERROR || rc > BW_OK || r->header_only) {
        return rc;
    }
    return bw_http_output_filter(r, out);
}

static bw_int_t
bw_rewrite_run_return(bw_http_request_t *r, bw_uint_t status, bw_http_complex_value_t *text)
{
    if (bw_rewrite_is_redirect(status)) {
        bw_str_t url = { 0, (u_char *) "" };
        if (text != NULL && bw_http_complex_value(r, text, &url) != BW_OK) {
            return BW_ERROR;
        }
        if (bw_rewrite_set_location(r, &url) != BW_OK) {
            return BW_ERROR;
        }
        return (bw_int_t) status;
    }
    if (status >= 400 && text == NULL) {
        return (bw_int_t) status;
    }
    bw_http_finalize_request(r, bw_rewrite_send_response(r, status, text));
    return BW_DONE;
}

/* ---- set and the uninitialized variables ---- */

/* The value of a `set` variable that no `set` has run for yet. */
static bw_rc_t
bw_rewrite_var_uninit(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const bw_http_variable_t *var = (const bw_http_variable_t *) data;
    bw_rewrite_loc_conf_t    *rlcf = r->loc_conf ? bw_rewrite_conf(r) : NULL;

    if (rlcf != NULL && rlcf->uninit_warn) {
        bw_log_error(BW_LOG_WARN, r->connection->log, 0, "using uninitialized \"%.*s\" variable",
                     BW_STR_ARG(var->name));
    }
    v->not_found = 1;
    return BW_OK;
}

static bw_int_t
bw_rewrite_run_set(bw_http_request_t *r, bw_http_variable_t *var, bw_uint_t index,
                   bw_http_complex_value_t *cv)
{
    bw_str_t value;

    if (bw_http_complex_value(r, cv, &value) != BW_OK) {
        return BW_ERROR;
    }
    if (var->set != NULL) {
        bw_http_variable_value_t v = { .data = value.data, .len = value.len, .valid = 1 };
        var->set(r, &v, var->data);
        return BW_REWRITE_NEXT;
    }
    if (bw_http_set_indexed_variable(r, index, &value) != BW_OK) {
        return BW_ERROR;
    }
    return BW_REWRITE_NEXT;
}

/* ---- if ---- */

/* A file test: -f regular file, -d directory, -e exists, -x executable. */
static bool
bw_rewrite_file_test(bw_http_request_t *r, u_char test, const bw_str_t *path)
{
    struct stat st;
    char       *name = bw_pstrz(r->pool, path);

    if (name == NULL) {
        return false;
    }
    if (bw_http_stat(r, name, &st) == -1) {
        if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG) {
            bw_log_error(BW_LOG_CRIT, r->connection->log, errno, "stat() \"%s\" failed", name);
        }
        return false;
    }
    switch (test) {
    case 'f':
        return S_ISREG(st.st_mode);
    case 'd':
        return S_ISDIR(st.st_mode);
    case 'x':
        return (st.st_mode & S_IXUSR) != 0;
    default:
        return true;
    }
}

/* Evaluates a condition: 1 true, 0 false, BW_ERROR on failure. */
static int
bw_rewrite_cond_eval(bw_http_request_t *r, bw_rewrite_loc_conf_t *rlcf,
                     const bw_rewrite_cond_t *cond)
{
    bw_str_t                  value = { 0, (u_char *) "" }, operand;
    bw_http_variable_value_t *v;
    bool                      result;

    if (cond->kind == BW_REWRITE_COND_FILE) {
        if (bw_http_complex_value(r, cond->value, &operand) != BW_OK) {
            return BW_ERROR;
        }
        return bw_rewrite_file_test(r, cond->test, &operand) != cond->negate;
    }
    v = bw_http_get_flushed_variable(r, cond->index);
    if (v != NULL && !v->not_found) {
        value.data = v->data;
        value.len = v->len;
    }
    switch (cond->kind) {
    case BW_REWRITE_COND_VAR:
        return !(value.len == 0 || (value.len == 1 && value.data[0] == '0'));
    case BW_REWRITE_COND_EQ:
        if (bw_http_complex_value(r, cond->value, &operand) != BW_OK) {
            return BW_ERROR;
        }
        result = bw_str_eq(&value, &operand);
        return result != cond->negate;
    default: {
        bw_rc_t rc = bw_rewrite_match(r, rlcf, cond->regex, &value);
        if (rc == BW_ERROR) {
            return BW_ERROR;
        }
        return (rc == BW_OK) != cond->negate;
    }
    }
}

/* ---- the interpreter ---- */

/* Runs one operation; *next is the index of the one to run after it. */
static bw_int_t
bw_rewrite_step(bw_http_request_t *r, bw_rewrite_loc_conf_t *rlcf, bw_rewrite_op_t *op,
                size_t *next)
{
    int ok;

    switch (op->kind) {
    case BW_REWRITE_OP_REGEX:
        return bw_rewrite_run_regex(r, rlcf, &op->u.rewrite);
    case BW_REWRITE_OP_RETURN:
        return bw_rewrite_run_return(r, op->u.ret.status, op->u.ret.text);
    case BW_REWRITE_OP_SET:
        return bw_rewrite_run_set(r, op->u.set.var, op->u.set.index, op->u.set.value);
    case BW_REWRITE_OP_BREAK:
        if (r->uri_changed) {
            r->valid_location = 0;
            r->uri_changed = 0;
        }
        return BW_REWRITE_STOP;
    case BW_REWRITE_OP_IF:
        ok = bw_rewrite_cond_eval(r, rlcf, &op->u.cond.cond);
        if (ok < 0) {
            return BW_ERROR;
        }
        if (!ok) {
            *next = op->u.cond.next;
        } else if (op->u.cond.loc_conf != NULL) {
            r->loc_conf = op->u.cond.loc_conf;
            bw_http_update_location_config(r);
        }
        return BW_REWRITE_NEXT;
    }
    return BW_ERROR;
}

/*
 * Runs the operation list of the request's current configuration. Returns
 * BW_DECLINED when the list ran to its end or stopped (last, break), else
 * what finishes the request: a status, BW_DONE or BW_ERROR.
 */
static bw_int_t
bw_rewrite_run(bw_http_request_t *r)
{
    bw_rewrite_loc_conf_t *rlcf = bw_rewrite_conf(r);

    if (rlcf == NULL || rlcf->ops == NULL) {
        return BW_DECLINED;
    }
    bw_rewrite_op_t *ops = rlcf->ops->elts;
    size_t           n = rlcf->ops->nelts;

    for (size_t i = 0; i < n;) {
        size_t   next = i + 1;
        bw_int_t rc = bw_rewrite_step(r, rlcf, &ops[i], &next);
        if (rc == BW_REWRITE_STOP) {
            break;
        }
        if (rc != BW_REWRITE_NEXT) {
            return rc == BW_ERROR ? 500 : rc;
        }
        i = next;
    }
    return BW_DECLINED;
}

static bw_int_t
bw_rewrite_server_handler(bw_http_request_t *r)
{
    return bw_rewrite_run(r);
}

static bw_int_t
bw_rewrite_location_handler(bw_http_request_t *r)
{
    bw_http_core_srv_conf_t *cscf = bw_http_core_srv(r);

    /* no location matched: the server level's list already ran */
    if (cscf != NULL && cscf->ctx != NULL && r->loc_conf == cscf->ctx->loc_conf) {
        return BW_DECLINED;
    }
    return bw_rewrite_run(r);
}

/* ---- configuration: shared pieces ---- */

static bw_rewrite_op_t *
bw_rewrite_op_push(bw_conf_t *cf, bw_rewrite_loc_conf_t *rlcf, bw_rewrite_op_kind_t kind)
{
    if (rlcf->ops == NULL) {
        rlcf->ops = bw_array_create(cf->pool, 4, sizeof(bw_rewrite_op_t));
    }
    bw_rewrite_op_t *op = rlcf->ops ? bw_array_push(rlcf->ops) : NULL;
    if (op == NULL) {
        bw_conf_error(cf, "not enough memory for \"%.*s\"",
                      BW_STR_ARG(bw_array_at(cf->args, bw_str_t, 0)));
        return NULL;
    }
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    return op;
}

/* A complex value, or NULL after reporting. */
static bw_http_complex_value_t *
bw_rewrite_value(bw_conf_t *cf, const bw_str_t *text)
{
    bw_http_complex_value_t *cv;
    return bw_http_compile_complex_value(cf, text, &cv) == BW_OK ? cv : NULL;
}

static bool
bw_rewrite_starts(const bw_str_t *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s->len >= n && memcmp(s->data, prefix, n) == 0;
}

/* ---- rewrite regex replacement [flag] ---- */

static const char *
bw_rewrite_flag_parse(bw_conf_t *cf, const bw_str_t *flag, bw_rewrite_regex_t *rw)
{
    if (bw_str_eq_lit(flag, "last")) {
        rw->flag = BW_REWRITE_FLAG_LAST;
    } else if (bw_str_eq_lit(flag, "break")) {
        rw->flag = BW_REWRITE_FLAG_BREAK;
    } else if (bw_str_eq_lit(flag, "redirect")) {
        rw->status = 302;
    } else if (bw_str_eq_lit(flag, "permanent")) {
        rw->status = 301;
    } else {
        bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(*flag));
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

static const char *
bw_rewrite_set_rewrite(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_str_t           *args = cf->args->elts;
    bw_str_t            repl = args[2];
    bw_rewrite_regex_t  rw = { .add_args = true };

    if ((rw.regex = bw_http_regex_compile(cf, &args[1], false)) == NULL) {
        return BW_CONF_ERROR;
    }
    if (repl.len == 0) {
        bw_conf_error(cf, "empty replacement");
        return BW_CONF_ERROR;
    }
    if (cf->args->nelts == 4 && bw_rewrite_flag_parse(cf, &args[3], &rw) != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    if (rw.status == 0 && (bw_rewrite_starts(&repl, "http://")
                           || bw_rewrite_starts(&repl, "https://")
                           || bw_rewrite_starts(&repl, "$scheme"))) {
        rw.status = 302;
    }
    if (repl.data[repl.len - 1] == '?') {
        repl.len--;
        rw.add_args = false;
    }
    u_char  *q = memchr(repl.data, '?', repl.len);
    bw_str_t uri = { q ? (size_t) (q - repl.data) : repl.len, repl.data };
    if ((rw.uri = bw_rewrite_value(cf, &uri)) == NULL) {
        return BW_CONF_ERROR;
    }
    if (q != NULL) {
        bw_str_t rest = { repl.len - uri.len - 1, q + 1 };
        if ((rw.args = bw_rewrite_value(cf, &rest)) == NULL) {
            return BW_CONF_ERROR;
        }
    }
    bw_rewrite_op_t *op = bw_rewrite_op_push(cf, conf, BW_REWRITE_OP_REGEX);
    if (op == NULL) {
        return BW_CONF_ERROR;
    }
    op->u.rewrite = rw;
    return BW_CONF_OK;
}

/* ---- return code [text] | return URL ---- */

static const char *
bw_rewrite_set_return(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_str_t                *args = cf->args->elts;
    bw_uint_t                status;
    bw_http_complex_value_t *text = NULL;

    if (cf->args->nelts == 2
        && (bw_rewrite_starts(&args[1], "http://") || bw_rewrite_starts(&args[1], "https://")
            || bw_rewrite_starts(&args[1], "$scheme"))) {
        status = 302;
        text = bw_rewrite_value(cf, &args[1]);
        if (text == NULL) {
            return BW_CONF_ERROR;
        }
    } else {
        int64_t n = bw_atoi(args[1].data, args[1].len);
        if (n < 0 || n > 999) {
            bw_conf_error(cf, "invalid return code \"%.*s\"", BW_STR_ARG(args[1]));
            return BW_CONF_ERROR;
        }
        status = (bw_uint_t) n;
        if (cf->args->nelts == 3 && (text = bw_rewrite_value(cf, &args[2])) == NULL) {
            return BW_CONF_ERROR;
        }
    }
    bw_rewrite_op_t *op = bw_rewrite_op_push(cf, conf, BW_REWRITE_OP_RETURN);
    if (op == NULL) {
        return BW_CONF_ERROR;
    }
    op->u.ret.status = status;
    op->u.ret.text = text;
    return BW_CONF_OK;
}

/* ---- break ---- */

static const char *
bw_rewrite_set_break(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    return bw_rewrite_op_push(cf, conf, BW_REWRITE_OP_BREAK) ? BW_CONF_OK : BW_CONF_ERROR;
}

/* ---- set $variable value ---- */

/* Names whose unset value comes from a variable family, not a warning. */
static bool
bw_rewrite_family_name(const bw_str_t *name)
{
    static const char *const families[] = {
        "http_", "sent_http_", "sent_trailer_", "cookie_", "arg_",
        "upstream_http_", "upstream_trailer_", "upstream_cookie_", NULL,
    };
    for (size_t i = 0; families[i]; i++) {
        size_t n = strlen(families[i]);
        if (name->len > n && bw_strncasecmp(name->data, (u_char *) families[i], n) == 0) {
            return true;
        }
    }
    return false;
}

static const char *
bw_rewrite_set_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_str_t *args = cf->args->elts;

    if (args[1].len == 0 || args[1].data[0] != '$') {
        bw_conf_error(cf, "invalid variable name \"%.*s\"", BW_STR_ARG(args[1]));
        return BW_CONF_ERROR;
    }
    bw_str_t name = { args[1].len - 1, args[1].data + 1 };
    bw_http_variable_t *v = bw_http_add_variable(cf, &name, BW_HTTP_VAR_CHANGEABLE);
    if (v == NULL) {
        return BW_CONF_ERROR;
    }
    bw_int_t index = bw_http_get_variable_index(cf, &name);
    if (index < 0) {
        return BW_CONF_ERROR;
    }
    if (v->get == NULL && !bw_rewrite_family_name(&name)) {
        v->get = bw_rewrite_var_uninit;
        v->data = (uintptr_t) v;
    }
    bw_http_complex_value_t *value = bw_rewrite_value(cf, &args[2]);
    bw_rewrite_op_t         *op = value ? bw_rewrite_op_push(cf, conf, BW_REWRITE_OP_SET) : NULL;
    if (op == NULL) {
        return BW_CONF_ERROR;
    }
    op->u.set.var = v;
    op->u.set.index = (bw_uint_t) index;
    op->u.set.value = value;
    return BW_CONF_OK;
}

/* ---- if (condition) { ... } ---- */

/*
 * Removes the parentheses around a condition, as nginx reads them: the first
 * word must start with '(' and the last end with ')'; a word left empty by
 * removing them is dropped. Sets *first and *n to the words that remain.
 * BW_CONF_OK, or BW_CONF_ERROR after reporting `invalid condition "<word>"`.
 */
static const char *
bw_rewrite_cond_words(bw_conf_t *cf, bw_str_t *w, size_t *first, size_t *n)
{
    size_t i = 0, count = *n;

    if (w[0].len == 0 || w[0].data[0] != '(') {
        bw_conf_error(cf, "invalid condition \"%.*s\"", BW_STR_ARG(w[0]));
        return BW_CONF_ERROR;
    }
    w[0].data++;
    w[0].len--;
    if (w[0].len == 0 && count > 1) {
        i++;
        count--;
    }
    bw_str_t *last = &w[i + count - 1];
    if (last->len == 0 || last->data[last->len - 1] != ')') {
        bw_conf_error(cf, "invalid condition \"%.*s\"", BW_STR_ARG(w[i]));
        return BW_CONF_ERROR;
    }
    bw_str_t shown = w[i];
    last->len--;
    if (last->len == 0) {
        count--;
    }
    if (count == 0) {
        bw_conf_error(cf, "invalid condition \"%.*s\"", BW_STR_ARG(shown));
        return BW_CONF_ERROR;
    }
    *first = i;
    *n = count;
    return BW_CONF_OK;
}

/* A file test word ("-f", "!-d", ...): sets test and negate; false when it is none. */
static bool
bw_rewrite_cond_file_op(const bw_str_t *w, bw_rewrite_cond_t *cond)
{
    const u_char *p = w->data;
    size_t        n = w->len;

    if (n == 3 && p[0] == '!') {
        cond->negate = true;
        p++;
        n--;
    }
    if (n != 2 || p[0] != '-' || !strchr("fdex", p[1])) {
        cond->negate = false;
        return false;
    }
    cond->test = p[1];
    return true;
}

/* Parses "$var OP operand" (3 words). */
static const char *
bw_rewrite_cond_compare(bw_conf_t *cf, bw_str_t *w, bw_rewrite_cond_t *cond)
{
    const bw_str_t *op = &w[1];

    if (bw_str_eq_lit(op, "=") || bw_str_eq_lit(op, "!=")) {
        cond->kind = BW_REWRITE_COND_EQ;
        cond->negate = op->len == 2;
        cond->value = bw_rewrite_value(cf, &w[2]);
        return cond->value ? BW_CONF_OK : BW_CONF_ERROR;
    }
    if (bw_str_eq_lit(op, "~") || bw_str_eq_lit(op, "~*") || bw_str_eq_lit(op, "!~")
        || bw_str_eq_lit(op, "!~*")) {
        cond->kind = BW_REWRITE_COND_REGEX;
        cond->negate = op->data[0] == '!';
        cond->regex = bw_http_regex_compile(cf, &w[2], op->data[op->len - 1] == '*');
        return cond->regex ? BW_CONF_OK : BW_CONF_ERROR;
    }
    bw_conf_error(cf, "unexpected \"%.*s\" in condition", BW_STR_ARG(*op));
    return BW_CONF_ERROR;
}

static const char *
bw_rewrite_cond_parse(bw_conf_t *cf, bw_rewrite_cond_t *cond)
{
    bw_str_t words[BW_CONF_MAX_ARGS];
    size_t   n = cf->args->nelts - 1, i;

    memcpy(words, (bw_str_t *) cf->args->elts + 1, n * sizeof(bw_str_t));
    if (bw_rewrite_cond_words(cf, words, &i, &n) != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    bw_str_t *w = words + i;
    if (w[0].len > 1 && w[0].data[0] == '$' && (n == 1 || n == 3)) {
        bw_str_t name = { w[0].len - 1, w[0].data + 1 };
        bw_int_t index = bw_http_get_variable_index(cf, &name);
        if (index < 0) {
            return BW_CONF_ERROR;
        }
        cond->index = (bw_uint_t) index;
        cond->kind = BW_REWRITE_COND_VAR;
        return n == 1 ? BW_CONF_OK : bw_rewrite_cond_compare(cf, w, cond);
    }
    if (n == 2 && bw_rewrite_cond_file_op(&w[0], cond)) {
        cond->kind = BW_REWRITE_COND_FILE;
        cond->value = bw_rewrite_value(cf, &w[1]);
        return cond->value ? BW_CONF_OK : BW_CONF_ERROR;
    }
    bw_conf_error(cf, "invalid condition \"%.*s\"", BW_STR_ARG(w[0]));
    return BW_CONF_ERROR;
}

/*
 * if (condition) { ... }: the http core creates the block's configuration of
 * every module (merged with the enclosing level's like a nested location,
 * never selected by the location search); its body's rewrite directives go
 * into the enclosing level's operation list, after the IF operation.
 */
static const char *
bw_rewrite_set_if(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_rewrite_loc_conf_t *rlcf = conf;
    bw_rewrite_cond_t      cond = { 0 };
    bool                   in_location = (cf->ctx_type & BW_CTX_LOC) != 0;

    if (bw_rewrite_cond_parse(cf, &cond) != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    bw_rewrite_op_t *op = bw_rewrite_op_push(cf, rlcf, BW_REWRITE_OP_IF);
    if (op == NULL) {
        return BW_CONF_ERROR;
    }
    bw_conf_ctx_t *ctx = bw_http_core_if_ctx_create(cf);
    if (ctx == NULL) {
        bw_conf_error(cf, "not enough memory for \"if\"");
        return BW_CONF_ERROR;
    }
    size_t at = rlcf->ops->nelts - 1;
    op->u.cond.cond = cond;
    op->u.cond.loc_conf = in_location ? ctx->loc_conf : NULL;

    bw_rewrite_loc_conf_t *if_rlcf = ctx->loc_conf[bw_rewrite_module.index];
    if_rlcf->ops = rlcf->ops;

    const char *rv = bw_http_core_block_parse(cf, ctx, in_location ? BW_CTX_LIF : BW_CTX_SIF);
    bw_array_at(rlcf->ops, bw_rewrite_op_t, at).u.cond.next = rlcf->ops->nelts;
    return rv;
}

/* ---- module ---- */

static void *
bw_rewrite_create_loc(bw_conf_t *cf)
{
    bw_rewrite_loc_conf_t *rlcf = bw_pcalloc(cf->pool, sizeof(bw_rewrite_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }
    rlcf->log = BW_CONF_UNSET;
    rlcf->uninit_warn = BW_CONF_UNSET;
    return rlcf;
}

/* The operation lists are not inherited: each level runs only its own. */
static const char *
bw_rewrite_merge_loc(bw_conf_t *cf, void *parent, void *child)
{
    bw_rewrite_loc_conf_t *prev = parent, *conf = child;

    bw_conf_merge_value(conf->log, prev->log, 0);
    bw_conf_merge_value(conf->uninit_warn, prev->uninit_warn, 1);
    return BW_CONF_OK;
}

#define BW_REWRITE_CTX (BW_CTX_SRV | BW_CTX_SIF | BW_CTX_LOC | BW_CTX_LIF)

static const bw_directive_t bw_rewrite_directives[] = {
    { "rewrite", BW_REWRITE_CTX, BW_ARGS_TAKE23, BW_CONF_LOC, bw_rewrite_set_rewrite, 0, NULL },
    { "return", BW_REWRITE_CTX, BW_ARGS_TAKE12, BW_CONF_LOC, bw_rewrite_set_return, 0, NULL },
    { "break", BW_REWRITE_CTX, BW_ARGS_NOARGS, BW_CONF_LOC, bw_rewrite_set_break, 0, NULL },
    { "if", BW_CTX_SRV | BW_CTX_LOC, BW_ARGS_BLOCK | BW_ARGS_1MORE, BW_CONF_LOC,
      bw_rewrite_set_if, 0, NULL },
    { "set", BW_REWRITE_CTX, BW_ARGS_TAKE2, BW_CONF_LOC, bw_rewrite_set_set, 0, NULL },
    { "rewrite_log", BW_CTX_HTTP | BW_REWRITE_CTX, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
      offsetof(bw_rewrite_loc_conf_t, log), NULL },
    { "uninitialized_variable_warn", BW_CTX_HTTP | BW_REWRITE_CTX, BW_ARGS_FLAG, BW_CONF_LOC,
      bw_conf_set_flag, offsetof(bw_rewrite_loc_conf_t, uninit_warn), NULL },
    BW_DIRECTIVES_END,
};

static const bw_http_phase_hook_t bw_rewrite_phases[] = {
    { BW_HTTP_SERVER_REWRITE_PHASE, bw_rewrite_server_handler },
    { BW_HTTP_REWRITE_PHASE, bw_rewrite_location_handler },
    { 0, NULL },
};

static const bw_http_module_t bw_rewrite_module_ctx = {
    .create_loc = bw_rewrite_create_loc,
    .merge_loc = bw_rewrite_merge_loc,
    .phases = bw_rewrite_phases,
};

bw_module_t bw_rewrite_module = {
    .name = "rewrite",
    .type = BW_MODULE_HTTP,
    .directives = bw_rewrite_directives,
    .ctx = &bw_rewrite_module_ctx,
};
