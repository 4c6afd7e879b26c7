/*
 * upstream.h -- talking to backends: upstream{} groups and their servers,
 * peer connections and the per-request upstream state that the proxy
 * module drives (connect, send the request, read and parse the response
 * head, relay the body, timeouts, next upstream).
 *
 * Who does what:
 *   - http/upstream.c (module `upstream`): the `upstream` block and its
 *     `server` directive, the implicit groups that `proxy_pass host:port`
 *     creates, and the $upstream_* variables; the request-time machinery
 *     below is in http/upstream_*.c (map in http/upstream_internal.h).
 *   - http/upstream_rr.c: the default balancer (smooth weighted
 *     round-robin with max_fails/fail_timeout, backup, down, max_conns).
 *   - modules/upstream_keepalive.c: an idle-connection cache that wraps
 *     the balancer's get/free (the `keepalive` directive).
 *   - modules/proxy.c: builds the HTTP request, parses the status line and
 *     header lines, and sets the callbacks of bw_upstream_t.
 *
 * Body relay (http/upstream_body.c): with proxy_buffering on the body is
 * read as fast as the peer sends it into proxy_buffers, then into a temp
 * file under proxy_temp_path (up to proxy_max_temp_file_size), and the
 * peer connection is released as soon as the whole response was read,
 * however slow the client; with buffering off (or "X-Accel-Buffering: no")
 * it streams through the proxy_buffer_size buffer at the client's pace.
 * With proxy_request_buffering off the request body goes to the peer as it
 * arrives (http/upstream_request_body.c).
 *
 * Request flow: the content handler creates the upstream, sets the
 * callbacks below and hands bw_upstream_init to
 * bw_http_read_client_request_body(); from then on the upstream ends the
 * request (bw_http_finalize_request) once: with the upstream's answer, an
 * error page (502 refused / invalid head, 504 timed out), or by closing the
 * client connection when the body breaks after the head was sent.
 */
#ifndef BW_HTTP_UPSTREAM_H
#define BW_HTTP_UPSTREAM_H

#include "core_module.h"
#include "parse.h"
#include "request.h"

#include <netinet/in.h>

extern bw_module_t bw_upstream_module;

typedef struct bw_upstream_srv_conf_s  bw_upstream_srv_conf_t;
typedef struct bw_upstream_peer_conn_s bw_upstream_peer_conn_t;
typedef struct bw_upstream_s           bw_upstream_t;

/* ---- addresses and groups (configuration time) ---- */

/* One address a server name stands for. */
typedef struct {
    struct sockaddr *sockaddr;
    socklen_t        socklen;
    bw_str_t         name;    /* "127.0.0.1:8080", "[::1]:80", "unix:/path" */
} bw_upstream_addr_t;

/*
 * A parsed address as `server` and `proxy_pass` write it:
 * "host[:port][/uri]", "[v6]:port", "unix:/path[:/uri]".
 */
typedef struct {
    bw_str_t            url;       /* what was parsed */
    bw_str_t            host;      /* "example.com", "127.0.0.1", "[::1]", "unix:/path" */
    bw_str_t            port_text; /* as written; empty when absent */
    bw_str_t            uri;       /* from the first '/' after the authority; may be empty */
    in_port_t           port;      /* the port, or default_port when absent */
    in_port_t           default_port;
    bool                no_port;   /* no port was written */
    bool                unix_path; /* a "unix:" socket */
    bw_upstream_addr_t *addrs;     /* after bw_upstream_url_resolve() or for literals */
    size_t              naddrs;
    const char         *err;       /* reason of a failure: "invalid port", ... */
} bw_upstream_url_t;

/* One `server` line of an upstream{} block (or the implicit one). */
typedef struct {
    bw_str_t            name;       /* as written: "backend:8080" */
    bw_upstream_addr_t *addrs;
    size_t              naddrs;
    bw_uint_t           weight;     /* 1 */
    bw_uint_t           max_conns;  /* 0: unlimited */
    bw_uint_t           max_fails;  /* 1; 0 disables accounting */
    time_t              fail_timeout; /* 10 s */
    bool                down;
    bool                backup;
} bw_upstream_server_t;

/* Parameters the group's balancer accepts (bw_upstream_srv_conf_t.flags). */
#define BW_UPSTREAM_CREATE       0x0001 /* declared by an upstream{} block */
#define BW_UPSTREAM_WEIGHT       0x0002
#define BW_UPSTREAM_MAX_FAILS    0x0004
#define BW_UPSTREAM_FAIL_TIMEOUT 0x0008
#define BW_UPSTREAM_DOWN         0x0010
#define BW_UPSTREAM_BACKUP       0x0020
#define BW_UPSTREAM_MAX_CONNS    0x0100

/* A balancer: config-time setup and per-request setup of the peer connection. */
typedef struct {
    /* Builds the balancer's data from us->servers. BW_OK or BW_ERROR (reported). */
    bw_rc_t (*init_upstream)(bw_conf_t *cf, bw_upstream_srv_conf_t *us);
    /* Sets the peer connection's get/free/data/tries for request r (per-request
     * state in r->pool). BW_OK or BW_ERROR. */
    bw_rc_t (*init)(bw_http_request_t *r, bw_upstream_peer_conn_t *pc,
                    bw_upstream_srv_conf_t *us);
    void    *data;
} bw_upstream_peer_t;

/* A group of servers: an upstream{} block, or the implicit group of one
 * `proxy_pass http://host:port` target. */
struct bw_upstream_srv_conf_s {
    bw_upstream_peer_t peer;
    void             **srv_conf;  /* the block's per-module server confs (keepalive...) */
    bw_array_t        *servers;   /* bw_upstream_server_t; NULL until implicit ones resolve */
    unsigned           flags;     /* BW_UPSTREAM_* */
    bw_str_t           host;      /* the block's name, or the implicit host */
    bw_str_t           file_name; /* where it was declared, for messages */
    bw_uint_t          line;
    in_port_t          port;      /* implicit: the port (default 80) */
    bool               no_port;   /* implicit: the target had no port */
    bool               implicit;  /* no upstream{} block: resolve host at init */
};

/* The upstream module's main conf: every group, blocks and implicit ones. */
typedef struct {
    bw_array_t upstreams; /* bw_upstream_srv_conf_t * */
} bw_upstream_main_conf_t;

/*
 * Parses u->url ("host[:port][/uri]", "unix:/path[:/uri]"); IP literals get
 * their address in u->addrs, names do not (see bw_upstream_url_resolve).
 * Allows a URI part only when allow_uri. BW_OK, or BW_ERROR with u->err set
 * to nginx's reason ("invalid port", "no host", "invalid host",
 * "invalid URL prefix"...).
 */
bw_rc_t bw_upstream_url_parse(bw_pool_t *pool, bw_upstream_url_t *u, bool allow_uri);
/*
 * Resolves u->host with getaddrinfo (IPv4 addresses first, then IPv6), each
 * address with u->port. BW_OK, or BW_ERROR with u->err = "host not found".
 */
bw_rc_t bw_upstream_url_resolve(bw_pool_t *pool, bw_upstream_url_t *u);

/*
 * Finds or declares a group. flags has BW_UPSTREAM_CREATE for an upstream{}
 * block; otherwise u names an implicit group (u->host, u->port, u->no_port)
 * that is shared by every proxy_pass with the same host and port and that
 * refers to the upstream{} block of that name when one exists (declared
 * before or after). Reports nginx's "duplicate upstream" and "upstream "x"
 * may not have port N". NULL after reporting.
 */
bw_upstream_srv_conf_t *bw_upstream_add(bw_conf_t *cf, bw_upstream_url_t *u, unsigned flags);
/* The upstream{} group named `host`, or NULL (run time: variables in proxy_pass). */
bw_upstream_srv_conf_t *bw_upstream_find(bw_http_request_t *r, const bw_str_t *host);

/* ---- peer connections ---- */

/* Bits for the balancer's free(): how the attempt ended. */
#define BW_UPSTREAM_PEER_FAILED 0x02 /* counts as a failure (max_fails) */
#define BW_UPSTREAM_PEER_NEXT   0x04 /* unsuccessful but not a failure (http_404) */

/*
 * get(): picks a peer: BW_OK (connect to pc->sockaddr), BW_DONE (a cached
 * connection is in pc->connection), BW_BUSY (no live peer: pc->name is the
 * group's name). free(): the attempt is over; `state` is 0 or PEER_* bits;
 * a keep-alive cache may take pc->connection (then it sets it to NULL).
 */
typedef bw_rc_t (*bw_upstream_peer_get_fn)(bw_upstream_peer_conn_t *pc, void *data);
typedef void (*bw_upstream_peer_free_fn)(bw_upstream_peer_conn_t *pc, void *data,
                                         unsigned state);

struct bw_upstream_peer_conn_s {
    bw_connection_t         *connection;
    struct sockaddr         *sockaddr;
    socklen_t                socklen;
    bw_str_t                *name;     /* peer name, or the group's on BW_BUSY */
    bw_uint_t                tries;    /* attempts left */
    bw_msec_t                start_time; /* monotonic, when the first attempt began */
    bw_upstream_peer_get_fn  get;
    bw_upstream_peer_free_fn free;
    void                    *data;
    bw_log_t                *log;
    bw_msec_t                connection_start; /* monotonic: when `connection` was opened */
    unsigned                 cached:1;   /* connection came from the keep-alive cache */
    unsigned                 reusable:1; /* set by the core before free(): the response
                                            was read whole and framing allows reuse */
};

/* ---- per-location settings (embedded in the proxy module's conf) ---- */

/* proxy_next_upstream bits. */
#define BW_UPSTREAM_FT_ERROR          0x00000002
#define BW_UPSTREAM_FT_TIMEOUT        0x00000004
#define BW_UPSTREAM_FT_INVALID_HEADER 0x00000008
#define BW_UPSTREAM_FT_HTTP_500       0x00000010
#define BW_UPSTREAM_FT_HTTP_502       0x00000020
#define BW_UPSTREAM_FT_HTTP_503       0x00000040
#define BW_UPSTREAM_FT_HTTP_504       0x00000080
#define BW_UPSTREAM_FT_HTTP_403       0x00000100
#define BW_UPSTREAM_FT_HTTP_404       0x00000200
#define BW_UPSTREAM_FT_HTTP_429       0x00000400
#define BW_UPSTREAM_FT_UPDATING       0x00000800
#define BW_UPSTREAM_FT_NON_IDEMPOTENT 0x00004000
#define BW_UPSTREAM_FT_NOLIVE         0x40000000
#define BW_UPSTREAM_FT_OFF            0x80000000
#define BW_UPSTREAM_FT_STATUS_MASK \
    (BW_UPSTREAM_FT_HTTP_500 | BW_UPSTREAM_FT_HTTP_502 | BW_UPSTREAM_FT_HTTP_503 \
     | BW_UPSTREAM_FT_HTTP_504 | BW_UPSTREAM_FT_HTTP_403 | BW_UPSTREAM_FT_HTTP_404 \
     | BW_UPSTREAM_FT_HTTP_429)

/* The proxy_next_upstream values, for the bitmask setter. */
extern const bw_conf_enum_t bw_upstream_next_upstream_masks[];

typedef struct {
    bw_upstream_srv_conf_t *upstream;        /* NULL: the URL has variables */
    bw_msec_t               connect_timeout; /* 60s */
    bw_msec_t               send_timeout;    /* 60s */
    bw_msec_t               read_timeout;    /* 60s */
    bw_msec_t               next_upstream_timeout; /* 0: unlimited */
    size_t                  buffer_size;     /* the response head must fit: 4k */
    bw_int_t                bufs_num;        /* proxy_buffers 8 4k: the body buffer */
    size_t                  bufs_size;
    size_t                  busy_buffers_size;
    bw_uint_t               next_upstream;   /* BW_UPSTREAM_FT_* */
    bw_uint_t               next_upstream_tries; /* 0: unlimited */
    bw_int_t                buffering;
    bw_int_t                request_buffering;
    bw_int_t                ignore_client_abort;
    bw_int_t                intercept_errors;
    bw_int_t                pass_request_headers;
    bw_int_t                pass_request_body;
    bw_int_t                socket_keepalive;
    off_t                   max_temp_file_size;
    size_t                  temp_file_write_size;
    bw_array_t             *hide_headers;    /* bw_str_t: proxy_hide_header */
    bw_array_t             *pass_headers;    /* bw_str_t: proxy_pass_header */
    bw_array_t             *hide;            /* bw_str_t lowercase names hidden (merged) */

    /* ---- added for buffering (append only) ---- */
    struct bw_upstream_temp_path_s *temp_path; /* proxy_temp_path (merged: never NULL) */
    bw_uint_t               ignore_headers;  /* BW_UPSTREAM_IGN_*: proxy_ignore_headers */
} bw_upstream_conf_t;

/*
 * Merges `conf` with `prev` and fills defaults; builds conf->hide from the
 * default hidden headers (Date, Server, X-Pad, X-Accel-*) plus hide_headers
 * minus pass_headers. NULL or an error message.
 */
const char *bw_upstream_conf_merge(bw_conf_t *cf, bw_upstream_conf_t *conf,
                                   const bw_upstream_conf_t *prev);
/* Initialises every field of conf as unset. */
void bw_upstream_conf_init(bw_upstream_conf_t *conf);

/* ---- the request-time upstream ---- */

/* One attempt (one peer), for $upstream_addr, $upstream_status and friends. */
typedef struct {
    bw_str_t  peer;          /* peer name, or the group's when none was live */
    bw_uint_t status;        /* 0 until known: then the upstream's or 502/504 */
    bw_msec_t response_time; /* ms; -1 while running */
    bw_msec_t connect_time;  /* ms; -1 when never connected */
    bw_msec_t header_time;   /* ms; -1 when no head arrived */
    off_t     bytes_received;
    off_t     bytes_sent;
    off_t     response_length; /* body bytes */
    bw_msec_t start;         /* monotonic start of the attempt */
    bool      separator;     /* no attempt: a later upstream of the request begins (" : ") */
} bw_upstream_state_t;

/* The response head as the upstream sent it (proxy.c fills it). */
typedef struct {
    bw_array_t        headers;      /* bw_http_header_t, copied into r->pool */
    bw_uint_t         status_n;
    bw_str_t          status_line;  /* "200 OK" as sent (from the code on) */
    bw_uint_t         http_version; /* BW_HTTP_VERSION_10 / _11 */
    off_t             content_length_n; /* -1: none */
    bw_http_header_t *content_length;
    bw_http_header_t *transfer_encoding;
    bw_http_header_t *connection;
    bool              chunked;
    bool              connection_close; /* "Connection: close" or HTTP/1.0 */
    bool              upgrade;          /* "Connection: upgrade" */
} bw_upstream_headers_in_t;

/* Extra return codes of process_header. */
#define BW_UPSTREAM_INVALID_HEADER 40

struct bw_upstream_s {
    bw_http_request_t       *request;
    bw_upstream_conf_t      *conf;
    bw_upstream_srv_conf_t  *upstream;
    bw_upstream_peer_conn_t  peer;

    /* Filled by the module before bw_upstream_init(). */
    bw_str_t                 schema;  /* "http://" */
    /* A host name the module evaluated at request time (upstream NULL):
     * resolved with the location's `resolver` before connecting. */
    bw_str_t                 resolve_host;
    in_port_t                resolve_port;
    bw_resolver_ctx_t       *resolve_ctx;  /* while the lookup runs */
    bw_str_t                 url;     /* the target as configured ("http://host:port/uri") */
    bw_str_t                 uri;     /* the request target sent (create_request sets it) */
    bw_rc_t (*create_request)(bw_http_request_t *r);  /* fills u->request_bufs */
    bw_rc_t (*reinit_request)(bw_http_request_t *r);  /* before a retry */
    /* Parses the head in u->buffer [pos, last): BW_OK when complete (pos past
     * it), BW_AGAIN for more bytes, BW_UPSTREAM_INVALID_HEADER, BW_ERROR. */
    bw_rc_t (*process_header)(bw_http_request_t *r);
    void    (*finalize_request)(bw_http_request_t *r, bw_int_t rc);
    /* Rewrites a Location or Refresh header passed to the client
     * (proxy_redirect): BW_OK rewritten, BW_DECLINED unchanged, BW_ERROR. */
    bw_rc_t (*rewrite_redirect)(bw_http_request_t *r, bw_http_header_t *h);

    bw_chain_t              *request_bufs; /* the request: head + body, never consumed */
    bw_chain_t              *request_out;  /* copies being sent in this attempt */
    bw_buf_t                 buffer;       /* response head, then body */
    bw_upstream_headers_in_t headers_in;

    /* body framing and relay */
    off_t                    length;       /* body bytes still expected; -1 until close */
    bw_http_chunked_t        chunked;
    bw_chain_t              *out_bufs;     /* pieces not yet given to the filters */
    bw_chain_t              *busy_bufs;
    bw_chain_t              *free_bufs;

    bw_uint_t                attempts;     /* peers tried: states pushed to r->upstream_states */
    bw_upstream_state_t     *state;        /* the current attempt */
    bw_msec_t                attempt_start;

    void (*read_event_handler)(bw_http_request_t *r, bw_upstream_t *u);
    void (*write_event_handler)(bw_http_request_t *r, bw_upstream_t *u);

    unsigned                 request_sent:1;   /* some bytes went out this attempt */
    unsigned                 request_body_sent:1; /* all of it went out */
    unsigned                 header_sent:1;    /* the client got the response head */
    unsigned                 keepalive:1;      /* the connection may be reused */
    unsigned                 head:1;           /* HEAD request: no body in the response */
    unsigned                 body_done:1;
    unsigned                 finalized:1;
    unsigned                 upgrade:1;        /* 101: the connections are a tunnel */

    bw_buf_t                 from_client;      /* tunnel: client bytes for the upstream */

    /* ---- added for buffering (append only) ---- */
    struct bw_upstream_pipe_s   *pipe;   /* the body relay's buffers (upstream_body.c) */
    struct bw_upstream_stream_s *stream; /* the request body sent as it arrives, or NULL */
    /* Rewrites a Set-Cookie header passed to the client (proxy_cookie_domain,
     * proxy_cookie_path): BW_OK rewritten, BW_DECLINED unchanged, BW_ERROR. */
    bw_rc_t (*rewrite_cookie)(bw_http_request_t *r, bw_http_header_t *h);
    unsigned                 buffering:1;      /* this response is read ahead of the client */
    unsigned                 request_chunked:1; /* the streamed body goes out chunked */
    unsigned                 connected:1;      /* the peer connection is known to be up */

    /* ---- added for proxy_ssl (append only) ---- */
    unsigned                 ssl:1;            /* the peer speaks TLS (proxy_pass https://) */
};

/*
 * Creates r's upstream (bw_http_get_ctx(r, bw_upstream_module)) with
 * default fields. NULL on no memory.
 */
bw_upstream_t *bw_upstream_create(bw_http_request_t *r);
/* The upstream of r, or NULL. */
static inline bw_upstream_t *
bw_upstream_get(bw_http_request_t *r)
{
    return r->ctx ? (bw_upstream_t *) bw_http_get_ctx(r, bw_upstream_module) : NULL;
}

/*
 * The post_handler for bw_http_read_client_request_body(): builds the
 * request, initialises the balancer and connects. From here on the
 * upstream owns the request and ends it with bw_http_finalize_request().
 * The content handler does:
 *     rc = bw_http_read_client_request_body(r, bw_upstream_init);
 *     return rc >= 300 ? rc : BW_DONE;
 */
void bw_upstream_init(bw_http_request_t *r);

/* ---- added for buffering (append only) ---- */

/* proxy_ignore_headers bits (bw_upstream_conf_t.ignore_headers). */
#define BW_UPSTREAM_IGN_XA_REDIRECT   0x0002
#define BW_UPSTREAM_IGN_XA_EXPIRES    0x0004
#define BW_UPSTREAM_IGN_EXPIRES       0x0008
#define BW_UPSTREAM_IGN_CACHE_CONTROL 0x0010
#define BW_UPSTREAM_IGN_SET_COOKIE    0x0020
#define BW_UPSTREAM_IGN_XA_LIMIT_RATE 0x0040
#define BW_UPSTREAM_IGN_XA_BUFFERING  0x0080
#define BW_UPSTREAM_IGN_XA_CHARSET    0x0100
#define BW_UPSTREAM_IGN_VARY          0x0200

/* The proxy_ignore_headers values, for the bitmask setter. */
extern const bw_conf_enum_t bw_upstream_ignore_headers_masks[];

/* A directory for temp files (proxy_temp_path path [level1 [level2 [level3]]]):
 * files go into subdirectories named by the last digits of their number. */
typedef struct bw_upstream_temp_path_s {
    bw_str_t name;     /* absolute, no trailing '/' */
    size_t   level[3]; /* digits of each level; 0: no such level */
} bw_upstream_temp_path_t;

/*
 * Setter of a temp path directive: the field at d->offset is a
 * bw_upstream_temp_path_t * (BW_CONF_UNSET_PTR until set). Registers the
 * directory with the cycle so the master creates it for the workers.
 */
const char *bw_upstream_set_temp_path(bw_conf_t *cf, const bw_directive_t *d, void *conf);
/*
 * Merges conf->temp_path with prev's; when neither level set one, uses
 * default_name ("proxy_temp") under the prefix, registered likewise.
 * BW_CONF_OK or BW_CONF_ERROR.
 */
const char *bw_upstream_temp_path_merge(bw_conf_t *cf, bw_upstream_conf_t *conf,
                                        const bw_upstream_conf_t *prev, const char *default_name);

/*
 * Sends r's request body to the peer as it arrives instead of reading it
 * whole first (proxy_request_buffering off). Call from the content handler
 * after bw_upstream_create() and before bw_http_read_client_request_body(),
 * only for a request with a body. chunked_out: the body goes out with
 * chunked transfer-coding (u->request_chunked; a chunked request to an
 * HTTP/1.1 peer); otherwise the client's Content-Length framing is kept.
 * Once sending began the request is not retried on another peer.
 * BW_OK, or an HTTP status to return (413, 500).
 */
bw_int_t bw_upstream_stream_body_init(bw_http_request_t *r, bool chunked_out);

/* ---- added for proxy_ssl (append only) ---- */

/*
 * TLS to peers (proxy_pass https://...), provided by the proxy_ssl module
 * (modules/proxy_ssl.c), which fills these in its preconfiguration; both
 * stay NULL when it is not built in (then https:// is refused).
 *
 * conf(cf): the proxy_pass being parsed (in cf's location) has an https://
 *   URL or variables: that location needs a client TLS context. BW_OK or
 *   BW_ERROR (reported).
 * init(r, u): the TCP connection of an attempt at a peer of u->ssl is up
 *   and has not spoken TLS yet (a cached connection has and skips this);
 *   called before the request is sent. BW_OK: the handshake is done;
 *   BW_AGAIN: it goes on in the connection's events, which are init's until
 *   it calls bw_upstream_ssl_done(); BW_DECLINED: the peer failed (logged:
 *   the next upstream); BW_ERROR: a local failure (500).
 */
typedef struct {
    bw_rc_t (*conf)(bw_conf_t *cf);
    bw_rc_t (*init)(bw_http_request_t *r, bw_upstream_t *u);
} bw_upstream_ssl_hooks_t;

extern bw_upstream_ssl_hooks_t bw_upstream_ssl_hooks;

/*
 * The handshake init() left running ended: gives the peer connection's
 * events back to the upstream, then sends the request (ft_type 0) or moves
 * to the next upstream (BW_UPSTREAM_FT_ERROR, BW_UPSTREAM_FT_TIMEOUT).
 */
void bw_upstream_ssl_done(bw_http_request_t *r, bw_upstream_t *u, bw_uint_t ft_type);

#endif
