/*
 * http.h -- the HTTP layer's module interface: phases, handlers, filters,
 * and access to a request's per-module configuration.
 *
 * An HTTP module is a bw_module_t of type BW_MODULE_HTTP whose ctx points
 * at a bw_http_module_t. Order in modules/modules.cmake is execution order:
 * phase handlers of one phase run in list order, and the header and body
 * filter chains run in list order (the first listed filter sees the
 * response first; the last ones serialise and write it).
 */
#ifndef BW_HTTP_H
#define BW_HTTP_H

#include "buf.h"
#include "conf.h"
#include "module.h"

typedef struct bw_http_request_s bw_http_request_t;

/* Request processing phases, in order. */
typedef enum {
    BW_HTTP_POST_READ_PHASE = 0, /* realip */
    BW_HTTP_SERVER_REWRITE_PHASE,/* rewrite directives at server level */
    BW_HTTP_FIND_CONFIG_PHASE,   /* core: location lookup (no module handlers) */
    BW_HTTP_REWRITE_PHASE,       /* rewrite directives in the location */
    BW_HTTP_POST_REWRITE_PHASE,  /* core: restart location lookup after a URI change */
    BW_HTTP_PREACCESS_PHASE,     /* limit_req, limit_conn */
    BW_HTTP_ACCESS_PHASE,        /* allow/deny, auth, WAF */
    BW_HTTP_POST_ACCESS_PHASE,   /* core: satisfy any/all result */
    BW_HTTP_PRECONTENT_PHASE,    /* try_files, mirror */
    BW_HTTP_CONTENT_PHASE,       /* static, index, autoindex, proxy, return... */
    BW_HTTP_LOG_PHASE,           /* access_log */
    BW_HTTP_PHASES_N
} bw_http_phase_t;

/*
 * A phase handler returns:
 *   BW_DECLINED  not mine: run the next handler of the phase
 *   BW_OK        this phase is done: go to the next phase
 *   BW_AGAIN     waiting for I/O: the handler resumes the request itself
 *   BW_DONE      the request was taken over (e.g. finalized already)
 *   BW_ERROR     finalize with 500
 *   >= 100       finalize with this HTTP status (error_page applies)
 * A content handler (location's) returns the same codes.
 */
typedef bw_int_t (*bw_http_handler_fn)(bw_http_request_t *r);
typedef bw_rc_t (*bw_http_header_filter_fn)(bw_http_request_t *r);
typedef bw_rc_t (*bw_http_body_filter_fn)(bw_http_request_t *r, bw_chain_t *in);

typedef struct {
    bw_http_phase_t    phase;
    bw_http_handler_fn handler;
} bw_http_phase_hook_t; /* a module's list ends with {0, NULL} */

typedef struct {
    /* Before the http{} body is parsed: register variables. */
    bw_rc_t (*preconfiguration)(bw_conf_t *cf);
    /* After every server and location was merged. */
    bw_rc_t (*postconfiguration)(bw_conf_t *cf);

    void       *(*create_main)(bw_conf_t *cf);
    const char *(*init_main)(bw_conf_t *cf, void *conf);
    void       *(*create_srv)(bw_conf_t *cf);
    const char *(*merge_srv)(bw_conf_t *cf, void *prev, void *conf);
    void       *(*create_loc)(bw_conf_t *cf);
    const char *(*merge_loc)(bw_conf_t *cf, void *prev, void *conf);

    const bw_http_phase_hook_t *phases;
    bw_http_header_filter_fn    header_filter;
    bw_http_body_filter_fn      body_filter;
} bw_http_module_t;

/*
 * Filter chains: a filter passes the response on with
 *   return bw_http_next_header_filter(r, bw_gzip_module);
 *   return bw_http_next_body_filter(r, bw_gzip_module, out);
 * The core fills the successor tables from the module order at startup.
 */
extern bw_http_header_filter_fn *bw_http_header_next; /* by module index */
extern bw_http_body_filter_fn   *bw_http_body_next;
#define bw_http_next_header_filter(r, m)   bw_http_header_next[(m).index](r)
#define bw_http_next_body_filter(r, m, in) bw_http_body_next[(m).index]((r), (in))
/* The chain heads: what the content handlers call. */
bw_rc_t bw_http_send_header(bw_http_request_t *r);
bw_rc_t bw_http_output_filter(bw_http_request_t *r, bw_chain_t *in);

/* Per-module configuration of a request, or at config time of a block. */
#define bw_http_get_main_conf(r, m) ((r)->main_conf[(m).index])
#define bw_http_get_srv_conf(r, m)  ((r)->srv_conf[(m).index])
#define bw_http_get_loc_conf(r, m)  ((r)->loc_conf[(m).index])
#define bw_http_conf_get_main_conf(cf, m) ((cf)->ctx->main_conf[(m).index])
#define bw_http_conf_get_srv_conf(cf, m)  ((cf)->ctx->srv_conf[(m).index])
#define bw_http_conf_get_loc_conf(cf, m)  ((cf)->ctx->loc_conf[(m).index])
/* Per-module request state. */
#define bw_http_get_ctx(r, m)       ((r)->ctx[(m).index])
#define bw_http_set_ctx(r, c, m)    ((r)->ctx[(m).index] = (c))

#endif
