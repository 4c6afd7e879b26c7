/*
 * tls_client.c -- the client side of TLS: contexts for the connections
 * bulwark opens to TLS peers (the proxy's backends), the connect-side
 * handshake run as event handlers, the checks of the peer's certificate
 * after it, and the reuse of the last session each peer gave.
 *
 * Reads, writes and close_notify are the server side's (tls.c); which
 * certificates, protocols and names a context uses is the proxy_ssl
 * module's business (modules/proxy_ssl.c).
 */
#include "tls.h"

#include "cycle.h"
#include "log.h"
#include "pool.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* First block of the pool a peer connection gets for its TLS state. */
#define BW_TLS_CLIENT_POOL_SIZE 1024

/* One remembered session: the last one a peer gave for a name. */
struct bw_tls_client_session_s {
    struct sockaddr_storage addr;
    socklen_t               addrlen;   /* 0: a free slot */
    uint64_t                name_hash;
    SSL_SESSION            *session;
};

/* Where the new-session callback files a session (SSL ex_data, c->pool). */
typedef struct {
    bw_tls_client_t        *client;
    struct sockaddr_storage addr;
    socklen_t               addrlen;
    uint64_t                name_hash;
} bw_tls_client_peer_t;

/* SSL ex_data index of the bw_tls_client_peer_t. */
static int bw_tls_client_index = -1;

static void bw_tls_client_handshake_handler(bw_event_t *ev);

/* ---------------------------------------------------------- contexts */

static void
bw_tls_client_cleanup(void *data)
{
    bw_tls_client_t *cl = data;

    for (bw_uint_t i = 0; i < cl->nsessions; i++) {
        SSL_SESSION_free(cl->sessions[i].session); /* NULL is a no-op */
    }
    SSL_CTX_free(cl->ctx);
}

static int bw_tls_client_session_new(SSL *ssl, SSL_SESSION *session);

bw_tls_client_t *
bw_tls_client_create(bw_conf_t *cf, bool session_reuse)
{
    if (bw_tls_client_index == -1) {
        bw_tls_client_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (bw_tls_client_index == -1) {
            bw_tls_conf_error(cf, "SSL_get_ex_new_index() failed");
            return NULL;
        }
    }
    bw_tls_client_t *cl = bw_pcalloc(cf->pool, sizeof(*cl));
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(cf->pool, 0);
    if (cl == NULL || cln == NULL) {
        return NULL;
    }
    if (session_reuse) {
        cl->sessions = bw_pcalloc(cf->pool, BW_TLS_CLIENT_SESSIONS * sizeof(*cl->sessions));
        if (cl->sessions == NULL) {
            return NULL;
        }
    }
    cl->ctx = SSL_CTX_new(TLS_client_method());
    if (cl->ctx == NULL) {
        bw_tls_conf_error(cf, "SSL_CTX_new() failed");
        return NULL;
    }
    cl->nsessions = session_reuse ? BW_TLS_CLIENT_SESSIONS : 0;
    cln->handler = bw_tls_client_cleanup;
    cln->data = cl;

    SSL_CTX_set_options(cl->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                                     | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* as on the server side: send and send_chain rely on partial writes */
    SSL_CTX_set_mode(cl->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN
                                  | SSL_MODE_ENABLE_PARTIAL_WRITE
                                  | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* one read per record burst: bw_tls_recv reads until OpenSSL wants the socket */
    SSL_CTX_set_read_ahead(cl->ctx, 1);
    if (session_reuse) {
        /* OpenSSL hands each new session to the callback and keeps none itself;
         * TLS 1.3 sessions arrive after the handshake, so a callback is the only
         * way to see them */
        SSL_CTX_set_session_cache_mode(cl->ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(cl->ctx, bw_tls_client_session_new);
    } else {
        SSL_CTX_set_session_cache_mode(cl->ctx, SSL_SESS_CACHE_OFF);
    }
    return cl;
}


/* ---------------------------------------------------------- sessions */

/* FNV-1a of the lowercased name: host names compare without case. */
static uint64_t
bw_tls_client_name_hash(const bw_str_t *name)
{
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < name->len; i++) {
        h = (h ^ bw_tolower(name->data[i])) * 1099511628211ULL;
    }
    return h;
}

/* The slot of peer's session; with `take`, a free or the next reused slot
 * when it has none. NULL when not found and not taking. */
static bw_tls_client_session_t *
bw_tls_client_session_slot(bw_tls_client_t *cl, const bw_tls_client_peer_t *peer, bool take)
{
    bw_tls_client_session_t *free_slot = NULL;

    for (bw_uint_t i = 0; i < cl->nsessions; i++) {
        bw_tls_client_session_t *s = &cl->sessions[i];
        if (s->addrlen == 0) {
            free_slot = free_slot ? free_slot : s;
            continue;
        }
        if (s->addrlen == peer->addrlen && s->name_hash == peer->name_hash
            && memcmp(&s->addr, &peer->addr, peer->addrlen) == 0) {
            return s;
        }
    }
    if (!take || cl->nsessions == 0) {
        return NULL;
    }
    if (free_slot == NULL) {
        /* all taken: peers replace one another in turn */
        free_slot = &cl->sessions[cl->next];
        cl->next = (cl->next + 1) % cl->nsessions;
    }
    return free_slot;
}

/*
 * OpenSSL's new-session callback: the peer gave a session (at the end of a
 * TLS 1.2 handshake, or in a TLS 1.3 NewSessionTicket). It replaces the
 * peer's previous one. Returns 1: the reference is ours now.
 */
static int
bw_tls_client_session_new(SSL *ssl, SSL_SESSION *session)
{
    bw_tls_client_peer_t *peer = SSL_get_ex_data(ssl, bw_tls_client_index);

    if (peer == NULL || peer->client->nsessions == 0 || peer->addrlen == 0) {
        return 0;
    }
    bw_tls_client_session_t *s = bw_tls_client_session_slot(peer->client, peer, true);
    SSL_SESSION_free(s->session);
    memcpy(&s->addr, &peer->addr, peer->addrlen);
    s->addrlen = peer->addrlen;
    s->name_hash = peer->name_hash;
    s->session = session;
    return 1;
}

/* ------------------------------------------------------- connections */

static void
bw_tls_client_ssl_free(void *data)
{
    SSL_free(*(SSL **) data);
}

/* True when name is an IPv4 or IPv6 literal (brackets allowed); the bare
 * address goes to buf. */
static bool
bw_tls_client_ip_literal(const bw_str_t *name, char *buf, size_t size)
{
    const u_char *p = name->data;
    size_t len = name->len;
    u_char addr[sizeof(struct in6_addr)];

    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
        p++;
        len -= 2;
    }
    if (len == 0 || len >= size) {
        return false;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* Sends name as SNI unless it is an address (RFC 6066 forbids literals). */
static bw_rc_t
bw_tls_client_sni(bw_connection_t *c, SSL *ssl, const bw_str_t *name)
{
    char ip[INET6_ADDRSTRLEN + 2], text[BW_TLS_ERROR_LEN];

    if (name->len == 0 || name->data[0] == '[' || bw_tls_client_ip_literal(name, ip, sizeof(ip))) {
        return BW_OK;
    }
    char *host = bw_pnalloc(c->pool, name->len + 1);
    if (host == NULL) {
        return BW_ERROR;
    }
    memcpy(host, name->data, name->len);
    host[name->len] = '\0';
    if (SSL_set_tlsext_host_name(ssl, host) != 1) {
        bw_log_error(BW_LOG_CRIT, c->log, 0, "SSL_set_tlsext_host_name(\"%s\") failed%s", host,
                     bw_tls_error_text(text, sizeof(text)));
        return BW_ERROR;
    }
    return BW_OK;
}

/* Files the peer's key in ex_data and offers its remembered session. */
static bw_rc_t
bw_tls_client_peer_init(bw_tls_client_t *cl, bw_connection_t *c, SSL *ssl, const bw_str_t *name)
{
    bw_tls_client_peer_t *peer = bw_pcalloc(c->pool, sizeof(*peer));

    if (peer == NULL || SSL_set_ex_data(ssl, bw_tls_client_index, peer) != 1) {
        return BW_ERROR;
    }
    peer->client = cl;
    peer->name_hash = bw_tls_client_name_hash(name);
    if (c->sockaddr != NULL && c->socklen <= sizeof(peer->addr)) {
        memcpy(&peer->addr, c->sockaddr, c->socklen);
        peer->addrlen = c->socklen;
    }
    bw_tls_client_session_t *s = peer->addrlen ? bw_tls_client_session_slot(cl, peer, false)
                                               : NULL;
    if (s != NULL && s->session != NULL && SSL_set_session(ssl, s->session) != 1) {
        ERR_clear_error(); /* a full handshake then */
    }
    return BW_OK;
}

bw_rc_t
bw_tls_client_conn_create(bw_tls_client_t *cl, bw_connection_t *c, const bw_str_t *name, bool sni)
{
    char text[BW_TLS_ERROR_LEN];

    if (c->pool == NULL) {
        c->pool = bw_pool_create(BW_TLS_CLIENT_POOL_SIZE, bw_cycle->log);
        if (c->pool == NULL) {
            return BW_ERROR;
        }
    }
    bw_tls_conn_t *tc = bw_pcalloc(c->pool, sizeof(*tc));
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(c->pool, sizeof(SSL *));
    if (tc == NULL || cln == NULL) {
        return BW_ERROR;
    }
    ERR_clear_error();
    SSL *ssl = SSL_new(cl->ctx);
    if (ssl == NULL) {
        bw_log_error(BW_LOG_CRIT, c->log, 0, "SSL_new() failed%s",
                     bw_tls_error_text(text, sizeof(text)));
        return BW_ERROR;
    }
    *(SSL **) cln->data = ssl;
    cln->handler = bw_tls_client_ssl_free;
    if (SSL_set_fd(ssl, c->fd) != 1) {
        bw_log_error(BW_LOG_CRIT, c->log, 0, "SSL_set_fd() failed%s",
                     bw_tls_error_text(text, sizeof(text)));
        return BW_ERROR;
    }
    SSL_set_connect_state(ssl);
    if (bw_tls_client_peer_init(cl, c, ssl, name) != BW_OK
        || (sni && bw_tls_client_sni(c, ssl, name) != BW_OK)) {
        return BW_ERROR;
    }
    tc->ssl = ssl;
    tc->session_ctx = cl->ctx;
    tc->buffer_size = BW_TLS_BUFFER_SIZE;
    c->ssl = tc;
    return BW_OK;
}

bw_rc_t
bw_tls_client_handshake(bw_connection_t *c)
{
    /* Backend faults are errors: the operator must see a broken upstream. */
    return bw_tls_handshake_step(c, bw_tls_client_handshake_handler, BW_LOG_ERR);
}

/* Both events' handler while the handshake waits for the socket. */
static void
bw_tls_client_handshake_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    bw_tls_conn_t *tc = c->ssl;

    if (ev->timedout || c->close) {
        c->timedout = ev->timedout;
        tc->no_send_shutdown = 1;
        tc->handler(c);
        return;
    }
    if (bw_tls_client_handshake(c) == BW_AGAIN) {
        return;
    }
    tc->handler(c);
}

/* ------------------------------------------------- the peer's certificate */

long
bw_tls_client_verify_result(bw_connection_t *c)
{
    return SSL_get_verify_result(bw_tls_conn(c)->ssl);
}

bw_rc_t
bw_tls_client_check_name(bw_connection_t *c, const bw_str_t *name)
{
    X509 *cert = SSL_get0_peer_certificate(bw_tls_conn(c)->ssl);
    char ip[INET6_ADDRSTRLEN + 2];

    if (cert == NULL || name->len == 0) {
        return BW_DECLINED;
    }
    /* an address is matched against the iPAddress names (RFC 6125, 6.2.1) */
    if (bw_tls_client_ip_literal(name, ip, sizeof(ip)) && X509_check_ip_asc(cert, ip, 0) == 1) {
        return BW_OK;
    }
    if (X509_check_host(cert, (const char *) name->data, name->len, 0, NULL) == 1) {
        return BW_OK;
    }
    return BW_DECLINED;
}
