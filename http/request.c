/*
 * request.c -- the life of an HTTP/1.x client connection: wait for a
 * request, own the connection's header buffers, start a request on the
 * bytes that came and, once its head is read, hand it to the phase engine;
 * then finalize it: error pages, keep-alive with pipelining, lingering
 * close, timeouts, and the log phase right before the request's memory is
 * released.
 *
 * Reading and checking the head is in request_head.c, the error log's
 * context in request_log.c, request bodies in request_body.c, error pages
 * in special_response.c, the status line and headers in header_filter.c,
 * socket writes in write_filter.c. The phase engine
 * (bw_http_core_run_phases) belongs to http.c / core_module.c.
 *
 * Ownership: c->data is the bw_http_connection_t for the connection's whole
 * life; hc->request is the current request (NULL while idle). A request is
 * freed when its reference count (r->count) drops to zero; reading or
 * discarding a body and internal redirects take a reference.
 */
#include "request_internal.h"

#include "clock.h"
#include "io.h"
#include "listen.h"
#include "log.h"
#include "pool.h"
#include "process.h"
#include "timer.h"
#include "tls.h"
#include "variables.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* nginx allows 10 internal redirects/rewrites per request; the 11th fails. */
#define BW_HTTP_MAX_URI_CHANGES 10
/* A close after an error reads and drops at most this much first, so the
 * kernel does not answer unread bytes with a reset that destroys the
 * response before the client read it. */
#define BW_HTTP_DRAIN_MAX (64 * 1024)
#define BW_HTTP_DRAIN_CHUNK 4096

/* lingering_close values. */
#define BW_HTTP_LINGERING_OFF    0
#define BW_HTTP_LINGERING_ON     1
#define BW_HTTP_LINGERING_ALWAYS 2

static void bw_http_idle_handler(bw_event_t *rev);
static void bw_http_request_handler(bw_event_t *ev);
static void bw_http_empty_event_handler(bw_event_t *ev);
static void bw_http_writer(bw_http_request_t *r);
static void bw_http_finalize_connection(bw_http_request_t *r);
static void bw_http_set_keepalive(bw_http_request_t *r);
static void bw_http_set_lingering_close(bw_http_connection_t *hc);
static void bw_http_lingering_close_handler(bw_event_t *rev);
static void bw_http_free_request(bw_http_request_t *r, bw_int_t rc);
static void bw_http_close_connection(bw_connection_t *c);

/* ------------------------------------------------------------ counters */

void
bw_http_stat_set(bw_http_connection_t *hc, bw_http_stat_t to)
{
    if (hc->stat == to) {
        return;
    }
    switch (hc->stat) {
    case BW_HTTP_STAT_READING:
        bw_http_stat_dec(reading);
        break;
    case BW_HTTP_STAT_WRITING:
        bw_http_stat_dec(writing);
        break;
    case BW_HTTP_STAT_WAITING:
        bw_http_stat_dec(waiting);
        break;
    default:
        break;
    }
    switch (to) {
    case BW_HTTP_STAT_READING:
        bw_http_stat_inc(reading);
        break;
    case BW_HTTP_STAT_WRITING:
        bw_http_stat_inc(writing);
        break;
    case BW_HTTP_STAT_WAITING:
        bw_http_stat_inc(waiting);
        break;
    default:
        break;
    }
    hc->stat = to;
}

/* --------------------------------------------------- connection setup */

bw_http_core_srv_conf_t *
bw_http_hc_srv(bw_http_connection_t *hc)
{
    return hc->conf.srv_conf[bw_http_core_module.index];
}

/*
 * The default server of the connection's address: its buffer sizes and
 * header timeout apply until the request names its virtual server.
 */
static bw_rc_t
bw_http_connection_find_default(bw_http_connection_t *hc)
{
    bw_http_addr_conf_t *ac = bw_http_connection_addr_conf(hc->connection);
    if (ac == NULL || ac->default_server == NULL) {
        return BW_ERROR;
    }
    hc->conf = *ac->default_server->ctx;
    return BW_OK;
}

void
bw_http_init_connection(bw_connection_t *c)
{
    bw_http_connection_t *hc = bw_pcalloc(c->pool, sizeof(*hc));
    if (hc == NULL) {
        bw_connection_close(c);
        return;
    }
    hc->connection = c;
    hc->start_msec = bw_time.monotonic;
    c->data = hc;
    if (bw_http_connection_find_default(hc) != BW_OK) {
        bw_http_close_connection(c);
        return;
    }
    c->log->handler = bw_http_log_context;
    c->log->data = hc;
    c->log->action = "waiting for request";
    c->read->handler = bw_http_idle_handler;
    c->write->handler = bw_http_empty_event_handler;
    bw_http_stat_set(hc, BW_HTTP_STAT_WAITING);

    bw_event_add_timer(c->read, bw_http_hc_srv(hc)->client_header_timeout);
    /* TLS hook (tls helper): a `listen ... ssl` address runs its handshake
     * first and comes back through bw_http_ssl_handshake_done(). */
    if (bw_http_ssl_connection_hook && bw_http_ssl_connection_hook(c) != BW_DECLINED) {
        return;
    }
    if (c->read->ready) {
        /* deferred accept: the request is already there */
        bw_http_idle_handler(c->read);
        return;
    }
    bw_connection_reusable(c, true);
}

/* TLS hook (tls helper): see request.h. */
bw_rc_t (*bw_http_ssl_connection_hook)(bw_connection_t *c);
bw_int_t (*bw_http_ssl_request_hook)(bw_http_request_t *r);

void
bw_http_ssl_handshake_done(bw_connection_t *c, bw_rc_t rc, const bw_conf_ctx_t *server)
{
    bw_http_connection_t *hc = c->data;

    if (rc != BW_OK) {
        bw_http_close_connection(c);
        return;
    }
    if (server) {
        hc->conf = *server;
    }
    c->log->action = "waiting for request";
    c->read->handler = bw_http_idle_handler;
    c->write->handler = bw_http_empty_event_handler;
    /* TLS may hold the request already (it came with the handshake's end) */
    bw_http_idle_handler(c->read);
}

static void
bw_http_empty_event_handler(bw_event_t *ev)
{
    (void) ev;
}

void
bw_http_block_reading(bw_http_request_t *r)
{
    (void) r;
}

void
bw_http_request_empty_handler(bw_http_request_t *r)
{
    (void) r;
}

/* ------------------------------------------------------------- buffers */

/*
 * The connection's read buffer (client_header_buffer_size). Its storage is
 * released while the connection idles and allocated again when bytes come.
 * NULL on no memory.
 */
static bw_buf_t *
bw_http_conn_buffer(bw_http_connection_t *hc)
{
    bw_connection_t *c = hc->connection;
    size_t size = bw_http_hc_srv(hc)->client_header_buffer_size;

    if (c->buffer == NULL) {
        c->buffer = bw_buf_calloc(c->pool);
        if (c->buffer == NULL) {
            return NULL;
        }
    }
    bw_buf_t *b = c->buffer;
    if (b->start == NULL) {
        b->start = bw_palloc(c->pool, size);
        if (b->start == NULL) {
            return NULL;
        }
        b->pos = b->last = b->start;
        b->end = b->start + size;
        b->temporary = 1;
    }
    return b;
}

/* Frees the read buffer's storage when it holds nothing (idle connection). */
static void
bw_http_conn_buffer_release(bw_http_connection_t *hc)
{
    bw_buf_t *b = hc->connection->buffer;
    if (b == NULL || b->start == NULL || b->pos != b->last) {
        return;
    }
    if (bw_pfree(hc->connection->pool, b->start) == BW_OK) {
        b->start = b->pos = b->last = b->end = NULL;
    } else {
        b->pos = b->last = b->start; /* small: lives in a pool block; reuse it */
    }
}

/* Header and storage of a large buffer are one allocation, freed whole. */
bw_buf_t *
bw_http_large_buffer_get(bw_http_connection_t *hc, bool force)
{
    bw_connection_t *c = hc->connection;
    bw_http_core_srv_conf_t *cscf = bw_http_hc_srv(hc);
    bw_uint_t num = (bw_uint_t) cscf->large_client_header_buffers_num;
    size_t size = cscf->large_client_header_buffers_size;
    bw_buf_t *b;

    if (hc->busy == NULL) {
        /* room for the limit plus a few forced (body) buffers */
        hc->busy = bw_pcalloc(c->pool, (num + 4) * sizeof(bw_buf_t *));
        if (hc->busy == NULL) {
            return NULL;
        }
    }
    if (hc->nbusy >= num + 4 || (!force && hc->nbusy >= num)) {
        return NULL;
    }
    b = bw_palloc(c->pool, sizeof(bw_buf_t) + size);
    if (b == NULL) {
        return NULL;
    }
    memset(b, 0, sizeof(*b));
    b->start = b->pos = b->last = (u_char *) (b + 1);
    b->end = b->start + size;
    b->temporary = 1;
    hc->busy[hc->nbusy++] = b;
    return b;
}

/* Frees every large buffer except `keep` (which, if busy, becomes busy[0]). */
static void
bw_http_large_buffers_release(bw_http_connection_t *hc, bw_buf_t *keep)
{
    bw_pool_t *pool = hc->connection->pool;
    bool kept = false;

    for (bw_uint_t i = 0; i < hc->nbusy; i++) {
        if (hc->busy[i] == keep) {
            kept = true;
            continue;
        }
        bw_pfree(pool, hc->busy[i]);
    }
    hc->nbusy = 0;
    if (kept) {
        hc->busy[hc->nbusy++] = keep;
    }
}

/* ------------------------------------------------------------ requests */

static bw_http_request_t *
bw_http_create_request(bw_http_connection_t *hc)
{
    bw_connection_t *c = hc->connection;
    bw_http_core_srv_conf_t *cscf = bw_http_hc_srv(hc);

    bw_pool_t *pool = bw_pool_create(cscf->request_pool_size, c->log);
    if (pool == NULL) {
        return NULL;
    }
    bw_http_request_t *r = bw_pcalloc(pool, sizeof(*r));
    bw_http_head_t *head = bw_pcalloc(pool, sizeof(*head));
    void **ctx = bw_pcalloc(pool, (bw_modules_n + 1) * sizeof(void *));
    if (r == NULL || head == NULL || ctx == NULL
        || bw_array_init(&r->headers_in.headers, pool, 16, sizeof(bw_http_header_t)) != BW_OK
        || bw_array_init(&r->headers_out.headers, pool, 16, sizeof(bw_http_header_t)) != BW_OK
        || bw_array_init(&r->headers_out.trailers, pool, 2, sizeof(bw_http_header_t)) != BW_OK) {
        bw_pool_destroy(pool);
        return NULL;
    }
    size_t nvars = bw_http_variables_count();
    if (nvars) {
        r->variables = bw_pcalloc(pool, nvars * sizeof(bw_http_variable_value_t));
        if (r->variables == NULL) {
            bw_pool_destroy(pool);
            return NULL;
        }
    }
    r->pool = pool;
    r->connection = c;
    r->main = r;
    r->http_connection = hc;
    r->head = head;
    r->ctx = ctx;
    r->main_conf = hc->conf.main_conf;
    r->srv_conf = hc->conf.srv_conf;
    r->loc_conf = hc->conf.loc_conf;
    r->count = 1;
    r->method = BW_HTTP_UNKNOWN;
    r->http_version = BW_HTTP_VERSION_10; /* error answers to a bad line carry a head */
    r->uri_changes = BW_HTTP_MAX_URI_CHANGES + 1;
    r->headers_in.content_length_n = -1;
    r->headers_in.keep_alive_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;
    r->start_sec = bw_time.sec;
    r->start_msec = bw_time.msec;
    r->start_monotonic = bw_time.monotonic;
    r->read_event_handler = bw_http_head_handler;
    r->write_event_handler = bw_http_request_empty_handler;

    c->requests++;
    c->sent = 0;
    hc->request = r;
    bw_http_stat_inc(requests);
    bw_http_stat_set(hc, BW_HTTP_STAT_READING);
    return r;
}

/* Starts a request on bytes already in `b` (fresh or pipelined). */
static void
bw_http_start_request(bw_http_connection_t *hc, bw_buf_t *b)
{
    bw_connection_t *c = hc->connection;

    bw_connection_reusable(c, false);
    c->idle = 0;
    bw_http_request_t *r = bw_http_create_request(hc);
    if (r == NULL) {
        bw_http_close_connection(c);
        return;
    }
    r->header_in = b;
    ((bw_http_head_t *) r->head)->counted = b->pos;
    c->log->action = hc->pipeline ? "reading client pipelined request line"
                                  : "reading client request line";
    c->read->handler = bw_http_request_handler;
    c->write->handler = bw_http_request_handler;
    bw_http_head_process(r);
}

/*
 * Read handler of an idle connection: before its first request (timer:
 * client_header_timeout from accept) or between two (keepalive_timeout).
 * Also called with c->close set when the slot is reclaimed or the worker
 * shuts down.
 */
static void
bw_http_idle_handler(bw_event_t *rev)
{
    bw_connection_t *c = rev->data;
    bw_http_connection_t *hc = c->data;
    bool keepalive = c->requests > 0;

    if (rev->timedout) {
        if (!keepalive) {
            bw_log_error(BW_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        }
        bw_http_close_connection(c);
        return;
    }
    if (c->close) {
        bw_http_close_connection(c);
        return;
    }
    bw_buf_t *b = bw_http_conn_buffer(hc);
    if (b == NULL) {
        bw_http_close_connection(c);
        return;
    }
    ssize_t n = c->recv(c, b->last, (size_t) (b->end - b->last));
    if (n == BW_AGAIN) {
        bw_http_conn_buffer_release(hc);
        if (!c->reusable) {
            bw_connection_reusable(c, true);
        }
        return;
    }
    if (n == BW_ERROR) {
        bw_http_close_connection(c);
        return;
    }
    if (n == 0) {
        if (keepalive) {
            bw_log_error(BW_LOG_INFO, c->log, 0, "client %.*s closed keepalive connection",
                         BW_STR_ARG(c->addr_text));
        } else {
            bw_log_error(BW_LOG_INFO, c->log, 0, "client closed connection");
        }
        bw_http_close_connection(c);
        return;
    }
    b->last += n;
    if (keepalive) {
        /* the head of the next request must come within client_header_timeout */
        bw_event_add_timer(rev, bw_http_hc_srv(hc)->client_header_timeout);
    }
    bw_http_start_request(hc, b);
}

/*
 * Event handler while a request exists: dispatches to the request's read or
 * write handler. c->close (slot reclaimed, worker shutting down) ends it,
 * except a head being read during a graceful shutdown, which may finish.
 */
static void
bw_http_request_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    bw_http_connection_t *hc = c->data;
    bw_http_request_t *r = hc->request;

    if (r == NULL) {
        return;
    }
    if (c->close) {
        if (r->head == NULL || !bw_signals.quit) {
            r->logged = r->head != NULL; /* a reclaimed slow head is not a request */
            bw_http_terminate_request(r, 0);
            return;
        }
        c->close = 0;
    }
    if (ev->write) {
        r->write_event_handler(r);
    } else {
        r->read_event_handler(r);
    }
}


/* ------------------------------------------------------- processing */

void
bw_http_process_request(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;

    if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    bw_connection_reusable(c, false);
    bw_http_stat_set(r->http_connection, BW_HTTP_STAT_WRITING);
    c->log->action = NULL;
    r->head = NULL;

    switch (r->headers_in.connection_type) {
    case BW_HTTP_CONNECTION_CLOSE:
        r->keepalive = 0;
        break;
    case BW_HTTP_CONNECTION_KEEP_ALIVE:
        r->keepalive = r->http_version >= BW_HTTP_VERSION_10;
        break;
    default:
        r->keepalive = r->http_version > BW_HTTP_VERSION_10;
        break;
    }
    r->lingering_close = r->headers_in.content_length_n > 0 || r->headers_in.chunked;
    r->read_event_handler = bw_http_block_reading;
    r->write_event_handler = bw_http_core_run_phases;
    /* TLS hook (tls helper): 497, 495, 496 or 421 once the server is known */
    if (bw_http_ssl_request_hook) {
        bw_int_t rc = bw_http_ssl_request_hook(r);
        if (rc != BW_OK) {
            bw_http_finalize_request(r, rc);
            return;
        }
    }
    bw_http_handler(r);
}

/* ------------------------------------------------------------ finalize */

/* Arms the writer: the response is buffered, wait for the socket. */
static void
bw_http_set_write_handler(bw_http_request_t *r)
{
    bw_event_t *wev = r->connection->write;

    r->read_event_handler = r->discard_body ? bw_http_discarded_body_handler
                                            : bw_http_block_reading;
    r->write_event_handler = bw_http_writer;
    if (!wev->delayed) {
        bw_event_add_timer(wev, bw_http_core_loc(r)->send_timeout);
    }
}

static void
bw_http_writer(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;
    bw_event_t *wev = c->write;

    if (wev->timedout && wev->delayed) {
        /* limit_rate's pause is over */
        wev->timedout = 0;
        wev->delayed = 0;
    }
    if (wev->timedout) {
        bw_log_error(BW_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        c->timedout = 1;
        bw_http_finalize_request(r, 408);
        return;
    }
    if (wev->delayed) {
        return;
    }
    bw_rc_t rc = bw_http_output_filter(r, NULL);
    if (rc == BW_ERROR) {
        bw_http_finalize_request(r, BW_ERROR);
        return;
    }
    if (r->buffered) {
        if (!wev->delayed) {
            bw_event_add_timer(wev, bw_http_core_loc(r)->send_timeout);
        }
        return;
    }
    r->write_event_handler = bw_http_request_empty_handler;
    if (wev->timer_set) {
        bw_event_del_timer(wev);
    }
    bw_http_finalize_request(r, rc);
}

/* Statuses the special response handler answers (error pages, 201, 204). */
static bool
bw_http_is_special(bw_int_t rc)
{
    return rc >= 300 || rc == 201 || rc == 204;
}

void
bw_http_finalize_request(bw_http_request_t *r, bw_int_t rc)
{
    bw_connection_t *c = r->connection;

    if (rc == BW_DONE) {
        bw_http_finalize_connection(r);
        return;
    }
    if (rc == BW_DECLINED) {
        r->content_handler = NULL;
        r->write_event_handler = bw_http_core_run_phases;
        bw_http_core_run_phases(r);
        return;
    }
    if (rc == BW_ERROR || rc == 408 || rc == 499 || c->error) {
        /* no answer: a broken or timed-out connection (nginx logs 408/499) */
        bw_http_terminate_request(r, rc == BW_ERROR ? 0 : rc);
        return;
    }
    if (bw_http_is_special(rc)) {
        if (rc == 444) {
            c->timedout = 1; /* "close without a response" (reset when configured) */
            bw_http_terminate_request(r, rc);
            return;
        }
        if (c->read->timer_set) {
            bw_event_del_timer(c->read);
        }
        if (c->write->timer_set) {
            bw_event_del_timer(c->write);
        }
        c->read->handler = bw_http_request_handler;
        c->write->handler = bw_http_request_handler;
        bw_http_finalize_request(r, bw_http_special_response_handler(r, rc));
        return;
    }
    if (r->buffered) {
        bw_http_set_write_handler(r);
        return;
    }
    if (rc == BW_AGAIN) {
        return; /* the handler waits for its own I/O and finalizes later */
    }
    r->done = 1;
    r->request_complete = 1;
    r->read_event_handler = r->discard_body ? bw_http_discarded_body_handler
                                            : bw_http_block_reading;
    r->write_event_handler = bw_http_request_empty_handler;
    if (c->read->timer_set && !r->discard_body) {
        bw_event_del_timer(c->read);
    }
    if (c->write->timer_set) {
        bw_event_del_timer(c->write);
    }
    bw_http_finalize_connection(r);
}

/* True when the location wants a lingering close for this request. */
static bool
bw_http_wants_lingering(bw_http_request_t *r)
{
    bw_uint_t mode = bw_http_core_loc(r)->lingering_close;

    if (mode == BW_HTTP_LINGERING_ALWAYS) {
        return true;
    }
    if (mode != BW_HTTP_LINGERING_ON || r->head != NULL) {
        return false; /* a broken head closes at once, as nginx does */
    }
    return r->lingering_close || r->connection->read->ready
           || (r->header_in && r->header_in->pos < r->header_in->last);
}

/*
 * The response is out (or the caller dropped its reference): keep the
 * connection alive, linger, or close it, once nobody holds the request.
 */
static void
bw_http_finalize_connection(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);

    if (r->count > 1) {
        if (r->discard_body && r->done) {
            /* the body keeps coming: drop it for at most lingering_time */
            r->read_event_handler = bw_http_discarded_body_handler;
            bw_event_add_timer(c->read, clcf->lingering_timeout);
            if (r->lingering_time == 0) {
                r->lingering_time = bw_time.monotonic + clcf->lingering_time;
            }
        }
        bw_http_close_request(r, 0);
        return;
    }
    if (!r->done) {
        /* the last reference went before a response was finished */
        bw_http_close_request(r, 0);
        return;
    }
    if (c->read->eof || c->error) {
        bw_http_close_request(r, 0);
        return;
    }
    if (r->reading_body) {
        r->keepalive = 0;
        r->lingering_close = 1;
    }
    if (r->keepalive && !r->discard_body && !r->request_body
        && (r->headers_in.content_length_n > 0 || r->headers_in.chunked)) {
        /* a handler ignored the body: it must go before the next request (no
         * "100 Continue" now: the final answer is out) */
        r->expect_tested = 1;
        if (bw_http_discard_request_body(r) != BW_OK) {
            r->keepalive = 0;
        } else if (r->count > 1) {
            bw_http_finalize_connection(r);
            return;
        }
    }
    if (r->keepalive && !bw_signals.quit && !bw_signals.terminate
        && clcf->keepalive_timeout > 0) {
        bw_http_set_keepalive(r);
        return;
    }
    if (bw_http_wants_lingering(r)) {
        bw_http_connection_t *hc = r->http_connection;
        hc->lingering_deadline = bw_time.monotonic + clcf->lingering_time;
        hc->lingering_timeout = clcf->lingering_timeout;
        bw_http_free_request(r, 0);
        bw_http_set_lingering_close(hc);
        return;
    }
    bw_http_close_request(r, 0);
}

/* ---------------------------------------------------------- keep-alive */

static void
bw_http_set_keepalive(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;
    bw_http_connection_t *hc = r->http_connection;
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_event_t *rev = c->read;
    bw_buf_t *b = r->header_in;
    bool pipelined = b && b->pos < b->last;

    /* logging reads the head: free the request first, then its buffers */
    bw_http_free_request(r, 0);
    bw_http_large_buffers_release(hc, pipelined && b != c->buffer ? b : NULL);

    if (pipelined) {
        /* the next request is already here: parse it in this loop turn */
        hc->pipeline = 1;
        bw_connection_reusable(c, false);
        bw_http_request_t *nr = bw_http_create_request(hc);
        if (nr == NULL) {
            bw_http_close_connection(c);
            return;
        }
        nr->header_in = b;
        ((bw_http_head_t *) nr->head)->counted = b->pos;
        c->log->action = "reading client pipelined request line";
        rev->handler = bw_http_request_handler;
        c->write->handler = bw_http_request_handler;
        bw_event_add_timer(rev, bw_http_hc_srv(hc)->client_header_timeout);
        bw_event_post(rev, &bw_event_posted);
        return;
    }
    hc->pipeline = 0;
    if (b && b == c->buffer) {
        b->pos = b->last = b->start;
    }
    bw_http_conn_buffer_release(hc);
    bw_http_write_uncork(c);
    if (clcf->tcp_nodelay) {
        bw_connection_tcp_nodelay(c);
    }
    c->log->action = NULL;
    c->idle = 1;
    bw_connection_reusable(c, true);
    bw_http_stat_set(hc, BW_HTTP_STAT_WAITING);
    rev->handler = bw_http_idle_handler;
    c->write->handler = bw_http_empty_event_handler;
    bw_event_add_timer(rev, clcf->keepalive_timeout);
    if (rev->ready) {
        bw_event_post(rev, &bw_event_posted);
    }
}

/* ---------------------------------------------------- lingering close */

/*
 * After a response that may leave request bytes unread: stop sending, then
 * read and drop what the client still sends, waiting at most
 * lingering_timeout for each piece and lingering_time in all, so its last
 * bytes do not make the kernel reset the connection before the client has
 * read the response.
 */
static void
bw_http_set_lingering_close(bw_http_connection_t *hc)
{
    bw_connection_t *c = hc->connection;

    c->read->handler = bw_http_lingering_close_handler;
    c->write->handler = bw_http_empty_event_handler;
    c->log->action = "lingering close";
    if (shutdown(c->fd, SHUT_WR) == -1) {
        bw_http_close_connection(c);
        return;
    }
    bw_event_add_timer(c->read, bw_min(hc->lingering_timeout,
                                       hc->lingering_deadline - bw_time.monotonic));
    if (c->read->ready) {
        bw_http_lingering_close_handler(c->read);
    }
}

static void
bw_http_lingering_close_handler(bw_event_t *rev)
{
    bw_connection_t *c = rev->data;
    bw_http_connection_t *hc = c->data;
    u_char buf[BW_HTTP_DRAIN_CHUNK];

    if (rev->timedout || c->close) {
        bw_http_close_connection(c);
        return;
    }
    bw_msec_t left = hc->lingering_deadline - bw_time.monotonic;
    if (left <= 0) {
        bw_http_close_connection(c);
        return;
    }
    bool got = false;
    for (;;) {
        ssize_t n = c->recv(c, buf, sizeof(buf));
        if (n == BW_AGAIN) {
            break;
        }
        if (n == BW_ERROR || n == 0) {
            bw_http_close_connection(c);
            return;
        }
        got = true;
    }
    if (got) {
        /* data came: wait lingering_timeout again, never past lingering_time */
        bw_event_add_timer(rev, bw_min(hc->lingering_timeout, left));
    }
}

/* Reads and drops what the client already sent (bounded), then closes. */
static void
bw_http_close_drained(bw_connection_t *c)
{
    u_char buf[BW_HTTP_DRAIN_CHUNK];
    size_t total = 0;

    if (shutdown(c->fd, SHUT_WR) == 0) {
        while (total < BW_HTTP_DRAIN_MAX) {
            ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n <= 0) {
                break;
            }
            total += (size_t) n;
        }
    }
    bw_http_close_connection(c);
}

/* ------------------------------------------------------ tearing down */

void
bw_http_terminate_request(bw_http_request_t *r, bw_int_t rc)
{
    r = r->main;
    if (rc > 0 && (r->headers_out.status == 0 || r->connection->sent == 0)) {
        r->headers_out.status = (bw_uint_t) rc;
    }
    r->terminated = 1;
    r->keepalive = 0;
    r->count = 1;
    bw_http_close_request(r, rc);
}

void
bw_http_close_request(bw_http_request_t *r, bw_int_t rc)
{
    r = r->main;
    bw_connection_t *c = r->connection;

    if (r->count == 0) {
        bw_log_error(BW_LOG_ALERT, c->log, 0, "http request count is zero");
    } else {
        r->count--;
    }
    if (r->count) {
        return;
    }
    bool head_error = r->head != NULL && !r->terminated;
    bw_http_free_request(r, rc);
    if (head_error) {
        bw_http_close_drained(c);
        return;
    }
    bw_http_close_connection(c);
}

static void
bw_http_free_request(bw_http_request_t *r, bw_int_t rc)
{
    bw_connection_t *c = r->connection;
    bw_http_connection_t *hc = r->http_connection;

    if (rc > 0 && (r->headers_out.status == 0 || c->sent == 0)) {
        r->headers_out.status = (bw_uint_t) rc;
    }
    if (!r->logged) {
        r->logged = 1;
        c->log->action = "logging request";
        bw_http_log_request(r);
    }
    c->log->action = "closing request";
    if (c->timedout && r->loc_conf && bw_http_core_loc(r)->reset_timedout_connection) {
        struct linger l = {1, 0};
        if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) == -1) {
            bw_log_error(BW_LOG_CRIT, c->log, errno, "setsockopt(SO_LINGER) failed");
        }
    }
    hc->request = NULL;
    bw_http_stat_set(hc, BW_HTTP_STAT_NONE);
    bw_pool_destroy(r->pool);
}

static void
bw_http_close_connection(bw_connection_t *c)
{
    bw_http_connection_t *hc = c->data;

    if (hc) {
        bw_http_stat_set(hc, BW_HTTP_STAT_NONE);
    }
    if (c->ssl) {
        bw_tls_shutdown(c); /* TLS hook (tls helper): close_notify */
    }
    c->destroyed = 1;
    bw_connection_close(c);
}

/* --------------------------------------------------- keep-alive rules */

bool
bw_http_keepalive_allowed(bw_http_request_t *r)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_connection_t *c = r->connection;
    bw_http_connection_t *hc = r->http_connection;

    if (clcf->keepalive_timeout == 0 || c->requests >= clcf->keepalive_requests) {
        return false;
    }
    if (hc && bw_time.monotonic - hc->start_msec > clcf->keepalive_time) {
        return false;
    }
    if (r->headers_in.msie6 && r->method == BW_HTTP_POST
        && (clcf->keepalive_disable & BW_HTTP_KEEPALIVE_DISABLE_MSIE6)) {
        return false;
    }
    if (r->headers_in.safari && (clcf->keepalive_disable & BW_HTTP_KEEPALIVE_DISABLE_SAFARI)) {
        return false;
    }
    return !bw_signals.quit && !bw_signals.terminate;
}

/* ------------------------------------------------- internal redirects */

/* The extension of the last path segment of uri (len 0 when none). */
static bw_str_t
bw_http_uri_exten(const bw_str_t *uri)
{
    bw_str_t exten = bw_null_string;
    for (size_t i = uri->len; i > 0; i--) {
        u_char ch = uri->data[i - 1];
        if (ch == '/') {
            break;
        }
        if (ch == '.') {
            exten.data = uri->data + i;
            exten.len = uri->len - i;
            break;
        }
    }
    return exten;
}

bw_int_t
bw_http_internal_redirect(bw_http_request_t *r, const bw_str_t *uri, const bw_str_t *args)
{
    r->uri_changes--;
    if (r->uri_changes == 0) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "rewrite or internal redirection cycle "
                     "while internally redirecting to \"%.*s\"", BW_STR_ARG(*uri));
        r->main->count++;
        bw_http_finalize_request(r, 500);
        return BW_DONE;
    }
    r->uri = *uri;
    if (args) {
        r->args = *args;
    } else {
        bw_str_null(&r->args);
    }
    r->exten = bw_http_uri_exten(&r->uri);
    memset(r->ctx, 0, bw_modules_n * sizeof(void *));
    r->loc_conf = bw_http_core_srv(r)->ctx->loc_conf;
    bw_http_update_location_config(r);
    r->internal = 1;
    r->main->count++;
    r->write_event_handler = bw_http_core_run_phases;
    bw_http_handler(r); /* an internal request restarts at the server rewrite phase */
    return BW_DONE;
}

bw_int_t
bw_http_named_location(bw_http_request_t *r, const bw_str_t *name)
{
    bw_http_core_srv_conf_t *cscf = bw_http_core_srv(r);
    bw_log_t *log = r->connection->log;

    r->main->count++;
    r->uri_changes--;
    if (r->uri_changes == 0) {
        bw_log_error(BW_LOG_ERR, log, 0, "rewrite or internal redirection cycle "
                     "while redirect to named location \"%.*s\"", BW_STR_ARG(*name));
        bw_http_finalize_request(r, 500);
        return BW_DONE;
    }
    if (r->uri.len == 0) {
        bw_log_error(BW_LOG_ERR, log, 0, "empty URI in redirect to named location \"%.*s\"",
                     BW_STR_ARG(*name));
        bw_http_finalize_request(r, 500);
        return BW_DONE;
    }
    bw_http_core_loc_conf_t **named = cscf->named_locations.elts;
    for (size_t i = 0; named && i < cscf->named_locations.nelts; i++) {
        if (!bw_str_eq(&named[i]->name, name)) {
            continue;
        }
        r->loc_conf = named[i]->loc_conf;
        bw_http_update_location_config(r);
        memset(r->ctx, 0, bw_modules_n * sizeof(void *));
        r->phase_handler = bw_http_phase_index(r, BW_HTTP_REWRITE_PHASE);
        r->write_event_handler = bw_http_core_run_phases;
        bw_http_core_run_phases(r);
        return BW_DONE;
    }
    bw_log_error(BW_LOG_ERR, log, 0, "could not find named location \"%.*s\"", BW_STR_ARG(*name));
    bw_http_finalize_request(r, 500);
    return BW_DONE;
}

/* ---------------------------------------------------------- headers */

bw_http_header_t *
bw_http_add_header_out(bw_http_request_t *r, const bw_str_t *key, const bw_str_t *value)
{
    bw_http_header_t *h = bw_array_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }
    h->key = *key;
    h->value = *value;
    h->next = NULL;
    h->lowcase_key = bw_pnalloc(r->pool, key->len + 1);
    if (h->lowcase_key == NULL) {
        r->headers_out.headers.nelts--;
        return NULL;
    }
    bw_strlow(h->lowcase_key, key->data, key->len);
    h->lowcase_key[key->len] = '\0';
    h->hash = bw_http_parse_hash_lc(key->data, key->len);
    if (h->hash == 0) {
        h->hash = 1; /* 0 marks a deleted header */
    }
    if (r->headers_out.location == NULL && key->len == 8
        && memcmp(h->lowcase_key, "location", 8) == 0) {
        r->headers_out.location = h;
    }
    return h;
}

bw_http_header_t *
bw_http_find_header_in(bw_http_request_t *r, const bw_str_t *name)
{
    bw_http_header_t *h = r->headers_in.headers.elts;
    for (size_t i = 0; i < r->headers_in.headers.nelts; i++) {
        if (h[i].key.len == name->len && bw_strncasecmp(h[i].key.data, name->data, name->len) == 0) {
            return &h[i];
        }
    }
    return NULL;
}
