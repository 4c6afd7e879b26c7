/*
 * variables.c -- the variable registry (declarations, indexes, prefix
 * families, the run-time name table), the per-request value cache, and the
 * regex captures of a request ($1..$9 and named captures).
 *
 * The standard variables themselves are computed in variables_core.c.
 */
#include "variables.h"

#include "cycle.h"
#include "pool.h"
#include "regex.h"

/* Evaluation nesting limit: a map that reads itself would recurse forever. */
#define BW_HTTP_VARIABLE_DEPTH_MAX 100

typedef struct {
    bw_array_t           keys;     /* bw_http_variable_t *: every declaration */
    bw_array_t           indexed;  /* bw_http_variable_t *: position is the index */
    bw_array_t           prefixes; /* bw_http_variable_t *: PREFIX families */
    bw_http_variable_t **table;    /* run time: open addressing by name, built by init_vars */
    size_t               table_mask;
} bw_http_variables_t;

/* The largest registry seen by this process: what r->variables needs. */
static size_t   bw_http_variables_max;
static unsigned bw_http_variable_depth;

/* ---- registry access ---- */

static bw_http_variables_t *
bw_http_variables_conf(bw_conf_t *cf)
{
    bw_http_core_main_conf_t *cmcf = bw_http_conf_get_main_conf(cf, bw_http_core_module);
    return cmcf ? cmcf->variables : NULL;
}

static bw_http_variables_t *
bw_http_variables_request(bw_http_request_t *r)
{
    if (r->main_conf == NULL) {
        return NULL;
    }
    bw_http_core_main_conf_t *cmcf = bw_http_get_main_conf(r, bw_http_core_module);
    return cmcf ? cmcf->variables : NULL;
}

size_t
bw_http_variables_count(void)
{
    return bw_http_variables_max;
}

bool
bw_http_variable_name_valid(const bw_str_t *name)
{
    if (name->len == 0) {
        return false;
    }
    for (size_t i = 0; i < name->len; i++) {
        u_char c = name->data[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_')) {
            return false;
        }
    }
    return true;
}

bw_uint_t
bw_http_variable_hash(const u_char *name, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= bw_tolower(name[i]);
        h *= 1099511628211ULL;
    }
    return (bw_uint_t) h;
}

/* A variable of `list` (an array of pointers) named `name`, case-insensitively. */
static bw_http_variable_t *
bw_http_variables_list_find(bw_array_t *list, const bw_str_t *name)
{
    bw_http_variable_t **v = list->elts;
    for (size_t i = 0; i < list->nelts; i++) {
        if (bw_str_caseeq(&v[i]->name, name)) {
            return v[i];
        }
    }
    return NULL;
}

/* A new variable named `name` (lowercase copy) appended to `list`. */
static bw_http_variable_t *
bw_http_variables_list_add(bw_conf_t *cf, bw_array_t *list, const bw_str_t *name,
                           unsigned flags)
{
    bw_http_variable_t  *v = bw_pcalloc(cf->pool, sizeof(bw_http_variable_t));
    bw_http_variable_t **slot = bw_array_push(list);
    u_char              *p = bw_pnalloc(cf->pool, name->len + 1);

    if (v == NULL || slot == NULL || p == NULL) {
        bw_conf_error(cf, "not enough memory for variable \"%.*s\"", BW_STR_ARG(*name));
        return NULL;
    }
    bw_strlow(p, name->data, name->len);
    p[name->len] = '\0';
    v->name.data = p;
    v->name.len = name->len;
    v->flags = flags;
    *slot = v;
    return v;
}

static bw_rc_t
bw_http_variables_create(bw_conf_t *cf)
{
    bw_http_core_main_conf_t *cmcf = bw_http_conf_get_main_conf(cf, bw_http_core_module);
    bw_http_variables_t      *vars = bw_pcalloc(cf->pool, sizeof(bw_http_variables_t));

    if (cmcf == NULL || vars == NULL
        || bw_array_init(&vars->keys, cf->pool, 128, sizeof(bw_http_variable_t *)) != BW_OK
        || bw_array_init(&vars->indexed, cf->pool, 32, sizeof(bw_http_variable_t *)) != BW_OK
        || bw_array_init(&vars->prefixes, cf->pool, 8, sizeof(bw_http_variable_t *))
               != BW_OK) {
        bw_conf_error(cf, "not enough memory for the variables");
        return BW_ERROR;
    }
    cmcf->variables = vars;
    return BW_OK;
}

/* ---- declarations ---- */

bw_rc_t
bw_http_variables_add_core_vars(bw_conf_t *cf)
{
    if (bw_http_variables_create(cf) != BW_OK) {
        return BW_ERROR;
    }
    return bw_http_add_variables(cf, bw_http_core_variables);
}

bw_rc_t
bw_http_add_variables(bw_conf_t *cf, const bw_http_variable_def_t *defs)
{
    for (const bw_http_variable_def_t *d = defs; d->name; d++) {
        bw_str_t            name = { strlen(d->name), (u_char *) d->name };
        bw_http_variable_t *v = bw_http_add_variable(cf, &name, d->flags);
        if (v == NULL) {
            return BW_ERROR;
        }
        v->get = d->get;
        v->set = d->set;
        v->data = d->data;
    }
    return BW_OK;
}

bw_http_variable_t *
bw_http_add_variable(bw_conf_t *cf, const bw_str_t *name, unsigned flags)
{
    bw_http_variables_t *vars = bw_http_variables_conf(cf);
    bw_array_t          *list;
    bw_http_variable_t  *v;

    if (name->len == 0) {
        bw_conf_error(cf, "invalid variable name \"$\"");
        return NULL;
    }
    if (vars == NULL && (bw_http_variables_create(cf) != BW_OK
                         || (vars = bw_http_variables_conf(cf)) == NULL)) {
        return NULL;
    }
    list = (flags & BW_HTTP_VAR_PREFIX) ? &vars->prefixes : &vars->keys;
    v = bw_http_variables_list_find(list, name);
    if (v == NULL) {
        return bw_http_variables_list_add(cf, list, name, flags);
    }
    if (!(v->flags & BW_HTTP_VAR_CHANGEABLE)) {
        bw_conf_error(cf, "the duplicate \"%.*s\" variable", BW_STR_ARG(*name));
        return NULL;
    }
    if (!(flags & BW_HTTP_VAR_WEAK)) {
        v->flags &= ~BW_HTTP_VAR_WEAK;
    }
    return v;
}

bw_int_t
bw_http_get_variable_index(bw_conf_t *cf, const bw_str_t *name)
{
    bw_http_variables_t *vars = bw_http_variables_conf(cf);
    bw_http_variable_t **v;

    if (name->len == 0) {
        bw_conf_error(cf, "invalid variable name \"$\"");
        return -1;
    }
    if (vars == NULL && (bw_http_variables_create(cf) != BW_OK
                         || (vars = bw_http_variables_conf(cf)) == NULL)) {
        return -1;
    }
    v = vars->indexed.elts;
    for (size_t i = 0; i < vars->indexed.nelts; i++) {
        if (bw_str_caseeq(&v[i]->name, name)) {
            return (bw_int_t) i;
        }
    }
    if (bw_http_variables_list_add(cf, &vars->indexed, name, 0) == NULL) {
        return -1;
    }
    return (bw_int_t) vars->indexed.nelts - 1;
}

/* Named-capture variables hold what the last match stored; unset, they are empty. */
static bw_rc_t
bw_http_variable_not_found(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    v->not_found = 1;
    return BW_OK;
}

bw_regex_t *
bw_http_regex_compile(bw_conf_t *cf, const bw_str_t *pattern, bool caseless)
{
    bw_regex_t *re = bw_regex_compile(cf, pattern, caseless);

    if (re == NULL) {
        return NULL;
    }
    for (bw_uint_t i = 0; i < re->nnames; i++) {
        bw_str_t           *name = &re->names[i].name;
        bw_http_variable_t *v = bw_http_add_variable(cf, name, BW_HTTP_VAR_CHANGEABLE);
        if (v == NULL) {
            return NULL;
        }
        if (v->get == NULL) {
            v->get = bw_http_variable_not_found;
        }
        if (bw_http_get_variable_index(cf, name) < 0) {
            return NULL;
        }
    }
    return re;
}

/* ---- binding indexes (after parsing) ---- */

/* The longest prefix family whose prefix starts `name`, or NULL. */
static bw_http_variable_t *
bw_http_variables_prefix_find(bw_http_variables_t *vars, const bw_str_t *name)
{
    bw_http_variable_t **p = vars->prefixes.elts;
    bw_http_variable_t  *best = NULL;

    for (size_t i = 0; i < vars->prefixes.nelts; i++) {
        if (p[i]->get != NULL && name->len > p[i]->name.len
            && bw_strncasecmp(name->data, p[i]->name.data, p[i]->name.len) == 0
            && (best == NULL || p[i]->name.len > best->name.len)) {
            best = p[i];
        }
    }
    return best;
}

/* Binds indexed entry `i` to a prefix family: data is the suffix ("user_agent"). */
static bw_rc_t
bw_http_variables_bind_prefix(bw_conf_t *cf, bw_http_variable_t *v, bw_http_variable_t *family)
{
    bw_str_t *suffix = bw_palloc(cf->pool, sizeof(bw_str_t));

    if (suffix == NULL) {
        bw_conf_error(cf, "not enough memory for variable \"%.*s\"", BW_STR_ARG(v->name));
        return BW_ERROR;
    }
    suffix->data = v->name.data + family->name.len;
    suffix->len = v->name.len - family->name.len;
    v->get = family->get;
    v->set = family->set;
    v->data = (uintptr_t) suffix;
    v->flags = (family->flags & ~BW_HTTP_VAR_PREFIX) | BW_HTTP_VAR_INDEXED;
    return BW_OK;
}

/* Binds indexed entry `v` (number i) to its declaration or prefix family. */
static bw_rc_t
bw_http_variables_bind(bw_conf_t *cf, bw_http_variables_t *vars, bw_http_variable_t *v,
                       bw_uint_t i)
{
    bw_http_variable_t *key = bw_http_variables_list_find(&vars->keys, &v->name);
    bw_http_variable_t *family;

    if (key != NULL) {
        key->flags |= BW_HTTP_VAR_INDEXED;
        key->index = i;
        if (key->get != NULL && !(key->flags & BW_HTTP_VAR_WEAK)) {
            v->get = key->get;
            v->set = key->set;
            v->data = key->data;
            v->flags = key->flags;
            v->index = i;
            return BW_OK;
        }
    }
    family = bw_http_variables_prefix_find(vars, &v->name);
    if (family != NULL) {
        v->index = i;
        return bw_http_variables_bind_prefix(cf, v, family);
    }
    if (key != NULL && key->get != NULL) {
        *v = *key; /* a weak declaration nothing overrode */
        v->index = i;
        return BW_OK;
    }
    /* nginx reports this after parsing, without a file position */
    bw_conf_file_t *file = cf->file;
    cf->file = NULL;
    bw_conf_error(cf, "unknown \"%.*s\" variable", BW_STR_ARG(v->name));
    cf->file = file;
    return BW_ERROR;
}

/* Builds the run-time name table from every hashable declaration. */
static bw_rc_t
bw_http_variables_table_build(bw_conf_t *cf, bw_http_variables_t *vars)
{
    bw_http_variable_t **keys = vars->keys.elts;
    size_t               size = 16;

    while (size < 2 * vars->keys.nelts) {
        size *= 2;
    }
    vars->table = bw_pcalloc(cf->pool, size * sizeof(bw_http_variable_t *));
    if (vars->table == NULL) {
        bw_conf_error(cf, "not enough memory for the variables hash");
        return BW_ERROR;
    }
    vars->table_mask = size - 1;
    for (size_t i = 0; i < vars->keys.nelts; i++) {
        if ((keys[i]->flags & BW_HTTP_VAR_NOHASH) || keys[i]->get == NULL) {
            continue;
        }
        size_t slot = bw_http_variable_hash(keys[i]->name.data, keys[i]->name.len)
                      & vars->table_mask;
        while (vars->table[slot] != NULL) {
            slot = (slot + 1) & vars->table_mask;
        }
        vars->table[slot] = keys[i];
    }
    return BW_OK;
}

bw_rc_t
bw_http_variables_init_vars(bw_conf_t *cf)
{
    bw_http_variables_t *vars = bw_http_variables_conf(cf);
    bw_rc_t              rc = BW_OK;

    if (vars == NULL && (bw_http_variables_create(cf) != BW_OK
                         || (vars = bw_http_variables_conf(cf)) == NULL)) {
        return BW_ERROR;
    }
    bw_http_variable_t **v = vars->indexed.elts;
    for (size_t i = 0; i < vars->indexed.nelts; i++) {
        if (bw_http_variables_bind(cf, vars, v[i], i) != BW_OK) {
            rc = BW_ERROR;
        }
    }
    if (rc != BW_OK || bw_http_variables_table_build(cf, vars) != BW_OK) {
        return BW_ERROR;
    }
    if (vars->indexed.nelts > bw_http_variables_max) {
        bw_http_variables_max = vars->indexed.nelts;
    }
    return BW_OK;
}

/* ---- request time ---- */

/* The request's value array, allocated on first use. */
static bw_http_variable_value_t *
bw_http_variables_values(bw_http_request_t *r, bw_http_variables_t *vars)
{
    if (r->variables == NULL) {
        size_t n = bw_max(vars->indexed.nelts, bw_http_variables_max);
        r->variables = bw_pcalloc(r->pool, (n ? n : 1) * sizeof(bw_http_variable_value_t));
    }
    return r->variables;
}

/* Computes variable v into *value (cleared first). BW_OK or BW_ERROR. */
static bw_rc_t
bw_http_variable_eval(bw_http_request_t *r, bw_http_variable_t *v,
                      bw_http_variable_value_t *value)
{
    bw_rc_t rc;

    if (bw_http_variable_depth >= BW_HTTP_VARIABLE_DEPTH_MAX) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                     "cycle while evaluating variable \"%.*s\"", BW_STR_ARG(v->name));
        return BW_ERROR;
    }
    *value = (bw_http_variable_value_t) { 0 };
    bw_http_variable_depth++;
    rc = v->get ? v->get(r, value, v->data) : BW_ERROR;
    bw_http_variable_depth--;
    if (rc != BW_OK) {
        *value = (bw_http_variable_value_t) { .not_found = 1 };
        return BW_ERROR;
    }
    if (!value->not_found) {
        value->valid = 1;
    }
    if (v->flags & BW_HTTP_VAR_NOCACHEABLE) {
        value->no_cacheable = 1;
    }
    return BW_OK;
}

bw_http_variable_value_t *
bw_http_get_indexed_variable(bw_http_request_t *r, bw_uint_t index)
{
    bw_http_variables_t      *vars = bw_http_variables_request(r);
    bw_http_variable_value_t *values;

    if (vars == NULL || index >= vars->indexed.nelts) {
        if (r->connection) {
            bw_log_error(BW_LOG_ALERT, r->connection->log, 0, "unknown variable index: %lu",
                         (unsigned long) index);
        }
        return NULL;
    }
    values = bw_http_variables_values(r, vars);
    if (values == NULL) {
        return NULL;
    }
    if (values[index].valid || values[index].not_found) {
        return &values[index];
    }
    bw_http_variable_t *v = bw_array_at(&vars->indexed, bw_http_variable_t *, index);
    if (bw_http_variable_eval(r, v, &values[index]) != BW_OK) {
        return NULL;
    }
    return &values[index];
}

bw_http_variable_value_t *
bw_http_get_flushed_variable(bw_http_request_t *r, bw_uint_t index)
{
    bw_http_variables_t *vars = bw_http_variables_request(r);

    if (vars != NULL && index < vars->indexed.nelts && r->variables != NULL) {
        bw_http_variable_value_t *value = &((bw_http_variable_value_t *) r->variables)[index];
        if (value->no_cacheable) {
            value->valid = 0;
            value->not_found = 0;
        }
    }
    return bw_http_get_indexed_variable(r, index);
}

bw_rc_t
bw_http_set_indexed_variable(bw_http_request_t *r, bw_uint_t index, const bw_str_t *value)
{
    bw_http_variables_t      *vars = bw_http_variables_request(r);
    bw_http_variable_value_t *values;

    if (vars == NULL || index >= vars->indexed.nelts
        || (values = bw_http_variables_values(r, vars)) == NULL) {
        return BW_ERROR;
    }
    values[index] = (bw_http_variable_value_t) { .data = value->data, .len = value->len,
                                                 .valid = 1 };
    return BW_OK;
}

/* The declaration named `name` in the run-time table, or NULL. */
static bw_http_variable_t *
bw_http_variables_lookup(bw_http_variables_t *vars, const bw_str_t *name, bw_uint_t hash)
{
    if (vars->table == NULL) {
        return NULL;
    }
    for (size_t slot = hash & vars->table_mask;; slot = (slot + 1) & vars->table_mask) {
        bw_http_variable_t *v = vars->table[slot];
        if (v == NULL) {
            return NULL;
        }
        if (bw_str_caseeq(&v->name, name)) {
            return v;
        }
    }
}

/* Evaluates a variable that has no index into fresh pool memory. */
static bw_http_variable_value_t *
bw_http_variable_eval_new(bw_http_request_t *r, bw_http_variable_t *v)
{
    bw_http_variable_value_t *value = bw_palloc(r->pool, sizeof(bw_http_variable_value_t));

    if (value == NULL || bw_http_variable_eval(r, v, value) != BW_OK) {
        return NULL;
    }
    return value;
}

bw_http_variable_value_t *
bw_http_get_variable(bw_http_request_t *r, const bw_str_t *name, bw_uint_t hash)
{
    bw_http_variables_t *vars = bw_http_variables_request(r);
    bw_http_variable_t  *v;

    if (vars == NULL) {
        return NULL;
    }
    v = bw_http_variables_lookup(vars, name, hash);
    if (v != NULL) {
        if (v->flags & BW_HTTP_VAR_INDEXED) {
            return bw_http_get_flushed_variable(r, v->index);
        }
        return bw_http_variable_eval_new(r, v);
    }
    bw_http_variable_t *family = bw_http_variables_prefix_find(vars, name);
    if (family != NULL) {
        bw_str_t           suffix = { name->len - family->name.len,
                                      name->data + family->name.len };
        bw_http_variable_t tmp = *family;
        tmp.data = (uintptr_t) &suffix;
        tmp.name = *name;
        return bw_http_variable_eval_new(r, &tmp);
    }
    bw_http_variable_value_t *value = bw_pcalloc(r->pool, sizeof(bw_http_variable_value_t));
    if (value != NULL) {
        value->not_found = 1;
    }
    return value;
}

/* ---- captures ---- */

/* Stores the named captures of a match into their variables. */
static void
bw_http_regex_set_names(bw_http_request_t *r, const bw_regex_t *re, const bw_str_t *subject,
                        const size_t *ovector, int pairs)
{
    bw_http_variables_t      *vars = bw_http_variables_request(r);
    bw_http_variable_value_t *values;

    if (vars == NULL || re->nnames == 0 || (values = bw_http_variables_values(r, vars)) == NULL) {
        return;
    }
    for (bw_uint_t i = 0; i < re->nnames; i++) {
        const bw_regex_name_t *n = &re->names[i];
        bw_http_variable_t    *v = bw_http_variables_lookup(
            vars, &n->name, bw_http_variable_hash(n->name.data, n->name.len));
        if (v == NULL || !(v->flags & BW_HTTP_VAR_INDEXED)
            || !(v->flags & BW_HTTP_VAR_CHANGEABLE)) {
            continue;
        }
        bw_http_variable_value_t *value = &values[v->index];
        *value = (bw_http_variable_value_t) { .valid = 1, .data = subject->data };
        if (n->index < pairs && ovector[2 * n->index] != (size_t) -1) {
            value->data = subject->data + ovector[2 * n->index];
            value->len = ovector[2 * n->index + 1] - ovector[2 * n->index];
        }
    }
}

bw_rc_t
bw_regex_exec_request(bw_http_request_t *r, bw_regex_t *re, const bw_str_t *subject)
{
    size_t ovector[2 * BW_HTTP_CAPTURES_MAX];
    int    pairs = bw_min(re->captures + 1, BW_HTTP_CAPTURES_MAX);
    int    rc = bw_regex_exec(re, subject, ovector, pairs);

    if (rc == BW_REGEX_NO_MATCH) {
        return BW_DECLINED;
    }
    if (rc < 0) {
        bw_log_error(BW_LOG_ALERT, r->connection->log, 0,
                     "pcre2_match() failed: %d on \"%.*s\" using \"%.*s\"", rc,
                     BW_STR_ARG(*subject), BW_STR_ARG(re->pattern));
        return BW_ERROR;
    }
    bw_http_captures_t *caps = r->regex_captures;
    if (caps == NULL) {
        caps = bw_palloc(r->pool, sizeof(bw_http_captures_t));
        if (caps == NULL) {
            return BW_ERROR;
        }
        r->regex_captures = caps;
    }
    caps->subject = *subject;
    memcpy(caps->ovector, ovector, 2 * (size_t) rc * sizeof(size_t));
    r->ncaptures = (bw_uint_t) rc;
    bw_http_regex_set_names(r, re, subject, ovector, rc);
    return BW_OK;
}

bool
bw_http_capture(bw_http_request_t *r, bw_uint_t n, bw_str_t *out)
{
    bw_http_captures_t *caps = r->regex_captures;

    out->len = 0;
    out->data = NULL;
    if (caps == NULL || n >= r->ncaptures || caps->ovector[2 * n] == (size_t) -1) {
        return false;
    }
    out->data = caps->subject.data + caps->ovector[2 * n];
    out->len = caps->ovector[2 * n + 1] - caps->ovector[2 * n];
    return true;
}
