/*
 * upstream_request_body.c -- proxy_request_buffering off: the request body
 * goes to the peer as it arrives instead of being read whole first.
 *
 * Whenever everything read so far was sent, what the client sent since is
 * read (client_body_buffer_size at a time; bytes that came with the head
 * first) and appended to the request being sent: as it was received for a
 * Content-Length body, re-encoded as one chunk per read for a chunked
 * request going to an HTTP/1.1 peer. client_max_body_size (413),
 * client_body_timeout (408), invalid chunked framing and a client that
 * leaves (400) end the request as when the body is buffered. The request
 * body stays "being read" for the engine until it is complete, so a
 * response that comes first ends the client connection (lingering close)
 * rather than keeping it alive with body bytes unread.
 */
#include "upstream_internal.h"

#include "pool.h"

#include <stdio.h>

static const u_char bw_upstream_stream_crlf[] = "\r\n";
static const u_char bw_upstream_stream_last[] = "0\r\n\r\n";

static void bw_upstream_stream_handler(bw_http_request_t *r);
static bw_int_t bw_upstream_stream_recv(bw_http_request_t *r, bw_upstream_t *u);

bw_int_t
bw_upstream_stream_body_init(bw_http_request_t *r, bool chunked_out)
{
    bw_upstream_t *u = bw_upstream_get(r);
    off_t          length = r->headers_in.content_length_n;
    off_t          max = bw_http_core_loc(r)->client_max_body_size;

    if (u == NULL || r != r->main || r->request_body != NULL) {
        return u == NULL ? 500 : BW_OK;
    }
    if (!r->headers_in.chunked && max && length > max) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                     "client intended to send too large body: %lld bytes", (long long) length);
        return 413;
    }
    if (bw_http_test_expect(r) != BW_OK) {
        return 500;
    }
    bw_http_request_body_t *rb = bw_pcalloc(r->pool, sizeof(*rb));
    bw_upstream_stream_t   *st = bw_pcalloc(r->pool, sizeof(*st));
    if (rb == NULL || st == NULL) {
        return 500;
    }
    rb->temp_fd = -1;
    rb->rest = r->headers_in.chunked ? -1 : length;
    r->request_body = rb;
    r->reading_body = 1;
    u->stream = st;
    u->request_chunked = chunked_out;
    return BW_OK;
}

/* ---- pieces ---- */

/* A link of ours for [p, p+n), from the free list when possible. */
static bw_chain_t *
bw_upstream_stream_link(bw_http_request_t *r, bw_upstream_stream_t *st, const u_char *p,
                        size_t n)
{
    bw_chain_t *cl = bw_chain_get_free_buf(r->pool, &st->free);

    if (cl == NULL) {
        return NULL;
    }
    bw_buf_t *b = cl->buf;
    memset(b, 0, sizeof(*b));
    b->start = b->pos = (u_char *) p;
    b->end = b->last = (u_char *) p + n;
    b->memory = 1;
    b->tag = st;
    cl->next = NULL;
    return cl;
}

/* Appends a piece [p, p+n) to this read's batch. BW_OK or BW_ERROR. */
static bw_rc_t
bw_upstream_stream_piece(bw_http_request_t *r, bw_upstream_t *u, const u_char *p, size_t n)
{
    bw_upstream_stream_t *st = u->stream;
    bw_chain_t           *cl = bw_upstream_stream_link(r, st, p, n);

    if (cl == NULL) {
        return BW_ERROR;
    }
    *st->used_tail = cl;
    st->used_tail = &cl->next;
    return BW_OK;
}

/* Puts the size line of a chunk of `len` data bytes before this read's batch. */
static bw_rc_t
bw_upstream_stream_chunk_start(bw_http_request_t *r, bw_upstream_t *u, size_t len)
{
    bw_upstream_stream_t *st = u->stream;
    int         n = snprintf((char *) st->line, sizeof(st->line), "%zx\r\n", len);
    bw_chain_t *cl = bw_upstream_stream_link(r, st, st->line, (size_t) n);

    if (cl == NULL) {
        return BW_ERROR;
    }
    cl->next = st->used;
    if (st->used == NULL) {
        st->used_tail = &cl->next;
    }
    st->used = cl;
    return BW_OK;
}

/* ---- decoding what arrived ---- */

/* A Content-Length body: up to rest bytes of [*pos, last) go as they are. */
static bw_int_t
bw_upstream_stream_feed_length(bw_http_request_t *r, bw_upstream_t *u, u_char **pos,
                               u_char *last)
{
    bw_http_request_body_t *rb = r->request_body;
    size_t                  n = (size_t) bw_min((off_t) (last - *pos), rb->rest);

    if (n > 0 && bw_upstream_stream_piece(r, u, *pos, n) != BW_OK) {
        return 500;
    }
    *pos += n;
    rb->rest -= (off_t) n;
    rb->received += (off_t) n;
    return rb->rest == 0 ? BW_DONE : (n > 0 ? BW_OK : BW_AGAIN);
}

/*
 * A chunked body: decodes [*pos, last); the data goes out as one chunk
 * (u->request_chunked) and the end as the last chunk. BW_OK (data added),
 * BW_AGAIN (none), BW_DONE, or 400/413/500.
 */
static bw_int_t
bw_upstream_stream_feed_chunked(bw_http_request_t *r, bw_upstream_t *u, u_char **pos,
                                u_char *last)
{
    bw_upstream_stream_t   *st = u->stream;
    bw_http_request_body_t *rb = r->request_body;
    off_t                   max = bw_http_core_loc(r)->client_max_body_size;
    size_t                  data = 0;
    bw_rc_t                 rc;

    for (;;) {
        rc = bw_http_parse_chunked(&st->chunked, pos, last);
        if (rc > 0) {
            bw_log_error(BW_LOG_INFO, r->connection->log, 0, "client sent invalid chunked body");
            return 400;
        }
        if (max && st->chunked.total > max) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                         "client intended to send too large chunked body: %lld+%lld bytes",
                         (long long) rb->received,
                         (long long) (st->chunked.total - rb->received));
            return 413;
        }
        if (rc != BW_OK) {
            break;
        }
        if (bw_upstream_stream_piece(r, u, st->chunked.data, st->chunked.data_len) != BW_OK) {
            return 500;
        }
        data += st->chunked.data_len;
        rb->received += (off_t) st->chunked.data_len;
    }
    if (data > 0 && u->request_chunked) {
        /* the size line goes before this read's data, the CRLF after it */
        if (bw_upstream_stream_chunk_start(r, u, data) != BW_OK
            || bw_upstream_stream_piece(r, u, bw_upstream_stream_crlf, 2) != BW_OK) {
            return 500;
        }
    }
    if (rc == BW_DONE) {
        rb->rest = 0;
        if (u->request_chunked
            && bw_upstream_stream_piece(r, u, bw_upstream_stream_last, 5) != BW_OK) {
            return 500;
        }
        return BW_DONE;
    }
    return data > 0 ? BW_OK : BW_AGAIN;
}

static bw_int_t
bw_upstream_stream_feed(bw_http_request_t *r, bw_upstream_t *u, u_char **pos, u_char *last)
{
    u_char  *start = *pos;
    bw_int_t rc = r->headers_in.chunked ? bw_upstream_stream_feed_chunked(r, u, pos, last)
                                        : bw_upstream_stream_feed_length(r, u, pos, last);

    r->request_length += *pos - start;
    return rc;
}

/* ---- reading ---- */

/* The body is complete: the client side goes back to watching for a close. */
static void
bw_upstream_stream_done(bw_http_request_t *r, bw_upstream_t *u, const u_char *pos,
                        const u_char *last)
{
    bw_connection_t *c = r->connection;
    bw_buf_t        *hb = r->header_in;
    size_t           extra = (size_t) (last - pos);

    u->stream->done = true;
    r->reading_body = 0;
    if (extra > 0) {
        /* read past a chunked body: the next request's bytes go where the
         * engine looks for them, or keep-alive ends */
        if (hb != NULL && (size_t) (hb->end - hb->last) >= extra) {
            memcpy(hb->last, pos, extra);
            hb->last += extra;
        } else {
            r->keepalive = 0;
        }
    }
    if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    r->read_event_handler = bw_upstream_check_broken;
}

/* The read buffer: client_body_buffer_size, less for a short Content-Length body. */
static bw_buf_t *
bw_upstream_stream_buffer(bw_http_request_t *r, bw_upstream_stream_t *st)
{
    if (st->buf == NULL) {
        size_t size = bw_http_core_loc(r)->client_body_buffer_size;
        off_t  rest = r->request_body->rest;
        if (!r->headers_in.chunked && rest < (off_t) size) {
            size = (size_t) rest;
        }
        st->buf = bw_buf_create_temp(r->pool, size ? size : 1);
    }
    return st->buf;
}

/* Feeds the bytes that came with the head. BW_AGAIN when they gave nothing. */
static bw_int_t
bw_upstream_stream_preread(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_buf_t *hb = r->header_in;

    u->stream->preread = true;
    if (hb == NULL || hb->pos == hb->last) {
        return BW_AGAIN;
    }
    bw_int_t rc = bw_upstream_stream_feed(r, u, &hb->pos, hb->last);
    if (rc == BW_DONE) {
        bw_upstream_stream_done(r, u, hb->pos, hb->pos);
    }
    return rc;
}

bw_int_t
bw_upstream_stream_read(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_stream_t *st = u->stream;

    /* everything handed out was sent: its links are free again */
    while (st->used != NULL) {
        bw_chain_t *cl = st->used;
        st->used = cl->next;
        cl->next = st->free;
        st->free = cl;
    }
    st->used_tail = &st->used;
    bw_int_t rc = BW_AGAIN;
    if (!st->preread) {
        rc = bw_upstream_stream_preread(r, u);
    }
    if (rc == BW_AGAIN) {
        rc = bw_upstream_stream_recv(r, u);
    }
    if (rc == BW_OK || rc == BW_DONE) {
        u->request_out = st->used;
    }
    return rc;
}

/* Reads from the client into the buffer and decodes. As bw_upstream_stream_read. */
static bw_int_t
bw_upstream_stream_recv(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_stream_t *st = u->stream;
    bw_connection_t      *c = r->connection;

    bw_buf_t *b = bw_upstream_stream_buffer(r, st);
    if (b == NULL) {
        return 500;
    }
    for (;;) {
        b->pos = b->last = b->start;
        size_t size = (size_t) (b->end - b->last);
        if (!r->headers_in.chunked) {
            size = (size_t) bw_min((off_t) size, r->request_body->rest);
        }
        ssize_t n = c->read->ready ? c->recv(c, b->last, size) : BW_AGAIN;
        if (n == BW_AGAIN) {
            bw_event_add_timer(c->read, bw_http_core_loc(r)->client_body_timeout);
            r->read_event_handler = bw_upstream_stream_handler;
            return BW_AGAIN;
        }
        if (n <= 0) {
            if (n == 0) {
                bw_log_error(BW_LOG_INFO, c->log, 0, "client prematurely closed connection");
            }
            c->error = 1;
            return 400;
        }
        b->last += n;
        bw_int_t rc = bw_upstream_stream_feed(r, u, &b->pos, b->last);
        if (rc == BW_DONE) {
            bw_upstream_stream_done(r, u, b->pos, b->last);
        }
        if (rc != BW_AGAIN) {
            return rc;
        }
        /* only chunk framing came: nothing points into the buffer, read on */
    }
}

/* A client read event while the body streams: more body, or its timeout. */
static void
bw_upstream_stream_handler(bw_http_request_t *r)
{
    bw_upstream_t   *u = bw_upstream_get(r);
    bw_connection_t *c = r->connection;

    if (u == NULL || u->stream == NULL || u->stream->done) {
        return;
    }
    if (c->read->timedout) {
        /* as nginx: no answer, logged as 408 */
        c->timedout = 1;
        bw_upstream_finalize(r, u, BW_HTTP_REQUEST_TIME_OUT);
        return;
    }
    if (u->request_sent && !u->request_body_sent && u->request_out == NULL
        && u->peer.connection != NULL && !u->header_sent) {
        bw_upstream_send_request(r, u);
    }
}

void
bw_upstream_stream_stop(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = r->connection;

    if (!u->stream->done && c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    if (r->read_event_handler == bw_upstream_stream_handler) {
        r->read_event_handler = bw_upstream_check_broken;
    }
}
