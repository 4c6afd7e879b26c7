/*
 * special_response.c -- the answer to an error or special status: the
 * location's error_page (an internal redirect to a URI or a named location,
 * or a 302/30x to a URL, with "=code" and "=" status overrides), else the
 * built-in HTML page, byte for byte nginx's except the signature line
 * ("<hr><center>bulwark/0.1.0</center>"). Also msie_padding, msie_refresh,
 * and which statuses end keep-alive.
 *
 * nginx's internal codes 494 (head too large), 495, 496, 497 (TLS) answer
 * 400 with a page naming the reason; 444 closes without an answer and 408
 * is never answered (both handled by bw_http_finalize_request).
 */
#include "request_internal.h"

#include "log.h"
#include "pool.h"
#include "script.h"

#include <stdio.h>

/* One built-in page: "<title>CODE TITLE</title>" and "<h1>CODE H1</h1>". */
typedef struct {
    unsigned    status;
    const char *title; /* after "CODE " */
    const char *note;  /* 494..497: the reason, in its own <center> line */
} bw_http_page_t;

static const bw_http_page_t bw_http_pages[] = {
    {301, "Moved Permanently", NULL},
    {302, "Found", NULL},
    {303, "See Other", NULL},
    {307, "Temporary Redirect", NULL},
    {308, "Permanent Redirect", NULL},
    {400, "Bad Request", NULL},
    {401, "Authorization Required", NULL},
    {402, "Payment Required", NULL},
    {403, "Forbidden", NULL},
    {404, "Not Found", NULL},
    {405, "Not Allowed", NULL},
    {406, "Not Acceptable", NULL},
    {408, "Request Time-out", NULL},
    {409, "Conflict", NULL},
    {410, "Gone", NULL},
    {411, "Length Required", NULL},
    {412, "Precondition Failed", NULL},
    {413, "Request Entity Too Large", NULL},
    {414, "Request-URI Too Large", NULL},
    {415, "Unsupported Media Type", NULL},
    {416, "Requested Range Not Satisfiable", NULL},
    {421, "Misdirected Request", NULL},
    {429, "Too Many Requests", NULL},
    {494, "Bad Request", "Request Header Or Cookie Too Large"},
    {495, "Bad Request", "The SSL certificate error"},
    {496, "Bad Request", "No required SSL certificate was sent"},
    {497, "Bad Request", "The plain HTTP request was sent to HTTPS port"},
    {500, "Internal Server Error", NULL},
    {501, "Not Implemented", NULL},
    {502, "Bad Gateway", NULL},
    {503, "Service Temporarily Unavailable", NULL},
    {504, "Gateway Time-out", NULL},
    {505, "HTTP Version Not Supported", NULL},
    {507, "Insufficient Storage", NULL},
};

static const char bw_http_msie_padding[] =
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n";

static const bw_http_page_t *
bw_http_page_find(bw_int_t status)
{
    for (size_t i = 0; i < bw_nelems(bw_http_pages); i++) {
        if ((bw_int_t) bw_http_pages[i].status == status) {
            return &bw_http_pages[i];
        }
    }
    return NULL;
}

/* A read-only memory buffer over [p, p+len) in a new chain link. */
static bw_chain_t *
bw_http_page_link(bw_http_request_t *r, const void *p, size_t len)
{
    bw_buf_t *b = bw_buf_calloc(r->pool);
    bw_chain_t *cl = bw_chain_alloc_link(r->pool);
    if (b == NULL || cl == NULL) {
        return NULL;
    }
    b->memory = 1;
    b->start = b->pos = (u_char *) p;
    b->end = b->last = (u_char *) p + len;
    cl->buf = b;
    cl->next = NULL;
    return cl;
}

/* The page's text: head ("<html>...<h1>...</h1></center>\r\n") and tail
 * (signature, closing tags). NULL on no memory. */
static bw_str_t *
bw_http_page_text(bw_http_request_t *r, const bw_http_page_t *page)
{
    unsigned code = page->note ? 400 : page->status;
    const char *title = page->note ? page->note : page->title;
    const bw_str_t *sig = bw_http_server_signature(r);

    if (page->note) {
        return bw_psprintf(r->pool,
                           "<html>\r\n<head><title>%u %s</title></head>\r\n<body>\r\n"
                           "<center><h1>%u %s</h1></center>\r\n<center>%s</center>\r\n"
                           "<hr><center>%.*s</center>\r\n</body>\r\n</html>\r\n",
                           code, title, code, page->title, page->note, BW_STR_ARG(*sig));
    }
    return bw_psprintf(r->pool,
                       "<html>\r\n<head><title>%u %s</title></head>\r\n<body>\r\n"
                       "<center><h1>%u %s</h1></center>\r\n"
                       "<hr><center>%.*s</center>\r\n</body>\r\n</html>\r\n",
                       code, title, code, title, BW_STR_ARG(*sig));
}

/* Forgets what described the failed response's body. */
static void
bw_http_clear_body_headers(bw_http_request_t *r)
{
    bw_http_headers_out_t *out = &r->headers_out;

    if (out->content_length) {
        out->content_length->hash = 0;
        out->content_length = NULL;
    }
    if (out->accept_ranges) {
        out->accept_ranges->hash = 0;
        out->accept_ranges = NULL;
    }
    if (out->last_modified) {
        out->last_modified->hash = 0;
        out->last_modified = NULL;
    }
    if (out->etag) {
        out->etag->hash = 0;
        out->etag = NULL;
    }
    out->last_modified_time = -1;
    r->allow_ranges = 0;
}

/* Sends the built-in page for `status` (or an empty body when it has none). */
static bw_int_t
bw_http_send_special_page(bw_http_request_t *r, bw_int_t status)
{
    const bw_http_page_t *page = bw_http_page_find(status);
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_str_t *text = NULL;
    bool padding = false;

    if (status >= 494 && status <= 497) {
        r->err_status = 400;
    }
    bw_http_clear_body_headers(r);
    if (page) {
        text = bw_http_page_text(r, page);
        if (text == NULL) {
            return BW_ERROR;
        }
        padding = clcf->msie_padding && (r->headers_in.msie || r->headers_in.chrome)
                  && r->http_version >= BW_HTTP_VERSION_10 && status >= 400;
        bw_str_set(&r->headers_out.content_type, "text/html");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_length_n =
            (off_t) (text->len + (padding ? sizeof(bw_http_msie_padding) - 1 : 0));
    } else {
        r->headers_out.content_length_n = 0;
    }
    bw_rc_t rc = bw_http_send_header(r);
    if (rc == BW_ERROR || r->header_only) {
        return rc;
    }
    if (text == NULL) {
        return bw_http_send_special(r, BW_HTTP_LAST);
    }
    bw_chain_t *out = bw_http_page_link(r, text->data, text->len);
    if (out == NULL) {
        return BW_ERROR;
    }
    if (padding) {
        out->next = bw_http_page_link(r, bw_http_msie_padding, sizeof(bw_http_msie_padding) - 1);
        if (out->next == NULL) {
            return BW_ERROR;
        }
    }
    bw_chain_t *last = out->next ? out->next : out;
    last->buf->last_buf = 1;
    last->buf->last_in_chain = 1;
    return bw_http_output_filter(r, out);
}

/* ---------------------------------------------------------- msie_refresh */

/* Bytes a refresh URL must escape (the value sits in an HTML attribute). */
static bool
bw_http_refresh_escape(u_char ch)
{
    return ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\'' || ch == '%' || ch == '<'
           || ch == '>';
}

/* Answers MSIE with a 200 page that refreshes to the Location instead of a 30x. */
static bw_int_t
bw_http_send_refresh(bw_http_request_t *r)
{
    static const char head[] = "<html><head><meta http-equiv=\"Refresh\" content=\"0; URL=";
    static const char tail[] = "\"></head><body></body></html>\r\n";
    bw_str_t url = r->headers_out.location->value;
    size_t len = sizeof(head) - 1 + sizeof(tail) - 1;

    for (size_t i = 0; i < url.len; i++) {
        len += bw_http_refresh_escape(url.data[i]) ? 3 : 1;
    }
    u_char *page = bw_pnalloc(r->pool, len), *p = page;
    if (page == NULL) {
        return BW_ERROR;
    }
    p = (u_char *) memcpy(p, head, sizeof(head) - 1) + sizeof(head) - 1;
    for (size_t i = 0; i < url.len; i++) {
        if (bw_http_refresh_escape(url.data[i])) {
            p += snprintf((char *) p, 4, "%%%02X", url.data[i]);
        } else {
            *p++ = url.data[i];
        }
    }
    memcpy(p, tail, sizeof(tail) - 1);

    r->err_status = 200;
    r->headers_out.location->hash = 0;
    r->headers_out.location = NULL;
    bw_http_clear_body_headers(r);
    bw_str_set(&r->headers_out.content_type, "text/html");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = (off_t) len;
    bw_rc_t rc = bw_http_send_header(r);
    if (rc == BW_ERROR || r->header_only) {
        return rc;
    }
    bw_chain_t *out = bw_http_page_link(r, page, len);
    if (out == NULL) {
        return BW_ERROR;
    }
    out->buf->last_buf = 1;
    out->buf->last_in_chain = 1;
    return bw_http_output_filter(r, out);
}

/* ----------------------------------------------------------- error_page */

static bool
bw_http_is_redirect(bw_int_t status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Follows one error_page entry. */
static bw_int_t
bw_http_send_error_page(bw_http_request_t *r, const bw_http_err_page_t *page)
{
    bw_int_t overwrite = page->overwrite;
    bw_str_t uri = page->raw, args = page->args;

    if (overwrite == 0 || (overwrite > 0 && overwrite != 200)) {
        r->expect_tested = 1;
    }
    if (overwrite > 0) {
        r->err_status = overwrite;
    } else if (overwrite == -1) {
        r->err_status = 0; /* "=": the status of whatever answers */
    }
    if (page->value && bw_http_complex_value(r, page->value, &uri) != BW_OK) {
        return BW_ERROR;
    }
    if (uri.len && uri.data[0] == '/') {
        if (r->method != BW_HTTP_HEAD) {
            r->method = BW_HTTP_GET;
            bw_str_set(&r->method_name, "GET");
        }
        if (args.len == 0) {
            u_char *q = memchr(uri.data, '?', uri.len);
            if (q) {
                args.data = q + 1;
                args.len = uri.len - (size_t) (q + 1 - uri.data);
                uri.len = (size_t) (q - uri.data);
            }
        }
        return bw_http_internal_redirect(r, &uri, &args);
    }
    if (uri.len && uri.data[0] == '@') {
        return bw_http_named_location(r, &uri);
    }
    /* a URL: redirect the client there */
    r->expect_tested = 1;
    if (bw_http_discard_request_body(r) != BW_OK) {
        r->keepalive = 0;
    }
    if (r->headers_out.location) {
        r->headers_out.location->hash = 0;
        r->headers_out.location = NULL;
    }
    static const bw_str_t key = bw_string("Location");
    if (bw_http_add_header_out(r, &key, &uri) == NULL) {
        return BW_ERROR;
    }
    if (!bw_http_is_redirect(overwrite)) {
        r->err_status = 302;
    }
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    if (clcf->msie_refresh && r->headers_in.msie && r->err_status == 302) {
        return bw_http_send_refresh(r);
    }
    return bw_http_send_special_page(r, r->err_status);
}

/* ------------------------------------------------------------- the entry */

bw_int_t
bw_http_special_response_handler(bw_http_request_t *r, bw_int_t status)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);

    if (r->header_sent) {
        /* the head went out already: the body is broken, close */
        r->connection->error = 1;
        return BW_ERROR;
    }
    r->err_status = status;
    if (r->keepalive) {
        switch (status) {
        case 400: case 413: case 414: case 494: case 495: case 496: case 497:
        case 500: case 501: case 505:
            r->keepalive = 0;
            break;
        }
    }
    if (r->lingering_close) {
        switch (status) {
        case 400: case 494: case 495: case 496: case 497:
            r->lingering_close = 0;
            break;
        }
    }
    r->headers_out.content_type.len = 0;
    if (!r->error_page && clcf->error_pages && r->uri_changes != 0) {
        if (!clcf->recursive_error_pages) {
            r->error_page = 1;
        }
        bw_http_err_page_t *pages = clcf->error_pages->elts;
        for (size_t i = 0; i < clcf->error_pages->nelts; i++) {
            if (pages[i].status == status) {
                return bw_http_send_error_page(r, &pages[i]);
            }
        }
    }
    r->expect_tested = 1;
    /* a request whose head failed is not read further: it closes */
    if (r->head == NULL && bw_http_discard_request_body(r) != BW_OK) {
        r->keepalive = 0;
    }
    if (clcf->msie_refresh && r->headers_in.msie && (status == 301 || status == 302)
        && r->headers_out.location && r->headers_out.location->value.len) {
        return bw_http_send_refresh(r);
    }
    if (status == 201 || status == 204) {
        r->headers_out.content_length_n = 0;
        bw_rc_t rc = bw_http_send_header(r);
        if (rc == BW_ERROR || r->header_only) {
            return rc;
        }
        return bw_http_send_special(r, BW_HTTP_LAST);
    }
    return bw_http_send_special_page(r, status);
}
