/*
 * core_listen.c -- the `listen` and `server_name` directives: address and
 * parameter parsing with nginx's messages, and the implicit *:80 of a
 * server without listen. The addresses are recorded in ports.c.
 */
#include "core_internal.h"

#include "conn.h"
#include "cycle.h"
#include "pool.h"
#include "regex.h"
#include "variables.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#define BW_HTTP_LISTEN_MAX_ADDRS 16

typedef struct {
    struct sockaddr_storage ss[BW_HTTP_LISTEN_MAX_ADDRS];
    socklen_t               len[BW_HTTP_LISTEN_MAX_ADDRS];
    int                     n;
} bw_http_listen_addrs_t;

static void
bw_http_listen_opt_init(bw_http_listen_opt_t *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->ipv6only = -1;
    opt->backlog = -1;
    opt->rcvbuf = -1;
    opt->sndbuf = -1;
    opt->fastopen = -1;
    opt->so_keepalive = -1;
}

/* Adds an address unless it is already listed. */
static void
bw_http_listen_addrs_push(bw_http_listen_addrs_t *a, const struct sockaddr *sa, socklen_t len)
{
    for (int i = 0; i < a->n; i++) {
        if (a->len[i] == len && memcmp(&a->ss[i], sa, len) == 0) {
            return;
        }
    }
    if (a->n < BW_HTTP_LISTEN_MAX_ADDRS) {
        memcpy(&a->ss[a->n], sa, len);
        a->len[a->n++] = len;
    }
}

/* Resolves a host name as nginx does for listen: IPv4 addresses first, then IPv6. */
static bool
bw_http_listen_resolve(const char *host, in_port_t port, bw_http_listen_addrs_t *a)
{
    struct addrinfo hints, *res = NULL;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        return false;
    }
    for (int family = AF_INET; family; family = family == AF_INET ? AF_INET6 : 0) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            if (ai->ai_family != family) {
                continue;
            }
            struct sockaddr_storage ss;
            memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
            if (family == AF_INET) {
                ((struct sockaddr_in *) &ss)->sin_port = htons(port);
            } else {
                ((struct sockaddr_in6 *) &ss)->sin6_port = htons(port);
            }
            bw_http_listen_addrs_push(a, (struct sockaddr *) &ss, ai->ai_addrlen);
        }
    }
    freeaddrinfo(res);
    return a->n > 0;
}

static int
bw_http_listen_port(const u_char *p, size_t len)
{
    int64_t port = bw_atoi(p, len);
    return (port < 1 || port > 65535) ? -1 : (int) port;
}

/* "[addr]:port" / "[addr]" */
static const char *
bw_http_listen_parse_inet6(bw_conf_t *cf, const bw_str_t *url, bw_http_listen_addrs_t *a)
{
    const u_char *end = memchr(url->data, ']', url->len);
    char          host[INET6_ADDRSTRLEN + 1];
    int           port = 80;
    struct sockaddr_in6 sin6;

    size_t hlen = end ? (size_t) (end - url->data - 1) : 0;
    if (end == NULL || hlen == 0 || hlen >= sizeof(host)) {
        return "invalid host";
    }
    size_t rest = url->len - (size_t) (end + 1 - url->data);
    if (rest > 0) {
        if (end[1] != ':') {
            return "invalid host";
        }
        port = bw_http_listen_port(end + 2, rest - 1);
        if (port < 0) {
            return "invalid port";
        }
    }
    memcpy(host, url->data + 1, hlen);
    host[hlen] = '\0';
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons((in_port_t) port);
    if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1) {
        return "invalid host";
    }
    bw_http_listen_addrs_push(a, (struct sockaddr *) &sin6, sizeof(sin6));
    return NULL;
}

/* "addr:port", "addr", "port", "*:port", "*", "host:port" */
static const char *
bw_http_listen_parse_inet(bw_conf_t *cf, const bw_str_t *url, bw_http_listen_addrs_t *a)
{
    const u_char *colon = memchr(url->data, ':', url->len);
    bw_str_t      host = *url;
    int           port = 80;
    struct sockaddr_in sin;

    if (colon) {
        host.len = (size_t) (colon - url->data);
        port = bw_http_listen_port(colon + 1, url->len - host.len - 1);
        if (port < 0) {
            return "invalid port";
        }
    } else if (bw_atoi(url->data, url->len) >= 0) {
        port = bw_http_listen_port(url->data, url->len);
        if (port < 0) {
            return "invalid port";
        }
        host.data = (u_char *) "*";
        host.len = 1;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((in_port_t) port);
    if (bw_str_eq_lit(&host, "*")) {
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
        bw_http_listen_addrs_push(a, (struct sockaddr *) &sin, sizeof(sin));
        return NULL;
    }
    char *h = bw_pstrz(cf->temp_pool, &host);
    if (h == NULL) {
        return "no memory for";
    }
    if (host.len && inet_pton(AF_INET, h, &sin.sin_addr) == 1) {
        bw_http_listen_addrs_push(a, (struct sockaddr *) &sin, sizeof(sin));
        return NULL;
    }
    if (host.len == 0 || !bw_http_listen_resolve(h, (in_port_t) port, a)) {
        return "host not found";
    }
    return NULL;
}

static const char *
bw_http_listen_parse_addr(bw_conf_t *cf, const bw_str_t *url, bw_http_listen_addrs_t *a)
{
    const char *err;

    if (url->len >= 5 && memcmp(url->data, "unix:", 5) == 0) {
        bw_conf_error(cf, "unix domain sockets are not supported by bulwark: \"%.*s\" of the "
                          "\"listen\" directive", BW_STR_ARG(*url));
        return BW_CONF_ERROR;
    }
    err = url->len && url->data[0] == '[' ? bw_http_listen_parse_inet6(cf, url, a)
                                          : bw_http_listen_parse_inet(cf, url, a);
    if (err) {
        bw_conf_error(cf, "%s in \"%.*s\" of the \"listen\" directive", err, BW_STR_ARG(*url));
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

/* so_keepalive=on|off|[idle]:[intvl]:[cnt] */
static bool
bw_http_listen_keepalive(const bw_str_t *v, bw_http_listen_opt_t *opt)
{
    if (bw_str_eq_lit(v, "on")) {
        opt->so_keepalive = 1;
        return true;
    }
    if (bw_str_eq_lit(v, "off")) {
        opt->so_keepalive = 0;
        return true;
    }
    int     *fields[3] = {&opt->keepidle, &opt->keepintvl, &opt->keepcnt};
    const u_char *p = v->data, *end = v->data + v->len;
    for (int i = 0; i < 3; i++) {
        const u_char *sep = i < 2 ? memchr(p, ':', (size_t) (end - p)) : end;
        if (sep == NULL) {
            return false;
        }
        if (sep > p) {
            bw_str_t part = {(size_t) (sep - p), (u_char *) p};
            int64_t  n = i < 2 ? bw_parse_time(&part, true) : bw_atoi(part.data, part.len);
            if (n <= 0 || n > INT32_MAX) {
                return false;
            }
            *fields[i] = (int) n;
        }
        p = sep + (i < 2);
    }
    opt->so_keepalive = 1;
    return true;
}

/* A "name=value" parameter: true with *val set when arg starts with name. */
static bool
bw_http_listen_param(const bw_str_t *arg, const char *name, bw_str_t *val)
{
    size_t n = strlen(name);
    if (arg->len < n || memcmp(arg->data, name, n) != 0) {
        return false;
    }
    val->data = arg->data + n;
    val->len = arg->len - n;
    return true;
}

/* Parses one parameter after the address; BW_CONF_OK or BW_CONF_ERROR (reported). */
static const char *
bw_http_listen_option(bw_conf_t *cf, const bw_str_t *arg, bw_http_listen_opt_t *opt)
{
    bw_str_t v;
    int64_t  n;

    if (bw_str_eq_lit(arg, "default_server") || bw_str_eq_lit(arg, "default")) {
        opt->default_server = true;
    } else if (bw_str_eq_lit(arg, "bind")) {
        opt->set = opt->bind = true;
    } else if (bw_str_eq_lit(arg, "ssl")) {
        opt->ssl = true;
    } else if (bw_str_eq_lit(arg, "http2")) {
        opt->http2 = true; /* accepted; HTTP/2 itself is the TLS layer's business */
    } else if (bw_str_eq_lit(arg, "proxy_protocol")) {
        opt->proxy_protocol = true;
    } else if (bw_str_eq_lit(arg, "reuseport")) {
        opt->set = opt->bind = opt->reuseport = true;
    } else if (bw_str_eq_lit(arg, "deferred")) {
        opt->set = opt->bind = opt->deferred = true;
    } else if (bw_http_listen_param(arg, "backlog=", &v)) {
        n = bw_atoi(v.data, v.len);
        if (n <= 0 || n > INT32_MAX) {
            bw_conf_error(cf, "invalid backlog \"%.*s\"", BW_STR_ARG(*arg));
            return BW_CONF_ERROR;
        }
        opt->backlog = (int) n;
        opt->set = opt->bind = true;
    } else if (bw_http_listen_param(arg, "rcvbuf=", &v)
               || bw_http_listen_param(arg, "sndbuf=", &v)) {
        bool rcv = arg->data[0] == 'r';
        n = bw_parse_size(&v);
        if (n < 0 || n > INT32_MAX) {
            bw_conf_error(cf, "invalid %s \"%.*s\"", rcv ? "rcvbuf" : "sndbuf", BW_STR_ARG(*arg));
            return BW_CONF_ERROR;
        }
        *(rcv ? &opt->rcvbuf : &opt->sndbuf) = (int) n;
        opt->set = opt->bind = true;
    } else if (bw_http_listen_param(arg, "fastopen=", &v)) {
        n = bw_atoi(v.data, v.len);
        if (n < 0 || n > INT32_MAX) {
            bw_conf_error(cf, "invalid fastopen \"%.*s\"", BW_STR_ARG(*arg));
            return BW_CONF_ERROR;
        }
        opt->fastopen = (int) n;
        opt->set = opt->bind = true;
    } else if (bw_http_listen_param(arg, "ipv6only=o", &v)) {
        if (!bw_str_eq_lit(&v, "n") && !bw_str_eq_lit(&v, "ff")) {
            bw_conf_error(cf, "invalid ipv6only flags \"%.*s\"", (int) v.len + 1,
                          (char *) v.data - 1);
            return BW_CONF_ERROR;
        }
        opt->ipv6only = bw_str_eq_lit(&v, "n");
        opt->set = opt->bind = true;
    } else if (bw_http_listen_param(arg, "so_keepalive=", &v)) {
        if (!bw_http_listen_keepalive(&v, opt)) {
            bw_conf_error(cf, "invalid so_keepalive value: \"%.*s\"", BW_STR_ARG(v));
            return BW_CONF_ERROR;
        }
        opt->set = opt->bind = true;
    } else if (bw_http_listen_param(arg, "accept_filter=", &v)) {
        /* nginx logs this at emerg, yet the configuration stays valid. */
        bw_conf_error(cf, "accept filters \"%.*s\" are not supported on this platform, ignored",
                      BW_STR_ARG(*arg));
        cf->errors--;
    } else {
        bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(*arg));
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

/* Records each address of `a` with the options of `opt` for the server. */
static bw_rc_t
bw_http_listen_register(bw_conf_t *cf, bw_http_core_srv_conf_t *cscf,
                        const bw_http_listen_addrs_t *a, bw_http_listen_opt_t *opt)
{
    bw_http_core_main_conf_t *cmcf = bw_http_conf_get_main_conf(cf, bw_http_core_module);
    u_char                    text[BW_SOCKADDR_STRLEN];

    for (int i = 0; i < a->n; i++) {
        memcpy(&opt->sockaddr, &a->ss[i], a->len[i]);
        opt->socklen = a->len[i];
        size_t len = bw_sockaddr_text((struct sockaddr *) &a->ss[i], a->len[i], text,
                                      sizeof(text), true);
        bw_str_t t = {len, text};
        if (bw_pstrcopy(cf->pool, &opt->addr_text, &t) != BW_OK) {
            return BW_ERROR;
        }
        if (a->ss[i].ss_family == AF_INET) {
            opt->wildcard = ((struct sockaddr_in *) &a->ss[i])->sin_addr.s_addr == INADDR_ANY;
        } else {
            opt->wildcard = IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *) &a->ss[i])->sin6_addr);
        }
        bw_http_listen_opt_t *slot = bw_array_push(&cscf->listen);
        if (slot == NULL) {
            return BW_ERROR;
        }
        *slot = *opt;
        if (bw_http_ports_add(cf, cmcf, cscf, opt) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

const char *
bw_http_core_listen(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_srv_conf_t *cscf = conf;
    bw_str_t                *value = cf->args->elts;
    bw_http_listen_addrs_t   addrs;
    bw_http_listen_opt_t     opt;

    cscf->listen_set = true;
    addrs.n = 0;
    if (bw_http_listen_parse_addr(cf, &value[1], &addrs) != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    bw_http_listen_opt_init(&opt);
    for (size_t i = 2; i < cf->args->nelts; i++) {
        if (bw_http_listen_option(cf, &value[i], &opt) != BW_CONF_OK) {
            return BW_CONF_ERROR;
        }
    }
    return bw_http_listen_register(cf, cscf, &addrs, &opt) == BW_OK ? BW_CONF_OK
                                                                     : BW_CONF_ERROR;
}

bw_rc_t
bw_http_core_listen_default(bw_conf_t *cf, bw_http_core_srv_conf_t *cscf)
{
    bw_http_listen_addrs_t addrs;
    bw_http_listen_opt_t   opt;
    struct sockaddr_in     sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    sin.sin_port = htons(getuid() == 0 ? 80 : 8000);
    addrs.n = 0;
    bw_http_listen_addrs_push(&addrs, (struct sockaddr *) &sin, sizeof(sin));
    bw_http_listen_opt_init(&opt);
    return bw_http_listen_register(cf, cscf, &addrs, &opt);
}

/* ---- server_name ---- */

static const char *
bw_http_core_server_name_regex(bw_conf_t *cf, bw_http_core_srv_conf_t *cscf,
                               bw_http_server_name_t *sn, const bw_str_t *value)
{
    bool caseless = false;

    if (value->len == 1) {
        bw_conf_error(cf, "empty regex in server name \"%.*s\"", BW_STR_ARG(*value));
        return BW_CONF_ERROR;
    }
    sn->name.data = value->data + 1;
    sn->name.len = value->len - 1;
    /* Hosts are lowercase: a pattern with capitals only makes sense caseless. */
    for (size_t i = 0; i < sn->name.len; i++) {
        caseless = caseless || (sn->name.data[i] >= 'A' && sn->name.data[i] <= 'Z');
    }
    sn->regex = bw_http_regex_compile(cf, &sn->name, caseless);
    if (sn->regex == NULL) {
        return BW_CONF_ERROR;
    }
    if (bw_regex_captures(sn->regex) > 0) {
        cscf->captures = true;
    }
    return BW_CONF_OK;
}

const char *
bw_http_core_server_name(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_srv_conf_t *cscf = conf;
    bw_str_t                *value = cf->args->elts;

    for (size_t i = 1; i < cf->args->nelts; i++) {
        bw_str_t *v = &value[i];
        u_char    ch = v->len ? v->data[0] : '\0';

        if ((ch == '*' && (v->len < 3 || v->data[1] != '.')) || (ch == '.' && v->len < 2)) {
            bw_conf_error(cf, "server name \"%.*s\" is invalid", BW_STR_ARG(*v));
            return BW_CONF_ERROR;
        }
        if (memchr(v->data, '/', v->len)) {
            bw_conf_log(cf, BW_LOG_WARN, 0, "server name \"%.*s\" has suspicious symbols",
                        BW_STR_ARG(*v));
        }
        bw_http_server_name_t *sn = bw_array_push(&cscf->server_names);
        if (sn == NULL) {
            return BW_CONF_ERROR;
        }
        memset(sn, 0, sizeof(*sn));
        sn->server = cscf;
        if (ch == '~') {
            if (bw_http_core_server_name_regex(cf, cscf, sn, v) != BW_CONF_OK) {
                return BW_CONF_ERROR;
            }
            continue;
        }
        bw_str_t hostname = bw_string("$hostname");
        if (bw_str_caseeq(v, &hostname)) {
            if (bw_pstrcopy(cf->pool, &sn->name, &cf->cycle->hostname) != BW_OK) {
                return BW_CONF_ERROR;
            }
        } else {
            sn->name = *v;
        }
        bw_strlow(sn->name.data, sn->name.data, sn->name.len);
    }
    return BW_CONF_OK;
}
