/*
 * request_head.c -- reading a request head: fill the connection's buffer
 * (moving into a large header buffer when the request line or a header
 * line does not fit), parse the request line and header lines with parse.h,
 * file the known headers in r->headers_in, run the checks across headers
 * (Host, Content-Length, Transfer-Encoding, methods refused outright), pick
 * the virtual server, and hand the request to bw_http_process_request()
 * (request.c) -- or finalize it with the status a bad head is answered with.
 */
#include "request_internal.h"

#include "io.h"
#include "log.h"
#include "pool.h"
#include "process.h"
#include "timer.h"

/* ---------------------------------------------------- reading the head */

/*
 * Moves the item being parsed (the request line, or the current header
 * line) into a large header buffer when the current buffer is full. BW_OK,
 * or the status to answer: 414 for the request line, 494 for a header line
 * ("Request Header Or Cookie Too Large"), 500 on no memory.
 */
static bw_int_t
bw_http_head_grow(bw_http_request_t *r)
{
    bw_http_connection_t *hc = r->http_connection;
    bw_http_head_t *h = r->head;
    bw_buf_t *b = r->header_in;
    size_t size = bw_http_hc_srv(hc)->large_client_header_buffers_size;
    u_char *old;

    if (!h->in_headers) {
        old = h->line.request_start ? h->line.request_start : b->pos;
    } else {
        old = h->header.state != 0 ? h->header.line_start : b->pos;
    }
    size_t keep = (size_t) (b->last - old);
    bw_buf_t *nb = keep < size ? bw_http_large_buffer_get(hc, false) : NULL;
    if (nb == NULL) {
        if (!h->in_headers) {
            bw_log_error(BW_LOG_INFO, r->connection->log, 0, "client sent too long URI");
            return 414;
        }
        bw_http_log_header_line(r, "client sent too long header line", old,
                                bw_http_line_end(old, b->last), true);
        return 494;
    }
    memcpy(nb->start, old, keep);
    nb->pos = nb->start + (b->pos - old);
    nb->last = nb->start + keep;
    r->request_length += old - h->counted;
    h->counted = nb->start;
    if (!h->in_headers) {
        bw_http_request_line_rebase(&h->line, old, nb->start);
    } else {
        bw_http_header_line_rebase(&h->header, old, nb->start);
    }
    r->header_in = nb;
    return BW_OK;
}

/*
 * Reads more of the head. BW_OK (bytes came), BW_AGAIN (wait; the
 * connection is reclaimable meanwhile), BW_DONE (the request was closed), or
 * a status from growing the buffer.
 */
static bw_int_t
bw_http_head_read(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;
    bw_http_connection_t *hc = r->http_connection;
    bw_event_t *rev = c->read;

    if (r->header_in->last == r->header_in->end) {
        bw_int_t rc = bw_http_head_grow(r);
        if (rc != BW_OK) {
            return rc;
        }
    }
    bw_buf_t *b = r->header_in;
    ssize_t n = rev->ready ? c->recv(c, b->last, (size_t) (b->end - b->last)) : BW_AGAIN;
    if (n == BW_AGAIN) {
        if (!rev->timer_set) {
            bw_event_add_timer(rev, bw_http_hc_srv(hc)->client_header_timeout);
        }
        /* A client trickling its head may lose its slot to a new connection
         * when worker_connections run out (least recently active first). */
        if (!c->reusable && !bw_signals.quit) {
            bw_connection_reusable(c, true);
        }
        return BW_AGAIN;
    }
    if (n == 0) {
        bw_log_error(BW_LOG_INFO, c->log, 0, "client prematurely closed connection");
    }
    if (n == 0 || n == BW_ERROR) {
        c->error = 1;
        bw_http_terminate_request(r, 400);
        return BW_DONE;
    }
    b->last += n;
    if (c->reusable) {
        bw_connection_reusable(c, false);
    }
    return BW_OK;
}

void
bw_http_head_handler(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;

    if (c->read->timedout) {
        bw_log_error(BW_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        c->timedout = 1;
        bw_http_terminate_request(r, 408);
        return;
    }
    bw_http_head_process(r);
}

/* ---- the request line ---- */

/* Sets r's URI fields from the parsed line. BW_OK or 400. */
static bw_int_t
bw_http_request_uri_set(bw_http_request_t *r, const bw_http_request_line_t *rl)
{
    bw_http_core_srv_conf_t *cscf = bw_http_hc_srv(r->http_connection);
    bw_str_t path;

    path.data = rl->uri_start;
    path.len = (size_t) (rl->path_end - rl->uri_start);
    if (rl->flags & BW_HTTP_URI_EMPTY_PATH) {
        path.len = 0;
    }
    r->complex_uri = (rl->flags & BW_HTTP_URI_COMPLEX) != 0;
    r->quoted_uri = (rl->flags & BW_HTTP_URI_QUOTED) != 0;
    r->plus_in_uri = (rl->flags & BW_HTTP_URI_PLUS) != 0;

    if (r->complex_uri || r->quoted_uri || path.len == 0) {
        u_char *dst = bw_pnalloc(r->pool, path.len + 2);
        if (dst == NULL) {
            return 500;
        }
        if (bw_http_parse_complex_uri(&path, dst, cscf->merge_slashes != 0, &r->uri, &r->exten)
            != BW_OK) {
            r->uri.len = 0;
            bw_log_error(BW_LOG_INFO, r->connection->log, 0, "client sent invalid request");
            return 400;
        }
    } else {
        r->uri = path;
        if (rl->exten_start && rl->exten_end > rl->exten_start) {
            r->exten.data = rl->exten_start;
            r->exten.len = (size_t) (rl->exten_end - rl->exten_start);
        }
    }
    if (rl->args_start) {
        r->args.data = rl->args_start;
        r->args.len = (size_t) (rl->args_end - rl->args_start);
    }
    return BW_OK;
}

/* Takes the parsed request line into r. BW_OK or the status to answer. */
static bw_int_t
bw_http_request_line_set(bw_http_request_t *r)
{
    const bw_http_request_line_t *rl = &((bw_http_head_t *) r->head)->line;
    bw_connection_t *c = r->connection;

    r->method = rl->method;
    r->method_name.data = rl->request_start;
    r->method_name.len = (size_t) (rl->method_end - rl->request_start);
    r->http_version = rl->http_version;
    r->request_line.data = rl->request_start;
    r->request_line.len = (size_t) (rl->request_end - rl->request_start);
    r->unparsed_uri.data = rl->uri_start;
    r->unparsed_uri.len = (size_t) (rl->uri_end - rl->uri_start);
    if (rl->protocol_start) {
        r->http_protocol.data = rl->protocol_start;
        r->http_protocol.len = (size_t) (rl->protocol_end - rl->protocol_start);
    }
    /* nginx answers 400 to "OPTIONS *" and to CONNECT's authority form */
    if (rl->target == BW_HTTP_TARGET_ASTERISK || rl->target == BW_HTTP_TARGET_AUTHORITY) {
        bw_log_error(BW_LOG_INFO, c->log, 0, "client sent invalid request");
        return 400;
    }
    bw_int_t rc = bw_http_request_uri_set(r, rl);
    if (rc != BW_OK) {
        return rc;
    }
    if (rl->schema_start) {
        r->schema.data = rl->schema_start;
        r->schema.len = (size_t) (rl->schema_end - rl->schema_start);
    }
    if (rl->host_start) {
        bw_str_t host = {(size_t) (rl->host_end - rl->host_start), rl->host_start};
        r->host_in_line = host;
        bw_rc_t hrc = bw_http_validate_host(&host, r->pool);
        if (hrc == BW_ERROR) {
            return 500;
        }
        if (hrc != BW_OK) {
            bw_log_error(BW_LOG_INFO, c->log, 0, "client sent invalid host in request line");
            return 400;
        }
        r->headers_in.server = host; /* the line's host wins over Host (RFC 9112 §3.2.2) */
    }
    return BW_OK;
}

/* ---- header lines ---- */

typedef enum {
    BW_HTTP_HDR_MULTI = 0, /* first kept, repeats linked by ->next */
    BW_HTTP_HDR_UNIQUE,    /* a repeat is a 400 */
    BW_HTTP_HDR_HOST,
    BW_HTTP_HDR_CONNECTION,
    BW_HTTP_HDR_USER_AGENT,
} bw_http_hdr_kind_t;

typedef struct {
    const char        *name; /* lowercase */
    size_t             offset;
    bw_http_hdr_kind_t kind;
    bw_uint_t          hash;
} bw_http_known_header_t;

#define BW_HTTP_HIN(field) offsetof(bw_http_headers_in_t, field)

/* The headers with a slot in headers_in; unique ones as nginx 1.22 treats them. */
static bw_http_known_header_t bw_http_known_headers[] = {
    {"host", BW_HTTP_HIN(host), BW_HTTP_HDR_HOST, 0},
    {"connection", BW_HTTP_HIN(connection), BW_HTTP_HDR_CONNECTION, 0},
    {"if-modified-since", BW_HTTP_HIN(if_modified_since), BW_HTTP_HDR_UNIQUE, 0},
    {"if-unmodified-since", BW_HTTP_HIN(if_unmodified_since), BW_HTTP_HDR_UNIQUE, 0},
    {"if-match", BW_HTTP_HIN(if_match), BW_HTTP_HDR_UNIQUE, 0},
    {"if-none-match", BW_HTTP_HIN(if_none_match), BW_HTTP_HDR_UNIQUE, 0},
    {"user-agent", BW_HTTP_HIN(user_agent), BW_HTTP_HDR_USER_AGENT, 0},
    {"referer", BW_HTTP_HIN(referer), BW_HTTP_HDR_MULTI, 0},
    {"content-length", BW_HTTP_HIN(content_length), BW_HTTP_HDR_UNIQUE, 0},
    {"content-range", BW_HTTP_HIN(content_range), BW_HTTP_HDR_UNIQUE, 0},
    {"content-type", BW_HTTP_HIN(content_type), BW_HTTP_HDR_MULTI, 0},
    {"range", BW_HTTP_HIN(range), BW_HTTP_HDR_MULTI, 0},
    {"if-range", BW_HTTP_HIN(if_range), BW_HTTP_HDR_UNIQUE, 0},
    {"transfer-encoding", BW_HTTP_HIN(transfer_encoding), BW_HTTP_HDR_UNIQUE, 0},
    {"te", BW_HTTP_HIN(te), BW_HTTP_HDR_MULTI, 0},
    {"expect", BW_HTTP_HIN(expect), BW_HTTP_HDR_UNIQUE, 0},
    {"upgrade", BW_HTTP_HIN(upgrade), BW_HTTP_HDR_MULTI, 0},
    {"accept-encoding", BW_HTTP_HIN(accept_encoding), BW_HTTP_HDR_MULTI, 0},
    {"via", BW_HTTP_HIN(via), BW_HTTP_HDR_MULTI, 0},
    {"authorization", BW_HTTP_HIN(authorization), BW_HTTP_HDR_UNIQUE, 0},
    {"keep-alive", BW_HTTP_HIN(keep_alive), BW_HTTP_HDR_MULTI, 0},
    {"x-forwarded-for", BW_HTTP_HIN(x_forwarded_for), BW_HTTP_HDR_MULTI, 0},
    {"x-real-ip", BW_HTTP_HIN(x_real_ip), BW_HTTP_HDR_MULTI, 0},
    {"cookie", BW_HTTP_HIN(cookie), BW_HTTP_HDR_MULTI, 0},
    {"accept", BW_HTTP_HIN(accept), BW_HTTP_HDR_MULTI, 0},
    {"accept-language", BW_HTTP_HIN(accept_language), BW_HTTP_HDR_MULTI, 0},
};

static const bw_http_known_header_t *
bw_http_known_header_find(const bw_http_header_t *h)
{
    static bool hashed;

    if (!hashed) {
        for (size_t i = 0; i < bw_nelems(bw_http_known_headers); i++) {
            const char *n = bw_http_known_headers[i].name;
            bw_http_known_headers[i].hash = bw_http_parse_hash_lc((const u_char *) n, strlen(n));
        }
        hashed = true;
    }
    for (size_t i = 0; i < bw_nelems(bw_http_known_headers); i++) {
        const bw_http_known_header_t *k = &bw_http_known_headers[i];
        if (k->hash == h->hash && strlen(k->name) == h->key.len
            && memcmp(k->name, h->lowcase_key, h->key.len) == 0) {
            return k;
        }
    }
    return NULL;
}

/* True when `s` contains `word` (ASCII case-insensitively). */
static bool
bw_http_str_has(const bw_str_t *s, const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; n <= s->len && i <= s->len - n; i++) {
        if (bw_strncasecmp(s->data + i, (const u_char *) word, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Browser detection from User-Agent, for msie_padding and keepalive_disable. */
static void
bw_http_user_agent_detect(bw_http_request_t *r, const bw_str_t *ua)
{
    bw_http_headers_in_t *in = &r->headers_in;

    for (size_t i = 0; i + 5 <= ua->len; i++) {
        if (memcmp(ua->data + i, "MSIE ", 5) == 0) {
            in->msie = true;
            if (i + 7 < ua->len && ua->data[i + 5] >= '4' && ua->data[i + 5] <= '6'
                && ua->data[i + 6] == '.') {
                in->msie6 = true;
            }
            break;
        }
    }
    if (bw_http_str_has(ua, "Opera")) {
        in->opera = true;
        in->msie = false;
        in->msie6 = false;
    }
    if (in->msie || in->opera) {
        return;
    }
    if (bw_http_str_has(ua, "Gecko/")) {
        in->gecko = true;
    } else if (bw_http_str_has(ua, "Chrome/")) {
        in->chrome = true;
    } else if (bw_http_str_has(ua, "Safari/") && bw_http_str_has(ua, "Mac OS X")) {
        in->safari = true;
    } else if (bw_http_str_has(ua, "Konqueror")) {
        in->konqueror = true;
    }
}

/* Files a header in its headers_in slot. BW_OK or the status to answer. */
static bw_int_t
bw_http_header_file(bw_http_request_t *r, bw_http_header_t *h)
{
    const bw_http_known_header_t *k = bw_http_known_header_find(h);
    if (k == NULL) {
        return BW_OK;
    }
    bw_http_header_t **slot = (bw_http_header_t **) ((u_char *) &r->headers_in + k->offset);
    bw_connection_t *c = r->connection;

    if (*slot && (k->kind == BW_HTTP_HDR_UNIQUE || k->kind == BW_HTTP_HDR_HOST)) {
        bw_log_error(BW_LOG_INFO, c->log, 0,
                     "client sent duplicate %s: \"%.*s: %.*s\", previous value: \"%.*s: %.*s\"",
                     k->kind == BW_HTTP_HDR_HOST ? "host header" : "header line",
                     BW_STR_ARG(h->key), BW_STR_ARG(h->value), BW_STR_ARG((*slot)->key),
                     BW_STR_ARG((*slot)->value));
        return 400;
    }
    if (k->kind == BW_HTTP_HDR_HOST) {
        bw_str_t host = h->value;
        bw_rc_t rc = bw_http_validate_host(&host, r->pool);
        if (rc == BW_ERROR) {
            return 500;
        }
        if (rc != BW_OK) {
            bw_log_error(BW_LOG_INFO, c->log, 0, "client sent invalid host header");
            return 400;
        }
        if (r->headers_in.server.len == 0) {
            r->headers_in.server = host;
        }
    } else if (k->kind == BW_HTTP_HDR_CONNECTION) {
        if (bw_http_str_has(&h->value, "close")) {
            r->headers_in.connection_type = BW_HTTP_CONNECTION_CLOSE;
        } else if (bw_http_str_has(&h->value, "keep-alive")) {
            r->headers_in.connection_type = BW_HTTP_CONNECTION_KEEP_ALIVE;
        }
    } else if (k->kind == BW_HTTP_HDR_USER_AGENT && *slot == NULL) {
        bw_http_user_agent_detect(r, &h->value);
    }
    if (*slot == NULL) {
        *slot = h;
    } else {
        bw_http_header_t *last = *slot;
        while (last->next) {
            last = last->next;
        }
        last->next = h;
    }
    return BW_OK;
}

/* Takes one parsed header line into headers_in. BW_OK or a status. */
static bw_int_t
bw_http_header_add(bw_http_request_t *r)
{
    bw_http_header_line_t *hl = &((bw_http_head_t *) r->head)->header;
    bw_http_core_srv_conf_t *cscf = bw_http_hc_srv(r->http_connection);
    const u_char *line_end = hl->value_start ? hl->value_end : hl->name_end;

    bw_rc_t verdict = bw_http_header_line_verdict(hl, cscf->ignore_invalid_headers != 0,
                                                  cscf->underscores_in_headers != 0);
    if (verdict != BW_OK) {
        bw_http_log_header_line(r, "client sent invalid header line", hl->line_start, line_end,
                                false);
        return verdict == BW_DECLINED ? BW_OK : 400;
    }
    bw_http_header_t *h = bw_array_push(&r->headers_in.headers);
    if (h == NULL) {
        return 500;
    }
    h->hash = hl->hash;
    h->key.data = hl->name_start;
    h->key.len = (size_t) (hl->name_end - hl->name_start);
    if (hl->value_start) {
        h->value.data = hl->value_start;
        h->value.len = (size_t) (hl->value_end - hl->value_start);
    } else {
        h->value.data = hl->name_end;
        h->value.len = 0;
    }
    h->next = NULL;
    h->lowcase_key = bw_pnalloc(r->pool, h->key.len + 1);
    if (h->lowcase_key == NULL) {
        return 500;
    }
    bw_strlow(h->lowcase_key, h->key.data, h->key.len);
    h->lowcase_key[h->key.len] = '\0';
    return bw_http_header_file(r, h);
}

/* The checks across headers once the head is complete (parse.h lists them). */
static bw_int_t
bw_http_head_check(bw_http_request_t *r)
{
    bw_http_headers_in_t *in = &r->headers_in;
    bw_log_t *log = r->connection->log;

    if (in->host == NULL && r->http_version > BW_HTTP_VERSION_10) {
        bw_log_error(BW_LOG_INFO, log, 0, "client sent HTTP/1.1 request without \"Host\" header");
        return 400;
    }
    if (in->content_length) {
        in->content_length_n = bw_http_parse_content_length(&in->content_length->value);
        if (in->content_length_n < 0) {
            in->content_length_n = -1;
            bw_log_error(BW_LOG_INFO, log, 0, "client sent invalid \"Content-Length\" header");
            return 400;
        }
    }
    if (in->transfer_encoding) {
        if (r->http_version < BW_HTTP_VERSION_11) {
            bw_log_error(BW_LOG_INFO, log, 0,
                         "client sent HTTP/1.0 request with \"Transfer-Encoding\" header");
            return 400;
        }
        if (bw_http_parse_transfer_encoding(&in->transfer_encoding->value) != BW_OK) {
            bw_log_error(BW_LOG_INFO, log, 0, "client sent unknown \"Transfer-Encoding\": \"%.*s\"",
                         BW_STR_ARG(in->transfer_encoding->value));
            return 501;
        }
        if (in->content_length) {
            bw_log_error(BW_LOG_INFO, log, 0, "client sent \"Content-Length\" and "
                         "\"Transfer-Encoding\" headers at the same time");
            return 400;
        }
        in->chunked = true;
        in->content_length_n = -1;
    }
    if (r->method == BW_HTTP_CONNECT) {
        bw_log_error(BW_LOG_INFO, log, 0, "client sent CONNECT method");
        return 405;
    }
    if (r->method == BW_HTTP_TRACE) {
        bw_log_error(BW_LOG_INFO, log, 0, "client sent TRACE method");
        return 405;
    }
    return BW_OK;
}

/* The head is complete: check it and select the virtual server. */
static bw_int_t
bw_http_head_done(bw_http_request_t *r)
{
    bw_http_head_t *h = r->head;
    r->request_length += r->header_in->pos - h->counted;
    h->counted = r->header_in->pos;

    bw_int_t rc = bw_http_head_check(r);
    if (rc != BW_OK) {
        return rc;
    }
    if (bw_http_find_virtual_server(r, &r->headers_in.server) != BW_OK) {
        return 500;
    }
    if (r->loc_conf == NULL) {
        r->loc_conf = bw_http_core_srv(r)->ctx->loc_conf;
    }
    return BW_OK;
}

/*
 * Parses what the buffer holds. BW_OK: the head is complete; BW_AGAIN: more
 * bytes are needed; otherwise the status to answer (already logged).
 */
static bw_int_t
bw_http_head_parse(bw_http_request_t *r)
{
    bw_http_head_t *h = r->head;
    bw_buf_t *b = r->header_in;
    bw_connection_t *c = r->connection;
    bw_rc_t rc;

    if (!h->in_headers) {
        rc = bw_http_parse_request_line(&h->line, &b->pos, b->last);
        if (rc == BW_AGAIN) {
            return BW_AGAIN;
        }
        if (rc != BW_OK) {
            if (rc == BW_HTTP_PARSE_INVALID_09_METHOD) {
                r->http_version = BW_HTTP_VERSION_9;
            }
            bw_log_error(BW_LOG_INFO, c->log, 0, "%s", bw_http_parse_error_text(rc));
            return bw_http_parse_error_status(rc);
        }
        bw_int_t st = bw_http_request_line_set(r);
        if (st != BW_OK) {
            return st;
        }
        if (r->http_version < BW_HTTP_VERSION_10) {
            return bw_http_head_done(r); /* HTTP/0.9: no headers */
        }
        h->in_headers = true;
        c->log->action = "reading client request headers";
    }
    for (;;) {
        rc = bw_http_parse_header_line(&h->header, &b->pos, b->last);
        if (rc == BW_AGAIN) {
            return BW_AGAIN;
        }
        if (rc == BW_DONE) {
            return bw_http_head_done(r);
        }
        if (rc != BW_OK) {
            u_char *bad = bw_min(b->pos + 1, b->last);
            bw_http_log_header_line(r, "client sent invalid header line", h->header.line_start,
                                    bad, true);
            return 400;
        }
        bw_int_t st = bw_http_header_add(r);
        if (st != BW_OK) {
            return st;
        }
    }
}

void
bw_http_head_process(bw_http_request_t *r)
{
    for (;;) {
        bw_int_t rc = bw_http_head_parse(r);
        if (rc == BW_OK) {
            bw_http_process_request(r);
            return;
        }
        if (rc == BW_AGAIN) {
            rc = bw_http_head_read(r);
            if (rc == BW_OK) {
                continue;
            }
            if (rc == BW_AGAIN || rc == BW_DONE) {
                return;
            }
        }
        /* an error answer: the head is not usable, the connection closes */
        r->read_event_handler = bw_http_block_reading;
        if (r->connection->read->timer_set) {
            bw_event_del_timer(r->connection->read);
        }
        bw_connection_reusable(r->connection, false);
        bw_http_finalize_request(r, rc);
        return;
    }
}
