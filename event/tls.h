/*
 * tls.h -- TLS with OpenSSL 3 for connections: server contexts (protocols,
 * certificates, ciphers, client verification, session cache and tickets),
 * the non-blocking handshake run as event handlers, and the recv / send /
 * send_chain functions a connection swaps in once it speaks TLS.
 *
 * Nothing here knows HTTP: the http ssl module (modules/ssl.c) builds the
 * contexts from its directives, picks the context by SNI in a servername
 * callback of its own, and decides what happens after the handshake.
 *
 * A TLS connection's life:
 *
 *     bw_tls_conn_create(ctx, c, buffer_size);   c->ssl is set
 *     c->ssl->handler = on_done;                 called when the handshake ends
 *     rc = bw_tls_handshake(c);                  BW_OK: done now (handler not called)
 *                                                BW_AGAIN: on_done(c) runs later
 *                                                BW_ERROR: failed (logged)
 *     on_done(c): c->ssl->handshaked tells whether it succeeded; then c->recv,
 *                 c->send and c->send_chain are TLS's
 *     ... bw_tls_shutdown(c) before the socket is closed (close_notify).
 *
 * The SSL object is freed by a cleanup on c->pool, so a connection closed
 * in any state releases it. The handshake is bounded by whatever timer the
 * owner set on c->read: on expiry the handler ends it as a failure.
 *
 * Configuration-time functions report with bw_conf_log() at emerg (the
 * OpenSSL error queue appended as " (SSL: ...)") and return BW_ERROR.
 *
 * The shared session cache and the ticket keys are in tls_session.c.
 */
#ifndef BW_TLS_H
#define BW_TLS_H

#include "conf.h"
#include "conn.h"
#include "resolver.h"

#include <openssl/ssl.h>
#include <time.h>

/* Protocol bits (ssl_protocols). */
#define BW_TLS_SSLv2   0x0002
#define BW_TLS_SSLv3   0x0004
#define BW_TLS_TLSv1   0x0008
#define BW_TLS_TLSv1_1 0x0010
#define BW_TLS_TLSv1_2 0x0020
#define BW_TLS_TLSv1_3 0x0040

/* Default send buffer (ssl_buffer_size): one full TLS record. */
#define BW_TLS_BUFFER_SIZE 16384

/* ssl_session_cache builtin sizes (bw_tls_ctx_session_cache). */
#define BW_TLS_CACHE_OFF          -1 /* "off": tell clients sessions are not reused */
#define BW_TLS_CACHE_NONE         -2 /* "none": claim reuse, store nothing (default) */
#define BW_TLS_CACHE_NO_BUILTIN   -3 /* only a shared cache */
#define BW_TLS_CACHE_DFLT_BUILTIN -4 /* "builtin": OpenSSL's default size (20480) */

/* ssl_verify_client values. */
#define BW_TLS_VERIFY_OFF            0
#define BW_TLS_VERIFY_ON             1
#define BW_TLS_VERIFY_OPTIONAL       2
#define BW_TLS_VERIFY_OPTIONAL_NO_CA 3

typedef struct bw_tls_conn_s bw_tls_conn_t;
typedef void (*bw_tls_handler_fn)(bw_connection_t *c);

/* A connection's TLS state (c->ssl), in c->pool. */
struct bw_tls_conn_s {
    SSL                *ssl;
    SSL_CTX            *session_ctx;  /* the context it was created with: session caching
                                         and tickets stay its own after an SNI switch */
    bw_tls_handler_fn   handler;      /* the handshake ended (after BW_AGAIN) */
    void               *data;         /* the owner's (the server SNI selected) */
    u_char             *buf;          /* send_chain's record buffer, while sending */
    size_t              buffer_size;
    size_t              pending;      /* bytes of buf an SSL_write must be retried with */
    bw_event_handler_fn saved_read;   /* a write waits for the socket to be readable */
    bw_event_handler_fn saved_write;  /* a read waits for the socket to be writable */

    unsigned handshaked:1;
    unsigned no_send_shutdown:1;      /* no close_notify (error, timeout, rejected) */
};

#define bw_tls_conn(c) ((bw_tls_conn_t *) (c)->ssl)

/* ---- contexts (configuration time) ---- */

/*
 * A server context with bulwark's defaults: no compression, no
 * renegotiation, single-use ECDH keys, released buffers on idle
 * connections, an unexpected EOF read as a clean close. Freed with `pool`
 * (the cycle's). NULL after reporting.
 */
SSL_CTX *bw_tls_ctx_create(bw_conf_t *cf);

/* Enables exactly the protocols in `mask` (BW_TLS_*). BW_OK or BW_ERROR. */
bw_rc_t bw_tls_ctx_protocols(bw_conf_t *cf, SSL_CTX *ctx, bw_uint_t mask);

/*
 * Loads one certificate (PEM, followed by its chain) and its key (PEM; an
 * encrypted key is tried with each of `passwords`, bw_str_t, may be NULL).
 * Several calls add certificates of different key types (RSA, ECDSA), each
 * with its own chain. Paths are absolute, NUL-terminated. BW_OK or BW_ERROR.
 */
bw_rc_t bw_tls_ctx_certificate(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *cert,
                               const bw_str_t *key, const bw_array_t *passwords);

/* Cipher list (TLS 1.2 and below) and ssl_prefer_server_ciphers. */
bw_rc_t bw_tls_ctx_ciphers(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *ciphers, bool prefer);
/* ssl_ecdh_curve: "auto" keeps OpenSSL's list, else "X25519:prime256v1...". */
bw_rc_t bw_tls_ctx_ecdh_curve(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *curves);
/* ssl_dhparam: DH parameters (PEM) for DHE ciphers. */
bw_rc_t bw_tls_ctx_dhparam(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *file);

/*
 * Client certificates: requests one (SSL_VERIFY_PEER; the handshake never
 * fails for it: the owner checks the result per request) with `depth`.
 * `ca` (may be empty) is trusted and its names are sent to clients;
 * `trusted` (may be empty) is trusted silently; `crl` (may be empty) enables
 * revocation checks of the whole chain.
 */
bw_rc_t bw_tls_ctx_verify(bw_conf_t *cf, SSL_CTX *ctx, bw_int_t depth, const bw_str_t *ca,
                          const bw_str_t *trusted, const bw_str_t *crl);

/* ssl_conf_command / proxy_ssl_conf_command pairs (bw_keyval_t) for a server or a
 * client context, applied last. */
bw_rc_t bw_tls_ctx_conf_commands(bw_conf_t *cf, SSL_CTX *ctx, const bw_array_t *commands,
                                 bool server);
/* Reports a configuration error (emerg) with the OpenSSL error queue appended. */
void bw_tls_conf_error(bw_conf_t *cf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ssl_stapling_file: a DER OCSP response stapled when a client asks for one. */
bw_rc_t bw_tls_ctx_stapling_file(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *file);
/*
 * ssl_stapling without a file (tls_ocsp.c): every certificate of ctx gets
 * its responses fetched from its OCSP responder (or `responder`, an
 * http:// URL) in the workers. A certificate without an issuer or a
 * responder is skipped with a warning. verify: ssl_stapling_verify, with
 * the CAs of trusted_file. A responder's host name is resolved at load
 * time and, when *resolver is set by run time (the server's `resolver`),
 * again before each fetch. BW_OK or BW_ERROR.
 */
bw_rc_t bw_tls_ctx_stapling_fetch(bw_conf_t *cf, SSL_CTX *ctx, const bw_str_t *responder,
                                  bool verify, const bw_str_t *trusted_file,
                                  bw_resolver_t **resolver, bw_msec_t *resolver_timeout);
/* The status callback's part for fetched responses: staples o's response, starts a fetch. */
int bw_tls_ocsp_staple(SSL *ssl);

/*
 * ssl_password_file: one passphrase per line (CR/LF stripped), into a
 * bw_array_t of bw_str_t in cf->pool. NULL after reporting.
 */
bw_array_t *bw_tls_read_passwords(bw_conf_t *cf, const bw_str_t *file);

/* ---- sessions (tls_session.c) ---- */

/*
 * Session caching for ctx: `builtin` is BW_TLS_CACHE_* or a size in
 * sessions; `zone` (NULL: none) is a shared cache made by
 * bw_tls_session_zone_add; `timeout` in seconds. Sets the session id
 * context from the context's certificates so sessions are not resumed
 * across unrelated servers. BW_OK or BW_ERROR.
 */
bw_rc_t bw_tls_ctx_session_cache(bw_conf_t *cf, SSL_CTX *ctx, bw_int_t builtin,
                                 bw_shm_zone_t *zone, time_t timeout);

/*
 * Session tickets: off, or on with the keys of `files` (bw_str_t, absolute;
 * 48-byte files use AES-128, 80-byte AES-256; the first encrypts, all
 * decrypt, a ticket under a later key is renewed). Without files one random
 * key is made now: configuration is parsed by the master before it forks,
 * so every worker shares it. BW_OK or BW_ERROR.
 */
bw_rc_t bw_tls_ctx_session_tickets(bw_conf_t *cf, SSL_CTX *ctx, bool on, const bw_array_t *files);

/*
 * Declares the shared session cache zone `name` of `size` bytes (checked
 * against the minimum: "session cache ... is too small" is the caller's
 * message). NULL after reporting.
 */
bw_shm_zone_t *bw_tls_session_zone_add(bw_conf_t *cf, const bw_str_t *name, size_t size,
                                       void *tag);

/* ---- connections (run time) ---- */

/*
 * Gives c a TLS state in accept mode with ctx (c->ssl). `buffer_size` is
 * the record size send_chain gathers (0: BW_TLS_BUFFER_SIZE). BW_OK, or
 * BW_ERROR after logging.
 */
bw_rc_t bw_tls_conn_create(SSL_CTX *ctx, bw_connection_t *c, size_t buffer_size);

/*
 * Runs the handshake as far as the socket allows. BW_OK: done (c->recv and
 * friends are TLS's); BW_AGAIN: the read and write handlers of c are the
 * handshake's until it ends, then c->ssl->handler(c) runs; BW_ERROR: failed
 * (logged at info when the peer is to blame).
 */
bw_rc_t bw_tls_handshake(bw_connection_t *c);
/* The handshake step both sides share: `handler` runs the next steps on
 * socket events; faults the peer causes are logged at `peer_level`. */
bw_rc_t bw_tls_handshake_step(bw_connection_t *c, void (*handler)(bw_event_t *ev),
                              unsigned peer_level);
/* Logs a failed OpenSSL call: crit for local faults, peer_level for the peer's. */
void bw_tls_conn_error_level(bw_connection_t *c, int sslerr, int err, const char *call,
                             unsigned peer_level);

/* TLS versions of c->recv / c->send / c->send_chain (see io.h's contract).
 * send_chain gathers memory and file buffers (files are read: no sendfile
 * over TLS) into records of buffer_size bytes. */
ssize_t bw_tls_recv(bw_connection_t *c, u_char *buf, size_t size);
ssize_t bw_tls_send(bw_connection_t *c, const u_char *buf, size_t size);
bw_chain_t *bw_tls_send_chain(bw_connection_t *c, bw_chain_t *in, off_t limit);

/*
 * Sends close_notify once, without waiting for the peer's, unless the
 * connection failed or timed out. Call before the socket is closed.
 */
void bw_tls_shutdown(bw_connection_t *c);

/* The connection an SSL object belongs to (callbacks), or NULL. */
bw_connection_t *bw_tls_ssl_connection(const SSL *ssl);

/*
 * Drains the OpenSSL error queue into " (SSL: error:... error:...)" in buf
 * (NUL-terminated; empty when the queue is empty). Returns buf.
 */
const char *bw_tls_error_text(char *buf, size_t size);
#define BW_TLS_ERROR_LEN 1024

/* ---- the client side (tls_client.c): connections bulwark opens to TLS peers ---- */

/*
 * A client context: the SSL_CTX of connections to peers and, with session
 * reuse, the last session each peer gave (per worker: sessions are filed
 * after the fork). Lives in the cycle pool, freed with it.
 *
 * A client connection's life (the peer's TCP connect has succeeded):
 *
 *     bw_tls_client_conn_create(cl, c, &name, sni);   c->ssl is set
 *     c->ssl->handler = on_done;
 *     rc = bw_tls_client_handshake(c);     BW_OK / BW_AGAIN (on_done later) / BW_ERROR
 *     on_done(c): c->timedout (a timer the owner set on c->read or c->write
 *                 expired), else c->ssl->handshaked says whether it worked
 *     bw_tls_client_verify_result(c), bw_tls_client_check_name(c, &name)
 *     ... c->recv / c->send / c->send_chain are TLS's; bw_tls_shutdown(c)
 *     before the socket is closed.
 */
typedef struct bw_tls_client_session_s bw_tls_client_session_t;

typedef struct {
    SSL_CTX                 *ctx;
    bw_tls_client_session_t *sessions;  /* nsessions slots; NULL without reuse */
    bw_uint_t                nsessions;
    bw_uint_t                next;      /* the slot a new peer takes when all are used */
} bw_tls_client_t;

/* Sessions remembered per client context: one per peer address and name. */
#define BW_TLS_CLIENT_SESSIONS 32

/*
 * A client context with bulwark's defaults (no compression, no
 * renegotiation, an unexpected EOF read as a close). With session_reuse the
 * session a peer gives is kept (the last one per peer address and name) and
 * offered on the next connection to it. Certificates, protocols, ciphers
 * and verification are set with the bw_tls_ctx_* functions above on cl->ctx
 * (bw_tls_ctx_verify with an empty `ca`). NULL after reporting.
 */
bw_tls_client_t *bw_tls_client_create(bw_conf_t *cf, bool session_reuse);

/*
 * Gives the connected c a TLS state in connect mode (c->ssl; c->pool is
 * created when c has none, and is destroyed by bw_connection_close). `name`
 * is the peer's host name: sent as SNI when `sni` and it is not an IP
 * literal (RFC 6066, section 3), and with the peer's address the key of its
 * remembered session, which is offered. BW_OK, or BW_ERROR after logging.
 */
bw_rc_t bw_tls_client_conn_create(bw_tls_client_t *cl, bw_connection_t *c, const bw_str_t *name,
                                  bool sni);

/*
 * Runs the connect-side handshake as far as the socket allows. BW_OK: done
 * (c->recv and friends are TLS's); BW_AGAIN: c's read and write handlers
 * are the handshake's until it ends, then c->ssl->handler(c) runs (with
 * c->timedout set when the owner's timer expired; nothing is logged for
 * that); BW_ERROR: failed, logged at error level ("SSL_do_handshake()
 * failed", "peer closed connection in SSL handshake").
 */
bw_rc_t bw_tls_client_handshake(bw_connection_t *c);

/* The verification result of the peer's chain (X509_V_OK or an X509_V_ERR_*);
 * meaningful when the context verifies (bw_tls_ctx_verify). */
long bw_tls_client_verify_result(bw_connection_t *c);

/*
 * Whether the peer's certificate is for `name` (a DNS name, or an IP
 * literal matched against its IP addresses). BW_OK or BW_DECLINED.
 */
bw_rc_t bw_tls_client_check_name(bw_connection_t *c, const bw_str_t *name);

#endif
