/*
 * upstream_headers.c -- the upstream's response head as the client gets it:
 * framing and hop-by-hop headers dropped, proxy_hide_header/pass_header,
 * the well-known headers_out fields, proxy_redirect on Location and
 * Refresh, proxy_cookie_* on Set-Cookie, and the X-Accel-* controls
 * (Redirect, Limit-Rate, Buffering; proxy_ignore_headers turns each off).
 * Then the head goes out and the body relay (upstream_body.c) or the
 * tunnel of a 101 (upstream_tunnel.c) takes over.
 */
#include "upstream_internal.h"

#include "clock.h"
#include "pool.h"

/* Hop-by-hop and framing headers the core handles itself. */
static bool
bw_upstream_header_framing(const bw_str_t *lname)
{
    return bw_str_eq_lit(lname, "connection") || bw_str_eq_lit(lname, "keep-alive")
           || bw_str_eq_lit(lname, "transfer-encoding") || bw_str_eq_lit(lname, "content-length");
}

/* Points the well-known headers_out fields at a copied header. */
static void
bw_upstream_header_known(bw_http_request_t *r, bw_http_header_t *h, const bw_str_t *lname)
{
    bw_http_headers_out_t *ho = &r->headers_out;

    if (bw_str_eq_lit(lname, "server")) {
        ho->server = h;
    } else if (bw_str_eq_lit(lname, "date")) {
        ho->date = h;
    } else if (bw_str_eq_lit(lname, "location")) {
        /* a relative Location stays as sent: the header filter must not
         * complete it with this server's scheme and host */
        if (h->value.len == 0 || h->value.data[0] != '/') {
            ho->location = h;
        }
    } else if (bw_str_eq_lit(lname, "last-modified")) {
        ho->last_modified = h;
        ho->last_modified_time = bw_time_parse_http(h->value.data, h->value.len);
    } else if (bw_str_eq_lit(lname, "etag")) {
        ho->etag = h;
    } else if (bw_str_eq_lit(lname, "content-encoding")) {
        ho->content_encoding = h;
    } else if (bw_str_eq_lit(lname, "cache-control")) {
        ho->cache_control = h;
    } else if (bw_str_eq_lit(lname, "expires")) {
        ho->expires = h;
    } else if (bw_str_eq_lit(lname, "accept-ranges")) {
        ho->accept_ranges = h;
    } else if (bw_str_eq_lit(lname, "content-range")) {
        ho->content_range = h;
    } else if (bw_str_eq_lit(lname, "refresh")) {
        ho->refresh = h;
    } else if (bw_str_eq_lit(lname, "link")) {
        ho->link = h;
    } else if (bw_str_eq_lit(lname, "www-authenticate")) {
        ho->www_authenticate = h;
    }
}

/* Content-Type goes to headers_out.content_type (the header filter writes it). */
static void
bw_upstream_content_type(bw_http_request_t *r, const bw_http_header_t *h)
{
    const u_char *p = h->value.data, *end = p + h->value.len;
    const u_char *semi = memchr(p, ';', h->value.len);
    const u_char *type_end = semi ? semi : end;

    while (type_end > p && (type_end[-1] == ' ' || type_end[-1] == '\t')) {
        type_end--;
    }
    r->headers_out.content_type = h->value;
    r->headers_out.content_type_len = (size_t) (type_end - p);
    r->headers_out.content_type_lowcase.len = 0;
}

/* proxy_redirect on Location and Refresh. A rewritten Location is completed
 * by the header filter like any redirect of this server, as nginx does. */
static bw_rc_t
bw_upstream_rewrite_redirect(bw_http_request_t *r, bw_upstream_t *u, bw_http_header_t *ho,
                             const bw_str_t *lname)
{
    bool location = bw_str_eq_lit(lname, "location");

    if (u->rewrite_redirect == NULL || !(location || bw_str_eq_lit(lname, "refresh"))) {
        return BW_OK;
    }
    bw_rc_t rc = u->rewrite_redirect(r, ho);
    if (rc == BW_ERROR) {
        return BW_ERROR;
    }
    if (rc == BW_OK && location) {
        r->headers_out.location = ho;
    }
    return BW_OK;
}

/* The X-Accel-* headers of the upstream's response (the first of each). */
typedef struct {
    bw_http_header_t *redirect;
    bw_http_header_t *limit_rate;
    bw_http_header_t *buffering;
} bw_upstream_accel_t;

/* One pass over the headers for the X-Accel-* controls. */
static void
bw_upstream_accel_find(bw_upstream_t *u, bw_upstream_accel_t *xa)
{
    bw_http_header_t *h = u->headers_in.headers.elts;

    memset(xa, 0, sizeof(*xa));
    for (size_t i = 0; i < u->headers_in.headers.nelts; i++) {
        bw_str_t n = {h[i].key.len, h[i].lowcase_key};
        if (n.len < 8 || memcmp(n.data, "x-accel-", 8) != 0) {
            continue;
        }
        bw_http_header_t **slot = bw_str_eq_lit(&n, "x-accel-redirect")     ? &xa->redirect
                                  : bw_str_eq_lit(&n, "x-accel-limit-rate") ? &xa->limit_rate
                                  : bw_str_eq_lit(&n, "x-accel-buffering")  ? &xa->buffering
                                                                            : NULL;
        if (slot != NULL && *slot == NULL) {
            *slot = &h[i];
        }
    }
}

/* Copies one header of the upstream's response to r->headers_out. */
static bw_rc_t
bw_upstream_header_copy(bw_http_request_t *r, bw_upstream_t *u, const bw_http_header_t *h,
                        const bw_str_t *lname)
{
    if (bw_str_eq_lit(lname, "content-type")) {
        bw_upstream_content_type(r, h);
        return BW_OK;
    }
    bw_http_header_t *ho = bw_array_push(&r->headers_out.headers);
    if (ho == NULL) {
        return BW_ERROR;
    }
    *ho = *h;
    ho->next = NULL;
    bw_upstream_header_known(r, ho, lname);
    if (u->rewrite_cookie != NULL && bw_str_eq_lit(lname, "set-cookie")
        && u->rewrite_cookie(r, ho) == BW_ERROR) {
        return BW_ERROR;
    }
    return bw_upstream_rewrite_redirect(r, u, ho, lname);
}

bw_rc_t
bw_upstream_process_headers(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_headers_in_t *in = &u->headers_in;
    bw_http_header_t         *h = in->headers.elts;

    r->headers_out.status = in->status_n;
    r->headers_out.status_line = in->status_line;
    r->headers_out.content_length_n = (in->chunked || u->head) ? -1 : in->content_length_n;
    if (u->head && in->content_length_n >= 0) {
        r->headers_out.content_length_n = in->content_length_n;
    }

    for (size_t i = 0; i < in->headers.nelts; i++) {
        bw_str_t lname = {h[i].key.len, h[i].lowcase_key};
        if (bw_upstream_header_framing(&lname) || bw_upstream_names_has(u->conf->hide, &lname)) {
            continue;
        }
        if (bw_upstream_header_copy(r, u, &h[i], &lname) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/* Sets how the body ends: u->length (bytes, or -1), chunked, keepalive. */
static void
bw_upstream_framing_init(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_headers_in_t *in = &u->headers_in;
    bw_uint_t                 status = in->status_n;

    u->keepalive = !in->connection_close;
    if (u->head || status == 204 || status == 304 || status < 200) {
        u->length = 0;
    } else if (in->chunked) {
        u->length = -1;
    } else if (in->content_length_n >= 0) {
        u->length = in->content_length_n;
    } else {
        u->length = -1;
        u->keepalive = 0;
    }
    if (u->length == 0) {
        u->body_done = 1;
        if (u->buffer.pos != u->buffer.last) {
            u->keepalive = 0;
        }
    }
}

/* ---- X-Accel-* ---- */

/* Headers an X-Accel-Redirect target keeps from the upstream's response, as
 * nginx keeps them. */
static const char *const bw_upstream_redirect_keep[] = {
    "content-type", "set-cookie", "content-disposition", "cache-control", "expires",
    "accept-ranges", NULL,
};

/* The redirect's target: "@name", or a safe URI (decoded) with its args. */
static bw_rc_t
bw_upstream_redirect_target(bw_http_request_t *r, const bw_str_t *value, bw_str_t *uri,
                            bw_str_t *args)
{
    bool quoted;

    *uri = *value;
    bw_str_null(args);
    if (uri->len > 0 && uri->data[0] == '@') {
        return BW_OK;
    }
    if (bw_http_parse_unsafe_uri(uri, args, &quoted) != BW_OK) {
        return BW_DECLINED;
    }
    if (!quoted) {
        return BW_OK;
    }
    u_char  *dst = bw_pnalloc(r->pool, uri->len + 1);
    bw_str_t exten;
    if (dst == NULL) {
        return BW_ERROR;
    }
    bw_str_t raw = *uri;
    return bw_http_parse_complex_uri(&raw, dst, false, uri, &exten) == BW_OK ? BW_OK
                                                                             : BW_DECLINED;
}

/*
 * X-Accel-Redirect: the upstream's answer is dropped (a few headers kept)
 * and the request goes to the named location or URI it gives, as GET
 * (HEAD stays HEAD); an unsafe URI is a 404.
 */
static void
bw_upstream_accel_redirect(bw_http_request_t *r, bw_upstream_t *u, const bw_http_header_t *xa)
{
    bw_http_header_t *h = u->headers_in.headers.elts;
    bw_str_t          uri, args;

    for (size_t i = 0; i < u->headers_in.headers.nelts; i++) {
        bw_str_t lname = {h[i].key.len, h[i].lowcase_key};
        for (size_t k = 0; bw_upstream_redirect_keep[k]; k++) {
            if (strcmp((const char *) h[i].lowcase_key, bw_upstream_redirect_keep[k]) == 0
                && bw_upstream_header_copy(r, u, &h[i], &lname) != BW_OK) {
                bw_upstream_finalize(r, u, 500);
                return;
            }
        }
    }
    bw_rc_t rc = bw_upstream_redirect_target(r, &xa->value, &uri, &args);
    if (rc == BW_ERROR) {
        bw_upstream_finalize(r, u, 500);
        return;
    }

    /* the upstream is done with: an empty body leaves the connection reusable */
    bw_upstream_framing_init(r, u);
    u->finalized = 1;
    bw_upstream_release_peer(u);
    if (u->finalize_request != NULL) {
        u->finalize_request(r, BW_DONE);
    }
    r->read_event_handler = bw_http_block_reading;
    r->connection->log->action = NULL;

    if (rc == BW_DECLINED) {
        bw_http_finalize_request(r, 404);
        return;
    }
    if (uri.data[0] == '@') {
        bw_http_named_location(r, &uri);
    } else {
        if (r->method != BW_HTTP_HEAD) {
            r->method = BW_HTTP_GET;
            bw_str_set(&r->method_name, "GET");
        }
        bw_http_internal_redirect(r, &uri, &args);
    }
    bw_http_finalize_request(r, BW_DONE);
}

/* X-Accel-Limit-Rate and X-Accel-Buffering, unless proxy_ignore_headers says so. */
static void
bw_upstream_accel_controls(bw_http_request_t *r, bw_upstream_t *u, const bw_upstream_accel_t *xa)
{
    bw_uint_t ignore = u->conf->ignore_headers;

    if (xa->limit_rate != NULL && !(ignore & BW_UPSTREAM_IGN_XA_LIMIT_RATE)) {
        int64_t n = bw_atoi(xa->limit_rate->value.data, xa->limit_rate->value.len);
        if (n >= 0) {
            r->limit_rate = (size_t) n;
            r->limit_rate_set = 1;
        }
    }
    if (xa->buffering != NULL && !(ignore & BW_UPSTREAM_IGN_XA_BUFFERING)) {
        const bw_str_t *v = &xa->buffering->value;
        if (v->len == 3 && bw_strncasecmp(v->data, (const u_char *) "yes", 3) == 0) {
            u->buffering = 1;
        } else if (v->len == 2 && bw_strncasecmp(v->data, (const u_char *) "no", 2) == 0) {
            u->buffering = 0;
        }
    }
}

/* ---- the head to the client ---- */

void
bw_upstream_send_response(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_accel_t xa;

    bw_upstream_accel_find(u, &xa);
    if (xa.redirect != NULL && xa.redirect->value.len > 0
        && !(u->conf->ignore_headers & BW_UPSTREAM_IGN_XA_REDIRECT)) {
        bw_upstream_accel_redirect(r, u, xa.redirect);
        return;
    }
    if (bw_upstream_process_headers(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    if (u->headers_in.status_n == 101) {
        bw_upstream_upgrade(r, u);
        return;
    }
    u->buffering = u->conf->buffering != 0;
    bw_upstream_accel_controls(r, u, &xa);
    bw_upstream_framing_init(r, u);

    bw_int_t rc = bw_http_send_header(r);
    if (rc == BW_ERROR || rc > BW_OK) {
        bw_upstream_finalize(r, u, rc);
        return;
    }
    u->header_sent = 1;
    r->connection->log->action = "reading upstream";

    if (r->header_only) {
        /* no body goes to the client; a body still owed by the upstream
         * makes the connection unusable */
        if (!u->body_done) {
            u->keepalive = 0;
        }
        bw_upstream_finalize(r, u, BW_OK);
        return;
    }
    bw_upstream_body_start(r, u);
}
