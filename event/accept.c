/*
 * accept.c -- the read handler of listening sockets: accept pending
 * connections and set each one up for its listener's handler.
 *
 * Listening sockets are level-triggered with EPOLLEXCLUSIVE (see loop.c), so
 * one accept per wakeup loses nothing: a connection still pending is
 * reported again on the next turn, and the wakeups it causes are spread over
 * the workers. multi_accept on drains the queue instead, as nginx does.
 */
#include "listen.h"

#include "cycle.h"
#include "log.h"
#include "module.h"
#include "pool.h"
#include "timer.h"

#include <sys/socket.h>
#include <unistd.h>

/* Stops polling every listening socket of this worker for `delay` ms. */
static void
bw_event_accept_pause(bw_cycle_t *cycle, bw_msec_t delay)
{
    bw_listening_t *ls = cycle->listening.elts;
    for (size_t i = 0; i < cycle->listening.nelts; i++) {
        bw_connection_t *c = ls[i].connection;
        if (c == NULL || !c->read->active) {
            continue;
        }
        bw_event_conn_del(c, false);
        bw_event_add_timer(c->read, delay);
    }
}

/* Polls again every listening socket a pause took out of the epoll set. */
static void
bw_event_accept_resume(bw_cycle_t *cycle)
{
    bw_listening_t *ls = cycle->listening.elts;
    for (size_t i = 0; i < cycle->listening.nelts; i++) {
        bw_connection_t *c = ls[i].connection;
        if (c == NULL || c->read->active) {
            continue;
        }
        bw_event_del_timer(c->read);
        bw_event_listen_add(c, !ls[i].reuseport);
    }
}

/* Fills an accepted connection's pool, log and addresses. BW_OK or BW_ERROR. */
static bw_rc_t
bw_event_accept_init(bw_cycle_t *cycle, bw_connection_t *c, const bw_sockaddr_t *sa,
                     socklen_t socklen)
{
    bw_listening_t *ls = c->listening;
    bw_log_t *base = cycle->log ? cycle->log : &bw_log_stderr_log;

    c->pool = bw_pool_create(ls->pool_size, base);
    if (c->pool == NULL) {
        return BW_ERROR;
    }
    u_char text[BW_SOCKADDR_STRLEN] = "";
    size_t len = bw_sockaddr_text(&sa->sa, socklen, text, sizeof(text), false);
    bw_log_t *log = bw_palloc(c->pool, sizeof(bw_log_t));
    c->sockaddr = bw_palloc(c->pool, socklen ? socklen : 1);
    c->addr_text.data = bw_pnalloc(c->pool, len + 1);
    if (log == NULL || c->sockaddr == NULL || c->addr_text.data == NULL) {
        return BW_ERROR;
    }
    *log = *base;
    log->connection = c->number;
    log->handler = NULL;
    log->data = NULL;
    log->action = NULL;
    c->log = log;
    c->pool->log = log;
    c->read->log = log;
    c->write->log = log;

    memcpy(c->sockaddr, sa, socklen);
    c->socklen = socklen;
    memcpy(c->addr_text.data, text, len + 1);
    c->addr_text.len = len;
    if (!ls->wildcard) {
        c->local_sockaddr = &ls->sockaddr.sa;
        c->local_socklen = ls->socklen;
    }
    if (sa->sa.sa_family == AF_UNIX) {
        c->tcp_nodelay = BW_TCP_NODELAY_DISABLED;
    }
    return BW_OK;
}

/* Turns an accepted fd into a connection and hands it to the listener. */
static void
bw_event_accept_one(bw_cycle_t *cycle, bw_listening_t *ls, int fd, const bw_sockaddr_t *sa,
                    socklen_t socklen)
{
    bw_connection_t *c = bw_connection_get(cycle, fd, cycle->log);
    if (c == NULL) {
        close(fd);
        return;
    }
    c->listening = ls;
    c->accepted = 1;
    __atomic_fetch_add(&bw_conn_stats->active, 1, __ATOMIC_RELAXED);

    if (bw_event_accept_init(cycle, c, sa, socklen) != BW_OK) {
        bw_log_error(BW_LOG_CRIT, c->log, 0, "no memory for an accepted connection");
        bw_connection_close(c);
        return;
    }
    /* A fresh socket's send buffer is empty; with a deferred accept data is
     * already there. */
    c->write->ready = 1;
    if (ls->deferred_accept) {
        c->read->ready = 1;
    }
    if (bw_event_conn_add(c) != BW_OK) {
        bw_connection_close(c);
        return;
    }
    __atomic_fetch_add(&bw_conn_stats->handled, 1, __ATOMIC_RELAXED);
    ls->handler(c);
}

void
bw_event_accept(bw_event_t *ev)
{
    bw_connection_t *lc = ev->data;
    bw_listening_t *ls = lc->listening;
    bw_cycle_t *cycle = bw_cycle;
    bw_event_conf_t *ecf = bw_event_get_conf(cycle);

    if (ev->timedout) {
        ev->timedout = 0;
        bw_event_accept_resume(cycle);
        return;
    }
    /* lc->fd turns -1 if a handler below stopped this worker's listeners. */
    while (lc->fd != -1) {
        bw_sockaddr_t sa;
        socklen_t socklen = sizeof(sa);
        int fd = accept4(lc->fd, &sa.sa, &socklen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK) {
                return;
            }
            if (err == EINTR) {
                continue;
            }
            /* The client gave up while queued: nothing to do. */
            if (err == ECONNABORTED) {
                if (!ecf->multi_accept) {
                    return;
                }
                continue;
            }
            bw_log_error(BW_LOG_CRIT, ev->log, err, "accept4() failed");
            if (err == EMFILE || err == ENFILE) {
                bw_event_accept_pause(cycle, ecf->accept_mutex_delay);
            }
            return;
        }
        __atomic_fetch_add(&bw_conn_stats->accepts, 1, __ATOMIC_RELAXED);
        bw_event_accept_one(cycle, ls, fd, &sa, socklen);
        if (!ecf->multi_accept) {
            return;
        }
    }
}
