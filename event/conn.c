/*
 * conn.c -- the worker's connection slots: free list, idle-connection
 * reclaim, close, and graceful-shutdown helpers.
 *
 * The array belongs to one cycle per process (a worker never reloads: a new
 * configuration gets new workers), so the functions that only receive a
 * connection find the array through bw_conn_cycle.
 */
#include "conn.h"

#include "cycle.h"
#include "io.h"
#include "listen.h"
#include "log.h"
#include "pool.h"
#include "clock.h"
#include "timer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <unistd.h>

/* Most idle connections closed in one go when the free list runs low. */
#define BW_CONN_RECLAIM_MAX 32

static bw_conn_stats_t bw_conn_stats_local;
bw_conn_stats_t       *bw_conn_stats = &bw_conn_stats_local;

bw_rc_t
bw_conn_stats_share(bw_log_t *log)
{
    if (bw_conn_stats != &bw_conn_stats_local) {
        return BW_OK; /* a reload: the workers to come use the same mapping */
    }
    void *p = mmap(NULL, sizeof(bw_conn_stats_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        bw_log_error(BW_LOG_EMERG, log, errno, "mmap(MAP_ANONYMOUS|MAP_SHARED, %zu) failed",
                     sizeof(bw_conn_stats_t));
        return BW_ERROR;
    }
    memcpy(p, bw_conn_stats, sizeof(bw_conn_stats_t));
    bw_conn_stats = p;
    return BW_OK;
}

static bw_cycle_t *bw_conn_cycle;      /* owner of the connection array */
static bw_queue_t  bw_conn_reusable;   /* idle connections, most recent first */
static bw_uint_t   bw_conn_reusable_n;
static time_t      bw_conn_reclaim_logged;

bw_rc_t
bw_connections_init(bw_cycle_t *cycle, bw_uint_t n)
{
    bw_connection_t *conns = bw_pcalloc(cycle->pool, n * sizeof(bw_connection_t));
    bw_event_t *rev = bw_pcalloc(cycle->pool, n * sizeof(bw_event_t));
    bw_event_t *wev = bw_pcalloc(cycle->pool, n * sizeof(bw_event_t));
    if (n == 0 || conns == NULL || rev == NULL || wev == NULL) {
        bw_log_error(BW_LOG_EMERG, cycle->log, 0, "no memory for %lu connections",
                     (unsigned long) n);
        return BW_ERROR;
    }
    for (bw_uint_t i = 0; i < n; i++) {
        bw_connection_t *c = &conns[i];
        c->fd = -1;
        c->read = &rev[i];
        c->write = &wev[i];
        rev[i].closed = 1;
        wev[i].closed = 1;
        wev[i].write = 1;
        c->data = i + 1 < n ? &conns[i + 1] : NULL;
    }
    cycle->connections = conns;
    cycle->connection_n = n;
    cycle->free_connections = &conns[0];
    cycle->free_connection_n = n;

    bw_conn_cycle = cycle;
    bw_queue_init(&bw_conn_reusable);
    bw_conn_reusable_n = 0;
    return BW_OK;
}

/*
 * Closes up to BW_CONN_RECLAIM_MAX idle connections, oldest first, by asking
 * their owners to close them (nginx's reuse of keep-alive connections when
 * worker_connections run out). Logged at warn at most once a second.
 */
static void
bw_conn_reclaim(bw_cycle_t *cycle)
{
    bw_uint_t n = bw_min(bw_conn_reusable_n, (bw_uint_t) BW_CONN_RECLAIM_MAX);
    if (n == 0) {
        return;
    }
    if (bw_conn_reclaim_logged != bw_time.sec) {
        bw_conn_reclaim_logged = bw_time.sec;
        bw_log_error(BW_LOG_WARN, cycle->log, 0,
                     "%lu worker_connections are not enough, reusing connections",
                     (unsigned long) cycle->connection_n);
    }
    for (bw_uint_t i = 0; i < n && !bw_queue_empty(&bw_conn_reusable); i++) {
        bw_queue_t *q = bw_queue_last(&bw_conn_reusable);
        bw_connection_t *c = bw_queue_data(q, bw_connection_t, queue);
        bw_connection_reusable(c, false);
        c->close = 1;
        c->read->handler(c->read);
    }
}

bw_connection_t *
bw_connection_get(bw_cycle_t *cycle, int fd, bw_log_t *log)
{
    bw_uint_t low = bw_max(cycle->connection_n / 16, (bw_uint_t) 1);
    if (cycle->free_connection_n < low) {
        bw_conn_reclaim(cycle);
    }
    bw_connection_t *c = cycle->free_connections;
    if (c == NULL) {
        bw_log_error(BW_LOG_CRIT, log, 0, "%lu worker_connections are not enough",
                     (unsigned long) cycle->connection_n);
        return NULL;
    }
    cycle->free_connections = c->data;
    cycle->free_connection_n--;

    bw_event_t *rev = c->read, *wev = c->write;
    uint32_t instance = c->instance;
    memset(c, 0, sizeof(*c));
    memset(rev, 0, sizeof(*rev));
    memset(wev, 0, sizeof(*wev));
    c->read = rev;
    c->write = wev;
    c->instance = instance;
    c->fd = fd;
    c->log = log;
    c->number = (bw_uint_t) __atomic_add_fetch(&bw_conn_stats->number, 1, __ATOMIC_RELAXED);
    c->recv = bw_recv;
    c->send = bw_send;
    c->send_chain = bw_send_chain;

    rev->data = c;
    wev->data = c;
    wev->write = 1;
    rev->log = log;
    wev->log = log;
    rev->handler = bw_event_empty_handler;
    wev->handler = bw_event_empty_handler;
    return c;
}

void
bw_connection_free(bw_connection_t *c)
{
    bw_cycle_t *cycle = bw_conn_cycle;

    c->fd = -1;
    c->instance++;
    c->data = cycle->free_connections;
    cycle->free_connections = c;
    cycle->free_connection_n++;
}

void
bw_connection_close(bw_connection_t *c)
{
    if (c->fd == -1) {
        bw_log_error(BW_LOG_ALERT, c->log, 0, "connection already closed");
        return;
    }
    bw_event_del_timer(c->read);
    bw_event_del_timer(c->write);
    bw_event_delete_posted(c->read);
    bw_event_delete_posted(c->write);
    if (c->reusable) {
        bw_connection_reusable(c, false);
    }
    bw_event_conn_del(c, true);
    c->read->closed = 1;
    c->write->closed = 1;
    if (c->accepted) {
        __atomic_fetch_sub(&bw_conn_stats->active, 1, __ATOMIC_RELAXED);
    }
    if (close(c->fd) == -1) {
        bw_log_error(BW_LOG_CRIT, c->log, errno, "close() socket %d failed", c->fd);
    }
    bw_pool_t *pool = c->pool;
    c->pool = NULL;
    bw_connection_free(c);
    /* Last: c->log may live in this pool. */
    bw_pool_destroy(pool);
}

void
bw_connection_reusable(bw_connection_t *c, bool on)
{
    if (c->reusable) {
        bw_queue_remove(&c->queue);
        bw_conn_reusable_n--;
    }
    c->reusable = on;
    if (on) {
        bw_queue_insert_head(&bw_conn_reusable, &c->queue);
        bw_conn_reusable_n++;
    }
}

void
bw_connections_close_idle(bw_cycle_t *cycle)
{
    for (bw_uint_t i = 0; i < cycle->connection_n; i++) {
        bw_connection_t *c = &cycle->connections[i];
        /* Only connections between two requests: a fresh or half-read one
         * gets its request served (client_header_timeout bounds the wait). */
        if (c->fd == -1 || !c->idle) {
            continue;
        }
        if (c->reusable) {
            bw_connection_reusable(c, false);
        }
        c->close = 1;
        c->read->handler(c->read);
    }
}

bw_uint_t
bw_connections_active(bw_cycle_t *cycle)
{
    bw_uint_t used = cycle->connection_n - cycle->free_connection_n;
    bw_listening_t *ls = cycle->listening.elts;
    for (size_t i = 0; ls && i < cycle->listening.nelts; i++) {
        if (ls[i].connection) {
            used--;
        }
    }
    return used;
}

bw_rc_t
bw_connection_local_sockaddr(bw_connection_t *c)
{
    if (c->local_sockaddr) {
        return BW_OK;
    }
    struct sockaddr_storage *ss = bw_pcalloc(c->pool, sizeof(*ss));
    socklen_t len = sizeof(*ss);
    if (ss == NULL) {
        return BW_ERROR;
    }
    if (getsockname(c->fd, (struct sockaddr *) ss, &len) == -1) {
        bw_log_error(BW_LOG_CRIT, c->log, errno, "getsockname() failed");
        return BW_ERROR;
    }
    c->local_sockaddr = (struct sockaddr *) ss;
    c->local_socklen = len;
    return BW_OK;
}

bw_rc_t
bw_connection_tcp_nodelay(bw_connection_t *c)
{
    if (c->tcp_nodelay != BW_TCP_NODELAY_UNSET) {
        return BW_OK;
    }
    if (c->sockaddr && c->sockaddr->sa_family == AF_UNIX) {
        c->tcp_nodelay = BW_TCP_NODELAY_DISABLED;
        return BW_OK;
    }
    int on = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1) {
        bw_log_error(BW_LOG_CRIT, c->log, errno, "setsockopt(TCP_NODELAY) failed");
        return BW_ERROR;
    }
    c->tcp_nodelay = BW_TCP_NODELAY_SET;
    return BW_OK;
}

size_t
bw_sockaddr_text(const struct sockaddr *sa, socklen_t socklen, u_char *buf, size_t len,
                 bool port)
{
    char ip[INET6_ADDRSTRLEN];
    int n = 0;

    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        n = port ? snprintf((char *) buf, len, "%s:%u", ip, ntohs(sin->sin_port))
                 : snprintf((char *) buf, len, "%s", ip);
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        n = port ? snprintf((char *) buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port))
                 : snprintf((char *) buf, len, "%s", ip);
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *sun = (const struct sockaddr_un *) sa;
        /* An unnamed peer (every client of a unix listener) prints as "unix:". */
        size_t plen = socklen > offsetof(struct sockaddr_un, sun_path)
                          ? strnlen(sun->sun_path, socklen - offsetof(struct sockaddr_un, sun_path))
                          : 0;
        n = snprintf((char *) buf, len, "unix:%.*s", (int) plen, sun->sun_path);
        break;
    }
    default:
        return 0;
    }
    if (n < 0) {
        return 0;
    }
    return bw_min((size_t) n, len ? len - 1 : 0);
}
