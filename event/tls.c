/*
 * tls.c -- OpenSSL server contexts and TLS connections: context defaults,
 * protocols, certificates with their chains and encrypted keys, ciphers,
 * curves, DH parameters, client verification, OpenSSL configuration
 * commands, a stapled OCSP file; then per connection the handshake as
 * event handlers, record-sized reads and writes that follow the event
 * layer's edge-triggered contract, and close_notify.
 *
 * Sessions (caches, ticket keys) are in tls_session.c; what the contexts
 * are made of is the http ssl module's business (modules/ssl.c).
 */
#include "tls.h"

#include "io.h"
#include "log.h"
#include "pool.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* SSL ex_data: the bw_connection_t. SSL_CTX ex_data: the stapled response. */
static int bw_tls_conn_index = -1;
static int bw_tls_staple_index = -1;

/* A stapled OCSP response is at most this big (a DER file). */
#define BW_TLS_STAPLE_MAX (64 * 1024)
/* A password file is read up to this size. */
#define BW_TLS_PASSWORDS_MAX 4096

static void bw_tls_handshake_handler(bw_event_t *ev);
static int bw_tls_staple_callback(SSL *ssl, void *arg);

/* ------------------------------------------------------------ errors */

const char *
bw_tls_error_text(char *buf, size_t size)
{
    size_t len = 0;
    unsigned long e;
    const char *data;
    int flags;

    buf[0] = '\0';
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (size < 8 || len >= size - 2) {
            continue; /* keep draining: a stale queue would confuse the next call */
        }
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        bool text = data && *data && (flags & ERR_TXT_STRING);
        int n = snprintf(buf + len, size - 1 - len, "%s%s%s%s", len ? " " : " (SSL: ", one,
                         text ? ":" : "", text ? data : "");
        if (n > 0) {
            len = bw_min(len + (size_t) n, size - 2);
        }
    }
    if (len) {
        buf[len++] = ')';
        buf[len] = '\0';
    }
    return buf;
}

void
bw_tls_conf_error(bw_conf_t *cf, const char *fmt, ...)
{
    char msg[1024], ssl[BW_TLS_ERROR_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bw_conf_log(cf, BW_LOG_EMERG, 0, "%s%s", msg, bw_tls_error_text(ssl, sizeof(ssl)));
}

/*
 * Logs a failed SSL call on a connection: info when the peer is to blame
 * (a TLS protocol error, a reset, a close), crit otherwise.
 */
void
bw_tls_conn_error_level(bw_connection_t *c, int sslerr, int err, const char *call,
                        unsigned peer_level)
{
    char ssl[BW_TLS_ERROR_LEN];
    unsigned level = BW_LOG_CRIT;
    unsigned long e = ERR_peek_error();

    if (sslerr == SSL_ERROR_SYSCALL && e == 0) {
        if (err == 0 || err == ECONNRESET || err == EPIPE || err == ENOTCONN
            || err == ETIMEDOUT || err == ECONNREFUSED || err == EHOSTUNREACH
            || err == ENETUNREACH) {
            level = peer_level;
        }
    } else if (sslerr == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL) {
        level = peer_level;
    } else if (sslerr == SSL_ERROR_ZERO_RETURN) {
        level = peer_level; /* the peer sent close_notify: its choice, not a fault */
    }
    bw_tls_error_text(ssl, sizeof(ssl));
    bw_log_error(level, c->log, sslerr == SSL_ERROR_SYSCALL ? err : 0, "%s failed%s", call, ssl);
}

/* Client-side faults are info (nginx's level for what a client causes). */
static void
bw_tls_conn_error(bw_connection_t *c, int sslerr, int err, const char *call)
{
    bw_tls_conn_error_level(c, sslerr, err, call, BW_LOG_INFO);
}

/* ---------------------------------------------------------- contexts */

static bw_rc_t
bw_tls_indexes_init(void)
{
    if (bw_tls_conn_index != -1) {
        return BW_OK;
    }
    bw_tls_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    bw_tls_staple_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (bw_tls_conn_index == -1 || bw_tls_staple_index == -1) {
        bw_tls_conn_index = -1;
        return BW_ERROR;
    }
    return BW_OK;
}

static void
bw_tls_ctx_cleanup(void *data)
{
    SSL_CTX_free(*(SSL_CTX **) data);
}

SSL_CTX *
bw_tls_ctx_create(bw_conf_t *cf)
{
    if (bw_tls_indexes_init() != BW_OK) {
        bw_tls_conf_error(cf, "SSL_get_ex_new_index() failed");
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        bw_tls_conf_error(cf, "SSL_CTX_new() failed");
        return NULL;
    }
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(cf->pool, sizeof(SSL_CTX *));
    if (cln == NULL) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    cln->handler = bw_tls_ctx_cleanup;
    *(SSL_CTX **) cln->data = ctx;

    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                                 | SSL_OP_SINGLE_DH_USE | SSL_OP_SINGLE_ECDH_USE
                                 | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Partial writes let send report progress record by record; a moving
     * buffer lets a retry come from a different copy of the same bytes. The
     * chain sent is the certificate file's, never one OpenSSL builds from
     * the CA store (ssl_client_certificate), as in nginx. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN
                              | SSL_MODE_ENABLE_PARTIAL_WRITE
                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One read per record burst instead of header then body: bw_tls_recv keeps
     * calling SSL_read until OpenSSL wants the socket again. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_tlsext_status_cb(ctx, bw_tls_staple_callback);
    return ctx;
}

bw_rc_t
bw_tls_ctx_protocols(bw_conf_t *cf, SSL_CTX *ctx, bw_uint_t mask)
{
    static const struct {
        bw_uint_t bit;
        int       version;
        uint64_t  off;
    } rows[] = {
        {BW_TLS_SSLv3, SSL3_VERSION, SSL_OP_NO_SSLv3},
        {BW_TLS_TLSv1, TLS1_VERSION, SSL_OP_NO_TLSv1},
        {BW_TLS_TLSv1_1, TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
        {BW_TLS_TLSv1_2, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
        {BW_TLS_TLSv1_3, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
    };
    int min = 0, max = 0;
    uint64_t off = 0;

    for (size_t i = 0; i < bw_nelems(rows); i++) {
        if (mask & rows[i].bit) {
            min = min ? min : rows[i].version;
            max = rows[i].version;
        } else {
            off |= rows[i].off; /* a hole between enabled versions stays closed */
        }
    }
    if (min == 0) {
        /* only SSLv2 (which OpenSSL 3 lacks): every handshake fails */
        min = max = TLS1_3_VERSION;
        off |= SSL_OP_NO_TLSv1_3;
    }
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1
        || SSL_CTX_set_max_proto_version(ctx, max) != 1) {
        bw_tls_conf_error(cf, "SSL_CTX_set_min_proto_version() failed");
        return BW_ERROR;
    }
    SSL_CTX_set_options(ctx, off);
    return BW_OK;
}

/* Hands one password to PEM_read_bio_PrivateKey (none: refuse, never prompt). */
static int
bw_tls_password_callback(char *buf, int size, int rwflag, void *userdata)
{
    const bw_str_t *pw = userdata;

    if (pw == NULL || size < 0 || pw->len > (size_t) size) {
        return 0;
    }
    memcpy(buf, pw->data, pw->len);
    return (int) pw->len;
}

/* Reads a private key, trying each password in turn. NULL after reporting. */
static EVP_PKEY *
bw_tls_key_load(bw_conf_t *cf, const bw_str_t *key, const bw_array_t *passwords)
{
    size_t npw = passwords ? passwords->nelts : 0;
    const bw_str_t *pw = passwords ? passwords->elts : NULL;

    for (size_t i = 0; i < bw_max(npw, (size_t) 1); i++) {
        BIO *bio = BIO_new_file((const char *) key->data, "r");
        if (bio == NULL) {
            bw_tls_conf_error(cf, "cannot load certificate key \"%s\": BIO_new_file() failed",
                              (const char *) key->data);
            return NULL;
        }
        EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, bw_tls_password_callback,
                                                 npw ? (void *) &pw[i] : NULL);
        BIO_free(bio);
        if (pkey) {
            ERR_clear_error();
            return pkey;
        }
        if (i + 1 < npw) {
            ERR_clear_error(); /* the next password may be the right one */
        }
    }
    bw_tls_conf_error(cf, "cannot load certificate key \"%s\": PEM_read_bio_PrivateKey() failed",
                      (const char *) key->data);
    return NULL;
}

/* Adds the rest of the PEM file as the current certificate's chain. */
static bw_rc_t
bw_tls_chain_load(bw_conf_t *cf, SSL_CTX *ctx, BIO *bio, const char *name)
{
    SSL_CTX_clear_chain_certs(ctx);
    for (;;) {
        X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (ca == NULL) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                ERR_clear_error(); /* the end of the file */
                return BW_OK;
            }
            bw_tls_conf_error(cf, "cannot load certificate \"%s\": PEM_read_bio_X509() failed",
                              name);
            return BW_ERROR;
        }
        if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
            X509_free(ca);
            bw_tls_conf_error(cf, "SSL_CTX_add0_chain_cert(\"%s\") failed", name);
            return BW_ERROR;
        }
    }
}

bw_rc_t
bw_tls_ctx_certificate(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *cert, const bw_str_t *key,
                       const bw_array_t *passwords)
{
    const char *name = (const char *) cert->data;
    BIO *bio = BIO_new_file(name, "r");

    if (bio == NULL) {
        bw_tls_conf_error(cf, "cannot load certificate \"%s\": BIO_new_file() failed", name);
        return BW_ERROR;
    }
    X509 *x = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
    if (x == NULL) {
        BIO_free(bio);
        bw_tls_conf_error(cf, "cannot load certificate \"%s\": PEM_read_bio_X509_AUX() failed",
                          name);
        return BW_ERROR;
    }
    if (SSL_CTX_use_certificate(ctx, x) != 1) {
        X509_free(x);
        BIO_free(bio);
        bw_tls_conf_error(cf, "SSL_CTX_use_certificate(\"%s\") failed", name);
        return BW_ERROR;
    }
    X509_free(x);
    bw_rc_t rc = bw_tls_chain_load(cf, ctx, bio, name);
    BIO_free(bio);
    if (rc != BW_OK) {
        return BW_ERROR;
    }
    EVP_PKEY *pkey = bw_tls_key_load(cf, key, passwords);
    if (pkey == NULL) {
        return BW_ERROR;
    }
    if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
        EVP_PKEY_free(pkey);
        bw_tls_conf_error(cf, "SSL_CTX_use_PrivateKey(\"%s\") failed", (const char *) key->data);
        return BW_ERROR;
    }
    EVP_PKEY_free(pkey);
    return BW_OK;
}

bw_rc_t
bw_tls_ctx_ciphers(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *ciphers, bool prefer)
{
    if (SSL_CTX_set_cipher_list(ctx, (const char *) ciphers->data) != 1) {
        bw_tls_conf_error(cf, "SSL_CTX_set_cipher_list(\"%s\") failed",
                          (const char *) ciphers->data);
        return BW_ERROR;
    }
    if (prefer) {
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    return BW_OK;
}

bw_rc_t
bw_tls_ctx_ecdh_curve(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *curves)
{
    if (bw_str_eq_lit(curves, "auto")) {
        return BW_OK; /* OpenSSL's own list (X25519, P-256, ...) */
    }
    if (SSL_CTX_set1_curves_list(ctx, (const char *) curves->data) != 1) {
        bw_tls_conf_error(cf, "SSL_CTX_set1_curves_list(\"%s\") failed",
                          (const char *) curves->data);
        return BW_ERROR;
    }
    return BW_OK;
}

bw_rc_t
bw_tls_ctx_dhparam(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *file)
{
    const char *name = (const char *) file->data;
    BIO *bio = BIO_new_file(name, "r");

    if (bio == NULL) {
        bw_tls_conf_error(cf, "BIO_new_file(\"%s\") failed", name);
        return BW_ERROR;
    }
    EVP_PKEY *dh = PEM_read_bio_Parameters(bio, NULL);
    BIO_free(bio);
    if (dh == NULL) {
        bw_tls_conf_error(cf, "PEM_read_bio_Parameters(\"%s\") failed", name);
        return BW_ERROR;
    }
    if (SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
        EVP_PKEY_free(dh);
        bw_tls_conf_error(cf, "SSL_CTX_set0_tmp_dh_pkey(\"%s\") failed", name);
        return BW_ERROR;
    }
    return BW_OK;
}

/* The handshake never fails on the client's certificate: the verdict is
 * read per request (SSL_get_verify_result), as the owner decides. */
static int
bw_tls_verify_callback(int ok, X509_STORE_CTX *store)
{
    return 1;
}

bw_rc_t
bw_tls_ctx_verify(bw_conf_t *cf, SSL_CTX *ctx, bw_int_t depth, const bw_str_t *ca,
                  const bw_str_t *trusted, const bw_str_t *crl)
{
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, bw_tls_verify_callback);
    SSL_CTX_set_verify_depth(ctx, (int) depth);

    if (ca->len) {
        if (SSL_CTX_load_verify_locations(ctx, (const char *) ca->data, NULL) != 1) {
            bw_tls_conf_error(cf, "SSL_CTX_load_verify_locations(\"%s\") failed",
                              (const char *) ca->data);
            return BW_ERROR;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file((const char *) ca->data);
        if (names == NULL) {
            bw_tls_conf_error(cf, "SSL_load_client_CA_file(\"%s\") failed",
                              (const char *) ca->data);
            return BW_ERROR;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    if (trusted->len
        && SSL_CTX_load_verify_locations(ctx, (const char *) trusted->data, NULL) != 1) {
        bw_tls_conf_error(cf, "SSL_CTX_load_verify_locations(\"%s\") failed",
                          (const char *) trusted->data);
        return BW_ERROR;
    }
    if (crl->len == 0) {
        return BW_OK;
    }
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP *lookup = store ? X509_STORE_add_lookup(store, X509_LOOKUP_file()) : NULL;
    if (lookup == NULL) {
        bw_tls_conf_error(cf, "X509_STORE_add_lookup() failed");
        return BW_ERROR;
    }
    if (X509_LOOKUP_load_file(lookup, (const char *) crl->data, X509_FILETYPE_PEM) != 1) {
        bw_tls_conf_error(cf, "X509_LOOKUP_load_file(\"%s\") failed", (const char *) crl->data);
        return BW_ERROR;
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return BW_OK;
}

bw_rc_t
bw_tls_ctx_conf_commands(bw_conf_t *cf, SSL_CTX *ctx, const bw_array_t *commands, bool server)
{
    SSL_CONF_CTX *cctx = SSL_CONF_CTX_new();
    bw_rc_t rc = BW_OK;

    if (cctx == NULL) {
        bw_tls_conf_error(cf, "SSL_CONF_CTX_new() failed");
        return BW_ERROR;
    }
    SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE
                                     | (server ? SSL_CONF_FLAG_SERVER : SSL_CONF_FLAG_CLIENT)
                                     | SSL_CONF_FLAG_CERTIFICATE | SSL_CONF_FLAG_SHOW_ERRORS);
    SSL_CONF_CTX_set_ssl_ctx(cctx, ctx);
    const bw_keyval_t *kv = commands->elts;
    for (size_t i = 0; i < commands->nelts; i++) {
        if (SSL_CONF_cmd(cctx, (const char *) kv[i].key.data, (const char *) kv[i].value.data)
            <= 0) {
            bw_tls_conf_error(cf, "SSL_CONF_cmd(\"%s\", \"%s\") failed",
                              (const char *) kv[i].key.data, (const char *) kv[i].value.data);
            rc = BW_ERROR;
            break;
        }
    }
    if (rc == BW_OK && SSL_CONF_CTX_finish(cctx) != 1) {
        bw_tls_conf_error(cf, "SSL_CONF_finish() failed");
        rc = BW_ERROR;
    }
    SSL_CONF_CTX_free(cctx);
    return rc;
}

/* Reads a whole small file into cf->pool (NUL-terminated). BW_OK or BW_ERROR (reported). */
static bw_rc_t
bw_tls_file_read(bw_conf_t *cf, const bw_str_t *file, size_t max, bw_str_t *out)
{
    int fd = open((const char *) file->data, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        bw_conf_log(cf, BW_LOG_EMERG, errno, "open() \"%s\" failed", (const char *) file->data);
        return BW_ERROR;
    }
    u_char *buf = bw_pnalloc(cf->pool, max + 1);
    size_t len = 0;
    while (buf && len < max) {
        ssize_t n = read(fd, buf + len, max - len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            bw_conf_log(cf, BW_LOG_EMERG, errno, "read() \"%s\" failed",
                        (const char *) file->data);
            close(fd);
            return BW_ERROR;
        }
        if (n == 0) {
            break;
        }
        len += (size_t) n;
    }
    close(fd);
    if (buf == NULL) {
        return BW_ERROR;
    }
    buf[len] = '\0';
    out->data = buf;
    out->len = len;
    return BW_OK;
}

bw_array_t *
bw_tls_read_passwords(bw_conf_t *cf, const bw_str_t *file)
{
    bw_str_t text;

    if (bw_tls_file_read(cf, file, BW_TLS_PASSWORDS_MAX, &text) != BW_OK) {
        return NULL;
    }
    bw_array_t *passwords = bw_array_create(cf->pool, 4, sizeof(bw_str_t));
    if (passwords == NULL) {
        return NULL;
    }
    u_char *p = text.data, *end = text.data + text.len;
    while (p < end) {
        u_char *eol = memchr(p, '\n', (size_t) (end - p));
        u_char *last = eol ? eol : end;
        size_t len = (size_t) (last - p);
        if (len && p[len - 1] == '\r') {
            len--;
        }
        bw_str_t *pw = bw_array_push(passwords);
        if (pw == NULL) {
            return NULL;
        }
        pw->data = p;
        pw->len = len;
        p = eol ? eol + 1 : end;
    }
    if (passwords->nelts == 0) {
        bw_conf_log(cf, BW_LOG_EMERG, 0, "no passwords in \"%s\"", (const char *) file->data);
        return NULL;
    }
    return passwords;
}

bw_rc_t
bw_tls_ctx_stapling_file(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *file)
{
    bw_str_t *der = bw_pcalloc(cf->pool, sizeof(bw_str_t));

    if (der == NULL || bw_tls_file_read(cf, file, BW_TLS_STAPLE_MAX, der) != BW_OK) {
        return BW_ERROR;
    }
    const u_char *p = der->data;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long) der->len);
    if (resp == NULL) {
        bw_tls_conf_error(cf, "d2i_OCSP_RESPONSE(\"%s\") failed", (const char *) file->data);
        return BW_ERROR;
    }
    OCSP_RESPONSE_free(resp);
    SSL_CTX_set_ex_data(ctx, bw_tls_staple_index, der);
    return BW_OK;
}

/* Staples the context's OCSP response when the client asked for one. */
static int
bw_tls_staple_callback(SSL *ssl, void *arg)
{
    const bw_str_t *der = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), bw_tls_staple_index);

    if (SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    if (der == NULL) {
        return bw_tls_ocsp_staple(ssl); /* fetched responses, if any */
    }
    u_char *copy = OPENSSL_malloc(der->len); /* OpenSSL frees it */
    if (copy == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    memcpy(copy, der->data, der->len);
    SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long) der->len);
    return SSL_TLSEXT_ERR_OK;
}

/* -------------------------------------------------------- connections */

static void
bw_tls_ssl_cleanup(void *data)
{
    SSL_free(*(SSL **) data);
}

bw_connection_t *
bw_tls_ssl_connection(const SSL *ssl)
{
    return bw_tls_conn_index == -1 ? NULL : SSL_get_ex_data(ssl, bw_tls_conn_index);
}

bw_rc_t
bw_tls_conn_create(SSL_CTX *ctx, bw_connection_t *c, size_t buffer_size)
{
    char ssl_text[BW_TLS_ERROR_LEN];
    bw_tls_conn_t *tc = bw_pcalloc(c->pool, sizeof(*tc));
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(c->pool, sizeof(SSL *));

    if (tc == NULL || cln == NULL) {
        return BW_ERROR;
    }
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) {
        bw_log_error(BW_LOG_CRIT, c->log, 0, "SSL_new() failed%s",
                     bw_tls_error_text(ssl_text, sizeof(ssl_text)));
        return BW_ERROR;
    }
    *(SSL **) cln->data = ssl;
    cln->handler = bw_tls_ssl_cleanup;
    if (SSL_set_fd(ssl, c->fd) != 1 || SSL_set_ex_data(ssl, bw_tls_conn_index, c) != 1) {
        bw_log_error(BW_LOG_CRIT, c->log, 0, "SSL_set_fd() failed%s",
                     bw_tls_error_text(ssl_text, sizeof(ssl_text)));
        return BW_ERROR;
    }
    SSL_set_accept_state(ssl);
    tc->ssl = ssl;
    tc->session_ctx = ctx;
    tc->buffer_size = buffer_size ? buffer_size : BW_TLS_BUFFER_SIZE;
    c->ssl = tc;
    return BW_OK;
}

bw_rc_t
bw_tls_handshake_step(bw_connection_t *c, void (*handler)(bw_event_t *ev), unsigned peer_level)
{
    bw_tls_conn_t *tc = c->ssl;

    ERR_clear_error();
    errno = 0;
    int n = SSL_do_handshake(tc->ssl);
    if (n == 1) {
        tc->handshaked = 1;
        c->recv = bw_tls_recv;
        c->send = bw_tls_send;
        c->send_chain = bw_tls_send_chain;
        return BW_OK;
    }
    int err = errno;
    int sslerr = SSL_get_error(tc->ssl, n);
    if (sslerr == SSL_ERROR_WANT_READ || sslerr == SSL_ERROR_WANT_WRITE) {
        if (sslerr == SSL_ERROR_WANT_READ) {
            c->read->ready = 0;
        } else {
            c->write->ready = 0;
        }
        c->read->handler = handler;
        c->write->handler = handler;
        return BW_AGAIN;
    }
    tc->no_send_shutdown = 1;
    c->read->error = 1;
    if (sslerr == SSL_ERROR_ZERO_RETURN || (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
        bw_log_error(peer_level, c->log, err, "peer closed connection in SSL handshake");
        ERR_clear_error();
        return BW_ERROR;
    }
    bw_tls_conn_error_level(c, sslerr, err, "SSL_do_handshake()", peer_level);
    return BW_ERROR;
}

bw_rc_t
bw_tls_handshake(bw_connection_t *c)
{
    return bw_tls_handshake_step(c, bw_tls_handshake_handler, BW_LOG_INFO);
}

/* Both events' handler while the handshake waits for the socket. */
static void
bw_tls_handshake_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    bw_tls_conn_t *tc = c->ssl;

    if (ev->timedout) {
        bw_log_error(BW_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        c->timedout = 1;
        tc->no_send_shutdown = 1;
        tc->handler(c);
        return;
    }
    if (c->close) {
        tc->no_send_shutdown = 1;
        tc->handler(c);
        return;
    }
    if (bw_tls_handshake(c) == BW_AGAIN) {
        return;
    }
    tc->handler(c);
}

/* ---- a read that needs the socket writable, a write that needs it readable ---- */

static void
bw_tls_write_wakes_read(bw_event_t *wev)
{
    bw_connection_t *c = wev->data;
    bw_tls_conn_t *tc = c->ssl;

    wev->handler = tc->saved_write;
    tc->saved_write = NULL;
    c->read->ready = 1;
    c->read->handler(c->read);
}

static void
bw_tls_read_wakes_write(bw_event_t *rev)
{
    bw_connection_t *c = rev->data;
    bw_tls_conn_t *tc = c->ssl;

    rev->handler = tc->saved_read;
    tc->saved_read = NULL;
    c->write->ready = 1;
    c->write->handler(c->write);
}

/* SSL_read wants to write (a key update answer): retry the read when writable. */
static void
bw_tls_read_waits_write(bw_connection_t *c)
{
    bw_tls_conn_t *tc = c->ssl;

    if (c->write->handler != bw_tls_write_wakes_read) {
        tc->saved_write = c->write->handler;
        c->write->handler = bw_tls_write_wakes_read;
    }
}

/* SSL_write wants to read: retry the write when readable. */
static void
bw_tls_write_waits_read(bw_connection_t *c)
{
    bw_tls_conn_t *tc = c->ssl;

    if (c->read->handler != bw_tls_read_wakes_write) {
        tc->saved_read = c->read->handler;
        c->read->handler = bw_tls_read_wakes_write;
    }
}

ssize_t
bw_tls_recv(bw_connection_t *c, u_char *buf, size_t size)
{
    bw_tls_conn_t *tc = c->ssl;
    bw_event_t *rev = c->read;
    size_t got = 0;

    /* Read until the buffer is full or OpenSSL needs the socket: returning
     * early with decrypted bytes left inside OpenSSL would wait for an edge
     * that never comes. */
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_read(tc->ssl, buf + got, (int) bw_min(size - got, (size_t) INT_MAX));
        if (n > 0) {
            got += (size_t) n;
            if (got == size) {
                return (ssize_t) got;
            }
            continue;
        }
        int err = errno;
        int sslerr = SSL_get_error(tc->ssl, n);
        if (sslerr == SSL_ERROR_WANT_READ || sslerr == SSL_ERROR_WANT_WRITE) {
            rev->ready = 0;
            if (sslerr == SSL_ERROR_WANT_WRITE) {
                bw_tls_read_waits_write(c);
            }
            return got ? (ssize_t) got : BW_AGAIN;
        }
        if (got) {
            /* report the bytes now and the end or the error on the next call */
            ERR_clear_error();
            return (ssize_t) got;
        }
        rev->ready = 0;
        if (sslerr == SSL_ERROR_ZERO_RETURN
            || (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && err == 0)) {
            rev->eof = 1;
            return 0;
        }
        rev->error = 1;
        tc->no_send_shutdown = 1;
        bw_tls_conn_error(c, sslerr, err, "SSL_read()");
        return BW_ERROR;
    }
}

/* The outcome of an SSL_write that wrote nothing: BW_AGAIN or BW_ERROR. */
static ssize_t
bw_tls_write_failed(bw_connection_t *c, int n, int err)
{
    bw_tls_conn_t *tc = c->ssl;
    int sslerr = SSL_get_error(tc->ssl, n);

    if (sslerr == SSL_ERROR_WANT_WRITE || sslerr == SSL_ERROR_WANT_READ) {
        c->write->ready = 0;
        if (sslerr == SSL_ERROR_WANT_READ) {
            bw_tls_write_waits_read(c);
        }
        return BW_AGAIN;
    }
    c->write->error = 1;
    tc->no_send_shutdown = 1;
    bw_tls_conn_error(c, sslerr, err, "SSL_write()");
    return BW_ERROR;
}

ssize_t
bw_tls_send(bw_connection_t *c, const u_char *buf, size_t size)
{
    bw_tls_conn_t *tc = c->ssl;
    size_t sent = 0;

    /* Partial writes return after each record: go on while the socket takes them. */
    while (sent < size) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_write(tc->ssl, buf + sent, (int) bw_min(size - sent, (size_t) INT_MAX));
        if (n > 0) {
            sent += (size_t) n;
            c->sent += n;
            continue;
        }
        ssize_t rc = bw_tls_write_failed(c, n, errno);
        if (rc == BW_ERROR || sent == 0) {
            return rc;
        }
        break;
    }
    return (ssize_t) sent;
}

/*
 * Copies the next bytes of `cl` (memory, or read from files) into dst
 * without consuming them. Returns the count (0: nothing to send), or -1
 * after logging a file read error.
 */
static ssize_t
bw_tls_gather(bw_connection_t *c, const bw_chain_t *cl, u_char *dst, size_t room)
{
    size_t len = 0;

    for (; cl && len < room; cl = cl->next) {
        const bw_buf_t *b = cl->buf;
        if (bw_buf_special(b)) {
            continue;
        }
        if (bw_buf_in_memory(b)) {
            size_t n = bw_min((size_t) (b->last - b->pos), room - len);
            memcpy(dst + len, b->pos, n);
            len += n;
            continue;
        }
        if (!b->in_file || b->file_last <= b->file_pos) {
            continue;
        }
        size_t want = (size_t) bw_min(b->file_last - b->file_pos, (off_t) (room - len));
        ssize_t n;
        do {
            n = pread(b->file->fd, dst + len, want, b->file_pos);
        } while (n == -1 && errno == EINTR);
        if (n <= 0) {
            bw_log_error(BW_LOG_CRIT, c->log, n == 0 ? 0 : errno,
                         n == 0 ? "pread() \"%s\" read only 0 bytes: file truncated?"
                                : "pread() \"%s\" failed", (const char *) b->file->name.data);
            return -1;
        }
        len += (size_t) n;
        if ((size_t) n < want) {
            break; /* the rest comes next time: the bytes must stay in order */
        }
    }
    return (ssize_t) len;
}

/*
 * Records are gathered in one buffer per worker; only a record that has to
 * wait for the socket is copied into the connection's own buffer (tc->buf),
 * so a response costs no allocation unless the client is slow.
 */
static u_char *bw_tls_scratch;
static size_t  bw_tls_scratch_size;

static u_char *
bw_tls_scratch_get(size_t size)
{
    if (size > bw_tls_scratch_size) {
        u_char *p = realloc(bw_tls_scratch, size);
        if (p == NULL) {
            return NULL;
        }
        bw_tls_scratch = p;
        bw_tls_scratch_size = size;
    }
    return bw_tls_scratch;
}

/* Frees the record buffer once nothing waits in it (idle connections stay small). */
static void
bw_tls_buffer_release(bw_connection_t *c)
{
    bw_tls_conn_t *tc = c->ssl;

    if (tc->buf && tc->pending == 0) {
        bw_pfree(c->pool, tc->buf);
        tc->buf = NULL;
    }
}

/* True when the chain starts with a file-only buffer and the connection
 * sends through kernel TLS. */
static bool
bw_tls_ktls_file(bw_connection_t *c, bw_chain_t *in)
{
    bw_buf_t *b = in->buf;
    return b->in_file && !bw_buf_in_memory(b) && b->file && b->file_last > b->file_pos
           && BIO_get_ktls_send(SSL_get_wbio(((bw_tls_conn_t *) c->ssl)->ssl));
}

bw_chain_t *
bw_tls_send_chain(bw_connection_t *c, bw_chain_t *in, off_t limit)
{
    bw_tls_conn_t *tc = c->ssl;
    bw_event_t *wev = c->write;
    off_t total = 0;

    if (limit <= 0 || limit > BW_SEND_CHAIN_MAX) {
        limit = BW_SEND_CHAIN_MAX;
    }
    /*
     * Bytes are consumed from the chain only once SSL_write took them. A
     * write that would block keeps a copy of its record in tc->buf
     * (tc->pending) and is retried with the same bytes, which are still
     * the chain's first.
     */
    for (;;) {
        in = bw_chain_update_sent(in, 0);
        if (in == NULL) {
            tc->pending = 0;
            bw_tls_buffer_release(c);
            return NULL;
        }
        if (!wev->ready || total >= limit) {
            return in;
        }
        size_t  len = tc->pending;
        u_char *rec = tc->buf;
        if (len == 0 && bw_tls_ktls_file(c, in)) {
            /* Kernel TLS (ssl_conf_command Options KTLS, where the kernel and
             * OpenSSL have it): the file goes out with sendfile, encrypted in
             * the kernel, never through our record buffer. */
            bw_buf_t *b = in->buf;
            size_t size = (size_t) bw_min(b->file_last - b->file_pos, limit - total);
            ERR_clear_error();
            errno = 0;
            ossl_ssize_t sent = SSL_sendfile(tc->ssl, b->file->fd, b->file_pos, size, 0);
            if (sent <= 0) {
                if (bw_tls_write_failed(c, (int) sent, errno) == BW_ERROR) {
                    return BW_CHAIN_ERROR;
                }
                return in;
            }
            c->sent += sent;
            total += sent;
            in = bw_chain_update_sent(in, sent);
            continue;
        }
        if (len == 0) {
            rec = bw_tls_scratch_get(tc->buffer_size);
            if (rec == NULL) {
                return BW_CHAIN_ERROR;
            }
            ssize_t n = bw_tls_gather(c, in, rec,
                                      (size_t) bw_min((off_t) tc->buffer_size, limit - total));
            if (n < 0) {
                return BW_CHAIN_ERROR;
            }
            if (n == 0) {
                return bw_chain_update_sent(in, 0);
            }
            len = (size_t) n;
        }
        ERR_clear_error();
        errno = 0;
        int n = SSL_write(tc->ssl, rec, (int) len);
        if (n <= 0) {
            if (bw_tls_write_failed(c, n, errno) == BW_ERROR) {
                return BW_CHAIN_ERROR;
            }
            if (rec != tc->buf) {
                /* the retry must offer the same bytes (from another address:
                 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) */
                tc->buf = bw_palloc(c->pool, tc->buffer_size);
                if (tc->buf == NULL) {
                    return BW_CHAIN_ERROR;
                }
                memcpy(tc->buf, rec, len);
            }
            tc->pending = len;
            return in;
        }
        tc->pending = 0;
        bw_tls_buffer_release(c);
        c->sent += n;
        total += n;
        in = bw_chain_update_sent(in, n);
    }
}

void
bw_tls_shutdown(bw_connection_t *c)
{
    bw_tls_conn_t *tc = c->ssl;

    if (tc == NULL || tc->ssl == NULL) {
        return;
    }
    if (!tc->handshaked || tc->no_send_shutdown || c->error || c->timedout || c->read->error
        || c->write->error) {
        SSL_set_quiet_shutdown(tc->ssl, 1);
    } else {
        /* one try, no waiting for the peer's close_notify */
        ERR_clear_error();
        SSL_shutdown(tc->ssl);
    }
    ERR_clear_error();
    tc->no_send_shutdown = 1;
}
