/*
 * script.c -- complex values: compiling "$scheme://$host$uri" into literal,
 * variable and capture operations at configuration time, and evaluating
 * them per request with one allocation.
 *
 * Evaluation reads each operation's value once (a first pass that also sums
 * the lengths), then copies: a variable whose evaluation has side effects
 * (a map running a regex changes $1) cannot make the two passes disagree.
 */
#include "script.h"

#include "pool.h"

/* Operations kept on the stack during evaluation; longer values use the pool. */
#define BW_HTTP_SCRIPT_STACK_OPS 16

static bool
bw_http_script_name_char(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_';
}

size_t
bw_http_script_variables_count(const bw_str_t *text)
{
    size_t n = 0;
    for (size_t i = 0; i < text->len; i++) {
        n += text->data[i] == '$';
    }
    return n;
}

/* Appends a literal operation for [p, p+n) when n > 0. */
static void
bw_http_script_add_literal(bw_http_complex_value_t *cv, u_char *p, size_t n)
{
    if (n == 0) {
        return;
    }
    bw_http_script_op_t *op = &cv->ops[cv->nops++];
    op->type = BW_HTTP_SCRIPT_LITERAL;
    op->text.data = p;
    op->text.len = n;
}

/*
 * Reads the variable reference after a '$' at text[*i] (pointing past the
 * '$') and appends its operation. BW_OK or BW_ERROR after reporting.
 */
static bw_rc_t
bw_http_script_add_reference(bw_conf_t *cf, bw_http_complex_value_t *cv, const bw_str_t *text,
                             size_t *i)
{
    u_char  *p = text->data;
    size_t   len = text->len, k = *i;
    bool     bracket = false;
    bw_str_t name;

    if (k < len && p[k] >= '1' && p[k] <= '9') {
        bw_http_script_op_t *op = &cv->ops[cv->nops++];
        op->type = BW_HTTP_SCRIPT_CAPTURE;
        op->index = (bw_uint_t) (p[k] - '0');
        op->text.data = p + k - 1;
        op->text.len = 2;
        cv->captures = true;
        *i = k + 1;
        return BW_OK;
    }
    if (k < len && p[k] == '{') {
        bracket = true;
        k++;
    }
    name.data = p + k;
    while (k < len && bw_http_script_name_char(p[k])) {
        k++;
    }
    name.len = (size_t) (p + k - name.data);
    if (bracket) {
        if (k < len && p[k] == '}' && name.len > 0) {
            k++;
        } else if (name.len == 0 && (k == len || p[k] == '}')) {
            bw_conf_error(cf, "invalid variable name");
            return BW_ERROR;
        } else {
            bw_conf_error(cf, "the closing bracket in \"%.*s\" variable is missing",
                          BW_STR_ARG(name));
            return BW_ERROR;
        }
    } else if (name.len == 0) {
        bw_conf_error(cf, "invalid variable name");
        return BW_ERROR;
    }
    bw_int_t index = bw_http_get_variable_index(cf, &name);
    if (index < 0) {
        return BW_ERROR;
    }
    bw_http_script_op_t *op = &cv->ops[cv->nops++];
    op->type = BW_HTTP_SCRIPT_VARIABLE;
    op->index = (bw_uint_t) index;
    op->text = name;
    *i = k;
    return BW_OK;
}

bw_rc_t
bw_http_compile_complex_value(bw_conf_t *cf, const bw_str_t *text, bw_http_complex_value_t **cvp)
{
    bw_http_complex_value_t *cv = bw_pcalloc(cf->pool, sizeof(bw_http_complex_value_t));
    size_t                   nvars = bw_http_script_variables_count(text);

    if (cv == NULL) {
        bw_conf_error(cf, "not enough memory for a value");
        return BW_ERROR;
    }
    cv->value = *text;
    *cvp = cv;
    if (nvars == 0) {
        cv->plain = true;
        return BW_OK;
    }
    cv->ops = bw_palloc(cf->pool, (2 * nvars + 1) * sizeof(bw_http_script_op_t));
    if (cv->ops == NULL) {
        bw_conf_error(cf, "not enough memory for a value");
        return BW_ERROR;
    }
    size_t i = 0, literal = 0;
    while (i < text->len) {
        if (text->data[i] != '$') {
            i++;
            continue;
        }
        bw_http_script_add_literal(cv, text->data + literal, i - literal);
        i++;
        if (bw_http_script_add_reference(cf, cv, text, &i) != BW_OK) {
            return BW_ERROR;
        }
        literal = i;
    }
    bw_http_script_add_literal(cv, text->data + literal, i - literal);
    return BW_OK;
}

/* ---- evaluation ---- */

/* Forgets cached NOCACHEABLE values the value reads, so this call sees fresh ones. */
static void
bw_http_script_flush(bw_http_request_t *r, const bw_http_complex_value_t *cv)
{
    bw_http_variable_value_t *values = r->variables;

    if (values == NULL) {
        return;
    }
    for (size_t i = 0; i < cv->nops; i++) {
        const bw_http_script_op_t *op = &cv->ops[i];
        if (op->type == BW_HTTP_SCRIPT_VARIABLE && values[op->index].no_cacheable) {
            values[op->index].valid = 0;
            values[op->index].not_found = 0;
        }
    }
}

/* The value of one operation (empty when the variable or capture has none). */
static void
bw_http_script_op_value(bw_http_request_t *r, const bw_http_script_op_t *op, bw_str_t *out)
{
    bw_http_variable_value_t *v;

    switch (op->type) {
    case BW_HTTP_SCRIPT_LITERAL:
        *out = op->text;
        return;
    case BW_HTTP_SCRIPT_CAPTURE:
        bw_http_capture(r, op->index, out);
        return;
    case BW_HTTP_SCRIPT_VARIABLE:
        v = bw_http_get_indexed_variable(r, op->index);
        if (v == NULL || v->not_found) {
            out->data = NULL;
            out->len = 0;
        } else {
            out->data = v->data;
            out->len = v->len;
        }
        return;
    }
}

bw_rc_t
bw_http_complex_value_flags(bw_http_request_t *r, bw_http_complex_value_t *cv, unsigned flags,
                            bw_str_t *out)
{
    bw_str_t  stack[BW_HTTP_SCRIPT_STACK_OPS];
    bw_str_t *parts = stack;
    size_t    len = 0;
    bool      escape = (flags & BW_HTTP_SCRIPT_ESCAPE_CAPTURES) != 0;

    if (cv->plain) {
        *out = cv->value;
        return BW_OK;
    }
    if (cv->nops > BW_HTTP_SCRIPT_STACK_OPS) {
        parts = bw_palloc(r->pool, cv->nops * sizeof(bw_str_t));
        if (parts == NULL) {
            return BW_ERROR;
        }
    }
    bw_http_script_flush(r, cv);
    for (size_t i = 0; i < cv->nops; i++) {
        bw_http_script_op_value(r, &cv->ops[i], &parts[i]);
        if (escape && cv->ops[i].type == BW_HTTP_SCRIPT_CAPTURE) {
            len += bw_http_escape_args(NULL, parts[i].data, parts[i].len);
        } else {
            len += parts[i].len;
        }
    }
    u_char *p = bw_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    out->data = p;
    out->len = len;
    for (size_t i = 0; i < cv->nops; i++) {
        if (escape && cv->ops[i].type == BW_HTTP_SCRIPT_CAPTURE) {
            p += bw_http_escape_args(p, parts[i].data, parts[i].len);
        } else if (parts[i].len) {
            memcpy(p, parts[i].data, parts[i].len);
            p += parts[i].len;
        }
    }
    return BW_OK;
}

bw_rc_t
bw_http_complex_value(bw_http_request_t *r, bw_http_complex_value_t *cv, bw_str_t *out)
{
    return bw_http_complex_value_flags(r, cv, 0, out);
}

/* Bytes that URI-argument escaping turns into %XX (see script.h). */
static bool
bw_http_escape_args_needed(u_char c)
{
    if (c <= 0x20 || c >= 0x7f) {
        return true;
    }
    switch (c) {
    case '"':
    case '#':
    case '%':
    case '&':
    case '+':
    case ';':
    case '<':
    case '>':
    case '?':
    case '\\':
    case '^':
    case '`':
    case '{':
    case '|':
    case '}':
        return true;
    default:
        return false;
    }
}

size_t
bw_http_escape_args(u_char *dst, const u_char *src, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t            n = 0;

    for (size_t i = 0; i < len; i++) {
        u_char c = src[i];
        if (!bw_http_escape_args_needed(c)) {
            if (dst) {
                dst[n] = c;
            }
            n++;
            continue;
        }
        if (dst) {
            dst[n] = '%';
            dst[n + 1] = (u_char) hex[c >> 4];
            dst[n + 2] = (u_char) hex[c & 0xf];
        }
        n += 3;
    }
    return n;
}
