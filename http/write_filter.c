/*
 * write_filter.c -- the module "http_write_filter", the last body filter:
 * queues what the filters produce and writes it to the client with
 * c->send_chain; and bw_http_send_special. (The body chain's head,
 * bw_http_output_filter, is in phases.c with the chain tables.)
 *
 * Settings (location): postpone_output holds small output until this many
 * bytes, a flush or the last buffer; sendfile off reads file buffers into
 * memory first (32 KiB at a time); sendfile_max_chunk bounds one call;
 * tcp_nopush corks the socket while a file is sent with sendfile;
 * limit_rate / limit_rate_after pace the response. What cannot be written
 * stays queued with r->buffered set: the request's writer (request.c)
 * calls the chain again when the socket drains, under send_timeout.
 */
#include "request_internal.h"

#include "clock.h"
#include "io.h"
#include "log.h"
#include "pool.h"
#include "timer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* Memory used to send file buffers when sendfile is off. */
#define BW_HTTP_WRITE_SCRATCH (32 * 1024)

/* limit_rate's pacing step and head start, in milliseconds. */
#define BW_HTTP_RATE_SLICE 100

typedef struct {
    bw_chain_t *out;      /* queued links (ours), oldest first */
    bw_chain_t *tail;
    bw_buf_t   *scratch;  /* file bytes read for sending (sendfile off) */
    bool        last;     /* the response's last buffer is queued */
} bw_http_write_ctx_t;

static const bw_http_module_t bw_http_write_filter_ctx = {
    .body_filter = bw_http_write_filter,
};

bw_module_t bw_http_write_filter_module = {
    .name = "http_write_filter",
    .type = BW_MODULE_HTTP,
    .ctx = &bw_http_write_filter_ctx,
};

/* ------------------------------------------------------------ markers */

bw_rc_t
bw_http_send_special(bw_http_request_t *r, unsigned flags)
{
    bw_buf_t *b = bw_buf_calloc(r->pool);
    bw_chain_t *cl = bw_chain_alloc_link(r->pool);
    if (b == NULL || cl == NULL) {
        return BW_ERROR;
    }
    if (flags & BW_HTTP_LAST) {
        b->last_buf = 1;
        b->last_in_chain = 1;
    }
    if (flags & BW_HTTP_FLUSH) {
        b->flush = 1;
    }
    cl->buf = b;
    cl->next = NULL;
    return bw_http_output_filter(r, cl);
}

/* ------------------------------------------------------------- corking */

static void
bw_http_write_cork(bw_connection_t *c, bool on)
{
    bw_http_connection_t *hc = c->data;
    int v = on;

    if (hc == NULL || hc->nopush == on || c->tcp_nodelay == BW_TCP_NODELAY_DISABLED) {
        return;
    }
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)) == -1) {
        bw_log_error(BW_LOG_CRIT, c->log, errno, "setsockopt(TCP_CORK) failed");
        return;
    }
    hc->nopush = on;
}

void
bw_http_write_uncork(bw_connection_t *c)
{
    bw_http_write_cork(c, false);
}

/* ------------------------------------------------------------- sending */

/* Sends file buffers from memory: reads the head file buffer's next piece
 * into the scratch buffer and sends that. Bytes sent, BW_AGAIN or BW_ERROR. */
static off_t
bw_http_write_file_piece(bw_http_request_t *r, bw_http_write_ctx_t *ctx, bw_buf_t *fb,
                         off_t room)
{
    bw_connection_t *c = r->connection;

    if (ctx->scratch == NULL) {
        ctx->scratch = bw_buf_create_temp(r->pool, BW_HTTP_WRITE_SCRATCH);
        if (ctx->scratch == NULL) {
            return BW_ERROR;
        }
    }
    bw_buf_t *s = ctx->scratch;
    size_t want = (size_t) bw_min(fb->file_last - fb->file_pos, (off_t) (s->end - s->start));
    want = (size_t) bw_min((off_t) want, room);
    ssize_t n;
    do {
        n = pread(fb->file->fd, s->start, want, fb->file_pos);
    } while (n == -1 && errno == EINTR);
    if (n <= 0) {
        bw_log_error(BW_LOG_CRIT, c->log, n == 0 ? 0 : errno,
                     n == 0 ? "pread() \"%s\" read only 0 bytes: file truncated?"
                            : "pread() \"%s\" failed", (char *) fb->file->name.data);
        return BW_ERROR;
    }
    s->pos = s->start;
    s->last = s->start + n;
    bw_chain_t one = {s, NULL};
    bw_chain_t *rest = c->send_chain(c, &one, 0);
    if (rest == BW_CHAIN_ERROR) {
        return BW_ERROR;
    }
    off_t sent = s->pos - s->start;
    fb->file_pos += sent;
    return sent;
}

/* True when a link of `cl` is only in a file (not in memory). */
static bool
bw_http_write_has_file(const bw_chain_t *cl)
{
    for (; cl; cl = cl->next) {
        if (!bw_buf_in_memory(cl->buf) && cl->buf->in_file) {
            return true;
        }
    }
    return false;
}

/*
 * Sends ctx->out, at most `limit` bytes (0: no limit). Returns the first
 * link with bytes left, NULL when all was sent, BW_CHAIN_ERROR on error.
 */
static bw_chain_t *
bw_http_write_send(bw_http_request_t *r, bw_http_write_ctx_t *ctx, off_t limit, bool sendfile)
{
    bw_connection_t *c = r->connection;

    if (sendfile || !bw_http_write_has_file(ctx->out)) {
        return c->send_chain(c, ctx->out, limit);
    }
    off_t total = 0;
    for (;;) {
        bw_chain_t *head = bw_chain_update_sent(ctx->out, 0);
        if (head == NULL || !c->write->ready || (limit && total >= limit)) {
            return head;
        }
        off_t room = limit ? limit - total : BW_SEND_CHAIN_MAX;
        bw_buf_t *b = head->buf;
        if (!bw_buf_in_memory(b) && b->in_file) {
            off_t n = bw_http_write_file_piece(r, ctx, b, room);
            if (n == BW_ERROR) {
                return BW_CHAIN_ERROR;
            }
            total += n;
            continue;
        }
        /* a run of memory buffers: cut the chain before the next file buffer */
        bw_chain_t *cut = head;
        while (cut->next && (bw_buf_in_memory(cut->next->buf) || !cut->next->buf->in_file)) {
            cut = cut->next;
        }
        bw_chain_t *after = cut->next;
        cut->next = NULL;
        off_t before = c->sent;
        bw_chain_t *rest = c->send_chain(c, head, room);
        cut->next = after;
        if (rest == BW_CHAIN_ERROR) {
            return BW_CHAIN_ERROR;
        }
        total += c->sent - before;
        if (rest) {
            return rest;
        }
    }
}

/* Returns the links before `rest` to the pool's free list. */
static void
bw_http_write_release(bw_http_request_t *r, bw_http_write_ctx_t *ctx, bw_chain_t *rest)
{
    while (ctx->out && ctx->out != rest) {
        bw_chain_t *cl = ctx->out;
        ctx->out = cl->next;
        bw_chain_free_link(r->pool, cl);
    }
    if (ctx->out == NULL) {
        ctx->tail = NULL;
    }
}

/*
 * limit_rate: how much may go now (0: no limit), or -1 after arming the
 * write event's delay when too little may. The rate is the request's own
 * (`set $limit_rate`, X-Accel-Limit-Rate) when set, else the location's.
 * The first limit_rate_after bytes are not paced; past them the response
 * gets `rate` bytes a second, metered in milliseconds from the start of the
 * request with one slice of head start. When less than a slice's worth (or
 * the `pending` bytes, if fewer) may go, it waits for that much, so a paced
 * response is written about ten times a second, not in dribbles.
 */
static off_t
bw_http_write_rate(bw_http_request_t *r, bw_http_core_loc_conf_t *clcf, off_t pending)
{
    bw_connection_t *c = r->connection;
    off_t            rate = (off_t) (r->limit_rate_set ? r->limit_rate : clcf->limit_rate);
    off_t            after = (off_t) clcf->limit_rate_after;

    if (rate == 0) {
        return 0;
    }
    off_t elapsed = (off_t) (bw_time.monotonic - r->start_monotonic) + BW_HTTP_RATE_SLICE;
    off_t allowed = rate * elapsed / 1000 - (c->sent - after);
    off_t want = bw_min(bw_max(rate * BW_HTTP_RATE_SLICE / 1000, 1), pending);
    if (allowed >= want) {
        return allowed;
    }
    c->write->delayed = 1;
    bw_event_add_timer(c->write, (bw_msec_t) ((want - allowed) * 1000 / rate + 1));
    return -1;
}

/*
 * Appends links for `in` to ctx->out; returns the bytes queued in all and
 * whether a flush or the last buffer is among them. -1 on no memory.
 */
static off_t
bw_http_write_queue(bw_http_request_t *r, bw_http_write_ctx_t *ctx, bw_chain_t *in, bool *flush)
{
    for (bw_chain_t *cl = in; cl; cl = cl->next) {
        bw_chain_t *ln = bw_chain_alloc_link(r->pool);
        if (ln == NULL) {
            return -1;
        }
        ln->buf = cl->buf;
        ln->next = NULL;
        if (ctx->tail) {
            ctx->tail->next = ln;
        } else {
            ctx->out = ln;
        }
        ctx->tail = ln;
    }
    off_t size = 0;
    *flush = false;
    for (bw_chain_t *cl = ctx->out; cl; cl = cl->next) {
        size += bw_buf_size(cl->buf);
        *flush = *flush || cl->buf->flush;
        ctx->last = ctx->last || cl->buf->last_buf;
    }
    return size;
}

bw_rc_t
bw_http_write_filter(bw_http_request_t *r, bw_chain_t *in)
{
    bw_connection_t *c = r->connection;
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_http_write_ctx_t *ctx = bw_http_get_ctx(r, bw_http_write_filter_module);
    bool flush;

    if (c->error) {
        return BW_ERROR;
    }
    if (ctx == NULL) {
        ctx = bw_pcalloc(r->pool, sizeof(*ctx));
        if (ctx == NULL) {
            return BW_ERROR;
        }
        bw_http_set_ctx(r, ctx, bw_http_write_filter_module);
    }
    if (ctx->last && in) {
        return BW_OK; /* after the end (a header-only response): nothing more goes out */
    }
    off_t size = bw_http_write_queue(r, ctx, in, &flush);
    if (size < 0) {
        return BW_ERROR;
    }
    if (!ctx->last && !flush && in && size < (off_t) clcf->postpone_output) {
        return BW_OK;
    }
    if (c->write->delayed) {
        r->buffered = 1;
        return BW_AGAIN;
    }
    if (size == 0) {
        bw_http_write_release(r, ctx, NULL);
        r->buffered = 0;
        return BW_OK;
    }
    off_t limit = bw_http_write_rate(r, clcf, size);
    if (limit < 0) {
        r->buffered = 1;
        return BW_AGAIN;
    }
    if (clcf->sendfile && clcf->sendfile_max_chunk
        && (limit == 0 || limit > (off_t) clcf->sendfile_max_chunk)) {
        limit = (off_t) clcf->sendfile_max_chunk;
    }
    /* Over TLS files are read and encrypted, never sent with sendfile: no cork. */
    if (clcf->sendfile && clcf->tcp_nopush && c->ssl == NULL
        && bw_http_write_has_file(ctx->out)) {
        bw_http_write_cork(c, true);
    }
    bw_chain_t *rest = bw_http_write_send(r, ctx, limit, clcf->sendfile != 0);
    if (rest == BW_CHAIN_ERROR) {
        c->error = 1;
        return BW_ERROR;
    }
    bw_http_write_release(r, ctx, rest);
    if (rest) {
        r->buffered = 1;
        if (c->write->ready && !c->write->delayed) {
            /* stopped by a limit, not by the socket: go on in this loop turn */
            bw_event_post(c->write, &bw_event_posted);
        }
        return BW_AGAIN;
    }
    r->buffered = 0;
    if (ctx->last) {
        bw_http_write_uncork(c);
    }
    return BW_OK;
}
