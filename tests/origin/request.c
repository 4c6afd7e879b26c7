/*
 * request.c -- how bw_origin reads a request: finds the head, keeps its raw
 * bytes for echo=1, cuts a copy into method, URI, version and header fields,
 * then reads the body by Content-Length or chunked coding, counting it and
 * keeping it only when an echo asked for it.
 */
#include "origin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *bw_origin_request_header(const bw_origin_req_t *r, const char *name)
{
    for (int i = 0; i < r->nfields; i++) {
        if (strcasecmp(r->fields[i].name, name) == 0) {
            return r->fields[i].value;
        }
    }
    return NULL;
}

bool bw_origin_request_has_token(const bw_origin_req_t *r, const char *name, const char *token)
{
    size_t tlen = strlen(token);

    for (int i = 0; i < r->nfields; i++) {
        const char *p = r->fields[i].value;

        if (strcasecmp(r->fields[i].name, name) != 0) {
            continue;
        }
        while (*p != '\0') {
            size_t n;

            p += strspn(p, " \t,");
            n = strcspn(p, " \t,;");
            if (n == tlen && strncasecmp(p, token, tlen) == 0) {
                return true;
            }
            p += n;
            p += strcspn(p, ",");
        }
    }
    return false;
}

void bw_origin_request_reset(bw_origin_req_t *r)
{
    free(r->head);
    free(r->parsed);
    bw_origin_buf_free(&r->raw_body);
    bw_origin_buf_free(&r->body);
    bw_origin_ctl_free(&r->ctl);
    memset(r, 0, sizeof(*r));
}

/* Offset just past the blank line that ends a head in p[0..len), or 0. */
static size_t bw_origin_request_head_end(const char *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] == '\n' && p[i + 1] == '\n') {
            return i + 2;
        }
        if (p[i] == '\n' && p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n') {
            return i + 3;
        }
    }
    return 0;
}

/* Cuts the next line of *p in place; returns it without CR LF. */
static char *bw_origin_request_line(char **p)
{
    char  *line = *p, *nl = strchr(line, '\n');
    size_t n;

    if (nl != NULL) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = line + strlen(line);
    }
    n = strlen(line);
    if (n > 0 && line[n - 1] == '\r') {
        line[n - 1] = '\0';
    }
    return line;
}

/* Splits "Name: value" in place into a field; lines without a colon are skipped. */
static void bw_origin_request_field(bw_origin_req_t *r, char *line)
{
    char *colon = strchr(line, ':'), *v, *end;

    if (colon == NULL || colon == line || r->nfields == BW_ORIGIN_MAX_HEADERS) {
        return;
    }
    *colon = '\0';
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++) {
    }
    for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--) {
    }
    *end = '\0';
    r->fields[r->nfields].name = line;
    r->fields[r->nfields].value = v;
    r->nfields++;
}

/* Query arguments, then every X-Origin-Control header, shape the response. */
static void bw_origin_request_controls(bw_origin_req_t *r)
{
    const char *q = strchr(r->uri, '?');

    r->ctl.len = -1;
    r->ctl.chunk = 1024;
    if (q != NULL) {
        bw_origin_ctl_parse(&r->ctl, q + 1);
    }
    for (int i = 0; i < r->nfields; i++) {
        if (strcasecmp(r->fields[i].name, "X-Origin-Control") == 0) {
            bw_origin_ctl_parse(&r->ctl, r->fields[i].value);
        }
    }
}

/* Framing and persistence of the request (RFC 9112 sections 6 and 9.3). */
static bool bw_origin_request_framing(bw_origin_req_t *r)
{
    const char *cl = bw_origin_request_header(r, "Content-Length");
    bool        http10 = strcmp(r->version, "HTTP/1.0") == 0;

    r->is_head = strcmp(r->method, "HEAD") == 0;
    r->keep_alive = http10 ? bw_origin_request_has_token(r, "Connection", "keep-alive")
                           : !bw_origin_request_has_token(r, "Connection", "close");
    if (bw_origin_request_has_token(r, "Transfer-Encoding", "chunked")) {
        r->chunked = true;
        r->has_body = true;
        return true;
    }
    if (cl != NULL) {
        char     *end;
        long long n = strtoll(cl, &end, 10);

        if (end == cl || *end != '\0' || n < 0 || !isdigit((unsigned char) cl[0])) {
            return false;
        }
        r->body_left = n;
        r->has_body = true;
    }
    return true;
}

/* Parses the head of len bytes at the front of c->in; false when malformed. */
static bool bw_origin_request_head(bw_origin_conn_t *c, size_t len)
{
    bw_origin_req_t *r = &c->req;
    char            *p, *line, *sp1, *sp2;

    r->head = strndup(c->in.data + c->in.start, len);
    r->parsed = strndup(c->in.data + c->in.start, len);
    if (r->head == NULL || r->parsed == NULL) {
        return false;
    }
    r->head_len = len;
    p = r->parsed;
    line = bw_origin_request_line(&p);
    sp1 = strchr(line, ' ');
    sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        return false;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    r->method = line;
    r->uri = sp1 + 1;
    r->version = sp2 + 1;
    while (*p != '\0') {
        line = bw_origin_request_line(&p);
        if (line[0] == '\0') {
            break;
        }
        bw_origin_request_field(r, line);
    }
    bw_origin_request_controls(r);
    return bw_origin_request_framing(r);
}

/* Takes n body bytes at the front of c->in: counted, kept for an echo. */
static bool bw_origin_request_take(bw_origin_conn_t *c, size_t n, bool decoded)
{
    bw_origin_req_t *r = &c->req;
    const char      *p = c->in.data + c->in.start;
    bool             ok = true;

    if (r->ctl.echo == BW_ORIGIN_ECHO_RAW) {
        ok = bw_origin_buf_add(&r->raw_body, p, n);
    }
    if (decoded) {
        r->body_len += n;
        if (r->ctl.echo == BW_ORIGIN_ECHO_BODY) {
            ok = ok && bw_origin_buf_add(&r->body, p, n);
        }
    }
    bw_origin_buf_consume(&c->in, n);
    return ok;
}

/* The next line of c->in including its LF, or 0 when it has not all come. */
static size_t bw_origin_request_next_line(bw_origin_conn_t *c)
{
    const char *p = c->in.data + c->in.start;
    const char *nl = memchr(p, '\n', bw_origin_buf_len(&c->in));

    return nl != NULL ? (size_t) (nl - p) + 1 : 0;
}

/* One step of the chunked decoder. 1: progressed, 0: needs bytes, -1: bad. */
static int bw_origin_request_chunk_step(bw_origin_conn_t *c)
{
    bw_origin_req_t *r = &c->req;
    size_t           n, avail = bw_origin_buf_len(&c->in);
    const char      *p;
    char            *end;

    if (avail == 0) {
        return 0;
    }
    p = c->in.data + c->in.start;
    if (r->chunk_state == BW_ORIGIN_CHUNK_DATA) {
        n = avail < r->chunk_left ? avail : (size_t) r->chunk_left;
        if (n == 0) {
            return 0;
        }
        r->chunk_left -= n;
        r->chunk_state = r->chunk_left == 0 ? BW_ORIGIN_CHUNK_DATA_END : BW_ORIGIN_CHUNK_DATA;
        return bw_origin_request_take(c, n, true) ? 1 : -1;
    }
    n = bw_origin_request_next_line(c);
    if (n == 0) {
        return avail > 4096 ? -1 : 0;
    }
    switch (r->chunk_state) {
    case BW_ORIGIN_CHUNK_SIZE:
        if (!isxdigit((unsigned char) p[0])) {
            return -1;
        }
        r->chunk_left = strtoull(p, &end, 16);
        r->chunk_state = r->chunk_left == 0 ? BW_ORIGIN_CHUNK_TRAILER : BW_ORIGIN_CHUNK_DATA;
        break;
    case BW_ORIGIN_CHUNK_DATA_END:
        if (!(n == 1 || (n == 2 && p[0] == '\r'))) {
            return -1;
        }
        r->chunk_state = BW_ORIGIN_CHUNK_SIZE;
        break;
    default:        /* a trailer line; the blank one ends the body */
        if (n == 1 || (n == 2 && p[0] == '\r')) {
            r->chunk_state = BW_ORIGIN_CHUNK_DONE;
        }
        break;
    }
    return bw_origin_request_take(c, n, false) ? 1 : -1;
}

/* Reads body bytes. 1: the body is complete, 0: more is needed, -1: bad. */
static int bw_origin_request_body(bw_origin_conn_t *c)
{
    bw_origin_req_t *r = &c->req;

    if (r->chunked) {
        while (r->chunk_state != BW_ORIGIN_CHUNK_DONE) {
            int rc = bw_origin_request_chunk_step(c);

            if (rc != 1) {
                return rc;
            }
        }
        return 1;
    }
    if (r->body_left > 0) {
        size_t avail = bw_origin_buf_len(&c->in);
        size_t n = (int64_t) avail < r->body_left ? avail : (size_t) r->body_left;

        if (n > 0 && !bw_origin_request_take(c, n, true)) {
            return -1;
        }
        r->body_left -= (int64_t) n;
    }
    return r->body_left == 0 ? 1 : 0;
}

/* Finds and parses a head at the front of c->in. 1: done, 0: more needed, -1: bad. */
static int bw_origin_request_read_head(bw_origin_conn_t *c)
{
    size_t len;

    if (bw_origin_buf_len(&c->in) == 0) {
        return 0;
    }
    /* empty lines before a request line are ignored (RFC 9112 section 2.2) */
    while (bw_origin_buf_len(&c->in) > 0 && (c->in.data[c->in.start] == '\r'
                                            || c->in.data[c->in.start] == '\n'))
    {
        bw_origin_buf_consume(&c->in, 1);
    }
    if (bw_origin_buf_len(&c->in) == 0) {
        return 0;
    }
    len = bw_origin_request_head_end(c->in.data + c->in.start, bw_origin_buf_len(&c->in));
    if (len == 0) {
        return bw_origin_buf_len(&c->in) > BW_ORIGIN_MAX_HEAD ? -1 : 0;
    }
    if (!bw_origin_request_head(c, len)) {
        bw_origin_buf_consume(&c->in, len);
        return -1;
    }
    bw_origin_buf_consume(&c->in, len);
    c->head_done = true;
    if (c->req.has_body && bw_origin_request_has_token(&c->req, "Expect", "100-continue")) {
        bw_origin_buf_addf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    return 1;
}

void bw_origin_request_input(bw_origin_conn_t *c)
{
    while (c->state == BW_ORIGIN_READ && !c->closed) {
        int rc = c->head_done ? 1 : bw_origin_request_read_head(c);

        if (rc == 1) {
            rc = bw_origin_request_body(c);
        }
        if (rc == 0) {
            bw_origin_conn_watch(c);
            return;
        }
        if (rc == -1) {
            bw_origin_response_error(c, 400);
            return;
        }
        c->timer_at = 0;
        bw_origin_response_start(c);
    }
}
