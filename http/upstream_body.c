/*
 * upstream_body.c -- the response body from the peer to the client.
 *
 * Framing first: chunked transfer-coding is decoded (the data of each chunk
 * becomes a piece; trailers are dropped, as nginx drops them), a
 * Content-Length is counted, a body without either runs to the close.
 *
 * The bytes are read into slots: the head buffer (proxy_buffer_size) and,
 * when this response is buffered (proxy_buffering on, unless the peer said
 * "X-Accel-Buffering: no"), up to proxy_buffers more allocated as needed.
 * Pieces go to the filters in order; while buffering, only up to
 * proxy_busy_buffers_size may wait in the filters, so that when every slot
 * is taken the oldest pieces not given to the filters can be written to the
 * temp file (proxy_temp_file_write_size at a time, up to
 * proxy_max_temp_file_size) and their slots read into again. With no room
 * left the peer is not read until the client drains some: backpressure.
 *
 * Once the whole body was read, everything still held goes to the filters
 * with the last buffer and the peer connection is released at once (to the
 * keep-alive cache when the response allows it); the request's writer sends
 * the rest at the client's pace. Without buffering the body streams through
 * the head buffer, each piece flushed as it comes.
 */
#include "upstream_internal.h"

#include "pool.h"

#include <stddef.h>
#include <sys/uio.h>

/* Read/write rounds of one relay call before yielding to other events. */
#define BW_UPSTREAM_RELAY_ROUNDS 64
/* Pieces gathered into one write of the temp file. */
#define BW_UPSTREAM_SPILL_IOVS 64

/* ---- pieces and slots ---- */

static bw_upstream_slot_t *
bw_upstream_slot_of(const bw_buf_t *b)
{
    return (bw_upstream_slot_t *) ((char *) b->shadow - offsetof(bw_upstream_slot_t, buf));
}

/* A link with its own buffer header, reused from the free list when possible. */
static bw_chain_t *
bw_upstream_piece_get(bw_http_request_t *r, bw_upstream_pipe_t *p)
{
    bw_chain_t *cl = p->free_links;

    if (cl != NULL) {
        p->free_links = cl->next;
    } else {
        cl = bw_chain_alloc_link(r->pool);
        if (cl == NULL || (cl->buf = bw_buf_calloc(r->pool)) == NULL) {
            return NULL;
        }
    }
    cl->next = NULL;
    memset(cl->buf, 0, sizeof(bw_buf_t));
    return cl;
}

/* A piece no longer needs its slot's memory (sent, or written to the file). */
static void
bw_upstream_piece_release(bw_upstream_pipe_t *p, bw_buf_t *b)
{
    if (b->shadow == NULL) {
        return;
    }
    bw_upstream_slot_t *s = bw_upstream_slot_of(b);
    b->shadow = NULL;
    if (--s->refs > 0) {
        return;
    }
    /* nothing points into it: what it holds beyond the pieces (chunk-size
     * lines) was consumed by the decoder, so it can be filled afresh */
    s->buf.pos = s->buf.last = s->buf.start;
    if (s != p->reading) {
        s->next = p->free;
        p->free = s;
    }
}

/* Appends [p, p+n) of slot storage sb as a piece to in_mem. */
static bw_rc_t
bw_upstream_piece_add(bw_http_request_t *r, bw_upstream_t *u, bw_buf_t *sb, u_char *p, size_t n)
{
    bw_upstream_pipe_t *pipe = u->pipe;
    bw_chain_t         *cl = bw_upstream_piece_get(r, pipe);

    if (cl == NULL) {
        return BW_ERROR;
    }
    bw_buf_t *b = cl->buf;
    b->start = b->pos = p;
    b->end = b->last = p + n;
    b->temporary = 1;
    b->tag = u;
    b->shadow = sb;
    bw_upstream_slot_of(b)->refs++;
    *pipe->in_mem_tail = cl;
    pipe->in_mem_tail = &cl->next;
    u->state->response_length += (off_t) n;
    return BW_OK;
}

/* ---- framing ---- */

/*
 * Passes body bytes [p, last) of slot storage sb through the framing:
 * chunked decoding, a Content-Length count, or everything up to the close.
 * BW_OK or BW_ERROR (logged).
 */
static bw_rc_t
bw_upstream_input(bw_http_request_t *r, bw_upstream_t *u, bw_buf_t *sb, u_char *p, u_char *last)
{
    bw_log_t *log = r->connection->log;

    if (u->headers_in.chunked) {
        while (p < last && !u->body_done) {
            bw_rc_t rc = bw_http_parse_chunked(&u->chunked, &p, last);
            if (rc == BW_OK) {
                if (bw_upstream_piece_add(r, u, sb, u->chunked.data, u->chunked.data_len)
                    != BW_OK) {
                    return BW_ERROR;
                }
                continue;
            }
            if (rc == BW_DONE) {
                u->body_done = 1;
                break;
            }
            if (rc == BW_AGAIN) {
                break;
            }
            bw_log_error(BW_LOG_ERR, log, 0, "upstream sent invalid chunked response");
            return BW_ERROR;
        }
    } else if (u->length >= 0) {
        size_t n = (size_t) bw_min((off_t) (last - p), u->length);
        if (n > 0 && bw_upstream_piece_add(r, u, sb, p, n) != BW_OK) {
            return BW_ERROR;
        }
        u->length -= (off_t) n;
        p += n;
        if (u->length == 0) {
            u->body_done = 1;
        }
    } else if (p < last) {
        if (bw_upstream_piece_add(r, u, sb, p, (size_t) (last - p)) != BW_OK) {
            return BW_ERROR;
        }
        p = last;
    }

    if (u->body_done && p < last) {
        bw_log_error(BW_LOG_WARN, log, 0,
                     u->headers_in.chunked
                         ? "upstream sent data after final chunk"
                         : "upstream sent more data than specified in \"Content-Length\" header");
        u->keepalive = 0;
    }
    return BW_OK;
}

/* ---- the temp file ---- */

/* Writes iov[0..n) whole at offset. BW_OK or BW_ERROR (logged). */
static bw_rc_t
bw_upstream_spill_write(const bw_file_t *f, struct iovec *iov, int n, off_t offset)
{
    while (n > 0) {
        ssize_t w = pwritev(f->fd, iov, n, offset);
        if (w == -1 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            bw_log_error(BW_LOG_CRIT, f->log, w == 0 ? 0 : errno, "pwritev() \"%s\" failed",
                         (char *) f->name.data);
            return BW_ERROR;
        }
        offset += w;
        while (n > 0 && (size_t) w >= iov->iov_len) {
            w -= (ssize_t) iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *) iov->iov_base + w;
            iov->iov_len -= (size_t) w;
        }
    }
    return BW_OK;
}

/* The first k links of in_mem, now [start, file_size) of the file, join in_file. */
static void
bw_upstream_spill_move(bw_upstream_t *u, int k, off_t start)
{
    bw_upstream_pipe_t *p = u->pipe;
    bw_chain_t         *head = p->in_mem;

    for (int i = 0; i < k; i++) {
        bw_chain_t *cl = p->in_mem;
        p->in_mem = cl->next;
        bw_upstream_piece_release(p, cl->buf);
        if (cl != head) {
            cl->next = p->free_links;
            p->free_links = cl;
        }
    }
    if (p->in_mem == NULL) {
        p->in_mem_tail = &p->in_mem;
    }

    bw_chain_t *tail = p->in_file_last;
    if (tail != NULL && tail->buf->file_last == start) {
        /* contiguous with the piece before: one file buffer grows */
        tail->buf->file_last = p->file_size;
        head->next = p->free_links;
        p->free_links = head;
        return;
    }
    bw_buf_t *b = head->buf;
    memset(b, 0, sizeof(*b));
    b->in_file = 1;
    b->file = &p->file;
    b->file_pos = start;
    b->file_last = p->file_size;
    b->tag = u;
    head->next = NULL;
    if (tail != NULL) {
        tail->next = head;
    } else {
        p->in_file = head;
    }
    p->in_file_last = head;
}

/*
 * Writes the oldest pieces not given to the filters to the temp file,
 * proxy_temp_file_write_size at most, freeing their slots. BW_OK, or
 * BW_DECLINED when nothing may go (proxy_max_temp_file_size reached, or the
 * file failed: then buffering goes on in memory only).
 */
static bw_rc_t
bw_upstream_spill(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_pipe_t *p = u->pipe;
    struct iovec        iov[BW_UPSTREAM_SPILL_IOVS];
    size_t              total = 0, limit = u->conf->temp_file_write_size;
    off_t               room = u->conf->max_temp_file_size - p->file_size;
    int                 n = 0;

    for (bw_chain_t *cl = p->in_mem; cl && n < BW_UPSTREAM_SPILL_IOVS; cl = cl->next) {
        size_t size = (size_t) (cl->buf->last - cl->buf->pos);
        if ((n > 0 && total + size > limit) || (off_t) (total + size) > room) {
            break;
        }
        iov[n].iov_base = cl->buf->pos;
        iov[n].iov_len = size;
        total += size;
        n++;
    }
    if (n == 0) {
        return BW_DECLINED;
    }
    if (p->file.fd == -1
        && bw_upstream_temp_open(r, u->conf->temp_path, &p->file,
                                 "an upstream response is buffered to a temporary file")
               != BW_OK) {
        p->spill = false;
        return BW_DECLINED;
    }
    off_t start = p->file_size;
    if (bw_upstream_spill_write(&p->file, iov, n, start) != BW_OK) {
        p->spill = false;
        return BW_DECLINED;
    }
    p->file_size += (off_t) total;
    bw_upstream_spill_move(u, n, start);
    return BW_OK;
}

/* ---- room to read into ---- */

/* A new slot of proxy_buffers size, in the free list. BW_OK or BW_ERROR. */
static bw_rc_t
bw_upstream_slot_alloc(bw_http_request_t *r, bw_upstream_pipe_t *p)
{
    bw_upstream_slot_t *s = bw_pcalloc(r->pool, sizeof(*s));
    u_char             *mem = s ? bw_palloc(r->pool, p->slot_size) : NULL;

    if (mem == NULL) {
        return BW_ERROR;
    }
    s->buf.start = s->buf.pos = s->buf.last = mem;
    s->buf.end = mem + p->slot_size;
    s->buf.temporary = 1;
    s->next = p->free;
    p->free = s;
    p->nslots++;
    return BW_OK;
}

/*
 * The slot to read into: the current one while it has room, else an empty
 * one, a new one (up to proxy_buffers), or one freed by spilling to the
 * temp file. NULL when there is no room until the client drains some
 * (*failed set on no memory).
 */
static bw_upstream_slot_t *
bw_upstream_room(bw_http_request_t *r, bw_upstream_t *u, bool *failed)
{
    bw_upstream_pipe_t *p = u->pipe;
    bw_upstream_slot_t *s = p->reading;

    if (s->buf.last < s->buf.end) {
        return s;
    }
    if (s->refs == 0) {
        s->buf.pos = s->buf.last = s->buf.start;
        return s;
    }
    if (p->free == NULL && p->nslots < p->max_slots && bw_upstream_slot_alloc(r, p) != BW_OK) {
        *failed = true;
        return NULL;
    }
    while (p->free == NULL && p->spill && bw_upstream_spill(r, u) == BW_OK) {
        if (s->refs == 0) {
            return s; /* the spill emptied the current slot */
        }
    }
    if (p->free == NULL) {
        return NULL;
    }
    s = p->free;
    p->free = s->next;
    s->next = NULL;
    p->reading = s;
    return s;
}

/* ---- the two sides ---- */

/*
 * Reads from the peer into the pipe. BW_OK (bytes were read), BW_AGAIN
 * (nothing now), BW_BUSY (no room), BW_DONE (the body ended with the
 * close), BW_ERROR (logged).
 */
static bw_rc_t
bw_upstream_pipe_read(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;
    bool             failed = false;

    if (!c->read->ready) {
        return BW_AGAIN;
    }
    bw_upstream_slot_t *s = bw_upstream_room(r, u, &failed);
    if (s == NULL) {
        return failed ? BW_ERROR : BW_BUSY;
    }
    ssize_t n = bw_upstream_recv(c, s->buf.last, (size_t) (s->buf.end - s->buf.last));
    if (n == BW_AGAIN) {
        return BW_AGAIN;
    }
    if (n == 0 && !u->headers_in.chunked && u->length == -1) {
        u->body_done = 1; /* close-delimited: the close is the end */
        return BW_DONE;
    }
    if (n == 0) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "upstream prematurely closed connection");
    }
    if (n <= 0) {
        u->keepalive = 0;
        return BW_ERROR;
    }
    u->state->bytes_received += n;
    u_char *p = s->buf.last;
    s->buf.last += n;
    return bw_upstream_input(r, u, &s->buf, p, s->buf.last);
}

/* Takes the next piece not given to the filters (the file's first), or NULL. */
static bw_chain_t *
bw_upstream_pipe_next(bw_upstream_pipe_t *p)
{
    bw_chain_t *cl = p->in_file;

    if (cl != NULL) {
        p->in_file = cl->next;
        if (p->in_file == NULL) {
            p->in_file_last = NULL;
        }
    } else if ((cl = p->in_mem) != NULL) {
        p->in_mem = cl->next;
        if (p->in_mem == NULL) {
            p->in_mem_tail = &p->in_mem;
        }
    }
    if (cl != NULL) {
        cl->next = NULL;
    }
    return cl;
}

/* Moves sent pieces from busy back to the free links and recounts busy. */
static void
bw_upstream_pipe_recycle(bw_upstream_pipe_t *p)
{
    while (p->busy != NULL && bw_buf_size(p->busy->buf) == 0) {
        bw_chain_t *cl = p->busy;
        p->busy = cl->next;
        bw_upstream_piece_release(p, cl->buf);
        cl->next = p->free_links;
        p->free_links = cl;
    }
    p->busy_size = 0;
    if (p->busy == NULL) {
        p->busy_tail = &p->busy;
        return;
    }
    for (bw_chain_t *cl = p->busy; cl; cl = cl->next) {
        p->busy_size += bw_buf_size(cl->buf);
    }
}

/* What bw_upstream_pipe_output gives to the filters. */
typedef enum {
    BW_UPSTREAM_OUT_SOME = 0, /* while buffering: up to proxy_busy_buffers_size */
    BW_UPSTREAM_OUT_ALL,      /* everything held (the peer failed, the temp file is full) */
    BW_UPSTREAM_OUT_LAST,     /* everything and the last buffer (the body is complete) */
} bw_upstream_out_t;

/*
 * Gives pieces to the filters: everything without buffering, else as `how`
 * says. BW_OK or BW_ERROR.
 */
static bw_rc_t
bw_upstream_pipe_output(bw_http_request_t *r, bw_upstream_t *u, bw_upstream_out_t how)
{
    bw_upstream_pipe_t *p = u->pipe;
    bw_chain_t         *out = NULL, *tail = NULL, *cl;
    bool                all = how != BW_UPSTREAM_OUT_SOME;
    off_t limit = (all || !u->buffering) ? INT64_MAX : (off_t) u->conf->busy_buffers_size;

    while (p->busy_size < limit && (cl = bw_upstream_pipe_next(p)) != NULL) {
        p->busy_size += bw_buf_size(cl->buf);
        if (tail != NULL) {
            tail->next = cl;
        } else {
            out = cl;
        }
        tail = cl;
    }
    if (how == BW_UPSTREAM_OUT_LAST) {
        /* the end of the response goes with the rest, in one call */
        bw_chain_t *end = bw_upstream_piece_get(r, p);
        if (end == NULL) {
            return BW_ERROR;
        }
        end->buf->last_buf = 1;
        end->buf->last_in_chain = 1;
        if (tail != NULL) {
            tail->next = end;
        } else {
            out = end;
        }
        tail = end;
        p->last_sent = true;
    } else if (tail != NULL) {
        tail->buf->flush = 1; /* stream: do not wait for postpone_output */
    } else if (p->busy == NULL && !r->buffered) {
        return BW_OK;
    }

    bw_rc_t rc = bw_http_output_filter(r, out);
    if (rc == BW_ERROR) {
        return BW_ERROR;
    }
    if (tail != NULL) {
        *p->busy_tail = out;
        p->busy_tail = &tail->next;
    }
    bw_upstream_pipe_recycle(p);
    return BW_OK;
}

/* ---- the relay ---- */

static void
bw_upstream_relay_timers(bw_http_request_t *r, bw_upstream_t *u, bool room)
{
    bw_connection_t *c = u->peer.connection;

    /* waiting: for the peer when there is room, else for the client */
    if (room && !c->read->ready) {
        bw_event_add_timer(c->read, u->conf->read_timeout);
    } else if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    if (room && c->read->ready) {
        /* bounded rounds ended with data left: come back next loop turn */
        bw_event_post(c->read, &bw_event_posted);
    }

    /* the client's pace: send_timeout while it holds up the body */
    bw_event_t *wev = r->connection->write;
    if (wev->delayed) {
        return;
    }
    if (r->buffered || u->pipe->busy != NULL) {
        bw_event_add_timer(wev, bw_http_core_loc(r)->send_timeout);
    } else if (wev->timer_set) {
        bw_event_del_timer(wev);
    }
}

void
bw_upstream_relay(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_rc_t rc = BW_OK;

    /* a body that ended in the last round is finished in one more: once
     * it was read whole no event would call the relay again */
    for (int rounds = 0; rounds < BW_UPSTREAM_RELAY_ROUNDS || u->body_done; rounds++) {
        if (u->body_done) {
            /* read whole: the rest goes to the filters and the peer is released */
            if (bw_upstream_pipe_output(r, u, BW_UPSTREAM_OUT_LAST) != BW_OK) {
                bw_upstream_finalize(r, u, BW_ERROR);
                return;
            }
            bw_upstream_finalize(r, u, BW_OK);
            return;
        }
        if (bw_upstream_pipe_output(r, u, BW_UPSTREAM_OUT_SOME) != BW_OK) {
            bw_upstream_finalize(r, u, BW_ERROR);
            return;
        }
        rc = bw_upstream_pipe_read(r, u);
        if (rc == BW_ERROR) {
            /* what arrived before the failure still goes out, then the
             * connection closes without the end of the body */
            (void) bw_upstream_pipe_output(r, u, BW_UPSTREAM_OUT_ALL);
            bw_upstream_finalize(r, u, 502);
            return;
        }
        if (rc == BW_BUSY && u->pipe->busy == NULL && !r->buffered) {
            /* No room, and the filters hold nothing whose sending would
             * call back: the temp file took no more (proxy_max_temp_file_size
             * reached, or it failed), so what waited for it goes to the
             * client now, past proxy_busy_buffers_size. */
            if (bw_upstream_pipe_output(r, u, BW_UPSTREAM_OUT_ALL) != BW_OK) {
                bw_upstream_finalize(r, u, BW_ERROR);
                return;
            }
            rc = BW_OK;
            continue;
        }
        if (rc == BW_AGAIN || rc == BW_BUSY) {
            break;
        }
    }
    /* no room (BW_BUSY): the peer waits for the client, untimed */
    bw_upstream_relay_timers(r, u, rc != BW_BUSY);
}

static void
bw_upstream_upstream_read(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (c->read->timedout) {
        c->read->timedout = 0;
        bw_log_error(BW_LOG_ERR, r->connection->log, ETIMEDOUT, "upstream timed out");
        bw_upstream_finalize(r, u, 504);
        return;
    }
    bw_upstream_relay(r, u);
}

/* The relay's state, starting with the head buffer and what follows the head in it. */
static bw_rc_t
bw_upstream_pipe_init(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_pipe_t *p = bw_pcalloc(r->pool, sizeof(*p));

    if (p == NULL) {
        return BW_ERROR;
    }
    p->head.buf = u->buffer;
    p->reading = &p->head;
    p->in_mem_tail = &p->in_mem;
    p->busy_tail = &p->busy;
    p->file.fd = -1;
    if (u->buffering) {
        p->max_slots = (bw_uint_t) u->conf->bufs_num;
        p->slot_size = u->conf->bufs_size;
        p->spill = u->conf->max_temp_file_size > 0;
    }
    u->pipe = p;
    return BW_OK;
}

void
bw_upstream_body_start(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    u->read_event_handler = bw_upstream_upstream_read;
    u->write_event_handler = bw_upstream_dummy_handler;
    if (bw_upstream_pipe_init(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, BW_ERROR);
        return;
    }

    /* body bytes that came with the head: relay them in place */
    bw_buf_t *head = &u->pipe->head.buf;
    if (head->pos < head->last && !u->body_done) {
        if (bw_upstream_input(r, u, head, head->pos, head->last) != BW_OK) {
            bw_upstream_finalize(r, u, 502);
            return;
        }
    } else if (!u->buffering && !u->body_done
               && bw_http_send_special(r, BW_HTTP_FLUSH) == BW_ERROR) {
        /* streaming: the head goes out now, not with the first bytes */
        bw_upstream_finalize(r, u, BW_ERROR);
        return;
    }
    bw_upstream_relay(r, u);
}
