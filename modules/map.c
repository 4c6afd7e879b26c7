/*
 * map.c -- the map module: `map string $variable { ... }` makes $variable
 * a function of `string` (a complex value), computed lazily when the
 * variable is read, plus `map_hash_max_size` / `map_hash_bucket_size`
 * (accepted; the table below sizes itself).
 *
 * Lookup order, as nginx documents it: an exact key (case-insensitive), then
 * with `hostnames` the longest "*.suffix" / ".suffix" mask, then the longest
 * "prefix.*" mask, then the regexes in configuration order, then `default`.
 * Values are complex values: they may use variables and the captures of the
 * map's own regex ($1, named groups).
 */
#include "conf.h"
#include "core_module.h"
#include "pool.h"
#include "regex.h"
#include "request.h"
#include "script.h"
#include "variables.h"

extern bw_module_t bw_map_module;

typedef enum {
    BW_MAP_EXACT = 0,
    BW_MAP_HEAD, /* key is ".example.com": matches names ending with it */
    BW_MAP_TAIL, /* key is "www.": matches names starting with it */
} bw_map_kind_t;

typedef struct {
    bw_str_t                 key;    /* lowercase; masks without the '*' */
    bw_map_kind_t            kind;
    bw_http_complex_value_t *value;
} bw_map_entry_t;

typedef struct {
    bw_regex_t              *regex;
    bw_http_complex_value_t *value;
} bw_map_regex_t;

typedef struct {
    bw_http_complex_value_t *source;
    bw_http_complex_value_t *default_value; /* NULL: empty */
    bw_array_t               entries;       /* bw_map_entry_t while parsing */
    bw_array_t               regexes;       /* bw_map_regex_t, in order */
    size_t                  *table;         /* open addressing by (kind, key): entry
                                               index + 1, 0 for an empty slot */
    size_t                   table_mask;
    bool                     hostnames;
    bool                     heads;         /* has HEAD entries */
    bool                     tails;         /* has TAIL entries */
    bool                     no_cacheable;  /* `volatile` */
} bw_map_t;

typedef struct {
    bw_uint_t hash_max_size;
    bw_uint_t hash_bucket_size;
} bw_map_main_conf_t;

/* ---- the table ---- */

static size_t
bw_map_hash(bw_map_kind_t kind, const u_char *p, size_t n)
{
    return (size_t) bw_http_variable_hash(p, n) * 3 + kind;
}

/* The entry of `kind` for lowercase key [p, p+n), or NULL. */
static bw_map_entry_t *
bw_map_find(const bw_map_t *map, bw_map_kind_t kind, const u_char *p, size_t n)
{
    bw_map_entry_t *entries = map->entries.elts;

    if (map->table == NULL) {
        return NULL;
    }
    for (size_t slot = bw_map_hash(kind, p, n) & map->table_mask;;
         slot = (slot + 1) & map->table_mask) {
        if (map->table[slot] == 0) {
            return NULL;
        }
        bw_map_entry_t *e = &entries[map->table[slot] - 1];
        if (e->kind == kind && e->key.len == n && memcmp(e->key.data, p, n) == 0) {
            return e;
        }
    }
}

/* Puts entry i into a table of size mask + 1. */
static void
bw_map_table_put(size_t *table, size_t mask, const bw_map_entry_t *e, size_t i)
{
    size_t slot = bw_map_hash(e->kind, e->key.data, e->key.len) & mask;
    while (table[slot] != 0) {
        slot = (slot + 1) & mask;
    }
    table[slot] = i + 1;
}

/* Adds the last entry to the table, doubling it when half full. BW_OK or BW_ERROR. */
static bw_rc_t
bw_map_table_add(bw_conf_t *cf, bw_map_t *map)
{
    bw_map_entry_t *e = map->entries.elts;
    size_t          n = map->entries.nelts;

    if (map->table == NULL || 2 * n > map->table_mask + 1) {
        size_t size = map->table ? 2 * (map->table_mask + 1) : 64;
        size_t *table = bw_pcalloc(cf->pool, size * sizeof(size_t));
        if (table == NULL) {
            return BW_ERROR;
        }
        for (size_t i = 0; i + 1 < n; i++) {
            bw_map_table_put(table, size - 1, &e[i], i);
        }
        map->table = table;
        map->table_mask = size - 1;
    }
    bw_map_table_put(map->table, map->table_mask, &e[n - 1], n - 1);
    return BW_OK;
}

/* ---- lookup ---- */

/* The longest ".suffix" mask that `name` ends with. */
static bw_map_entry_t *
bw_map_find_head(const bw_map_t *map, const u_char *name, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '.') {
            bw_map_entry_t *e = bw_map_find(map, BW_MAP_HEAD, name + i, n - i);
            if (e != NULL) {
                return e;
            }
        }
    }
    return NULL;
}

/* The longest "prefix." mask that `name` starts with (leaving something after it). */
static bw_map_entry_t *
bw_map_find_tail(const bw_map_t *map, const u_char *name, size_t n)
{
    for (size_t i = n > 0 ? n - 1 : 0; i > 0; i--) {
        if (name[i - 1] == '.') {
            bw_map_entry_t *e = bw_map_find(map, BW_MAP_TAIL, name, i);
            if (e != NULL) {
                return e;
            }
        }
    }
    return NULL;
}

/* The value for `src`, or NULL for the default. BW_ERROR in *rc on failure. */
static bw_http_complex_value_t *
bw_map_lookup(bw_http_request_t *r, const bw_map_t *map, const bw_str_t *src, bw_rc_t *rc)
{
    u_char          small[256];
    u_char         *low = src->len <= sizeof(small) ? small : bw_pnalloc(r->pool, src->len);
    bw_map_entry_t *e;

    *rc = BW_OK;
    if (low == NULL) {
        *rc = BW_ERROR;
        return NULL;
    }
    bw_strlow(low, src->data, src->len);
    e = bw_map_find(map, BW_MAP_EXACT, low, src->len);
    if (e == NULL && map->heads) {
        e = bw_map_find_head(map, low, src->len);
    }
    if (e == NULL && map->tails) {
        e = bw_map_find_tail(map, low, src->len);
    }
    if (e != NULL) {
        return e->value;
    }
    bw_map_regex_t *re = map->regexes.elts;
    for (size_t i = 0; i < map->regexes.nelts; i++) {
        bw_rc_t m = bw_regex_exec_request(r, re[i].regex, src);
        if (m == BW_OK) {
            return re[i].value;
        }
        if (m == BW_ERROR) {
            *rc = BW_ERROR;
            return NULL;
        }
    }
    return NULL;
}

/* The mapped variable's getter: data is the bw_map_t. */
static bw_rc_t
bw_map_variable(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const bw_map_t          *map = (const bw_map_t *) data;
    bw_http_complex_value_t *value;
    bw_str_t                 src, result;
    bw_rc_t                  rc;

    if (bw_http_complex_value(r, map->source, &src) != BW_OK) {
        return BW_ERROR;
    }
    if (map->hostnames && src.len > 0 && src.data[src.len - 1] == '.') {
        src.len--;
    }
    value = bw_map_lookup(r, map, &src, &rc);
    if (rc != BW_OK) {
        return BW_ERROR;
    }
    if (value == NULL) {
        value = map->default_value;
    }
    if (value == NULL) {
        v->data = (u_char *) "";
        v->len = 0;
        return BW_OK;
    }
    if (bw_http_complex_value(r, value, &result) != BW_OK) {
        return BW_ERROR;
    }
    v->data = result.data;
    v->len = result.len;
    return BW_OK;
}

/* ---- parsing the block ---- */

/*
 * Classifies a hostnames key: *kind and the stored key (lowercase, masks
 * without '*'). ".example.com" yields HEAD and sets *also_exact.
 * False for a mask nginx refuses ("*", "*.", "a.*.com", "*a.com").
 */
static bool
bw_map_hostname_key(const bw_str_t *k, bw_map_kind_t *kind, bw_str_t *key, bool *also_exact)
{
    *also_exact = false;
    *kind = BW_MAP_EXACT;
    *key = *k;
    if (k->len >= 2 && k->data[0] == '*' && k->data[1] == '.') {
        *kind = BW_MAP_HEAD;
        key->data++;
        key->len--;
    } else if (k->len >= 1 && k->data[0] == '.') {
        *kind = BW_MAP_HEAD;
        *also_exact = true;
    } else if (k->len >= 2 && k->data[k->len - 1] == '*' && k->data[k->len - 2] == '.') {
        *kind = BW_MAP_TAIL;
        key->len--;
    }
    if (*kind != BW_MAP_EXACT && key->len < 2) {
        return false;
    }
    return memchr(key->data, '*', key->len) == NULL;
}

/* Adds one key; "conflicting parameter" when it is there already. */
static const char *
bw_map_add_key(bw_conf_t *cf, bw_map_t *map, bw_map_kind_t kind, const bw_str_t *key,
               const bw_str_t *source, bw_http_complex_value_t *value)
{
    u_char *low = bw_pnalloc(cf->pool, key->len ? key->len : 1);

    if (low == NULL) {
        return "not enough memory";
    }
    bw_strlow(low, key->data, key->len);
    if (bw_map_find(map, kind, low, key->len) != NULL) {
        u_char shown[256];
        size_t n = bw_min(source->len, sizeof(shown));
        bw_strlow(shown, source->data, n); /* nginx names the key lowercased */
        bw_conf_error(cf, "conflicting parameter \"%.*s\"", (int) n, shown);
        return BW_CONF_ERROR;
    }
    bw_map_entry_t *e = bw_array_push(&map->entries);
    if (e == NULL) {
        return "not enough memory";
    }
    e->key.data = low;
    e->key.len = key->len;
    e->kind = kind;
    e->value = value;
    map->heads |= kind == BW_MAP_HEAD;
    map->tails |= kind == BW_MAP_TAIL;
    return bw_map_table_add(cf, map) == BW_OK ? BW_CONF_OK : "not enough memory";
}

static const char *
bw_map_add_regex(bw_conf_t *cf, bw_map_t *map, const bw_str_t *key,
                 bw_http_complex_value_t *value)
{
    bool     caseless = key->len >= 2 && key->data[1] == '*';
    bw_str_t pattern = { key->len - (caseless ? 2 : 1), key->data + (caseless ? 2 : 1) };

    bw_map_regex_t *re = bw_array_push(&map->regexes);
    if (re == NULL) {
        return "not enough memory";
    }
    re->regex = bw_http_regex_compile(cf, &pattern, caseless);
    re->value = value;
    return re->regex ? BW_CONF_OK : BW_CONF_ERROR;
}

static const char *
bw_map_add_entry(bw_conf_t *cf, bw_map_t *map, const bw_str_t *key,
                 bw_http_complex_value_t *value)
{
    bw_str_t      k = *key, stored;
    bw_map_kind_t kind = BW_MAP_EXACT;
    bool          also_exact = false;

    if (k.len > 0 && k.data[0] == '~') {
        return bw_map_add_regex(cf, map, &k, value);
    }
    if (k.len > 0 && k.data[0] == '\\') {
        k.data++;
        k.len--;
    }
    stored = k;
    if (map->hostnames && !bw_map_hostname_key(&k, &kind, &stored, &also_exact)) {
        bw_conf_error(cf, "invalid hostname or wildcard \"%.*s\"", BW_STR_ARG(k));
        return BW_CONF_ERROR;
    }
    if (also_exact) {
        bw_str_t exact = { k.len - 1, k.data + 1 };
        if (bw_map_add_key(cf, map, BW_MAP_EXACT, &exact, &k, value) != BW_CONF_OK) {
            return BW_CONF_ERROR;
        }
    }
    return bw_map_add_key(cf, map, kind, &stored, &k, value);
}

/* One statement of a map{} block. */
static const char *
bw_map_block_statement(bw_conf_t *cf, void *conf)
{
    bw_map_t *map = conf;
    bw_str_t *args = cf->args->elts;
    size_t    n = cf->args->nelts;

    if (n == 1 && bw_str_eq_lit(&args[0], "hostnames")) {
        map->hostnames = true;
        return BW_CONF_OK;
    }
    if (n == 1 && bw_str_eq_lit(&args[0], "volatile")) {
        map->no_cacheable = true;
        return BW_CONF_OK;
    }
    if (n != 2) {
        return "invalid number of the map parameters";
    }
    if (bw_str_eq_lit(&args[0], "include")) {
        bw_str_t file = args[1];
        return bw_conf_parse(cf, &file) == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
    }
    bw_str_t                 key = args[0];
    bw_http_complex_value_t *value;
    if (bw_http_compile_complex_value(cf, &args[1], &value) != BW_OK) {
        return BW_CONF_ERROR;
    }
    if (bw_str_eq_lit(&key, "default")) {
        if (map->default_value != NULL) {
            return "duplicate default map parameter";
        }
        map->default_value = value;
        return BW_CONF_OK;
    }
    return bw_map_add_entry(cf, map, &key, value);
}

/* map string $variable { ... } */
static const char *
bw_map_block(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_str_t *args = cf->args->elts;
    bw_str_t  source = args[1], name = args[2];

    if (name.len < 1 || name.data[0] != '$') {
        bw_conf_error(cf, "invalid variable name \"%.*s\"", BW_STR_ARG(name));
        return BW_CONF_ERROR;
    }
    name.data++;
    name.len--;

    bw_map_t *map = bw_pcalloc(cf->pool, sizeof(bw_map_t));
    if (map == NULL || bw_array_init(&map->entries, cf->pool, 16, sizeof(bw_map_entry_t))
        || bw_array_init(&map->regexes, cf->pool, 4, sizeof(bw_map_regex_t))) {
        return "not enough memory";
    }
    if (bw_http_compile_complex_value(cf, &source, &map->source) != BW_OK) {
        return BW_CONF_ERROR;
    }
    bw_http_variable_t *v = bw_http_add_variable(cf, &name, BW_HTTP_VAR_CHANGEABLE);
    if (v == NULL) {
        return BW_CONF_ERROR;
    }
    v->get = bw_map_variable;
    v->data = (uintptr_t) map;

    bw_conf_handler_fn handler = cf->handler;
    void              *handler_conf = cf->handler_conf;
    cf->handler = bw_map_block_statement;
    cf->handler_conf = map;
    bw_rc_t rc = bw_conf_parse(cf, NULL);
    cf->handler = handler;
    cf->handler_conf = handler_conf;
    if (rc != BW_OK) {
        return BW_CONF_ERROR;
    }
    if (map->no_cacheable) {
        v->flags |= BW_HTTP_VAR_NOCACHEABLE; /* indexes copy the flags at init_vars */
    }
    return BW_CONF_OK;
}

/* ---- module ---- */

static void *
bw_map_create_main(bw_conf_t *cf)
{
    bw_map_main_conf_t *mcf = bw_pcalloc(cf->pool, sizeof(bw_map_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }
    mcf->hash_max_size = BW_CONF_UNSET_UINT;
    mcf->hash_bucket_size = BW_CONF_UNSET_UINT;
    return mcf;
}

static const char *
bw_map_init_main(bw_conf_t *cf, void *conf)
{
    bw_map_main_conf_t *mcf = conf;
    if (mcf->hash_max_size == BW_CONF_UNSET_UINT) {
        mcf->hash_max_size = 2048;
    }
    if (mcf->hash_bucket_size == BW_CONF_UNSET_UINT) {
        mcf->hash_bucket_size = 64;
    }
    return BW_CONF_OK;
}

/* map_hash_max_size / map_hash_bucket_size: a positive number (sizes are automatic). */
static const char *
bw_map_set_hash_size(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_uint_t *field = (bw_uint_t *) ((u_char *) conf + d->offset);
    bw_str_t  *value = &bw_array_at(cf->args, bw_str_t, 1);
    int64_t    n = bw_atoi(value->data, value->len);

    if (*field != BW_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    if (n <= 0) {
        bw_conf_error(cf, "invalid value \"%.*s\" in \"%s\" directive", BW_STR_ARG(*value),
                      d->name);
        return BW_CONF_ERROR;
    }
    *field = (bw_uint_t) n;
    return BW_CONF_OK;
}

static const bw_directive_t bw_map_directives[] = {
    { "map", BW_CTX_HTTP, BW_ARGS_BLOCK | BW_ARGS_TAKE2, BW_CONF_MAIN, bw_map_block, 0, NULL },
    { "map_hash_max_size", BW_CTX_HTTP, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_map_set_hash_size,
      offsetof(bw_map_main_conf_t, hash_max_size), NULL },
    { "map_hash_bucket_size", BW_CTX_HTTP, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_map_set_hash_size,
      offsetof(bw_map_main_conf_t, hash_bucket_size), NULL },
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_map_module_ctx = {
    .create_main = bw_map_create_main,
    .init_main = bw_map_init_main,
};

bw_module_t bw_map_module = {
    .name = "map",
    .type = BW_MODULE_HTTP,
    .directives = bw_map_directives,
    .ctx = &bw_map_module_ctx,
};
