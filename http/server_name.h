/*
 * server_name.h -- the server names of one listening address:port and the
 * virtual-server search nginx documents:
 *
 *   1. exact name ("example.com", "" for requests without a host);
 *   2. longest wildcard starting with an asterisk ("*.example.com");
 *   3. longest wildcard ending with an asterisk ("mail.*");
 *   4. first matching regular expression ("~^www\d+\."), in config order.
 *   (The caller falls back to the address's default server.)
 *
 * ".example.com" is both the exact "example.com" and "*.example.com".
 * Names are added in configuration order; a name whose key another server
 * (or the same one) already took is refused whole (BW_BUSY: nginx warns
 * "conflicting server name ... ignored"), and a malformed wildcard is
 * BW_DECLINED ("invalid server name or wildcard").
 *
 * Structure: three open-addressing hash tables keyed by lowercase bytes
 * (exact names, leading-wildcard suffixes "example.com", trailing-wildcard
 * prefixes "mail") and the regex list. A lookup costs one probe for the
 * exact name, then one probe per dot of the host for each wildcard kind
 * (longest candidate first), then the regexes in order.
 *
 * Pure configuration data: the regex test is a callback, so the request
 * code (which stores captures) and unit tests share the search.
 */
#ifndef BW_HTTP_SERVER_NAME_H
#define BW_HTTP_SERVER_NAME_H

#include "core_module.h"

typedef struct bw_http_server_names_s bw_http_server_names_t;

/* Tests host against a regex server name: BW_OK match, BW_DECLINED, or BW_ERROR. */
typedef bw_rc_t (*bw_http_server_name_regex_fn)(void *data, const bw_http_server_name_t *sn,
                                                const bw_str_t *host);

/* An empty table in `pool`; NULL on no memory. */
bw_http_server_names_t *bw_http_server_names_create(bw_pool_t *pool);

/*
 * Adds one server_name entry (its name already lowercased unless it is a
 * regex, which sn->regex marks). Returns BW_OK, BW_BUSY (conflict: nothing
 * added), BW_DECLINED (not a valid name or wildcard), or BW_ERROR.
 */
bw_rc_t bw_http_server_names_add(bw_http_server_names_t *names, const bw_http_server_name_t *sn);

/*
 * Finds the server for `host` (lowercase, without port). Returns BW_OK with
 * *server set, BW_DECLINED when no name matches, BW_ERROR when the regex
 * callback failed. On a regex match *matched (when not NULL) is the entry.
 */
bw_rc_t bw_http_server_names_find(const bw_http_server_names_t *names, const bw_str_t *host,
                                  bw_http_server_name_regex_fn match, void *data,
                                  bw_http_core_srv_conf_t **server,
                                  const bw_http_server_name_t **matched);

/* Number of names stored (exact + wildcard keys + regexes), for tests. */
size_t bw_http_server_names_count(const bw_http_server_names_t *names);

#endif
