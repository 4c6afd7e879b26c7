/*
 * phases.c -- the request phase engine and the output filter chains.
 *
 * The engine is one flat array built at configuration time from the HTTP
 * modules' phase hooks in module order, plus the core's own steps (find
 * config, post rewrite, post access). Each entry has a checker that runs
 * its handler and decides where to go next: a checker returns BW_AGAIN to
 * go on with r->phase_handler, or BW_OK when the request left the engine
 * (finalized, waiting for I/O, or redirected). The log phase is not part of
 * the array: bw_http_log_request() runs it when the request ends.
 *
 * Filter chains: each module's successor is the next module in list order
 * that has a filter of the same kind (http.h); the body chain's head is what
 * bw_http_output_filter() calls (header_filter.c finds the header chain's).
 */
#include "core_internal.h"

#include "location.h"
#include "pool.h"
#include "variables.h"

#include <stdlib.h>

typedef struct bw_http_phase_handler_s bw_http_phase_handler_t;
typedef bw_int_t (*bw_http_phase_checker_fn)(bw_http_request_t *r, bw_http_phase_handler_t *ph);

struct bw_http_phase_handler_s {
    bw_http_phase_checker_fn checker; /* NULL ends the array */
    bw_http_handler_fn       handler;
    bw_int_t                 next;    /* first entry of the next phase (post_rewrite:
                                         the find-config entry) */
};

typedef struct {
    bw_http_phase_handler_t *handlers;
    bw_int_t                 first[BW_HTTP_PHASES_N]; /* first entry of each phase */
    bw_http_handler_fn      *log;                     /* log phase handlers, in order */
    size_t                   nlog;
} bw_http_phase_engine_t;

#define BW_HTTP_MAX_URI_CHANGES 10

static bw_http_phase_engine_t *
bw_http_phase_engine(bw_http_request_t *r)
{
    bw_http_core_main_conf_t *cmcf = bw_http_get_main_conf(r, bw_http_core_module);
    return cmcf->phase_engine;
}

/* ---- checkers ---- */

static bw_int_t
bw_http_phase_generic(bw_http_request_t *r, bw_http_phase_handler_t *ph)
{
    bw_int_t rc = ph->handler(r);

    if (rc == BW_OK) {
        r->phase_handler = ph->next;
        return BW_AGAIN;
    }
    if (rc == BW_DECLINED) {
        r->phase_handler++;
        return BW_AGAIN;
    }
    if (rc == BW_AGAIN || rc == BW_DONE) {
        return BW_OK;
    }
    bw_http_finalize_request(r, rc);
    return BW_OK;
}

/* Server rewrite and rewrite: only DECLINED goes on within the phase. */
static bw_int_t
bw_http_phase_rewrite(bw_http_request_t *r, bw_http_phase_handler_t *ph)
{
    bw_int_t rc = ph->handler(r);

    if (rc == BW_DECLINED) {
        r->phase_handler++;
        return BW_AGAIN;
    }
    if (rc == BW_DONE) {
        return BW_OK;
    }
    bw_http_finalize_request(r, rc);
    return BW_OK;
}

/* Location for "dir" 301 → "dir/": the location's name, URI-escaped, plus ?args. */
static bw_int_t
bw_http_phase_slash_redirect(bw_http_request_t *r, bw_http_core_loc_conf_t *clcf)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t            len = clcf->name.len * 3 + 1 + r->args.len;
    u_char           *p = bw_pnalloc(r->pool, len), *d = p;

    if (p == NULL) {
        return BW_ERROR;
    }
    for (size_t i = 0; i < clcf->name.len; i++) {
        u_char c = clcf->name.data[i];
        if (c <= 0x20 || c >= 0x7f || c == '#' || c == '%' || c == '?' || c == '"') {
            *d++ = '%';
            *d++ = (u_char) hex[c >> 4];
            *d++ = (u_char) hex[c & 0xf];
        } else {
            *d++ = c;
        }
    }
    if (r->args.len) {
        *d++ = '?';
        memcpy(d, r->args.data, r->args.len);
        d += r->args.len;
    }
    bw_str_t key = bw_string("Location"), value = {(size_t) (d - p), p};
    r->headers_out.location = bw_http_add_header_out(r, &key, &value);
    if (r->headers_out.location == NULL) {
        return BW_ERROR;
    }
    return 301;
}

static bw_int_t
bw_http_phase_find_config(bw_http_request_t *r, bw_http_phase_handler_t *ph)
{
    r->content_handler = NULL;
    r->uri_changed = 0;

    bw_rc_t rc = bw_http_core_find_location(r);
    if (rc == BW_ERROR) {
        bw_http_finalize_request(r, 500);
        return BW_OK;
    }
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    if (!r->internal && clcf->internal) {
        bw_http_finalize_request(r, 404);
        return BW_OK;
    }
    bw_log_debug(r->connection->log, "using configuration \"%s%.*s\"",
                 clcf->exact_match ? "=" : (clcf->regex ? "~" : ""), BW_STR_ARG(clcf->name));
    bw_http_update_location_config(r);

    if (r->headers_in.content_length_n != -1 && !r->discard_body && clcf->client_max_body_size
        && clcf->client_max_body_size < r->headers_in.content_length_n) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                     "client intended to send too large body: %lld bytes",
                     (long long) r->headers_in.content_length_n);
        r->expect_tested = 1;
        (void) bw_http_discard_request_body(r);
        bw_http_finalize_request(r, 413);
        return BW_OK;
    }
    if (rc == BW_DONE) {
        bw_http_finalize_request(r, bw_http_phase_slash_redirect(r, clcf));
        return BW_OK;
    }
    r->phase_handler++;
    return BW_AGAIN;
}

static bw_int_t
bw_http_phase_post_rewrite(bw_http_request_t *r, bw_http_phase_handler_t *ph)
{
    if (!r->uri_changed) {
        r->phase_handler++;
        return BW_AGAIN;
    }
    /* uri_changes starts at 11: ten changes are allowed, the eleventh fails. */
    if (r->uri_changes > 0) {
        r->uri_changes--;
    }
    if (r->uri_changes == 0) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                     "rewrite or internal redirection cycle while processing \"%.*s\"",
                     BW_STR_ARG(r->uri));
        bw_http_finalize_request(r, 500);
        return BW_OK;
    }
    r->phase_handler = ph->next;
    r->loc_conf = bw_http_core_srv(r)->ctx->loc_conf;
    return BW_AGAIN;
}

static bw_int_t
bw_http_phase_access(bw_http_request_t *r, bw_http_phase_handler_t *ph)
{
    if (r != r->main) {
        r->phase_handler = ph->next; /* subrequests inherit the main request's verdict */
        return BW_AGAIN;
    }
    bw_int_t rc = ph->handler(r);
    if (rc == BW_DECLINED) {
        r->phase_handler++;
        return BW_AGAIN;
    }
    if (rc == BW_AGAIN || rc == BW_DONE) {
        return BW_OK;
    }
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    if (clcf->satisfy == 0) { /* all */
        if (rc == BW_OK) {
            r->phase_handler++;
            return BW_AGAIN;
        }
    } else { /* any */
        if (rc == BW_OK) {
            r->access_code = 0;
            if (r->headers_out.www_authenticate) {
                r->headers_out.www_authenticate->hash = 0;
            }
            r->phase_handler = ph->next;
            return BW_AGAIN;
        }
        if (rc == 403 || rc == 401) {
            if (r->access_code != 401) {
                r->access_code = (bw_uint_t) rc;
            }
            r->phase_handler++;
            return BW_AGAIN;
        }
    }
    bw_http_finalize_request(r, rc);
    return BW_OK;
}

static bw_int_t
bw_http_phase_post_access(bw_http_request_t *r, bw_http_phase_handler_t *ph)
{
    bw_uint_t code = r->access_code;

    if (code) {
        r->access_code = 0;
        if (code == 403) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0, "access forbidden by rule");
        }
        bw_http_finalize_request(r, (bw_int_t) code);
        return BW_OK;
    }
    r->phase_handler++;
    return BW_AGAIN;
}

/* No content handler took the request: 403 for a directory, 404 otherwise. */
static bw_int_t
bw_http_phase_no_content(bw_http_request_t *r)
{
    if (r->uri.len && r->uri.data[r->uri.len - 1] == '/') {
        bw_str_t path;
        size_t   root;
        if (bw_http_map_uri_to_path(r, &path, &root, 0) != NULL) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                         "directory index of \"%s\" is forbidden", (char *) path.data);
        }
        return 403;
    }
    bw_log_error(BW_LOG_ERR, r->connection->log, 0, "no handler found");
    return 404;
}

static bw_int_t
bw_http_phase_content(bw_http_request_t *r, bw_http_phase_handler_t *ph)
{
    if (r->content_handler) {
        r->write_event_handler = bw_http_request_empty_handler;
        bw_http_finalize_request(r, r->content_handler(r));
        return BW_OK;
    }
    bw_int_t rc = ph->handler ? ph->handler(r) : BW_DECLINED;
    if (rc != BW_DECLINED) {
        bw_http_finalize_request(r, rc);
        return BW_OK;
    }
    if (ph[1].checker) {
        r->phase_handler++;
        return BW_AGAIN;
    }
    bw_http_finalize_request(r, bw_http_phase_no_content(r));
    return BW_OK;
}

/* ---- building the engine ---- */

static bw_http_phase_checker_fn
bw_http_phase_checker(bw_http_phase_t phase)
{
    switch (phase) {
    case BW_HTTP_SERVER_REWRITE_PHASE:
    case BW_HTTP_REWRITE_PHASE:
        return bw_http_phase_rewrite;
    case BW_HTTP_FIND_CONFIG_PHASE:
        return bw_http_phase_find_config;
    case BW_HTTP_POST_REWRITE_PHASE:
        return bw_http_phase_post_rewrite;
    case BW_HTTP_ACCESS_PHASE:
        return bw_http_phase_access;
    case BW_HTTP_POST_ACCESS_PHASE:
        return bw_http_phase_post_access;
    case BW_HTTP_CONTENT_PHASE:
        return bw_http_phase_content;
    default:
        return bw_http_phase_generic;
    }
}

/* The core owns these phases: one entry each, no module handlers. */
static bool
bw_http_phase_is_core(bw_http_phase_t phase)
{
    return phase == BW_HTTP_FIND_CONFIG_PHASE || phase == BW_HTTP_POST_REWRITE_PHASE
           || phase == BW_HTTP_POST_ACCESS_PHASE;
}

/* Calls fn for each module hook of `phase`, in module order; returns the count. */
static size_t
bw_http_phase_hooks(bw_http_phase_t phase, void (*fn)(void *data, bw_http_handler_fn h),
                    void *data)
{
    size_t n = 0;

    for (size_t i = 0; bw_modules[i]; i++) {
        const bw_http_module_t *h = bw_modules[i]->ctx;
        if (bw_modules[i]->type != BW_MODULE_HTTP || h == NULL || h->phases == NULL) {
            continue;
        }
        for (const bw_http_phase_hook_t *hook = h->phases; hook->handler; hook++) {
            if (hook->phase == phase) {
                if (fn) {
                    fn(data, hook->handler);
                }
                n++;
            }
        }
    }
    return n;
}

typedef struct {
    bw_http_phase_handler_t *ph;
    bw_http_phase_checker_fn checker;
} bw_http_phase_fill_t;

static void
bw_http_phase_fill(void *data, bw_http_handler_fn handler)
{
    bw_http_phase_fill_t *f = data;
    f->ph->checker = f->checker;
    f->ph->handler = handler;
    f->ph++;
}

static void
bw_http_phase_log_fill(void *data, bw_http_handler_fn handler)
{
    bw_http_handler_fn **slot = data;
    *(*slot)++ = handler;
}

bw_rc_t
bw_http_phases_init(bw_conf_t *cf, bw_http_core_main_conf_t *cmcf)
{
    bw_http_phase_engine_t *pe = bw_pcalloc(cf->pool, sizeof(bw_http_phase_engine_t));
    size_t                  total = 1; /* the terminating entry */

    if (pe == NULL) {
        return BW_ERROR;
    }
    for (int p = 0; p < BW_HTTP_LOG_PHASE; p++) {
        size_t n = bw_http_phase_is_core(p) ? 1 : bw_http_phase_hooks(p, NULL, NULL);
        total += (p == BW_HTTP_CONTENT_PHASE && n == 0) ? 1 : n;
    }
    pe->handlers = bw_pcalloc(cf->pool, total * sizeof(bw_http_phase_handler_t));
    pe->nlog = bw_http_phase_hooks(BW_HTTP_LOG_PHASE, NULL, NULL);
    pe->log = bw_pcalloc(cf->pool, (pe->nlog + 1) * sizeof(bw_http_handler_fn));
    if (pe->handlers == NULL || pe->log == NULL) {
        return BW_ERROR;
    }
    bw_http_phase_fill_t fill = {pe->handlers, NULL};
    for (int p = 0; p < BW_HTTP_LOG_PHASE; p++) {
        pe->first[p] = fill.ph - pe->handlers;
        fill.checker = bw_http_phase_checker(p);
        if (bw_http_phase_is_core(p)
            || (p == BW_HTTP_CONTENT_PHASE && bw_http_phase_hooks(p, NULL, NULL) == 0)) {
            bw_http_phase_fill(&fill, NULL); /* content without modules: 404 */
        } else {
            bw_http_phase_hooks(p, bw_http_phase_fill, &fill);
        }
    }
    pe->first[BW_HTTP_LOG_PHASE] = fill.ph - pe->handlers;
    /* Each entry's `next` is the first entry of the following phase. */
    for (int p = 0; p < BW_HTTP_LOG_PHASE; p++) {
        for (bw_int_t i = pe->first[p]; i < pe->first[p + 1]; i++) {
            pe->handlers[i].next = pe->first[p + 1];
        }
    }
    pe->handlers[pe->first[BW_HTTP_POST_REWRITE_PHASE]].next
        = pe->first[BW_HTTP_FIND_CONFIG_PHASE];
    bw_http_handler_fn *slot = pe->log;
    bw_http_phase_hooks(BW_HTTP_LOG_PHASE, bw_http_phase_log_fill, &slot);
    cmcf->phase_engine = pe;
    return BW_OK;
}

/* ---- running ---- */

void
bw_http_core_run_phases(bw_http_request_t *r)
{
    bw_http_phase_handler_t *ph = bw_http_phase_engine(r)->handlers;

    while (ph[r->phase_handler].checker) {
        if (ph[r->phase_handler].checker(r, &ph[r->phase_handler]) == BW_OK) {
            return;
        }
    }
}

void
bw_http_handler(bw_http_request_t *r)
{
    if (!r->internal) {
        r->phase_handler = 0;
        r->uri_changes = BW_HTTP_MAX_URI_CHANGES + 1;
        r->lingering_close = r->headers_in.content_length_n > 0 || r->headers_in.chunked;
    } else {
        r->phase_handler = bw_http_phase_engine(r)->first[BW_HTTP_SERVER_REWRITE_PHASE];
    }
    r->valid_location = 1;
    r->write_event_handler = bw_http_core_run_phases;
    bw_http_core_run_phases(r);
}

bw_int_t
bw_http_phase_index(bw_http_request_t *r, bw_http_phase_t phase)
{
    return bw_http_phase_engine(r)->first[phase];
}

void
bw_http_log_request(bw_http_request_t *r)
{
    if (r->main_conf == NULL) {
        return; /* failed before a server was known: nothing is configured to log */
    }
    bw_http_phase_engine_t *pe = bw_http_phase_engine(r);
    for (size_t i = 0; pe && i < pe->nlog; i++) {
        pe->log[i](r);
    }
}

/* ---- locations ---- */

static bw_rc_t
bw_http_phase_regex_match(void *data, bw_http_core_loc_conf_t *clcf, const bw_str_t *uri)
{
    return bw_regex_exec_request(data, clcf->regex, uri);
}

bw_rc_t
bw_http_core_find_location(bw_http_request_t *r)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);

    bw_rc_t rc = bw_http_location_find(&clcf, &r->uri, bw_http_phase_regex_match, r);
    if (rc != BW_ERROR) {
        r->loc_conf = clcf->loc_conf;
    }
    return rc;
}

void
bw_http_update_location_config(bw_http_request_t *r)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);

    if (clcf->limit_except && !(r->method & clcf->limit_except)) {
        r->loc_conf = clcf->limit_except_loc_conf;
        clcf = bw_http_core_loc(r);
    }
    if (r == r->main && clcf->error_log) {
        bw_log_t *log = r->connection->log;
        log->file = clcf->error_log->file;
        log->level = clcf->error_log->level;
        log->next = clcf->error_log->next;
    }
    if (clcf->handler) {
        r->content_handler = clcf->handler;
    }
}

/* ---- filter chains ---- */

bw_http_header_filter_fn *bw_http_header_next;
bw_http_body_filter_fn   *bw_http_body_next;

static bw_http_body_filter_fn   bw_http_top_body_filter;

/* After the last filter: nothing more to do. */
static bw_rc_t
bw_http_header_filter_end(bw_http_request_t *r)
{
    return BW_OK;
}

static bw_rc_t
bw_http_body_filter_end(bw_http_request_t *r, bw_chain_t *in)
{
    return BW_OK;
}

bw_rc_t
bw_http_filters_init(void)
{
    /* The chains depend on the module list only: built once, kept for the process. */
    if (bw_http_header_next == NULL) {
        bw_http_header_next = calloc(bw_modules_n + 1, sizeof(bw_http_header_filter_fn));
        bw_http_body_next = calloc(bw_modules_n + 1, sizeof(bw_http_body_filter_fn));
        if (bw_http_header_next == NULL || bw_http_body_next == NULL) {
            return BW_ERROR;
        }
    }
    bw_http_header_filter_fn header = bw_http_header_filter_end;
    bw_http_body_filter_fn   body = bw_http_body_filter_end;
    for (size_t i = bw_modules_n; i-- > 0;) {
        const bw_module_t      *m = bw_modules[i];
        const bw_http_module_t *h = m->type == BW_MODULE_HTTP ? m->ctx : NULL;

        bw_http_header_next[m->index] = header;
        bw_http_body_next[m->index] = body;
        if (h && h->header_filter) {
            header = h->header_filter;
        }
        if (h && h->body_filter) {
            body = h->body_filter;
        }
    }
    bw_http_top_body_filter = body;
    return BW_OK;
}

/*
 * bw_http_send_header() (the header chain's head) is defined by the request
 * engine in header_filter.c; bulwark's body chain head is here.
 */
bw_rc_t
bw_http_output_filter(bw_http_request_t *r, bw_chain_t *in)
{
    bw_rc_t rc = bw_http_top_body_filter(r, in);

    if (rc == BW_ERROR) {
        r->connection->error = 1;
    }
    return rc;
}
