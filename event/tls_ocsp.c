/*
 * tls_ocsp.c -- ssl_stapling without ssl_stapling_file: OCSP responses
 * fetched from the certificate's responder (or ssl_stapling_responder)
 * and stapled to handshakes.
 *
 * At configuration time each certificate of a context gets its issuer
 * (from the certificate chain or ssl_trusted_certificate), the responder's
 * address (an http:// URL; a host name is resolved then) and the OCSP
 * request's certificate id, kept in the certificate's ex_data. In a
 * worker, a handshake that asks for a status and finds no fresh response
 * starts a fetch and goes on without one, as nginx does: a POST over a
 * non-blocking connection, 10 s at most. A response is stapled only when
 * it is successful, says "good" for this certificate, is within its
 * validity and (ssl_stapling_verify on) is signed by a trusted responder;
 * it is refreshed an hour later or before its nextUpdate, and a failed
 * fetch is retried after 5 minutes.
 */
#include "tls.h"

#include "clock.h"
#include "conf.h"
#include "cycle.h"
#include "log.h"
#include "pool.h"
#include "resolver.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BW_OCSP_TIMEOUT   10000  /* ms for one fetch */
#define BW_OCSP_RETRY     300    /* s after a failed fetch */
#define BW_OCSP_REFRESH   3600   /* s between fetches of a good response */
#define BW_OCSP_MAX       65536  /* bytes of a responder's answer */

typedef struct {
    X509                   *cert;
    OCSP_CERTID            *id;
    X509_STORE             *store;   /* ssl_stapling_verify on: trusted CAs; NULL: off */
    STACK_OF(X509)         *chain;   /* the issuer and the context's chain */
    struct sockaddr_storage addr;     /* resolved at load time; addrlen 0: not found */
    socklen_t               addrlen;
    char                    name_host[300]; /* the host alone, to resolve at run time */
    in_port_t               port;
    bool                    literal;  /* an IP address: nothing to resolve */
    bw_resolver_t         **resolver; /* the server's `resolver` (set by run time), or NULL */
    bw_msec_t              *resolver_timeout;
    char                    host[300];
    char                    path[512];
    char                    name[256]; /* the certificate's subject, for messages */

    /* per worker */
    u_char                 *der;
    size_t                  der_len;
    time_t                  valid_until;
    time_t                  refresh;
    bool                    loading;
} bw_ocsp_t;

/* One fetch in progress; bw_ocsp_fetch_end(f, NULL, 0) parses the answer,
 * (f, NULL, -1) ends one that failed and was logged. */
typedef struct {
    bw_ocsp_t         *ocsp;
    bw_resolver_ctx_t *lookup;  /* while the responder's name is resolved */
    bw_connection_t   *c;
    u_char          *out;      /* the request */
    size_t           out_len, sent;
    u_char          *in;       /* the answer */
    size_t           in_len;
} bw_ocsp_fetch_t;

static int bw_ocsp_index = -1;

/* ------------------------------------------------------------ set up */

static void
bw_ocsp_store_free(void *data)
{
    X509_STORE_free(data);
}

/* Frees what OpenSSL allocated for a certificate's stapling (with the config pool). */
static void
bw_ocsp_free(void *data)
{
    bw_ocsp_t *o = data;

    OCSP_CERTID_free(o->id);
    sk_X509_pop_free(o->chain, X509_free);
    if (o->cert != NULL) {
        X509_set_ex_data(o->cert, bw_ocsp_index, NULL);
    }
}

/* The certificate that issued cert: in chain, else in the trusted file. */
static X509 *
bw_ocsp_issuer(X509 *cert, STACK_OF(X509) *chain, STACK_OF(X509_INFO) *trusted)
{
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (X509_check_issued(c, cert) == X509_V_OK) {
            return c;
        }
    }
    for (int i = 0; trusted && i < sk_X509_INFO_num(trusted); i++) {
        X509_INFO *xi = sk_X509_INFO_value(trusted, i);
        if (xi->x509 && X509_check_issued(xi->x509, cert) == X509_V_OK) {
            return xi->x509;
        }
    }
    return NULL;
}

/*
 * Splits "http://host[:port][/path]" and resolves host now (a name is
 * resolved again at each fetch when the server has a `resolver`). NULL,
 * or what is wrong.
 */
static const char *
bw_ocsp_responder(bw_ocsp_t *o, const char *url, bool resolve_now)
{
    char  hostport[300], port[8] = "80";
    const char *p = url;

    if (strncasecmp(p, "http://", 7) != 0) {
        return "invalid URL prefix in OCSP responder";
    }
    p += 7;
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= sizeof(hostport)) {
        return "invalid OCSP responder";
    }
    memcpy(hostport, p, n);
    hostport[n] = '\0';
    snprintf(o->path, sizeof(o->path), "%s", p[n] ? p + n : "/");
    snprintf(o->host, sizeof(o->host), "%s", hostport);

    char *host = hostport, *colon = strrchr(hostport, ':');
    if (hostport[0] == '[') {
        char *end = strchr(hostport, ']');
        if (end == NULL) {
            return "invalid OCSP responder";
        }
        *end = '\0';
        host = hostport + 1;
        colon = end[1] == ':' ? end + 1 : NULL;
    }
    if (colon != NULL) {
        *colon = '\0';
        snprintf(port, sizeof(port), "%s", colon + 1);
    }
    long pn = strtol(port, NULL, 10);
    if (pn <= 0 || pn > 65535) {
        return "invalid port in OCSP responder";
    }
    o->port = (in_port_t) pn;
    snprintf(o->name_host, sizeof(o->name_host), "%s", host);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai = NULL;
    o->literal = getaddrinfo(host, port, &hints, &ai) == 0 && ai != NULL;
    if (!o->literal && resolve_now) {
        hints.ai_flags = 0;
        if (getaddrinfo(host, port, &hints, &ai) != 0) {
            ai = NULL; /* left to a resolver at run time, if any */
        }
    } else if (!o->literal) {
        ai = NULL;
    }
    if (ai != NULL) {
        memcpy(&o->addr, ai->ai_addr, ai->ai_addrlen);
        o->addrlen = ai->ai_addrlen;
        freeaddrinfo(ai);
    }
    return NULL;
}

/* Prepares one certificate; NULL (after a warning) when it cannot be stapled. */
static bw_ocsp_t *
bw_ocsp_cert(bw_conf_t *cf, SSL_CTX *ctx, X509 *cert, STACK_OF(X509_INFO) *trusted,
             X509_STORE *store, const bw_str_t *responder, bw_resolver_t **resolver)
{
    STACK_OF(X509) *chain = NULL;
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(cf->pool, sizeof(bw_ocsp_t));

    if (cln == NULL) {
        return NULL;
    }
    bw_ocsp_t *o = cln->data;
    memset(o, 0, sizeof(*o));
    cln->handler = bw_ocsp_free;
    X509_NAME_oneline(X509_get_subject_name(cert), o->name, sizeof(o->name));
    SSL_CTX_get0_chain_certs(ctx, &chain);
    X509 *issuer = bw_ocsp_issuer(cert, chain, trusted);
    if (issuer == NULL) {
        bw_conf_log(cf, BW_LOG_WARN, 0, "\"ssl_stapling\" ignored, issuer certificate not found "
                    "for certificate \"%s\"", o->name);
        return NULL;
    }
    char *url = NULL;
    STACK_OF(OPENSSL_STRING) *aia = NULL;
    if (responder->len) {
        url = (char *) responder->data;
    } else {
        aia = X509_get1_ocsp(cert);
        url = aia && sk_OPENSSL_STRING_num(aia) > 0 ? sk_OPENSSL_STRING_value(aia, 0) : NULL;
    }
    /* with the server's own `resolver`, a name waits for it */
    bool resolve_now = resolver == NULL || *resolver == NULL || *resolver == BW_CONF_UNSET_PTR;
    const char *why = url ? bw_ocsp_responder(o, url, resolve_now) : NULL;
    if (url == NULL || why != NULL) {
        if (url == NULL) {
            bw_conf_log(cf, BW_LOG_WARN, 0, "\"ssl_stapling\" ignored, no OCSP responder URL in "
                        "the certificate \"%s\"", o->name);
        } else {
            bw_conf_log(cf, BW_LOG_WARN, 0, "\"ssl_stapling\" ignored, %s \"%s\"", why, url);
        }
        X509_email_free(aia);
        return NULL;
    }
    X509_email_free(aia);
    o->id = OCSP_cert_to_id(NULL, cert, issuer);
    o->chain = sk_X509_new_null();
    if (o->id == NULL || o->chain == NULL || !sk_X509_push(o->chain, issuer)) {
        return NULL;
    }
    X509_up_ref(issuer);
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (c != issuer && sk_X509_push(o->chain, c)) {
            X509_up_ref(c);
        }
    }
    o->cert = cert;
    o->store = store;
    X509_set_ex_data(cert, bw_ocsp_index, o);
    return o;
}

bw_rc_t
bw_tls_ctx_stapling_fetch(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *responder, bool verify,
                          const bw_str_t *trusted_file, bw_resolver_t **resolver,
                          bw_msec_t *resolver_timeout)
{
    STACK_OF(X509_INFO) *trusted = NULL;
    X509_STORE          *store = NULL;

    if (bw_ocsp_index == -1) {
        bw_ocsp_index = X509_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (bw_ocsp_index == -1) {
            return BW_ERROR;
        }
    }
    if (trusted_file->len) {
        BIO *bio = BIO_new_file((const char *) trusted_file->data, "r");
        trusted = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
    }
    if (verify) {
        store = X509_STORE_new();
        if (store == NULL) {
            sk_X509_INFO_pop_free(trusted, X509_INFO_free);
            return BW_ERROR;
        }
        for (int i = 0; trusted && i < sk_X509_INFO_num(trusted); i++) {
            X509_INFO *xi = sk_X509_INFO_value(trusted, i);
            if (xi->x509) {
                X509_STORE_add_cert(store, xi->x509);
            }
        }
        bw_pool_cleanup_t *cln = bw_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            X509_STORE_free(store);
            sk_X509_INFO_pop_free(trusted, X509_INFO_free);
            return BW_ERROR;
        }
        cln->handler = bw_ocsp_store_free;
        cln->data = store;
    }
    int more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
    while (more) {
        X509 *cert = SSL_CTX_get0_certificate(ctx);
        if (cert != NULL) {
            bw_ocsp_t *o = bw_ocsp_cert(cf, ctx, cert, trusted, store, responder, resolver);
            if (o != NULL) {
                o->resolver = resolver;
                o->resolver_timeout = resolver_timeout;
            }
        }
        more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT);
    }
    sk_X509_INFO_pop_free(trusted, X509_INFO_free);
    return BW_OK;
}

/* ------------------------------------------------------------ the answer */

/* Checks the responder's answer; keeps it when it may be stapled. */
static void
bw_ocsp_take(bw_ocsp_t *o, const u_char *der, size_t len, bw_log_t *log)
{
    const u_char     *p = der;
    OCSP_RESPONSE    *resp = d2i_OCSP_RESPONSE(NULL, &p, (long) len);
    OCSP_BASICRESP   *basic = NULL;
    ASN1_GENERALIZEDTIME *thisupd, *nextupd;
    int               status, reason;
    const char       *why = NULL;

    if (resp == NULL) {
        why = "d2i_OCSP_RESPONSE() failed";
    } else if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        why = "OCSP response not successful";
    } else if ((basic = OCSP_response_get1_basic(resp)) == NULL) {
        why = "OCSP_response_get1_basic() failed";
    } else if (o->store != NULL
               && OCSP_basic_verify(basic, o->chain, o->store, OCSP_TRUSTOTHER) != 1) {
        why = "OCSP_basic_verify() failed";
    } else if (OCSP_resp_find_status(basic, o->id, &status, &reason, NULL, &thisupd, &nextupd)
               != 1) {
        why = "certificate status not found in the OCSP response";
    } else if (status != V_OCSP_CERTSTATUS_GOOD) {
        bw_log_error(BW_LOG_ERR, log, 0, "certificate status \"%s\" in the OCSP response "
                     "while requesting certificate status, responder: %s, certificate: \"%s\"",
                     OCSP_cert_status_str(status), o->host, o->name);
    } else if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1) {
        why = "OCSP_check_validity() failed";
    } else {
        u_char *copy = malloc(len);
        if (copy != NULL) {
            memcpy(copy, der, len);
            free(o->der);
            o->der = copy;
            o->der_len = len;
            time_t until = bw_time.sec + BW_OCSP_REFRESH * 24;
            struct tm tm;
            if (nextupd != NULL && ASN1_TIME_to_tm(nextupd, &tm) == 1) {
                until = timegm(&tm);
            }
            o->valid_until = until;
            o->refresh = bw_min(until - BW_OCSP_RETRY, bw_time.sec + BW_OCSP_REFRESH);
        }
    }
    if (why != NULL) {
        char text[256] = "";
        ERR_error_string_n(ERR_peek_last_error(), text, sizeof(text));
        bw_log_error(BW_LOG_ERR, log, 0, "%s (%s) while requesting certificate status, "
                     "responder: %s, certificate: \"%s\"", why, text, o->host, o->name);
        ERR_clear_error();
    }
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
}

/* ------------------------------------------------------------ the fetch */

static void
bw_ocsp_fetch_end(bw_ocsp_fetch_t *f, const char *why, int err)
{
    bw_ocsp_t *o = f->ocsp;

    if (why != NULL) {
        bw_log_error(BW_LOG_ERR, bw_cycle->log, err, "%s while requesting certificate status, "
                     "responder: %s, certificate: \"%s\"", why, o->host, o->name);
    } else if (err != -1) { /* -1: failed before any answer, already logged */
        /* "HTTP/1.x 200 ...", then the body after the blank line */
        u_char *body = NULL;
        for (size_t i = 0; i + 3 < f->in_len; i++) {
            if (memcmp(f->in + i, "\r\n\r\n", 4) == 0) {
                body = f->in + i + 4;
                break;
            }
        }
        if (f->in_len < 12 || memcmp(f->in, "HTTP/1.", 7) != 0 || memcmp(f->in + 8, " 200", 4) != 0
            || body == NULL) {
            bw_log_error(BW_LOG_ERR, bw_cycle->log, 0, "OCSP responder sent invalid response "
                         "while requesting certificate status, responder: %s, certificate: "
                         "\"%s\"", o->host, o->name);
        } else {
            bw_ocsp_take(o, body, (size_t) (f->in + f->in_len - body), bw_cycle->log);
        }
    }
    if (o->der == NULL || o->refresh <= bw_time.sec) {
        o->refresh = bw_time.sec + BW_OCSP_RETRY;
    }
    o->loading = false;
    bw_resolve_name_done(f->lookup);
    if (f->c != NULL) {
        bw_connection_close(f->c);
    }
    free(f->out);
    free(f->in);
    free(f);
}

static void
bw_ocsp_fetch_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    bw_ocsp_fetch_t *f = c->data;

    if (ev->timedout) {
        bw_ocsp_fetch_end(f, "timed out", ETIMEDOUT);
        return;
    }
    while (f->sent < f->out_len) {
        ssize_t n = send(c->fd, f->out + f->sent, f->out_len - f->sent, MSG_NOSIGNAL);
        if (n == -1 && errno == EAGAIN) {
            return; /* the write event brings us back */
        }
        if (n <= 0) {
            bw_ocsp_fetch_end(f, "send() failed", errno);
            return;
        }
        f->sent += (size_t) n;
    }
    for (;;) {
        if (f->in_len == BW_OCSP_MAX) {
            bw_ocsp_fetch_end(f, "response too large", 0);
            return;
        }
        ssize_t n = recv(c->fd, f->in + f->in_len, BW_OCSP_MAX - f->in_len, 0);
        if (n == -1 && errno == EAGAIN) {
            return;
        }
        if (n < 0) {
            bw_ocsp_fetch_end(f, "recv() failed", errno);
            return;
        }
        if (n == 0) {
            bw_ocsp_fetch_end(f, NULL, 0); /* HTTP/1.0: the close ends the answer */
            return;
        }
        f->in_len += (size_t) n;
    }
}

static void bw_ocsp_fetch_connect(bw_ocsp_fetch_t *f, const struct sockaddr_storage *addr,
                                  socklen_t len);

/* The responder's name was looked up: connect to its first address. */
static void
bw_ocsp_resolved(bw_resolver_ctx_t *ctx)
{
    bw_ocsp_fetch_t *f = ctx->data;
    bw_ocsp_t       *o = f->ocsp;

    f->lookup = NULL;
    if (ctx->state != 0) {
        bw_log_error(BW_LOG_ERR, bw_cycle->log, 0, "%s could not be resolved (%d: %s) while "
                     "requesting certificate status, certificate: \"%s\"", o->name_host,
                     ctx->state, bw_resolver_strerror(ctx->state), o->name);
        bw_resolve_name_done(ctx);
        bw_ocsp_fetch_end(f, NULL, -1);
        return;
    }
    struct sockaddr_storage addr = ctx->addrs[0].sockaddr;
    socklen_t               len = ctx->addrs[0].socklen;
    bw_resolve_name_done(ctx);
    if (addr.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *) &addr)->sin6_port = htons(o->port);
    } else {
        ((struct sockaddr_in *) &addr)->sin_port = htons(o->port);
    }
    bw_ocsp_fetch_connect(f, &addr, len);
}

/* Starts fetching a response for o; failures are logged and retried later. */
static void
bw_ocsp_fetch_start(bw_ocsp_t *o)
{
    bw_ocsp_fetch_t *f = calloc(1, sizeof(*f));
    OCSP_REQUEST    *req = OCSP_REQUEST_new();
    OCSP_CERTID     *id = o->id ? OCSP_CERTID_dup(o->id) : NULL;
    u_char          *der = NULL;
    int              dlen = -1;

    o->loading = true;
    if (f != NULL) {
        f->ocsp = o;
    }
    if (req != NULL && id != NULL && OCSP_request_add0_id(req, id) != NULL) {
        id = NULL; /* the request owns it */
        dlen = i2d_OCSP_REQUEST(req, &der);
    }
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(req);
    if (f == NULL || dlen <= 0 || (f->in = malloc(BW_OCSP_MAX)) == NULL
        || (f->out = malloc((size_t) dlen + 1024)) == NULL) {
        OPENSSL_free(der);
        if (f == NULL) {
            o->loading = false;
            o->refresh = bw_time.sec + BW_OCSP_RETRY;
            return;
        }
        bw_ocsp_fetch_end(f, "no memory", 0);
        return;
    }
    int head = snprintf((char *) f->out, 1024,
                        "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/ocsp-request\r\n"
                        "Content-Length: %d\r\n\r\n", o->path, o->host, dlen);
    memcpy(f->out + head, der, (size_t) dlen);
    f->out_len = (size_t) head + (size_t) dlen;
    OPENSSL_free(der);

    bw_resolver_t *res = o->resolver ? *o->resolver : NULL;
    if (!o->literal && res != NULL && res != BW_CONF_UNSET_PTR) {
        bw_str_t name = {strlen(o->name_host), (u_char *) o->name_host};
        f->lookup = bw_resolve_start(res, &name);
        if (f->lookup == NULL) {
            bw_ocsp_fetch_end(f, "no memory", 0);
            return;
        }
        f->lookup->handler = bw_ocsp_resolved;
        f->lookup->data = f;
        f->lookup->timeout = o->resolver_timeout ? *o->resolver_timeout : 30000;
        bw_resolve_name(f->lookup); /* may answer at once */
        return;
    }
    if (o->addrlen == 0) {
        bw_log_error(BW_LOG_ERR, bw_cycle->log, 0, "no resolver defined to resolve %s while "
                     "requesting certificate status, certificate: \"%s\"", o->name_host,
                     o->name);
        bw_ocsp_fetch_end(f, NULL, -1);
        return;
    }
    bw_ocsp_fetch_connect(f, &o->addr, o->addrlen);
}

/* The responder's address is known: connects and sends the request. */
static void
bw_ocsp_fetch_connect(bw_ocsp_fetch_t *f, const struct sockaddr_storage *addr, socklen_t len)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        bw_ocsp_fetch_end(f, "socket() failed", errno);
        return;
    }
    if (connect(fd, (const struct sockaddr *) addr, len) == -1 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        bw_ocsp_fetch_end(f, "connect() failed", err);
        return;
    }
    f->c = bw_connection_get(bw_cycle, fd, bw_cycle->log);
    if (f->c == NULL) {
        close(fd);
        bw_ocsp_fetch_end(f, "no free connection", 0);
        return;
    }
    f->c->data = f;
    f->c->read->handler = bw_ocsp_fetch_handler;
    f->c->write->handler = bw_ocsp_fetch_handler;
    f->c->read->log = f->c->write->log = bw_cycle->log;
    if (bw_event_conn_add(f->c) != BW_OK) {
        bw_ocsp_fetch_end(f, "epoll_ctl() failed", 0);
        return;
    }
    bw_event_add_timer(f->c->read, BW_OCSP_TIMEOUT);
}

int
bw_tls_ocsp_staple(SSL *ssl)
{
    X509      *cert = SSL_get_certificate(ssl);
    bw_ocsp_t *o = cert && bw_ocsp_index != -1 ? X509_get_ex_data(cert, bw_ocsp_index) : NULL;

    if (o == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    if (!o->loading && o->refresh <= bw_time.sec && bw_cycle != NULL
        && bw_cycle->connections != NULL) {
        bw_ocsp_fetch_start(o);
    }
    if (o->der == NULL || o->valid_until <= bw_time.sec) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    u_char *copy = OPENSSL_malloc(o->der_len); /* OpenSSL frees it */
    if (copy == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    memcpy(copy, o->der, o->der_len);
    SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long) o->der_len);
    return SSL_TLSEXT_ERR_OK;
}
