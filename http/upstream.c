/*
 * upstream.c -- the upstream module: upstream{} groups and their `server`
 * lines, the implicit groups of `proxy_pass host:port`, and the request
 * per-location settings the request machinery reads (proxy_next_upstream,
 * buffers, temp files, hidden headers). The $upstream_* variables live here
 * too.
 *
 * The module that drives an upstream (proxy) builds the request bytes and
 * parses the response head; everything about connections, timeouts, peers
 * and body framing (Content-Length, chunked, close-delimited) is in the
 * upstream core's other files (see upstream_internal.h).
 *
 * Sections: configuration (addresses, groups, directives, merge helpers),
 * variables.
 */
#include "upstream_internal.h"

#include "cycle.h"
#include "pool.h"
#include "upstream_rr.h"
#include "variables.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

const bw_conf_enum_t bw_upstream_ignore_headers_masks[] = {
    {"X-Accel-Redirect", BW_UPSTREAM_IGN_XA_REDIRECT},
    {"X-Accel-Expires", BW_UPSTREAM_IGN_XA_EXPIRES},
    {"X-Accel-Limit-Rate", BW_UPSTREAM_IGN_XA_LIMIT_RATE},
    {"X-Accel-Buffering", BW_UPSTREAM_IGN_XA_BUFFERING},
    {"X-Accel-Charset", BW_UPSTREAM_IGN_XA_CHARSET},
    {"Expires", BW_UPSTREAM_IGN_EXPIRES},
    {"Cache-Control", BW_UPSTREAM_IGN_CACHE_CONTROL},
    {"Set-Cookie", BW_UPSTREAM_IGN_SET_COOKIE},
    {"Vary", BW_UPSTREAM_IGN_VARY},
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
    conf->temp_path = BW_CONF_UNSET_PTR;
    conf->ignore_headers = 0;
}

/* Headers of a response never passed to the client unless proxy_pass_header. */
static const char *const bw_upstream_hide_default[] = {
    "date", "server", "x-pad", "x-accel-expires", "x-accel-redirect",
    "x-accel-limit-rate", "x-accel-buffering", "x-accel-charset", NULL,
};

bool
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
    if (conf->temp_file_write_size < size) {
        bw_conf_error(cf, "\"proxy_temp_file_write_size\" must be equal to or greater than the "
                          "maximum of the value of \"proxy_buffer_size\" and one of the "
                          "\"proxy_buffers\"");
        return BW_CONF_ERROR;
    }
    bw_conf_merge_value(conf->max_temp_file_size, prev->max_temp_file_size,
                        (off_t) 1024 * 1024 * 1024);
    if (conf->max_temp_file_size != 0 && conf->max_temp_file_size < (off_t) size) {
        bw_conf_error(cf, "\"proxy_max_temp_file_size\" must be equal to zero to disable "
                          "temporary files usage or must be equal to or greater than the maximum "
                          "of the value of \"proxy_buffer_size\" and one of the "
                          "\"proxy_buffers\"");
        return BW_CONF_ERROR;
    }
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
    if (conf->ignore_headers == 0) {
        conf->ignore_headers = prev->ignore_headers;
    }

    if (bw_upstream_merge_buffers(cf, conf, prev) != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    return bw_upstream_merge_hide(cf, conf, prev);
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

/*
 * $upstream_addr & co: one value per attempt, ", " between them, " : "
 * before the attempts of an upstream reached after an internal redirect
 * (X-Accel-Redirect, error_page), as nginx writes them.
 */
static bw_rc_t
bw_upstream_var_state(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const bw_array_t *states = r->upstream_states;

    if (states == NULL || states->nelts == 0) {
        v->not_found = 1;
        return BW_OK;
    }
    const bw_upstream_state_t *st = states->elts;
    size_t cap = 0;
    for (size_t i = 0; i < states->nelts; i++) {
        cap += st[i].peer.len + 32;
    }
    char *p = bw_pnalloc(r->pool, cap + 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    size_t len = 0;
    bool   first = true, after_sep = false;
    for (size_t i = 0; i < states->nelts; i++) {
        if (st[i].separator) {
            after_sep = !first;
            continue;
        }
        if (!first) {
            memcpy(p + len, after_sep ? " : " : ", ", after_sep ? 3 : 2);
            len += after_sep ? 3 : 2;
        }
        first = after_sep = false;
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
    bw_upstream_t  *u = r->upstream; /* the last one, also after an internal redirect */
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
    return bw_http_add_variables(cf, bw_upstream_variables);
}
