/*
 * parse_value.c -- the checks of single request-header values: Host (also
 * an absolute-form target's host), Content-Length and Transfer-Encoding.
 * See parse.h for the contracts; the checks across headers are the request
 * code's.
 */
#include "parse_bytes.h"

#include "pool.h"

int64_t
bw_http_parse_content_length(const bw_str_t *value)
{
    return bw_atoi(value->data, value->len);
}

bw_rc_t
bw_http_parse_transfer_encoding(const bw_str_t *value)
{
    static const u_char chunked[] = "chunked";

    if (value->len == sizeof(chunked) - 1
        && bw_strncasecmp(value->data, chunked, sizeof(chunked) - 1) == 0) {
        return BW_OK;
    }
    return BW_HTTP_PARSE_UNKNOWN_TE;
}

enum {
    BW_HOST_NAME = 0,
    BW_HOST_LITERAL, /* inside "[...]" */
    BW_HOST_AFTER_LITERAL,
    BW_HOST_PORT,
};

/*
 * Scans a Host value: the length of the host part (port excluded) in *end and
 * whether it has uppercase letters. BW_HTTP_PARSE_INVALID_HOST on bad bytes.
 */
static bw_rc_t
bw_http_parse_host_scan(const u_char *h, size_t len, size_t *end, bool *upper)
{
    unsigned state = BW_HOST_NAME;
    bool     dot = false;

    *end = len;
    for (size_t i = 0; i < len; i++) {
        u_char c = h[i];

        switch (state) {
        case BW_HOST_NAME:
            if (c == '.') {
                if (dot) {
                    return BW_HTTP_PARSE_INVALID_HOST; /* ".." */
                }
                dot = true;
                continue;
            }
            dot = false;
            if (c == ':') {
                *end = i;
                state = BW_HOST_PORT;
            } else if (c == '[' && i == 0) {
                state = BW_HOST_LITERAL;
            } else if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '[' || c == ']') {
                return BW_HTTP_PARSE_INVALID_HOST;
            } else if (c >= 'A' && c <= 'Z') {
                *upper = true;
            }
            break;

        case BW_HOST_LITERAL:
            if (c == ']') {
                *end = i + 1;
                state = BW_HOST_AFTER_LITERAL;
            } else if (bw_http_parse_hex_value(c) >= 0 || c == ':' || c == '.') {
                *upper = *upper || (c >= 'A' && c <= 'Z');
            } else {
                return BW_HTTP_PARSE_INVALID_HOST;
            }
            break;

        case BW_HOST_AFTER_LITERAL:
            if (c != ':') {
                return BW_HTTP_PARSE_INVALID_HOST;
            }
            state = BW_HOST_PORT;
            break;

        case BW_HOST_PORT:
            if (!bw_http_parse_is_digit(c)) {
                return BW_HTTP_PARSE_INVALID_HOST;
            }
            break;
        }
    }
    return state == BW_HOST_LITERAL ? BW_HTTP_PARSE_INVALID_HOST : BW_OK;
}

bw_rc_t
bw_http_validate_host(bw_str_t *host, bw_pool_t *pool)
{
    size_t end;
    bool   upper = false;

    if (bw_http_parse_host_scan(host->data, host->len, &end, &upper) != BW_OK) {
        return BW_HTTP_PARSE_INVALID_HOST;
    }
    if (end > 0 && host->data[end - 1] == '.') {
        end--; /* "example.com." names the same host */
    }
    if (end == 0) {
        return BW_HTTP_PARSE_INVALID_HOST;
    }
    host->len = end;
    if (!upper) {
        return BW_OK;
    }
    if (pool != NULL) {
        u_char *copy = bw_pnalloc(pool, end);
        if (copy == NULL) {
            return BW_ERROR;
        }
        bw_strlow(copy, host->data, end);
        host->data = copy;
        return BW_OK;
    }
    bw_strlow(host->data, host->data, end);
    return BW_OK;
}
