/*
 * location.c -- building each level's sorted prefix table and regex list,
 * and the location search (see location.h for the algorithm and its cost).
 */
#include "location.h"

#include "pool.h"

#include <stdlib.h>

/* A child with its position, so that sorting keeps config order among equals. */
typedef struct {
    bw_http_core_loc_conf_t *clcf;
    size_t                   order;
} bw_http_location_sort_t;

bw_rc_t
bw_http_location_add(bw_pool_t *pool, bw_http_core_loc_conf_t *parent,
                     bw_http_core_loc_conf_t *child)
{
    bw_http_location_tree_t *tree = parent->locations;

    if (tree == NULL) {
        tree = bw_pcalloc(pool, sizeof(bw_http_location_tree_t));
        if (tree == NULL
            || bw_array_init(&tree->children, pool, 4, sizeof(bw_http_core_loc_conf_t *))
                   != BW_OK) {
            return BW_ERROR;
        }
        parent->locations = tree;
    }
    bw_http_core_loc_conf_t **slot = bw_array_push(&tree->children);
    if (slot == NULL) {
        return BW_ERROR;
    }
    *slot = child;
    child->parent_loc = parent;
    return BW_OK;
}

/* Bytewise order of two names, the shorter first when one prefixes the other. */
static int
bw_http_location_name_cmp(const bw_str_t *a, const bw_str_t *b)
{
    size_t n = bw_min(a->len, b->len);
    int    rc = n ? memcmp(a->data, b->data, n) : 0;

    if (rc != 0) {
        return rc;
    }
    return a->len < b->len ? -1 : (a->len > b->len ? 1 : 0);
}

static int
bw_http_location_sort_cmp(const void *one, const void *two)
{
    const bw_http_location_sort_t *a = one, *b = two;
    int rc = bw_http_location_name_cmp(&a->clcf->name, &b->clcf->name);

    if (rc != 0) {
        return rc;
    }
    return a->order < b->order ? -1 : 1;
}

static bool
bw_http_location_is_prefix(const bw_str_t *prefix, const u_char *s, size_t len)
{
    return prefix->len <= len && (prefix->len == 0 || memcmp(prefix->data, s, prefix->len) == 0);
}

/* Sets each entry's link to its longest proper prefix among inclusive entries. */
static void
bw_http_location_link(bw_http_location_tree_t *tree)
{
    bw_http_location_entry_t *e = tree->entries;

    for (size_t i = 0; i < tree->nentries; i++) {
        bw_int_t j = (bw_int_t) i - 1;
        /* The predecessor extends every prefix of e[i]'s name that is in the
         * table; its chain lists them longest first. */
        while (j >= 0 && !(e[j].inclusive
                           && bw_http_location_is_prefix(&e[j].name, e[i].name.data,
                                                         e[i].name.len))) {
            j = e[j].parent;
        }
        e[i].parent = j;
    }
}

/* Fills tree->entries from the sorted static children; *dup on a duplicate. */
static bw_rc_t
bw_http_location_entries_fill(bw_http_location_tree_t *tree, bw_http_location_sort_t *s,
                              size_t n, bw_http_core_loc_conf_t **dup)
{
    bw_http_location_entry_t *e = NULL;

    for (size_t i = 0; i < n; i++) {
        bw_http_core_loc_conf_t *c = s[i].clcf;

        if (e == NULL || !bw_str_eq(&e->name, &c->name)) {
            e = &tree->entries[tree->nentries++];
            e->name = c->name;
            e->parent = -1;
        }
        bw_http_core_loc_conf_t **slot = c->exact_match ? &e->exact : &e->inclusive;
        if (*slot != NULL) {
            *dup = c;
            return BW_DECLINED;
        }
        *slot = c;
        e->auto_redirect = e->auto_redirect || c->auto_redirect;
    }
    bw_http_location_link(tree);
    return BW_OK;
}

/*
 * Builds one level's entries and regex list from its children. Prefix and
 * exact locations nested in a regex location are accepted by the parser but
 * never selected (nor checked for duplicates) by nginx; bulwark does the same.
 */
static bw_rc_t
bw_http_location_level_init(bw_pool_t *pool, bw_http_core_loc_conf_t *owner, bw_array_t *named,
                            bw_http_core_loc_conf_t **dup)
{
    bw_http_location_tree_t  *tree = owner->locations;
    bw_http_core_loc_conf_t **child = tree->children.elts;
    size_t                    n = tree->children.nelts, nstatic = 0;

    bw_http_location_sort_t *s = bw_palloc(pool, (n + 1) * sizeof(bw_http_location_sort_t));
    tree->entries = bw_pcalloc(pool, (n + 1) * sizeof(bw_http_location_entry_t));
    tree->regex = bw_palloc(pool, (n + 1) * sizeof(bw_http_core_loc_conf_t *));
    if (s == NULL || tree->entries == NULL || tree->regex == NULL) {
        return BW_ERROR;
    }
    tree->nentries = tree->nregex = 0;
    for (size_t i = 0; i < n; i++) {
        bw_http_core_loc_conf_t *c = child[i];

        if (c->noname) {
            continue;
        }
        if (c->named) {
            bw_http_core_loc_conf_t **slot = named ? bw_array_push(named) : NULL;
            if (named && slot == NULL) {
                return BW_ERROR;
            }
            if (slot) {
                *slot = c;
            }
            continue;
        }
        if (c->regex) {
            tree->regex[tree->nregex++] = c;
            continue;
        }
        if (owner->regex) {
            continue;
        }
        s[nstatic].clcf = c;
        s[nstatic].order = i;
        nstatic++;
    }
    if (nstatic > 1) {
        qsort(s, nstatic, sizeof(*s), bw_http_location_sort_cmp);
    }
    return bw_http_location_entries_fill(tree, s, nstatic, dup);
}

bw_rc_t
bw_http_location_tree_init(bw_pool_t *pool, bw_http_core_loc_conf_t *clcf, bw_array_t *named,
                           bw_http_core_loc_conf_t **dup)
{
    bw_http_location_tree_t *tree = clcf->locations;

    if (tree == NULL) {
        return BW_OK;
    }
    bw_rc_t rc = bw_http_location_level_init(pool, clcf, named, dup);
    if (rc != BW_OK) {
        return rc;
    }
    bw_http_core_loc_conf_t **child = tree->children.elts;
    for (size_t i = 0; i < tree->children.nelts; i++) {
        if (child[i]->noname || child[i]->named) {
            continue;
        }
        rc = bw_http_location_tree_init(pool, child[i], NULL, dup);
        if (rc != BW_OK) {
            return rc;
        }
    }
    return BW_OK;
}

/* Compares an entry's name with uri followed by `extra` (0: nothing). */
static int
bw_http_location_key_cmp(const bw_str_t *name, const bw_str_t *uri, u_char extra)
{
    size_t klen = uri->len + (extra ? 1 : 0);
    size_t n = bw_min(name->len, uri->len);
    int    rc = n ? memcmp(name->data, uri->data, n) : 0;

    if (rc != 0) {
        return rc;
    }
    if (extra && name->len > uri->len) {
        rc = (int) name->data[uri->len] - (int) extra;
        if (rc != 0) {
            return rc;
        }
    }
    return name->len < klen ? -1 : (name->len > klen ? 1 : 0);
}

/* Index of the greatest entry <= uri + extra, or -1. */
static bw_int_t
bw_http_location_floor(const bw_http_location_tree_t *tree, const bw_str_t *uri, u_char extra)
{
    bw_int_t lo = 0, hi = (bw_int_t) tree->nentries - 1, found = -1;

    while (lo <= hi) {
        bw_int_t mid = lo + (hi - lo) / 2;
        if (bw_http_location_key_cmp(&tree->entries[mid].name, uri, extra) <= 0) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/*
 * The static part of one level: BW_OK for an exact match, BW_AGAIN for a
 * prefix match (nested locations to search), BW_DONE for an auto_redirect
 * location named uri + "/", BW_DECLINED for none. *clcf is set unless
 * BW_DECLINED.
 */
static bw_rc_t
bw_http_location_find_static(const bw_http_location_tree_t *tree, const bw_str_t *uri,
                             bw_http_core_loc_conf_t **clcf)
{
    bw_int_t i = bw_http_location_floor(tree, uri, 0);

    if (i >= 0 && bw_str_eq(&tree->entries[i].name, uri)) {
        const bw_http_location_entry_t *e = &tree->entries[i];
        *clcf = e->exact ? e->exact : e->inclusive;
        return e->exact ? BW_OK : BW_AGAIN;
    }
    bw_int_t r = bw_http_location_floor(tree, uri, '/');
    if (r >= 0 && tree->entries[r].auto_redirect
        && bw_http_location_key_cmp(&tree->entries[r].name, uri, '/') == 0) {
        const bw_http_location_entry_t *e = &tree->entries[r];
        *clcf = e->exact ? e->exact : e->inclusive;
        return BW_DONE;
    }
    for (; i >= 0; i = tree->entries[i].parent) {
        const bw_http_location_entry_t *e = &tree->entries[i];
        if (e->inclusive && bw_http_location_is_prefix(&e->name, uri->data, uri->len)) {
            *clcf = e->inclusive;
            return BW_AGAIN;
        }
    }
    return BW_DECLINED;
}

/* One level of the search; see location.h. Returns OK/DONE/AGAIN/DECLINED/ERROR. */
static bw_rc_t
bw_http_location_find_level(bw_http_core_loc_conf_t **clcf, const bw_str_t *uri,
                            bw_http_location_regex_fn match, void *data)
{
    const bw_http_location_tree_t *tree = (*clcf)->locations;
    bool                           noregex = false;
    bw_rc_t                        rc;

    if (tree == NULL) {
        return BW_DECLINED;
    }
    rc = bw_http_location_find_static(tree, uri, clcf);
    if (rc == BW_AGAIN) {
        noregex = (*clcf)->noregex;
        rc = bw_http_location_find_level(clcf, uri, match, data);
    }
    if (rc == BW_OK || rc == BW_DONE || rc == BW_ERROR) {
        return rc;
    }
    if (noregex || tree->nregex == 0) {
        return rc;
    }
    for (size_t i = 0; i < tree->nregex; i++) {
        bw_rc_t m = match(data, tree->regex[i], uri);
        if (m == BW_DECLINED) {
            continue;
        }
        if (m != BW_OK) {
            return BW_ERROR;
        }
        *clcf = tree->regex[i];
        rc = bw_http_location_find_level(clcf, uri, match, data);
        return rc == BW_ERROR ? BW_ERROR : BW_OK;
    }
    return rc;
}

bw_rc_t
bw_http_location_find(bw_http_core_loc_conf_t **clcf, const bw_str_t *uri,
                      bw_http_location_regex_fn match, void *data)
{
    bw_rc_t rc = bw_http_location_find_level(clcf, uri, match, data);

    if (rc == BW_DONE || rc == BW_ERROR) {
        return rc;
    }
    return BW_OK;
}

bw_http_core_loc_conf_t *
bw_http_location_find_named(bw_http_core_srv_conf_t *cscf, const bw_str_t *name)
{
    bw_http_core_loc_conf_t **named = cscf->named_locations.elts;

    for (size_t i = 0; named && i < cscf->named_locations.nelts; i++) {
        if (bw_str_eq(&named[i]->name, name)) {
            return named[i];
        }
    }
    return NULL;
}
