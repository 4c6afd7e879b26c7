/*
 * conf_setters.c -- the stock directive setters: each parses cf->args into
 * the field at d->offset of the conf struct, with nginx's messages.
 *
 * Fields, unset values and `post` tables are described in conf.h. Values
 * are parsed by units.c (sizes, times) and str.c (numbers) only.
 */
#include "conf.h"

#include "pool.h"

#define bw_conf_field(conf, d, type) ((type *) ((u_char *) (conf) + (d)->offset))

static const bw_str_t *
bw_conf_arg(const bw_conf_t *cf, size_t i)
{
    return &bw_array_at(cf->args, bw_str_t, i);
}

/* Checks `v` against the directive's bounds (post), when it has some. */
static const char *
bw_conf_bounds_check(bw_conf_t *cf, const bw_directive_t *d, int64_t v)
{
    const bw_conf_bounds_t *b = d->post;

    if (b == NULL) {
        return BW_CONF_OK;
    }
    if (b->high == -1) {
        if (v >= b->low) {
            return BW_CONF_OK;
        }
        bw_conf_error(cf, "value must be equal to or greater than %lld", (long long) b->low);
        return BW_CONF_ERROR;
    }
    if (v >= b->low && v <= b->high) {
        return BW_CONF_OK;
    }
    bw_conf_error(cf, "value must be between %lld and %lld", (long long) b->low,
                  (long long) b->high);
    return BW_CONF_ERROR;
}

static bool
bw_conf_name_eq(const bw_str_t *s, const char *name)
{
    size_t n = strlen(name);
    return s->len == n && bw_strncasecmp(s->data, (const u_char *) name, n) == 0;
}

const char *
bw_conf_set_flag(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_int_t       *fp = bw_conf_field(conf, d, bw_int_t);
    const bw_str_t *v = bw_conf_arg(cf, 1);

    if (*fp != BW_CONF_UNSET) {
        return "is duplicate";
    }
    if (bw_conf_name_eq(v, "on")) {
        *fp = 1;
    } else if (bw_conf_name_eq(v, "off")) {
        *fp = 0;
    } else {
        bw_conf_error(cf,
                      "invalid value \"%.*s\" in \"%s\" directive, it must be \"on\" or \"off\"",
                      BW_STR_ARG(*v), d->name);
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

const char *
bw_conf_set_num(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_int_t       *np = bw_conf_field(conf, d, bw_int_t);
    const bw_str_t *v = bw_conf_arg(cf, 1);

    if (*np != BW_CONF_UNSET) {
        return "is duplicate";
    }
    int64_t n = bw_atoi(v->data, v->len);
    if (n < 0 || n > INTPTR_MAX) {
        return "invalid number";
    }
    *np = (bw_int_t) n;
    return bw_conf_bounds_check(cf, d, n);
}

const char *
bw_conf_set_size(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    size_t *sp = bw_conf_field(conf, d, size_t);

    if (*sp != BW_CONF_UNSET_SIZE) {
        return "is duplicate";
    }
    int64_t n = bw_parse_size(bw_conf_arg(cf, 1));
    if (n < 0 || (uint64_t) n >= (uint64_t) SIZE_MAX) {
        return "invalid value";
    }
    *sp = (size_t) n;
    return bw_conf_bounds_check(cf, d, n);
}

const char *
bw_conf_set_off(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    off_t *op = bw_conf_field(conf, d, off_t);

    if (*op != (off_t) BW_CONF_UNSET) {
        return "is duplicate";
    }
    int64_t n = bw_parse_offset(bw_conf_arg(cf, 1));
    if (n < 0) {
        return "invalid value";
    }
    *op = (off_t) n;
    return bw_conf_bounds_check(cf, d, n);
}

const char *
bw_conf_set_msec(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_msec_t *mp = bw_conf_field(conf, d, bw_msec_t);

    if (*mp != BW_CONF_UNSET_MSEC) {
        return "is duplicate";
    }
    int64_t t = bw_parse_time(bw_conf_arg(cf, 1), false);
    if (t < 0) {
        return "invalid value";
    }
    *mp = t;
    return bw_conf_bounds_check(cf, d, t);
}

const char *
bw_conf_set_sec(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    time_t *tp = bw_conf_field(conf, d, time_t);

    if (*tp != (time_t) BW_CONF_UNSET) {
        return "is duplicate";
    }
    int64_t t = bw_parse_time(bw_conf_arg(cf, 1), true);
    if (t < 0) {
        return "invalid value";
    }
    *tp = (time_t) t;
    return bw_conf_bounds_check(cf, d, t);
}

const char *
bw_conf_set_str(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_str_t *sp = bw_conf_field(conf, d, bw_str_t);

    if (sp->data != NULL) {
        return "is duplicate";
    }
    *sp = *bw_conf_arg(cf, 1);
    return BW_CONF_OK;
}

/* The array at the field, created on first use; NULL on no memory (reported). */
static bw_array_t *
bw_conf_array_get(bw_conf_t *cf, const bw_directive_t *d, void *conf, size_t size)
{
    bw_array_t **ap = bw_conf_field(conf, d, bw_array_t *);

    if (*ap == NULL || *ap == BW_CONF_UNSET_PTR) {
        *ap = bw_array_create(cf->pool, 4, size);
        if (*ap == NULL) {
            bw_conf_error(cf, "not enough memory for \"%s\"", d->name);
        }
    }
    return *ap;
}

const char *
bw_conf_set_str_array(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_array_t *a = bw_conf_array_get(cf, d, conf, sizeof(bw_str_t));

    if (a == NULL) {
        return BW_CONF_ERROR;
    }
    for (size_t i = 1; i < cf->args->nelts; i++) {
        bw_str_t *s = bw_array_push(a);
        if (s == NULL) {
            bw_conf_error(cf, "not enough memory for \"%s\"", d->name);
            return BW_CONF_ERROR;
        }
        *s = *bw_conf_arg(cf, i);
    }
    return BW_CONF_OK;
}

const char *
bw_conf_set_keyval(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_array_t *a = bw_conf_array_get(cf, d, conf, sizeof(bw_keyval_t));

    if (a == NULL) {
        return BW_CONF_ERROR;
    }
    bw_keyval_t *kv = bw_array_push(a);
    if (kv == NULL) {
        bw_conf_error(cf, "not enough memory for \"%s\"", d->name);
        return BW_CONF_ERROR;
    }
    kv->key = *bw_conf_arg(cf, 1);
    kv->value = *bw_conf_arg(cf, 2);
    return BW_CONF_OK;
}

/* The table entry named `v`, or NULL. */
static const bw_conf_enum_t *
bw_conf_enum_find(const bw_conf_enum_t *e, const bw_str_t *v)
{
    for (; e && e->name; e++) {
        if (bw_conf_name_eq(v, e->name)) {
            return e;
        }
    }
    return NULL;
}

const char *
bw_conf_set_enum(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_uint_t      *np = bw_conf_field(conf, d, bw_uint_t);
    const bw_str_t *v = bw_conf_arg(cf, 1);

    if (*np != BW_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    const bw_conf_enum_t *e = bw_conf_enum_find(d->post, v);
    if (e == NULL) {
        bw_conf_error(cf, "invalid value \"%.*s\"", BW_STR_ARG(*v));
        return BW_CONF_ERROR;
    }
    *np = e->value;
    return BW_CONF_OK;
}

const char *
bw_conf_set_bitmask(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_uint_t *np = bw_conf_field(conf, d, bw_uint_t);

    for (size_t i = 1; i < cf->args->nelts; i++) {
        const bw_str_t       *v = bw_conf_arg(cf, i);
        const bw_conf_enum_t *e = bw_conf_enum_find(d->post, v);
        if (e == NULL) {
            bw_conf_error(cf, "invalid value \"%.*s\"", BW_STR_ARG(*v));
            return BW_CONF_ERROR;
        }
        if (*np & e->value) {
            bw_conf_log(cf, BW_LOG_WARN, 0, "duplicate value \"%.*s\"", BW_STR_ARG(*v));
        }
        *np |= e->value;
    }
    return BW_CONF_OK;
}

const char *
bw_conf_set_noop(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    return BW_CONF_OK;
}
