/*
 * control.c -- reads the controls a test puts in the request (query
 * arguments or X-Origin-Control headers) into bw_origin_ctl_t. The list of
 * controls and their meaning is at the top of origin.c.
 */
#include "origin.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* %XX-decodes src[0..len) into a new string ('+' is kept). */
static char *bw_origin_ctl_decode(const char *src, size_t len)
{
    char  *out = malloc(len + 1), *o = out;
    size_t i = 0;

    if (out == NULL) {
        return NULL;
    }
    while (i < len) {
        char hex[3] = { 0, 0, 0 };

        if (src[i] == '%' && i + 2 < len && isxdigit((unsigned char) src[i + 1])
            && isxdigit((unsigned char) src[i + 2]))
        {
            hex[0] = src[i + 1];
            hex[1] = src[i + 2];
            *o++ = (char) strtol(hex, NULL, 16);
            i += 3;
        } else {
            *o++ = src[i++];
        }
    }
    *o = '\0';
    return out;
}

/* "Name:value" into "Name: value" appended to list; ignored when malformed or full. */
static void bw_origin_ctl_add_field(char **list, int *n, const char *spec)
{
    const char *colon = strchr(spec, ':'), *v;
    size_t      nlen, vlen;
    char       *line;

    if (colon == NULL || colon == spec || *n == BW_ORIGIN_MAX_EXTRA) {
        return;
    }
    nlen = (size_t) (colon - spec);
    for (v = colon + 1; *v == ' '; v++) {
    }
    vlen = strlen(v);
    line = malloc(nlen + vlen + 3);
    if (line == NULL) {
        return;
    }
    memcpy(line, spec, nlen);
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, v, vlen + 1);
    list[(*n)++] = line;
}

static bool bw_origin_ctl_on(const char *v)
{
    return strcmp(v, "0") != 0 && strcmp(v, "no") != 0 && strcmp(v, "off") != 0;
}

/* Applies one decoded key=value pair. */
static void bw_origin_ctl_set(bw_origin_ctl_t *ctl, const char *key, const char *v)
{
    if (strcmp(key, "status") == 0) {
        ctl->status = atoi(v);
    } else if (strcmp(key, "delay") == 0) {
        ctl->delay_ms = atoi(v);
    } else if (strcmp(key, "body_delay") == 0) {
        ctl->body_delay_ms = atoi(v);
    } else if (strcmp(key, "chunk_delay") == 0) {
        ctl->chunk_delay_ms = atoi(v);
    } else if (strcmp(key, "len") == 0) {
        ctl->len = strtoll(v, NULL, 10);
    } else if (strcmp(key, "chunked") == 0) {
        ctl->chunked = bw_origin_ctl_on(v);
    } else if (strcmp(key, "chunk") == 0) {
        ctl->chunk = (size_t) strtoull(v, NULL, 10);
        ctl->chunk = ctl->chunk > 0 ? ctl->chunk : 1;
    } else if (strcmp(key, "close") == 0) {
        ctl->close = bw_origin_ctl_on(v);
    } else if (strcmp(key, "close_mid") == 0) {
        ctl->close_mid = bw_origin_ctl_on(v);
    } else if (strcmp(key, "cond") == 0) {
        ctl->cond = bw_origin_ctl_on(v);
    } else if (strcmp(key, "ws") == 0) {
        ctl->ws = bw_origin_ctl_on(v);
    } else if (strcmp(key, "echo") == 0) {
        ctl->echo = strcmp(v, "body") == 0 ? BW_ORIGIN_ECHO_BODY
                    : bw_origin_ctl_on(v)  ? BW_ORIGIN_ECHO_RAW
                                           : BW_ORIGIN_ECHO_NONE;
    } else if (strcmp(key, "huge_header") == 0) {
        ctl->huge_header = (size_t) strtoull(v, NULL, 10);
    } else if (strcmp(key, "body") == 0) {
        free(ctl->body);
        ctl->body = strdup(v);
    } else if (strcmp(key, "header") == 0) {
        bw_origin_ctl_add_field(ctl->extra, &ctl->nextra, v);
    } else if (strcmp(key, "trailer") == 0) {
        bw_origin_ctl_add_field(ctl->trailer, &ctl->ntrailer, v);
    }
}

void bw_origin_ctl_parse(bw_origin_ctl_t *ctl, const char *query)
{
    const char *p = query;

    while (*p != '\0' && *p != '#') {
        size_t      n = strcspn(p, "&#");
        const char *eq = memchr(p, '=', n);
        char       *key, *value;

        if (eq != NULL) {
            key = bw_origin_ctl_decode(p, (size_t) (eq - p));
            value = bw_origin_ctl_decode(eq + 1, n - (size_t) (eq - p) - 1);
        } else {
            key = bw_origin_ctl_decode(p, n);
            value = strdup("1");
        }
        if (key != NULL && value != NULL) {
            bw_origin_ctl_set(ctl, key, value);
        }
        free(key);
        free(value);
        p += n;
        p += (*p == '&');
    }
}

void bw_origin_ctl_free(bw_origin_ctl_t *ctl)
{
    for (int i = 0; i < ctl->nextra; i++) {
        free(ctl->extra[i]);
    }
    for (int i = 0; i < ctl->ntrailer; i++) {
        free(ctl->trailer[i]);
    }
    free(ctl->body);
    memset(ctl, 0, sizeof(*ctl));
}
