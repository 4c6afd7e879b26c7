/*
 * request_internal.h -- state and functions the request engine's files
 * share among themselves (request.c, request_head.c, request_log.c,
 * request_body.c, header_filter.c, write_filter.c, special_response.c,
 * modules/chunked.c). Nothing outside those files should include it:
 * modules use request.h.
 */
#ifndef BW_REQUEST_INTERNAL_H
#define BW_REQUEST_INTERNAL_H

#include "core_module.h"
#include "parse.h"
#include "request.h"

/* Which stub_status counter a connection is counted in (hc->stat). */
typedef enum {
    BW_HTTP_STAT_NONE = 0,
    BW_HTTP_STAT_READING,    /* reading a request head */
    BW_HTTP_STAT_WRITING,    /* a request past its head */
    BW_HTTP_STAT_WAITING,    /* idle: before the first request or between two */
} bw_http_stat_t;

/*
 * An accepted HTTP connection, in c->pool; c->data points at it for the
 * connection's whole life. It outlives its requests: on keep-alive only
 * this (and the connection pool's first block) stays allocated.
 */
typedef struct {
    bw_connection_t   *connection;
    bw_http_request_t *request;    /* the current request; NULL while idle */
    bw_conf_ctx_t      conf;       /* the default server of the listening address */

    bw_buf_t         **busy;       /* large buffers of the current request (head, body) */
    bw_uint_t          nbusy;

    bw_msec_t          start_msec; /* accept time (monotonic): keepalive_time */
    bw_msec_t          lingering_deadline; /* monotonic end of lingering close */
    bw_msec_t          lingering_timeout;  /* wait for each piece while lingering */

    unsigned           stat:2;     /* bw_http_stat_t */
    unsigned           pipeline:1; /* the current request was read from leftover bytes */
    unsigned           nopush:1;   /* TCP_CORK is set */
} bw_http_connection_t;

/* The head parser's state, in r->pool while the head is read (r->head). */
typedef struct {
    bw_http_request_line_t line;
    bw_http_header_line_t  header;
    bool                   in_headers;  /* the request line is done */
    u_char                *counted;     /* in r->header_in: head bytes before it are in
                                           r->request_length ($request_length) */
} bw_http_head_t;

/* ---- counters (bw_http_stats, request.h) ---- */

#define bw_http_stat_inc(field) __atomic_fetch_add(&bw_http_stats->field, 1, __ATOMIC_RELAXED)
#define bw_http_stat_dec(field) __atomic_fetch_sub(&bw_http_stats->field, 1, __ATOMIC_RELAXED)

/* Moves hc from its current counter (reading/writing/waiting) to `to`. */
void bw_http_stat_set(bw_http_connection_t *hc, bw_http_stat_t to);

/* ---- request.c ---- */

/* Drops one reference of r (r->count); at zero, logs, frees it and closes the
 * connection. */
void bw_http_close_request(bw_http_request_t *r, bw_int_t rc);
/* Ends r at once whatever holds it (errors, timeouts): logs with status rc
 * when nothing was sent, closes the connection (with RST after a timeout
 * when reset_timedout_connection is on). */
void bw_http_terminate_request(bw_http_request_t *r, bw_int_t rc);
/*
 * A large header buffer (large_client_header_buffers size) for the current
 * head, counted in hc->busy: allocated while fewer than the configured
 * number are busy. `force` ignores that limit (a
 * buffer for body bytes read after the head; a few at most). Released when
 * the connection goes idle, or kept for a pipelined request that starts in
 * it. NULL when none is available.
 */
bw_buf_t *bw_http_large_buffer_get(bw_http_connection_t *hc, bool force);
/* Whether keep-alive is still allowed for r by the location's settings
 * (keepalive_timeout, keepalive_requests, keepalive_time, keepalive_disable). */
bool bw_http_keepalive_allowed(bw_http_request_t *r);
/* The "Server"/error-page signature for the location: "bulwark/<version>" or
 * "bulwark" (server_tokens off). */
const bw_str_t *bw_http_server_signature(bw_http_request_t *r);
/* The core server configuration in hc->conf: the address's default server
 * (or the one TLS SNI chose) until the request names its virtual server;
 * buffer sizes and client_header_timeout come from it. */
bw_http_core_srv_conf_t *bw_http_hc_srv(bw_http_connection_t *hc);
/* The head of r is read and checked: sets keep-alive from the request, runs
 * the TLS request hook, and hands r to the phase engine. */
void bw_http_process_request(bw_http_request_t *r);

/* ---- request_head.c ---- */

/* Read handler while the head is read: a timeout ends the request with 408,
 * otherwise bw_http_head_process(). */
void bw_http_head_handler(bw_http_request_t *r);
/* Parses the head from r->header_in, reading more as the socket allows;
 * once complete calls bw_http_process_request(), on a bad head finalizes r
 * with the status to answer (414, 494, 400, 405, 501, ...). */
void bw_http_head_process(bw_http_request_t *r);

/* ---- request_log.c ---- */

/* The connection's bw_log_t handler (log->data is the bw_http_connection_t):
 * appends ", client: ..., server: ..., request: "...", host: "..."" to a
 * message; nothing for an idle keep-alive connection. Returns bytes written. */
size_t bw_http_log_context(bw_log_t *log, u_char *buf, size_t len);
/* The end of the line starting at p (its CR or LF), at most last. */
u_char *bw_http_line_end(u_char *p, u_char *last);
/* Logs a header line at info as `what: "line"`, escaped, with "..." when
 * `cut` or when it is longer than the logged bound. */
void bw_http_log_header_line(bw_http_request_t *r, const char *what, const u_char *start,
                             const u_char *end, bool cut);

/* ---- request_body.c ---- */

/* Read handler while a body is discarded after the response (keep-alive). */
void bw_http_discarded_body_handler(bw_http_request_t *r);

/* ---- write_filter.c ---- */

/* The last body filter: queues `in` and writes what it can to the socket.
 * BW_OK (all sent or held back by postpone_output), BW_AGAIN (r->buffered:
 * wait for the socket), BW_ERROR (c->error set). The header filter calls it
 * directly with the serialised head. */
bw_rc_t bw_http_write_filter(bw_http_request_t *r, bw_chain_t *in);
/* Releases TCP_CORK if the write filter set it (before keep-alive). */
void bw_http_write_uncork(bw_connection_t *c);

/* The modules this engine defines. */
extern bw_module_t bw_http_header_filter_module;
extern bw_module_t bw_http_write_filter_module;
extern bw_module_t bw_chunked_module;

#endif
