/*
 * request.h -- an HTTP request: what was received, what will be sent, and
 * where it is in the phase engine. Lives in its own pool (r->pool), freed
 * when the request ends; the connection outlives it on keep-alive.
 *
 * Fields are grouped by who fills them. Modules that need more state keep
 * it in r->ctx[module index] (bw_http_set_ctx), not here.
 */
#ifndef BW_REQUEST_H
#define BW_REQUEST_H

#include "http.h"
#include "parse.h"
#include "conn.h"

#include <time.h>

/* Method bits (BW_HTTP_GET ...) and versions (BW_HTTP_VERSION_11) come from the parser. */

/* One header line. hash == 0 in headers_out marks a deleted entry. */
typedef struct bw_http_header_s bw_http_header_t;
struct bw_http_header_s {
    bw_uint_t         hash;          /* of the lowercase name (parser's hash) */
    bw_str_t          key;
    bw_str_t          value;
    u_char           *lowcase_key;
    bw_http_header_t *next;          /* next header with the same name */
};

typedef struct {
    bw_array_t        headers;       /* bw_http_header_t, in order received */

    /* Well-known headers (first occurrence; ->next links repeats). */
    bw_http_header_t *host;
    bw_http_header_t *connection;
    bw_http_header_t *if_modified_since;
    bw_http_header_t *if_unmodified_since;
    bw_http_header_t *if_match;
    bw_http_header_t *if_none_match;
    bw_http_header_t *user_agent;
    bw_http_header_t *referer;
    bw_http_header_t *content_length;
    bw_http_header_t *content_range;
    bw_http_header_t *content_type;
    bw_http_header_t *range;
    bw_http_header_t *if_range;
    bw_http_header_t *transfer_encoding;
    bw_http_header_t *te;
    bw_http_header_t *expect;
    bw_http_header_t *upgrade;
    bw_http_header_t *accept_encoding;
    bw_http_header_t *via;
    bw_http_header_t *authorization;
    bw_http_header_t *keep_alive;
    bw_http_header_t *x_forwarded_for;
    bw_http_header_t *x_real_ip;
    bw_http_header_t *cookie;
    bw_http_header_t *accept;
    bw_http_header_t *accept_language;

    bw_str_t          server;        /* host used for server_name lookup (lowercase, no port) */
    off_t             content_length_n; /* -1: none */
    time_t            keep_alive_n;
    unsigned          connection_type; /* 0, BW_HTTP_CONNECTION_CLOSE, _KEEP_ALIVE */
    bool              chunked;
    bool              msie;
    bool              opera;
    bool              gecko;
    bool              chrome;
    bool              safari;
    bool              konqueror;

    /* ---- added by the request engine (append only) ---- */
    bool              msie6;         /* MSIE 4/5/6 (keepalive_disable msie6) */
} bw_http_headers_in_t;

#define BW_HTTP_CONNECTION_CLOSE      1
#define BW_HTTP_CONNECTION_KEEP_ALIVE 2

typedef struct {
    bw_array_t        headers;       /* bw_http_header_t added by handlers and modules */
    bw_array_t        trailers;

    bw_uint_t         status;
    bw_str_t          status_line;   /* overrides the standard reason phrase when set */

    bw_http_header_t *server;
    bw_http_header_t *date;
    bw_http_header_t *content_length;
    bw_http_header_t *content_encoding;
    bw_http_header_t *location;
    bw_http_header_t *refresh;
    bw_http_header_t *last_modified;
    bw_http_header_t *content_range;
    bw_http_header_t *accept_ranges;
    bw_http_header_t *www_authenticate;
    bw_http_header_t *expires;
    bw_http_header_t *etag;
    bw_http_header_t *cache_control;
    bw_http_header_t *link;

    bw_str_t          content_type;  /* without charset */
    bw_str_t          charset;
    size_t            content_type_len; /* length of the type part before ';' */
    bw_str_t          content_type_lowcase;
    bw_uint_t         content_type_hash;

    off_t             content_length_n;  /* -1: unknown (chunked or close-delimited) */
    off_t             content_offset;    /* for range responses */
    time_t            date_time;
    time_t            last_modified_time; /* -1: none */
} bw_http_headers_out_t;

/* The request body as read so far: in memory buffers and/or a temp file. */
typedef struct {
    bw_chain_t       *bufs;          /* the body, for handlers that forward it */
    bw_buf_t         *buf;           /* current read buffer */
    off_t             rest;          /* bytes left to read (-1: unknown yet) */
    off_t             received;
    int               temp_fd;       /* -1 when the body did not spill */
    bw_str_t          temp_path;
    void            (*post_handler)(bw_http_request_t *r);
    void             *chunked;       /* parser state for chunked bodies */
} bw_http_request_body_t;

struct bw_http_request_s {
    bw_connection_t        *connection;
    bw_pool_t              *pool;
    bw_http_request_t      *main;    /* the main request (== r unless a subrequest) */
    bw_http_request_t      *parent;

    void                  **main_conf; /* selected by server, then location */
    void                  **srv_conf;
    void                  **loc_conf;
    void                  **ctx;       /* per-module state, by module index */
    /* The upstream's record, kept across internal redirects (which clear
     * ctx) for $upstream_* in the log: every attempt of every upstream the
     * request used (bw_upstream_state_t), and the last upstream. */
    bw_array_t             *upstream_states;
    void                   *upstream;

    /* ---- request line (parser, then normalisation) ---- */
    bw_uint_t               method;
    bw_str_t                method_name;
    bw_uint_t               http_version;  /* major*1000+minor */
    bw_str_t                http_protocol; /* "HTTP/1.1" */
    bw_str_t                request_line;
    bw_str_t                unparsed_uri;  /* request target as received */
    bw_str_t                uri;           /* decoded, normalised path: $uri */
    bw_str_t                args;          /* $args */
    bw_str_t                exten;         /* extension of uri's last segment */
    bw_str_t                schema;        /* absolute-form target */
    bw_str_t                host_in_line;  /* absolute-form target */

    bw_http_headers_in_t    headers_in;
    bw_http_headers_out_t   headers_out;
    bw_http_request_body_t *request_body;
    bw_buf_t               *header_in;     /* buffer holding the request head */

    /* ---- phase engine ---- */
    bw_int_t                phase_handler; /* index into the phase engine */
    bw_http_handler_fn      content_handler; /* location's (proxy_pass, return...) */
    unsigned                uri_changes;   /* internal redirects left (10 → 500) */
    unsigned                count;         /* references: finalize frees at 0 */
    bw_int_t                err_status;    /* status being sent by an error page */
    bw_uint_t               access_code;   /* access phase result for satisfy any */
    void                   *variables;     /* per-request variable cache (variables.c) */
    bw_str_t                request_id_text;

    void                  (*read_event_handler)(bw_http_request_t *r);
    void                  (*write_event_handler)(bw_http_request_t *r);

    /* ---- accounting ---- */
    time_t                  start_sec;
    unsigned                start_msec;
    bw_msec_t               start_monotonic;
    off_t                   request_length;   /* $request_length */
    off_t                   header_size;      /* bytes of the response head sent */
    bw_str_t               *server_name;      /* matched server_name ($server_name) */
    void                   *regex_captures;   /* last regex match data, for $1..$9 */
    bw_uint_t               ncaptures;

    /* ---- state bits ---- */
    unsigned                header_only:1;    /* HEAD, 204, 304 */
    unsigned                header_sent:1;
    unsigned                keepalive:1;
    unsigned                lingering_close:1;
    unsigned                internal:1;       /* after an internal redirect */
    unsigned                uri_changed:1;    /* rewrite changed the URI: find location again */
    unsigned                valid_location:1;
    unsigned                quoted_uri:1;
    unsigned                plus_in_uri:1;
    unsigned                complex_uri:1;
    unsigned                chunked:1;        /* response sent chunked */
    unsigned                expect_tested:1;
    unsigned                discard_body:1;
    unsigned                error_page:1;
    unsigned                filter_finalize:1;
    unsigned                allow_ranges:1;
    unsigned                single_range:1;
    unsigned                disable_not_modified:1;
    unsigned                gzip_ok:1;
    unsigned                logged:1;
    unsigned                buffered:1;       /* filters hold unsent data */
    unsigned                done:1;

    /* ---- added by the request engine (append only) ---- */
    void                   *http_connection;  /* bw_http_connection_t (request_internal.h);
                                                 c->data of a client connection is the same */
    void                   *head;             /* head parser state while the head is read */
    bw_msec_t               lingering_time;   /* monotonic deadline for a body being discarded */
    unsigned                reading_body:1;   /* bw_http_read_client_request_body in progress */
    unsigned                expect_trailers:1;/* a module will add headers_out.trailers */
    unsigned                request_complete:1; /* the whole response was handed to the socket */
    unsigned                terminated:1;     /* ended by an error or a timeout: no keep-alive */

    /* ---- added by the script helper (append only) ---- */
    size_t                  limit_rate;       /* `set $limit_rate`: overrides the location's
                                                 limit_rate when limit_rate_set */
    bw_msec_t               connection_start; /* monotonic accept time of the connection
                                                 ($connection_time); 0: unknown */
    unsigned                limit_rate_set:1;
    unsigned                pipeline:1;       /* read from bytes left by the previous
                                                 request ($pipe) */

    /* ---- added by the routing helper (append only) ---- */
    unsigned                add_uri_to_alias:1; /* try_files chose a file in a regex
                                                   location with alias: append r->uri */

    /* ---- added by the proxy helper (append only) ---- */
    /* Context a module adds to error-log lines about this request, after
     * "request: ..." and before "host: ..." (the upstream writes
     * ", upstream: "http://127.0.0.1:8080/uri"" as nginx does). Writes at
     * most len bytes into buf and returns how many; NULL: nothing. */
    size_t                (*log_handler)(bw_http_request_t *r, u_char *buf, size_t len);
};

/* The standard reason phrase for a status ("Not Found"), or NULL. */
const char *bw_http_status_text(bw_uint_t status);

/*
 * Ends the request with `rc`: a phase/handler code or an HTTP status.
 * Statuses >= 300 without a sent header produce the error page (error_page
 * applies); BW_DONE means the caller already finished. Closes or keeps the
 * connection alive as the request requires.
 */
void bw_http_finalize_request(bw_http_request_t *r, bw_int_t rc);
/* Internal redirect to `uri` (with `args`, may be NULL): restarts the phases. */
bw_int_t bw_http_internal_redirect(bw_http_request_t *r, const bw_str_t *uri,
                                   const bw_str_t *args);
/* Internal redirect to a named location ("@name"). */
bw_int_t bw_http_named_location(bw_http_request_t *r, const bw_str_t *name);
/* Continues the phase engine (after BW_AGAIN or a redirect). */
void bw_http_core_run_phases(bw_http_request_t *r);

/* Adds a response header (key and value copied by reference: keep them alive). */
bw_http_header_t *bw_http_add_header_out(bw_http_request_t *r, const bw_str_t *key,
                                         const bw_str_t *value);
/* First request header named `name` (case-insensitive), or NULL. */
bw_http_header_t *bw_http_find_header_in(bw_http_request_t *r, const bw_str_t *name);

/* Reads the whole body (buffered; spills to a temp file past
 * client_body_buffer_size), then calls post_handler. Returns BW_OK/BW_AGAIN
 * or an HTTP status to finalize with (413, 400).
 * Usage (engine): on BW_OK/BW_AGAIN the request holds one more reference
 * (r->count), so a content handler returns BW_DONE right after the call; the
 * post_handler (called at once when the body was already there) later ends
 * the request with bw_http_finalize_request(r, status or BW_OK). On an HTTP
 * status no reference was taken: return that status. The body is then in
 * r->request_body->bufs: memory buffers, or one in_file buffer of the temp
 * file (r->request_body->temp_path) when it spilled. */
bw_int_t bw_http_read_client_request_body(bw_http_request_t *r,
                                          void (*post_handler)(bw_http_request_t *r));
/* Reads and drops the body so the connection can be kept alive. */
bw_int_t bw_http_discard_request_body(bw_http_request_t *r);
/* Sends "HTTP/1.1 100 Continue" once when the client asked for it (an
 * HTTP/1.1 request with "Expect: 100-continue"), for a reader of the body
 * of its own. BW_OK or BW_ERROR. */
bw_rc_t bw_http_test_expect(bw_http_request_t *r);

/* Sends a special response (error page) for `status`, honouring error_page. */
bw_int_t bw_http_special_response_handler(bw_http_request_t *r, bw_int_t status);

/* ---- added by the request engine (append only) ---- */

/*
 * The handler http.c sets on every HTTP listening socket: takes over an
 * accepted connection (c->data becomes its bw_http_connection_t), waits for
 * and reads requests, and closes it in the end.
 */
void bw_http_init_connection(bw_connection_t *c);

/*
 * Runs the log phase for a finished request (access_log and friends);
 * provided by the phase engine (http.c / core_module.c). The engine calls
 * it once per request, right before the request pool is destroyed.
 */
void bw_http_log_request(bw_http_request_t *r);

/* r->read_event_handler / write_event_handler values for "nothing to do". */
void bw_http_block_reading(bw_http_request_t *r);
void bw_http_request_empty_handler(bw_http_request_t *r);

/*
 * Sends a marker buffer through the body filters: BW_HTTP_LAST ends the
 * response (a handler that sent its body without last_buf, or none at all),
 * BW_HTTP_FLUSH pushes out what the filters hold. Returns the filters' code.
 */
#define BW_HTTP_LAST  1
#define BW_HTTP_FLUSH 2
bw_rc_t bw_http_send_special(bw_http_request_t *r, unsigned flags);

/*
 * Server-wide counters shown by stub_status. They are the event layer's
 * bw_conn_stats_t (accepts, handled, active are counted in event/; the http
 * layer maintains requests, reading, writing and waiting with atomic adds),
 * reached through a pointer that the stub_status module redirects at a
 * shared-memory copy at init, so every worker adds to the same numbers:
 *   reading  connections whose request head is being read
 *   writing  requests past the head (processing, sending, reading the body)
 *   waiting  idle connections: waiting for a first or a keep-alive request
 *   requests every request started (a pipelined or keep-alive one included)
 */
typedef bw_conn_stats_t bw_http_stats_t;
#define bw_http_stats bw_conn_stats

/* ---- added by the tls helper (append only) ---- */

/*
 * TLS hooks, set by the ssl module (modules/ssl.c) when it is built in and
 * NULL otherwise.
 *
 * bw_http_ssl_connection_hook(c) is called by bw_http_init_connection once
 * the connection is set up (client_header_timeout armed). BW_DECLINED: the
 * address is plain HTTP and the engine goes on. Anything else: the hook owns
 * the connection (handshake) until it calls bw_http_ssl_handshake_done().
 *
 * bw_http_ssl_request_hook(r) is called when a request head is read and its
 * server chosen, before the phases: BW_OK, or the status to finalize with
 * (497 plain HTTP on a TLS address, 495/496 client certificate, 421).
 */
extern bw_rc_t (*bw_http_ssl_connection_hook)(bw_connection_t *c);
extern bw_int_t (*bw_http_ssl_request_hook)(bw_http_request_t *r);

/*
 * For the TLS hook: the handshake (or the finding that the client speaks
 * plain HTTP) is over. BW_OK: wait for and read requests, with `server`
 * (NULL: unchanged) as the connection's default confs (the SNI choice);
 * anything else: close the connection.
 */
void bw_http_ssl_handshake_done(bw_connection_t *c, bw_rc_t rc, const bw_conf_ctx_t *server);

#endif
