/*
 * range.c -- the range filter (module `range`): answers a Range request on
 * a 200 response that allows ranges (r->allow_ranges, a known length) with
 * a 206 Partial Content of one part, a multipart/byteranges 206 for several,
 * or a 416 with "Content-Range: bytes * /length" when nothing is
 * satisfiable; responses it does not cut get "Accept-Ranges: bytes".
 *
 * The header filter parses Range (and checks If-Range); the body filter
 * cuts the body as it streams: one range is trimmed in place, several are
 * sliced into new buffers around part heads. Behaviour follows nginx's
 * (RFC 9110 sections 14.2 and 14.6 as nginx reads them): max_ranges,
 * overlapping ranges that add up to more than the body give the whole body,
 * the boundary is a 20-digit zero-padded counter.
 */
#include "range.h"

#include "core_module.h"
#include "clock.h"
#include "pool.h"

#include <inttypes.h>
#include <stdio.h>

/* Request state when the response is cut (r->ctx). */
typedef struct {
    bw_array_t ranges;          /* bw_http_range_t, in the order asked */
    off_t      offset;          /* body offset of the next buffer the body filter sees */
    bw_str_t   boundary_header; /* "\r\n--B\r\nContent-Type: t\r\nContent-Range: bytes " */
    bw_str_t   boundary_end;    /* "\r\n--B--\r\n" */
    size_t     current;         /* multipart: the range being sent */
    bool       in_part;         /* multipart: the current part's head was sent */
    bool       done;            /* single part: the range is complete */
} bw_range_ctx_t;

/* Digits of the multipart boundary, as nginx pads its counter. */
#define BW_RANGE_BOUNDARY_LEN 20

static bw_rc_t bw_range_header_filter(bw_http_request_t *r);
static bw_rc_t bw_range_body_filter(bw_http_request_t *r, bw_chain_t *in);

static const bw_http_module_t bw_range_module_ctx = {
    .header_filter = bw_range_header_filter,
    .body_filter = bw_range_body_filter,
};

bw_module_t bw_range_module = {
    .name = "range",
    .type = BW_MODULE_HTTP,
    .ctx = &bw_range_module_ctx,
};

/* Multipart responses sent by this process: the next boundary. */
static uint64_t bw_range_boundary_seq;

/* ------------------------------------------------------------ parsing */

static const u_char *
bw_range_skip_spaces(const u_char *p, const u_char *end)
{
    while (p < end && *p == ' ') {
        p++;
    }
    return p;
}

static bool
bw_range_is_digit(const u_char *p, const u_char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* Reads the digits at *pp (at least one is there); false when the value
 * does not fit in off_t. */
static bool
bw_range_number_read(const u_char **pp, const u_char *end, off_t *value)
{
    const off_t max = (off_t) INT64_MAX;
    const u_char *p = *pp;
    off_t n = 0;

    while (bw_range_is_digit(p, end)) {
        int d = *p++ - '0';
        if (n > (max - d) / 10) {
            return false;
        }
        n = n * 10 + d;
    }
    *pp = p;
    *value = n;
    return true;
}

/*
 * Reads one range-spec at *pp into [*start, *end) (end exclusive, already
 * clipped to length; start >= end for a range outside the body). Leaves *pp
 * at the ',' or the end. BW_OK or BW_HTTP_RANGE_NOT_SATISFIABLE (syntax).
 */
static bw_int_t
bw_range_spec_read(const u_char **pp, const u_char *end, off_t length, off_t *start,
                   off_t *last)
{
    const u_char *p = bw_range_skip_spaces(*pp, end);
    bool suffix = false;
    off_t first = 0, second = 0;

    if (p < end && *p == '-') {
        suffix = true;
        p++;
    } else {
        if (!bw_range_is_digit(p, end) || !bw_range_number_read(&p, end, &first)) {
            return BW_HTTP_RANGE_NOT_SATISFIABLE;
        }
        p = bw_range_skip_spaces(p, end);
        if (p == end || *p++ != '-') {
            return BW_HTTP_RANGE_NOT_SATISFIABLE;
        }
        p = bw_range_skip_spaces(p, end);
        if (p == end || *p == ',') {
            *pp = p;
            *start = first;
            *last = length; /* "N-": to the end */
            return BW_OK;
        }
    }
    if (!bw_range_is_digit(p, end) || !bw_range_number_read(&p, end, &second)) {
        return BW_HTTP_RANGE_NOT_SATISFIABLE;
    }
    p = bw_range_skip_spaces(p, end);
    if (p != end && *p != ',') {
        return BW_HTTP_RANGE_NOT_SATISFIABLE;
    }
    if (suffix) { /* "-N": the last N bytes */
        first = second < length ? length - second : 0;
        second = length - 1;
    }
    *pp = p;
    *start = first;
    *last = second >= length ? length : second + 1;
    return BW_OK;
}

bw_int_t
bw_http_range_parse(const bw_str_t *spec, off_t length, size_t max, bw_array_t *ranges)
{
    const u_char *p = spec->data, *end = spec->data + spec->len;
    off_t total = 0;

    for (;;) {
        off_t start, last;
        bw_int_t rc = bw_range_spec_read(&p, end, length, &start, &last);
        if (rc != BW_OK) {
            return rc;
        }
        if (start < last) {
            bw_http_range_t *range = bw_array_push(ranges);
            if (range == NULL) {
                return BW_ERROR;
            }
            range->start = start;
            range->end = last;
            range->content_range.len = 0;
            range->content_range.data = NULL;
            if (total > (off_t) INT64_MAX - (last - start)) {
                return BW_HTTP_RANGE_NOT_SATISFIABLE;
            }
            total += last - start;
            if (ranges->nelts > max) {
                return BW_DECLINED;
            }
        } else if (start == 0) {
            return BW_DECLINED; /* "0-..." of an empty body: the whole (empty) body */
        }
        if (p == end) {
            break;
        }
        p++; /* the ',' */
    }
    if (ranges->nelts == 0) {
        return BW_HTTP_RANGE_NOT_SATISFIABLE;
    }
    return total > length ? BW_DECLINED : BW_OK;
}

/* ------------------------------------------------------ header filter */

/* Drops the Content-Length header a handler may have set (the length changes). */
static void
bw_range_clear_content_length(bw_http_request_t *r)
{
    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }
}

/*
 * If-Range (RFC 9110 section 13.1.5): an entity tag must equal the
 * response's ETag byte for byte; a date must equal its Last-Modified.
 * False: send the whole response.
 */
static bool
bw_range_if_range_matches(bw_http_request_t *r)
{
    bw_http_header_t *h = r->headers_in.if_range;
    if (h == NULL) {
        return true;
    }
    bw_str_t *v = &h->value;
    if (v->len >= 2 && v->data[v->len - 1] == '"') {
        bw_http_header_t *etag = r->headers_out.etag;
        return etag != NULL && bw_str_eq(&etag->value, v);
    }
    if (r->headers_out.last_modified_time == (time_t) -1) {
        return false;
    }
    return bw_time_parse_http(v->data, v->len) == r->headers_out.last_modified_time;
}

/* The response goes whole: say that ranges would have been served. */
static bw_rc_t
bw_range_accept(bw_http_request_t *r)
{
    static const bw_str_t key = bw_string("Accept-Ranges");
    static const bw_str_t value = bw_string("bytes");

    bw_http_header_t *h = bw_http_add_header_out(r, &key, &value);
    if (h == NULL) {
        return BW_ERROR;
    }
    r->headers_out.accept_ranges = h;
    return bw_http_next_header_filter(r, bw_range_module);
}

/* Adds "Content-Range: <value>" and remembers it. */
static bw_rc_t
bw_range_content_range_add(bw_http_request_t *r, bw_str_t *value)
{
    static const bw_str_t key = bw_string("Content-Range");

    bw_http_header_t *h = bw_http_add_header_out(r, &key, value);
    if (h == NULL) {
        return BW_ERROR;
    }
    r->headers_out.content_range = h;
    return BW_OK;
}

/* 416: the caller's status; the error page keeps "Content-Range: bytes * /N". */
static bw_int_t
bw_range_not_satisfiable(bw_http_request_t *r)
{
    bw_str_t *value = bw_psprintf(r->pool, "bytes */%" PRId64,
                                  (int64_t) r->headers_out.content_length_n);
    if (value == NULL || bw_range_content_range_add(r, value) != BW_OK) {
        return BW_ERROR;
    }
    r->headers_out.status = BW_HTTP_RANGE_NOT_SATISFIABLE;
    r->headers_out.content_length_n = -1;
    bw_range_clear_content_length(r);
    return BW_HTTP_RANGE_NOT_SATISFIABLE;
}

static bw_rc_t
bw_range_singlepart_header(bw_http_request_t *r, bw_range_ctx_t *ctx)
{
    bw_http_range_t *range = ctx->ranges.elts;
    bw_str_t *value = bw_psprintf(r->pool, "bytes %" PRId64 "-%" PRId64 "/%" PRId64,
                                  (int64_t) range->start, (int64_t) range->end - 1,
                                  (int64_t) r->headers_out.content_length_n);
    if (value == NULL || bw_range_content_range_add(r, value) != BW_OK) {
        return BW_ERROR;
    }
    r->headers_out.content_length_n = range->end - range->start;
    r->headers_out.content_offset = range->start;
    bw_range_clear_content_length(r);
    return bw_http_next_header_filter(r, bw_range_module);
}

/* The part head's Content-Type line: the response's type with its charset. */
static bw_str_t *
bw_range_boundary_header(bw_http_request_t *r, const char *boundary)
{
    bw_http_headers_out_t *ho = &r->headers_out;

    if (ho->content_type.len && ho->charset.len) {
        return bw_psprintf(r->pool,
                           "\r\n--%s\r\nContent-Type: %.*s; charset=%.*s\r\nContent-Range: bytes ",
                           boundary, BW_STR_ARG(ho->content_type), BW_STR_ARG(ho->charset));
    }
    if (ho->content_type.len) {
        return bw_psprintf(r->pool, "\r\n--%s\r\nContent-Type: %.*s\r\nContent-Range: bytes ",
                           boundary, BW_STR_ARG(ho->content_type));
    }
    return bw_psprintf(r->pool, "\r\n--%s\r\nContent-Range: bytes ", boundary);
}

static bw_rc_t
bw_range_multipart_header(bw_http_request_t *r, bw_range_ctx_t *ctx)
{
    char boundary[BW_RANGE_BOUNDARY_LEN + 1];
    off_t length = r->headers_out.content_length_n;

    snprintf(boundary, sizeof(boundary), "%020" PRIu64, ++bw_range_boundary_seq);
    bw_str_t *head = bw_range_boundary_header(r, boundary);
    bw_str_t *tail = bw_psprintf(r->pool, "\r\n--%s--\r\n", boundary);
    bw_str_t *type = bw_psprintf(r->pool, "multipart/byteranges; boundary=%s", boundary);
    if (head == NULL || tail == NULL || type == NULL) {
        return BW_ERROR;
    }
    ctx->boundary_header = *head;
    ctx->boundary_end = *tail;

    off_t total = (off_t) tail->len;
    bw_http_range_t *range = ctx->ranges.elts;
    for (size_t i = 0; i < ctx->ranges.nelts; i++) {
        bw_str_t *cr = bw_psprintf(r->pool, "%" PRId64 "-%" PRId64 "/%" PRId64 "\r\n\r\n",
                                   (int64_t) range[i].start, (int64_t) range[i].end - 1,
                                   (int64_t) length);
        if (cr == NULL) {
            return BW_ERROR;
        }
        range[i].content_range = *cr;
        total += (off_t) (head->len + cr->len) + (range[i].end - range[i].start);
    }

    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase.len = 0;
    r->headers_out.content_type_lowcase.data = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = total;
    bw_range_clear_content_length(r);
    return bw_http_next_header_filter(r, bw_range_module);
}

/* The limit on ranges for this request: max_ranges (-1 unlimited). */
static size_t
bw_range_max(bw_http_request_t *r, const bw_http_core_loc_conf_t *clcf)
{
    if (r->single_range) {
        return 1;
    }
    return clcf->max_ranges < 0 ? SIZE_MAX : (size_t) clcf->max_ranges;
}

static bw_rc_t
bw_range_header_filter(bw_http_request_t *r)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_http_header_t *h = r->headers_in.range;

    if (r->http_version < BW_HTTP_VERSION_10 || r->headers_out.status != 200 || r != r->main
        || r->headers_out.content_length_n == -1 || !r->allow_ranges || clcf->max_ranges == 0) {
        return bw_http_next_header_filter(r, bw_range_module);
    }
    if (h == NULL || h->value.len < 7
        || bw_strncasecmp(h->value.data, (const u_char *) "bytes=", 6) != 0
        || !bw_range_if_range_matches(r)) {
        return bw_range_accept(r);
    }

    bw_range_ctx_t *ctx = bw_pcalloc(r->pool, sizeof(bw_range_ctx_t));
    if (ctx == NULL || bw_array_init(&ctx->ranges, r->pool, 1, sizeof(bw_http_range_t)) != BW_OK) {
        return BW_ERROR;
    }
    ctx->offset = r->headers_out.content_offset;

    bw_str_t spec = {h->value.len - 6, h->value.data + 6};
    bw_int_t rc = bw_http_range_parse(&spec, r->headers_out.content_length_n,
                                      bw_range_max(r, clcf), &ctx->ranges);
    switch (rc) {
    case BW_OK:
        bw_http_set_ctx(r, ctx, bw_range_module);
        r->headers_out.status = 206;
        r->headers_out.status_line.len = 0;
        r->headers_out.status_line.data = NULL;
        if (ctx->ranges.nelts == 1) {
            return bw_range_singlepart_header(r, ctx);
        }
        return bw_range_multipart_header(r, ctx);
    case BW_HTTP_RANGE_NOT_SATISFIABLE:
        return (bw_rc_t) bw_range_not_satisfiable(r);
    case BW_ERROR:
        return BW_ERROR;
    default:
        return bw_range_accept(r);
    }
}

/* -------------------------------------------------------- body filter */

/* Marks a buffer as consumed: its bytes will not be sent. */
static void
bw_range_buf_consume(bw_buf_t *b)
{
    b->pos = b->last;
    b->file_pos = b->file_last;
}

/* Appends a link for b to *ll. */
static bw_rc_t
bw_range_chain_append(bw_http_request_t *r, bw_chain_t ***ll, bw_buf_t *b)
{
    bw_chain_t *cl = bw_chain_alloc_link(r->pool);
    if (cl == NULL) {
        return BW_ERROR;
    }
    cl->buf = b;
    cl->next = NULL;
    **ll = cl;
    *ll = &cl->next;
    return BW_OK;
}

/*
 * One range: trims each buffer to the part of [start, end) it holds, in
 * place, drops the others, and ends the response with the range's last byte.
 */
static bw_rc_t
bw_range_singlepart_body(bw_http_request_t *r, bw_range_ctx_t *ctx, bw_chain_t *in)
{
    bw_http_range_t *range = ctx->ranges.elts;
    bw_chain_t *out = NULL, **ll = &out;

    for (bw_chain_t *cl = in; cl; cl = cl->next) {
        bw_buf_t *b = cl->buf;
        if (ctx->done) {
            bw_range_buf_consume(b);
            continue;
        }
        off_t start = ctx->offset, last = start + bw_buf_size(b);
        ctx->offset = last;
        if (range->end <= start || range->start >= last) {
            bw_range_buf_consume(b);
            continue;
        }
        if (range->start > start) {
            if (b->in_file) {
                b->file_pos += range->start - start;
            }
            if (bw_buf_in_memory(b)) {
                b->pos += (size_t) (range->start - start);
            }
        }
        if (range->end <= last) {
            if (b->in_file) {
                b->file_last -= last - range->end;
            }
            if (bw_buf_in_memory(b)) {
                b->last -= (size_t) (last - range->end);
            }
            b->last_buf = r == r->main;
            b->last_in_chain = 1;
            ctx->done = true;
        }
        if (bw_range_chain_append(r, &ll, b) != BW_OK) {
            return BW_ERROR;
        }
    }
    return bw_http_next_body_filter(r, bw_range_module, out);
}

/* A memory buffer over bytes that live as long as the request. */
static bw_buf_t *
bw_range_memory_buf(bw_http_request_t *r, const bw_str_t *s)
{
    bw_buf_t *b = bw_buf_calloc(r->pool);
    if (b == NULL) {
        return NULL;
    }
    b->memory = 1;
    b->pos = s->data;
    b->last = s->data + s->len;
    return b;
}

/* Appends the head of a part: the boundary line, its type and its range. */
static bw_rc_t
bw_range_part_head(bw_http_request_t *r, bw_range_ctx_t *ctx, const bw_http_range_t *range,
                   bw_chain_t ***ll)
{
    bw_buf_t *head = bw_range_memory_buf(r, &ctx->boundary_header);
    bw_buf_t *cr = bw_range_memory_buf(r, &range->content_range);
    if (head == NULL || cr == NULL || bw_range_chain_append(r, ll, head) != BW_OK) {
        return BW_ERROR;
    }
    return bw_range_chain_append(r, ll, cr);
}

/* Appends the bytes [from, to) of the body out of b, which starts at body offset `at`. */
static bw_rc_t
bw_range_slice(bw_http_request_t *r, const bw_buf_t *b, off_t at, off_t from, off_t to,
               bw_chain_t ***ll)
{
    bw_buf_t *s = bw_buf_calloc(r->pool);
    if (s == NULL) {
        return BW_ERROR;
    }
    s->temporary = b->temporary;
    s->memory = b->memory;
    s->in_file = b->in_file;
    s->file = b->file;
    if (b->in_file) {
        s->file_pos = b->file_pos + (from - at);
        s->file_last = b->file_pos + (to - at);
    }
    if (bw_buf_in_memory(b)) {
        s->pos = b->pos + (size_t) (from - at);
        s->last = b->pos + (size_t) (to - at);
    }
    return bw_range_chain_append(r, ll, s);
}

/*
 * Several ranges: for the buffer b holding body bytes [at, at + size), sends
 * the parts (or pieces of parts) it holds, in the order asked. A part must
 * not start in a buffer already passed: ranges asked out of order work when
 * the body comes in one buffer (static files), not across buffers.
 */
static bw_rc_t
bw_range_multipart_buf(bw_http_request_t *r, bw_range_ctx_t *ctx, const bw_buf_t *b, off_t at,
                       bw_chain_t ***ll)
{
    bw_http_range_t *range = ctx->ranges.elts;
    off_t end = at + bw_buf_size(b);

    while (ctx->current < ctx->ranges.nelts) {
        bw_http_range_t *cur = &range[ctx->current];
        if (!ctx->in_part) {
            if (cur->start >= end) {
                return BW_OK;
            }
            if (cur->start < at) {
                bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                             "range %" PRId64 "-%" PRId64 " was asked after bytes it needs "
                             "were passed in an earlier buffer", (int64_t) cur->start,
                             (int64_t) cur->end - 1);
                return BW_ERROR;
            }
            if (bw_range_part_head(r, ctx, cur, ll) != BW_OK) {
                return BW_ERROR;
            }
            ctx->in_part = true;
        }
        off_t from = bw_max(cur->start, at), to = bw_min(cur->end, end);
        if (from < to && bw_range_slice(r, b, at, from, to, ll) != BW_OK) {
            return BW_ERROR;
        }
        if (cur->end > end) {
            return BW_OK; /* the part goes on in the next buffer */
        }
        ctx->in_part = false;
        ctx->current++;
    }
    return BW_OK;
}

static bw_rc_t
bw_range_multipart_body(bw_http_request_t *r, bw_range_ctx_t *ctx, bw_chain_t *in)
{
    bw_chain_t *out = NULL, **ll = &out;
    bool last = false;

    for (bw_chain_t *cl = in; cl; cl = cl->next) {
        bw_buf_t *b = cl->buf;
        off_t at = ctx->offset;
        ctx->offset += bw_buf_size(b);
        last = last || b->last_buf;
        if (bw_buf_size(b) > 0 && bw_range_multipart_buf(r, ctx, b, at, &ll) != BW_OK) {
            return BW_ERROR;
        }
        bw_range_buf_consume(b);
    }
    if (last) {
        if (ctx->current < ctx->ranges.nelts) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                         "the response body ended before its requested ranges");
            return BW_ERROR;
        }
        bw_buf_t *tail = bw_range_memory_buf(r, &ctx->boundary_end);
        if (tail == NULL) {
            return BW_ERROR;
        }
        tail->last_buf = r == r->main;
        tail->last_in_chain = 1;
        if (bw_range_chain_append(r, &ll, tail) != BW_OK) {
            return BW_ERROR;
        }
    }
    return bw_http_next_body_filter(r, bw_range_module, out);
}

static bw_rc_t
bw_range_body_filter(bw_http_request_t *r, bw_chain_t *in)
{
    bw_range_ctx_t *ctx = bw_http_get_ctx(r, bw_range_module);

    if (ctx == NULL || in == NULL) {
        return bw_http_next_body_filter(r, bw_range_module, in);
    }
    if (ctx->ranges.nelts == 1) {
        return bw_range_singlepart_body(r, ctx, in);
    }
    return bw_range_multipart_body(r, ctx, in);
}
