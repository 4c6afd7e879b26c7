/*
 * server_name.c -- per-address server name tables: validation of names and
 * wildcards with nginx's rules, conflict detection, and the lookup order
 * described in server_name.h.
 */
#include "server_name.h"

#include "pool.h"

typedef struct {
    bw_str_t                 key;    /* data == NULL: empty slot */
    bw_http_core_srv_conf_t *server;
} bw_http_sn_slot_t;

typedef struct {
    bw_http_sn_slot_t *slots;
    size_t             mask;  /* capacity - 1 (a power of two) */
    size_t             used;
} bw_http_sn_table_t;

struct bw_http_server_names_s {
    bw_pool_t            *pool;
    bw_http_sn_table_t    exact;
    bw_http_sn_table_t    head;   /* "*.example.com" stored as "example.com" */
    bw_http_sn_table_t    tail;   /* "mail.*" stored as "mail" */
    bw_array_t            regex;  /* bw_http_server_name_t, config order */
};

/* An empty key is a valid exact name (""), so slots mark emptiness by data. */
static u_char bw_http_sn_empty_key[1];

static bw_rc_t
bw_http_sn_table_init(bw_pool_t *pool, bw_http_sn_table_t *t, size_t cap)
{
    t->slots = bw_pcalloc(pool, cap * sizeof(bw_http_sn_slot_t));
    t->mask = cap - 1;
    t->used = 0;
    return t->slots ? BW_OK : BW_ERROR;
}

static bw_http_sn_slot_t *
bw_http_sn_table_slot(const bw_http_sn_table_t *t, const u_char *key, size_t len)
{
    size_t i = bw_hash_fnv1a(key, len) & t->mask;

    for (;;) {
        bw_http_sn_slot_t *s = &t->slots[i];
        if (s->key.data == NULL
            || (s->key.len == len && (len == 0 || memcmp(s->key.data, key, len) == 0))) {
            return s;
        }
        i = (i + 1) & t->mask;
    }
}

static bw_http_core_srv_conf_t *
bw_http_sn_table_find(const bw_http_sn_table_t *t, const u_char *key, size_t len)
{
    if (t->used == 0) {
        return NULL;
    }
    bw_http_sn_slot_t *s = bw_http_sn_table_slot(t, key, len);
    return s->key.data ? s->server : NULL;
}

/* Doubles the table when it is half full, keeping probes short. */
static bw_rc_t
bw_http_sn_table_grow(bw_pool_t *pool, bw_http_sn_table_t *t)
{
    if ((t->used + 1) * 2 <= t->mask + 1) {
        return BW_OK;
    }
    bw_http_sn_table_t bigger;
    if (bw_http_sn_table_init(pool, &bigger, (t->mask + 1) * 2) != BW_OK) {
        return BW_ERROR;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].key.data) {
            *bw_http_sn_table_slot(&bigger, t->slots[i].key.data, t->slots[i].key.len)
                = t->slots[i];
            bigger.used++;
        }
    }
    *t = bigger;
    return BW_OK;
}

static bw_rc_t
bw_http_sn_table_put(bw_pool_t *pool, bw_http_sn_table_t *t, const bw_str_t *key,
                     bw_http_core_srv_conf_t *server)
{
    if (bw_http_sn_table_grow(pool, t) != BW_OK) {
        return BW_ERROR;
    }
    bw_http_sn_slot_t *s = bw_http_sn_table_slot(t, key->data, key->len);
    s->key = *key;
    if (s->key.data == NULL) {
        s->key.data = bw_http_sn_empty_key;
    }
    s->server = server;
    t->used++;
    return BW_OK;
}

bw_http_server_names_t *
bw_http_server_names_create(bw_pool_t *pool)
{
    bw_http_server_names_t *n = bw_pcalloc(pool, sizeof(bw_http_server_names_t));

    if (n == NULL || bw_http_sn_table_init(pool, &n->exact, 16) != BW_OK
        || bw_http_sn_table_init(pool, &n->head, 8) != BW_OK
        || bw_http_sn_table_init(pool, &n->tail, 8) != BW_OK
        || bw_array_init(&n->regex, pool, 2, sizeof(bw_http_server_name_t)) != BW_OK) {
        return NULL;
    }
    n->pool = pool;
    return n;
}

typedef enum {
    BW_HTTP_SN_EXACT,
    BW_HTTP_SN_HEAD,      /* "*.x" */
    BW_HTTP_SN_HEAD_DOT,  /* ".x": head wildcard and exact name */
    BW_HTTP_SN_TAIL,      /* "x.*" */
} bw_http_sn_kind_t;

/* Classifies a name as nginx's wildcard-aware hash does; -1 when invalid. */
static int
bw_http_sn_classify(const bw_str_t *name, bw_str_t *key)
{
    const u_char *p = name->data;
    size_t        len = name->len, stars = 0;

    for (size_t i = 0; i < len; i++) {
        if (p[i] == '*' && ++stars > 1) {
            return -1;
        }
        if (p[i] == '.' && i + 1 < len && p[i + 1] == '.') {
            return -1;
        }
        if (p[i] == '\0') {
            return -1;
        }
    }
    if (len > 1 && p[0] == '.') {
        key->data = (u_char *) p + 1;
        key->len = len - 1;
        return BW_HTTP_SN_HEAD_DOT;
    }
    if (len > 2 && p[0] == '*' && p[1] == '.') {
        key->data = (u_char *) p + 2;
        key->len = len - 2;
        return BW_HTTP_SN_HEAD;
    }
    if (len > 2 && p[len - 2] == '.' && p[len - 1] == '*') {
        key->data = (u_char *) p;
        key->len = len - 2;
        return BW_HTTP_SN_TAIL;
    }
    if (stars) {
        return -1;
    }
    *key = *name;
    return BW_HTTP_SN_EXACT;
}

bw_rc_t
bw_http_server_names_add(bw_http_server_names_t *names, const bw_http_server_name_t *sn)
{
    bw_str_t key;

    if (sn->regex) {
        bw_http_server_name_t *slot = bw_array_push(&names->regex);
        if (slot == NULL) {
            return BW_ERROR;
        }
        *slot = *sn;
        return BW_OK;
    }
    int kind = bw_http_sn_classify(&sn->name, &key);
    if (kind < 0) {
        return BW_DECLINED;
    }
    bool exact = kind == BW_HTTP_SN_EXACT || kind == BW_HTTP_SN_HEAD_DOT;
    bw_http_sn_table_t *wild = kind == BW_HTTP_SN_TAIL ? &names->tail
                               : kind == BW_HTTP_SN_EXACT ? NULL : &names->head;

    /* All or nothing: ".x.com" is refused whole when either part is taken. */
    if ((exact && bw_http_sn_table_find(&names->exact, key.data, key.len))
        || (wild && bw_http_sn_table_find(wild, key.data, key.len))) {
        return BW_BUSY;
    }
    if (exact && bw_http_sn_table_put(names->pool, &names->exact, &key, sn->server) != BW_OK) {
        return BW_ERROR;
    }
    if (wild && bw_http_sn_table_put(names->pool, wild, &key, sn->server) != BW_OK) {
        return BW_ERROR;
    }
    return BW_OK;
}

/* Longest "*.suffix" match: the suffixes after each dot, left to right. */
static bw_http_core_srv_conf_t *
bw_http_sn_find_head(const bw_http_server_names_t *names, const bw_str_t *host)
{
    if (names->head.used == 0) {
        return NULL;
    }
    for (size_t i = 0; i < host->len; i++) {
        if (host->data[i] != '.') {
            continue;
        }
        bw_http_core_srv_conf_t *s = bw_http_sn_table_find(&names->head, host->data + i + 1,
                                                           host->len - i - 1);
        if (s) {
            return s;
        }
    }
    return NULL;
}

/* Longest "prefix.*" match: the prefixes before each dot, right to left. */
static bw_http_core_srv_conf_t *
bw_http_sn_find_tail(const bw_http_server_names_t *names, const bw_str_t *host)
{
    if (names->tail.used == 0) {
        return NULL;
    }
    for (size_t i = host->len; i > 0; i--) {
        if (host->data[i - 1] != '.') {
            continue;
        }
        bw_http_core_srv_conf_t *s = bw_http_sn_table_find(&names->tail, host->data, i - 1);
        if (s) {
            return s;
        }
    }
    return NULL;
}

bw_rc_t
bw_http_server_names_find(const bw_http_server_names_t *names, const bw_str_t *host,
                          bw_http_server_name_regex_fn match, void *data,
                          bw_http_core_srv_conf_t **server,
                          const bw_http_server_name_t **matched)
{
    bw_http_core_srv_conf_t *s = bw_http_sn_table_find(&names->exact, host->data, host->len);

    if (s == NULL && host->len) {
        s = bw_http_sn_find_head(names, host);
        if (s == NULL) {
            s = bw_http_sn_find_tail(names, host);
        }
    }
    if (s) {
        *server = s;
        return BW_OK;
    }
    const bw_http_server_name_t *re = names->regex.elts;
    for (size_t i = 0; i < names->regex.nelts; i++) {
        bw_rc_t rc = match(data, &re[i], host);
        if (rc == BW_DECLINED) {
            continue;
        }
        if (rc != BW_OK) {
            return BW_ERROR;
        }
        *server = re[i].server;
        if (matched) {
            *matched = &re[i];
        }
        return BW_OK;
    }
    return BW_DECLINED;
}

size_t
bw_http_server_names_count(const bw_http_server_names_t *names)
{
    return names->exact.used + names->head.used + names->tail.used + names->regex.nelts;
}
