/*
 * proxy_ssl.c -- the proxy_ssl module: TLS from bulwark to backends,
 * `proxy_pass https://...` and the proxy_ssl_* directives.
 *
 * Every location whose proxy_pass speaks TLS (or has variables, so may)
 * gets a client context built from its merged proxy_ssl_* settings: the
 * protocols and ciphers offered, the client certificate shown to the
 * backend, the trusted CAs and CRL its certificate is verified with, and
 * whether sessions are reused. A location that sets none of them itself
 * shares its parent's context. Nothing is built where no proxy_pass speaks
 * TLS, so settings there are not checked (as nginx).
 *
 * At run time the upstream core calls in through bw_upstream_ssl_hooks
 * (http/upstream.h) once the TCP connection to a peer is up: the handshake
 * runs (SNI from proxy_ssl_name when proxy_ssl_server_name is on), bounded
 * by proxy_connect_timeout, then with proxy_ssl_verify the chain and the
 * name are checked. A failure is the peer's: the next upstream, or 502.
 * Kept-alive connections keep their TLS state and skip all of this.
 *
 * Not supported: certificates and keys named with variables, "data:" and
 * "engine:" keys, proxy_ssl_certificate_cache and proxy_ssl_key_log.
 */
#include "core_module.h"
#include "http.h"
#include "pool.h"
#include "request.h"
#include "script.h"
#include "tls.h"
#include "upstream.h"

#include <openssl/x509.h>

#include <string.h>

extern bw_module_t bw_proxy_ssl_module;

#define BW_PROXY_SSL_DEFAULT_PROTOCOLS (BW_TLS_TLSv1_2 | BW_TLS_TLSv1_3)

typedef struct {
    bw_tls_client_t         *client;       /* NULL where no proxy_pass speaks TLS */
    bool                     enabled;      /* proxy_pass https:// (or with variables) here */
    bw_int_t                 server_name;  /* proxy_ssl_server_name, off */
    bw_http_complex_value_t *name;         /* proxy_ssl_name; $proxy_host when unset */
    bw_int_t                 verify;       /* proxy_ssl_verify, off */
    bw_int_t                 verify_depth; /* 1 */
    bw_str_t                 trusted_certificate;
    bw_str_t                 crl;
    bw_str_t                 certificate;
    bw_str_t                 certificate_key;
    bw_array_t              *passwords;    /* bw_str_t from proxy_ssl_password_file */
    bw_uint_t                protocols;    /* BW_TLS_* bits; 0: unset */
    bw_str_t                 ciphers;      /* DEFAULT */
    bw_int_t                 session_reuse; /* on */
    bw_array_t              *conf_commands; /* bw_keyval_t */
} bw_proxy_ssl_loc_conf_t;

typedef struct {
    bw_http_complex_value_t *default_name; /* "$proxy_host", compiled once when needed */
} bw_proxy_ssl_main_conf_t;

/* Per request: the name the current peer's certificate must carry. */
typedef struct {
    bw_str_t name;
} bw_proxy_ssl_ctx_t;

static bw_rc_t bw_proxy_ssl_preconfiguration(bw_conf_t *cf);
static void *bw_proxy_ssl_create_main(bw_conf_t *cf);
static void *bw_proxy_ssl_create_loc(bw_conf_t *cf);
static const char *bw_proxy_ssl_merge_loc(bw_conf_t *cf, void *prev, void *conf);
static const char *bw_proxy_ssl_set_name(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_proxy_ssl_set_path(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_proxy_ssl_set_certificate(bw_conf_t *cf, const bw_directive_t *d,
                                                void *conf);
static const char *bw_proxy_ssl_set_password_file(bw_conf_t *cf, const bw_directive_t *d,
                                                  void *conf);

static const bw_conf_enum_t bw_proxy_ssl_protocols[] = {
    {"SSLv2", BW_TLS_SSLv2},     {"SSLv3", BW_TLS_SSLv3},     {"TLSv1", BW_TLS_TLSv1},
    {"TLSv1.1", BW_TLS_TLSv1_1}, {"TLSv1.2", BW_TLS_TLSv1_2}, {"TLSv1.3", BW_TLS_TLSv1_3},
    {NULL, 0},
};

#define BW_PROXY_SSL_WHERE (BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC)
#define BW_PROXY_SSL_OFF(f) offsetof(bw_proxy_ssl_loc_conf_t, f)

static const bw_directive_t bw_proxy_ssl_directives[] = {
    {"proxy_ssl_server_name", BW_PROXY_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_PROXY_SSL_OFF(server_name), NULL},
    {"proxy_ssl_name", BW_PROXY_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC, bw_proxy_ssl_set_name,
     BW_PROXY_SSL_OFF(name), NULL},
    {"proxy_ssl_verify", BW_PROXY_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_PROXY_SSL_OFF(verify), NULL},
    {"proxy_ssl_verify_depth", BW_PROXY_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_num,
     BW_PROXY_SSL_OFF(verify_depth), NULL},
    {"proxy_ssl_trusted_certificate", BW_PROXY_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC,
     bw_proxy_ssl_set_path, BW_PROXY_SSL_OFF(trusted_certificate), NULL},
    {"proxy_ssl_crl", BW_PROXY_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC, bw_proxy_ssl_set_path,
     BW_PROXY_SSL_OFF(crl), NULL},
    {"proxy_ssl_certificate", BW_PROXY_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC,
     bw_proxy_ssl_set_certificate, BW_PROXY_SSL_OFF(certificate), NULL},
    {"proxy_ssl_certificate_key", BW_PROXY_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC,
     bw_proxy_ssl_set_certificate, BW_PROXY_SSL_OFF(certificate_key), NULL},
    {"proxy_ssl_password_file", BW_PROXY_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC,
     bw_proxy_ssl_set_password_file, 0, NULL},
    {"proxy_ssl_protocols", BW_PROXY_SSL_WHERE, BW_ARGS_1MORE, BW_CONF_LOC, bw_conf_set_bitmask,
     BW_PROXY_SSL_OFF(protocols), bw_proxy_ssl_protocols},
    {"proxy_ssl_ciphers", BW_PROXY_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_str,
     BW_PROXY_SSL_OFF(ciphers), NULL},
    {"proxy_ssl_session_reuse", BW_PROXY_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_PROXY_SSL_OFF(session_reuse), NULL},
    {"proxy_ssl_conf_command", BW_PROXY_SSL_WHERE, BW_ARGS_TAKE2, BW_CONF_LOC,
     bw_conf_set_keyval, BW_PROXY_SSL_OFF(conf_commands), NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_proxy_ssl_module_ctx = {
    .preconfiguration = bw_proxy_ssl_preconfiguration,
    .create_main = bw_proxy_ssl_create_main,
    .create_loc = bw_proxy_ssl_create_loc,
    .merge_loc = bw_proxy_ssl_merge_loc,
};

bw_module_t bw_proxy_ssl_module = {
    .name = "proxy_ssl",
    .type = BW_MODULE_HTTP,
    .directives = bw_proxy_ssl_directives,
    .ctx = &bw_proxy_ssl_module_ctx,
};

/* ================================================================ */
/* the handshake with a peer                                         */
/* ================================================================ */

/*
 * The name of this request's peers: proxy_ssl_name (default $proxy_host)
 * without a port, which $proxy_host and $http_host may carry.
 */
static bw_rc_t
bw_proxy_ssl_name(bw_http_request_t *r, const bw_proxy_ssl_loc_conf_t *pscf, bw_str_t *name)
{
    if (bw_http_complex_value(r, pscf->name, name) != BW_OK) {
        return BW_ERROR;
    }
    u_char *p = name->data, *last = name->data + name->len;
    if (name->len && *p == '[') {
        u_char *bracket = memchr(p, ']', name->len);
        p = bracket ? bracket : name->data;
    }
    u_char *colon = p < last ? memchr(p, ':', (size_t) (last - p)) : NULL;
    if (colon != NULL) {
        name->len = (size_t) (colon - name->data);
    }
    return BW_OK;
}

/* With proxy_ssl_verify: the peer's chain and name. BW_OK or BW_DECLINED (logged). */
static bw_rc_t
bw_proxy_ssl_check(bw_http_request_t *r, bw_connection_t *c)
{
    const bw_proxy_ssl_loc_conf_t *pscf = bw_http_get_loc_conf(r, bw_proxy_ssl_module);
    const bw_proxy_ssl_ctx_t *ctx = bw_http_get_ctx(r, bw_proxy_ssl_module);

    if (!pscf->verify) {
        return BW_OK;
    }
    long rc = bw_tls_client_verify_result(c);
    if (rc != X509_V_OK) {
        bw_log_error(BW_LOG_ERR, c->log, 0, "upstream SSL certificate verify error: (%ld:%s)", rc,
                     X509_verify_cert_error_string(rc));
        return BW_DECLINED;
    }
    if (bw_tls_client_check_name(c, &ctx->name) != BW_OK) {
        bw_log_error(BW_LOG_ERR, c->log, 0, "upstream SSL certificate does not match \"%.*s\"",
                     BW_STR_ARG(ctx->name));
        return BW_DECLINED;
    }
    return BW_OK;
}

/* The handshake that bw_proxy_ssl_init left running ended. */
static void
bw_proxy_ssl_handshake_end(bw_connection_t *c)
{
    bw_upstream_t     *u = c->data;
    bw_http_request_t *r = u->request;
    bw_uint_t          ft_type = 0;

    if (c->timedout) {
        ft_type = BW_UPSTREAM_FT_TIMEOUT; /* logged by the upstream as "upstream timed out" */
    } else if (!bw_tls_conn(c)->handshaked || bw_proxy_ssl_check(r, c) != BW_OK) {
        ft_type = BW_UPSTREAM_FT_ERROR;
    }
    bw_upstream_ssl_done(r, u, ft_type);
}

/* bw_upstream_ssl_hooks.init: a fresh connection to an https:// peer is up. */
static bw_rc_t
bw_proxy_ssl_init(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_proxy_ssl_loc_conf_t *pscf = bw_http_get_loc_conf(r, bw_proxy_ssl_module);
    bw_proxy_ssl_ctx_t      *ctx = bw_http_get_ctx(r, bw_proxy_ssl_module);
    bw_connection_t         *c = u->peer.connection;

    if (pscf->client == NULL) {
        bw_log_error(BW_LOG_ALERT, c->log, 0, "no client TLS context for \"%.*s\"",
                     BW_STR_ARG(u->url));
        return BW_ERROR;
    }
    if (ctx == NULL) {
        ctx = bw_pcalloc(r->pool, sizeof(*ctx));
        if (ctx == NULL) {
            return BW_ERROR;
        }
        bw_http_set_ctx(r, ctx, bw_proxy_ssl_module);
    }
    if (bw_proxy_ssl_name(r, pscf, &ctx->name) != BW_OK) {
        return BW_ERROR;
    }
    r->connection->log->action = "SSL handshaking to upstream";
    if (bw_tls_client_conn_create(pscf->client, c, &ctx->name, pscf->server_name) != BW_OK) {
        return BW_ERROR;
    }
    bw_tls_conn(c)->handler = bw_proxy_ssl_handshake_end;

    bw_rc_t rc = bw_tls_client_handshake(c);
    if (rc == BW_AGAIN) {
        /* proxy_connect_timeout bounds the handshake too; a connect still in
         * progress a moment ago has its timer running already */
        if (!c->write->timer_set) {
            bw_event_add_timer(c->write, u->conf->connect_timeout);
        }
        return BW_AGAIN;
    }
    if (rc != BW_OK) {
        return BW_DECLINED;
    }
    return bw_proxy_ssl_check(r, c);
}

/* bw_upstream_ssl_hooks.conf: the location being parsed proxies over TLS. */
static bw_rc_t
bw_proxy_ssl_conf(bw_conf_t *cf)
{
    bw_proxy_ssl_loc_conf_t *pscf = bw_http_conf_get_loc_conf(cf, bw_proxy_ssl_module);

    pscf->enabled = true;
    return BW_OK;
}

/* ================================================================ */
/* configuration                                                     */
/* ================================================================ */

static bw_rc_t
bw_proxy_ssl_preconfiguration(bw_conf_t *cf)
{
    bw_upstream_ssl_hooks.conf = bw_proxy_ssl_conf;
    bw_upstream_ssl_hooks.init = bw_proxy_ssl_init;
    return BW_OK;
}

static const char *
bw_proxy_ssl_set_name(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_proxy_ssl_loc_conf_t *pscf = conf;
    const bw_str_t          *value = cf->args->elts;

    if (pscf->name != BW_CONF_UNSET_PTR) {
        return "is duplicate";
    }
    return bw_http_compile_complex_value(cf, &value[1], &pscf->name) == BW_OK ? BW_CONF_OK
                                                                              : BW_CONF_ERROR;
}

/* A file name, made absolute against the conf prefix. */
static const char *
bw_proxy_ssl_set_path(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    const char *rv = bw_conf_set_str(cf, d, conf);

    if (rv != BW_CONF_OK) {
        return rv;
    }
    bw_str_t *field = (bw_str_t *) ((u_char *) conf + d->offset);
    return bw_conf_full_name(cf->cycle, field, true) == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}

static const char *
bw_proxy_ssl_set_certificate(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    const bw_str_t *value = &((bw_str_t *) cf->args->elts)[1];

    if (memchr(value->data, '$', value->len)) {
        bw_conf_error(cf, "variables in \"%s\" are not supported", d->name);
        return BW_CONF_ERROR;
    }
    if ((value->len > 5 && memcmp(value->data, "data:", 5) == 0)
        || (value->len > 7 && memcmp(value->data, "engine:", 7) == 0)
        || (value->len > 6 && memcmp(value->data, "store:", 6) == 0)) {
        bw_conf_error(cf, "\"%.*s\" in \"%s\" is not supported", BW_STR_ARG(*value), d->name);
        return BW_CONF_ERROR;
    }
    return bw_proxy_ssl_set_path(cf, d, conf);
}

static const char *
bw_proxy_ssl_set_password_file(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_proxy_ssl_loc_conf_t *pscf = conf;
    bw_str_t                 file = ((bw_str_t *) cf->args->elts)[1];

    if (pscf->passwords != BW_CONF_UNSET_PTR) {
        return "is duplicate";
    }
    if (bw_conf_full_name(cf->cycle, &file, true) != BW_OK) {
        return BW_CONF_ERROR;
    }
    pscf->passwords = bw_tls_read_passwords(cf, &file);
    return pscf->passwords ? BW_CONF_OK : BW_CONF_ERROR;
}

static void *
bw_proxy_ssl_create_main(bw_conf_t *cf)
{
    return bw_pcalloc(cf->pool, sizeof(bw_proxy_ssl_main_conf_t));
}

static void *
bw_proxy_ssl_create_loc(bw_conf_t *cf)
{
    bw_proxy_ssl_loc_conf_t *pscf = bw_pcalloc(cf->pool, sizeof(*pscf));

    if (pscf == NULL) {
        return NULL;
    }
    /* calloc: client, strings and protocols are unset */
    pscf->server_name = BW_CONF_UNSET;
    pscf->name = BW_CONF_UNSET_PTR;
    pscf->verify = BW_CONF_UNSET;
    pscf->verify_depth = BW_CONF_UNSET;
    pscf->passwords = BW_CONF_UNSET_PTR;
    pscf->session_reuse = BW_CONF_UNSET;
    pscf->conf_commands = BW_CONF_UNSET_PTR;
    return pscf;
}

/* True when conf sets, at its own level, something its client context is made of. */
static bool
bw_proxy_ssl_context_set_here(const bw_proxy_ssl_loc_conf_t *conf)
{
    return conf->verify != BW_CONF_UNSET || conf->verify_depth != BW_CONF_UNSET
           || conf->trusted_certificate.data || conf->crl.data || conf->certificate.data
           || conf->certificate_key.data || conf->passwords != BW_CONF_UNSET_PTR
           || conf->protocols != 0 || conf->ciphers.data
           || conf->session_reuse != BW_CONF_UNSET || conf->conf_commands != BW_CONF_UNSET_PTR;
}

static void
bw_proxy_ssl_merge_values(const bw_proxy_ssl_loc_conf_t *prev, bw_proxy_ssl_loc_conf_t *conf)
{
    bw_conf_merge_value(conf->server_name, prev->server_name, 0);
    bw_conf_merge_ptr(conf->name, prev->name, NULL);
    bw_conf_merge_value(conf->verify, prev->verify, 0);
    bw_conf_merge_value(conf->verify_depth, prev->verify_depth, 1);
    bw_conf_merge_str(conf->trusted_certificate, prev->trusted_certificate, "");
    bw_conf_merge_str(conf->crl, prev->crl, "");
    bw_conf_merge_str(conf->certificate, prev->certificate, "");
    bw_conf_merge_str(conf->certificate_key, prev->certificate_key, "");
    bw_conf_merge_ptr(conf->passwords, prev->passwords, NULL);
    if (conf->protocols == 0) {
        conf->protocols = prev->protocols ? prev->protocols : BW_PROXY_SSL_DEFAULT_PROTOCOLS;
    }
    bw_conf_merge_str(conf->ciphers, prev->ciphers, "DEFAULT");
    bw_conf_merge_value(conf->session_reuse, prev->session_reuse, 1);
    bw_conf_merge_ptr(conf->conf_commands, prev->conf_commands, NULL);
}

/* Builds the client context of conf's merged settings, in nginx's order of checks. */
static bw_rc_t
bw_proxy_ssl_client_build(bw_conf_t *cf, bw_proxy_ssl_loc_conf_t *conf)
{
    static const bw_str_t none = {0, (u_char *) ""};

    if (conf->certificate.len && conf->certificate_key.len == 0) {
        bw_conf_error(cf, "no \"proxy_ssl_certificate_key\" is defined for certificate \"%.*s\"",
                      BW_STR_ARG(conf->certificate));
        return BW_ERROR;
    }
    conf->client = bw_tls_client_create(cf, conf->session_reuse != 0);
    if (conf->client == NULL) {
        return BW_ERROR;
    }
    SSL_CTX *ctx = conf->client->ctx;
    if (bw_tls_ctx_protocols(cf, ctx, conf->protocols) != BW_OK
        || (conf->certificate.len
            && bw_tls_ctx_certificate(cf, ctx, &conf->certificate, &conf->certificate_key,
                                      conf->passwords) != BW_OK)
        || bw_tls_ctx_ciphers(cf, ctx, &conf->ciphers, false) != BW_OK) {
        return BW_ERROR;
    }
    if (conf->verify) {
        if (conf->trusted_certificate.len == 0) {
            bw_conf_error(cf, "no proxy_ssl_trusted_certificate for proxy_ssl_verify");
            return BW_ERROR;
        }
        if (bw_tls_ctx_verify(cf, ctx, conf->verify_depth, &none, &conf->trusted_certificate,
                              &conf->crl) != BW_OK) {
            return BW_ERROR;
        }
    }
    if (conf->conf_commands && bw_tls_ctx_conf_commands(cf, ctx, conf->conf_commands, false)
                                   != BW_OK) {
        return BW_ERROR;
    }
    return BW_OK;
}

/* The default proxy_ssl_name: $proxy_host, compiled once per configuration. */
static bw_http_complex_value_t *
bw_proxy_ssl_default_name(bw_conf_t *cf)
{
    bw_proxy_ssl_main_conf_t *pmcf = bw_http_conf_get_main_conf(cf, bw_proxy_ssl_module);
    static const bw_str_t     proxy_host = {sizeof("$proxy_host") - 1, (u_char *) "$proxy_host"};

    if (pmcf->default_name == NULL
        && bw_http_compile_complex_value(cf, &proxy_host, &pmcf->default_name) != BW_OK) {
        return NULL;
    }
    return pmcf->default_name;
}

static const char *
bw_proxy_ssl_merge_loc(bw_conf_t *cf, void *parent, void *child)
{
    bw_proxy_ssl_loc_conf_t *prev = parent, *conf = child;
    bw_http_core_loc_conf_t *clcf = bw_http_conf_get_loc_conf(cf, bw_http_core_module);
    bool                     own = bw_proxy_ssl_context_set_here(conf);

    bw_proxy_ssl_merge_values(prev, conf);
    if (clcf->noname && !conf->enabled) {
        /* if{} and limit_except{} blocks proxy where their location does */
        conf->enabled = prev->enabled;
    }
    if (!conf->enabled) {
        return BW_CONF_OK;
    }
    if (conf->name == NULL && (conf->name = bw_proxy_ssl_default_name(cf)) == NULL) {
        return BW_CONF_ERROR;
    }
    if (!own && prev->client != NULL) {
        conf->client = prev->client; /* the same settings: the same context */
        return BW_CONF_OK;
    }
    /* OpenSSL's and these messages name no configuration line, as nginx's */
    bw_conf_file_t *file = cf->file;
    cf->file = NULL;
    bw_rc_t rc = bw_proxy_ssl_client_build(cf, conf);
    cf->file = file;
    if (rc != BW_OK) {
        return BW_CONF_ERROR;
    }
    if (!own && prev->client == NULL) {
        prev->client = conf->client; /* siblings that inherit the same settings share it */
    }
    return BW_CONF_OK;
}
