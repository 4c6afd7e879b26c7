/*
 * clock.c -- the cached clock. Workers read bw_time instead of calling the
 * kernel per request; the loop refreshes it after every epoll_wait.
 */
#include "clock.h"

#include <stdio.h>
#include <string.h>

bw_time_t bw_time;

static const char *const bw_time_wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const bw_time_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void
bw_time_format(time_t sec)
{
    struct tm loc;
    localtime_r(&sec, &loc);
    bw_time.gmtoff = (int) (loc.tm_gmtoff / 60);
    int off = bw_time.gmtoff < 0 ? -bw_time.gmtoff : bw_time.gmtoff;
    char sign = bw_time.gmtoff < 0 ? '-' : '+';

    bw_time_http(bw_time.http, sec);
    /* Formatted through a roomy buffer: the fields always fit, the compiler cannot tell. */
    char buf[96];
    snprintf(buf, sizeof(buf), "%04d/%02d/%02d %02d:%02d:%02d", loc.tm_year + 1900,
             loc.tm_mon + 1, loc.tm_mday, loc.tm_hour, loc.tm_min, loc.tm_sec);
    memcpy(bw_time.err_log, buf, sizeof(bw_time.err_log) - 1);
    snprintf(buf, sizeof(buf), "%02d/%s/%04d:%02d:%02d:%02d %c%02d%02d", loc.tm_mday,
             bw_time_months[loc.tm_mon], loc.tm_year + 1900, loc.tm_hour, loc.tm_min,
             loc.tm_sec, sign, off / 60, off % 60);
    memcpy(bw_time.http_log, buf, sizeof(bw_time.http_log) - 1);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", loc.tm_year + 1900,
             loc.tm_mon + 1, loc.tm_mday, loc.tm_hour, loc.tm_min, loc.tm_sec, sign, off / 60,
             off % 60);
    memcpy(bw_time.iso8601, buf, sizeof(bw_time.iso8601) - 1);
}

void
bw_time_update(void)
{
    struct timespec wall, mono;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    bw_time.monotonic = (bw_msec_t) mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
    bw_time.msec = (unsigned) (wall.tv_nsec / 1000000);
    if (wall.tv_sec != bw_time.sec) {
        bw_time.sec = wall.tv_sec;
        bw_time_format(wall.tv_sec);
    }
}

size_t
bw_time_http(u_char *buf, time_t t)
{
    struct tm gmt;
    gmtime_r(&t, &gmt);
    return (size_t) snprintf((char *) buf, sizeof("Mon, 28 Sep 1970 06:00:00 GMT"),
                             "%s, %02d %s %04d %02d:%02d:%02d GMT", bw_time_wdays[gmt.tm_wday],
                             gmt.tm_mday, bw_time_months[gmt.tm_mon], gmt.tm_year + 1900,
                             gmt.tm_hour, gmt.tm_min, gmt.tm_sec);
}

static int
bw_time_month_parse(const u_char *p)
{
    for (int i = 0; i < 12; i++) {
        if (memcmp(p, bw_time_months[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

/* Days since the epoch for a proleptic Gregorian date (month 0..11). */
static int64_t
bw_time_days(int64_t year, int month, int day)
{
    int64_t y = year - (month < 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int mp = (month + 10) % 12; /* March is 0 */
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

time_t
bw_time_parse_http(const u_char *p, size_t len)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';

    int day, year, hour, min, sec, n = 0;
    char mon[4], wday[16];
    int month;
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(buf, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wday, &day, mon, &year, &hour, &min,
               &sec, &n) == 7 && (size_t) n == len) {
        /* fallthrough to validation */
    } else if (sscanf(buf, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wday, &day, mon, &year,
                      &hour, &min, &sec, &n) == 7 && (size_t) n == len) {
        year += year < 70 ? 2000 : 1900; /* rfc850 */
    } else if (sscanf(buf, "%3s %3s %2d %2d:%2d:%2d %4d%n", wday, mon, &day, &hour, &min, &sec,
                      &year, &n) == 7 && (size_t) n == len) {
        /* asctime */
    } else {
        return -1;
    }
    month = bw_time_month_parse((const u_char *) mon);
    if (month < 0 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 || year < 1970) {
        return -1;
    }
    return (time_t) (bw_time_days(year, month, day) * 86400 + hour * 3600 + min * 60 + sec);
}
