/*
 * parse.c -- the HTTP/1.1 request parser: request line, header lines, chunked
 * bodies, URI normalisation, and the Host / Content-Length / Transfer-Encoding
 * value checks. See parse.h for the contract and the strictness rules.
 *
 * Every parser is a switch over states, one byte at a time, with tight inner
 * loops over lookup tables for the long runs (path, header name and value).
 * Nothing is allocated or copied; results point into the caller's buffer.
 */
#include "parse.h"

#include "pool.h"

#include <stddef.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define BW_CR '\r'
#define BW_LF '\n'

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

/* Header-name bytes (RFC 9110 §5.6.2 tchar, split the way nginx judges names). */
enum {
    BW_NAME_BAD = 0,    /* controls, SP, DEL: the line is malformed */
    BW_NAME_ALNUM,      /* [A-Za-z0-9-]: lowercase is c | 0x20 */
    BW_NAME_UNDERSCORE, /* '_' */
    BW_NAME_TCHAR,      /* other tchar: valid token, but nginx calls it invalid */
    BW_NAME_OTHER,      /* visible non-tchar and obs-text: not a token */
    BW_NAME_COLON,
};

static const uint8_t bw_http_name_class[256] = {
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

/* Field-value bytes (RFC 9110 §5.5: field-vchar, SP, HTAB). */
enum {
    BW_VALUE_BAD = 0, /* controls other than HTAB, DEL, NUL */
    BW_VALUE_CHAR,    /* VCHAR and obs-text */
    BW_VALUE_WS,      /* SP, HTAB */
    BW_VALUE_CR,
    BW_VALUE_LF,
};

static const uint8_t bw_http_value_class[256] = {
    ['\t'] = BW_VALUE_WS,
    ['\n'] = BW_VALUE_LF,
    ['\r'] = BW_VALUE_CR,
    [' '] = BW_VALUE_WS,
    ['!' ... '~'] = BW_VALUE_CHAR,
    [0x80 ... 0xff] = BW_VALUE_CHAR,
};

static int
bw_http_parse_hex_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

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

static bool
bw_http_parse_is_digit(u_char c)
{
    return c >= '0' && c <= '9';
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

/* ---- chunked transfer-coding (RFC 9112 §7.1) ---- */

enum {
    BW_CH_SIZE_START = 0,
    BW_CH_SIZE,
    BW_CH_SIZE_WS,   /* BWS after the size */
    BW_CH_EXT,       /* inside chunk-ext, outside quotes */
    BW_CH_EXT_QUOTED,
    BW_CH_EXT_QUOTED_PAIR,
    BW_CH_SIZE_LF,   /* CR of the size line seen */
    BW_CH_DATA,
    BW_CH_DATA_CR,   /* CRLF after the data expected */
    BW_CH_DATA_LF,
    BW_CH_TRAILER,
};

/* True for a byte allowed in chunk-ext outside a quoted-string (loosely). */
static bool
bw_http_parse_is_ext_char(u_char c)
{
    unsigned cls = bw_http_name_class[c];

    return cls == BW_NAME_ALNUM || cls == BW_NAME_UNDERSCORE || cls == BW_NAME_TCHAR || c == ' '
           || c == '\t' || c == '=' || c == ';';
}

/* One byte of the chunk-size line; sets the next state. */
static bw_rc_t
bw_http_parse_chunk_size_byte(bw_http_chunked_t *ctx, u_char c, unsigned *state)
{
    int d;

    switch (*state) {
    case BW_CH_SIZE_START:
    case BW_CH_SIZE:
        d = bw_http_parse_hex_value(c);
        if (d >= 0) {
            if (ctx->size > (INT64_MAX >> 4)) {
                return BW_HTTP_PARSE_INVALID_CHUNKED; /* overflow */
            }
            ctx->size = ctx->size * 16 + d;
            *state = BW_CH_SIZE;
            return BW_OK;
        }
        if (*state == BW_CH_SIZE_START) {
            return BW_HTTP_PARSE_INVALID_CHUNKED;
        }
        /* fall through */

    case BW_CH_SIZE_WS:
        if (c == ' ' || c == '\t') {
            *state = BW_CH_SIZE_WS;
            return BW_OK;
        }
        if (c == ';') {
            *state = BW_CH_EXT;
            return BW_OK;
        }
        break;

    case BW_CH_EXT:
        if (c == '"') {
            *state = BW_CH_EXT_QUOTED;
            return BW_OK;
        }
        if (bw_http_parse_is_ext_char(c)) {
            return BW_OK;
        }
        break;

    case BW_CH_EXT_QUOTED:
        if (c == '"') {
            *state = BW_CH_EXT;
            return BW_OK;
        }
        if (c == '\\') {
            *state = BW_CH_EXT_QUOTED_PAIR;
            return BW_OK;
        }
        d = bw_http_value_class[c];
        return (d == BW_VALUE_CHAR || d == BW_VALUE_WS) ? BW_OK : BW_HTTP_PARSE_INVALID_CHUNKED;

    case BW_CH_EXT_QUOTED_PAIR:
        d = bw_http_value_class[c];
        if (d != BW_VALUE_CHAR && d != BW_VALUE_WS) {
            return BW_HTTP_PARSE_INVALID_CHUNKED;
        }
        *state = BW_CH_EXT_QUOTED;
        return BW_OK;
    }

    if (c == BW_CR) {
        *state = BW_CH_SIZE_LF;
        return BW_OK;
    }
    return BW_HTTP_PARSE_INVALID_CHUNKED; /* the caller handles LF */
}

/* The size line is complete: start the data or, for size 0, the trailers. */
static bw_rc_t
bw_http_parse_chunk_size_done(bw_http_chunked_t *ctx, unsigned *state)
{
    if (ctx->size > INT64_MAX - ctx->total) {
        return BW_HTTP_PARSE_INVALID_CHUNKED;
    }
    ctx->total += ctx->size;
    ctx->remaining = ctx->size;
    ctx->line_len = 0;
    if (ctx->size == 0) {
        memset(&ctx->trailer, 0, sizeof(ctx->trailer));
        *state = BW_CH_TRAILER;
    } else {
        *state = BW_CH_DATA;
    }
    return BW_OK;
}

/* Trailer fields: checked as header lines, then dropped. */
static bw_rc_t
bw_http_parse_chunk_trailer(bw_http_chunked_t *ctx, u_char **pos, u_char *last)
{
    for (;;) {
        u_char *start = *pos;
        bw_rc_t rc = bw_http_parse_header_line(&ctx->trailer, pos, last);

        ctx->line_len += (size_t) (*pos - start);
        if (ctx->line_len > BW_HTTP_CHUNK_TRAILER_MAX) {
            return BW_HTTP_PARSE_INVALID_CHUNKED;
        }
        if (rc == BW_OK) {
            continue;
        }
        if (rc == BW_DONE || rc == BW_AGAIN) {
            return rc;
        }
        return BW_HTTP_PARSE_INVALID_CHUNKED;
    }
}

bw_rc_t
bw_http_parse_chunked(bw_http_chunked_t *ctx, u_char **pos, u_char *last)
{
    u_char  *p = *pos;
    unsigned state = ctx->state;
    bw_rc_t  rc = BW_OK;

    while (p < last) {
        u_char c = *p;

        switch (state) {
        case BW_CH_DATA: {
            size_t n = (size_t) (last - p);
            if ((uint64_t) n > (uint64_t) ctx->remaining) {
                n = (size_t) ctx->remaining;
            }
            ctx->data = p;
            ctx->data_len = n;
            ctx->remaining -= (int64_t) n;
            if (ctx->remaining == 0) {
                state = BW_CH_DATA_CR;
            }
            ctx->state = state;
            *pos = p + n;
            return BW_OK;
        }

        case BW_CH_DATA_CR:
            if (c == BW_CR) {
                state = BW_CH_DATA_LF;
                break;
            }
            /* fall through - a bare LF ends the data too */

        case BW_CH_DATA_LF:
            if (c != BW_LF) {
                rc = BW_HTTP_PARSE_INVALID_CHUNKED;
                goto failed;
            }
            ctx->size = 0;
            ctx->line_len = 0;
            state = BW_CH_SIZE_START;
            break;

        case BW_CH_TRAILER:
            *pos = p;
            rc = bw_http_parse_chunk_trailer(ctx, pos, last);
            if (rc == BW_DONE) {
                ctx->state = BW_CH_SIZE_START;
                return BW_DONE;
            }
            if (rc == BW_AGAIN) {
                ctx->state = state;
                return BW_AGAIN;
            }
            p = *pos;
            goto failed;

        case BW_CH_SIZE_LF:
            if (c != BW_LF) {
                rc = BW_HTTP_PARSE_INVALID_CHUNKED;
                goto failed;
            }
            rc = bw_http_parse_chunk_size_done(ctx, &state);
            break;

        default:
            if (++ctx->line_len > BW_HTTP_CHUNK_LINE_MAX) {
                rc = BW_HTTP_PARSE_INVALID_CHUNKED;
                goto failed;
            }
            if (c == BW_LF && state != BW_CH_SIZE_START && state != BW_CH_EXT_QUOTED
                && state != BW_CH_EXT_QUOTED_PAIR) {
                rc = bw_http_parse_chunk_size_done(ctx, &state);
                break;
            }
            rc = bw_http_parse_chunk_size_byte(ctx, c, &state);
            break;
        }

        if (rc != BW_OK) {
            goto failed;
        }
        p++;
    }

    ctx->state = state;
    *pos = last;
    return BW_AGAIN;

failed:
    ctx->state = BW_CH_SIZE_START;
    *pos = p;
    return BW_HTTP_PARSE_INVALID_CHUNKED;
}

/* ---- URI normalisation ---- */

/*
 * A '/' (literal or decoded) or the end of the path closes the segment that
 * ends at *dp: a "." segment is dropped, a ".." segment drops itself and the
 * segment before it; *dropped tells whether it was (the output then already
 * ends in '/'). BW_HTTP_PARSE_INVALID_REQUEST when ".." climbs above "/".
 */
static bw_rc_t
bw_http_parse_uri_segment_end(u_char *dst, u_char **dp, bool *dropped)
{
    u_char *d = *dp;
    u_char *seg = d;

    *dropped = false;
    while (seg[-1] != '/') {
        seg--;
    }
    if (d - seg == 1 && seg[0] == '.') {
        *dp = seg;
        *dropped = true;
        return BW_OK;
    }
    if (d - seg != 2 || seg[0] != '.' || seg[1] != '.') {
        return BW_OK;
    }
    u_char *q = seg - 1; /* the '/' before ".." */
    if (q == dst) {
        return BW_HTTP_PARSE_INVALID_REQUEST; /* above the root */
    }
    do {
        q--;
    } while (*q != '/');
    *dp = q + 1;
    *dropped = true;
    return BW_OK;
}

/* Sets exten to what follows the last '.' of the last segment of [dst, end). */
static void
bw_http_parse_uri_exten(u_char *dst, u_char *end, bw_str_t *exten)
{
    exten->len = 0;
    exten->data = NULL;
    for (u_char *q = end; q > dst && q[-1] != '/'; q--) {
        if (q[-1] == '.') {
            exten->data = q;
            exten->len = (size_t) (end - q);
            return;
        }
    }
}

bw_rc_t
bw_http_parse_complex_uri(const bw_str_t *path, u_char *dst, bool merge_slashes, bw_str_t *uri,
                          bw_str_t *exten)
{
    const u_char *p = path->data;
    const u_char *end = p + path->len;
    u_char       *d = dst;
    bool          dropped;

    if (path->len == 0) {
        dst[0] = '/';
        uri->data = dst;
        uri->len = 1;
        exten->len = 0;
        exten->data = NULL;
        return BW_OK;
    }
    if (*p != '/') {
        return BW_HTTP_PARSE_INVALID_REQUEST;
    }

    while (p < end) {
        u_char c = *p++;

        if (c == '%') {
            int hi = (end - p >= 2) ? bw_http_parse_hex_value(p[0]) : -1;
            int lo = (end - p >= 2) ? bw_http_parse_hex_value(p[1]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return BW_HTTP_PARSE_INVALID_REQUEST; /* bad escape or NUL */
            }
            c = (u_char) (hi << 4 | lo);
            p += 2;
        }
        if (c != '/') {
            *d++ = c;
            continue;
        }
        if (d > dst) {
            if (bw_http_parse_uri_segment_end(dst, &d, &dropped) != BW_OK) {
                return BW_HTTP_PARSE_INVALID_REQUEST;
            }
            if (dropped || (merge_slashes && d[-1] == '/')) {
                continue;
            }
        }
        *d++ = '/';
    }

    if (bw_http_parse_uri_segment_end(dst, &d, &dropped) != BW_OK) {
        return BW_HTTP_PARSE_INVALID_REQUEST;
    }
    uri->data = dst;
    uri->len = (size_t) (d - dst);
    bw_http_parse_uri_exten(dst, d, exten);
    return BW_OK;
}

/* True when a decoded segment of len bytes, dots of them '.', is "." or "..". */
static bool
bw_http_parse_is_dot_segment(unsigned len, unsigned dots)
{
    return len > 0 && len <= 2 && dots == len;
}

bw_rc_t
bw_http_parse_unsafe_uri(bw_str_t *uri, bw_str_t *args, bool *quoted)
{
    u_char  *p = uri->data;
    u_char  *end = p + uri->len;
    unsigned seg_len = 0, seg_dots = 0;

    *quoted = false;
    args->len = 0;
    args->data = NULL;
    if (uri->len == 0 || *p != '/') {
        return BW_ERROR;
    }

    for (; p < end; p++) {
        u_char c = *p;

        if (c == '?') {
            args->data = p + 1;
            args->len = (size_t) (end - p - 1);
            uri->len = (size_t) (p - uri->data);
            break;
        }
        if (c == '%') {
            int hi = (end - p > 2) ? bw_http_parse_hex_value(p[1]) : -1;
            int lo = (end - p > 2) ? bw_http_parse_hex_value(p[2]) : -1;
            if (hi < 0 || lo < 0) {
                return BW_ERROR;
            }
            c = (u_char) (hi << 4 | lo);
            p += 2;
            *quoted = true;
        }
        if (c < 0x20 || c == 0x7f) {
            return BW_ERROR; /* NUL and controls, raw or decoded */
        }
        if (c == '/') {
            if (bw_http_parse_is_dot_segment(seg_len, seg_dots)) {
                return BW_ERROR;
            }
            seg_len = 0;
            seg_dots = 0;
            continue;
        }
        seg_len++;
        seg_dots += (c == '.');
    }
    return bw_http_parse_is_dot_segment(seg_len, seg_dots) ? BW_ERROR : BW_OK;
}

/* ---- header values ---- */

int64_t
bw_http_parse_content_length(const bw_str_t *value)
{
    return bw_atoi(value->data, value->len);
}

bw_rc_t
bw_http_parse_transfer_encoding(const bw_str_t *value)
{
    static const u_char chunked[] = "chunked";

    if (value->len == sizeof(chunked) - 1
        && bw_strncasecmp(value->data, chunked, sizeof(chunked) - 1) == 0) {
        return BW_OK;
    }
    return BW_HTTP_PARSE_UNKNOWN_TE;
}

enum {
    BW_HOST_NAME = 0,
    BW_HOST_LITERAL, /* inside "[...]" */
    BW_HOST_AFTER_LITERAL,
    BW_HOST_PORT,
};

/*
 * Scans a Host value: the length of the host part (port excluded) in *end and
 * whether it has uppercase letters. BW_HTTP_PARSE_INVALID_HOST on bad bytes.
 */
static bw_rc_t
bw_http_parse_host_scan(const u_char *h, size_t len, size_t *end, bool *upper)
{
    unsigned state = BW_HOST_NAME;
    bool     dot = false;

    *end = len;
    for (size_t i = 0; i < len; i++) {
        u_char c = h[i];

        switch (state) {
        case BW_HOST_NAME:
            if (c == '.') {
                if (dot) {
                    return BW_HTTP_PARSE_INVALID_HOST; /* ".." */
                }
                dot = true;
                continue;
            }
            dot = false;
            if (c == ':') {
                *end = i;
                state = BW_HOST_PORT;
            } else if (c == '[' && i == 0) {
                state = BW_HOST_LITERAL;
            } else if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '[' || c == ']') {
                return BW_HTTP_PARSE_INVALID_HOST;
            } else if (c >= 'A' && c <= 'Z') {
                *upper = true;
            }
            break;

        case BW_HOST_LITERAL:
            if (c == ']') {
                *end = i + 1;
                state = BW_HOST_AFTER_LITERAL;
            } else if (bw_http_parse_hex_value(c) >= 0 || c == ':' || c == '.') {
                *upper = *upper || (c >= 'A' && c <= 'Z');
            } else {
                return BW_HTTP_PARSE_INVALID_HOST;
            }
            break;

        case BW_HOST_AFTER_LITERAL:
            if (c != ':') {
                return BW_HTTP_PARSE_INVALID_HOST;
            }
            state = BW_HOST_PORT;
            break;

        case BW_HOST_PORT:
            if (!bw_http_parse_is_digit(c)) {
                return BW_HTTP_PARSE_INVALID_HOST;
            }
            break;
        }
    }
    return state == BW_HOST_LITERAL ? BW_HTTP_PARSE_INVALID_HOST : BW_OK;
}

bw_rc_t
bw_http_validate_host(bw_str_t *host, bw_pool_t *pool)
{
    size_t end;
    bool   upper = false;

    if (bw_http_parse_host_scan(host->data, host->len, &end, &upper) != BW_OK) {
        return BW_HTTP_PARSE_INVALID_HOST;
    }
    if (end > 0 && host->data[end - 1] == '.') {
        end--; /* "example.com." names the same host */
    }
    if (end == 0) {
        return BW_HTTP_PARSE_INVALID_HOST;
    }
    host->len = end;
    if (!upper) {
        return BW_OK;
    }
    if (pool != NULL) {
        u_char *copy = bw_pnalloc(pool, end);
        if (copy == NULL) {
            return BW_ERROR;
        }
        bw_strlow(copy, host->data, end);
        host->data = copy;
        return BW_OK;
    }
    bw_strlow(host->data, host->data, end);
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
