/*
 * parse.h -- the HTTP/1.1 request parser: request line, header lines,
 * chunked bodies, URI normalisation and the small value checks that go with
 * them (Content-Length, Transfer-Encoding, Host).
 *
 * The parsers are incremental, zero-copy state machines (RFC 9112). The caller
 * reads bytes into a buffer and calls a parser with [*pos, last); the parser
 * consumes bytes, advances *pos and returns:
 *
 *   BW_OK      one complete item (request line, header line, chunk data);
 *   BW_AGAIN   every byte was consumed, the item is not complete: read more
 *              bytes *after* the consumed ones and call again with the same
 *              state (the state remembers where it was);
 *   BW_DONE    the end of a block (the empty line after the headers, or the
 *              end of a chunked body);
 *   > 0        a BW_HTTP_PARSE_* error: bw_http_parse_error_status() gives the
 *              HTTP status to answer and bw_http_parse_error_text() the
 *              message to log at "info" level. *pos points at the offending
 *              byte. The connection must be closed after the answer.
 *
 * Outputs are pointers into the caller's buffer. Bytes from the start of the
 * item being parsed (request_start, line_start) must stay in place until the
 * parser returns BW_OK. When the caller moves them into a larger buffer it
 * calls bw_http_request_line_rebase() / bw_http_header_line_rebase() to shift
 * the stored pointers, then goes on parsing from the moved *pos. The chunked
 * parser stores no pointers across calls (only within one BW_OK return), so
 * body buffers may be recycled between calls.
 *
 * How the request code turns a parsed line into $uri / $args / $request_uri:
 *   - flags & BW_HTTP_URI_COMPLEX: uri and exten come from
 *     bw_http_parse_complex_uri() over [uri_start, path_end) into a pool
 *     buffer of (path_end - uri_start + 1) bytes (merge_slashes from the
 *     server's configuration); BW_HTTP_PARSE_INVALID_REQUEST -> 400.
 *   - otherwise uri is [uri_start, path_end) and exten [exten_start,
 *     exten_end) as they are, with no copy.
 *   - args is [args_start, args_end), never decoded; $request_uri is
 *     [uri_start, uri_end), or "/" when that is empty (EMPTY_PATH, no query).
 *   - an absolute-form host_start..host_end replaces the Host header for
 *     server selection, after bw_http_validate_host().
 *
 * Strictness (what a caller can rely on, and where bulwark differs from
 * nginx on purpose):
 *   - request line: method is [A-Z_-]+ (nginx); exactly one SP between the
 *     parts (RFC 9112 §3 allows lenient whitespace; nginx tolerates several
 *     spaces, bulwark answers 400); version is "HTTP/" DIGIT "." DIGIT, a
 *     major version above 1 gives 505 (nginx), "HTTP/0.x", "HTTP/1.10" and
 *     "HTTP/01.1" give 400 (nginx accepts the last two); nothing between the
 *     version and CRLF.
 *   - HTTP/0.9 simple requests ("GET /path" CRLF) are recognised as version
 *     0.9 for GET (nginx serves them), and any other method gives
 *     BW_HTTP_PARSE_INVALID_09_METHOD. The caller may still refuse 0.9.
 *   - request-target bytes: visible ASCII and 0x80-0xFF (raw UTF-8 paths, as
 *     nginx); controls, DEL and NUL give 400. A fragment ("#...") is
 *     accepted and excluded from path and args, as nginx does.
 *   - line ends: CRLF or a bare LF (RFC 9112 §2.2); a CR not followed by LF
 *     gives 400. Empty lines before the request line are skipped (§2.2).
 *   - header lines: whitespace before the colon, obs-fold (a line starting
 *     with SP/HTAB), an empty name, a line without a colon (nginx accepts it
 *     as an empty value), a control character other than HTAB in the value
 *     (nginx accepts them except NUL/CR), a bare CR: all give 400.
 *   - Host: '\\', a non-digit port, an unterminated "[" and bytes after
 *     "]" other than ":port" give 400 (nginx on Unix accepts them).
 *   - chunked: chunk-size line of at most BW_HTTP_CHUNK_LINE_MAX bytes, sizes
 *     up to 2^63 - 1, extensions checked loosely (token / quoted-string,
 *     RFC 9112 §7.1.1), trailer fields checked as header lines and dropped,
 *     at most BW_HTTP_CHUNK_TRAILER_MAX bytes of trailers.
 *
 * Checks the request code (not this file) must apply across headers, with
 * nginx's answers:
 *   - a second Content-Length                        -> 400 ("client sent
 *     duplicate header line: ...");
 *   - Content-Length not bw_http_parse_content_length() >= 0
 *                                                    -> 400 (client sent
 *     invalid "Content-Length" header);
 *   - Transfer-Encoding other than "chunked"         -> 501
 *     (bw_http_parse_transfer_encoding());
 *   - Transfer-Encoding with Content-Length          -> 400 (client sent
 *     "Content-Length" and "Transfer-Encoding" headers at the same time);
 *   - Transfer-Encoding in an HTTP/1.0 request        -> 400 (client sent
 *     HTTP/1.0 request with "Transfer-Encoding" header);
 *   - a second Host                                  -> 400 (client sent
 *     duplicate host header: ...);
 *   - Host failing bw_http_validate_host()           -> 400;
 *   - HTTP/1.1 without a Host header                 -> 400 (client sent
 *     HTTP/1.1 request without "Host" header), even with an absolute-form
 *     target (nginx does the same);
 *   - header names flagged invalid: bw_http_header_line_verdict();
 *   - a request line or header line longer than the header buffers
 *     -> 414 / 400 ("Request Header Or Cookie Too Large"), by buffer size.
 *   - nginx answers 400 to "OPTIONS *" and to CONNECT; this parser accepts
 *     both forms (target BW_HTTP_TARGET_ASTERISK / _AUTHORITY) and leaves
 *     the decision to the caller.
 */
#ifndef BW_HTTP_PARSE_H
#define BW_HTTP_PARSE_H

#include "str.h"

/* ---- return codes (positive: a request error, see the file comment) ---- */

#define BW_HTTP_PARSE_INVALID_METHOD    10 /* 400 "client sent invalid method" */
#define BW_HTTP_PARSE_INVALID_REQUEST   11 /* 400 "client sent invalid request" */
#define BW_HTTP_PARSE_INVALID_VERSION   12 /* 505 "client sent invalid version" */
#define BW_HTTP_PARSE_INVALID_09_METHOD 13 /* 400 "... invalid method in HTTP/0.9 request" */
#define BW_HTTP_PARSE_INVALID_HEADER    14 /* 400 "client sent invalid header line" */
#define BW_HTTP_PARSE_INVALID_CHUNKED   15 /* 400 "client sent invalid chunked body" */
#define BW_HTTP_PARSE_INVALID_HOST      16 /* 400 "client sent invalid host header" */
#define BW_HTTP_PARSE_UNKNOWN_TE        17 /* 501 client sent unknown "Transfer-Encoding" */

/*
 * ---- methods: one bit each (r->method), for limit_except and friends ----
 */

#define BW_HTTP_UNKNOWN   0x00000001
#define BW_HTTP_GET       0x00000002
#define BW_HTTP_HEAD      0x00000004
#define BW_HTTP_POST      0x00000008
#define BW_HTTP_PUT       0x00000010
#define BW_HTTP_DELETE    0x00000020
#define BW_HTTP_MKCOL     0x00000040
#define BW_HTTP_COPY      0x00000080
#define BW_HTTP_MOVE      0x00000100
#define BW_HTTP_OPTIONS   0x00000200
#define BW_HTTP_PROPFIND  0x00000400
#define BW_HTTP_PROPPATCH 0x00000800
#define BW_HTTP_LOCK      0x00001000
#define BW_HTTP_UNLOCK    0x00002000
#define BW_HTTP_PATCH     0x00004000
#define BW_HTTP_TRACE     0x00008000
#define BW_HTTP_CONNECT   0x00010000

/* http_version values: major * 1000 + minor. */
#define BW_HTTP_VERSION_9  9
#define BW_HTTP_VERSION_10 1000
#define BW_HTTP_VERSION_11 1001

/* The four request-target forms of RFC 9112 §3.2. */
typedef enum {
    BW_HTTP_TARGET_ORIGIN = 0, /* "/path?query" */
    BW_HTTP_TARGET_ABSOLUTE,   /* "http://host:port/path?query" */
    BW_HTTP_TARGET_AUTHORITY,  /* "host:port", CONNECT only */
    BW_HTTP_TARGET_ASTERISK,   /* "*", OPTIONS only */
} bw_http_target_e;

/* Request-line flags. */
#define BW_HTTP_URI_COMPLEX    0x01 /* path needs bw_http_parse_complex_uri() */
#define BW_HTTP_URI_QUOTED     0x02 /* path has '%' */
#define BW_HTTP_URI_PLUS       0x04 /* path has '+' */
#define BW_HTTP_URI_EMPTY_PATH 0x08 /* absolute-form without a path: the path is "/" */

/*
 * State and results of the request-line parser. Zero it (or call
 * bw_http_request_line_init) before the first call; it resets its outputs
 * itself when a new line starts, so it can be reused for the next request on
 * a keep-alive connection. Pointers are NULL when the part is absent.
 */
typedef struct {
    unsigned state;    /* private; 0 at the start of a line */
    unsigned method;   /* BW_HTTP_GET ... or BW_HTTP_UNKNOWN */
    unsigned target;   /* bw_http_target_e */
    unsigned flags;    /* BW_HTTP_URI_* */
    unsigned http_major;
    unsigned http_minor;
    unsigned http_version; /* BW_HTTP_VERSION_*: set on BW_OK */

    u_char *request_start; /* first byte of the method ($request starts here) */
    u_char *request_end;   /* the CR or LF that ends the line */
    u_char *method_end;    /* method is [request_start, method_end) */

    u_char *schema_start, *schema_end; /* absolute-form only */
    u_char *host_start, *host_end;     /* absolute- and authority-form; may be "[v6]" */
    u_char *port_start, *port_end;     /* when a ':' followed the host (may be empty) */

    /*
     * [uri_start, uri_end) is what nginx calls $request_uri: the target less
     * "scheme://authority" (the whole target for origin-, asterisk- and
     * authority-form). The path is [uri_start, path_end), the query
     * [args_start, args_end) (without the '?'); a fragment, if any, follows
     * and belongs to neither. exten is the part after the last '.' of the
     * last path segment, as received: for a COMPLEX path use the exten that
     * bw_http_parse_complex_uri() gives instead.
     */
    u_char *uri_start, *uri_end;
    u_char *path_end;
    u_char *args_start, *args_end;
    u_char *exten_start, *exten_end;

    u_char *protocol_start, *protocol_end; /* "HTTP/1.1"; NULL for HTTP/0.9 */
} bw_http_request_line_t;

/* Header-name flags (see bw_http_header_line_verdict). */
#define BW_HTTP_HEADER_UNDERSCORE 0x01 /* the name has '_' */
#define BW_HTTP_HEADER_NONALNUM   0x02 /* a char outside [A-Za-z0-9_-] */
#define BW_HTTP_HEADER_NOT_TOKEN  0x04 /* a char that is not tchar (RFC 9110 §5.6.2) */

/*
 * State and results of the header-line parser, one field line per BW_OK.
 * Zero it before the first line; it resets its outputs at each new line.
 * value is [value_start, value_end) without leading or trailing SP/HTAB.
 * hash is bw_http_parse_hash_lc() of the name, computed while scanning.
 * line_start is the first byte of the current line, also set on errors so
 * the caller can log the line ("client sent invalid header line: ...").
 */
typedef struct {
    unsigned  state; /* private; 0 at the start of a line */
    unsigned  flags; /* BW_HTTP_HEADER_* */
    bw_uint_t hash;

    u_char *line_start;
    u_char *name_start, *name_end;
    u_char *value_start, *value_end;
} bw_http_header_line_t;

#define BW_HTTP_CHUNK_LINE_MAX    4096  /* chunk-size line with extensions */
#define BW_HTTP_CHUNK_TRAILER_MAX 16384 /* whole trailer section */

/*
 * State of the chunked decoder. Zero it before the body. On BW_OK the caller
 * owns [data, data + data_len) (pointing into its buffer); `total` is the sum
 * of the chunk sizes announced so far, so client_max_body_size can be
 * checked (413) as soon as a size line arrives, before its data; `remaining`
 * is what the current chunk still owes.
 */
typedef struct {
    unsigned  state;     /* private */
    size_t    line_len;  /* bytes of the current size line / trailer section */
    int64_t   size;      /* size being read from the current size line */
    int64_t   remaining; /* data bytes of the current chunk still to come */
    int64_t   total;     /* sum of all chunk sizes seen, data included or not */
    u_char   *data;      /* set on BW_OK */
    size_t    data_len;  /* set on BW_OK, > 0 */
    bw_http_header_line_t trailer; /* private: trailer field validation */
} bw_http_chunked_t;

/* ---- parsers ---- */

/* Clears a request-line state (same as zeroing it). */
void bw_http_request_line_init(bw_http_request_line_t *rl);

/*
 * Parses the request line from [*pos, last). BW_OK: the line is complete and
 * *pos is past its LF. BW_AGAIN: all bytes consumed. Errors:
 * INVALID_METHOD, INVALID_REQUEST, INVALID_VERSION (505), INVALID_09_METHOD.
 */
bw_rc_t bw_http_parse_request_line(bw_http_request_line_t *rl, u_char **pos, u_char *last);

/*
 * Shifts every stored pointer of rl by (new_base - old_base): call after
 * moving the bytes of a partially parsed line from old_base to new_base.
 */
void bw_http_request_line_rebase(bw_http_request_line_t *rl, const u_char *old_base,
                                 u_char *new_base);

/*
 * Parses one header field line from [*pos, last). BW_OK: one field, *pos past
 * its LF. BW_DONE: the empty line ending the block, *pos past it. BW_AGAIN:
 * all consumed. BW_HTTP_PARSE_INVALID_HEADER: the block is malformed (400).
 * A name with odd characters is not an error here: see the flags and
 * bw_http_header_line_verdict().
 */
bw_rc_t bw_http_parse_header_line(bw_http_header_line_t *h, u_char **pos, u_char *last);

/* As bw_http_request_line_rebase, for a partially parsed header line. */
void bw_http_header_line_rebase(bw_http_header_line_t *h, const u_char *old_base,
                                u_char *new_base);

/*
 * What to do with a parsed header line under the server's
 * ignore_invalid_headers and underscores_in_headers settings, as nginx:
 * BW_OK use it; BW_DECLINED ignore it (log "client sent invalid header
 * line" at info); BW_HTTP_PARSE_INVALID_HEADER answer 400 (with
 * ignore_invalid_headers off, a name that is not an RFC token).
 */
bw_rc_t bw_http_header_line_verdict(const bw_http_header_line_t *h, bool ignore_invalid,
                                    bool underscores);

/*
 * Decodes chunked transfer-coding from [*pos, last). BW_OK: ctx->data and
 * ctx->data_len give body bytes, *pos is past them; call again. BW_AGAIN:
 * all bytes consumed. BW_DONE: the last chunk and trailer section are
 * complete, *pos is past the final LF (a pipelined request may follow).
 * BW_HTTP_PARSE_INVALID_CHUNKED: malformed or oversized (400).
 */
bw_rc_t bw_http_parse_chunked(bw_http_chunked_t *ctx, u_char **pos, u_char *last);

/*
 * Normalises a request path (bytes starting with '/', or empty for an
 * absolute-form target without a path) into dst, which has room for
 * path->len + 1 bytes and may be path->data itself (in-place). Decodes %XX
 * (a decoded '/' separates segments; decoded '%', '?', '#' are literal),
 * resolves "." and ".." segments, merges runs of '/' when merge_slashes, and
 * sets uri to [dst, end) and exten to the extension of the last segment (len
 * 0 when none). '+' stays '+'; an empty path becomes "/". Returns BW_OK or
 * BW_HTTP_PARSE_INVALID_REQUEST for a bad %XX, a decoded NUL, or a ".." that
 * climbs above the root.
 */
bw_rc_t bw_http_parse_complex_uri(const bw_str_t *path, u_char *dst, bool merge_slashes,
                                  bw_str_t *uri, bw_str_t *exten);

/*
 * Checks a URI produced by configuration or an upstream (rewrite,
 * X-Accel-Redirect, SSI include) before it is used as a path: BW_OK when it
 * starts with '/', has no NUL or control character, and no "." or ".."
 * segment, either literal or percent-encoded; a '?' ends the path and the
 * rest goes to args (args->len 0 when none). *quoted is set when the path
 * has '%' and needs decoding. BW_ERROR otherwise.
 */
bw_rc_t bw_http_parse_unsafe_uri(bw_str_t *uri, bw_str_t *args, bool *quoted);

/* ---- values ---- */

/* A Content-Length value: 1*DIGIT, no sign, space or overflow. -1 if invalid. */
int64_t bw_http_parse_content_length(const bw_str_t *value);

/*
 * A Transfer-Encoding value: BW_OK when it is exactly "chunked" (any case);
 * BW_HTTP_PARSE_UNKNOWN_TE otherwise ("gzip", "identity", "chunked, chunked",
 * empty): the caller answers 501.
 */
bw_rc_t bw_http_parse_transfer_encoding(const bw_str_t *value);

/*
 * Validates and normalises a Host value (or an absolute-form host): strips
 * the port and a trailing dot and lowercases ASCII letters. "[v6]" literals
 * keep their brackets. Rejects an empty host, "..", '/', '\\', NUL, controls,
 * SP, DEL, an unterminated '[' and a non-digit port. On BW_OK *host is the
 * result: a prefix of the input when no letter needed lowercasing, else a
 * copy in pool (or the input lowercased in place when pool is NULL).
 * Returns BW_OK, BW_HTTP_PARSE_INVALID_HOST, or BW_ERROR on no memory.
 */
bw_rc_t bw_http_validate_host(bw_str_t *host, bw_pool_t *pool);

/* ---- shared helpers ---- */

/* One step of the header-name hash over an already lowercased byte. */
#define bw_http_hash_step(h, c) ((bw_uint_t) (h) * 31 + (u_char) (c))

/* The hash of the ASCII-lowercased bytes [p, p+n), as the header parser computes it. */
bw_uint_t bw_http_parse_hash_lc(const u_char *p, size_t n);

/* The HTTP status to answer for a BW_HTTP_PARSE_* error (400, 501, 505). */
int bw_http_parse_error_status(bw_rc_t rc);

/* The info-level log message for a BW_HTTP_PARSE_* error ("client sent ..."). */
const char *bw_http_parse_error_text(bw_rc_t rc);

#endif
