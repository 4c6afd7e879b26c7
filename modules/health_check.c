/*
 * health_check.c -- the health_check module: active health checks of the
 * peers of an upstream group kept in a shared zone (bulwark's syntax; in
 * NGINX Plus the directive sits in a location):
 *
 *     match name { status 200-399; header Name ~ regex; body ~ regex; }   (http)
 *     upstream u {
 *         zone u 64k;
 *         server ...;
 *         health_check [interval=5s] [fails=1] [passes=1] [uri=/] [match=name]
 *                      [port=N] [timeout=time];
 *     }
 *
 * Every worker runs a short timer per checked group. At each tick it takes
 * the zone lock peer by peer; the first worker to find a peer whose next
 * check is due claims it (owner pid, next due time = now + interval) and
 * probes it from its own event loop: a non-blocking connect, the request
 * "GET uri HTTP/1.0" with Host set to the group's name, and the response
 * read until it is complete, the peer closes, or 256 KiB of body arrived.
 * The response passes when it has the match block's properties (without
 * one: a 2xx or 3xx status); a connect, send or read error or the timeout
 * fails it. `fails` consecutive failures mark the peer down in the zone
 * for that check, `passes` consecutive passes bring it back; a group may
 * have several health_check lines (each with its own state per peer), and
 * a peer down for any of them is unhealthy (hc_down: no balancer picks it). A claim left by a worker that died is taken over once its timeout
 * has passed. Peers marked `down` in the configuration are not checked.
 * A group whose peers are all unhealthy answers 502 at once (no live
 * upstreams).
 */
#include "clock.h"
#include "conf.h"
#include "core_module.h"
#include "cycle.h"
#include "event.h"
#include "io.h"
#include "log.h"
#include "pool.h"
#include "process.h"
#include "regex.h"
#include "upstream.h"
#include "upstream_rr.h"
#include "upstream_zone.h"

#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern bw_module_t bw_health_check_module;

#define BW_HEALTH_CHECK_BODY_MAX  (256 * 1024) /* body bytes a match examines */
#define BW_HEALTH_CHECK_HEAD_MAX  (16 * 1024)  /* the response head must fit */
#define BW_HEALTH_CHECK_BUF_START 4096
#define BW_HEALTH_CHECK_TICK_MIN  20 /* ms between a worker's looks at the peers */
#define BW_HEALTH_CHECK_TICK_MAX  1000

/* ---- configuration structures ---- */

typedef enum {
    BW_HEALTH_CHECK_TEST_STATUS = 0,
    BW_HEALTH_CHECK_TEST_HEADER,
    BW_HEALTH_CHECK_TEST_BODY,
} bw_health_check_test_kind_t;

typedef enum {
    BW_HEALTH_CHECK_OP_PRESENT = 0, /* header Name */
    BW_HEALTH_CHECK_OP_ABSENT,      /* header ! Name */
    BW_HEALTH_CHECK_OP_EQ,          /* header Name = value */
    BW_HEALTH_CHECK_OP_NE,          /* header Name != value */
    BW_HEALTH_CHECK_OP_RE,          /* header Name ~ regex, body ~ regex */
    BW_HEALTH_CHECK_OP_NRE,         /* header Name !~ regex, body !~ regex */
} bw_health_check_op_t;

typedef struct {
    bw_uint_t lo, hi;
} bw_health_check_range_t;

/* One line of a match block. */
typedef struct {
    bw_health_check_test_kind_t kind;
    bool                        negate; /* status ! ... */
    bw_health_check_range_t    *ranges; /* status */
    size_t                      nranges;
    bw_health_check_op_t        op;    /* header, body */
    bw_str_t                    name;  /* header */
    bw_str_t                    value; /* header = / != */
    bw_regex_t                 *re;    /* ~ / !~ */
} bw_health_check_test_t;

typedef struct {
    bw_str_t   name;
    bw_array_t tests;     /* bw_health_check_test_t */
    bool       need_body; /* some test looks at the body */
} bw_health_check_match_t;

/* One health_check directive (up to BW_UPSTREAM_HC_MAX per group). */
typedef struct {
    bw_upstream_srv_conf_t  *upstream;
    bw_uint_t                index;   /* which of the group's checks: peer->hc[index] */
    bw_msec_t                interval;
    bw_msec_t                timeout;
    bw_uint_t                fails;
    bw_uint_t                passes;
    bw_str_t                 uri;
    bw_str_t                 match_name;
    bw_health_check_match_t *match;   /* NULL: 2xx or 3xx passes */
    in_port_t                port;    /* 0: the peer's */
    bw_str_t                 request; /* the probe's bytes */
    bw_str_t                 file;    /* where the directive is, for messages */
    bw_uint_t                line;
} bw_health_check_conf_t;

typedef struct {
    bw_array_t matches; /* bw_health_check_match_t * */
    bw_array_t checks;  /* bw_health_check_conf_t * */
} bw_health_check_main_conf_t;

/* ---- one probe ---- */

typedef struct {
    bw_health_check_conf_t *hc;
    bw_upstream_rr_peer_t  *peer;  /* in the zone */
    bw_upstream_rr_peers_t *peers; /* its list, for the lock */
    bw_pool_t              *pool;
    bw_connection_t        *c;
    bw_log_t                log;
    struct sockaddr_storage sockaddr;
    socklen_t               socklen;
    size_t                  sent;
    u_char                 *buf, *last, *end;
    size_t                  head_len; /* 0 until the head is complete */
    bw_uint_t               status;
    off_t                   content_length; /* -1: none */
    unsigned                connected:1;
    unsigned                request_sent:1;
} bw_health_check_probe_t;

static const char *bw_health_check_match_block(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_health_check_set(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static void       *bw_health_check_create_main(bw_conf_t *cf);
static const char *bw_health_check_init_main(bw_conf_t *cf, void *conf);
static bw_rc_t     bw_health_check_init_worker(bw_cycle_t *cycle);

static const bw_directive_t bw_health_check_directives[] = {
    {"match", BW_CTX_HTTP, BW_ARGS_TAKE1 | BW_ARGS_BLOCK, BW_CONF_MAIN, bw_health_check_match_block,
     0, NULL},
    {"health_check", BW_CTX_UPS, BW_ARGS_ANY, BW_CONF_NONE, bw_health_check_set, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_health_check_module_ctx = {
    .create_main = bw_health_check_create_main,
    .init_main = bw_health_check_init_main,
};

bw_module_t bw_health_check_module = {
    .name = "health_check",
    .type = BW_MODULE_HTTP,
    .directives = bw_health_check_directives,
    .ctx = &bw_health_check_module_ctx,
    .init_worker = bw_health_check_init_worker,
};

/* ================================================================ */
/* judging a response                                               */
/* ================================================================ */

/* A header line of the response head, split. */
typedef struct {
    bw_str_t name;
    bw_str_t value;
} bw_health_check_header_t;

/* The next header line of [*p, end): false at the blank line or the end. */
static bool
bw_health_check_header_next(u_char **p, u_char *end, bw_health_check_header_t *h)
{
    u_char *line = *p;
    u_char *eol = memchr(line, '\n', (size_t) (end - line));

    if (eol == NULL) {
        return false;
    }
    *p = eol + 1;
    u_char *stop = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
    if (stop == line) {
        return false;
    }
    u_char *colon = memchr(line, ':', (size_t) (stop - line));
    if (colon == NULL) {
        h->name.data = line;
        h->name.len = (size_t) (stop - line);
        h->value.data = stop;
        h->value.len = 0;
        return true;
    }
    h->name.data = line;
    h->name.len = (size_t) (colon - line);
    u_char *v = colon + 1;
    while (v < stop && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (stop > v && (stop[-1] == ' ' || stop[-1] == '\t')) {
        stop--;
    }
    h->value.data = v;
    h->value.len = (size_t) (stop - v);
    return true;
}

/* The headers start after the status line. */
static u_char *
bw_health_check_headers_start(const bw_health_check_probe_t *pr)
{
    u_char *eol = memchr(pr->buf, '\n', pr->head_len);

    return eol ? eol + 1 : pr->buf + pr->head_len;
}

/* Whether the response's headers pass one header test. */
static bool
bw_health_check_test_header(const bw_health_check_probe_t *pr, const bw_health_check_test_t *t)
{
    u_char                  *p = bw_health_check_headers_start(pr), *end = pr->buf + pr->head_len;
    bw_health_check_header_t h;
    bool                     found = false;

    while (bw_health_check_header_next(&p, end, &h)) {
        if (!bw_str_caseeq(&h.name, &t->name)) {
            continue;
        }
        found = true;
        switch (t->op) {
        case BW_HEALTH_CHECK_OP_EQ:
            if (bw_str_eq(&h.value, &t->value)) {
                return true;
            }
            break;
        case BW_HEALTH_CHECK_OP_NE:
            if (!bw_str_eq(&h.value, &t->value)) {
                return true;
            }
            break;
        case BW_HEALTH_CHECK_OP_RE:
            if (bw_regex_match(t->re, &h.value)) {
                return true;
            }
            break;
        case BW_HEALTH_CHECK_OP_NRE:
            if (!bw_regex_match(t->re, &h.value)) {
                return true;
            }
            break;
        default:
            break;
        }
    }
    if (t->op == BW_HEALTH_CHECK_OP_PRESENT) {
        return found;
    }
    return t->op == BW_HEALTH_CHECK_OP_ABSENT ? !found : false;
}

/* Whether one test of the match block passes. */
static bool
bw_health_check_test_pass(const bw_health_check_probe_t *pr, const bw_health_check_test_t *t)
{
    switch (t->kind) {
    case BW_HEALTH_CHECK_TEST_STATUS: {
        bool in = false;
        for (size_t i = 0; i < t->nranges; i++) {
            in = in || (pr->status >= t->ranges[i].lo && pr->status <= t->ranges[i].hi);
        }
        return in != t->negate;
    }
    case BW_HEALTH_CHECK_TEST_HEADER:
        return bw_health_check_test_header(pr, t);
    case BW_HEALTH_CHECK_TEST_BODY: {
        u_char  *body = pr->buf + pr->head_len;
        bw_str_t s = {(size_t) bw_min(pr->last - body, (off_t) BW_HEALTH_CHECK_BODY_MAX), body};
        return bw_regex_match(t->re, &s) == (t->op == BW_HEALTH_CHECK_OP_RE);
    }
    }
    return false;
}

/* The verdict on a complete (or cut) response: NULL when it passes, else why not. */
static const char *
bw_health_check_judge(const bw_health_check_probe_t *pr)
{
    const bw_health_check_match_t *m = pr->hc->match;

    if (m == NULL) {
        return pr->status >= 200 && pr->status < 400 ? NULL : "status code is not 2xx or 3xx";
    }
    const bw_health_check_test_t *t = m->tests.elts;
    for (size_t i = 0; i < m->tests.nelts; i++) {
        if (!bw_health_check_test_pass(pr, &t[i])) {
            return t[i].kind == BW_HEALTH_CHECK_TEST_STATUS   ? "status code does not match"
                   : t[i].kind == BW_HEALTH_CHECK_TEST_HEADER ? "header does not match"
                                                              : "body does not match";
        }
    }
    return NULL;
}

/* "HTTP/d.d NNN ...": the status, or 0 when the line is not one. */
static bw_uint_t
bw_health_check_status_parse(const u_char *p, size_t len)
{
    if (len < 12 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[8] != ' ') {
        return 0;
    }
    bw_uint_t status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
        status = status * 10 + (bw_uint_t) (p[i] - '0');
    }
    return status >= 100 ? status : 0;
}

/* Finds the end of the head; reads the status and Content-Length. False while incomplete. */
static bool
bw_health_check_head_parse(bw_health_check_probe_t *pr)
{
    size_t  n = (size_t) (pr->last - pr->buf);
    u_char *end = memmem(pr->buf, n, "\r\n\r\n", 4);
    size_t  skip = 4;

    if (end == NULL) {
        end = memmem(pr->buf, n, "\n\n", 2);
        skip = 2;
    }
    if (end == NULL) {
        return false;
    }
    pr->head_len = (size_t) (end - pr->buf) + skip;
    pr->status = bw_health_check_status_parse(pr->buf, pr->head_len);
    pr->content_length = -1;

    u_char                  *p = bw_health_check_headers_start(pr), *last = pr->buf + pr->head_len;
    bw_health_check_header_t h;
    while (bw_health_check_header_next(&p, last, &h)) {
        if (bw_str_caseeq(&h.name, &(bw_str_t) bw_string("Content-Length"))) {
            pr->content_length = bw_atoi(h.value.data, h.value.len);
        }
    }
    return true;
}

/* Whether enough of the response is here to judge it (before the peer closes). */
static bool
bw_health_check_response_complete(bw_health_check_probe_t *pr)
{
    if (pr->head_len == 0 && !bw_health_check_head_parse(pr)) {
        return false;
    }
    if (pr->status == 0 || pr->hc->match == NULL || !pr->hc->match->need_body || pr->status == 204
        || pr->status == 304) {
        return true;
    }
    off_t body = pr->last - (pr->buf + pr->head_len);
    return (pr->content_length >= 0 && body >= pr->content_length)
           || body >= BW_HEALTH_CHECK_BODY_MAX;
}

/* ================================================================ */
/* the probe                                                        */
/* ================================================================ */

static size_t
bw_health_check_log_handler(bw_log_t *log, u_char *buf, size_t len)
{
    bw_health_check_probe_t *pr = log->data;
    int n = snprintf((char *) buf, len, ", health check of peer %.*s in upstream \"%.*s\"",
                     BW_STR_ARG(pr->peer->name), BW_STR_ARG(pr->hc->upstream->host));

    return n < 0 ? 0 : bw_min((size_t) n, len - 1);
}

/* Records the verdict in the zone, logs a change of state, closes the probe. */
static void
bw_health_check_finish(bw_health_check_probe_t *pr, const char *failure, int err)
{
    bw_upstream_rr_peer_t  *p = pr->peer;
    bw_health_check_conf_t *hc = pr->hc;
    bool                    went_down = false, came_up = false;

    bw_upstream_rr_peers_lock(pr->peers);
    bw_upstream_hc_state_t *st = &p->hc[hc->index];
    if (failure == NULL) {
        st->fails = 0;
        st->passes = bw_min(st->passes + 1, hc->passes);
        if (st->down && st->passes >= hc->passes) {
            st->down = false;
            came_up = true;
        }
    } else {
        st->passes = 0;
        st->fails = bw_min(st->fails + 1, hc->fails);
        if (!st->down && st->fails >= hc->fails) {
            st->down = true;
            went_down = true;
        }
    }
    /* one failed check is enough to keep the peer out */
    bool was_down = p->hc_down;
    p->hc_down = false;
    for (size_t i = 0; i < BW_UPSTREAM_HC_MAX; i++) {
        p->hc_down = p->hc_down || p->hc[i].down;
    }
    if (was_down && !p->hc_down) {
        p->fails = 0;
    }
    came_up = came_up && !p->hc_down;
    if (st->owner == bw_shmtx_pid()) {
        st->owner = 0;
    }
    bw_upstream_rr_peers_unlock(pr->peers);

    if (went_down) {
        bw_log_error(BW_LOG_WARN, &pr->log, err, "peer is unhealthy: %s", failure);
    } else if (failure != NULL) {
        bw_log_error(BW_LOG_INFO, &pr->log, err, "health check failed: %s", failure);
    } else if (came_up) {
        pr->log.action = NULL;
        bw_log_error(BW_LOG_NOTICE, &pr->log, 0, "peer is healthy");
    }
    if (pr->c != NULL) {
        bw_connection_close(pr->c); /* destroys pr->pool */
    } else {
        bw_pool_destroy(pr->pool);
    }
}

/* Gives the claim up without a verdict (the worker is shutting down, or out of slots). */
static void
bw_health_check_abandon(bw_health_check_probe_t *pr)
{
    bw_upstream_rr_peers_lock(pr->peers);
    if (pr->peer->hc[pr->hc->index].owner == bw_shmtx_pid()) {
        pr->peer->hc[pr->hc->index].owner = 0;
    }
    bw_upstream_rr_peers_unlock(pr->peers);
    if (pr->c != NULL) {
        bw_connection_close(pr->c);
    } else {
        bw_pool_destroy(pr->pool);
    }
}

/* Room to read into: the buffer doubles up to head + 256 KiB. False when full. */
static bool
bw_health_check_buffer_room(bw_health_check_probe_t *pr)
{
    if (pr->last < pr->end) {
        return true;
    }
    size_t size = (size_t) (pr->end - pr->buf);
    if (size >= BW_HEALTH_CHECK_HEAD_MAX + BW_HEALTH_CHECK_BODY_MAX) {
        return false;
    }
    size_t nsize = bw_min(size * 2, (size_t) (BW_HEALTH_CHECK_HEAD_MAX + BW_HEALTH_CHECK_BODY_MAX));
    u_char *nbuf = bw_palloc(pr->pool, nsize);
    if (nbuf == NULL) {
        return false;
    }
    memcpy(nbuf, pr->buf, size);
    bw_pfree(pr->pool, pr->buf);
    pr->last = nbuf + (pr->last - pr->buf);
    pr->buf = nbuf;
    pr->end = nbuf + nsize;
    return true;
}

/* Judges what was read once the response is complete or cut. */
static void
bw_health_check_conclude(bw_health_check_probe_t *pr, bool eof)
{
    if (pr->head_len == 0 && !bw_health_check_head_parse(pr)) {
        bw_health_check_finish(
            pr, eof ? "upstream prematurely closed connection" : "upstream sent too big header", 0);
        return;
    }
    if (pr->status == 0) {
        bw_health_check_finish(pr, "upstream sent no valid HTTP/1.0 header", 0);
        return;
    }
    bw_health_check_finish(pr, bw_health_check_judge(pr), 0);
}

static void bw_health_check_write_handler(bw_event_t *ev);

static void
bw_health_check_read_handler(bw_event_t *ev)
{
    bw_connection_t         *c = ev->data;
    bw_health_check_probe_t *pr = c->data;

    if (c->close) {
        bw_health_check_abandon(pr);
        return;
    }
    if (ev->timedout) {
        bw_health_check_finish(pr, "upstream timed out", ETIMEDOUT);
        return;
    }
    if (!pr->request_sent) {
        bw_health_check_write_handler(c->write);
        return;
    }
    for (;;) {
        if (!bw_health_check_buffer_room(pr)) {
            bw_health_check_conclude(pr, false);
            return;
        }
        ssize_t n = c->recv(c, pr->last, (size_t) (pr->end - pr->last));
        if (n == BW_AGAIN) {
            return;
        }
        if (n == BW_ERROR) {
            bw_health_check_finish(pr, "recv() failed", 0);
            return;
        }
        if (n == 0) {
            bw_health_check_conclude(pr, true);
            return;
        }
        pr->last += n;
        if (bw_health_check_response_complete(pr)) {
            bw_health_check_conclude(pr, false);
            return;
        }
    }
}

static void
bw_health_check_write_handler(bw_event_t *ev)
{
    bw_connection_t         *c = ev->data;
    bw_health_check_probe_t *pr = c->data;
    bw_str_t                *req = &pr->hc->request;

    if (c->close) {
        bw_health_check_abandon(pr);
        return;
    }
    if (pr->request_sent) {
        return;
    }
    if (!pr->connected) {
        int       err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }
        if (err != 0) {
            bw_health_check_finish(pr, "connect() failed", err);
            return;
        }
        pr->connected = 1;
        pr->log.action = "sending request to upstream";
    }
    while (pr->sent < req->len) {
        ssize_t n = c->send(c, req->data + pr->sent, req->len - pr->sent);
        if (n == BW_AGAIN) {
            return;
        }
        if (n == BW_ERROR) {
            bw_health_check_finish(pr, "send() failed", 0);
            return;
        }
        pr->sent += (size_t) n;
    }
    pr->request_sent = 1;
    pr->log.action = "reading response header from upstream";
    if (c->read->ready) {
        bw_health_check_read_handler(c->read);
    }
}

/* The address to probe: the peer's, with the check's port when it has one. */
static void
bw_health_check_probe_address(bw_health_check_probe_t *pr)
{
    const bw_upstream_rr_peer_t *p = pr->peer;

    memcpy(&pr->sockaddr, p->sockaddr, p->socklen);
    pr->socklen = p->socklen;
    if (pr->hc->port == 0) {
        return;
    }
    if (p->sockaddr->sa_family == AF_INET) {
        ((struct sockaddr_in *) &pr->sockaddr)->sin_port = htons(pr->hc->port);
    } else if (p->sockaddr->sa_family == AF_INET6) {
        ((struct sockaddr_in6 *) &pr->sockaddr)->sin6_port = htons(pr->hc->port);
    }
}

/* Opens the probe's connection and starts connect(). */
static void
bw_health_check_probe_connect(bw_health_check_probe_t *pr)
{
    struct sockaddr *sa = (struct sockaddr *) &pr->sockaddr;
    int              fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd == -1) {
        bw_health_check_finish(pr, "socket() failed", errno);
        return;
    }
    bw_connection_t *c = bw_connection_get(bw_cycle, fd, &pr->log);
    if (c == NULL) {
        close(fd);
        bw_health_check_abandon(pr);
        return;
    }
    pr->c = c;
    c->pool = pr->pool;
    c->data = pr;
    c->log = &pr->log;
    c->read->log = c->write->log = &pr->log;
    c->read->handler = bw_health_check_read_handler;
    c->write->handler = bw_health_check_write_handler;
    c->sockaddr = sa;
    c->socklen = pr->socklen;
    c->addr_text = pr->peer->name;

    int rc = connect(fd, sa, pr->socklen);
    int err = rc == -1 ? errno : 0;
    if (bw_event_conn_add(c) != BW_OK) {
        bw_health_check_finish(pr, "epoll_ctl() failed", 0);
        return;
    }
    if (rc == -1 && err != EINPROGRESS) {
        bw_health_check_finish(pr, "connect() failed", err);
        return;
    }
    /* reusable: a graceful shutdown or a shortage of slots closes it */
    bw_connection_reusable(c, true);
    bw_event_add_timer(c->read, pr->hc->timeout);
    if (rc == 0) {
        bw_health_check_write_handler(c->write);
    }
}

/* Starts a probe of a peer this worker has claimed. */
static void
bw_health_check_probe_start(bw_health_check_conf_t *hc, bw_upstream_rr_peers_t *peers,
                            bw_upstream_rr_peer_t *peer)
{
    bw_pool_t               *pool = bw_pool_create(1024, bw_cycle->log);
    bw_health_check_probe_t *pr = pool ? bw_pcalloc(pool, sizeof(*pr)) : NULL;
    u_char                  *buf = pr ? bw_palloc(pool, BW_HEALTH_CHECK_BUF_START) : NULL;

    if (buf == NULL) {
        if (pool != NULL) {
            bw_pool_destroy(pool);
        }
        bw_upstream_rr_peers_lock(peers);
        peer->hc[hc->index].owner = 0;
        bw_upstream_rr_peers_unlock(peers);
        return;
    }
    pr->hc = hc;
    pr->peer = peer;
    pr->peers = peers;
    pr->pool = pool;
    pr->buf = pr->last = buf;
    pr->end = buf + BW_HEALTH_CHECK_BUF_START;
    pr->log = *bw_cycle->log;
    pr->log.connection = 0;
    pr->log.action = "connecting to upstream";
    pr->log.handler = bw_health_check_log_handler;
    pr->log.data = pr;
    bw_health_check_probe_address(pr);
    bw_health_check_probe_connect(pr);
}

/* Claims peer p for this worker when its check is due. */
static bool
bw_health_check_claim(bw_health_check_conf_t *hc, bw_upstream_rr_peers_t *peers,
                      bw_upstream_rr_peer_t *p)
{
    bw_msec_t now = bw_time.monotonic;
    bool      due;

    bw_upstream_hc_state_t *st = &p->hc[hc->index];

    bw_upstream_rr_peers_lock(peers);
    due = st->owner == 0 ? now >= st->next : now >= st->until;
    if (due) {
        st->owner = bw_shmtx_pid();
        st->next = now + hc->interval;
        st->until = now + hc->timeout + BW_HEALTH_CHECK_TICK_MAX;
    }
    bw_upstream_rr_peers_unlock(peers);
    return due;
}

/* ms between a worker's looks at the group: a fifth of the interval, bounded. */
static bw_msec_t
bw_health_check_tick(const bw_health_check_conf_t *hc)
{
    bw_msec_t t = hc->interval / 5;

    return bw_max(bw_min(t, (bw_msec_t) BW_HEALTH_CHECK_TICK_MAX),
                  (bw_msec_t) BW_HEALTH_CHECK_TICK_MIN);
}

static void
bw_health_check_timer_handler(bw_event_t *ev)
{
    bw_health_check_conf_t *hc = ev->data;
    bw_upstream_rr_peers_t *primary = hc->upstream->peer.data;

    if (bw_signals.quit || bw_signals.terminate) {
        return; /* no new probes while the worker is stopping */
    }
    for (bw_upstream_rr_peers_t *peers = primary; peers; peers = peers->next) {
        if (peers->shpool == NULL) {
            break; /* not in a zone: nothing can be shared */
        }
        for (bw_uint_t i = 0; i < peers->number; i++) {
            bw_upstream_rr_peer_t *p = &peers->peer[i];
            if (!p->down && bw_health_check_claim(hc, peers, p)) {
                bw_health_check_probe_start(hc, peers, p);
            }
        }
    }
    bw_event_add_timer(ev, bw_health_check_tick(hc));
}

static bw_rc_t
bw_health_check_init_worker(bw_cycle_t *cycle)
{
    bw_conf_ctx_t *ctx = bw_http_cycle_ctx(cycle);

    if (ctx == NULL || ctx->main_conf[bw_health_check_module.index] == NULL) {
        return BW_OK;
    }
    bw_health_check_main_conf_t *hmcf = ctx->main_conf[bw_health_check_module.index];
    bw_health_check_conf_t     **checks = hmcf->checks.elts;
    for (size_t i = 0; i < hmcf->checks.nelts; i++) {
        bw_event_t *ev = bw_pcalloc(cycle->pool, sizeof(*ev));
        if (ev == NULL) {
            return BW_ERROR;
        }
        ev->handler = bw_health_check_timer_handler;
        ev->data = checks[i];
        ev->log = cycle->log;
        ev->cancelable = 1;
        bw_event_add_timer(ev, 1);
    }
    return BW_OK;
}

/* ================================================================ */
/* configuration                                                    */
/* ================================================================ */

static void *
bw_health_check_create_main(bw_conf_t *cf)
{
    bw_health_check_main_conf_t *hmcf = bw_pcalloc(cf->pool, sizeof(*hmcf));

    if (hmcf == NULL || bw_array_init(&hmcf->matches, cf->pool, 2, sizeof(void *)) != BW_OK
        || bw_array_init(&hmcf->checks, cf->pool, 2, sizeof(void *)) != BW_OK) {
        return NULL;
    }
    return hmcf;
}

/* "200", "200-399": a status range, or false. */
static bool
bw_health_check_range_parse(const bw_str_t *arg, bw_health_check_range_t *r)
{
    u_char *dash = memchr(arg->data, '-', arg->len);
    size_t  lo_len = dash ? (size_t) (dash - arg->data) : arg->len;
    int64_t lo = bw_atoi(arg->data, lo_len);
    int64_t hi = dash ? bw_atoi(dash + 1, arg->len - lo_len - 1) : lo;

    if (lo < 100 || lo > 999 || hi < lo || hi > 999) {
        return false;
    }
    r->lo = (bw_uint_t) lo;
    r->hi = (bw_uint_t) hi;
    return true;
}

/* status [!] code|lo-hi ... */
static const char *
bw_health_check_match_status(bw_conf_t *cf, bw_health_check_test_t *t)
{
    bw_str_t *args = cf->args->elts;
    size_t    first = 1;

    if (cf->args->nelts > 1 && bw_str_eq_lit(&args[1], "!")) {
        t->negate = true;
        first = 2;
    }
    if (cf->args->nelts <= first) {
        return "invalid number of arguments in \"status\" directive";
    }
    t->ranges = bw_palloc(cf->pool, (cf->args->nelts - first) * sizeof(bw_health_check_range_t));
    if (t->ranges == NULL) {
        return BW_CONF_ERROR;
    }
    for (size_t i = first; i < cf->args->nelts; i++) {
        if (!bw_health_check_range_parse(&args[i], &t->ranges[t->nranges++])) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(args[i]));
            return BW_CONF_ERROR;
        }
    }
    return BW_CONF_OK;
}

/* The operator of "header Name OP value" / "body OP regex"; false if unknown. */
static bool
bw_health_check_op_parse(const bw_str_t *op, bw_health_check_op_t *out)
{
    static const struct {
        const char          *text;
        bw_health_check_op_t op;
    } ops[] = {{"=", BW_HEALTH_CHECK_OP_EQ},
               {"!=", BW_HEALTH_CHECK_OP_NE},
               {"~", BW_HEALTH_CHECK_OP_RE},
               {"!~", BW_HEALTH_CHECK_OP_NRE}};

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (op->len == strlen(ops[i].text) && memcmp(op->data, ops[i].text, op->len) == 0) {
            *out = ops[i].op;
            return true;
        }
    }
    return false;
}

/* header Name | header ! Name | header Name (=|!=|~|!~) value */
static const char *
bw_health_check_match_header(bw_conf_t *cf, bw_health_check_test_t *t)
{
    bw_str_t *args = cf->args->elts;

    switch (cf->args->nelts) {
    case 2:
        t->op = BW_HEALTH_CHECK_OP_PRESENT;
        t->name = args[1];
        return BW_CONF_OK;
    case 3:
        if (!bw_str_eq_lit(&args[1], "!")) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(args[1]));
            return BW_CONF_ERROR;
        }
        t->op = BW_HEALTH_CHECK_OP_ABSENT;
        t->name = args[2];
        return BW_CONF_OK;
    case 4:
        if (!bw_health_check_op_parse(&args[2], &t->op)) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(args[2]));
            return BW_CONF_ERROR;
        }
        t->name = args[1];
        t->value = args[3];
        if (t->op == BW_HEALTH_CHECK_OP_RE || t->op == BW_HEALTH_CHECK_OP_NRE) {
            t->re = bw_regex_compile(cf, &args[3], false);
            return t->re ? BW_CONF_OK : BW_CONF_ERROR;
        }
        return BW_CONF_OK;
    default:
        return "invalid number of arguments in \"header\" directive";
    }
}

/* body ~ regex | body !~ regex */
static const char *
bw_health_check_match_body(bw_conf_t *cf, bw_health_check_test_t *t)
{
    bw_str_t *args = cf->args->elts;

    if (cf->args->nelts != 3) {
        return "invalid number of arguments in \"body\" directive";
    }
    if (!bw_health_check_op_parse(&args[1], &t->op)
        || (t->op != BW_HEALTH_CHECK_OP_RE && t->op != BW_HEALTH_CHECK_OP_NRE)) {
        bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(args[1]));
        return BW_CONF_ERROR;
    }
    t->re = bw_regex_compile(cf, &args[2], false);
    return t->re ? BW_CONF_OK : BW_CONF_ERROR;
}

/* One statement of a match block. */
static const char *
bw_health_check_match_statement(bw_conf_t *cf, void *conf)
{
    bw_health_check_match_t *m = conf;
    bw_str_t                *args = cf->args->elts;
    bw_health_check_test_t   t;
    const char              *rv;

    memset(&t, 0, sizeof(t));
    if (bw_str_eq_lit(&args[0], "status")) {
        t.kind = BW_HEALTH_CHECK_TEST_STATUS;
        rv = bw_health_check_match_status(cf, &t);
    } else if (bw_str_eq_lit(&args[0], "header")) {
        t.kind = BW_HEALTH_CHECK_TEST_HEADER;
        rv = bw_health_check_match_header(cf, &t);
    } else if (bw_str_eq_lit(&args[0], "body")) {
        t.kind = BW_HEALTH_CHECK_TEST_BODY;
        rv = bw_health_check_match_body(cf, &t);
        m->need_body = true;
    } else {
        bw_conf_error(cf, "unknown directive \"%.*s\"", BW_STR_ARG(args[0]));
        return BW_CONF_ERROR;
    }
    if (rv != BW_CONF_OK) {
        return rv;
    }
    bw_health_check_test_t *slot = bw_array_push(&m->tests);
    if (slot == NULL) {
        return BW_CONF_ERROR;
    }
    *slot = t;
    return BW_CONF_OK;
}

/* match name { ... } */
static const char *
bw_health_check_match_block(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_health_check_main_conf_t *hmcf = conf;
    bw_str_t                    *args = cf->args->elts;
    bw_health_check_match_t    **matches = hmcf->matches.elts;

    for (size_t i = 0; i < hmcf->matches.nelts; i++) {
        if (bw_str_eq(&matches[i]->name, &args[1])) {
            bw_conf_error(cf, "duplicate match \"%.*s\"", BW_STR_ARG(args[1]));
            return BW_CONF_ERROR;
        }
    }
    bw_health_check_match_t  *m = bw_pcalloc(cf->pool, sizeof(*m));
    bw_health_check_match_t **slot = bw_array_push(&hmcf->matches);
    if (m == NULL || slot == NULL
        || bw_array_init(&m->tests, cf->pool, 4, sizeof(bw_health_check_test_t)) != BW_OK) {
        return BW_CONF_ERROR;
    }
    m->name = args[1];
    *slot = m;

    bw_conf_handler_fn handler = cf->handler;
    void              *handler_conf = cf->handler_conf;
    cf->handler = bw_health_check_match_statement;
    cf->handler_conf = m;
    bw_rc_t rc = bw_conf_parse(cf, NULL);
    cf->handler = handler;
    cf->handler_conf = handler_conf;
    return rc == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}

/* Applies one health_check parameter; false when it is invalid. */
static bool
bw_health_check_param(bw_health_check_conf_t *hc, const bw_str_t *arg)
{
    u_char *eq = memchr(arg->data, '=', arg->len);

    if (eq == NULL || eq == arg->data) {
        return false;
    }
    bw_str_t name = {(size_t) (eq - arg->data), arg->data};
    bw_str_t v = {arg->len - name.len - 1, eq + 1};
    int64_t  n;

    if (bw_str_eq_lit(&name, "interval") || bw_str_eq_lit(&name, "timeout")) {
        n = bw_parse_time(&v, false);
        if (n <= 0) {
            return false;
        }
        *(bw_str_eq_lit(&name, "interval") ? &hc->interval : &hc->timeout) = (bw_msec_t) n;
        return true;
    }
    if (bw_str_eq_lit(&name, "fails") || bw_str_eq_lit(&name, "passes")) {
        n = bw_atoi(v.data, v.len);
        if (n <= 0) {
            return false;
        }
        *(bw_str_eq_lit(&name, "fails") ? &hc->fails : &hc->passes) = (bw_uint_t) n;
        return true;
    }
    if (bw_str_eq_lit(&name, "port")) {
        n = bw_atoi(v.data, v.len);
        if (n < 1 || n > 65535) {
            return false;
        }
        hc->port = (in_port_t) n;
        return true;
    }
    if (bw_str_eq_lit(&name, "uri")) {
        hc->uri = v;
        return v.len > 0;
    }
    if (bw_str_eq_lit(&name, "match")) {
        hc->match_name = v;
        return v.len > 0;
    }
    return false;
}

/* health_check [interval=] [fails=] [passes=] [uri=] [match=] [port=] [timeout=] */
static const char *
bw_health_check_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_health_check_main_conf_t *hmcf = bw_http_conf_get_main_conf(cf, bw_health_check_module);
    bw_str_t                    *args = cf->args->elts;

    bw_health_check_conf_t *prev = cf->ctx->srv_conf[bw_health_check_module.index];
    if (prev != NULL && prev->index + 1 >= BW_UPSTREAM_HC_MAX) {
        bw_conf_error(cf, "too many health checks in upstream, at most %d",
                      BW_UPSTREAM_HC_MAX);
        return BW_CONF_ERROR;
    }
    bw_health_check_conf_t  *hc = bw_pcalloc(cf->pool, sizeof(*hc));
    bw_health_check_conf_t **slot = bw_array_push(&hmcf->checks);
    if (hc == NULL || slot == NULL) {
        return BW_CONF_ERROR;
    }
    hc->upstream = cf->ctx->srv_conf[bw_upstream_module.index];
    hc->index = prev != NULL ? prev->index + 1 : 0;
    hc->interval = 5000;
    hc->fails = 1;
    hc->passes = 1;
    bw_str_set(&hc->uri, "/");
    hc->file = cf->file->name;
    hc->line = cf->file->line;
    for (size_t i = 1; i < cf->args->nelts; i++) {
        if (!bw_health_check_param(hc, &args[i])) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(args[i]));
            return BW_CONF_ERROR;
        }
    }
    if (hc->timeout == 0) {
        hc->timeout = hc->interval;
    }
    *slot = hc;
    cf->ctx->srv_conf[bw_health_check_module.index] = hc;
    return BW_CONF_OK;
}

/* Reports an error at the health_check directive's file:line. */
static void
bw_health_check_conf_error_at(bw_conf_t *cf, const bw_health_check_conf_t *hc, const char *fmt,
                              const bw_str_t *arg)
{
    bw_conf_file_t  where;
    bw_conf_file_t *saved = cf->file;

    memset(&where, 0, sizeof(where));
    if (saved != NULL) {
        where = *saved;
    }
    where.name = hc->file;
    where.line = hc->line;
    where.command_line = false;
    cf->file = &where;
    bw_conf_error(cf, fmt, BW_STR_ARG(*arg));
    cf->file = saved;
}

/* Resolves the match, checks the zone, and writes the probe request. */
static bool
bw_health_check_conf_finish(bw_conf_t *cf, bw_health_check_main_conf_t *hmcf,
                            bw_health_check_conf_t *hc)
{
    if (bw_upstream_zone_of(hc->upstream) == NULL) {
        bw_health_check_conf_error_at(cf, hc,
                                      "health checks require upstream \"%.*s\" to reside in "
                                      "shared memory (\"zone\")",
                                      &hc->upstream->host);
        return false;
    }
    if (hc->match_name.len > 0) {
        bw_health_check_match_t **m = hmcf->matches.elts;
        for (size_t i = 0; i < hmcf->matches.nelts && hc->match == NULL; i++) {
            if (bw_str_eq(&m[i]->name, &hc->match_name)) {
                hc->match = m[i];
            }
        }
        if (hc->match == NULL) {
            bw_health_check_conf_error_at(cf, hc, "match \"%.*s\" not found", &hc->match_name);
            return false;
        }
    }
    bw_str_t *req =
        bw_psprintf(cf->pool, "GET %.*s HTTP/1.0\r\nHost: %.*s\r\nConnection: close\r\n\r\n",
                    BW_STR_ARG(hc->uri), BW_STR_ARG(hc->upstream->host));
    if (req == NULL) {
        return false;
    }
    hc->request = *req;
    return true;
}

static const char *
bw_health_check_init_main(bw_conf_t *cf, void *conf)
{
    bw_health_check_main_conf_t *hmcf = conf;
    bw_health_check_conf_t     **checks = hmcf->checks.elts;
    bool                         failed = false;

    for (size_t i = 0; i < hmcf->checks.nelts; i++) {
        failed = !bw_health_check_conf_finish(cf, hmcf, checks[i]) || failed;
    }
    return failed ? BW_CONF_ERROR : BW_CONF_OK;
}
