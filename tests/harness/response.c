/*
 * response.c -- parses HTTP/1.x responses out of a received byte stream for
 * the tests: status line, headers in order, the body delimited by HEAD/status
 * rules, Content-Length, chunked coding (RFC 9112 section 7.1) or the close,
 * and whether the stream ended before the body did.
 */
#include "harness.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BW_TEST_MAX_FIELDS 512

typedef struct {
    char  *data;
    size_t len;
    size_t cap;
} bw_test_bytes_t;

static bool bw_test_bytes_add(bw_test_bytes_t *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t ncap = (b->cap ? b->cap * 2 : 1024) + n;
        char  *nd = realloc(b->data, ncap);

        if (nd == NULL) {
            return false;
        }
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

/* Offset just past the blank line ending the head, or 0 when not there yet. */
static size_t bw_test_response_head_end(const char *data, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (data[i] != '\n') {
            continue;
        }
        if (data[i + 1] == '\n') {
            return i + 2;
        }
        if (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n') {
            return i + 3;
        }
    }
    return 0;
}

/* Length of the line at p (without CR LF) and where the next one starts. */
static size_t bw_test_response_line(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t) (end - p));
    size_t      n;

    nl = nl != NULL ? nl : end;
    n = (size_t) (nl - p);
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    *next = nl < end ? nl + 1 : end;
    return n;
}

/* Adds "Name: value" (n bytes at p) to a field list; false when malformed. */
static bool bw_test_response_add_field(const char *p, size_t n, bw_test_header_t **list,
                                       size_t *count)
{
    const char *colon = memchr(p, ':', n), *v, *vend = p + n;
    bw_test_header_t *f;

    if (colon == NULL || colon == p || *count >= BW_TEST_MAX_FIELDS) {
        return false;
    }
    if (*count % 16 == 0) {
        bw_test_header_t *nl = realloc(*list, (*count + 16) * sizeof(**list));

        if (nl == NULL) {
            return false;
        }
        *list = nl;
    }
    for (v = colon + 1; v < vend && (*v == ' ' || *v == '\t'); v++) {
    }
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) {
        vend--;
    }
    f = &(*list)[(*count)++];
    f->name = strndup(p, (size_t) (colon - p));
    f->value = strndup(v, (size_t) (vend - v));
    return f->name != NULL && f->value != NULL;
}

/* Status line and header fields of head[0..len). */
static bool bw_test_response_parse_head(const char *head, size_t len, bw_test_response_t *r)
{
    const char *end = head + len, *next, *sp;
    size_t      n = bw_test_response_line(head, end, &next);

    sp = memchr(head, ' ', n);
    if (n < 12 || strncmp(head, "HTTP/", 5) != 0 || sp == NULL
        || (size_t) (sp - head) >= sizeof(r->version) || !isdigit((unsigned char) sp[1])
        || !isdigit((unsigned char) sp[2]) || !isdigit((unsigned char) sp[3]))
    {
        return false;
    }
    memcpy(r->version, head, (size_t) (sp - head));
    r->status = atoi(sp + 1);
    r->reason = strndup(sp + (n > (size_t) (sp - head) + 4 ? 5 : 4),
                        n > (size_t) (sp - head) + 5 ? n - (size_t) (sp - head) - 5 : 0);
    for (const char *p = next; p < end; p = next) {
        n = bw_test_response_line(p, end, &next);
        if (n == 0) {
            break;
        }
        if (!bw_test_response_add_field(p, n, &r->headers, &r->nheaders)) {
            return false;
        }
    }
    return r->reason != NULL;
}

/*
 * Decodes chunked data at p[0..len) into body. 1 when the last chunk and the
 * trailer section are in (*used bytes), 0 when more is needed, -1 on garbage.
 */
static int bw_test_response_dechunk(const char *p, size_t len, bw_test_bytes_t *body,
                                    bw_test_response_t *r, size_t *used)
{
    const char *pos = p, *end = p + len, *next;

    for (;;) {
        char        *hex_end;
        unsigned long size;
        size_t        n;

        if (memchr(pos, '\n', (size_t) (end - pos)) == NULL) {
            return 0;
        }
        n = bw_test_response_line(pos, end, &next);
        if (n == 0 || !isxdigit((unsigned char) *pos)) {
            return -1;
        }
        size = strtoul(pos, &hex_end, 16);
        if (size == 0) {
            break;
        }
        if ((size_t) (end - next) < size + 1) {
            return 0;
        }
        if (!bw_test_bytes_add(body, next, size)) {
            return -1;
        }
        pos = next + size;
        if (*pos == '\r') {
            if (end - pos < 2) {
                return 0;
            }
            pos++;
        }
        if (*pos++ != '\n') {
            return -1;
        }
    }
    for (pos = next;;) {      /* trailer fields up to the blank line */
        size_t n;

        if (memchr(pos, '\n', (size_t) (end - pos)) == NULL) {
            return 0;
        }
        n = bw_test_response_line(pos, end, &next);
        if (n == 0) {
            *used = (size_t) (next - p);
            return 1;
        }
        if (!bw_test_response_add_field(pos, n, &r->trailers, &r->ntrailers)) {
            return -1;
        }
        pos = next;
    }
}

/* True when the last transfer coding named by Transfer-Encoding is chunked. */
static bool bw_test_response_is_chunked(const bw_test_response_t *r)
{
    const char *te = NULL;
    size_t      n;

    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, "Transfer-Encoding") == 0) {
            te = r->headers[i].value;
        }
    }
    if (te == NULL) {
        return false;
    }
    n = strlen(te);
    while (n > 0 && (te[n - 1] == ' ' || te[n - 1] == ',')) {
        n--;
    }
    return n >= 7 && strncasecmp(te + n - 7, "chunked", 7) == 0;
}

/* Body of the response whose head is data[0..head); see bw_test_response_parse(). */
static int bw_test_response_body(const char *data, size_t len, size_t head, bool eof, int flags,
                                 bw_test_response_t *r, size_t *consumed)
{
    const char     *cl = bw_test_response_header(r, "Content-Length");
    bw_test_bytes_t body = { 0 };
    size_t          used = 0;
    int             rc = 1;

    r->complete = true;
    if ((flags & BW_TEST_RESP_HEAD) || r->status / 100 == 1 || r->status == 204
        || r->status == 304)
    {
        used = 0;
    } else if (bw_test_response_is_chunked(r)) {
        r->chunked = true;
        rc = bw_test_response_dechunk(data + head, len - head, &body, r, &used);
        if (rc == 0 && eof) {
            r->complete = false;
            used = len - head;
            rc = 1;
        }
    } else if (cl != NULL) {
        char              *e;
        unsigned long long want = strtoull(cl, &e, 10);

        if (e == cl || *e != '\0') {
            return -1;
        }
        used = (size_t) (len - head >= want ? want : len - head);
        r->complete = (len - head >= want);
        rc = (r->complete || eof) ? 1 : 0;
        if (rc == 1 && !bw_test_bytes_add(&body, data + head, used)) {
            rc = -1;
        }
    } else {
        r->close_delimited = true;
        used = len - head;
        rc = eof ? 1 : 0;
        if (rc == 1 && !bw_test_bytes_add(&body, data + head, used)) {
            rc = -1;
        }
    }
    if (rc != 1) {
        free(body.data);
        return rc;
    }
    r->body = body.data != NULL ? body.data : calloc(1, 1);
    r->body_len = body.len;
    *consumed = head + used;
    return r->body != NULL ? 1 : -1;
}

int bw_test_response_parse(const char *data, size_t len, bool eof, int flags,
                           bw_test_response_t *r, size_t *consumed)
{
    size_t head;
    int    rc;

    memset(r, 0, sizeof(*r));
    if (len >= 5 && strncmp(data, "HTTP/", 5) != 0) {
        return -1;
    }
    head = bw_test_response_head_end(data, len);
    if (head == 0) {
        return eof ? -1 : 0;
    }
    if (!bw_test_response_parse_head(data, head, r)) {
        bw_test_response_free(r);
        return -1;
    }
    rc = bw_test_response_body(data, len, head, eof, flags, r, consumed);
    if (rc != 1) {
        bw_test_response_free(r);
        return rc;
    }
    r->head_len = head;
    r->raw_len = *consumed;
    r->raw = malloc(*consumed + 1);
    if (r->raw == NULL) {
        bw_test_response_free(r);
        return -1;
    }
    memcpy(r->raw, data, *consumed);
    r->raw[*consumed] = '\0';
    return 1;
}

static const char *bw_test_field_find(const bw_test_header_t *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(list[i].name, name) == 0) {
            return list[i].value;
        }
    }
    return NULL;
}

const char *bw_test_response_header(const bw_test_response_t *r, const char *name)
{
    return bw_test_field_find(r->headers, r->nheaders, name);
}

const char *bw_test_response_trailer(const bw_test_response_t *r, const char *name)
{
    return bw_test_field_find(r->trailers, r->ntrailers, name);
}

int bw_test_response_header_count(const bw_test_response_t *r, const char *name)
{
    int n = 0;

    for (size_t i = 0; i < r->nheaders; i++) {
        n += strcasecmp(r->headers[i].name, name) == 0;
    }
    return n;
}

static void bw_test_field_free(bw_test_header_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].name);
        free(list[i].value);
    }
    free(list);
}

void bw_test_response_free(bw_test_response_t *r)
{
    if (r == NULL) {
        return;
    }
    bw_test_field_free(r->headers, r->nheaders);
    bw_test_field_free(r->trailers, r->ntrailers);
    free(r->reason);
    free(r->raw);
    free(r->body);
    memset(r, 0, sizeof(*r));
}
