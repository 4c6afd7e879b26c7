/*
 * access_log.c -- the access log: `log_format` (with the predefined
 * `combined`), `access_log` (several per level, `off`, buffer=, flush=,
 * gzip[=level], if=, paths with variables) and `open_log_file_cache`
 * (checked and accepted; its values are ignored: a log whose path has
 * variables opens and closes its file for each record).
 *
 * A request is logged in the log phase, in the context of the location
 * where its processing ended. A record is built in one piece and written
 * with one write(2) (files are opened O_APPEND), so the lines of several
 * workers never interleave. A buffer belongs to its file (the data and
 * flush hook of the bw_open_file_t): every access_log writing to that file
 * fills it, and it is written out when the next record does not fit, when
 * the flush= timer fires, when logs are reopened (USR1) and when the worker
 * exits. With gzip, each write is one complete gzip member, so the file is
 * readable by zcat at any time.
 *
 * A variable without a value is written as "-" (nothing with escape=json
 * or escape=none); see access_log.h for the escaping itself.
 */
#include "access_log.h"

#include "clock.h"
#include "core_module.h"
#include "cycle.h"
#include "event.h"
#include "pool.h"
#include "script.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#define BW_ACCESS_LOG_GZIP_BUFFER (64 * 1024) /* buffer size when only gzip is given */
#define BW_ACCESS_LOG_STACK_VARS  32          /* values kept on the stack per record */

/* One piece of a format: literal text, or a variable (index >= 0). */
typedef struct {
    bw_str_t text;
    bw_int_t index;
} bw_access_log_op_t;

typedef struct {
    bw_str_t               name;
    bw_access_log_escape_t escape;
    bw_array_t             ops;   /* bw_access_log_op_t */
    size_t                 nvars; /* variable ops */
} bw_access_log_fmt_t;

typedef struct {
    bw_array_t  formats;      /* bw_access_log_fmt_t *, "combined" first */
    bw_array_t *default_logs; /* the implicit `logs/access.log combined`, made once */
} bw_access_log_main_conf_t;

/* A file's write buffer (bw_open_file_t.data); each worker fills its own copy. */
typedef struct {
    u_char         *start;
    u_char         *pos;
    u_char         *end;
    bw_msec_t       flush; /* flush= in ms; 0: only when full */
    int             gzip;  /* compression level; 0: plain */
    bw_event_t      event; /* the flush timer */
    bw_open_file_t *file;
    bw_cycle_t     *cycle; /* whose error log reports write errors */
} bw_access_log_buf_t;

typedef struct {
    bw_open_file_t          *file; /* NULL when the path has variables */
    bw_http_complex_value_t *path; /* the path with variables */
    bw_str_t                 prefix; /* for a relative path with variables */
    bw_access_log_fmt_t     *format;
    bw_http_complex_value_t *cond; /* if=; NULL: always */
} bw_access_log_t;

typedef struct {
    bw_array_t *logs;      /* bw_access_log_t; NULL: none at this level */
    bool        off;       /* `access_log off` at this level */
    bool        cache_set; /* open_log_file_cache was given at this level */
} bw_access_log_loc_conf_t;

static bw_int_t bw_access_log_handler(bw_http_request_t *r);
static void bw_access_log_exit_worker(bw_cycle_t *cycle);
static bw_rc_t bw_access_log_preconfiguration(bw_conf_t *cf);
static const char *bw_access_log_set_format(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_access_log_set_log(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_access_log_set_cache(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static void *bw_access_log_create_main(bw_conf_t *cf);
static void *bw_access_log_create_loc(bw_conf_t *cf);
static const char *bw_access_log_merge_loc(bw_conf_t *cf, void *prev, void *conf);

static const bw_directive_t bw_access_log_directives[] = {
    {"log_format", BW_CTX_HTTP, BW_ARGS_2MORE, BW_CONF_MAIN, bw_access_log_set_format, 0, NULL},
    {"access_log", BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC | BW_CTX_LIF | BW_CTX_LMT,
     BW_ARGS_1MORE, BW_CONF_LOC, bw_access_log_set_log, 0, NULL},
    {"open_log_file_cache", BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC, BW_ARGS_TAKE1234,
     BW_CONF_LOC, bw_access_log_set_cache, 0, NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_phase_hook_t bw_access_log_phases[] = {
    {BW_HTTP_LOG_PHASE, bw_access_log_handler},
    {0, NULL},
};

static const bw_http_module_t bw_access_log_module_ctx = {
    .preconfiguration = bw_access_log_preconfiguration,
    .create_main = bw_access_log_create_main,
    .create_loc = bw_access_log_create_loc,
    .merge_loc = bw_access_log_merge_loc,
    .phases = bw_access_log_phases,
};

bw_module_t bw_access_log_module = {
    .name = "access_log",
    .type = BW_MODULE_HTTP,
    .directives = bw_access_log_directives,
    .ctx = &bw_access_log_module_ctx,
    .exit_worker = bw_access_log_exit_worker,
};

static const bw_str_t bw_access_log_combined_name = bw_string("combined");
static const bw_str_t bw_access_log_combined_text =
    bw_string("$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
              "\"$http_referer\" \"$http_user_agent\"");
static const bw_str_t bw_access_log_default_path = bw_string("logs/access.log");

/* Second of the last write error reported: at most one report per second. */
static time_t bw_access_log_error_time;

/* ---- escaping ---- */

static const u_char bw_access_log_hex[] = "0123456789ABCDEF";

static size_t
bw_access_log_escape_default(u_char *dst, const u_char *src, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        u_char c = src[i];
        if (c != '"' && c != '\\' && c >= 0x20 && c < 0x7f) {
            if (dst) {
                dst[n] = c;
            }
            n++;
            continue;
        }
        if (dst) {
            dst[n] = '\\';
            dst[n + 1] = 'x';
            dst[n + 2] = bw_access_log_hex[c >> 4];
            dst[n + 3] = bw_access_log_hex[c & 0xf];
        }
        n += 4;
    }
    return n;
}

/* The letter of a two-character JSON escape for c, or 0. */
static u_char
bw_access_log_json_short(u_char c)
{
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    case '\b': return 'b';
    case '\f': return 'f';
    default: return 0;
    }
}

static size_t
bw_access_log_escape_json(u_char *dst, const u_char *src, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        u_char c = src[i], e = bw_access_log_json_short(c);
        if (e) {
            if (dst) {
                dst[n] = '\\';
                dst[n + 1] = e;
            }
            n += 2;
        } else if (c < 0x20) {
            if (dst) {
                memcpy(dst + n, "\\u00", 4);
                dst[n + 4] = bw_access_log_hex[c >> 4];
                dst[n + 5] = bw_access_log_hex[c & 0xf];
            }
            n += 6;
        } else {
            if (dst) {
                dst[n] = c;
            }
            n++;
        }
    }
    return n;
}

size_t
bw_access_log_escape(u_char *dst, const u_char *src, size_t len, bw_access_log_escape_t mode)
{
    switch (mode) {
    case BW_ACCESS_LOG_ESCAPE_JSON:
        return bw_access_log_escape_json(dst, src, len);
    case BW_ACCESS_LOG_ESCAPE_NONE:
        if (dst && len) {
            memcpy(dst, src, len);
        }
        return len;
    default:
        return bw_access_log_escape_default(dst, src, len);
    }
}

/* ---- writing ---- */

static void
bw_access_log_write_error(bw_log_t *log, const bw_str_t *name, ssize_t n, size_t len, int err)
{
    if (bw_time.sec == bw_access_log_error_time) {
        return;
    }
    bw_access_log_error_time = bw_time.sec;
    if (n < 0) {
        bw_log_error(BW_LOG_CRIT, log, err, "write() to \"%.*s\" failed", BW_STR_ARG(*name));
    } else {
        bw_log_error(BW_LOG_CRIT, log, 0, "write() to \"%.*s\" was incomplete: %zd of %zu",
                     BW_STR_ARG(*name), n, len);
    }
}

/* Writes data as one complete gzip member (a malloc'd scratch buffer per call). */
static void
bw_access_log_write_gzip(int fd, const bw_str_t *name, int level, const u_char *data,
                         size_t len, bw_log_t *log)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        bw_log_error(BW_LOG_CRIT, log, 0, "deflateInit2() failed for \"%.*s\"",
                     BW_STR_ARG(*name));
        return;
    }
    size_t  bound = deflateBound(&zs, (uLong) len);
    u_char *out = malloc(bound);
    if (out == NULL) {
        deflateEnd(&zs);
        bw_log_error(BW_LOG_CRIT, log, ENOMEM, "no memory to compress \"%.*s\"",
                     BW_STR_ARG(*name));
        return;
    }
    zs.next_in = (Bytef *) data;
    zs.avail_in = (uInt) len;
    zs.next_out = out;
    zs.avail_out = (uInt) bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        bw_log_error(BW_LOG_CRIT, log, 0, "deflate() failed for \"%.*s\"", BW_STR_ARG(*name));
    } else {
        size_t  size = bound - zs.avail_out;
        ssize_t n = write(fd, out, size);
        if (n != (ssize_t) size) {
            bw_access_log_write_error(log, name, n, size, errno);
        }
    }
    deflateEnd(&zs);
    free(out);
}

static void
bw_access_log_write(int fd, const bw_str_t *name, int gzip, const u_char *data, size_t len,
                    bw_log_t *log)
{
    if (gzip) {
        bw_access_log_write_gzip(fd, name, gzip, data, len, log);
        return;
    }
    ssize_t n = write(fd, data, len);
    if (n != (ssize_t) len) {
        bw_access_log_write_error(log, name, n, len, errno);
    }
}

/* Writes out and empties a buffer; disarms its timer. */
static void
bw_access_log_buf_flush(bw_access_log_buf_t *buf, bw_log_t *log)
{
    if (buf->event.timer_set) {
        bw_event_del_timer(&buf->event);
    }
    if (buf->pos == buf->start || buf->file->fd < 0) {
        return;
    }
    bw_access_log_write(buf->file->fd, &buf->file->name, buf->gzip, buf->start,
                        (size_t) (buf->pos - buf->start), log);
    buf->pos = buf->start;
}

/* bw_open_file_t.flush: before a reopen (USR1). */
static void
bw_access_log_file_flush(bw_open_file_t *file)
{
    bw_access_log_buf_t *buf = file->data;
    bw_access_log_buf_flush(buf, buf->cycle->log);
}

static void
bw_access_log_flush_timer(bw_event_t *ev)
{
    ev->timedout = 0;
    bw_access_log_buf_flush(ev->data, ev->log);
}

static void
bw_access_log_exit_worker(bw_cycle_t *cycle)
{
    bw_open_file_t **files = cycle->open_files.elts;
    for (size_t i = 0; files && i < cycle->open_files.nelts; i++) {
        if (files[i]->flush == bw_access_log_file_flush && files[i]->data) {
            bw_access_log_buf_flush(files[i]->data, cycle->log);
        }
    }
}

/* Opens "path" (relative to the prefix) for one record, writes it, closes it. */
static void
bw_access_log_write_path(bw_http_request_t *r, bw_access_log_t *log, const u_char *data,
                         size_t len)
{
    bw_str_t path;

    if (bw_http_complex_value(r, log->path, &path) != BW_OK || path.len == 0) {
        return;
    }
    bool     relative = path.data[0] != '/';
    size_t   plen = relative ? log->prefix.len : 0;
    u_char  *name = bw_pnalloc(r->pool, plen + path.len + 1);
    if (name == NULL) {
        return;
    }
    memcpy(name, log->prefix.data, plen);
    memcpy(name + plen, path.data, path.len);
    name[plen + path.len] = '\0';

    bw_str_t full = {plen + path.len, name};
    int      fd = open((char *) name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        bw_log_error(BW_LOG_ERR, r->connection->log, errno, "open() \"%s\" failed",
                     (char *) name);
        return;
    }
    bw_access_log_write(fd, &full, 0, data, len, r->connection->log);
    close(fd);
}

/* ---- records ---- */

/* Pass 2: the record into p (room for its length); returns the end. */
static u_char *
bw_access_log_fill(u_char *p, const bw_access_log_fmt_t *fmt,
                   const bw_http_variable_value_t *vals)
{
    const bw_access_log_op_t *op = fmt->ops.elts;
    size_t                    k = 0;

    for (size_t i = 0; i < fmt->ops.nelts; i++) {
        if (op[i].index < 0) {
            memcpy(p, op[i].text.data, op[i].text.len);
            p += op[i].text.len;
            continue;
        }
        const bw_http_variable_value_t *v = &vals[k++];
        if (v->not_found) {
            if (fmt->escape == BW_ACCESS_LOG_ESCAPE_DEFAULT) {
                *p++ = '-';
            }
            continue;
        }
        p += bw_access_log_escape(p, v->data, v->len, fmt->escape);
    }
    *p++ = '\n';
    return p;
}

/*
 * Pass 1: every variable's value, copied into vals (a value read twice
 * could change in between), and the record's length with its newline.
 */
static size_t
bw_access_log_measure(bw_http_request_t *r, const bw_access_log_fmt_t *fmt,
                      bw_http_variable_value_t *vals)
{
    const bw_access_log_op_t *op = fmt->ops.elts;
    size_t                    len = 1, k = 0;

    for (size_t i = 0; i < fmt->ops.nelts; i++) {
        if (op[i].index < 0) {
            len += op[i].text.len;
            continue;
        }
        bw_http_variable_value_t *v = bw_http_get_flushed_variable(r, (bw_uint_t) op[i].index);
        bw_http_variable_value_t *slot = &vals[k++];
        memset(slot, 0, sizeof(*slot));
        if (v == NULL || v->not_found) {
            slot->not_found = 1;
            len += bw_access_log_missing_len(fmt->escape);
            continue;
        }
        slot->data = v->data;
        slot->len = v->len;
        len += bw_access_log_escape(NULL, v->data, v->len, fmt->escape);
    }
    return len;
}

/* Appends the record to the file's buffer when it fits (after a flush if need be). */
static bool
bw_access_log_buffered(bw_http_request_t *r, bw_access_log_buf_t *buf,
                       const bw_access_log_fmt_t *fmt, const bw_http_variable_value_t *vals,
                       size_t len)
{
    if (len > (size_t) (buf->end - buf->pos)) {
        bw_access_log_buf_flush(buf, r->connection->log);
    }
    if (len > (size_t) (buf->end - buf->pos)) {
        return false;
    }
    buf->pos = bw_access_log_fill(buf->pos, fmt, vals);
    if (buf->flush && !buf->event.timer_set) {
        buf->event.log = buf->cycle->log;
        bw_event_add_timer(&buf->event, buf->flush);
    }
    return true;
}

static void
bw_access_log_record(bw_http_request_t *r, bw_access_log_t *log)
{
    const bw_access_log_fmt_t *fmt = log->format;
    bw_http_variable_value_t   stack[BW_ACCESS_LOG_STACK_VARS], *vals = stack;

    if (fmt->nvars > BW_ACCESS_LOG_STACK_VARS) {
        vals = bw_palloc(r->pool, fmt->nvars * sizeof(bw_http_variable_value_t));
        if (vals == NULL) {
            return;
        }
    }
    size_t               len = bw_access_log_measure(r, fmt, vals);
    bw_access_log_buf_t *buf = log->file ? log->file->data : NULL;

    if (buf && bw_access_log_buffered(r, buf, fmt, vals, len)) {
        return;
    }
    u_char *line = bw_pnalloc(r->pool, len);
    if (line == NULL) {
        return;
    }
    bw_access_log_fill(line, fmt, vals);
    if (log->path) {
        bw_access_log_write_path(r, log, line, len);
    } else if (log->file->fd >= 0) {
        bw_access_log_write(log->file->fd, &log->file->name, buf ? buf->gzip : 0, line, len,
                            r->connection->log);
    }
}

/* `if=`: the request is not logged when the condition is empty or "0". */
static bool
bw_access_log_wanted(bw_http_request_t *r, bw_access_log_t *log)
{
    bw_str_t val;

    if (log->cond == NULL) {
        return true;
    }
    if (bw_http_complex_value(r, log->cond, &val) != BW_OK) {
        return false;
    }
    return !(val.len == 0 || (val.len == 1 && val.data[0] == '0'));
}

static bw_int_t
bw_access_log_handler(bw_http_request_t *r)
{
    bw_access_log_loc_conf_t *llcf = bw_http_get_loc_conf(r, bw_access_log_module);

    if (llcf->off || llcf->logs == NULL) {
        return BW_OK;
    }
    bw_access_log_t *log = llcf->logs->elts;
    for (size_t i = 0; i < llcf->logs->nelts; i++) {
        if (bw_access_log_wanted(r, &log[i])) {
            bw_access_log_record(r, &log[i]);
        }
    }
    return BW_OK;
}

/* ---- log_format ---- */

static bool
bw_access_log_name_char(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bw_rc_t
bw_access_log_op_add(bw_conf_t *cf, bw_access_log_fmt_t *fmt, const u_char *p, size_t len,
                     bool variable)
{
    bw_access_log_op_t *op = bw_array_push(&fmt->ops);
    if (op == NULL) {
        return BW_ERROR;
    }
    op->text.data = (u_char *) p;
    op->text.len = len;
    op->index = -1;
    if (variable) {
        op->index = bw_http_get_variable_index(cf, &op->text);
        if (op->index < 0) {
            return BW_ERROR;
        }
        fmt->nvars++;
    }
    return BW_OK;
}

/*
 * Compiles one argument of a format: literal runs and $name / ${name}
 * (names of letters, digits and '_'). Errors as nginx words them.
 */
static bw_rc_t
bw_access_log_compile_arg(bw_conf_t *cf, bw_access_log_fmt_t *fmt, const bw_str_t *arg)
{
    const u_char *p = arg->data, *end = arg->data + arg->len;

    while (p < end) {
        const u_char *q = p;
        if (*p != '$') {
            while (q < end && *q != '$') {
                q++;
            }
            if (bw_access_log_op_add(cf, fmt, p, (size_t) (q - p), false) != BW_OK) {
                return BW_ERROR;
            }
            p = q;
            continue;
        }
        bool braced = ++q < end && *q == '{';
        const u_char *name = braced ? ++q : q;
        while (q < end && bw_access_log_name_char(*q)) {
            q++;
        }
        if (braced && (q == end || *q != '}') && q > name) {
            bw_conf_error(cf, "the closing bracket in \"%.*s\" variable is missing",
                          (int) (q - name), (const char *) name);
            return BW_ERROR;
        }
        if (q == name) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", (int) (end - p), (const char *) p);
            return BW_ERROR;
        }
        if (bw_access_log_op_add(cf, fmt, name, (size_t) (q - name), true) != BW_OK) {
            return BW_ERROR;
        }
        p = braced ? q + 1 : q;
    }
    return BW_OK;
}

static bw_access_log_fmt_t *
bw_access_log_format_find(bw_access_log_main_conf_t *lmcf, const bw_str_t *name)
{
    bw_access_log_fmt_t **fmt = lmcf->formats.elts;
    for (size_t i = 0; i < lmcf->formats.nelts; i++) {
        if (bw_str_eq(&fmt[i]->name, name)) {
            return fmt[i];
        }
    }
    return NULL;
}

/* Adds format `name` compiled from args[0..n). NULL after reporting. */
static bw_access_log_fmt_t *
bw_access_log_format_add(bw_conf_t *cf, bw_access_log_main_conf_t *lmcf, const bw_str_t *name,
                         bw_access_log_escape_t escape, const bw_str_t *args, size_t n)
{
    bw_access_log_fmt_t  *fmt = bw_pcalloc(cf->pool, sizeof(bw_access_log_fmt_t));
    bw_access_log_fmt_t **slot = bw_array_push(&lmcf->formats);

    if (fmt == NULL || slot == NULL
        || bw_array_init(&fmt->ops, cf->pool, 8, sizeof(bw_access_log_op_t)) != BW_OK) {
        return NULL;
    }
    fmt->name = *name;
    fmt->escape = escape;
    *slot = fmt;
    for (size_t i = 0; i < n; i++) {
        if (bw_access_log_compile_arg(cf, fmt, &args[i]) != BW_OK) {
            return NULL;
        }
    }
    return fmt;
}

static const char *
bw_access_log_set_format(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_access_log_main_conf_t *lmcf = conf;
    bw_str_t                  *value = cf->args->elts;
    size_t                     first = 2;
    bw_access_log_escape_t     escape = BW_ACCESS_LOG_ESCAPE_DEFAULT;

    if (bw_access_log_format_find(lmcf, &value[1])) {
        bw_conf_error(cf, "duplicate \"log_format\" name \"%.*s\"", BW_STR_ARG(value[1]));
        return BW_CONF_ERROR;
    }
    if (value[2].len >= 7 && memcmp(value[2].data, "escape=", 7) == 0) {
        bw_str_t mode = {value[2].len - 7, value[2].data + 7};
        if (bw_str_eq_lit(&mode, "json")) {
            escape = BW_ACCESS_LOG_ESCAPE_JSON;
        } else if (bw_str_eq_lit(&mode, "none")) {
            escape = BW_ACCESS_LOG_ESCAPE_NONE;
        } else if (!bw_str_eq_lit(&mode, "default")) {
            bw_conf_error(cf, "unknown log format escaping \"%.*s\"", BW_STR_ARG(mode));
            return BW_CONF_ERROR;
        }
        first = 3;
    }
    if (bw_access_log_format_add(cf, lmcf, &value[1], escape, value + first,
                                 cf->args->nelts - first) == NULL) {
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

/* ---- access_log ---- */

typedef struct {
    size_t                   buffer;
    bw_msec_t                flush;
    int                      gzip;
    bw_http_complex_value_t *cond;
} bw_access_log_params_t;

/* Reads buffer=, flush=, gzip[=level] and if= from args[from..]. */
static const char *
bw_access_log_params_parse(bw_conf_t *cf, size_t from, bw_access_log_params_t *prm)
{
    bw_str_t *value = cf->args->elts;

    for (size_t i = from; i < cf->args->nelts; i++) {
        bw_str_t *v = &value[i];
        bw_str_t  s = {0, NULL};
        if (v->len >= 7 && memcmp(v->data, "buffer=", 7) == 0) {
            s = (bw_str_t){v->len - 7, v->data + 7};
            int64_t size = bw_parse_size(&s);
            if (size <= 0) {
                bw_conf_error(cf, "invalid buffer size \"%.*s\"", BW_STR_ARG(s));
                return BW_CONF_ERROR;
            }
            prm->buffer = (size_t) size;
        } else if (v->len >= 6 && memcmp(v->data, "flush=", 6) == 0) {
            s = (bw_str_t){v->len - 6, v->data + 6};
            int64_t ms = bw_parse_time(&s, false);
            if (ms <= 0) {
                bw_conf_error(cf, "invalid flush time \"%.*s\"", BW_STR_ARG(s));
                return BW_CONF_ERROR;
            }
            prm->flush = ms;
        } else if (bw_str_eq_lit(v, "gzip")) {
            prm->gzip = 1;
        } else if (v->len >= 5 && memcmp(v->data, "gzip=", 5) == 0) {
            s = (bw_str_t){v->len - 5, v->data + 5};
            int64_t level = bw_atoi(s.data, s.len);
            if (level < 1 || level > 9) {
                bw_conf_error(cf, "invalid compression level \"%.*s\"", BW_STR_ARG(s));
                return BW_CONF_ERROR;
            }
            prm->gzip = (int) level;
        } else if (v->len >= 3 && memcmp(v->data, "if=", 3) == 0) {
            s = (bw_str_t){v->len - 3, v->data + 3};
            if (bw_http_compile_complex_value(cf, &s, &prm->cond) != BW_OK) {
                return BW_CONF_ERROR;
            }
        } else {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(*v));
            return BW_CONF_ERROR;
        }
    }
    return BW_CONF_OK;
}

/* Gives the file its buffer, or checks that the one it has agrees. */
static const char *
bw_access_log_buf_attach(bw_conf_t *cf, bw_open_file_t *file, const bw_str_t *path,
                         const bw_access_log_params_t *prm)
{
    size_t               size = prm->buffer ? prm->buffer : BW_ACCESS_LOG_GZIP_BUFFER;
    bw_access_log_buf_t *buf = file->data;

    if (buf) {
        if ((size_t) (buf->end - buf->start) != size || buf->flush != prm->flush
            || buf->gzip != prm->gzip) {
            bw_conf_error(cf, "access_log \"%.*s\" already defined with conflicting parameters",
                          BW_STR_ARG(*path));
            return BW_CONF_ERROR;
        }
        return BW_CONF_OK;
    }
    buf = bw_pcalloc(cf->pool, sizeof(bw_access_log_buf_t));
    u_char *mem = buf ? bw_pnalloc(cf->pool, size) : NULL;
    if (mem == NULL) {
        return BW_CONF_ERROR;
    }
    buf->start = buf->pos = mem;
    buf->end = mem + size;
    buf->flush = prm->flush;
    buf->gzip = prm->gzip;
    buf->file = file;
    buf->cycle = cf->cycle;
    buf->event.data = buf;
    buf->event.handler = bw_access_log_flush_timer;
    buf->event.cancelable = 1;
    file->data = buf;
    file->flush = bw_access_log_file_flush;
    return BW_CONF_OK;
}

static bw_access_log_t *
bw_access_log_push(bw_conf_t *cf, bw_access_log_loc_conf_t *llcf)
{
    if (llcf->logs == NULL) {
        llcf->logs = bw_array_create(cf->pool, 2, sizeof(bw_access_log_t));
        if (llcf->logs == NULL) {
            return NULL;
        }
    }
    bw_access_log_t *log = bw_array_push(llcf->logs);
    if (log) {
        memset(log, 0, sizeof(*log));
    }
    return log;
}

static const char *
bw_access_log_set_log(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_access_log_loc_conf_t  *llcf = conf;
    bw_access_log_main_conf_t *lmcf = bw_http_conf_get_main_conf(cf, bw_access_log_module);
    bw_str_t                  *value = cf->args->elts;
    bw_access_log_params_t     prm = {0, 0, 0, NULL};

    if (bw_str_eq_lit(&value[1], "off")) {
        if (cf->args->nelts > 2) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(value[2]));
            return BW_CONF_ERROR;
        }
        llcf->off = true;
        return BW_CONF_OK;
    }
    if (value[1].len >= 7 && memcmp(value[1].data, "syslog:", 7) == 0) {
        bw_conf_error(cf, "access_log to syslog is not supported by bulwark yet");
        return BW_CONF_ERROR;
    }
    const bw_str_t      *name = cf->args->nelts > 2 ? &value[2] : &bw_access_log_combined_name;
    bw_access_log_fmt_t *fmt = bw_access_log_format_find(lmcf, name);
    if (fmt == NULL) {
        bw_conf_error(cf, "unknown log format \"%.*s\"", BW_STR_ARG(*name));
        return BW_CONF_ERROR;
    }
    const char *rv = bw_access_log_params_parse(cf, 3, &prm);
    if (rv != BW_CONF_OK) {
        return rv;
    }
    if (prm.flush && !prm.buffer && !prm.gzip) {
        bw_conf_error(cf, "no buffer is defined for access_log \"%.*s\"", BW_STR_ARG(value[1]));
        return BW_CONF_ERROR;
    }
    bw_access_log_t *log = bw_access_log_push(cf, llcf);
    if (log == NULL) {
        return BW_CONF_ERROR;
    }
    log->format = fmt;
    log->cond = prm.cond;
    if (bw_http_script_variables_count(&value[1]) > 0) {
        if (prm.buffer || prm.gzip) {
            bw_conf_error(cf, "buffered logs cannot have variables in name");
            return BW_CONF_ERROR;
        }
        log->prefix = cf->cycle->prefix;
        return bw_http_compile_complex_value(cf, &value[1], &log->path) == BW_OK
                   ? BW_CONF_OK : BW_CONF_ERROR;
    }
    log->file = bw_cycle_open_file(cf->cycle, &value[1]);
    if (log->file == NULL) {
        return BW_CONF_ERROR;
    }
    if (prm.buffer || prm.gzip) {
        return bw_access_log_buf_attach(cf, log->file, &value[1], &prm);
    }
    return BW_CONF_OK;
}

/* ---- open_log_file_cache: checked as nginx checks it, then ignored ---- */

static bool
bw_access_log_cache_param(const bw_str_t *v, bool *has_max)
{
    static const struct {
        const char *key;
        bool        time;
    } params[] = {{"max=", false}, {"inactive=", true}, {"min_uses=", false}, {"valid=", true}};

    for (size_t i = 0; i < bw_nelems(params); i++) {
        size_t klen = strlen(params[i].key);
        if (v->len < klen || memcmp(v->data, params[i].key, klen) != 0) {
            continue;
        }
        bw_str_t s = {v->len - klen, v->data + klen};
        int64_t  n = params[i].time ? bw_parse_time(&s, true) : bw_atoi(s.data, s.len);
        if (n < 0) {
            return false;
        }
        if (i == 0 && n > 0) {
            *has_max = true;
        }
        return true;
    }
    return false;
}

static const char *
bw_access_log_set_cache(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_access_log_loc_conf_t *llcf = conf;
    bw_str_t                 *value = cf->args->elts;
    bool                      has_max = false, off = false;

    if (llcf->cache_set) {
        return "is duplicate";
    }
    llcf->cache_set = true;
    for (size_t i = 1; i < cf->args->nelts; i++) {
        if (bw_str_eq_lit(&value[i], "off")) {
            off = true;
        } else if (!bw_access_log_cache_param(&value[i], &has_max)) {
            bw_conf_error(cf, "invalid \"open_log_file_cache\" parameter \"%.*s\"",
                          BW_STR_ARG(value[i]));
            return BW_CONF_ERROR;
        }
    }
    if (!off && !has_max) {
        bw_conf_error(cf, "\"open_log_file_cache\" must have \"max\" parameter");
        return BW_CONF_ERROR;
    }
    return BW_CONF_OK;
}

/* ---- configuration structs ---- */

static void *
bw_access_log_create_main(bw_conf_t *cf)
{
    bw_access_log_main_conf_t *lmcf = bw_pcalloc(cf->pool, sizeof(bw_access_log_main_conf_t));
    if (lmcf == NULL
        || bw_array_init(&lmcf->formats, cf->pool, 4, sizeof(bw_access_log_fmt_t *)) != BW_OK) {
        return NULL;
    }
    return lmcf;
}

/* The predefined "combined" format, compiled before the http{} body is read. */
static bw_rc_t
bw_access_log_preconfiguration(bw_conf_t *cf)
{
    bw_access_log_main_conf_t *lmcf = bw_http_conf_get_main_conf(cf, bw_access_log_module);

    if (bw_access_log_format_find(lmcf, &bw_access_log_combined_name)) {
        return BW_OK;
    }
    return bw_access_log_format_add(cf, lmcf, &bw_access_log_combined_name,
                                    BW_ACCESS_LOG_ESCAPE_DEFAULT, &bw_access_log_combined_text,
                                    1)
               ? BW_OK : BW_ERROR;
}

static void *
bw_access_log_create_loc(bw_conf_t *cf)
{
    return bw_pcalloc(cf->pool, sizeof(bw_access_log_loc_conf_t));
}

/* A level without access_log inherits its parent's logs, or gets the default. */
static const char *
bw_access_log_merge_loc(bw_conf_t *cf, void *prev, void *conf)
{
    bw_access_log_loc_conf_t  *parent = prev, *llcf = conf;
    bw_access_log_main_conf_t *lmcf = bw_http_conf_get_main_conf(cf, bw_access_log_module);

    if (llcf->logs || llcf->off) {
        return BW_CONF_OK;
    }
    llcf->logs = parent->logs;
    llcf->off = parent->off;
    if (llcf->logs || llcf->off) {
        return BW_CONF_OK;
    }
    if (lmcf->default_logs == NULL) {
        bw_access_log_loc_conf_t def = {NULL, false, false};
        bw_access_log_t         *log = bw_access_log_push(cf, &def);
        if (log == NULL) {
            return BW_CONF_ERROR;
        }
        log->format = bw_access_log_format_find(lmcf, &bw_access_log_combined_name);
        log->file = bw_cycle_open_file(cf->cycle, &bw_access_log_default_path);
        if (log->format == NULL || log->file == NULL) {
            return BW_CONF_ERROR;
        }
        lmcf->default_logs = def.logs;
    }
    llcf->logs = lmcf->default_logs;
    return BW_CONF_OK;
}
