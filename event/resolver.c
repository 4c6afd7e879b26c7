/*
 * resolver.c -- asynchronous DNS lookups in a worker (see resolver.h).
 *
 * Each name has a node: while pending it holds the A/AAAA queries and
 * the lookups waiting on them; once answered it keeps the addresses until
 * it expires. Nodes sit in a hash table (by name) and an LRU queue that
 * bounds the cache. A pending node with nobody waiting is dropped at
 * once, and the servers' sockets are closed when nothing is pending, so a
 * worker that shuts down gracefully is never held up by the resolver.
 */
#include "resolver.h"

#include "clock.h"
#include "conf.h"
#include "cycle.h"
#include "log.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BW_RESOLVER_BUCKETS   1024
#define BW_RESOLVER_MAX_NODES 4096
#define BW_RESOLVER_RESEND    5000  /* ms between sends to the next server */
#define BW_RESOLVER_NEGATIVE  10000 /* ms "host not found" is kept without valid= */
#define BW_RESOLVER_MAX_ADDRS 16    /* per record type */
#define BW_RESOLVER_T_A       1
#define BW_RESOLVER_T_AAAA    28

typedef struct {
    struct sockaddr_storage sockaddr;
    socklen_t               socklen;
    bw_resolver_t          *resolver;
    bw_connection_t        *connection; /* open while queries are pending */
} bw_resolver_server_t;

struct bw_resolver_s {
    bw_resolver_server_t *servers;
    size_t                nservers;
    bw_msec_t             valid;  /* 0: the answer's TTL */
    bool                  ipv4;
    bool                  ipv6;

    /* per worker, made on first use */
    bw_queue_t *buckets;
    bw_queue_t  lru;      /* every node, most recently used first */
    bw_queue_t  pending;  /* nodes waiting for answers */
    bw_uint_t   nnodes;
    bw_uint_t   next_server;
};

struct bw_resolver_node_s {
    bw_queue_t  bucket_link;
    bw_queue_t  lru_link;
    bw_queue_t  pending_link;
    bw_queue_t  waiters;   /* bw_resolver_ctx_t */
    u_char     *name;
    size_t      len;
    uint32_t    hash;
    bool        pending;
    bw_msec_t   expires;   /* monotonic */
    int         state;
    bw_resolver_addr_t *addrs;
    size_t      naddrs;
    bw_uint_t   rotate;    /* where the next lookup's address list starts */

    /* while pending: [0] A, [1] AAAA */
    u_char             *query[2];
    int                 qlen[2];
    uint16_t            id[2];
    bool                answered[2];
    int                 rcode[2];
    bw_resolver_addr_t  got[2][BW_RESOLVER_MAX_ADDRS];
    size_t              ngot[2];
    bw_msec_t           ttl;      /* smallest TTL seen, ms */
    bw_event_t          resend;
};

static void bw_resolver_server_read(bw_event_t *ev);
static void bw_resolver_resend_handler(bw_event_t *ev);
static void bw_resolver_ctx_timeout(bw_event_t *ev);

/* ------------------------------------------------------------ configuration */

/* Parses "ip[:port]", "[ipv6][:port]" or "name[:port]" into server s. */
static bool
bw_resolver_parse_server(const bw_str_t *arg, bw_resolver_server_t *s, const char **why)
{
    char  text[256], *host = text, *port = NULL;

    if (arg->len == 0 || arg->len >= sizeof(text)) {
        *why = "host not found in resolver";
        return false;
    }
    memcpy(text, arg->data, arg->len);
    text[arg->len] = '\0';
    if (text[0] == '[') {
        char *end = strchr(text, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            *why = "invalid host in resolver";
            return false;
        }
        *end = '\0';
        host = text + 1;
        port = end[1] == ':' ? end + 2 : NULL;
    } else {
        char *colon = strchr(text, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            *colon = '\0';
            port = colon + 1;
        }
    }
    if (port != NULL) {
        long v = port[0] ? 0 : -1;
        for (const char *p = port; *p && v >= 0; p++) {
            v = *p >= '0' && *p <= '9' && v * 10 + (*p - '0') <= 65535 ? v * 10 + (*p - '0') : -1;
        }
        if (v <= 0) {
            *why = "invalid port in resolver";
            return false;
        }
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
    if (strpbrk(host, "=/ ") != NULL /* not a host name: no lookup */
        || getaddrinfo(host, port ? port : "53", &hints, &ai) != 0 || ai == NULL) {
        *why = "host not found in resolver";
        return false;
    }
    memcpy(&s->sockaddr, ai->ai_addr, ai->ai_addrlen);
    s->socklen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return true;
}

/* "on"/"off" after a "name=" prefix of length n. */
static bool
bw_resolver_parse_flag(const bw_str_t *arg, size_t n, bool *out)
{
    bw_str_t v = {arg->len - n, arg->data + n};

    if (v.len == 2 && memcmp(v.data, "on", 2) == 0) {
        *out = true;
        return true;
    }
    if (v.len == 3 && memcmp(v.data, "off", 3) == 0) {
        *out = false;
        return true;
    }
    return false;
}

bw_resolver_t *
bw_resolver_create(bw_pool_t *pool, const bw_str_t *args, size_t nargs, const char **err,
                   char *errbuf, size_t errsize)
{
    bw_resolver_t *res = bw_pcalloc(pool, sizeof(*res));

    *err = NULL;
    if (res == NULL
        || (res->servers = bw_pcalloc(pool, nargs * sizeof(bw_resolver_server_t))) == NULL) {
        return NULL;
    }
    res->ipv4 = res->ipv6 = true;
    for (size_t i = 0; i < nargs; i++) {
        const bw_str_t *a = &args[i];
        const char     *why = NULL;

        if (a->len > 6 && memcmp(a->data, "valid=", 6) == 0) {
            bw_str_t v = {a->len - 6, a->data + 6};
            int64_t  s = bw_parse_time(&v, true);
            if (s < 0) {
                why = "invalid parameter";
            }
            res->valid = s * 1000;
        } else if (a->len > 5 && memcmp(a->data, "ipv4=", 5) == 0) {
            why = bw_resolver_parse_flag(a, 5, &res->ipv4) ? NULL : "invalid parameter";
        } else if (a->len > 5 && memcmp(a->data, "ipv6=", 5) == 0) {
            why = bw_resolver_parse_flag(a, 5, &res->ipv6) ? NULL : "invalid parameter";
        } else if (a->len > 12 && memcmp(a->data, "status_zone=", 12) == 0) {
            /* per-zone statistics are not kept: accepted for compatibility */
        } else if (bw_resolver_parse_server(a, &res->servers[res->nservers], &why)) {
            res->servers[res->nservers].resolver = res;
            res->nservers++;
        }
        if (why != NULL) {
            snprintf(errbuf, errsize, strcmp(why, "invalid parameter") == 0 ? "%s: %.*s" : "%s \"%.*s\"",
                     why, BW_STR_ARG(*a));
            *err = errbuf;
            return NULL;
        }
    }
    if (!res->ipv4 && !res->ipv6) {
        *err = "\"ipv4\" and \"ipv6\" cannot both be \"off\"";
        return NULL;
    }
    if (res->nservers == 0) {
        *err = "no name servers defined";
        return NULL;
    }
    return res;
}

const char *
bw_resolver_strerror(int state)
{
    switch (state) {
    case 1: return "Format error";
    case 2: return "Server failure";
    case 3: return "Host not found";
    case 4: return "Unimplemented";
    case 5: return "Operation refused";
    case BW_RESOLVE_TIMEDOUT: return "Operation timed out";
    default: return "Unknown error";
    }
}

/* ------------------------------------------------------------- the cache */

static bool
bw_resolver_ready(bw_resolver_t *res)
{
    if (res->buckets != NULL) {
        return true;
    }
    res->buckets = malloc(BW_RESOLVER_BUCKETS * sizeof(bw_queue_t));
    if (res->buckets == NULL) {
        return false;
    }
    for (size_t i = 0; i < BW_RESOLVER_BUCKETS; i++) {
        bw_queue_init(&res->buckets[i]);
    }
    bw_queue_init(&res->lru);
    bw_queue_init(&res->pending);
    return true;
}

static bw_resolver_node_t *
bw_resolver_lookup(bw_resolver_t *res, const bw_str_t *name, uint32_t hash)
{
    bw_queue_t *b = &res->buckets[hash % BW_RESOLVER_BUCKETS];

    for (bw_queue_t *q = bw_queue_head(b); q != b; q = bw_queue_next(q)) {
        bw_resolver_node_t *n = bw_queue_data(q, bw_resolver_node_t, bucket_link);
        if (n->hash == hash && n->len == name->len && memcmp(n->name, name->data, n->len) == 0) {
            return n;
        }
    }
    return NULL;
}

static void
bw_resolver_free_queries(bw_resolver_node_t *n)
{
    for (int k = 0; k < 2; k++) {
        if (n->query[k] != NULL) {
            ares_free_string(n->query[k]);
            n->query[k] = NULL;
        }
    }
}

/* Closes the servers' sockets once no query is pending. */
static void
bw_resolver_close_idle(bw_resolver_t *res)
{
    if (!bw_queue_empty(&res->pending)) {
        return;
    }
    for (size_t i = 0; i < res->nservers; i++) {
        if (res->servers[i].connection != NULL) {
            bw_connection_close(res->servers[i].connection);
            res->servers[i].connection = NULL;
        }
    }
}

/* Stops a node's queries (it is no longer pending). */
static void
bw_resolver_node_settle(bw_resolver_t *res, bw_resolver_node_t *n)
{
    if (n->pending) {
        n->pending = false;
        bw_queue_remove(&n->pending_link);
    }
    if (n->resend.timer_set) {
        bw_event_del_timer(&n->resend);
    }
    bw_resolver_free_queries(n);
}

static void
bw_resolver_node_free(bw_resolver_t *res, bw_resolver_node_t *n)
{
    bw_resolver_node_settle(res, n);
    bw_queue_remove(&n->bucket_link);
    bw_queue_remove(&n->lru_link);
    res->nnodes--;
    free(n->addrs);
    free(n->name);
    free(n);
}

/* Drops expired nodes from the LRU end (a few per call) and, at the cap, the oldest settled one. */
static void
bw_resolver_trim(bw_resolver_t *res)
{
    bw_msec_t now = bw_time.monotonic;
    int       checked = 0;

    for (bw_queue_t *q = bw_queue_last(&res->lru); q != &res->lru && checked < 8;) {
        bw_resolver_node_t *n = bw_queue_data(q, bw_resolver_node_t, lru_link);
        q = bw_queue_prev(q);
        checked++;
        if (!n->pending && (n->expires <= now || res->nnodes >= BW_RESOLVER_MAX_NODES)) {
            bw_resolver_node_free(res, n);
        }
    }
}

/* ------------------------------------------------------------ the queries */

static bw_connection_t *
bw_resolver_server_connection(bw_resolver_server_t *s)
{
    if (s->connection != NULL) {
        return s->connection;
    }
    int fd = socket(s->sockaddr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        bw_log_error(BW_LOG_ALERT, bw_cycle->log, errno, "socket() for the resolver failed");
        return NULL;
    }
    if (connect(fd, (struct sockaddr *) &s->sockaddr, s->socklen) == -1) {
        bw_log_error(BW_LOG_CRIT, bw_cycle->log, errno, "connect() to the resolver failed");
        close(fd);
        return NULL;
    }
    bw_connection_t *c = bw_connection_get(bw_cycle, fd, bw_cycle->log);
    if (c == NULL) {
        close(fd);
        return NULL;
    }
    c->data = s;
    c->read->handler = bw_resolver_server_read;
    c->write->handler = bw_event_empty_handler;
    c->read->log = c->write->log = bw_cycle->log;
    if (bw_event_conn_add(c) != BW_OK) {
        bw_connection_close(c);
        return NULL;
    }
    s->connection = c;
    return c;
}

/* Sends the node's unanswered queries to the next server. */
static void
bw_resolver_send(bw_resolver_t *res, bw_resolver_node_t *n)
{
    bw_resolver_server_t *s = &res->servers[res->next_server++ % res->nservers];
    bw_connection_t      *c = bw_resolver_server_connection(s);

    for (int k = 0; c != NULL && k < 2; k++) {
        if (n->query[k] == NULL || n->answered[k]) {
            continue;
        }
        if (send(c->fd, n->query[k], (size_t) n->qlen[k], 0) != n->qlen[k]) {
            bw_log_error(BW_LOG_ERR, bw_cycle->log, errno, "send() to the resolver failed");
        }
    }
    bw_event_add_timer(&n->resend, BW_RESOLVER_RESEND);
}

/* Builds and sends the queries of node n (A and/or AAAA). BW_OK or BW_ERROR. */
static bw_rc_t
bw_resolver_query(bw_resolver_t *res, bw_resolver_node_t *n)
{
    static const int types[2] = {BW_RESOLVER_T_A, BW_RESOLVER_T_AAAA};
    bool             want[2] = {res->ipv4, res->ipv6};

    memset(n->answered, 0, sizeof(n->answered));
    memset(n->rcode, 0, sizeof(n->rcode));
    memset(n->ngot, 0, sizeof(n->ngot));
    n->ttl = INT64_MAX;
    for (int k = 0; k < 2; k++) {
        n->answered[k] = !want[k];
        if (!want[k]) {
            continue;
        }
        n->id[k] = (uint16_t) arc4random();
        if (ares_create_query((const char *) n->name, 1, types[k], n->id[k], 1, &n->query[k],
                              &n->qlen[k], 0) != ARES_SUCCESS) {
            bw_resolver_free_queries(n);
            return BW_ERROR;
        }
    }
    n->pending = true;
    bw_queue_insert_tail(&res->pending, &n->pending_link);
    n->resend.handler = bw_resolver_resend_handler;
    n->resend.data = n;
    n->resend.log = bw_cycle->log;
    n->resend.cancelable = 1;
    bw_resolver_send(res, n);
    return BW_OK;
}

/* ------------------------------------------------------------- answers */

/* Gives ctx the node's addresses, starting at a rotating offset. */
static void
bw_resolver_ctx_fill(bw_resolver_ctx_t *ctx, bw_resolver_node_t *n)
{
    ctx->state = n->state;
    ctx->naddrs = 0;
    if (n->state != 0 || n->naddrs == 0) {
        return;
    }
    ctx->addrs = malloc(n->naddrs * sizeof(bw_resolver_addr_t));
    if (ctx->addrs == NULL) {
        ctx->state = 2;
        return;
    }
    size_t start = n->rotate++ % n->naddrs;
    for (size_t i = 0; i < n->naddrs; i++) {
        ctx->addrs[i] = n->addrs[(start + i) % n->naddrs];
    }
    ctx->naddrs = n->naddrs;
}

/* The node has all its answers: keep them and wake every waiter. */
static void
bw_resolver_node_done(bw_resolver_t *res, bw_resolver_node_t *n)
{
    bw_msec_t now = bw_time.monotonic;
    size_t    total = n->ngot[0] + n->ngot[1];

    bw_resolver_node_settle(res, n);
    free(n->addrs);
    n->addrs = NULL;
    n->naddrs = 0;
    if (total > 0 && (n->addrs = malloc(total * sizeof(bw_resolver_addr_t))) != NULL) {
        memcpy(n->addrs, n->got[0], n->ngot[0] * sizeof(bw_resolver_addr_t));
        memcpy(n->addrs + n->ngot[0], n->got[1], n->ngot[1] * sizeof(bw_resolver_addr_t));
        n->naddrs = total;
        n->state = 0;
        n->expires = now + (res->valid ? res->valid : n->ttl);
    } else {
        n->state = n->rcode[0] ? n->rcode[0] : n->rcode[1] ? n->rcode[1] : total ? 2 : 3;
        n->expires = now + (n->state == 3 ? (res->valid ? res->valid : BW_RESOLVER_NEGATIVE) : 0);
    }
    while (!bw_queue_empty(&n->waiters)) {
        bw_queue_t        *q = bw_queue_head(&n->waiters);
        bw_resolver_ctx_t *ctx = bw_queue_data(q, bw_resolver_ctx_t, link);
        bw_queue_remove(q);
        ctx->waiting = false;
        ctx->node = NULL;
        if (ctx->timer.timer_set) {
            bw_event_del_timer(&ctx->timer);
        }
        bw_resolver_ctx_fill(ctx, n);
        ctx->handler(ctx);
    }
}

/* Reads the question name at buf+12 into out (lowercased, dotted). Its end offset, or 0. */
static size_t
bw_resolver_qname(const u_char *buf, size_t n, char *out, size_t size)
{
    size_t i = 12, o = 0;

    while (i < n && buf[i] != 0) {
        size_t l = buf[i++];
        if (l > 63 || i + l > n || o + l + 2 > size) {
            return 0;
        }
        if (o > 0) {
            out[o++] = '.';
        }
        for (size_t k = 0; k < l; k++) {
            u_char ch = buf[i + k];
            out[o++] = (char) (ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        i += l;
    }
    out[o] = '\0';
    return i < n ? i + 1 : 0;
}

/* One reply datagram. */
static void
bw_resolver_answer(bw_resolver_t *res, const u_char *buf, size_t len)
{
    char name[256];

    if (len < 12 || !(buf[2] & 0x80) || buf[4] != 0 || buf[5] != 1) {
        return;
    }
    size_t qend = bw_resolver_qname(buf, len, name, sizeof(name));
    if (qend == 0 || qend + 4 > len) {
        return;
    }
    uint16_t id = (uint16_t) (buf[0] << 8 | buf[1]);
    int      qtype = buf[qend] << 8 | buf[qend + 1];
    int      k = qtype == BW_RESOLVER_T_A ? 0 : qtype == BW_RESOLVER_T_AAAA ? 1 : -1;
    size_t   nlen = strlen(name);

    for (bw_queue_t *q = bw_queue_head(&res->pending); k >= 0 && q != &res->pending;
         q = bw_queue_next(q)) {
        bw_resolver_node_t *n = bw_queue_data(q, bw_resolver_node_t, pending_link);
        if (n->id[k] != id || n->answered[k] || n->len != nlen || memcmp(n->name, name, nlen)) {
            continue;
        }
        n->answered[k] = true;
        n->rcode[k] = buf[3] & 0x0f;
        if (n->rcode[k] == 0) {
            int rc, got = BW_RESOLVER_MAX_ADDRS;
            if (k == 0) {
                struct ares_addrttl a[BW_RESOLVER_MAX_ADDRS];
                rc = ares_parse_a_reply(buf, (int) len, NULL, a, &got);
                for (int i = 0; rc == ARES_SUCCESS && i < got; i++) {
                    struct sockaddr_in *sin = (struct sockaddr_in *) &n->got[0][i].sockaddr;
                    memset(&n->got[0][i], 0, sizeof(n->got[0][i]));
                    sin->sin_family = AF_INET;
                    sin->sin_addr = a[i].ipaddr;
                    n->got[0][i].socklen = sizeof(*sin);
                    n->ttl = bw_min(n->ttl, (bw_msec_t) a[i].ttl * 1000);
                }
            } else {
                struct ares_addr6ttl a[BW_RESOLVER_MAX_ADDRS];
                rc = ares_parse_aaaa_reply(buf, (int) len, NULL, a, &got);
                for (int i = 0; rc == ARES_SUCCESS && i < got; i++) {
                    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &n->got[1][i].sockaddr;
                    memset(&n->got[1][i], 0, sizeof(n->got[1][i]));
                    sin6->sin6_family = AF_INET6;
                    memcpy(&sin6->sin6_addr, &a[i].ip6addr, sizeof(sin6->sin6_addr));
                    n->got[1][i].socklen = sizeof(*sin6);
                    n->ttl = bw_min(n->ttl, (bw_msec_t) a[i].ttl * 1000);
                }
            }
            if (rc == ARES_SUCCESS) {
                n->ngot[k] = (size_t) got;
            } else if (rc != ARES_ENODATA) {
                n->rcode[k] = 1; /* not a reply that parses */
            }
        }
        if (n->answered[0] && n->answered[1]) {
            bw_resolver_node_done(res, n);
        }
        return;
    }
}

static void
bw_resolver_server_read(bw_event_t *ev)
{
    bw_connection_t      *c = ev->data;
    bw_resolver_server_t *s = c->data;
    bw_resolver_t        *res = s->resolver;
    u_char                buf[4096];

    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            if (errno == EAGAIN) {
                ev->ready = 0;
            } else if (errno != ECONNREFUSED) {
                bw_log_error(BW_LOG_ERR, c->log, errno, "recv() from the resolver failed");
            }
            break;
        }
        bw_resolver_answer(res, buf, (size_t) n);
        if (s->connection != c) {
            return; /* a waiter's handler ended the last lookup: the socket is closed */
        }
    }
    if (ev->ready) {
        bw_event_post(ev, &bw_event_posted); /* more datagrams: next loop turn */
        return;
    }
    bw_resolver_close_idle(res);
}

/* ------------------------------------------------------------- lookups */

bw_resolver_ctx_t *
bw_resolve_start(bw_resolver_t *res, const bw_str_t *name)
{
    bw_resolver_ctx_t *ctx = calloc(1, sizeof(*ctx) + name->len + 1);

    if (ctx == NULL) {
        return NULL;
    }
    ctx->resolver = res;
    ctx->name.data = (u_char *) (ctx + 1);
    ctx->name.len = name->len;
    for (size_t i = 0; i < name->len; i++) {
        u_char ch = name->data[i];
        ctx->name.data[i] = ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
    }
    /* a trailing dot names the same host */
    if (ctx->name.len > 1 && ctx->name.data[ctx->name.len - 1] == '.') {
        ctx->name.len--;
    }
    return ctx;
}

/* True for a name a query can carry: labels of 1..63 letters, digits, '-' or '_'. */
static bool
bw_resolver_name_valid(const bw_str_t *name)
{
    size_t label = 0;

    if (name->len == 0 || name->len > 253) {
        return false;
    }
    for (size_t i = 0; i < name->len; i++) {
        u_char ch = name->data[i];
        if (ch == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return label > 0;
}

/* Answers at once: handler called with the state (and no addresses). */
static void
bw_resolver_ctx_fail(bw_resolver_ctx_t *ctx, int state)
{
    ctx->state = state;
    ctx->naddrs = 0;
    ctx->handler(ctx);
}

/* Makes ctx wait for node n, with its own timeout. */
static void
bw_resolver_ctx_wait(bw_resolver_ctx_t *ctx, bw_resolver_node_t *n)
{
    bw_queue_insert_tail(&n->waiters, &ctx->link);
    ctx->node = n;
    ctx->waiting = true;
    ctx->timer.handler = bw_resolver_ctx_timeout;
    ctx->timer.data = ctx;
    ctx->timer.log = bw_cycle->log;
    bw_event_add_timer(&ctx->timer, ctx->timeout > 0 ? ctx->timeout : 30000);
}

void
bw_resolve_name(bw_resolver_ctx_t *ctx)
{
    bw_resolver_t *res = ctx->resolver;

    if (!bw_resolver_name_valid(&ctx->name)) {
        bw_resolver_ctx_fail(ctx, BW_RESOLVE_FORMERR);
        return;
    }
    if (!bw_resolver_ready(res)) {
        bw_resolver_ctx_fail(ctx, 2);
        return;
    }
    bw_resolver_trim(res);

    uint32_t            hash = bw_hash_fnv1a(ctx->name.data, ctx->name.len);
    bw_resolver_node_t *n = bw_resolver_lookup(res, &ctx->name, hash);
    if (n != NULL) {
        bw_queue_remove(&n->lru_link);
        bw_queue_insert_head(&res->lru, &n->lru_link);
        if (n->pending) {
            bw_resolver_ctx_wait(ctx, n);
            return;
        }
        if (n->expires > bw_time.monotonic) {
            bw_resolver_ctx_fill(ctx, n);
            ctx->handler(ctx);
            return;
        }
    } else {
        n = calloc(1, sizeof(*n));
        if (n == NULL || (n->name = malloc(ctx->name.len + 1)) == NULL) {
            free(n);
            bw_resolver_ctx_fail(ctx, 2);
            return;
        }
        memcpy(n->name, ctx->name.data, ctx->name.len);
        n->name[ctx->name.len] = '\0';
        n->len = ctx->name.len;
        n->hash = hash;
        bw_queue_init(&n->waiters);
        bw_queue_insert_tail(&res->buckets[hash % BW_RESOLVER_BUCKETS], &n->bucket_link);
        bw_queue_insert_head(&res->lru, &n->lru_link);
        res->nnodes++;
    }
    if (bw_resolver_query(res, n) != BW_OK) {
        bw_resolver_node_free(res, n);
        bw_resolver_ctx_fail(ctx, 2);
        return;
    }
    bw_resolver_ctx_wait(ctx, n);
}

/* Nobody waits for a pending node any more: drop it (a late answer is ignored). */
static void
bw_resolver_node_orphaned(bw_resolver_t *res, bw_resolver_node_t *n)
{
    if (n->pending && bw_queue_empty(&n->waiters)) {
        bw_resolver_node_free(res, n);
        bw_resolver_close_idle(res);
    }
}

static void
bw_resolver_resend_handler(bw_event_t *ev)
{
    bw_resolver_node_t *n = ev->data;
    bw_resolver_ctx_t  *any = bw_queue_empty(&n->waiters)
                                  ? NULL
                                  : bw_queue_data(bw_queue_head(&n->waiters), bw_resolver_ctx_t,
                                                  link);

    ev->timedout = 0;
    if (any == NULL) {
        return;
    }
    bw_resolver_send(any->resolver, n);
}

static void
bw_resolver_ctx_timeout(bw_event_t *ev)
{
    bw_resolver_ctx_t  *ctx = ev->data;
    bw_resolver_node_t *n = ctx->node;

    ev->timedout = 0;
    bw_queue_remove(&ctx->link);
    ctx->waiting = false;
    ctx->node = NULL;
    bw_resolver_node_orphaned(ctx->resolver, n);
    bw_resolver_ctx_fail(ctx, BW_RESOLVE_TIMEDOUT);
}

void
bw_resolve_name_done(bw_resolver_ctx_t *ctx)
{
    if (ctx == NULL) {
        return;
    }
    if (ctx->timer.timer_set) {
        bw_event_del_timer(&ctx->timer);
    }
    if (ctx->waiting) {
        bw_resolver_node_t *n = ctx->node;
        bw_queue_remove(&ctx->link);
        ctx->waiting = false;
        ctx->node = NULL;
        bw_resolver_node_orphaned(ctx->resolver, n);
    }
    free(ctx->addrs);
    free(ctx);
}
