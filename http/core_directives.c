/*
 * core_directives.c -- http core directives with a syntax of their own:
 * error_page, error_log, keepalive_timeout, large_client_header_buffers,
 * pool sizes, internal, resolver, open_file_cache, and the nginx directives
 * bulwark accepts without implementing (aio, directio: a warning once per
 * configuration) or refuses by name (disable_symlinks on|if_not_owner).
 */
#include "core_internal.h"

#include "cycle.h"
#include "log_conf.h"
#include "pool.h"
#include "resolver.h"
#include "script.h"

/* Warns once per configuration about an accepted but ignored feature. */
static void
bw_http_core_warn_once(bw_conf_t *cf, bw_uint_t bit, const char *what)
{
    bw_http_core_main_conf_t *cmcf = bw_http_conf_get_main_conf(cf, bw_http_core_module);

    if (cmcf->warned & bit) {
        return;
    }
    cmcf->warned |= bit;
    bw_conf_log(cf, BW_LOG_WARN, 0, "%s is not supported by bulwark, ignored", what);
}

/* ---- error_page code ... [=[response]] uri ---- */

/* Fills the target of one error_page line; shared by its codes. */
static const char *
bw_http_core_error_target(bw_conf_t *cf, const bw_str_t *uri, bw_http_err_page_t *tmpl)
{
    bw_str_t                 text = *uri;
    bw_http_complex_value_t *cv;

    tmpl->raw = *uri;
    bw_str_null(&tmpl->args);
    if (bw_http_script_variables_count(uri) == 0 && uri->len && uri->data[0] == '/') {
        const u_char *q = memchr(uri->data, '?', uri->len);
        if (q) {
            text.len = (size_t) (q - uri->data);
            tmpl->args.data = (u_char *) q + 1;
            tmpl->args.len = uri->len - text.len - 1;
        }
    }
    if (bw_http_compile_complex_value(cf, &text, &cv) != BW_OK) {
        return BW_CONF_ERROR;
    }
    tmpl->value = cv;
    return BW_CONF_OK;
}

const char *
bw_http_core_error_page(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = cf->args->elts;
    size_t                   n = cf->args->nelts, last = n - 1, codes_end = n - 1;
    bw_http_err_page_t       tmpl;

    memset(&tmpl, 0, sizeof(tmpl));
    if (value[n - 2].len && value[n - 2].data[0] == '=') {
        if (n - 2 == 1) {
            bw_conf_error(cf, "invalid value \"%.*s\"", BW_STR_ARG(value[1]));
            return BW_CONF_ERROR;
        }
        tmpl.overwrite = -1; /* "=": the status of the page's own response */
        if (value[n - 2].len > 1) {
            int64_t code = bw_atoi(value[n - 2].data + 1, value[n - 2].len - 1);
            if (code < 0) {
                bw_conf_error(cf, "invalid value \"%.*s\"", BW_STR_ARG(value[n - 2]));
                return BW_CONF_ERROR;
            }
            tmpl.overwrite = code ? (bw_int_t) code : -1;
        }
        codes_end = n - 2;
    }
    if (bw_http_core_error_target(cf, &value[last], &tmpl) != BW_CONF_OK) {
        return BW_CONF_ERROR;
    }
    if (clcf->error_pages == NULL) {
        clcf->error_pages = bw_array_create(cf->pool, 4, sizeof(bw_http_err_page_t));
        if (clcf->error_pages == NULL) {
            return BW_CONF_ERROR;
        }
    }
    for (size_t i = 1; i < codes_end; i++) {
        int64_t status = bw_atoi(value[i].data, value[i].len);
        if (status < 0 || status == 499) {
            bw_conf_error(cf, "invalid value \"%.*s\"", BW_STR_ARG(value[i]));
            return BW_CONF_ERROR;
        }
        if (status < 300 || status > 599) {
            bw_conf_error(cf, "value \"%.*s\" must be between 300 and 599", BW_STR_ARG(value[i]));
            return BW_CONF_ERROR;
        }
        bw_http_err_page_t *err = bw_array_push(clcf->error_pages);
        if (err == NULL) {
            return BW_CONF_ERROR;
        }
        *err = tmpl;
        err->status = (bw_int_t) status;
        /* nginx's internal codes for header/TLS errors answer 400 unless told otherwise. */
        if (tmpl.overwrite == 0 && status >= 494 && status <= 497) {
            err->overwrite = 400;
        }
    }
    return BW_CONF_OK;
}

/* ---- error_log file [level] ---- */

/* Several per level add targets; bw_log_target_parse() reads the arguments. */
const char *
bw_http_core_error_log(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_log_t                *log = bw_pcalloc(cf->pool, sizeof(bw_log_t));

    if (log == NULL || bw_log_target_parse(cf, log) != BW_OK) {
        return BW_CONF_ERROR;
    }
    if (clcf->error_log == NULL) {
        clcf->error_log = log;
    } else {
        bw_log_target_append(clcf->error_log, log);
    }
    return BW_CONF_OK;
}

/* ---- connection and buffer sizes ---- */

/* keepalive_timeout timeout [header_timeout] */
const char *
bw_http_core_keepalive_timeout(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = cf->args->elts;

    if (clcf->keepalive_timeout != BW_CONF_UNSET_MSEC) {
        return "is duplicate";
    }
    int64_t timeout = bw_parse_time(&value[1], false);
    if (timeout < 0) {
        return "invalid value";
    }
    int64_t header = 0;
    if (cf->args->nelts == 3) {
        header = bw_parse_time(&value[2], true);
        if (header < 0) {
            return "invalid value";
        }
    }
    clcf->keepalive_timeout = timeout;
    clcf->keepalive_header = (time_t) header;
    return BW_CONF_OK;
}

/* resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off] [status_zone=zone] */
const char *
bw_http_core_resolver(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = cf->args->elts;
    const char              *err;
    char                     buf[300];

    if (clcf->resolver != BW_CONF_UNSET_PTR) {
        return "is duplicate";
    }
    clcf->resolver = bw_resolver_create(cf->pool, value + 1, cf->args->nelts - 1, &err, buf,
                                        sizeof(buf));
    if (clcf->resolver == NULL) {
        if (err == NULL) {
            return BW_CONF_ERROR;
        }
        bw_conf_error(cf, "%s", err);
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

/* large_client_header_buffers number size */
const char *
bw_http_core_large_header_buffers(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_srv_conf_t *cscf = conf;
    bw_str_t                *value = cf->args->elts;

    if (cscf->large_client_header_buffers_num != BW_CONF_UNSET) {
        return "is duplicate";
    }
    int64_t num = bw_atoi(value[1].data, value[1].len);
    int64_t size = bw_parse_size(&value[2]);
    if (num <= 0 || num > INT32_MAX || size <= 0) {
        return "invalid value";
    }
    cscf->large_client_header_buffers_num = (bw_int_t) num;
    cscf->large_client_header_buffers_size = (size_t) size;
    return BW_CONF_OK;
}

#define BW_HTTP_CORE_MIN_POOL_SIZE  112 /* nginx's minimum, kept for the same messages */
#define BW_HTTP_CORE_POOL_ALIGNMENT 16

/* connection_pool_size / request_pool_size */
const char *
bw_http_core_pool_size(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    size_t  *field = (size_t *) ((u_char *) conf + d->offset);
    bw_str_t *value = &bw_array_at(cf->args, bw_str_t, 1);

    if (*field != BW_CONF_UNSET_SIZE) {
        return "is duplicate";
    }
    int64_t size = bw_parse_size(value);
    if (size < 0) {
        return "invalid value";
    }
    if (size < BW_HTTP_CORE_MIN_POOL_SIZE) {
        bw_conf_error(cf, "the pool size must be no less than %d", BW_HTTP_CORE_MIN_POOL_SIZE);
        return BW_CONF_ERROR;
    }
    if (size % BW_HTTP_CORE_POOL_ALIGNMENT) {
        bw_conf_error(cf, "the pool size must be a multiple of %d", BW_HTTP_CORE_POOL_ALIGNMENT);
        return BW_CONF_ERROR;
    }
    *field = (size_t) size;
    return BW_CONF_OK;
}

/* send_lowat size: SO_SNDLOWAT does not exist on Linux (nginx warns there too). */
const char *
bw_http_core_send_lowat(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    const char *rv = bw_conf_set_size(cf, d, conf);

    if (rv == BW_CONF_OK) {
        bw_conf_log(cf, BW_LOG_WARN, 0, "\"send_lowat\" is not supported, ignored");
        *(size_t *) ((u_char *) conf + d->offset) = 0;
    }
    return rv;
}

/* ---- location flags and settings ---- */

const char *
bw_http_core_internal(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;

    if (clcf->internal != BW_CONF_UNSET) {
        return "is duplicate";
    }
    clcf->internal = 1;
    return BW_CONF_OK;
}

/* ---- nginx forms bulwark accepts only partly (named in -t output and the docs) ---- */

/* disable_symlinks off | on|if_not_owner [from=part] */
const char *
bw_http_core_disable_symlinks(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = cf->args->elts;

    if (clcf->disable_symlinks != BW_CONF_UNSET) {
        return "is duplicate";
    }
    if (bw_str_eq_lit(&value[1], "off") && cf->args->nelts == 2) {
        clcf->disable_symlinks = 0;
        return BW_CONF_OK;
    }
    if (bw_str_eq_lit(&value[1], "on") || bw_str_eq_lit(&value[1], "if_not_owner")) {
        bw_conf_error(cf, "\"disable_symlinks %.*s\" is not supported by bulwark",
                      BW_STR_ARG(value[1]));
        return BW_CONF_ERROR;
    }
    bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(value[cf->args->nelts - 1]));
    return BW_CONF_ERROR;
}

/* directio size | off: only "off" has an effect (files are read normally). */
const char *
bw_http_core_directio(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = &bw_array_at(cf->args, bw_str_t, 1);

    if (clcf->directio != BW_CONF_UNSET) {
        return "is duplicate";
    }
    if (bw_str_eq_lit(value, "off")) {
        clcf->directio = 0;
        return BW_CONF_OK;
    }
    if (bw_parse_size(value) < 0) {
        return "invalid value";
    }
    clcf->directio = 0;
    bw_http_core_warn_once(cf, BW_HTTP_CORE_WARNED_DIRECTIO, "\"directio\"");
    return BW_CONF_OK;
}

/* aio off | on | threads[=pool] | sendfile: files are read synchronously. */
const char *
bw_http_core_aio(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_str_t *value = &bw_array_at(cf->args, bw_str_t, 1);

    if (bw_str_eq_lit(value, "off")) {
        return BW_CONF_OK;
    }
    if (bw_str_eq_lit(value, "on") || bw_str_eq_lit(value, "sendfile")
        || (value->len >= 7 && memcmp(value->data, "threads", 7) == 0
            && (value->len == 7 || value->data[7] == '='))) {
        bw_http_core_warn_once(cf, BW_HTTP_CORE_WARNED_AIO, "\"aio\"");
        return BW_CONF_OK;
    }
    return "invalid value";
}

/* open_file_cache off | max=N [inactive=time] */
const char *
bw_http_core_open_file_cache(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_http_core_loc_conf_t *clcf = conf;
    bw_str_t                *value = cf->args->elts;
    int64_t                  max = 0, inactive = 60;

    if (clcf->open_file_cache != BW_CONF_UNSET_PTR) {
        return "is duplicate";
    }
    if (bw_str_eq_lit(&value[1], "off") && cf->args->nelts == 2) {
        clcf->open_file_cache = NULL;
        return BW_CONF_OK;
    }
    for (size_t i = 1; i < cf->args->nelts; i++) {
        bw_str_t v = value[i];
        if (v.len > 4 && memcmp(v.data, "max=", 4) == 0) {
            max = bw_atoi(v.data + 4, v.len - 4);
            if (max <= 0) {
                bw_conf_error(cf, "invalid max value \"%.*s\"", BW_STR_ARG(v));
                return BW_CONF_ERROR;
            }
        } else if (v.len > 9 && memcmp(v.data, "inactive=", 9) == 0) {
            bw_str_t t = {v.len - 9, v.data + 9};
            inactive = bw_parse_time(&t, true);
            if (inactive < 0) {
                bw_conf_error(cf, "invalid inactive value \"%.*s\"", BW_STR_ARG(v));
                return BW_CONF_ERROR;
            }
        } else {
            bw_conf_error(cf, "invalid \"open_file_cache\" parameter \"%.*s\"", BW_STR_ARG(v));
            return BW_CONF_ERROR;
        }
    }
    if (max == 0) {
        bw_conf_error(cf, "\"open_file_cache\" must have the \"max\" parameter");
        return BW_CONF_ERROR;
    }
    clcf->open_file_cache = bw_open_file_cache_create(cf->pool, (bw_uint_t) max,
                                                      (bw_msec_t) inactive * 1000);
    return clcf->open_file_cache ? BW_CONF_OK : BW_CONF_ERROR;
}
