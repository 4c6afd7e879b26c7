/*
 * headers.c -- operator-added response fields (module `headers`, a header
 * and body filter): `add_header`, `add_trailer` and `expires`.
 *
 * As nginx does: fields are added only to 200 201 204 206 301 302 303 304
 * 307 308 responses unless marked `always` (trailers: 200 201 206 301 302
 * 303 307 308); a level with any add_header (add_trailer) inherits none of
 * its parent's; an empty value adds nothing. Cache-Control and Link add to
 * the response's lists of those fields; ETag and Last-Modified replace the
 * response's (an empty value removes it). `expires` sets Expires and
 * Cache-Control from the time of the request, the file's modification time
 * (`modified`) or a time of day (`@`), or to the fixed `epoch` and `max`.
 */
#include "core_module.h"
#include "script.h"
#include "clock.h"
#include "pool.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

/* `expires` modes. */
#define BW_HEADERS_EXPIRES_OFF      0
#define BW_HEADERS_EXPIRES_EPOCH    1
#define BW_HEADERS_EXPIRES_MAX      2
#define BW_HEADERS_EXPIRES_ACCESS   3
#define BW_HEADERS_EXPIRES_MODIFIED 4
#define BW_HEADERS_EXPIRES_DAILY    5

typedef struct bw_headers_val_s bw_headers_val_t;

/* Puts one evaluated add_header value into the response. */
typedef bw_rc_t (*bw_headers_set_fn)(bw_http_request_t *r, const bw_headers_val_t *hv,
                                     const bw_str_t *value);

struct bw_headers_val_s {
    bw_str_t                 key;
    bw_http_complex_value_t *value;   /* NULL: the empty value */
    bw_headers_set_fn        handler;
    size_t                   offset;  /* of the field's bw_http_header_t * in headers_out */
    bool                     always;
};

typedef struct {
    bw_uint_t                expires;      /* BW_HEADERS_EXPIRES_*; UNSET_UINT while parsing */
    time_t                   expires_time; /* seconds (negative: in the past) or time of day */
    bw_http_complex_value_t *expires_value;/* `expires $var` */
    bw_array_t              *headers;      /* bw_headers_val_t; NULL: none at this level */
    bw_array_t              *trailers;
} bw_headers_loc_conf_t;

static bw_rc_t bw_headers_header_filter(bw_http_request_t *r);
static bw_rc_t bw_headers_body_filter(bw_http_request_t *r, bw_chain_t *in);
static const char *bw_headers_set_add(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_headers_set_expires(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static void *bw_headers_create_loc(bw_conf_t *cf);
static const char *bw_headers_merge_loc(bw_conf_t *cf, void *prev, void *conf);

#define BW_HEADERS_WHERE (BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC | BW_CTX_LIF)

static const bw_directive_t bw_headers_directives[] = {
    {"add_header", BW_HEADERS_WHERE, BW_ARGS_TAKE23, BW_CONF_LOC, bw_headers_set_add,
     offsetof(bw_headers_loc_conf_t, headers), NULL},
    {"add_trailer", BW_HEADERS_WHERE, BW_ARGS_TAKE23, BW_CONF_LOC, bw_headers_set_add,
     offsetof(bw_headers_loc_conf_t, trailers), NULL},
    {"expires", BW_HEADERS_WHERE, BW_ARGS_TAKE12, BW_CONF_LOC, bw_headers_set_expires, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_module_t bw_headers_module_ctx = {
    .create_loc = bw_headers_create_loc,
    .merge_loc = bw_headers_merge_loc,
    .header_filter = bw_headers_header_filter,
    .body_filter = bw_headers_body_filter,
};

bw_module_t bw_headers_module = {
    .name = "headers",
    .type = BW_MODULE_HTTP,
    .directives = bw_headers_directives,
    .ctx = &bw_headers_module_ctx,
};

/* ------------------------------------------------------- request time */

/* Statuses add_header and expires apply to without `always`. */
static bool
bw_headers_status_safe(bw_uint_t status)
{
    switch (status) {
    case 200: case 201: case 204: case 206:
    case 301: case 302: case 303: case 304: case 307: case 308:
        return true;
    default:
        return false;
    }
}

/* Statuses add_trailer applies to without `always`. */
static bool
bw_headers_trailer_status_safe(bw_uint_t status)
{
    return status != 204 && status != 304 && bw_headers_status_safe(status);
}

/* The response field pointer of headers_out at `offset`. */
static bw_http_header_t **
bw_headers_out_field(bw_http_request_t *r, size_t offset)
{
    return (bw_http_header_t **) ((char *) &r->headers_out + offset);
}

/* A plain field: added when the value is not empty. */
static bw_rc_t
bw_headers_add_plain(bw_http_request_t *r, const bw_headers_val_t *hv, const bw_str_t *value)
{
    if (value->len == 0) {
        return BW_OK;
    }
    return bw_http_add_header_out(r, &hv->key, value) ? BW_OK : BW_ERROR;
}

/* Cache-Control, Link: one more line in the response's list of the field. */
static bw_rc_t
bw_headers_add_multi(bw_http_request_t *r, const bw_headers_val_t *hv, const bw_str_t *value)
{
    if (value->len == 0) {
        return BW_OK;
    }
    bw_http_header_t *h = bw_http_add_header_out(r, &hv->key, value);
    if (h == NULL) {
        return BW_ERROR;
    }
    bw_http_header_t **field = bw_headers_out_field(r, hv->offset);
    while (*field) {
        field = &(*field)->next;
    }
    *field = h;
    return BW_OK;
}

/* ETag: replaces the response's (an empty value removes it). */
static bw_rc_t
bw_headers_set_single(bw_http_request_t *r, const bw_headers_val_t *hv, const bw_str_t *value)
{
    bw_http_header_t **field = bw_headers_out_field(r, hv->offset);

    if (value->len == 0) {
        if (*field) {
            (*field)->hash = 0;
            *field = NULL;
        }
        return BW_OK;
    }
    if (*field) {
        (*field)->hash = 1;
        (*field)->key = hv->key;
        (*field)->value = *value;
        (*field)->next = NULL;
        return BW_OK;
    }
    *field = bw_http_add_header_out(r, &hv->key, value);
    return *field ? BW_OK : BW_ERROR;
}

/* Last-Modified: as ETag, and the time validators compare with follows it. */
static bw_rc_t
bw_headers_set_last_modified(bw_http_request_t *r, const bw_headers_val_t *hv,
                             const bw_str_t *value)
{
    if (bw_headers_set_single(r, hv, value) != BW_OK) {
        return BW_ERROR;
    }
    r->headers_out.last_modified_time =
        value->len ? bw_time_parse_http(value->data, value->len) : (time_t) -1;
    return BW_OK;
}

/* The next time the clock shows `of_day` seconds past local midnight. */
static time_t
bw_headers_next_time_of_day(time_t now, time_t of_day)
{
    struct tm tm;

    localtime_r(&now, &tm);
    tm.tm_hour = (int) (of_day / 3600);
    tm.tm_min = (int) (of_day % 3600 / 60);
    tm.tm_sec = (int) (of_day % 60);
    time_t next = mktime(&tm);
    if (next == (time_t) -1 || next > now) {
        return next;
    }
    tm.tm_mday++; /* mktime normalises the day past the month's end */
    return mktime(&tm);
}

/*
 * Parses an `expires` time: "epoch", "max", "off", or [@|+|-]time. *mode
 * comes in as ACCESS or MODIFIED and may change. NULL, or the message.
 */
static const char *
bw_headers_expires_parse(bw_str_t value, bw_uint_t *mode, time_t *t)
{
    bool minus = false;

    if (bw_str_eq_lit(&value, "epoch")) {
        *mode = BW_HEADERS_EXPIRES_EPOCH;
        return NULL;
    }
    if (bw_str_eq_lit(&value, "max")) {
        *mode = BW_HEADERS_EXPIRES_MAX;
        return NULL;
    }
    if (bw_str_eq_lit(&value, "off")) {
        *mode = BW_HEADERS_EXPIRES_OFF;
        return NULL;
    }
    if (value.len && value.data[0] == '@') {
        if (*mode == BW_HEADERS_EXPIRES_MODIFIED) {
            return "daily time cannot be used with \"modified\" parameter";
        }
        *mode = BW_HEADERS_EXPIRES_DAILY;
        value.data++;
        value.len--;
    } else if (value.len && (value.data[0] == '+' || value.data[0] == '-')) {
        minus = value.data[0] == '-';
        value.data++;
        value.len--;
    }
    int64_t sec = bw_parse_time(&value, true);
    if (sec < 0) {
        return "invalid value";
    }
    if (*mode == BW_HEADERS_EXPIRES_DAILY && sec > 24 * 60 * 60) {
        return "daily time value must be less than 24 hours";
    }
    *t = (time_t) (minus ? -sec : sec);
    return NULL;
}

/* The Expires and Cache-Control fields expires writes, created when missing. */
static bw_rc_t
bw_headers_expires_fields(bw_http_request_t *r, bw_http_header_t **e, bw_http_header_t **cc)
{
    static const bw_str_t expires = bw_string("Expires");
    static const bw_str_t cache_control = bw_string("Cache-Control");
    static const bw_str_t empty = bw_string("");

    if (r->headers_out.expires == NULL) {
        r->headers_out.expires = bw_http_add_header_out(r, &expires, &empty);
    }
    if (r->headers_out.cache_control == NULL) {
        r->headers_out.cache_control = bw_http_add_header_out(r, &cache_control, &empty);
    } else {
        for (bw_http_header_t *h = r->headers_out.cache_control->next; h; h = h->next) {
            h->hash = 0; /* expires owns Cache-Control: one line */
        }
        r->headers_out.cache_control->next = NULL;
    }
    *e = r->headers_out.expires;
    *cc = r->headers_out.cache_control;
    return *e && *cc ? BW_OK : BW_ERROR;
}

/* Expires = base + t, Cache-Control max-age (no-cache when in the past). */
static bw_rc_t
bw_headers_expires_time(bw_http_request_t *r, bw_uint_t mode, time_t t, bw_http_header_t *e,
                        bw_http_header_t *cc)
{
    time_t now = bw_time.sec, at, max_age;

    if (mode == BW_HEADERS_EXPIRES_DAILY) {
        at = bw_headers_next_time_of_day(now, t);
        max_age = at - now;
    } else if (mode == BW_HEADERS_EXPIRES_ACCESS || r->headers_out.last_modified_time == -1) {
        at = now + t;
        max_age = t;
    } else {
        at = r->headers_out.last_modified_time + t;
        max_age = at - now;
    }
    e->value.data = bw_pnalloc(r->pool, sizeof("Mon, 28 Sep 1970 06:00:00 GMT"));
    if (e->value.data == NULL) {
        return BW_ERROR;
    }
    e->value.len = bw_time_http(e->value.data, at);
    if (t < 0 || max_age < 0) {
        bw_str_set(&cc->value, "no-cache");
        return BW_OK;
    }
    bw_str_t *v = bw_psprintf(r->pool, "max-age=%" PRId64, (int64_t) max_age);
    if (v == NULL) {
        return BW_ERROR;
    }
    cc->value = *v;
    return BW_OK;
}

static bw_rc_t
bw_headers_expires_set(bw_http_request_t *r, const bw_headers_loc_conf_t *conf)
{
    bw_uint_t mode = conf->expires;
    time_t t = conf->expires_time;
    bw_http_header_t *e, *cc;

    if (conf->expires_value) {
        bw_str_t value;
        if (bw_http_complex_value(r, conf->expires_value, &value) != BW_OK) {
            return BW_ERROR;
        }
        if (bw_headers_expires_parse(value, &mode, &t) != NULL) {
            return BW_OK; /* a value that is not a time: leave the response alone */
        }
    }
    if (mode == BW_HEADERS_EXPIRES_OFF) {
        return BW_OK;
    }
    if (bw_headers_expires_fields(r, &e, &cc) != BW_OK) {
        return BW_ERROR;
    }
    switch (mode) {
    case BW_HEADERS_EXPIRES_EPOCH:
        bw_str_set(&e->value, "Thu, 01 Jan 1970 00:00:01 GMT");
        bw_str_set(&cc->value, "no-cache");
        return BW_OK;
    case BW_HEADERS_EXPIRES_MAX:
        bw_str_set(&e->value, "Thu, 31 Dec 2037 23:55:55 GMT");
        bw_str_set(&cc->value, "max-age=315360000"); /* 10 years */
        return BW_OK;
    default:
        if (t == 0 && mode != BW_HEADERS_EXPIRES_DAILY) {
            e->value.len = sizeof(bw_time.http) - 1;
            e->value.data = bw_pnalloc(r->pool, e->value.len);
            if (e->value.data == NULL) {
                return BW_ERROR;
            }
            memcpy(e->value.data, bw_time.http, e->value.len);
            bw_str_set(&cc->value, "max-age=0");
            return BW_OK;
        }
        return bw_headers_expires_time(r, mode, t, e, cc);
    }
}

/* Evaluates and applies the add_header list for a response of this status. */
static bw_rc_t
bw_headers_apply(bw_http_request_t *r, const bw_array_t *headers, bool safe)
{
    const bw_headers_val_t *hv = headers->elts;

    for (size_t i = 0; i < headers->nelts; i++) {
        bw_str_t value = bw_null_string;
        if (!safe && !hv[i].always) {
            continue;
        }
        if (hv[i].value && bw_http_complex_value(r, hv[i].value, &value) != BW_OK) {
            return BW_ERROR;
        }
        if (hv[i].handler(r, &hv[i], &value) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/* True when some trailer applies to a response of this status. */
static bool
bw_headers_trailers_expected(const bw_array_t *trailers, bool safe)
{
    const bw_headers_val_t *tv = trailers->elts;
    for (size_t i = 0; i < trailers->nelts; i++) {
        if (safe || tv[i].always) {
            return true;
        }
    }
    return false;
}

static bw_rc_t
bw_headers_header_filter(bw_http_request_t *r)
{
    bw_headers_loc_conf_t *conf = bw_http_get_loc_conf(r, bw_headers_module);
    bw_uint_t status = r->headers_out.status;

    if (r != r->main
        || (conf->expires == BW_HEADERS_EXPIRES_OFF && conf->headers == NULL
            && conf->trailers == NULL)) {
        return bw_http_next_header_filter(r, bw_headers_module);
    }
    bool safe = bw_headers_status_safe(status);
    if (conf->expires != BW_HEADERS_EXPIRES_OFF && safe
        && bw_headers_expires_set(r, conf) != BW_OK) {
        return BW_ERROR;
    }
    if (conf->headers && bw_headers_apply(r, conf->headers, safe) != BW_OK) {
        return BW_ERROR;
    }
    if (conf->trailers
        && bw_headers_trailers_expected(conf->trailers, bw_headers_trailer_status_safe(status))) {
        r->expect_trailers = 1;
    }
    return bw_http_next_header_filter(r, bw_headers_module);
}

/* Adds the evaluated trailers to r->headers_out.trailers. */
static bw_rc_t
bw_headers_trailers_add(bw_http_request_t *r, const bw_array_t *trailers)
{
    const bw_headers_val_t *tv = trailers->elts;
    bool safe = bw_headers_trailer_status_safe(r->headers_out.status);

    for (size_t i = 0; i < trailers->nelts; i++) {
        bw_str_t value = bw_null_string;
        if (!safe && !tv[i].always) {
            continue;
        }
        if (tv[i].value && bw_http_complex_value(r, tv[i].value, &value) != BW_OK) {
            return BW_ERROR;
        }
        if (value.len == 0) {
            continue;
        }
        bw_http_header_t *h = bw_array_push(&r->headers_out.trailers);
        if (h == NULL) {
            return BW_ERROR;
        }
        memset(h, 0, sizeof(*h));
        h->hash = 1;
        h->key = tv[i].key;
        h->value = value;
    }
    return BW_OK;
}

/* Trailers are evaluated when the last buffer passes (their values may
 * depend on the whole response, e.g. $request_time). */
static bw_rc_t
bw_headers_body_filter(bw_http_request_t *r, bw_chain_t *in)
{
    bw_headers_loc_conf_t *conf = bw_http_get_loc_conf(r, bw_headers_module);

    if (in == NULL || conf->trailers == NULL || !r->expect_trailers || r->header_only) {
        return bw_http_next_body_filter(r, bw_headers_module, in);
    }
    for (bw_chain_t *cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf) {
            if (bw_headers_trailers_add(r, conf->trailers) != BW_OK) {
                return BW_ERROR;
            }
            break;
        }
    }
    return bw_http_next_body_filter(r, bw_headers_module, in);
}

/* ---------------------------------------------------- configuration */

/* Fields add_header treats specially (names compared case-insensitively). */
static const struct {
    const char       *name;
    size_t            offset;
    bw_headers_set_fn handler;
} bw_headers_special[] = {
    {"Cache-Control", offsetof(bw_http_headers_out_t, cache_control), bw_headers_add_multi},
    {"Link", offsetof(bw_http_headers_out_t, link), bw_headers_add_multi},
    {"Last-Modified", offsetof(bw_http_headers_out_t, last_modified),
     bw_headers_set_last_modified},
    {"ETag", offsetof(bw_http_headers_out_t, etag), bw_headers_set_single},
};

static void
bw_headers_val_bind(bw_headers_val_t *hv)
{
    hv->handler = bw_headers_add_plain;
    for (size_t i = 0; i < bw_nelems(bw_headers_special); i++) {
        size_t n = strlen(bw_headers_special[i].name);
        if (hv->key.len == n
            && bw_strncasecmp(hv->key.data, (const u_char *) bw_headers_special[i].name, n)
                   == 0) {
            hv->handler = bw_headers_special[i].handler;
            hv->offset = bw_headers_special[i].offset;
            return;
        }
    }
}

/* add_header / add_trailer name value [always] */
static const char *
bw_headers_set_add(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_array_t **list = (bw_array_t **) ((char *) conf + d->offset);
    bw_str_t *value = cf->args->elts;

    if (*list == NULL) {
        *list = bw_array_create(cf->pool, 1, sizeof(bw_headers_val_t));
        if (*list == NULL) {
            return BW_CONF_ERROR;
        }
    }
    bw_headers_val_t *hv = bw_array_push(*list);
    if (hv == NULL) {
        return BW_CONF_ERROR;
    }
    memset(hv, 0, sizeof(*hv));
    hv->key = value[1];
    hv->handler = bw_headers_add_plain;
    if (d->offset == offsetof(bw_headers_loc_conf_t, headers)) {
        bw_headers_val_bind(hv);
    }
    if (value[2].len && bw_http_compile_complex_value(cf, &value[2], &hv->value) != BW_OK) {
        return BW_CONF_ERROR;
    }
    if (cf->args->nelts == 3) {
        return BW_CONF_OK;
    }
    if (!bw_str_eq_lit(&value[3], "always")) {
        bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(value[3]));
        return BW_CONF_ERROR;
    }
    hv->always = true;
    return BW_CONF_OK;
}

/* expires [modified] time | epoch | max | off */
static const char *
bw_headers_set_expires(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_headers_loc_conf_t *hcf = conf;
    bw_str_t *value = cf->args->elts;
    size_t n = 1;

    if (hcf->expires != BW_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    hcf->expires = BW_HEADERS_EXPIRES_ACCESS;
    if (cf->args->nelts == 3) {
        if (!bw_str_eq_lit(&value[1], "modified")) {
            return "invalid value";
        }
        hcf->expires = BW_HEADERS_EXPIRES_MODIFIED;
        n = 2;
    }
    if (bw_http_script_variables_count(&value[n]) > 0) {
        return bw_http_compile_complex_value(cf, &value[n], &hcf->expires_value) == BW_OK
                   ? BW_CONF_OK
                   : BW_CONF_ERROR;
    }
    return bw_headers_expires_parse(value[n], &hcf->expires, &hcf->expires_time);
}

static void *
bw_headers_create_loc(bw_conf_t *cf)
{
    bw_headers_loc_conf_t *conf = bw_pcalloc(cf->pool, sizeof(bw_headers_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }
    conf->expires = BW_CONF_UNSET_UINT;
    return conf;
}

static const char *
bw_headers_merge_loc(bw_conf_t *cf, void *prev, void *child)
{
    bw_headers_loc_conf_t *parent = prev, *conf = child;

    if (conf->expires == BW_CONF_UNSET_UINT) {
        conf->expires = parent->expires;
        conf->expires_time = parent->expires_time;
        conf->expires_value = parent->expires_value;
        if (conf->expires == BW_CONF_UNSET_UINT) {
            conf->expires = BW_HEADERS_EXPIRES_OFF;
        }
    }
    if (conf->headers == NULL) {
        conf->headers = parent->headers;
    }
    if (conf->trailers == NULL) {
        conf->trailers = parent->trailers;
    }
    return BW_CONF_OK;
}
