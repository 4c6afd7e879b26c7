/*
 * parse_uri.c -- request-path normalisation (%XX decoding, "." and ".."
 * segments, merge_slashes) and the check of URIs that come from
 * configuration or an upstream (rewrite, X-Accel-Redirect). See parse.h for
 * the contracts.
 */
#include "parse_bytes.h"

/*
 * A '/' (literal or decoded) or the end of the path closes the segment that
 * ends at *dp: a "." segment is dropped, a ".." segment drops itself and the
 * segment before it; *dropped tells whether it was (the output then already
 * ends in '/'). BW_HTTP_PARSE_INVALID_REQUEST when ".." climbs above "/".
 */
static bw_rc_t
bw_http_parse_uri_segment_end(u_char *dst, u_char **dp, bool *dropped)
{
    u_char *d = *dp;
    u_char *seg = d;

    *dropped = false;
    while (seg[-1] != '/') {
        seg--;
    }
    if (d - seg == 1 && seg[0] == '.') {
        *dp = seg;
        *dropped = true;
        return BW_OK;
    }
    if (d - seg != 2 || seg[0] != '.' || seg[1] != '.') {
        return BW_OK;
    }
    u_char *q = seg - 1; /* the '/' before ".." */
    if (q == dst) {
        return BW_HTTP_PARSE_INVALID_REQUEST; /* above the root */
    }
    do {
        q--;
    } while (*q != '/');
    *dp = q + 1;
    *dropped = true;
    return BW_OK;
}

/* Sets exten to what follows the last '.' of the last segment of [dst, end). */
static void
bw_http_parse_uri_exten(u_char *dst, u_char *end, bw_str_t *exten)
{
    exten->len = 0;
    exten->data = NULL;
    for (u_char *q = end; q > dst && q[-1] != '/'; q--) {
        if (q[-1] == '.') {
            exten->data = q;
            exten->len = (size_t) (end - q);
            return;
        }
    }
}

bw_rc_t
bw_http_parse_complex_uri(const bw_str_t *path, u_char *dst, bool merge_slashes, bw_str_t *uri,
                          bw_str_t *exten)
{
    const u_char *p = path->data;
    const u_char *end = p + path->len;
    u_char       *d = dst;
    bool          dropped;

    if (path->len == 0) {
        dst[0] = '/';
        uri->data = dst;
        uri->len = 1;
        exten->len = 0;
        exten->data = NULL;
        return BW_OK;
    }
    if (*p != '/') {
        return BW_HTTP_PARSE_INVALID_REQUEST;
    }

    while (p < end) {
        u_char c = *p++;

        if (c == '%') {
            int hi = (end - p >= 2) ? bw_http_parse_hex_value(p[0]) : -1;
            int lo = (end - p >= 2) ? bw_http_parse_hex_value(p[1]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return BW_HTTP_PARSE_INVALID_REQUEST; /* bad escape or NUL */
            }
            c = (u_char) (hi << 4 | lo);
            p += 2;
        }
        if (c != '/') {
            *d++ = c;
            continue;
        }
        if (d > dst) {
            if (bw_http_parse_uri_segment_end(dst, &d, &dropped) != BW_OK) {
                return BW_HTTP_PARSE_INVALID_REQUEST;
            }
            if (dropped || (merge_slashes && d[-1] == '/')) {
                continue;
            }
        }
        *d++ = '/';
    }

    if (bw_http_parse_uri_segment_end(dst, &d, &dropped) != BW_OK) {
        return BW_HTTP_PARSE_INVALID_REQUEST;
    }
    uri->data = dst;
    uri->len = (size_t) (d - dst);
    bw_http_parse_uri_exten(dst, d, exten);
    return BW_OK;
}

/* True when a decoded segment of len bytes, dots of them '.', is "." or "..". */
static bool
bw_http_parse_is_dot_segment(unsigned len, unsigned dots)
{
    return len > 0 && len <= 2 && dots == len;
}

bw_rc_t
bw_http_parse_unsafe_uri(bw_str_t *uri, bw_str_t *args, bool *quoted)
{
    u_char  *p = uri->data;
    u_char  *end = p + uri->len;
    unsigned seg_len = 0, seg_dots = 0;

    *quoted = false;
    args->len = 0;
    args->data = NULL;
    if (uri->len == 0 || *p != '/') {
        return BW_ERROR;
    }

    for (; p < end; p++) {
        u_char c = *p;

        if (c == '?') {
            args->data = p + 1;
            args->len = (size_t) (end - p - 1);
            uri->len = (size_t) (p - uri->data);
            break;
        }
        if (c == '%') {
            int hi = (end - p > 2) ? bw_http_parse_hex_value(p[1]) : -1;
            int lo = (end - p > 2) ? bw_http_parse_hex_value(p[2]) : -1;
            if (hi < 0 || lo < 0) {
                return BW_ERROR;
            }
            c = (u_char) (hi << 4 | lo);
            p += 2;
            *quoted = true;
        }
        if (c < 0x20 || c == 0x7f) {
            return BW_ERROR; /* NUL and controls, raw or decoded */
        }
        if (c == '/') {
            if (bw_http_parse_is_dot_segment(seg_len, seg_dots)) {
                return BW_ERROR;
            }
            seg_len = 0;
            seg_dots = 0;
            continue;
        }
        seg_len++;
        seg_dots += (c == '.');
    }
    return bw_http_parse_is_dot_segment(seg_len, seg_dots) ? BW_ERROR : BW_OK;
}
