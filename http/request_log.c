/*
 * request_log.c -- what the error log says about an HTTP connection: the
 * context appended to every message (client, server, request line, host,
 * referrer) while a connection or request is current, and the escaped,
 * bounded copy of an offending header line logged when a head is refused.
 */
#include "request_internal.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>

/* Bytes of an offending header line shown in the log ("...": cut). */
#define BW_HTTP_LOG_LINE_MAX 1748

/* Finds the end of the line starting at p (CR or LF), at most up to last. */
u_char *
bw_http_line_end(u_char *p, u_char *last)
{
    while (p < last && *p != '\r' && *p != '\n') {
        p++;
    }
    return p;
}

/* The request line for messages: complete, or as much as was received. */
static bw_str_t
bw_http_log_request_line(bw_http_request_t *r)
{
    bw_str_t line = r->request_line;
    bw_http_head_t *h = r->head;

    if (line.len == 0 && h && h->line.request_start && r->header_in) {
        u_char *start = h->line.request_start;
        if (start >= r->header_in->start && start <= r->header_in->last) {
            line.data = start;
            line.len = (size_t) (bw_http_line_end(start, r->header_in->last) - start);
        }
    }
    return line;
}

/* Appends printf output to [*p, end); keeps *p inside the buffer. */
static void
bw_http_log_append(u_char **p, u_char *end, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
bw_http_log_append(u_char **p, u_char *end, const char *fmt, ...)
{
    if (*p >= end) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf((char *) *p, (size_t) (end - *p), fmt, ap);
    va_end(ap);
    if (n > 0) {
        *p += bw_min((size_t) n, (size_t) (end - *p) - 1);
    }
}

/*
 * The context nginx appends to messages about a connection:
 * ", client: 1.2.3.4, server: name, request: "GET / HTTP/1.1", host: "h"".
 * Nothing for an idle keep-alive connection.
 */
size_t
bw_http_log_context(bw_log_t *log, u_char *buf, size_t len)
{
    bw_http_connection_t *hc = log->data;
    bw_connection_t *c = hc->connection;
    bw_http_request_t *r = hc->request;
    u_char *p = buf, *end = buf + len;

    if (len == 0 || (r == NULL && c->requests > 0)) {
        return 0;
    }
    bw_http_log_append(&p, end, ", client: %.*s", BW_STR_ARG(c->addr_text));
    if (r == NULL) {
        if (c->listening) {
            bw_http_log_append(&p, end, ", server: %.*s", BW_STR_ARG(c->listening->addr_text));
        }
        return (size_t) (p - buf);
    }
    bw_str_t server = r->server_name ? *r->server_name : bw_http_hc_srv(hc)->server_name;
    bw_http_log_append(&p, end, ", server: %.*s", BW_STR_ARG(server));
    bw_str_t line = bw_http_log_request_line(r);
    if (line.len) {
        bw_http_log_append(&p, end, ", request: \"%.*s\"", BW_STR_ARG(line));
    }
    if (r->log_handler && p < end) {
        p += r->log_handler(r, p, (size_t) (end - p)); /* e.g. ", upstream: ..." */
    }
    if (r->headers_in.host) {
        bw_http_log_append(&p, end, ", host: \"%.*s\"", BW_STR_ARG(r->headers_in.host->value));
    }
    if (r->headers_in.referer) {
        bw_http_log_append(&p, end, ", referrer: \"%.*s\"",
                           BW_STR_ARG(r->headers_in.referer->value));
    }
    return (size_t) (p - buf);
}

/* Logs a header line at info: `what: "line..."` (escaped, cut at a bound). */
void
bw_http_log_header_line(bw_http_request_t *r, const char *what, const u_char *start,
                        const u_char *end, bool cut)
{
    u_char text[BW_HTTP_LOG_LINE_MAX * 4 + 4], *t = text;
    size_t n = (size_t) (end - start);

    if (n > BW_HTTP_LOG_LINE_MAX) {
        n = BW_HTTP_LOG_LINE_MAX;
        cut = true;
    }
    for (size_t i = 0; i < n; i++) {
        u_char ch = start[i];
        if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\') {
            if (ch == ' ' && i + 1 < n) {
                *t++ = ch;
                continue;
            }
            t += snprintf((char *) t, 5, "\\x%02X", ch);
            continue;
        }
        *t++ = ch;
    }
    bw_log_error(BW_LOG_INFO, r->connection->log, 0, "%s: \"%.*s%s\"", what, (int) (t - text),
                 (char *) text, cut ? "..." : "");
}
