/*
 * chunked.c -- the module "chunked": the transfer coding of responses whose
 * length is unknown. For an HTTP/1.1 client (and chunked_transfer_encoding
 * on) such a body goes out as chunks ending with "0" CRLF [trailers] CRLF
 * (RFC 9112 §7.1); an HTTP/1.0 client gets the body delimited by the
 * connection's close instead (keep-alive is turned off). HEAD, 1xx, 204 and
 * 304 responses have no body and are left alone.
 */
#include "request_internal.h"

#include "pool.h"

#include <stdio.h>

typedef struct {
    bw_chain_t *free; /* our chunk-size and CRLF buffers, for reuse */
    bw_chain_t *busy;
} bw_chunked_ctx_t;

static bw_rc_t bw_chunked_header_filter(bw_http_request_t *r);
static bw_rc_t bw_chunked_body_filter(bw_http_request_t *r, bw_chain_t *in);

static const bw_http_module_t bw_chunked_module_ctx = {
    .header_filter = bw_chunked_header_filter,
    .body_filter = bw_chunked_body_filter,
};

bw_module_t bw_chunked_module = {
    .name = "chunked",
    .type = BW_MODULE_HTTP,
    .ctx = &bw_chunked_module_ctx,
};

static bw_rc_t
bw_chunked_header_filter(bw_http_request_t *r)
{
    bw_http_headers_out_t *out = &r->headers_out;

    if (out->status == 304 || out->status == 204 || out->status < 200 || r != r->main
        || r->method == BW_HTTP_HEAD || r->header_only) {
        return bw_http_next_header_filter(r, bw_chunked_module);
    }
    if (out->content_length_n == -1 || r->expect_trailers) {
        if (r->http_version >= BW_HTTP_VERSION_11
            && bw_http_core_loc(r)->chunked_transfer_encoding) {
            if (r->expect_trailers && out->content_length) {
                /* trailers need chunks: the length goes */
                out->content_length->hash = 0;
                out->content_length = NULL;
            }
            out->content_length_n = -1;
            bw_chunked_ctx_t *ctx = bw_pcalloc(r->pool, sizeof(*ctx));
            if (ctx == NULL) {
                return BW_ERROR;
            }
            bw_http_set_ctx(r, ctx, bw_chunked_module);
            r->chunked = 1;
        } else if (out->content_length_n == -1) {
            r->keepalive = 0; /* the body ends with the connection */
        }
    }
    return bw_http_next_header_filter(r, bw_chunked_module);
}

/* A small buffer of ours (reused from ctx->free) holding `len` bytes. */
static bw_chain_t *
bw_chunked_buf(bw_http_request_t *r, bw_chunked_ctx_t *ctx, size_t len)
{
    bw_chain_t *cl = bw_chain_get_free_buf(r->pool, &ctx->free);
    if (cl == NULL) {
        return NULL;
    }
    bw_buf_t *b = cl->buf;
    if (b->start == NULL || (size_t) (b->end - b->start) < len) {
        size_t size = bw_max(len, (size_t) 32);
        b->start = bw_pnalloc(r->pool, size);
        if (b->start == NULL) {
            return NULL;
        }
        b->end = b->start + size;
    }
    b->pos = b->last = b->start;
    b->temporary = 1;
    b->tag = &bw_chunked_module;
    b->flush = b->last_buf = b->last_in_chain = b->sync = 0;
    cl->next = NULL;
    return cl;
}

/* "0" CRLF, the trailer fields, CRLF: the end of a chunked body. */
static bw_chain_t *
bw_chunked_last(bw_http_request_t *r, bw_chunked_ctx_t *ctx)
{
    bw_http_header_t *t = r->headers_out.trailers.elts;
    size_t len = sizeof("0\r\n\r\n") - 1;

    for (size_t i = 0; i < r->headers_out.trailers.nelts; i++) {
        if (t[i].hash) {
            len += t[i].key.len + sizeof(": \r\n") - 1 + t[i].value.len;
        }
    }
    bw_chain_t *cl = bw_chunked_buf(r, ctx, len);
    if (cl == NULL) {
        return NULL;
    }
    bw_buf_t *b = cl->buf;
    b->last = (u_char *) memcpy(b->last, "0\r\n", 3) + 3;
    for (size_t i = 0; i < r->headers_out.trailers.nelts; i++) {
        if (t[i].hash == 0) {
            continue;
        }
        b->last = (u_char *) memcpy(b->last, t[i].key.data, t[i].key.len) + t[i].key.len;
        b->last = (u_char *) memcpy(b->last, ": ", 2) + 2;
        b->last = (u_char *) memcpy(b->last, t[i].value.data, t[i].value.len) + t[i].value.len;
        b->last = (u_char *) memcpy(b->last, "\r\n", 2) + 2;
    }
    b->last = (u_char *) memcpy(b->last, "\r\n", 2) + 2;
    b->last_buf = 1;
    b->last_in_chain = 1;
    return cl;
}

static bw_rc_t
bw_chunked_body_filter(bw_http_request_t *r, bw_chain_t *in)
{
    bw_chunked_ctx_t *ctx = bw_http_get_ctx(r, bw_chunked_module);

    if (in == NULL || !r->chunked || ctx == NULL) {
        return bw_http_next_body_filter(r, bw_chunked_module, in);
    }
    bw_chain_t *out = NULL, **tail = &out;
    off_t size = 0;
    bool last = false;

    for (bw_chain_t *cl = in; cl; cl = cl->next) {
        size += bw_buf_special(cl->buf) ? 0 : bw_buf_size(cl->buf);
        if (cl->buf->last_buf) {
            last = true;
        }
    }
    if (size) {
        bw_chain_t *head = bw_chunked_buf(r, ctx, 32);
        if (head == NULL) {
            return BW_ERROR;
        }
        int n = snprintf((char *) head->buf->last, 32, "%llx\r\n", (unsigned long long) size);
        head->buf->last += n;
        *tail = head;
        tail = &head->next;
    }
    for (bw_chain_t *cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf && bw_buf_special(cl->buf)) {
            continue; /* replaced by our last chunk below */
        }
        bw_chain_t *ln = bw_chain_alloc_link(r->pool);
        if (ln == NULL) {
            return BW_ERROR;
        }
        ln->buf = cl->buf;
        ln->next = NULL;
        *tail = ln;
        tail = &ln->next;
    }
    if (size) {
        bw_chain_t *crlf = bw_chunked_buf(r, ctx, 2);
        if (crlf == NULL) {
            return BW_ERROR;
        }
        crlf->buf->last = (u_char *) memcpy(crlf->buf->last, "\r\n", 2) + 2;
        *tail = crlf;
        tail = &crlf->next;
    }
    if (last) {
        bw_chain_t *end = bw_chunked_last(r, ctx);
        if (end == NULL) {
            return BW_ERROR;
        }
        *tail = end;
    }
    bw_rc_t rc = bw_http_next_body_filter(r, bw_chunked_module, out);
    bw_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out, &bw_chunked_module);
    return rc;
}
