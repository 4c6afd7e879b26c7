/*
 * upstream_keepalive.c -- the upstream_keepalive module: `keepalive N` in
 * an upstream{} block keeps up to N idle connections to the group's peers
 * per worker and hands them to later requests for the same peer, with
 * `keepalive_requests`, `keepalive_time` and `keepalive_timeout` bounding
 * each connection's life.
 *
 * It wraps the group's balancer: the balancer still picks the peer (and
 * keeps its accounting); get() then looks for an idle connection to that
 * address, and free() keeps a connection the upstream core marked reusable
 * (the response was read whole and its framing allowed reuse). The least
 * recently used idle connection makes room when the cache is full. Idle
 * connections stay in the event set with a handler of this module, so one
 * that becomes readable (the peer closed it, reset it or sent something
 * unasked) is closed and leaves the cache at once; saving and taking out a
 * connection then only look at the event flags, with no system call. A
 * connection the peer closes in the window before the loop reports it fails
 * its request, which the upstream core retries. Requests reach the peers
 * with keep-alive only with `proxy_http_version 1.1` and
 * `proxy_set_header Connection ""`, as in nginx.
 */
#include "clock.h"
#include "conf.h"
#include "cycle.h"
#include "event.h"
#include "pool.h"
#include "tls.h"
#include "upstream.h"
#include "upstream_rr.h"

#include <sys/socket.h>

extern bw_module_t bw_upstream_keepalive_module;

typedef struct {
    bw_uint_t                max_cached;  /* keepalive N */
    bw_uint_t                requests;    /* keepalive_requests: 1000 */
    bw_msec_t                time;        /* keepalive_time: 1h */
    bw_msec_t                timeout;     /* keepalive_timeout: 60s */
    bw_queue_t               cache;       /* idle connections, most recent first */
    bw_queue_t               free;        /* unused cache items */
    bw_rc_t                (*original_init_upstream)(bw_conf_t *cf, bw_upstream_srv_conf_t *us);
    bw_rc_t                (*original_init_peer)(bw_http_request_t *r,
                                                 bw_upstream_peer_conn_t *pc,
                                                 bw_upstream_srv_conf_t *us);
} bw_upstream_keepalive_conf_t;

/* One idle connection in the cache. */
typedef struct {
    bw_upstream_keepalive_conf_t *conf;
    bw_queue_t                    queue;
    bw_connection_t              *connection;
    struct sockaddr_storage       sockaddr;
    socklen_t                     socklen;
    bw_msec_t                     start;      /* when the connection was opened */
} bw_upstream_keepalive_item_t;

/* Per request: the wrapped balancer. */
typedef struct {
    bw_upstream_keepalive_conf_t *conf;
    void                         *data;
    bw_upstream_peer_get_fn       original_get;
    bw_upstream_peer_free_fn      original_free;
} bw_upstream_keepalive_peer_t;

static const char *bw_upstream_keepalive_set(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static void *bw_upstream_keepalive_create_srv(bw_conf_t *cf);

#define BW_KA_OFF(f) offsetof(bw_upstream_keepalive_conf_t, f)

static const bw_directive_t bw_upstream_keepalive_directives[] = {
    {"keepalive", BW_CTX_UPS, BW_ARGS_TAKE1, BW_CONF_SRV, bw_upstream_keepalive_set, 0, NULL},
    {"keepalive_requests", BW_CTX_UPS, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_num,
     BW_KA_OFF(requests), NULL},
    {"keepalive_time", BW_CTX_UPS, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_msec, BW_KA_OFF(time),
     NULL},
    {"keepalive_timeout", BW_CTX_UPS, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_msec,
     BW_KA_OFF(timeout), NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_upstream_keepalive_module_ctx = {
    .create_srv = bw_upstream_keepalive_create_srv,
};

bw_module_t bw_upstream_keepalive_module = {
    .name = "upstream_keepalive",
    .type = BW_MODULE_HTTP,
    .directives = bw_upstream_keepalive_directives,
    .ctx = &bw_upstream_keepalive_module_ctx,
};

/* ---- idle connections ---- */

static void
bw_upstream_keepalive_drop(bw_upstream_keepalive_item_t *item)
{
    bw_upstream_keepalive_conf_t *kcf = item->conf;
    bw_connection_t              *c = item->connection;

    bw_queue_remove(&item->queue);
    bw_queue_insert_head(&kcf->free, &item->queue);
    item->connection = NULL;
    if (c->ssl != NULL) {
        bw_tls_shutdown(c); /* proxy_ssl: close_notify first */
    }
    bw_connection_close(c);
}

/*
 * Asks the socket (or, for proxy_ssl, the TLS layer) whether an idle
 * connection has anything to say. True when it has not: nothing to read,
 * no end of stream, no error. A plain socket is peeked; a TLS connection is
 * read through OpenSSL, which consumes records that are not data (a
 * NewSessionTicket, a key update) and reports a close_notify as the end.
 * Either way `ready` is cleared when the answer is "nothing".
 */
static bool
bw_upstream_keepalive_probe(bw_connection_t *c)
{
    u_char byte;

    if (c->ssl != NULL) {
        bw_event_handler_fn wh = c->write->handler;
        ssize_t             n = c->recv(c, &byte, 1);

        /* a read that wants to write swapped the write handler: give up */
        return n == BW_AGAIN && c->write->handler == wh;
    }
    ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->read->ready = 0;
        return true;
    }
    return false;
}

/* True when the event loop saw something on a connection: it cannot wait
 * in the cache, nor serve a request from it. */
static bool
bw_upstream_keepalive_flagged(bw_connection_t *c)
{
    return c->read->eof || c->read->error || c->read->pending_eof || c->write->error || c->close;
}

/*
 * An idle connection woke up: the peer closed it, reset it or sent bytes
 * nobody asked for, or its keepalive_timeout expired, or the worker is
 * shutting down. The probe tells a stale wake-up (the data was read by the
 * previous owner in this same loop turn) or a TLS record that is not data
 * from the rest; anything else closes the connection and frees its slot.
 */
static void
bw_upstream_keepalive_close_handler(bw_event_t *ev)
{
    bw_connection_t              *c = ev->data;
    bw_upstream_keepalive_item_t *item = c->data;

    if (!ev->timedout && !bw_upstream_keepalive_flagged(c) && bw_upstream_keepalive_probe(c)) {
        return;
    }
    bw_upstream_keepalive_drop(item);
}

static void
bw_upstream_keepalive_dummy_handler(bw_event_t *ev)
{
}

/*
 * True when a connection can wait in the cache: nothing pending on it. The
 * event loop's flags answer without a system call: the last read of the
 * response ended short (or wanted more, under TLS), which cleared `ready`,
 * and anything arriving after that raises a new edge which the idle
 * connection's handler takes. Only a connection still marked ready (its
 * last read filled the buffer exactly) is probed.
 */
static bool
bw_upstream_keepalive_quiet(bw_connection_t *c)
{
    if (bw_upstream_keepalive_flagged(c)) {
        return false;
    }
    return !c->read->ready || bw_upstream_keepalive_probe(c);
}

/* Puts pc's connection into the cache (evicting the oldest when full). */
static void
bw_upstream_keepalive_save(bw_upstream_keepalive_conf_t *kcf, bw_upstream_peer_conn_t *pc)
{
    bw_connection_t              *c = pc->connection;
    bw_upstream_keepalive_item_t *item;

    if (bw_queue_empty(&kcf->free)) {
        item = bw_queue_data(bw_queue_last(&kcf->cache), bw_upstream_keepalive_item_t, queue);
        bw_upstream_keepalive_drop(item);
    }
    item = bw_queue_data(bw_queue_head(&kcf->free), bw_upstream_keepalive_item_t, queue);
    bw_queue_remove(&item->queue);
    bw_queue_insert_head(&kcf->cache, &item->queue);

    item->connection = c;
    memcpy(&item->sockaddr, pc->sockaddr, pc->socklen);
    item->socklen = pc->socklen;
    item->start = pc->connection_start;
    pc->connection = NULL;

    c->data = item;
    c->log = bw_cycle->log;
    c->read->log = c->write->log = bw_cycle->log;
    c->read->handler = bw_upstream_keepalive_close_handler;
    c->write->handler = bw_upstream_keepalive_dummy_handler;
    c->idle = 1;
    bw_connection_reusable(c, true);
    bw_event_add_timer(c->read, kcf->timeout);
}

/* ---- the wrapped balancer ---- */

static bw_rc_t
bw_upstream_keepalive_get(bw_upstream_peer_conn_t *pc, void *data)
{
    bw_upstream_keepalive_peer_t *kp = data;
    bw_upstream_keepalive_conf_t *kcf = kp->conf;

    bw_rc_t rc = kp->original_get(pc, kp->data);
    if (rc != BW_OK) {
        return rc;
    }
    for (bw_queue_t *q = bw_queue_head(&kcf->cache); q != bw_queue_sentinel(&kcf->cache);
         q = bw_queue_next(q)) {
        bw_upstream_keepalive_item_t *item = bw_queue_data(q, bw_upstream_keepalive_item_t, queue);
        if (item->socklen != pc->socklen || memcmp(&item->sockaddr, pc->sockaddr, pc->socklen)) {
            continue;
        }
        bw_connection_t *c = item->connection;
        if (c->read->ready || bw_upstream_keepalive_flagged(c)) {
            /* the loop saw it closed or talking and its handler could not
             * close it yet: a request sent on it would fail */
            q = bw_queue_prev(q);
            bw_upstream_keepalive_drop(item);
            continue;
        }
        bw_queue_remove(q);
        bw_queue_insert_head(&kcf->free, q);
        item->connection = NULL;

        if (c->read->timer_set) {
            bw_event_del_timer(c->read);
        }
        bw_connection_reusable(c, false);
        c->idle = 0;
        c->log = pc->log;
        c->read->log = c->write->log = pc->log;
        pc->connection = c;
        pc->connection_start = item->start;
        pc->cached = 1;
        return BW_DONE;
    }
    return BW_OK;
}

static void
bw_upstream_keepalive_free(bw_upstream_peer_conn_t *pc, void *data, unsigned state)
{
    bw_upstream_keepalive_peer_t *kp = data;
    bw_upstream_keepalive_conf_t *kcf = kp->conf;
    bw_connection_t              *c = pc->connection;

    if (c != NULL && !(state & BW_UPSTREAM_PEER_FAILED) && pc->reusable
        && c->requests < kcf->requests && bw_time.monotonic - pc->connection_start < kcf->time
        && !c->read->timedout && !c->write->timedout && bw_upstream_keepalive_quiet(c)) {
        bw_upstream_keepalive_save(kcf, pc);
    }
    kp->original_free(pc, kp->data, state);
}

static bw_rc_t
bw_upstream_keepalive_init_peer(bw_http_request_t *r, bw_upstream_peer_conn_t *pc,
                                bw_upstream_srv_conf_t *us)
{
    bw_upstream_keepalive_conf_t *kcf = us->srv_conf[bw_upstream_keepalive_module.index];
    bw_upstream_keepalive_peer_t *kp = bw_pcalloc(r->pool, sizeof(*kp));

    if (kp == NULL || kcf->original_init_peer(r, pc, us) != BW_OK) {
        return BW_ERROR;
    }
    kp->conf = kcf;
    kp->data = pc->data;
    kp->original_get = pc->get;
    kp->original_free = pc->free;
    pc->data = kp;
    pc->get = bw_upstream_keepalive_get;
    pc->free = bw_upstream_keepalive_free;
    return BW_OK;
}

/* ---- configuration ---- */

static bw_rc_t
bw_upstream_keepalive_init(bw_conf_t *cf, bw_upstream_srv_conf_t *us)
{
    bw_upstream_keepalive_conf_t *kcf = us->srv_conf[bw_upstream_keepalive_module.index];

    bw_conf_merge_uint(kcf->requests, BW_CONF_UNSET_UINT, 1000);
    bw_conf_merge_msec(kcf->time, BW_CONF_UNSET_MSEC, 3600000);
    bw_conf_merge_msec(kcf->timeout, BW_CONF_UNSET_MSEC, 60000);

    if (kcf->original_init_upstream(cf, us) != BW_OK) {
        return BW_ERROR;
    }
    kcf->original_init_peer = us->peer.init;
    us->peer.init = bw_upstream_keepalive_init_peer;

    bw_upstream_keepalive_item_t *items = bw_pcalloc(cf->pool, kcf->max_cached * sizeof(*items));
    if (items == NULL) {
        return BW_ERROR;
    }
    bw_queue_init(&kcf->cache);
    bw_queue_init(&kcf->free);
    for (bw_uint_t i = 0; i < kcf->max_cached; i++) {
        items[i].conf = kcf;
        bw_queue_insert_head(&kcf->free, &items[i].queue);
    }
    return BW_OK;
}

static void *
bw_upstream_keepalive_create_srv(bw_conf_t *cf)
{
    bw_upstream_keepalive_conf_t *kcf = bw_pcalloc(cf->pool, sizeof(*kcf));

    if (kcf == NULL) {
        return NULL;
    }
    kcf->requests = BW_CONF_UNSET_UINT;
    kcf->time = BW_CONF_UNSET_MSEC;
    kcf->timeout = BW_CONF_UNSET_MSEC;
    return kcf;
}

static const char *
bw_upstream_keepalive_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_upstream_keepalive_conf_t *kcf = conf;
    bw_upstream_srv_conf_t       *us = cf->ctx->srv_conf[bw_upstream_module.index];
    bw_str_t                     *value = cf->args->elts;

    if (kcf->max_cached) {
        return "is duplicate";
    }
    int64_t n = bw_atoi(value[1].data, value[1].len);
    if (n <= 0) {
        bw_conf_error(cf, "invalid value \"%.*s\" in \"%.*s\" directive", BW_STR_ARG(value[1]),
                      BW_STR_ARG(value[0]));
        return BW_CONF_ERROR;
    }
    kcf->max_cached = (bw_uint_t) n;
    kcf->original_init_upstream = us->peer.init_upstream ? us->peer.init_upstream
                                                         : bw_upstream_rr_init;
    us->peer.init_upstream = bw_upstream_keepalive_init;
    return BW_CONF_OK;
}
