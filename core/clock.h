/*
 * clock.h -- the cached clock, refreshed once per event-loop turn, and the
 * date strings derived from it (error log, access log, HTTP Date).
 */
#ifndef BW_CLOCK_H
#define BW_CLOCK_H

#include "str.h"

#include <time.h>

typedef struct {
    time_t    sec;       /* wall clock */
    unsigned  msec;      /* milliseconds within sec */
    bw_msec_t monotonic; /* CLOCK_MONOTONIC in ms: timers use this */
    int       gmtoff;    /* minutes east of UTC */
    u_char    err_log[sizeof("1970/09/28 12:00:00")];
    u_char    http[sizeof("Mon, 28 Sep 1970 06:00:00 GMT")];
    u_char    http_log[sizeof("28/Sep/1970:12:00:00 +0600")];
    u_char    iso8601[sizeof("1970-09-28T12:00:00+06:00")];
} bw_time_t;

extern bw_time_t bw_time; /* per process; read-only outside time.c */

/* Re-reads the clocks and reformats the strings if the second changed. */
void bw_time_update(void);
/* Formats t as an HTTP date ("Mon, 28 Sep 1970 06:00:00 GMT"); buf >= 30 bytes. */
size_t bw_time_http(u_char *buf, time_t t);
/* Parses an HTTP date (RFC 9110 IMF-fixdate, rfc850, asctime); -1 if invalid. */
time_t bw_time_parse_http(const u_char *p, size_t len);

#endif
