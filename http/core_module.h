/*
 * core_module.h -- the http core module's configuration: http{}, server{}
 * and location{} settings, listen addresses, server names, and the lookup
 * functions the request code calls (virtual server, location).
 *
 * Field defaults are nginx's; see http/core_module.c for each directive.
 */
#ifndef BW_HTTP_CORE_MODULE_H
#define BW_HTTP_CORE_MODULE_H

#include "http.h"
#include "request.h"
#include "open_file_cache.h"
#include "resolver.h"

#include <sys/socket.h>

extern bw_module_t bw_http_core_module;

/* A compiled regex (PCRE2, JIT when available) with its named captures. */
typedef struct bw_regex_s bw_regex_t; /* http/regex.c or core/regex.c */

/* One `error_page` code mapping. */
typedef struct {
    bw_int_t  status;      /* the code it catches */
    bw_int_t  overwrite;   /* =code: answer with this code; 0: keep; -1: "=" (upstream's) */
    void     *value;       /* complex value (http/script.h) of the URI or @name or URL */
    bw_str_t  raw;         /* the target as written */
    bw_str_t  args;        /* "?args" part of a static "/uri?args" target (value holds the
                              URI part only); empty otherwise */
} bw_http_err_page_t;

/* `listen` options for one address. */
typedef struct {
    struct sockaddr_storage sockaddr;
    socklen_t socklen;
    bw_str_t  addr_text;   /* "127.0.0.1:8080" */
    bool      default_server;
    bool      ssl;
    bool      http2;
    bool      proxy_protocol;
    bool      reuseport;
    bool      bind;
    bool      deferred;
    int       ipv6only;    /* -1 unset, 0, 1 */
    int       backlog;     /* -1 unset */
    int       rcvbuf;      /* -1 unset */
    int       sndbuf;      /* -1 unset */
    int       fastopen;    /* -1 unset */
    int       so_keepalive;/* -1 unset, 0 off, 1 on */

    /* ---- added by the routing helper (append only) ---- */
    int       keepidle;    /* so_keepalive=idle:intvl:cnt, seconds; 0: system default */
    int       keepintvl;
    int       keepcnt;
    bool      set;         /* a socket option was given (may be given once per address) */
    bool      wildcard;    /* 0.0.0.0 or [::] */
} bw_http_listen_opt_t;

typedef struct bw_http_core_srv_conf_s bw_http_core_srv_conf_t;
typedef struct bw_http_core_loc_conf_s bw_http_core_loc_conf_t;

/* One `server_name` entry. */
typedef struct {
    bw_str_t                 name;   /* lowercase; "*.example.com", "example.*", "~re" */
    bw_regex_t              *regex;  /* for "~..." names */
    bw_http_core_srv_conf_t *server;
} bw_http_server_name_t;

typedef struct {
    bw_array_t  servers;            /* bw_http_core_srv_conf_t * in config order */
    void       *ports;              /* listen address table built by http.c */
    void       *phase_engine;       /* built by http.c from the module order */
    bw_uint_t   variables_hash_max_size;
    bw_uint_t   variables_hash_bucket_size;
    bw_uint_t   server_names_hash_max_size;
    bw_uint_t   server_names_hash_bucket_size;

    /* ---- added by the routing helper (append only) ---- */
    bw_uint_t   warned;             /* BW_HTTP_CORE_WARNED_*: once-per-config warnings */

    /* ---- added by the script helper (append only) ---- */
    void       *variables;          /* the variable registry (http/variables.c) */
} bw_http_core_main_conf_t;

struct bw_http_core_srv_conf_s {
    bw_conf_ctx_t  *ctx;              /* this server's confs (srv_conf, loc_conf of server level) */
    bw_array_t      server_names;     /* bw_http_server_name_t */
    bw_array_t      listen;           /* bw_http_listen_opt_t (default *:80 when empty) */
    bool            listen_set;
    bw_str_t        file_name;        /* where the server block starts, for messages */
    bw_uint_t       line;
    bw_array_t      named_locations;  /* bw_http_core_loc_conf_t * ("@name") */

    size_t          connection_pool_size;
    size_t          request_pool_size;
    size_t          client_header_buffer_size;   /* 1k */
    bw_int_t        large_client_header_buffers_num;  /* 4 */
    size_t          large_client_header_buffers_size; /* 8k */
    bw_msec_t       client_header_timeout;       /* 60s */
    bw_int_t        ignore_invalid_headers;      /* on */
    bw_int_t        merge_slashes;               /* on */
    bw_int_t        underscores_in_headers;      /* off */

    /* ---- added by the routing helper (append only) ---- */
    bw_str_t        server_name;      /* primary name ($server_name, redirects): the first
                                         server_name with a leading '.' dropped; "" by default */
    bool            captures;         /* a regex server_name has captures */
};

struct bw_http_core_loc_conf_s {
    bw_str_t        name;             /* location pattern as written (or "@name") */
    bw_regex_t     *regex;
    bool            exact_match;      /* = */
    bool            noregex;          /* ^~ */
    bool            named;            /* @name */
    bool            regex_caseless;   /* ~* */
    bool            auto_redirect;    /* proxy_pass & co. in a prefix location ending with / */
    bw_int_t        internal;         /* `internal` */
    void          **loc_conf;         /* this location's confs, by module index */
    void           *locations;        /* nested locations: static tree + regex list (location.c) */
    bw_http_core_loc_conf_t *parent_loc;
    bw_http_handler_fn handler;       /* content handler set by proxy_pass/return/stub_status */

    /* files */
    bw_str_t        root;             /* "html" relative to prefix */
    void           *root_values;      /* complex value when root has variables */
    bool            alias;            /* root holds an alias */
    bw_int_t        alias_len;
    void           *types;            /* extension → type (types{}), built at merge */
    bw_array_t     *types_keys;       /* bw_keyval_t ext → type while parsing */
    bw_str_t        default_type;     /* text/plain */
    bw_array_t     *try_files;        /* complex values; last may be =code or @name */
    bw_uint_t       if_modified_since;/* 0 off, 1 exact (default), 2 before */
    bw_int_t        max_ranges;       /* -1 unlimited */
    bw_int_t        etag;             /* on */
    bw_int_t        disable_symlinks; /* off */
    bw_int_t        log_not_found;    /* on */
    bw_int_t        directio;         /* accepted, off */

    /* request body */
    off_t           client_max_body_size;   /* 1m; 0 disables the check */
    size_t          client_body_buffer_size; /* 16k */
    bw_msec_t       client_body_timeout;     /* 60s */
    bw_str_t        client_body_temp_path;   /* client_body_temp */
    bw_int_t        client_body_in_file_only;

    /* sending */
    bw_int_t        sendfile;          /* off */
    size_t          sendfile_max_chunk;/* 2m */
    bw_int_t        tcp_nopush;        /* off */
    bw_int_t        tcp_nodelay;       /* on */
    bw_msec_t       send_timeout;      /* 60s */
    size_t          send_lowat;
    size_t          postpone_output;   /* 1460 */
    size_t          limit_rate;        /* 0 */
    size_t          limit_rate_after;
    bw_int_t        chunked_transfer_encoding; /* on */
    bw_int_t        reset_timedout_connection; /* off */

    /* connection */
    bw_msec_t       keepalive_timeout; /* 75s */
    time_t          keepalive_header;  /* 0: no Keep-Alive header */
    bw_uint_t       keepalive_requests;/* 1000 */
    bw_msec_t       keepalive_time;    /* 1h */
    bw_uint_t       keepalive_disable; /* msie6 bit by default */
    bw_uint_t       lingering_close;   /* 0 off, 1 on (default), 2 always */
    bw_msec_t       lingering_time;    /* 30s */
    bw_msec_t       lingering_timeout; /* 5s */

    /* responses */
    bw_uint_t       server_tokens;     /* 0 off, 1 on (default), 2 build */
    bw_int_t        absolute_redirect; /* on */
    bw_int_t        server_name_in_redirect; /* off */
    bw_int_t        port_in_redirect;  /* on */
    bw_int_t        msie_padding;      /* on */
    bw_int_t        msie_refresh;      /* off */
    bw_int_t        recursive_error_pages; /* off */
    bw_array_t     *error_pages;       /* bw_http_err_page_t */
    bw_log_t       *error_log;         /* error_log at http/server/location level */
    bw_uint_t       satisfy;           /* 0 all, 1 any */
    bw_uint_t       limit_except;      /* allowed methods mask, 0: no limit_except */
    void           *limit_except_loc_conf;

    /* ---- added by the routing helper (append only) ---- */
    bool            noname;            /* an if{} or limit_except{} conf: merged, never matched */
    bw_str_t        file_name;         /* where the location block starts, for messages */
    bw_uint_t       line;
    bw_int_t        client_body_in_single_buffer; /* off */
    bw_int_t        log_subrequest;    /* off */
    size_t          subrequest_output_buffer_size; /* 4k|8k: one page */
    bw_resolver_t  *resolver;          /* names resolved at request time; NULL: none */
    bw_open_file_cache_t *open_file_cache; /* NULL: off */
    time_t          open_file_cache_valid;    /* 60 (seconds) */
    bw_uint_t       open_file_cache_min_uses; /* 1 */
    bw_int_t        open_file_cache_errors;   /* off */
    bw_msec_t       resolver_timeout;  /* 30s */
    bw_msec_t       auth_delay;        /* 0 */
    bool            lmt_excpt;         /* this is a limit_except{} conf (noname too) */
    bw_http_core_srv_conf_t *server;   /* the server this location belongs to */
};

/*
 * Selects the server for a request: by the connection's listening address,
 * then by `host` (lowercase, no port; empty for none) as nginx orders it:
 * exact name, longest leading wildcard, longest trailing wildcard, first
 * matching regex in config order, else the address's default server.
 * Sets r->srv_conf / r->loc_conf (server level) and r->server_name.
 */
bw_rc_t bw_http_find_virtual_server(bw_http_request_t *r, const bw_str_t *host);
/* Selects the location for r->uri (sets r->loc_conf); BW_OK, or BW_DONE when
 * a prefix location needs the trailing-slash 301 (auto_redirect). */
bw_rc_t bw_http_core_find_location(bw_http_request_t *r);
/* Updates per-location request settings after r->loc_conf changed (e.g.
 * connection error_log, tcp_nodelay, limit_rate). */
void bw_http_update_location_config(bw_http_request_t *r);
/* Maps r->uri to a file path: root/alias + uri, NUL-terminated, pool memory.
 * `reserved` extra bytes are allocated after the NUL (for index names).
 * Returns the path length's end pointer or NULL on error.
 * (routing:) path->len is the length up to the NUL; *root_len the length of
 * the document root part (root or alias, evaluated when it has variables,
 * made absolute against the prefix). An alias replaces the location's prefix
 * of the URI; an alias in a regex location is the whole path (its captures
 * build it), unless try_files chose a file (r->add_uri_to_alias). Returns
 * NULL (logged) for an alias location reached after a rewrite changed the
 * URI, as nginx. The returned pointer points at the NUL; reserved + 1 bytes
 * are usable from there. */
u_char *bw_http_map_uri_to_path(bw_http_request_t *r, bw_str_t *path, size_t *root_len,
                                size_t reserved);
/* Sets r->headers_out.content_type from the location's types by r->exten. */
bw_rc_t bw_http_set_content_type(bw_http_request_t *r);
/* stat() of path (NUL-terminated) through the location's open_file_cache
 * when there is one (try_files, index, if -f): 0, or -1 with errno set. */
int bw_http_stat(bw_http_request_t *r, const char *path, struct stat *st);

/* ---- added by the routing helper (append only) ---- */

extern bw_module_t bw_http_module; /* the http{} block (http/http.c) */

/* The http{} block's confs of a cycle (bw_conf_ctx_t *), NULL without one. */
#define bw_http_cycle_ctx(cycle) ((bw_conf_ctx_t *) (cycle)->conf[bw_http_module.index])

/* keepalive_disable bits (bw_http_core_loc_conf_t.keepalive_disable). */
#define BW_HTTP_KEEPALIVE_DISABLE_NONE   0x0002
#define BW_HTTP_KEEPALIVE_DISABLE_MSIE6  0x0004
#define BW_HTTP_KEEPALIVE_DISABLE_SAFARI 0x0008

/* bw_http_core_loc_conf_t.alias_len when alias is used in a regex location:
 * the (evaluated) alias is the whole path, the URI is not appended. */
#define BW_HTTP_ALIAS_WHOLE (-1)

/* bw_http_core_main_conf_t.warned bits. */
#define BW_HTTP_CORE_WARNED_OPEN_FILE_CACHE 0x01
#define BW_HTTP_CORE_WARNED_AIO             0x02
#define BW_HTTP_CORE_WARNED_DIRECTIO        0x04

/* One `try_files` argument (bw_http_core_loc_conf_t.try_files elements). */
typedef struct {
    bw_str_t  name;      /* as written, without a directory's trailing '/' */
    void     *value;     /* bw_http_complex_value_t * when name has variables, else NULL */
    bool      test_dir;  /* "name/": must be a directory */
    bw_int_t  code;      /* last argument "=code": the status (0..999); else 0 */
    bool      last;      /* the fallback (URI, @name or =code): not a file test */
} bw_http_try_file_t;

/* A location's extension → type table (bw_http_core_loc_conf_t.types). */
typedef struct {
    bw_keyval_t *elts;   /* key: lowercase extension; value: type; sorted by key */
    size_t       nelts;
} bw_http_types_t;

/*
 * What a listening address:port resolves to. ls->servers of an HTTP
 * listening socket points at a table of these (one per address the socket
 * serves: a wildcard socket serves the specific addresses of its port that
 * have no socket of their own).
 */
typedef struct {
    bw_http_core_srv_conf_t *default_server; /* `default_server`, else the first server */
    void                    *names;          /* bw_http_server_names_t (server_name.h);
                                                NULL: the default server takes every host */
    bw_http_listen_opt_t    *opt;            /* ssl, http2, proxy_protocol... */
} bw_http_addr_conf_t;

/*
 * The address configuration of an accepted connection: from
 * c->listening->servers, with getsockname() (cached in c->local_sockaddr)
 * when the socket serves several addresses. NULL only when getsockname()
 * failed (logged). The engine takes the default server's confs from it
 * before the request head is read.
 */
bw_http_addr_conf_t *bw_http_connection_addr_conf(bw_connection_t *c);

/*
 * Starts the phases of a request whose server is selected (r->srv_conf,
 * r->loc_conf at server level): from the first phase, or for an internal
 * request (r->internal, after an internal redirect) from the server-rewrite
 * phase. r->uri_changes must be set (11 at request start, as nginx: ten
 * internal redirects or rewrites, the eleventh fails with 500).
 */
void bw_http_handler(bw_http_request_t *r);

/*
 * The phase-engine index of the first entry of `phase` (for
 * r->phase_handler), e.g. a named location restarts at
 * BW_HTTP_REWRITE_PHASE:
 *     r->loc_conf = named->loc_conf; bw_http_update_location_config(r);
 *     r->phase_handler = bw_http_phase_index(r, BW_HTTP_REWRITE_PHASE);
 *     bw_http_core_run_phases(r);
 */
bw_int_t bw_http_phase_index(bw_http_request_t *r, bw_http_phase_t phase);

/*
 * `if` blocks (the rewrite module): nginx gives each if{} its own location
 * configuration, inheriting from the enclosing server or location. The
 * rewrite module's `if` setter calls:
 *
 *     void **loc_conf;
 *     ... compile the condition ...
 *     const char *rv = bw_http_core_if_block(cf, &loc_conf);
 *
 * which creates every HTTP module's location conf for the block (merged
 * with the enclosing level's after parsing, like a nested location, but
 * never selected by the location search), parses the block body with
 * ctx_type BW_CTX_SIF (in a server) or BW_CTX_LIF (in a location), and
 * restores cf. *loc_conf is set before the body is parsed (NULL on
 * failure). At run time, when the condition holds, the module does
 *     r->loc_conf = loc_conf; bw_http_update_location_config(r);
 * Returns BW_CONF_OK or BW_CONF_ERROR (reported).
 */
const char *bw_http_core_if_block(bw_conf_t *cf, void ***loc_conf);

/* The two steps of bw_http_core_if_block, for callers that need the confs
 * before the body is parsed: create (NULL on no memory), then parse. */
bw_conf_ctx_t *bw_http_core_if_ctx_create(bw_conf_t *cf);
const char *bw_http_core_block_parse(bw_conf_t *cf, bw_conf_ctx_t *ctx, uint32_t ctx_type);

static inline bw_http_core_loc_conf_t *
bw_http_core_loc(bw_http_request_t *r)
{
    return bw_http_get_loc_conf(r, bw_http_core_module);
}

static inline bw_http_core_srv_conf_t *
bw_http_core_srv(bw_http_request_t *r)
{
    return bw_http_get_srv_conf(r, bw_http_core_module);
}

#endif
