/*
 * not_modified.c -- conditional requests (module `not_modified`, a header
 * filter): turns a 200 with validators into 304 Not Modified when
 * If-None-Match or If-Modified-Since say the client's copy is current, and
 * into 412 Precondition Failed when If-Match or If-Unmodified-Since fail.
 *
 * Order and comparisons are nginx's reading of RFC 9110 section 13.2.2:
 * If-Unmodified-Since, then If-Match (strong comparison), then
 * If-Modified-Since (per if_modified_since: exact, before or off) and
 * If-None-Match (weak comparison), both of which must agree when both are
 * sent. Only main-request 200 responses are considered, and not when the
 * handler set r->disable_not_modified.
 */
#include "core_module.h"
#include "clock.h"

static bw_rc_t bw_not_modified_header_filter(bw_http_request_t *r);

static const bw_http_module_t bw_not_modified_module_ctx = {
    .header_filter = bw_not_modified_header_filter,
};

bw_module_t bw_not_modified_module = {
    .name = "not_modified",
    .type = BW_MODULE_HTTP,
    .ctx = &bw_not_modified_module_ctx,
};

/* True when If-Unmodified-Since holds: the response is not newer than the date. */
static bool
bw_not_modified_unmodified_since(bw_http_request_t *r)
{
    time_t lm = r->headers_out.last_modified_time;
    if (lm == (time_t) -1) {
        return false;
    }
    bw_str_t *v = &r->headers_in.if_unmodified_since->value;
    return bw_time_parse_http(v->data, v->len) >= lm;
}

/* True when If-Modified-Since says the response changed (send it whole). */
static bool
bw_not_modified_modified_since(bw_http_request_t *r)
{
    time_t lm = r->headers_out.last_modified_time;
    bw_uint_t mode = bw_http_core_loc(r)->if_modified_since; /* 0 off, 1 exact, 2 before */

    if (lm == (time_t) -1 || mode == 0) {
        return true;
    }
    bw_str_t *v = &r->headers_in.if_modified_since->value;
    time_t ims = bw_time_parse_http(v->data, v->len);
    if (ims == lm) {
        return false;
    }
    return mode == 1 || ims < lm;
}

/* Skips the blanks (and, with commas, list separators) at p. */
static const u_char *
bw_not_modified_skip(const u_char *p, const u_char *end, bool commas)
{
    while (p < end && (*p == ' ' || *p == '\t' || (commas && *p == ','))) {
        p++;
    }
    return p;
}

/*
 * True when the entity-tag list of `header` ("*" or a comma-separated list)
 * matches the response's ETag. A weak comparison (If-None-Match) ignores
 * "W/" on both sides; a strong one (If-Match) compares the bytes as sent.
 */
static bool
bw_not_modified_etag_matches(bw_http_request_t *r, const bw_http_header_t *header, bool weak)
{
    const bw_str_t *list = &header->value;

    if (list->len == 1 && list->data[0] == '*') {
        return true;
    }
    if (r->headers_out.etag == NULL) {
        return false;
    }
    bw_str_t etag = r->headers_out.etag->value;
    if (weak && etag.len > 2 && etag.data[0] == 'W' && etag.data[1] == '/') {
        etag.data += 2;
        etag.len -= 2;
    }

    const u_char *p = list->data, *end = list->data + list->len;
    while (p < end) {
        if (weak && end - p > 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
        }
        if ((size_t) (end - p) < etag.len) {
            return false;
        }
        if (memcmp(p, etag.data, etag.len) == 0) {
            const u_char *q = bw_not_modified_skip(p + etag.len, end, false);
            if (q == end || *q == ',') {
                return true;
            }
        }
        while (p < end && *p != ',') {
            p++;
        }
        p = bw_not_modified_skip(p, end, true);
    }
    return false;
}

/*
 * Ends the request with 412 from inside the header filters: forgets the
 * headers and module states of the response being built and sends the
 * error page instead. The caller (a content handler's send_header) gets
 * BW_ERROR when the page went out, so it stops and the connection closes,
 * as nginx does.
 */
static bw_rc_t
bw_not_modified_precondition_failed(bw_http_request_t *r)
{
    bw_http_headers_out_t *ho = &r->headers_out;
    bw_array_t headers = ho->headers, trailers = ho->trailers;

    memset(ho, 0, sizeof(*ho));
    ho->headers = headers;
    ho->headers.nelts = 0;
    ho->trailers = trailers;
    ho->trailers.nelts = 0;
    ho->content_length_n = -1;
    ho->last_modified_time = -1;
    memset(r->ctx, 0, bw_modules_n * sizeof(void *));
    r->filter_finalize = 1;

    bw_int_t rc = bw_http_special_response_handler(r, 412);
    return rc == BW_OK || rc == BW_DONE ? BW_ERROR : (bw_rc_t) rc;
}

/* Makes the response a 304: no body, no type, no length, no ranges. */
static void
bw_not_modified_set_304(bw_http_request_t *r)
{
    bw_http_headers_out_t *ho = &r->headers_out;

    ho->status = 304;
    ho->status_line.len = 0;
    ho->status_line.data = NULL;
    ho->content_type.len = 0;
    ho->content_type_len = 0;
    ho->content_length_n = -1;
    if (ho->content_length) {
        ho->content_length->hash = 0;
        ho->content_length = NULL;
    }
    if (ho->accept_ranges) {
        ho->accept_ranges->hash = 0;
        ho->accept_ranges = NULL;
    }
    r->allow_ranges = 0;
    if (ho->content_encoding) {
        ho->content_encoding->hash = 0;
        ho->content_encoding = NULL;
    }
}

static bw_rc_t
bw_not_modified_header_filter(bw_http_request_t *r)
{
    bw_http_headers_in_t *hi = &r->headers_in;

    if (r->headers_out.status != 200 || r != r->main || r->disable_not_modified) {
        return bw_http_next_header_filter(r, bw_not_modified_module);
    }
    if (hi->if_unmodified_since && !bw_not_modified_unmodified_since(r)) {
        return bw_not_modified_precondition_failed(r);
    }
    if (hi->if_match && !bw_not_modified_etag_matches(r, hi->if_match, false)) {
        return bw_not_modified_precondition_failed(r);
    }
    if (hi->if_modified_since == NULL && hi->if_none_match == NULL) {
        return bw_http_next_header_filter(r, bw_not_modified_module);
    }
    if (hi->if_modified_since && bw_not_modified_modified_since(r)) {
        return bw_http_next_header_filter(r, bw_not_modified_module);
    }
    if (hi->if_none_match && !bw_not_modified_etag_matches(r, hi->if_none_match, true)) {
        return bw_http_next_header_filter(r, bw_not_modified_module);
    }
    bw_not_modified_set_304(r);
    return bw_http_next_header_filter(r, bw_not_modified_module);
}
