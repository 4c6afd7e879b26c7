/*
 * access_log.h -- the access log's pure parts, shared with tests: how a
 * variable's value is escaped in a log line.
 *
 * The module itself (log_format, access_log, open_log_file_cache, the log
 * phase handler and buffered writes) lives in access_log.c.
 */
#ifndef BW_ACCESS_LOG_H
#define BW_ACCESS_LOG_H

#include "str.h"

/* `log_format name escape=...`: how variable values are written. */
typedef enum {
    BW_ACCESS_LOG_ESCAPE_DEFAULT = 0, /* '"', '\\', bytes < 0x20 and >= 0x7f as \xXX */
    BW_ACCESS_LOG_ESCAPE_JSON,        /* JSON string escapes: \" \\ \n \r \t \b \f \u00XX */
    BW_ACCESS_LOG_ESCAPE_NONE,        /* bytes as they are */
} bw_access_log_escape_t;

/*
 * Escapes [src, src+len) for a log line in `mode`. Writes into dst when it
 * is not NULL (the caller reserved the returned length) and returns the
 * escaped length either way. Hex digits are uppercase, as nginx writes them.
 */
size_t bw_access_log_escape(u_char *dst, const u_char *src, size_t len,
                            bw_access_log_escape_t mode);

/*
 * What a variable without a value (not found) is written as: "-" with the
 * default escaping, nothing with json and none (nginx's behaviour).
 */
static inline size_t
bw_access_log_missing_len(bw_access_log_escape_t mode)
{
    return mode == BW_ACCESS_LOG_ESCAPE_DEFAULT ? 1 : 0;
}

#endif
