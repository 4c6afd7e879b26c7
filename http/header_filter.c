/*
 * header_filter.c -- the module "http_header_filter", the last header
 * filter: serialises the status line and the response headers into one
 * buffer and hands it to the write filter. Also the head of the header
 * filter chain (bw_http_send_header) and the reason phrases.
 *
 * Order of the head, as nginx writes it: status line, Server, Date,
 * Content-Type (with charset), Content-Length, Last-Modified, Location (a
 * relative one made absolute), Transfer-Encoding, Connection, Keep-Alive,
 * then headers_out.headers in order (entries with hash 0 are deleted).
 * The fixed headers are written only when no module put its own in the
 * list (headers_out.server, .date, ... left NULL).
 */
#include "request_internal.h"

#include "clock.h"
#include "conn.h"
#include "log.h"
#include "pool.h"

#include <netinet/in.h>
#include <stdio.h>

#ifndef BW_VERSION
#define BW_VERSION "0.0.0"
#endif

static bw_rc_t bw_http_header_filter(bw_http_request_t *r);

static const bw_http_module_t bw_http_header_filter_ctx = {
    .header_filter = bw_http_header_filter,
};

bw_module_t bw_http_header_filter_module = {
    .name = "http_header_filter",
    .type = BW_MODULE_HTTP,
    .ctx = &bw_http_header_filter_ctx,
};

/* ------------------------------------------------------ reason phrases */

/* nginx's reason phrases; NULL where it writes the bare code ("418 "). */
static const char *const bw_http_status_2xx[] = {
    "OK", "Created", "Accepted", NULL, "No Content", NULL, "Partial Content",
};
static const char *const bw_http_status_3xx[] = {
    NULL, "Moved Permanently", "Moved Temporarily", "See Other", "Not Modified", NULL, NULL,
    "Temporary Redirect", "Permanent Redirect",
};
static const char *const bw_http_status_4xx[] = {
    "Bad Request", "Unauthorized", "Payment Required", "Forbidden", "Not Found", "Not Allowed",
    "Not Acceptable", NULL, "Request Time-out", "Conflict", "Gone", "Length Required",
    "Precondition Failed", "Request Entity Too Large", "Request-URI Too Large",
    "Unsupported Media Type", "Requested Range Not Satisfiable", NULL, NULL, NULL, NULL,
    "Misdirected Request", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "Too Many Requests",
};
static const char *const bw_http_status_5xx[] = {
    "Internal Server Error", "Not Implemented", "Bad Gateway", "Service Temporarily Unavailable",
    "Gateway Time-out", "HTTP Version Not Supported", NULL, "Insufficient Storage",
};

const char *
bw_http_status_text(bw_uint_t status)
{
    if (status >= 200 && status < 200 + bw_nelems(bw_http_status_2xx)) {
        return bw_http_status_2xx[status - 200];
    }
    if (status >= 300 && status < 300 + bw_nelems(bw_http_status_3xx)) {
        return bw_http_status_3xx[status - 300];
    }
    if (status >= 400 && status < 400 + bw_nelems(bw_http_status_4xx)) {
        return bw_http_status_4xx[status - 400];
    }
    if (status >= 500 && status < 500 + bw_nelems(bw_http_status_5xx)) {
        return bw_http_status_5xx[status - 500];
    }
    return NULL;
}

const bw_str_t *
bw_http_server_signature(bw_http_request_t *r)
{
    static const bw_str_t full = bw_string("bulwark/" BW_VERSION);
    static const bw_str_t bare = bw_string("bulwark");

    return bw_http_core_loc(r)->server_tokens == 0 ? &bare : &full;
}

/* ------------------------------------------------------ the chain head */

/* The first header filter in module order (the chain's head). */
static bw_http_header_filter_fn
bw_http_header_top(void)
{
    static bw_http_header_filter_fn top;

    for (size_t i = 0; top == NULL && bw_modules[i]; i++) {
        const bw_module_t *m = bw_modules[i];
        const bw_http_module_t *hm = m->ctx;
        if (m->type == BW_MODULE_HTTP && hm && hm->header_filter) {
            top = hm->header_filter;
        }
    }
    return top ? top : bw_http_header_filter;
}

bw_rc_t
bw_http_send_header(bw_http_request_t *r)
{
    if (r->header_sent) {
        bw_log_error(BW_LOG_ALERT, r->connection->log, 0, "header already sent");
        return BW_ERROR;
    }
    if (r->err_status) {
        r->headers_out.status = (bw_uint_t) r->err_status;
        r->headers_out.status_line.len = 0;
    }
    return bw_http_header_top()(r);
}

/* ------------------------------------------------------- serialising */

/* A growing text in a pre-sized buffer. */
typedef struct {
    u_char *p;
    u_char *end;
} bw_http_out_t;

static void
bw_http_out_bytes(bw_http_out_t *o, const void *data, size_t len)
{
    if (len > (size_t) (o->end - o->p)) {
        len = (size_t) (o->end - o->p); /* sized beforehand: never happens */
    }
    memcpy(o->p, data, len);
    o->p += len;
}

static void
bw_http_out_str(bw_http_out_t *o, const bw_str_t *s)
{
    bw_http_out_bytes(o, s->data, s->len);
}

static void
bw_http_out_lit(bw_http_out_t *o, const char *s)
{
    bw_http_out_bytes(o, s, strlen(s));
}

/* "http://host[:port]" for making a relative Location absolute. */
static bw_str_t
bw_http_location_base(bw_http_request_t *r, u_char *buf, size_t size)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_connection_t *c = r->connection;
    bw_str_t base = {0, buf};
    u_char addr[BW_SOCKADDR_STRLEN];
    bw_str_t host;
    unsigned port = 0;
    bool ssl = c->ssl != NULL;

    bool have_local = bw_connection_local_sockaddr(c) == BW_OK;
    if (clcf->server_name_in_redirect) {
        host = bw_http_core_srv(r)->server_name;
    } else if (r->headers_in.server.len) {
        host = r->headers_in.server;
    } else {
        host.data = addr;
        host.len = have_local ? bw_sockaddr_text(c->local_sockaddr, c->local_socklen, addr,
                                                 sizeof(addr), false) : 0;
    }
    if (clcf->port_in_redirect && have_local) {
        if (c->local_sockaddr->sa_family == AF_INET) {
            port = ntohs(((struct sockaddr_in *) c->local_sockaddr)->sin_port);
        } else if (c->local_sockaddr->sa_family == AF_INET6) {
            port = ntohs(((struct sockaddr_in6 *) c->local_sockaddr)->sin6_port);
        }
        if (port == (ssl ? 443u : 80u)) {
            port = 0;
        }
    }
    bool v6 = memchr(host.data, ':', host.len) != NULL && host.len && host.data[0] != '[';
    int n = snprintf((char *) buf, size, "%s://%s%.*s%s", ssl ? "https" : "http", v6 ? "[" : "",
                     BW_STR_ARG(host), v6 ? "]" : "");
    base.len = n < 0 ? 0 : bw_min((size_t) n, size - 1);
    if (port) {
        n = snprintf((char *) buf + base.len, size - base.len, ":%u", port);
        base.len += n < 0 ? 0 : bw_min((size_t) n, size - base.len - 1);
    }
    return base;
}

/* Applies what the status implies for the head and body (nginx's rules). */
static void
bw_http_header_status_rules(bw_http_request_t *r)
{
    bw_http_headers_out_t *out = &r->headers_out;

    if (r->method == BW_HTTP_HEAD) {
        r->header_only = 1;
    }
    if (out->last_modified_time != -1 && out->status != 200 && out->status != 206
        && out->status != 304) {
        out->last_modified_time = -1;
        if (out->last_modified) {
            out->last_modified->hash = 0;
            out->last_modified = NULL;
        }
    }
    if (out->status_line.len) {
        return;
    }
    if (out->status == 204) {
        r->header_only = 1;
        out->content_type.len = 0;
        out->content_type.data = NULL;
        out->last_modified_time = -1;
        if (out->last_modified) {
            out->last_modified->hash = 0;
            out->last_modified = NULL;
        }
        if (out->content_length) {
            out->content_length->hash = 0;
            out->content_length = NULL;
        }
        out->content_length_n = -1;
    } else if (out->status == 304) {
        r->header_only = 1;
    }
}

/* Worst-case length of the serialised head. */
static size_t
bw_http_header_size(bw_http_request_t *r, const bw_str_t *location_base)
{
    bw_http_headers_out_t *out = &r->headers_out;
    size_t len = sizeof("HTTP/1.1 000 \r\n") + out->status_line.len + 64;

    len += sizeof("Server: \r\n") + bw_http_server_signature(r)->len;
    len += sizeof("Date: Mon, 28 Sep 1970 06:00:00 GMT\r\n");
    len += sizeof("Content-Type: ; charset=\r\n") + out->content_type.len + out->charset.len;
    len += sizeof("Content-Length: \r\n") + 20;
    len += sizeof("Last-Modified: Mon, 28 Sep 1970 06:00:00 GMT\r\n");
    if (out->location) {
        len += sizeof("Location: \r\n") + location_base->len + out->location->value.len;
    }
    len += sizeof("Transfer-Encoding: chunked\r\n");
    len += sizeof("Connection: keep-alive\r\n") + sizeof("Keep-Alive: timeout=\r\n") + 20;

    bw_http_header_t *h = out->headers.elts;
    for (size_t i = 0; i < out->headers.nelts; i++) {
        if (h[i].hash) {
            len += h[i].key.len + sizeof(": \r\n") + h[i].value.len;
        }
    }
    return len + 2;
}

/* The status line, "HTTP/1.1 404 Not Found\r\n". */
static void
bw_http_header_status_line(bw_http_request_t *r, bw_http_out_t *o)
{
    bw_http_headers_out_t *out = &r->headers_out;
    u_char num[32];

    bw_http_out_lit(o, "HTTP/1.1 ");
    if (out->status_line.len) {
        bw_http_out_str(o, &out->status_line);
    } else {
        const char *text = bw_http_status_text(out->status);
        int n = snprintf((char *) num, sizeof(num), "%03u ", (unsigned) out->status);
        bw_http_out_bytes(o, num, (size_t) n);
        if (text) {
            bw_http_out_lit(o, text);
        }
    }
    bw_http_out_lit(o, "\r\n");
}

/* Server, Date, Content-Type, Content-Length, Last-Modified. */
static void
bw_http_header_fixed(bw_http_request_t *r, bw_http_out_t *o)
{
    bw_http_headers_out_t *out = &r->headers_out;
    u_char text[64];

    if (out->server == NULL) {
        bw_http_out_lit(o, "Server: ");
        bw_http_out_str(o, bw_http_server_signature(r));
        bw_http_out_lit(o, "\r\n");
    }
    if (out->date == NULL) {
        bw_http_out_lit(o, "Date: ");
        bw_http_out_lit(o, (const char *) bw_time.http);
        bw_http_out_lit(o, "\r\n");
    }
    if (out->content_type.len) {
        bw_http_out_lit(o, "Content-Type: ");
        bw_http_out_str(o, &out->content_type);
        if (out->charset.len && memchr(out->content_type.data, ';', out->content_type.len) == NULL) {
            bw_http_out_lit(o, "; charset=");
            bw_http_out_str(o, &out->charset);
        }
        bw_http_out_lit(o, "\r\n");
    }
    if (out->content_length == NULL && out->content_length_n >= 0) {
        bw_http_out_lit(o, "Content-Length: ");
        u_char *end = bw_u64_put(text, (uint64_t) out->content_length_n);
        bw_http_out_bytes(o, text, (size_t) (end - text));
        bw_http_out_lit(o, "\r\n");
    }
    if (out->last_modified == NULL && out->last_modified_time != -1) {
        bw_http_out_lit(o, "Last-Modified: ");
        size_t n = bw_time_http(text, out->last_modified_time);
        bw_http_out_bytes(o, text, n);
        bw_http_out_lit(o, "\r\n");
    }
}

/* Location (made absolute), Transfer-Encoding, Connection, Keep-Alive. */
static void
bw_http_header_connection(bw_http_request_t *r, bw_http_out_t *o, const bw_str_t *location_base)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_http_header_t *location = r->headers_out.location;
    u_char text[64];

    if (location && location_base->len) {
        bw_http_out_lit(o, "Location: ");
        bw_http_out_str(o, location_base);
        bw_http_out_str(o, &location->value);
        bw_http_out_lit(o, "\r\n");
        location->hash = 0; /* written: not again from the list */
    }
    if (r->chunked) {
        bw_http_out_lit(o, "Transfer-Encoding: chunked\r\n");
    }
    if (r->headers_out.status == 101) {
        bw_http_out_lit(o, "Connection: upgrade\r\n");
    } else if (r->keepalive) {
        bw_http_out_lit(o, "Connection: keep-alive\r\n");
        if (clcf->keepalive_header) {
            int n = snprintf((char *) text, sizeof(text), "Keep-Alive: timeout=%lld\r\n",
                             (long long) clcf->keepalive_header);
            bw_http_out_bytes(o, text, (size_t) n);
        }
    } else {
        bw_http_out_lit(o, "Connection: close\r\n");
    }
}

static bw_rc_t
bw_http_header_filter(bw_http_request_t *r)
{
    if (r->header_sent) {
        return BW_OK;
    }
    r->header_sent = 1;
    if (r != r->main || r->http_version < BW_HTTP_VERSION_10) {
        return BW_OK; /* a subrequest's or an HTTP/0.9 response has no head */
    }
    bw_http_header_status_rules(r);
    if (r->keepalive && !bw_http_keepalive_allowed(r)) {
        r->keepalive = 0;
    }

    u_char base_buf[BW_SOCKADDR_STRLEN + 300];
    bw_str_t base = {0, base_buf};
    bw_http_header_t *location = r->headers_out.location;
    if (location && location->hash && location->value.len && location->value.data[0] == '/'
        && bw_http_core_loc(r)->absolute_redirect) {
        base = bw_http_location_base(r, base_buf, sizeof(base_buf));
    }

    size_t size = bw_http_header_size(r, &base);
    bw_buf_t *b = bw_buf_create_temp(r->pool, size);
    bw_chain_t *out = bw_chain_alloc_link(r->pool);
    if (b == NULL || out == NULL) {
        return BW_ERROR;
    }
    bw_http_out_t o = {b->last, b->end};
    bw_http_header_status_line(r, &o);
    bw_http_header_fixed(r, &o);
    bw_http_header_connection(r, &o, &base);

    bw_http_header_t *h = r->headers_out.headers.elts;
    for (size_t i = 0; i < r->headers_out.headers.nelts; i++) {
        if (h[i].hash == 0) {
            continue;
        }
        bw_http_out_str(&o, &h[i].key);
        bw_http_out_lit(&o, ": ");
        bw_http_out_str(&o, &h[i].value);
        bw_http_out_lit(&o, "\r\n");
    }
    bw_http_out_lit(&o, "\r\n");
    b->last = o.p;
    r->header_size = b->last - b->pos;
    if (r->header_only) {
        b->last_buf = 1; /* nothing follows: send it now */
    }
    out->buf = b;
    out->next = NULL;
    return bw_http_write_filter(r, out);
}
