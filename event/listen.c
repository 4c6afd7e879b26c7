/*
 * listen.c -- opening, taking over, handing on and polling listening sockets.
 *
 * The master opens every socket before forking, so workers inherit them and
 * a reload keeps serving on addresses that did not change: the new cycle
 * takes over the old cycle's descriptor instead of binding again. A binary
 * upgrade passes the descriptors to the new executable in the BULWARK
 * environment variable ("BULWARK=6;7;"), the protocol nginx uses with NGINX.
 */
#include "listen.h"

#include "cycle.h"
#include "log.h"
#include "module.h"
#include "pool.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define BW_LISTENING_ENV "BULWARK"

bw_msec_t bw_listening_bind_delay = 500;

/* A socket received from the binary that exec'd us, until an entry adopts it. */
typedef struct {
    int           fd;
    bw_sockaddr_t sockaddr;
    socklen_t     socklen;
    bool          reuseport;
    bool          adopted;
} bw_listening_inherited_t;

static bw_listening_inherited_t *bw_listening_inherited;
static size_t                    bw_listening_inherited_n;
static pid_t                     bw_listening_parent;   /* the master that exec'd us */
static bool                      bw_listening_exec_prepared;

static bw_log_t *
bw_listening_log(bw_cycle_t *cycle)
{
    return cycle && cycle->log ? cycle->log : &bw_log_stderr_log;
}

static bool
bw_listening_sockaddr_eq(const bw_sockaddr_t *a, socklen_t alen, const bw_sockaddr_t *b,
                         socklen_t blen)
{
    if (a->sa.sa_family != b->sa.sa_family) {
        return false;
    }
    switch (a->sa.sa_family) {
    case AF_INET:
        return a->sin.sin_port == b->sin.sin_port
               && a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
    case AF_INET6:
        return a->sin6.sin6_port == b->sin6.sin6_port
               && a->sin6.sin6_scope_id == b->sin6.sin6_scope_id
               && memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, sizeof(struct in6_addr)) == 0;
    case AF_UNIX: {
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t la = alen > off ? strnlen(a->sun.sun_path, alen - off) : 0;
        size_t lb = blen > off ? strnlen(b->sun.sun_path, blen - off) : 0;
        return la == lb && memcmp(a->sun.sun_path, b->sun.sun_path, la) == 0;
    }
    }
    return false;
}

static bool
bw_listening_is_wildcard(const bw_sockaddr_t *sa)
{
    if (sa->sa.sa_family == AF_INET) {
        return sa->sin.sin_addr.s_addr == htonl(INADDR_ANY);
    }
    if (sa->sa.sa_family == AF_INET6) {
        return IN6_IS_ADDR_UNSPECIFIED(&sa->sin6.sin6_addr);
    }
    return false;
}

bw_listening_t *
bw_listening_add(bw_cycle_t *cycle, const struct sockaddr *sa, socklen_t socklen)
{
    u_char text[BW_SOCKADDR_STRLEN];

    if (socklen > sizeof(bw_sockaddr_t)) {
        return NULL;
    }
    if (cycle->listening.elts == NULL
        && bw_array_init(&cycle->listening, cycle->pool, 4, sizeof(bw_listening_t)) != BW_OK) {
        return NULL;
    }
    bw_str_t name = {bw_sockaddr_text(sa, socklen, text, sizeof(text), true), text};
    bw_str_t copy;
    if (bw_pstrcopy(cycle->pool, &copy, &name) != BW_OK) {
        return NULL;
    }
    bw_listening_t *ls = bw_array_push(&cycle->listening);
    if (ls == NULL) {
        return NULL;
    }
    memset(ls, 0, sizeof(*ls));
    memcpy(&ls->sockaddr, sa, socklen);
    ls->socklen = socklen;
    ls->addr_text = copy;
    ls->fd = -1;
    ls->backlog = 511;
    ls->rcvbuf = -1;
    ls->sndbuf = -1;
    ls->fastopen = -1;
    ls->pool_size = 1024;
    ls->ipv6only = 1;
    ls->wildcard = bw_listening_is_wildcard(&ls->sockaddr);
    return ls;
}

/* One entry per worker for each reuseport address: entry i is polled by worker i. */
static bw_rc_t
bw_listening_clone(bw_cycle_t *cycle)
{
    bw_int_t workers = 1;
    if (cycle->conf && cycle->conf[bw_core_module.index]) {
        workers = bw_core_conf(cycle)->worker_processes;
    }
    size_t n = cycle->listening.nelts;
    for (size_t i = 0; i < n; i++) {
        bw_listening_t *ls = &bw_array_at(&cycle->listening, bw_listening_t, i);
        if (!ls->reuseport || ls->worker != 0) {
            continue;
        }
        for (bw_int_t w = 1; w < workers; w++) {
            bw_listening_t *clone = bw_array_push(&cycle->listening);
            if (clone == NULL) {
                return BW_ERROR;
            }
            /* The push may have moved the array: index again. */
            *clone = bw_array_at(&cycle->listening, bw_listening_t, i);
            clone->worker = (int) w;
        }
    }
    return BW_OK;
}

/* True when an entry of `cycle` other than `self` already holds `fd`. */
static bool
bw_listening_fd_taken(bw_cycle_t *cycle, const bw_listening_t *self, int fd)
{
    bw_listening_t *ls = cycle->listening.elts;
    for (size_t i = 0; i < cycle->listening.nelts; i++) {
        if (&ls[i] != self && ls[i].fd == fd) {
            return true;
        }
    }
    return false;
}

/* Takes over the socket of an equal entry of the old cycle, or an inherited one. */
static bool
bw_listening_adopt(bw_cycle_t *cycle, bw_listening_t *ls)
{
    bw_cycle_t *old = cycle->old_cycle;
    bw_listening_t *ols = old ? old->listening.elts : NULL;

    for (size_t i = 0; ols && i < old->listening.nelts; i++) {
        if (ols[i].fd == -1 || ols[i].reuseport != ls->reuseport || ols[i].worker != ls->worker
            || !bw_listening_sockaddr_eq(&ols[i].sockaddr, ols[i].socklen, &ls->sockaddr,
                                         ls->socklen)
            || bw_listening_fd_taken(cycle, ls, ols[i].fd)) {
            continue;
        }
        ls->fd = ols[i].fd;
        ls->inherited = ols[i].inherited;
        ls->remain = 1;
        return true;
    }
    for (size_t i = 0; i < bw_listening_inherited_n; i++) {
        bw_listening_inherited_t *in = &bw_listening_inherited[i];
        if (in->adopted || in->reuseport != (bool) ls->reuseport
            || !bw_listening_sockaddr_eq(&in->sockaddr, in->socklen, &ls->sockaddr,
                                         ls->socklen)) {
            continue;
        }
        in->adopted = true;
        ls->fd = in->fd;
        ls->inherited = 1;
        ls->remain = 1;
        return true;
    }
    return false;
}

static bw_rc_t
bw_listening_setsockopt(bw_log_t *log, bw_listening_t *ls, int level, int name, int value,
                        const char *what)
{
    if (setsockopt(ls->fd, level, name, &value, sizeof(value)) == -1) {
        bw_log_error(BW_LOG_EMERG, log, errno, "setsockopt(%s) %.*s failed", what,
                     BW_STR_ARG(ls->addr_text));
        return BW_ERROR;
    }
    return BW_OK;
}

/*
 * Opens, binds and listens on a new socket. BW_OK; BW_AGAIN when the address
 * is in use (the caller retries); BW_ERROR for anything else. Logged.
 */
static bw_rc_t
bw_listening_open_one(bw_cycle_t *cycle, bw_listening_t *ls)
{
    bw_log_t *log = bw_listening_log(cycle);
    int family = ls->sockaddr.sa.sa_family;

    ls->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ls->fd == -1) {
        bw_log_error(BW_LOG_EMERG, log, errno, "socket() %.*s failed", BW_STR_ARG(ls->addr_text));
        return BW_ERROR;
    }
    if (bw_listening_setsockopt(log, ls, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR") != BW_OK
        || (ls->reuseport
            && bw_listening_setsockopt(log, ls, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT")
                   != BW_OK)) {
        goto failed;
    }
    /* As nginx: a refused IPV6_V6ONLY is reported and the bind goes ahead. */
    if (family == AF_INET6) {
        (void) bw_listening_setsockopt(log, ls, IPPROTO_IPV6, IPV6_V6ONLY, ls->ipv6only,
                                       "IPV6_V6ONLY");
    }
    if (bind(ls->fd, &ls->sockaddr.sa, ls->socklen) == -1) {
        int err = errno;
        bw_log_error(BW_LOG_EMERG, log, err, "bind() to %.*s failed", BW_STR_ARG(ls->addr_text));
        close(ls->fd);
        ls->fd = -1;
        return err == EADDRINUSE ? BW_AGAIN : BW_ERROR;
    }
    if (family == AF_UNIX && chmod(ls->sockaddr.sun.sun_path, 0666) == -1) {
        bw_log_error(BW_LOG_EMERG, log, errno, "chmod() \"%s\" failed", ls->sockaddr.sun.sun_path);
        unlink(ls->sockaddr.sun.sun_path);
        goto failed;
    }
    if (listen(ls->fd, ls->backlog) == -1) {
        int err = errno;
        bw_log_error(BW_LOG_EMERG, log, err, "listen() to %.*s, backlog %d failed",
                     BW_STR_ARG(ls->addr_text), ls->backlog);
        close(ls->fd);
        ls->fd = -1;
        return err == EADDRINUSE ? BW_AGAIN : BW_ERROR;
    }
    return BW_OK;

failed:
    close(ls->fd);
    ls->fd = -1;
    return BW_ERROR;
}

/* Sets one optional socket option; a refusal is logged at crit and ignored. */
static void
bw_listening_option(bw_log_t *log, bw_listening_t *ls, int level, int name, int value,
                    const char *what)
{
    if (setsockopt(ls->fd, level, name, &value, sizeof(value)) == -1) {
        bw_log_error(BW_LOG_CRIT, log, errno, "setsockopt(%s, %d) %.*s failed, ignored", what,
                     value, BW_STR_ARG(ls->addr_text));
    }
}

/* Applies the per-address options, to new and taken-over sockets alike. */
static void
bw_listening_configure(bw_cycle_t *cycle, bw_listening_t *ls)
{
    bw_log_t *log = bw_listening_log(cycle);
    bool tcp = ls->sockaddr.sa.sa_family != AF_UNIX;

    if (ls->rcvbuf != -1) {
        bw_listening_option(log, ls, SOL_SOCKET, SO_RCVBUF, ls->rcvbuf, "SO_RCVBUF");
    }
    if (ls->sndbuf != -1) {
        bw_listening_option(log, ls, SOL_SOCKET, SO_SNDBUF, ls->sndbuf, "SO_SNDBUF");
    }
    if (ls->so_keepalive) {
        bw_listening_option(log, ls, SOL_SOCKET, SO_KEEPALIVE, ls->so_keepalive == 1,
                            "SO_KEEPALIVE");
    }
    if (tcp && ls->keepidle) {
        bw_listening_option(log, ls, IPPROTO_TCP, TCP_KEEPIDLE, ls->keepidle, "TCP_KEEPIDLE");
    }
    if (tcp && ls->keepintvl) {
        bw_listening_option(log, ls, IPPROTO_TCP, TCP_KEEPINTVL, ls->keepintvl, "TCP_KEEPINTVL");
    }
    if (tcp && ls->keepcnt) {
        bw_listening_option(log, ls, IPPROTO_TCP, TCP_KEEPCNT, ls->keepcnt, "TCP_KEEPCNT");
    }
    if (tcp && ls->fastopen != -1) {
        bw_listening_option(log, ls, IPPROTO_TCP, TCP_FASTOPEN, ls->fastopen, "TCP_FASTOPEN");
    }
    /* Always set: 0 clears a deferred accept a taken-over socket still has. */
    if (tcp) {
        bw_listening_option(log, ls, IPPROTO_TCP, TCP_DEFER_ACCEPT, ls->deferred_accept,
                            "TCP_DEFER_ACCEPT");
    }
    /* listen() again on a socket already listening changes its backlog. */
    if (ls->remain && listen(ls->fd, ls->backlog) == -1) {
        bw_log_error(BW_LOG_CRIT, log, errno, "listen() to %.*s, backlog %d failed, ignored",
                     BW_STR_ARG(ls->addr_text), ls->backlog);
    }
    ls->open = 1;
}

/* Closes inherited sockets that no entry adopted, and forgets the table. */
static void
bw_listening_inherited_release(void)
{
    for (size_t i = 0; i < bw_listening_inherited_n; i++) {
        if (!bw_listening_inherited[i].adopted) {
            close(bw_listening_inherited[i].fd);
        }
    }
    free(bw_listening_inherited);
    bw_listening_inherited = NULL;
    bw_listening_inherited_n = 0;
}

/* One pass over the entries still closed; *busy set when an address was in use. */
static bw_rc_t
bw_listening_open_pass(bw_cycle_t *cycle, bool *busy)
{
    *busy = false;
    for (size_t i = 0; i < cycle->listening.nelts; i++) {
        bw_listening_t *ls = &bw_array_at(&cycle->listening, bw_listening_t, i);
        if (ls->fd != -1 || bw_listening_adopt(cycle, ls)) {
            continue;
        }
        bw_rc_t rc = bw_listening_open_one(cycle, ls);
        if (rc == BW_AGAIN) {
            *busy = true;
        } else if (rc != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

bw_rc_t
bw_listening_open(bw_cycle_t *cycle)
{
    bw_log_t *log = bw_listening_log(cycle);
    bool busy = false;

    if (cycle->listening.elts == NULL || cycle->listening.nelts == 0) {
        return BW_OK;
    }
    if (bw_listening_clone(cycle) != BW_OK) {
        return BW_ERROR;
    }
    for (int tries = BW_LISTENING_BIND_TRIES; tries > 0; tries--) {
        if (bw_listening_open_pass(cycle, &busy) != BW_OK) {
            goto failed;
        }
        if (!busy) {
            break;
        }
        if (tries > 1) {
            bw_log_error(BW_LOG_NOTICE, log, 0, "try again to bind() after %ldms",
                         (long) bw_listening_bind_delay);
            usleep((useconds_t) bw_listening_bind_delay * 1000);
        }
    }
    if (busy) {
        bw_log_error(BW_LOG_EMERG, log, 0, "still could not bind()");
        goto failed;
    }
    for (size_t i = 0; i < cycle->listening.nelts; i++) {
        bw_listening_configure(cycle, &bw_array_at(&cycle->listening, bw_listening_t, i));
    }
    bw_listening_inherited_release();
    return BW_OK;

failed:
    bw_listening_close_new(cycle);
    return BW_ERROR;
}

/* Removes a unix-domain listener's socket file, unless another binary uses it. */
static void
bw_listening_unlink(bw_cycle_t *cycle, const bw_listening_t *ls)
{
    if (ls->sockaddr.sa.sa_family != AF_UNIX || bw_listening_exec_prepared) {
        return;
    }
    /* The old master that exec'd us still serves on the same file. */
    if (ls->inherited && getppid() == bw_listening_parent) {
        return;
    }
    if (unlink(ls->sockaddr.sun.sun_path) == -1 && errno != ENOENT) {
        bw_log_error(BW_LOG_CRIT, bw_listening_log(cycle), errno, "unlink() \"%s\" failed",
                     ls->sockaddr.sun.sun_path);
    }
}

void
bw_listening_close_new(bw_cycle_t *cycle)
{
    bw_listening_t *ls = cycle->listening.elts;
    for (size_t i = 0; ls && i < cycle->listening.nelts; i++) {
        if (ls[i].fd != -1 && !ls[i].remain) {
            close(ls[i].fd);
            if (ls[i].sockaddr.sa.sa_family == AF_UNIX) {
                unlink(ls[i].sockaddr.sun.sun_path);
            }
        }
        /* Taken-over sockets stay open: they belong to the old cycle or the
         * inherited table again. */
        ls[i].fd = -1;
        ls[i].open = 0;
        ls[i].remain = 0;
    }
    for (size_t i = 0; i < bw_listening_inherited_n; i++) {
        bw_listening_inherited[i].adopted = false;
    }
}

void
bw_listening_close_unused(bw_cycle_t *old, bw_cycle_t *cycle)
{
    bw_listening_t *ols = old->listening.elts;
    for (size_t i = 0; ols && i < old->listening.nelts; i++) {
        if (ols[i].fd == -1 || bw_listening_fd_taken(cycle, NULL, ols[i].fd)) {
            continue;
        }
        close(ols[i].fd);
        bw_listening_unlink(old, &ols[i]);
        ols[i].fd = -1;
    }
}

void
bw_listening_close_all(bw_cycle_t *cycle)
{
    bw_listening_t *ls = cycle->listening.elts;
    for (size_t i = 0; ls && i < cycle->listening.nelts; i++) {
        if (ls[i].fd == -1) {
            continue;
        }
        if (close(ls[i].fd) == -1) {
            bw_log_error(BW_LOG_CRIT, bw_listening_log(cycle), errno, "close() socket %.*s failed",
                         BW_STR_ARG(ls[i].addr_text));
        }
        bw_listening_unlink(cycle, &ls[i]);
        ls[i].fd = -1;
        ls[i].open = 0;
    }
}

const char *
bw_listening_env(bw_cycle_t *cycle)
{
    bw_listening_t *ls = cycle->listening.elts;
    size_t n = cycle->listening.nelts;
    /* "BULWARK=" + up to 11 digits and ';' per socket + NUL */
    char *env = bw_pnalloc(cycle->pool, sizeof(BW_LISTENING_ENV "=") + n * 12);
    if (env == NULL) {
        return NULL;
    }
    char *p = env + sprintf(env, "%s=", BW_LISTENING_ENV);
    for (size_t i = 0; ls && i < n; i++) {
        if (ls[i].fd != -1) {
            p += sprintf(p, "%d;", ls[i].fd);
        }
    }
    return env;
}

void
bw_listening_prepare_exec(bw_cycle_t *cycle)
{
    bw_listening_t *ls = cycle->listening.elts;
    for (size_t i = 0; ls && i < cycle->listening.nelts; i++) {
        if (ls[i].fd == -1) {
            continue;
        }
        int flags = fcntl(ls[i].fd, F_GETFD);
        if (flags == -1 || fcntl(ls[i].fd, F_SETFD, flags & ~FD_CLOEXEC) == -1) {
            bw_log_error(BW_LOG_CRIT, bw_listening_log(cycle), errno,
                         "fcntl(FD_CLOEXEC) on %.*s failed", BW_STR_ARG(ls[i].addr_text));
        }
    }
    bw_listening_exec_prepared = true;
}

/* Records one inherited descriptor; false on no memory. Unusable ones are skipped. */
static bool
bw_listening_inherit_one(bw_log_t *log, int fd)
{
    bw_listening_inherited_t in = {.fd = fd};
    in.socklen = sizeof(in.sockaddr);
    if (getsockname(fd, &in.sockaddr.sa, &in.socklen) == -1) {
        bw_log_error(BW_LOG_CRIT, log, errno, "getsockname() of the inherited socket #%d failed",
                     fd);
        return true;
    }
    int on = 0;
    socklen_t olen = sizeof(on);
    if (getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &olen) == 0) {
        in.reuseport = on != 0;
    }
    bw_listening_inherited_t *t = realloc(bw_listening_inherited,
                                          (bw_listening_inherited_n + 1) * sizeof(*t));
    if (t == NULL) {
        return false;
    }
    bw_listening_inherited = t;
    t[bw_listening_inherited_n++] = in;
    /* The socket must not leak into anything we exec later unless asked. */
    int flags = fcntl(fd, F_GETFD);
    if (flags != -1) {
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    return true;
}

bw_rc_t
bw_listening_inherit(bw_cycle_t *cycle)
{
    bw_log_t *log = bw_listening_log(cycle);
    const char *env = getenv(BW_LISTENING_ENV);

    if (env == NULL) {
        return BW_OK;
    }
    bw_log_error(BW_LOG_NOTICE, log, 0, "using inherited sockets from \"%s\"", env);
    bw_listening_parent = getppid();

    const char *p = env, *start = env;
    for (; *p; p++) {
        if (*p != ';' && *p != ':') {
            continue;
        }
        int64_t fd = bw_atoi((const u_char *) start, (size_t) (p - start));
        if (fd < 0 || fd > INT32_MAX) {
            bw_log_error(BW_LOG_EMERG, log, 0, "invalid socket number \"%s\" in "
                         BW_LISTENING_ENV " environment variable, ignoring the rest of the "
                         "variable", start);
            break;
        }
        if (!bw_listening_inherit_one(log, (int) fd)) {
            return BW_ERROR;
        }
        start = p + 1;
    }
    /* Trailing text without its ';' is a malformed number too. */
    if (*p == '\0' && start < p) {
        bw_log_error(BW_LOG_EMERG, log, 0, "invalid socket number \"%s\" in " BW_LISTENING_ENV
                     " environment variable, ignoring the rest of the variable", start);
    }
    return BW_OK;
}

bw_rc_t
bw_listening_worker_start(bw_cycle_t *cycle, int slot)
{
    int me = slot < 0 ? 0 : slot;
    bw_listening_t *ls = cycle->listening.elts;

    for (size_t i = 0; ls && i < cycle->listening.nelts; i++) {
        if (ls[i].fd == -1) {
            continue;
        }
        if (ls[i].reuseport && ls[i].worker != me) {
            /* Another worker's clone: this process never accepts on it. */
            close(ls[i].fd);
            ls[i].fd = -1;
            continue;
        }
        bw_connection_t *c = bw_connection_get(cycle, ls[i].fd, bw_listening_log(cycle));
        if (c == NULL) {
            return BW_ERROR;
        }
        c->listening = &ls[i];
        c->shared = 1;
        c->read->accept = 1;
        c->read->cancelable = 1;
        c->read->handler = bw_event_accept;
        ls[i].connection = c;
        if (bw_event_listen_add(c, !ls[i].reuseport) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

void
bw_listening_worker_stop(bw_cycle_t *cycle)
{
    bw_listening_t *ls = cycle->listening.elts;
    for (size_t i = 0; ls && i < cycle->listening.nelts; i++) {
        bw_connection_t *c = ls[i].connection;
        if (c == NULL) {
            continue;
        }
        ls[i].connection = NULL;
        ls[i].fd = -1;
        bw_connection_close(c);
    }
}
