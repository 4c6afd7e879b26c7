/*
 * ssl.c -- the ssl module: HTTPS. An address with `listen ... ssl` (or a
 * default server with the obsolete `ssl on`) runs a TLS handshake before
 * its first request: the ssl_* directives of each server build one OpenSSL
 * context per server (event/tls.h), SNI picks the server (by the same
 * server_name rules as the Host header) and so its certificate, ALPN says
 * http/1.1, and once a request head is read the module answers 497 to plain
 * HTTP sent to a TLS address and 495 / 496 for client certificates that
 * fail verification or are missing. It also provides the $ssl_* variables
 * ($https and $scheme are core variables).
 *
 * The engine calls in through two hooks (http/request.h): one when a
 * connection is accepted, one before a request's phases.
 *
 * Not supported: certificates named with variables or given as "data:",
 * keys from engines, TLS 1.3 early data ($ssl_early_data is always empty),
 * and OCSP validation of client certificates (ssl_ocsp). OCSP responses
 * for stapling come from ssl_stapling_file, or are fetched by the workers
 * (event/tls_ocsp.c; a responder's host name is resolved at load time).
 */
#include "core_module.h"
#include "io.h"
#include "log.h"
#include "parse.h"
#include "pool.h"
#include "regex.h"
#include "server_name.h"
#include "shm.h"
#include "tls.h"
#include "variables.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define BW_SSL_DEFAULT_PROTOCOLS (BW_TLS_TLSv1_2 | BW_TLS_TLSv1_3)
#define BW_SSL_DEFAULT_CIPHERS   "HIGH:!aNULL:!MD5"

typedef struct {
    SSL_CTX       *ctx;              /* NULL: no certificate and no reject_handshake */
    bw_int_t       enable;           /* obsolete `ssl on` */
    bw_array_t    *certificates;     /* bw_str_t, absolute */
    bw_array_t    *certificate_keys; /* bw_str_t, absolute */
    bw_array_t    *passwords;        /* bw_str_t from ssl_password_file */
    bw_uint_t      protocols;        /* BW_TLS_* bits; 0: unset */
    bw_str_t       ciphers;
    bw_int_t       prefer_server_ciphers;
    bw_str_t       ecdh_curve;
    bw_str_t       dhparam;
    bw_array_t    *conf_commands;    /* bw_keyval_t */
    size_t         buffer_size;
    bw_uint_t      verify;           /* BW_TLS_VERIFY_* */
    bw_int_t       verify_depth;
    bw_str_t       client_certificate;
    bw_str_t       trusted_certificate;
    bw_str_t       crl;
    bw_int_t       builtin_session_cache; /* BW_TLS_CACHE_* or a size; UNSET */
    bw_shm_zone_t *shm_zone;
    time_t         session_timeout;
    bw_int_t       session_tickets;
    bw_array_t    *session_ticket_keys;   /* bw_str_t, absolute */
    bw_int_t       reject_handshake;
    bw_int_t       early_data;
    bw_int_t       stapling;
    bw_int_t       stapling_verify;
    bw_str_t       stapling_file;
    bw_str_t       stapling_responder;
    bw_uint_t      ocsp;
    bw_str_t       ocsp_responder;
} bw_ssl_srv_conf_t;

static bw_rc_t bw_ssl_add_variables(bw_conf_t *cf);
static bw_rc_t bw_ssl_postconfiguration(bw_conf_t *cf);
static void *bw_ssl_create_srv(bw_conf_t *cf);
static const char *bw_ssl_merge_srv(bw_conf_t *cf, void *prev, void *conf);
static const char *bw_ssl_set_enable(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_ssl_set_certificate(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_ssl_set_path(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_ssl_set_path_array(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_ssl_set_password_file(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_ssl_set_session_cache(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_ssl_set_ocsp(bw_conf_t *cf, const bw_directive_t *d, void *conf);

static const bw_conf_enum_t bw_ssl_protocols[] = {
    {"SSLv2", BW_TLS_SSLv2},     {"SSLv3", BW_TLS_SSLv3},     {"TLSv1", BW_TLS_TLSv1},
    {"TLSv1.1", BW_TLS_TLSv1_1}, {"TLSv1.2", BW_TLS_TLSv1_2}, {"TLSv1.3", BW_TLS_TLSv1_3},
    {NULL, 0},
};

static const bw_conf_enum_t bw_ssl_verify[] = {
    {"off", BW_TLS_VERIFY_OFF},
    {"on", BW_TLS_VERIFY_ON},
    {"optional", BW_TLS_VERIFY_OPTIONAL},
    {"optional_no_ca", BW_TLS_VERIFY_OPTIONAL_NO_CA},
    {NULL, 0},
};

static const bw_conf_enum_t bw_ssl_ocsp_values[] = {
    {"off", 0}, {"on", 1}, {"leaf", 2}, {NULL, 0},
};

#define BW_SSL_WHERE (BW_CTX_HTTP | BW_CTX_SRV)
#define BW_SSL_OFF(field) offsetof(bw_ssl_srv_conf_t, field)

static const bw_directive_t bw_ssl_directives[] = {
    {"ssl", BW_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_SRV, bw_ssl_set_enable, BW_SSL_OFF(enable), NULL},
    {"ssl_certificate", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_certificate,
     BW_SSL_OFF(certificates), NULL},
    {"ssl_certificate_key", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_certificate,
     BW_SSL_OFF(certificate_keys), NULL},
    {"ssl_password_file", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_password_file, 0,
     NULL},
    {"ssl_dhparam", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_path,
     BW_SSL_OFF(dhparam), NULL},
    {"ssl_ecdh_curve", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_str,
     BW_SSL_OFF(ecdh_curve), NULL},
    {"ssl_protocols", BW_SSL_WHERE, BW_ARGS_1MORE, BW_CONF_SRV, bw_conf_set_bitmask,
     BW_SSL_OFF(protocols), bw_ssl_protocols},
    {"ssl_ciphers", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_str,
     BW_SSL_OFF(ciphers), NULL},
    {"ssl_buffer_size", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_size,
     BW_SSL_OFF(buffer_size), NULL},
    {"ssl_verify_client", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_enum,
     BW_SSL_OFF(verify), bw_ssl_verify},
    {"ssl_verify_depth", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_num,
     BW_SSL_OFF(verify_depth), NULL},
    {"ssl_client_certificate", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_path,
     BW_SSL_OFF(client_certificate), NULL},
    {"ssl_trusted_certificate", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_path,
     BW_SSL_OFF(trusted_certificate), NULL},
    {"ssl_crl", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_path, BW_SSL_OFF(crl), NULL},
    {"ssl_prefer_server_ciphers", BW_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_SRV, bw_conf_set_flag,
     BW_SSL_OFF(prefer_server_ciphers), NULL},
    {"ssl_session_cache", BW_SSL_WHERE, BW_ARGS_TAKE12, BW_CONF_SRV, bw_ssl_set_session_cache,
     0, NULL},
    {"ssl_session_tickets", BW_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_SRV, bw_conf_set_flag,
     BW_SSL_OFF(session_tickets), NULL},
    {"ssl_session_ticket_key", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_path_array,
     BW_SSL_OFF(session_ticket_keys), NULL},
    {"ssl_session_timeout", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_sec,
     BW_SSL_OFF(session_timeout), NULL},
    {"ssl_reject_handshake", BW_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_SRV, bw_conf_set_flag,
     BW_SSL_OFF(reject_handshake), NULL},
    {"ssl_early_data", BW_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_SRV, bw_conf_set_flag,
     BW_SSL_OFF(early_data), NULL},
    {"ssl_conf_command", BW_SSL_WHERE, BW_ARGS_TAKE2, BW_CONF_SRV, bw_conf_set_keyval,
     BW_SSL_OFF(conf_commands), NULL},
    {"ssl_stapling", BW_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_SRV, bw_conf_set_flag,
     BW_SSL_OFF(stapling), NULL},
    {"ssl_stapling_file", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_path,
     BW_SSL_OFF(stapling_file), NULL},
    {"ssl_stapling_responder", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_str,
     BW_SSL_OFF(stapling_responder), NULL},
    {"ssl_stapling_verify", BW_SSL_WHERE, BW_ARGS_FLAG, BW_CONF_SRV, bw_conf_set_flag,
     BW_SSL_OFF(stapling_verify), NULL},
    {"ssl_ocsp", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_ssl_set_ocsp, BW_SSL_OFF(ocsp),
     bw_ssl_ocsp_values},
    {"ssl_ocsp_responder", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_str,
     BW_SSL_OFF(ocsp_responder), NULL},
    {"ssl_ocsp_cache", BW_SSL_WHERE, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_noop, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_ssl_module_ctx = {
    .preconfiguration = bw_ssl_add_variables,
    .postconfiguration = bw_ssl_postconfiguration,
    .create_srv = bw_ssl_create_srv,
    .merge_srv = bw_ssl_merge_srv,
};

bw_module_t bw_ssl_module = {
    .name = "ssl",
    .type = BW_MODULE_HTTP,
    .directives = bw_ssl_directives,
    .ctx = &bw_ssl_module_ctx,
};

static bw_ssl_srv_conf_t *
bw_ssl_srv_of(const bw_http_core_srv_conf_t *cscf)
{
    return cscf->ctx->srv_conf[bw_ssl_module.index];
}

/* ---------------------------------------------------------- SNI, ALPN */

static bw_rc_t
bw_ssl_sni_regex_match(void *data, const bw_http_server_name_t *sn, const bw_str_t *host)
{
    return bw_regex_match(sn->regex, host) ? BW_OK : BW_DECLINED;
}

/*
 * OpenSSL's servername callback (also called without SNI): picks the
 * virtual server by name among those of the connection's address, switches
 * to its context, or refuses the handshake (ssl_reject_handshake).
 */
static int
bw_ssl_servername(SSL *ssl, int *ad, void *arg)
{
    bw_connection_t *c = bw_tls_ssl_connection(ssl);
    bw_http_addr_conf_t *ac = c ? bw_http_connection_addr_conf(c) : NULL;

    if (ac == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    bw_http_core_srv_conf_t *cscf = ac->default_server;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL || *name == '\0') {
        if (bw_ssl_srv_of(cscf)->reject_handshake) {
            bw_tls_conn(c)->no_send_shutdown = 1;
            *ad = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        return SSL_TLSEXT_ERR_NOACK;
    }
    bw_str_t host = {strlen(name), (u_char *) name};
    if (bw_http_validate_host(&host, c->pool) != BW_OK) {
        bw_log_error(BW_LOG_INFO, c->log, 0, "client sent invalid server name \"%s\"", name);
        *ad = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (ac->names) {
        bw_http_core_srv_conf_t *found = NULL;
        if (bw_http_server_names_find(ac->names, &host, bw_ssl_sni_regex_match, NULL, &found,
                                      NULL) == BW_OK) {
            cscf = found;
        }
    }
    bw_tls_conn(c)->data = cscf->ctx;
    bw_ssl_srv_conf_t *sscf = bw_ssl_srv_of(cscf);
    if (sscf->ctx && sscf->ctx != SSL_get_SSL_CTX(ssl)) {
        if (SSL_set_SSL_CTX(ssl, sscf->ctx) == NULL) {
            *ad = SSL_AD_INTERNAL_ERROR;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        /* what SSL_new copied from the first context follows the new one */
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(sscf->ctx),
                       SSL_CTX_get_verify_callback(sscf->ctx));
        SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(sscf->ctx));
        SSL_clear_options(ssl, SSL_get_options(ssl) & ~SSL_CTX_get_options(sscf->ctx));
        SSL_set_options(ssl, SSL_CTX_get_options(sscf->ctx));
    }
    if (sscf->reject_handshake) {
        bw_tls_conn(c)->no_send_shutdown = 1;
        *ad = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: HTTP/1.x only; a client offering none of them is refused. */
static int
bw_ssl_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char protos[] = "\x08http/1.1\x08http/1.0\x08http/0.9";
    unsigned char *selected;

    if (SSL_select_next_proto(&selected, outlen, protos, sizeof(protos) - 1, in, inlen)
        != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

/* ------------------------------------------------------- connections */

static bw_ssl_srv_conf_t *
bw_ssl_addr_conf(bw_connection_t *c, bw_http_addr_conf_t **acp)
{
    bw_http_addr_conf_t *ac = bw_http_connection_addr_conf(c);

    *acp = ac;
    return ac && ac->default_server ? bw_ssl_srv_of(ac->default_server) : NULL;
}

static void
bw_ssl_handshake_end(bw_connection_t *c)
{
    bw_tls_conn_t *tc = c->ssl;

    if (!tc->handshaked) {
        bw_http_ssl_handshake_done(c, BW_ERROR, NULL);
        return;
    }
    bw_http_ssl_handshake_done(c, BW_OK, tc->data);
}

static void
bw_ssl_handshake_start(bw_connection_t *c, bw_ssl_srv_conf_t *sscf)
{
    if (sscf->ctx == NULL) {
        bw_log_error(BW_LOG_ERR, c->log, 0,
                     "no \"ssl_certificate\" is defined in server listening on SSL port");
        bw_http_ssl_handshake_done(c, BW_ERROR, NULL);
        return;
    }
    if (bw_tls_conn_create(sscf->ctx, c, sscf->buffer_size) != BW_OK) {
        bw_http_ssl_handshake_done(c, BW_ERROR, NULL);
        return;
    }
    bw_tls_conn(c)->handler = bw_ssl_handshake_end;
    if (bw_tls_handshake(c) == BW_AGAIN) {
        return;
    }
    bw_ssl_handshake_end(c);
}

/*
 * Read handler of a fresh connection on a TLS address: the first byte
 * tells a TLS record (handshake 0x16, or an SSLv2-style hello with the high
 * bit) from plain HTTP, which is served so that it can get the 497 page.
 */
static void
bw_ssl_detect_handler(bw_event_t *rev)
{
    bw_connection_t *c = rev->data;
    bw_http_addr_conf_t *ac;
    u_char byte;

    if (rev->timedout) {
        bw_log_error(BW_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        c->timedout = 1;
        bw_http_ssl_handshake_done(c, BW_ERROR, NULL);
        return;
    }
    if (c->close) {
        bw_http_ssl_handshake_done(c, BW_ERROR, NULL);
        return;
    }
    ssize_t n;
    do {
        n = recv(c->fd, &byte, 1, MSG_PEEK);
    } while (n == -1 && errno == EINTR);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        rev->ready = 0;
        if (!c->reusable) {
            bw_connection_reusable(c, true);
        }
        return;
    }
    if (n <= 0) {
        if (n == 0) {
            bw_log_error(BW_LOG_INFO, c->log, 0, "client closed connection");
        } else {
            bw_io_error_log(c, errno, "recv()");
        }
        bw_http_ssl_handshake_done(c, BW_ERROR, NULL);
        return;
    }
    if (c->reusable) {
        bw_connection_reusable(c, false);
    }
    if (byte == 0x16 || (byte & 0x80)) {
        bw_ssl_srv_conf_t *sscf = bw_ssl_addr_conf(c, &ac);
        bw_ssl_handshake_start(c, sscf);
        return;
    }
    bw_http_ssl_handshake_done(c, BW_OK, NULL); /* plain HTTP: answered with 497 */
}

static bw_rc_t
bw_ssl_connection_hook(bw_connection_t *c)
{
    bw_http_addr_conf_t *ac;
    bw_ssl_srv_conf_t *sscf = bw_ssl_addr_conf(c, &ac);

    if (sscf == NULL || (!ac->opt->ssl && !sscf->enable)) {
        return BW_DECLINED;
    }
    c->log->action = "SSL handshaking";
    c->read->handler = bw_ssl_detect_handler;
    if (c->read->ready) {
        bw_ssl_detect_handler(c->read);
        return BW_OK;
    }
    bw_connection_reusable(c, true);
    return BW_OK;
}

/* Verification errors optional_no_ca lets through: an unknown issuer. */
static bool
bw_ssl_verify_error_optional(long rc)
{
    return rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
           || rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
           || rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
           || rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
           || rc == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
           || rc == X509_V_ERR_CERT_UNTRUSTED;
}

static bw_int_t
bw_ssl_request_hook(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;
    bw_http_addr_conf_t *ac;

    if (c->ssl == NULL) {
        bw_ssl_srv_conf_t *dflt = bw_ssl_addr_conf(c, &ac);
        if (dflt && (ac->opt->ssl || dflt->enable)) {
            bw_log_error(BW_LOG_INFO, c->log, 0, "client sent plain HTTP request to HTTPS port");
            return 497;
        }
        return BW_OK;
    }
    bw_tls_conn_t *tc = c->ssl;
    bw_ssl_srv_conf_t *sscf = bw_http_get_srv_conf(r, bw_ssl_module);
    if (sscf->verify == BW_TLS_VERIFY_OFF) {
        return BW_OK;
    }
    const bw_conf_ctx_t *sni = tc->data;
    if (sni && sni->srv_conf != r->srv_conf) {
        /* the certificate was checked against another server's settings */
        bw_log_error(BW_LOG_INFO, c->log, 0, "client attempted to request the server name "
                     "different from the one that was negotiated");
        return 421;
    }
    long rc = SSL_get_verify_result(tc->ssl);
    if (rc != X509_V_OK
        && (sscf->verify != BW_TLS_VERIFY_OPTIONAL_NO_CA || !bw_ssl_verify_error_optional(rc))) {
        bw_log_error(BW_LOG_INFO, c->log, 0, "client SSL certificate verify error: (%ld:%s)", rc,
                     X509_verify_cert_error_string(rc));
        return 495;
    }
    if (sscf->verify == BW_TLS_VERIFY_ON && SSL_get0_peer_certificate(tc->ssl) == NULL) {
        bw_log_error(BW_LOG_INFO, c->log, 0, "client sent no required SSL certificate");
        return 496;
    }
    return BW_OK;
}

/* ---------------------------------------------------------- variables */

/* Copies len bytes into request memory as the value. */
static bw_rc_t
bw_ssl_var_copy(bw_http_request_t *r, bw_http_variable_value_t *v, const void *s, size_t len)
{
    v->data = bw_pnalloc(r->pool, len ? len : 1);
    if (v->data == NULL) {
        return BW_ERROR;
    }
    memcpy(v->data, s, len);
    v->len = len;
    return BW_OK;
}

/* Moves a memory BIO's contents into the value and frees the BIO. */
static bw_rc_t
bw_ssl_var_bio(bw_http_request_t *r, bw_http_variable_value_t *v, BIO *bio)
{
    char *p;
    long len = BIO_get_mem_data(bio, &p);
    bw_rc_t rc = bw_ssl_var_copy(r, v, p, len > 0 ? (size_t) len : 0);
    BIO_free(bio);
    return rc;
}

static bw_rc_t
bw_ssl_var_hex(bw_http_request_t *r, bw_http_variable_value_t *v, const u_char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    v->data = bw_pnalloc(r->pool, 2 * n + 1);
    if (v->data == NULL) {
        return BW_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        v->data[2 * i] = (u_char) hex[p[i] >> 4];
        v->data[2 * i + 1] = (u_char) hex[p[i] & 0xf];
    }
    v->len = 2 * n;
    return BW_OK;
}

/* The TLS state of r's connection; marks v not found for plain connections. */
static SSL *
bw_ssl_var_ssl(bw_http_request_t *r, bw_http_variable_value_t *v)
{
    if (r->connection->ssl == NULL) {
        v->not_found = 1;
        return NULL;
    }
    return bw_tls_conn(r->connection)->ssl;
}

static bw_rc_t
bw_ssl_var_str(bw_http_request_t *r, bw_http_variable_value_t *v, const char *s)
{
    return bw_ssl_var_copy(r, v, s ? s : "", s ? strlen(s) : 0);
}

enum {
    BW_SSL_VAR_PROTOCOL = 0,
    BW_SSL_VAR_CIPHER,
    BW_SSL_VAR_SERVER_NAME,
    BW_SSL_VAR_SESSION_ID,
    BW_SSL_VAR_SESSION_REUSED,
    BW_SSL_VAR_EARLY_DATA,
    BW_SSL_VAR_ALPN,
    BW_SSL_VAR_CURVE,
};

static bw_rc_t
bw_ssl_var_conn(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    SSL *ssl = bw_ssl_var_ssl(r, v);
    const u_char *p;
    unsigned int n;

    if (ssl == NULL) {
        return BW_OK;
    }
    switch (data) {
    case BW_SSL_VAR_PROTOCOL:
        return bw_ssl_var_str(r, v, SSL_get_version(ssl));
    case BW_SSL_VAR_CIPHER:
        return bw_ssl_var_str(r, v, SSL_get_cipher_name(ssl));
    case BW_SSL_VAR_SERVER_NAME:
        return bw_ssl_var_str(r, v, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
    case BW_SSL_VAR_SESSION_ID: {
        SSL_SESSION *sess = SSL_get0_session(ssl);
        p = sess ? SSL_SESSION_get_id(sess, &n) : NULL;
        return bw_ssl_var_hex(r, v, p, p ? n : 0);
    }
    case BW_SSL_VAR_SESSION_REUSED:
        return bw_ssl_var_str(r, v, SSL_session_reused(ssl) ? "r" : ".");
    case BW_SSL_VAR_ALPN:
        SSL_get0_alpn_selected(ssl, &p, &n);
        return bw_ssl_var_copy(r, v, p, p ? n : 0);
    case BW_SSL_VAR_CURVE: {
        int group = SSL_get_negotiated_group(ssl);
        const char *name = group ? SSL_group_to_name(ssl, group) : NULL;
        if (name == NULL && group) {
            char hex[8];
            snprintf(hex, sizeof(hex), "0x%04x", group & 0xffff);
            return bw_ssl_var_str(r, v, hex);
        }
        return bw_ssl_var_str(r, v, name);
    }
    default: /* early data is not accepted: never "1" */
        return bw_ssl_var_str(r, v, "");
    }
}

/* $ssl_ciphers: the client's list, unknown ones as 0xNNNN. */
static bw_rc_t
bw_ssl_var_ciphers(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    SSL *ssl = bw_ssl_var_ssl(r, v);
    const u_char *raw;

    if (ssl == NULL) {
        return BW_OK;
    }
    size_t n = SSL_get0_raw_cipherlist(ssl, &raw) / 2;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return BW_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, raw + 2 * i);
        if (cipher) {
            BIO_printf(bio, "%s%s", i ? ":" : "", SSL_CIPHER_get_name(cipher));
        } else {
            BIO_printf(bio, "%s0x%02x%02x", i ? ":" : "", raw[2 * i], raw[2 * i + 1]);
        }
    }
    return bw_ssl_var_bio(r, v, bio);
}

/* $ssl_curves: the groups the client supports. */
static bw_rc_t
bw_ssl_var_curves(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    SSL *ssl = bw_ssl_var_ssl(r, v);
    int groups[64];

    if (ssl == NULL) {
        return BW_OK;
    }
    int n = SSL_get1_groups(ssl, NULL);
    if (n <= 0 || n > (int) bw_nelems(groups)) {
        return bw_ssl_var_str(r, v, "");
    }
    SSL_get1_groups(ssl, groups);
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return BW_ERROR;
    }
    for (int i = 0; i < n; i++) {
        const char *name = (groups[i] & TLSEXT_nid_unknown) ? NULL : OBJ_nid2sn(groups[i]);
        if (name) {
            BIO_printf(bio, "%s%s", i ? ":" : "", name);
        } else {
            BIO_printf(bio, "%s0x%04x", i ? ":" : "", groups[i] & 0xffff);
        }
    }
    return bw_ssl_var_bio(r, v, bio);
}

enum {
    BW_SSL_CERT_RAW = 0,  /* PEM as is */
    BW_SSL_CERT_TABBED,   /* $ssl_client_cert: a tab after each inner newline */
    BW_SSL_CERT_ESCAPED,  /* URL-encoded PEM */
    BW_SSL_CERT_S_DN,
    BW_SSL_CERT_I_DN,
    BW_SSL_CERT_S_DN_LEGACY,
    BW_SSL_CERT_I_DN_LEGACY,
    BW_SSL_CERT_SERIAL,
    BW_SSL_CERT_FINGERPRINT,
    BW_SSL_CERT_V_START,
    BW_SSL_CERT_V_END,
    BW_SSL_CERT_V_REMAIN,
};

/* PEM with a tab after every newline but the last, which is dropped. */
static bw_rc_t
bw_ssl_var_tabbed(bw_http_request_t *r, bw_http_variable_value_t *v)
{
    if (v->len == 0) {
        return BW_OK;
    }
    size_t len = v->len - (v->data[v->len - 1] == '\n');
    size_t lf = 0;
    for (size_t i = 0; i < len; i++) {
        lf += v->data[i] == '\n';
    }
    u_char *p = bw_pnalloc(r->pool, len + lf + 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        p[o++] = v->data[i];
        if (v->data[i] == '\n') {
            p[o++] = '\t';
        }
    }
    v->data = p;
    v->len = o;
    return BW_OK;
}

static bw_rc_t
bw_ssl_var_escaped(bw_http_request_t *r, bw_http_variable_value_t *v)
{
    static const char hex[] = "0123456789ABCDEF";
    u_char *p = bw_pnalloc(r->pool, 3 * v->len + 1);
    size_t o = 0;

    if (p == NULL) {
        return BW_ERROR;
    }
    for (size_t i = 0; i < v->len; i++) {
        u_char ch = v->data[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
            || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            p[o++] = ch;
        } else {
            p[o++] = '%';
            p[o++] = (u_char) hex[ch >> 4];
            p[o++] = (u_char) hex[ch & 0xf];
        }
    }
    v->data = p;
    v->len = o;
    return BW_OK;
}

static bw_rc_t
bw_ssl_var_cert_pem(bw_http_request_t *r, bw_http_variable_value_t *v, X509 *cert, uintptr_t data)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1) {
        BIO_free(bio);
        return BW_ERROR;
    }
    if (bw_ssl_var_bio(r, v, bio) != BW_OK) {
        return BW_ERROR;
    }
    if (data == BW_SSL_CERT_TABBED) {
        return bw_ssl_var_tabbed(r, v);
    }
    return data == BW_SSL_CERT_ESCAPED ? bw_ssl_var_escaped(r, v) : BW_OK;
}

static bw_rc_t
bw_ssl_var_cert_field(bw_http_request_t *r, bw_http_variable_value_t *v, X509 *cert,
                      uintptr_t data)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return BW_ERROR;
    }
    switch (data) {
    case BW_SSL_CERT_S_DN:
    case BW_SSL_CERT_I_DN:
        X509_NAME_print_ex(bio, data == BW_SSL_CERT_S_DN ? X509_get_subject_name(cert)
                                                         : X509_get_issuer_name(cert),
                           0, XN_FLAG_RFC2253);
        break;
    case BW_SSL_CERT_S_DN_LEGACY:
    case BW_SSL_CERT_I_DN_LEGACY: {
        char *line = X509_NAME_oneline(data == BW_SSL_CERT_S_DN_LEGACY
                                           ? X509_get_subject_name(cert)
                                           : X509_get_issuer_name(cert), NULL, 0);
        if (line) {
            BIO_puts(bio, line);
            OPENSSL_free(line);
        }
        break;
    }
    case BW_SSL_CERT_SERIAL:
        i2a_ASN1_INTEGER(bio, X509_get0_serialNumber(cert));
        break;
    case BW_SSL_CERT_V_START:
        ASN1_TIME_print(bio, X509_get0_notBefore(cert));
        break;
    case BW_SSL_CERT_V_END:
        ASN1_TIME_print(bio, X509_get0_notAfter(cert));
        break;
    default: { /* V_REMAIN: whole days until the end, 0 once expired */
        int days = 0, secs = 0;
        if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) != 1 || days < 0
            || (days == 0 && secs < 0)) {
            days = 0;
        }
        BIO_printf(bio, "%d", days);
        break;
    }
    }
    return bw_ssl_var_bio(r, v, bio);
}

static bw_rc_t
bw_ssl_var_cert(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    SSL *ssl = bw_ssl_var_ssl(r, v);
    u_char md[EVP_MAX_MD_SIZE];
    unsigned int md_len;

    if (ssl == NULL) {
        return BW_OK;
    }
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL) {
        return bw_ssl_var_str(r, v, "");
    }
    switch (data) {
    case BW_SSL_CERT_RAW:
    case BW_SSL_CERT_TABBED:
    case BW_SSL_CERT_ESCAPED:
        return bw_ssl_var_cert_pem(r, v, cert, data);
    case BW_SSL_CERT_FINGERPRINT:
        if (X509_digest(cert, EVP_sha1(), md, &md_len) != 1) {
            return BW_ERROR;
        }
        return bw_ssl_var_hex(r, v, md, md_len);
    default:
        return bw_ssl_var_cert_field(r, v, cert, data);
    }
}

/* $ssl_client_verify: SUCCESS, FAILED:reason, or NONE without a certificate. */
static bw_rc_t
bw_ssl_var_verify(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    SSL *ssl = bw_ssl_var_ssl(r, v);
    char text[256];

    if (ssl == NULL) {
        return BW_OK;
    }
    if (SSL_get0_peer_certificate(ssl) == NULL) {
        return bw_ssl_var_str(r, v, "NONE");
    }
    long rc = SSL_get_verify_result(ssl);
    if (rc == X509_V_OK) {
        return bw_ssl_var_str(r, v, "SUCCESS");
    }
    snprintf(text, sizeof(text), "FAILED:%s", X509_verify_cert_error_string(rc));
    return bw_ssl_var_str(r, v, text);
}

static const bw_http_variable_def_t bw_ssl_variables[] = {
    {"ssl_protocol", bw_ssl_var_conn, NULL, BW_SSL_VAR_PROTOCOL, 0},
    {"ssl_cipher", bw_ssl_var_conn, NULL, BW_SSL_VAR_CIPHER, 0},
    {"ssl_ciphers", bw_ssl_var_ciphers, NULL, 0, 0},
    {"ssl_curve", bw_ssl_var_conn, NULL, BW_SSL_VAR_CURVE, 0},
    {"ssl_curves", bw_ssl_var_curves, NULL, 0, 0},
    {"ssl_server_name", bw_ssl_var_conn, NULL, BW_SSL_VAR_SERVER_NAME, 0},
    {"ssl_session_id", bw_ssl_var_conn, NULL, BW_SSL_VAR_SESSION_ID, 0},
    {"ssl_session_reused", bw_ssl_var_conn, NULL, BW_SSL_VAR_SESSION_REUSED, 0},
    {"ssl_early_data", bw_ssl_var_conn, NULL, BW_SSL_VAR_EARLY_DATA, BW_HTTP_VAR_NOCACHEABLE},
    {"ssl_alpn_protocol", bw_ssl_var_conn, NULL, BW_SSL_VAR_ALPN, 0},
    {"ssl_client_cert", bw_ssl_var_cert, NULL, BW_SSL_CERT_TABBED, 0},
    {"ssl_client_raw_cert", bw_ssl_var_cert, NULL, BW_SSL_CERT_RAW, 0},
    {"ssl_client_escaped_cert", bw_ssl_var_cert, NULL, BW_SSL_CERT_ESCAPED, 0},
    {"ssl_client_s_dn", bw_ssl_var_cert, NULL, BW_SSL_CERT_S_DN, 0},
    {"ssl_client_i_dn", bw_ssl_var_cert, NULL, BW_SSL_CERT_I_DN, 0},
    {"ssl_client_s_dn_legacy", bw_ssl_var_cert, NULL, BW_SSL_CERT_S_DN_LEGACY, 0},
    {"ssl_client_i_dn_legacy", bw_ssl_var_cert, NULL, BW_SSL_CERT_I_DN_LEGACY, 0},
    {"ssl_client_serial", bw_ssl_var_cert, NULL, BW_SSL_CERT_SERIAL, 0},
    {"ssl_client_fingerprint", bw_ssl_var_cert, NULL, BW_SSL_CERT_FINGERPRINT, 0},
    {"ssl_client_v_start", bw_ssl_var_cert, NULL, BW_SSL_CERT_V_START, 0},
    {"ssl_client_v_end", bw_ssl_var_cert, NULL, BW_SSL_CERT_V_END, 0},
    {"ssl_client_v_remain", bw_ssl_var_cert, NULL, BW_SSL_CERT_V_REMAIN, 0},
    {"ssl_client_verify", bw_ssl_var_verify, NULL, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

static bw_rc_t
bw_ssl_add_variables(bw_conf_t *cf)
{
    return bw_http_add_variables(cf, bw_ssl_variables);
}

/* ------------------------------------------------------ configuration */

static const char *
bw_ssl_set_enable(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    const char *rv = bw_conf_set_flag(cf, d, conf);

    if (rv == BW_CONF_OK) {
        bw_conf_log(cf, BW_LOG_WARN, 0, "the \"ssl\" directive is deprecated, "
                    "use the \"listen ... ssl\" directive instead");
    }
    return rv;
}

/* Makes the just-set string at `field` absolute against the conf prefix. */
static const char *
bw_ssl_full_name(bw_conf_t *cf, bw_str_t *field)
{
    if (field->len && bw_conf_full_name(cf->cycle, field, true) != BW_OK) {
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

static const char *
bw_ssl_set_path(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    const char *rv = bw_conf_set_str(cf, d, conf);

    if (rv != BW_CONF_OK) {
        return rv;
    }
    return bw_ssl_full_name(cf, (bw_str_t *) ((u_char *) conf + d->offset));
}

static const char *
bw_ssl_set_path_array(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    const char *rv = bw_conf_set_str_array(cf, d, conf);

    if (rv != BW_CONF_OK) {
        return rv;
    }
    bw_array_t *a = *(bw_array_t **) ((u_char *) conf + d->offset);
    return bw_ssl_full_name(cf, &((bw_str_t *) a->elts)[a->nelts - 1]);
}

static const char *
bw_ssl_set_certificate(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    const bw_str_t *value = &((bw_str_t *) cf->args->elts)[1];

    if (memchr(value->data, '$', value->len)) {
        bw_conf_error(cf, "variables in \"%s\" are not supported", d->name);
        return BW_CONF_ERROR;
    }
    if ((value->len > 5 && memcmp(value->data, "data:", 5) == 0)
        || (value->len > 7 && memcmp(value->data, "engine:", 7) == 0)) {
        bw_conf_error(cf, "\"%.*s\" in \"%s\" is not supported", BW_STR_ARG(*value), d->name);
        return BW_CONF_ERROR;
    }
    return bw_ssl_set_path_array(cf, d, conf);
}

static const char *
bw_ssl_set_password_file(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_ssl_srv_conf_t *sscf = conf;
    bw_str_t file = ((bw_str_t *) cf->args->elts)[1];

    if (sscf->passwords != BW_CONF_UNSET_PTR) {
        return "is duplicate";
    }
    if (bw_conf_full_name(cf->cycle, &file, true) != BW_OK) {
        return BW_CONF_ERROR;
    }
    sscf->passwords = bw_tls_read_passwords(cf, &file);
    return sscf->passwords ? BW_CONF_OK : BW_CONF_ERROR;
}

/* One ssl_session_cache argument; false when it is not valid. */
static bool
bw_ssl_session_cache_arg(bw_conf_t *cf, bw_ssl_srv_conf_t *sscf, const bw_str_t *v)
{
    if (bw_str_eq_lit(v, "off")) {
        sscf->builtin_session_cache = BW_TLS_CACHE_OFF;
        return true;
    }
    if (bw_str_eq_lit(v, "none")) {
        sscf->builtin_session_cache = BW_TLS_CACHE_NONE;
        return true;
    }
    if (bw_str_eq_lit(v, "builtin")) {
        sscf->builtin_session_cache = BW_TLS_CACHE_DFLT_BUILTIN;
        return true;
    }
    if (v->len > 8 && memcmp(v->data, "builtin:", 8) == 0) {
        int64_t n = bw_atoi(v->data + 8, v->len - 8);
        if (n < 0) {
            return false;
        }
        sscf->builtin_session_cache = (bw_int_t) n;
        return true;
    }
    if (v->len <= 7 || memcmp(v->data, "shared:", 7) != 0) {
        return false;
    }
    u_char *name = v->data + 7, *colon = memchr(name, ':', v->len - 7);
    if (colon == NULL || colon == name) {
        return false;
    }
    bw_str_t zname = {(size_t) (colon - name), name};
    bw_str_t size_text = {(size_t) (v->data + v->len - colon - 1), colon + 1};
    int64_t size = bw_parse_size(&size_text);
    if (size < 0) {
        return false;
    }
    if ((size_t) size < BW_SHM_ZONE_MIN_SIZE) {
        bw_conf_error(cf, "session cache \"%.*s\" is too small", BW_STR_ARG(*v));
        sscf->shm_zone = BW_CONF_UNSET_PTR; /* reported: do not report again */
        return true;
    }
    sscf->shm_zone = bw_tls_session_zone_add(cf, &zname, (size_t) size, &bw_ssl_module);
    if (sscf->shm_zone == NULL) {
        sscf->shm_zone = BW_CONF_UNSET_PTR;
    }
    return true;
}

static const char *
bw_ssl_set_session_cache(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_ssl_srv_conf_t *sscf = conf;
    bw_str_t *value = cf->args->elts;
    bool builtin = false;

    if (sscf->builtin_session_cache != BW_CONF_UNSET) {
        return "is duplicate";
    }
    sscf->builtin_session_cache = BW_TLS_CACHE_NONE;
    for (size_t i = 1; i < cf->args->nelts; i++) {
        bool shared = value[i].len > 7 && memcmp(value[i].data, "shared:", 7) == 0;
        if (!bw_ssl_session_cache_arg(cf, sscf, &value[i])) {
            bw_conf_error(cf, "invalid session cache \"%.*s\"", BW_STR_ARG(value[i]));
            return BW_CONF_ERROR;
        }
        if (sscf->shm_zone == BW_CONF_UNSET_PTR) {
            return BW_CONF_ERROR;
        }
        builtin = builtin || !shared;
    }
    if (sscf->shm_zone && !builtin) {
        sscf->builtin_session_cache = BW_TLS_CACHE_NO_BUILTIN;
    }
    return BW_CONF_OK;
}

static const char *
bw_ssl_set_ocsp(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    const char *rv = bw_conf_set_enum(cf, d, conf);

    if (rv == BW_CONF_OK && ((bw_ssl_srv_conf_t *) conf)->ocsp != 0) {
        bw_conf_error(cf, "OCSP validation of client certificates is not supported");
        return BW_CONF_ERROR;
    }
    return rv;
}

static void *
bw_ssl_create_srv(bw_conf_t *cf)
{
    bw_ssl_srv_conf_t *sscf = bw_pcalloc(cf->pool, sizeof(*sscf));

    if (sscf == NULL) {
        return NULL;
    }
    /* calloc: ctx, protocols, strings, shm_zone are unset */
    sscf->enable = BW_CONF_UNSET;
    sscf->certificates = BW_CONF_UNSET_PTR;
    sscf->certificate_keys = BW_CONF_UNSET_PTR;
    sscf->passwords = BW_CONF_UNSET_PTR;
    sscf->prefer_server_ciphers = BW_CONF_UNSET;
    sscf->conf_commands = BW_CONF_UNSET_PTR;
    sscf->buffer_size = BW_CONF_UNSET_SIZE;
    sscf->verify = BW_CONF_UNSET_UINT;
    sscf->verify_depth = BW_CONF_UNSET;
    sscf->builtin_session_cache = BW_CONF_UNSET;
    sscf->session_timeout = BW_CONF_UNSET;
    sscf->session_tickets = BW_CONF_UNSET;
    sscf->session_ticket_keys = BW_CONF_UNSET_PTR;
    sscf->reject_handshake = BW_CONF_UNSET;
    sscf->early_data = BW_CONF_UNSET;
    sscf->stapling = BW_CONF_UNSET;
    sscf->stapling_verify = BW_CONF_UNSET;
    sscf->ocsp = BW_CONF_UNSET_UINT;
    return sscf;
}

/* Reports without "in file:line" (nginx names no place for these). */
static void bw_ssl_conf_error(bw_conf_t *cf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bw_ssl_conf_error(bw_conf_t *cf, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    bw_conf_file_t *file = cf->file;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cf->file = NULL;
    bw_conf_log(cf, BW_LOG_EMERG, 0, "%s", msg);
    cf->file = file;
}

static void
bw_ssl_merge_values(bw_ssl_srv_conf_t *prev, bw_ssl_srv_conf_t *conf)
{
    bw_conf_merge_value(conf->enable, prev->enable, 0);
    bw_conf_merge_ptr(conf->certificates, prev->certificates, NULL);
    bw_conf_merge_ptr(conf->certificate_keys, prev->certificate_keys, NULL);
    bw_conf_merge_ptr(conf->passwords, prev->passwords, NULL);
    if (conf->protocols == 0) {
        conf->protocols = prev->protocols ? prev->protocols : BW_SSL_DEFAULT_PROTOCOLS;
    }
    bw_conf_merge_str(conf->ciphers, prev->ciphers, BW_SSL_DEFAULT_CIPHERS);
    bw_conf_merge_value(conf->prefer_server_ciphers, prev->prefer_server_ciphers, 0);
    bw_conf_merge_str(conf->ecdh_curve, prev->ecdh_curve, "auto");
    bw_conf_merge_str(conf->dhparam, prev->dhparam, "");
    bw_conf_merge_ptr(conf->conf_commands, prev->conf_commands, NULL);
    bw_conf_merge_size(conf->buffer_size, prev->buffer_size, BW_TLS_BUFFER_SIZE);
    bw_conf_merge_uint(conf->verify, prev->verify, BW_TLS_VERIFY_OFF);
    bw_conf_merge_value(conf->verify_depth, prev->verify_depth, 1);
    bw_conf_merge_str(conf->client_certificate, prev->client_certificate, "");
    bw_conf_merge_str(conf->trusted_certificate, prev->trusted_certificate, "");
    bw_conf_merge_str(conf->crl, prev->crl, "");
    if (conf->builtin_session_cache == BW_CONF_UNSET) {
        conf->builtin_session_cache = prev->builtin_session_cache == BW_CONF_UNSET
                                          ? BW_TLS_CACHE_NONE
                                          : prev->builtin_session_cache;
        conf->shm_zone = prev->shm_zone;
    }
    bw_conf_merge_value(conf->session_timeout, prev->session_timeout, 300);
    bw_conf_merge_value(conf->session_tickets, prev->session_tickets, 1);
    bw_conf_merge_ptr(conf->session_ticket_keys, prev->session_ticket_keys, NULL);
    bw_conf_merge_value(conf->reject_handshake, prev->reject_handshake, 0);
    bw_conf_merge_value(conf->early_data, prev->early_data, 0);
    bw_conf_merge_value(conf->stapling, prev->stapling, 0);
    bw_conf_merge_value(conf->stapling_verify, prev->stapling_verify, 0);
    bw_conf_merge_str(conf->stapling_file, prev->stapling_file, "");
    bw_conf_merge_str(conf->stapling_responder, prev->stapling_responder, "");
    bw_conf_merge_uint(conf->ocsp, prev->ocsp, 0);
    bw_conf_merge_str(conf->ocsp_responder, prev->ocsp_responder, "");
}

/* Loads every certificate with its key. */
static bw_rc_t
bw_ssl_ctx_certificates(bw_conf_t *cf, bw_ssl_srv_conf_t *conf)
{
    const bw_str_t *cert = conf->certificates ? conf->certificates->elts : NULL;
    const bw_str_t *key = conf->certificate_keys ? conf->certificate_keys->elts : NULL;

    for (size_t i = 0; cert && i < conf->certificates->nelts; i++) {
        if (bw_tls_ctx_certificate(cf, conf->ctx, &cert[i], &key[i], conf->passwords) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/* Builds the server's context from its merged settings. */
static bw_rc_t
bw_ssl_ctx_build(bw_conf_t *cf, bw_ssl_srv_conf_t *conf)
{
    /* the server's own location conf: its resolver is merged by run time */
    bw_http_core_loc_conf_t *clcf = bw_http_conf_get_loc_conf(cf, bw_http_core_module);

    conf->ctx = bw_tls_ctx_create(cf);
    if (conf->ctx == NULL) {
        return BW_ERROR;
    }
    SSL_CTX_set_tlsext_servername_callback(conf->ctx, bw_ssl_servername);
    SSL_CTX_set_alpn_select_cb(conf->ctx, bw_ssl_alpn_select, NULL);
    if (bw_tls_ctx_protocols(cf, conf->ctx, conf->protocols) != BW_OK
        || bw_ssl_ctx_certificates(cf, conf) != BW_OK
        || bw_tls_ctx_ciphers(cf, conf->ctx, &conf->ciphers, conf->prefer_server_ciphers)
               != BW_OK) {
        return BW_ERROR;
    }
    if (conf->verify
        && bw_tls_ctx_verify(cf, conf->ctx, conf->verify_depth, &conf->client_certificate,
                             &conf->trusted_certificate, &conf->crl) != BW_OK) {
        return BW_ERROR;
    }
    if ((conf->dhparam.len && bw_tls_ctx_dhparam(cf, conf->ctx, &conf->dhparam) != BW_OK)
        || bw_tls_ctx_ecdh_curve(cf, conf->ctx, &conf->ecdh_curve) != BW_OK
        || bw_tls_ctx_session_cache(cf, conf->ctx, conf->builtin_session_cache, conf->shm_zone,
                                    conf->session_timeout) != BW_OK
        || bw_tls_ctx_session_tickets(cf, conf->ctx, conf->session_tickets != 0,
                                      conf->session_ticket_keys) != BW_OK) {
        return BW_ERROR;
    }
    if (conf->stapling && conf->stapling_file.len
        && bw_tls_ctx_stapling_file(cf, conf->ctx, &conf->stapling_file) != BW_OK) {
        return BW_ERROR;
    }
    if (conf->stapling && conf->stapling_file.len == 0
        && bw_tls_ctx_stapling_fetch(cf, conf->ctx, &conf->stapling_responder,
                                     conf->stapling_verify != 0, &conf->trusted_certificate,
                                     &clcf->resolver, &clcf->resolver_timeout)
               != BW_OK) {
        return BW_ERROR;
    }
    if (conf->conf_commands
        && bw_tls_ctx_conf_commands(cf, conf->ctx, conf->conf_commands, true) != BW_OK) {
        return BW_ERROR;
    }
    return BW_OK;
}

static const char *
bw_ssl_merge_srv(bw_conf_t *cf, void *parent, void *child)
{
    bw_ssl_srv_conf_t *prev = parent, *conf = child;
    bw_http_core_srv_conf_t *cscf = bw_http_conf_get_srv_conf(cf, bw_http_core_module);

    bw_ssl_merge_values(prev, conf);
    if (conf->certificates) {
        size_t keys = conf->certificate_keys ? conf->certificate_keys->nelts : 0;
        if (keys < conf->certificates->nelts) {
            bw_ssl_conf_error(cf, "no \"ssl_certificate_key\" is defined for certificate \"%.*s\"",
                              BW_STR_ARG(((bw_str_t *) conf->certificates->elts)[keys]));
            return BW_CONF_ERROR;
        }
    } else if (conf->enable && !conf->reject_handshake) {
        bw_ssl_conf_error(cf, "no \"ssl_certificate\" is defined for the \"ssl\" directive in "
                          "%.*s:%lu", BW_STR_ARG(cscf->file_name), (unsigned long) cscf->line);
        return BW_CONF_ERROR;
    }
    if (conf->certificates == NULL && !conf->reject_handshake) {
        return BW_CONF_OK; /* not a TLS server */
    }
    if (conf->verify && conf->verify != BW_TLS_VERIFY_OPTIONAL_NO_CA
        && conf->client_certificate.len == 0) {
        bw_ssl_conf_error(cf, "no ssl_client_certificate for ssl_verify_client");
        return BW_CONF_ERROR;
    }
    if (conf->early_data) {
        bw_conf_log(cf, BW_LOG_WARN, 0, "\"ssl_early_data\" ignored, early data is not "
                    "supported");
    }
    bw_conf_file_t *file = cf->file;
    cf->file = NULL; /* OpenSSL failures name the file they read, not a config line */
    bw_rc_t rc = bw_ssl_ctx_build(cf, conf);
    cf->file = file;
    return rc == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}

/* ---- the listen ... ssl check ---- */

static bool
bw_ssl_sockaddr_eq(const bw_http_listen_opt_t *a, const bw_http_listen_opt_t *b)
{
    return a->socklen == b->socklen && memcmp(&a->sockaddr, &b->sockaddr, a->socklen) == 0;
}

/* The default server of address `opt` (nginx: `default_server`, else the first). */
static bw_http_core_srv_conf_t *
bw_ssl_default_server(bw_http_core_main_conf_t *cmcf, const bw_http_listen_opt_t *opt,
                      bool *ssl)
{
    bw_http_core_srv_conf_t **server = cmcf->servers.elts, *first = NULL, *dflt = NULL;

    *ssl = false;
    for (size_t s = 0; s < cmcf->servers.nelts; s++) {
        bw_http_listen_opt_t *l = server[s]->listen.elts;
        for (size_t i = 0; i < server[s]->listen.nelts; i++) {
            if (!bw_ssl_sockaddr_eq(&l[i], opt)) {
                continue;
            }
            first = first ? first : server[s];
            dflt = l[i].default_server && dflt == NULL ? server[s] : dflt;
            *ssl = *ssl || l[i].ssl;
        }
    }
    return dflt ? dflt : first;
}

/* Every `listen ... ssl` address needs a certificate in its default server. */
static bw_rc_t
bw_ssl_check_listen(bw_conf_t *cf)
{
    bw_http_core_main_conf_t *cmcf = bw_http_conf_get_main_conf(cf, bw_http_core_module);
    bw_http_core_srv_conf_t **server = cmcf->servers.elts;

    for (size_t s = 0; s < cmcf->servers.nelts; s++) {
        bw_http_listen_opt_t *l = server[s]->listen.elts;
        for (size_t i = 0; i < server[s]->listen.nelts; i++) {
            bool ssl;
            bw_http_core_srv_conf_t *dflt = bw_ssl_default_server(cmcf, &l[i], &ssl);
            if (!ssl || dflt != server[s]) {
                continue;
            }
            bw_ssl_srv_conf_t *sscf = bw_ssl_srv_of(dflt);
            if (sscf->certificates == NULL && !sscf->reject_handshake) {
                bw_ssl_conf_error(cf, "no \"ssl_certificate\" is defined for the \"listen ... "
                                  "ssl\" directive in %.*s:%lu", BW_STR_ARG(dflt->file_name),
                                  (unsigned long) dflt->line);
                return BW_ERROR;
            }
        }
    }
    return BW_OK;
}

static bw_rc_t
bw_ssl_postconfiguration(bw_conf_t *cf)
{
    bw_http_ssl_connection_hook = bw_ssl_connection_hook;
    bw_http_ssl_request_hook = bw_ssl_request_hook;
    return bw_ssl_check_listen(cf);
}
