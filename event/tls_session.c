/*
 * tls_session.c -- TLS session resumption for server contexts: OpenSSL's
 * per-process cache, the shared cache in a shared memory zone (so a session
 * one worker made resumes on another), the session id context, and session
 * ticket keys (from files, or made once in the master so that every worker
 * encrypts and decrypts with the same ones).
 *
 * The shared cache: a red-black tree of sessions keyed by a hash of the
 * session id (ties ordered by the id bytes) plus a queue from newest to
 * oldest; a session is stored as its DER encoding. Expired sessions go when
 * met, and a couple of the oldest on every insert; when the zone is full
 * the oldest is dropped to make room. The slab pool's lock guards it all.
 */
#include "tls.h"

#include "clock.h"
#include "log.h"
#include "pool.h"
#include "queue.h"
#include "rbtree.h"
#include "shm.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* A session's DER encoding larger than this is not cached (a client chain). */
#define BW_TLS_SESSION_DER_MAX 4096

typedef struct {
    bw_rbtree_node_t node;    /* key: hash of the id */
    bw_queue_t       queue;   /* newest first */
    time_t           expire;  /* wall clock seconds */
    uint16_t         len;     /* of der */
    u_char           id_len;
    u_char           id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    u_char           der[];
} bw_tls_cached_t;

/* The zone's root (bw_shm_zone_pool(zone)->data). */
typedef struct {
    bw_rbtree_t      tree;
    bw_rbtree_node_t sentinel;
    bw_queue_t       queue;
} bw_tls_cache_t;

/* One ticket key: AES-128 (size 16) or AES-256 (size 32) with HMAC-SHA256. */
typedef struct {
    u_char name[16];
    u_char hmac[32];
    u_char aes[32];
    size_t size;
} bw_tls_ticket_key_t;

typedef struct {
    bw_tls_ticket_key_t *keys; /* keys[0] encrypts */
    size_t               n;
} bw_tls_ticket_keys_t;

/* SSL_CTX ex_data: the shared cache zone, the ticket keys. */
static int bw_tls_zone_index = -1;
static int bw_tls_keys_index = -1;

static bw_rc_t
bw_tls_session_indexes_init(bw_conf_t *cf)
{
    if (bw_tls_zone_index != -1) {
        return BW_OK;
    }
    bw_tls_zone_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    bw_tls_keys_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (bw_tls_zone_index == -1 || bw_tls_keys_index == -1) {
        bw_tls_zone_index = -1;
        bw_conf_log(cf, BW_LOG_EMERG, 0, "SSL_CTX_get_ex_new_index() failed");
        return BW_ERROR;
    }
    return BW_OK;
}

/* ------------------------------------------------------ the shared tree */

/* Orders two sessions: by hash, then length, then id bytes. */
static int
bw_tls_cached_cmp(bw_rbtree_key_t key, const u_char *id, size_t len, const bw_tls_cached_t *s)
{
    if (key != s->node.key) {
        return key < s->node.key ? -1 : 1;
    }
    if (len != s->id_len) {
        return len < s->id_len ? -1 : 1;
    }
    return memcmp(id, s->id, len);
}

static void
bw_tls_cache_insert_value(bw_rbtree_node_t *temp, bw_rbtree_node_t *node,
                          bw_rbtree_node_t *sentinel)
{
    const bw_tls_cached_t *s = (const bw_tls_cached_t *) node;
    bw_rbtree_node_t **p;

    for (;;) {
        int cmp = bw_tls_cached_cmp(node->key, s->id, s->id_len, (bw_tls_cached_t *) temp);
        p = cmp < 0 ? &temp->left : &temp->right;
        if (*p == sentinel) {
            break;
        }
        temp = *p;
    }
    bw_rbtree_link(temp, p, node, sentinel);
}

static bw_tls_cached_t *
bw_tls_cache_find_locked(bw_tls_cache_t *cache, const u_char *id, size_t len)
{
    bw_rbtree_key_t key = bw_hash_fnv1a(id, len);
    bw_rbtree_node_t *node = cache->tree.root, *sentinel = cache->tree.sentinel;

    while (node != sentinel) {
        int cmp = bw_tls_cached_cmp(key, id, len, (bw_tls_cached_t *) node);
        if (cmp == 0) {
            return (bw_tls_cached_t *) node;
        }
        node = cmp < 0 ? node->left : node->right;
    }
    return NULL;
}

static void
bw_tls_cache_delete_locked(bw_slab_pool_t *pool, bw_tls_cache_t *cache, bw_tls_cached_t *s)
{
    bw_queue_remove(&s->queue);
    bw_rbtree_delete(&cache->tree, &s->node);
    bw_slab_free_locked(pool, s);
}

/* Drops up to n sessions from the old end: expired ones, or any when force. */
static void
bw_tls_cache_expire_locked(bw_slab_pool_t *pool, bw_tls_cache_t *cache, int n, bool force)
{
    while (n-- > 0 && !bw_queue_empty(&cache->queue)) {
        bw_tls_cached_t *s = bw_queue_data(bw_queue_last(&cache->queue), bw_tls_cached_t, queue);
        if (!force && s->expire > bw_time.sec) {
            return;
        }
        bw_tls_cache_delete_locked(pool, cache, s);
    }
}

static bw_rc_t
bw_tls_session_zone_init(bw_shm_zone_t *zone, void *old_data)
{
    bw_slab_pool_t *pool = bw_shm_zone_pool(zone);

    if (old_data) {
        zone->data = old_data; /* a reload keeps the sessions */
        return BW_OK;
    }
    bw_tls_cache_t *cache = bw_slab_alloc(pool, sizeof(*cache));
    if (cache == NULL) {
        return BW_ERROR;
    }
    bw_rbtree_init(&cache->tree, &cache->sentinel, bw_tls_cache_insert_value);
    bw_queue_init(&cache->queue);
    pool->data = cache;
    pool->log_nomem = false; /* a full cache evicts its oldest session: not news */
    zone->data = cache;
    return BW_OK;
}

bw_shm_zone_t *
bw_tls_session_zone_add(bw_conf_t *cf, const bw_str_t *name, size_t size, void *tag)
{
    bw_shm_zone_t *zone = bw_shm_zone_add(cf, name, size, tag);

    if (zone) {
        zone->init = bw_tls_session_zone_init;
    }
    return zone;
}

/* ------------------------------------------------- OpenSSL's callbacks */

/* The shared cache zone of the context the connection started with. */
static bw_shm_zone_t *
bw_tls_session_zone(SSL *ssl)
{
    bw_connection_t *c = bw_tls_ssl_connection(ssl);
    SSL_CTX *ctx = c && c->ssl ? bw_tls_conn(c)->session_ctx : SSL_get_SSL_CTX(ssl);
    return SSL_CTX_get_ex_data(ctx, bw_tls_zone_index);
}

static int
bw_tls_session_new(SSL *ssl, SSL_SESSION *sess)
{
    bw_shm_zone_t *zone = bw_tls_session_zone(ssl);
    u_char der[BW_TLS_SESSION_DER_MAX], *p = der;
    unsigned int id_len;

    int len = i2d_SSL_SESSION(sess, NULL);
    if (zone == NULL || zone->data == NULL || len <= 0 || len > BW_TLS_SESSION_DER_MAX) {
        return 0;
    }
    i2d_SSL_SESSION(sess, &p);
    const u_char *id = SSL_SESSION_get_id(sess, &id_len);
    if (id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return 0;
    }
    bw_slab_pool_t *pool = bw_shm_zone_pool(zone);
    bw_tls_cache_t *cache = zone->data;
    bw_shmtx_lock(&pool->mutex);
    bw_tls_cache_expire_locked(pool, cache, 2, false);
    bw_tls_cached_t *s = bw_tls_cache_find_locked(cache, id, id_len);
    if (s) {
        bw_tls_cache_delete_locked(pool, cache, s); /* replaced by the newer state */
    }
    s = bw_slab_alloc_locked(pool, sizeof(*s) + (size_t) len);
    if (s == NULL) {
        bw_tls_cache_expire_locked(pool, cache, 1, true);
        s = bw_slab_alloc_locked(pool, sizeof(*s) + (size_t) len);
    }
    bw_connection_t *c = bw_tls_ssl_connection(ssl);
    if (s == NULL && !pool->nomem_logged && c) {
        pool->nomem_logged = true;
        bw_log_error(BW_LOG_CRIT, c->log, 0, "could not allocate new session in SSL "
                     "session shared cache \"%s\"", pool->name);
    }
    if (s) {
        s->node.key = bw_hash_fnv1a(id, id_len);
        s->id_len = (u_char) id_len;
        memcpy(s->id, id, id_len);
        s->len = (uint16_t) len;
        memcpy(s->der, der, (size_t) len);
        s->expire = (time_t) (SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess));
        bw_rbtree_insert(&cache->tree, &s->node);
        bw_queue_insert_head(&cache->queue, &s->queue);
    }
    bw_shmtx_unlock(&pool->mutex);
    return 0; /* the session stays OpenSSL's */
}

static SSL_SESSION *
bw_tls_session_get(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    bw_shm_zone_t *zone = bw_tls_session_zone(ssl);
    u_char der[BW_TLS_SESSION_DER_MAX];
    size_t der_len = 0;

    *copy = 0;
    if (zone == NULL || zone->data == NULL || len <= 0) {
        return NULL;
    }
    bw_slab_pool_t *pool = bw_shm_zone_pool(zone);
    bw_tls_cache_t *cache = zone->data;
    bw_shmtx_lock(&pool->mutex);
    bw_tls_cached_t *s = bw_tls_cache_find_locked(cache, id, (size_t) len);
    if (s && s->expire <= bw_time.sec) {
        bw_tls_cache_delete_locked(pool, cache, s);
        s = NULL;
    }
    if (s) {
        der_len = s->len;
        memcpy(der, s->der, der_len);
    }
    bw_shmtx_unlock(&pool->mutex);
    if (der_len == 0) {
        return NULL;
    }
    const u_char *p = der;
    SSL_SESSION *sess = d2i_SSL_SESSION(NULL, &p, (long) der_len);
    if (sess == NULL) {
        ERR_clear_error();
    }
    return sess;
}

static void
bw_tls_session_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    bw_shm_zone_t *zone = SSL_CTX_get_ex_data(ctx, bw_tls_zone_index);
    unsigned int id_len;

    if (zone == NULL || zone->data == NULL) {
        return;
    }
    const u_char *id = SSL_SESSION_get_id(sess, &id_len);
    bw_slab_pool_t *pool = bw_shm_zone_pool(zone);
    bw_shmtx_lock(&pool->mutex);
    bw_tls_cached_t *s = bw_tls_cache_find_locked(zone->data, id, id_len);
    if (s) {
        bw_tls_cache_delete_locked(pool, zone->data, s);
    }
    bw_shmtx_unlock(&pool->mutex);
}

/* ------------------------------------------------------ configuration */

/*
 * The session id context: a digest of the context's certificates and the
 * CA names it sends, so a session only resumes where the same identity and
 * client verification apply.
 */
static bw_rc_t
bw_tls_session_id_context(bw_conf_t *cf, SSL_CTX *ctx)
{
    u_char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *mdctx = EVP_MD_CTX_new();
    bool ok = mdctx && EVP_DigestInit_ex(mdctx, EVP_sha256(), NULL) == 1;

    for (int more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); ok && more == 1;
         more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT)) {
        X509 *x = SSL_CTX_get0_certificate(ctx);
        u_char *der = NULL;
        int len = x ? i2d_X509(x, &der) : 0;
        if (len > 0) {
            ok = EVP_DigestUpdate(mdctx, der, (size_t) len) == 1;
        }
        OPENSSL_free(der);
    }
    STACK_OF(X509_NAME) *names = SSL_CTX_get_client_CA_list(ctx);
    for (int i = 0; ok && names && i < sk_X509_NAME_num(names); i++) {
        u_char *der = NULL;
        int len = i2d_X509_NAME(sk_X509_NAME_value(names, i), &der);
        if (len > 0) {
            ok = EVP_DigestUpdate(mdctx, der, (size_t) len) == 1;
        }
        OPENSSL_free(der);
    }
    ok = ok && EVP_DigestFinal_ex(mdctx, md, &md_len) == 1;
    EVP_MD_CTX_free(mdctx);
    ERR_clear_error(); /* SSL_CERT_SET_NEXT past the end leaves nothing worth reporting */
    if (!ok || SSL_CTX_set_session_id_context(ctx, md, bw_min(md_len, 32u)) != 1) {
        bw_conf_log(cf, BW_LOG_EMERG, 0, "SSL_CTX_set_session_id_context() failed");
        return BW_ERROR;
    }
    return BW_OK;
}

bw_rc_t
bw_tls_ctx_session_cache(bw_conf_t *cf, SSL_CTX *ctx, bw_int_t builtin, bw_shm_zone_t *zone,
                         time_t timeout)
{
    if (bw_tls_session_indexes_init(cf) != BW_OK || bw_tls_session_id_context(cf, ctx) != BW_OK) {
        return BW_ERROR;
    }
    SSL_CTX_set_timeout(ctx, (long) timeout); /* ticket lifetimes too */
    if (builtin == BW_TLS_CACHE_OFF) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        return BW_OK;
    }
    if (builtin == BW_TLS_CACHE_NONE) {
        /* session ids are handed out but nothing is kept */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_cache_size(ctx, 1);
        return BW_OK;
    }
    long mode = SSL_SESS_CACHE_SERVER;
    if (zone && builtin == BW_TLS_CACHE_NO_BUILTIN) {
        mode |= SSL_SESS_CACHE_NO_INTERNAL;
    }
    SSL_CTX_set_session_cache_mode(ctx, mode);
    if (builtin >= 0) {
        SSL_CTX_sess_set_cache_size(ctx, builtin);
    }
    if (zone) {
        SSL_CTX_sess_set_new_cb(ctx, bw_tls_session_new);
        SSL_CTX_sess_set_get_cb(ctx, bw_tls_session_get);
        SSL_CTX_sess_set_remove_cb(ctx, bw_tls_session_remove);
        SSL_CTX_set_ex_data(ctx, bw_tls_zone_index, zone);
    }
    return BW_OK;
}

/* ---------------------------------------------------------- tickets */

/* Reads one key file: 48 bytes (AES-128) or 80 bytes (AES-256). */
static bw_rc_t
bw_tls_ticket_key_read(bw_conf_t *cf, const bw_str_t *file, bw_tls_ticket_key_t *key)
{
    u_char buf[81];
    size_t len = 0;
    int fd = open((const char *) file->data, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        bw_conf_log(cf, BW_LOG_EMERG, errno, "open() \"%s\" failed", (const char *) file->data);
        return BW_ERROR;
    }
    while (len < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t) n;
    }
    close(fd);
    if (len != 48 && len != 80) {
        bw_conf_log(cf, BW_LOG_EMERG, 0, "\"%s\" must be 48 or 80 bytes",
                    (const char *) file->data);
        return BW_ERROR;
    }
    key->size = len == 48 ? 16 : 32;
    memcpy(key->name, buf, 16);
    memcpy(key->hmac, buf + 16, key->size);
    memcpy(key->aes, buf + 16 + key->size, key->size);
    OPENSSL_cleanse(buf, sizeof(buf));
    return BW_OK;
}

static int
bw_tls_ticket_mac_init(EVP_MAC_CTX *hctx, bw_tls_ticket_key_t *key)
{
    static char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key->hmac, key->size),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params);
}

/*
 * OpenSSL's ticket key callback: enc 1 encrypts with the first key; enc 0
 * finds the key by name: 0 when unknown (full handshake, new ticket), 1 for
 * the first key, 2 for an older one (the ticket is renewed).
 */
static int
bw_tls_ticket_callback(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
                       EVP_MAC_CTX *hctx, int enc)
{
    bw_connection_t *c = bw_tls_ssl_connection(ssl);
    SSL_CTX *ctx = c && c->ssl ? bw_tls_conn(c)->session_ctx : SSL_get_SSL_CTX(ssl);
    bw_tls_ticket_keys_t *keys = SSL_CTX_get_ex_data(ctx, bw_tls_keys_index);

    if (keys == NULL || keys->n == 0) {
        return enc ? -1 : 0;
    }
    if (enc == 1) {
        bw_tls_ticket_key_t *key = &keys->keys[0];
        const EVP_CIPHER *cipher = key->size == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) != 1
            || EVP_EncryptInit_ex(ectx, cipher, NULL, key->aes, iv) != 1
            || bw_tls_ticket_mac_init(hctx, key) != 1) {
            return -1;
        }
        memcpy(name, key->name, 16);
        return 1;
    }
    for (size_t i = 0; i < keys->n; i++) {
        bw_tls_ticket_key_t *key = &keys->keys[i];
        if (memcmp(name, key->name, 16) != 0) {
            continue;
        }
        const EVP_CIPHER *cipher = key->size == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
        if (bw_tls_ticket_mac_init(hctx, key) != 1
            || EVP_DecryptInit_ex(ectx, cipher, NULL, key->aes, iv) != 1) {
            return -1;
        }
        return i == 0 ? 1 : 2;
    }
    return 0;
}

bw_rc_t
bw_tls_ctx_session_tickets(bw_conf_t *cf, SSL_CTX *ctx, bool on, const bw_array_t *files)
{
    if (!on) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        return BW_OK;
    }
    if (bw_tls_session_indexes_init(cf) != BW_OK) {
        return BW_ERROR;
    }
    size_t n = files && files->nelts ? files->nelts : 1;
    bw_tls_ticket_keys_t *keys = bw_pcalloc(cf->pool, sizeof(*keys));
    if (keys == NULL || (keys->keys = bw_pcalloc(cf->pool, n * sizeof(*keys->keys))) == NULL) {
        return BW_ERROR;
    }
    keys->n = n;
    if (files && files->nelts) {
        const bw_str_t *name = files->elts;
        for (size_t i = 0; i < n; i++) {
            if (bw_tls_ticket_key_read(cf, &name[i], &keys->keys[i]) != BW_OK) {
                return BW_ERROR;
            }
        }
    } else {
        /* made here, in the master, before the workers are forked */
        bw_tls_ticket_key_t *key = &keys->keys[0];
        key->size = 32;
        if (RAND_bytes(key->name, 16) != 1 || RAND_bytes(key->hmac, 32) != 1
            || RAND_bytes(key->aes, 32) != 1) {
            bw_conf_log(cf, BW_LOG_EMERG, 0, "RAND_bytes() failed");
            return BW_ERROR;
        }
    }
    if (SSL_CTX_set_ex_data(ctx, bw_tls_keys_index, keys) != 1
        || SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, bw_tls_ticket_callback) != 1) {
        bw_conf_log(cf, BW_LOG_EMERG, 0, "SSL_CTX_set_tlsext_ticket_key_evp_cb() failed");
        return BW_ERROR;
    }
    return BW_OK;
}
