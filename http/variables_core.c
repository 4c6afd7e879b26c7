/*
 * variables_core.c -- the standard variables of the http core: request
 * line and headers ($uri, $args, $host, $http_*, $cookie_*, $arg_*), the
 * connection ($remote_addr, $server_port, $connection ...), files
 * ($document_root, $request_filename), the response ($status,
 * $sent_http_*, $body_bytes_sent) and the clock ($msec, $time_local).
 *
 * Each getter fills a bw_http_variable_value_t from the request as it is
 * now; variables.c caches the result unless the variable is NOCACHEABLE.
 */
#include "variables.h"

#include "clock.h"
#include "cycle.h"
#include "pool.h"
#include "script.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef BW_NGINX_VERSION
#define BW_NGINX_VERSION "1.31.5"
#endif
#ifndef BW_VERSION
#define BW_VERSION "0.0.0"
#endif

/* ---- small helpers ---- */

static void
bw_http_var_set(bw_http_variable_value_t *v, const u_char *data, size_t len)
{
    v->data = (u_char *) data;
    v->len = len;
}

static void
bw_http_var_set_str(bw_http_variable_value_t *v, const bw_str_t *s)
{
    bw_http_var_set(v, s->data, s->len);
}

/* printf into request pool memory. */
static bw_rc_t
bw_http_var_printf(bw_http_request_t *r, bw_http_variable_value_t *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bw_rc_t
bw_http_var_printf(bw_http_request_t *r, bw_http_variable_value_t *v, const char *fmt, ...)
{
    char    buf[128];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(buf)) {
        return BW_ERROR;
    }
    u_char *p = bw_pnalloc(r->pool, n ? (size_t) n : 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    memcpy(p, buf, (size_t) n);
    bw_http_var_set(v, p, (size_t) n);
    return BW_OK;
}

/* A copy of s in the request pool (for values that live in shared buffers). */
static bw_rc_t
bw_http_var_copy(bw_http_request_t *r, bw_http_variable_value_t *v, const u_char *s, size_t n)
{
    u_char *p = bw_pnalloc(r->pool, n ? n : 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    if (n) {
        memcpy(p, s, n);
    }
    bw_http_var_set(v, p, n);
    return BW_OK;
}

/* The string field at byte offset `data` of the request. */
static bw_rc_t
bw_http_var_request_str(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_str_t *s = (bw_str_t *) ((u_char *) r + data);
    if (s->data == NULL) {
        v->not_found = 1;
        return BW_OK;
    }
    bw_http_var_set_str(v, s);
    return BW_OK;
}

/* A constant string given as `data` (const char *). */
static bw_rc_t
bw_http_var_const(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const char *s = (const char *) data;
    bw_http_var_set(v, (const u_char *) s, strlen(s));
    return BW_OK;
}

/* True when header name `key` is the variable suffix `name` ('-' spelled '_'). */
static bool
bw_http_var_header_name_eq(const bw_str_t *key, const bw_str_t *name)
{
    if (key->len != name->len) {
        return false;
    }
    for (size_t i = 0; i < key->len; i++) {
        u_char c = bw_tolower(key->data[i]);
        if (c == '-') {
            c = '_';
        }
        if (c != bw_tolower(name->data[i])) {
            return false;
        }
    }
    return true;
}

/*
 * Every header of `headers` named `name`, joined with `sep` (", " or "; ")
 * as nginx joins repeated fields. Deleted entries (hash 0) are skipped when
 * skip_deleted.
 */
static bw_rc_t
bw_http_var_headers_join(bw_http_request_t *r, bw_http_variable_value_t *v,
                         const bw_array_t *headers, const bw_str_t *name, const char *sep,
                         bool skip_deleted)
{
    bw_http_header_t *h = headers->elts;
    size_t            len = 0, n = 0, seplen = strlen(sep);
    bw_http_header_t *first = NULL;

    for (size_t i = 0; i < headers->nelts; i++) {
        if ((skip_deleted && h[i].hash == 0) || !bw_http_var_header_name_eq(&h[i].key, name)) {
            continue;
        }
        len += (n ? seplen : 0) + h[i].value.len;
        if (n++ == 0) {
            first = &h[i];
        }
    }
    if (n == 0) {
        v->not_found = 1;
        return BW_OK;
    }
    if (n == 1) {
        bw_http_var_set_str(v, &first->value);
        return BW_OK;
    }
    u_char *p = bw_pnalloc(r->pool, len);
    if (p == NULL) {
        return BW_ERROR;
    }
    bw_http_var_set(v, p, len);
    n = 0;
    for (size_t i = 0; i < headers->nelts; i++) {
        if ((skip_deleted && h[i].hash == 0) || !bw_http_var_header_name_eq(&h[i].key, name)) {
            continue;
        }
        if (n++) {
            memcpy(p, sep, seplen);
            p += seplen;
        }
        if (h[i].value.len) {
            memcpy(p, h[i].value.data, h[i].value.len);
            p += h[i].value.len;
        }
    }
    return BW_OK;
}

/* ---- request headers and arguments ---- */

/* $http_NAME: data is a bw_str_t * of NAME. Repeats are joined (cookies with "; "). */
static bw_rc_t
bw_http_var_http(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const bw_str_t *name = (const bw_str_t *) data;
    const char     *sep = bw_str_eq_lit(name, "cookie") ? "; " : ", ";
    return bw_http_var_headers_join(r, v, &r->headers_in.headers, name, sep, false);
}

/*
 * Finds cookie `name` in one Cookie value: names start the value or follow
 * ';' or ',' and optional spaces; spaces around '=' are skipped; the value
 * runs to the next ';' (nginx's reading).
 */
static bool
bw_http_var_cookie_find(const bw_str_t *header, const bw_str_t *name, bw_str_t *value)
{
    u_char *p = header->data, *end = p + header->len;

    while (p < end) {
        if ((size_t) (end - p) >= name->len && bw_strncasecmp(p, name->data, name->len) == 0) {
            u_char *q = p + name->len;
            while (q < end && *q == ' ') {
                q++;
            }
            if (q < end && *q == '=') {
                for (q++; q < end && *q == ' '; q++) {
                }
                value->data = q;
                while (q < end && *q != ';') {
                    q++;
                }
                value->len = (size_t) (q - value->data);
                return true;
            }
        }
        while (p < end && *p != ';' && *p != ',') {
            p++;
        }
        for (p++; p < end && *p == ' '; p++) {
        }
    }
    return false;
}

/* $cookie_NAME. */
static bw_rc_t
bw_http_var_cookie(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const bw_str_t   *name = (const bw_str_t *) data;
    bw_http_header_t *h = r->headers_in.headers.elts;
    static const bw_str_t cookie = bw_string("cookie");
    bw_str_t          value;

    for (size_t i = 0; i < r->headers_in.headers.nelts; i++) {
        if (bw_str_caseeq(&h[i].key, &cookie) && bw_http_var_cookie_find(&h[i].value, name, &value)) {
            bw_http_var_set_str(v, &value);
            return BW_OK;
        }
    }
    v->not_found = 1;
    return BW_OK;
}

/* $arg_NAME: the first NAME=value of the arguments, as sent (not decoded). */
static bw_rc_t
bw_http_var_arg(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const bw_str_t *name = (const bw_str_t *) data;
    u_char         *p = r->args.data, *end = p + r->args.len;

    while (p != NULL && p < end) {
        if ((size_t) (end - p) > name->len && bw_strncasecmp(p, name->data, name->len) == 0
            && p[name->len] == '=') {
            u_char *q = p + name->len + 1;
            u_char *amp = memchr(q, '&', (size_t) (end - q));
            bw_http_var_set(v, q, (size_t) ((amp ? amp : end) - q));
            return BW_OK;
        }
        p = memchr(p, '&', (size_t) (end - p));
        if (p != NULL) {
            p++;
        }
    }
    v->not_found = 1;
    return BW_OK;
}

/* $content_type: the first Content-Type request header. */
static bw_rc_t
bw_http_var_content_type(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    static const bw_str_t name = bw_string("content_type");
    bw_http_header_t     *h = r->headers_in.headers.elts;

    for (size_t i = 0; i < r->headers_in.headers.nelts; i++) {
        if (bw_http_var_header_name_eq(&h[i].key, &name)) {
            bw_http_var_set_str(v, &h[i].value);
            return BW_OK;
        }
    }
    v->not_found = 1;
    return BW_OK;
}

static bw_rc_t
bw_http_var_host(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    if (r->headers_in.server.len) {
        bw_http_var_set_str(v, &r->headers_in.server);
        return BW_OK;
    }
    if (r->srv_conf == NULL) {
        return BW_OK;
    }
    bw_http_var_set_str(v, &bw_http_core_srv(r)->server_name);
    return BW_OK;
}

static bw_rc_t
bw_http_var_server_name(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    if (r->srv_conf != NULL) {
        bw_http_var_set_str(v, &bw_http_core_srv(r)->server_name);
    }
    return BW_OK;
}

static bw_rc_t
bw_http_var_is_args(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_http_var_set(v, (const u_char *) "?", r->args.len ? 1 : 0);
    return BW_OK;
}

static void
bw_http_var_set_args(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    r->args.data = v->data;
    r->args.len = v->len;
}

static bw_rc_t
bw_http_var_content_length(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    if (r->headers_in.content_length != NULL) {
        bw_http_var_set_str(v, &r->headers_in.content_length->value);
        return BW_OK;
    }
    if (!r->reading_body && r->headers_in.content_length_n >= 0) {
        return bw_http_var_printf(r, v, "%lld", (long long) r->headers_in.content_length_n);
    }
    v->not_found = 1;
    return BW_OK;
}

/* The user name of "Authorization: Basic base64(user:password)". */
static bw_rc_t
bw_http_var_remote_user(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_http_header_t *h = r->headers_in.authorization;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    v->not_found = 1;
    if (h == NULL || h->value.len < 6 || bw_strncasecmp(h->value.data, (u_char *) "Basic ", 6)) {
        return BW_OK;
    }
    u_char *p = h->value.data + 6, *end = h->value.data + h->value.len;
    while (p < end && *p == ' ') {
        p++;
    }
    u_char *out = bw_pnalloc(r->pool, (size_t) (end - p) + 1), *o = out;
    uint32_t acc = 0;
    int      bits = 0;
    if (out == NULL) {
        return BW_ERROR;
    }
    for (; p < end && *p != '='; p++) {
        const char *c = *p ? strchr(b64, *p) : NULL;
        if (c == NULL) {
            return BW_OK;
        }
        acc = (acc << 6) | (uint32_t) (c - b64);
        if ((bits += 6) >= 8) {
            bits -= 8;
            *o++ = (u_char) (acc >> bits);
        }
    }
    u_char *colon = memchr(out, ':', (size_t) (o - out));
    if (colon != NULL) {
        v->not_found = 0;
        bw_http_var_set(v, out, (size_t) (colon - out));
    }
    return BW_OK;
}

/* ---- connection ---- */

static bw_rc_t
bw_http_var_remote_addr(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_http_var_set_str(v, &r->connection->addr_text);
    return BW_OK;
}

static bw_rc_t
bw_http_var_binary_remote_addr(bw_http_request_t *r, bw_http_variable_value_t *v,
                               uintptr_t data)
{
    struct sockaddr *sa = r->connection->sockaddr;

    if (sa != NULL && sa->sa_family == AF_INET) {
        bw_http_var_set(v, (u_char *) &((struct sockaddr_in *) sa)->sin_addr, 4);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        bw_http_var_set(v, (u_char *) &((struct sockaddr_in6 *) sa)->sin6_addr, 16);
    }
    return BW_OK;
}

/* The port of a socket address, or -1 for a family without ports. */
static int
bw_http_var_sockaddr_port(const struct sockaddr *sa)
{
    if (sa == NULL) {
        return -1;
    }
    if (sa->sa_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *) sa)->sin_port);
    }
    if (sa->sa_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *) sa)->sin6_port);
    }
    return -1;
}

static bw_rc_t
bw_http_var_remote_port(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    int port = bw_http_var_sockaddr_port(r->connection->sockaddr);
    return port <= 0 || port > 65535 ? BW_OK : bw_http_var_printf(r, v, "%d", port);
}

static bw_rc_t
bw_http_var_server_addr(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_connection_t *c = r->connection;
    u_char           buf[BW_SOCKADDR_STRLEN];

    if (c->local_sockaddr == NULL && bw_connection_local_sockaddr(c) != BW_OK) {
        return BW_ERROR;
    }
    size_t n = bw_sockaddr_text(c->local_sockaddr, c->local_socklen, buf, sizeof(buf), false);
    return bw_http_var_copy(r, v, buf, n);
}

static bw_rc_t
bw_http_var_server_port(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_connection_t *c = r->connection;

    if (c->local_sockaddr == NULL && bw_connection_local_sockaddr(c) != BW_OK) {
        return BW_ERROR;
    }
    int port = bw_http_var_sockaddr_port(c->local_sockaddr);
    return port < 0 ? BW_OK : bw_http_var_printf(r, v, "%d", port);
}

static bw_rc_t
bw_http_var_scheme(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_const(r, v, (uintptr_t) (r->connection->ssl ? "https" : "http"));
}

static bw_rc_t
bw_http_var_https(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_const(r, v, (uintptr_t) (r->connection->ssl ? "on" : ""));
}

static bw_rc_t
bw_http_var_connection(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_printf(r, v, "%lu", (unsigned long) r->connection->number);
}

static bw_rc_t
bw_http_var_connection_requests(bw_http_request_t *r, bw_http_variable_value_t *v,
                                uintptr_t data)
{
    return bw_http_var_printf(r, v, "%lu", (unsigned long) r->connection->requests);
}

/* Seconds with millisecond resolution, as "%T.%03M". */
static bw_rc_t
bw_http_var_msec_value(bw_http_request_t *r, bw_http_variable_value_t *v, bw_msec_t ms)
{
    if (ms < 0) {
        ms = 0;
    }
    return bw_http_var_printf(r, v, "%lld.%03lld", (long long) (ms / 1000),
                              (long long) (ms % 1000));
}

static bw_rc_t
bw_http_var_connection_time(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    if (r->connection_start == 0) {
        v->not_found = 1;
        return BW_OK;
    }
    return bw_http_var_msec_value(r, v, bw_time.monotonic - r->connection_start);
}

static bw_rc_t
bw_http_var_pipe(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_const(r, v, (uintptr_t) (r->pipeline ? "p" : "."));
}

/* $tcpinfo_rtt, _rttvar, _snd_cwnd, _rcv_space: data selects the field. */
static bw_rc_t
bw_http_var_tcpinfo(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    struct tcp_info ti;
    socklen_t       len = sizeof(ti);
    uint32_t        value;

    if (getsockopt(r->connection->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1) {
        v->not_found = 1;
        return BW_OK;
    }
    switch (data) {
    case 0:
        value = ti.tcpi_rtt;
        break;
    case 1:
        value = ti.tcpi_rttvar;
        break;
    case 2:
        value = ti.tcpi_snd_cwnd;
        break;
    default:
        value = ti.tcpi_rcv_space;
        break;
    }
    return bw_http_var_printf(r, v, "%u", value);
}

static bw_rc_t
bw_http_var_proxy_protocol(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    v->not_found = 1; /* proxy_protocol is not read yet */
    return BW_OK;
}

/* ---- files ---- */

/* The root (or alias) of the request's location, evaluated when it has variables. */
static bw_rc_t
bw_http_var_root(bw_http_request_t *r, bw_str_t *root)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);

    if (clcf->root_values == NULL) {
        *root = clcf->root;
        return BW_OK;
    }
    if (bw_http_complex_value(r, clcf->root_values, root) != BW_OK) {
        return BW_ERROR;
    }
    if (!clcf->alias && (root->len == 0 || root->data[0] != '/')) {
        const bw_str_t *prefix = &bw_cycle->prefix;
        u_char         *p = bw_pnalloc(r->pool, prefix->len + root->len);
        if (p == NULL) {
            return BW_ERROR;
        }
        memcpy(p, prefix->data, prefix->len);
        memcpy(p + prefix->len, root->data, root->len);
        root->data = p;
        root->len += prefix->len;
    }
    return BW_OK;
}

static bw_rc_t
bw_http_var_document_root(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_str_t root;

    if (bw_http_var_root(r, &root) != BW_OK) {
        return BW_ERROR;
    }
    bw_http_var_set_str(v, &root);
    return BW_OK;
}

static bw_rc_t
bw_http_var_realpath_root(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_str_t root;
    char     real[PATH_MAX];
    char    *path;

    if (bw_http_var_root(r, &root) != BW_OK || (path = bw_pstrz(r->pool, &root)) == NULL) {
        return BW_ERROR;
    }
    if (realpath(path, real) == NULL) {
        bw_log_error(BW_LOG_CRIT, r->connection->log, errno, "realpath() \"%s\" failed", path);
        return BW_ERROR;
    }
    return bw_http_var_copy(r, v, (u_char *) real, strlen(real));
}

static bw_rc_t
bw_http_var_request_filename(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_str_t path;
    size_t   root;
    u_char  *last = bw_http_map_uri_to_path(r, &path, &root, 0);

    if (last == NULL) {
        return BW_ERROR;
    }
    bw_http_var_set(v, path.data, (size_t) (last - path.data));
    return BW_OK;
}

/* ---- request body, completion, limits ---- */

static bw_rc_t
bw_http_var_request_body(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_http_request_body_t *rb = r->request_body;
    size_t                  len = 0;

    v->not_found = 1;
    if (rb == NULL || rb->bufs == NULL || rb->temp_fd != -1 || rb->temp_path.len) {
        return BW_OK;
    }
    for (bw_chain_t *cl = rb->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file && !bw_buf_in_memory(cl->buf)) {
            return BW_OK;
        }
        len += (size_t) (cl->buf->last - cl->buf->pos);
    }
    v->not_found = 0;
    if (rb->bufs->next == NULL) {
        bw_http_var_set(v, rb->bufs->buf->pos, len);
        return BW_OK;
    }
    u_char *p = bw_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    bw_http_var_set(v, p, len);
    for (bw_chain_t *cl = rb->bufs; cl; cl = cl->next) {
        size_t n = (size_t) (cl->buf->last - cl->buf->pos);
        memcpy(p, cl->buf->pos, n);
        p += n;
    }
    return BW_OK;
}

static bw_rc_t
bw_http_var_request_body_file(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    if (r->request_body == NULL || r->request_body->temp_path.len == 0) {
        v->not_found = 1;
        return BW_OK;
    }
    bw_http_var_set_str(v, &r->request_body->temp_path);
    return BW_OK;
}

static bw_rc_t
bw_http_var_request_completion(bw_http_request_t *r, bw_http_variable_value_t *v,
                               uintptr_t data)
{
    return bw_http_var_const(r, v, (uintptr_t) (r->request_complete ? "OK" : ""));
}

static bw_rc_t
bw_http_var_limit_rate(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    size_t rate = r->limit_rate_set ? r->limit_rate
                  : r->loc_conf    ? bw_http_core_loc(r)->limit_rate
                                   : 0;
    return bw_http_var_printf(r, v, "%zu", rate);
}

static void
bw_http_var_set_limit_rate(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_str_t s = { v->len, v->data };
    int64_t  rate = bw_parse_size(&s);

    if (rate < 0) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "invalid $limit_rate \"%.*s\"",
                     BW_STR_ARG(s));
        return;
    }
    r->limit_rate = (size_t) rate;
    r->limit_rate_set = 1;
}

/* ---- request accounting and the response ---- */

static bw_rc_t
bw_http_var_request_length(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_printf(r, v, "%lld", (long long) r->request_length);
}

static bw_rc_t
bw_http_var_request_time(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_msec_t ms = (bw_msec_t) (bw_time.sec - r->start_sec) * 1000
                   + (bw_msec_t) bw_time.msec - (bw_msec_t) r->start_msec;
    return bw_http_var_msec_value(r, v, ms);
}

static bw_rc_t
bw_http_var_request_id(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    static const char hex[] = "0123456789abcdef";
    u_char            rnd[16];

    if (r->request_id_text.len == 0) {
        u_char *p = bw_pnalloc(r->pool, 32);
        if (p == NULL) {
            return BW_ERROR;
        }
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            for (size_t i = 0; i < sizeof(rnd); i++) {
                rnd[i] = (u_char) random();
            }
        }
        for (size_t i = 0; i < sizeof(rnd); i++) {
            p[2 * i] = (u_char) hex[rnd[i] >> 4];
            p[2 * i + 1] = (u_char) hex[rnd[i] & 0xf];
        }
        r->request_id_text.data = p;
        r->request_id_text.len = 32;
    }
    bw_http_var_set_str(v, &r->request_id_text);
    return BW_OK;
}

static bw_rc_t
bw_http_var_status(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_uint_t status = r->err_status > 0 ? (bw_uint_t) r->err_status : r->headers_out.status;

    if (status == 0 && r->http_version == 9) {
        status = 9;
    }
    return bw_http_var_printf(r, v, "%03lu", (unsigned long) status);
}

static bw_rc_t
bw_http_var_bytes_sent(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_printf(r, v, "%lld", (long long) r->connection->sent);
}

static bw_rc_t
bw_http_var_body_bytes_sent(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    off_t sent = r->connection->sent - r->header_size;
    return bw_http_var_printf(r, v, "%lld", (long long) (sent > 0 ? sent : 0));
}

/* $sent_http_NAME: the response header as it is (or will be) sent. */
static bw_rc_t
bw_http_var_sent_http(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_headers_join(r, v, &r->headers_out.headers, (const bw_str_t *) data,
                                    ", ", true);
}

static bw_rc_t
bw_http_var_sent_trailer(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    if (r->headers_out.trailers.elts == NULL) {
        v->not_found = 1;
        return BW_OK;
    }
    return bw_http_var_headers_join(r, v, &r->headers_out.trailers, (const bw_str_t *) data,
                                    ", ", true);
}

static bw_rc_t
bw_http_var_sent_content_type(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_http_headers_out_t *ho = &r->headers_out;

    if (ho->content_type.len == 0) {
        v->not_found = 1;
        return BW_OK;
    }
    if (ho->charset.len == 0 || memchr(ho->content_type.data, ';', ho->content_type.len)) {
        bw_http_var_set_str(v, &ho->content_type); /* as the header filter sends it */
        return BW_OK;
    }
    return bw_http_var_printf(r, v, "%.*s; charset=%.*s", BW_STR_ARG(ho->content_type),
                              BW_STR_ARG(ho->charset));
}

static bw_rc_t
bw_http_var_sent_content_length(bw_http_request_t *r, bw_http_variable_value_t *v,
                                 uintptr_t data)
{
    bw_http_header_t *h = r->headers_out.content_length;

    if (h != NULL && h->hash != 0) {
        bw_http_var_set_str(v, &h->value);
        return BW_OK;
    }
    if (r->headers_out.content_length_n >= 0) {
        return bw_http_var_printf(r, v, "%lld", (long long) r->headers_out.content_length_n);
    }
    v->not_found = 1;
    return BW_OK;
}

static bw_rc_t
bw_http_var_sent_last_modified(bw_http_request_t *r, bw_http_variable_value_t *v,
                               uintptr_t data)
{
    bw_http_header_t *h = r->headers_out.last_modified;
    u_char            buf[64];

    if (h != NULL && h->hash != 0) {
        bw_http_var_set_str(v, &h->value);
        return BW_OK;
    }
    if (r->headers_out.last_modified_time >= 0) {
        size_t n = bw_time_http(buf, r->headers_out.last_modified_time);
        return bw_http_var_copy(r, v, buf, n);
    }
    v->not_found = 1;
    return BW_OK;
}

static bw_rc_t
bw_http_var_sent_connection(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const char *s = r->headers_out.status == 101 ? "upgrade"
                    : r->keepalive               ? "keep-alive"
                                                 : "close";
    return bw_http_var_const(r, v, (uintptr_t) s);
}

static bw_rc_t
bw_http_var_sent_keep_alive(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    if (r->keepalive && r->loc_conf != NULL && bw_http_core_loc(r)->keepalive_header > 0) {
        return bw_http_var_printf(r, v, "timeout=%lld",
                                  (long long) bw_http_core_loc(r)->keepalive_header);
    }
    v->not_found = 1;
    return BW_OK;
}

static bw_rc_t
bw_http_var_sent_transfer_encoding(bw_http_request_t *r, bw_http_variable_value_t *v,
                                   uintptr_t data)
{
    if (!r->chunked) {
        v->not_found = 1;
        return BW_OK;
    }
    return bw_http_var_const(r, v, (uintptr_t) "chunked");
}

/* ---- process and clock ---- */

static bw_rc_t
bw_http_var_hostname(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    if (bw_cycle != NULL) {
        bw_http_var_set_str(v, &bw_cycle->hostname);
    }
    return BW_OK;
}

static bw_rc_t
bw_http_var_pid(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_printf(r, v, "%ld", (long) getpid());
}

static bw_rc_t
bw_http_var_msec(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_printf(r, v, "%lld.%03u", (long long) bw_time.sec, bw_time.msec);
}

static bw_rc_t
bw_http_var_time_local(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_copy(r, v, bw_time.http_log, sizeof(bw_time.http_log) - 1);
}

static bw_rc_t
bw_http_var_time_iso8601(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    return bw_http_var_copy(r, v, bw_time.iso8601, sizeof(bw_time.iso8601) - 1);
}

/* ---- the table ---- */

#define BW_VAR_REQ(field) bw_http_var_request_str, NULL, offsetof(bw_http_request_t, field)
#define BW_NC             BW_HTTP_VAR_NOCACHEABLE
#define BW_CH             BW_HTTP_VAR_CHANGEABLE

const bw_http_variable_def_t bw_http_core_variables[] = {
    { "content_length", bw_http_var_content_length, NULL, 0, BW_NC },
    { "content_type", bw_http_var_content_type, NULL, 0, 0 },
    { "host", bw_http_var_host, NULL, 0, 0 },
    { "binary_remote_addr", bw_http_var_binary_remote_addr, NULL, 0, 0 },
    { "remote_addr", bw_http_var_remote_addr, NULL, 0, 0 },
    { "remote_port", bw_http_var_remote_port, NULL, 0, 0 },
    { "proxy_protocol_addr", bw_http_var_proxy_protocol, NULL, 0, 0 },
    { "proxy_protocol_port", bw_http_var_proxy_protocol, NULL, 0, 0 },
    { "server_addr", bw_http_var_server_addr, NULL, 0, 0 },
    { "server_port", bw_http_var_server_port, NULL, 0, 0 },
    { "server_protocol", BW_VAR_REQ(http_protocol), 0 },
    { "scheme", bw_http_var_scheme, NULL, 0, 0 },
    { "https", bw_http_var_https, NULL, 0, 0 },
    { "request_uri", BW_VAR_REQ(unparsed_uri), 0 },
    { "uri", BW_VAR_REQ(uri), BW_NC },
    { "document_uri", BW_VAR_REQ(uri), BW_NC },
    { "request", BW_VAR_REQ(request_line), 0 },
    { "document_root", bw_http_var_document_root, NULL, 0, BW_NC },
    { "realpath_root", bw_http_var_realpath_root, NULL, 0, BW_NC },
    { "query_string", bw_http_var_request_str, bw_http_var_set_args,
      offsetof(bw_http_request_t, args), BW_CH | BW_NC },
    { "args", bw_http_var_request_str, bw_http_var_set_args, offsetof(bw_http_request_t, args),
      BW_CH | BW_NC },
    { "is_args", bw_http_var_is_args, NULL, 0, BW_NC },
    { "request_filename", bw_http_var_request_filename, NULL, 0, BW_NC },
    { "server_name", bw_http_var_server_name, NULL, 0, 0 },
    { "request_method", BW_VAR_REQ(method_name), BW_NC },
    { "remote_user", bw_http_var_remote_user, NULL, 0, 0 },
    { "bytes_sent", bw_http_var_bytes_sent, NULL, 0, BW_NC },
    { "body_bytes_sent", bw_http_var_body_bytes_sent, NULL, 0, BW_NC },
    { "pipe", bw_http_var_pipe, NULL, 0, 0 },
    { "request_completion", bw_http_var_request_completion, NULL, 0, BW_NC },
    { "request_body", bw_http_var_request_body, NULL, 0, BW_NC },
    { "request_body_file", bw_http_var_request_body_file, NULL, 0, BW_NC },
    { "request_length", bw_http_var_request_length, NULL, 0, BW_NC },
    { "request_time", bw_http_var_request_time, NULL, 0, BW_NC },
    { "request_id", bw_http_var_request_id, NULL, 0, 0 },
    { "status", bw_http_var_status, NULL, 0, BW_NC },
    { "sent_http_content_type", bw_http_var_sent_content_type, NULL, 0, BW_NC },
    { "sent_http_content_length", bw_http_var_sent_content_length, NULL, 0, BW_NC },
    { "sent_http_last_modified", bw_http_var_sent_last_modified, NULL, 0, BW_NC },
    { "sent_http_connection", bw_http_var_sent_connection, NULL, 0, BW_NC },
    { "sent_http_keep_alive", bw_http_var_sent_keep_alive, NULL, 0, BW_NC },
    { "sent_http_transfer_encoding", bw_http_var_sent_transfer_encoding, NULL, 0, BW_NC },
    { "limit_rate", bw_http_var_limit_rate, bw_http_var_set_limit_rate, 0, BW_CH | BW_NC },
    { "connection", bw_http_var_connection, NULL, 0, 0 },
    { "connection_requests", bw_http_var_connection_requests, NULL, 0, BW_NC },
    { "connection_time", bw_http_var_connection_time, NULL, 0, BW_NC },
    { "nginx_version", bw_http_var_const, NULL, (uintptr_t) BW_NGINX_VERSION, 0 },
    { "bulwark_version", bw_http_var_const, NULL, (uintptr_t) BW_VERSION, 0 },
    { "hostname", bw_http_var_hostname, NULL, 0, 0 },
    { "pid", bw_http_var_pid, NULL, 0, 0 },
    { "msec", bw_http_var_msec, NULL, 0, BW_NC },
    { "time_local", bw_http_var_time_local, NULL, 0, BW_NC },
    { "time_iso8601", bw_http_var_time_iso8601, NULL, 0, BW_NC },
    { "tcpinfo_rtt", bw_http_var_tcpinfo, NULL, 0, BW_NC },
    { "tcpinfo_rttvar", bw_http_var_tcpinfo, NULL, 1, BW_NC },
    { "tcpinfo_snd_cwnd", bw_http_var_tcpinfo, NULL, 2, BW_NC },
    { "tcpinfo_rcv_space", bw_http_var_tcpinfo, NULL, 3, BW_NC },
    /* families: the data of a bound variable is its suffix */
    { "http_", bw_http_var_http, NULL, 0, BW_HTTP_VAR_PREFIX },
    { "sent_http_", bw_http_var_sent_http, NULL, 0, BW_HTTP_VAR_PREFIX | BW_NC },
    { "sent_trailer_", bw_http_var_sent_trailer, NULL, 0, BW_HTTP_VAR_PREFIX | BW_NC },
    { "cookie_", bw_http_var_cookie, NULL, 0, BW_HTTP_VAR_PREFIX },
    { "arg_", bw_http_var_arg, NULL, 0, BW_HTTP_VAR_PREFIX | BW_NC },
    { NULL, NULL, NULL, 0, 0 },
};
