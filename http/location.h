/*
 * location.h -- the location lookup structure of one level (a server, or a
 * location with nested locations) and the search nginx documents:
 *
 *   1. prefix locations ("= uri", "^~ uri", "uri"): an exact "=" match ends
 *      the search; otherwise the longest matching prefix is remembered and
 *      its own nested locations are searched the same way;
 *   2. unless that longest prefix has "^~", the regex locations ("~", "~*")
 *      of the level are tried in configuration order; the first match wins
 *      (and its nested locations are searched in turn);
 *   3. otherwise the longest prefix stays selected.
 *   A URI that lacks only the trailing slash of a prefix location marked
 *   auto_redirect (proxy_pass & co.) asks for a 301 to "uri/".
 *
 * Structure: per level, the prefix and exact locations are merged by name
 * into one array sorted bytewise (prefix matching is case-sensitive, as
 * nginx's on Linux). Each entry links to the longest other prefix location
 * that is a prefix of its name. A lookup binary-searches the greatest entry
 * <= the URI, which is either the longest matching prefix or extends it, and
 * walks those links until an entry is a prefix of the URI: O(log n) string
 * comparisons plus one per level of prefix nesting among siblings (usually
 * 0-2), each comparison O(name length). Regexes are a list, O(r) matches.
 *
 * This file is pure configuration data: the regex test is a callback, so
 * the request code (which stores captures for $1..$9) and unit tests share
 * the search.
 */
#ifndef BW_HTTP_LOCATION_H
#define BW_HTTP_LOCATION_H

#include "core_module.h"

typedef struct {
    bw_str_t                 name;
    bw_http_core_loc_conf_t *exact;     /* "= name", or NULL */
    bw_http_core_loc_conf_t *inclusive; /* "name" or "^~ name", or NULL */
    bw_int_t                 parent;    /* longest other entry with an inclusive location
                                           whose name is a proper prefix of name; -1: none */
    bool                     auto_redirect;
} bw_http_location_entry_t;

typedef struct {
    bw_array_t                children; /* bw_http_core_loc_conf_t *, in config order, of
                                           every kind (incl. if{}/limit_except{} confs) */
    bw_http_location_entry_t *entries;  /* built: exact and prefix locations by name */
    size_t                    nentries;
    bw_http_core_loc_conf_t **regex;    /* built: regex locations in config order */
    size_t                    nregex;
} bw_http_location_tree_t;

/*
 * Tests `uri` against a regex location: BW_OK when it matches, BW_DECLINED
 * when not, BW_ERROR to abort the search.
 */
typedef bw_rc_t (*bw_http_location_regex_fn)(void *data, bw_http_core_loc_conf_t *clcf,
                                             const bw_str_t *uri);

/* Records `child` under `parent` (config order). BW_OK or BW_ERROR (no memory). */
bw_rc_t bw_http_location_add(bw_pool_t *pool, bw_http_core_loc_conf_t *parent,
                             bw_http_core_loc_conf_t *child);

/*
 * Builds the lookup structures of `clcf`'s children and, recursively, of
 * theirs. Named locations found among the children are appended to `named`
 * (bw_http_core_loc_conf_t *) when it is not NULL. Returns BW_OK; BW_DECLINED
 * with *dup set to the later of two locations of the same kind and name
 * ("duplicate location"); BW_ERROR on no memory.
 */
bw_rc_t bw_http_location_tree_init(bw_pool_t *pool, bw_http_core_loc_conf_t *clcf,
                                   bw_array_t *named, bw_http_core_loc_conf_t **dup);

/*
 * Selects the location for `uri` below *clcf (a server's location conf):
 * *clcf is updated to the location chosen (left as is when none matches).
 * Returns BW_OK, BW_DONE when *clcf is an auto_redirect prefix location
 * that `uri` + "/" names (the caller answers 301), or BW_ERROR when the
 * regex callback failed.
 */
bw_rc_t bw_http_location_find(bw_http_core_loc_conf_t **clcf, const bw_str_t *uri,
                              bw_http_location_regex_fn match, void *data);

/* The named location "@name" of a server (name includes the '@'), or NULL. */
bw_http_core_loc_conf_t *bw_http_location_find_named(bw_http_core_srv_conf_t *cscf,
                                                     const bw_str_t *name);

#endif
