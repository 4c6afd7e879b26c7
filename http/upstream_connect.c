/*
 * upstream_connect.c -- one attempt at a peer and the upstream's end: pick a
 * peer (or a cached connection), connect without blocking, send the request
 * (a streamed body as it arrives), read and parse the response head, move on
 * to the next peer when proxy_next_upstream allows it, and finalize. What
 * the client gets of the head is in upstream_headers.c, the body relay in
 * upstream_body.c.
 */
#include "upstream_internal.h"

#include "clock.h"
#include "cycle.h"
#include "io.h"
#include "pool.h"
#include "tls.h"
#include "upstream_rr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static void bw_upstream_process_header(bw_http_request_t *r, bw_upstream_t *u);
static void bw_upstream_init_peer(bw_http_request_t *r, bw_upstream_t *u);
static void bw_upstream_resolve(bw_http_request_t *r, bw_upstream_t *u);

bw_upstream_t *
bw_upstream_create(bw_http_request_t *r)
{
    bw_upstream_t *u = bw_pcalloc(r->pool, sizeof(*u));

    if (u == NULL
        || bw_array_init(&u->headers_in.headers, r->pool, 16, sizeof(bw_http_header_t)) != BW_OK) {
        return NULL;
    }
    if (r->upstream_states == NULL) {
        r->upstream_states = bw_array_create(r->pool, 2, sizeof(bw_upstream_state_t));
        if (r->upstream_states == NULL) {
            return NULL;
        }
    } else if (r->upstream_states->nelts > 0) {
        /* an upstream after an internal redirect: its attempts follow " : " */
        bw_upstream_state_t *sep = bw_array_push(r->upstream_states);
        if (sep == NULL) {
            return NULL;
        }
        memset(sep, 0, sizeof(*sep));
        sep->separator = true;
    }
    r->upstream = u;
    u->request = r;
    u->peer.log = r->connection->log;
    u->headers_in.content_length_n = -1;
    u->length = -1;
    bw_http_set_ctx(r, u, bw_upstream_module);
    return u;
}

bw_msec_t
bw_upstream_now(void)
{
    return bw_time.monotonic;
}

/* Every upstream connection event lands here and goes to the current step. */
static void
bw_upstream_event_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    bw_upstream_t   *u = c->data;

    if (ev->write) {
        u->write_event_handler(u->request, u);
    } else {
        u->read_event_handler(u->request, u);
    }
}

void
bw_upstream_dummy_handler(bw_http_request_t *r, bw_upstream_t *u)
{
}

/*
 * The client's side while the upstream works: a read event may mean the
 * client went away. Peeking tells a close from pipelined bytes.
 */
void
bw_upstream_check_broken(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;
    bw_upstream_t   *u = bw_upstream_get(r);
    char             byte;

    if (u == NULL || c->error) {
        return;
    }
    ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK);
    if (n > 0) {
        return;
    }
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->read->ready = 0;
        return;
    }
    c->error = 1;
    if (u->conf->ignore_client_abort) {
        return;
    }
    bw_log_error(BW_LOG_INFO, c->log, n == 0 ? 0 : errno,
                 "client prematurely closed connection");
    bw_upstream_finalize(r, u, BW_HTTP_CLIENT_CLOSED_REQUEST);
}

/* The client became writable: push the body on once the head was sent. */
static void
bw_upstream_downstream_write(bw_http_request_t *r)
{
    bw_upstream_t   *u = bw_upstream_get(r);
    bw_connection_t *c = r->connection;

    if (u == NULL || !u->header_sent) {
        return;
    }
    if (c->write->timedout && c->write->delayed) {
        /* limit_rate's pause is over */
        c->write->timedout = 0;
        c->write->delayed = 0;
    }
    if (c->write->timedout) {
        c->write->timedout = 0;
        c->timedout = 1;
        bw_log_error(BW_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        bw_upstream_finalize(r, u, BW_HTTP_REQUEST_TIME_OUT);
        return;
    }
    if (c->write->delayed) {
        return;
    }
    bw_upstream_relay(r, u);
}

/* r->log_handler: ", upstream: "http://peer/uri"" once a peer was chosen. */
static size_t
bw_upstream_log_handler(bw_http_request_t *r, u_char *buf, size_t len)
{
    bw_upstream_t *u = bw_upstream_get(r);

    if (u == NULL || u->state == NULL || u->state->peer.len == 0 || len == 0) {
        return 0;
    }
    int n = snprintf((char *) buf, len, ", upstream: \"%.*s%.*s%.*s\"", BW_STR_ARG(u->schema),
                     BW_STR_ARG(u->state->peer), BW_STR_ARG(u->uri));
    return n < 0 ? 0 : bw_min((size_t) n, len - 1);
}

void
bw_upstream_init(bw_http_request_t *r)
{
    bw_upstream_t *u = bw_upstream_get(r);

    if (u == NULL || u->create_request == NULL) {
        bw_http_finalize_request(r, 500);
        return;
    }
    if (u->create_request(r) != BW_OK) {
        bw_http_finalize_request(r, 500);
        return;
    }
    if (u->upstream == NULL && u->resolve_host.len > 0) {
        bw_upstream_resolve(r, u);
        return;
    }
    bw_upstream_init_peer(r, u);
}

/* The group is known: the balancer's per-request state, then the first connect. */
static void
bw_upstream_init_peer(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_srv_conf_t *us = u->upstream;
    if (us == NULL || us->peer.init == NULL || us->peer.init(r, &u->peer, us) != BW_OK) {
        bw_http_finalize_request(r, 500);
        return;
    }
    u->peer.log = r->connection->log;
    u->peer.start_time = bw_upstream_now();
    if (u->conf->next_upstream_tries && u->peer.tries > u->conf->next_upstream_tries) {
        u->peer.tries = u->conf->next_upstream_tries;
    }
    r->read_event_handler = bw_upstream_check_broken;
    r->write_event_handler = bw_upstream_downstream_write;
    r->log_handler = bw_upstream_log_handler;
    bw_upstream_connect(r, u);
}

/* ---- a name resolved at request time ---- */

/* Peer addresses for the lookup's answer, with the port and "ip:port" names. */
static bw_upstream_addr_t *
bw_upstream_resolved_addrs(bw_http_request_t *r, bw_upstream_t *u, bw_resolver_ctx_t *ctx)
{
    bw_upstream_addr_t *addrs = bw_pcalloc(r->pool, ctx->naddrs * sizeof(*addrs));

    for (size_t i = 0; addrs != NULL && i < ctx->naddrs; i++) {
        struct sockaddr_storage *ss = bw_palloc(r->pool, sizeof(*ss));
        u_char                  *text = bw_pnalloc(r->pool, INET6_ADDRSTRLEN + 8);
        char                     ip[INET6_ADDRSTRLEN];
        if (ss == NULL || text == NULL) {
            return NULL;
        }
        memcpy(ss, &ctx->addrs[i].sockaddr, ctx->addrs[i].socklen);
        if (ss->ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;
            sin6->sin6_port = htons(u->resolve_port);
            inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
            addrs[i].name.len = (size_t) snprintf((char *) text, INET6_ADDRSTRLEN + 8, "[%s]:%u",
                                                  ip, (unsigned) u->resolve_port);
        } else {
            struct sockaddr_in *sin = (struct sockaddr_in *) ss;
            sin->sin_port = htons(u->resolve_port);
            inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
            addrs[i].name.len = (size_t) snprintf((char *) text, INET6_ADDRSTRLEN + 8, "%s:%u",
                                                  ip, (unsigned) u->resolve_port);
        }
        addrs[i].name.data = text;
        addrs[i].sockaddr = (struct sockaddr *) ss;
        addrs[i].socklen = ctx->addrs[i].socklen;
    }
    return addrs;
}

static void
bw_upstream_resolve_handler(bw_resolver_ctx_t *ctx)
{
    bw_http_request_t *r = ctx->data;
    bw_upstream_t     *u = bw_upstream_get(r);

    u->resolve_ctx = NULL;
    if (ctx->state != 0) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "%.*s could not be resolved (%d: %s)",
                     BW_STR_ARG(u->resolve_host), ctx->state,
                     bw_resolver_strerror(ctx->state));
        bw_resolve_name_done(ctx);
        bw_upstream_finalize(r, u, 502);
        return;
    }
    bw_upstream_addr_t *addrs = bw_upstream_resolved_addrs(r, u, ctx);
    size_t              naddrs = ctx->naddrs;
    bw_str_t            name = {u->url.len, u->url.data};

    bw_resolve_name_done(ctx);
    /* the server name is the URL's authority: "host:port" without the scheme and URI */
    if (name.len > u->schema.len) {
        name.data += u->schema.len;
        name.len -= u->schema.len;
    }
    u_char *slash = memchr(name.data, '/', name.len);
    if (slash != NULL) {
        name.len = (size_t) (slash - name.data);
    }
    u->upstream = addrs ? bw_upstream_rr_group_create(r->pool, &u->resolve_host, &name, addrs,
                                                      naddrs)
                        : NULL;
    if (u->upstream == NULL) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    bw_upstream_init_peer(r, u);
}

/* A lookup that outlives its request (the pool goes first) is cancelled. */
static void
bw_upstream_resolve_cleanup(void *data)
{
    bw_upstream_t *u = data;

    if (u->resolve_ctx != NULL) {
        bw_resolve_name_done(u->resolve_ctx);
        u->resolve_ctx = NULL;
    }
}

/* Starts the lookup of u->resolve_host; the handler connects or ends the request with 502. */
static void
bw_upstream_resolve(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_pool_cleanup_t       *cln = bw_pool_cleanup_add(r->pool, 0);
    bw_resolver_ctx_t       *ctx = cln ? bw_resolve_start(clcf->resolver, &u->resolve_host) : NULL;

    if (ctx == NULL) {
        bw_http_finalize_request(r, 500);
        return;
    }
    cln->handler = bw_upstream_resolve_cleanup;
    cln->data = u;
    ctx->handler = bw_upstream_resolve_handler;
    ctx->data = r;
    ctx->timeout = clcf->resolver_timeout;
    u->resolve_ctx = ctx;
    r->read_event_handler = bw_upstream_check_broken;
    r->write_event_handler = bw_upstream_downstream_write;
    r->log_handler = bw_upstream_log_handler;
    bw_resolve_name(ctx);
}

/* ---- connecting ---- */

/* Starts a new attempt's state entry. */
static bool
bw_upstream_state_start(bw_upstream_t *u)
{
    bw_upstream_state_t *st = bw_array_push(u->request->upstream_states);

    if (st == NULL) {
        return false;
    }
    u->attempts++;
    memset(st, 0, sizeof(*st));
    st->response_time = -1;
    st->connect_time = -1;
    st->header_time = -1;
    st->start = bw_upstream_now();
    u->state = st;
    return true;
}

/* Ends the current attempt's timing. */
static void
bw_upstream_state_end(bw_upstream_t *u)
{
    if (u->state != NULL && u->state->response_time == -1) {
        u->state->response_time = bw_upstream_now() - u->state->start;
        if (u->peer.connection != NULL) {
            u->state->bytes_sent = u->peer.connection->sent;
        }
    }
}

/* Closes the peer connection of the current attempt, if any. */
static void
bw_upstream_close_peer(bw_upstream_t *u)
{
    if (u->peer.connection != NULL) {
        if (u->peer.connection->ssl != NULL) {
            bw_tls_shutdown(u->peer.connection); /* proxy_ssl: close_notify first */
        }
        bw_connection_close(u->peer.connection);
        u->peer.connection = NULL;
    }
}

/* Opens a non-blocking socket to pc->sockaddr and starts connect().
 * BW_OK connected, BW_AGAIN in progress, BW_DECLINED refused (logged),
 * BW_ERROR a local failure (logged). */
static bw_rc_t
bw_upstream_peer_connect(bw_upstream_t *u)
{
    bw_upstream_peer_conn_t *pc = &u->peer;
    bw_log_t                *log = pc->log;

    int fd = socket(pc->sockaddr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        bw_log_error(BW_LOG_ALERT, log, errno, "socket() failed");
        return BW_ERROR;
    }
    if (u->conf->socket_keepalive) {
        int on = 1;
        (void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    }
    bw_connection_t *c = bw_connection_get(bw_cycle, fd, log);
    if (c == NULL) {
        close(fd);
        return BW_ERROR;
    }
    c->sockaddr = pc->sockaddr;
    c->socklen = pc->socklen;
    c->addr_text = *pc->name;
    pc->connection = c;
    pc->connection_start = bw_upstream_now();

    int rc = connect(fd, pc->sockaddr, pc->socklen);
    int err = rc == -1 ? errno : 0;
    if (bw_event_conn_add(c) != BW_OK) {
        return BW_ERROR;
    }
    if (rc == 0) {
        return BW_OK;
    }
    if (err == EINPROGRESS) {
        return BW_AGAIN;
    }
    bw_log_error(BW_LOG_ERR, log, err, "connect() failed");
    return BW_DECLINED;
}

/* Resets what a failed attempt left behind before the next one. */
static bw_rc_t
bw_upstream_reinit(bw_http_request_t *r, bw_upstream_t *u)
{
    if (u->reinit_request != NULL && u->reinit_request(r) != BW_OK) {
        return BW_ERROR;
    }
    u->headers_in.headers.nelts = 0;
    bw_array_t headers = u->headers_in.headers;
    memset(&u->headers_in, 0, sizeof(u->headers_in));
    u->headers_in.headers = headers;
    u->headers_in.content_length_n = -1;
    u->length = -1;
    memset(&u->chunked, 0, sizeof(u->chunked));
    u->buffer.pos = u->buffer.last = u->buffer.start;
    u->out_bufs = u->busy_bufs = NULL;
    u->keepalive = 0;
    u->body_done = 0;
    u->request_sent = 0;
    u->request_body_sent = 0;
    return BW_OK;
}

/* Fresh buffer headers over u->request_bufs, so each attempt sends it whole. */
static bw_rc_t
bw_upstream_request_copy(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_chain_t **ll = &u->request_out;

    u->request_out = NULL;
    for (bw_chain_t *cl = u->request_bufs; cl; cl = cl->next) {
        bw_chain_t *ncl = bw_chain_alloc_link(r->pool);
        bw_buf_t   *b = bw_buf_calloc(r->pool);
        if (ncl == NULL || b == NULL) {
            return BW_ERROR;
        }
        *b = *cl->buf;
        b->shadow = cl->buf;
        ncl->buf = b;
        ncl->next = NULL;
        *ll = ncl;
        ll = &ncl->next;
    }
    return BW_OK;
}


static void
bw_upstream_send_request_handler(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (c->write->timedout) {
        c->write->timedout = 0;
        bw_upstream_next(r, u, BW_UPSTREAM_FT_TIMEOUT);
        return;
    }
    bw_upstream_send_request(r, u);
}

void
bw_upstream_connect(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *cc = r->connection;

    cc->log->action = "connecting to upstream";
    if (u->state != NULL) {
        bw_upstream_state_end(u);
    }
    if (!bw_upstream_state_start(u)) {
        bw_upstream_finalize(r, u, 500);
        return;
    }

    bw_rc_t rc = u->peer.get(&u->peer, u->peer.data);
    if (rc == BW_BUSY) {
        bw_log_error(BW_LOG_ERR, cc->log, 0, "no live upstreams");
        u->state->peer = *u->peer.name;
        bw_upstream_next(r, u, BW_UPSTREAM_FT_NOLIVE);
        return;
    }
    if (rc == BW_ERROR) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    u->state->peer = *u->peer.name;

    if (rc != BW_DONE) {
        rc = bw_upstream_peer_connect(u);
        if (rc == BW_ERROR) {
            bw_upstream_finalize(r, u, 500);
            return;
        }
        if (rc == BW_DECLINED) {
            bw_upstream_next(r, u, BW_UPSTREAM_FT_ERROR);
            return;
        }
    }

    /* only a connect() still in progress needs its outcome checked */
    u->connected = rc != BW_AGAIN;
    bw_connection_t *c = u->peer.connection;
    c->data = u;
    c->log = cc->log;
    c->read->log = c->write->log = cc->log;
    c->read->handler = bw_upstream_event_handler;
    c->write->handler = bw_upstream_event_handler;
    c->sent = 0;
    c->requests++;
    u->write_event_handler = bw_upstream_send_request_handler;
    u->read_event_handler = bw_upstream_process_header;

    if ((u->request_sent || u->attempts > 1) && bw_upstream_reinit(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    if (bw_upstream_request_copy(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    if (rc == BW_AGAIN) {
        bw_event_add_timer(c->write, u->conf->connect_timeout);
        return;
    }
    bw_upstream_send_request(r, u);
}

/* Whether a non-blocking connect() succeeded; logs the failure. */
static bool
bw_upstream_connected(bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;
    int              err = 0;
    socklen_t        len = sizeof(err);

    if (u->connected) {
        return true;
    }
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }
    if (err != 0) {
        c->error = 1;
        bw_log_error(BW_LOG_ERR, c->log, err, "connect() failed");
        return false;
    }
    u->connected = 1;
    return true;
}

void
bw_upstream_send_request(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (!u->request_sent && !bw_upstream_connected(u)) {
        bw_upstream_next(r, u, BW_UPSTREAM_FT_ERROR);
        return;
    }
    if (u->ssl && c->ssl == NULL) {
        /* proxy_ssl: a fresh connection to an https:// peer shakes hands
         * first (counted in the connect time, as nginx does) */
        bw_rc_t rc = bw_upstream_ssl_hooks.init ? bw_upstream_ssl_hooks.init(r, u) : BW_ERROR;
        if (rc == BW_AGAIN) {
            return; /* bw_upstream_ssl_done() goes on */
        }
        if (rc != BW_OK) {
            if (rc == BW_DECLINED) {
                bw_upstream_next(r, u, BW_UPSTREAM_FT_ERROR);
            } else {
                bw_upstream_finalize(r, u, 500);
            }
            return;
        }
    }
    if (u->state->connect_time == -1) {
        u->state->connect_time = bw_upstream_now() - u->state->start;
    }
    r->connection->log->action = "sending request to upstream";
    u->request_sent = 1;

    for (;;) {
        bw_chain_t *out = c->send_chain(c, u->request_out, 0);
        if (out == BW_CHAIN_ERROR) {
            bw_upstream_next(r, u, BW_UPSTREAM_FT_ERROR);
            return;
        }
        u->request_out = out;
        if (out != NULL) {
            bw_event_add_timer(c->write, u->conf->send_timeout);
            return;
        }
        if (u->stream == NULL || u->stream->done) {
            break;
        }
        /* a streamed body: what the client sent since goes next */
        bw_int_t rc = bw_upstream_stream_read(r, u);
        if (rc == BW_AGAIN) {
            if (c->write->timer_set) {
                bw_event_del_timer(c->write);
            }
            return;
        }
        if (rc != BW_OK && rc != BW_DONE) {
            bw_upstream_finalize(r, u, rc);
            return;
        }
    }

    /* all sent: wait for the answer */
    if (c->write->timer_set) {
        bw_event_del_timer(c->write);
    }
    u->request_body_sent = 1;
    u->write_event_handler = bw_upstream_dummy_handler;
    r->connection->log->action = "reading response header from upstream";
    bw_event_add_timer(c->read, u->conf->read_timeout);
    if (c->read->ready) {
        bw_upstream_process_header(r, u);
    }
}

/* ---- reading the response head ---- */

/* recv() for the upstream: like bw_recv, but failures are the backend's
 * fault and logged at error level as nginx does. */
ssize_t
bw_upstream_recv(bw_connection_t *c, u_char *buf, size_t size)
{
    bw_event_t *rev = c->read;

    if (c->ssl != NULL) {
        return c->recv(c, buf, size); /* proxy_ssl: the peer speaks TLS */
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, size, 0);
        if (n > 0) {
            if ((size_t) n < size && !rev->pending_eof) {
                rev->ready = 0;
            }
            return n;
        }
        if (n == 0) {
            rev->ready = 0;
            rev->eof = 1;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        rev->ready = 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return BW_AGAIN;
        }
        rev->error = 1;
        bw_log_error(BW_LOG_ERR, c->log, errno, "recv() failed");
        return BW_ERROR;
    }
}

/* The response buffer of proxy_buffer_size: the head must fit in it; the
 * body relay starts in it too. */
static bw_rc_t
bw_upstream_buffer_alloc(bw_http_request_t *r, bw_upstream_t *u)
{
    size_t size = u->conf->buffer_size;

    u->buffer.start = bw_palloc(r->pool, size);
    if (u->buffer.start == NULL) {
        return BW_ERROR;
    }
    u->buffer.pos = u->buffer.last = u->buffer.start;
    u->buffer.end = u->buffer.start + size;
    u->buffer.temporary = 1;
    return BW_OK;
}

/* Reads and parses until the head is complete: BW_OK, BW_AGAIN, or an
 * FT_* failure type (already logged). */
static bw_int_t
bw_upstream_read_head(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    for (;;) {
        if (u->buffer.last == u->buffer.end) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0, "upstream sent too big header");
            return BW_UPSTREAM_FT_INVALID_HEADER;
        }
        ssize_t n = bw_upstream_recv(c, u->buffer.last, (size_t) (u->buffer.end - u->buffer.last));
        if (n == BW_AGAIN) {
            return BW_AGAIN;
        }
        if (n == 0) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                         "upstream prematurely closed connection");
        }
        if (n <= 0) {
            return BW_UPSTREAM_FT_ERROR;
        }
        u->state->bytes_received += n;
        u->buffer.last += n;

        bw_rc_t rc = u->process_header(r);
        if (rc == BW_AGAIN) {
            if ((size_t) (u->buffer.last - u->buffer.start) >= u->conf->buffer_size) {
                bw_log_error(BW_LOG_ERR, r->connection->log, 0, "upstream sent too big header");
                return BW_UPSTREAM_FT_INVALID_HEADER;
            }
            continue;
        }
        if (rc == BW_OK && (size_t) (u->buffer.pos - u->buffer.start) > u->conf->buffer_size) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0, "upstream sent too big header");
            return BW_UPSTREAM_FT_INVALID_HEADER;
        }
        if (rc == BW_UPSTREAM_INVALID_HEADER) {
            return BW_UPSTREAM_FT_INVALID_HEADER;
        }
        return rc == BW_OK ? BW_OK : BW_ERROR;
    }
}

/* The FT_* bit for a response status, or 0. */
static bw_uint_t
bw_upstream_status_mask(bw_uint_t status)
{
    switch (status) {
    case 500: return BW_UPSTREAM_FT_HTTP_500;
    case 502: return BW_UPSTREAM_FT_HTTP_502;
    case 503: return BW_UPSTREAM_FT_HTTP_503;
    case 504: return BW_UPSTREAM_FT_HTTP_504;
    case 403: return BW_UPSTREAM_FT_HTTP_403;
    case 404: return BW_UPSTREAM_FT_HTTP_404;
    case 429: return BW_UPSTREAM_FT_HTTP_429;
    default: return 0;
    }
}

/* Methods proxy_next_upstream does not retry after sending without non_idempotent. */
#define BW_UPSTREAM_NON_IDEMPOTENT (BW_HTTP_POST | BW_HTTP_LOCK | BW_HTTP_PATCH)

static bool
bw_upstream_retry_timed_out(bw_upstream_t *u)
{
    bw_msec_t timeout = u->conf->next_upstream_timeout;

    return timeout && bw_upstream_now() - u->peer.start_time >= timeout;
}

/* A status proxy_next_upstream asks to retry elsewhere: moves on (true). */
static bool
bw_upstream_test_next(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_uint_t mask = bw_upstream_status_mask(u->headers_in.status_n);

    if (mask == 0) {
        return false;
    }
    bw_uint_t need = mask;
    if (u->request_sent && (r->method & BW_UPSTREAM_NON_IDEMPOTENT)) {
        need |= BW_UPSTREAM_FT_NON_IDEMPOTENT;
    }
    if (u->peer.tries > 1 && (u->conf->next_upstream & need) == need
        && !bw_upstream_retry_timed_out(u)) {
        bw_upstream_next(r, u, mask);
        return true;
    }
    return false;
}


/* proxy_intercept_errors: a status >= 300 with an error_page for it is
 * answered by that page instead of the upstream's response (true). */
static bool
bw_upstream_intercept_errors(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_uint_t                status = u->headers_in.status_n;
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);

    if (!u->conf->intercept_errors || status < 300 || clcf->error_pages == NULL) {
        return false;
    }
    const bw_http_err_page_t *page = clcf->error_pages->elts;
    for (size_t i = 0; i < clcf->error_pages->nelts; i++) {
        if ((bw_uint_t) page[i].status == status) {
            u->keepalive = 0;
            bw_upstream_finalize(r, u, (bw_int_t) status);
            return true;
        }
    }
    return false;
}

static void
bw_upstream_process_header(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (c->read->timedout) {
        c->read->timedout = 0;
        bw_upstream_next(r, u, BW_UPSTREAM_FT_TIMEOUT);
        return;
    }
    if (u->ssl && c->ssl == NULL) {
        /* proxy_ssl: nothing is read from a TLS peer before its handshake,
         * which the send side starts */
        bw_upstream_send_request(r, u);
        return;
    }
    if (!u->request_sent && !bw_upstream_connected(u)) {
        bw_upstream_next(r, u, BW_UPSTREAM_FT_ERROR);
        return;
    }
    if (u->buffer.start == NULL && bw_upstream_buffer_alloc(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, 500);
        return;
    }

    bw_int_t rc = bw_upstream_read_head(r, u);
    if (rc == BW_AGAIN) {
        if (!c->read->timer_set) {
            bw_event_add_timer(c->read, u->conf->read_timeout);
        }
        return;
    }
    if (rc == BW_ERROR) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    if (rc != BW_OK) {
        bw_upstream_next(r, u, (bw_uint_t) rc);
        return;
    }

    u->state->header_time = bw_upstream_now() - u->state->start;
    u->state->status = u->headers_in.status_n;
    if (bw_upstream_test_next(r, u) || bw_upstream_intercept_errors(r, u)) {
        return;
    }
    if (u->stream != NULL) {
        bw_upstream_stream_stop(r, u);
    }
    bw_upstream_send_response(r, u);
}

/* ---- next upstream ---- */

static bw_int_t
bw_upstream_ft_status(bw_uint_t ft_type)
{
    switch (ft_type) {
    case BW_UPSTREAM_FT_TIMEOUT:
    case BW_UPSTREAM_FT_HTTP_504:
        return 504;
    case BW_UPSTREAM_FT_HTTP_500:
        return 500;
    case BW_UPSTREAM_FT_HTTP_503:
        return 503;
    case BW_UPSTREAM_FT_HTTP_403:
        return 403;
    case BW_UPSTREAM_FT_HTTP_404:
        return 404;
    case BW_UPSTREAM_FT_HTTP_429:
        return 429;
    default:
        return 502;
    }
}

void
bw_upstream_next(bw_http_request_t *r, bw_upstream_t *u, bw_uint_t ft_type)
{
    if (ft_type == BW_UPSTREAM_FT_TIMEOUT) {
        bw_log_error(BW_LOG_ERR, r->connection->log, ETIMEDOUT, "upstream timed out");
    }
    if (u->peer.sockaddr != NULL) {
        /* a kept-alive connection that the peer had closed, found broken
         * before any byte of an answer, says nothing about the peer */
        bool stale = u->peer.cached && ft_type == BW_UPSTREAM_FT_ERROR
                     && u->state != NULL && u->state->bytes_received == 0;
        unsigned state = (stale || ft_type == BW_UPSTREAM_FT_HTTP_403
                          || ft_type == BW_UPSTREAM_FT_HTTP_404)
                             ? BW_UPSTREAM_PEER_NEXT
                             : BW_UPSTREAM_PEER_FAILED;
        u->peer.reusable = 0;
        u->peer.free(&u->peer, u->peer.data, state);
        u->peer.sockaddr = NULL;
    }
    if (u->peer.cached && ft_type == BW_UPSTREAM_FT_ERROR) {
        /* a kept-alive connection the peer had closed: not the peer's failure */
        u->peer.tries++;
    }

    bw_int_t status = bw_upstream_ft_status(ft_type);
    if (u->state != NULL && (ft_type & ~BW_UPSTREAM_FT_STATUS_MASK) != 0) {
        u->state->status = (bw_uint_t) status;
    }
    if (r->connection->error) {
        bw_upstream_finalize(r, u, BW_HTTP_CLIENT_CLOSED_REQUEST);
        return;
    }

    bw_uint_t need = ft_type;
    if (u->request_sent && (r->method & BW_UPSTREAM_NON_IDEMPOTENT)) {
        need |= BW_UPSTREAM_FT_NON_IDEMPOTENT;
    }
    /* a streamed body cannot be sent again once it began to go out */
    if (u->peer.tries == 0 || (u->conf->next_upstream & need) != need
        || (u->stream != NULL && u->request_sent) || bw_upstream_retry_timed_out(u)) {
        bw_upstream_finalize(r, u, status);
        return;
    }

    bw_upstream_state_end(u);
    bw_upstream_close_peer(u);
    bw_upstream_connect(r, u);
}

/* ---- the end ---- */

void
bw_upstream_release_peer(bw_upstream_t *u)
{
    bw_upstream_state_end(u);
    if (u->peer.sockaddr != NULL) {
        /* the buffers the body sits in belong to the request, not to the
         * connection: it may go as soon as the response was read whole */
        u->peer.reusable = u->keepalive && u->body_done && u->request_body_sent;
        if (u->peer.reusable && u->peer.connection != NULL) {
            /* a keep-alive cache takes it without this request's timers or
             * deferred events */
            bw_connection_t *c = u->peer.connection;
            if (c->read->timer_set) {
                bw_event_del_timer(c->read);
            }
            if (c->write->timer_set) {
                bw_event_del_timer(c->write);
            }
            bw_event_delete_posted(c->read);
            bw_event_delete_posted(c->write);
        }
        u->peer.free(&u->peer, u->peer.data, 0);
        u->peer.sockaddr = NULL;
    }
    bw_upstream_close_peer(u);
}

void
bw_upstream_finalize(bw_http_request_t *r, bw_upstream_t *u, bw_int_t rc)
{
    bw_connection_t *cc = r->connection;

    if (u->finalized) {
        return;
    }
    u->finalized = 1;
    if (u->resolve_ctx != NULL) {
        bw_resolve_name_done(u->resolve_ctx);
        u->resolve_ctx = NULL;
    }
    bw_upstream_release_peer(u);
    if (u->stream != NULL) {
        bw_upstream_stream_stop(r, u);
    }
    if (u->finalize_request != NULL) {
        u->finalize_request(r, rc);
    }

    r->read_event_handler = bw_http_block_reading;
    r->write_event_handler = bw_http_request_empty_handler;
    cc->log->action = NULL;

    if (!u->header_sent || rc == BW_HTTP_REQUEST_TIME_OUT
        || rc == BW_HTTP_CLIENT_CLOSED_REQUEST) {
        bw_http_finalize_request(r, rc);
        return;
    }
    if (u->upgrade) {
        /* the tunnel is over: the connection closes, no body follows a 101 */
        if (cc->read->timer_set) {
            bw_event_del_timer(cc->read);
        }
        if (cc->write->timer_set) {
            bw_event_del_timer(cc->write);
        }
        r->keepalive = 0;
        bw_http_finalize_request(r, rc == BW_OK ? BW_DONE : BW_ERROR);
        return;
    }
    if (rc == BW_OK) {
        /* the relay sends the last buffer with the rest of the body */
        bool last = u->pipe != NULL && u->pipe->last_sent;
        bw_http_finalize_request(r, last ? BW_OK : bw_http_send_special(r, BW_HTTP_LAST));
        return;
    }
    /*
     * The head went out and the body broke: the client must not mistake
     * what it got for the whole response. Flush what is there and close
     * without the end of the body (no last chunk, short Content-Length).
     */
    r->keepalive = 0;
    (void) bw_http_send_special(r, BW_HTTP_FLUSH);
    bw_http_finalize_request(r, BW_ERROR);
}

/* ---- added for proxy_ssl: the TLS handshake with a peer ---- */

bw_upstream_ssl_hooks_t bw_upstream_ssl_hooks;

void
bw_upstream_ssl_done(bw_http_request_t *r, bw_upstream_t *u, bw_uint_t ft_type)
{
    bw_connection_t *c = u->peer.connection;

    c->read->handler = bw_upstream_event_handler;
    c->write->handler = bw_upstream_event_handler;
    if (ft_type != 0) {
        bw_upstream_next(r, u, ft_type);
        return;
    }
    bw_upstream_send_request(r, u);
}
