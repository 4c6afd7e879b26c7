/*
 * proxy_internal.h -- what the proxy module's files share (private to
 * modules/proxy.c and modules/proxy_cookie.c): the location configuration,
 * its rule type, and the proxy_cookie_domain / proxy_cookie_path entry
 * points (directive setter, Set-Cookie rewrite hook).
 */
#ifndef BW_PROXY_INTERNAL_H
#define BW_PROXY_INTERNAL_H

#include "array.h"
#include "conf.h"
#include "regex.h"
#include "request.h"
#include "script.h"
#include "upstream.h"
#include "variables.h"

#include <stddef.h>

extern bw_module_t bw_proxy_module;

/* One proxy_redirect, proxy_cookie_domain or proxy_cookie_path rule. */
typedef struct {
    bw_http_complex_value_t *pattern;     /* prefix (static or with variables) */
    bw_regex_t              *regex;       /* or a regex (~, ~*) */
    bw_http_complex_value_t *replacement;
} bw_proxy_redirect_t;

/* The target of proxy_pass, fixed at configuration or evaluated per request. */
typedef struct {
    bw_str_t host_header; /* $proxy_host: "host" or "host:port" */
    bw_str_t port;        /* $proxy_port */
    bw_str_t uri;         /* URI part; empty when none */
    bw_str_t url;         /* "http://host:port/uri" as written */
} bw_proxy_vars_t;

typedef struct {
    bw_upstream_conf_t       upstream;

    bw_str_t                 url;       /* proxy_pass argument; data NULL when unset */
    bw_http_complex_value_t *url_cv;    /* proxy_pass with variables */
    bw_proxy_vars_t          vars;
    bw_str_t                 location;  /* the location holding proxy_pass */

    bw_array_t              *headers_source; /* bw_proxy_header_t: proxy_set_header */
    bw_array_t              *headers;        /* merged with the defaults */
    bw_http_complex_value_t *body;           /* proxy_set_body */
    bw_http_complex_value_t *method;         /* proxy_method */
    bw_uint_t                http_version;   /* BW_HTTP_VERSION_10 / _11 */
    bw_int_t                 redirect;       /* proxy_redirect: 1 on (rules/default), 0 off */
    bw_array_t              *redirects;      /* bw_proxy_redirect_t; NULL: default */
    bw_uint_t                headers_hash_max_size;
    bw_uint_t                headers_hash_bucket_size;
    bw_array_t              *cookie_domains; /* bw_proxy_redirect_t; NULL: off */
    bw_array_t              *cookie_paths;   /* bw_proxy_redirect_t; NULL: off */
} bw_proxy_loc_conf_t;

#define BW_PROXY_OFF(f) offsetof(bw_proxy_loc_conf_t, f)

static inline bw_proxy_loc_conf_t *
bw_proxy_loc(bw_http_request_t *r)
{
    return bw_http_get_loc_conf(r, bw_proxy_module);
}

/*
 * proxy_cookie_domain / proxy_cookie_path setter (d->offset names the rule
 * list in bw_proxy_loc_conf_t). BW_CONF_OK or an error string.
 */
const char *bw_proxy_set_cookie_rule(bw_conf_t *cf, const bw_directive_t *d, void *conf);

/*
 * The upstream core's hook for Set-Cookie: rewrites h->value's domain and
 * path attributes by the location's rules. BW_OK rewritten, BW_DECLINED
 * unchanged, BW_ERROR on no memory.
 */
bw_rc_t bw_proxy_rewrite_cookie(bw_http_request_t *r, bw_http_header_t *h);

#endif /* BW_PROXY_INTERNAL_H */
