/*
 * event.h -- the per-worker event loop: events, the epoll set, posted
 * (deferred) events, and the events{} configuration.
 *
 * A worker runs, after its modules' init_worker hooks:
 *
 *     for (;;) {
 *         bw_event_process(cycle);       wait, dispatch, expire timers, run posted
 *         on QUIT:  bw_listening_worker_stop(cycle); bw_connections_close_idle(cycle);
 *                   exit once bw_connections_active(cycle) == 0
 *         on TERM:  exit
 *         on USR1:  reopen logs
 *     }
 *
 * Every connection has a read and a write event. A handler is called when
 * the kernel reports the fd readable/writable (edge-triggered: the handler
 * must read or write until BW_AGAIN, which clears `ready`), when the event's
 * timer expires (`timedout` set), or when it was posted. Handlers must
 * tolerate spurious calls: both directions are registered once for the
 * connection's lifetime, so a write handler also runs each time the send
 * buffer drains.
 *
 * Timers live in timer.h, connections in conn.h, listening sockets and the
 * accept handler in listen.h (all three included at the end of this file),
 * socket I/O in io.h. Nothing here knows HTTP.
 */
#ifndef BW_EVENT_H
#define BW_EVENT_H

#include <signal.h>

#include "queue.h"
#include "rbtree.h"
#include "types.h"

typedef void (*bw_event_handler_fn)(bw_event_t *ev);

struct bw_event_s {
    void               *data;    /* owner: the connection, usually */
    bw_event_handler_fn handler;
    bw_log_t           *log;

    bw_rbtree_node_t    timer;   /* key: monotonic deadline in ms (timer.c) */
    bw_queue_t          queue;   /* link in a posted queue */

    unsigned write:1;       /* the write event of its connection */
    unsigned accept:1;      /* the read event of a listening socket */
    unsigned active:1;      /* registered in the epoll set */
    unsigned ready:1;       /* the fd can be read/written without blocking */
    unsigned pending_eof:1; /* the peer shut its side (EPOLLRDHUP); data may remain */
    unsigned eof:1;         /* end of stream seen (read returned 0) */
    unsigned error:1;       /* an I/O error happened; the connection is unusable */
    unsigned timedout:1;    /* its timer expired; the handler clears it */
    unsigned timer_set:1;   /* in the timer tree */
    unsigned cancelable:1;  /* its timer does not keep a shutting-down worker alive */
    unsigned posted:1;      /* in a posted queue */
    unsigned delayed:1;     /* rate-limited by its owner (limit_rate) */
    unsigned closed:1;      /* its connection was closed */
};

/* events{} settings; in cycle->conf[bw_events_module.index]. */
typedef struct {
    bw_int_t  connections;        /* worker_connections, default 512 */
    bw_uint_t use;                /* only epoll exists */
    bw_int_t  multi_accept;       /* flag, default off */
    bw_int_t  accept_mutex;       /* flag, default off; unused: EPOLLEXCLUSIVE balances */
    bw_msec_t accept_mutex_delay; /* default 500ms; also the accept pause after EMFILE */
    bool      seen;               /* an events{} block was parsed */
} bw_event_conf_t;

extern bw_module_t bw_events_module;

#define bw_event_get_conf(cycle) ((bw_event_conf_t *) (cycle)->conf[bw_events_module.index])

/* Events deferred to the end of the current loop turn (bw_event_post). */
extern bw_queue_t bw_event_posted;

/* ---- the loop (loop.c) ---- */

/*
 * Creates this process's epoll set and timer tree; the event list is sized
 * from cycle->connection_n, so bw_connections_init() must have run.
 * BW_OK, or BW_ERROR after logging.
 */
bw_rc_t bw_event_loop_init(bw_cycle_t *cycle);
/* Closes the epoll set. Timers and posted queues are simply forgotten. */
void bw_event_loop_done(void);

/*
 * One turn: wait for I/O until the nearest timer (not at all when events are
 * posted), refresh the cached time, dispatch I/O events, expire timers, run
 * posted events. Returns after one wait; EINTR (a signal) returns early.
 */
void bw_event_process(bw_cycle_t *cycle);

/*
 * Registers a connection's fd once, edge-triggered, for both directions and
 * peer shutdown (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET); marks both events
 * active. BW_OK, or BW_ERROR after logging at crit.
 */
bw_rc_t bw_event_conn_add(bw_connection_t *c);
/*
 * Removes a connection from the set. For a connection that is about to be
 * closed and whose fd no other process shares, the close itself removes it
 * and no system call is made.
 */
bw_rc_t bw_event_conn_del(bw_connection_t *c, bool closing);

/*
 * Registers a listening socket: level-triggered EPOLLIN, with EPOLLEXCLUSIVE
 * when `exclusive` (a socket shared by all workers: the kernel wakes one
 * waiter instead of all). BW_OK or BW_ERROR.
 */
bw_rc_t bw_event_listen_add(bw_connection_t *c, bool exclusive);

/* Queues `ev` to run at the end of this loop turn; no-op when already posted. */
void bw_event_post(bw_event_t *ev, bw_queue_t *queue);
/* Removes `ev` from its posted queue, if it is in one. */
void bw_event_delete_posted(bw_event_t *ev);
/* Runs and empties a posted queue (events posted meanwhile run too). */
void bw_event_process_posted(bw_queue_t *queue);

/* A handler that does nothing: the default for events nobody waits on. */
void bw_event_empty_handler(bw_event_t *ev);

/*
 * The rest of the event layer, so that one include serves the worker body:
 * timers (bw_event_add_timer, bw_event_timer_no_timers_left), connections
 * (bw_connections_close_idle, bw_connections_active) and listening sockets
 * (bw_listening_worker_stop). Included last: they need the types above.
 */
#include "timer.h"
#include "conn.h"
#include "listen.h"

/*
 * Signal mask epoll_pwait() applies while the loop sleeps (NULL: none). A
 * worker blocks its control signals and sets an empty mask here, so a
 * signal can only arrive while it sleeps and always ends the sleep.
 */
extern const sigset_t *bw_event_wait_sigmask;

#endif
