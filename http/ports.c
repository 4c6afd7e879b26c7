/*
 * ports.c -- listen addresses: which servers listen on each address:port,
 * their default server and name tables, the listening sockets that serve
 * them, and the run-time choice of the virtual server for a request.
 *
 * As nginx does, a port with a wildcard address (*:80) gets one socket
 * bound to the wildcard, which also serves the specific addresses of that
 * port that do not ask for their own socket (`bind` or any socket option);
 * such a socket's connections find their address with getsockname().
 */
#include "core_internal.h"

#include "listen.h"
#include "pool.h"
#include "server_name.h"
#include "variables.h"

#include <netinet/in.h>

typedef struct {
    bw_http_listen_opt_t     opt;
    bw_array_t               servers;        /* bw_http_core_srv_conf_t * */
    bw_http_core_srv_conf_t *default_server;
    bw_http_addr_conf_t      conf;           /* built by bw_http_ports_init */
} bw_http_conf_addr_t;

typedef struct {
    int        family;
    in_port_t  port;
    bw_array_t addrs;                        /* bw_http_conf_addr_t */
} bw_http_conf_port_t;

/* What a listening socket's `servers` points at. */
typedef struct {
    bw_sockaddr_t        sockaddr;
    bw_http_addr_conf_t *conf;
} bw_http_in_addr_t;

typedef struct {
    size_t             naddrs; /* > 1: a wildcard socket serving specific addresses too */
    bw_http_in_addr_t *addrs;  /* the wildcard, when there is one, is last */
} bw_http_port_t;

static in_port_t
bw_http_ports_port(const bw_sockaddr_t *sa)
{
    return ntohs(sa->sa.sa_family == AF_INET6 ? sa->sin6.sin6_port : sa->sin.sin_port);
}

/* Same address (the port is compared by the caller). */
static bool
bw_http_ports_addr_eq(const bw_sockaddr_t *a, const bw_sockaddr_t *b)
{
    if (a->sa.sa_family != b->sa.sa_family) {
        return false;
    }
    if (a->sa.sa_family == AF_INET6) {
        return memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, sizeof(struct in6_addr)) == 0;
    }
    return a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
}

static bw_http_conf_port_t *
bw_http_ports_find_port(bw_conf_t *cf, bw_http_core_main_conf_t *cmcf, const bw_sockaddr_t *sa)
{
    if (cmcf->ports == NULL) {
        cmcf->ports = bw_array_create(cf->pool, 2, sizeof(bw_http_conf_port_t));
        if (cmcf->ports == NULL) {
            return NULL;
        }
    }
    bw_array_t          *ports = cmcf->ports;
    bw_http_conf_port_t *port = ports->elts;
    in_port_t            p = bw_http_ports_port(sa);

    for (size_t i = 0; i < ports->nelts; i++) {
        if (port[i].family == sa->sa.sa_family && port[i].port == p) {
            return &port[i];
        }
    }
    bw_http_conf_port_t *np = bw_array_push(ports);
    if (np == NULL
        || bw_array_init(&np->addrs, cf->pool, 2, sizeof(bw_http_conf_addr_t)) != BW_OK) {
        return NULL;
    }
    np->family = sa->sa.sa_family;
    np->port = p;
    return np;
}

static bw_rc_t
bw_http_ports_new_addr(bw_conf_t *cf, bw_http_conf_port_t *port, bw_http_core_srv_conf_t *cscf,
                       const bw_http_listen_opt_t *opt)
{
    bw_http_conf_addr_t *addr = bw_array_push(&port->addrs);

    if (addr == NULL) {
        return BW_ERROR;
    }
    memset(addr, 0, sizeof(*addr));
    addr->opt = *opt;
    addr->default_server = cscf;
    if (bw_array_init(&addr->servers, cf->pool, 4, sizeof(bw_http_core_srv_conf_t *)) != BW_OK) {
        return BW_ERROR;
    }
    bw_http_core_srv_conf_t **slot = bw_array_push(&addr->servers);
    if (slot == NULL) {
        return BW_ERROR;
    }
    *slot = cscf;
    return BW_OK;
}

/* Another server on a known address: nginx's checks, then merged flags. */
static bw_rc_t
bw_http_ports_join_addr(bw_conf_t *cf, bw_http_conf_addr_t *addr, bw_http_core_srv_conf_t *cscf,
                        const bw_http_listen_opt_t *opt)
{
    bw_http_core_srv_conf_t **server = addr->servers.elts;

    for (size_t i = 0; i < addr->servers.nelts; i++) {
        if (server[i] == cscf) {
            bw_conf_error(cf, "a duplicate listen %.*s", BW_STR_ARG(addr->opt.addr_text));
            return BW_ERROR;
        }
    }
    bw_http_core_srv_conf_t **slot = bw_array_push(&addr->servers);
    if (slot == NULL) {
        return BW_ERROR;
    }
    *slot = cscf;

    bool default_server = addr->opt.default_server;
    bool ssl = opt->ssl || addr->opt.ssl;
    bool http2 = opt->http2 || addr->opt.http2;
    bool proxy_protocol = opt->proxy_protocol || addr->opt.proxy_protocol;

    if (opt->set) {
        if (addr->opt.set) {
            bw_conf_error(cf, "duplicate listen options for %.*s",
                          BW_STR_ARG(addr->opt.addr_text));
            return BW_ERROR;
        }
        addr->opt = *opt;
    }
    if (opt->default_server) {
        if (default_server) {
            bw_conf_error(cf, "a duplicate default server for %.*s",
                          BW_STR_ARG(addr->opt.addr_text));
            return BW_ERROR;
        }
        default_server = true;
        addr->default_server = cscf;
    }
    addr->opt.default_server = default_server;
    addr->opt.ssl = ssl;
    addr->opt.http2 = http2;
    addr->opt.proxy_protocol = proxy_protocol;
    return BW_OK;
}

bw_rc_t
bw_http_ports_add(bw_conf_t *cf, bw_http_core_main_conf_t *cmcf, bw_http_core_srv_conf_t *cscf,
                  const bw_http_listen_opt_t *opt)
{
    const bw_sockaddr_t *sa = (const bw_sockaddr_t *) &opt->sockaddr;
    bw_http_conf_port_t *port = bw_http_ports_find_port(cf, cmcf, sa);

    if (port == NULL) {
        return BW_ERROR;
    }
    bw_http_conf_addr_t *addr = port->addrs.elts;
    for (size_t i = 0; i < port->addrs.nelts; i++) {
        if (bw_http_ports_addr_eq((const bw_sockaddr_t *) &addr[i].opt.sockaddr, sa)) {
            return bw_http_ports_join_addr(cf, &addr[i], cscf, opt);
        }
    }
    return bw_http_ports_new_addr(cf, port, cscf, opt);
}

/* ---- after parsing: names and sockets ---- */

/* nginx order: addresses with their own socket first, the wildcard last (stable). */
static int
bw_http_ports_addr_rank(const bw_http_conf_addr_t *a)
{
    return a->opt.wildcard ? 2 : (a->opt.bind ? 0 : 1);
}

static void
bw_http_ports_sort(bw_http_conf_port_t *port)
{
    bw_http_conf_addr_t *a = port->addrs.elts;

    for (size_t i = 1; i < port->addrs.nelts; i++) {
        bw_http_conf_addr_t tmp = a[i];
        size_t              j = i;
        while (j > 0 && bw_http_ports_addr_rank(&a[j - 1]) > bw_http_ports_addr_rank(&tmp)) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = tmp;
    }
}

/* Reports as nginx does for names: no "in file:line" (the address is named). */
static void
bw_http_ports_log(bw_conf_t *cf, unsigned level, const bw_http_server_name_t *sn,
                  const bw_http_conf_addr_t *addr)
{
    bw_conf_file_t *file = cf->file;

    cf->file = NULL;
    bw_conf_log(cf, level, 0,
                level == BW_LOG_WARN ? "conflicting server name \"%.*s\" on %.*s, ignored"
                                     : "invalid server name or wildcard \"%.*s\" on %.*s",
                BW_STR_ARG(sn->name), BW_STR_ARG(addr->opt.addr_text));
    cf->file = file;
}

/* Builds the names of one address (only needed when a choice exists). */
static bw_rc_t
bw_http_ports_names(bw_conf_t *cf, bw_http_conf_addr_t *addr)
{
    addr->conf.default_server = addr->default_server;
    addr->conf.opt = &addr->opt;
    if (addr->servers.nelts == 1 && !addr->default_server->captures) {
        return BW_OK;
    }
    bw_http_server_names_t *names = bw_http_server_names_create(cf->pool);
    if (names == NULL) {
        return BW_ERROR;
    }
    bw_http_core_srv_conf_t **server = addr->servers.elts;
    for (size_t s = 0; s < addr->servers.nelts; s++) {
        bw_http_server_name_t *sn = server[s]->server_names.elts;
        for (size_t n = 0; n < server[s]->server_names.nelts; n++) {
            bw_rc_t rc = bw_http_server_names_add(names, &sn[n]);
            if (rc == BW_BUSY) {
                bw_http_ports_log(cf, BW_LOG_WARN, &sn[n], addr);
            } else if (rc == BW_DECLINED) {
                bw_http_ports_log(cf, BW_LOG_EMERG, &sn[n], addr);
                return BW_ERROR;
            } else if (rc != BW_OK) {
                return BW_ERROR;
            }
        }
    }
    addr->conf.names = names;
    return BW_OK;
}

/* Declares the socket of addr, serving addrs[0..n-1] (addr is the last of them). */
static bw_rc_t
bw_http_ports_listening(bw_conf_t *cf, bw_http_conf_addr_t *addrs, size_t n)
{
    bw_http_conf_addr_t  *addr = &addrs[n - 1];
    bw_http_listen_opt_t *opt = &addr->opt;
    bw_http_port_t       *hport = bw_pcalloc(cf->pool, sizeof(bw_http_port_t));

    if (hport == NULL) {
        return BW_ERROR;
    }
    hport->naddrs = n;
    hport->addrs = bw_pcalloc(cf->pool, n * sizeof(bw_http_in_addr_t));
    if (hport->addrs == NULL) {
        return BW_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(&hport->addrs[i].sockaddr, &addrs[i].opt.sockaddr, addrs[i].opt.socklen);
        hport->addrs[i].conf = &addrs[i].conf;
    }
    bw_listening_t *ls = bw_listening_add(cf->cycle, (struct sockaddr *) &opt->sockaddr,
                                          opt->socklen);
    if (ls == NULL) {
        bw_conf_error(cf, "no memory for the listening socket %.*s",
                      BW_STR_ARG(opt->addr_text));
        return BW_ERROR;
    }
    ls->handler = bw_http_init_connection;
    ls->servers = hport;
    ls->pool_size = addr->default_server->connection_pool_size;
    if (opt->backlog > 0) {
        ls->backlog = opt->backlog;
    }
    ls->rcvbuf = opt->rcvbuf;
    ls->sndbuf = opt->sndbuf;
    ls->fastopen = opt->fastopen;
    ls->deferred_accept = opt->deferred ? 1 : 0;
    ls->so_keepalive = opt->so_keepalive < 0 ? 0 : (opt->so_keepalive ? 1 : 2);
    ls->keepidle = opt->keepidle;
    ls->keepintvl = opt->keepintvl;
    ls->keepcnt = opt->keepcnt;
    ls->reuseport = opt->reuseport;
    ls->ipv6only = opt->ipv6only != 0;
    ls->wildcard = opt->wildcard;
    return BW_OK;
}

/* The sockets of one port (see the file comment). */
static bw_rc_t
bw_http_ports_port_init(bw_conf_t *cf, bw_http_conf_port_t *port)
{
    bw_http_conf_addr_t *addr = port->addrs.elts;
    size_t               last = port->addrs.nelts;

    bw_http_ports_sort(port);
    for (size_t i = 0; i < last; i++) {
        if (bw_http_ports_names(cf, &addr[i]) != BW_OK) {
            return BW_ERROR;
        }
    }
    bool bind_wildcard = addr[last - 1].opt.wildcard;
    if (bind_wildcard) {
        addr[last - 1].opt.bind = true;
    }
    /* Each bound address gets its own socket; the unbound ones ride along
     * with the wildcard, which comes last and takes all of them. */
    size_t start = 0;
    for (size_t i = 0; i < last; i++) {
        if (bind_wildcard && !addr[i].opt.bind) {
            continue;
        }
        size_t from = addr[i].opt.wildcard ? start : i;
        if (bw_http_ports_listening(cf, &addr[from], i - from + 1) != BW_OK) {
            return BW_ERROR;
        }
        if (!addr[i].opt.wildcard) {
            start = i + 1;
        }
    }
    return BW_OK;
}

bw_rc_t
bw_http_ports_init(bw_conf_t *cf, bw_http_core_main_conf_t *cmcf)
{
    bw_array_t *ports = cmcf->ports;

    if (ports == NULL) {
        return BW_OK;
    }
    bw_http_conf_port_t *port = ports->elts;
    for (size_t p = 0; p < ports->nelts; p++) {
        if (bw_http_ports_port_init(cf, &port[p]) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/* ---- run time ---- */

bw_http_addr_conf_t *
bw_http_connection_addr_conf(bw_connection_t *c)
{
    bw_http_port_t *hport = c->listening->servers;

    if (hport->naddrs == 1) {
        return hport->addrs[0].conf;
    }
    if (bw_connection_local_sockaddr(c) != BW_OK) {
        return NULL;
    }
    const bw_sockaddr_t *local = (const bw_sockaddr_t *) c->local_sockaddr;
    size_t               i = 0;
    while (i < hport->naddrs - 1 && !bw_http_ports_addr_eq(&hport->addrs[i].sockaddr, local)) {
        i++;
    }
    return hport->addrs[i].conf;
}

static bw_rc_t
bw_http_ports_regex_match(void *data, const bw_http_server_name_t *sn, const bw_str_t *host)
{
    return bw_regex_exec_request(data, sn->regex, host);
}

bw_rc_t
bw_http_find_virtual_server(bw_http_request_t *r, const bw_str_t *host)
{
    bw_http_addr_conf_t *ac = bw_http_connection_addr_conf(r->connection);

    if (ac == NULL) {
        return BW_ERROR;
    }
    bw_http_core_srv_conf_t *cscf = ac->default_server;
    if (ac->names && host) {
        bw_http_core_srv_conf_t *found = NULL;
        bw_rc_t rc = bw_http_server_names_find(ac->names, host, bw_http_ports_regex_match, r,
                                               &found, NULL);
        if (rc == BW_ERROR) {
            return BW_ERROR;
        }
        if (rc == BW_OK) {
            cscf = found;
        }
    }
    r->main_conf = cscf->ctx->main_conf;
    r->srv_conf = cscf->ctx->srv_conf;
    r->loc_conf = cscf->ctx->loc_conf;
    r->server_name = &cscf->server_name;
    return BW_OK;
}
