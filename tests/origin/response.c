/*
 * response.c -- how bw_origin answers: the head (status, identification,
 * extra headers, framing), then the body generated piece by piece so a huge
 * len= never sits in memory, with the delays, chunking, trailers and abrupt
 * closes the request asked for; then the next pipelined request or a close.
 */
#include "origin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BW_ORIGIN_STATS_PATH "/__origin/stats"

static const struct {
    int         status;
    const char *reason;
} bw_origin_reasons[] = {
    { 100, "Continue" }, { 101, "Switching Protocols" }, { 200, "OK" }, { 201, "Created" },
    { 202, "Accepted" }, { 204, "No Content" }, { 206, "Partial Content" },
    { 301, "Moved Permanently" }, { 302, "Found" }, { 303, "See Other" },
    { 304, "Not Modified" }, { 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
    { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
    { 404, "Not Found" }, { 405, "Method Not Allowed" }, { 408, "Request Timeout" },
    { 413, "Content Too Large" }, { 426, "Upgrade Required" }, { 429, "Too Many Requests" },
    { 500, "Internal Server Error" }, { 502, "Bad Gateway" },
    { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
};

static const char *bw_origin_response_reason(int status)
{
    for (size_t i = 0; i < sizeof(bw_origin_reasons) / sizeof(bw_origin_reasons[0]); i++) {
        if (bw_origin_reasons[i].status == status) {
            return bw_origin_reasons[i].reason;
        }
    }
    return "Status";
}

int bw_origin_response_flush(bw_origin_conn_t *c)
{
    while (bw_origin_buf_len(&c->out) > 0) {
        ssize_t n = write(c->fd, c->out.data + c->out.start, bw_origin_buf_len(&c->out));

        if (n > 0) {
            bw_origin_buf_consume(&c->out, (size_t) n);
        } else if (n == -1 && errno == EINTR) {
            continue;
        } else if (n == -1 && errno == EAGAIN) {
            return 1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Value of the header=Name:value the request added, or NULL. */
static const char *bw_origin_response_extra(const bw_origin_ctl_t *ctl, const char *name)
{
    size_t n = strlen(name);

    for (int i = 0; i < ctl->nextra; i++) {
        if (strncasecmp(ctl->extra[i], name, n) == 0 && ctl->extra[i][n] == ':') {
            return ctl->extra[i] + n + 2;
        }
    }
    return NULL;
}

/* cond=1: the validators the request sent match the ones we send. */
static bool bw_origin_response_not_modified(const bw_origin_req_t *r)
{
    const char *etag = bw_origin_response_extra(&r->ctl, "ETag");
    const char *lm = bw_origin_response_extra(&r->ctl, "Last-Modified");
    const char *inm = bw_origin_request_header(r, "If-None-Match");
    const char *ims = bw_origin_request_header(r, "If-Modified-Since");

    if (!r->ctl.cond) {
        return false;
    }
    return (etag != NULL && inm != NULL && strcmp(etag, inm) == 0)
           || (lm != NULL && ims != NULL && strcmp(lm, ims) == 0);
}

/* Queues a whole small response that ends the connection. */
static void bw_origin_response_simple(bw_origin_conn_t *c, int status, const char *body,
                                      bool close)
{
    bw_origin_buf_addf(&c->out,
                       "HTTP/1.1 %d %s\r\nX-Origin: %s\r\nContent-Type: text/plain\r\n"
                       "Content-Length: %zu\r\n%s\r\n%s",
                       status, bw_origin_response_reason(status), bw_origin.name,
                       strlen(body), close ? "Connection: close\r\n" : "", body);
    c->resp_close = close;
    c->body_stop = 0;
    c->body_sent = 0;
    c->body_done = true;
    c->state = BW_ORIGIN_WRITE;
    bw_origin_response_write(c);
}

void bw_origin_response_error(bw_origin_conn_t *c, int status)
{
    bw_origin_response_simple(c, status, "bad request\n", true);
}

static bool bw_origin_response_is_stats(const bw_origin_req_t *r)
{
    size_t n = sizeof(BW_ORIGIN_STATS_PATH) - 1;

    return strcmp(r->method, "GET") == 0 && strncmp(r->uri, BW_ORIGIN_STATS_PATH, n) == 0
           && (r->uri[n] == '\0' || r->uri[n] == '?');
}

void bw_origin_response_start(bw_origin_conn_t *c)
{
    bw_origin_req_t *r = &c->req;

    c->nrequests++;
    if (bw_origin_response_is_stats(r)) {
        char body[160];

        snprintf(body, sizeof(body), "requests %llu\nconnections %llu\nactive %llu\n",
                 (unsigned long long) bw_origin.requests,
                 (unsigned long long) bw_origin.connections,
                 (unsigned long long) bw_origin.active);
        bw_origin_response_simple(c, 200, body, !r->keep_alive);
        return;
    }
    bw_origin.requests++;
    if (bw_origin.verbose) {
        fprintf(stderr, "bw_origin %s: conn %llu: %s %s %s\n", bw_origin.name,
                (unsigned long long) c->id, r->method, r->uri, r->version);
    }
    if (r->ctl.delay_ms > 0) {
        c->state = BW_ORIGIN_DELAY;
        c->timer_at = bw_origin_now_ms() + r->ctl.delay_ms;
        bw_origin_conn_watch(c);
        return;
    }
    bw_origin_response_send(c);
}

/* Chooses the body: an echo, body=, the len= pattern, or the default text. */
static void bw_origin_response_body_source(bw_origin_conn_t *c)
{
    bw_origin_req_t *r = &c->req;
    bw_origin_buf_t  b = { 0 };

    free(c->src_owned);
    c->src_owned = NULL;
    c->src = NULL;
    if (r->ctl.echo == BW_ORIGIN_ECHO_RAW) {
        bw_origin_buf_add(&b, r->head, r->head_len);
        bw_origin_buf_add(&b, r->raw_body.data, bw_origin_buf_len(&r->raw_body));
    } else if (r->ctl.echo == BW_ORIGIN_ECHO_BODY) {
        bw_origin_buf_add(&b, r->body.data, bw_origin_buf_len(&r->body));
    } else if (r->ctl.body != NULL) {
        bw_origin_buf_add(&b, r->ctl.body, strlen(r->ctl.body));
    } else if (r->ctl.len >= 0) {
        c->body_total = (uint64_t) r->ctl.len;
        return;
    } else {
        bw_origin_buf_addf(&b, "origin %s request %llu\n", bw_origin.name,
                           (unsigned long long) bw_origin.requests);
    }
    c->src_owned = b.data != NULL ? b.data : calloc(1, 1);
    c->src = c->src_owned;
    c->body_total = bw_origin_buf_len(&b);
}

static void bw_origin_response_date(char *buf, size_t size)
{
    time_t    now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Status line and header fields into c->out. */
static void bw_origin_response_head(bw_origin_conn_t *c, int status, bool bodyless)
{
    bw_origin_req_t *r = &c->req;
    char             date[64];

    bw_origin_response_date(date, sizeof(date));
    bw_origin_buf_addf(&c->out,
                       "HTTP/1.1 %d %s\r\nDate: %s\r\nX-Origin: %s\r\nX-Origin-Conn: %llu\r\n"
                       "X-Origin-Request: %llu\r\n",
                       status, bw_origin_response_reason(status), date, bw_origin.name,
                       (unsigned long long) c->id, (unsigned long long) c->nrequests);
    if (r->has_body) {
        bw_origin_buf_addf(&c->out, "X-Origin-Body-Length: %llu\r\n",
                           (unsigned long long) r->body_len);
    }
    if (!bodyless && bw_origin_response_extra(&r->ctl, "Content-Type") == NULL) {
        bw_origin_buf_addf(&c->out, "Content-Type: text/plain\r\n");
    }
    for (int i = 0; i < r->ctl.nextra; i++) {
        bw_origin_buf_addf(&c->out, "%s\r\n", r->ctl.extra[i]);
    }
    if (r->ctl.huge_header > 0) {
        bw_origin_buf_addf(&c->out, "X-Huge: ");
        for (size_t i = 0; i < r->ctl.huge_header; i++) {
            bw_origin_buf_add(&c->out, "h", 1);
        }
        bw_origin_buf_addf(&c->out, "\r\n");
    }
    if (!bodyless && c->resp_chunked) {
        bw_origin_buf_addf(&c->out, "Transfer-Encoding: chunked\r\n");
    } else if (!bodyless && !r->ctl.close) {
        bw_origin_buf_addf(&c->out, "Content-Length: %llu\r\n",
                           (unsigned long long) c->body_total);
    }
    if (c->resp_close) {
        bw_origin_buf_addf(&c->out, "Connection: close\r\n");
    } else if (strcmp(r->version, "HTTP/1.0") == 0) {
        bw_origin_buf_addf(&c->out, "Connection: keep-alive\r\n");
    }
    bw_origin_buf_addf(&c->out, "\r\n");
}

void bw_origin_response_send(bw_origin_conn_t *c)
{
    bw_origin_req_t *r = &c->req;
    int              status = r->ctl.status > 0 ? r->ctl.status : 200;
    bool             bodyless;

    if (r->ctl.ws) {
        if (!bw_origin_ws_accept(c)) {
            bw_origin_response_error(c, 400);
        }
        return;
    }
    if (bw_origin_response_not_modified(r)) {
        status = 304;
    }
    bodyless = status < 200 || status == 204 || status == 304;
    bw_origin_response_body_source(c);
    c->resp_close = r->ctl.close || r->ctl.close_mid || !r->keep_alive || c->peer_eof;
    c->resp_chunked = r->ctl.chunked && !r->ctl.close;
    bw_origin_response_head(c, status, bodyless);
    c->resp_bodyless = bodyless || r->is_head;
    c->body_sent = 0;
    c->body_stop = c->resp_bodyless ? 0
                   : r->ctl.close_mid ? c->body_total / 2
                                      : c->body_total;
    c->paused = false;
    c->body_done = false;
    c->state = BW_ORIGIN_WRITE;
    bw_origin_response_write(c);
}

/* Appends body bytes [sent, sent + n) of the chosen source to c->out. */
static void bw_origin_response_add_body(bw_origin_conn_t *c, size_t n)
{
    char     piece[4096];
    uint64_t off = c->body_sent;

    if (c->src != NULL) {
        bw_origin_buf_add(&c->out, c->src + off, n);
        return;
    }
    while (n > 0) {
        size_t k = n < sizeof(piece) ? n : sizeof(piece);

        for (size_t i = 0; i < k; i++) {
            piece[i] = (char) ('a' + (off + i) % 26);
        }
        bw_origin_buf_add(&c->out, piece, k);
        off += k;
        n -= k;
    }
}

/* Queues the next body piece (a chunk when chunked), and the end when it is. */
static void bw_origin_response_piece(bw_origin_conn_t *c)
{
    bw_origin_req_t *r = &c->req;
    uint64_t         left = c->body_stop - c->body_sent;
    size_t           max = c->resp_chunked ? r->ctl.chunk : BW_ORIGIN_PIECE;
    size_t           n = left < max ? (size_t) left : max;

    if (n > 0) {
        if (c->resp_chunked) {
            bw_origin_buf_addf(&c->out, "%zx\r\n", n);
        }
        bw_origin_response_add_body(c, n);
        if (c->resp_chunked) {
            bw_origin_buf_add(&c->out, "\r\n", 2);
        }
        c->body_sent += n;
        c->paused = false;
    }
    if (c->body_sent < c->body_stop) {
        return;
    }
    if (c->resp_chunked && !c->resp_bodyless && !r->ctl.close_mid) {
        bw_origin_buf_addf(&c->out, "0\r\n");
        for (int i = 0; i < r->ctl.ntrailer; i++) {
            bw_origin_buf_addf(&c->out, "%s\r\n", r->ctl.trailer[i]);
        }
        bw_origin_buf_addf(&c->out, "\r\n");
    }
    c->body_done = true;
}

/* The response is out: the next pipelined request, or the end of the connection. */
static void bw_origin_response_finish(bw_origin_conn_t *c)
{
    if (c->resp_close || c->peer_eof) {
        bw_origin_conn_linger(c);
        return;
    }
    bw_origin_request_reset(&c->req);
    free(c->src_owned);
    c->src_owned = NULL;
    c->src = NULL;
    c->head_done = false;
    c->state = BW_ORIGIN_READ;
    bw_origin_conn_watch(c);
    bw_origin_request_input(c);
}

/* True when body_delay= or chunk_delay= must pass before the next piece. */
static bool bw_origin_response_must_pause(bw_origin_conn_t *c, int *delay)
{
    *delay = c->body_sent == 0 ? c->req.ctl.body_delay_ms : c->req.ctl.chunk_delay_ms;
    return *delay > 0 && !c->paused && c->body_sent < c->body_stop && !c->body_done;
}

void bw_origin_response_write(bw_origin_conn_t *c)
{
    int delay;

    for (;;) {
        int rc;

        /* the head and the first pieces leave in one write: no Nagle stall */
        while (!c->body_done && bw_origin_buf_len(&c->out) < BW_ORIGIN_PIECE
               && !bw_origin_response_must_pause(c, &delay))
        {
            bw_origin_response_piece(c);
        }
        rc = bw_origin_response_flush(c);
        if (rc == -1) {
            bw_origin_conn_close(c);
            return;
        }
        if (rc == 1) {
            bw_origin_conn_watch(c);
            return;
        }
        if (c->body_done) {
            bw_origin_response_finish(c);
            return;
        }
        if (bw_origin_response_must_pause(c, &delay)) {
            c->state = BW_ORIGIN_PAUSE;
            c->timer_at = bw_origin_now_ms() + delay;
            bw_origin_conn_watch(c);
            return;
        }
    }
}
