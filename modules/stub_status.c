/*
 * stub_status.c -- `stub_status`: a content handler showing the server's
 * connection counters in nginx's exact text, and the $connections_active,
 * $connections_reading, $connections_writing, $connections_waiting
 * variables.
 *
 * The counters are bw_conn_stats (event/conn.h): accepts, handled and
 * active are kept by the event layer, requests, reading, writing and
 * waiting by the http layer. The events module puts them in an anonymous
 * shared mapping in the master before any worker is forked, so every worker
 * adds to and reads the same numbers; the mapping is made once per master
 * process and kept across reloads, so the totals survive a reload as they
 * do in nginx.
 */
#include "core_module.h"
#include "cycle.h"
#include "pool.h"
#include "variables.h"

#include <stdio.h>

static bw_int_t bw_stub_status_handler(bw_http_request_t *r);
static bw_rc_t bw_stub_status_add_variables(bw_conf_t *cf);
static const char *bw_stub_status_set(bw_conf_t *cf, const bw_directive_t *d, void *conf);

static const bw_directive_t bw_stub_status_directives[] = {
    /* nginx takes an optional argument and ignores it ("stub_status off" enables it too) */
    {"stub_status", BW_CTX_SRV | BW_CTX_LOC, BW_ARGS_NOARGS | BW_ARGS_TAKE1, BW_CONF_NONE,
     bw_stub_status_set, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_stub_status_module_ctx = {
    .preconfiguration = bw_stub_status_add_variables,
};

bw_module_t bw_stub_status_module = {
    .name = "stub_status",
    .type = BW_MODULE_HTTP,
    .directives = bw_stub_status_directives,
    .ctx = &bw_stub_status_module_ctx,
};

#define bw_stub_status_load(field) __atomic_load_n(&bw_conn_stats->field, __ATOMIC_RELAXED)

/* ---- the page ---- */

static bw_int_t
bw_stub_status_handler(bw_http_request_t *r)
{
    static const char text_plain[] = "text/plain";

    if (!(r->method & (BW_HTTP_GET | BW_HTTP_HEAD))) {
        return 405;
    }
    bw_int_t rc = bw_http_discard_request_body(r);
    if (rc != BW_OK) {
        return rc;
    }
    size_t  size = sizeof("Active connections:  \n" "server accepts handled requests\n"
                          "    \n" "Reading:  Writing:  Waiting:  \n") + 7 * 20;
    bw_buf_t *b = bw_buf_create_temp(r->pool, size);
    if (b == NULL) {
        return BW_ERROR;
    }
    int n = snprintf((char *) b->last, size,
                     "Active connections: %llu \nserver accepts handled requests\n"
                     " %llu %llu %llu \nReading: %llu Writing: %llu Waiting: %llu \n",
                     (unsigned long long) bw_stub_status_load(active),
                     (unsigned long long) bw_stub_status_load(accepts),
                     (unsigned long long) bw_stub_status_load(handled),
                     (unsigned long long) bw_stub_status_load(requests),
                     (unsigned long long) bw_stub_status_load(reading),
                     (unsigned long long) bw_stub_status_load(writing),
                     (unsigned long long) bw_stub_status_load(waiting));
    if (n < 0 || (size_t) n >= size) {
        return BW_ERROR;
    }
    b->last += n;
    b->last_buf = r == r->main;
    b->last_in_chain = 1;

    r->headers_out.status = 200;
    r->headers_out.content_type.data = (u_char *) text_plain;
    r->headers_out.content_type.len = sizeof(text_plain) - 1;
    r->headers_out.content_type_len = sizeof(text_plain) - 1;
    r->headers_out.content_length_n = n;

    rc = bw_http_send_header(r);
    if (rc == BW_ERROR || rc > BW_OK || r->header_only) {
        return rc;
    }
    bw_chain_t *out = bw_chain_alloc_link(r->pool);
    if (out == NULL) {
        return BW_ERROR;
    }
    out->buf = b;
    out->next = NULL;
    return bw_http_output_filter(r, out);
}

/* ---- shared counters ---- */

/* ---- variables ---- */

static bw_rc_t
bw_stub_status_var(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    const uint64_t *field = (const uint64_t *) ((const u_char *) bw_conn_stats + data);
    uint64_t        n = __atomic_load_n(field, __ATOMIC_RELAXED);

    v->data = bw_pnalloc(r->pool, sizeof("18446744073709551615"));
    if (v->data == NULL) {
        return BW_ERROR;
    }
    v->len = (size_t) snprintf((char *) v->data, sizeof("18446744073709551615"), "%llu",
                               (unsigned long long) n);
    return BW_OK;
}

static const bw_http_variable_def_t bw_stub_status_variables[] = {
    {"connections_active", bw_stub_status_var, NULL, offsetof(bw_conn_stats_t, active),
     BW_HTTP_VAR_NOCACHEABLE},
    {"connections_reading", bw_stub_status_var, NULL, offsetof(bw_conn_stats_t, reading),
     BW_HTTP_VAR_NOCACHEABLE},
    {"connections_writing", bw_stub_status_var, NULL, offsetof(bw_conn_stats_t, writing),
     BW_HTTP_VAR_NOCACHEABLE},
    {"connections_waiting", bw_stub_status_var, NULL, offsetof(bw_conn_stats_t, waiting),
     BW_HTTP_VAR_NOCACHEABLE},
    {NULL, NULL, NULL, 0, 0},
};

static bw_rc_t
bw_stub_status_add_variables(bw_conf_t *cf)
{
    return bw_http_add_variables(cf, bw_stub_status_variables);
}

/* ---- configuration ---- */

static const char *
bw_stub_status_set(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = bw_http_conf_get_loc_conf(cf, bw_http_core_module);

    clcf->handler = bw_stub_status_handler;
    return BW_CONF_OK;
}
