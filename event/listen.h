/*
 * listen.h -- listening sockets: declared while parsing (bw_listening_add),
 * opened by the master (bw_listening_open) or taken over from the previous
 * cycle or from the binary that exec'd us, polled by the workers, and the
 * accept handler that turns a pending connection into a bw_connection_t.
 *
 * Lifecycle of cycle->listening (a bw_array_t of bw_listening_t):
 *   parse      bw_listening_add() per address (the http layer fills in
 *              handler, servers and socket options)
 *   master     bw_listening_open(): clone reuseport entries per worker, take
 *              over matching sockets (old cycle, then inherited ones), open
 *              and bind the rest; bw_listening_close_unused() once a reload
 *              is committed; bw_listening_close_new() when it is abandoned
 *   worker     bw_listening_worker_start() at init, bw_listening_worker_stop()
 *              on graceful shutdown
 *   upgrade    bw_listening_env() + bw_listening_prepare_exec() in the old
 *              master, bw_listening_inherit() at the start of the new one
 *   exit       bw_listening_close_all() in the master
 */
#ifndef BW_LISTEN_H
#define BW_LISTEN_H

#include "conn.h"

#include <netinet/in.h>
#include <sys/un.h>

typedef union {
    struct sockaddr         sa;
    struct sockaddr_in      sin;
    struct sockaddr_in6     sin6;
    struct sockaddr_un      sun;
    struct sockaddr_storage ss;
} bw_sockaddr_t;

/* Called with each accepted connection, already registered with the loop. */
typedef void (*bw_listening_handler_fn)(bw_connection_t *c);

struct bw_listening_s {
    bw_sockaddr_t sockaddr;  /* the address to bind (stored in place: entries are copied) */
    socklen_t     socklen;
    bw_str_t      addr_text; /* "127.0.0.1:8080", "[::1]:8080", "unix:/path"; cycle pool */
    int           fd;        /* -1 until opened or taken over */

    int    backlog;          /* listen() backlog; 511 as nginx on Linux */
    int    rcvbuf;           /* SO_RCVBUF; -1: system default */
    int    sndbuf;           /* SO_SNDBUF; -1: system default */
    int    fastopen;         /* TCP_FASTOPEN queue length; -1: off */
    int    deferred_accept;  /* TCP_DEFER_ACCEPT seconds; 0: off */
    int    so_keepalive;     /* 0: leave the default, 1: on, 2: off */
    int    keepidle;         /* TCP_KEEPIDLE seconds; 0: default */
    int    keepintvl;        /* TCP_KEEPINTVL seconds; 0: default */
    int    keepcnt;          /* TCP_KEEPCNT; 0: default */
    size_t pool_size;        /* each accepted connection's pool; default 1024 */

    bw_listening_handler_fn handler;
    void                   *servers;    /* the http layer's per-address data */
    bw_connection_t        *connection; /* in a worker: the slot polling this socket */
    int                     worker;     /* reuseport: the worker polling this clone */

    unsigned reuseport:1;    /* one socket per worker with SO_REUSEPORT */
    unsigned ipv6only:1;     /* IPV6_V6ONLY; default on */
    unsigned wildcard:1;     /* bound to 0.0.0.0 or [::]: local address per connection */
    unsigned inherited:1;    /* taken from the BULWARK environment variable */
    unsigned open:1;         /* fd is valid and configured for this cycle */
    unsigned remain:1;       /* fd was taken over (old cycle or inherited), not opened here */
};

/* Delay between bind() attempts when an address is in use (5 tries as nginx). */
#define BW_LISTENING_BIND_TRIES 5
extern bw_msec_t bw_listening_bind_delay; /* 500; tests shorten it */

/*
 * Appends an entry for `sa` to cycle->listening (initialised on first use)
 * with nginx's defaults. The pointer is valid until the next add or open:
 * the array may move. NULL on no memory or an oversized address.
 */
bw_listening_t *bw_listening_add(bw_cycle_t *cycle, const struct sockaddr *sa, socklen_t socklen);

/*
 * Master: makes every entry of cycle->listening usable. Entries with
 * reuseport are first cloned so that there is one per worker (worker
 * 0..worker_processes-1). Then each entry takes over the socket of an
 * equal entry of cycle->old_cycle (same address, reuseport and worker),
 * else an inherited socket of the same address, else a new one:
 * SO_REUSEADDR, IPV6_V6ONLY, SO_REUSEPORT as configured, bind, listen,
 * non-blocking, close-on-exec. An address in use is retried
 * BW_LISTENING_BIND_TRIES times bw_listening_bind_delay apart, as nginx
 * does ("bind() to 127.0.0.1:80 failed (98: Address already in use)" at
 * emerg each time). Socket options (buffers, keepalive, fastopen, deferred
 * accept, backlog) are applied to new and taken-over sockets alike.
 * BW_OK, or BW_ERROR after logging with every socket opened here closed.
 */
bw_rc_t bw_listening_open(bw_cycle_t *cycle);

/* Master, reload committed: closes old's sockets that `cycle` did not take over
 * (removing the socket file of a unix-domain listener). */
void bw_listening_close_unused(bw_cycle_t *old, bw_cycle_t *cycle);

/* Master, new cycle abandoned after bw_listening_open(): closes the sockets it
 * opened itself; taken-over ones stay with their owner. */
void bw_listening_close_new(bw_cycle_t *cycle);

/*
 * Master, exiting (or stopping to accept on QUIT): closes every listening
 * socket. Unix-domain socket files are removed unless another binary
 * shares them (after bw_listening_prepare_exec(), or while the master that
 * exec'd us still runs).
 */
void bw_listening_close_all(bw_cycle_t *cycle);

/* Binary upgrade: "BULWARK=fd;fd;...;" in cycle-pool memory, for the new
 * binary's environment. NULL on no memory. */
const char *bw_listening_env(bw_cycle_t *cycle);
/* Binary upgrade, right before exec: clears FD_CLOEXEC on the listening sockets. */
void bw_listening_prepare_exec(bw_cycle_t *cycle);
/*
 * New binary, before its first cycle: reads the BULWARK variable and
 * remembers each socket's address (getsockname) so bw_listening_open()
 * adopts it; logs `using inherited sockets from "..."` at notice. Sockets
 * no entry adopts are closed after the first bw_listening_open(). A bad
 * number stops the parse with nginx's emerg message. `cycle` may be NULL
 * (messages then go to stderr). BW_OK, or BW_ERROR on no memory.
 */
bw_rc_t bw_listening_inherit(bw_cycle_t *cycle);

/*
 * Worker: takes a connection slot for each listening socket this worker
 * polls (every shared socket, with EPOLLEXCLUSIVE; of the reuseport clones
 * only its own, `slot`, or clone 0 when slot is -1) and closes the other
 * clones in this process. Needs bw_connections_init() and
 * bw_event_loop_init(). BW_OK or BW_ERROR after logging.
 */
bw_rc_t bw_listening_worker_start(bw_cycle_t *cycle, int slot);
/* Worker, graceful shutdown: stops accepting (leaves epoll, closes its copies). */
void bw_listening_worker_stop(bw_cycle_t *cycle);

/*
 * The read handler of a polled listening socket (accept.c). Accepts one
 * connection per call, or all pending ones with multi_accept; each gets a
 * slot, a pool of ls->pool_size bytes, its own log (connection number set),
 * its peer address and text, registration with the loop, and then
 * ls->handler(c). EMFILE/ENFILE pause accepting for accept_mutex_delay.
 */
void bw_event_accept(bw_event_t *ev);

#endif
