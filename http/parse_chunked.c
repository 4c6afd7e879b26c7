/*
 * parse_chunked.c -- the decoder of the chunked transfer-coding (RFC 9112
 * §7.1): chunk-size lines with their extensions, chunk data, and the trailer
 * section, whose fields are checked as header lines and dropped. See parse.h
 * for the contract.
 */
#include "parse_bytes.h"

enum {
    BW_CH_SIZE_START = 0,
    BW_CH_SIZE,
    BW_CH_SIZE_WS,   /* BWS after the size */
    BW_CH_EXT,       /* inside chunk-ext, outside quotes */
    BW_CH_EXT_QUOTED,
    BW_CH_EXT_QUOTED_PAIR,
    BW_CH_SIZE_LF,   /* CR of the size line seen */
    BW_CH_DATA,
    BW_CH_DATA_CR,   /* CRLF after the data expected */
    BW_CH_DATA_LF,
    BW_CH_TRAILER,
};

/* True for a byte allowed in chunk-ext outside a quoted-string (loosely). */
static bool
bw_http_parse_is_ext_char(u_char c)
{
    unsigned cls = bw_http_name_class[c];

    return cls == BW_NAME_ALNUM || cls == BW_NAME_UNDERSCORE || cls == BW_NAME_TCHAR || c == ' '
           || c == '\t' || c == '=' || c == ';';
}

/* One byte of the chunk-size line; sets the next state. */
static bw_rc_t
bw_http_parse_chunk_size_byte(bw_http_chunked_t *ctx, u_char c, unsigned *state)
{
    int d;

    switch (*state) {
    case BW_CH_SIZE_START:
    case BW_CH_SIZE:
        d = bw_http_parse_hex_value(c);
        if (d >= 0) {
            if (ctx->size > (INT64_MAX >> 4)) {
                return BW_HTTP_PARSE_INVALID_CHUNKED; /* overflow */
            }
            ctx->size = ctx->size * 16 + d;
            *state = BW_CH_SIZE;
            return BW_OK;
        }
        if (*state == BW_CH_SIZE_START) {
            return BW_HTTP_PARSE_INVALID_CHUNKED;
        }
        /* fall through */

    case BW_CH_SIZE_WS:
        if (c == ' ' || c == '\t') {
            *state = BW_CH_SIZE_WS;
            return BW_OK;
        }
        if (c == ';') {
            *state = BW_CH_EXT;
            return BW_OK;
        }
        break;

    case BW_CH_EXT:
        if (c == '"') {
            *state = BW_CH_EXT_QUOTED;
            return BW_OK;
        }
        if (bw_http_parse_is_ext_char(c)) {
            return BW_OK;
        }
        break;

    case BW_CH_EXT_QUOTED:
        if (c == '"') {
            *state = BW_CH_EXT;
            return BW_OK;
        }
        if (c == '\\') {
            *state = BW_CH_EXT_QUOTED_PAIR;
            return BW_OK;
        }
        d = bw_http_value_class[c];
        return (d == BW_VALUE_CHAR || d == BW_VALUE_WS) ? BW_OK : BW_HTTP_PARSE_INVALID_CHUNKED;

    case BW_CH_EXT_QUOTED_PAIR:
        d = bw_http_value_class[c];
        if (d != BW_VALUE_CHAR && d != BW_VALUE_WS) {
            return BW_HTTP_PARSE_INVALID_CHUNKED;
        }
        *state = BW_CH_EXT_QUOTED;
        return BW_OK;
    }

    if (c == BW_CR) {
        *state = BW_CH_SIZE_LF;
        return BW_OK;
    }
    return BW_HTTP_PARSE_INVALID_CHUNKED; /* the caller handles LF */
}

/* The size line is complete: start the data or, for size 0, the trailers. */
static bw_rc_t
bw_http_parse_chunk_size_done(bw_http_chunked_t *ctx, unsigned *state)
{
    if (ctx->size > INT64_MAX - ctx->total) {
        return BW_HTTP_PARSE_INVALID_CHUNKED;
    }
    ctx->total += ctx->size;
    ctx->remaining = ctx->size;
    ctx->line_len = 0;
    if (ctx->size == 0) {
        memset(&ctx->trailer, 0, sizeof(ctx->trailer));
        *state = BW_CH_TRAILER;
    } else {
        *state = BW_CH_DATA;
    }
    return BW_OK;
}

/* Trailer fields: checked as header lines, then dropped. */
static bw_rc_t
bw_http_parse_chunk_trailer(bw_http_chunked_t *ctx, u_char **pos, u_char *last)
{
    for (;;) {
        u_char *start = *pos;
        bw_rc_t rc = bw_http_parse_header_line(&ctx->trailer, pos, last);

        ctx->line_len += (size_t) (*pos - start);
        if (ctx->line_len > BW_HTTP_CHUNK_TRAILER_MAX) {
            return BW_HTTP_PARSE_INVALID_CHUNKED;
        }
        if (rc == BW_OK) {
            continue;
        }
        if (rc == BW_DONE || rc == BW_AGAIN) {
            return rc;
        }
        return BW_HTTP_PARSE_INVALID_CHUNKED;
    }
}

bw_rc_t
bw_http_parse_chunked(bw_http_chunked_t *ctx, u_char **pos, u_char *last)
{
    u_char  *p = *pos;
    unsigned state = ctx->state;
    bw_rc_t  rc = BW_OK;

    while (p < last) {
        u_char c = *p;

        switch (state) {
        case BW_CH_DATA: {
            size_t n = (size_t) (last - p);
            if ((uint64_t) n > (uint64_t) ctx->remaining) {
                n = (size_t) ctx->remaining;
            }
            ctx->data = p;
            ctx->data_len = n;
            ctx->remaining -= (int64_t) n;
            if (ctx->remaining == 0) {
                state = BW_CH_DATA_CR;
            }
            ctx->state = state;
            *pos = p + n;
            return BW_OK;
        }

        case BW_CH_DATA_CR:
            if (c == BW_CR) {
                state = BW_CH_DATA_LF;
                break;
            }
            /* fall through - a bare LF ends the data too */

        case BW_CH_DATA_LF:
            if (c != BW_LF) {
                rc = BW_HTTP_PARSE_INVALID_CHUNKED;
                goto failed;
            }
            ctx->size = 0;
            ctx->line_len = 0;
            state = BW_CH_SIZE_START;
            break;

        case BW_CH_TRAILER:
            *pos = p;
            rc = bw_http_parse_chunk_trailer(ctx, pos, last);
            if (rc == BW_DONE) {
                ctx->state = BW_CH_SIZE_START;
                return BW_DONE;
            }
            if (rc == BW_AGAIN) {
                ctx->state = state;
                return BW_AGAIN;
            }
            p = *pos;
            goto failed;

        case BW_CH_SIZE_LF:
            if (c != BW_LF) {
                rc = BW_HTTP_PARSE_INVALID_CHUNKED;
                goto failed;
            }
            rc = bw_http_parse_chunk_size_done(ctx, &state);
            break;

        default:
            if (++ctx->line_len > BW_HTTP_CHUNK_LINE_MAX) {
                rc = BW_HTTP_PARSE_INVALID_CHUNKED;
                goto failed;
            }
            if (c == BW_LF && state != BW_CH_SIZE_START && state != BW_CH_EXT_QUOTED
                && state != BW_CH_EXT_QUOTED_PAIR) {
                rc = bw_http_parse_chunk_size_done(ctx, &state);
                break;
            }
            rc = bw_http_parse_chunk_size_byte(ctx, c, &state);
            break;
        }

        if (rc != BW_OK) {
            goto failed;
        }
        p++;
    }

    ctx->state = state;
    *pos = last;
    return BW_AGAIN;

failed:
    ctx->state = BW_CH_SIZE_START;
    *pos = p;
    return BW_HTTP_PARSE_INVALID_CHUNKED;
}
