/*
 * parse_bytes.h -- private to the request parser's files (parse.c,
 * parse_chunked.c, parse_uri.c, parse_value.c): the byte classes and small
 * byte tests they share. Callers include parse.h, never this file.
 */
#ifndef BW_HTTP_PARSE_BYTES_H
#define BW_HTTP_PARSE_BYTES_H

#include "parse.h"

#define BW_CR '\r'
#define BW_LF '\n'

/* Header-name bytes (RFC 9110 §5.6.2 tchar, split the way nginx judges names). */
enum {
    BW_NAME_BAD = 0,    /* controls, SP, DEL: the line is malformed */
    BW_NAME_ALNUM,      /* [A-Za-z0-9-]: lowercase is c | 0x20 */
    BW_NAME_UNDERSCORE, /* '_' */
    BW_NAME_TCHAR,      /* other tchar: valid token, but nginx calls it invalid */
    BW_NAME_OTHER,      /* visible non-tchar and obs-text: not a token */
    BW_NAME_COLON,
};

/* The class of each byte in a header name (defined in parse.c). */
extern const uint8_t bw_http_name_class[256];

/* Field-value bytes (RFC 9110 §5.5: field-vchar, SP, HTAB). */
enum {
    BW_VALUE_BAD = 0, /* controls other than HTAB, DEL, NUL */
    BW_VALUE_CHAR,    /* VCHAR and obs-text */
    BW_VALUE_WS,      /* SP, HTAB */
    BW_VALUE_CR,
    BW_VALUE_LF,
};

/* The class of each byte in a field value (defined in parse.c). */
extern const uint8_t bw_http_value_class[256];

/* The value of a hex digit, -1 for any other byte. */
static inline int
bw_http_parse_hex_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static inline bool
bw_http_parse_is_digit(u_char c)
{
    return c >= '0' && c <= '9';
}

#endif
