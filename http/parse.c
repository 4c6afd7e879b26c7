/*
 * parse.c -- the HTTP/1.1 request parser: the request line and header field
 * lines, with the byte-class tables the parser files share, and the error
 * codes' statuses and messages. See parse.h for the contract and the
 * strictness rules; the chunked decoder is in parse_chunked.c, URI
 * normalisation in parse_uri.c, the Host / Content-Length /
 * Transfer-Encoding value checks in parse_value.c.
 *
 * Every parser is a switch over states, one byte at a time, with tight inner
 * loops over lookup tables for the long runs (path, header name and value).
 * Nothing is allocated or copied; results point into the caller's buffer.
 */
#include "parse_bytes.h"

#include <stddef.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- byte classes ---- */

/* Request-target bytes. PLAIN..QUERY are ordinary inside a query. */
enum {
    BW_URI_BAD = 0, /* controls, DEL, NUL */
    BW_URI_PLAIN,
    BW_URI_SLASH,
    BW_URI_DOT,
    BW_URI_PCT,
    BW_URI_PLUS,
    BW_URI_QUERY,
    BW_URI_HASH,
    BW_URI_SP,
    BW_URI_CR,
    BW_URI_LF,
};

static const uint8_t bw_http_uri_class[256] = {
    ['\n'] = BW_URI_LF,
    ['\r'] = BW_URI_CR,
    [' '] = BW_URI_SP,
    ['!'] = BW_URI_PLAIN,
    ['"'] = BW_URI_PLAIN,
    ['#'] = BW_URI_HASH,
    ['$'] = BW_URI_PLAIN,
    ['%'] = BW_URI_PCT,
    ['&' ... '*'] = BW_URI_PLAIN,
    ['+'] = BW_URI_PLUS,
    [','] = BW_URI_PLAIN,
    ['-'] = BW_URI_PLAIN,
    ['.'] = BW_URI_DOT,
    ['/'] = BW_URI_SLASH,
    ['0' ... '>'] = BW_URI_PLAIN,
    ['?'] = BW_URI_QUERY,
    ['@' ... '~'] = BW_URI_PLAIN,
    [0x80 ... 0xff] = BW_URI_PLAIN,
};

/* Header-name bytes: the classes are in parse_bytes.h. */
const uint8_t bw_http_name_class[256] = {
    ['!'] = BW_NAME_TCHAR,
    ['"'] = BW_NAME_OTHER,
    ['#' ... '\''] = BW_NAME_TCHAR,
    ['(' ... ')'] = BW_NAME_OTHER,
    ['*' ... '+'] = BW_NAME_TCHAR,
    [','] = BW_NAME_OTHER,
    ['-'] = BW_NAME_ALNUM,
    ['.'] = BW_NAME_TCHAR,
    ['/'] = BW_NAME_OTHER,
    ['0' ... '9'] = BW_NAME_ALNUM,
    [':'] = BW_NAME_COLON,
    [';' ... '@'] = BW_NAME_OTHER,
    ['A' ... 'Z'] = BW_NAME_ALNUM,
    ['[' ... ']'] = BW_NAME_OTHER,
    ['^'] = BW_NAME_TCHAR,
    ['_'] = BW_NAME_UNDERSCORE,
    ['`'] = BW_NAME_TCHAR,
    ['a' ... 'z'] = BW_NAME_ALNUM,
    ['{'] = BW_NAME_OTHER,
    ['|'] = BW_NAME_TCHAR,
    ['}'] = BW_NAME_OTHER,
    ['~'] = BW_NAME_TCHAR,
    [0x80 ... 0xff] = BW_NAME_OTHER,
};

/* Field-value bytes: the classes are in parse_bytes.h. */
const uint8_t bw_http_value_class[256] = {
    ['\t'] = BW_VALUE_WS,
    ['\n'] = BW_VALUE_LF,
    ['\r'] = BW_VALUE_CR,
    [' '] = BW_VALUE_WS,
    ['!' ... '~'] = BW_VALUE_CHAR,
    [0x80 ... 0xff] = BW_VALUE_CHAR,
};

/* Moves every non-NULL pointer listed in offs by (new_base - old_base). */
static void
bw_http_parse_rebase_ptrs(void *obj, const size_t *offs, size_t n, const u_char *old_base,
                          u_char *new_base)
{
    uintptr_t delta = (uintptr_t) new_base - (uintptr_t) old_base;

    for (size_t i = 0; i < n; i++) {
        u_char **pp = (u_char **) ((char *) obj + offs[i]);
        if (*pp != NULL) {
            *pp = (u_char *) ((uintptr_t) *pp + delta);
        }
    }
}

/* ---- request line ---- */

enum {
    BW_RL_START = 0,
    BW_RL_START_LF, /* CR of an empty line before the request line */
    BW_RL_METHOD,
    BW_RL_TARGET,
    BW_RL_ASTERISK,
    BW_RL_SCHEMA,
    BW_RL_SCHEMA_SLASH,
    BW_RL_SCHEMA_SLASH_SLASH,
    BW_RL_HOST_START,
    BW_RL_HOST,
    BW_RL_HOST_IP6,
    BW_RL_HOST_END, /* after the ']' of an IPv6 literal */
    BW_RL_PORT,
    BW_RL_SLASH,   /* after '/' in the path */
    BW_RL_DOT,     /* after "/." */
    BW_RL_DOT_DOT, /* after "/.." */
    BW_RL_PATH,
    BW_RL_ARGS,
    BW_RL_FRAGMENT,
    BW_RL_VERSION_H, /* the five states expect the bytes of "HTTP/" in turn */
    BW_RL_VERSION_HT,
    BW_RL_VERSION_HTT,
    BW_RL_VERSION_HTTP,
    BW_RL_VERSION_SLASH,
    BW_RL_MAJOR_FIRST,
    BW_RL_MAJOR,
    BW_RL_MINOR_FIRST,
    BW_RL_MINOR,
    BW_RL_VERSION_END, /* after a complete "HTTP/x.y" */
    BW_RL_ALMOST_DONE, /* CR seen, LF expected */
};

static const size_t bw_http_request_line_ptrs[] = {
    offsetof(bw_http_request_line_t, request_start),
    offsetof(bw_http_request_line_t, request_end),
    offsetof(bw_http_request_line_t, method_end),
    offsetof(bw_http_request_line_t, schema_start),
    offsetof(bw_http_request_line_t, schema_end),
    offsetof(bw_http_request_line_t, host_start),
    offsetof(bw_http_request_line_t, host_end),
    offsetof(bw_http_request_line_t, port_start),
    offsetof(bw_http_request_line_t, port_end),
    offsetof(bw_http_request_line_t, uri_start),
    offsetof(bw_http_request_line_t, uri_end),
    offsetof(bw_http_request_line_t, path_end),
    offsetof(bw_http_request_line_t, args_start),
    offsetof(bw_http_request_line_t, args_end),
    offsetof(bw_http_request_line_t, exten_start),
    offsetof(bw_http_request_line_t, exten_end),
    offsetof(bw_http_request_line_t, protocol_start),
    offsetof(bw_http_request_line_t, protocol_end),
};

/* A field added to the structs must be added to the reset and the lists above. */
_Static_assert(sizeof(bw_http_request_line_t)
                   == offsetof(bw_http_request_line_t, request_start)
                          + bw_nelems(bw_http_request_line_ptrs) * sizeof(u_char *),
               "bw_http_request_line_t: update bw_http_request_line_ptrs and the reset");

void
bw_http_request_line_init(bw_http_request_line_t *rl)
{
    memset(rl, 0, sizeof(*rl));
}

void
bw_http_request_line_rebase(bw_http_request_line_t *rl, const u_char *old_base,
                            u_char *new_base)
{
    bw_http_parse_rebase_ptrs(rl, bw_http_request_line_ptrs, bw_nelems(bw_http_request_line_ptrs),
                              old_base, new_base);
}

/* Clears the outputs when a new request line starts at p (stores, not memset: hot). */
static void
bw_http_request_line_reset(bw_http_request_line_t *rl, u_char *p)
{
    rl->method = 0;
    rl->target = 0;
    rl->flags = 0;
    rl->http_major = 0;
    rl->http_minor = 0;
    rl->http_version = 0;
    rl->request_start = p;
    rl->request_end = NULL;
    rl->method_end = NULL;
    rl->schema_start = rl->schema_end = NULL;
    rl->host_start = rl->host_end = NULL;
    rl->port_start = rl->port_end = NULL;
    rl->uri_start = rl->uri_end = NULL;
    rl->path_end = NULL;
    rl->args_start = rl->args_end = NULL;
    rl->exten_start = rl->exten_end = NULL;
    rl->protocol_start = rl->protocol_end = NULL;
}

static bool
bw_http_parse_is_method_char(u_char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

static bool
bw_http_parse_is_alpha(u_char c)
{
    c |= 0x20;
    return c >= 'a' && c <= 'z';
}

/* The BW_HTTP_* bit of a method name, BW_HTTP_UNKNOWN for any other token. */
static unsigned
bw_http_parse_method_lookup(const u_char *m, size_t n)
{
#define BW_METHOD_IS(lit) (memcmp(m, lit, sizeof(lit) - 1) == 0)
    switch (n) {
    case 3:
        return BW_METHOD_IS("GET")   ? BW_HTTP_GET
               : BW_METHOD_IS("PUT") ? BW_HTTP_PUT
                                     : BW_HTTP_UNKNOWN;
    case 4:
        return BW_METHOD_IS("HEAD")   ? BW_HTTP_HEAD
               : BW_METHOD_IS("POST") ? BW_HTTP_POST
               : BW_METHOD_IS("COPY") ? BW_HTTP_COPY
               : BW_METHOD_IS("MOVE") ? BW_HTTP_MOVE
               : BW_METHOD_IS("LOCK") ? BW_HTTP_LOCK
                                      : BW_HTTP_UNKNOWN;
    case 5:
        return BW_METHOD_IS("MKCOL")   ? BW_HTTP_MKCOL
               : BW_METHOD_IS("PATCH") ? BW_HTTP_PATCH
               : BW_METHOD_IS("TRACE") ? BW_HTTP_TRACE
                                       : BW_HTTP_UNKNOWN;
    case 6:
        return BW_METHOD_IS("DELETE")   ? BW_HTTP_DELETE
               : BW_METHOD_IS("UNLOCK") ? BW_HTTP_UNLOCK
                                        : BW_HTTP_UNKNOWN;
    case 7:
        return BW_METHOD_IS("OPTIONS")   ? BW_HTTP_OPTIONS
               : BW_METHOD_IS("CONNECT") ? BW_HTTP_CONNECT
                                         : BW_HTTP_UNKNOWN;
    case 8:
        return BW_METHOD_IS("PROPFIND") ? BW_HTTP_PROPFIND : BW_HTTP_UNKNOWN;
    case 9:
        return BW_METHOD_IS("PROPPATCH") ? BW_HTTP_PROPPATCH : BW_HTTP_UNKNOWN;
    }
    return BW_HTTP_UNKNOWN;
#undef BW_METHOD_IS
}

/*
 * A byte that ends a part of the target: '?' starts the query (from the
 * path), '#' a fragment, SP the version, CR/LF an HTTP/0.9 line. Sets the
 * end pointers of the part being left and the next state.
 */
static bw_rc_t
bw_http_parse_target_stop(bw_http_request_line_t *rl, u_char *p, unsigned cls, unsigned *state)
{
    if (rl->path_end == NULL) {
        rl->path_end = p;
        if (rl->exten_start != NULL) {
            rl->exten_end = p;
        }
    } else if (rl->args_start != NULL && rl->args_end == NULL) {
        rl->args_end = p;
    }

    switch (cls) {
    case BW_URI_QUERY:
        rl->args_start = p + 1;
        *state = BW_RL_ARGS;
        return BW_OK;
    case BW_URI_HASH:
        *state = BW_RL_FRAGMENT;
        return BW_OK;
    case BW_URI_SP:
        rl->uri_end = p;
        *state = BW_RL_VERSION_H;
        return BW_OK;
    case BW_URI_CR:
    case BW_URI_LF:
        /* HTTP/0.9 simple request: GET only */
        rl->uri_end = p;
        rl->request_end = p;
        if (rl->method != BW_HTTP_GET) {
            return BW_HTTP_PARSE_INVALID_09_METHOD;
        }
        rl->http_major = 0;
        rl->http_minor = 9;
        *state = BW_RL_ALMOST_DONE;
        return BW_OK;
    }
    return BW_HTTP_PARSE_INVALID_REQUEST;
}

/* Any byte in the path once the segment start has been dealt with. */
static bw_rc_t
bw_http_parse_path_byte(bw_http_request_line_t *rl, u_char *p, unsigned cls, unsigned *state)
{
    switch (cls) {
    case BW_URI_PLAIN:
        break;
    case BW_URI_SLASH:
        rl->exten_start = NULL;
        *state = BW_RL_SLASH;
        return BW_OK;
    case BW_URI_DOT:
        rl->exten_start = p + 1;
        break;
    case BW_URI_PCT:
        rl->flags |= BW_HTTP_URI_QUOTED | BW_HTTP_URI_COMPLEX;
        break;
    case BW_URI_PLUS:
        rl->flags |= BW_HTTP_URI_PLUS;
        break;
    default:
        return bw_http_parse_target_stop(rl, p, cls, state);
    }
    *state = BW_RL_PATH;
    return BW_OK;
}

/*
 * The first byte of the target: '/' origin-form, '*' asterisk-form (OPTIONS),
 * a letter starts a scheme (absolute-form) or, for CONNECT only, a host
 * (authority-form, RFC 9112 §3.2.3).
 */
static bw_rc_t
bw_http_parse_target_start(bw_http_request_line_t *rl, u_char *p, unsigned *state)
{
    u_char c = *p;
    bool   connect = rl->method == BW_HTTP_CONNECT;

    if (connect) {
        if (!bw_http_parse_is_alpha(c) && !bw_http_parse_is_digit(c) && c != '[') {
            return BW_HTTP_PARSE_INVALID_REQUEST;
        }
        rl->target = BW_HTTP_TARGET_AUTHORITY;
        rl->uri_start = p;
        rl->host_start = p;
        *state = (c == '[') ? BW_RL_HOST_IP6 : BW_RL_HOST;
        return BW_OK;
    }
    if (c == '/') {
        rl->target = BW_HTTP_TARGET_ORIGIN;
        rl->uri_start = p;
        *state = BW_RL_SLASH;
        return BW_OK;
    }
    if (c == '*' && rl->method == BW_HTTP_OPTIONS) {
        rl->target = BW_HTTP_TARGET_ASTERISK;
        rl->uri_start = p;
        *state = BW_RL_ASTERISK;
        return BW_OK;
    }
    if (bw_http_parse_is_alpha(c)) {
        rl->target = BW_HTTP_TARGET_ABSOLUTE;
        rl->schema_start = p;
        *state = BW_RL_SCHEMA;
        return BW_OK;
    }
    return BW_HTTP_PARSE_INVALID_REQUEST;
}

/*
 * A byte after the host (or its port) of an absolute- or authority-form
 * target. Absolute-form goes on with a path, or with no path at all ("/" is
 * implied). Authority-form needs ":port" and then SP.
 */
static bw_rc_t
bw_http_parse_authority_stop(bw_http_request_line_t *rl, u_char *p, unsigned *state)
{
    unsigned cls = bw_http_uri_class[*p];

    if (rl->target == BW_HTTP_TARGET_AUTHORITY) {
        if (cls != BW_URI_SP || rl->port_start == NULL || rl->port_start == p) {
            return BW_HTTP_PARSE_INVALID_REQUEST;
        }
        rl->port_end = p;
        rl->path_end = p;
        rl->uri_end = p;
        *state = BW_RL_VERSION_H;
        return BW_OK;
    }
    if (rl->port_start != NULL) {
        rl->port_end = p;
    }
    rl->uri_start = p;
    if (cls == BW_URI_SLASH) {
        *state = BW_RL_SLASH;
        return BW_OK;
    }
    if (cls >= BW_URI_QUERY && cls <= BW_URI_LF) {
        rl->flags |= BW_HTTP_URI_EMPTY_PATH | BW_HTTP_URI_COMPLEX;
        return bw_http_parse_target_stop(rl, p, cls, state);
    }
    return BW_HTTP_PARSE_INVALID_REQUEST;
}

/* One byte of scheme "://" host [":" port] (or authority-form host ":" port). */
static bw_rc_t
bw_http_parse_authority_byte(bw_http_request_line_t *rl, u_char *p, unsigned *state)
{
    u_char c = *p;

    switch (*state) {
    case BW_RL_SCHEMA:
        if (bw_http_parse_is_alpha(c) || bw_http_parse_is_digit(c) || c == '+' || c == '-'
            || c == '.') {
            return BW_OK;
        }
        if (c != ':') {
            return BW_HTTP_PARSE_INVALID_REQUEST;
        }
        rl->schema_end = p;
        *state = BW_RL_SCHEMA_SLASH;
        return BW_OK;

    case BW_RL_SCHEMA_SLASH:
    case BW_RL_SCHEMA_SLASH_SLASH:
        if (c != '/') {
            return BW_HTTP_PARSE_INVALID_REQUEST;
        }
        (*state)++;
        return BW_OK;

    case BW_RL_HOST_START:
        rl->host_start = p;
        if (c == '[') {
            *state = BW_RL_HOST_IP6;
            return BW_OK;
        }
        if (!bw_http_parse_is_alpha(c) && !bw_http_parse_is_digit(c)) {
            return BW_HTTP_PARSE_INVALID_REQUEST; /* empty host, userinfo, ... */
        }
        *state = BW_RL_HOST;
        return BW_OK;

    case BW_RL_HOST:
        if (bw_http_parse_is_alpha(c) || bw_http_parse_is_digit(c) || c == '.' || c == '-') {
            return BW_OK;
        }
        rl->host_end = p;
        if (c == ':') {
            rl->port_start = p + 1;
            *state = BW_RL_PORT;
            return BW_OK;
        }
        return bw_http_parse_authority_stop(rl, p, state);

    case BW_RL_HOST_IP6:
        if (bw_http_parse_hex_value(c) >= 0 || c == ':' || c == '.') {
            return BW_OK;
        }
        if (c != ']' || p - rl->host_start < 3) {
            return BW_HTTP_PARSE_INVALID_REQUEST;
        }
        *state = BW_RL_HOST_END;
        return BW_OK;

    case BW_RL_HOST_END:
        rl->host_end = p;
        if (c == ':') {
            rl->port_start = p + 1;
            *state = BW_RL_PORT;
            return BW_OK;
        }
        return bw_http_parse_authority_stop(rl, p, state);

    case BW_RL_PORT:
        if (bw_http_parse_is_digit(c)) {
            return (p - rl->port_start < 5) ? BW_OK : BW_HTTP_PARSE_INVALID_REQUEST;
        }
        return bw_http_parse_authority_stop(rl, p, state);
    }
    return BW_HTTP_PARSE_INVALID_REQUEST;
}

/*
 * The version after the target: "HTTP/" major "." minor (RFC 9112 §2.3).
 * A major above 1 is 505 once the line ends; "HTTP/0.x", leading zeros and a
 * two-digit minor of HTTP/1 are 400.
 */
static bw_rc_t
bw_http_parse_version_byte(bw_http_request_line_t *rl, u_char c, unsigned *state)
{
    static const char http[] = "HTTP/";

    switch (*state) {
    case BW_RL_VERSION_H:
    case BW_RL_VERSION_HT:
    case BW_RL_VERSION_HTT:
    case BW_RL_VERSION_HTTP:
    case BW_RL_VERSION_SLASH:
        if (c != (u_char) http[*state - BW_RL_VERSION_H]) {
            return BW_HTTP_PARSE_INVALID_REQUEST;
        }
        (*state)++;
        return BW_OK;

    case BW_RL_MAJOR_FIRST:
        if (c < '1' || c > '9') {
            return BW_HTTP_PARSE_INVALID_REQUEST; /* "HTTP/0.x", leading zero */
        }
        rl->http_major = c - '0';
        *state = BW_RL_MAJOR;
        return BW_OK;

    case BW_RL_MAJOR:
        if (bw_http_parse_is_digit(c)) {
            rl->http_major = rl->http_major * 10 + (c - '0');
            return rl->http_major > 99 ? BW_HTTP_PARSE_INVALID_REQUEST : BW_OK;
        }
        if (c != '.') {
            return BW_HTTP_PARSE_INVALID_REQUEST;
        }
        *state = BW_RL_MINOR_FIRST;
        return BW_OK;

    case BW_RL_MINOR_FIRST:
        if (!bw_http_parse_is_digit(c)) {
            return BW_HTTP_PARSE_INVALID_REQUEST;
        }
        rl->http_minor = c - '0';
        *state = BW_RL_MINOR;
        return BW_OK;

    case BW_RL_MINOR:
        if (!bw_http_parse_is_digit(c) || rl->http_major == 1) {
            return BW_HTTP_PARSE_INVALID_REQUEST;
        }
        rl->http_minor = rl->http_minor * 10 + (c - '0');
        return rl->http_minor > 99 ? BW_HTTP_PARSE_INVALID_REQUEST : BW_OK;
    }
    return BW_HTTP_PARSE_INVALID_REQUEST;
}

bw_rc_t
bw_http_parse_request_line(bw_http_request_line_t *rl, u_char **pos, u_char *last)
{
    u_char  *p = *pos;
    unsigned state = rl->state;
    unsigned cls;
    bw_rc_t  rc = BW_OK;
    u_char   c;

    for (; p < last; p++) {
        c = *p;

        switch (state) {
        case BW_RL_START:
            if (c == BW_CR) {
                state = BW_RL_START_LF;
                break;
            }
            if (c == BW_LF) {
                break; /* RFC 9112 §2.2: empty lines before the request line */
            }
            if (!bw_http_parse_is_method_char(c)) {
                rc = BW_HTTP_PARSE_INVALID_METHOD;
                goto failed;
            }
            bw_http_request_line_reset(rl, p);
            state = BW_RL_METHOD;
            break;

        case BW_RL_START_LF:
            if (c != BW_LF) {
                rc = BW_HTTP_PARSE_INVALID_REQUEST;
                goto failed;
            }
            state = BW_RL_START;
            break;

        case BW_RL_METHOD:
            while (bw_http_parse_is_method_char(c)) {
                if (++p == last) {
                    goto again;
                }
                c = *p;
            }
            if (c != ' ') {
                rc = BW_HTTP_PARSE_INVALID_METHOD;
                goto failed;
            }
            rl->method_end = p;
            rl->method = bw_http_parse_method_lookup(rl->request_start,
                                                     (size_t) (p - rl->request_start));
            state = BW_RL_TARGET;
            break;

        case BW_RL_TARGET:
            rc = bw_http_parse_target_start(rl, p, &state);
            break;

        case BW_RL_ASTERISK:
            if (c != ' ') {
                rc = BW_HTTP_PARSE_INVALID_REQUEST;
                goto failed;
            }
            rl->path_end = p;
            rl->uri_end = p;
            state = BW_RL_VERSION_H;
            break;

        case BW_RL_SCHEMA:
        case BW_RL_SCHEMA_SLASH:
        case BW_RL_SCHEMA_SLASH_SLASH:
        case BW_RL_HOST_START:
        case BW_RL_HOST:
        case BW_RL_HOST_IP6:
        case BW_RL_HOST_END:
        case BW_RL_PORT:
            rc = bw_http_parse_authority_byte(rl, p, &state);
            break;

        case BW_RL_SLASH:
            cls = bw_http_uri_class[c];
            if (cls == BW_URI_SLASH) {
                rl->flags |= BW_HTTP_URI_COMPLEX; /* "//" */
                break;
            }
            if (cls == BW_URI_DOT) {
                rl->exten_start = p + 1;
                state = BW_RL_DOT;
                break;
            }
            if (cls != BW_URI_PLAIN) {
                rc = bw_http_parse_path_byte(rl, p, cls, &state);
                break;
            }
            state = BW_RL_PATH;
            /* fall through */

        case BW_RL_PATH:
            for (;;) {
                cls = bw_http_uri_class[c];
                if (cls == BW_URI_DOT) {
                    rl->exten_start = p + 1;
                } else if (cls != BW_URI_PLAIN) {
                    break;
                }
                if (++p == last) {
                    goto again;
                }
                c = *p;
            }
            if (cls == BW_URI_SLASH) {
                rl->exten_start = NULL;
                state = BW_RL_SLASH;
                break;
            }
            rc = bw_http_parse_path_byte(rl, p, cls, &state);
            break;

        case BW_RL_DOT:
        case BW_RL_DOT_DOT:
            cls = bw_http_uri_class[c];
            if (cls == BW_URI_DOT && state == BW_RL_DOT) {
                rl->exten_start = p + 1;
                state = BW_RL_DOT_DOT;
                break;
            }
            if (cls == BW_URI_SLASH || (cls >= BW_URI_QUERY && cls <= BW_URI_LF)) {
                rl->flags |= BW_HTTP_URI_COMPLEX; /* a "." or ".." segment */
            }
            rc = bw_http_parse_path_byte(rl, p, cls, &state);
            break;

        case BW_RL_ARGS:
            while ((cls = bw_http_uri_class[c]) >= BW_URI_PLAIN && cls <= BW_URI_QUERY) {
                if (++p == last) {
                    goto again;
                }
                c = *p;
            }
            rc = bw_http_parse_target_stop(rl, p, cls, &state);
            break;

        case BW_RL_FRAGMENT:
            while ((cls = bw_http_uri_class[c]) >= BW_URI_PLAIN && cls <= BW_URI_HASH) {
                if (++p == last) {
                    goto again;
                }
                c = *p;
            }
            rc = bw_http_parse_target_stop(rl, p, cls, &state);
            break;

        case BW_RL_VERSION_H:
            rl->protocol_start = p;
            if (last - p >= 8 && memcmp(p, "HTTP/1.", 7) == 0 && bw_http_parse_is_digit(p[7])) {
                rl->http_major = 1;
                rl->http_minor = p[7] - '0';
                p += 7;
                state = BW_RL_VERSION_END;
                break;
            }
            rc = bw_http_parse_version_byte(rl, c, &state);
            break;

        case BW_RL_VERSION_HT:
        case BW_RL_VERSION_HTT:
        case BW_RL_VERSION_HTTP:
        case BW_RL_VERSION_SLASH:
        case BW_RL_MAJOR_FIRST:
        case BW_RL_MAJOR:
        case BW_RL_MINOR_FIRST:
            rc = bw_http_parse_version_byte(rl, c, &state);
            break;

        case BW_RL_MINOR:
        case BW_RL_VERSION_END:
            if (c != BW_CR && c != BW_LF) {
                rc = (state == BW_RL_MINOR) ? bw_http_parse_version_byte(rl, c, &state)
                                            : BW_HTTP_PARSE_INVALID_REQUEST;
                break;
            }
            rl->protocol_end = p;
            rl->request_end = p;
            if (rl->http_major > 1) {
                rc = BW_HTTP_PARSE_INVALID_VERSION;
                goto failed;
            }
            if (c == BW_LF) {
                goto done;
            }
            state = BW_RL_ALMOST_DONE;
            break;

        case BW_RL_ALMOST_DONE:
            if (c == BW_LF) {
                goto done;
            }
            rc = BW_HTTP_PARSE_INVALID_REQUEST;
            break;
        }

        if (rc != BW_OK) {
            goto failed;
        }
        if (state == BW_RL_ALMOST_DONE && c == BW_LF) {
            goto done; /* HTTP/0.9 line ended by a bare LF */
        }
    }

again:
    rl->state = state;
    *pos = last;
    return BW_AGAIN;

done:
    rl->http_version = rl->http_major * 1000 + rl->http_minor;
    rl->state = BW_RL_START;
    *pos = p + 1;
    return BW_OK;

failed:
    rl->state = BW_RL_START;
    *pos = p;
    return rc;
}

/* ---- header lines ---- */

enum {
    BW_HL_START = 0,
    BW_HL_END_LF, /* CR of the empty line */
    BW_HL_NAME,
    BW_HL_VALUE_START,
    BW_HL_VALUE,
    BW_HL_ALMOST_DONE,
};

static const size_t bw_http_header_line_ptrs[] = {
    offsetof(bw_http_header_line_t, line_start),  offsetof(bw_http_header_line_t, name_start),
    offsetof(bw_http_header_line_t, name_end),    offsetof(bw_http_header_line_t, value_start),
    offsetof(bw_http_header_line_t, value_end),
};

_Static_assert(sizeof(bw_http_header_line_t)
                   == offsetof(bw_http_header_line_t, line_start)
                          + bw_nelems(bw_http_header_line_ptrs) * sizeof(u_char *),
               "bw_http_header_line_t: update bw_http_header_line_ptrs");

void
bw_http_header_line_rebase(bw_http_header_line_t *h, const u_char *old_base, u_char *new_base)
{
    bw_http_parse_rebase_ptrs(h, bw_http_header_line_ptrs, bw_nelems(bw_http_header_line_ptrs),
                              old_base, new_base);
}

bw_uint_t
bw_http_parse_hash_lc(const u_char *p, size_t n)
{
    bw_uint_t h = 0;

    for (size_t i = 0; i < n; i++) {
        h = bw_http_hash_step(h, bw_tolower(p[i]));
    }
    return h;
}

/*
 * Scans name bytes from *pp, hashing them, up to the colon. BW_OK: *pp is at
 * the colon. BW_AGAIN: all consumed. BW_HTTP_PARSE_INVALID_HEADER: *pp is at
 * a byte that cannot be in a name (SP and HTAB included: RFC 9112 §5.1).
 */
static bw_rc_t
bw_http_parse_header_name(bw_http_header_line_t *h, u_char **pp, u_char *last)
{
    bw_uint_t hash = h->hash;
    u_char   *p = *pp;
    bw_rc_t   rc = BW_AGAIN;

    for (; p < last; p++) {
        u_char   c = *p;
        unsigned cls = bw_http_name_class[c];

        if (cls == BW_NAME_ALNUM) { /* the common case, kept out of the switch */
            hash = bw_http_hash_step(hash, c | 0x20);
            continue;
        }
        switch (cls) {
        case BW_NAME_COLON:
            rc = BW_OK;
            goto out;
        case BW_NAME_UNDERSCORE:
            h->flags |= BW_HTTP_HEADER_UNDERSCORE;
            break;
        case BW_NAME_TCHAR:
            h->flags |= BW_HTTP_HEADER_NONALNUM;
            break;
        case BW_NAME_OTHER:
            h->flags |= BW_HTTP_HEADER_NONALNUM | BW_HTTP_HEADER_NOT_TOKEN;
            break;
        default:
            rc = BW_HTTP_PARSE_INVALID_HEADER;
            goto out;
        }
        hash = bw_http_hash_step(hash, c);
    }

out:
    h->hash = hash;
    *pp = p;
    return rc;
}

/*
 * Skips field-value bytes (VCHAR, obs-text, SP, HTAB) from p: returns the
 * address of the first other byte (CR, LF, a control) or last. Values are
 * most of a request head, so 16 bytes are checked at a time where SSE2 is.
 */
static u_char *
bw_http_parse_value_scan(u_char *p, u_char *last)
{
#ifdef __SSE2__
    const __m128i minus1 = _mm_set1_epi8(-1);
    const __m128i sp = _mm_set1_epi8(' ');
    const __m128i tab = _mm_set1_epi8('\t');
    const __m128i del = _mm_set1_epi8(0x7f);

    while (last - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (const void *) p);
        /* signed bytes: 0x00-0x1f are the controls, 0x80-0xff are negative */
        __m128i ctl = _mm_and_si128(_mm_cmpgt_epi8(v, minus1), _mm_cmplt_epi8(v, sp));
        ctl = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl);
        int mask = _mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, del)));
        if (mask != 0) {
            return p + __builtin_ctz((unsigned) mask);
        }
        p += 16;
    }
#endif
    while (p < last && (unsigned) (bw_http_value_class[*p] - BW_VALUE_CHAR) <= 1) {
        p++;
    }
    return p;
}

bw_rc_t
bw_http_parse_header_line(bw_http_header_line_t *h, u_char **pos, u_char *last)
{
    u_char  *p = *pos;
    unsigned state = h->state;
    unsigned cls;
    bw_rc_t  rc;

    for (; p < last; p++) {
        u_char c = *p;

        switch (state) {
        case BW_HL_START:
            memset(&h->flags, 0, sizeof(*h) - offsetof(bw_http_header_line_t, flags));
            h->line_start = p;
            if (c == BW_CR) {
                state = BW_HL_END_LF;
                break;
            }
            if (c == BW_LF) {
                goto block_done;
            }
            if (c == ':') {
                goto invalid; /* empty name */
            }
            h->name_start = p;
            state = BW_HL_NAME;
            /* fall through */

        case BW_HL_NAME:
            rc = bw_http_parse_header_name(h, &p, last);
            if (rc == BW_AGAIN) {
                goto again;
            }
            if (rc != BW_OK) {
                goto invalid;
            }
            h->name_end = p;
            state = BW_HL_VALUE_START;
            break;

        case BW_HL_VALUE_START:
            cls = bw_http_value_class[c];
            if (cls == BW_VALUE_WS) {
                break;
            }
            h->value_start = p;
            h->value_end = p;
            if (cls == BW_VALUE_CR) {
                state = BW_HL_ALMOST_DONE;
                break;
            }
            if (cls == BW_VALUE_LF) {
                goto line_done;
            }
            if (cls != BW_VALUE_CHAR) {
                goto invalid;
            }
            state = BW_HL_VALUE;
            /* fall through */

        case BW_HL_VALUE: {
            /* trailing OWS is trimmed within this call's bytes only: earlier
               bytes may be gone when a trailer line spans calls */
            u_char *start = p;
            u_char *q;

            p = bw_http_parse_value_scan(p, last);
            for (q = p; q > start && (q[-1] == ' ' || q[-1] == '\t'); q--) {
                /* void */
            }
            if (q > start) {
                h->value_end = q;
            }
            if (p == last) {
                goto again;
            }
            if (*p == BW_LF) {
                goto line_done;
            }
            if (*p != BW_CR) {
                goto invalid; /* a control character in the value */
            }
            state = BW_HL_ALMOST_DONE;
            break;
        }

        case BW_HL_ALMOST_DONE:
            if (c != BW_LF) {
                goto invalid; /* bare CR */
            }
            goto line_done;

        case BW_HL_END_LF:
            if (c != BW_LF) {
                goto invalid;
            }
            goto block_done;
        }
    }

again:
    h->state = state;
    *pos = last;
    return BW_AGAIN;

line_done:
    h->state = BW_HL_START;
    *pos = p + 1;
    return BW_OK;

block_done:
    h->state = BW_HL_START;
    *pos = p + 1;
    return BW_DONE;

invalid:
    h->state = BW_HL_START;
    *pos = p;
    return BW_HTTP_PARSE_INVALID_HEADER;
}

bw_rc_t
bw_http_header_line_verdict(const bw_http_header_line_t *h, bool ignore_invalid, bool underscores)
{
    if (!ignore_invalid) {
        return (h->flags & BW_HTTP_HEADER_NOT_TOKEN) ? BW_HTTP_PARSE_INVALID_HEADER : BW_OK;
    }
    if (h->flags & BW_HTTP_HEADER_NONALNUM) {
        return BW_DECLINED;
    }
    if ((h->flags & BW_HTTP_HEADER_UNDERSCORE) && !underscores) {
        return BW_DECLINED;
    }
    return BW_OK;
}

/* ---- errors ---- */

static const struct {
    int         status;
    const char *text;
} bw_http_parse_errors[] = {
    [BW_HTTP_PARSE_INVALID_METHOD - 10] = {400, "client sent invalid method"},
    [BW_HTTP_PARSE_INVALID_REQUEST - 10] = {400, "client sent invalid request"},
    [BW_HTTP_PARSE_INVALID_VERSION - 10] = {505, "client sent invalid version"},
    [BW_HTTP_PARSE_INVALID_09_METHOD - 10] = {400,
                                              "client sent invalid method in HTTP/0.9 request"},
    [BW_HTTP_PARSE_INVALID_HEADER - 10] = {400, "client sent invalid header line"},
    [BW_HTTP_PARSE_INVALID_CHUNKED - 10] = {400, "client sent invalid chunked body"},
    [BW_HTTP_PARSE_INVALID_HOST - 10] = {400, "client sent invalid host header"},
    [BW_HTTP_PARSE_UNKNOWN_TE - 10] = {501, "client sent unknown \"Transfer-Encoding\""},
};

int
bw_http_parse_error_status(bw_rc_t rc)
{
    if (rc < 10 || (size_t) (rc - 10) >= bw_nelems(bw_http_parse_errors)) {
        return 400;
    }
    return bw_http_parse_errors[rc - 10].status;
}

const char *
bw_http_parse_error_text(bw_rc_t rc)
{
    if (rc < 10 || (size_t) (rc - 10) >= bw_nelems(bw_http_parse_errors)) {
        return "client sent invalid request";
    }
    return bw_http_parse_errors[rc - 10].text;
}
