/*
 * resolver.h -- asynchronous DNS name resolution inside a worker's event
 * loop, for names only known at request time (proxy_pass with variables
 * and the `resolver` directive).
 *
 * A resolver is made at configuration time from the `resolver` line:
 * server addresses, valid=, ipv4=, ipv6=. In a worker it sends A (and
 * AAAA) queries over UDP, one socket per server opened while queries are
 * pending, resends every 5 s to the next server, and keeps answers in a
 * per-worker cache for their TTL (or valid=), "host not found" for 10 s.
 * Concurrent lookups of one name share one query. The DNS messages are
 * built and parsed with c-ares; sockets and timers are the loop's.
 *
 * Use:
 *     ctx = bw_resolve_start(res, &name);       NULL: no memory
 *     ctx->handler = done; ctx->data = r; ctx->timeout = resolver_timeout;
 *     bw_resolve_name(ctx);                     handler may run before it returns
 *     ...
 *     done(ctx): ctx->state == 0 ? ctx->addrs[0..naddrs) : bw_resolver_strerror(ctx->state)
 *     bw_resolve_name_done(ctx);                always, once: after the handler, or to cancel
 */
#ifndef BW_RESOLVER_H
#define BW_RESOLVER_H

#include "event.h"
#include "pool.h"
#include "str.h"
#include "types.h"

#include <netinet/in.h>
#include <sys/socket.h>

/* ctx->state when no answer came within ctx->timeout (as ETIMEDOUT). */
#define BW_RESOLVE_TIMEDOUT 110
/* ctx->state for a name that is not a valid host name (a DNS format error). */
#define BW_RESOLVE_FORMERR  1

typedef struct bw_resolver_s      bw_resolver_t;
typedef struct bw_resolver_ctx_s  bw_resolver_ctx_t;
typedef struct bw_resolver_node_s bw_resolver_node_t;

typedef void (*bw_resolver_handler_fn)(bw_resolver_ctx_t *ctx);

/* One address of an answer; the port is 0 (the caller's to set). */
typedef struct {
    struct sockaddr_storage sockaddr;
    socklen_t               socklen;
} bw_resolver_addr_t;

struct bw_resolver_ctx_s {
    bw_str_t               name;     /* lowercased copy */
    bw_resolver_handler_fn handler;  /* set by the caller */
    void                  *data;     /* set by the caller */
    bw_msec_t              timeout;  /* set by the caller; 0: 30 s */

    /* the result, when the handler runs */
    int                 state;    /* 0, a DNS rcode (1..5) or BW_RESOLVE_TIMEDOUT */
    bw_resolver_addr_t *addrs;
    size_t              naddrs;

    /* the resolver's */
    bw_resolver_t      *resolver;
    bw_resolver_node_t *node;     /* the lookup waited on, or NULL */
    bw_queue_t          link;     /* in node->waiters */
    bw_event_t          timer;
    bool                waiting;
};

/*
 * Parses a `resolver` line's arguments (addresses "ip[:port]", "[ipv6][:port]",
 * valid=time, ipv4=on|off, ipv6=on|off, status_zone=name) into a resolver
 * allocated from pool. NULL with *err set ("invalid parameter \"x\"", ...)
 * on a bad argument, or *err NULL on no memory.
 */
bw_resolver_t *bw_resolver_create(bw_pool_t *pool, const bw_str_t *args, size_t nargs,
                                  const char **err, char *errbuf, size_t errsize);

/* A lookup of name with resolver res (name copied). NULL on no memory. */
bw_resolver_ctx_t *bw_resolve_start(bw_resolver_t *res, const bw_str_t *name);

/*
 * Starts the lookup: from the cache (the handler runs before this returns)
 * or by querying the servers (the handler runs from the event loop, on the
 * answer or after ctx->timeout).
 */
void bw_resolve_name(bw_resolver_ctx_t *ctx);

/* Ends a lookup: after its handler ran, or before, to cancel it. Frees ctx. */
void bw_resolve_name_done(bw_resolver_ctx_t *ctx);

/* nginx's text for a state: "Host not found", "Operation timed out", ... */
const char *bw_resolver_strerror(int state);

#endif
