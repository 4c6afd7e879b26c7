/*
 * upstream.c -- the upstream module: upstream{} groups and their `server`
 * lines, the implicit groups of `proxy_pass host:port`, and the request
 * machinery that connects to a peer, sends the request, reads the response
 * head, relays the body to the client and moves to the next peer on
 * failure (proxy_next_upstream). The $upstream_* variables live here too.
 *
 * The module that drives an upstream (proxy) builds the request bytes and
 * parses the response head; everything about connections, timeouts, peers
 * and body framing (Content-Length, chunked, close-delimited) is here.
 *
 * A 101 answer to a request that asked for an Upgrade (WebSocket) turns
 * both connections into a byte tunnel until either side closes.
 *
 * Sections: configuration (addresses, groups, directives, merge helpers),
 * request time (connect, send, head, next, relay, tunnel, finalize),
 * variables.
 */
#include "upstream.h"

#include "clock.h"
#include "cycle.h"
#include "io.h"
#include "pool.h"
#include "upstream_rr.h"
#include "variables.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BW_HTTP_CLIENT_CLOSED_REQUEST 499
#define BW_HTTP_REQUEST_TIME_OUT      408

static const char *bw_upstream_block(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_upstream_server(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static void *bw_upstream_create_main(bw_conf_t *cf);
static const char *bw_upstream_init_main(bw_conf_t *cf, void *conf);
static bw_rc_t bw_upstream_add_variables(bw_conf_t *cf);

static const bw_directive_t bw_upstream_directives[] = {
    {"upstream", BW_CTX_HTTP, BW_ARGS_BLOCK | BW_ARGS_TAKE1, BW_CONF_NONE, bw_upstream_block, 0,
     NULL},
    {"server", BW_CTX_UPS, BW_ARGS_1MORE, BW_CONF_SRV, bw_upstream_server, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_upstream_module_ctx = {
    .preconfiguration = bw_upstream_add_variables,
    .create_main = bw_upstream_create_main,
    .init_main = bw_upstream_init_main,
};

bw_module_t bw_upstream_module = {
    .name = "upstream",
    .type = BW_MODULE_HTTP,
    .directives = bw_upstream_directives,
    .ctx = &bw_upstream_module_ctx,
};

const bw_conf_enum_t bw_upstream_next_upstream_masks[] = {
    {"error", BW_UPSTREAM_FT_ERROR},
    {"timeout", BW_UPSTREAM_FT_TIMEOUT},
    {"invalid_header", BW_UPSTREAM_FT_INVALID_HEADER},
    {"non_idempotent", BW_UPSTREAM_FT_NON_IDEMPOTENT},
    {"http_500", BW_UPSTREAM_FT_HTTP_500},
    {"http_502", BW_UPSTREAM_FT_HTTP_502},
    {"http_503", BW_UPSTREAM_FT_HTTP_503},
    {"http_504", BW_UPSTREAM_FT_HTTP_504},
    {"http_403", BW_UPSTREAM_FT_HTTP_403},
    {"http_404", BW_UPSTREAM_FT_HTTP_404},
    {"http_429", BW_UPSTREAM_FT_HTTP_429},
    {"updating", BW_UPSTREAM_FT_UPDATING},
    {"off", BW_UPSTREAM_FT_OFF},
    {NULL, 0},
};

/* ================================================================ */
/* configuration: addresses                                          */
/* ================================================================ */

/* "127.0.0.1:80" / "[::1]:80" / "unix:/path" for an address, in pool memory. */
static bw_rc_t
bw_upstream_addr_name(bw_pool_t *pool, bw_upstream_addr_t *a)
{
    u_char buf[BW_SOCKADDR_STRLEN + 8];
    size_t n = bw_sockaddr_text(a->sockaddr, a->socklen, buf, sizeof(buf), true);

    a->name.data = bw_pnalloc(pool, n + 1);
    if (a->name.data == NULL) {
        return BW_ERROR;
    }
    memcpy(a->name.data, buf, n);
    a->name.data[n] = '\0';
    a->name.len = n;
    return BW_OK;
}

/* Appends one address (copied) to u->addrs. */
static bw_rc_t
bw_upstream_url_add_addr(bw_pool_t *pool, bw_upstream_url_t *u, const struct sockaddr *sa,
                         socklen_t len, size_t max)
{
    if (u->addrs == NULL) {
        u->addrs = bw_pcalloc(pool, max * sizeof(bw_upstream_addr_t));
        if (u->addrs == NULL) {
            return BW_ERROR;
        }
    }
    if (u->naddrs >= max) {
        return BW_OK;
    }
    bw_upstream_addr_t *a = &u->addrs[u->naddrs];
    a->sockaddr = bw_palloc(pool, len);
    if (a->sockaddr == NULL) {
        return BW_ERROR;
    }
    memcpy(a->sockaddr, sa, len);
    a->socklen = len;
    if (bw_upstream_addr_name(pool, a) != BW_OK) {
        return BW_ERROR;
    }
    u->naddrs++;
    return BW_OK;
}

/* An IPv4 or bracketed IPv6 literal host: its address; BW_DECLINED for a name. */
static bw_rc_t
bw_upstream_url_literal(bw_pool_t *pool, bw_upstream_url_t *u)
{
    char                host[INET6_ADDRSTRLEN + 2];
    struct sockaddr_in  sin;
    struct sockaddr_in6 sin6;

    if (u->host.len == 0 || u->host.len >= sizeof(host)) {
        return BW_DECLINED;
    }
    if (u->host.data[0] == '[') {
        memcpy(host, u->host.data + 1, u->host.len - 2);
        host[u->host.len - 2] = '\0';
        memset(&sin6, 0, sizeof(sin6));
        if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1) {
            u->err = "invalid IPv6 address";
            return BW_ERROR;
        }
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(u->port);
        return bw_upstream_url_add_addr(pool, u, (struct sockaddr *) &sin6, sizeof(sin6), 1);
    }
    memcpy(host, u->host.data, u->host.len);
    host[u->host.len] = '\0';
    memset(&sin, 0, sizeof(sin));
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        return BW_DECLINED;
    }
    sin.sin_family = AF_INET;
    sin.sin_port = htons(u->port);
    return bw_upstream_url_add_addr(pool, u, (struct sockaddr *) &sin, sizeof(sin), 1);
}

/* "unix:/path[:/uri]" */
static bw_rc_t
bw_upstream_url_parse_unix(bw_pool_t *pool, bw_upstream_url_t *u, bool allow_uri)
{
    u_char *p = u->url.data + 5, *last = u->url.data + u->url.len;
    u_char *colon = memchr(p, ':', (size_t) (last - p));
    struct sockaddr_un sun;

    if (colon != NULL && allow_uri) {
        u->uri.data = colon + 1;
        u->uri.len = (size_t) (last - colon - 1);
        last = colon;
    }
    size_t len = (size_t) (last - p);
    if (len == 0) {
        u->err = "no path in the unix domain socket";
        return BW_ERROR;
    }
    if (len >= sizeof(sun.sun_path)) {
        u->err = "too long path in the unix domain socket";
        return BW_ERROR;
    }
    u->unix_path = true;
    u->no_port = true;
    u->host.data = u->url.data;
    u->host.len = (size_t) (last - u->url.data);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, p, len);
    return bw_upstream_url_add_addr(pool, u, (struct sockaddr *) &sun, sizeof(sun), 1);
}

/* Splits [p, last) into host and port: "host", "host:port", "[v6]", "[v6]:port". */
static bw_rc_t
bw_upstream_url_split_host(bw_upstream_url_t *u, u_char *p, u_char *last)
{
    u_char *port = NULL;

    if (p < last && *p == '[') {
        u_char *rb = memchr(p, ']', (size_t) (last - p));
        if (rb == NULL) {
            u->err = "invalid IPv6 address";
            return BW_ERROR;
        }
        if (rb + 1 < last) {
            if (rb[1] != ':') {
                u->err = "invalid host";
                return BW_ERROR;
            }
            port = rb + 2;
        }
        u->host.data = p;
        u->host.len = (size_t) (rb + 1 - p);
    } else {
        u_char *colon = memchr(p, ':', (size_t) (last - p));
        u->host.data = p;
        u->host.len = (size_t) ((colon ? colon : last) - p);
        port = colon ? colon + 1 : NULL;
    }

    if (port == NULL) {
        u->no_port = true;
        u->port = u->default_port;
        return BW_OK;
    }
    int64_t n = bw_atoi(port, (size_t) (last - port));
    if (n < 1 || n > 65535) {
        u->err = "invalid port";
        return BW_ERROR;
    }
    u->port_text.data = port;
    u->port_text.len = (size_t) (last - port);
    u->port = (in_port_t) n;
    return BW_OK;
}

bw_rc_t
bw_upstream_url_parse(bw_pool_t *pool, bw_upstream_url_t *u, bool allow_uri)
{
    u_char *p = u->url.data, *last = u->url.data + u->url.len;

    u->err = NULL;
    if (u->url.len >= 5 && bw_strncasecmp(p, (u_char *) "unix:", 5) == 0) {
        return bw_upstream_url_parse_unix(pool, u, allow_uri);
    }

    u_char *slash = memchr(p, '/', (size_t) (last - p));
    if (slash != NULL) {
        if (!allow_uri) {
            u->err = "invalid host";
            return BW_ERROR;
        }
        u->uri.data = slash;
        u->uri.len = (size_t) (last - slash);
        last = slash;
    }
    if (p == last) {
        u->err = "no host";
        return BW_ERROR;
    }
    if (bw_upstream_url_split_host(u, p, last) != BW_OK) {
        return BW_ERROR;
    }
    if (u->host.len == 0) {
        u->err = "no host";
        return BW_ERROR;
    }
    bw_rc_t rc = bw_upstream_url_literal(pool, u);
    return rc == BW_DECLINED ? BW_OK : rc;
}

bw_rc_t
bw_upstream_url_resolve(bw_pool_t *pool, bw_upstream_url_t *u)
{
    struct addrinfo  hints, *res = NULL;
    char            *host;
    size_t           n = 0;

    if (u->naddrs > 0) {
        return BW_OK;
    }
    host = bw_pstrz(pool, &u->host);
    if (host == NULL) {
        return BW_ERROR;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
        u->err = "host not found";
        return BW_ERROR;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        n++;
    }
    /* IPv4 first, then IPv6, as nginx orders them */
    int families[2] = {AF_INET, AF_INET6};
    for (int f = 0; f < 2; f++) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            if (ai->ai_family != families[f]) {
                continue;
            }
            struct sockaddr_storage ss;
            memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
            if (ai->ai_family == AF_INET) {
                ((struct sockaddr_in *) &ss)->sin_port = htons(u->port);
            } else {
                ((struct sockaddr_in6 *) &ss)->sin6_port = htons(u->port);
            }
            if (bw_upstream_url_add_addr(pool, u, (struct sockaddr *) &ss, ai->ai_addrlen, n)
                != BW_OK) {
                freeaddrinfo(res);
                return BW_ERROR;
            }
        }
    }
    freeaddrinfo(res);
    if (u->naddrs == 0) {
        u->err = "host not found";
        return BW_ERROR;
    }
    return BW_OK;
}

/* ================================================================ */
/* configuration: groups                                             */
/* ================================================================ */

/* Reports an error at a remembered file:line (nginx reports some group
 * errors where the group was declared, not where parsing is). */
static void
bw_upstream_conf_error_at(bw_conf_t *cf, const bw_str_t *file, bw_uint_t line, const char *fmt,
                          const bw_str_t *arg, unsigned port)
{
    bw_conf_file_t  where;
    bw_conf_file_t *saved = cf->file;

    memset(&where, 0, sizeof(where));
    if (saved != NULL) {
        where = *saved;
    }
    where.name = *file;
    where.line = line;
    where.command_line = false;
    cf->file = file->data ? &where : saved;
    bw_conf_error(cf, fmt, BW_STR_ARG(*arg), port);
    cf->file = saved;
}

static void *
bw_upstream_create_main(bw_conf_t *cf)
{
    bw_upstream_main_conf_t *umcf = bw_pcalloc(cf->pool, sizeof(*umcf));

    if (umcf == NULL || bw_array_init(&umcf->upstreams, cf->pool, 4, sizeof(void *)) != BW_OK) {
        return NULL;
    }
    return umcf;
}

bw_upstream_srv_conf_t *
bw_upstream_add(bw_conf_t *cf, bw_upstream_url_t *u, unsigned flags)
{
    bw_upstream_main_conf_t *umcf = bw_http_conf_get_main_conf(cf, bw_upstream_module);
    bw_upstream_srv_conf_t **uscfp = umcf->upstreams.elts;

    for (size_t i = 0; i < umcf->upstreams.nelts; i++) {
        bw_upstream_srv_conf_t *us = uscfp[i];
        if (!bw_str_caseeq(&us->host, &u->host)) {
            continue;
        }
        if ((flags & BW_UPSTREAM_CREATE) && (us->flags & BW_UPSTREAM_CREATE)) {
            bw_conf_error(cf, "duplicate upstream \"%.*s\"", BW_STR_ARG(u->host));
            return NULL;
        }
        if ((us->flags & BW_UPSTREAM_CREATE) && !u->no_port) {
            bw_conf_error(cf, "upstream \"%.*s\" may not have port %u", BW_STR_ARG(u->host),
                          (unsigned) u->port);
            return NULL;
        }
        if ((flags & BW_UPSTREAM_CREATE) && !us->no_port) {
            bw_upstream_conf_error_at(cf, &us->file_name, us->line,
                                      "upstream \"%.*s\" may not have port %u", &us->host,
                                      us->port);
            return NULL;
        }
        if (us->port && u->port && us->port != u->port) {
            continue;
        }
        if (flags & BW_UPSTREAM_CREATE) {
            /* an earlier proxy_pass named this block before it was declared */
            us->flags = flags;
            us->implicit = false;
            us->file_name = cf->file->name;
            us->line = cf->file->line;
        }
        return us;
    }

    bw_upstream_srv_conf_t *us = bw_pcalloc(cf->pool, sizeof(*us));
    bw_upstream_srv_conf_t **slot = bw_array_push(&umcf->upstreams);
    if (us == NULL || slot == NULL) {
        return NULL;
    }
    us->flags = flags;
    us->host = u->host;
    us->file_name = cf->file->name;
    us->line = cf->file->line;
    us->port = (flags & BW_UPSTREAM_CREATE) ? 0 : u->port;
    us->no_port = u->no_port;
    us->implicit = !(flags & BW_UPSTREAM_CREATE);
    if (us->implicit && u->naddrs > 0) {
        /* an address literal needs no resolution: keep what the parser found */
        us->servers = bw_array_create(cf->pool, 1, sizeof(bw_upstream_server_t));
        bw_upstream_server_t *s = us->servers ? bw_array_push(us->servers) : NULL;
        if (s == NULL) {
            return NULL;
        }
        memset(s, 0, sizeof(*s));
        s->name.data = u->url.data;
        s->name.len = u->url.len - u->uri.len; /* the authority only */
        s->addrs = u->addrs;
        s->naddrs = u->naddrs;
        s->weight = 1;
        s->max_fails = 1;
        s->fail_timeout = 10;
    }
    *slot = us;
    return us;
}

bw_upstream_srv_conf_t *
bw_upstream_find(bw_http_request_t *r, const bw_str_t *host)
{
    bw_upstream_main_conf_t *umcf = bw_http_get_main_conf(r, bw_upstream_module);
    bw_upstream_srv_conf_t **uscfp = umcf->upstreams.elts;

    for (size_t i = 0; i < umcf->upstreams.nelts; i++) {
        if ((uscfp[i]->flags & BW_UPSTREAM_CREATE) && bw_str_caseeq(&uscfp[i]->host, host)) {
            return uscfp[i];
        }
    }
    return NULL;
}

/* True when module m has a directive allowed in upstream{} blocks. */
static bool
bw_upstream_module_in_block(const bw_module_t *m)
{
    for (const bw_directive_t *d = m->directives; d && d->name; d++) {
        if (d->where & BW_CTX_UPS) {
            return true;
        }
    }
    return false;
}

/* The per-module server confs of an upstream{} block. */
static bw_conf_ctx_t *
bw_upstream_block_ctx(bw_conf_t *cf, bw_upstream_srv_conf_t *us)
{
    bw_conf_ctx_t *ctx = bw_pcalloc(cf->pool, sizeof(*ctx));
    void         **srv = bw_pcalloc(cf->pool, bw_modules_n * sizeof(void *));

    if (ctx == NULL || srv == NULL) {
        return NULL;
    }
    ctx->main_conf = cf->ctx->main_conf;
    ctx->loc_conf = cf->ctx->loc_conf;
    ctx->srv_conf = srv;
    for (size_t i = 0; bw_modules[i]; i++) {
        const bw_module_t *m = bw_modules[i];
        const bw_http_module_t *hm = m->ctx;
        if (m->type != BW_MODULE_HTTP || m == &bw_upstream_module || hm == NULL
            || hm->create_srv == NULL || !bw_upstream_module_in_block(m)) {
            continue;
        }
        srv[m->index] = hm->create_srv(cf);
        if (srv[m->index] == NULL) {
            return NULL;
        }
    }
    srv[bw_upstream_module.index] = us;
    us->srv_conf = srv;
    return ctx;
}

static const char *
bw_upstream_block(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_str_t         *value = cf->args->elts;
    bw_upstream_url_t u;

    memset(&u, 0, sizeof(u));
    u.host = value[1];
    u.no_port = true;
    bw_upstream_srv_conf_t *us = bw_upstream_add(
        cf, &u,
        BW_UPSTREAM_CREATE | BW_UPSTREAM_WEIGHT | BW_UPSTREAM_MAX_FAILS
            | BW_UPSTREAM_FAIL_TIMEOUT | BW_UPSTREAM_DOWN | BW_UPSTREAM_BACKUP
            | BW_UPSTREAM_MAX_CONNS);
    if (us == NULL) {
        return BW_CONF_ERROR;
    }
    us->servers = bw_array_create(cf->pool, 4, sizeof(bw_upstream_server_t));
    bw_conf_ctx_t *ctx = us->servers ? bw_upstream_block_ctx(cf, us) : NULL;
    if (ctx == NULL) {
        return BW_CONF_ERROR;
    }

    bw_conf_ctx_t *saved_ctx = cf->ctx;
    uint32_t       saved_type = cf->ctx_type;
    cf->ctx = ctx;
    cf->ctx_type = BW_CTX_UPS;
    bw_rc_t rc = bw_conf_parse(cf, NULL);
    cf->ctx = saved_ctx;
    cf->ctx_type = saved_type;
    if (rc != BW_OK) {
        return BW_CONF_ERROR;
    }
    if (us->servers->nelts == 0) {
        bw_conf_error(cf, "no servers are inside upstream");
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

/* Value of "name=value" when arg starts with name=, else NULL. */
static bool
bw_upstream_param(const bw_str_t *arg, const char *name, bw_str_t *value)
{
    size_t n = strlen(name);

    if (arg->len <= n || memcmp(arg->data, name, n) != 0 || arg->data[n] != '=') {
        return false;
    }
    value->data = arg->data + n + 1;
    value->len = arg->len - n - 1;
    return true;
}

/* Applies one `server` parameter; false when it is invalid. */
static bool
bw_upstream_server_param(bw_upstream_server_t *s, const bw_str_t *arg, unsigned *used)
{
    bw_str_t v;
    int64_t  n;

    if (bw_upstream_param(arg, "weight", &v)) {
        n = bw_atoi(v.data, v.len);
        *used |= BW_UPSTREAM_WEIGHT;
        return n >= 1 && (s->weight = (bw_uint_t) n, true);
    }
    if (bw_upstream_param(arg, "max_fails", &v)) {
        n = bw_atoi(v.data, v.len);
        *used |= BW_UPSTREAM_MAX_FAILS;
        return n >= 0 && (s->max_fails = (bw_uint_t) n, true);
    }
    if (bw_upstream_param(arg, "max_conns", &v)) {
        n = bw_atoi(v.data, v.len);
        *used |= BW_UPSTREAM_MAX_CONNS;
        return n >= 0 && (s->max_conns = (bw_uint_t) n, true);
    }
    if (bw_upstream_param(arg, "fail_timeout", &v)) {
        n = bw_parse_time(&v, true);
        *used |= BW_UPSTREAM_FAIL_TIMEOUT;
        return n >= 0 && (s->fail_timeout = (time_t) n, true);
    }
    if (bw_str_eq_lit(arg, "backup")) {
        *used |= BW_UPSTREAM_BACKUP;
        s->backup = true;
        return true;
    }
    if (bw_str_eq_lit(arg, "down")) {
        *used |= BW_UPSTREAM_DOWN;
        s->down = true;
        return true;
    }
    return false;
}

static const char *
bw_upstream_server(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_upstream_srv_conf_t *us = conf;
    bw_str_t               *value = cf->args->elts;
    bw_upstream_server_t    s;
    bw_upstream_url_t       u;
    unsigned                used = 0;

    memset(&s, 0, sizeof(s));
    s.weight = 1;
    s.max_fails = 1;
    s.fail_timeout = 10;
    for (size_t i = 2; i < cf->args->nelts; i++) {
        unsigned before = used;
        if (!bw_upstream_server_param(&s, &value[i], &used)) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(value[i]));
            return BW_CONF_ERROR;
        }
        if ((used & ~before & ~us->flags) != 0) {
            bw_conf_error(cf, "balancing method does not support parameter \"%.*s\"",
                          BW_STR_ARG(value[i]));
            return BW_CONF_ERROR;
        }
    }

    memset(&u, 0, sizeof(u));
    u.url = value[1];
    u.default_port = 80;
    if (bw_upstream_url_parse(cf->pool, &u, false) != BW_OK
        || (u.naddrs == 0 && bw_upstream_url_resolve(cf->pool, &u) != BW_OK)) {
        if (u.err) {
            bw_conf_error(cf, "%s in upstream \"%.*s\"", u.err, BW_STR_ARG(u.url));
        }
        return BW_CONF_ERROR;
    }
    s.name = u.url;
    s.addrs = u.addrs;
    s.naddrs = u.naddrs;

    bw_upstream_server_t *slot = bw_array_push(us->servers);
    if (slot == NULL) {
        return BW_CONF_ERROR;
    }
    *slot = s;
    return BW_CONF_OK;
}

/* Resolves the host of an implicit group (proxy_pass http://name:port). */
static bw_rc_t
bw_upstream_implicit_resolve(bw_conf_t *cf, bw_upstream_srv_conf_t *us)
{
    bw_upstream_url_t u;

    memset(&u, 0, sizeof(u));
    u.host = us->host;
    u.port = us->port ? us->port : 80;
    if (bw_upstream_url_resolve(cf->pool, &u) != BW_OK) {
        bw_upstream_conf_error_at(cf, &us->file_name, us->line,
                                  "host not found in upstream \"%.*s\"", &us->host, 0);
        return BW_ERROR;
    }
    us->servers = bw_array_create(cf->pool, 1, sizeof(bw_upstream_server_t));
    bw_upstream_server_t *s = us->servers ? bw_array_push(us->servers) : NULL;
    if (s == NULL) {
        return BW_ERROR;
    }
    memset(s, 0, sizeof(*s));
    s->name = us->host;
    s->addrs = u.addrs;
    s->naddrs = u.naddrs;
    s->weight = 1;
    s->max_fails = 1;
    s->fail_timeout = 10;
    return BW_OK;
}

static const char *
bw_upstream_init_main(bw_conf_t *cf, void *conf)
{
    bw_upstream_main_conf_t *umcf = conf;
    bw_upstream_srv_conf_t **uscfp = umcf->upstreams.elts;
    bool                     failed = false;

    for (size_t i = 0; i < umcf->upstreams.nelts; i++) {
        bw_upstream_srv_conf_t *us = uscfp[i];
        if (us->servers == NULL && bw_upstream_implicit_resolve(cf, us) != BW_OK) {
            failed = true;
            continue;
        }
        bool primary = false;
        const bw_upstream_server_t *s = us->servers->elts;
        for (size_t j = 0; j < us->servers->nelts; j++) {
            primary = primary || !s[j].backup;
        }
        if (!primary) {
            bw_upstream_conf_error_at(cf, &us->file_name, us->line,
                                      "no servers in upstream \"%.*s\"", &us->host, 0);
            failed = true;
            continue;
        }
        if (us->peer.init_upstream == NULL) {
            us->peer.init_upstream = bw_upstream_rr_init;
        }
        if (us->peer.init_upstream(cf, us) != BW_OK) {
            failed = true;
        }
    }
    return failed ? BW_CONF_ERROR : BW_CONF_OK;
}

/* ================================================================ */
/* configuration: per-location settings                              */
/* ================================================================ */

void
bw_upstream_conf_init(bw_upstream_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->connect_timeout = BW_CONF_UNSET_MSEC;
    conf->send_timeout = BW_CONF_UNSET_MSEC;
    conf->read_timeout = BW_CONF_UNSET_MSEC;
    conf->next_upstream_timeout = BW_CONF_UNSET_MSEC;
    conf->buffer_size = BW_CONF_UNSET_SIZE;
    conf->bufs_num = BW_CONF_UNSET;
    conf->bufs_size = BW_CONF_UNSET_SIZE;
    conf->busy_buffers_size = BW_CONF_UNSET_SIZE;
    conf->next_upstream = 0;
    conf->next_upstream_tries = BW_CONF_UNSET_UINT;
    conf->buffering = BW_CONF_UNSET;
    conf->request_buffering = BW_CONF_UNSET;
    conf->ignore_client_abort = BW_CONF_UNSET;
    conf->intercept_errors = BW_CONF_UNSET;
    conf->pass_request_headers = BW_CONF_UNSET;
    conf->pass_request_body = BW_CONF_UNSET;
    conf->socket_keepalive = BW_CONF_UNSET;
    conf->max_temp_file_size = BW_CONF_UNSET;
    conf->temp_file_write_size = BW_CONF_UNSET_SIZE;
    conf->hide_headers = BW_CONF_UNSET_PTR;
    conf->pass_headers = BW_CONF_UNSET_PTR;
}

/* Headers of a response never passed to the client unless proxy_pass_header. */
static const char *const bw_upstream_hide_default[] = {
    "date", "server", "x-pad", "x-accel-expires", "x-accel-redirect",
    "x-accel-limit-rate", "x-accel-buffering", "x-accel-charset", NULL,
};

static bool
bw_upstream_names_has(const bw_array_t *a, const bw_str_t *name)
{
    const bw_str_t *s = a ? a->elts : NULL;

    for (size_t i = 0; a && i < a->nelts; i++) {
        if (bw_str_caseeq(&s[i], name)) {
            return true;
        }
    }
    return false;
}

/* Appends a lowercase copy of name to `hide` unless it is passed or there already. */
static bw_rc_t
bw_upstream_hide_add(bw_pool_t *pool, bw_array_t *hide, const bw_array_t *pass,
                     const bw_str_t *name)
{
    if (bw_upstream_names_has(pass, name) || bw_upstream_names_has(hide, name)) {
        return BW_OK;
    }
    bw_str_t *s = bw_array_push(hide);
    if (s == NULL || (s->data = bw_pnalloc(pool, name->len + 1)) == NULL) {
        return BW_ERROR;
    }
    bw_strlow(s->data, name->data, name->len);
    s->data[name->len] = '\0';
    s->len = name->len;
    return BW_OK;
}

static const char *
bw_upstream_merge_hide(bw_conf_t *cf, bw_upstream_conf_t *conf, const bw_upstream_conf_t *prev)
{
    if (conf->hide_headers == BW_CONF_UNSET_PTR && conf->pass_headers == BW_CONF_UNSET_PTR) {
        conf->hide_headers = prev->hide_headers;
        conf->pass_headers = prev->pass_headers;
        conf->hide = prev->hide;
        if (conf->hide != NULL) {
            return BW_CONF_OK;
        }
    } else {
        bw_conf_merge_ptr(conf->hide_headers, prev->hide_headers, NULL);
        bw_conf_merge_ptr(conf->pass_headers, prev->pass_headers, NULL);
    }
    if (conf->hide_headers == BW_CONF_UNSET_PTR) {
        conf->hide_headers = NULL;
    }
    if (conf->pass_headers == BW_CONF_UNSET_PTR) {
        conf->pass_headers = NULL;
    }

    conf->hide = bw_array_create(cf->pool, 12, sizeof(bw_str_t));
    if (conf->hide == NULL) {
        return BW_CONF_ERROR;
    }
    for (size_t i = 0; bw_upstream_hide_default[i]; i++) {
        bw_str_t name = {strlen(bw_upstream_hide_default[i]),
                         (u_char *) bw_upstream_hide_default[i]};
        if (bw_upstream_hide_add(cf->pool, conf->hide, conf->pass_headers, &name) != BW_OK) {
            return BW_CONF_ERROR;
        }
    }
    const bw_str_t *h = conf->hide_headers ? conf->hide_headers->elts : NULL;
    for (size_t i = 0; h && i < conf->hide_headers->nelts; i++) {
        if (bw_upstream_hide_add(cf->pool, conf->hide, conf->pass_headers, &h[i]) != BW_OK) {
            return BW_CONF_ERROR;
        }
    }
    return BW_CONF_OK;
}

/* nginx's consistency checks of the buffer sizes. */
static const char *
bw_upstream_merge_buffers(bw_conf_t *cf, bw_upstream_conf_t *conf, const bw_upstream_conf_t *prev)
{
    size_t page = (size_t) getpagesize();

    bw_conf_merge_size(conf->buffer_size, prev->buffer_size, page);
    if (conf->bufs_num == BW_CONF_UNSET) {
        conf->bufs_num = prev->bufs_num == BW_CONF_UNSET ? 8 : prev->bufs_num;
        conf->bufs_size = prev->bufs_size == BW_CONF_UNSET_SIZE ? page : prev->bufs_size;
    }
    if (conf->bufs_num < 2) {
        bw_conf_error(cf, "there must be at least 2 \"proxy_buffers\"");
        return BW_CONF_ERROR;
    }
    size_t size = bw_max(conf->buffer_size, conf->bufs_size);
    bw_conf_merge_size(conf->busy_buffers_size, prev->busy_buffers_size, 2 * size);
    if (conf->busy_buffers_size < size) {
        bw_conf_error(cf, "\"proxy_busy_buffers_size\" must be equal to or greater than the "
                          "maximum of the value of \"proxy_buffer_size\" and one of the "
                          "\"proxy_buffers\"");
        return BW_CONF_ERROR;
    }
    if (conf->busy_buffers_size > (size_t) (conf->bufs_num - 1) * conf->bufs_size) {
        bw_conf_error(cf, "\"proxy_busy_buffers_size\" must be less than the size of all "
                          "\"proxy_buffers\" minus one buffer");
        return BW_CONF_ERROR;
    }
    bw_conf_merge_size(conf->temp_file_write_size, prev->temp_file_write_size, 2 * size);
    bw_conf_merge_value(conf->max_temp_file_size, prev->max_temp_file_size,
                        (off_t) 1024 * 1024 * 1024);
    return BW_CONF_OK;
}

const char *
bw_upstream_conf_merge(bw_conf_t *cf, bw_upstream_conf_t *conf, const bw_upstream_conf_t *prev)
{
    bw_conf_merge_msec(conf->connect_timeout, prev->connect_timeout, 60000);
    bw_conf_merge_msec(conf->send_timeout, prev->send_timeout, 60000);
    bw_conf_merge_msec(conf->read_timeout, prev->read_timeout, 60000);
    bw_conf_merge_msec(conf->next_upstream_timeout, prev->next_upstream_timeout, 0);
    bw_conf_merge_uint(conf->next_upstream_tries, prev->next_upstream_tries, 0);
    if (conf->next_upstream == 0) {
        conf->next_upstream = prev->next_upstream ? prev->next_upstream
                                                  : (BW_UPSTREAM_FT_ERROR | BW_UPSTREAM_FT_TIMEOUT);
    }
    if (conf->next_upstream & BW_UPSTREAM_FT_OFF) {
        conf->next_upstream = BW_UPSTREAM_FT_OFF;
    }
    bw_conf_merge_value(conf->buffering, prev->buffering, 1);
    bw_conf_merge_value(conf->request_buffering, prev->request_buffering, 1);
    bw_conf_merge_value(conf->ignore_client_abort, prev->ignore_client_abort, 0);
    bw_conf_merge_value(conf->intercept_errors, prev->intercept_errors, 0);
    bw_conf_merge_value(conf->pass_request_headers, prev->pass_request_headers, 1);
    bw_conf_merge_value(conf->pass_request_body, prev->pass_request_body, 1);
    bw_conf_merge_value(conf->socket_keepalive, prev->socket_keepalive, 0);

    if (bw_upstream_merge_buffers(cf, conf, prev) != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    return bw_upstream_merge_hide(cf, conf, prev);
}

/* ================================================================ */
/* request time                                                      */
/* ================================================================ */

static void bw_upstream_connect(bw_http_request_t *r, bw_upstream_t *u);
static void bw_upstream_next(bw_http_request_t *r, bw_upstream_t *u, bw_uint_t ft_type);
static void bw_upstream_finalize(bw_http_request_t *r, bw_upstream_t *u, bw_int_t rc);
static void bw_upstream_process_header(bw_http_request_t *r, bw_upstream_t *u);
static void bw_upstream_relay(bw_http_request_t *r, bw_upstream_t *u);

bw_upstream_t *
bw_upstream_create(bw_http_request_t *r)
{
    bw_upstream_t *u = bw_pcalloc(r->pool, sizeof(*u));

    if (u == NULL || bw_array_init(&u->states, r->pool, 2, sizeof(bw_upstream_state_t)) != BW_OK
        || bw_array_init(&u->headers_in.headers, r->pool, 16, sizeof(bw_http_header_t))
               != BW_OK) {
        return NULL;
    }
    u->request = r;
    u->peer.log = r->connection->log;
    u->headers_in.content_length_n = -1;
    u->length = -1;
    bw_http_set_ctx(r, u, bw_upstream_module);
    return u;
}

static bw_msec_t
bw_upstream_now(void)
{
    return bw_time.monotonic;
}

/* Every upstream connection event lands here and goes to the current step. */
static void
bw_upstream_event_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    bw_upstream_t   *u = c->data;

    if (ev->write) {
        u->write_event_handler(u->request, u);
    } else {
        u->read_event_handler(u->request, u);
    }
}

static void
bw_upstream_dummy_handler(bw_http_request_t *r, bw_upstream_t *u)
{
}

/*
 * The client's side while the upstream works: a read event may mean the
 * client went away. Peeking tells a close from pipelined bytes.
 */
static void
bw_upstream_check_broken(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;
    bw_upstream_t   *u = bw_upstream_get(r);
    char             byte;

    if (u == NULL || c->error) {
        return;
    }
    ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK);
    if (n > 0) {
        return;
    }
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->read->ready = 0;
        return;
    }
    c->error = 1;
    if (u->conf->ignore_client_abort) {
        return;
    }
    bw_log_error(BW_LOG_INFO, c->log, n == 0 ? 0 : errno,
                 "client prematurely closed connection");
    bw_upstream_finalize(r, u, BW_HTTP_CLIENT_CLOSED_REQUEST);
}

/* The client became writable: push the body on once the head was sent. */
static void
bw_upstream_downstream_write(bw_http_request_t *r)
{
    bw_upstream_t   *u = bw_upstream_get(r);
    bw_connection_t *c = r->connection;

    if (u == NULL || !u->header_sent) {
        return;
    }
    if (c->write->timedout && c->write->delayed) {
        /* limit_rate's pause is over */
        c->write->timedout = 0;
        c->write->delayed = 0;
    }
    if (c->write->timedout) {
        c->write->timedout = 0;
        c->timedout = 1;
        bw_log_error(BW_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        bw_upstream_finalize(r, u, BW_HTTP_REQUEST_TIME_OUT);
        return;
    }
    if (c->write->delayed) {
        return;
    }
    bw_upstream_relay(r, u);
}

/* r->log_handler: ", upstream: "http://peer/uri"" once a peer was chosen. */
static size_t
bw_upstream_log_handler(bw_http_request_t *r, u_char *buf, size_t len)
{
    bw_upstream_t *u = bw_upstream_get(r);

    if (u == NULL || u->state == NULL || u->state->peer.len == 0 || len == 0) {
        return 0;
    }
    int n = snprintf((char *) buf, len, ", upstream: \"%.*s%.*s%.*s\"", BW_STR_ARG(u->schema),
                     BW_STR_ARG(u->state->peer), BW_STR_ARG(u->uri));
    return n < 0 ? 0 : bw_min((size_t) n, len - 1);
}

void
bw_upstream_init(bw_http_request_t *r)
{
    bw_upstream_t *u = bw_upstream_get(r);

    if (u == NULL || u->create_request == NULL) {
        bw_http_finalize_request(r, 500);
        return;
    }
    if (u->create_request(r) != BW_OK) {
        bw_http_finalize_request(r, 500);
        return;
    }
    bw_upstream_srv_conf_t *us = u->upstream;
    if (us == NULL || us->peer.init == NULL || us->peer.init(r, &u->peer, us) != BW_OK) {
        bw_http_finalize_request(r, 500);
        return;
    }
    u->peer.log = r->connection->log;
    u->peer.start_time = bw_upstream_now();
    if (u->conf->next_upstream_tries && u->peer.tries > u->conf->next_upstream_tries) {
        u->peer.tries = u->conf->next_upstream_tries;
    }
    r->read_event_handler = bw_upstream_check_broken;
    r->write_event_handler = bw_upstream_downstream_write;
    r->log_handler = bw_upstream_log_handler;
    bw_upstream_connect(r, u);
}

/* ---- connecting ---- */

/* Starts a new attempt's state entry. */
static bool
bw_upstream_state_start(bw_upstream_t *u)
{
    bw_upstream_state_t *st = bw_array_push(&u->states);

    if (st == NULL) {
        return false;
    }
    memset(st, 0, sizeof(*st));
    st->response_time = -1;
    st->connect_time = -1;
    st->header_time = -1;
    st->start = bw_upstream_now();
    u->state = st;
    return true;
}

/* Ends the current attempt's timing. */
static void
bw_upstream_state_end(bw_upstream_t *u)
{
    if (u->state != NULL && u->state->response_time == -1) {
        u->state->response_time = bw_upstream_now() - u->state->start;
        if (u->peer.connection != NULL) {
            u->state->bytes_sent = u->peer.connection->sent;
        }
    }
}

/* Closes the peer connection of the current attempt, if any. */
static void
bw_upstream_close_peer(bw_upstream_t *u)
{
    if (u->peer.connection != NULL) {
        bw_connection_close(u->peer.connection);
        u->peer.connection = NULL;
    }
}

/* Opens a non-blocking socket to pc->sockaddr and starts connect().
 * BW_OK connected, BW_AGAIN in progress, BW_DECLINED refused (logged),
 * BW_ERROR a local failure (logged). */
static bw_rc_t
bw_upstream_peer_connect(bw_upstream_t *u)
{
    bw_upstream_peer_conn_t *pc = &u->peer;
    bw_log_t                *log = pc->log;

    int fd = socket(pc->sockaddr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        bw_log_error(BW_LOG_ALERT, log, errno, "socket() failed");
        return BW_ERROR;
    }
    if (u->conf->socket_keepalive) {
        int on = 1;
        (void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    }
    bw_connection_t *c = bw_connection_get(bw_cycle, fd, log);
    if (c == NULL) {
        close(fd);
        return BW_ERROR;
    }
    c->sockaddr = pc->sockaddr;
    c->socklen = pc->socklen;
    c->addr_text = *pc->name;
    pc->connection = c;
    pc->connection_start = bw_upstream_now();

    int rc = connect(fd, pc->sockaddr, pc->socklen);
    int err = rc == -1 ? errno : 0;
    if (bw_event_conn_add(c) != BW_OK) {
        return BW_ERROR;
    }
    if (rc == 0) {
        return BW_OK;
    }
    if (err == EINPROGRESS) {
        return BW_AGAIN;
    }
    bw_log_error(BW_LOG_ERR, log, err, "connect() failed");
    return BW_DECLINED;
}

/* Resets what a failed attempt left behind before the next one. */
static bw_rc_t
bw_upstream_reinit(bw_http_request_t *r, bw_upstream_t *u)
{
    if (u->reinit_request != NULL && u->reinit_request(r) != BW_OK) {
        return BW_ERROR;
    }
    u->headers_in.headers.nelts = 0;
    bw_array_t headers = u->headers_in.headers;
    memset(&u->headers_in, 0, sizeof(u->headers_in));
    u->headers_in.headers = headers;
    u->headers_in.content_length_n = -1;
    u->length = -1;
    memset(&u->chunked, 0, sizeof(u->chunked));
    u->buffer.pos = u->buffer.last = u->buffer.start;
    u->out_bufs = u->busy_bufs = NULL;
    u->keepalive = 0;
    u->body_done = 0;
    u->request_sent = 0;
    u->request_body_sent = 0;
    return BW_OK;
}

/* Fresh buffer headers over u->request_bufs, so each attempt sends it whole. */
static bw_rc_t
bw_upstream_request_copy(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_chain_t **ll = &u->request_out;

    u->request_out = NULL;
    for (bw_chain_t *cl = u->request_bufs; cl; cl = cl->next) {
        bw_chain_t *ncl = bw_chain_alloc_link(r->pool);
        bw_buf_t   *b = bw_buf_calloc(r->pool);
        if (ncl == NULL || b == NULL) {
            return BW_ERROR;
        }
        *b = *cl->buf;
        b->shadow = cl->buf;
        ncl->buf = b;
        ncl->next = NULL;
        *ll = ncl;
        ll = &ncl->next;
    }
    return BW_OK;
}

static void bw_upstream_send_request(bw_http_request_t *r, bw_upstream_t *u);

static void
bw_upstream_send_request_handler(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (c->write->timedout) {
        c->write->timedout = 0;
        bw_upstream_next(r, u, BW_UPSTREAM_FT_TIMEOUT);
        return;
    }
    bw_upstream_send_request(r, u);
}

static void
bw_upstream_connect(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *cc = r->connection;

    cc->log->action = "connecting to upstream";
    if (u->state != NULL) {
        bw_upstream_state_end(u);
    }
    if (!bw_upstream_state_start(u)) {
        bw_upstream_finalize(r, u, 500);
        return;
    }

    bw_rc_t rc = u->peer.get(&u->peer, u->peer.data);
    if (rc == BW_BUSY) {
        bw_log_error(BW_LOG_ERR, cc->log, 0, "no live upstreams");
        u->state->peer = *u->peer.name;
        bw_upstream_next(r, u, BW_UPSTREAM_FT_NOLIVE);
        return;
    }
    if (rc == BW_ERROR) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    u->state->peer = *u->peer.name;

    if (rc != BW_DONE) {
        rc = bw_upstream_peer_connect(u);
        if (rc == BW_ERROR) {
            bw_upstream_finalize(r, u, 500);
            return;
        }
        if (rc == BW_DECLINED) {
            bw_upstream_next(r, u, BW_UPSTREAM_FT_ERROR);
            return;
        }
    }

    bw_connection_t *c = u->peer.connection;
    c->data = u;
    c->log = cc->log;
    c->read->log = c->write->log = cc->log;
    c->read->handler = bw_upstream_event_handler;
    c->write->handler = bw_upstream_event_handler;
    c->sent = 0;
    c->requests++;
    u->write_event_handler = bw_upstream_send_request_handler;
    u->read_event_handler = bw_upstream_process_header;

    if ((u->request_sent || u->states.nelts > 1) && bw_upstream_reinit(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    if (bw_upstream_request_copy(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    if (rc == BW_AGAIN) {
        bw_event_add_timer(c->write, u->conf->connect_timeout);
        return;
    }
    bw_upstream_send_request(r, u);
}

/* Whether a non-blocking connect() succeeded; logs the failure. */
static bool
bw_upstream_connected(bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;
    int              err = 0;
    socklen_t        len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }
    if (err != 0) {
        c->error = 1;
        bw_log_error(BW_LOG_ERR, c->log, err, "connect() failed");
        return false;
    }
    return true;
}

static void
bw_upstream_send_request(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (!u->request_sent && !bw_upstream_connected(u)) {
        bw_upstream_next(r, u, BW_UPSTREAM_FT_ERROR);
        return;
    }
    if (u->state->connect_time == -1) {
        u->state->connect_time = bw_upstream_now() - u->state->start;
    }
    r->connection->log->action = "sending request to upstream";
    u->request_sent = 1;

    bw_chain_t *out = c->send_chain(c, u->request_out, 0);
    if (out == BW_CHAIN_ERROR) {
        bw_upstream_next(r, u, BW_UPSTREAM_FT_ERROR);
        return;
    }
    u->request_out = out;
    if (out != NULL) {
        bw_event_add_timer(c->write, u->conf->send_timeout);
        return;
    }

    /* all sent: wait for the answer */
    if (c->write->timer_set) {
        bw_event_del_timer(c->write);
    }
    u->request_body_sent = 1;
    u->write_event_handler = bw_upstream_dummy_handler;
    r->connection->log->action = "reading response header from upstream";
    bw_event_add_timer(c->read, u->conf->read_timeout);
    if (c->read->ready) {
        bw_upstream_process_header(r, u);
    }
}

/* ---- reading the response head ---- */

/* recv() for the upstream: like bw_recv, but failures are the backend's
 * fault and logged at error level as nginx does. */
static ssize_t
bw_upstream_recv(bw_connection_t *c, u_char *buf, size_t size)
{
    bw_event_t *rev = c->read;

    for (;;) {
        ssize_t n = recv(c->fd, buf, size, 0);
        if (n > 0) {
            if ((size_t) n < size && !rev->pending_eof) {
                rev->ready = 0;
            }
            return n;
        }
        if (n == 0) {
            rev->ready = 0;
            rev->eof = 1;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        rev->ready = 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return BW_AGAIN;
        }
        rev->error = 1;
        bw_log_error(BW_LOG_ERR, c->log, errno, "recv() failed");
        return BW_ERROR;
    }
}

/* The response buffer: the head must fit in buffer_size; the body streams
 * through the whole of it. */
static bw_rc_t
bw_upstream_buffer_alloc(bw_http_request_t *r, bw_upstream_t *u)
{
    size_t size = bw_max(u->conf->buffer_size, (size_t) u->conf->bufs_num * u->conf->bufs_size);

    u->buffer.start = bw_palloc(r->pool, size);
    if (u->buffer.start == NULL) {
        return BW_ERROR;
    }
    u->buffer.pos = u->buffer.last = u->buffer.start;
    u->buffer.end = u->buffer.start + size;
    u->buffer.temporary = 1;
    return BW_OK;
}

/* Reads and parses until the head is complete: BW_OK, BW_AGAIN, or an
 * FT_* failure type (already logged). */
static bw_int_t
bw_upstream_read_head(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    for (;;) {
        if (u->buffer.last == u->buffer.end) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0, "upstream sent too big header");
            return BW_UPSTREAM_FT_INVALID_HEADER;
        }
        ssize_t n = bw_upstream_recv(c, u->buffer.last, (size_t) (u->buffer.end - u->buffer.last));
        if (n == BW_AGAIN) {
            return BW_AGAIN;
        }
        if (n == 0) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                         "upstream prematurely closed connection");
        }
        if (n <= 0) {
            return BW_UPSTREAM_FT_ERROR;
        }
        u->state->bytes_received += n;
        u->buffer.last += n;

        bw_rc_t rc = u->process_header(r);
        if (rc == BW_AGAIN) {
            if ((size_t) (u->buffer.last - u->buffer.start) >= u->conf->buffer_size) {
                bw_log_error(BW_LOG_ERR, r->connection->log, 0, "upstream sent too big header");
                return BW_UPSTREAM_FT_INVALID_HEADER;
            }
            continue;
        }
        if (rc == BW_OK && (size_t) (u->buffer.pos - u->buffer.start) > u->conf->buffer_size) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0, "upstream sent too big header");
            return BW_UPSTREAM_FT_INVALID_HEADER;
        }
        if (rc == BW_UPSTREAM_INVALID_HEADER) {
            return BW_UPSTREAM_FT_INVALID_HEADER;
        }
        return rc == BW_OK ? BW_OK : BW_ERROR;
    }
}

/* The FT_* bit for a response status, or 0. */
static bw_uint_t
bw_upstream_status_mask(bw_uint_t status)
{
    switch (status) {
    case 500: return BW_UPSTREAM_FT_HTTP_500;
    case 502: return BW_UPSTREAM_FT_HTTP_502;
    case 503: return BW_UPSTREAM_FT_HTTP_503;
    case 504: return BW_UPSTREAM_FT_HTTP_504;
    case 403: return BW_UPSTREAM_FT_HTTP_403;
    case 404: return BW_UPSTREAM_FT_HTTP_404;
    case 429: return BW_UPSTREAM_FT_HTTP_429;
    default: return 0;
    }
}

/* Methods proxy_next_upstream does not retry after sending without non_idempotent. */
#define BW_UPSTREAM_NON_IDEMPOTENT (BW_HTTP_POST | BW_HTTP_LOCK | BW_HTTP_PATCH)

static bool
bw_upstream_retry_timed_out(bw_upstream_t *u)
{
    bw_msec_t timeout = u->conf->next_upstream_timeout;

    return timeout && bw_upstream_now() - u->peer.start_time >= timeout;
}

/* A status proxy_next_upstream asks to retry elsewhere: moves on (true). */
static bool
bw_upstream_test_next(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_uint_t mask = bw_upstream_status_mask(u->headers_in.status_n);

    if (mask == 0) {
        return false;
    }
    bw_uint_t need = mask;
    if (u->request_sent && (r->method & BW_UPSTREAM_NON_IDEMPOTENT)) {
        need |= BW_UPSTREAM_FT_NON_IDEMPOTENT;
    }
    if (u->peer.tries > 1 && (u->conf->next_upstream & need) == need
        && !bw_upstream_retry_timed_out(u)) {
        bw_upstream_next(r, u, mask);
        return true;
    }
    return false;
}

static bw_rc_t bw_upstream_process_headers(bw_http_request_t *r, bw_upstream_t *u);
static void bw_upstream_send_response(bw_http_request_t *r, bw_upstream_t *u);

/* proxy_intercept_errors: a status >= 300 with an error_page for it is
 * answered by that page instead of the upstream's response (true). */
static bool
bw_upstream_intercept_errors(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_uint_t                status = u->headers_in.status_n;
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);

    if (!u->conf->intercept_errors || status < 300 || clcf->error_pages == NULL) {
        return false;
    }
    const bw_http_err_page_t *page = clcf->error_pages->elts;
    for (size_t i = 0; i < clcf->error_pages->nelts; i++) {
        if ((bw_uint_t) page[i].status == status) {
            u->keepalive = 0;
            bw_upstream_finalize(r, u, (bw_int_t) status);
            return true;
        }
    }
    return false;
}

static void
bw_upstream_process_header(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (c->read->timedout) {
        c->read->timedout = 0;
        bw_upstream_next(r, u, BW_UPSTREAM_FT_TIMEOUT);
        return;
    }
    if (!u->request_sent && !bw_upstream_connected(u)) {
        bw_upstream_next(r, u, BW_UPSTREAM_FT_ERROR);
        return;
    }
    if (u->buffer.start == NULL && bw_upstream_buffer_alloc(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, 500);
        return;
    }

    bw_int_t rc = bw_upstream_read_head(r, u);
    if (rc == BW_AGAIN) {
        if (!c->read->timer_set) {
            bw_event_add_timer(c->read, u->conf->read_timeout);
        }
        return;
    }
    if (rc == BW_ERROR) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    if (rc != BW_OK) {
        bw_upstream_next(r, u, (bw_uint_t) rc);
        return;
    }

    u->state->header_time = bw_upstream_now() - u->state->start;
    u->state->status = u->headers_in.status_n;
    if (bw_upstream_test_next(r, u) || bw_upstream_intercept_errors(r, u)) {
        return;
    }
    if (bw_upstream_process_headers(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    bw_upstream_send_response(r, u);
}

/* ---- next upstream ---- */

static bw_int_t
bw_upstream_ft_status(bw_uint_t ft_type)
{
    switch (ft_type) {
    case BW_UPSTREAM_FT_TIMEOUT:
    case BW_UPSTREAM_FT_HTTP_504:
        return 504;
    case BW_UPSTREAM_FT_HTTP_500:
        return 500;
    case BW_UPSTREAM_FT_HTTP_503:
        return 503;
    case BW_UPSTREAM_FT_HTTP_403:
        return 403;
    case BW_UPSTREAM_FT_HTTP_404:
        return 404;
    case BW_UPSTREAM_FT_HTTP_429:
        return 429;
    default:
        return 502;
    }
}

static void
bw_upstream_next(bw_http_request_t *r, bw_upstream_t *u, bw_uint_t ft_type)
{
    if (ft_type == BW_UPSTREAM_FT_TIMEOUT) {
        bw_log_error(BW_LOG_ERR, r->connection->log, ETIMEDOUT, "upstream timed out");
    }
    if (u->peer.sockaddr != NULL) {
        /* a kept-alive connection that the peer had closed, found broken
         * before any byte of an answer, says nothing about the peer */
        bool stale = u->peer.cached && ft_type == BW_UPSTREAM_FT_ERROR
                     && u->state != NULL && u->state->bytes_received == 0;
        unsigned state = (stale || ft_type == BW_UPSTREAM_FT_HTTP_403
                          || ft_type == BW_UPSTREAM_FT_HTTP_404)
                             ? BW_UPSTREAM_PEER_NEXT
                             : BW_UPSTREAM_PEER_FAILED;
        u->peer.reusable = 0;
        u->peer.free(&u->peer, u->peer.data, state);
        u->peer.sockaddr = NULL;
    }
    if (u->peer.cached && ft_type == BW_UPSTREAM_FT_ERROR) {
        /* a kept-alive connection the peer had closed: not the peer's failure */
        u->peer.tries++;
    }

    bw_int_t status = bw_upstream_ft_status(ft_type);
    if (u->state != NULL && (ft_type & ~BW_UPSTREAM_FT_STATUS_MASK) != 0) {
        u->state->status = (bw_uint_t) status;
    }
    if (r->connection->error) {
        bw_upstream_finalize(r, u, BW_HTTP_CLIENT_CLOSED_REQUEST);
        return;
    }

    bw_uint_t need = ft_type;
    if (u->request_sent && (r->method & BW_UPSTREAM_NON_IDEMPOTENT)) {
        need |= BW_UPSTREAM_FT_NON_IDEMPOTENT;
    }
    if (u->peer.tries == 0 || (u->conf->next_upstream & need) != need
        || bw_upstream_retry_timed_out(u)) {
        bw_upstream_finalize(r, u, status);
        return;
    }

    bw_upstream_state_end(u);
    bw_upstream_close_peer(u);
    bw_upstream_connect(r, u);
}

/* ---- the response head to the client ---- */

/* Hop-by-hop and framing headers the core handles itself. */
static bool
bw_upstream_header_framing(const bw_str_t *lname)
{
    return bw_str_eq_lit(lname, "connection") || bw_str_eq_lit(lname, "keep-alive")
           || bw_str_eq_lit(lname, "transfer-encoding") || bw_str_eq_lit(lname, "content-length");
}

/* Points the well-known headers_out fields at a copied header. */
static void
bw_upstream_header_known(bw_http_request_t *r, bw_http_header_t *h, const bw_str_t *lname)
{
    bw_http_headers_out_t *ho = &r->headers_out;

    if (bw_str_eq_lit(lname, "server")) {
        ho->server = h;
    } else if (bw_str_eq_lit(lname, "date")) {
        ho->date = h;
    } else if (bw_str_eq_lit(lname, "location")) {
        /* a relative Location stays as sent: the header filter must not
         * complete it with this server's scheme and host */
        if (h->value.len == 0 || h->value.data[0] != '/') {
            ho->location = h;
        }
    } else if (bw_str_eq_lit(lname, "last-modified")) {
        ho->last_modified = h;
        ho->last_modified_time = bw_time_parse_http(h->value.data, h->value.len);
    } else if (bw_str_eq_lit(lname, "etag")) {
        ho->etag = h;
    } else if (bw_str_eq_lit(lname, "content-encoding")) {
        ho->content_encoding = h;
    } else if (bw_str_eq_lit(lname, "cache-control")) {
        ho->cache_control = h;
    } else if (bw_str_eq_lit(lname, "expires")) {
        ho->expires = h;
    } else if (bw_str_eq_lit(lname, "accept-ranges")) {
        ho->accept_ranges = h;
    } else if (bw_str_eq_lit(lname, "content-range")) {
        ho->content_range = h;
    } else if (bw_str_eq_lit(lname, "refresh")) {
        ho->refresh = h;
    } else if (bw_str_eq_lit(lname, "link")) {
        ho->link = h;
    } else if (bw_str_eq_lit(lname, "www-authenticate")) {
        ho->www_authenticate = h;
    }
}

/* Content-Type goes to headers_out.content_type (the header filter writes it). */
static void
bw_upstream_content_type(bw_http_request_t *r, const bw_http_header_t *h)
{
    const u_char *p = h->value.data, *end = p + h->value.len;
    const u_char *semi = memchr(p, ';', h->value.len);
    const u_char *type_end = semi ? semi : end;

    while (type_end > p && (type_end[-1] == ' ' || type_end[-1] == '\t')) {
        type_end--;
    }
    r->headers_out.content_type = h->value;
    r->headers_out.content_type_len = (size_t) (type_end - p);
    r->headers_out.content_type_lowcase.len = 0;
}

/* proxy_redirect on Location and Refresh. A rewritten Location is completed
 * by the header filter like any redirect of this server, as nginx does. */
static bw_rc_t
bw_upstream_rewrite_redirect(bw_http_request_t *r, bw_upstream_t *u, bw_http_header_t *ho,
                             const bw_str_t *lname)
{
    bool location = bw_str_eq_lit(lname, "location");

    if (u->rewrite_redirect == NULL || !(location || bw_str_eq_lit(lname, "refresh"))) {
        return BW_OK;
    }
    bw_rc_t rc = u->rewrite_redirect(r, ho);
    if (rc == BW_ERROR) {
        return BW_ERROR;
    }
    if (rc == BW_OK && location) {
        r->headers_out.location = ho;
    }
    return BW_OK;
}

static bw_rc_t
bw_upstream_process_headers(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_headers_in_t *in = &u->headers_in;
    bw_http_header_t         *h = in->headers.elts;

    r->headers_out.status = in->status_n;
    r->headers_out.status_line = in->status_line;
    r->headers_out.content_length_n = (in->chunked || u->head) ? -1 : in->content_length_n;
    if (u->head && in->content_length_n >= 0) {
        r->headers_out.content_length_n = in->content_length_n;
    }

    for (size_t i = 0; i < in->headers.nelts; i++) {
        bw_str_t lname = {h[i].key.len, h[i].lowcase_key};
        if (bw_upstream_header_framing(&lname) || bw_upstream_names_has(u->conf->hide, &lname)) {
            continue;
        }
        if (bw_str_eq_lit(&lname, "content-type")) {
            bw_upstream_content_type(r, &h[i]);
            continue;
        }
        bw_http_header_t *ho = bw_array_push(&r->headers_out.headers);
        if (ho == NULL) {
            return BW_ERROR;
        }
        *ho = h[i];
        ho->next = NULL;
        bw_upstream_header_known(r, ho, &lname);
        if (bw_upstream_rewrite_redirect(r, u, ho, &lname) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/* Sets how the body ends: u->length (bytes, or -1), chunked, keepalive. */
static void
bw_upstream_framing_init(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_upstream_headers_in_t *in = &u->headers_in;
    bw_uint_t                 status = in->status_n;

    u->keepalive = !in->connection_close;
    if (u->head || status == 204 || status == 304 || status < 200) {
        u->length = 0;
    } else if (in->chunked) {
        u->length = -1;
    } else if (in->content_length_n >= 0) {
        u->length = in->content_length_n;
    } else {
        u->length = -1;
        u->keepalive = 0;
    }
    if (u->length == 0) {
        u->body_done = 1;
        if (u->buffer.pos != u->buffer.last) {
            u->keepalive = 0;
        }
    }
}

static void bw_upstream_upstream_read(bw_http_request_t *r, bw_upstream_t *u);
static bw_rc_t bw_upstream_input(bw_http_request_t *r, bw_upstream_t *u, u_char *p,
                                 u_char *last);

static void bw_upstream_upgrade(bw_http_request_t *r, bw_upstream_t *u);

static void
bw_upstream_send_response(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (u->headers_in.status_n == 101) {
        bw_upstream_upgrade(r, u);
        return;
    }
    bw_upstream_framing_init(r, u);
    bw_int_t rc = bw_http_send_header(r);
    if (rc == BW_ERROR || rc > BW_OK) {
        bw_upstream_finalize(r, u, rc);
        return;
    }
    u->header_sent = 1;
    r->connection->log->action = "reading upstream";

    if (r->header_only) {
        /* no body goes to the client; a body still owed by the upstream
         * makes the connection unusable */
        if (!u->body_done) {
            u->keepalive = 0;
        }
        bw_upstream_finalize(r, u, BW_OK);
        return;
    }

    if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    u->read_event_handler = bw_upstream_upstream_read;
    u->write_event_handler = bw_upstream_dummy_handler;

    /* body bytes that came with the head: relay them in place */
    u_char *p = u->buffer.pos, *last = u->buffer.last;
    if (p < last && !u->body_done) {
        if (bw_upstream_input(r, u, p, last) != BW_OK) {
            bw_upstream_finalize(r, u, 502);
            return;
        }
    }
    bw_upstream_relay(r, u);
}

/* ---- the body ---- */

/* Appends [p, p+n) of u->buffer as one buffer to u->out_bufs. */
static bw_rc_t
bw_upstream_piece_add(bw_http_request_t *r, bw_upstream_t *u, u_char *p, size_t n)
{
    bw_chain_t *cl = bw_chain_get_free_buf(r->pool, &u->free_bufs);

    if (cl == NULL) {
        return BW_ERROR;
    }
    bw_buf_t *b = cl->buf;
    memset(b, 0, sizeof(*b));
    b->start = b->pos = p;
    b->end = b->last = p + n;
    b->temporary = 1;
    b->tag = u;

    bw_chain_t **ll = &u->out_bufs;
    while (*ll) {
        ll = &(*ll)->next;
    }
    *ll = cl;
    u->state->response_length += (off_t) n;
    return BW_OK;
}

/*
 * Passes body bytes [p, last) of u->buffer through the framing: chunked
 * decoding (the data of each chunk becomes a piece), a Content-Length
 * count, or everything up to the close. BW_OK or BW_ERROR (logged).
 */
static bw_rc_t
bw_upstream_input(bw_http_request_t *r, bw_upstream_t *u, u_char *p, u_char *last)
{
    bw_log_t *log = r->connection->log;

    if (u->headers_in.chunked) {
        while (p < last && !u->body_done) {
            bw_rc_t rc = bw_http_parse_chunked(&u->chunked, &p, last);
            if (rc == BW_OK) {
                if (bw_upstream_piece_add(r, u, u->chunked.data, u->chunked.data_len) != BW_OK) {
                    return BW_ERROR;
                }
                continue;
            }
            if (rc == BW_DONE) {
                u->body_done = 1;
                break;
            }
            if (rc == BW_AGAIN) {
                break;
            }
            bw_log_error(BW_LOG_ERR, log, 0, "upstream sent invalid chunked response");
            return BW_ERROR;
        }
    } else if (u->length >= 0) {
        size_t n = (size_t) bw_min((off_t) (last - p), u->length);
        if (n > 0 && bw_upstream_piece_add(r, u, p, n) != BW_OK) {
            return BW_ERROR;
        }
        u->length -= (off_t) n;
        p += n;
        if (u->length == 0) {
            u->body_done = 1;
        }
    } else if (p < last) {
        if (bw_upstream_piece_add(r, u, p, (size_t) (last - p)) != BW_OK) {
            return BW_ERROR;
        }
        p = last;
    }

    if (u->body_done && p < last) {
        bw_log_error(BW_LOG_WARN, log, 0,
                     u->headers_in.chunked
                         ? "upstream sent data after final chunk"
                         : "upstream sent more data than specified in \"Content-Length\" header");
        u->keepalive = 0;
    }
    return BW_OK;
}

/* Gives the pending pieces to the filters and recycles what they consumed. */
static bw_rc_t
bw_upstream_output(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_chain_t *cl = u->out_bufs;

    if (cl != NULL) {
        while (cl->next) {
            cl = cl->next;
        }
        cl->buf->flush = 1; /* stream: do not wait for postpone_output */
    }
    if (u->out_bufs == NULL && u->busy_bufs == NULL) {
        return BW_OK;
    }
    bw_rc_t rc = bw_http_output_filter(r, u->out_bufs);
    if (rc == BW_ERROR) {
        return BW_ERROR;
    }
    bw_chain_update_chains(r->pool, &u->free_bufs, &u->busy_bufs, &u->out_bufs, u);
    if (u->busy_bufs == NULL) {
        /* everything left the buffer: refill it from the start */
        u->buffer.pos = u->buffer.last = u->buffer.start;
    }
    return BW_OK;
}

/* Reads from the upstream into the buffer's free tail. BW_OK (read some),
 * BW_AGAIN, BW_DONE (end of the body), BW_ERROR (premature end, logged). */
static bw_rc_t
bw_upstream_body_read(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;
    size_t           size = (size_t) (u->buffer.end - u->buffer.last);

    if (size == 0 || !c->read->ready) {
        return BW_AGAIN;
    }
    ssize_t n = bw_upstream_recv(c, u->buffer.last, size);
    if (n == BW_AGAIN) {
        return BW_AGAIN;
    }
    if (n == 0 && !u->headers_in.chunked && u->length == -1) {
        u->body_done = 1; /* close-delimited: the close is the end */
        return BW_DONE;
    }
    if (n == 0) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0, "upstream prematurely closed connection");
    }
    if (n <= 0) {
        u->keepalive = 0;
        return BW_ERROR;
    }
    u->state->bytes_received += n;
    u_char *p = u->buffer.last;
    u->buffer.last += n;
    return bw_upstream_input(r, u, p, u->buffer.last) == BW_OK ? BW_OK : BW_ERROR;
}

/*
 * The relay loop: write what is pending to the client, read more from the
 * upstream while the buffer has room, until both sides would block or the
 * body is complete. Backpressure: a full buffer stops reading until the
 * client drains it.
 */
static void
bw_upstream_relay(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    for (int rounds = 0; rounds < 64; rounds++) {
        if (bw_upstream_output(r, u) != BW_OK) {
            bw_upstream_finalize(r, u, BW_ERROR);
            return;
        }
        if (u->body_done) {
            /* a tail still in the filters goes out ahead of the last buffer */
            bw_upstream_finalize(r, u, BW_OK);
            return;
        }
        bw_rc_t rc = bw_upstream_body_read(r, u);
        if (rc == BW_ERROR) {
            bw_upstream_finalize(r, u, 502);
            return;
        }
        if (rc == BW_AGAIN) {
            break;
        }
    }

    /* waiting: for the upstream when the buffer has room, else for the client */
    if (u->buffer.last < u->buffer.end && !c->read->ready) {
        bw_event_add_timer(c->read, u->conf->read_timeout);
    } else if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    if (c->read->ready && u->buffer.last < u->buffer.end) {
        /* bounded rounds ended with data left: come back next loop turn */
        bw_event_post(c->read, &bw_event_posted);
    }

    /* the client's pace: send_timeout while it holds up the body */
    bw_event_t *wev = r->connection->write;
    if (wev->delayed) {
        return;
    }
    if (r->buffered || u->busy_bufs != NULL) {
        bw_event_add_timer(wev, bw_http_core_loc(r)->send_timeout);
    } else if (wev->timer_set) {
        bw_event_del_timer(wev);
    }
}

static void
bw_upstream_upstream_read(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (c->read->timedout) {
        c->read->timedout = 0;
        bw_log_error(BW_LOG_ERR, r->connection->log, ETIMEDOUT, "upstream timed out");
        bw_upstream_finalize(r, u, 504);
        return;
    }
    bw_upstream_relay(r, u);
}

/* ---- upgraded connections (WebSocket): a byte tunnel ---- */

/* Moves bytes one way through b: what src sends goes to dst. BW_OK,
 * BW_DONE (src closed and everything it sent was delivered), BW_ERROR. */
static bw_rc_t
bw_upstream_tunnel_pump(bw_connection_t *src, bw_connection_t *dst, bw_buf_t *b)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        bool progress = false;
        if (b->pos < b->last) {
            ssize_t n = dst->send(dst, b->pos, (size_t) (b->last - b->pos));
            if (n == BW_ERROR) {
                return BW_ERROR;
            }
            if (n > 0) {
                b->pos += n;
                progress = true;
            }
        }
        if (b->pos == b->last) {
            b->pos = b->last = b->start;
        }
        if (b->last < b->end && src->read->ready && !src->read->eof) {
            ssize_t n = src->recv(src, b->last, (size_t) (b->end - b->last));
            if (n == BW_ERROR) {
                return BW_ERROR;
            }
            if (n > 0) {
                b->last += n;
                progress = true;
            }
        }
        if (!progress) {
            break;
        }
    }
    return src->read->eof && b->pos == b->last ? BW_DONE : BW_OK;
}

/* Arms the idle timers of a tunnel side: reading under read_timeout,
 * pending writes under the writer's timeout. */
static void
bw_upstream_tunnel_timers(bw_connection_t *c, bw_msec_t read_timeout, bool pending,
                          bw_msec_t write_timeout)
{
    if (!c->read->ready) {
        bw_event_add_timer(c->read, read_timeout);
    }
    if (pending) {
        bw_event_add_timer(c->write, write_timeout);
    } else if (c->write->timer_set) {
        bw_event_del_timer(c->write);
    }
}

static void
bw_upstream_tunnel(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection, *cc = r->connection;
    bw_msec_t        send_timeout = bw_http_core_loc(r)->send_timeout;

    if (r->buffered) {
        /* the 101 head is still on its way to the client */
        if (bw_http_output_filter(r, NULL) == BW_ERROR) {
            bw_upstream_finalize(r, u, BW_ERROR);
            return;
        }
        if (r->buffered) {
            bw_event_add_timer(cc->write, send_timeout);
            return;
        }
    }
    bw_rc_t down = bw_upstream_tunnel_pump(c, cc, &u->buffer);
    bw_rc_t up = bw_upstream_tunnel_pump(cc, c, &u->from_client);
    if (down == BW_ERROR || up == BW_ERROR) {
        bw_upstream_finalize(r, u, BW_ERROR);
        return;
    }
    if (down == BW_DONE || up == BW_DONE) {
        bw_upstream_finalize(r, u, BW_OK);
        return;
    }
    bw_upstream_tunnel_timers(c, u->conf->read_timeout, u->from_client.pos < u->from_client.last,
                              u->conf->send_timeout);
    bw_upstream_tunnel_timers(cc, u->conf->read_timeout, u->buffer.pos < u->buffer.last,
                              send_timeout);
}

static void
bw_upstream_tunnel_upstream(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (c->read->timedout || c->write->timedout) {
        c->read->timedout = c->write->timedout = 0;
        bw_log_error(BW_LOG_ERR, r->connection->log, ETIMEDOUT, "upstream timed out");
        bw_upstream_finalize(r, u, 504);
        return;
    }
    bw_upstream_tunnel(r, u);
}

static void
bw_upstream_tunnel_downstream(bw_http_request_t *r)
{
    bw_upstream_t   *u = bw_upstream_get(r);
    bw_connection_t *cc = r->connection;

    if (u == NULL) {
        return;
    }
    if (cc->read->timedout || cc->write->timedout) {
        cc->read->timedout = cc->write->timedout = 0;
        cc->timedout = 1;
        bw_log_error(BW_LOG_INFO, cc->log, ETIMEDOUT, "client timed out");
        bw_upstream_finalize(r, u, BW_HTTP_REQUEST_TIME_OUT);
        return;
    }
    bw_upstream_tunnel(r, u);
}

/* 101 Switching Protocols to an Upgrade request: pass the head, then relay
 * bytes both ways until either side closes. */
static void
bw_upstream_upgrade(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;
    bw_buf_t        *hin = r->header_in;
    size_t           early = hin && hin->pos < hin->last ? (size_t) (hin->last - hin->pos) : 0;
    size_t           size = bw_max(u->conf->buffer_size, early);

    u->upgrade = 1;
    u->keepalive = 0;
    r->keepalive = 0;
    r->headers_out.content_length_n = -1;
    if (bw_upstream_process_headers(r, u) != BW_OK) {
        bw_upstream_finalize(r, u, 500);
        return;
    }
    bw_int_t rc = bw_http_send_header(r);
    if (rc == BW_ERROR || rc > BW_OK) {
        bw_upstream_finalize(r, u, rc);
        return;
    }
    u->header_sent = 1;
    if (bw_http_send_special(r, BW_HTTP_FLUSH) == BW_ERROR) {
        bw_upstream_finalize(r, u, BW_ERROR);
        return;
    }
    r->connection->log->action = "proxying upgraded connection";

    /* what the client sent after its head goes first */
    u->from_client.start = bw_palloc(r->pool, size);
    if (u->from_client.start == NULL) {
        bw_upstream_finalize(r, u, BW_ERROR);
        return;
    }
    u->from_client.pos = u->from_client.last = u->from_client.start;
    u->from_client.end = u->from_client.start + size;
    if (early) {
        memcpy(u->from_client.last, hin->pos, early);
        u->from_client.last += early;
        hin->pos = hin->last;
    }
    if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    u->read_event_handler = bw_upstream_tunnel_upstream;
    u->write_event_handler = bw_upstream_tunnel_upstream;
    r->read_event_handler = bw_upstream_tunnel_downstream;
    r->write_event_handler = bw_upstream_tunnel_downstream;
    bw_upstream_tunnel(r, u);
}

/* ---- the end ---- */

static void
bw_upstream_finalize(bw_http_request_t *r, bw_upstream_t *u, bw_int_t rc)
{
    bw_connection_t *cc = r->connection;

    if (u->finalized) {
        return;
    }
    u->finalized = 1;
    bw_upstream_state_end(u);

    if (u->peer.sockaddr != NULL) {
        u->peer.reusable = u->keepalive && u->body_done && u->request_body_sent
                           && u->busy_bufs == NULL;
        if (u->peer.reusable && u->peer.connection != NULL) {
            /* a keep-alive cache takes it without this request's timers or
             * deferred events */
            bw_connection_t *c = u->peer.connection;
            if (c->read->timer_set) {
                bw_event_del_timer(c->read);
            }
            if (c->write->timer_set) {
                bw_event_del_timer(c->write);
            }
            bw_event_delete_posted(c->read);
            bw_event_delete_posted(c->write);
        }
        u->peer.free(&u->peer, u->peer.data, 0);
        u->peer.sockaddr = NULL;
    }
    bw_upstream_close_peer(u);
    if (u->finalize_request != NULL) {
        u->finalize_request(r, rc);
    }

    r->read_event_handler = bw_http_block_reading;
    r->write_event_handler = bw_http_request_empty_handler;
    cc->log->action = NULL;

    if (!u->header_sent || rc == BW_HTTP_REQUEST_TIME_OUT
        || rc == BW_HTTP_CLIENT_CLOSED_REQUEST) {
        bw_http_finalize_request(r, rc);
        return;
    }
    if (u->upgrade) {
        /* the tunnel is over: the connection closes, no body follows a 101 */
        if (cc->read->timer_set) {
            bw_event_del_timer(cc->read);
        }
        if (cc->write->timer_set) {
            bw_event_del_timer(cc->write);
        }
        r->keepalive = 0;
        bw_http_finalize_request(r, rc == BW_OK ? BW_DONE : BW_ERROR);
        return;
    }
    if (rc == BW_OK) {
        bw_http_finalize_request(r, bw_http_send_special(r, BW_HTTP_LAST));
        return;
    }
    /*
     * The head went out and the body broke: the client must not mistake
     * what it got for the whole response. Flush what is there and close
     * without the end of the body (no last chunk, short Content-Length).
     */
    r->keepalive = 0;
    (void) bw_http_send_special(r, BW_HTTP_FLUSH);
    bw_http_finalize_request(r, BW_ERROR);
}

/* ================================================================ */
/* variables                                                         */
/* ================================================================ */

typedef enum {
    BW_UPSTREAM_VAR_ADDR = 0,
    BW_UPSTREAM_VAR_STATUS,
    BW_UPSTREAM_VAR_RESPONSE_TIME,
    BW_UPSTREAM_VAR_CONNECT_TIME,
    BW_UPSTREAM_VAR_HEADER_TIME,
    BW_UPSTREAM_VAR_RESPONSE_LENGTH,
    BW_UPSTREAM_VAR_BYTES_RECEIVED,
    BW_UPSTREAM_VAR_BYTES_SENT,
} bw_upstream_var_t;

/* Formats one state's field into buf; returns the length. */
static size_t
bw_upstream_var_field(const bw_upstream_state_t *st, bw_upstream_var_t what, char *buf,
                      size_t size)
{
    bw_msec_t ms;

    switch (what) {
    case BW_UPSTREAM_VAR_ADDR:
        return (size_t) snprintf(buf, size, "%.*s", BW_STR_ARG(st->peer));
    case BW_UPSTREAM_VAR_STATUS:
        return st->status ? (size_t) snprintf(buf, size, "%u", (unsigned) st->status)
                          : (size_t) snprintf(buf, size, "-");
    case BW_UPSTREAM_VAR_RESPONSE_TIME:
        ms = st->response_time;
        break;
    case BW_UPSTREAM_VAR_CONNECT_TIME:
        ms = st->connect_time;
        break;
    case BW_UPSTREAM_VAR_HEADER_TIME:
        ms = st->header_time;
        break;
    case BW_UPSTREAM_VAR_RESPONSE_LENGTH:
        return (size_t) snprintf(buf, size, "%lld", (long long) st->response_length);
    case BW_UPSTREAM_VAR_BYTES_RECEIVED:
        return (size_t) snprintf(buf, size, "%lld", (long long) st->bytes_received);
    case BW_UPSTREAM_VAR_BYTES_SENT:
        return (size_t) snprintf(buf, size, "%lld", (long long) st->bytes_sent);
    default:
        return 0;
    }
    if (ms < 0) {
        return (size_t) snprintf(buf, size, "-");
    }
    return (size_t) snprintf(buf, size, "%lld.%03lld", (long long) (ms / 1000),
                             (long long) (ms % 1000));
}

/* $upstream_addr & co: one value per attempt, ", " between them. */
static bw_rc_t
bw_upstream_var_state(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_upstream_t *u = bw_upstream_get(r);

    if (u == NULL || u->states.nelts == 0) {
        v->not_found = 1;
        return BW_OK;
    }
    const bw_upstream_state_t *st = u->states.elts;
    size_t cap = 0;
    for (size_t i = 0; i < u->states.nelts; i++) {
        cap += st[i].peer.len + 32;
    }
    char *p = bw_pnalloc(r->pool, cap + 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    size_t len = 0;
    for (size_t i = 0; i < u->states.nelts; i++) {
        if (i > 0) {
            memcpy(p + len, ", ", 2);
            len += 2;
        }
        len += bw_upstream_var_field(&st[i], (bw_upstream_var_t) data, p + len, cap + 1 - len);
    }
    v->data = (u_char *) p;
    v->len = len;
    return BW_OK;
}

/* $upstream_http_NAME: a header of the upstream's response ('_' matches '-'). */
static bw_rc_t
bw_upstream_var_header(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_upstream_t  *u = bw_upstream_get(r);
    const bw_str_t *name = (const bw_str_t *) data;

    v->not_found = 1;
    if (u == NULL || name == NULL) {
        return BW_OK;
    }
    const bw_http_header_t *h = u->headers_in.headers.elts;
    for (size_t i = 0; i < u->headers_in.headers.nelts; i++) {
        if (h[i].key.len != name->len) {
            continue;
        }
        size_t k = 0;
        for (; k < name->len; k++) {
            u_char c = h[i].lowcase_key[k], want = bw_tolower(name->data[k]);
            if (c != want && !(c == '-' && want == '_')) {
                break;
            }
        }
        if (k == name->len) {
            v->not_found = 0;
            v->data = h[i].value.data;
            v->len = h[i].value.len;
            return BW_OK;
        }
    }
    return BW_OK;
}

static const bw_http_variable_def_t bw_upstream_variables[] = {
    {"upstream_addr", bw_upstream_var_state, NULL, BW_UPSTREAM_VAR_ADDR, BW_HTTP_VAR_NOCACHEABLE},
    {"upstream_status", bw_upstream_var_state, NULL, BW_UPSTREAM_VAR_STATUS,
     BW_HTTP_VAR_NOCACHEABLE},
    {"upstream_response_time", bw_upstream_var_state, NULL, BW_UPSTREAM_VAR_RESPONSE_TIME,
     BW_HTTP_VAR_NOCACHEABLE},
    {"upstream_connect_time", bw_upstream_var_state, NULL, BW_UPSTREAM_VAR_CONNECT_TIME,
     BW_HTTP_VAR_NOCACHEABLE},
    {"upstream_header_time", bw_upstream_var_state, NULL, BW_UPSTREAM_VAR_HEADER_TIME,
     BW_HTTP_VAR_NOCACHEABLE},
    {"upstream_response_length", bw_upstream_var_state, NULL, BW_UPSTREAM_VAR_RESPONSE_LENGTH,
     BW_HTTP_VAR_NOCACHEABLE},
    {"upstream_bytes_received", bw_upstream_var_state, NULL, BW_UPSTREAM_VAR_BYTES_RECEIVED,
     BW_HTTP_VAR_NOCACHEABLE},
    {"upstream_bytes_sent", bw_upstream_var_state, NULL, BW_UPSTREAM_VAR_BYTES_SENT,
     BW_HTTP_VAR_NOCACHEABLE},
    {"upstream_http_", bw_upstream_var_header, NULL, 0,
     BW_HTTP_VAR_NOCACHEABLE | BW_HTTP_VAR_PREFIX},
    {NULL, NULL, NULL, 0, 0},
};

static bw_rc_t
bw_upstream_add_variables(bw_conf_t *cf)
{
    for (const bw_http_variable_def_t *d = bw_upstream_variables; d->name; d++) {
        bw_str_t name = {strlen(d->name), (u_char *) d->name};
        bw_http_variable_t *v = bw_http_add_variable(cf, &name, d->flags);
        if (v == NULL) {
            return BW_ERROR;
        }
        v->get = d->get;
        v->data = d->data;
    }
    return BW_OK;
}
