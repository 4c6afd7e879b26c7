/*
 * conn.h -- connections: a worker's preallocated array of worker_connections
 * slots, each with a read and a write event, handed out from a free list.
 *
 * Listening sockets polled by the worker take a slot too (as in nginx, they
 * count against worker_connections). When the free list is empty, idle
 * keep-alive connections that their owner marked reusable are closed to make
 * room, oldest first.
 */
#ifndef BW_CONN_H
#define BW_CONN_H

#include "buf.h"
#include "event.h"
#include "str.h"

#include <sys/socket.h>

typedef ssize_t (*bw_recv_fn)(bw_connection_t *c, u_char *buf, size_t size);
typedef ssize_t (*bw_send_fn)(bw_connection_t *c, const u_char *buf, size_t size);
typedef bw_chain_t *(*bw_send_chain_fn)(bw_connection_t *c, bw_chain_t *in, off_t limit);

typedef enum {
    BW_TCP_NODELAY_UNSET = 0,
    BW_TCP_NODELAY_SET,
    BW_TCP_NODELAY_DISABLED, /* not a TCP socket (unix domain) */
} bw_tcp_nodelay_t;

struct bw_connection_s {
    void            *data;  /* owner (http connection, request, upstream); the
                               free-list link while the slot is free */
    bw_event_t      *read;
    bw_event_t      *write;
    int              fd;    /* -1 while the slot is free */
    uint32_t         instance; /* generation: bumped each time the slot is freed, so
                                  epoll events queued for an earlier user are ignored */

    bw_recv_fn       recv;  /* plain socket I/O by default (io.h); TLS swaps these */
    bw_send_fn       send;
    bw_send_chain_fn send_chain;

    bw_listening_t  *listening; /* accepted on, or polled as (c->listening->connection == c) */
    off_t            sent;      /* bytes sent so far */
    bw_log_t        *log;       /* per connection: its `connection` is `number` */
    bw_pool_t       *pool;      /* destroyed by bw_connection_close */

    struct sockaddr *sockaddr;  /* peer */
    socklen_t        socklen;
    bw_str_t         addr_text; /* peer IP as text ("127.0.0.1", "::1", "unix:") */
    struct sockaddr *local_sockaddr; /* NULL until known: see bw_connection_local_sockaddr */
    socklen_t        local_socklen;

    bw_buf_t        *buffer;    /* owner's read buffer */
    bw_queue_t       queue;     /* link in the reusable (idle) queue */
    bw_uint_t        number;    /* serial across the workers: "*N" in log lines, $connection */
    bw_uint_t        requests;  /* requests served on this connection */
    void            *ssl;       /* TLS state (event/tls.c), NULL for plain */

    unsigned idle:1;        /* waiting for a new request (keep-alive) */
    unsigned reusable:1;    /* in the reusable queue: may be closed to free its slot */
    unsigned close:1;       /* the owner must close it (reclaim, shutdown) */
    unsigned destroyed:1;   /* its owner's state is gone */
    unsigned timedout:1;
    unsigned error:1;
    unsigned shared:1;      /* fd shared with other processes (listening) */
    unsigned accepted:1;    /* came from accept(): counted in bw_conn_stats->active */
    unsigned tcp_nodelay:2; /* bw_tcp_nodelay_t */
};

/*
 * Counters of all the workers, in an anonymous shared mapping the events
 * module makes in the master (bw_conn_stats_share): stub_status reads them,
 * and connection numbers come from `number`, so no two workers give the
 * same "*N". Before the mapping exists they are this process's own.
 */
typedef struct {
    uint64_t number;   /* the last connection number given */
    uint64_t accepts;  /* accepted sockets */
    uint64_t handled;  /* accepted sockets that got a connection slot */
    uint64_t active;   /* accepted connections not yet closed */
    uint64_t requests; /* maintained by the http layer */
    uint64_t reading;  /* maintained by the http layer */
    uint64_t writing;  /* maintained by the http layer */
    uint64_t waiting;  /* maintained by the http layer */
} bw_conn_stats_t;

extern bw_conn_stats_t *bw_conn_stats;

/* Master: moves the counters into a shared mapping (once: reloads keep it). BW_OK or BW_ERROR. */
bw_rc_t bw_conn_stats_share(bw_log_t *log);

/*
 * Allocates the worker's `n` connection slots and their 2n events from the
 * cycle pool and links them on the free list (cycle->connections,
 * connection_n, free_connections, free_connection_n). BW_OK or BW_ERROR.
 */
bw_rc_t bw_connections_init(bw_cycle_t *cycle, bw_uint_t n);

/*
 * Takes a free slot for `fd`: clears it, points its events at it, gives it
 * a new number and the plain socket I/O functions. log is kept as c->log
 * until the caller gives the connection its own. When no slot is free,
 * first reclaims idle reusable connections; then NULL after logging
 * "N worker_connections are not enough" at crit (nginx logs that at alert,
 * which bulwark's tests reserve for bugs; exhaustion is a limit, not a bug).
 */
bw_connection_t *bw_connection_get(bw_cycle_t *cycle, int fd, bw_log_t *log);

/* Returns a slot to the free list; the fd and pool are not touched. */
void bw_connection_free(bw_connection_t *c);

/*
 * Closes a connection completely: disarms its timers, unposts its events,
 * leaves the epoll set and the reusable queue, closes the fd, destroys
 * c->pool and frees the slot. The owner must not touch c afterwards.
 */
void bw_connection_close(bw_connection_t *c);

/*
 * Marks an idle connection as reclaimable (on) or not (off). A reclaimed
 * connection gets c->close = 1 and its read handler called: the handler
 * must then close it.
 */
void bw_connection_reusable(bw_connection_t *c, bool on);

/*
 * Graceful shutdown: calls the read handler, with c->close = 1, of every
 * idle or reusable connection, so each closes itself.
 */
void bw_connections_close_idle(bw_cycle_t *cycle);

/* Connections in use, not counting the listening sockets the worker polls. */
bw_uint_t bw_connections_active(bw_cycle_t *cycle);

/*
 * Fills c->local_sockaddr (getsockname) when the listening address was a
 * wildcard. BW_OK or BW_ERROR after logging.
 */
bw_rc_t bw_connection_local_sockaddr(bw_connection_t *c);

/* Sets TCP_NODELAY once on a TCP connection. BW_OK or BW_ERROR after logging. */
bw_rc_t bw_connection_tcp_nodelay(bw_connection_t *c);

/*
 * Formats a socket address: "127.0.0.1", "::1", "unix:/path" without a
 * port, or "127.0.0.1:80", "[::1]:80" with one, into buf (len bytes,
 * NUL-terminated). Returns the text's length, 0 for an unknown family.
 * BW_SOCKADDR_STRLEN bytes always suffice.
 */
#define BW_SOCKADDR_STRLEN (sizeof("unix:") + 108)
size_t bw_sockaddr_text(const struct sockaddr *sa, socklen_t socklen, u_char *buf, size_t len,
                        bool port);

#endif
