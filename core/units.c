/*
 * units.c -- sizes ("10k", "1m") and time intervals ("1h 30m", "500ms") in
 * configuration values, with nginx's syntax (see conf.h for the contract).
 *
 * Every directive that takes a size or a time goes through these two
 * functions, so the rules and the overflow checks live in one place.
 */
#include "conf.h"

/* ---- sizes ---- */

int64_t
bw_parse_size(const bw_str_t *s)
{
    size_t  len = s->len;
    int64_t scale = 1;

    if (len == 0) {
        return -1;
    }
    switch (s->data[len - 1]) {
    case 'k':
    case 'K':
        scale = 1024;
        len--;
        break;
    case 'm':
    case 'M':
        scale = 1024 * 1024;
        len--;
        break;
    case 'g':
    case 'G':
        scale = 1024 * 1024 * 1024;
        len--;
        break;
    default:
        break;
    }

    int64_t n = bw_atoi(s->data, len);
    if (n < 0 || n > INT64_MAX / scale) {
        return -1;
    }
    return n * scale;
}

/* ---- time intervals ---- */

/* Units ranked smallest first; in a value each must be smaller than the one before. */
typedef enum {
    BW_TIME_MSEC = 0,
    BW_TIME_SEC,
    BW_TIME_MIN,
    BW_TIME_HOUR,
    BW_TIME_DAY,
    BW_TIME_WEEK,
    BW_TIME_MONTH,
    BW_TIME_YEAR,
    BW_TIME_NONE, /* no unit seen yet */
} bw_time_unit_t;

static const int64_t bw_time_unit_sec[] = {
    0, 1, 60, 60 * 60, 24 * 60 * 60, 7 * 24 * 60 * 60, 30 * 24 * 60 * 60, 365 * 24 * 60 * 60,
};

/* The unit starting at p (advancing over "ms"); BW_TIME_NONE when not a unit. */
static bw_time_unit_t
bw_time_unit_read(const u_char **p, const u_char *last)
{
    switch (**p) {
    case 'y':
        return BW_TIME_YEAR;
    case 'M':
        return BW_TIME_MONTH;
    case 'w':
        return BW_TIME_WEEK;
    case 'd':
        return BW_TIME_DAY;
    case 'h':
        return BW_TIME_HOUR;
    case 'm':
        if (*p + 1 < last && (*p)[1] == 's') {
            (*p)++;
            return BW_TIME_MSEC;
        }
        return BW_TIME_MIN;
    case 's':
        return BW_TIME_SEC;
    default:
        return BW_TIME_NONE;
    }
}

/* Adds value * unit to *total in the result's scale; -2 on overflow, else 0. */
static int
bw_time_add(int64_t *total, int64_t value, bw_time_unit_t unit, bool is_sec)
{
    int64_t scale = unit == BW_TIME_MSEC ? 1 : bw_time_unit_sec[unit] * (is_sec ? 1 : 1000);

    if (value > INT64_MAX / scale) {
        return -2;
    }
    value *= scale;
    if (*total > INT64_MAX - value) {
        return -2;
    }
    *total += value;
    return 0;
}

int64_t
bw_parse_time(const bw_str_t *s, bool is_sec)
{
    const u_char  *p = s->data, *last = s->data + s->len;
    bw_time_unit_t prev = BW_TIME_NONE;
    int64_t        total = 0, value = 0;
    bool           digits = false;  /* any digit so far */
    bool           pending = false; /* digits since the last unit */
    bool           bare = false;    /* a space after a bare number: no unit may follow */

    for (; p < last; p++) {
        if (*p >= '0' && *p <= '9') {
            int d = *p - '0';
            if (value > (INT64_MAX - d) / 10) {
                return -2;
            }
            value = value * 10 + d;
            digits = pending = true;
            continue;
        }
        if (*p == ' ') {
            bare = bare || pending || !digits;
            continue;
        }

        bw_time_unit_t unit = bw_time_unit_read(&p, last);
        if (unit == BW_TIME_NONE || bare || unit >= prev) {
            return -1;
        }
        if ((is_sec && unit == BW_TIME_MSEC) || (!is_sec && unit >= BW_TIME_MONTH)) {
            return -1;
        }
        if (bw_time_add(&total, value, unit, is_sec) != 0) {
            return -2;
        }
        prev = unit;
        value = 0;
        pending = false;
    }

    if (!digits) {
        return -1;
    }
    /* a trailing number without a unit means seconds */
    if (bw_time_add(&total, value, BW_TIME_SEC, is_sec) != 0) {
        return -2;
    }
    return total;
}
