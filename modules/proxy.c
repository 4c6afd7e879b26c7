/*
 * proxy.c -- the proxy module: `proxy_pass` and the proxy_* directives.
 *
 * It builds the HTTP/1.x request a backend receives (request line with
 * nginx's URI replacement rules, proxy_set_header values, the client's
 * headers less the hop-by-hop ones, the buffered request body) and parses
 * the backend's status line and header lines strictly: anything malformed
 * is "upstream sent invalid header" and a 502. Connections, timeouts, peer
 * choice, body framing and relay belong to the upstream core (upstream.c).
 *
 * Where bulwark is stricter than nginx 1.22 on purpose: a response without
 * a valid status line is a 502 (nginx relays it as HTTP/0.9); duplicate or
 * invalid Content-Length, an unknown Transfer-Encoding, Content-Length with
 * Transfer-Encoding, a Transfer-Encoding in an HTTP/1.0 response and control
 * characters in header values are 502s (newer nginx rejects most of them).
 * Interim 1xx responses (other than 101) are skipped, not passed as final.
 *
 * proxy_cookie_domain and proxy_cookie_path live in proxy_cookie.c.
 */
#include "conf.h"
#include "core_module.h"
#include "pool.h"
#include "proxy_internal.h"
#include "regex.h"
#include "request.h"
#include "script.h"
#include "upstream.h"
#include "upstream_rr.h"
#include "variables.h"

#include <stdio.h>

/* What a proxy_set_header entry sends. */
typedef enum {
    BW_PROXY_HEADER_VALUE = 0,  /* its complex value (empty: not sent) */
    BW_PROXY_HEADER_BODY_LENGTH,/* Content-Length of the body sent, when there is one */
    BW_PROXY_HEADER_CHUNKED,    /* "chunked" when the body streams chunked, else not sent */
} bw_proxy_header_kind_t;

typedef struct {
    bw_str_t                 key;
    bw_str_t                 lowcase;
    bw_http_complex_value_t *value;
    bw_proxy_header_kind_t   kind;
} bw_proxy_header_t;

/* Per-request state. */
typedef struct {
    bw_proxy_vars_t       vars;
    bw_http_header_line_t hl;
    enum { BW_PROXY_STATUS = 0, BW_PROXY_HEADERS } state;
    bw_uint_t             version_minor;
} bw_proxy_ctx_t;

static const char *bw_proxy_pass(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_proxy_set_header(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_proxy_set_cv(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_proxy_set_buffers(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_proxy_set_redirect(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static void *bw_proxy_create_loc(bw_conf_t *cf);
static const char *bw_proxy_merge_loc(bw_conf_t *cf, void *prev, void *conf);
static bw_rc_t bw_proxy_add_variables(bw_conf_t *cf);

static const bw_conf_enum_t bw_proxy_http_versions[] = {
    {"1.0", BW_HTTP_VERSION_10},
    {"1.1", BW_HTTP_VERSION_11},
    {NULL, 0},
};

#define BW_PROXY_LOC  (BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC)
#define BW_PROXY_UOFF(f) offsetof(bw_proxy_loc_conf_t, upstream.f)

static const bw_directive_t bw_proxy_directives[] = {
    {"proxy_pass", BW_CTX_LOC | BW_CTX_LIF | BW_CTX_LMT, BW_ARGS_TAKE1, BW_CONF_LOC,
     bw_proxy_pass, 0, NULL},
    {"proxy_set_header", BW_PROXY_LOC, BW_ARGS_TAKE2, BW_CONF_LOC, bw_proxy_set_header, 0, NULL},
    {"proxy_set_body", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_proxy_set_cv,
     BW_PROXY_OFF(body), NULL},
    {"proxy_method", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_proxy_set_cv,
     BW_PROXY_OFF(method), NULL},
    {"proxy_http_version", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_enum,
     BW_PROXY_OFF(http_version), bw_proxy_http_versions},
    {"proxy_redirect", BW_PROXY_LOC, BW_ARGS_TAKE12, BW_CONF_LOC, bw_proxy_set_redirect, 0,
     NULL},
    {"proxy_connect_timeout", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_msec,
     BW_PROXY_UOFF(connect_timeout), NULL},
    {"proxy_send_timeout", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_msec,
     BW_PROXY_UOFF(send_timeout), NULL},
    {"proxy_read_timeout", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_msec,
     BW_PROXY_UOFF(read_timeout), NULL},
    {"proxy_next_upstream", BW_PROXY_LOC, BW_ARGS_1MORE, BW_CONF_LOC, bw_conf_set_bitmask,
     BW_PROXY_UOFF(next_upstream), bw_upstream_next_upstream_masks},
    {"proxy_next_upstream_tries", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_num,
     BW_PROXY_UOFF(next_upstream_tries), NULL},
    {"proxy_next_upstream_timeout", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_msec,
     BW_PROXY_UOFF(next_upstream_timeout), NULL},
    {"proxy_buffer_size", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_size,
     BW_PROXY_UOFF(buffer_size), NULL},
    {"proxy_buffers", BW_PROXY_LOC, BW_ARGS_TAKE2, BW_CONF_LOC, bw_proxy_set_buffers, 0, NULL},
    {"proxy_busy_buffers_size", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_size,
     BW_PROXY_UOFF(busy_buffers_size), NULL},
    {"proxy_buffering", BW_PROXY_LOC | BW_CTX_LIF, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_PROXY_UOFF(buffering), NULL},
    {"proxy_request_buffering", BW_PROXY_LOC | BW_CTX_LIF, BW_ARGS_FLAG, BW_CONF_LOC,
     bw_conf_set_flag, BW_PROXY_UOFF(request_buffering), NULL},
    {"proxy_max_temp_file_size", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_off,
     BW_PROXY_UOFF(max_temp_file_size), NULL},
    {"proxy_temp_file_write_size", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_size,
     BW_PROXY_UOFF(temp_file_write_size), NULL},
    {"proxy_ignore_client_abort", BW_PROXY_LOC, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_PROXY_UOFF(ignore_client_abort), NULL},
    {"proxy_intercept_errors", BW_PROXY_LOC, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_PROXY_UOFF(intercept_errors), NULL},
    {"proxy_pass_request_headers", BW_PROXY_LOC, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_PROXY_UOFF(pass_request_headers), NULL},
    {"proxy_pass_request_body", BW_PROXY_LOC, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_PROXY_UOFF(pass_request_body), NULL},
    {"proxy_socket_keepalive", BW_PROXY_LOC, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_PROXY_UOFF(socket_keepalive), NULL},
    {"proxy_hide_header", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_str_array,
     BW_PROXY_UOFF(hide_headers), NULL},
    {"proxy_pass_header", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_str_array,
     BW_PROXY_UOFF(pass_headers), NULL},
    {"proxy_headers_hash_max_size", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_num,
     BW_PROXY_OFF(headers_hash_max_size), NULL},
    {"proxy_headers_hash_bucket_size", BW_PROXY_LOC, BW_ARGS_TAKE1, BW_CONF_LOC,
     bw_conf_set_num, BW_PROXY_OFF(headers_hash_bucket_size), NULL},
    {"proxy_temp_path", BW_PROXY_LOC, BW_ARGS_TAKE1234, BW_CONF_LOC, bw_upstream_set_temp_path,
     BW_PROXY_UOFF(temp_path), NULL},
    {"proxy_ignore_headers", BW_PROXY_LOC, BW_ARGS_1MORE, BW_CONF_LOC, bw_conf_set_bitmask,
     BW_PROXY_UOFF(ignore_headers), bw_upstream_ignore_headers_masks},
    {"proxy_cookie_domain", BW_PROXY_LOC, BW_ARGS_TAKE12, BW_CONF_LOC, bw_proxy_set_cookie_rule,
     BW_PROXY_OFF(cookie_domains), NULL},
    {"proxy_cookie_path", BW_PROXY_LOC, BW_ARGS_TAKE12, BW_CONF_LOC, bw_proxy_set_cookie_rule,
     BW_PROXY_OFF(cookie_paths), NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_proxy_module_ctx = {
    .preconfiguration = bw_proxy_add_variables,
    .create_loc = bw_proxy_create_loc,
    .merge_loc = bw_proxy_merge_loc,
};

bw_module_t bw_proxy_module = {
    .name = "proxy",
    .type = BW_MODULE_HTTP,
    .directives = bw_proxy_directives,
    .ctx = &bw_proxy_module_ctx,
};

static inline bw_proxy_ctx_t *
bw_proxy_ctx(bw_http_request_t *r)
{
    return r->ctx ? bw_http_get_ctx(r, bw_proxy_module) : NULL;
}

/* ================================================================ */
/* the content handler                                               */
/* ================================================================ */

static bw_rc_t bw_proxy_create_request(bw_http_request_t *r);
static bw_rc_t bw_proxy_reinit_request(bw_http_request_t *r);
static bw_rc_t bw_proxy_process_header(bw_http_request_t *r);
static bw_rc_t bw_proxy_rewrite_redirect(bw_http_request_t *r, bw_http_header_t *h);
static bool bw_proxy_stream_body(bw_http_request_t *r, bw_proxy_loc_conf_t *plcf);
static bw_int_t bw_proxy_eval(bw_http_request_t *r, bw_proxy_loc_conf_t *plcf,
                              bw_proxy_ctx_t *ctx, bw_upstream_t *u);

static bw_int_t
bw_proxy_handler(bw_http_request_t *r)
{
    bw_proxy_loc_conf_t *plcf = bw_proxy_loc(r);
    bw_upstream_t       *u = bw_upstream_create(r);
    bw_proxy_ctx_t      *ctx = bw_pcalloc(r->pool, sizeof(*ctx));

    if (u == NULL || ctx == NULL) {
        return 500;
    }
    bw_http_set_ctx(r, ctx, bw_proxy_module);
    u->conf = &plcf->upstream;
    if (plcf->url_cv != NULL) {
        bw_int_t rc = bw_proxy_eval(r, plcf, ctx, u);
        if (rc != BW_OK) {
            return rc;
        }
    } else {
        ctx->vars = plcf->vars;
        u->upstream = plcf->upstream.upstream;
    }
    bw_str_set(&u->schema, "http://");
    if (ctx->vars.url.len > 8
        && bw_strncasecmp(ctx->vars.url.data, (u_char *) "https://", 8) == 0) {
        bw_str_set(&u->schema, "https://"); /* proxy_ssl: TLS to the peer */
        u->ssl = 1;
    }
    u->url = ctx->vars.url;
    u->create_request = bw_proxy_create_request;
    u->reinit_request = bw_proxy_reinit_request;
    u->process_header = bw_proxy_process_header;
    if (plcf->redirect) {
        u->rewrite_redirect = bw_proxy_rewrite_redirect;
    }
    if (plcf->cookie_domains != NULL || plcf->cookie_paths != NULL) {
        u->rewrite_cookie = bw_proxy_rewrite_cookie;
    }

    bw_int_t rc;
    if (bw_proxy_stream_body(r, plcf)) {
        /* a chunked body streams chunked to an HTTP/1.1 peer only */
        rc = bw_upstream_stream_body_init(r, r->headers_in.chunked);
        if (rc != BW_OK) {
            return rc;
        }
    }
    rc = bw_http_read_client_request_body(r, bw_upstream_init);
    if (rc == BW_ERROR || rc >= 300) {
        return rc;
    }
    return BW_DONE;
}

/*
 * proxy_request_buffering off: the body goes to the peer as it arrives,
 * unless it is replaced or dropped, or it is chunked and the peer speaks
 * HTTP/1.0 (then it is read whole to send its length, as nginx does).
 */
static bool
bw_proxy_stream_body(bw_http_request_t *r, bw_proxy_loc_conf_t *plcf)
{
    if (plcf->upstream.request_buffering || !plcf->upstream.pass_request_body
        || plcf->body != NULL || r != r->main) {
        return false;
    }
    if (r->headers_in.chunked) {
        return plcf->http_version == BW_HTTP_VERSION_11;
    }
    return r->headers_in.content_length_n > 0;
}

/* Splits "http://authority/uri" (after the scheme) into u; BW_OK or BW_ERROR
 * with u->err, or "invalid URL prefix" when the scheme is not http. */
static bw_rc_t
bw_proxy_url_parse(bw_pool_t *pool, const bw_str_t *url, bw_upstream_url_t *u)
{
    memset(u, 0, sizeof(*u));
    if (bw_upstream_ssl_hooks.init != NULL && url->len >= 8
        && bw_strncasecmp(url->data, (u_char *) "https://", 8) == 0) {
        /* proxy_ssl is built in: TLS to the peer, port 443 by default */
        u->url.data = url->data + 8;
        u->url.len = url->len - 8;
        u->default_port = 443;
        return bw_upstream_url_parse(pool, u, true);
    }
    if (url->len < 7 || bw_strncasecmp(url->data, (u_char *) "http://", 7) != 0) {
        u->err = url->len >= 8 && bw_strncasecmp(url->data, (u_char *) "https://", 8) == 0
                     ? "https protocol requires SSL support"
                     : "invalid URL prefix";
        return BW_ERROR;
    }
    u->url.data = url->data + 7;
    u->url.len = url->len - 7;
    u->default_port = 80;
    return bw_upstream_url_parse(pool, u, true);
}

/* $proxy_host and $proxy_port of a parsed target. */
static bw_rc_t
bw_proxy_vars_set(bw_pool_t *pool, const bw_upstream_url_t *u, const bw_str_t *url,
                  bw_proxy_vars_t *vars)
{
    vars->url = *url;
    vars->uri = u->uri;
    if (u->unix_path) {
        bw_str_set(&vars->host_header, "localhost");
        bw_str_null(&vars->port);
        return BW_OK;
    }
    if (u->no_port || u->port == u->default_port) {
        /* the scheme's own port is left out of Host (443 for https://: proxy_ssl) */
        vars->host_header = u->host;
        if (u->default_port == 443) {
            bw_str_set(&vars->port, "443");
        } else {
            bw_str_set(&vars->port, "80");
        }
        return BW_OK;
    }
    /* host:port as written */
    vars->host_header.data = u->host.data;
    vars->host_header.len = (size_t) (u->port_text.data + u->port_text.len - u->host.data);
    vars->port = u->port_text;
    return BW_OK;
}

/* proxy_pass with variables: the target of this request. */
static bw_int_t
bw_proxy_eval(bw_http_request_t *r, bw_proxy_loc_conf_t *plcf, bw_proxy_ctx_t *ctx,
              bw_upstream_t *u)
{
    bw_str_t          url;
    bw_upstream_url_t pu;

    if (bw_http_complex_value(r, plcf->url_cv, &url) != BW_OK) {
        return 500;
    }
    if (bw_proxy_url_parse(r->pool, &url, &pu) != BW_OK) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "%s in upstream \"%.*s\"",
                     pu.err ? pu.err : "invalid URL", BW_STR_ARG(url));
        return 500;
    }
    bw_proxy_vars_set(r->pool, &pu, &url, &ctx->vars);

    if (pu.no_port) {
        u->upstream = bw_upstream_find(r, &pu.host);
        if (u->upstream != NULL) {
            return BW_OK;
        }
    }
    if (pu.naddrs == 0) {
        if (bw_http_core_loc(r)->resolver == NULL) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0, "no resolver defined to resolve %.*s",
                         BW_STR_ARG(pu.host));
            return 502;
        }
        u->resolve_host = pu.host; /* bw_upstream_init resolves it */
        u->resolve_port = pu.port;
        return BW_OK;
    }
    bw_str_t name = {pu.url.len - pu.uri.len, pu.url.data};
    u->upstream = bw_upstream_rr_group_create(r->pool, &pu.host, &name, pu.addrs, pu.naddrs);
    return u->upstream ? BW_OK : 500;
}

/* ================================================================ */
/* the request                                                       */
/* ================================================================ */

/* Bytes the URI of a request line escapes (as nginx: space, #, %, ?, controls, >= 0x7f). */
static bool
bw_proxy_uri_escaped(u_char c)
{
    return c <= 0x20 || c == '#' || c == '%' || c == '?' || c >= 0x7f;
}

/* Escapes [src, src+n) into dst (NULL: only count); returns the escaped length. */
static size_t
bw_proxy_escape_uri(u_char *dst, const u_char *src, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t            len = 0;

    for (size_t i = 0; i < n; i++) {
        if (!bw_proxy_uri_escaped(src[i])) {
            if (dst) {
                dst[len] = src[i];
            }
            len++;
            continue;
        }
        if (dst) {
            dst[len] = '%';
            dst[len + 1] = (u_char) hex[src[i] >> 4];
            dst[len + 2] = (u_char) hex[src[i] & 0xf];
        }
        len += 3;
    }
    return len;
}

/*
 * The request target, by nginx's rules:
 *  - proxy_pass with variables and a URI part: that URI, as evaluated;
 *  - no URI part and the URI unchanged: the client's request target as sent;
 *  - no URI part and the URI changed (rewrite, internal redirect): the
 *    current URI, escaped, plus "?args";
 *  - a URI part: it replaces the part of the normalised URI that matched
 *    the location, plus "?args"; after rewrite...break in the location the
 *    URI part is ignored and the changed URI is passed whole.
 */
static bw_rc_t
bw_proxy_uri(bw_http_request_t *r, bw_proxy_loc_conf_t *plcf, bw_proxy_ctx_t *ctx, bw_str_t *out)
{
    const bw_str_t *vuri = &ctx->vars.uri;

    if (plcf->url_cv != NULL && vuri->len) {
        *out = *vuri;
        return BW_OK;
    }
    if (vuri->len == 0 && !r->internal) {
        *out = r->unparsed_uri;
        return BW_OK;
    }

    /* a URI changed by rewrite...break in this location is passed whole:
     * the URI part of proxy_pass is then ignored, as nginx does */
    bw_str_t none = bw_null_string;
    if (!r->valid_location) {
        vuri = &none;
    }
    size_t loc_len = vuri->len ? plcf->location.len : 0;
    if (loc_len > r->uri.len) {
        loc_len = r->uri.len;
    }
    const u_char *rest = r->uri.data + loc_len;
    size_t        rest_len = r->uri.len - loc_len;
    bool          escape = r->quoted_uri || r->internal;
    size_t        len = vuri->len + (escape ? bw_proxy_escape_uri(NULL, rest, rest_len) : rest_len)
                 + (r->args.len ? r->args.len + 1 : 0);

    u_char *p = bw_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    out->data = p;
    if (vuri->len) {
        p = (u_char *) mempcpy(p, vuri->data, vuri->len);
    }
    if (escape) {
        p += bw_proxy_escape_uri(p, rest, rest_len);
    } else {
        memcpy(p, rest, rest_len);
        p += rest_len;
    }
    if (r->args.len) {
        *p++ = '?';
        memcpy(p, r->args.data, r->args.len);
        p += r->args.len;
    }
    out->len = (size_t) (p - out->data);
    if (out->len == 0) {
        bw_str_set(out, "/");
    }
    return BW_OK;
}

/* True when a merged proxy_set_header entry names this client header. */
static bool
bw_proxy_header_overridden(const bw_proxy_loc_conf_t *plcf, const bw_http_header_t *h)
{
    const bw_proxy_header_t *ph = plcf->headers->elts;

    for (size_t i = 0; i < plcf->headers->nelts; i++) {
        if (ph[i].key.len == h->key.len
            && bw_strncasecmp(ph[i].key.data, h->key.data, h->key.len) == 0) {
            return true;
        }
    }
    return false;
}

/* The body to send: a chain and its length; *known false when none is sent. */
static bw_rc_t
bw_proxy_body(bw_http_request_t *r, bw_proxy_loc_conf_t *plcf, bw_chain_t **body, off_t *len,
              bool *known)
{
    *body = NULL;
    *len = 0;
    *known = false;
    if (plcf->body != NULL) {
        bw_str_t text;
        if (bw_http_complex_value(r, plcf->body, &text) != BW_OK) {
            return BW_ERROR;
        }
        *known = true;
        *len = (off_t) text.len;
        if (text.len == 0) {
            return BW_OK;
        }
        bw_chain_t *cl = bw_chain_alloc_link(r->pool);
        bw_buf_t   *b = bw_buf_calloc(r->pool);
        if (cl == NULL || b == NULL) {
            return BW_ERROR;
        }
        b->start = b->pos = text.data;
        b->end = b->last = text.data + text.len;
        b->memory = 1;
        cl->buf = b;
        cl->next = NULL;
        *body = cl;
        return BW_OK;
    }
    if (r->headers_in.content_length_n < 0 && !r->headers_in.chunked) {
        return BW_OK;
    }
    bw_upstream_t *u = bw_upstream_get(r);
    if (u->stream != NULL) {
        /* streamed after the head: its length is the client's, unless chunked */
        *known = !u->request_chunked;
        *len = r->headers_in.content_length_n;
        return BW_OK;
    }
    *known = true;
    bw_chain_t *bufs = r->request_body ? r->request_body->bufs : NULL;
    *len = bufs ? bw_chain_size(bufs) : 0;
    if (plcf->upstream.pass_request_body) {
        *body = bufs;
    } else if (!r->headers_in.chunked) {
        /* as nginx: the client's Content-Length goes on without the body
         * (configurations clear it with proxy_set_header Content-Length "") */
        *len = r->headers_in.content_length_n;
    }
    return BW_OK;
}

/* The configured header values of this request (empty: not sent). */
static bw_str_t *
bw_proxy_header_values(bw_http_request_t *r, bw_proxy_loc_conf_t *plcf, bool body_known,
                       off_t body_len)
{
    bw_upstream_t *u = bw_upstream_get(r);
    bool           chunked = u->stream != NULL && u->request_chunked;
    size_t                   nh = plcf->headers->nelts;
    const bw_proxy_header_t *ph = plcf->headers->elts;
    bw_str_t                *values = bw_pcalloc(r->pool, (nh ? nh : 1) * sizeof(bw_str_t));

    for (size_t i = 0; values && i < nh; i++) {
        if (ph[i].kind == BW_PROXY_HEADER_VALUE) {
            if (bw_http_complex_value(r, ph[i].value, &values[i]) != BW_OK) {
                return NULL;
            }
        } else if (ph[i].kind == BW_PROXY_HEADER_BODY_LENGTH && body_known) {
            bw_str_t *n = bw_psprintf(r->pool, "%lld", (long long) body_len);
            if (n == NULL) {
                return NULL;
            }
            values[i] = *n;
        } else if (ph[i].kind == BW_PROXY_HEADER_CHUNKED && chunked) {
            bw_str_set(&values[i], "chunked");
        }
    }
    return values;
}

/* Writes "Key: value" CRLF at p; returns the end. */
static u_char *
bw_proxy_write_header(u_char *p, const bw_str_t *key, const bw_str_t *value)
{
    p = (u_char *) mempcpy(p, key->data, key->len);
    *p++ = ':';
    *p++ = ' ';
    p = (u_char *) mempcpy(p, value->data, value->len);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* The request head: request line, configured headers, the client's others. */
static bw_buf_t *
bw_proxy_request_head(bw_http_request_t *r, bw_proxy_loc_conf_t *plcf, const bw_str_t *method,
                      const bw_str_t *uri, const bw_str_t *values)
{
    const bw_proxy_header_t *ph = plcf->headers->elts;
    size_t                   nh = plcf->headers->nelts;
    const bw_http_header_t  *h = r->headers_in.headers.elts;
    size_t nin = plcf->upstream.pass_request_headers ? r->headers_in.headers.nelts : 0;
    const char *version = plcf->http_version == BW_HTTP_VERSION_11 ? " HTTP/1.1\r\n"
                                                                    : " HTTP/1.0\r\n";
    size_t len = method->len + 1 + uri->len + strlen(version) + 2;

    for (size_t i = 0; i < nh; i++) {
        len += values[i].len ? ph[i].key.len + values[i].len + 4 : 0;
    }
    for (size_t i = 0; i < nin; i++) {
        len += bw_proxy_header_overridden(plcf, &h[i]) ? 0 : h[i].key.len + h[i].value.len + 4;
    }

    bw_buf_t *b = bw_buf_create_temp(r->pool, len);
    if (b == NULL) {
        return NULL;
    }
    u_char *p = b->last;
    p = (u_char *) mempcpy(p, method->data, method->len);
    *p++ = ' ';
    p = (u_char *) mempcpy(p, uri->data, uri->len);
    p = (u_char *) mempcpy(p, version, strlen(version));
    for (size_t i = 0; i < nh; i++) {
        if (values[i].len) {
            p = bw_proxy_write_header(p, &ph[i].key, &values[i]);
        }
    }
    for (size_t i = 0; i < nin; i++) {
        if (!bw_proxy_header_overridden(plcf, &h[i])) {
            p = bw_proxy_write_header(p, &h[i].key, &h[i].value);
        }
    }
    *p++ = '\r';
    *p++ = '\n';
    b->last = p;
    return b;
}

static bw_rc_t
bw_proxy_create_request(bw_http_request_t *r)
{
    bw_upstream_t       *u = bw_upstream_get(r);
    bw_proxy_loc_conf_t *plcf = bw_proxy_loc(r);
    bw_str_t             method = r->method_name, uri;
    bw_chain_t          *body;
    off_t                body_len;
    bool                 body_known;

    if (plcf->method != NULL && bw_http_complex_value(r, plcf->method, &method) != BW_OK) {
        return BW_ERROR;
    }
    u->head = bw_str_eq_lit(&method, "HEAD");
    if (bw_proxy_uri(r, plcf, bw_proxy_ctx(r), &uri) != BW_OK
        || bw_proxy_body(r, plcf, &body, &body_len, &body_known) != BW_OK) {
        return BW_ERROR;
    }
    u->uri = uri;
    bw_str_t *values = bw_proxy_header_values(r, plcf, body_known, body_len);
    bw_buf_t *b = values ? bw_proxy_request_head(r, plcf, &method, &uri, values) : NULL;
    bw_chain_t *cl = bw_chain_alloc_link(r->pool);
    if (b == NULL || cl == NULL) {
        return BW_ERROR;
    }
    cl->buf = b;
    cl->next = body;
    u->request_bufs = cl;
    return BW_OK;
}

static bw_rc_t
bw_proxy_reinit_request(bw_http_request_t *r)
{
    bw_proxy_ctx_t *ctx = bw_proxy_ctx(r);

    if (ctx == NULL) {
        return BW_ERROR;
    }
    ctx->state = BW_PROXY_STATUS;
    memset(&ctx->hl, 0, sizeof(ctx->hl));
    return BW_OK;
}

/* ================================================================ */
/* the response head                                                 */
/* ================================================================ */

/* A copy of [p, p+n) in the request pool, NUL-terminated. */
static bw_rc_t
bw_proxy_copy(bw_pool_t *pool, bw_str_t *dst, const u_char *p, size_t n)
{
    dst->data = bw_pnalloc(pool, n + 1);
    if (dst->data == NULL) {
        return BW_ERROR;
    }
    memcpy(dst->data, p, n);
    dst->data[n] = '\0';
    dst->len = n;
    return BW_OK;
}

/* "HTTP/1.x NNN[ reason]" in [p, end): BW_OK or BW_DECLINED when invalid. */
static bw_rc_t
bw_proxy_parse_status(const u_char *p, const u_char *end, bw_uint_t *status, bw_uint_t *minor)
{
    size_t n = (size_t) (end - p);

    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ') {
        return BW_DECLINED;
    }
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return BW_DECLINED;
        }
    }
    if (n > 12 && p[12] != ' ') {
        return BW_DECLINED;
    }
    for (size_t i = 13; i < n; i++) {
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) {
            return BW_DECLINED;
        }
    }
    *status = (bw_uint_t) ((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
    *minor = (bw_uint_t) (p[7] - '0');
    return *status >= 100 && *status <= 599 ? BW_OK : BW_DECLINED;
}

/* True while the bytes so far may still begin a status line. */
static bool
bw_proxy_status_prefix_ok(const u_char *p, const u_char *last)
{
    static const char prefix[] = "HTTP/1.";
    size_t            n = bw_min((size_t) (last - p), sizeof(prefix) - 1);

    return memcmp(p, prefix, n) == 0;
}

static bw_rc_t
bw_proxy_status_line(bw_http_request_t *r, bw_upstream_t *u, bw_proxy_ctx_t *ctx)
{
    u_char *p = u->buffer.pos, *last = u->buffer.last;
    u_char *lf = memchr(p, '\n', (size_t) (last - p));

    if (lf == NULL && bw_proxy_status_prefix_ok(p, last)) {
        return BW_AGAIN;
    }
    u_char   *end = lf;
    bw_uint_t status = 0, minor = 0;
    if (end != NULL && end > p && end[-1] == '\r') {
        end--;
    }
    if (end == NULL || bw_proxy_parse_status(p, end, &status, &minor) != BW_OK) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "upstream sent no valid HTTP/1.0 header");
        return BW_UPSTREAM_INVALID_HEADER;
    }
    bw_upstream_headers_in_t *in = &u->headers_in;
    in->status_n = status;
    in->http_version = minor >= 1 ? BW_HTTP_VERSION_11 : BW_HTTP_VERSION_10;
    in->connection_close = minor == 0;
    if (bw_proxy_copy(r->pool, &in->status_line, p + 9, (size_t) (end - p - 9)) != BW_OK) {
        return BW_ERROR;
    }
    ctx->version_minor = minor;
    u->buffer.pos = lf + 1;
    return BW_OK;
}

/* Logs `what: "line..."`: the line up to and including the bad byte, escaped. */
static void
bw_proxy_log_header(bw_http_request_t *r, const char *what, const u_char *start,
                    const u_char *bad, const u_char *last)
{
    char   buf[256];
    size_t n = 0;

    if (start == NULL || start > bad) {
        start = bad;
    }
    const u_char *end = bad < last ? bad + 1 : last;
    for (const u_char *p = start; p < end && n < sizeof(buf) - 8; p++) {
        if (*p >= 0x21 && *p < 0x7f && *p != '"' && *p != '\\') {
            buf[n++] = (char) *p;
        } else {
            n += (size_t) snprintf(buf + n, sizeof(buf) - n, "\\x%02X", *p);
        }
    }
    buf[n] = '\0';
    bw_log_error(BW_LOG_ERR, r->connection->log, 0, "%s: \"%s...\"", what, buf);
}

/* Records Content-Length / Transfer-Encoding / Connection of a parsed header. */
static bw_rc_t
bw_proxy_header_framing(bw_http_request_t *r, bw_upstream_headers_in_t *in, bw_http_header_t *h)
{
    bw_log_t *log = r->connection->log;
    bw_str_t  lname = {h->key.len, h->lowcase_key};

    if (bw_str_eq_lit(&lname, "content-length")) {
        if (in->content_length != NULL) {
            bw_log_error(BW_LOG_ERR, log, 0,
                         "upstream sent duplicate header line: \"%.*s: %.*s\", previous value: "
                         "\"%.*s: %.*s\"",
                         BW_STR_ARG(h->key), BW_STR_ARG(h->value),
                         BW_STR_ARG(in->content_length->key),
                         BW_STR_ARG(in->content_length->value));
            return BW_UPSTREAM_INVALID_HEADER;
        }
        in->content_length_n = bw_http_parse_content_length(&h->value);
        if (in->content_length_n < 0) {
            bw_log_error(BW_LOG_ERR, log, 0,
                         "upstream sent invalid \"Content-Length\" header: \"%.*s: %.*s\"",
                         BW_STR_ARG(h->key), BW_STR_ARG(h->value));
            return BW_UPSTREAM_INVALID_HEADER;
        }
        in->content_length = h;
    } else if (bw_str_eq_lit(&lname, "transfer-encoding")) {
        if (in->transfer_encoding != NULL
            || bw_http_parse_transfer_encoding(&h->value) != BW_OK) {
            bw_log_error(BW_LOG_ERR, log, 0, "upstream sent unknown \"Transfer-Encoding\": \"%.*s\"",
                         BW_STR_ARG(h->value));
            return BW_UPSTREAM_INVALID_HEADER;
        }
        in->transfer_encoding = h;
        in->chunked = true;
    } else if (bw_str_eq_lit(&lname, "connection")) {
        in->connection = h;
        for (size_t i = 0; i + 5 <= h->value.len; i++) {
            if (bw_strncasecmp(h->value.data + i, (u_char *) "close", 5) == 0) {
                in->connection_close = true;
            }
            if (i + 7 <= h->value.len
                && bw_strncasecmp(h->value.data + i, (u_char *) "upgrade", 7) == 0) {
                in->upgrade = true;
            }
        }
    }
    return BW_OK;
}

/* Stores the header line the parser just returned (copied out of the buffer). */
static bw_rc_t
bw_proxy_header_add(bw_http_request_t *r, bw_upstream_t *u, bw_proxy_ctx_t *ctx)
{
    bw_http_header_line_t *hl = &ctx->hl;

    if (hl->flags & BW_HTTP_HEADER_NOT_TOKEN) {
        bw_proxy_log_header(r, "upstream sent invalid header", hl->line_start, hl->name_end,
                            u->buffer.last);
        return BW_UPSTREAM_INVALID_HEADER;
    }
    bw_http_header_t *h = bw_array_push(&u->headers_in.headers);
    if (h == NULL) {
        return BW_ERROR;
    }
    size_t klen = (size_t) (hl->name_end - hl->name_start);
    size_t vlen = (size_t) (hl->value_end - hl->value_start);
    if (bw_proxy_copy(r->pool, &h->key, hl->name_start, klen) != BW_OK
        || bw_proxy_copy(r->pool, &h->value, hl->value_start, vlen) != BW_OK
        || (h->lowcase_key = bw_pnalloc(r->pool, klen + 1)) == NULL) {
        return BW_ERROR;
    }
    bw_strlow(h->lowcase_key, h->key.data, klen);
    h->lowcase_key[klen] = '\0';
    h->hash = hl->hash ? hl->hash : 1;
    h->next = NULL;
    return bw_proxy_header_framing(r, &u->headers_in, h);
}

/* Checks across header lines once the head is complete. */
static bw_rc_t
bw_proxy_headers_done(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_headers_in_t *in = &u->headers_in;
    bw_log_t                 *log = r->connection->log;

    if (in->chunked && in->content_length != NULL) {
        bw_log_error(BW_LOG_ERR, log, 0, "upstream sent \"Content-Length\" and "
                                         "\"Transfer-Encoding\" headers at the same time");
        return BW_UPSTREAM_INVALID_HEADER;
    }
    if (in->chunked && in->http_version == BW_HTTP_VERSION_10) {
        bw_log_error(BW_LOG_ERR, log, 0,
                     "upstream sent HTTP/1.0 response with \"Transfer-Encoding\" header");
        return BW_UPSTREAM_INVALID_HEADER;
    }
    if (in->status_n == 101 && r->headers_in.upgrade == NULL) {
        /* only a request that asked for an upgrade may be switched */
        bw_log_error(BW_LOG_ERR, log, 0, "upstream sent unexpected \"101 Switching Protocols\"");
        return BW_UPSTREAM_INVALID_HEADER;
    }
    return BW_OK;
}

/* Forgets an interim (1xx) response head so the final one can follow. */
static void
bw_proxy_interim_reset(bw_upstream_t *u, bw_proxy_ctx_t *ctx)
{
    bw_array_t headers = u->headers_in.headers;

    headers.nelts = 0;
    memset(&u->headers_in, 0, sizeof(u->headers_in));
    u->headers_in.headers = headers;
    u->headers_in.content_length_n = -1;
    ctx->state = BW_PROXY_STATUS;
}

static bw_rc_t
bw_proxy_process_header(bw_http_request_t *r)
{
    bw_upstream_t  *u = bw_upstream_get(r);
    bw_proxy_ctx_t *ctx = bw_proxy_ctx(r);

    for (;;) {
        if (ctx->state == BW_PROXY_STATUS) {
            bw_rc_t rc = bw_proxy_status_line(r, u, ctx);
            if (rc != BW_OK) {
                return rc;
            }
            ctx->state = BW_PROXY_HEADERS;
            memset(&ctx->hl, 0, sizeof(ctx->hl));
        }
        bw_rc_t rc = bw_http_parse_header_line(&ctx->hl, &u->buffer.pos, u->buffer.last);
        if (rc == BW_AGAIN) {
            return BW_AGAIN;
        }
        if (rc == BW_OK) {
            rc = bw_proxy_header_add(r, u, ctx);
            if (rc != BW_OK) {
                return rc;
            }
            continue;
        }
        if (rc == BW_DONE) {
            if (u->headers_in.status_n < 200 && u->headers_in.status_n != 101) {
                bw_proxy_interim_reset(u, ctx);
                continue;
            }
            return bw_proxy_headers_done(r, u);
        }
        bw_proxy_log_header(r, "upstream sent invalid header", ctx->hl.line_start,
                            u->buffer.pos, u->buffer.last);
        return BW_UPSTREAM_INVALID_HEADER;
    }
}

/* ================================================================ */
/* proxy_redirect                                                    */
/* ================================================================ */

/* Rewrites [value+prefix, ...) by the first matching rule. BW_OK when one did. */
static bw_rc_t
bw_proxy_redirect_apply(bw_http_request_t *r, bw_proxy_loc_conf_t *plcf, bw_str_t *value,
                        size_t prefix)
{
    const bw_proxy_redirect_t *pr = plcf->redirects->elts;
    bw_str_t                   rest = {value->len - prefix, value->data + prefix};

    for (size_t i = 0; i < plcf->redirects->nelts; i++) {
        bw_str_t pattern, repl;
        size_t   matched;

        if (pr[i].regex != NULL) {
            if (bw_regex_exec_request(r, pr[i].regex, &rest) != BW_OK) {
                continue;
            }
            matched = rest.len;
        } else {
            if (bw_http_complex_value(r, pr[i].pattern, &pattern) != BW_OK) {
                return BW_ERROR;
            }
            if (pattern.len > rest.len || memcmp(rest.data, pattern.data, pattern.len) != 0) {
                continue;
            }
            matched = pattern.len;
        }
        if (bw_http_complex_value(r, pr[i].replacement, &repl) != BW_OK) {
            return BW_ERROR;
        }
        size_t  len = prefix + repl.len + rest.len - matched;
        u_char *p = bw_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            return BW_ERROR;
        }
        memcpy(p, value->data, prefix);
        memcpy(p + prefix, repl.data, repl.len);
        memcpy(p + prefix + repl.len, rest.data + matched, rest.len - matched);
        p[len] = '\0';
        value->data = p;
        value->len = len;
        return BW_OK;
    }
    return BW_DECLINED;
}

/* The upstream core's hook for Location and Refresh: BW_OK rewritten,
 * BW_DECLINED unchanged, BW_ERROR. */
static bw_rc_t
bw_proxy_rewrite_redirect(bw_http_request_t *r, bw_http_header_t *h)
{
    bw_proxy_loc_conf_t *plcf = bw_proxy_loc(r);
    size_t               prefix = 0;

    if (plcf->redirects == NULL || plcf->redirects->nelts == 0) {
        return BW_DECLINED;
    }
    if (h->key.len == 7 && bw_strncasecmp(h->key.data, (u_char *) "refresh", 7) == 0) {
        /* "5; url=http://..." */
        for (; prefix + 4 <= h->value.len; prefix++) {
            if (bw_strncasecmp(h->value.data + prefix, (u_char *) "url=", 4) == 0) {
                break;
            }
        }
        if (prefix + 4 > h->value.len) {
            return BW_DECLINED;
        }
        prefix += 4;
    }
    return bw_proxy_redirect_apply(r, plcf, &h->value, prefix);
}

/* ================================================================ */
/* variables                                                         */
/* ================================================================ */

static bw_rc_t
bw_proxy_var_host(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_proxy_ctx_t *ctx = bw_proxy_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return BW_OK;
    }
    const bw_str_t *s = data ? &ctx->vars.port : &ctx->vars.host_header;
    v->data = s->data;
    v->len = s->len;
    return BW_OK;
}

/* $proxy_add_x_forwarded_for: the client's X-Forwarded-For values, then its address. */
static bw_rc_t
bw_proxy_var_xff(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const bw_str_t *addr = &r->connection->addr_text;
    size_t          len = addr->len;

    for (bw_http_header_t *h = r->headers_in.x_forwarded_for; h; h = h->next) {
        len += h->value.len + 2;
    }
    if (len == addr->len) {
        v->data = addr->data;
        v->len = addr->len;
        return BW_OK;
    }
    u_char *p = bw_pnalloc(r->pool, len);
    if (p == NULL) {
        return BW_ERROR;
    }
    v->data = p;
    for (bw_http_header_t *h = r->headers_in.x_forwarded_for; h; h = h->next) {
        p = (u_char *) mempcpy(p, h->value.data, h->value.len);
        *p++ = ',';
        *p++ = ' ';
    }
    p = (u_char *) mempcpy(p, addr->data, addr->len);
    v->len = (size_t) (p - v->data);
    return BW_OK;
}

static const bw_http_variable_def_t bw_proxy_variables[] = {
    {"proxy_host", bw_proxy_var_host, NULL, 0,
     BW_HTTP_VAR_CHANGEABLE | BW_HTTP_VAR_NOCACHEABLE | BW_HTTP_VAR_NOHASH},
    {"proxy_port", bw_proxy_var_host, NULL, 1,
     BW_HTTP_VAR_CHANGEABLE | BW_HTTP_VAR_NOCACHEABLE | BW_HTTP_VAR_NOHASH},
    {"proxy_add_x_forwarded_for", bw_proxy_var_xff, NULL, 0, BW_HTTP_VAR_NOHASH},
    {NULL, NULL, NULL, 0, 0},
};

static bw_rc_t
bw_proxy_add_variables(bw_conf_t *cf)
{
    return bw_http_add_variables(cf, bw_proxy_variables);
}

/* ================================================================ */
/* configuration                                                     */
/* ================================================================ */

static const char *
bw_proxy_pass(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_proxy_loc_conf_t     *plcf = conf;
    bw_http_core_loc_conf_t *clcf = bw_http_conf_get_loc_conf(cf, bw_http_core_module);
    bw_str_t                *value = cf->args->elts;
    bw_upstream_url_t        u;

    if (plcf->url.data != NULL) {
        return "is duplicate";
    }
    clcf->handler = bw_proxy_handler;
    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] == '/' && clcf->regex == NULL
        && !clcf->named) {
        clcf->auto_redirect = true;
    }
    plcf->url = value[1];
    plcf->location = clcf->name;
    /* proxy_ssl: TLS to the peer (or maybe: variables) needs a client TLS context */
    bool https = value[1].len >= 8 && bw_strncasecmp(value[1].data, (u_char *) "https://", 8) == 0;
    if (bw_upstream_ssl_hooks.conf != NULL
        && (https || bw_http_script_variables_count(&value[1]) > 0)
        && bw_upstream_ssl_hooks.conf(cf) != BW_OK) {
        return BW_CONF_ERROR;
    }

    if (bw_http_script_variables_count(&value[1]) > 0) {
        return bw_http_compile_complex_value(cf, &value[1], &plcf->url_cv) == BW_OK
                   ? BW_CONF_OK
                   : BW_CONF_ERROR;
    }
    if (bw_proxy_url_parse(cf->pool, &value[1], &u) != BW_OK) {
        if (u.url.data == NULL) {
            bw_conf_error(cf, "%s", u.err);
        } else {
            bw_conf_error(cf, "%s in upstream \"%.*s\"", u.err, BW_STR_ARG(u.url));
        }
        return BW_CONF_ERROR;
    }
    plcf->upstream.upstream = bw_upstream_add(cf, &u, 0);
    if (plcf->upstream.upstream == NULL) {
        return BW_CONF_ERROR;
    }
    bw_proxy_vars_set(cf->pool, &u, &value[1], &plcf->vars);

    if (u.uri.len
        && (clcf->regex != NULL || clcf->named || cf->ctx_type == BW_CTX_LIF
            || cf->ctx_type == BW_CTX_LMT)) {
        bw_conf_error(cf, "\"proxy_pass\" cannot have URI part in location given by regular "
                          "expression, or inside named location, or inside \"if\" statement, "
                          "or inside \"limit_except\" block");
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

/* An entry of the header list: key, its lowercase, value compiled (or a kind). */
static bw_rc_t
bw_proxy_header_init(bw_conf_t *cf, bw_proxy_header_t *h, const bw_str_t *key,
                     const bw_str_t *value, bw_proxy_header_kind_t kind)
{
    h->key = *key;
    h->kind = kind;
    h->value = NULL;
    h->lowcase.len = key->len;
    h->lowcase.data = bw_pnalloc(cf->pool, key->len + 1);
    if (h->lowcase.data == NULL) {
        return BW_ERROR;
    }
    bw_strlow(h->lowcase.data, key->data, key->len);
    h->lowcase.data[key->len] = '\0';
    if (kind != BW_PROXY_HEADER_VALUE) {
        return BW_OK;
    }
    return bw_http_compile_complex_value(cf, value, &h->value);
}

static const char *
bw_proxy_set_header(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_proxy_loc_conf_t *plcf = conf;
    bw_str_t            *value = cf->args->elts;

    if (plcf->headers_source == BW_CONF_UNSET_PTR) {
        plcf->headers_source = bw_array_create(cf->pool, 4, sizeof(bw_proxy_header_t));
        if (plcf->headers_source == NULL) {
            return BW_CONF_ERROR;
        }
    }
    bw_proxy_header_t *h = bw_array_push(plcf->headers_source);
    if (h == NULL
        || bw_proxy_header_init(cf, h, &value[1], &value[2], BW_PROXY_HEADER_VALUE) != BW_OK) {
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

/* A directive whose argument is a complex value (proxy_set_body, proxy_method). */
static const char *
bw_proxy_set_cv(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_complex_value_t **cv = (bw_http_complex_value_t **) ((char *) conf + d->offset);
    bw_str_t                 *value = cf->args->elts;

    if (*cv != BW_CONF_UNSET_PTR) {
        return "is duplicate";
    }
    return bw_http_compile_complex_value(cf, &value[1], cv) == BW_OK ? BW_CONF_OK
                                                                     : BW_CONF_ERROR;
}

static const char *
bw_proxy_set_buffers(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_proxy_loc_conf_t *plcf = conf;
    bw_str_t            *value = cf->args->elts;

    if (plcf->upstream.bufs_num != BW_CONF_UNSET) {
        return "is duplicate";
    }
    int64_t num = bw_atoi(value[1].data, value[1].len);
    int64_t size = bw_parse_size(&value[2]);
    if (num <= 0 || size <= 0) {
        bw_conf_error(cf, "invalid value \"%.*s %.*s\"", BW_STR_ARG(value[1]),
                      BW_STR_ARG(value[2]));
        return BW_CONF_ERROR;
    }
    plcf->upstream.bufs_num = (bw_int_t) num;
    plcf->upstream.bufs_size = (size_t) size;
    return BW_CONF_OK;
}

/* The `default` rule: proxy_pass's URL (with "/" when it has no URI part)
 * becomes the location's name (or "/"). */
static const char *
bw_proxy_redirect_default(bw_conf_t *cf, bw_proxy_loc_conf_t *conf, bw_proxy_redirect_t *pr)
{
    bw_str_t pattern, repl;

    if (conf->vars.uri.len) {
        pattern = conf->url;
        repl = conf->location;
    } else {
        pattern.len = conf->url.len + 1;
        pattern.data = bw_pnalloc(cf->pool, pattern.len + 1);
        if (pattern.data == NULL) {
            return BW_CONF_ERROR;
        }
        memcpy(pattern.data, conf->url.data, conf->url.len);
        pattern.data[conf->url.len] = '/';
        pattern.data[pattern.len] = '\0';
        bw_str_set(&repl, "/");
    }
    memset(pr, 0, sizeof(*pr));
    if (bw_http_compile_complex_value(cf, &pattern, &pr->pattern) != BW_OK
        || bw_http_compile_complex_value(cf, &repl, &pr->replacement) != BW_OK) {
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

/* A new rule at the end of conf->redirects; NULL on no memory. */
static bw_proxy_redirect_t *
bw_proxy_redirect_push(bw_conf_t *cf, bw_proxy_loc_conf_t *plcf)
{
    if (plcf->redirects == BW_CONF_UNSET_PTR || plcf->redirects == NULL) {
        plcf->redirects = bw_array_create(cf->pool, 2, sizeof(bw_proxy_redirect_t));
        if (plcf->redirects == NULL) {
            return NULL;
        }
    }
    bw_proxy_redirect_t *pr = bw_array_push(plcf->redirects);
    if (pr != NULL) {
        memset(pr, 0, sizeof(*pr));
    }
    return pr;
}

static const char *
bw_proxy_set_redirect(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_proxy_loc_conf_t *plcf = conf;
    bw_str_t            *value = cf->args->elts;
    bw_proxy_redirect_t *pr;

    if (plcf->redirect == 0) {
        return "is duplicate";
    }
    plcf->redirect = 1;
    if (cf->args->nelts == 2) {
        if (bw_str_eq_lit(&value[1], "off")) {
            if (plcf->redirects != BW_CONF_UNSET_PTR) {
                return "is duplicate";
            }
            plcf->redirect = 0;
            return BW_CONF_OK;
        }
        if (!bw_str_eq_lit(&value[1], "default")) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(value[1]));
            return BW_CONF_ERROR;
        }
        if (plcf->url_cv != NULL) {
            bw_conf_error(cf, "\"proxy_redirect default\" cannot be used with \"proxy_pass\" "
                              "directive with variables");
            return BW_CONF_ERROR;
        }
        if (plcf->url.data == NULL) {
            bw_conf_error(cf, "\"proxy_redirect default\" should be placed after the "
                              "\"proxy_pass\" directive");
            return BW_CONF_ERROR;
        }
        pr = bw_proxy_redirect_push(cf, plcf);
        return pr ? bw_proxy_redirect_default(cf, plcf, pr) : BW_CONF_ERROR;
    }

    pr = bw_proxy_redirect_push(cf, plcf);
    if (pr == NULL) {
        return BW_CONF_ERROR;
    }
    if (value[1].len > 0 && value[1].data[0] == '~') {
        bool     caseless = value[1].len > 1 && value[1].data[1] == '*';
        bw_str_t re = {value[1].len - 1 - caseless, value[1].data + 1 + caseless};
        pr->regex = bw_http_regex_compile(cf, &re, caseless);
        if (pr->regex == NULL) {
            return BW_CONF_ERROR;
        }
    } else if (bw_http_compile_complex_value(cf, &value[1], &pr->pattern) != BW_OK) {
        return BW_CONF_ERROR;
    }
    return bw_http_compile_complex_value(cf, &value[2], &pr->replacement) == BW_OK
               ? BW_CONF_OK
               : BW_CONF_ERROR;
}

static void *
bw_proxy_create_loc(bw_conf_t *cf)
{
    bw_proxy_loc_conf_t *plcf = bw_pcalloc(cf->pool, sizeof(*plcf));

    if (plcf == NULL) {
        return NULL;
    }
    bw_upstream_conf_init(&plcf->upstream);
    plcf->headers_source = BW_CONF_UNSET_PTR;
    plcf->body = BW_CONF_UNSET_PTR;
    plcf->method = BW_CONF_UNSET_PTR;
    plcf->http_version = BW_CONF_UNSET_UINT;
    plcf->redirect = BW_CONF_UNSET;
    plcf->redirects = BW_CONF_UNSET_PTR;
    plcf->headers_hash_max_size = BW_CONF_UNSET_UINT;
    plcf->headers_hash_bucket_size = BW_CONF_UNSET_UINT;
    plcf->cookie_domains = BW_CONF_UNSET_PTR;
    plcf->cookie_paths = BW_CONF_UNSET_PTR;
    return plcf;
}

/* nginx's default proxy_set_header list, after the configured ones. */
static const struct {
    const char            *key;
    const char            *value;
    bw_proxy_header_kind_t kind;
} bw_proxy_default_headers[] = {
    {"Host", "$proxy_host", BW_PROXY_HEADER_VALUE},
    {"Connection", "close", BW_PROXY_HEADER_VALUE},
    {"Content-Length", NULL, BW_PROXY_HEADER_BODY_LENGTH},
    {"Transfer-Encoding", NULL, BW_PROXY_HEADER_CHUNKED},
    {"TE", "", BW_PROXY_HEADER_VALUE},
    {"Keep-Alive", "", BW_PROXY_HEADER_VALUE},
    {"Expect", "", BW_PROXY_HEADER_VALUE},
    {"Upgrade", "", BW_PROXY_HEADER_VALUE},
    {NULL, NULL, 0},
};

static bool
bw_proxy_headers_has(const bw_array_t *a, const char *key)
{
    const bw_proxy_header_t *h = a->elts;
    size_t                   n = strlen(key);

    for (size_t i = 0; i < a->nelts; i++) {
        if (h[i].key.len == n && bw_strncasecmp(h[i].key.data, (u_char *) key, n) == 0) {
            return true;
        }
    }
    return false;
}

/* The configured headers followed by the defaults they do not name. */
static const char *
bw_proxy_merge_headers(bw_conf_t *cf, bw_proxy_loc_conf_t *conf, bw_proxy_loc_conf_t *prev)
{
    if (conf->headers_source == BW_CONF_UNSET_PTR) {
        conf->headers_source = prev->headers_source;
        conf->headers = prev->headers;
    }
    if (conf->headers != NULL) {
        return BW_CONF_OK;
    }
    bw_array_t *src = conf->headers_source == BW_CONF_UNSET_PTR ? NULL : conf->headers_source;
    conf->headers = bw_array_create(cf->pool, 12, sizeof(bw_proxy_header_t));
    if (conf->headers == NULL) {
        return BW_CONF_ERROR;
    }
    for (size_t i = 0; src && i < src->nelts; i++) {
        bw_proxy_header_t *h = bw_array_push(conf->headers);
        if (h == NULL) {
            return BW_CONF_ERROR;
        }
        *h = ((bw_proxy_header_t *) src->elts)[i];
    }
    for (size_t i = 0; bw_proxy_default_headers[i].key; i++) {
        if (bw_proxy_headers_has(conf->headers, bw_proxy_default_headers[i].key)) {
            continue;
        }
        bw_str_t key = {strlen(bw_proxy_default_headers[i].key),
                        (u_char *) bw_proxy_default_headers[i].key};
        const char *v = bw_proxy_default_headers[i].value;
        bw_str_t value = {v ? strlen(v) : 0, (u_char *) (v ? v : "")};
        bw_proxy_header_t *h = bw_array_push(conf->headers);
        if (h == NULL
            || bw_proxy_header_init(cf, h, &key, &value, bw_proxy_default_headers[i].kind)
                   != BW_OK) {
            return BW_CONF_ERROR;
        }
    }
    /* a conf with inherited proxy_set_header shares the merged list */
    if (conf->headers_source == prev->headers_source && prev->headers == NULL) {
        prev->headers = conf->headers;
    }
    return BW_CONF_OK;
}

/* As nginx: rules are inherited whole; a location with proxy_pass and no
 * rule of its own or inherited gets the `default` one. */
static const char *
bw_proxy_merge_redirect(bw_conf_t *cf, bw_proxy_loc_conf_t *conf, bw_proxy_loc_conf_t *prev)
{
    bw_conf_merge_value(conf->redirect, prev->redirect, 1);
    if (!conf->redirect) {
        conf->redirects = NULL;
        return BW_CONF_OK;
    }
    if (conf->redirects == BW_CONF_UNSET_PTR) {
        conf->redirects = prev->redirects == BW_CONF_UNSET_PTR ? NULL : prev->redirects;
    }
    if (conf->redirects == NULL && conf->url.data != NULL && conf->url_cv == NULL) {
        bw_proxy_redirect_t *pr = bw_proxy_redirect_push(cf, conf);
        return pr ? bw_proxy_redirect_default(cf, conf, pr) : BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

static const char *
bw_proxy_merge_loc(bw_conf_t *cf, void *parent, void *child)
{
    bw_proxy_loc_conf_t     *prev = parent, *conf = child;
    bw_http_core_loc_conf_t *clcf = bw_http_conf_get_loc_conf(cf, bw_http_core_module);

    if (clcf->noname && conf->url.data == NULL) {
        /* if{} and limit_except{} blocks proxy where their location does */
        conf->url = prev->url;
        conf->url_cv = prev->url_cv;
        conf->vars = prev->vars;
        conf->location = prev->location;
        conf->upstream.upstream = prev->upstream.upstream;
    }
    if (clcf->lmt_excpt && clcf->handler == NULL
        && (conf->upstream.upstream != NULL || conf->url_cv != NULL)) {
        clcf->handler = bw_proxy_handler;
    }
    if (bw_upstream_conf_merge(cf, &conf->upstream, &prev->upstream) != BW_CONF_OK
        || bw_upstream_temp_path_merge(cf, &conf->upstream, &prev->upstream, "proxy_temp")
               != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    bw_conf_merge_ptr(conf->cookie_domains, prev->cookie_domains, NULL);
    bw_conf_merge_ptr(conf->cookie_paths, prev->cookie_paths, NULL);
    bw_conf_merge_ptr(conf->body, prev->body, NULL);
    bw_conf_merge_ptr(conf->method, prev->method, NULL);
    bw_conf_merge_uint(conf->http_version, prev->http_version, BW_HTTP_VERSION_10);
    bw_conf_merge_uint(conf->headers_hash_max_size, prev->headers_hash_max_size, 512);
    bw_conf_merge_uint(conf->headers_hash_bucket_size, prev->headers_hash_bucket_size, 64);
    if (bw_proxy_merge_headers(cf, conf, prev) != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    return bw_proxy_merge_redirect(cf, conf, prev);
}
